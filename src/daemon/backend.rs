//! The web's view of the running daemon: [`WebBackend`] over the fleet, the store, the
//! feeds, the scripts and the control API. Every method reads memory or the store; none
//! waits on a device or the internet.

use std::sync::Arc;

use crate::config::PoolStats;
use crate::control::{ControlAction, ControlRefusal as Refusal, ControlRequest};
use crate::model::{Actor, AuditRecord, PricePoint, SlotRollup};
use crate::units::efficiency_j_per_th;
use crate::web::{
    BackendError, ControlRefusal, FeedStatus, Health, MetricsSnapshot, MinerCounters, MinerView,
    SamplesPage, ScriptError, WebBackend,
};

use super::Daemon;

/// The daemon as the web sees it.
pub struct DaemonBackend {
    daemon: Arc<Daemon>,
}

impl DaemonBackend {
    /// A backend over a started daemon.
    pub fn new(daemon: Arc<Daemon>) -> DaemonBackend {
        DaemonBackend { daemon }
    }

    fn miner_id(&self, name: &str) -> Result<u32, BackendError> {
        self.daemon
            .fleet
            .get(name)
            .map(|m| m.id)
            .ok_or(BackendError::UnknownMiner)
    }
}

fn unavailable(err: impl std::fmt::Display) -> BackendError {
    BackendError::Unavailable(err.to_string())
}

impl WebBackend for DaemonBackend {
    fn miners(&self) -> Result<Vec<MinerView>, BackendError> {
        Ok(self
            .daemon
            .fleet
            .snapshot()
            .into_iter()
            .map(|entry| {
                let latest = entry.latest.clone();
                let online = latest.as_ref().is_some_and(|s| s.online);
                let power = latest
                    .as_ref()
                    .filter(|s| s.online)
                    .and_then(|s| s.power_w.or(entry.config.manual_power_w));
                let efficiency =
                    efficiency_j_per_th(power, latest.as_ref().and_then(|s| s.hashrate_hs));
                MinerView {
                    id: entry.id,
                    status: entry.status.clone(),
                    online,
                    latest,
                    efficiency_j_per_th: efficiency,
                    manual_power_w: entry.config.manual_power_w,
                }
            })
            .collect())
    }

    fn samples(
        &self,
        miner: &str,
        from_ms: u64,
        to_ms: u64,
        limit: usize,
        cursor: Option<u64>,
    ) -> Result<SamplesPage, BackendError> {
        let id = self.miner_id(miner)?;
        let page = self
            .daemon
            .store
            .range(id, from_ms, to_ms, limit, cursor)
            .map_err(unavailable)?;
        Ok(SamplesPage {
            samples: page.samples,
            next_cursor: page.next_cursor,
        })
    }

    fn slots(
        &self,
        miner: Option<&str>,
        from_s: u64,
        to_s: u64,
    ) -> Result<Vec<SlotRollup>, BackendError> {
        let id = miner.map(|name| self.miner_id(name)).transpose()?;
        self.daemon
            .store
            .slots(id, from_s, to_s)
            .map_err(unavailable)
    }

    fn prices(&self, from_s: u64, to_s: u64) -> Result<Vec<PricePoint>, BackendError> {
        let config = self.daemon.config();
        match config.energy.tariff {
            crate::config::Tariff::Agile => self
                .daemon
                .store
                .prices(config.energy.region_byte(), from_s, to_s)
                .map_err(unavailable),
            crate::config::Tariff::Fixed { .. } => Ok(Vec::new()),
        }
    }

    fn price_at(&self, t_s: u64) -> Result<Option<PricePoint>, BackendError> {
        self.daemon.feeds.price_at(t_s).map_err(unavailable)
    }

    fn widgets(&self) -> Vec<(String, serde_json::Value)> {
        self.daemon.widget_results()
    }

    fn script_errors(&self) -> Vec<ScriptError> {
        self.daemon
            .script_errors()
            .into_iter()
            .map(|(file, message)| ScriptError { file, message })
            .collect()
    }

    fn audit(
        &self,
        limit: usize,
        before_ms: Option<u64>,
    ) -> Result<Vec<AuditRecord>, BackendError> {
        self.daemon
            .store
            .audit(limit, before_ms)
            .map_err(unavailable)
    }

    fn feeds(&self) -> Vec<FeedStatus> {
        feed_statuses(&self.daemon)
    }

    fn metrics(&self) -> MetricsSnapshot {
        let daemon = &self.daemon;
        MetricsSnapshot {
            miners: daemon
                .fleet
                .snapshot()
                .into_iter()
                .map(|m| MinerCounters {
                    name: m.config.name.clone(),
                    poll_duration_s: (m.polls > 0).then_some(m.last_poll_s),
                    poll_errors: m.poll_errors,
                })
                .collect(),
            widget_eval_s: daemon.widget_eval_times(),
            mqtt_connected: daemon.mqtt.as_ref().is_some_and(|m| m.connected()),
            mqtt_queue_len: daemon.mqtt.as_ref().map_or(0, |m| m.queue_len() as u64),
            store_size_bytes: daemon.store.file_size(),
        }
    }

    fn health(&self) -> Health {
        let last = self.daemon.collector.last_cycle_ms();
        Health {
            last_cycle_ms: (last > 0).then_some(last),
            poll_interval: self.daemon.config().poll_interval,
        }
    }

    fn secrets(&self) -> Vec<String> {
        super::settings::secrets(&self.daemon.config())
    }

    fn control(&self, miner: &str, action: ControlAction) -> Result<String, ControlRefusal> {
        let request = ControlRequest {
            miner: miner.to_string(),
            action,
            actor: Actor::Http,
            reason: "HTTP API".to_string(),
            dry_run: false,
            audit: true,
        };
        self.daemon
            .controller
            .execute_blocking(self.daemon.runtime(), request)
            .map_err(|refusal| match refusal {
                Refusal::UnknownMiner(_) => ControlRefusal::UnknownMiner,
                Refusal::Unsupported(why) => ControlRefusal::Unsupported(why),
                Refusal::Cooldown { retry_after_s, .. } => {
                    ControlRefusal::Cooldown { retry_after_s }
                }
                Refusal::Failed(why) => ControlRefusal::Failed(why),
            })
    }
}

/// The state of every feed: counters from the cache, age and staleness from the newest
/// value each serves.
pub fn feed_statuses(daemon: &Daemon) -> Vec<FeedStatus> {
    let config = daemon.config();
    let now_s = crate::units::now_ms() / 1000;
    daemon
        .feeds
        .metrics()
        .into_iter()
        .map(|m| {
            let (age_s, stale, last_error) = match m.feed.as_str() {
                "octopus" => match daemon.feeds.agile_status() {
                    Some(status) => (
                        status.last_ok_s.map(|t| now_s.saturating_sub(t)),
                        status.failures > 0,
                        status.last_error.clone(),
                    ),
                    None => (None, false, None),
                },
                "coingecko" => match daemon.feeds.coin_prices() {
                    Some(cached) => (
                        Some(cached.age_ms / 1000),
                        cached.stale,
                        cached.last_error.clone(),
                    ),
                    None => (None, false, None),
                },
                "solopool-network" => network_feed_state(daemon),
                kind => pool_feed_state(daemon, &config, kind),
            };
            FeedStatus {
                name: m.feed.clone(),
                age_s,
                stale,
                errors: m.errors,
                hits: m.hits,
                misses: m.misses,
                stale_serves: m.stale_serves,
                last_error,
            }
        })
        .collect()
}

/// Oldest age, any staleness and the last error over the coins whose SoloPool network
/// statistics are fetched.
fn network_feed_state(daemon: &Daemon) -> (Option<u64>, bool, Option<String>) {
    let mut age_s = None;
    let mut stale = false;
    let mut last_error = None;
    for (_, cached) in daemon.feeds.network_difficulties() {
        age_s = Some(age_s.unwrap_or(0).max(cached.age_ms / 1000));
        stale |= cached.stale;
        if cached.last_error.is_some() {
            last_error = cached.last_error.clone();
        }
    }
    (age_s, stale, last_error)
}

/// Oldest age, any staleness and the last error over the enabled pools of one stats kind.
fn pool_feed_state(
    daemon: &Daemon,
    config: &crate::config::Config,
    kind: &str,
) -> (Option<u64>, bool, Option<String>) {
    let mut age_s = None;
    let mut stale = false;
    let mut last_error = None;
    for pool in config.pools.iter().filter(|p| p.enabled) {
        let matches = matches!(
            (kind, pool.stats),
            ("ckpool", PoolStats::Ckpool | PoolStats::CkpoolStatus)
                | ("solopool", PoolStats::Solopool)
        );
        if !matches {
            continue;
        }
        if let Some(cached) = daemon.feeds.pool_stats(&pool.name) {
            age_s = Some(age_s.unwrap_or(0).max(cached.age_ms / 1000));
            stale |= cached.stale;
            if cached.last_error.is_some() {
                last_error = cached.last_error.clone();
            }
        }
    }
    (age_s, stale, last_error)
}
