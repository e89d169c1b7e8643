//! Built-in widgets checked against independent computations on generated data: the
//! daily cost across a clock-change day and a device restart, time-based uptime, share
//! deltas across a restart, prices in the UK day, and the fleet snapshots.

use std::sync::Arc;

use hmm::model::{MinerKind, Mode, PricePoint, Sample};
use hmm::script::testing::{MemoryData, agile_shape, generated_fleet, miner_info};
use hmm::script::{CoinPrice, PoolStats, ScriptHost, WidgetSet};
use hmm::ukclock::{SLOT_S, days_from_civil, slot_start_s, uk_day_bounds};
use serde_json::Value;

const NOW_MS: u64 = 1_790_000_000_000;

fn widgets(data: Arc<MemoryData>) -> WidgetSet {
    WidgetSet::load(ScriptHost::new(data), None)
}

fn run(set: &WidgetSet, name: &str, now_ms: u64) -> Value {
    match set.evaluate(name, now_ms) {
        Ok(result) => result.value.clone(),
        Err(error) => panic!("{name}: {error}"),
    }
}

fn num(value: &Value, key: &str) -> f64 {
    value[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {value}"))
}

fn assert_close(got: f64, want: f64, what: &str) {
    // Relative 0.1 %, plus the widgets' 4-decimal rounding.
    let tol = 1e-3 * want.abs() + 6e-5;
    assert!((got - want).abs() <= tol, "{what}: got {got}, want {want}");
}

#[test]
fn every_builtin_widget_runs_and_returns_a_map() {
    let data = generated_fleet(20, NOW_MS, 24, 30);
    let set = widgets(data);
    assert_eq!(set.names().len(), 11, "{:?}", set.names());
    for name in set.names() {
        let value = run(&set, &name, NOW_MS);
        assert!(value.is_object(), "{name}: {value}");
    }
    assert!(set.script_errors().is_empty(), "{:?}", set.script_errors());
}

fn sample(id: u32, ts_ms: u64, hs: f64, power: Option<f64>, temp: f64) -> Sample {
    Sample {
        miner_id: id,
        ts_ms,
        online: true,
        hashrate_hs: Some(hs),
        power_w: power,
        temp_c: Some(temp),
        mode: Some(Mode::Standard),
        ..Sample::default()
    }
}

/// a: AxeOS fresh and hot; b: Avalon fresh; c: NMMiner fresh without power sensor;
/// d: AxeOS whose newest sample is 10 minutes old; e: AxeOS disabled but reporting.
fn snapshot_fleet() -> Arc<MemoryData> {
    let data = Arc::new(MemoryData::new(20_000));
    data.set_now(NOW_MS);
    data.with(|s| {
        s.miners = vec![
            miner_info(1, "a", MinerKind::Axeos),
            miner_info(2, "b", MinerKind::Avalon),
            miner_info(3, "c", MinerKind::Nmminer),
            miner_info(4, "d", MinerKind::Axeos),
            miner_info(5, "e", MinerKind::Axeos),
        ];
        s.miners[4].enabled = false;
    });
    data.append(&[
        sample(1, NOW_MS - 5_000, 1.2e12, Some(15.0), 80.0),
        sample(2, NOW_MS - 5_000, 4.0e12, Some(140.0), 70.0),
        sample(3, NOW_MS - 5_000, 1.0e6, None, 45.0),
        sample(4, NOW_MS - 600_000, 1.0e12, Some(14.0), 99.0),
        sample(5, NOW_MS - 5_000, 2.0e12, Some(30.0), 99.0),
    ]);
    data
}

#[test]
fn snapshot_widgets_use_fresh_enabled_samples_only() {
    let set = widgets(snapshot_fleet());
    let total = run(&set, "total-hashrate", NOW_MS);
    assert_close(
        num(&total, "total_hashrate_hs"),
        1.2e12 + 4.0e12 + 1.0e6,
        "total",
    );
    assert_eq!(total["active_miners"], 3);
    assert_eq!(total["enabled_miners"], 4);
    assert_eq!(total["hashrate_display"], "5.20 TH/s");

    // J/TH = Σ W / Σ TH over fresh samples with power: a and b only.
    let eff = run(&set, "efficiency", NOW_MS);
    let want = (15.0 + 140.0) / ((1.2e12 + 4.0e12) / 1e12);
    assert_close(
        num(&eff, "efficiency_j_th"),
        (want * 100.0_f64).round() / 100.0,
        "J/TH",
    );
    assert_eq!(eff["miners_counted"], 2);

    // a is at 80 °C ≥ 75; d (99 °C, stale) and e (99 °C, disabled) do not count.
    let temp = run(&set, "temperature-alert", NOW_MS);
    assert_eq!(temp["alert_count"], 1);
    assert_eq!(temp["hot_miners"][0]["name"], "a");
    assert_eq!(temp["hot_miners"][0]["threshold_c"], 75.0);
    assert_eq!(temp["status"], "warning");

    let list = run(&set, "miners-list", NOW_MS);
    let statuses: Vec<&str> = list["miners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["online", "online", "online", "offline", "disabled"]
    );
    assert_eq!(list["online"], 3);
    assert!(
        list["miners"][2]["power_w"].is_null(),
        "missing power stays null"
    );
    assert!(
        list["miners"][3]["hashrate_hs"].is_null(),
        "stale values are not shown"
    );
}

/// 2026-10-25, the 25-hour UK day.
fn dst_day() -> (u64, u64) {
    let noon = days_from_civil(2026, 10, 25) as u64 * 86_400 + 12 * 3600;
    uk_day_bounds(noon)
}

/// Samples at :30 s of every minute from two hours before the day to `now`: an AxeOS at
/// 15 W that restarts (counters reset) at 10:00 and is offline 13:00–13:20; an NMMiner
/// without a power sensor (1.2 W manual).
fn dst_fleet() -> (Arc<MemoryData>, Vec<Sample>, u64) {
    let (day_start, day_end) = dst_day();
    let now_s = day_end - 1800;
    let data = Arc::new(MemoryData::new(120_000));
    data.set_now(now_s * 1000);
    data.with(|s| {
        s.miners = vec![
            miner_info(1, "axe", MinerKind::Axeos),
            miner_info(2, "nm", MinerKind::Nmminer),
        ];
        let mut t = slot_start_s(day_start - 2 * 86_400);
        while t < day_end + 86_400 {
            s.prices.push(PricePoint {
                valid_from_s: t,
                valid_to_s: t + SLOT_S,
                pence_per_kwh: agile_shape(t),
            });
            t += SLOT_S;
        }
    });
    let restart_s = day_start + 11 * 3600; // 10:00 UTC+1 → 11 h after local midnight (BST until 01:00 UTC)
    let (off_from, off_to) = (day_start + 14 * 3600, day_start + 14 * 3600 + 1200);
    let mut samples = Vec::new();
    let (mut acc, mut rej) = (5_000u64, 40u64);
    let mut t = day_start - 7200 + 30;
    let mut i = 0u64;
    while t < now_s {
        if t >= restart_s && t < restart_s + 60 {
            acc = 3;
            rej = 0;
        }
        acc += 7;
        // Rejects are frequent before the restart and rare after it.
        if i.is_multiple_of(if t < restart_s { 2 } else { 9 }) {
            rej += 1;
        }
        let online = !(off_from..off_to).contains(&t);
        let axe = if online {
            Sample {
                shares_accepted: Some(acc),
                shares_rejected: Some(rej),
                ..sample(1, t * 1000, 1.1e12, Some(15.0 + (i % 3) as f64), 60.0)
            }
        } else {
            Sample::offline(1, t * 1000)
        };
        samples.push(axe);
        samples.push(sample(2, t * 1000, 1.0e6, None, 40.0));
        t += 60;
        i += 1;
    }
    data.append(&samples);
    (data, samples, now_s)
}

/// Independent reference: for consecutive samples of one miner, both online, whose later
/// sample lies in [from_s, to_s): energy by trapezoid (capped gap), or manual power × gap,
/// priced at the slot of the later sample.
fn reference_cost(
    samples: &[Sample],
    miner: u32,
    manual_w: Option<f64>,
    from_s: u64,
    to_s: u64,
) -> (f64, f64) {
    let own: Vec<&Sample> = samples.iter().filter(|s| s.miner_id == miner).collect();
    let (mut wh, mut pence) = (0.0, 0.0);
    for pair in own.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let t = b.ts_ms / 1000;
        if !(a.online && b.online) || t < from_s || t >= to_s {
            continue;
        }
        let dt_h = (b.ts_ms - a.ts_ms).min(120_000) as f64 / 3_600_000.0;
        let e = match (a.power_w, b.power_w) {
            (Some(x), Some(y)) => (x + y) / 2.0 * dt_h,
            _ => manual_w.unwrap_or(0.0) * dt_h,
        };
        wh += e;
        pence += e / 1000.0 * agile_shape(slot_start_s(t));
    }
    (wh, pence)
}

#[test]
fn daily_cost_matches_a_reference_across_a_clock_change_day_and_a_restart() {
    let (data, samples, now_s) = dst_fleet();
    let (day_start, _) = dst_day();
    let set = widgets(data);
    let cost = run(&set, "daily-cost", now_s * 1000);

    let (axe_wh, axe_p) = reference_cost(&samples, 1, None, now_s - 86_400, now_s);
    let (nm_wh, nm_p) = reference_cost(&samples, 2, Some(1.2), now_s - 86_400, now_s);
    assert_close(num(&cost, "cost_gbp"), (axe_p + nm_p) / 100.0, "24 h cost");
    assert_close(
        num(&cost, "energy_kwh"),
        (axe_wh + nm_wh) / 1000.0,
        "24 h energy",
    );
    assert_close(
        num(&cost, "estimated_kwh"),
        nm_wh / 1000.0,
        "manual-power energy",
    );
    assert_close(
        num(&cost["miners"][1], "cost_gbp"),
        nm_p / 100.0,
        "per-miner cost",
    );
    assert_eq!(cost["unpriced_kwh"], 0.0);

    // "Today" is the UK day: 24.5 of its 25 hours have passed at `now`.
    let (t_axe_wh, t_axe_p) = reference_cost(&samples, 1, None, day_start, now_s);
    let (t_nm_wh, t_nm_p) = reference_cost(&samples, 2, Some(1.2), day_start, now_s);
    assert_close(
        num(&cost, "today_cost_gbp"),
        (t_axe_p + t_nm_p) / 100.0,
        "today's cost",
    );
    // The NMMiner ran the whole 24.5 h at 1.2 W: the long day really is counted.
    assert_close(t_nm_wh, 1.2 * 24.5, "reference sanity");
    assert!(t_axe_wh > 15.0 * 24.0, "{t_axe_wh}");
    assert!(cost["cost_display"].as_str().unwrap().starts_with('£'));
}

#[test]
fn uptime_is_time_based_and_reject_rate_survives_a_restart() {
    let (data, samples, now_s) = dst_fleet();
    let set = widgets(data);
    let from_s = now_s - 86_400;

    // Reference uptime: capped intervals between online samples / 24 h.
    let axe: Vec<&Sample> = samples.iter().filter(|s| s.miner_id == 1).collect();
    let online_ms: u64 = axe
        .windows(2)
        .filter(|p| p[0].online && p[1].online && p[1].ts_ms / 1000 >= from_s)
        .map(|p| (p[1].ts_ms - p[0].ts_ms).min(120_000))
        .sum();
    let uptime = run(&set, "uptime", now_s * 1000);
    let want = online_ms as f64 / 86_400_000.0 * 100.0;
    assert_close(
        num(&uptime["miners"][0], "uptime_pct"),
        (want * 100.0).round() / 100.0,
        "axe uptime",
    );
    assert!(want < 99.0, "the 20-minute outage shows: {want}");

    // Reference reject rate from reset-aware deltas between online samples.
    let online: Vec<&&Sample> = axe.iter().filter(|s| s.online).collect();
    let (mut acc, mut rej) = (0u64, 0u64);
    for p in online.windows(2) {
        if p[1].ts_ms / 1000 < from_s {
            continue;
        }
        let delta = |old: Option<u64>, new: Option<u64>| {
            let (o, n) = (old.unwrap(), new.unwrap());
            if n >= o { n - o } else { n }
        };
        acc += delta(p[0].shares_accepted, p[1].shares_accepted);
        rej += delta(p[0].shares_rejected, p[1].shares_rejected);
    }
    let rate = run(&set, "reject-rate", now_s * 1000);
    assert_eq!(rate["miners"][0]["accepted"], acc);
    assert_eq!(rate["miners"][0]["rejected"], rej);
    let want = rej as f64 / (acc + rej) as f64 * 100.0;
    assert_close(
        num(&rate, "reject_pct"),
        (want * 1000.0).round() / 1000.0,
        "reject %",
    );
    // The ancestor's since-boot counters give another answer after the restart.
    let last = online.last().unwrap();
    let naive = last.shares_rejected.unwrap() as f64
        / (last.shares_accepted.unwrap() + last.shares_rejected.unwrap()) as f64
        * 100.0;
    assert!((naive - want).abs() > 1.0, "naive {naive} vs {want}");
}

#[test]
fn energy_price_reports_now_next_uk_day_and_cheapest_hour() {
    let (data, _, _) = dst_fleet();
    let (day_start, day_end) = dst_day();
    let now_s = day_start + 5 * 3600 + 600;
    let set = widgets(data);
    let price = run(&set, "energy-price", now_s * 1000);
    let slot = slot_start_s(now_s);
    assert_eq!(num(&price, "price_p_kwh"), agile_shape(slot));
    assert_eq!(num(&price, "next_p_kwh"), agile_shape(slot + SLOT_S));
    let day: Vec<f64> = (day_start..day_end)
        .step_by(SLOT_S as usize)
        .map(agile_shape)
        .collect();
    assert_eq!(day.len(), 50, "a 25-hour day has 50 slots");
    assert_eq!(
        num(&price, "today_min_p_kwh"),
        day.iter().cloned().fold(f64::MAX, f64::min)
    );
    assert_eq!(
        num(&price, "today_max_p_kwh"),
        day.iter().cloned().fold(f64::MIN, f64::max)
    );
    let avg = day.iter().sum::<f64>() / day.len() as f64;
    assert_close(
        num(&price, "today_avg_p_kwh"),
        (avg * 1000.0).round() / 1000.0,
        "avg",
    );
    // Cheapest hour: brute force over slot starts from the current slot on.
    let best = (0..47)
        .map(|k| slot + k * SLOT_S)
        .map(|t| (t, (agile_shape(t) + agile_shape(t + SLOT_S)) / 2.0))
        .fold((0, f64::MAX), |b, c| if c.1 < b.1 { c } else { b });
    assert_close(
        num(&price, "cheapest_hour_avg_p_kwh"),
        (best.1 * 1000.0).round() / 1000.0,
        "cheapest",
    );
    assert_eq!(price["cheapest_hour_from"], hmm::ukclock::rfc3339(best.0));
}

#[test]
fn pool_coin_and_profitability_widgets_use_the_caches() {
    let data = snapshot_fleet();
    data.with(|s| {
        s.coins = vec![CoinPrice {
            coin: "bitcoin".into(),
            price: 80_000.0,
            currency: "gbp".into(),
            age_s: 30,
            stale: false,
        }];
        s.pools = vec![PoolStats {
            name: "ckpool".into(),
            coin: "btc".into(),
            workers: Some(3),
            hashrate_1m_hs: Some(5.2e12),
            hashrate_1h_hs: Some(5.0e12),
            best_share: Some(1.5e9),
            last_share_age_s: Some(7),
            age_s: 20,
            stale: true,
        }];
        s.difficulty.insert("btc".into(), 1.1e14);
        s.fixed_price_p_kwh = Some(24.5);
    });
    let set = widgets(data);
    let pools = run(&set, "pool-stats", NOW_MS);
    assert_eq!(pools["pools"][0]["workers"], 3);
    assert_eq!(pools["pools"][0]["hashrate_1h_display"], "5.00 TH/s");
    assert_eq!(pools["pools"][0]["stale"], true);
    assert_eq!(pools["pools"][0]["last_share_age_s"], 7);
    let coins = run(&set, "coin-prices", NOW_MS);
    assert_eq!(coins["prices"]["bitcoin"], 80_000.0);
    assert_eq!(coins["coins"][0]["display"], "80000.0 GBP");

    let profit = run(&set, "profitability", NOW_MS);
    let hs = 1.2e12 + 4.0e12 + 1.0e6;
    let coins_day = hs * 86_400.0 * 3.125 / (1.1e14 * 4_294_967_296.0);
    assert_close(num(&profit, "coins_per_day"), coins_day, "coins/day");
    assert_close(num(&profit, "value_gbp"), coins_day * 80_000.0, "value");
    // One sample per miner: no energy yet, so profit = value.
    assert_close(
        num(&profit, "profit_gbp") + 1e-9,
        (coins_day * 80_000.0 * 1e4).round() / 1e4 + 1e-9,
        "profit",
    );
    assert_eq!(profit["status"], "profit");
}

#[test]
fn profitability_is_unknown_without_difficulty_rather_than_guessed() {
    let set = widgets(snapshot_fleet());
    let profit = run(&set, "profitability", NOW_MS);
    assert!(profit["coins_per_day"].is_null());
    assert_eq!(profit["status"], "unknown");
}

#[test]
fn results_are_cached_per_interval() {
    let data = generated_fleet(5, NOW_MS, 2, 60);
    let set = widgets(data);
    let first = set.refresh_due(NOW_MS);
    assert_eq!(first.len(), 11);
    assert!(set.result("total-hashrate").is_some());
    // 30 s later only the 30-second widgets are due again.
    let again = set.refresh_due(NOW_MS + 30_000);
    let mut again_sorted = again.clone();
    again_sorted.sort();
    assert_eq!(
        again_sorted,
        ["miners-list", "temperature-alert", "total-hashrate"]
    );
    assert!(set.refresh_due(NOW_MS + 31_000).is_empty());
    let meta = set.meta("daily-cost").unwrap();
    assert_eq!(meta.unit.as_deref(), Some("GBP"));
    assert_eq!(meta.state_class.as_deref(), Some("total"));
    assert_eq!(set.results().len(), 11);
}
