//! The web face of hmm: a server-rendered status page, a JSON API, Prometheus `/metrics`
//! and `/healthz`, served by tiny_http behind a listener with socket timeouts and a fixed
//! number of worker threads (DESIGN.md "Web").
//!
//! The web module never reaches into the store, the collector, the feeds or the script
//! host. Everything it shows comes through one narrow trait, [`WebBackend`], whose methods
//! return plain data ([`crate::model`] types and `serde_json::Value`). The daemon implements
//! it over the real modules; [`memory::MemoryBackend`] implements it in memory with a
//! realistic synthetic fleet for tests and the design preview.
//!
//! Files: `server.rs` (listener, workers, limits, shutdown), `routes.rs` (dispatch and
//! error shape), `api.rs` (JSON answers and parameter parsing), `page.rs` (HTML),
//! `svg.rs` (charts), `metrics.rs` (Prometheus text), `auth.rs` (bearer token),
//! `secrets.rs` (last-line redaction of secrets), `memory.rs` (in-memory backend).

pub mod api;
pub mod auth;
pub mod memory;
pub mod metrics;
pub mod page;
pub mod routes;
pub mod secrets;
pub mod server;
pub mod svg;

use std::time::Duration;

use serde::Serialize;

use crate::model::{AuditRecord, MinerStatus, PricePoint, Sample, SlotRollup};

pub use server::{WebServer, start};

/// The `[web]` table of the config file. Field names and defaults match the shared config
/// schema so the daemon's config converts into it in one line.
#[derive(Clone, PartialEq)]
pub struct WebSettings {
    /// Whether the daemon serves HTTP at all.
    pub enabled: bool,
    /// Address and port to listen on, e.g. `0.0.0.0:8080`.
    pub bind: String,
    /// Bearer token for control calls. Secret. Empty means HTTP control is off.
    pub token: String,
    /// Worker threads answering parsed requests (connections are read by tiny_http's own
    /// threads; a worker only ever sees a complete request head).
    pub workers: usize,
}

impl Default for WebSettings {
    fn default() -> WebSettings {
        WebSettings {
            enabled: true,
            bind: "0.0.0.0:8080".to_string(),
            token: String::new(),
            workers: 4,
        }
    }
}

impl std::fmt::Debug for WebSettings {
    /// Never prints the token: settings end up in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSettings")
            .field("enabled", &self.enabled)
            .field("bind", &self.bind)
            .field(
                "token",
                &if self.token.is_empty() {
                    "(none)"
                } else {
                    "(set)"
                },
            )
            .field("workers", &self.workers)
            .finish()
    }
}

/// One miner as the page and the API show it: its status, whether the last poll reached
/// it, its latest sample and the numbers derived from it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MinerView {
    /// Store id of the miner (the `miner_id` of its samples and slot rollups).
    pub id: u32,
    /// Config name, kind, model, firmware, pool, last seen, last error, enabled.
    pub status: MinerStatus,
    /// Whether the latest poll got usable telemetry.
    pub online: bool,
    /// Latest sample, if the miner was ever polled.
    pub latest: Option<Sample>,
    /// Efficiency in J/TH from the latest power (measured, else manual) and hashrate.
    pub efficiency_j_per_th: Option<f64>,
    /// Power the user configured for miners that do not measure it, W.
    pub manual_power_w: Option<f64>,
}

/// One page of a miner's samples, with the cursor to ask for the next one (the store's
/// `range` semantics: `None` when the range is exhausted).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SamplesPage {
    /// Samples in ascending time order.
    pub samples: Vec<Sample>,
    /// Pass back as `cursor` to continue; `None` at the end.
    pub next_cursor: Option<u64>,
}

/// A script that failed to compile or run, as `file:line: message`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScriptError {
    /// Script file name, e.g. `widgets/daily_cost.rhai`.
    pub file: String,
    /// What went wrong, with the line if known.
    pub message: String,
}

/// The health of one web feed's cache (Octopus, CoinGecko, CKPool, SoloPool).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedStatus {
    /// Feed name, e.g. `octopus`.
    pub name: String,
    /// Age of the value being served, seconds; `None` before the first success.
    pub age_s: Option<u64>,
    /// Whether the served value is past its TTL (served because a refresh failed).
    pub stale: bool,
    /// Failed fetches since start.
    pub errors: u64,
    /// Cache hits since start.
    pub hits: u64,
    /// Cache misses (fetches) since start.
    pub misses: u64,
    /// Times a stale value was served since start.
    pub stale_serves: u64,
    /// The last failure, already free of secrets.
    pub last_error: Option<String>,
}

/// Per-miner collector counters for `/metrics`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MinerCounters {
    /// Config name.
    pub name: String,
    /// Duration of the last poll, seconds.
    pub poll_duration_s: Option<f64>,
    /// Failed polls since start.
    pub poll_errors: u64,
}

/// Process-wide counters for `/metrics` that no other method already answers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricsSnapshot {
    /// Collector counters, one per miner.
    pub miners: Vec<MinerCounters>,
    /// Last evaluation time of each widget, seconds.
    pub widget_eval_s: Vec<(String, f64)>,
    /// Whether the MQTT client is connected (false when MQTT is disabled).
    pub mqtt_connected: bool,
    /// Messages waiting to be published.
    pub mqtt_queue_len: u64,
    /// Size of the redb file, bytes.
    pub store_size_bytes: u64,
}

/// What `/healthz` judges: when the collector last completed a whole-fleet cycle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Health {
    /// Completion time of the last collector cycle, UTC ms; `None` before the first.
    pub last_cycle_ms: Option<u64>,
    /// Configured poll interval.
    pub poll_interval: Duration,
}

/// A state-changing request, as the HTTP API accepts it: the daemon's one control API type.
pub use crate::control::ControlAction;

/// Why the backend did not carry out a control action. Each maps to an HTTP status.
#[derive(Debug, Clone, PartialEq)]
pub enum ControlRefusal {
    /// No miner of that name in the config (404).
    UnknownMiner,
    /// The device or config cannot do it, e.g. NMMiner has no control, unknown pool (422).
    Unsupported(String),
    /// The miner's rate limit for this action has not expired (429 with Retry-After).
    Cooldown {
        /// Seconds until the action is allowed again.
        retry_after_s: u64,
    },
    /// The device was asked and failed (502).
    Failed(String),
}

/// A backend read that failed. The web answers 404 or 503 and keeps serving.
#[derive(Debug, Clone, PartialEq)]
pub enum BackendError {
    /// No miner of that name.
    UnknownMiner,
    /// The data is temporarily unavailable (store error, shutting down), with a reason.
    Unavailable(String),
}

/// Everything the web needs from the daemon, as plain data. Implemented by the daemon
/// over the store, collector, feeds and script host, and by [`memory::MemoryBackend`].
///
/// Methods are called from the web's worker threads and must not wait on the network:
/// they read in-memory state or the store only.
pub trait WebBackend: Send + Sync {
    /// The current time, UTC ms. A method so tests and previews can pin the clock.
    fn now_ms(&self) -> u64 {
        crate::units::now_ms()
    }

    /// Every configured miner, in config order.
    fn miners(&self) -> Result<Vec<MinerView>, BackendError>;

    /// A page of one miner's samples with `from_ms <= ts < to_ms`, ascending, at most
    /// `limit`, starting at `cursor` when given (the store's `range` semantics).
    fn samples(
        &self,
        miner: &str,
        from_ms: u64,
        to_ms: u64,
        limit: usize,
        cursor: Option<u64>,
    ) -> Result<SamplesPage, BackendError>;

    /// Slot rollups with `from_s <= slot_start < to_s`, of one miner or (None) all miners.
    fn slots(
        &self,
        miner: Option<&str>,
        from_s: u64,
        to_s: u64,
    ) -> Result<Vec<SlotRollup>, BackendError>;

    /// Electricity prices overlapping `[from_s, to_s)`, ascending. Empty on a fixed tariff
    /// with no stored prices.
    fn prices(&self, from_s: u64, to_s: u64) -> Result<Vec<PricePoint>, BackendError>;

    /// The price in force at `t_s` (Agile slot or fixed tariff).
    fn price_at(&self, t_s: u64) -> Result<Option<PricePoint>, BackendError>;

    /// The latest result of every widget, by name, in a stable order.
    fn widgets(&self) -> Vec<(String, serde_json::Value)>;

    /// Scripts that currently fail to compile or run.
    fn script_errors(&self) -> Vec<ScriptError>;

    /// Audit rows, newest first, at most `limit`, strictly older than `before_ms` if given.
    fn audit(&self, limit: usize, before_ms: Option<u64>)
    -> Result<Vec<AuditRecord>, BackendError>;

    /// The state of every feed cache.
    fn feeds(&self) -> Vec<FeedStatus>;

    /// Counters for `/metrics`.
    fn metrics(&self) -> MetricsSnapshot;

    /// Collector liveness for `/healthz`.
    fn health(&self) -> Health;

    /// Every secret the backend knows (pool passwords, API keys, notify tokens). The web
    /// scrubs them from every answer as a last line of defence.
    fn secrets(&self) -> Vec<String>;

    /// Carries out a control action requested over HTTP, applying the miner's cooldowns
    /// and writing the audit row. `Ok` carries a short human message.
    fn control(&self, miner: &str, action: ControlAction) -> Result<String, ControlRefusal>;
}
