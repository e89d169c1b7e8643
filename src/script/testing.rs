//! In-memory [`ScriptData`] and [`ActionSink`] implementations and a generated fleet.
//!
//! Used by the tests, by `hmm widget run --demo` / `hmm rule test --demo` before a store is
//! wired in, and by the widget benchmark. [`MemoryData::append`] builds slot rollups from
//! samples the way DESIGN.md prescribes for the store (trapezoid energy with the gap cap,
//! reset-aware share deltas, time-based online time), so widgets are exercised on rollups
//! that come from raw samples, device restarts included.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::model::{AuditRecord, MinerKind, Mode, PricePoint, Sample, SlotRollup};
use crate::script::data::{
    ActionError, ActionSink, CoinPrice, MinerInfo, NotifyLevel, PoolStats, ScriptData,
};
use crate::ukclock::{self, SLOT_S};
use crate::units;

/// Everything a [`MemoryData`] holds; public so tests can arrange any situation.
#[derive(Debug, Default)]
pub struct MemoryState {
    /// Configured miners, config order.
    pub miners: Vec<MinerInfo>,
    /// Samples per miner id, oldest first.
    pub samples: HashMap<u32, Vec<Sample>>,
    /// Slot rollups by (miner id, slot start s).
    pub slots: BTreeMap<(u32, u64), SlotRollup>,
    /// Agile prices sorted by `valid_from_s`.
    pub prices: Vec<PricePoint>,
    /// A fixed tariff instead of `prices`, p/kWh.
    pub fixed_price_p_kwh: Option<f64>,
    /// Cached coin prices.
    pub coins: Vec<CoinPrice>,
    /// Cached pool stats.
    pub pools: Vec<PoolStats>,
    /// Network difficulty per coin ticker.
    pub difficulty: HashMap<String, f64>,
    /// Raw samples older than this (relative to the newest) are dropped; 0 keeps all.
    pub keep_samples_ms: u64,
    last_online: HashMap<u32, Sample>,
}

/// An in-memory fleet store with an injectable clock.
pub struct MemoryData {
    state: RwLock<MemoryState>,
    now_ms: AtomicU64,
    max_gap_ms: u64,
}

impl MemoryData {
    /// An empty store whose energy integration caps intervals at `max_gap_ms` (2× poll).
    pub fn new(max_gap_ms: u64) -> MemoryData {
        MemoryData {
            state: RwLock::new(MemoryState::default()),
            now_ms: AtomicU64::new(0),
            max_gap_ms,
        }
    }

    /// Moves the clock.
    pub fn set_now(&self, now_ms: u64) {
        self.now_ms.store(now_ms, Ordering::SeqCst);
    }

    /// Runs `f` with write access to the state.
    pub fn with<R>(&self, f: impl FnOnce(&mut MemoryState) -> R) -> R {
        f(&mut self.state.write().unwrap_or_else(|e| e.into_inner()))
    }

    fn read<R>(&self, f: impl FnOnce(&MemoryState) -> R) -> R {
        f(&self.state.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Appends samples (any order across miners, time order per miner) and updates the
    /// rollups of their slots.
    pub fn append(&self, samples: &[Sample]) {
        let max_gap = self.max_gap_ms;
        self.with(|state| {
            for s in samples {
                let prev = state
                    .samples
                    .get(&s.miner_id)
                    .and_then(|v| v.last())
                    .cloned();
                let last_online = state.last_online.get(&s.miner_id).cloned();
                let slot_s = ukclock::slot_start_s(s.ts_ms / 1000);
                let slot = state
                    .slots
                    .entry((s.miner_id, slot_s))
                    .or_insert(SlotRollup {
                        miner_id: s.miner_id,
                        slot_start_s: slot_s,
                        ..SlotRollup::default()
                    });
                rollup_add(slot, prev.as_ref(), last_online.as_ref(), s, max_gap);
                if s.online {
                    state.last_online.insert(s.miner_id, s.clone());
                    if let Some(info) = state.miners.iter_mut().find(|m| m.id == s.miner_id) {
                        info.last_seen_ms = Some(s.ts_ms);
                    }
                }
                let list = state.samples.entry(s.miner_id).or_default();
                list.push(s.clone());
                if state.keep_samples_ms > 0 && list.len() > 64 {
                    let keep_from = s.ts_ms.saturating_sub(state.keep_samples_ms);
                    let cut = list.partition_point(|x| x.ts_ms < keep_from);
                    if cut > 32 {
                        list.drain(..cut);
                    }
                }
            }
        });
    }

    /// Sets a miner's mode as the device would report it (newest sample).
    pub fn set_mode(&self, name: &str, mode: Mode) {
        self.with(|state| {
            let Some(id) = state.miners.iter().find(|m| m.name == name).map(|m| m.id) else {
                return;
            };
            if let Some(last) = state.samples.get_mut(&id).and_then(|v| v.last_mut()) {
                last.mode = Some(mode);
            }
        });
    }

    /// Turns a miner's enabled switch.
    pub fn set_enabled(&self, name: &str, enabled: bool) {
        self.with(|state| {
            if let Some(m) = state.miners.iter_mut().find(|m| m.name == name) {
                m.enabled = enabled;
            }
        });
    }

    /// Appends, for every miner with samples, a copy of its newest sample stamped `ts_ms`
    /// (a steady fleet for rule simulations).
    pub fn touch(&self, ts_ms: u64) {
        let copies: Vec<Sample> = self.read(|state| {
            state
                .miners
                .iter()
                .filter_map(|m| state.samples.get(&m.id)?.last().cloned())
                .map(|s| Sample { ts_ms, ..s })
                .collect()
        });
        self.append(&copies);
    }
}

/// Adds one sample to its slot rollup: counts, hashrate, temperature, and for the interval
/// since the previous sample (both online) the capped online time, powered time and
/// trapezoid energy; share deltas since the last online sample, reset-aware.
fn rollup_add(
    slot: &mut SlotRollup,
    prev: Option<&Sample>,
    last_online: Option<&Sample>,
    s: &Sample,
    max_gap_ms: u64,
) {
    slot.samples += 1;
    if !s.online {
        return;
    }
    slot.online_samples += 1;
    if let Some(h) = s.hashrate_hs {
        slot.hashrate_sum_hs += h;
        slot.hashrate_samples += 1;
    }
    if let Some(t) = s.temp_c {
        slot.temp_max_c = Some(slot.temp_max_c.map_or(t, |m: f64| m.max(t)));
    }
    if let Some(p) = prev
        && p.online
        && s.ts_ms > p.ts_ms
    {
        let dt = (s.ts_ms - p.ts_ms).min(max_gap_ms);
        slot.online_ms += dt;
        if p.power_w.is_some() && s.power_w.is_some() {
            slot.powered_ms += dt;
            slot.energy_wh += units::energy_wh(p.ts_ms, p.power_w, s.ts_ms, s.power_w, max_gap_ms);
        }
    }
    if let Some(o) = last_online {
        slot.shares_accepted += units::counter_delta(o.shares_accepted, s.shares_accepted);
        slot.shares_rejected += units::counter_delta(o.shares_rejected, s.shares_rejected);
    }
}

impl ScriptData for MemoryData {
    fn miners(&self) -> Result<Vec<MinerInfo>, String> {
        Ok(self.read(|s| s.miners.clone()))
    }

    fn fleet_latest(&self, ids: &[u32], cutoff_ms: u64) -> Result<Vec<Option<Sample>>, String> {
        let now = self.now_ms();
        Ok(self.read(|state| {
            ids.iter()
                .map(|id| {
                    let list = state.samples.get(id)?;
                    let end = list.partition_point(|s| s.ts_ms <= now);
                    list[..end].last().filter(|s| s.ts_ms >= cutoff_ms).cloned()
                })
                .collect()
        }))
    }

    fn samples(
        &self,
        miner_id: u32,
        from_ms: u64,
        to_ms: u64,
        limit: usize,
    ) -> Result<Vec<Sample>, String> {
        Ok(self.read(|state| {
            let Some(list) = state.samples.get(&miner_id) else {
                return Vec::new();
            };
            let lo = list.partition_point(|s| s.ts_ms < from_ms);
            let hi = list.partition_point(|s| s.ts_ms < to_ms);
            let lo = lo.max(hi.saturating_sub(limit));
            list[lo..hi].to_vec()
        }))
    }

    fn slots(
        &self,
        miner_id: Option<u32>,
        from_s: u64,
        to_s: u64,
    ) -> Result<Vec<SlotRollup>, String> {
        Ok(self.read(|state| match miner_id {
            Some(id) => state
                .slots
                .range((id, from_s)..(id, to_s))
                .map(|(_, v)| v.clone())
                .collect(),
            None => {
                // Sized first: growing a vector of a whole fleet's rollups by doubling
                // copied it several times per call and showed up in the widget bench.
                let ranges = || {
                    state
                        .miners
                        .iter()
                        .map(|m| state.slots.range((m.id, from_s)..(m.id, to_s)))
                };
                let mut out = Vec::with_capacity(ranges().map(|r| r.count()).sum());
                for range in ranges() {
                    out.extend(range.map(|(_, v)| v.clone()));
                }
                out
            }
        }))
    }

    fn price_at(&self, t_s: u64) -> Result<Option<PricePoint>, String> {
        Ok(self.read(|state| {
            if let Some(p) = state.fixed_price_p_kwh {
                return Some(PricePoint {
                    valid_from_s: ukclock::slot_start_s(t_s),
                    valid_to_s: u64::MAX / 2,
                    pence_per_kwh: p,
                });
            }
            let idx = state.prices.partition_point(|p| p.valid_from_s <= t_s);
            state.prices[..idx]
                .last()
                .filter(|p| t_s < p.valid_to_s)
                .copied()
        }))
    }

    fn prices(&self, from_s: u64, to_s: u64) -> Result<Vec<PricePoint>, String> {
        Ok(self.read(|state| {
            if let Some(p) = state.fixed_price_p_kwh {
                return vec![PricePoint {
                    valid_from_s: from_s,
                    valid_to_s: to_s,
                    pence_per_kwh: p,
                }];
            }
            state
                .prices
                .iter()
                .filter(|p| p.valid_to_s > from_s && p.valid_from_s < to_s)
                .copied()
                .collect()
        }))
    }

    fn coin_prices(&self) -> Result<Vec<CoinPrice>, String> {
        Ok(self.read(|s| s.coins.clone()))
    }

    fn pool_stats(&self) -> Result<Vec<PoolStats>, String> {
        Ok(self.read(|s| s.pools.clone()))
    }

    fn network_difficulty(&self, coin: &str) -> Result<Option<f64>, String> {
        Ok(self.read(|s| s.difficulty.get(coin).copied()))
    }

    fn now_ms(&self) -> u64 {
        self.now_ms.load(Ordering::SeqCst)
    }
}

/// An action sink that records everything and, when given the data, applies mode and
/// enabled changes to it so a simulated fleet follows the rules' actions.
#[derive(Default)]
pub struct MemorySink {
    data: Option<Arc<MemoryData>>,
    /// Executed control actions as `miner action` lines, in order.
    pub actions: Mutex<Vec<String>>,
    /// Notifications published (title, message, level).
    pub notes: Mutex<Vec<(String, String, NotifyLevel)>>,
    /// Published (topic suffix, payload).
    pub published: Mutex<Vec<(String, serde_json::Value)>>,
    /// Audit log, oldest first.
    pub audit_log: Mutex<Vec<AuditRecord>>,
    /// Miners whose control actions the "control API" refuses, with the reason.
    pub refuse: Mutex<HashMap<String, String>>,
}

impl MemorySink {
    /// A sink that applies actions to `data`.
    pub fn applying_to(data: Arc<MemoryData>) -> MemorySink {
        MemorySink {
            data: Some(data),
            ..MemorySink::default()
        }
    }

    fn control(
        &self,
        miner: &str,
        what: String,
        apply: impl FnOnce(&MemoryData),
    ) -> Result<(), ActionError> {
        if let Some(why) = self
            .refuse
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(miner)
        {
            return Err(ActionError::Refused(why.clone()));
        }
        self.actions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(format!("{miner} {what}"));
        if let Some(data) = &self.data {
            apply(data);
        }
        Ok(())
    }
}

impl ActionSink for MemorySink {
    fn set_mode(&self, miner: &str, mode: Mode) -> Result<(), ActionError> {
        self.control(miner, format!("set_mode {}", mode.as_str()), |d| {
            d.set_mode(miner, mode)
        })
    }
    fn restart(&self, miner: &str) -> Result<(), ActionError> {
        self.control(miner, "restart".to_string(), |_| {})
    }
    fn switch_pool(&self, miner: &str, pool: &str) -> Result<(), ActionError> {
        self.control(miner, format!("switch_pool {pool}"), |_| {})
    }
    fn set_enabled(&self, miner: &str, enabled: bool) -> Result<(), ActionError> {
        self.control(miner, format!("set_enabled {enabled}"), |d| {
            d.set_enabled(miner, enabled)
        })
    }
    fn notify(&self, title: &str, message: &str, level: NotifyLevel) {
        let mut notes = self.notes.lock().unwrap_or_else(|e| e.into_inner());
        notes.push((title.to_string(), message.to_string(), level));
    }
    fn publish(&self, topic_suffix: &str, payload: &serde_json::Value) -> Result<(), ActionError> {
        let mut published = self.published.lock().unwrap_or_else(|e| e.into_inner());
        published.push((topic_suffix.to_string(), payload.clone()));
        Ok(())
    }
    fn audit(&self, record: AuditRecord) {
        self.audit_log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(record);
    }
}

/// Default over-temperature thresholds per kind, as in the config's `[alerts] temp_c`.
pub fn default_temp_threshold(kind: MinerKind) -> f64 {
    match kind {
        MinerKind::Avalon => 90.0,
        MinerKind::Nmminer => 70.0,
        MinerKind::Axeos | MinerKind::Auto => 75.0,
    }
}

/// A miner description for tests: AxeOS supports all modes, Avalon eco/standard/turbo,
/// NMMiner none (and has no power sensor: 1.2 W manual power).
pub fn miner_info(id: u32, name: &str, kind: MinerKind) -> MinerInfo {
    let (modes, manual) = match kind {
        MinerKind::Axeos | MinerKind::Auto => (Mode::ALL.to_vec(), None),
        MinerKind::Avalon => (vec![Mode::Eco, Mode::Standard, Mode::Turbo], None),
        MinerKind::Nmminer => (Vec::new(), Some(1.2)),
    };
    MinerInfo {
        name: name.to_string(),
        id,
        kind,
        model: None,
        manual_power_w: manual,
        enabled: true,
        temp_threshold_c: Some(default_temp_threshold(kind)),
        modes,
        pools: vec!["ckpool".to_string()],
        last_seen_ms: None,
    }
}

/// A realistic Agile day shape, p/kWh, for the slot starting `slot_s` (UK time): cheap
/// nights, a morning bump, a dear 16:00–19:00 peak.
pub fn agile_shape(slot_s: u64) -> f64 {
    let (_, _, _, h, m) = ukclock::uk_local(slot_s);
    let half_hours = h * 2 + m / 30;
    match half_hours {
        0..=9 => 9.0 + f64::from(half_hours % 3),
        10..=13 => 14.0,
        14..=19 => 22.5,
        20..=31 => 16.0 + f64::from(half_hours % 4),
        32..=37 => 34.0 + f64::from(half_hours % 2) * 2.0,
        _ => 19.0,
    }
}

/// Agile-shaped prices covering `[from_s, to_s)`, one point per slot.
pub fn agile_prices(from_s: u64, to_s: u64) -> Vec<PricePoint> {
    let mut out = Vec::new();
    let mut t = ukclock::slot_start_s(from_s);
    while t < to_s {
        out.push(PricePoint {
            valid_from_s: t,
            valid_to_s: t + SLOT_S,
            pence_per_kwh: agile_shape(t),
        });
        t += SLOT_S;
    }
    out
}

/// A generated fleet of `miners` miners (two AxeOS for each Avalon and NMMiner), polled
/// every `poll_s` seconds for `hours` hours up to `now_ms`, with Agile prices for the
/// period and the next day, a coin price, one pool and a network difficulty. Every tenth
/// miner is offline for an hour and every seventh restarts (share counters reset) half-way.
pub fn generated_fleet(miners: usize, now_ms: u64, hours: u64, poll_s: u64) -> Arc<MemoryData> {
    let data = Arc::new(MemoryData::new(poll_s * 2000));
    data.set_now(now_ms);
    let start_ms = now_ms - hours * 3_600_000;
    data.with(|state| {
        state.keep_samples_ms = 2 * 3_600_000;
        for i in 0..miners {
            let kind = match i % 4 {
                2 => MinerKind::Avalon,
                3 => MinerKind::Nmminer,
                _ => MinerKind::Axeos,
            };
            let prefix = match kind {
                MinerKind::Avalon => "avalon",
                MinerKind::Nmminer => "nmminer",
                _ => "bitaxe",
            };
            state.miners.push(miner_info(
                i as u32 + 1,
                &format!("{prefix}-{:03}", i + 1),
                kind,
            ));
        }
        state.prices = agile_prices(start_ms / 1000 - 86_400, now_ms / 1000 + 86_400);
        state.coins = vec![CoinPrice {
            coin: "bitcoin".into(),
            price: 75_000.0,
            currency: "gbp".into(),
            age_s: 42,
            stale: false,
        }];
        state.pools = vec![PoolStats {
            name: "ckpool".into(),
            coin: "btc".into(),
            workers: Some(miners as u32),
            hashrate_1m_hs: Some(1.5e12 * miners as f64),
            hashrate_1h_hs: Some(1.4e12 * miners as f64),
            best_share: Some(4.2e9),
            last_share_age_s: Some(12),
            age_s: 30,
            stale: false,
        }];
        state.difficulty.insert("btc".into(), 1.2e14);
    });
    let infos = data.miners().unwrap_or_default();
    let mut rng = fastrand::Rng::with_seed(7);
    let steps = hours * 3600 / poll_s;
    let mut counters = vec![(0u64, 0u64); infos.len()];
    for step in 0..=steps {
        let ts = start_ms + step * poll_s * 1000;
        let batch: Vec<Sample> = infos
            .iter()
            .enumerate()
            .map(|(i, info)| generated_sample(info, i, ts, step, steps, &mut counters[i], &mut rng))
            .collect();
        data.append(&batch);
    }
    data
}

fn generated_sample(
    info: &MinerInfo,
    i: usize,
    ts: u64,
    step: u64,
    steps: u64,
    counters: &mut (u64, u64),
    rng: &mut fastrand::Rng,
) -> Sample {
    let offline = i % 10 == 9 && step > steps / 3 && step < steps / 3 + steps / 24;
    if offline {
        return Sample::offline(info.id, ts);
    }
    if i % 7 == 6 && step == steps / 2 {
        *counters = (0, 0);
    }
    counters.0 += rng.u64(0..4);
    if rng.u8(0..50) == 0 {
        counters.1 += 1;
    }
    let (hashrate, power, temp) = match info.kind {
        MinerKind::Avalon => (4.0e12, Some(140.0), 70.0),
        MinerKind::Nmminer => (1.0e6, None, 45.0),
        _ => (1.2e12, Some(15.0), 58.0),
    };
    let jitter = 0.95 + rng.f64() * 0.1;
    Sample {
        miner_id: info.id,
        ts_ms: ts,
        online: true,
        hashrate_hs: Some(hashrate * jitter),
        power_w: power.map(|p| p * jitter),
        temp_c: Some(temp + rng.f64() * 5.0),
        fan_rpm: Some(3000),
        shares_accepted: Some(counters.0),
        shares_rejected: Some(counters.1),
        best_diff: Some(1.0e8),
        uptime_s: Some(step * 10),
        mode: info.modes.get(1).copied(),
        ..Sample::default()
    }
}
