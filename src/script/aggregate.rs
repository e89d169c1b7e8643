//! The heavy sums behind the widgets, in Rust: energy and cost per tariff slot, time-based
//! uptime, share deltas, price statistics and the cheapest price window.
//!
//! A widget script composes these results; doing Σ over 100 miners × 48 slots × prices in
//! rhai would cost milliseconds, here it is a few microseconds. Each function is pure over
//! slot rollups and price points, so tests check them against an independent computation.
//!
//! Partial slots: a window rarely starts on a slot boundary. A slot's rollup covers the
//! data from its start up to `min(slot end, now)`; the part of it inside the window is
//! counted in proportion of time (uniform use within one half hour), so "the last 24 h"
//! really is 24 h and not 24–24.5 h.

use std::collections::HashMap;

use crate::model::{PricePoint, SlotRollup};
use crate::script::data::MinerInfo;
use crate::ukclock::SLOT_S;

/// Energy and cost of one miner over a window.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MinerCost {
    /// Config name.
    pub name: String,
    /// Energy from the device's power readings, Wh.
    pub measured_wh: f64,
    /// Energy from `manual_power_w` × online time not covered by readings, Wh.
    pub estimated_wh: f64,
    /// Cost of the priced part of the energy, pence.
    pub cost_p: f64,
    /// Energy in slots with no known price (not in `cost_p`), Wh.
    pub unpriced_wh: f64,
    /// Online time in the window, ms.
    pub online_ms: f64,
}

impl MinerCost {
    /// Measured plus estimated energy, Wh.
    pub fn energy_wh(&self) -> f64 {
        self.measured_wh + self.estimated_wh
    }
}

/// Energy and cost of the fleet over a window, with the per-miner breakdown.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CostSummary {
    /// Σ measured energy, Wh.
    pub measured_wh: f64,
    /// Σ estimated (manual power) energy, Wh.
    pub estimated_wh: f64,
    /// Σ cost, pence.
    pub cost_p: f64,
    /// Σ energy without a price, Wh.
    pub unpriced_wh: f64,
    /// One entry per configured miner, config order (miners without data have zeros).
    pub miners: Vec<MinerCost>,
}

/// The share of a slot rollup's data that lies inside `[from_s, to_s)`, given that the
/// rollup holds data only up to `now_s`.
pub fn slot_weight(slot_start_s: u64, from_s: u64, to_s: u64, now_s: u64) -> f64 {
    let data_end = (slot_start_s + SLOT_S).min(now_s.max(slot_start_s));
    let covered = data_end.saturating_sub(slot_start_s);
    if covered == 0 {
        return 0.0;
    }
    let lo = slot_start_s.max(from_s);
    let hi = data_end.min(to_s);
    if hi <= lo {
        return 0.0;
    }
    (hi - lo) as f64 / covered as f64
}

/// Finds the price valid at `t_s` in points sorted by `valid_from_s`.
pub fn price_for(prices: &[PricePoint], t_s: u64) -> Option<f64> {
    let idx = prices.partition_point(|p| p.valid_from_s <= t_s);
    let point = prices.get(idx.checked_sub(1)?)?;
    (t_s < point.valid_to_s).then_some(point.pence_per_kwh)
}

/// Maps each slot rollup to its miner's position in the config-ordered miner list.
///
/// Both data sources return the rollups grouped by miner, so the id is hashed once per
/// run of one miner's slots rather than once per slot (4,800 slots a day at 100 miners).
struct MinerIndex {
    by_id: HashMap<u32, usize>,
    last: Option<(u32, Option<usize>)>,
}

impl MinerIndex {
    fn new(miners: &[MinerInfo]) -> MinerIndex {
        MinerIndex {
            by_id: miners.iter().enumerate().map(|(i, m)| (m.id, i)).collect(),
            last: None,
        }
    }

    /// The position of miner `id`, `None` for a miner that is not configured.
    fn get(&mut self, id: u32) -> Option<usize> {
        match self.last {
            Some((last_id, index)) if last_id == id => index,
            _ => {
                let index = self.by_id.get(&id).copied();
                self.last = Some((id, index));
                index
            }
        }
    }
}

/// The price of every slot start the rollups cover, looked up once per slot rather than
/// once per (miner, slot): a fleet's miners all share each slot's price.
struct SlotPrices<'a> {
    prices: &'a [PricePoint],
    first_s: u64,
    by_slot: Vec<Option<f64>>,
}

impl<'a> SlotPrices<'a> {
    /// Looks up the prices of the slots from the earliest to the latest rollup.
    fn new(prices: &'a [PricePoint], slots: &[SlotRollup]) -> SlotPrices<'a> {
        let first_s = slots.iter().map(|s| s.slot_start_s).min().unwrap_or(0);
        let last_s = slots.iter().map(|s| s.slot_start_s).max().unwrap_or(0);
        let by_slot = (first_s..=last_s)
            .step_by(SLOT_S as usize)
            .map(|t_s| price_for(prices, t_s))
            .collect();
        SlotPrices {
            prices,
            first_s,
            by_slot,
        }
    }

    /// The price of the slot starting at `slot_start_s` (a slot boundary; any other time
    /// is searched in the price list).
    fn get(&self, slot_start_s: u64) -> Option<f64> {
        let offset = slot_start_s.wrapping_sub(self.first_s);
        match self.by_slot.get((offset / SLOT_S) as usize) {
            Some(&price) if offset.is_multiple_of(SLOT_S) => price,
            _ => price_for(self.prices, slot_start_s),
        }
    }
}

/// Energy and cost per miner and for the fleet over `[from_s, to_s)`: for each slot,
/// (measured energy + manual power × (online − powered) time) × that slot's price.
pub fn cost(
    miners: &[MinerInfo],
    slots: &[SlotRollup],
    prices: &[PricePoint],
    from_s: u64,
    to_s: u64,
    now_s: u64,
) -> CostSummary {
    let mut per: Vec<MinerCost> = miners
        .iter()
        .map(|m| MinerCost {
            name: m.name.clone(),
            ..MinerCost::default()
        })
        .collect();
    let mut index = MinerIndex::new(miners);
    let slot_prices = SlotPrices::new(prices, slots);
    for slot in slots {
        let Some(i) = index.get(slot.miner_id) else {
            continue;
        };
        let weight = slot_weight(slot.slot_start_s, from_s, to_s, now_s);
        if weight == 0.0 {
            continue;
        }
        let measured = slot.energy_wh * weight;
        let unpowered_ms = slot.online_ms.saturating_sub(slot.powered_ms) as f64 * weight;
        let estimated = miners[i]
            .manual_power_w
            .map_or(0.0, |w| w * unpowered_ms / 3_600_000.0);
        let entry = &mut per[i];
        entry.measured_wh += measured;
        entry.estimated_wh += estimated;
        entry.online_ms += slot.online_ms as f64 * weight;
        match slot_prices.get(slot.slot_start_s) {
            Some(p) => entry.cost_p += (measured + estimated) / 1000.0 * p,
            None => entry.unpriced_wh += measured + estimated,
        }
    }
    CostSummary {
        measured_wh: per.iter().map(|m| m.measured_wh).sum(),
        estimated_wh: per.iter().map(|m| m.estimated_wh).sum(),
        cost_p: per.iter().map(|m| m.cost_p).sum(),
        unpriced_wh: per.iter().map(|m| m.unpriced_wh).sum(),
        miners: per,
    }
}

/// Time-based uptime of one miner.
#[derive(Debug, Clone, PartialEq)]
pub struct MinerUptime {
    /// Config name.
    pub name: String,
    /// Whether the miner is enabled (only enabled miners count for the fleet).
    pub enabled: bool,
    /// Online time in the window, ms.
    pub online_ms: f64,
    /// Online share of the window, percent.
    pub percent: f64,
}

/// Uptime per miner and for the enabled fleet over `[from_s, min(to_s, now_s))`, from the
/// rollups' online time (the ancestor reported "miners online right now / miners", a
/// snapshot, as uptime).
pub fn uptime(
    miners: &[MinerInfo],
    slots: &[SlotRollup],
    from_s: u64,
    to_s: u64,
    now_s: u64,
) -> (Vec<MinerUptime>, Option<f64>) {
    let window_ms = (to_s.min(now_s).saturating_sub(from_s) * 1000) as f64;
    let mut index = MinerIndex::new(miners);
    let mut online = vec![0.0_f64; miners.len()];
    for slot in slots {
        if let Some(i) = index.get(slot.miner_id) {
            online[i] +=
                slot.online_ms as f64 * slot_weight(slot.slot_start_s, from_s, to_s, now_s);
        }
    }
    let per: Vec<MinerUptime> = miners
        .iter()
        .zip(&online)
        .map(|(m, &ms)| MinerUptime {
            name: m.name.clone(),
            enabled: m.enabled,
            online_ms: ms,
            percent: if window_ms > 0.0 {
                (ms / window_ms * 100.0).min(100.0)
            } else {
                0.0
            },
        })
        .collect();
    let enabled: Vec<&MinerUptime> = per.iter().filter(|m| m.enabled).collect();
    let fleet = (!enabled.is_empty() && window_ms > 0.0)
        .then(|| enabled.iter().map(|m| m.percent).sum::<f64>() / enabled.len() as f64);
    (per, fleet)
}

/// Accepted and rejected shares of one miner over a window.
#[derive(Debug, Clone, PartialEq)]
pub struct MinerShares {
    /// Config name.
    pub name: String,
    /// Accepted shares gained (reset-aware, from the rollups).
    pub accepted: f64,
    /// Rejected shares gained.
    pub rejected: f64,
}

/// Share deltas per miner over the window, from the rollups (which take device restarts
/// into account); the ancestor divided cumulative since-boot counters instead.
pub fn shares(
    miners: &[MinerInfo],
    slots: &[SlotRollup],
    from_s: u64,
    to_s: u64,
    now_s: u64,
) -> Vec<MinerShares> {
    let mut index = MinerIndex::new(miners);
    let mut per: Vec<MinerShares> = miners
        .iter()
        .map(|m| MinerShares {
            name: m.name.clone(),
            accepted: 0.0,
            rejected: 0.0,
        })
        .collect();
    for slot in slots {
        if let Some(i) = index.get(slot.miner_id) {
            let w = slot_weight(slot.slot_start_s, from_s, to_s, now_s);
            per[i].accepted += slot.shares_accepted as f64 * w;
            per[i].rejected += slot.shares_rejected as f64 * w;
        }
    }
    per
}

/// Minimum, time-weighted mean and maximum price over a window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PriceStats {
    /// Lowest price, p/kWh.
    pub min: f64,
    /// Time-weighted mean over the covered time, p/kWh.
    pub avg: f64,
    /// Highest price, p/kWh.
    pub max: f64,
    /// Seconds of the window that have a price.
    pub covered_s: u64,
}

/// Price statistics over `[from_s, to_s)`; `None` when no price covers any of it.
pub fn price_stats(prices: &[PricePoint], from_s: u64, to_s: u64) -> Option<PriceStats> {
    let mut min = f64::INFINITY;
    let mut max = f64::NEG_INFINITY;
    let mut weighted = 0.0;
    let mut covered = 0u64;
    for p in prices {
        let lo = p.valid_from_s.max(from_s);
        let hi = p.valid_to_s.min(to_s);
        if hi <= lo {
            continue;
        }
        min = min.min(p.pence_per_kwh);
        max = max.max(p.pence_per_kwh);
        weighted += p.pence_per_kwh * (hi - lo) as f64;
        covered += hi - lo;
    }
    (covered > 0).then(|| PriceStats {
        min,
        avg: weighted / covered as f64,
        max,
        covered_s: covered,
    })
}

/// The cheapest contiguous window of `len_s` seconds that starts on a slot boundary at or
/// after `from_s` (rounded down to its slot) and ends by `to_s`, using only known prices.
/// Returns (start, end, time-weighted mean price).
pub fn cheapest_window(
    prices: &[PricePoint],
    len_s: u64,
    from_s: u64,
    to_s: u64,
) -> Option<(u64, u64, f64)> {
    if len_s == 0 {
        return None;
    }
    let mut best: Option<(u64, u64, f64)> = None;
    let mut start = from_s - from_s % SLOT_S;
    while start + len_s <= to_s {
        let end = start + len_s;
        if let Some(stats) = price_stats(prices, start, end)
            && stats.covered_s == len_s
            && best.is_none_or(|(_, _, avg)| stats.avg < avg - 1e-12)
        {
            best = Some((start, end, stats.avg));
        }
        start += SLOT_S;
    }
    best
}
