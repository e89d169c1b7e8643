//! Property tests of the store against naive models: the fleet's latest samples, and slot
//! rollups recomputed from scratch over the raw samples (offline polls, gaps longer than
//! the cap, missing power, counter resets), across commits and reopenings.

use std::collections::BTreeMap;
use std::time::Duration;

use hmm::model::{Sample, SlotRollup};
use hmm::store::{Store, StoreOptions};
use proptest::prelude::*;

const T0: u64 = 1_750_000_000_000;
const POLL_MS: u64 = 10_000;

fn options() -> StoreOptions {
    StoreOptions {
        commit_interval: Duration::from_secs(60),
        poll_interval: Duration::from_millis(POLL_MS),
        ..StoreOptions::default()
    }
}

/// One miner's poll in a cycle: `None` = not polled this cycle.
#[derive(Debug, Clone)]
struct Poll {
    gap_ms: u64,
    online: bool,
    power_mw: Option<u32>,
    hashrate: Option<u32>,
    temp_centi: Option<i32>,
    accepted_step: u8,
    reboot: bool,
}

fn poll() -> impl Strategy<Value = Poll> {
    (
        prop_oneof![8 => 9_000u64..11_000, 1 => 20_000u64..4_000_000],
        prop::bool::weighted(0.9),
        prop::option::weighted(0.8, 5_000u32..200_000),
        prop::option::weighted(0.9, 1u32..4_000_000),
        prop::option::weighted(0.9, 2_000i32..9_000),
        0u8..5,
        prop::bool::weighted(0.03),
    )
        .prop_map(
            |(gap_ms, online, power_mw, hashrate, temp_centi, accepted_step, reboot)| Poll {
                gap_ms,
                online,
                power_mw,
                hashrate,
                temp_centi,
                accepted_step,
                reboot,
            },
        )
}

/// Turns polls into samples of `miners` miners, each with its own clock and counters.
/// Values are at the store's precision, so stored samples equal these exactly.
fn samples_from(polls: &[(u32, Poll)]) -> Vec<Sample> {
    let mut clock: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
    polls
        .iter()
        .map(|(id, p)| {
            let (ts, accepted) = clock.entry(*id).or_insert((T0, 100));
            *ts += p.gap_ms;
            *accepted = if p.reboot {
                u64::from(p.accepted_step)
            } else {
                *accepted + u64::from(p.accepted_step)
            };
            if !p.online {
                return Sample::offline(*id, *ts);
            }
            Sample {
                miner_id: *id,
                ts_ms: *ts,
                online: true,
                hashrate_hs: p.hashrate.map(|h| f64::from(h) * 1e6),
                power_w: p.power_mw.map(|mw| f64::from(mw) / 1000.0),
                temp_c: p.temp_centi.map(|t| f64::from(t) / 100.0),
                shares_accepted: Some(*accepted),
                ..Sample::default()
            }
        })
        .collect()
}

/// Slot rollups from scratch, written independently of the store's incremental code.
fn naive_rollups(samples: &[Sample]) -> Vec<SlotRollup> {
    let mut by_miner: BTreeMap<u32, Vec<&Sample>> = BTreeMap::new();
    for s in samples {
        by_miner.entry(s.miner_id).or_default().push(s);
    }
    let cap = 2 * POLL_MS;
    let mut out = Vec::new();
    for (id, list) in by_miner {
        let mut slots: BTreeMap<u64, SlotRollup> = BTreeMap::new();
        for (i, s) in list.iter().enumerate() {
            let start = s.ts_ms / 1000 / 1800 * 1800;
            let r = slots.entry(start).or_insert_with(|| SlotRollup {
                miner_id: id,
                slot_start_s: start,
                ..SlotRollup::default()
            });
            r.samples += 1;
            if s.online {
                r.online_samples += 1;
                if let Some(h) = s.hashrate_hs {
                    r.hashrate_sum_hs += h;
                    r.hashrate_samples += 1;
                }
            }
            if let Some(t) = s.temp_c {
                r.temp_max_c = Some(r.temp_max_c.map_or(t, |m: f64| m.max(t)));
            }
            if i == 0 {
                continue;
            }
            let p = list[i - 1];
            let dt = (s.ts_ms - p.ts_ms).min(cap);
            if p.online && s.online {
                r.online_ms += dt;
            }
            if let (Some(a), Some(b)) = (p.power_w, s.power_w) {
                r.powered_ms += dt;
                r.energy_wh += (a + b) / 2.0 * dt as f64 / 3_600_000.0;
            }
            let delta = |old: Option<u64>, new: Option<u64>| match (old, new) {
                (Some(o), Some(n)) if n >= o => n - o,
                (Some(_), Some(n)) => n,
                _ => 0,
            };
            r.shares_accepted += delta(p.shares_accepted, s.shares_accepted);
            r.shares_rejected += delta(p.shares_rejected, s.shares_rejected);
        }
        out.extend(slots.into_values());
    }
    out
}

fn assert_rollups_match(got: &[SlotRollup], want: &[SlotRollup]) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        prop_assert!(
            (g.energy_wh - w.energy_wh).abs() < 1e-9 * (1.0 + w.energy_wh),
            "{:?} vs {:?}",
            g,
            w
        );
        prop_assert!(
            (g.hashrate_sum_hs - w.hashrate_sum_hs).abs() < 1e-6 * (1.0 + w.hashrate_sum_hs)
        );
        let mut g = g.clone();
        g.energy_wh = w.energy_wh;
        g.hashrate_sum_hs = w.hashrate_sum_hs;
        prop_assert_eq!(&g, w);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn fleet_latest_and_rollups_match_naive_models(
        cycles in prop::collection::vec(prop::collection::vec((1u32..=4, poll()), 1..5), 1..160),
        reopen_at in prop::collection::btree_set(0usize..160, 0..3),
        cutoff_back_ms in 0u64..200_000,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hmm.redb");
        let mut store = Store::open(&path, options()).unwrap();
        let polls: Vec<(u32, Poll)> = cycles.iter().flat_map(|c| {
            // One poll per miner per cycle.
            let mut seen = std::collections::BTreeSet::new();
            c.iter().filter(move |(id, _)| seen.insert(*id)).cloned().collect::<Vec<_>>()
        }).collect();
        let all = samples_from(&polls);
        let mut fed = 0;
        let mut model: BTreeMap<u32, Sample> = BTreeMap::new();
        for (index, cycle) in cycles.iter().enumerate() {
            let distinct = cycle.iter().map(|(id, _)| id).collect::<std::collections::BTreeSet<_>>().len();
            let batch = &all[fed..fed + distinct];
            fed += distinct;
            store.append_cycle(batch).unwrap();
            for s in batch {
                model.insert(s.miner_id, s.clone());
            }
            if reopen_at.contains(&index) {
                drop(store);
                store = Store::open(&path, options()).unwrap();
            }
        }
        let ids = [1, 2, 3, 4, 5];
        let newest = model.values().map(|s| s.ts_ms).max().unwrap();
        let cutoff = newest.saturating_sub(cutoff_back_ms);
        let want: Vec<Option<Sample>> = ids.iter().map(|id| model.get(id).filter(|s| s.ts_ms >= cutoff).cloned()).collect();
        prop_assert_eq!(store.fleet_latest(&ids, cutoff).unwrap(), want.clone());

        let naive = naive_rollups(&all);
        assert_rollups_match(&store.slots(None, 0, u64::MAX).unwrap(), &naive)?;
        // The stored raw samples are exactly what went in, so a recomputation over them
        // gives the same rollups.
        let mut raw = Vec::new();
        for id in 1..=4 {
            raw.extend(store.range(id, 0, u64::MAX, usize::MAX, None).unwrap().samples);
        }
        let mut sorted_in = all.clone();
        sorted_in.sort_by_key(|s| (s.miner_id, s.ts_ms));
        prop_assert_eq!(&raw, &sorted_in);

        // A read-only handle agrees once the writer has flushed.
        store.flush().unwrap();
        let reader = Store::open_read_only(&path).unwrap();
        prop_assert_eq!(reader.fleet_latest(&ids, cutoff).unwrap(), want);
        assert_rollups_match(&reader.slots(None, 0, u64::MAX).unwrap(), &naive)?;
    }
}
