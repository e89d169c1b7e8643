//! The collector: every poll interval it polls every configured miner concurrently, each
//! within its own timeout, turns the replies into samples and hands the whole cycle to the
//! store in one `append_cycle`.
//!
//! One slow, hung or garbage-speaking device costs only its own timeout: polls run as
//! separate tasks and the cycle waits for at most `timeout` plus a small margin. A failed
//! poll becomes an offline sample plus a reason ("timeout after 3 s", "HTTP 401 from
//! 10.0.0.5: device refuses non-LAN clients") in the miner's status; it never becomes
//! zeros in the store.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::devices::nmminer::NmminerListener;
use crate::devices::{DeviceError, Limits, Reading, avalon, axeos, detect};
use crate::difficulty::NetworkDifficulties;
use crate::fleet::{Fleet, MinerEntry};
use crate::model::{MinerKind, Sample};
use crate::store::Store;
use crate::units::{energy_wh, now_ms};

/// Default TCP port of each kind, used when a miner's `host` has none.
pub fn default_port(kind: MinerKind) -> u16 {
    match kind {
        MinerKind::Axeos | MinerKind::Auto => 80,
        MinerKind::Avalon => 4028,
        MinerKind::Nmminer => 12345,
    }
}

/// What one miner's poll produced.
struct PollResult {
    name: String,
    kind: Option<MinerKind>,
    outcome: Result<Reading, DeviceError>,
    took: Duration,
}

/// Polls the fleet and records each cycle. Shared by the daemon's timer task.
pub struct Collector {
    fleet: Arc<Fleet>,
    store: Arc<Store>,
    difficulties: Arc<NetworkDifficulties>,
    limits: Limits,
    nmminer: Option<Arc<NmminerListener>>,
    nmminer_offline_after: Duration,
    gap_cap_ms: u64,
    last_cycle_ms: AtomicU64,
    cycles: AtomicU64,
    /// Held for a whole cycle, so cycles never overlap: a cycle started earlier (the
    /// daemon's loop) cannot finish after a later one (a manual or test cycle) and bury its
    /// samples, which the store, keeping each miner's samples in time order, would drop.
    turn: tokio::sync::Mutex<()>,
}

impl Collector {
    /// A collector over `fleet`, writing samples to `store` and the network difficulty the
    /// miners report to `difficulties`. `poll_interval` sets the energy gap cap (twice the
    /// interval, as the store does).
    pub fn new(
        fleet: Arc<Fleet>,
        store: Arc<Store>,
        difficulties: Arc<NetworkDifficulties>,
        limits: Limits,
        nmminer: Option<Arc<NmminerListener>>,
        nmminer_offline_after: Duration,
        poll_interval: Duration,
    ) -> Collector {
        Collector {
            fleet,
            store,
            difficulties,
            limits,
            nmminer,
            nmminer_offline_after,
            gap_cap_ms: 2 * poll_interval.as_millis() as u64,
            last_cycle_ms: AtomicU64::new(0),
            cycles: AtomicU64::new(0),
            turn: tokio::sync::Mutex::new(()),
        }
    }

    /// When the last cycle completed, UTC ms (0 before the first). Drives `/healthz`.
    pub fn last_cycle_ms(&self) -> u64 {
        self.last_cycle_ms.load(Ordering::Relaxed)
    }

    /// Cycles completed since start.
    pub fn cycles(&self) -> u64 {
        self.cycles.load(Ordering::Relaxed)
    }

    /// Polls every miner once, concurrently, and appends the cycle to the store. Returns the
    /// samples written.
    pub async fn cycle(&self) -> Vec<Sample> {
        let _turn = self.turn.lock().await;
        let miners = self.fleet.snapshot();
        let mut tasks = tokio::task::JoinSet::new();
        for entry in miners {
            let limits = self.limits;
            let nmminer = self.nmminer.clone();
            let offline_after = self.nmminer_offline_after;
            tasks.spawn(async move { poll_miner(entry, limits, nmminer, offline_after).await });
        }
        let mut results = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            if let Ok(result) = joined {
                results.push(result);
            }
        }
        // Strictly after the previous cycle, even when two cycles end in the same
        // millisecond (replies that fail at once): the store keeps one sample per time.
        let ts_ms = now_ms().max(self.last_cycle_ms.load(Ordering::Relaxed) + 1);
        let samples: Vec<Sample> = results
            .iter()
            .filter_map(|r| self.record(r, ts_ms))
            .collect();
        let store = Arc::clone(&self.store);
        let batch = samples.clone();
        match tokio::task::spawn_blocking(move || store.append_cycle(&batch)).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => log::error!("storing a poll cycle failed: {err}"),
            Err(err) => log::error!("storing a poll cycle panicked: {err}"),
        }
        self.last_cycle_ms.store(ts_ms, Ordering::Relaxed);
        self.cycles.fetch_add(1, Ordering::Relaxed);
        samples
    }

    /// Folds one poll result into the fleet and returns its sample.
    fn record(&self, result: &PollResult, ts_ms: u64) -> Option<Sample> {
        let gap_cap_ms = self.gap_cap_ms;
        let mut sample = None;
        self.fleet.update(&result.name, |entry| {
            entry.polls += 1;
            entry.last_poll_s = result.took.as_secs_f64();
            if result.kind.is_some() {
                entry.kind = result.kind;
                entry.status.kind = result.kind;
            }
            let new = match &result.outcome {
                Ok(reading) => {
                    apply_reading(entry, reading, ts_ms);
                    Sample {
                        miner_id: entry.id,
                        ts_ms,
                        online: true,
                        ..reading.sample.clone()
                    }
                }
                Err(err) => {
                    entry.poll_errors += 1;
                    let reason = err.to_string();
                    if entry.status.last_error.as_deref() != Some(reason.as_str()) {
                        log::warn!("{}: {reason}", entry.config.name);
                    }
                    entry.status.last_error = Some(reason);
                    Sample::offline(entry.id, ts_ms)
                }
            };
            entry.energy_wh_total += energy_increment(entry, &new, gap_cap_ms);
            entry.latest = Some(new.clone());
            sample = Some(new);
        });
        // Only for a miner still in the fleet (a reload may have removed it mid-cycle).
        if sample.is_some()
            && let Ok(reading) = &result.outcome
        {
            self.difficulties.record(&reading.info.network, ts_ms);
        }
        sample
    }
}

/// Copies a successful reading's facts into the miner's status.
fn apply_reading(entry: &mut MinerEntry, reading: &Reading, ts_ms: u64) {
    let info = &reading.info;
    entry.status.model = info.model.clone().or(entry.status.model.take());
    entry.status.firmware = info.firmware.clone().or(entry.status.firmware.take());
    entry.status.pool = info.pool_url.clone();
    entry.status.last_seen_ms = Some(ts_ms);
    if entry.status.last_error.is_some() {
        log::info!("{}: back online", entry.config.name);
    }
    entry.status.last_error = None;
    entry.status.modes = crate::devices::capabilities(info).modes;
    // The device's own paused flag is the truth for hmm's enabled switch.
    if let Some(paused) = info.paused {
        entry.status.enabled = !paused;
    }
    entry.info = Some(info.clone());
}

/// Energy used since the previous sample, Wh: measured power by the trapezoid rule, or the
/// miner's manual power while online when it has no sensor. Gaps are capped like the store.
pub fn energy_increment(entry: &MinerEntry, new: &Sample, gap_cap_ms: u64) -> f64 {
    let Some(prev) = &entry.latest else {
        return 0.0;
    };
    if !(prev.online && new.online) || new.ts_ms <= prev.ts_ms {
        return 0.0;
    }
    if prev.power_w.is_some() && new.power_w.is_some() {
        return energy_wh(prev.ts_ms, prev.power_w, new.ts_ms, new.power_w, gap_cap_ms);
    }
    match entry.config.manual_power_w {
        Some(watts) => energy_wh(prev.ts_ms, Some(watts), new.ts_ms, Some(watts), gap_cap_ms),
        None => 0.0,
    }
}

/// Polls one miner within its limits, detecting its kind first when configured `auto`.
async fn poll_miner(
    entry: MinerEntry,
    limits: Limits,
    nmminer: Option<Arc<NmminerListener>>,
    offline_after: Duration,
) -> PollResult {
    let started = Instant::now();
    let name = entry.config.name.clone();
    // Belt and braces: drivers honour the limit themselves; this bounds anything they miss.
    let deadline = limits.timeout + Duration::from_millis(500);
    let polled = tokio::time::timeout(
        deadline,
        poll_by_kind(&entry, limits, nmminer, offline_after),
    )
    .await;
    let (kind, outcome) = match polled {
        Ok(result) => result,
        Err(_) => (entry.kind, Err(DeviceError::Timeout(limits.timeout))),
    };
    PollResult {
        name,
        kind,
        outcome,
        took: started.elapsed(),
    }
}

async fn poll_by_kind(
    entry: &MinerEntry,
    limits: Limits,
    nmminer: Option<Arc<NmminerListener>>,
    offline_after: Duration,
) -> (Option<MinerKind>, Result<Reading, DeviceError>) {
    let kind = match entry.kind {
        Some(kind) => kind,
        None => match detect::detect(&entry.config.address(80), limits).await {
            Ok(found) => {
                log::info!("{}: detected {}", entry.config.name, found.kind.as_str());
                return (Some(found.kind), Ok(found.reading));
            }
            Err(err) => return (None, Err(err)),
        },
    };
    let address = entry.config.address(default_port(kind));
    let outcome = match kind {
        MinerKind::Axeos => axeos::poll(&address, limits).await,
        MinerKind::Avalon => avalon::poll(&address, limits).await,
        MinerKind::Nmminer => match &nmminer {
            Some(listener) => listener.reading(&entry.config.host, offline_after),
            None => Err(DeviceError::Unsupported(
                "the NMMiner UDP listener is not running".into(),
            )),
        },
        MinerKind::Auto => Err(DeviceError::Unsupported(
            "the miner's kind is not detected yet".into(),
        )),
    };
    (Some(kind), outcome)
}
