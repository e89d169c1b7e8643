//! Minimal HTTP/1.1 for the simulated AxeOS and NMMiner web servers: one request per
//! connection (`Connection: close`, like esp_http_server under load), a request line,
//! headers, and a `Content-Length` body. Nothing more is needed to be faithful to the
//! devices, and a hand-written server keeps the fault modes (hang, truncated reply, garbage)
//! under exact control, which a full HTTP library would not.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::control::SimControl;
use super::faults::{Fault, garbage_bytes, truncate_reply};

/// Longest request head accepted (request line + headers).
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Longest request body accepted (esp_http_server's scratch buffers are small too).
const MAX_BODY_BYTES: usize = 64 * 1024;
/// A client has this long to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// One parsed request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Request {
    /// Method, upper case as sent (`GET`, `PATCH`…).
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// Query string after `?` (may be empty).
    pub query: String,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body bytes (`Content-Length` of them).
    pub body: Vec<u8>,
}

impl Request {
    /// The first header of that (lower-case) name.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Why a request could not be read; each maps to the status a device would answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RequestError {
    /// The client closed or sent nothing usable: no answer at all.
    Closed,
    /// Request line or header syntax broken (400).
    Malformed(&'static str),
    /// Head or body larger than the device accepts (431 / 413).
    TooLarge(u16),
    /// Chunked request bodies are not supported by the device (501).
    Chunked,
}

/// One response.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Response {
    /// Status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Extra headers (e.g. `Location`).
    pub headers: Vec<(&'static str, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Response {
    /// A JSON body.
    pub(crate) fn json(status: u16, body: String) -> Response {
        Response {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body: body.into_bytes(),
        }
    }

    /// A plain-text body.
    pub(crate) fn text(status: u16, body: &str) -> Response {
        Response {
            status,
            content_type: "text/plain",
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    /// An HTML body.
    pub(crate) fn html(body: String) -> Response {
        Response {
            status: 200,
            content_type: "text/html",
            headers: Vec::new(),
            body: body.into_bytes(),
        }
    }

    /// Serialises status line, headers (CORS as AxeOS sets them) and body.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
             Access-Control-Allow-Origin: *\r\n\
             Access-Control-Allow-Methods: GET, POST, PUT, PATCH, DELETE, OPTIONS\r\n\
             Access-Control-Allow-Headers: Content-Type\r\nConnection: close\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        _ => "Status",
    }
}

/// Parses a request head (everything before the blank line).
pub(crate) fn parse_head(head: &str) -> Result<Request, RequestError> {
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(RequestError::Malformed(
            "request line is not 'METHOD TARGET HTTP/1.x'",
        ));
    };
    if method.is_empty() || !target.starts_with('/') || !version.starts_with("HTTP/1.") {
        return Err(RequestError::Malformed(
            "request line is not 'METHOD TARGET HTTP/1.x'",
        ));
    }
    let mut headers = Vec::new();
    for line in lines.filter(|line| !line.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Err(RequestError::Malformed("header line without ':'"));
        };
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Ok(Request {
        method: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        headers,
        body: Vec::new(),
    })
}

/// Reads one request from the stream.
pub(crate) async fn read_request(stream: &mut TcpStream) -> Result<Request, RequestError> {
    let mut buffer = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    let head_end = loop {
        if let Some(at) = find_blank_line(&buffer) {
            break at;
        }
        if buffer.len() > MAX_HEAD_BYTES {
            return Err(RequestError::TooLarge(431));
        }
        let read = stream
            .read(&mut chunk)
            .await
            .map_err(|_| RequestError::Closed)?;
        if read == 0 {
            return Err(RequestError::Closed);
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = std::str::from_utf8(&buffer[..head_end])
        .map_err(|_| RequestError::Malformed("request head is not UTF-8"))?;
    let mut request = parse_head(head)?;
    if request
        .header("transfer-encoding")
        .is_some_and(|value| value.eq_ignore_ascii_case("chunked"))
    {
        return Err(RequestError::Chunked);
    }
    let length = match request.header("content-length") {
        Some(value) => value
            .parse::<usize>()
            .map_err(|_| RequestError::Malformed("Content-Length is not a number"))?,
        None => 0,
    };
    if length > MAX_BODY_BYTES {
        return Err(RequestError::TooLarge(413));
    }
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let read = stream
            .read(&mut chunk)
            .await
            .map_err(|_| RequestError::Closed)?;
        if read == 0 {
            return Err(RequestError::Malformed("body shorter than Content-Length"));
        }
        body.extend_from_slice(&chunk[..read]);
    }
    body.truncate(length);
    request.body = body;
    Ok(request)
}

fn find_blank_line(buffer: &[u8]) -> Option<usize> {
    buffer.windows(4).position(|window| window == b"\r\n\r\n")
}

/// A request handler: device state + request + client address → response.
pub(crate) type Handler = fn(&SimControl, &Request, SocketAddr) -> Response;

/// Serves one connection: reads the request, applies the device's fault mode, answers.
pub(crate) async fn serve_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    control: SimControl,
    handler: Handler,
) {
    let request = match tokio::time::timeout(REQUEST_TIMEOUT, read_request(&mut stream)).await {
        Ok(Ok(request)) => request,
        Ok(Err(RequestError::Closed)) | Err(_) => return,
        Ok(Err(error)) => {
            let response = match error {
                RequestError::TooLarge(status) => Response::text(status, "Request too large"),
                RequestError::Chunked => Response::text(501, "Chunked requests not supported"),
                RequestError::Malformed(what) => Response::text(400, what),
                RequestError::Closed => return,
            };
            let _ = stream.write_all(&response.to_bytes()).await;
            return;
        }
    };
    let fault = control.fault();
    match fault {
        Fault::Hang => {
            hang(stream).await;
            return;
        }
        Fault::Slow(delay) => tokio::time::sleep(delay).await,
        Fault::Http500 => {
            let response = Response::text(500, "Internal Server Error");
            let _ = stream.write_all(&response.to_bytes()).await;
            return;
        }
        Fault::None | Fault::Garbage | Fault::Truncated => {}
    }
    let response = handler(&control, &request, peer);
    let bytes = match fault {
        Fault::Garbage => {
            let body = {
                let mut state = control.lock();
                let len = 64 + state.rng.usize(..256);
                garbage_bytes(&mut state.rng, len)
            };
            Response {
                status: 200,
                content_type: "application/json",
                headers: Vec::new(),
                body,
            }
            .to_bytes()
        }
        Fault::Truncated => {
            let full = response.to_bytes();
            let head_len = find_blank_line(&full).map_or(0, |at| at + 4);
            if full.len() > head_len + 1 {
                let body_cut = truncate_reply(&full[head_len..]).len();
                full[..head_len + body_cut].to_vec()
            } else {
                truncate_reply(&full).to_vec()
            }
        }
        _ => response.to_bytes(),
    };
    let _ = stream.write_all(&bytes).await;
    let _ = stream.shutdown().await;
}

/// Keeps a connection open without ever answering, until the client closes it.
pub(crate) async fn hang(mut stream: TcpStream) {
    let mut sink = [0u8; 512];
    loop {
        match stream.read(&mut sink).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_request_line_headers_and_query() {
        let request = parse_head(
            "PATCH /api/system?x=1 HTTP/1.1\r\nHost: a\r\nOrigin: http://10.0.0.2\r\nContent-Length: 2",
        )
        .unwrap();
        assert_eq!(request.method, "PATCH");
        assert_eq!(request.path, "/api/system");
        assert_eq!(request.query, "x=1");
        assert_eq!(request.header("origin"), Some("http://10.0.0.2"));
        assert_eq!(request.header("content-length"), Some("2"));
    }

    #[test]
    fn rejects_broken_request_lines_and_headers() {
        assert!(matches!(
            parse_head("GARBAGE"),
            Err(RequestError::Malformed(_))
        ));
        assert!(matches!(
            parse_head("GET / HTTP/1.1\r\nno colon here"),
            Err(RequestError::Malformed(_))
        ));
        assert!(matches!(
            parse_head("GET nopath HTTP/1.1"),
            Err(RequestError::Malformed(_))
        ));
    }

    #[test]
    fn response_has_length_and_connection_close() {
        let bytes = Response::json(200, "{}".into()).to_bytes();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(text.contains("Content-Length: 2\r\n"));
        assert!(text.contains("Connection: close\r\n"));
        assert!(text.ends_with("\r\n\r\n{}"));
    }
}
