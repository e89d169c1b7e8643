//! Table definitions, the schema version kept in `meta`, and the migrations between
//! versions.
//!
//! Versions:
//! - 1: the six tables of DESIGN.md (`meta`, `miners`, `telemetry`, `slots`, `prices`,
//!   `audit`); every block, including each miner's newest partial one, lived in `telemetry`.
//! - 2: adds two tables, deliberately, beyond DESIGN.md:
//!   - `status` (`u32` miner id → JSON [`MinerStatus`](crate::model::MinerStatus)): the
//!     descriptive per-miner state that `hmm status` shows from another process.
//!   - `live` (`u32` miner id → open block + current slot rollup): the small, hot part of
//!     the data. Every commit rewrites each miner's newest samples; keeping them in one
//!     compact table costs a handful of 4 KiB pages per commit instead of one leaf of
//!     `telemetry` and one of `slots` per miner (about 200 pages at 100 miners), which is
//!     what keeps disk writes under the 500 bytes per sample budget. Full blocks move to
//!     `telemetry` and finished slots to `slots`.
//!
//! - 3 (current): adds `parked` (`(u64 first_ts_ms, u32 miner_id)` → full block): full
//!   blocks wait here, keyed by time so one commit's blocks of the whole fleet land in a
//!   few adjacent leaves, and move to `telemetry` [`PARK_BLOCKS`](super::PARK_BLOCKS) per
//!   miner at a time, so each miner's `telemetry` leaf is rewritten once per several
//!   blocks instead of once per block (disk writes, DESIGN.md "Budgets").
//!
//! Migration 1 → 2 creates the two tables (version-1 partial blocks simply stay in
//! `telemetry` as short sealed blocks); 2 → 3 creates `parked`. A file with a newer version is refused before
//! anything is written.

use redb::{TableDefinition, WriteTransaction};

/// Schema version this build writes.
pub(crate) const CURRENT_SCHEMA: u32 = 3;

/// `meta` key holding the schema version as decimal text.
pub(crate) const SCHEMA_KEY: &str = "schema_version";

/// Small facts about the file: schema version, creating build.
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Config name → stable miner id.
pub(crate) const MINERS: TableDefinition<&str, u32> = TableDefinition::new("miners");
/// `(miner_id, first_ts_ms)` → sealed block of samples (see `block.rs`).
pub(crate) const TELEMETRY: TableDefinition<(u32, u64), &[u8]> = TableDefinition::new("telemetry");
/// `(miner_id, slot_start_s)` → encoded finished slot rollup (see `rollup.rs`).
pub(crate) const SLOTS: TableDefinition<(u32, u64), &[u8]> = TableDefinition::new("slots");
/// `(region byte, valid_from_s)` → `(valid_to_s, pence per kWh)`.
pub(crate) const PRICES: TableDefinition<(u8, u64), (u64, f64)> = TableDefinition::new("prices");
/// `(ts_ms, seq)` → JSON audit record.
pub(crate) const AUDIT: TableDefinition<(u64, u32), &[u8]> = TableDefinition::new("audit");
/// Miner id → JSON miner status (version 2).
pub(crate) const STATUS: TableDefinition<u32, &[u8]> = TableDefinition::new("status");
/// Miner id → open block and current slot rollup (version 2).
pub(crate) const LIVE: TableDefinition<u32, &[u8]> = TableDefinition::new("live");

/// `(first_ts_ms, miner_id)` → full block waiting to move to `telemetry` (version 3).
pub(crate) const PARKED: TableDefinition<(u64, u32), &[u8]> = TableDefinition::new("parked");

/// Parses the stored version text.
pub(crate) fn parse_version(raw: &[u8]) -> Option<u32> {
    std::str::from_utf8(raw).ok()?.trim().parse().ok()
}

/// Creates every table of the current schema (no-op for tables that exist) and records
/// the version.
pub(crate) fn create_current(txn: &WriteTransaction) -> Result<(), redb::Error> {
    txn.open_table(MINERS)?;
    txn.open_table(TELEMETRY)?;
    txn.open_table(SLOTS)?;
    txn.open_table(PRICES)?;
    txn.open_table(AUDIT)?;
    txn.open_table(STATUS)?;
    txn.open_table(LIVE)?;
    txn.open_table(PARKED)?;
    let mut meta = txn.open_table(META)?;
    meta.insert(SCHEMA_KEY, CURRENT_SCHEMA.to_string().as_bytes())?;
    Ok(())
}

/// Upgrades a file of `from` (< [`CURRENT_SCHEMA`]) to the current schema, step by step.
pub(crate) fn migrate(txn: &WriteTransaction, from: u32) -> Result<(), redb::Error> {
    let mut version = from;
    while version < CURRENT_SCHEMA {
        // 1 → 2: the `status` and `live` tables appear. (Version 0 never existed on
        // disk; a file without a version gets every table from `create_current`.)
        if version == 1 {
            txn.open_table(STATUS)?;
            txn.open_table(LIVE)?;
        }
        // 2 → 3: the `parked` table appears.
        if version == 2 {
            txn.open_table(PARKED)?;
        }
        version += 1;
    }
    create_current(txn)
}
