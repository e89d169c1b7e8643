//! The two narrow interfaces the script host needs from the rest of the daemon:
//! [`ScriptData`] (read-only, cheap, never the network) and [`ActionSink`] (control,
//! notifications, MQTT publishing and the audit log).
//!
//! They are traits so that the script module can be built and tested alone; at integration
//! they are implemented for the real Store + FeedHub + Control. Their shapes follow the Store
//! API in COMMON.md and return the shared `model` types, so those implementations are thin.

use crate::model::{AuditRecord, MinerKind, Mode, PricePoint, Sample, SlotRollup};

/// What the host needs to know about one configured miner.
#[derive(Debug, Clone, PartialEq)]
pub struct MinerInfo {
    /// Config name (unique).
    pub name: String,
    /// Store id.
    pub id: u32,
    /// Protocol kind after detection.
    pub kind: MinerKind,
    /// Model as the device names it, if known.
    pub model: Option<String>,
    /// Power to assume when the device has no power sensor, W.
    pub manual_power_w: Option<f64>,
    /// hmm's switch: whether the miner is polled and mining.
    pub enabled: bool,
    /// Over-temperature threshold for this miner's kind (config `[alerts] temp_c`), °C.
    pub temp_threshold_c: Option<f64>,
    /// Modes the driver supports for this device (checked before `set_mode`).
    pub modes: Vec<Mode>,
    /// Names of the pools this miner may be switched to (checked before `switch_pool`).
    pub pools: Vec<String>,
    /// Last successful poll, UTC ms (from the miner's status), if ever.
    pub last_seen_ms: Option<u64>,
}

/// A cached coin price from the price feed.
#[derive(Debug, Clone, PartialEq)]
pub struct CoinPrice {
    /// CoinGecko id, e.g. `bitcoin`.
    pub coin: String,
    /// Price of one coin in `currency`.
    pub price: f64,
    /// Lower-case currency code, e.g. `gbp`.
    pub currency: String,
    /// Seconds since the value was fetched.
    pub age_s: u64,
    /// True when the last fetch failed and this is the last good value.
    pub stale: bool,
}

/// Cached statistics of one configured pool account.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PoolStats {
    /// Pool name from config.
    pub name: String,
    /// Coin ticker in lower case (`btc`, `bch`, `dgb`).
    pub coin: String,
    /// Workers the pool sees for the account.
    pub workers: Option<u32>,
    /// Pool-side hashrate over 1 minute, H/s.
    pub hashrate_1m_hs: Option<f64>,
    /// Pool-side hashrate over 1 hour, H/s.
    pub hashrate_1h_hs: Option<f64>,
    /// Best share difficulty of the account.
    pub best_share: Option<f64>,
    /// Seconds since the pool last saw a share.
    pub last_share_age_s: Option<u64>,
    /// Seconds since the stats were fetched.
    pub age_s: u64,
    /// True when the last fetch failed and this is the last good value.
    pub stale: bool,
}

/// Read-only data for widgets and rules. Every method must be cheap (store reads and
/// in-memory caches): no widget evaluation may wait on the network (DESIGN.md budget
/// "feed requests per widget evaluation = 0"). Errors are messages for the script author.
pub trait ScriptData: Send + Sync {
    /// Every configured miner, in config order.
    fn miners(&self) -> Result<Vec<MinerInfo>, String>;
    /// Newest sample of each id with `ts_ms >= cutoff_ms`, aligned with `ids`
    /// (Store::fleet_latest).
    fn fleet_latest(&self, ids: &[u32], cutoff_ms: u64) -> Result<Vec<Option<Sample>>, String>;
    /// One miner's samples with `from_ms <= ts_ms < to_ms`, oldest first, at most `limit`
    /// (the newest ones when there are more).
    fn samples(
        &self,
        miner_id: u32,
        from_ms: u64,
        to_ms: u64,
        limit: usize,
    ) -> Result<Vec<Sample>, String>;
    /// Slot rollups of one miner (or all, `None`) with `from_s <= slot_start_s < to_s`.
    fn slots(
        &self,
        miner_id: Option<u32>,
        from_s: u64,
        to_s: u64,
    ) -> Result<Vec<SlotRollup>, String>;
    /// The price valid at `t_s`. A fixed tariff answers a constant price for any time.
    fn price_at(&self, t_s: u64) -> Result<Option<PricePoint>, String>;
    /// Price points overlapping `[from_s, to_s)`, ordered by `valid_from_s`. A fixed tariff
    /// answers one point covering the whole range.
    fn prices(&self, from_s: u64, to_s: u64) -> Result<Vec<PricePoint>, String>;
    /// Cached coin prices (never fetched here).
    fn coin_prices(&self) -> Result<Vec<CoinPrice>, String>;
    /// Cached pool statistics, one per configured pool with stats.
    fn pool_stats(&self) -> Result<Vec<PoolStats>, String>;
    /// Network difficulty of a coin (`btc`, ...) where a feed knows it.
    fn network_difficulty(&self, coin: &str) -> Result<Option<f64>, String>;
    /// Current time, UTC ms. Injectable so tests and `hmm rule test --at` can move it.
    fn now_ms(&self) -> u64;
}

/// Why an action did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionError {
    /// The control layer refused it (cooldown, unsupported, disabled): nothing was sent.
    Refused(String),
    /// It was sent and failed (device timeout, HTTP error).
    Failed(String),
}

impl std::fmt::Display for ActionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ActionError::Refused(reason) => write!(f, "refused: {reason}"),
            ActionError::Failed(reason) => write!(f, "failed: {reason}"),
        }
    }
}

/// Severity of a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyLevel {
    /// Something worth knowing.
    Info,
    /// Something that needs attention soon.
    Warning,
    /// Something that needs attention now.
    Critical,
}

impl NotifyLevel {
    /// Parses `info`, `warning` (or `warn`) and `critical` (or `error`).
    pub fn parse(text: &str) -> Option<NotifyLevel> {
        match text.trim().to_ascii_lowercase().as_str() {
            "info" => Some(NotifyLevel::Info),
            "warning" | "warn" => Some(NotifyLevel::Warning),
            "critical" | "error" => Some(NotifyLevel::Critical),
            _ => None,
        }
    }

    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyLevel::Info => "info",
            NotifyLevel::Warning => "warning",
            NotifyLevel::Critical => "critical",
        }
    }
}

/// Where checked actions go. Rate limiting (mode/pool/restart cooldowns) is enforced by the
/// control API behind this trait and comes back as [`ActionError::Refused`].
pub trait ActionSink: Send + Sync {
    /// Changes a miner's operating mode.
    fn set_mode(&self, miner: &str, mode: Mode) -> Result<(), ActionError>;
    /// Restarts a miner.
    fn restart(&self, miner: &str) -> Result<(), ActionError>;
    /// Switches a miner to a configured pool (by pool name).
    fn switch_pool(&self, miner: &str, pool: &str) -> Result<(), ActionError>;
    /// Turns hmm's enabled switch of a miner on or off.
    fn set_enabled(&self, miner: &str, enabled: bool) -> Result<(), ActionError>;
    /// Publishes a notification on MQTT (the external channels are the notifier's job).
    fn notify(&self, title: &str, message: &str, level: NotifyLevel);
    /// Publishes JSON under `<base>/<topic_suffix>`.
    fn publish(&self, topic_suffix: &str, payload: &serde_json::Value) -> Result<(), ActionError>;
    /// Appends to the audit log.
    fn audit(&self, record: AuditRecord);
}
