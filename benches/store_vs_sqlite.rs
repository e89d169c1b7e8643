//! The store against the ancestor's SQLite layout, on the same synthetic fleet.
//!
//! SQLite gets the ancestor's telemetry table with its indexes on `miner_id`, `timestamp`
//! and `(miner_id, timestamp)` (timestamps as integer ms, which is already kinder than the
//! ancestor's text datetimes), and its three queries done as well as SQL allows:
//! fleet latest = "MAX(timestamp) per miner joined back"; one day of one miner = an index
//! range; daily cost = the ancestor's slot approach (latest powered reading per miner and
//! price slot × 0.5 h × price) as one grouped query joined to the prices on the slot start.
//!
//! Run: `cargo bench --bench store_vs_sqlite`. Sizes: `HMM_BENCH_MINERS` (default 100),
//! `HMM_BENCH_DAYS` (default 7).

use std::time::{Duration, Instant};

use hmm::bench::{
    BENCH_REGION, SyntheticFleet, bulk_options, fleet_cost_pence, load, synthetic_prices,
};
use hmm::store::Store;
use rusqlite::{Connection, params};

const INTERVAL: Duration = Duration::from_secs(10);

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median_us(runs: usize, mut op: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            op();
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn load_sqlite(conn: &mut Connection, ids: &[u32], start_ms: u64, cycles: u64, now_ms: u64) {
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
         CREATE TABLE telemetry (
            id INTEGER PRIMARY KEY, miner_id INTEGER NOT NULL, timestamp INTEGER NOT NULL,
            hashrate REAL, hashrate_unit TEXT, temperature REAL, power_watts REAL,
            shares_accepted INTEGER, shares_rejected INTEGER, pool_in_use TEXT, mode TEXT, data TEXT);
         CREATE TABLE energy_prices (
            id INTEGER PRIMARY KEY, region TEXT NOT NULL, valid_from INTEGER NOT NULL,
            valid_to INTEGER NOT NULL, price_pence REAL NOT NULL);",
    )
    .unwrap();
    let mut fleet = SyntheticFleet::new(ids, 42);
    let tx = conn.transaction().unwrap();
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO telemetry (miner_id, timestamp, hashrate, hashrate_unit, temperature,
                 power_watts, shares_accepted, shares_rejected, mode) VALUES (?, ?, ?, 'GH/s', ?, ?, ?, ?, ?)",
            )
            .unwrap();
        for cycle in 0..cycles {
            for s in fleet.cycle(
                start_ms + cycle * INTERVAL.as_millis() as u64,
                INTERVAL.as_secs(),
            ) {
                insert
                    .execute(params![
                        s.miner_id,
                        s.ts_ms as i64,
                        s.hashrate_hs.map(|h| h / 1e9),
                        s.temp_c,
                        s.power_w,
                        s.shares_accepted.map(|v| v as i64),
                        s.shares_rejected.map(|v| v as i64),
                        s.mode.map(|m| m.as_str()),
                    ])
                    .unwrap();
            }
        }
        let mut price = tx
            .prepare("INSERT INTO energy_prices (region, valid_from, valid_to, price_pence) VALUES ('H', ?, ?, ?)")
            .unwrap();
        for p in synthetic_prices(start_ms / 1000, now_ms / 1000 + 86_400, 7) {
            price
                .execute(params![
                    (p.valid_from_s * 1000) as i64,
                    (p.valid_to_s * 1000) as i64,
                    p.pence_per_kwh
                ])
                .unwrap();
        }
    }
    tx.commit().unwrap();
    conn.execute_batch(
        "CREATE INDEX ix_telemetry_miner_id ON telemetry (miner_id);
         CREATE INDEX ix_telemetry_timestamp ON telemetry (timestamp);
         CREATE INDEX ix_telemetry_miner_timestamp ON telemetry (miner_id, timestamp);
         CREATE INDEX ix_energy_prices_region ON energy_prices (region);
         CREATE INDEX ix_energy_prices_valid_from ON energy_prices (valid_from);
         PRAGMA wal_checkpoint(TRUNCATE); ANALYZE;",
    )
    .unwrap();
}

fn main() {
    let miners: usize = env_or("HMM_BENCH_MINERS", 100);
    let days: f64 = env_or("HMM_BENCH_DAYS", 7.0);
    let interval_ms = INTERVAL.as_millis() as u64;
    let cycles = (days * 86_400_000.0 / interval_ms as f64) as u64;
    let now_ms = hmm::units::now_ms();
    let start_ms = now_ms - cycles * interval_ms;
    let dir = tempfile::tempdir().unwrap();
    println!(
        "{miners} miners, {days} days at 10 s = {} samples",
        cycles * miners as u64
    );

    // The store.
    let store_path = dir.path().join("hmm.redb");
    let store = Store::open(&store_path, bulk_options(INTERVAL)).unwrap();
    let ids: Vec<u32> = (0..miners)
        .map(|i| store.miner_id(&format!("miner-{i:03}")).unwrap())
        .collect();
    store
        .put_prices(
            BENCH_REGION,
            &synthetic_prices(start_ms / 1000, now_ms / 1000 + 86_400, 7),
        )
        .unwrap();
    let started = Instant::now();
    load(
        &store,
        &mut SyntheticFleet::new(&ids, 42),
        start_ms,
        cycles,
        INTERVAL,
    )
    .unwrap();
    println!("store load: {:.1} s", started.elapsed().as_secs_f64());

    // SQLite.
    let sqlite_path = dir.path().join("data.db");
    let mut conn = Connection::open(&sqlite_path).unwrap();
    let started = Instant::now();
    load_sqlite(&mut conn, &ids, start_ms, cycles, now_ms);
    println!(
        "sqlite load (rows + indexes): {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let cutoff = now_ms - 5 * 60_000;
    let day_from = now_ms - 86_400_000;
    let cost_from_s = hmm::ukclock::slot_start_s(day_from / 1000);

    let store_latest = median_us(200, || {
        assert_eq!(
            store
                .fleet_latest(&ids, cutoff)
                .unwrap()
                .iter()
                .flatten()
                .count(),
            ids.len()
        );
    });
    let id_list = ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    let latest_sql = format!(
        "SELECT t.miner_id, t.timestamp, t.hashrate, t.temperature, t.power_watts, t.shares_accepted,
                t.shares_rejected, t.mode
         FROM telemetry t JOIN (SELECT miner_id, MAX(timestamp) AS ts FROM telemetry
              WHERE miner_id IN ({id_list}) AND timestamp >= ?1 GROUP BY miner_id) m
         ON t.miner_id = m.miner_id AND t.timestamp = m.ts"
    );
    let sqlite_latest = median_us(20, || {
        let mut stmt = conn.prepare_cached(&latest_sql).unwrap();
        let rows = stmt
            .query_map([cutoff as i64], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Option<f64>>(4)?))
            })
            .unwrap()
            .count();
        assert!(rows >= ids.len());
    });

    let mut which = 0;
    let store_day = median_us(51, || {
        let id = ids[which % ids.len()];
        which += 1;
        assert!(
            store
                .range(id, day_from, now_ms + 1, 100_000, None)
                .unwrap()
                .samples
                .len()
                > 8_000
        );
    });
    let mut which = 0;
    let sqlite_day = median_us(21, || {
        let id = ids[which % ids.len()];
        which += 1;
        let mut stmt = conn
            .prepare_cached(
                "SELECT timestamp, hashrate, temperature, power_watts, shares_accepted, shares_rejected, mode
                 FROM telemetry WHERE miner_id = ?1 AND timestamp >= ?2 AND timestamp < ?3 ORDER BY timestamp",
            )
            .unwrap();
        let rows = stmt
            .query_map(params![id, day_from as i64, (now_ms + 1) as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Option<f64>>(1)?,
                    r.get::<_, Option<f64>>(3)?,
                ))
            })
            .unwrap()
            .count();
        assert!(rows > 8_000);
    });

    let mut store_cost = 0.0;
    let store_cost_us = median_us(21, || {
        store_cost =
            fleet_cost_pence(&store, BENCH_REGION, cost_from_s, now_ms / 1000 + 1).unwrap();
    });
    let mut sqlite_cost = 0.0;
    let sqlite_cost_us = median_us(5, || {
        let mut stmt = conn
            .prepare_cached(
                "SELECT SUM(x.w / 1000.0 * 0.5 * p.price_pence) FROM (
                    SELECT miner_id, timestamp / 1800000 * 1800000 AS slot, power_watts AS w, MAX(timestamp)
                    FROM telemetry WHERE timestamp >= ?1 AND power_watts IS NOT NULL
                    GROUP BY miner_id, slot) x
                 JOIN energy_prices p ON p.region = 'H' AND p.valid_from = x.slot",
            )
            .unwrap();
        sqlite_cost = stmt
            .query_row([(cost_from_s * 1000) as i64], |r| r.get::<_, f64>(0))
            .unwrap();
    });

    let store_bytes = store.file_size();
    drop(store);
    drop(conn);
    let sqlite_bytes = std::fs::metadata(&sqlite_path).unwrap().len()
        + std::fs::metadata(dir.path().join("data.db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);

    println!(
        "{:<34} {:>14} {:>14} {:>10}",
        "", "store", "sqlite", "sqlite/store"
    );
    let row = |label: &str, store: f64, sqlite: f64, unit: &str| {
        println!(
            "{label:<34} {store:>11.1} {unit:<2} {sqlite:>11.1} {unit:<2} {:>10.1}x",
            sqlite / store
        );
    };
    row("fleet latest", store_latest, sqlite_latest, "us");
    row("one miner, last 24 h", store_day, sqlite_day, "us");
    row(
        "daily cost, whole fleet",
        store_cost_us,
        sqlite_cost_us,
        "us",
    );
    row(
        "file size",
        store_bytes as f64 / 1e6,
        sqlite_bytes as f64 / 1e6,
        "MB",
    );
    println!(
        "daily cost values: store (integrated energy x slot price) {:.0} p, ancestor method {:.0} p",
        store_cost, sqlite_cost
    );
}
