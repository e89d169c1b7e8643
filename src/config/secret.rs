//! [`Secret`]: a string that never prints itself.
//!
//! Pool passwords, the MQTT password, the web token, API keys and notification URLs are
//! kept in this newtype so that `{:?}` of a whole [`Config`](super::Config) (in a log line,
//! a panic message or a test failure) cannot leak them. Reading the value needs an explicit
//! [`Secret::expose`], which makes every use easy to find in review.

use std::fmt;

/// A configured secret. `Debug` and `Display` print `***` (or `""` when unset, so a log
/// can still tell "configured" from "empty"); [`Secret::expose`] gives the real text.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret text itself, for the one place that must send it (a login, a header).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when nothing was configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("\"\"")
        } else {
            f.write_str("***")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn prints_stars_but_exposes_the_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?} {secret}"), "*** ***");
        assert_eq!(secret.expose(), "hunter2");
        assert_eq!(format!("{:?}", Secret::default()), "\"\"");
    }
}
