//! The `[mqtt]` settings this module needs, with the same field names, types and defaults as
//! the config file's `[mqtt]` section (COMMON.md), so the integrator converts one into the
//! other in one line. Validation lives here because only this module knows what the MQTT
//! client and Home Assistant accept (topic characters, keep-alive range, no TLS in this build).

use std::fmt;
use std::time::Duration;

/// Connection and topic settings of the MQTT bridge. `Debug` never prints the password.
#[derive(Clone, PartialEq)]
pub struct MqttSettings {
    /// Whether the daemon starts the bridge at all.
    pub enabled: bool,
    /// Broker host name or address.
    pub host: String,
    /// Broker TCP port.
    pub port: u16,
    /// User name; empty means "connect without credentials".
    pub username: String,
    /// Password (secret: never logged, never published).
    pub password: String,
    /// MQTT client id; must be unique on the broker or the two clients kick each other off.
    pub client_id: String,
    /// Root of every hmm topic (`hmm/status`, `hmm/<miner>/state`, ...). May have levels.
    pub base_topic: String,
    /// Home Assistant discovery prefix (HA's default is `homeassistant`).
    pub discovery_prefix: String,
    /// MQTT keep-alive; the broker publishes the last will after 1.5× this without traffic.
    pub keep_alive: Duration,
    /// TLS to the broker. This build has no MQTT TLS, so `true` is refused at start with
    /// instructions for a local bridge (see [`MqttSettings::validate`]).
    pub tls: bool,
}

impl Default for MqttSettings {
    fn default() -> Self {
        MqttSettings {
            enabled: false,
            host: "127.0.0.1".to_string(),
            port: 1883,
            username: String::new(),
            password: String::new(),
            client_id: "hmm".to_string(),
            base_topic: "hmm".to_string(),
            discovery_prefix: "homeassistant".to_string(),
            keep_alive: Duration::from_secs(30),
            tls: false,
        }
    }
}

impl fmt::Debug for MqttSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MqttSettings")
            .field("enabled", &self.enabled)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field(
                "password",
                &if self.password.is_empty() {
                    ""
                } else {
                    "<redacted>"
                },
            )
            .field("client_id", &self.client_id)
            .field("base_topic", &self.base_topic)
            .field("discovery_prefix", &self.discovery_prefix)
            .field("keep_alive", &self.keep_alive)
            .field("tls", &self.tls)
            .finish()
    }
}

/// What the user must do when TLS is asked for: this build speaks plain TCP only, because
/// rumqttc's TLS feature pulls in aws-lc (a C/CMake build that does not cross-compile to the
/// routers hmm targets).
pub const TLS_UNSUPPORTED: &str = "mqtt.tls = true, but this build of hmm has no MQTT TLS \
(it would pull in aws-lc, which does not build for the small ARM/MIPS targets). \
Run a local Mosquitto as a TLS bridge instead: in /etc/mosquitto/conf.d/bridge.conf put \
`connection remote` / `address your-broker:8883` / `bridge_cafile /etc/ssl/certs/ca-certificates.crt` / \
`remote_username ...` / `remote_password ...` / `topic hmm/# both 1` / `topic homeassistant/# both 1`, \
then set mqtt.host = \"127.0.0.1\", mqtt.port = 1883 and mqtt.tls = false";

impl MqttSettings {
    /// Checks every field and returns one message per problem, each naming the field and
    /// the fix. Empty means the settings are usable.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.tls {
            problems.push(TLS_UNSUPPORTED.to_string());
        }
        if self.host.trim().is_empty() {
            problems.push("mqtt.host is empty: set it to the broker's host name or address".into());
        }
        if self.port == 0 {
            problems.push("mqtt.port is 0: set the broker's port (usually 1883)".into());
        }
        if self.client_id.trim().is_empty() {
            problems.push(
                "mqtt.client_id is empty: set a name unique on the broker, e.g. \"hmm\"".into(),
            );
        }
        if self.username.is_empty() && !self.password.is_empty() {
            problems.push(
                "mqtt.password is set but mqtt.username is empty: set both or neither".into(),
            );
        }
        for (field, value) in [
            ("mqtt.base_topic", &self.base_topic),
            ("mqtt.discovery_prefix", &self.discovery_prefix),
        ] {
            if let Err(why) = check_topic_root(value) {
                problems.push(format!("{field} = {value:?} {why}"));
            }
        }
        let secs = self.keep_alive.as_secs();
        if !(5..=65_535).contains(&secs) {
            problems.push(format!(
                "mqtt.keep_alive = {}s is outside 5s..18h: use e.g. \"30s\"",
                secs
            ));
        }
        problems
    }
}

/// A base topic or discovery prefix must be a plain topic: non-empty, no wildcards, no
/// empty levels (a leading or trailing `/` makes one).
fn check_topic_root(topic: &str) -> Result<(), &'static str> {
    if topic.is_empty() {
        return Err("is empty: use e.g. \"hmm\"");
    }
    if topic.contains(['+', '#', '\0']) {
        return Err("contains an MQTT wildcard (+ or #) or NUL: remove it");
    }
    if topic.split('/').any(str::is_empty) {
        return Err("has an empty level (leading, trailing or double /): remove the extra /");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_config_contract_and_validate() {
        let settings = MqttSettings::default();
        assert_eq!(settings.port, 1883);
        assert_eq!(settings.base_topic, "hmm");
        assert_eq!(settings.discovery_prefix, "homeassistant");
        assert_eq!(settings.keep_alive, Duration::from_secs(30));
        assert!(settings.validate().is_empty());
    }

    #[test]
    fn problems_name_the_field_and_the_fix() {
        let settings = MqttSettings {
            tls: true,
            base_topic: "hmm/#".into(),
            discovery_prefix: "/ha".into(),
            keep_alive: Duration::from_secs(1),
            password: "s3cret".into(),
            ..MqttSettings::default()
        };
        let problems = settings.validate();
        assert_eq!(problems.len(), 5, "{problems:#?}");
        assert!(problems[0].contains("no MQTT TLS") && problems[0].contains("bridge"));
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("mqtt.base_topic") && p.contains("wildcard"))
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("mqtt.discovery_prefix") && p.contains("empty level"))
        );
        assert!(problems.iter().any(|p| p.starts_with("mqtt.keep_alive")));
        assert!(
            problems
                .iter()
                .any(|p| p.contains("mqtt.username is empty"))
        );
        assert!(!format!("{settings:?}").contains("s3cret"));
    }
}
