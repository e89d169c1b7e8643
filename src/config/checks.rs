//! Pure value checks used while reading the config: names, host[:port], URLs, Agile region
//! letters. Each returns the cleaned value or a message saying what is allowed.

use std::net::Ipv6Addr;

/// Checks a name that becomes an MQTT topic segment and part of a Home Assistant unique id
/// (miner, pool and instance names): 1–32 characters of `a-z`, `0-9`, `_` and `-`.
pub(crate) fn identifier(text: &str) -> Result<String, String> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-';
    if text.is_empty() || text.len() > 32 || !text.chars().all(allowed) {
        let cleaned: String = text
            .trim()
            .chars()
            .map(|c| c.to_ascii_lowercase())
            .map(|c| if allowed(c) { c } else { '-' })
            .collect();
        let hint = if !cleaned.is_empty() && cleaned.len() <= 32 && cleaned != text {
            format!(" (try \"{cleaned}\")")
        } else {
            String::new()
        };
        return Err(format!(
            "\"{text}\" is not a valid name{hint}: use 1 to 32 characters of lowercase a-z, \
             0-9, '_' and '-' (it becomes an MQTT topic segment and a Home Assistant id)"
        ));
    }
    Ok(text.to_string())
}

/// A network address as written in the config: host name or IP, optional port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostPort {
    pub(crate) host: String,
    pub(crate) port: Option<u16>,
}

/// Parses `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address.
pub(crate) fn host_port(text: &str) -> Result<HostPort, String> {
    let example = "write e.g. \"192.168.1.50\" or \"192.168.1.50:8080\"";
    if text.contains("://") {
        return Err(format!(
            "\"{text}\" looks like a URL; {example} (no scheme, no path)"
        ));
    }
    if text.is_empty() || text.contains(|c: char| c.is_whitespace() || c == '/') {
        return Err(format!(
            "\"{text}\" is not a host name or IP address; {example}"
        ));
    }
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (inner, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("\"{text}\": missing ']' after the IPv6 address"))?;
        if inner.parse::<Ipv6Addr>().is_err() {
            return Err(format!("\"{inner}\" is not an IPv6 address"));
        }
        match after {
            "" => (inner, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (inner, Some(port)),
                None => return Err(format!("\"{text}\": expected ':port' after ']'")),
            },
        }
    } else if text.matches(':').count() > 1 {
        if text.parse::<Ipv6Addr>().is_err() {
            return Err(format!("\"{text}\" is not a valid address; {example}"));
        }
        (text, None)
    } else {
        match text.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    let host_ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':');
    if host.is_empty() || host.len() > 253 || !host.chars().all(host_ok) {
        return Err(format!(
            "\"{host}\" is not a host name or IP address; {example}"
        ));
    }
    let port = port.map(port_number).transpose()?;
    Ok(HostPort {
        host: host.to_string(),
        port,
    })
}

/// Parses a TCP/UDP port 1–65535.
fn port_number(text: &str) -> Result<u16, String> {
    match text.parse::<u32>() {
        Ok(port @ 1..=65535) => Ok(port as u16),
        _ => Err(format!(
            "port \"{text}\" is not valid: use a number from 1 to 65535"
        )),
    }
}

/// Checks an `http://` or `https://` base URL and returns it without a trailing `/`.
pub(crate) fn http_url(text: &str) -> Result<String, String> {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .ok_or_else(|| format!("\"{text}\" must start with http:// or https://"))?;
    let host = rest.split(['/', '?']).next().unwrap_or("");
    if host.is_empty() || text.contains(char::is_whitespace) {
        return Err(format!(
            "\"{text}\" is not a valid URL: expected e.g. \"https://example.org\""
        ));
    }
    Ok(text.trim_end_matches('/').to_string())
}

/// Like [`http_url`] but an empty string (feature off) is allowed.
pub(crate) fn optional_http_url(text: &str) -> Result<String, String> {
    if text.is_empty() {
        Ok(String::new())
    } else {
        http_url(text)
    }
}

/// Stratum URL schemes a miner accepts.
const STRATUM_SCHEMES: [&str; 4] = [
    "stratum+tcp://",
    "stratum+ssl://",
    "stratum+tls://",
    "stratum2+tcp://",
];

/// Checks a pool URL `stratum+tcp://host:port` (the port is required: devices take it as
/// a separate number).
pub(crate) fn stratum_url(text: &str) -> Result<String, String> {
    let example = "e.g. \"stratum+tcp://solo.ckpool.org:3333\"";
    let Some(rest) = STRATUM_SCHEMES
        .iter()
        .find_map(|scheme| text.strip_prefix(scheme))
    else {
        return Err(format!(
            "\"{text}\" must start with one of {}; {example}",
            STRATUM_SCHEMES.join(", ")
        ));
    };
    let address = host_port(rest.trim_end_matches('/'))?;
    if address.port.is_none() {
        return Err(format!("\"{text}\" needs a port; {example}"));
    }
    Ok(text.trim_end_matches('/').to_string())
}

/// Checks an Agile region letter (case-insensitive) and returns it upper-case.
pub(crate) fn region(text: &str) -> Result<char, String> {
    let mut chars = text.trim().chars();
    let letter = chars.next().map(|c| c.to_ascii_uppercase());
    match (letter, chars.next()) {
        (Some(letter), None) if super::region_name(letter).is_some() => Ok(letter),
        _ => Err(format!(
            "\"{text}\" is not an Octopus Agile region: use one letter A to P except I and O \
             (which do not exist), e.g. \"H\" for Southern England or \"C\" for London"
        )),
    }
}

/// Checks an MQTT topic prefix: not empty, no wildcards, no leading/trailing `/`.
pub(crate) fn topic_prefix(text: &str) -> Result<String, String> {
    if text.is_empty()
        || text.starts_with('/')
        || text.ends_with('/')
        || text.contains(['+', '#', ' '])
    {
        return Err(format!(
            "\"{text}\" is not a usable topic prefix: it must be non-empty, without '+', '#', \
             spaces or a leading/trailing '/'"
        ));
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        let parsed = host_port("192.168.1.50:4028").unwrap();
        assert_eq!(
            (parsed.host.as_str(), parsed.port),
            ("192.168.1.50", Some(4028))
        );
        assert_eq!(host_port("miner.lan").unwrap().port, None);
        assert_eq!(host_port("[::1]:80").unwrap().host, "::1");
        assert_eq!(host_port("fe80::1").unwrap().port, None);
        assert!(host_port("host:0").unwrap_err().contains("1 to 65535"));
        assert!(host_port("host:70000").unwrap_err().contains("1 to 65535"));
        assert!(host_port("http://10.0.0.1").unwrap_err().contains("URL"));
        assert!(host_port("").is_err());
        assert!(host_port("a b").is_err());
    }

    #[test]
    fn regions_exclude_i_and_o() {
        assert_eq!(region("h"), Ok('H'));
        assert_eq!(region("P"), Ok('P'));
        for bad in ["I", "O", "Q", "", "HH", "1"] {
            assert!(region(bad).unwrap_err().contains("except I and O"), "{bad}");
        }
    }

    #[test]
    fn urls_and_names() {
        assert_eq!(
            http_url("https://api.octopus.energy/").unwrap(),
            "https://api.octopus.energy"
        );
        assert!(http_url("ftp://x").is_err());
        assert!(http_url("https://").is_err());
        assert!(stratum_url("stratum+tcp://solo.ckpool.org:3333").is_ok());
        assert!(
            stratum_url("stratum+tcp://solo.ckpool.org")
                .unwrap_err()
                .contains("port")
        );
        assert!(stratum_url("solo.ckpool.org:3333").is_err());
        assert!(identifier("bitaxe-1").is_ok());
        assert!(identifier("Bitaxe").unwrap_err().contains("try \"bitaxe\""));
        assert!(
            identifier("My Miner")
                .unwrap_err()
                .contains("try \"my-miner\"")
        );
        assert!(identifier(&"a".repeat(33)).is_err());
        assert!(topic_prefix("hmm/site1").is_ok());
        assert!(topic_prefix("hmm/#").is_err());
    }
}
