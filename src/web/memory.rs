//! An in-memory [`WebBackend`] with a realistic synthetic fleet: Bitaxe, NerdQAxe, Avalon
//! Nano and NMMiner units with days of samples, slot rollups computed from them, an Agile
//! price curve for today and tomorrow, widget results, audit rows, feed states and a
//! control implementation with cooldowns and audit.
//!
//! It exists so the web can be tested and previewed without the store, collector, feeds
//! and script host, and it documents by example what the daemon's implementation must
//! return. Data is deterministic (seeded) so tests can assert on it. It also plants
//! secrets (pool passwords, an API key inside a feed error) that must never reach a page.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};

use crate::model::{
    Actor, AuditRecord, MinerKind, MinerStatus, Mode, PricePoint, Sample, SlotRollup,
};
use crate::ukclock::{self, SLOT_S};
use crate::units;

use super::{
    BackendError, ControlAction, ControlRefusal, FeedStatus, Health, MetricsSnapshot,
    MinerCounters, MinerView, SamplesPage, ScriptError, WebBackend,
};

/// Pool password planted in the demo config; must never be served.
pub const PLANTED_POOL_PASSWORD: &str = "pool-pass-planted-7c1";
/// CoinGecko API key planted inside a feed error message; must never be served.
pub const PLANTED_API_KEY: &str = "CG-planted-secret-9f3";
/// Notify token planted in the demo config; must never be served.
pub const PLANTED_NOTIFY_TOKEN: &str = "123456:planted-telegram-token";

/// Cooldown of mode changes and restarts, as the default config.
const MODE_COOLDOWN_S: u64 = 300;
/// Cooldown of pool switches, as the default config.
const POOL_COOLDOWN_S: u64 = 900;

struct Pool {
    name: &'static str,
    url: &'static str,
    password: &'static str,
}

const POOLS: [Pool; 2] = [
    Pool {
        name: "ckpool",
        url: "stratum+tcp://solo.ckpool.org:3333",
        password: PLANTED_POOL_PASSWORD,
    },
    Pool {
        name: "public-pool",
        url: "stratum+tcp://public-pool.io:21496",
        password: "x",
    },
];

struct MinerEntry {
    id: u32,
    status: MinerStatus,
    manual_power_w: Option<f64>,
    samples: Vec<Sample>,
    slots: Vec<SlotRollup>,
    poll_duration_s: Option<f64>,
    poll_errors: u64,
}

struct State {
    miners: Vec<MinerEntry>,
    audit: Vec<AuditRecord>,
    last_control: HashMap<(String, &'static str), u64>,
    last_cycle_ms: Option<u64>,
}

/// The in-memory backend. See the module documentation.
pub struct MemoryBackend {
    now_ms: u64,
    poll_interval: Duration,
    state: Mutex<State>,
}

/// The static description of each of the four demo miner types.
struct Template {
    prefix: &'static str,
    kind: MinerKind,
    model: &'static str,
    firmware: &'static str,
    hashrate_hs: f64,
    power_w: Option<f64>,
    temp_c: Option<f64>,
    manual_power_w: Option<f64>,
    mode: Option<Mode>,
}

const TEMPLATES: [Template; 4] = [
    Template {
        prefix: "bitaxe",
        kind: MinerKind::Axeos,
        model: "Bitaxe Gamma (BM1370)",
        firmware: "v2.9.0",
        hashrate_hs: 1.2e12,
        power_w: Some(17.5),
        temp_c: Some(58.0),
        manual_power_w: None,
        mode: Some(Mode::Standard),
    },
    Template {
        prefix: "nerdqaxe",
        kind: MinerKind::Axeos,
        model: "NerdQAxe++ (BM1370)",
        firmware: "v1.0.31",
        hashrate_hs: 4.8e12,
        power_w: Some(76.0),
        temp_c: Some(62.0),
        manual_power_w: None,
        mode: Some(Mode::Standard),
    },
    Template {
        prefix: "avalon-nano",
        kind: MinerKind::Avalon,
        model: "Avalon Nano 3s",
        firmware: "25021401_56abae7",
        hashrate_hs: 6.0e12,
        power_w: Some(140.0),
        temp_c: Some(78.0),
        manual_power_w: None,
        mode: Some(Mode::Eco),
    },
    Template {
        prefix: "nmminer",
        kind: MinerKind::Nmminer,
        model: "NMMiner",
        firmware: "v1.8.10",
        hashrate_hs: 1.03e6,
        power_w: None,
        temp_c: None,
        manual_power_w: Some(2.5),
        mode: None,
    },
];

impl MemoryBackend {
    /// A fleet of `miners` miners (cycling through the four types) with `days` days of
    /// samples every `sample_interval` up to `now_ms`, whose clock stays pinned at
    /// `now_ms`. The third miner (an Avalon) went offline 15 minutes ago.
    pub fn demo(now_ms: u64, miners: usize, sample_interval: Duration, days: u64) -> MemoryBackend {
        let interval_ms = (sample_interval.as_millis() as u64).max(1000);
        let entries = (0..miners)
            .map(|index| build_miner(index, now_ms, interval_ms, days))
            .collect();
        let state = State {
            miners: entries,
            audit: demo_audit(now_ms),
            last_control: HashMap::new(),
            last_cycle_ms: Some(now_ms - 4_000),
        };
        MemoryBackend {
            now_ms,
            poll_interval: Duration::from_secs(10),
            state: Mutex::new(state),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sets when the collector last completed a cycle (for `/healthz` tests).
    pub fn set_last_cycle(&self, last_cycle_ms: Option<u64>) {
        self.lock().last_cycle_ms = last_cycle_ms;
    }

    /// Renames a miner (e.g. to test escaping of hostile names).
    pub fn rename(&self, old: &str, new: &str) {
        let mut state = self.lock();
        if let Some(entry) = state.miners.iter_mut().find(|m| m.status.name == old) {
            entry.status.name = new.to_string();
        }
    }

    /// Replaces a miner's last error text.
    pub fn set_last_error(&self, name: &str, error: &str) {
        let mut state = self.lock();
        if let Some(entry) = state.miners.iter_mut().find(|m| m.status.name == name) {
            entry.status.last_error = Some(error.to_string());
        }
    }

    /// Number of audit rows (tests check that refused requests add none).
    pub fn audit_len(&self) -> usize {
        self.lock().audit.len()
    }
}

/// A deterministic wobble in [-1, 1] for miner `index` at time `t_ms`.
fn wobble(index: usize, t_ms: u64, rng: &mut fastrand::Rng) -> f64 {
    let hours = t_ms as f64 / 3_600_000.0;
    0.6 * (hours * 0.7 + index as f64).sin() + 0.4 * (rng.f64() * 2.0 - 1.0)
}

fn build_miner(index: usize, now_ms: u64, interval_ms: u64, days: u64) -> MinerEntry {
    let template = &TEMPLATES[index % TEMPLATES.len()];
    let name = format!("{}-{}", template.prefix, index / TEMPLATES.len() + 1);
    let id = index as u32 + 1;
    let offline_from = (index == 2).then(|| now_ms - 15 * 60_000);
    let mut rng = fastrand::Rng::with_seed(index as u64 + 7);
    let start = now_ms - days * 86_400_000;
    let first = start - start % interval_ms + interval_ms;
    let mut samples = Vec::with_capacity(((now_ms - first) / interval_ms + 1) as usize);
    let (mut accepted, mut rejected) = (0u64, 0u64);
    let mut t = first;
    while t <= now_ms {
        if offline_from.is_some_and(|from| t >= from) {
            samples.push(Sample::offline(id, t));
        } else {
            let w = wobble(index, t, &mut rng);
            accepted += rng.u64(0..4);
            rejected += u64::from(rng.u8(0..50) == 0);
            samples.push(Sample {
                miner_id: id,
                ts_ms: t,
                online: true,
                hashrate_hs: Some(template.hashrate_hs * (1.0 + 0.06 * w)),
                power_w: template.power_w.map(|p| p * (1.0 + 0.02 * w)),
                temp_c: template.temp_c.map(|c| c + 2.5 * w),
                vr_temp_c: template.temp_c.map(|c| c - 6.0 + 2.0 * w),
                fan_rpm: template.power_w.map(|p| 2500 + (p * 10.0) as u32),
                frequency_mhz: (template.kind == MinerKind::Axeos).then_some(525.0),
                core_voltage_mv: (template.kind == MinerKind::Axeos).then_some(1150.0),
                shares_accepted: Some(accepted),
                shares_rejected: Some(rejected),
                best_diff: Some(1.2e9 + index as f64 * 3.1e7),
                uptime_s: Some((t - first) / 1000),
                mode: template.mode,
            });
        }
        t += interval_ms;
    }
    let slots = rollup(&samples, 2 * interval_ms);
    let last_online = samples.iter().rev().find(|s| s.online).map(|s| s.ts_ms);
    MinerEntry {
        id,
        status: MinerStatus {
            name,
            kind: Some(template.kind),
            model: Some(template.model.to_string()),
            firmware: Some(template.firmware.to_string()),
            pool: Some(POOLS[index % 2].url.to_string()),
            last_seen_ms: last_online,
            last_error: offline_from
                .map(|_| "poll: connect to 192.168.1.62:4028 timed out after 3s".to_string()),
            enabled: true,
            modes: Vec::new(),
        },
        manual_power_w: template.manual_power_w,
        samples,
        slots,
        poll_duration_s: (template.kind != MinerKind::Nmminer)
            .then_some(0.08 + 0.04 * index as f64 % 0.3),
        poll_errors: if offline_from.is_some() {
            90
        } else {
            (index % 3) as u64
        },
    }
}

/// Slot rollups from a miner's samples, with the store's own rollup arithmetic.
fn rollup(samples: &[Sample], max_gap_ms: u64) -> Vec<SlotRollup> {
    let mut slots: Vec<SlotRollup> = Vec::new();
    let mut previous: Option<&Sample> = None;
    for sample in samples {
        let slot_start_s = ukclock::slot_start_s(sample.ts_ms / 1000);
        if slots.last().is_none_or(|s| s.slot_start_s != slot_start_s) {
            slots.push(crate::store::rollup::empty_for(
                sample.miner_id,
                sample.ts_ms,
            ));
        }
        if let Some(slot) = slots.last_mut() {
            crate::store::rollup::apply(slot, previous, sample, max_gap_ms);
        }
        previous = Some(sample);
    }
    slots
}

/// An Agile-shaped price for the slot starting at `t_s`: cheap nights, a 16:00–19:00 peak,
/// a negative slot at 03:00 UK time.
fn agile_price(t_s: u64) -> f64 {
    let (_, _, day, hour, minute) = ukclock::uk_local(t_s);
    let base = match hour {
        0..=5 => 9.5,
        16..=18 => 33.0,
        7..=9 => 24.0,
        _ => 18.0,
    };
    if hour == 3 && minute == 0 {
        return -1.47;
    }
    base + f64::from((day * 7 + hour * 3 + minute / 30) % 5) * 0.83
}

fn demo_audit(now_ms: u64) -> Vec<AuditRecord> {
    let row =
        |minutes_ago: u64, actor: Actor, miner: &str, action: &str, outcome: &str, reason: &str| {
            AuditRecord {
                ts_ms: now_ms - minutes_ago * 60_000,
                actor,
                miner: miner.to_string(),
                action: action.to_string(),
                outcome: outcome.to_string(),
                reason: reason.to_string(),
            }
        };
    vec![
        row(
            600,
            Actor::System,
            "",
            "start",
            "ok",
            "hmm started, 4 miners configured",
        ),
        row(
            420,
            Actor::Rule("agile-bands".into()),
            "bitaxe-1",
            "set_mode eco",
            "ok",
            "price 33.83p above 30p",
        ),
        row(
            300,
            Actor::Rule("agile-bands".into()),
            "bitaxe-1",
            "set_mode standard",
            "ok",
            "price 18.00p below 20p",
        ),
        row(
            240,
            Actor::Mqtt,
            "nerdqaxe-1",
            "restart",
            "ok",
            "Home Assistant button",
        ),
        row(
            238,
            Actor::Mqtt,
            "nerdqaxe-1",
            "restart",
            "refused",
            "cooldown: 178 s left",
        ),
        row(
            90,
            Actor::Rule("overheat".into()),
            "avalon-nano-1",
            "set_mode eco",
            "dry-run",
            "temp 81.2 °C above 80 °C",
        ),
        row(
            14,
            Actor::Rule("offline-alert".into()),
            "",
            "notify",
            "ok",
            "avalon-nano-1 offline for 1 min",
        ),
    ]
}

impl WebBackend for MemoryBackend {
    fn now_ms(&self) -> u64 {
        self.now_ms
    }

    fn miners(&self) -> Result<Vec<MinerView>, BackendError> {
        let state = self.lock();
        Ok(state
            .miners
            .iter()
            .map(|entry| {
                let latest = entry.samples.last().cloned();
                let online = latest.as_ref().is_some_and(|s| s.online);
                let power = latest
                    .as_ref()
                    .and_then(|s| s.power_w)
                    .or(entry.manual_power_w);
                MinerView {
                    id: entry.id,
                    status: entry.status.clone(),
                    online,
                    efficiency_j_per_th: units::efficiency_j_per_th(
                        power,
                        latest.as_ref().and_then(|s| s.hashrate_hs),
                    ),
                    latest,
                    manual_power_w: entry.manual_power_w,
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
        let state = self.lock();
        let entry = state
            .miners
            .iter()
            .find(|m| m.status.name == miner)
            .ok_or(BackendError::UnknownMiner)?;
        let start = from_ms.max(cursor.unwrap_or(0));
        let begin = entry.samples.partition_point(|s| s.ts_ms < start);
        let end = entry.samples.partition_point(|s| s.ts_ms < to_ms);
        if begin >= end {
            return Ok(SamplesPage::default());
        }
        let stop = end.min(begin + limit.max(1));
        Ok(SamplesPage {
            samples: entry.samples[begin..stop].to_vec(),
            next_cursor: (stop < end).then(|| entry.samples[stop].ts_ms),
        })
    }

    fn slots(
        &self,
        miner: Option<&str>,
        from_s: u64,
        to_s: u64,
    ) -> Result<Vec<SlotRollup>, BackendError> {
        let state = self.lock();
        let mut out = Vec::new();
        let mut found = miner.is_none();
        for entry in &state.miners {
            if miner.is_some_and(|name| name != entry.status.name) {
                continue;
            }
            found = true;
            out.extend(
                entry
                    .slots
                    .iter()
                    .filter(|s| s.slot_start_s >= from_s && s.slot_start_s < to_s)
                    .cloned(),
            );
        }
        if found {
            Ok(out)
        } else {
            Err(BackendError::UnknownMiner)
        }
    }

    fn prices(&self, from_s: u64, to_s: u64) -> Result<Vec<PricePoint>, BackendError> {
        // Published: today and tomorrow (UK days), as Octopus does after 16:00.
        let (today_start, today_end) = ukclock::uk_day_bounds(self.now_ms / 1000);
        let (_, tomorrow_end) = ukclock::uk_day_bounds(today_end);
        let first = ukclock::slot_start_s(from_s).max(today_start);
        let last = to_s.min(tomorrow_end);
        let mut out = Vec::new();
        let mut t = first;
        while t < last {
            out.push(PricePoint {
                valid_from_s: t,
                valid_to_s: t + SLOT_S,
                pence_per_kwh: agile_price(t),
            });
            t += SLOT_S;
        }
        Ok(out)
    }

    fn price_at(&self, t_s: u64) -> Result<Option<PricePoint>, BackendError> {
        let start = ukclock::slot_start_s(t_s);
        Ok(self.prices(start, start + SLOT_S)?.into_iter().next())
    }

    fn widgets(&self) -> Vec<(String, Value)> {
        let views = self.miners().unwrap_or_default();
        let now_s = self.now_ms / 1000;
        let (day_start, _) = ukclock::uk_day_bounds(now_s);
        let slots = self.slots(None, day_start, now_s + 1).unwrap_or_default();
        let mut per_miner: Vec<Value> = Vec::new();
        let mut total_p = 0.0;
        let mut total_wh = 0.0;
        for view in &views {
            let (mut wh, mut pence) = (0.0, 0.0);
            for slot in slots.iter().filter(|s| s.miner_id == view.id) {
                let manual_wh = view.manual_power_w.unwrap_or(0.0)
                    * (slot.online_ms - slot.powered_ms) as f64
                    / 3_600_000.0;
                let slot_wh = slot.energy_wh + manual_wh;
                wh += slot_wh;
                pence += slot_wh / 1000.0 * agile_price(slot.slot_start_s);
            }
            total_wh += wh;
            total_p += pence;
            per_miner.push(json!({ "miner": view.status.name, "kwh": (wh / 10.0).round() / 100.0, "cost_p": (pence * 100.0).round() / 100.0 }));
        }
        let online = views.iter().filter(|v| v.online).count();
        let fleet_hs: f64 = views
            .iter()
            .filter_map(|v| v.latest.as_ref().and_then(|s| s.hashrate_hs))
            .sum();
        vec![
            (
                "daily_cost".to_string(),
                json!({ "today_gbp": (total_p / 100.0 * 100.0).round() / 100.0, "energy_kwh": (total_wh / 10.0).round() / 100.0, "per_miner": per_miner }),
            ),
            (
                "fleet_summary".to_string(),
                json!({ "online": online, "total": views.len(), "hashrate": units::format_hashrate(fleet_hs), "hashrate_hs": fleet_hs }),
            ),
            (
                "btc_price".to_string(),
                json!({ "gbp": 71_234.5, "change_24h_pct": -1.8, "age_s": 142 }),
            ),
        ]
    }

    fn script_errors(&self) -> Vec<ScriptError> {
        vec![ScriptError {
            file: "scripts/agile-bands.rhai".into(),
            message: "line 12: variable 'treshold' not found; the last good version keeps running"
                .into(),
        }]
    }

    fn audit(
        &self,
        limit: usize,
        before_ms: Option<u64>,
    ) -> Result<Vec<AuditRecord>, BackendError> {
        let state = self.lock();
        let mut rows: Vec<AuditRecord> = state
            .audit
            .iter()
            .filter(|r| before_ms.is_none_or(|b| r.ts_ms < b))
            .cloned()
            .collect();
        rows.sort_by_key(|row| std::cmp::Reverse(row.ts_ms));
        rows.truncate(limit);
        Ok(rows)
    }

    fn feeds(&self) -> Vec<FeedStatus> {
        let feed = |name: &str,
                    age_s: Option<u64>,
                    stale: bool,
                    errors: u64,
                    hits: u64,
                    misses: u64,
                    last_error: Option<String>| FeedStatus {
            name: name.to_string(),
            age_s,
            stale,
            errors,
            hits,
            misses,
            stale_serves: if stale { errors } else { 0 },
            last_error,
        };
        vec![
            feed("octopus", Some(640), false, 0, 412, 14, None),
            feed(
                "coingecko",
                Some(1_520),
                true,
                3,
                980,
                21,
                Some(format!(
                    "GET https://api.coingecko.com/api/v3/simple/price?ids=bitcoin&x_cg_demo_api_key={PLANTED_API_KEY}: timed out after 10s"
                )),
            ),
            feed(
                "ckpool",
                Some(35),
                false,
                1,
                2_210,
                60,
                Some("HTTP 502 from solo.ckpool.org".into()),
            ),
            feed("solopool", None, false, 0, 0, 0, None),
            feed("solopool-network", Some(240), false, 0, 410, 1, None),
        ]
    }

    fn metrics(&self) -> MetricsSnapshot {
        let state = self.lock();
        MetricsSnapshot {
            miners: state
                .miners
                .iter()
                .map(|m| MinerCounters {
                    name: m.status.name.clone(),
                    poll_duration_s: m.poll_duration_s,
                    poll_errors: m.poll_errors,
                })
                .collect(),
            widget_eval_s: vec![
                ("daily_cost".into(), 0.00041),
                ("fleet_summary".into(), 0.00009),
                ("btc_price".into(), 0.00002),
            ],
            mqtt_connected: true,
            mqtt_queue_len: 0,
            store_size_bytes: 48_234_496,
        }
    }

    fn health(&self) -> Health {
        Health {
            last_cycle_ms: self.lock().last_cycle_ms,
            poll_interval: self.poll_interval,
        }
    }

    fn secrets(&self) -> Vec<String> {
        let mut secrets: Vec<String> = POOLS.iter().map(|p| p.password.to_string()).collect();
        secrets.push(PLANTED_API_KEY.to_string());
        secrets.push(PLANTED_NOTIFY_TOKEN.to_string());
        secrets
    }

    fn control(&self, miner: &str, action: ControlAction) -> Result<String, ControlRefusal> {
        let now = self.now_ms;
        let mut state = self.lock();
        let index = state
            .miners
            .iter()
            .position(|m| m.status.name == miner)
            .ok_or(ControlRefusal::UnknownMiner)?;
        let result = check_and_apply(&mut state, index, &action, now);
        let (outcome, reason) = match &result {
            Ok(message) => ("ok", message.clone()),
            Err(refusal) => ("refused", format!("{refusal:?}")),
        };
        state.audit.push(AuditRecord {
            ts_ms: now,
            actor: Actor::Http,
            miner: miner.to_string(),
            action: action.describe(),
            outcome: outcome.into(),
            reason,
        });
        result
    }
}

fn check_and_apply(
    state: &mut State,
    index: usize,
    action: &ControlAction,
    now_ms: u64,
) -> Result<String, ControlRefusal> {
    let entry = &state.miners[index];
    let kind = entry.status.kind;
    let name = entry.status.name.clone();
    if kind == Some(MinerKind::Nmminer) && !matches!(action, ControlAction::SetEnabled(_)) {
        return Err(ControlRefusal::Unsupported(
            "NMMiner has no control interface; only hmm's enabled switch applies".into(),
        ));
    }
    if let ControlAction::SwitchPool(pool) = action
        && !POOLS.iter().any(|p| p.name == pool)
    {
        return Err(ControlRefusal::Unsupported(format!(
            "no pool named '{pool}' in [[pools]]"
        )));
    }
    if kind == Some(MinerKind::Avalon) && *action == ControlAction::SetMode(Mode::Oc) {
        return Err(ControlRefusal::Unsupported(
            "Avalon Nano supports eco, standard and turbo, not oc".into(),
        ));
    }
    let (class, cooldown_s) = match action {
        ControlAction::SetMode(_) => ("mode", MODE_COOLDOWN_S),
        ControlAction::Restart => ("restart", MODE_COOLDOWN_S),
        ControlAction::SwitchPool(_) => ("pool", POOL_COOLDOWN_S),
        ControlAction::SetEnabled(_) => ("enabled", 0),
    };
    if let Some(last) = state.last_control.get(&(name.clone(), class)) {
        let elapsed_s = now_ms.saturating_sub(*last) / 1000;
        if elapsed_s < cooldown_s {
            return Err(ControlRefusal::Cooldown {
                retry_after_s: cooldown_s - elapsed_s,
            });
        }
    }
    let entry = &mut state.miners[index];
    let message = match action {
        ControlAction::SetMode(mode) => {
            if kind == Some(MinerKind::Avalon) && *mode == Mode::Oc {
                return Err(ControlRefusal::Unsupported(
                    "Avalon Nano supports eco, standard and turbo, not oc".into(),
                ));
            }
            if let Some(latest) = entry.samples.last_mut().filter(|s| s.online) {
                latest.mode = Some(*mode);
            }
            format!("mode set to {}", mode.as_str())
        }
        ControlAction::Restart => {
            if let Some(latest) = entry.samples.last_mut() {
                latest.uptime_s = Some(0);
            }
            "restart requested".to_string()
        }
        ControlAction::SetEnabled(on) => {
            entry.status.enabled = *on;
            format!("mining {}", if *on { "enabled" } else { "disabled" })
        }
        ControlAction::SwitchPool(pool) => {
            let Some(found) = POOLS.iter().find(|p| p.name == pool) else {
                return Err(ControlRefusal::Unsupported(format!(
                    "no pool named '{pool}' in [[pools]]"
                )));
            };
            entry.status.pool = Some(found.url.to_string());
            format!("switched to pool {}", found.name)
        }
    };
    state.last_control.insert((name, class), now_ms);
    Ok(message)
}
