//! The configuration file: a TOML document (schema in COMMON.md "Config file", every key
//! explained in `hmm.example.toml`) read into typed, validated structs.
//!
//! Loading never stops at the first mistake: [`Config::load`] returns either a complete
//! [`Config`] or [`ConfigErrors`] listing every problem with its file, line, field path and
//! what is allowed, which is what `hmm check-config` prints. Unknown keys are errors (with
//! a "did you mean"), because a silently ignored typo in a threshold or a pool is worse
//! than a refusal to start. Every key has a default, so an almost empty file (one
//! `[[miners]]` entry) is a working config, and `Config::from_str("", ..)` is the default
//! config other modules use in tests. Durations are humantime strings ("30s", "7d") and
//! are converted to [`Duration`] here. Secrets are wrapped in [`Secret`] so `{:?}` of a
//! config never prints them.

mod checks;
mod error;
mod parse;
mod reader;
mod secret;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::{ConfigError, ConfigErrors};
pub use secret::Secret;

use crate::model::MinerKind;

/// The whole validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Directory of `hmm.redb` and user scripts.
    pub data_dir: PathBuf,
    /// Time between two polls of the fleet (≥ 1 s).
    pub poll_interval: Duration,
    /// How long new samples may wait in memory before a durable commit (spares flash).
    pub commit_interval: Duration,
    /// Identifies this instance in Home Assistant unique ids; `[a-z0-9_-]`, 1–32 chars.
    pub instance_id: String,
    /// How long stored data is kept.
    pub retention: RetentionConfig,
    /// Device timeouts, reply limits and control cooldowns.
    pub devices: DevicesConfig,
    /// The fleet, in file order; names are unique.
    pub miners: Vec<MinerConfig>,
    /// Electricity tariff.
    pub energy: EnergyConfig,
    /// Mining pools, referenced by name from miners and rules; names are unique.
    pub pools: Vec<PoolConfig>,
    /// Web feed endpoints.
    pub feeds: FeedsConfig,
    /// Feed cache lifetimes.
    pub cache: CacheConfig,
    /// MQTT / Home Assistant.
    pub mqtt: MqttConfig,
    /// Status page and API.
    pub web: WebConfig,
    /// Automation rules.
    pub automation: AutomationConfig,
    /// Alert thresholds.
    pub alerts: AlertsConfig,
    /// Notification channels.
    pub notify: NotifyConfig,
}

/// `[retention]`: how long raw samples and slot rollups are kept.
#[derive(Debug, Clone, PartialEq)]
pub struct RetentionConfig {
    /// Raw samples (default 7 days, at least 1 h).
    pub raw: Duration,
    /// Per-slot rollups (default 400 days, at least 1 day).
    pub slots: Duration,
}

/// `[devices]`: how the collector talks to miners.
#[derive(Debug, Clone, PartialEq)]
pub struct DevicesConfig {
    /// Per-request timeout; shorter than `poll_interval` so a slow miner never delays a cycle.
    pub timeout: Duration,
    /// Largest device reply read before giving up (protects RAM against garbage).
    pub max_reply_bytes: usize,
    /// Least time between two mode changes of one miner.
    pub mode_cooldown: Duration,
    /// Least time between two pool switches of one miner.
    pub pool_cooldown: Duration,
    /// Least time between two restarts of one miner.
    pub restart_cooldown: Duration,
    /// UDP address where NMMiner broadcasts are received (port 0 = any free port, tests).
    pub nmminer_listen: SocketAddr,
    /// An NMMiner silent this long is offline.
    pub nmminer_offline_after: Duration,
}

/// One `[[miners]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct MinerConfig {
    /// Unique name; MQTT topic segment and HA id (`[a-z0-9_-]`, 1–32 chars).
    pub name: String,
    /// Protocol family, or `Auto` to detect it.
    pub kind: MinerKind,
    /// Host name or IP address, without the port.
    pub host: String,
    /// Port if given in `host`; otherwise the driver's default (80, 4028, ...).
    pub port: Option<u16>,
    /// Wall power to assume for devices that do not report it, W.
    pub manual_power_w: Option<f64>,
    /// A disabled miner stays in the config (and its history) but is not polled.
    pub enabled: bool,
    /// Names of `[[pools]]` this miner may be switched to (all defined).
    pub pools: Vec<String>,
}

impl MinerConfig {
    /// `host:port` to connect to, using `default_port` when the config gave none.
    pub fn address(&self, default_port: u16) -> String {
        let port = self.port.unwrap_or(default_port);
        if self.host.contains(':') {
            format!("[{}]:{port}", self.host)
        } else {
            format!("{}:{port}", self.host)
        }
    }
}

/// How electricity is priced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tariff {
    /// Octopus Agile half-hourly prices for `EnergyConfig::region`.
    Agile,
    /// One flat unit rate, pence per kWh inc. VAT.
    Fixed {
        /// Unit rate, p/kWh.
        p_kwh: f64,
    },
}

/// `[energy]`.
#[derive(Debug, Clone, PartialEq)]
pub struct EnergyConfig {
    /// Agile or fixed.
    pub tariff: Tariff,
    /// Agile region letter, `A`–`P` without `I` and `O` (default `H`).
    pub region: char,
    /// Pin an Agile product code instead of discovering the current one.
    pub product: Option<String>,
    /// Daily standing charge, pence (added to daily costs; 0 = ignore).
    pub standing_charge_p_day: f64,
}

impl EnergyConfig {
    /// The region as the byte the store keys prices by (`b'A'..=b'P'`).
    pub fn region_byte(&self) -> u8 {
        self.region as u8
    }
}

/// Human name of an Agile region letter; `None` if the letter is not a region.
pub fn region_name(letter: char) -> Option<&'static str> {
    Some(match letter {
        'A' => "Eastern England",
        'B' => "East Midlands",
        'C' => "London",
        'D' => "Merseyside and North Wales",
        'E' => "West Midlands",
        'F' => "North Eastern England",
        'G' => "North Western England",
        'H' => "Southern England",
        'J' => "South Eastern England",
        'K' => "Southern Wales",
        'L' => "South Western England",
        'M' => "Yorkshire",
        'N' => "Southern Scotland",
        'P' => "Northern Scotland",
        _ => return None,
    })
}

/// Which account statistics to fetch for a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolStats {
    /// No statistics.
    None,
    /// CKPool solo per-user stats (`/users/<account>`); needs `account`.
    Ckpool,
    /// CKPool pool-wide `/pool/pool.status`; no account needed.
    CkpoolStatus,
    /// SoloPool.org account stats for `coin`; needs `account`.
    Solopool,
}

impl PoolStats {
    /// Every kind with its config spelling.
    pub const ALL: [(PoolStats, &'static str); 4] = [
        (PoolStats::None, "none"),
        (PoolStats::Ckpool, "ckpool"),
        (PoolStats::CkpoolStatus, "ckpool-status"),
        (PoolStats::Solopool, "solopool"),
    ];

    /// True when the stats are per account, so `account` is required.
    pub fn needs_account(self) -> bool {
        matches!(self, PoolStats::Ckpool | PoolStats::Solopool)
    }

    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(kind, _)| *kind == self)
            .map_or("none", |(_, name)| name)
    }
}

/// One `[[pools]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolConfig {
    /// Unique name, used by miners' `pools` and by rules.
    pub name: String,
    /// `stratum+tcp://host:port`.
    pub url: String,
    /// Stratum user, usually `<address>.<worker>`.
    pub user: String,
    /// Stratum password (usually "x").
    pub password: Secret,
    /// Statistics source.
    pub stats: PoolStats,
    /// Address whose statistics are fetched (required by `ckpool` and `solopool`).
    pub account: Option<String>,
    /// Base URL of a self-hosted pool's web server for `stats = "ckpool-status"`
    /// (`<stats_url>/pool/pool.status`); default `http://<stratum host>`.
    pub stats_url: Option<String>,
    /// Coin slug (SoloPool host, e.g. `btc`, `bch`, `dgb-sha`).
    pub coin: String,
    /// A disabled pool is neither switched to nor queried.
    pub enabled: bool,
}

/// `[feeds]`: web API endpoints (all configurable so tests use loopback servers).
#[derive(Debug, Clone, PartialEq)]
pub struct FeedsConfig {
    /// Octopus Energy API base URL.
    pub octopus_url: String,
    /// CoinGecko API base URL.
    pub coingecko_url: String,
    /// CoinGecko demo/pro API key (empty = keyless).
    pub coingecko_api_key: Secret,
    /// CoinGecko coin ids to price.
    pub coins: Vec<String>,
    /// Fiat currency for coin prices.
    pub currency: String,
    /// CKPool base URL.
    pub ckpool_url: String,
    /// SoloPool base URL; `{coin}` is replaced by the pool's coin.
    pub solopool_url: String,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// `[cache]`: how long each feed's answer is fresh.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheConfig {
    /// CoinGecko prices.
    pub coingecko: Duration,
    /// SoloPool stats.
    pub solopool: Duration,
    /// SoloPool network statistics (network difficulty) per coin of a `solopool` pool.
    pub solopool_network: Duration,
    /// CKPool stats.
    pub ckpool: Duration,
    /// Octopus prices.
    pub octopus: Duration,
}

/// `[mqtt]`: Home Assistant broker connection.
#[derive(Debug, Clone, PartialEq)]
pub struct MqttConfig {
    /// Publish at all.
    pub enabled: bool,
    /// Broker host name or IP (port goes in `port`).
    pub host: String,
    /// Broker port, 1–65535.
    pub port: u16,
    /// Broker user (empty = anonymous).
    pub username: String,
    /// Broker password.
    pub password: Secret,
    /// MQTT client id.
    pub client_id: String,
    /// Prefix of every topic (`hmm/<miner>/state`).
    pub base_topic: String,
    /// Home Assistant discovery prefix.
    pub discovery_prefix: String,
    /// MQTT keep-alive (5 s to 18 h, the protocol's u16 seconds).
    pub keep_alive: Duration,
    /// TLS to the broker. Always false in this build, which connects in plain TCP only
    /// (see Cargo.toml): `tls = true` is a config error rather than a silent downgrade.
    pub tls: bool,
}

/// `[web]`: status page and JSON API.
#[derive(Debug, Clone, PartialEq)]
pub struct WebConfig {
    /// Serve at all.
    pub enabled: bool,
    /// Listen address (port 0 = any free port, tests).
    pub bind: SocketAddr,
    /// Bearer token for state-changing requests; empty = HTTP control off.
    pub token: Secret,
    /// Request worker threads, 1–64.
    pub workers: usize,
}

/// `[automation]`.
#[derive(Debug, Clone, PartialEq)]
pub struct AutomationConfig {
    /// Global dry run: rules log what they would do, nothing is executed.
    pub dry_run: bool,
    /// How often rules are evaluated.
    pub interval: Duration,
    /// Per-rule settings, keyed by rule file name (`scripts/<name>.rhai`).
    pub rules: BTreeMap<String, RuleConfig>,
}

impl AutomationConfig {
    /// Settings of the rule `name`; a rule absent from the config is disabled, so a new
    /// script never starts steering hardware until the user opts in.
    pub fn rule(&self, name: &str) -> RuleConfig {
        self.rules.get(name).copied().unwrap_or_default()
    }

    /// True when the rule `name` must only log what it would do.
    pub fn is_dry_run(&self, name: &str) -> bool {
        self.dry_run || self.rule(name).dry_run
    }
}

/// `[automation.rules."<name>"]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleConfig {
    /// Run this rule (default false).
    pub enabled: bool,
    /// Log its actions instead of executing them.
    pub dry_run: bool,
}

/// `[alerts]`.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertsConfig {
    /// Over-temperature threshold per kind, °C.
    pub temp_c: TempThresholds,
}

/// `[alerts] temp_c = { axeos = .., avalon = .., nmminer = .. }`, each 30–120 °C.
#[derive(Debug, Clone, PartialEq)]
pub struct TempThresholds {
    /// Bitaxe / NerdQAxe ASIC temperature.
    pub axeos: f64,
    /// Avalon Nano.
    pub avalon: f64,
    /// NMMiner board.
    pub nmminer: f64,
}

impl TempThresholds {
    /// Threshold for a kind (`Auto` uses the lowest, the safe side).
    pub fn for_kind(&self, kind: MinerKind) -> f64 {
        match kind {
            MinerKind::Axeos => self.axeos,
            MinerKind::Avalon => self.avalon,
            MinerKind::Nmminer => self.nmminer,
            MinerKind::Auto => self.axeos.min(self.avalon).min(self.nmminer),
        }
    }
}

/// `[notify]`: where `notify()` messages go. Every URL and token is a secret.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifyConfig {
    /// Discord webhook URL (empty = off).
    pub discord_webhook: Secret,
    /// Telegram bot token (empty = off; needs `telegram_chat_id`).
    pub telegram_bot_token: Secret,
    /// Telegram chat id.
    pub telegram_chat_id: Secret,
    /// Generic JSON webhook URL (empty = off).
    pub webhook_url: Secret,
    /// Least time between two notifications with the same text.
    pub throttle: Duration,
}

impl Config {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let origin = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => Config::from_str(&text, &origin),
            Err(error) => Err(ConfigErrors {
                errors: vec![ConfigError {
                    file: origin,
                    line: None,
                    column: None,
                    field: "file".to_string(),
                    message: format!(
                        "cannot read the config file: {error}; check the path \
                         (hmm.example.toml shows every key)"
                    ),
                }],
            }),
        }
    }

    /// Parses and validates `text`; `origin` names it in messages (a path, or e.g.
    /// `"<test>"`). An empty text gives the default config.
    pub fn from_str(text: &str, origin: &str) -> Result<Config, ConfigErrors> {
        parse::parse(text, origin).0
    }

    /// A few lines for `hmm check-config`: miners by kind, pools, tariff, MQTT, web,
    /// automation. Contains no secret.
    pub fn summary(&self) -> String {
        let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
        for miner in &self.miners {
            *kinds.entry(miner.kind.as_str()).or_default() += 1;
        }
        let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
        let disabled = self.miners.iter().filter(|m| !m.enabled).count();
        let mut lines = vec![format!(
            "miners: {}{}{}",
            self.miners.len(),
            if kinds.is_empty() {
                String::new()
            } else {
                format!(" ({})", kinds.join(", "))
            },
            if disabled > 0 {
                format!(", {disabled} disabled")
            } else {
                String::new()
            }
        )];
        lines.push(format!("pools: {}", self.pools.len()));
        let region = region_name(self.energy.region).unwrap_or("?");
        lines.push(match self.energy.tariff {
            Tariff::Agile => format!("tariff: agile, region {} ({region})", self.energy.region),
            Tariff::Fixed { p_kwh } => format!("tariff: fixed, {p_kwh} p/kWh"),
        });
        lines.push(if self.mqtt.enabled {
            format!(
                "mqtt: on, {}:{}, base topic {}",
                self.mqtt.host, self.mqtt.port, self.mqtt.base_topic
            )
        } else {
            "mqtt: off".to_string()
        });
        lines.push(if self.web.enabled {
            let control = if self.web.token.is_empty() {
                "off"
            } else {
                "on"
            };
            format!("web: on, {}, HTTP control {control}", self.web.bind)
        } else {
            "web: off".to_string()
        });
        let enabled_rules = self.automation.rules.values().filter(|r| r.enabled).count();
        lines.push(format!(
            "automation: {enabled_rules} rule(s) enabled, every {}{}",
            humantime::format_duration(self.automation.interval),
            if self.automation.dry_run {
                ", dry run"
            } else {
                ""
            }
        ));
        lines.join("\n")
    }
}

impl Default for Config {
    /// The config of an empty file: every documented default, no miners.
    fn default() -> Config {
        // An empty document is valid by construction (tested in tests/config_defaults.rs).
        Config::from_str("", "<defaults>").expect("the empty config is valid")
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    /// The smallest document that makes the reader visit every key of the schema (one
    /// entry of each array and of the rules table).
    const SKELETON: &str = r#"
        [[miners]]
        name = "a"
        host = "h"
        [[pools]]
        name = "p"
        url = "stratum+tcp://h:1"
        user = "u"
        [automation.rules.r]
    "#;

    #[test]
    fn example_file_shows_every_key_of_the_schema() {
        let (result, schema, _) = parse::parse(SKELETON, "<skeleton>");
        assert!(result.is_ok(), "{:?}", result.err());
        assert!(schema.len() > 80, "schema looks truncated: {schema:?}");
        assert!(schema.contains(&"miners[].manual_power_w".to_string()));
        assert!(schema.contains(&"automation.rules.*.dry_run".to_string()));
        assert!(schema.contains(&"alerts.temp_c.nmminer".to_string()));

        let example = include_str!("../../hmm.example.toml");
        let (result, _, present) = parse::parse(example, "hmm.example.toml");
        assert!(result.is_ok(), "{}", result.err().unwrap());
        let missing: Vec<&String> = schema.iter().filter(|key| !present.contains(key)).collect();
        assert!(
            missing.is_empty(),
            "hmm.example.toml does not show: {missing:?}"
        );
    }
}
