//! The last line of defence against leaking secrets: every answer body is scrubbed of
//! every known secret (the web token and whatever the backend reports: pool passwords,
//! API keys, notify tokens) before it is sent.
//!
//! Nothing the web renders should contain a secret in the first place; this catches the
//! cases nobody thought of, such as an upstream error message that quotes a URL with an
//! API key in it. Secrets shorter than 4 bytes are not scrubbed: a pool password of `x`
//! (the stratum convention) would otherwise mangle every page.

/// What a secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Shortest secret worth scrubbing.
const MIN_SECRET_LEN: usize = 4;

/// Replaces every occurrence of each secret in `body` with [`REDACTED`]. Returns the body
/// unchanged (no copy) when nothing matched.
pub fn scrub(body: Vec<u8>, secrets: &[String]) -> Vec<u8> {
    let mut body = body;
    for secret in secrets {
        let needle = secret.as_bytes();
        if needle.len() < MIN_SECRET_LEN || find(&body, needle, 0).is_none() {
            continue;
        }
        body = replace_all(&body, needle, REDACTED.as_bytes());
    }
    body
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from > haystack.len() {
        return None;
    }
    haystack[from..]
        .windows(needle.len())
        .position(|window| window == needle)
        .map(|at| at + from)
}

fn replace_all(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut start = 0;
    while let Some(at) = find(haystack, needle, start) {
        out.extend_from_slice(&haystack[start..at]);
        out.extend_from_slice(with);
        start = at + needle.len();
    }
    out.extend_from_slice(&haystack[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubs_every_occurrence() {
        let secrets = vec!["hunter22".to_string(), "x".to_string()];
        let out = scrub(b"a hunter22 b hunter22 x".to_vec(), &secrets);
        assert_eq!(out, b"a [redacted] b [redacted] x".to_vec());
        assert_eq!(scrub(b"clean".to_vec(), &secrets), b"clean".to_vec());
    }
}
