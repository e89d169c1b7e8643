//! The telemetry store: one redb file holding every miner's samples, per-slot rollups,
//! electricity prices, the audit log and each miner's descriptive status.
//!
//! # Layout
//! Tables and versions are described in `schema.rs`; the block format and its quantisation
//! in `block.rs`; slot rollups in `rollup.rs`. In short: samples of one miner are packed
//! into delta-encoded blocks of up to [`BLOCK_SAMPLES`] samples. Each miner's newest
//! (open) block and current slot rollup live in the small `live` table; when a block is
//! full it is parked in `parked` under `(first_ts_ms, miner_id)` and, [`PARK_BLOCKS`] per
//! miner at a time, moves to `telemetry` under `(miner_id, first_ts_ms)`; when a slot ends its
//! rollup moves to `slots` under `(miner_id, slot_start_s)`.
//!
//! # Writes, durability and the crash-loss window
//! [`Store::append_cycle`] takes a whole fleet's cycle. The samples go to memory at once
//! (every reader of this `Store` sees them immediately) and are committed to the file in
//! one write transaction when [`StoreOptions::commit_interval`] (default 30 s) has passed
//! since the last commit. Every commit is durable (`Durability::Immediate`, two-phase):
//! the daemon opens the file in redb's `SingleWriter` mode so `hmm status` can read it from
//! another process, and redb refuses non-durable commits in that mode because they would
//! exist only in the writer's memory. The interval, not cheaper commits, is what spares
//! the flash.
//!
//! **Crash-loss window**: when `append_cycle` returns at time `T`, every sample appended
//! at or before `T - commit_interval` is on disk. A crash (power cut, SIGKILL) loses at
//! most the samples appended within the last `commit_interval` before the crash, plus, if
//! no cycle arrives for a while, whatever waits since the last cycle (commits are driven
//! by `append_cycle`; the daemon calls [`Store::flush`] on shutdown and `Drop` flushes
//! too). Statuses from [`Store::put_statuses`] ride on the same commits. Prices, audit
//! records, miner ids and retention commit immediately. The file always opens cleanly.
//!
//! # Reads
//! Reads copy values out of redb's guards at once and never hold a read guard across a
//! write. The newest sample of each miner is kept in memory, so [`Store::latest`] and
//! [`Store::fleet_latest`] of the daemon's store need no file access; for a miner not in
//! memory and in a read-only store they are one `live` lookup plus at most one reverse
//! step per miner, all in one read transaction.
//!
//! # Other processes
//! [`Store::open_read_only`] opens the file while the daemon writes it (redb
//! `ConcurrencyMode::SingleWriter` on both sides) and sees the daemon's commits, i.e. data
//! up to one commit interval old.

mod block;
mod codec;
mod error;
mod reader;
mod records;
mod retention;
pub(crate) mod rollup;
mod schema;
mod writer;

pub use error::StoreError;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use redb::{
    Builder, ConcurrencyMode, Database, DatabaseError, ReadOnlyDatabase, ReadTransaction,
    ReadableDatabase, ReadableTable,
};

use crate::model::Sample;
use schema::{CURRENT_SCHEMA, META, SCHEMA_KEY};
use writer::WriterState;

/// Samples per sealed block. 32 keeps the open block small (it is rewritten on every
/// commit) while one block is still a few hundred bytes, so the file stays under 40 bytes
/// per sample and one day of one miner is about 270 blocks.
pub const BLOCK_SAMPLES: u32 = 32;

/// Full blocks of one miner that wait in the `parked` table before they move to
/// `telemetry` together. Parking writes a commit's new blocks of the whole fleet into a
/// few adjacent leaves (the table is keyed by time); moving 8 blocks of a miner at once
/// rewrites that miner's `telemetry` leaf once instead of 8 times. At 10 s polls and 100
/// miners this took disk writes from about 630 to well under the 500 bytes per sample
/// budget, and keeps at most 8 × 100 blocks (~400 KB) in memory.
pub const PARK_BLOCKS: usize = 8;

/// redb page cache. Small on purpose: redb moves every page a commit writes into this
/// cache, so over days of uptime it fills to its limit whatever is read; at 16 MB it alone
/// would have taken the daemon past its 32 MB budget. The hot data (newest samples, open
/// slots) is in memory anyway, and `hmm bench` measured the same range and daily-cost
/// times at 4 MB as at 16 MB (pages missing here come from the kernel's page cache), with
/// the bench's own peak RSS down from 34 to 22 MB.
const CACHE_BYTES: usize = 4 << 20;

/// Most keys deleted in one retention transaction.
const RETENTION_BATCH: usize = 1000;

/// Settings of a store; the field names match the config file (`commit_interval`,
/// `poll_interval`, `[retention] raw`, `slots`).
#[derive(Debug, Clone, PartialEq)]
pub struct StoreOptions {
    /// How long new samples may wait in memory before a commit. Bounds the crash-loss
    /// window and sets the disk write rate (default 30 s).
    pub commit_interval: Duration,
    /// The fleet's poll interval; energy and uptime intervals are capped at twice this.
    pub poll_interval: Duration,
    /// How long raw samples are kept (default 7 days).
    pub retention_raw: Duration,
    /// How long slot rollups are kept (default 400 days).
    pub retention_slots: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            commit_interval: Duration::from_secs(30),
            poll_interval: Duration::from_secs(10),
            retention_raw: Duration::from_secs(7 * 86_400),
            retention_slots: Duration::from_secs(400 * 86_400),
        }
    }
}

/// One page of [`Store::range`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SamplePage {
    /// Samples in time order.
    pub samples: Vec<Sample>,
    /// Pass this as `cursor` to get the next page; `None` when the range is exhausted.
    pub next_cursor: Option<u64>,
}

/// The redb handle: read-write for the daemon, read-only for other processes.
enum Handle {
    Write(Database),
    Read(ReadOnlyDatabase),
}

/// The telemetry store. `Send + Sync`; share it as `Arc<Store>`.
pub struct Store {
    path: PathBuf,
    handle: Handle,
    options: StoreOptions,
    /// In-memory newest data of a writable store; `None` when read-only.
    state: Option<Mutex<WriterState>>,
}

fn builder() -> Builder {
    let mut builder = Builder::new();
    builder
        .set_concurrency_mode(ConcurrencyMode::SingleWriter)
        .set_cache_size(CACHE_BYTES);
    builder
}

fn open_error(path: &Path, error: DatabaseError) -> StoreError {
    match error {
        DatabaseError::DatabaseAlreadyOpen => StoreError::Locked {
            path: path.to_path_buf(),
        },
        DatabaseError::RepairAborted => StoreError::NeedsRecovery {
            path: path.to_path_buf(),
        },
        other => StoreError::Open {
            path: path.to_path_buf(),
            detail: other.to_string(),
        },
    }
}

/// Reads the schema version of a snapshot; `None` for a file without `meta`.
fn read_version(path: &Path, txn: &ReadTransaction) -> Result<Option<u32>, StoreError> {
    let meta = match txn.open_table(META) {
        Ok(table) => table,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(StoreError::db(path, "reading the schema version", e)),
    };
    let raw = meta
        .get(SCHEMA_KEY)
        .map_err(|e| StoreError::db(path, "reading the schema version", e))?
        .map(|guard| guard.value().to_vec());
    match raw {
        None => Ok(None),
        Some(raw) => schema::parse_version(&raw)
            .map(Some)
            .ok_or(StoreError::Corrupt {
                path: path.to_path_buf(),
                place: format!("meta/{SCHEMA_KEY}"),
                detail: "not a number",
            }),
    }
}

/// Files smaller than this are never compacted on open.
const COMPACT_MIN_FILE: u64 = 16 << 20;

/// Compacts the file on open when more than a third of it is free pages (redb grows files
/// ahead of need and reuses freed pages but never shrinks by itself). Only at open, where
/// no transaction is live; a failure is logged and the store opens anyway.
fn compact_if_sparse(path: &Path, db: &mut Database) {
    let file_len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if file_len < COMPACT_MIN_FILE {
        return;
    }
    let used = db.begin_write().ok().and_then(|txn| {
        let stats = txn.stats().ok()?;
        let used = stats.allocated_pages() * stats.page_size() as u64;
        txn.abort().ok()?;
        Some(used)
    });
    let Some(used) = used else { return };
    if used.saturating_mul(3) >= file_len.saturating_mul(2) {
        return;
    }
    log::info!(
        "{}: compacting ({} MB used of {} MB)",
        path.display(),
        used >> 20,
        file_len >> 20
    );
    loop {
        match db.compact() {
            Ok(true) => continue,
            Ok(false) => break,
            Err(e) => {
                log::warn!("{}: compaction stopped: {e}", path.display());
                break;
            }
        }
    }
}

fn refuse_newer(path: &Path, version: Option<u32>) -> Result<(), StoreError> {
    match version {
        Some(found) if found > CURRENT_SCHEMA => Err(StoreError::NewerSchema {
            path: path.to_path_buf(),
            found,
            supported: CURRENT_SCHEMA,
        }),
        _ => Ok(()),
    }
}

impl Store {
    /// Opens (creating if needed) the store for writing, migrating an older schema. Only
    /// one process may do this at a time; others use [`Store::open_read_only`].
    pub fn open(path: &Path, options: StoreOptions) -> Result<Store, StoreError> {
        Self::refuse_newer_file_untouched(path)?;
        let mut db = builder().create(path).map_err(|e| open_error(path, e))?;
        Self::init_schema(path, &db)?;
        compact_if_sparse(path, &mut db);
        let mut store = Store {
            path: path.to_path_buf(),
            handle: Handle::Write(db),
            options,
            state: None,
        };
        let state = store.load_writer_state()?;
        store.state = Some(Mutex::new(state));
        Ok(store)
    }

    /// Before a writable open can touch the file, peeks at its version read-only so a
    /// newer file is refused without being modified.
    fn refuse_newer_file_untouched(path: &Path) -> Result<(), StoreError> {
        let exists = std::fs::metadata(path)
            .map(|m| m.len() > 0)
            .unwrap_or(false);
        if !exists {
            return Ok(());
        }
        match builder().open_read_only(path) {
            Ok(db) => {
                let txn = db
                    .begin_read()
                    .map_err(|e| StoreError::db(path, "reading the schema version", e))?;
                refuse_newer(path, read_version(path, &txn)?)
            }
            // A file needing recovery can only be checked by the writable open below.
            Err(DatabaseError::RepairAborted) => Ok(()),
            Err(e) => Err(open_error(path, e)),
        }
    }

    fn init_schema(path: &Path, db: &Database) -> Result<(), StoreError> {
        let version = {
            let txn = db
                .begin_read()
                .map_err(|e| StoreError::db(path, "reading the schema version", e))?;
            read_version(path, &txn)?
        };
        refuse_newer(path, version)?;
        if version == Some(CURRENT_SCHEMA) {
            return Ok(());
        }
        let txn = db
            .begin_write()
            .map_err(|e| StoreError::db(path, "creating the tables", e))?;
        let result = match version {
            None => schema::create_current(&txn),
            Some(old) => {
                log::info!(
                    "{}: upgrading store schema {old} -> {CURRENT_SCHEMA}",
                    path.display()
                );
                schema::migrate(&txn, old)
            }
        };
        result.map_err(|e| StoreError::db(path, "creating or migrating the tables", e))?;
        txn.commit()
            .map_err(|e| StoreError::db(path, "committing the schema", e))
    }

    /// Opens the store for reading only, e.g. for `hmm status` while the daemon writes it.
    /// Sees what the daemon has committed (at most one commit interval behind).
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        if !path.exists() {
            return Err(StoreError::Open {
                path: path.to_path_buf(),
                detail: "no such file (has the daemon run yet?)".to_string(),
            });
        }
        let db = builder()
            .open_read_only(path)
            .map_err(|e| open_error(path, e))?;
        {
            let txn = db
                .begin_read()
                .map_err(|e| StoreError::db(path, "reading the schema version", e))?;
            refuse_newer(path, read_version(path, &txn)?)?;
        }
        Ok(Store {
            path: path.to_path_buf(),
            handle: Handle::Read(db),
            options: StoreOptions::default(),
            state: None,
        })
    }

    /// Size of the store file in bytes.
    pub fn file_size(&self) -> u64 {
        std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0)
    }

    /// The store file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Pages of the file in use by tables (as opposed to free pages awaiting reuse), in
    /// bytes; `None` for a read-only store. For `hmm bench`.
    pub(crate) fn used_bytes(&self) -> Option<u64> {
        let Handle::Write(db) = &self.handle else {
            return None;
        };
        let txn = db.begin_write().ok()?;
        let stats = txn.stats().ok()?;
        let used = stats.allocated_pages() * stats.page_size() as u64;
        txn.abort().ok()?;
        Some(used)
    }

    fn begin_read(&self) -> Result<ReadTransaction, StoreError> {
        let result = match &self.handle {
            Handle::Write(db) => db.begin_read(),
            Handle::Read(db) => db.begin_read(),
        };
        result.map_err(|e| StoreError::db(&self.path, "starting a read", e))
    }

    fn writable(&self, operation: &'static str) -> Result<&Database, StoreError> {
        match &self.handle {
            Handle::Write(db) => Ok(db),
            Handle::Read(_) => Err(StoreError::ReadOnly {
                path: self.path.clone(),
                operation,
            }),
        }
    }

    fn corrupt(&self, place: String, error: codec::DecodeError) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            place,
            detail: error.0,
        }
    }

    /// Ids of every miner in the `miners` table.
    fn known_ids(&self, txn: &ReadTransaction) -> Result<Vec<u32>, StoreError> {
        let Some(table) = reader::open_table(&self.path, txn, schema::MINERS)? else {
            return Ok(Vec::new());
        };
        let mut ids = Vec::new();
        for entry in table
            .iter()
            .map_err(|e| StoreError::db(&self.path, "listing miners", e))?
        {
            let (_, id) = entry.map_err(|e| StoreError::db(&self.path, "listing miners", e))?;
            ids.push(id.value());
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if self.state.is_some()
            && let Err(e) = self.flush()
        {
            log::error!("closing the store: {e}");
        }
    }
}
