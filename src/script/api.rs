//! The host functions scripts call: fleet, history, slot rollups, energy and cost, prices,
//! coin and pool caches, formatting and time helpers, and (in rules only) actions.
//!
//! Every function reads through [`ScriptData`], which never touches the network, so a
//! widget evaluation costs store reads and cache lookups only. "Now" comes from the call's
//! [`CallContext`] so `hmm rule test --at` and tests can evaluate at any moment. Missing
//! values are `()` in scripts (never 0). Every function here is documented, with an
//! example, in docs/scripting.md; a test runs each example.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rhai::{Array, Dynamic, Engine, EvalAltResult, INT, Map, NativeCallContext};

use crate::model::{PricePoint, Sample, SlotRollup};
use crate::script::aggregate;
use crate::script::automation::{Action, RequestedAction};
use crate::script::data::{MinerInfo, ScriptData};
use crate::script::reads::EvalReads;
use crate::script::shape::{Shape, set};
use crate::ukclock::{self, SLOT_S};
use crate::units;

/// Most samples `history` returns; longer periods are thinned evenly.
pub const HISTORY_MAX_POINTS: usize = 1000;

/// Per-call state handed to host functions through rhai's call tag.
#[derive(Clone)]
pub(crate) struct CallContext {
    /// The evaluation's "now", UTC ms.
    pub now_ms: u64,
    /// Present when a rule is running: where its actions and state go.
    pub rule: Option<Arc<Mutex<RuleCall>>>,
    /// Slot rollups already read by this evaluation.
    pub reads: Arc<EvalReads>,
}

impl CallContext {
    /// The context of one evaluation at `now_ms` (of a rule when `rule` is given).
    pub(crate) fn new(now_ms: u64, rule: Option<Arc<Mutex<RuleCall>>>) -> CallContext {
        CallContext {
            now_ms,
            rule,
            reads: Arc::default(),
        }
    }
}

/// What one rule evaluation collects.
pub(crate) struct RuleCall {
    /// The actions the rule asked for, in order, checked and executed after it returns.
    pub requests: Vec<RequestedAction>,
    /// The rule's memory between evaluations (`state_get` / `state_set`).
    pub state: Map,
}

type Fallible<T> = Result<T, Box<EvalAltResult>>;

fn fail<T>(ctx: &NativeCallContext, message: impl Into<String>) -> Fallible<T> {
    Err(Box::new(EvalAltResult::ErrorRuntime(
        Dynamic::from(message.into()),
        ctx.call_position(),
    )))
}

fn call_context(ctx: &NativeCallContext) -> Option<CallContext> {
    ctx.tag()?.clone().try_cast::<CallContext>()
}

fn now_ms(ctx: &NativeCallContext, data: &dyn ScriptData) -> u64 {
    call_context(ctx).map_or_else(|| data.now_ms(), |c| c.now_ms)
}

fn data_err<T>(ctx: &NativeCallContext, result: Result<T, String>) -> Fallible<T> {
    match result {
        Ok(value) => Ok(value),
        Err(message) => fail(ctx, format!("data not available: {message}")),
    }
}

fn parse_period(ctx: &NativeCallContext, text: &str) -> Fallible<u64> {
    match humantime::parse_duration(text.trim()) {
        Ok(d) => Ok(d.as_millis() as u64),
        Err(err) => fail(
            ctx,
            format!("bad duration \"{text}\" ({err}): write it like \"5m\", \"24h\" or \"7d\""),
        ),
    }
}

fn ms_arg(ctx: &NativeCallContext, value: INT) -> Fallible<u64> {
    if value < 0 {
        return fail(
            ctx,
            format!("a time in ms cannot be negative (got {value})"),
        );
    }
    Ok(value as u64)
}

fn opt_f(value: Option<f64>) -> Dynamic {
    value.map_or(Dynamic::UNIT, Dynamic::from_float)
}

fn opt_i(value: Option<u64>) -> Dynamic {
    value.map_or(Dynamic::UNIT, |v| Dynamic::from_int(v as INT))
}

fn int(value: u64) -> Dynamic {
    Dynamic::from_int(value as INT)
}

/// Hands a finished map to the script. `Dynamic::from_map` moves it in as it is; the
/// generic conversions (`map.into()`, `Dynamic::from(map)`, or a registered function
/// returning `Map`) go through rhai's `From<BTreeMap<K, T>>`, which rebuilds the whole
/// tree key by key, a measurable cost when `fleet` hands out a hundred 26-key maps.
fn map_value(map: Map) -> Dynamic {
    Dynamic::from_map(map)
}

fn miner_by_name<'a>(
    ctx: &NativeCallContext,
    miners: &'a [MinerInfo],
    name: &str,
) -> Fallible<&'a MinerInfo> {
    match miners.iter().find(|m| m.name == name) {
        Some(m) => Ok(m),
        None => fail(
            ctx,
            format!(
                "no miner named '{name}' (configured: {})",
                miners
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
    }
}

/// Keys of a `miners()` entry.
static MINER: Shape = Shape::new();
/// Keys of a `fleet` / `miner` entry: the miner's configuration and its latest sample.
static FLEET_ENTRY: Shape = Shape::new();
/// Keys of a `history` sample.
static SAMPLE: Shape = Shape::new();
/// Keys of a `slots` rollup.
static SLOT: Shape = Shape::new();
/// Keys of a price point.
static PRICE: Shape = Shape::new();

/// The script map of a miner's configuration.
fn miner_map(m: &MinerInfo) -> Map {
    let mut map = MINER.start();
    put_miner(&mut map, m);
    MINER.finish(map)
}

/// Sets a miner's configuration fields in `map`.
fn put_miner(map: &mut Map, m: &MinerInfo) {
    set(map, "name", m.name.as_str().into());
    set(map, "id", int(u64::from(m.id)));
    set(map, "kind", m.kind.as_str().into());
    set(
        map,
        "model",
        m.model
            .as_deref()
            .map_or(Dynamic::UNIT, |model| model.into()),
    );
    set(map, "enabled", m.enabled.into());
    set(map, "manual_power_w", opt_f(m.manual_power_w));
    set(map, "temp_threshold_c", opt_f(m.temp_threshold_c));
    let modes: Array = m.modes.iter().map(|mode| mode.as_str().into()).collect();
    set(map, "modes", Dynamic::from_array(modes));
    let pools: Array = m.pools.iter().map(|p| p.as_str().into()).collect();
    set(map, "pools", Dynamic::from_array(pools));
    set(map, "last_seen", opt_i(m.last_seen_ms));
}

/// Sets a sample's fields (unit-suffixed keys) in `map`; `None` sets them to `()`.
fn put_sample(map: &mut Map, sample: Option<&Sample>) {
    let s = sample;
    set(map, "ts", opt_i(s.map(|s| s.ts_ms)));
    set(map, "online", s.is_some_and(|s| s.online).into());
    set(map, "hashrate_hs", opt_f(s.and_then(|s| s.hashrate_hs)));
    set(map, "power_w", opt_f(s.and_then(|s| s.power_w)));
    set(map, "temp_c", opt_f(s.and_then(|s| s.temp_c)));
    set(map, "vr_temp_c", opt_f(s.and_then(|s| s.vr_temp_c)));
    set(
        map,
        "fan_rpm",
        opt_i(s.and_then(|s| s.fan_rpm.map(u64::from))),
    );
    set(map, "frequency_mhz", opt_f(s.and_then(|s| s.frequency_mhz)));
    set(
        map,
        "core_voltage_mv",
        opt_f(s.and_then(|s| s.core_voltage_mv)),
    );
    set(
        map,
        "shares_accepted",
        opt_i(s.and_then(|s| s.shares_accepted)),
    );
    set(
        map,
        "shares_rejected",
        opt_i(s.and_then(|s| s.shares_rejected)),
    );
    set(map, "best_diff", opt_f(s.and_then(|s| s.best_diff)));
    set(map, "uptime_s", opt_i(s.and_then(|s| s.uptime_s)));
    set(
        map,
        "mode",
        s.and_then(|s| s.mode)
            .map_or(Dynamic::UNIT, |m| m.as_str().into()),
    );
}

fn sample_map(sample: &Sample) -> Dynamic {
    let mut map = SAMPLE.start();
    put_sample(&mut map, Some(sample));
    map_value(SAMPLE.finish(map))
}

fn slot_map(slot: &SlotRollup) -> Dynamic {
    let mut map = SLOT.start();
    set(&mut map, "start", int(slot.slot_start_s * 1000));
    set(&mut map, "samples", int(u64::from(slot.samples)));
    set(
        &mut map,
        "online_samples",
        int(u64::from(slot.online_samples)),
    );
    set(&mut map, "online_ms", int(slot.online_ms));
    set(&mut map, "powered_ms", int(slot.powered_ms));
    set(&mut map, "energy_wh", Dynamic::from_float(slot.energy_wh));
    set(&mut map, "mean_hashrate_hs", opt_f(slot.mean_hashrate_hs()));
    set(&mut map, "shares_accepted", int(slot.shares_accepted));
    set(&mut map, "shares_rejected", int(slot.shares_rejected));
    set(&mut map, "temp_max_c", opt_f(slot.temp_max_c));
    map_value(SLOT.finish(map))
}

fn price_map(p: &PricePoint) -> Dynamic {
    let mut map = PRICE.start();
    set(&mut map, "from", int(p.valid_from_s * 1000));
    set(&mut map, "to", int(p.valid_to_s * 1000));
    set(&mut map, "p_kwh", Dynamic::from_float(p.pence_per_kwh));
    map_value(PRICE.finish(map))
}

/// Registers every host function on `engine`, reading through `data`.
pub(crate) fn register(engine: &mut Engine, data: Arc<dyn ScriptData>) {
    register_time(engine, &data);
    register_format(engine);
    register_fleet(engine, &data);
    register_aggregates(engine, &data);
    register_prices(engine, &data);
    register_feeds(engine, &data);
    register_actions(engine);
}

fn register_time(engine: &mut Engine, data: &Arc<dyn ScriptData>) {
    let d = data.clone();
    engine.register_fn("now", move |ctx: NativeCallContext| {
        now_ms(&ctx, d.as_ref()) as INT
    });
    engine.register_fn(
        "duration",
        |ctx: NativeCallContext, text: &str| -> Fallible<INT> {
            Ok(parse_period(&ctx, text)? as INT)
        },
    );
    let d = data.clone();
    engine.register_fn(
        "ago",
        move |ctx: NativeCallContext, text: &str| -> Fallible<INT> {
            let period = parse_period(&ctx, text)?;
            Ok(now_ms(&ctx, d.as_ref()).saturating_sub(period) as INT)
        },
    );
    engine.register_fn(
        "format_duration",
        |ctx: NativeCallContext, ms: INT| -> Fallible<String> {
            let ms = ms_arg(&ctx, ms)?;
            if ms < 1000 {
                return Ok("0s".to_string());
            }
            Ok(humantime::format_duration(Duration::from_secs(ms / 1000)).to_string())
        },
    );
    engine.register_fn(
        "format_time",
        |ctx: NativeCallContext, ms: INT| -> Fallible<String> {
            Ok(ukclock::rfc3339(ms_arg(&ctx, ms)? / 1000))
        },
    );
    engine.register_fn(
        "uk_time",
        |ctx: NativeCallContext, ms: INT| -> Fallible<String> {
            Ok(ukclock::uk_hhmm(ms_arg(&ctx, ms)? / 1000))
        },
    );
    let d = data.clone();
    engine.register_fn("uk_today", move |ctx: NativeCallContext| -> Dynamic {
        let (start, end) = ukclock::uk_day_bounds(now_ms(&ctx, d.as_ref()) / 1000);
        let mut map = Map::new();
        map.insert("start".into(), int(start * 1000));
        map.insert("end".into(), int(end * 1000));
        map_value(map)
    });
    engine.register_fn(
        "slot_start",
        |ctx: NativeCallContext, ms: INT| -> Fallible<INT> {
            Ok((ukclock::slot_start_s(ms_arg(&ctx, ms)? / 1000) * 1000) as INT)
        },
    );
}

fn register_format(engine: &mut Engine) {
    engine.register_fn("format_hashrate", units::format_hashrate);
    engine.register_fn("format_hashrate", |hs: INT| {
        units::format_hashrate(hs as f64)
    });
    engine.register_fn("format_gbp", |pence: f64| format_gbp(pence));
    engine.register_fn("format_gbp", |pence: INT| format_gbp(pence as f64));
    engine.register_fn("round_to", |x: f64, dp: INT| round_to(x, dp));
    engine.register_fn("round_to", |x: INT, _dp: INT| x as f64);
}

/// Pence to "£1.23" (negative: "-£1.23").
pub fn format_gbp(pence: f64) -> String {
    if !pence.is_finite() {
        return "£--".to_string();
    }
    let pounds = pence / 100.0;
    if pounds < 0.0 {
        format!("-£{:.2}", -pounds)
    } else {
        format!("£{pounds:.2}")
    }
}

fn round_to(x: f64, dp: INT) -> f64 {
    let factor = 10f64.powi(dp.clamp(0, 12) as i32);
    (x * factor).round() / factor
}

fn register_fleet(engine: &mut Engine, data: &Arc<dyn ScriptData>) {
    let d = data.clone();
    engine.register_fn("miners", move |ctx: NativeCallContext| -> Fallible<Array> {
        let miners = data_err(&ctx, d.miners())?;
        Ok(miners.iter().map(|m| map_value(miner_map(m))).collect())
    });
    let d = data.clone();
    engine.register_fn(
        "fleet",
        move |ctx: NativeCallContext, max_age: &str| -> Fallible<Array> {
            fleet(&ctx, d.as_ref(), max_age, None)
                .map(|maps| maps.into_iter().map(map_value).collect())
        },
    );
    let d = data.clone();
    engine.register_fn(
        "fleet_totals",
        move |ctx: NativeCallContext, max_age: &str| -> Fallible<Dynamic> {
            fleet_totals(&ctx, d.as_ref(), max_age).map(map_value)
        },
    );
    let d = data.clone();
    engine.register_fn(
        "miner",
        move |ctx: NativeCallContext, name: &str, max_age: &str| -> Fallible<Dynamic> {
            let mut maps = fleet(&ctx, d.as_ref(), max_age, Some(name))?;
            Ok(map_value(maps.pop().unwrap_or_default()))
        },
    );
    let d = data.clone();
    engine.register_fn(
        "history",
        move |ctx: NativeCallContext, name: &str, period: &str| -> Fallible<Array> {
            let miners = data_err(&ctx, d.miners())?;
            let miner = miner_by_name(&ctx, &miners, name)?;
            let now = now_ms(&ctx, d.as_ref());
            let from = now.saturating_sub(parse_period(&ctx, period)?);
            let samples = data_err(&ctx, d.samples(miner.id, from, now + 1, usize::MAX))?;
            Ok(thin(&samples, HISTORY_MAX_POINTS).map(sample_map).collect())
        },
    );
    let d = data.clone();
    engine.register_fn(
        "slots",
        move |ctx: NativeCallContext, name: &str, period: &str| -> Fallible<Array> {
            let miners = data_err(&ctx, d.miners())?;
            let miner = miner_by_name(&ctx, &miners, name)?;
            let now_s = now_ms(&ctx, d.as_ref()) / 1000;
            let from_s = now_s.saturating_sub(parse_period(&ctx, period)? / 1000);
            let slots = data_err(
                &ctx,
                d.slots(Some(miner.id), ukclock::slot_start_s(from_s), now_s + 1),
            )?;
            Ok(slots.iter().map(slot_map).collect())
        },
    );
}

/// Evenly thins `samples` to at most `max` points, always keeping the newest.
fn thin(samples: &[Sample], max: usize) -> impl Iterator<Item = &Sample> {
    let step = samples.len().div_ceil(max.max(1)).max(1);
    let offset = (samples.len().saturating_sub(1)) % step;
    samples.iter().skip(offset).step_by(step)
}

/// Latest sample per miner within `max_age`, merged with the miner's config.
fn fleet(
    ctx: &NativeCallContext,
    data: &dyn ScriptData,
    max_age: &str,
    only: Option<&str>,
) -> Fallible<Vec<Map>> {
    let all = data_err(ctx, data.miners())?;
    let miners: Vec<&MinerInfo> = match only {
        Some(name) => vec![miner_by_name(ctx, &all, name)?],
        None => all.iter().collect(),
    };
    let now = now_ms(ctx, data);
    let cutoff = units::cutoff_ms(now, parse_period(ctx, max_age)?);
    let ids: Vec<u32> = miners.iter().map(|m| m.id).collect();
    let latest = data_err(ctx, data.fleet_latest(&ids, cutoff))?;
    Ok(miners
        .iter()
        .zip(
            latest
                .iter()
                .map(Option::as_ref)
                .chain(std::iter::repeat(None)),
        )
        .map(|(miner, sample)| {
            let mut map = FLEET_ENTRY.start();
            put_miner(&mut map, miner);
            set(&mut map, "fresh", sample.is_some().into());
            set(
                &mut map,
                "age_ms",
                opt_i(sample.map(|s| now.saturating_sub(s.ts_ms))),
            );
            put_sample(&mut map, sample);
            FLEET_ENTRY.finish(map)
        })
        .collect())
}

/// Fleet sums over enabled miners' fresh online samples, in config order (the same sums a
/// script would make by walking `fleet(max_age)`). Computed here because building and
/// walking one map per miner costs about a millisecond at 100 miners, and the fleet-level
/// widgets (total hashrate, efficiency, profitability) need only these numbers.
fn fleet_totals(ctx: &NativeCallContext, data: &dyn ScriptData, max_age: &str) -> Fallible<Map> {
    let miners = data_err(ctx, data.miners())?;
    let now = now_ms(ctx, data);
    let cutoff = units::cutoff_ms(now, parse_period(ctx, max_age)?);
    let ids: Vec<u32> = miners.iter().map(|m| m.id).collect();
    let latest = data_err(ctx, data.fleet_latest(&ids, cutoff))?;
    let (mut enabled, mut active, mut hashrate) = (0u64, 0u64, 0.0);
    let (mut power_w, mut power_hashrate, mut power_miners) = (0.0, 0.0, 0u64);
    for (miner, sample) in miners.iter().zip(latest.iter()) {
        if !miner.enabled {
            continue;
        }
        enabled += 1;
        let Some(sample) = sample.as_ref().filter(|s| s.online) else {
            continue;
        };
        let Some(hs) = sample.hashrate_hs else {
            continue;
        };
        hashrate += hs;
        active += 1;
        if let Some(watts) = sample.power_w
            && hs > 0.0
        {
            power_w += watts;
            power_hashrate += hs;
            power_miners += 1;
        }
    }
    let mut map = Map::new();
    map.insert("enabled_miners".into(), int(enabled));
    map.insert("active_miners".into(), int(active));
    map.insert("hashrate_hs".into(), Dynamic::from_float(hashrate));
    map.insert("power_w".into(), Dynamic::from_float(power_w));
    map.insert(
        "power_hashrate_hs".into(),
        Dynamic::from_float(power_hashrate),
    );
    map.insert("power_miners".into(), int(power_miners));
    Ok(map)
}

fn register_aggregates(engine: &mut Engine, data: &Arc<dyn ScriptData>) {
    let d = data.clone();
    engine.register_fn(
        "cost",
        move |ctx: NativeCallContext, period: &str| -> Fallible<Dynamic> {
            let now = now_ms(&ctx, d.as_ref());
            let from = now.saturating_sub(parse_period(&ctx, period)?);
            cost_map(&ctx, d.as_ref(), from, now).map(map_value)
        },
    );
    let d = data.clone();
    engine.register_fn(
        "cost_between",
        move |ctx: NativeCallContext, from: INT, to: INT| -> Fallible<Dynamic> {
            let (from, to) = (ms_arg(&ctx, from)?, ms_arg(&ctx, to)?);
            cost_map(&ctx, d.as_ref(), from, to).map(map_value)
        },
    );
    let d = data.clone();
    engine.register_fn(
        "uptime",
        move |ctx: NativeCallContext, period: &str| -> Fallible<Dynamic> {
            let now = now_ms(&ctx, d.as_ref());
            let from = now.saturating_sub(parse_period(&ctx, period)?);
            uptime_map(&ctx, d.as_ref(), from / 1000, now / 1000).map(map_value)
        },
    );
    let d = data.clone();
    engine.register_fn(
        "shares",
        move |ctx: NativeCallContext, period: &str| -> Fallible<Dynamic> {
            let now = now_ms(&ctx, d.as_ref());
            let from = now.saturating_sub(parse_period(&ctx, period)?);
            shares_map(&ctx, d.as_ref(), from / 1000, now / 1000).map(map_value)
        },
    );
}

/// Every miner's rollups of the slots overlapping `[from_s, to_s]`, possibly with more
/// slots around them (a window read earlier in the same evaluation, see `reads.rs`): the
/// aggregates weigh each slot by its overlap with their window.
fn window_slots(
    ctx: &NativeCallContext,
    data: &dyn ScriptData,
    from_s: u64,
    to_s: u64,
) -> Fallible<Arc<Vec<SlotRollup>>> {
    let (first_s, end_s) = (ukclock::slot_start_s(from_s), to_s.max(from_s) + 1);
    let slots = match call_context(ctx) {
        Some(call) => call.reads.slots(data, first_s, end_s),
        None => data.slots(None, first_s, end_s).map(Arc::new),
    };
    data_err(ctx, slots)
}

/// Keys of a per-miner entry of `cost` / `cost_between`.
static COST_ENTRY: Shape = Shape::new();
/// Keys of a per-miner entry of `uptime`.
static UPTIME_ENTRY: Shape = Shape::new();
/// Keys of a per-miner entry of `shares`.
static SHARES_ENTRY: Shape = Shape::new();

fn cost_map(
    ctx: &NativeCallContext,
    data: &dyn ScriptData,
    from_ms: u64,
    to_ms: u64,
) -> Fallible<Map> {
    let (from_s, to_s) = (from_ms / 1000, to_ms / 1000);
    let now_s = now_ms(ctx, data) / 1000;
    let miners = data_err(ctx, data.miners())?;
    let slots = window_slots(ctx, data, from_s, to_s)?;
    let prices = data_err(
        ctx,
        data.prices(ukclock::slot_start_s(from_s), to_s + SLOT_S),
    )?;
    let summary = aggregate::cost(&miners, &slots, &prices, from_s, to_s, now_s);
    let mut map = Map::new();
    map.insert("from".into(), int(from_ms));
    map.insert("to".into(), int(to_ms));
    map.insert(
        "energy_wh".into(),
        Dynamic::from_float(summary.measured_wh + summary.estimated_wh),
    );
    map.insert(
        "measured_wh".into(),
        Dynamic::from_float(summary.measured_wh),
    );
    map.insert(
        "estimated_wh".into(),
        Dynamic::from_float(summary.estimated_wh),
    );
    map.insert(
        "unpriced_wh".into(),
        Dynamic::from_float(summary.unpriced_wh),
    );
    map.insert("cost_p".into(), Dynamic::from_float(summary.cost_p));
    let per: Array = summary
        .miners
        .iter()
        .map(|m| {
            let mut entry = COST_ENTRY.start();
            set(&mut entry, "name", m.name.as_str().into());
            set(&mut entry, "energy_wh", Dynamic::from_float(m.energy_wh()));
            set(
                &mut entry,
                "measured_wh",
                Dynamic::from_float(m.measured_wh),
            );
            set(
                &mut entry,
                "estimated_wh",
                Dynamic::from_float(m.estimated_wh),
            );
            set(
                &mut entry,
                "unpriced_wh",
                Dynamic::from_float(m.unpriced_wh),
            );
            set(&mut entry, "cost_p", Dynamic::from_float(m.cost_p));
            set(&mut entry, "online_ms", int(m.online_ms.round() as u64));
            map_value(COST_ENTRY.finish(entry))
        })
        .collect();
    map.insert("miners".into(), per.into());
    Ok(map)
}

fn uptime_map(
    ctx: &NativeCallContext,
    data: &dyn ScriptData,
    from_s: u64,
    now_s: u64,
) -> Fallible<Map> {
    let miners = data_err(ctx, data.miners())?;
    let slots = window_slots(ctx, data, from_s, now_s)?;
    let (per, fleet) = aggregate::uptime(&miners, &slots, from_s, now_s, now_s);
    let mut map = Map::new();
    map.insert("fleet_pct".into(), opt_f(fleet));
    let list: Array = per
        .iter()
        .map(|m| {
            let mut entry = UPTIME_ENTRY.start();
            set(&mut entry, "name", m.name.as_str().into());
            set(&mut entry, "enabled", m.enabled.into());
            set(&mut entry, "online_ms", int(m.online_ms.round() as u64));
            set(&mut entry, "pct", Dynamic::from_float(m.percent));
            map_value(UPTIME_ENTRY.finish(entry))
        })
        .collect();
    map.insert("miners".into(), list.into());
    Ok(map)
}

fn reject_pct(accepted: f64, rejected: f64) -> Option<f64> {
    let total = accepted + rejected;
    (total > 0.0).then(|| rejected / total * 100.0)
}

fn shares_map(
    ctx: &NativeCallContext,
    data: &dyn ScriptData,
    from_s: u64,
    now_s: u64,
) -> Fallible<Map> {
    let miners = data_err(ctx, data.miners())?;
    let slots = window_slots(ctx, data, from_s, now_s)?;
    let per = aggregate::shares(&miners, &slots, from_s, now_s, now_s);
    let accepted: f64 = per.iter().map(|m| m.accepted).sum();
    let rejected: f64 = per.iter().map(|m| m.rejected).sum();
    let mut map = Map::new();
    map.insert("accepted".into(), int(accepted.round() as u64));
    map.insert("rejected".into(), int(rejected.round() as u64));
    map.insert("reject_pct".into(), opt_f(reject_pct(accepted, rejected)));
    let list: Array = per
        .iter()
        .map(|m| {
            let mut entry = SHARES_ENTRY.start();
            set(&mut entry, "name", m.name.as_str().into());
            set(&mut entry, "accepted", int(m.accepted.round() as u64));
            set(&mut entry, "rejected", int(m.rejected.round() as u64));
            set(
                &mut entry,
                "reject_pct",
                opt_f(reject_pct(m.accepted, m.rejected)),
            );
            map_value(SHARES_ENTRY.finish(entry))
        })
        .collect();
    map.insert("miners".into(), list.into());
    Ok(map)
}

fn register_prices(engine: &mut Engine, data: &Arc<dyn ScriptData>) {
    let d = data.clone();
    engine.register_fn(
        "price_now",
        move |ctx: NativeCallContext| -> Fallible<Dynamic> {
            let now_s = now_ms(&ctx, d.as_ref()) / 1000;
            Ok(data_err(&ctx, d.price_at(now_s))?
                .as_ref()
                .map_or(Dynamic::UNIT, price_map))
        },
    );
    let d = data.clone();
    engine.register_fn(
        "price_next",
        move |ctx: NativeCallContext| -> Fallible<Dynamic> {
            // The slot after the current one: a fixed tariff's single long point is "next" too.
            let now_s = now_ms(&ctx, d.as_ref()) / 1000;
            let next_s = ukclock::slot_start_s(now_s) + SLOT_S;
            let point = data_err(&ctx, d.price_at(next_s))?;
            Ok(point
                .map(|p| PricePoint {
                    valid_from_s: p.valid_from_s.max(next_s),
                    ..p
                })
                .as_ref()
                .map_or(Dynamic::UNIT, price_map))
        },
    );
    let d = data.clone();
    engine.register_fn(
        "price_at",
        move |ctx: NativeCallContext, ms: INT| -> Fallible<Dynamic> {
            let t_s = ms_arg(&ctx, ms)? / 1000;
            Ok(data_err(&ctx, d.price_at(t_s))?
                .as_ref()
                .map_or(Dynamic::UNIT, price_map))
        },
    );
    let d = data.clone();
    engine.register_fn(
        "prices",
        move |ctx: NativeCallContext, from: INT, to: INT| -> Fallible<Array> {
            let (from, to) = (ms_arg(&ctx, from)? / 1000, ms_arg(&ctx, to)? / 1000);
            Ok(data_err(&ctx, d.prices(from, to))?
                .iter()
                .map(price_map)
                .collect())
        },
    );
    let d = data.clone();
    engine.register_fn(
        "upcoming_prices",
        move |ctx: NativeCallContext, period: &str| -> Fallible<Array> {
            let now_s = now_ms(&ctx, d.as_ref()) / 1000;
            let to_s = now_s + parse_period(&ctx, period)? / 1000;
            Ok(data_err(&ctx, d.prices(now_s, to_s))?
                .iter()
                .map(price_map)
                .collect())
        },
    );
    let d = data.clone();
    engine.register_fn(
        "price_stats",
        move |ctx: NativeCallContext, from: INT, to: INT| -> Fallible<Dynamic> {
            let (from, to) = (ms_arg(&ctx, from)? / 1000, ms_arg(&ctx, to)? / 1000);
            let prices = data_err(&ctx, d.prices(from, to))?;
            Ok(
                aggregate::price_stats(&prices, from, to).map_or(Dynamic::UNIT, |s| {
                    let mut map = Map::new();
                    map.insert("min".into(), Dynamic::from_float(s.min));
                    map.insert("avg".into(), Dynamic::from_float(s.avg));
                    map.insert("max".into(), Dynamic::from_float(s.max));
                    map.insert("covered_ms".into(), int(s.covered_s * 1000));
                    map_value(map)
                }),
            )
        },
    );
    let d = data.clone();
    engine.register_fn(
        "cheapest_window",
        move |ctx: NativeCallContext, length: &str, within: &str| -> Fallible<Dynamic> {
            let now_s = now_ms(&ctx, d.as_ref()) / 1000;
            let len_s = parse_period(&ctx, length)? / 1000;
            let to_s = now_s + parse_period(&ctx, within)? / 1000;
            let prices = data_err(&ctx, d.prices(ukclock::slot_start_s(now_s), to_s))?;
            Ok(
                aggregate::cheapest_window(&prices, len_s, now_s, to_s).map_or(
                    Dynamic::UNIT,
                    |(from, to, avg)| {
                        let mut map = Map::new();
                        map.insert("from".into(), int(from * 1000));
                        map.insert("to".into(), int(to * 1000));
                        map.insert("avg_p_kwh".into(), Dynamic::from_float(avg));
                        map_value(map)
                    },
                ),
            )
        },
    );
}

fn register_feeds(engine: &mut Engine, data: &Arc<dyn ScriptData>) {
    let coin_map = |c: &crate::script::data::CoinPrice| -> Dynamic {
        let mut map = Map::new();
        map.insert("coin".into(), c.coin.clone().into());
        map.insert("price".into(), Dynamic::from_float(c.price));
        map.insert("currency".into(), c.currency.clone().into());
        map.insert("age_s".into(), int(c.age_s));
        map.insert("stale".into(), c.stale.into());
        map_value(map)
    };
    let d = data.clone();
    engine.register_fn(
        "coin_prices",
        move |ctx: NativeCallContext| -> Fallible<Array> {
            Ok(data_err(&ctx, d.coin_prices())?
                .iter()
                .map(coin_map)
                .collect())
        },
    );
    let d = data.clone();
    engine.register_fn(
        "coin_price",
        move |ctx: NativeCallContext, coin: &str| -> Fallible<Dynamic> {
            let prices = data_err(&ctx, d.coin_prices())?;
            Ok(prices
                .iter()
                .find(|c| c.coin == coin)
                .map_or(Dynamic::UNIT, coin_map))
        },
    );
    let d = data.clone();
    engine.register_fn(
        "pool_stats",
        move |ctx: NativeCallContext| -> Fallible<Array> {
            let pools = data_err(&ctx, d.pool_stats())?;
            Ok(pools
                .iter()
                .map(|p| {
                    let mut map = Map::new();
                    map.insert("name".into(), p.name.clone().into());
                    map.insert("coin".into(), p.coin.clone().into());
                    map.insert("workers".into(), opt_i(p.workers.map(u64::from)));
                    map.insert("hashrate_1m_hs".into(), opt_f(p.hashrate_1m_hs));
                    map.insert("hashrate_1h_hs".into(), opt_f(p.hashrate_1h_hs));
                    map.insert("best_share".into(), opt_f(p.best_share));
                    map.insert("last_share_age_s".into(), opt_i(p.last_share_age_s));
                    map.insert("age_s".into(), int(p.age_s));
                    map.insert("stale".into(), p.stale.into());
                    map_value(map)
                })
                .collect())
        },
    );
    let d = data.clone();
    engine.register_fn(
        "network_difficulty",
        move |ctx: NativeCallContext, coin: &str| -> Fallible<Dynamic> {
            Ok(opt_f(data_err(&ctx, d.network_difficulty(coin))?))
        },
    );
}

/// Pushes an action request into the running rule's buffer; outside a rule it is an error.
fn request(ctx: &NativeCallContext, action: Action, reason: &str) -> Fallible<()> {
    let Some(rule) = call_context(ctx).and_then(|c| c.rule) else {
        return fail(
            ctx,
            "actions are only available in rules (scripts/*.rhai), not in widgets",
        );
    };
    if reason.trim().is_empty() {
        return fail(
            ctx,
            "give every action a reason (the last argument): it goes to the audit log",
        );
    }
    let mut call = rule.lock().unwrap_or_else(|e| e.into_inner());
    if call.requests.len() >= 1000 {
        return fail(
            ctx,
            "a rule may request at most 1000 actions per evaluation",
        );
    }
    call.requests.push(RequestedAction {
        action,
        reason: reason.to_string(),
    });
    Ok(())
}

fn rule_state<T>(ctx: &NativeCallContext, f: impl FnOnce(&mut Map) -> T) -> Fallible<T> {
    let Some(rule) = call_context(ctx).and_then(|c| c.rule) else {
        return fail(ctx, "state_get/state_set are only available in rules");
    };
    let mut call = rule.lock().unwrap_or_else(|e| e.into_inner());
    Ok(f(&mut call.state))
}

fn register_actions(engine: &mut Engine) {
    engine.register_fn(
        "set_mode",
        |ctx: NativeCallContext, miner: &str, mode: &str, reason: &str| -> Fallible<()> {
            let action = Action::SetMode {
                miner: miner.to_string(),
                mode: mode.to_string(),
            };
            request(&ctx, action, reason)
        },
    );
    engine.register_fn(
        "restart",
        |ctx: NativeCallContext, miner: &str, reason: &str| -> Fallible<()> {
            request(
                &ctx,
                Action::Restart {
                    miner: miner.to_string(),
                },
                reason,
            )
        },
    );
    engine.register_fn(
        "switch_pool",
        |ctx: NativeCallContext, miner: &str, pool: &str, reason: &str| -> Fallible<()> {
            let action = Action::SwitchPool {
                miner: miner.to_string(),
                pool: pool.to_string(),
            };
            request(&ctx, action, reason)
        },
    );
    engine.register_fn(
        "set_enabled",
        |ctx: NativeCallContext, miner: &str, enabled: bool, reason: &str| -> Fallible<()> {
            let action = Action::SetEnabled {
                miner: miner.to_string(),
                enabled,
            };
            request(&ctx, action, reason)
        },
    );
    engine.register_fn(
        "notify",
        |ctx: NativeCallContext, title: &str, message: &str, level: &str| -> Fallible<()> {
            let action = Action::Notify {
                title: title.to_string(),
                message: message.to_string(),
                level: level.to_string(),
            };
            request(&ctx, action, title)
        },
    );
    engine.register_fn(
        "publish",
        |ctx: NativeCallContext, topic: &str, payload: Dynamic| -> Fallible<()> {
            let action = Action::Publish {
                topic: topic.to_string(),
                payload: crate::script::engine::dynamic_to_json(&payload),
            };
            request(&ctx, action, &format!("publish {topic}"))
        },
    );
    engine.register_fn(
        "state_get",
        |ctx: NativeCallContext, key: &str| -> Fallible<Dynamic> {
            rule_state(&ctx, |state| {
                state.get(key).cloned().unwrap_or(Dynamic::UNIT)
            })
        },
    );
    engine.register_fn(
        "state_set",
        |ctx: NativeCallContext, key: &str, value: Dynamic| -> Fallible<()> {
            rule_state(&ctx, |state| {
                if value.is_unit() {
                    state.remove(key);
                } else {
                    state.insert(key.into(), value);
                }
            })
        },
    );
}
