//! `hmm bench`: proves the storage budgets of DESIGN.md on this machine.
//!
//! It generates a synthetic fleet (default 100 miners, 7 days at 10 s ≈ 6 M samples) into
//! a store in a temporary directory through the normal batched ingest path, then measures
//! what the daemon and the page do: the fleet's latest samples, one miner's last day, the
//! fleet's daily cost from slot rollups × prices, the file size per sample, disk bytes
//! written per sample by steady-state cycles at the default commit interval (from
//! `/proc/self/io`), and peak RSS.
//!
//! The report is a list of [`Metric`]s: adding a measurement is one more `push`, and both
//! the table and `--json` pick it up. The synthetic fleet is public so
//! `benches/store_vs_sqlite.rs` loads exactly the same data.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::model::{Mode, PricePoint, Sample};
use crate::store::{Store, StoreOptions};
use crate::ukclock::{SLOT_S, slot_start_s};

/// What to generate.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Number of miners.
    pub miners: usize,
    /// Days of history at `interval`.
    pub days: f64,
    /// Poll interval of the synthetic fleet.
    pub interval: Duration,
    /// Directory for the temporary store (default: the system temp dir). Put it on the
    /// device you care about (SD card, flash) to measure that device.
    pub dir: Option<PathBuf>,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            miners: 100,
            days: 7.0,
            interval: Duration::from_secs(10),
            dir: None,
        }
    }
}

/// One measured number: a JSON key, a label for the table and a unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// Key in `--json` output.
    pub key: &'static str,
    /// Human label in the table.
    pub label: &'static str,
    /// The value.
    pub value: f64,
    /// Unit shown in the table.
    pub unit: &'static str,
    /// The DESIGN.md budget, if there is one, as text for the table ("≤ 0.1 ms").
    pub budget: Option<&'static str>,
}

/// Everything `hmm bench` measured, in the order it is printed.
#[derive(Debug, Clone, Default)]
pub struct BenchReport {
    /// The measurements.
    pub metrics: Vec<Metric>,
    /// Median evaluation time of each built-in widget (rhai included) at the bench's
    /// miner count, µs, by widget name (`widgets_us` in `--json`).
    pub widgets_us: BTreeMap<String, f64>,
}

impl BenchReport {
    fn push(&mut self, key: &'static str, label: &'static str, value: f64, unit: &'static str) {
        self.push_budget(key, label, value, unit, None);
    }

    fn push_budget(
        &mut self,
        key: &'static str,
        label: &'static str,
        value: f64,
        unit: &'static str,
        budget: Option<&'static str>,
    ) {
        self.metrics.push(Metric {
            key,
            label,
            value,
            unit,
            budget,
        });
    }

    /// The value of `key`, if measured.
    pub fn get(&self, key: &str) -> Option<f64> {
        self.metrics.iter().find(|m| m.key == key).map(|m| m.value)
    }

    /// One JSON object, key → number.
    pub fn to_json(&self) -> String {
        let map: serde_json::Map<String, serde_json::Value> = self
            .metrics
            .iter()
            .map(|m| (m.key.to_string(), serde_json::json!(m.value)))
            .chain(std::iter::once((
                "widgets_us".to_string(),
                serde_json::json!(self.widgets_us),
            )))
            .collect();
        serde_json::Value::Object(map).to_string()
    }

    /// An aligned text table.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        for m in &self.metrics {
            let value = if m.value.abs() >= 1000.0 || m.value.fract() == 0.0 {
                format!("{:.0}", m.value)
            } else {
                format!("{:.3}", m.value)
            };
            let budget = m
                .budget
                .map(|b| format!("  (budget {b})"))
                .unwrap_or_default();
            out.push_str(&format!(
                "{:<44} {:>14} {}{}\n",
                m.label, value, m.unit, budget
            ));
        }
        for (name, us) in &self.widgets_us {
            out.push_str(&format!(
                "{:<44} {:>14.0} us  (budget <= 2000 us)\n",
                format!("widget {name}"),
                us
            ));
        }
        out
    }
}

/// Deterministic synthetic fleet: Bitaxe-like, Avalon-like and NMMiner-like devices with
/// noise, occasional offline polls, reboots (counters and uptime reset) and, for the
/// NMMiner-like ones, no power reading at all.
pub struct SyntheticFleet {
    miners: Vec<SimMiner>,
    rng: fastrand::Rng,
}

struct SimMiner {
    id: u32,
    base_ghs: f64,
    base_w: Option<f64>,
    base_temp: f64,
    accepted: u64,
    rejected: u64,
    uptime_s: u64,
    best_diff: f64,
    mode: Mode,
}

impl SyntheticFleet {
    /// A fleet with the given store ids, seeded for reproducibility.
    pub fn new(ids: &[u32], seed: u64) -> SyntheticFleet {
        let mut rng = fastrand::Rng::with_seed(seed);
        let miners = ids
            .iter()
            .enumerate()
            .map(|(index, &id)| {
                let (base_ghs, base_w, base_temp) = match index % 10 {
                    0 => (1.05, None, 45.0),               // NMMiner: ~1 MH/s, no power
                    1 | 2 => (4_000.0, Some(140.0), 70.0), // Avalon Nano 3S
                    _ => (1_200.0, Some(18.0), 58.0),      // Bitaxe Gamma
                };
                SimMiner {
                    id,
                    base_ghs: base_ghs * (0.9 + 0.2 * rng.f64()),
                    base_w,
                    base_temp,
                    accepted: 0,
                    rejected: 0,
                    uptime_s: rng.u64(0..100_000),
                    best_diff: 1e6 * (1.0 + rng.f64()),
                    mode: Mode::Standard,
                }
            })
            .collect();
        SyntheticFleet { miners, rng }
    }

    /// One poll of every miner at about `ts_ms` (each with a few ms of jitter).
    pub fn cycle(&mut self, ts_ms: u64, interval_s: u64) -> Vec<Sample> {
        let rng = &mut self.rng;
        self.miners
            .iter_mut()
            .map(|m| m.poll(rng, ts_ms, interval_s))
            .collect()
    }
}

impl SimMiner {
    fn poll(&mut self, rng: &mut fastrand::Rng, ts_ms: u64, interval_s: u64) -> Sample {
        let ts_ms = ts_ms + rng.u64(0..40);
        if rng.u32(0..1000) < 2 {
            return Sample::offline(self.id, ts_ms);
        }
        if rng.u32(0..20_000) == 0 {
            // Reboot: counters and uptime start again.
            self.accepted = 0;
            self.rejected = 0;
            self.uptime_s = 0;
        }
        self.uptime_s += interval_s;
        self.accepted += u64::from(rng.u32(0..4));
        if rng.u32(0..200) == 0 {
            self.rejected += 1;
        }
        if rng.u32(0..5000) == 0 {
            self.best_diff *= 1.0 + rng.f64();
        }
        let noise = |rng: &mut fastrand::Rng, spread: f64| 1.0 + spread * (rng.f64() - 0.5);
        // Devices print GH/s with two decimals, watts with three, °C with one or two.
        let ghs = (self.base_ghs * noise(rng, 0.1) * 100.0).round() / 100.0;
        let power_w = self
            .base_w
            .map(|w| (w * noise(rng, 0.04) * 1000.0).round() / 1000.0);
        let temp_c = ((self.base_temp + 4.0 * (rng.f64() - 0.5)) * 10.0).round() / 10.0;
        Sample {
            miner_id: self.id,
            ts_ms,
            online: true,
            hashrate_hs: Some(crate::units::ghs_to_hs(ghs).round()),
            power_w,
            temp_c: Some(temp_c),
            vr_temp_c: self.base_w.map(|_| ((temp_c + 8.0) * 10.0).round() / 10.0),
            fan_rpm: self.base_w.map(|_| 3000 + rng.u32(0..200)),
            frequency_mhz: Some(525.0),
            core_voltage_mv: Some(1150.0),
            shares_accepted: Some(self.accepted),
            shares_rejected: Some(self.rejected),
            best_diff: Some(self.best_diff.round()),
            uptime_s: Some(self.uptime_s),
            mode: Some(self.mode),
        }
    }
}

/// Agile-like half-hourly prices for `[from_s, to_s)`: cheap nights, an evening peak,
/// some noise, occasionally negative.
pub fn synthetic_prices(from_s: u64, to_s: u64, seed: u64) -> Vec<PricePoint> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut out = Vec::new();
    let mut start = slot_start_s(from_s);
    while start < to_s {
        let hour = (start % 86_400) / 3600;
        let base = match hour {
            0..=5 => 8.0,
            16..=18 => 32.0,
            _ => 18.0,
        };
        out.push(PricePoint {
            valid_from_s: start,
            valid_to_s: start + SLOT_S,
            pence_per_kwh: ((base + 10.0 * (rng.f64() - 0.6)) * 100.0).round() / 100.0,
        });
        start += SLOT_S;
    }
    out
}

/// Cost in pence of the whole fleet over `[from_s, to_s)`: Σ over slots of slot energy ×
/// that slot's price, read from the store (slot rollups and prices, no raw samples).
pub fn fleet_cost_pence(store: &Store, region: u8, from_s: u64, to_s: u64) -> Result<f64, String> {
    let slots = store.slots(None, from_s, to_s).map_err(|e| e.to_string())?;
    let prices = store
        .prices(region, from_s, to_s)
        .map_err(|e| e.to_string())?;
    let mut cost = 0.0;
    for slot in &slots {
        // Prices are sorted and slot-aligned: binary search by start.
        let index = prices.partition_point(|p| p.valid_to_s <= slot.slot_start_s);
        if let Some(price) = prices
            .get(index)
            .filter(|p| p.valid_from_s <= slot.slot_start_s)
        {
            cost += slot.energy_wh / 1000.0 * price.pence_per_kwh;
        }
    }
    Ok(cost)
}

/// Runs `op` `runs` times and returns the median duration.
fn median_of(runs: usize, mut op: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            op();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

/// `write_bytes` of /proc/self/io: bytes this process caused to be written to storage.
pub fn disk_write_bytes() -> Option<u64> {
    proc_field("/proc/self/io", "write_bytes:")
}

/// Peak resident memory (VmHWM) in bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    proc_field("/proc/self/status", "VmHWM:").map(|kb| kb * 1024)
}

fn proc_field(file: &str, name: &str) -> Option<u64> {
    let text = std::fs::read_to_string(file).ok()?;
    let line = text.lines().find(|line| line.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
}

/// A config naming the bench's miners as the store does (`miner-000`, ...), in the bench's
/// price region. Every tenth miner is NMMiner-like (no power sensor, manual power set).
fn bench_config(data_dir: &Path, miners: usize) -> Result<crate::config::Config, String> {
    let mut text = format!(
        "data_dir = {:?}\n[energy]\ntariff = \"agile\"\nregion = \"{}\"\n",
        data_dir.display().to_string(),
        BENCH_REGION as char
    );
    for index in 0..miners {
        let kind = match index % 10 {
            0 => "nmminer\"\nmanual_power_w = 1.5\nhost = \"127.0.0.1",
            1 | 2 => "avalon\"\nhost = \"127.0.0.1:4028",
            _ => "axeos\"\nhost = \"127.0.0.1:80",
        };
        text.push_str(&format!(
            "\n[[miners]]\nname = \"miner-{index:03}\"\nkind = \"{kind}\"\n"
        ));
    }
    crate::config::Config::from_str(&text, "bench config").map_err(|e| e.to_string())
}

/// Median µs of each built-in widget over `store`, through the script data the daemon
/// builds (fleet, slots, prices and cost all read from the store), over `runs` evaluations.
fn widget_timings(
    path: &Path,
    store: &std::sync::Arc<Store>,
    miners: usize,
    runs: usize,
) -> Result<BTreeMap<String, f64>, String> {
    let data_dir = path.parent().unwrap_or(Path::new("."));
    let config = bench_config(data_dir, miners)?;
    let data = crate::daemon::script_data_over(&config, std::sync::Arc::clone(store))?;
    let widgets = crate::script::WidgetSet::load(crate::script::ScriptHost::new(data), None);
    let now_ms = crate::units::now_ms();
    let mut out = BTreeMap::new();
    for name in widgets.names() {
        let mut times = Vec::with_capacity(runs.max(1));
        for _ in 0..runs.max(1) {
            let started = Instant::now();
            widgets
                .evaluate(&name, now_ms)
                .map_err(|error| format!("bench: widget {name} failed: {error}"))?;
            times.push(started.elapsed().as_secs_f64() * 1e6);
        }
        times.sort_by(f64::total_cmp);
        out.insert(name, times[times.len() / 2]);
    }
    Ok(out)
}

/// Loads `cycles` cycles of `fleet` starting at `start_ms` into `store`.
pub fn load(
    store: &Store,
    fleet: &mut SyntheticFleet,
    start_ms: u64,
    cycles: u64,
    interval: Duration,
) -> Result<(), String> {
    let interval_ms = interval.as_millis() as u64;
    for cycle in 0..cycles {
        let samples = fleet.cycle(start_ms + cycle * interval_ms, interval.as_secs().max(1));
        store.append_cycle(&samples).map_err(|e| e.to_string())?;
    }
    store.flush().map_err(|e| e.to_string())
}

/// Options used while bulk-loading: commits every two hours of data (one transaction per
/// 72 k samples at 100 miners × 10 s) instead of every 30 s.
pub fn bulk_options(interval: Duration) -> StoreOptions {
    StoreOptions {
        commit_interval: Duration::from_secs(2 * 3600),
        poll_interval: interval,
        ..StoreOptions::default()
    }
}

/// Region letter used for the synthetic prices.
pub const BENCH_REGION: u8 = b'H';

/// A directory removed (with its contents) when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(parent: &Path) -> Result<TempDir, String> {
        let path = parent.join(format!(
            "hmm-bench-{}-{}",
            std::process::id(),
            crate::units::now_ms()
        ));
        std::fs::create_dir_all(&path)
            .map_err(|e| format!("{}: cannot create the bench directory: {e}", path.display()))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Generates the fleet, measures, and returns the report. The temporary store is removed.
pub fn run(options: &BenchOptions) -> Result<BenchReport, String> {
    let parent = options.dir.clone().unwrap_or_else(std::env::temp_dir);
    let dir = TempDir::new(&parent)?;
    measure(&dir.0.join("hmm.redb"), options)
}

fn measure(path: &Path, options: &BenchOptions) -> Result<BenchReport, String> {
    let interval = options.interval.max(Duration::from_secs(1));
    let interval_ms = interval.as_millis() as u64;
    let cycles = (options.days * 86_400_000.0 / interval_ms as f64).round() as u64;
    let now_ms = crate::units::now_ms();
    let start_ms = now_ms - cycles * interval_ms;
    let mut report = BenchReport::default();

    let store =
        std::sync::Arc::new(Store::open(path, bulk_options(interval)).map_err(|e| e.to_string())?);
    let ids: Vec<u32> = (0..options.miners)
        .map(|i| store.miner_id(&format!("miner-{i:03}")))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let mut fleet = SyntheticFleet::new(&ids, 42);
    store
        .put_prices(
            BENCH_REGION,
            &synthetic_prices(start_ms / 1000, now_ms / 1000 + 86_400, 7),
        )
        .map_err(|e| e.to_string())?;

    let started = Instant::now();
    load(&store, &mut fleet, start_ms, cycles, interval)?;
    let ingest_s = started.elapsed().as_secs_f64();
    let samples = cycles * ids.len() as u64;
    report.push("samples", "samples stored", samples as f64, "");
    report.push_budget(
        "ingest_samples_per_s",
        "ingest, batched",
        samples as f64 / ingest_s,
        "samples/s",
        Some(">= 200000"),
    );

    let cutoff = now_ms - 5 * 60_000;
    let latest = median_of(1000, || {
        let fleet = store.fleet_latest(&ids, cutoff).expect("fleet_latest");
        assert_eq!(fleet.len(), ids.len());
    });
    report.push_budget(
        "fleet_latest_us",
        "fleet latest (daemon)",
        latest.as_secs_f64() * 1e6,
        "us",
        Some("<= 100 us"),
    );

    let mut which = 0usize;
    let day = median_of(101, || {
        let id = ids[which % ids.len()];
        which += 1;
        let page = store
            .range(id, now_ms - 86_400_000, now_ms + 1, 100_000, None)
            .expect("range");
        assert!(page.samples.len() as u64 >= 86_400_000 / interval_ms - 1);
    });
    report.push_budget(
        "day_range_us",
        "one miner, last 24 h of samples",
        day.as_secs_f64() * 1e6,
        "us",
        Some("<= 1000 us"),
    );

    let day_from = slot_start_s(now_ms / 1000 - 86_400);
    let mut cost = 0.0;
    let cost_time = median_of(51, || {
        cost = fleet_cost_pence(&store, BENCH_REGION, day_from, now_ms / 1000 + 1).expect("cost");
    });
    report.push_budget(
        "daily_cost_ms",
        "daily cost, whole fleet, 24 h",
        cost_time.as_secs_f64() * 1e3,
        "ms",
        Some("<= 2 ms"),
    );
    report.push("daily_cost_pence", "  (that cost)", cost, "p");

    // Widgets: every built-in widget over this store through the daemon's own script data
    // (store reads included), median of 21 evaluations each.
    report.widgets_us = widget_timings(path, &store, options.miners, 21)?;

    let file_before = store.file_size();
    let used = store.used_bytes();
    drop(store);

    // The `hmm status` path: a read-only handle beside the writer.
    let writer = Store::open(
        path,
        StoreOptions {
            poll_interval: interval,
            ..StoreOptions::default()
        },
    )
    .map_err(|e| e.to_string())?;
    // Reopening compacts a file that is more than a third free (see store::compact_if_sparse).
    report.push_budget(
        "file_bytes_per_sample",
        "file size per stored sample (after reopen)",
        writer.file_size() as f64 / samples as f64,
        "bytes",
        Some("<= 40"),
    );
    report.push(
        "file_bytes_per_sample_before_reopen",
        "  before reopen (with free pages)",
        file_before as f64 / samples as f64,
        "bytes",
    );
    if let Some(used) = used {
        report.push(
            "used_bytes_per_sample",
            "  pages in use per sample",
            used as f64 / samples as f64,
            "bytes",
        );
    }
    let reader = Store::open_read_only(path).map_err(|e| e.to_string())?;
    let read_only = median_of(200, || {
        let fleet = reader.fleet_latest(&ids, cutoff).expect("fleet_latest");
        assert!(fleet.iter().all(Option::is_some));
    });
    report.push(
        "fleet_latest_read_only_us",
        "fleet latest (read-only, other process path)",
        read_only.as_secs_f64() * 1e6,
        "us",
    );
    drop(reader);

    // Steady state: default settings, cycles of the whole fleet every poll.
    let steady_cycles = (6 * 3600 * 1000 / interval_ms).max(10);
    let before = disk_write_bytes();
    load(
        &writer,
        &mut fleet,
        now_ms + interval_ms,
        steady_cycles,
        interval,
    )?;
    let after = disk_write_bytes();
    if let (Some(before), Some(after)) = (before, after) {
        report.push_budget(
            "written_bytes_per_sample",
            "disk bytes written per sample, steady state",
            (after - before) as f64 / (steady_cycles * ids.len() as u64) as f64,
            "bytes",
            Some("<= 500"),
        );
    }
    drop(writer);
    if let Some(rss) = peak_rss_bytes() {
        report.push("peak_rss_bytes", "peak RSS (VmHWM)", rss as f64, "bytes");
    }
    Ok(report)
}
