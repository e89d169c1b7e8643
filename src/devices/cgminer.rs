//! The cgminer JSON API transport (TCP 4028) as Canaan's firmware speaks it (§3.1, §3.6).
//!
//! One command per connection (the API is single-threaded: callers issue commands one after
//! another), request `{"command":"x","parameter":"y"}`, reply read until the NUL byte every
//! Canaan reply ends with, or until the peer closes without one; at most `max_reply_bytes`.
//!
//! Malformed replies are repaired only when the plain parse fails, with the fixes pyasic
//! applies: leading `,` → `{`, `}{` → `},{`, `[,{` → `[{`, `,}` → `}`, raw newlines, bare
//! `inf`/`nan` → `null` (so they read as "unknown", not 0), and garbage before the first
//! `{`. A *truncated* reply is reported ("cgminer reply truncated") rather than closed up
//! as pyasic does: a cut `"Accepted":26` is indistinguishable from a whole one, and a wrong
//! number is worse than a missing sample. The `STATUS` envelope is checked: `E`/`F` become
//! [`DeviceError::Command`] with the device's message.

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{DeviceError, Limits, excerpt, with_deadline, with_port};

/// The cgminer API port.
pub const PORT: u16 = 4028;

/// The envelope status of a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// `S` success, `I` info, `W` warning, `E` error, `F` fatal.
    pub letter: String,
    /// Message code (119 = ascset OK, 118 = ascset info, 120 = ascset failed, 14 = invalid).
    pub code: Option<i64>,
    /// The message text.
    pub msg: String,
}

/// Sends one command and returns the decoded, status-checked reply.
pub async fn command(
    addr: &str,
    command: &str,
    parameter: Option<&str>,
    limits: Limits,
) -> Result<Value, DeviceError> {
    let raw = exchange(addr, command, parameter, limits).await?;
    decode_reply(&raw)
}

/// Sends one command and returns the raw reply bytes (up to, not including, the NUL).
pub async fn exchange(
    addr: &str,
    command: &str,
    parameter: Option<&str>,
    limits: Limits,
) -> Result<Vec<u8>, DeviceError> {
    let request = request_json(command, parameter);
    let target = with_port(addr, PORT);
    with_deadline(limits.timeout, async {
        let mut stream = TcpStream::connect(&target)
            .await
            .map_err(|err| DeviceError::from_io(&target, &err))?;
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|err| DeviceError::from_io(&target, &err))?;
        read_until_nul(&mut stream, &target, limits.max_reply_bytes).await
    })
    .await
}

/// The request line: JSON always (some firmware rejects plain-text `stats`/`version`).
pub fn request_json(command: &str, parameter: Option<&str>) -> String {
    match parameter {
        Some(parameter) => serde_json::json!({"command": command, "parameter": parameter}),
        None => serde_json::json!({"command": command}),
    }
    .to_string()
}

async fn read_until_nul(
    stream: &mut TcpStream,
    target: &str,
    max: usize,
) -> Result<Vec<u8>, DeviceError> {
    let mut reply = Vec::with_capacity(2048);
    let mut chunk = [0u8; 4096];
    loop {
        let n = match stream.read(&mut chunk).await {
            Ok(n) => n,
            // A reset after some data is how a few firmwares end the reply.
            Err(err) if !reply.is_empty() && err.kind() == std::io::ErrorKind::ConnectionReset => 0,
            Err(err) => return Err(DeviceError::from_io(target, &err)),
        };
        if n == 0 {
            return Ok(reply);
        }
        if let Some(nul) = chunk[..n].iter().position(|b| *b == 0) {
            reply.extend_from_slice(&chunk[..nul]);
            return within(reply, max);
        }
        reply.extend_from_slice(&chunk[..n]);
        if reply.len() > max {
            return Err(DeviceError::TooLarge(max));
        }
    }
}

fn within(reply: Vec<u8>, max: usize) -> Result<Vec<u8>, DeviceError> {
    if reply.len() > max {
        Err(DeviceError::TooLarge(max))
    } else {
        Ok(reply)
    }
}

/// Decodes one reply: strips the NUL and trailing newlines, repairs known malformations,
/// parses JSON and checks the `STATUS` envelope.
pub fn decode_reply(raw: &[u8]) -> Result<Value, DeviceError> {
    let raw = match raw.iter().position(|b| *b == 0) {
        Some(nul) => &raw[..nul],
        None => raw,
    };
    let text = String::from_utf8_lossy(raw);
    let text = text.trim();
    if text.is_empty() {
        return Err(DeviceError::Garbage("empty reply".into()));
    }
    if text.starts_with("Socket connect failed") {
        return Err(DeviceError::ConnectionRefused);
    }
    if text.starts_with("STATUS=") {
        return Err(plain_text_reply(text));
    }
    let value = parse_repaired(text)?;
    status_of(&value)?;
    Ok(value)
}

fn parse_repaired(text: &str) -> Result<Value, DeviceError> {
    let first_error = match serde_json::from_str::<Value>(text) {
        Ok(value) => return Ok(value),
        Err(err) => err,
    };
    let repaired = repair(text);
    if let Ok(value) = serde_json::from_str::<Value>(&repaired) {
        return Ok(value);
    }
    // Garbage before the reply proper: parse from where the envelope starts.
    if !text.starts_with('{')
        && let Some(start) = repaired.find("{\"STATUS\":[")
    {
        let mut stream =
            serde_json::Deserializer::from_str(&repaired[start..]).into_iter::<Value>();
        match stream.next() {
            Some(Ok(value)) => return Ok(value),
            Some(Err(err)) if err.is_eof() => return Err(DeviceError::Truncated("cgminer")),
            _ => {}
        }
    }
    if first_error.is_eof() {
        return Err(DeviceError::Truncated("cgminer"));
    }
    Err(DeviceError::Garbage(excerpt(text.as_bytes())))
}

/// pyasic's textual fixes (§3.6), applied only to replies that do not parse as they are.
pub fn repair(text: &str) -> String {
    let mut fixed: String = text
        .chars()
        .map(|c| {
            if c == '\n' || c == '\r' || c == '\t' {
                ' '
            } else {
                c
            }
        })
        .collect();
    if fixed.starts_with(',') {
        fixed.replace_range(0..1, "{");
    }
    fixed = fixed
        .replace("}{", "},{")
        .replace("[,{", "[{")
        .replace(",}", "}")
        .replace(",]", "]");
    for token in ["-nan", "nan", "-inf", "inf"] {
        for end in [",", "}", "]"] {
            fixed = fixed.replace(&format!(":{token}{end}"), &format!(":null{end}"));
        }
    }
    fixed
}

/// Reads the first `STATUS` entry; `E`/`F` are errors carrying the device's message.
pub fn status_of(reply: &Value) -> Result<Status, DeviceError> {
    let entry = reply
        .get("STATUS")
        .and_then(|s| s.as_array().and_then(|a| a.first()).or(Some(s)))
        .filter(|e| e.is_object())
        .ok_or_else(|| DeviceError::Garbage("cgminer reply without STATUS".into()))?;
    let status = Status {
        letter: entry
            .get("STATUS")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        code: entry.get("Code").and_then(Value::as_i64),
        msg: entry
            .get("Msg")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
    };
    match status.letter.as_str() {
        "S" | "I" | "W" => Ok(status),
        "E" | "F" => Err(DeviceError::Command(if status.msg.is_empty() {
            format!("status {} code {:?}", status.letter, status.code)
        } else {
            status.msg
        })),
        _ => Err(DeviceError::Garbage(format!(
            "unknown cgminer STATUS '{}'",
            status.letter
        ))),
    }
}

/// A plain-text reply (`STATUS=E,When=…,Code=14,Msg=Invalid command,…|`): an error with
/// its message when the status is E/F, else a garbage error (hmm only speaks JSON).
fn plain_text_reply(text: &str) -> DeviceError {
    let first = text.split('|').next().unwrap_or(text);
    let field = |name: &str| {
        first
            .split(',')
            .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
            .unwrap_or("")
    };
    match field("STATUS") {
        "E" | "F" => DeviceError::Command(field("Msg").to_string()),
        _ => DeviceError::Garbage(format!(
            "plain-text reply, expected JSON: {}",
            excerpt(text.as_bytes())
        )),
    }
}

/// The first object of reply section `name` (`SUMMARY`, `STATS`, `VERSION`, …).
pub fn section<'a>(reply: &'a Value, name: &str) -> Option<&'a serde_json::Map<String, Value>> {
    reply.get(name)?.as_array()?.first()?.as_object()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repairs_only_what_is_broken() {
        let ok = br#"{"STATUS":[{"STATUS":"S","Msg":"x"}],"SUMMARY":[{"A":1}],"id":1}"#;
        assert_eq!(decode_reply(ok).unwrap()["SUMMARY"][0]["A"], 1);
        let trailing_comma =
            br#"{"STATUS":[{"STATUS":"S","Msg":"x"}],"SUMMARY":[{"A":1,}],"id":1}"#;
        assert_eq!(decode_reply(trailing_comma).unwrap()["SUMMARY"][0]["A"], 1);
        let bare_nan =
            br#"{"STATUS":[{"STATUS":"S","Msg":"x"}],"SUMMARY":[{"MHS av":nan,"B":2}],"id":1}"#;
        let value = decode_reply(bare_nan).unwrap();
        assert!(value["SUMMARY"][0]["MHS av"].is_null());
        let leading_comma = br#","STATUS":[{"STATUS":"S","Msg":"x"}],"id":1}"#;
        assert!(decode_reply(leading_comma).is_ok());
        let prefix = br#"xx{"STATUS":[{"STATUS":"S","Msg":"x"}],"id":1}"#;
        assert!(decode_reply(prefix).is_ok());
    }

    #[test]
    fn truncated_and_error_replies_are_reported() {
        let cut = br#"{"STATUS":[{"STATUS":"S","Msg":"x"}],"SUMMARY":[{"Accepted":26"#;
        assert_eq!(
            decode_reply(cut).unwrap_err(),
            DeviceError::Truncated("cgminer")
        );
        assert_eq!(
            decode_reply(cut).unwrap_err().to_string(),
            "cgminer reply truncated"
        );
        let plain = b"STATUS=E,When=1,Code=14,Msg=Invalid command,Description=cgminer 4.11.1|";
        assert_eq!(
            decode_reply(plain).unwrap_err(),
            DeviceError::Command("Invalid command".into())
        );
        assert_eq!(
            decode_reply(b"Socket connect failed: Connection refused\n").unwrap_err(),
            DeviceError::ConnectionRefused
        );
        assert!(matches!(
            decode_reply(b"\x00"),
            Err(DeviceError::Garbage(_))
        ));
        assert!(matches!(
            decode_reply(b"hello"),
            Err(DeviceError::Garbage(_))
        ));
    }
}
