//! Bearer-token authorisation for state-changing requests.
//!
//! The token is compared in constant time (every byte of the longer input is visited and
//! differences are OR-ed together) so response timing does not reveal how much of a guess
//! was right. The token is never logged or echoed.

/// The outcome of checking a request's `Authorization` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthDecision {
    /// The configured token was presented.
    Allowed,
    /// No token is configured: HTTP control is off (403).
    ControlDisabled,
    /// No or a wrong token (401).
    Denied,
}

/// Decides whether a request carrying `authorization` (the raw header value, if any) may
/// change state, given the configured `token` (empty = control off).
pub fn authorize(token: &str, authorization: Option<&str>) -> AuthDecision {
    if token.is_empty() {
        return AuthDecision::ControlDisabled;
    }
    let presented = authorization.and_then(bearer_token).unwrap_or("");
    if constant_time_eq(presented.as_bytes(), token.as_bytes()) {
        AuthDecision::Allowed
    } else {
        AuthDecision::Denied
    }
}

/// The token of a `Bearer <token>` header value (scheme case-insensitive).
fn bearer_token(value: &str) -> Option<&str> {
    let value = value.trim();
    let (scheme, rest) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// Compares two byte strings in time that depends only on their lengths, not contents.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let len = a.len().max(b.len());
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..len {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_whole_strings() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn decides_from_the_header() {
        assert_eq!(
            authorize("", Some("Bearer x")),
            AuthDecision::ControlDisabled
        );
        assert_eq!(authorize("tok", None), AuthDecision::Denied);
        assert_eq!(authorize("tok", Some("Bearer tok")), AuthDecision::Allowed);
        assert_eq!(
            authorize("tok", Some("bearer  tok ")),
            AuthDecision::Allowed
        );
        assert_eq!(authorize("tok", Some("Basic tok")), AuthDecision::Denied);
        assert_eq!(authorize("tok", Some("Bearer tok2")), AuthDecision::Denied);
        assert_eq!(authorize("tok", Some("Bearer")), AuthDecision::Denied);
    }
}
