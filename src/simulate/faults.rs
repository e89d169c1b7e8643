//! Fault modes a simulated device can be switched into, and the §3.6 cgminer output quirks.
//!
//! A driver must survive a device that hangs, talks garbage, drops the connection halfway,
//! fails with HTTP 500 or answers late (DESIGN.md "Devices"). Each fault is a property of
//! the device, switchable at runtime through [`super::SimControl`], so a test can flip a
//! healthy device into a broken one and back without restarting the fleet.

use std::fmt;
use std::time::Duration;

/// How a simulated device misbehaves. `None` is the healthy device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fault {
    /// Healthy: answers correctly.
    #[default]
    None,
    /// Accepts the connection, reads the request and never answers (the connection stays
    /// open until the client gives up or the fleet stops). NMMiner: stops sending datagrams.
    Hang,
    /// Answers with random bytes that are not JSON (HTTP: status 200 with a garbage body;
    /// cgminer: garbage then the NUL; NMMiner: garbage datagrams).
    Garbage,
    /// Cuts the reply in the middle of the JSON and closes the connection (HTTP: the
    /// Content-Length announces the full body; cgminer: no NUL terminator).
    Truncated,
    /// HTTP devices answer `500 Internal Server Error`. A cgminer device, which has no
    /// status line, closes the connection without a byte (its nearest equivalent).
    /// NMMiner: its HTTP endpoints answer 500; datagrams are unaffected.
    Http500,
    /// Answers correctly after the given delay (NMMiner: datagrams are delayed by it).
    Slow(Duration),
}

/// Delay of `slow` when the command line does not give one.
pub const DEFAULT_SLOW_DELAY: Duration = Duration::from_secs(5);

impl Fault {
    /// Parses `none`, `hang`, `garbage`, `truncated`, `http500`, `slow` or `slow:DURATION`
    /// (humantime, e.g. `slow:2s`).
    pub fn parse(text: &str) -> Result<Fault, String> {
        let text = text.trim();
        let (name, arg) = match text.split_once(':') {
            Some((name, arg)) => (name, Some(arg)),
            None => (text, None),
        };
        let fault = match (name, arg) {
            ("none", None) => Fault::None,
            ("hang", None) => Fault::Hang,
            ("garbage", None) => Fault::Garbage,
            ("truncated", None) => Fault::Truncated,
            ("http500", None) => Fault::Http500,
            ("slow", None) => Fault::Slow(DEFAULT_SLOW_DELAY),
            ("slow", Some(delay)) => {
                let delay = humantime::parse_duration(delay).map_err(|err| {
                    format!("fault '{text}': bad delay '{delay}' ({err}); write e.g. slow:2s")
                })?;
                Fault::Slow(delay)
            }
            _ => {
                return Err(format!(
                    "unknown fault '{text}': use none, hang, garbage, truncated, http500, slow or slow:2s"
                ));
            }
        };
        Ok(fault)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::None => f.write_str("none"),
            Fault::Hang => f.write_str("hang"),
            Fault::Garbage => f.write_str("garbage"),
            Fault::Truncated => f.write_str("truncated"),
            Fault::Http500 => f.write_str("http500"),
            Fault::Slow(delay) => write!(f, "slow:{}", humantime::format_duration(*delay)),
        }
    }
}

/// Malformed cgminer output seen in the wild (protocols.md §3.6), selectable per device.
/// The reply is otherwise correct; the quirk is applied to its text before the NUL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CgminerQuirk {
    /// Well-formed output.
    #[default]
    None,
    /// §3.6 #7: the reply starts with a comma instead of `{` (pyasic rewrites it).
    LeadingComma,
    /// §3.6 #2: `,}` before closing braces (btminer-style trailing comma).
    TrailingComma,
    /// §3.6 #6: float values in `summary` replaced by the strings `"inf"` / `"nan"`.
    InfNan,
    /// §3.6 #9: the text `Socket connect failed: Connection refused\n` instead of JSON.
    SocketFailedText,
    /// §3.6 #3: a literal newline inside a JSON string.
    NewlineInString,
}

impl CgminerQuirk {
    /// Parses `none`, `leading-comma`, `trailing-comma`, `inf-nan`, `socket-failed`,
    /// `newline-in-string`.
    pub fn parse(text: &str) -> Result<CgminerQuirk, String> {
        match text.trim() {
            "none" => Ok(CgminerQuirk::None),
            "leading-comma" => Ok(CgminerQuirk::LeadingComma),
            "trailing-comma" => Ok(CgminerQuirk::TrailingComma),
            "inf-nan" => Ok(CgminerQuirk::InfNan),
            "socket-failed" => Ok(CgminerQuirk::SocketFailedText),
            "newline-in-string" => Ok(CgminerQuirk::NewlineInString),
            other => Err(format!(
                "unknown cgminer quirk '{other}': use none, leading-comma, trailing-comma, inf-nan, socket-failed or newline-in-string"
            )),
        }
    }

    /// Applies the quirk to a rendered JSON reply (without its NUL).
    pub(crate) fn apply(self, reply: String) -> String {
        match self {
            CgminerQuirk::None => reply,
            CgminerQuirk::LeadingComma => match reply.strip_prefix('{') {
                Some(rest) => format!(",{rest}"),
                None => reply,
            },
            CgminerQuirk::TrailingComma => reply.replace("}]", ",}]"),
            CgminerQuirk::InfNan => {
                let reply = replace_number_after(&reply, "\"MHS 5s\":", "\"inf\"");
                replace_number_after(&reply, "\"Utility\":", "\"nan\"")
            }
            CgminerQuirk::SocketFailedText => "Socket connect failed: Connection refused\n".into(),
            CgminerQuirk::NewlineInString => reply.replacen("cgminer 4.11.1", "cgminer\n4.11.1", 1),
        }
    }
}

/// Replaces the number that follows `key` (e.g. `"MHS 5s":`) by `replacement`.
fn replace_number_after(reply: &str, key: &str, replacement: &str) -> String {
    let Some(start) = reply.find(key).map(|at| at + key.len()) else {
        return reply.to_string();
    };
    let len = reply[start..]
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
        .unwrap_or(reply.len() - start);
    format!("{}{replacement}{}", &reply[..start], &reply[start + len..])
}

/// Random bytes that can never parse as JSON: the first byte is `0xFF` (never valid UTF-8,
/// never a JSON start) and no byte is NUL (so a cgminer client reads all of it).
pub(crate) fn garbage_bytes(rng: &mut fastrand::Rng, len: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(len.max(1));
    bytes.push(0xFF);
    for _ in 1..len {
        bytes.push(rng.u8(1..=255));
    }
    bytes
}

/// The first half of a reply, cut inside the JSON (never empty, never the whole reply).
pub(crate) fn truncate_reply(reply: &[u8]) -> &[u8] {
    let cut = (reply.len() / 2).max(1).min(reply.len().saturating_sub(1));
    &reply[..cut]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_fault_and_rejects_unknown_with_a_hint() {
        assert_eq!(Fault::parse("hang").unwrap(), Fault::Hang);
        assert_eq!(Fault::parse("http500").unwrap(), Fault::Http500);
        assert_eq!(
            Fault::parse("slow:250ms").unwrap(),
            Fault::Slow(Duration::from_millis(250))
        );
        assert_eq!(
            Fault::parse("slow").unwrap(),
            Fault::Slow(DEFAULT_SLOW_DELAY)
        );
        let err = Fault::parse("boom").unwrap_err();
        assert!(err.contains("hang, garbage"), "{err}");
        assert!(Fault::parse("slow:soon").is_err());
        assert_eq!(Fault::parse("slow:2s").unwrap().to_string(), "slow:2s");
    }

    #[test]
    fn garbage_is_not_json_and_truncation_cuts_inside() {
        let mut rng = fastrand::Rng::with_seed(7);
        let bytes = garbage_bytes(&mut rng, 64);
        assert!(serde_json::from_slice::<serde_json::Value>(&bytes).is_err());
        assert!(!bytes.contains(&0));
        let reply = br#"{"a":1,"b":[1,2,3]}"#;
        let cut = truncate_reply(reply);
        assert!(!cut.is_empty() && cut.len() < reply.len());
        assert!(serde_json::from_slice::<serde_json::Value>(cut).is_err());
    }

    #[test]
    fn quirks_break_the_reply_the_documented_way() {
        let reply = r#"{"STATUS":[{"STATUS":"S"}],"id":1}"#.to_string();
        assert!(
            CgminerQuirk::LeadingComma
                .apply(reply.clone())
                .starts_with(",\"STATUS\"")
        );
        assert!(
            CgminerQuirk::TrailingComma
                .apply(reply.clone())
                .contains(",}]")
        );
        let summary = r#"{"SUMMARY":[{"MHS 5s":12.50,"Utility":1.17}]}"#.to_string();
        assert_eq!(
            CgminerQuirk::InfNan.apply(summary),
            r#"{"SUMMARY":[{"MHS 5s":"inf","Utility":"nan"}]}"#
        );
        assert_eq!(
            CgminerQuirk::SocketFailedText.apply(reply),
            "Socket connect failed: Connection refused\n"
        );
    }
}
