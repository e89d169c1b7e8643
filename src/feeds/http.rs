//! The one HTTP client every feed uses: a ureq 3 agent with a whole-request timeout, a
//! connect timeout, rustls, a capped body, `User-Agent: hmm/<version>`, and typed errors.
//!
//! ureq is blocking, so callers run it on their own threads (the [`FeedHub`] refresher),
//! never on the async runtime. Non-2xx statuses are returned as [`HttpError::Status`] with
//! the server's `Retry-After` parsed, so the cache can back off as the server asked.
//! Error texts carry the URL but never request headers, where API keys travel.
//!
//! [`FeedHub`]: crate::feeds::FeedHub

use std::time::Duration;

use serde::de::DeserializeOwned;

/// Largest response body accepted (1 MiB). Octopus pages of 1500 slots are ~250 KB; a
/// larger reply is a misconfigured URL, and reading it would cost RAM on a router.
pub const MAX_BODY_BYTES: u64 = 1 << 20;

/// How one HTTP GET failed.
#[derive(Debug, Clone, PartialEq)]
pub enum HttpError {
    /// The server answered with a non-2xx status.
    Status {
        /// Requested URL.
        url: String,
        /// HTTP status code.
        status: u16,
        /// Parsed `Retry-After` (seconds or HTTP date), if present.
        retry_after: Option<Duration>,
    },
    /// The request did not complete within the configured timeout.
    Timeout {
        /// Requested URL.
        url: String,
    },
    /// The body exceeded [`MAX_BODY_BYTES`].
    TooLarge {
        /// Requested URL.
        url: String,
    },
    /// The body was not the JSON the API documents.
    BadBody {
        /// Requested URL.
        url: String,
        /// What the parser said.
        message: String,
    },
    /// Connection refused, DNS, TLS and other transport failures.
    Transport {
        /// Requested URL.
        url: String,
        /// What failed.
        message: String,
    },
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Status {
                url,
                status,
                retry_after: Some(wait),
            } => write!(
                f,
                "GET {url}: HTTP {status}, server asks to retry after {} s",
                wait.as_secs()
            ),
            HttpError::Status { url, status, .. } => write!(f, "GET {url}: HTTP {status}"),
            HttpError::Timeout { url } => {
                write!(
                    f,
                    "GET {url}: timed out (raise [feeds] timeout if the server is slow)"
                )
            }
            HttpError::TooLarge { url } => write!(
                f,
                "GET {url}: reply larger than {MAX_BODY_BYTES} bytes; check the configured URL"
            ),
            HttpError::BadBody { url, message } => {
                write!(f, "GET {url}: unexpected reply: {message}")
            }
            HttpError::Transport { url, message } => write!(f, "GET {url}: {message}"),
        }
    }
}

impl std::error::Error for HttpError {}

/// A shared, thread-safe blocking HTTP client (cheap to clone: the agent is an `Arc`).
#[derive(Debug, Clone)]
pub struct HttpClient {
    agent: ureq::Agent,
}

impl HttpClient {
    /// A client whose every request finishes (or fails) within `timeout`; connecting alone
    /// may take at most half of it, so a dead host fails fast.
    pub fn new(timeout: Duration) -> HttpClient {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .timeout_connect(Some(timeout / 2))
            .http_status_as_error(false)
            .user_agent(format!("hmm/{}", env!("CARGO_PKG_VERSION")))
            .max_redirects(3)
            .build();
        HttpClient {
            agent: ureq::Agent::new_with_config(config),
        }
    }

    /// GET `url` with extra `headers` and return the body as text.
    pub fn get_text(&self, url: &str, headers: &[(&str, &str)]) -> Result<String, HttpError> {
        let mut request = self.agent.get(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut response = request.call().map_err(|e| transport_error(url, e))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, crate::units::now_ms() / 1000));
            return Err(HttpError::Status {
                url: url.to_string(),
                status,
                retry_after,
            });
        }
        response
            .body_mut()
            .with_config()
            .limit(MAX_BODY_BYTES)
            .read_to_string()
            .map_err(|e| transport_error(url, e))
    }

    /// GET `url` and decode the JSON body into `T`.
    pub fn get_json<T: DeserializeOwned>(
        &self,
        url: &str,
        headers: &[(&str, &str)],
    ) -> Result<T, HttpError> {
        let text = self.get_text(url, headers)?;
        serde_json::from_str(&text).map_err(|e| HttpError::BadBody {
            url: url.to_string(),
            message: e.to_string(),
        })
    }
}

fn transport_error(url: &str, error: ureq::Error) -> HttpError {
    let url = url.to_string();
    match error {
        ureq::Error::Timeout(_) => HttpError::Timeout { url },
        ureq::Error::BodyExceedsLimit(_) => HttpError::TooLarge { url },
        ureq::Error::StatusCode(status) => HttpError::Status {
            url,
            status,
            retry_after: None,
        },
        ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => {
            HttpError::Timeout { url }
        }
        other => HttpError::Transport {
            url,
            message: other.to_string(),
        },
    }
}

/// Parses a `Retry-After` value: delay-seconds (`"120"`) or an HTTP date
/// (`"Wed, 21 Oct 2015 07:28:00 GMT"`, relative to `now_s`). A date in the past is 0 s.
pub fn parse_retry_after(value: &str, now_s: u64) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = parse_http_date(value)?;
    Some(Duration::from_secs(at.saturating_sub(now_s)))
}

/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) to UTC seconds.
fn parse_http_date(value: &str) -> Option<u64> {
    let (_, rest) = value.split_once(", ")?;
    let mut parts = rest.split_whitespace();
    let day: u32 = parts.next()?.parse().ok()?;
    let month_name = parts.next()?;
    let year: i64 = parts.next()?.parse().ok()?;
    let time = parts.next()?;
    if parts.next()? != "GMT" {
        return None;
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == month_name)? as u32 + 1;
    let mut hms = time.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if day == 0 || day > 31 || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let days = crate::ukclock::days_from_civil(year, month, day);
    u64::try_from(days)
        .ok()
        .map(|d| d * 86_400 + h * 3600 + m * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(parse_retry_after("120", 0), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 0 ", 0), Some(Duration::ZERO));
        // Sun, 06 Nov 1994 08:49:37 GMT = 784111777.
        let date = "Sun, 06 Nov 1994 08:49:37 GMT";
        assert_eq!(
            parse_retry_after(date, 784_111_777 - 30),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after(date, 784_111_777 + 5),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", 0), None);
        assert_eq!(parse_retry_after("Sun, 06 Foo 1994 08:49:37 GMT", 0), None);
    }
}
