//! A small HTTP/1.1 client for miners' LAN APIs (AxeOS, NMMiner), on tokio's `TcpStream`.
//!
//! Why hand-written rather than ureq on `spawn_blocking`: a poll cycle of a 100-miner fleet
//! would park up to 100 blocking threads (each with its own stack) on slow devices, while
//! here a hung device is just a cancelled future under [`crate::devices::with_deadline`] —
//! one deadline covers connect, send and receive, and the error says exactly what happened
//! ("timeout after 3 s", "connection refused", "HTTP reply truncated"). The subset needed is
//! small and fully bounded: one request per connection (`Connection: close`), bodies framed
//! by `Content-Length`, `chunked`, or end of stream, headers ≤ 16 KiB, body ≤
//! `max_reply_bytes`. Reading stops as soon as the framing says the body is complete, so a
//! device that keeps the socket open after answering does not cost a timeout.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{DeviceError, Limits, host_of, with_deadline, with_port};

/// Largest header block accepted.
const MAX_HEADER_BYTES: usize = 16 * 1024;

/// A complete HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Decoded body (de-chunked).
    pub body: Vec<u8>,
}

/// Sends one request to `addr` (`host[:port]`, port 80 by default) and reads the response,
/// all within `limits.timeout`. `body` is sent as `application/json`. Non-2xx statuses are
/// returned as responses; the caller decides (see [`expect_success`]).
pub(crate) async fn request(
    addr: &str,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    limits: Limits,
) -> Result<HttpResponse, DeviceError> {
    let target = with_port(addr, 80);
    with_deadline(
        limits.timeout,
        exchange(&target, method, path, body, limits.max_reply_bytes),
    )
    .await
}

/// Maps non-success statuses to errors in the user's words; 401 carries AxeOS's reason
/// (non-LAN client) or NerdQAxe's (OTP required).
pub(crate) fn expect_success(
    addr: &str,
    response: HttpResponse,
) -> Result<HttpResponse, DeviceError> {
    let host = host_of(addr);
    match response.status {
        200..=299 => Ok(response),
        401 => {
            let body = String::from_utf8_lossy(&response.body).to_ascii_lowercase();
            let reason = if body.contains("otp") || body.contains("session") {
                "device requires an OTP code for changes (disable OTP on the device to let hmm control it)"
            } else if body.contains("blocked") {
                "device blocked this client for 5 minutes after bad OTP codes"
            } else {
                "device refuses non-LAN clients"
            };
            Err(DeviceError::Unauthorized {
                host,
                reason: reason.to_string(),
            })
        }
        status => Err(DeviceError::Http { status, host }),
    }
}

async fn exchange(
    target: &str,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    max_body: usize,
) -> Result<HttpResponse, DeviceError> {
    let mut stream = TcpStream::connect(target)
        .await
        .map_err(|err| DeviceError::from_io(target, &err))?;
    let head = request_head(
        target,
        method,
        path,
        body.map_or(0, <[u8]>::len),
        body.is_some(),
    );
    let mut bytes = head.into_bytes();
    if let Some(body) = body {
        bytes.extend_from_slice(body);
    }
    stream
        .write_all(&bytes)
        .await
        .map_err(|err| DeviceError::from_io(target, &err))?;
    read_response(&mut stream, target, method == "HEAD", max_body).await
}

fn request_head(host: &str, method: &str, path: &str, len: usize, json: bool) -> String {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: hmm/{}\r\nAccept: application/json, text/plain\r\nConnection: close\r\n",
        env!("CARGO_PKG_VERSION")
    );
    if json {
        head.push_str("Content-Type: application/json\r\n");
    }
    if json || method != "GET" {
        head.push_str(&format!("Content-Length: {len}\r\n"));
    }
    head.push_str("\r\n");
    head
}

async fn read_response(
    stream: &mut TcpStream,
    target: &str,
    head_only: bool,
    max_body: usize,
) -> Result<HttpResponse, DeviceError> {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        match parse_response(&buf, head_only, max_body)? {
            Parsed::Complete(response) => return Ok(response),
            Parsed::NeedMore => {}
        }
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|err| DeviceError::from_io(target, &err))?;
        if n == 0 {
            return finish_at_eof(&buf, max_body);
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_HEADER_BYTES + max_body + 64 * 1024 {
            return Err(DeviceError::TooLarge(max_body));
        }
    }
}

/// Result of looking at the bytes received so far.
#[derive(Debug)]
enum Parsed {
    Complete(HttpResponse),
    NeedMore,
}

/// How the body is delimited.
#[derive(Debug, Clone, Copy)]
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

struct Head {
    status: u16,
    framing: Framing,
    body_start: usize,
}

fn parse_head(buf: &[u8], head_only: bool) -> Result<Option<Head>, DeviceError> {
    let Some(end) = find(buf, b"\r\n\r\n") else {
        if buf.len() > MAX_HEADER_BYTES {
            return Err(DeviceError::Garbage("HTTP headers too long".into()));
        }
        if !buf.is_empty() && !b"HTTP/".starts_with(&buf[..buf.len().min(5)]) {
            return Err(DeviceError::garbage(buf));
        }
        return Ok(None);
    };
    let text = std::str::from_utf8(&buf[..end]).map_err(|_| DeviceError::garbage(buf))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.split_whitespace();
    let version = parts.next().unwrap_or_default();
    let status: u16 = parts
        .next()
        .and_then(|code| code.parse().ok())
        .filter(|_| version.starts_with("HTTP/1."))
        .ok_or_else(|| DeviceError::garbage(buf))?;
    let mut framing = Framing::UntilClose;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().contains("chunked")
        {
            framing = Framing::Chunked;
        } else if name.eq_ignore_ascii_case("content-length")
            && !matches!(framing, Framing::Chunked)
        {
            let len = value
                .parse()
                .map_err(|_| DeviceError::Garbage(format!("bad Content-Length '{value}'")))?;
            framing = Framing::Length(len);
        }
    }
    if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
        framing = Framing::Length(0);
    }
    Ok(Some(Head {
        status,
        framing,
        body_start: end + 4,
    }))
}

fn parse_response(buf: &[u8], head_only: bool, max_body: usize) -> Result<Parsed, DeviceError> {
    let Some(head) = parse_head(buf, head_only)? else {
        return Ok(Parsed::NeedMore);
    };
    let rest = &buf[head.body_start..];
    match head.framing {
        Framing::Length(len) => {
            if len > max_body {
                return Err(DeviceError::TooLarge(max_body));
            }
            if rest.len() >= len {
                return Ok(Parsed::Complete(HttpResponse {
                    status: head.status,
                    body: rest[..len].to_vec(),
                }));
            }
            Ok(Parsed::NeedMore)
        }
        Framing::Chunked => match decode_chunked(rest, max_body)? {
            Some(body) => Ok(Parsed::Complete(HttpResponse {
                status: head.status,
                body,
            })),
            None => Ok(Parsed::NeedMore),
        },
        Framing::UntilClose => {
            if rest.len() > max_body {
                return Err(DeviceError::TooLarge(max_body));
            }
            Ok(Parsed::NeedMore)
        }
    }
}

fn finish_at_eof(buf: &[u8], max_body: usize) -> Result<HttpResponse, DeviceError> {
    if buf.is_empty() {
        return Err(DeviceError::Garbage(
            "connection closed without a reply".into(),
        ));
    }
    let Some(head) = parse_head(buf, false)? else {
        return Err(DeviceError::Truncated("HTTP"));
    };
    match head.framing {
        Framing::UntilClose => {
            let body = &buf[head.body_start..];
            if body.len() > max_body {
                return Err(DeviceError::TooLarge(max_body));
            }
            Ok(HttpResponse {
                status: head.status,
                body: body.to_vec(),
            })
        }
        // Length or chunked framing that did not complete before the close.
        _ => Err(DeviceError::Truncated("HTTP")),
    }
}

/// Decodes a chunked body. `Ok(None)` while the terminating zero-size chunk (and the
/// blank line after optional trailers) has not arrived yet.
pub(crate) fn decode_chunked(
    mut rest: &[u8],
    max_body: usize,
) -> Result<Option<Vec<u8>>, DeviceError> {
    let mut body = Vec::new();
    loop {
        let Some(line_end) = find(rest, b"\r\n") else {
            return Ok(None);
        };
        let size_text = std::str::from_utf8(&rest[..line_end])
            .map_err(|_| DeviceError::Garbage("bad chunk size".into()))?;
        let size_hex = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| DeviceError::Garbage(format!("bad chunk size '{size_hex}'")))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            // Trailers end with an empty line; most devices send just "\r\n".
            return Ok(find(rest, b"\r\n").map(|_| body));
        }
        if body.len() + size > max_body {
            return Err(DeviceError::TooLarge(max_body));
        }
        if rest.len() < size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Result<Parsed, DeviceError> {
        parse_response(bytes, false, 1024)
    }

    #[test]
    fn content_length_body_completes_without_close() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}extra";
        match parse(raw).unwrap() {
            Parsed::Complete(r) => assert_eq!((r.status, r.body), (200, b"{}".to_vec())),
            Parsed::NeedMore => panic!("should be complete"),
        }
        assert!(matches!(
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{}").unwrap(),
            Parsed::NeedMore
        ));
    }

    #[test]
    fn chunked_bodies_decode_including_empty() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3;x=y\r\n:1}\r\n0\r\n\r\n";
        match parse(raw).unwrap() {
            Parsed::Complete(r) => assert_eq!(r.body, b"{\"a\":1}".to_vec()),
            Parsed::NeedMore => panic!("should be complete"),
        }
        // AxeOS PATCH answers 200 with an empty chunked body.
        let empty = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        match parse(empty).unwrap() {
            Parsed::Complete(r) => assert!(r.body.is_empty()),
            Parsed::NeedMore => panic!("should be complete"),
        }
        assert!(matches!(
            parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a").unwrap(),
            Parsed::NeedMore
        ));
    }

    #[test]
    fn oversized_and_garbage_replies_are_errors() {
        let big = b"HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n";
        assert_eq!(parse(big).unwrap_err(), DeviceError::TooLarge(1024));
        assert!(matches!(
            parse(b"SSH-2.0-OpenSSH\r\n"),
            Err(DeviceError::Garbage(_))
        ));
        assert_eq!(
            finish_at_eof(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{}", 1024).unwrap_err(),
            DeviceError::Truncated("HTTP")
        );
        let until_close = finish_at_eof(b"HTTP/1.0 200 OK\r\n\r\nhello", 1024).unwrap();
        assert_eq!(until_close.body, b"hello".to_vec());
    }
}
