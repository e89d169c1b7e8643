//! Retention: raw samples older than `retention_raw` and slot rollups older than
//! `retention_slots` are deleted in transactions of at most `RETENTION_BATCH` keys, so a
//! long-overdue clean-up never becomes one giant transaction (and never blocks the
//! writer's commits for long).
//!
//! A block is deleted when its newest sample is older than the cutoff; the one block
//! straddling the cutoff is kept whole until it is entirely old. A slot is deleted when it
//! ended before the cutoff. The daemon calls [`Store::apply_retention`] about hourly.

use redb::{ReadableTable, TableDefinition};

use super::block;
use super::reader::open_table;
use super::schema::{SLOTS, TELEMETRY};
use super::{RETENTION_BATCH, Store, StoreError};
use crate::ukclock::SLOT_S;

impl Store {
    /// Deletes data older than the retention settings, as of `now_ms`.
    pub fn apply_retention(&self, now_ms: u64) -> Result<(), StoreError> {
        self.writable("apply_retention")?;
        // Parked blocks may be old too (a test's short retention): give them to `telemetry`.
        self.flush_and_unpark()?;
        let raw_cutoff_ms = now_ms.saturating_sub(self.options.retention_raw.as_millis() as u64);
        let slot_cutoff_s = (now_ms / 1000).saturating_sub(self.options.retention_slots.as_secs());
        for id in self.all_ids()? {
            if let Some(end) = self.old_blocks_end(id, raw_cutoff_ms)? {
                self.delete_batched(TELEMETRY, id, end)?;
            }
            if slot_cutoff_s >= SLOT_S {
                // Slots starting at or before cutoff - 1800 have ended by the cutoff.
                self.delete_batched(SLOTS, id, slot_cutoff_s - SLOT_S + 1)?;
            }
        }
        Ok(())
    }

    /// The exclusive end key of `miner_id`'s blocks that hold only samples older than
    /// `cutoff_ms`.
    fn old_blocks_end(&self, miner_id: u32, cutoff_ms: u64) -> Result<Option<u64>, StoreError> {
        let txn = self.begin_read()?;
        let Some(table) = open_table(&self.path, &txn, TELEMETRY)? else {
            return Ok(None);
        };
        let fail = |e: redb::StorageError| StoreError::db(&self.path, "finding old blocks", e);
        let newest_old = ReadableTable::range(&table, (miner_id, 0u64)..(miner_id, cutoff_ms))
            .map_err(fail)?
            .next_back()
            .transpose()
            .map_err(fail)?
            .map(|(key, value)| (key.value().1, value.value().to_vec()));
        let Some((first_ts, bytes)) = newest_old else {
            return Ok(None);
        };
        let last = block::decode_last(&bytes, miner_id)
            .map_err(|e| self.corrupt(format!("telemetry/({miner_id}, {first_ts})"), e))?;
        let entirely_old = last.is_some_and(|s| s.ts_ms < cutoff_ms);
        Ok(Some(if entirely_old { first_ts + 1 } else { first_ts }))
    }

    /// Deletes keys `(miner_id, 0)..(miner_id, end)` of `table`, at most
    /// `RETENTION_BATCH` per durable transaction.
    fn delete_batched(
        &self,
        table: TableDefinition<(u32, u64), &[u8]>,
        miner_id: u32,
        end: u64,
    ) -> Result<(), StoreError> {
        let db = self.writable("apply_retention")?;
        let fail = |e: redb::Error| StoreError::db(&self.path, "deleting old data", e);
        loop {
            let keys: Vec<(u32, u64)> = {
                let txn = self.begin_read()?;
                let Some(read) = open_table(&self.path, &txn, table)? else {
                    return Ok(());
                };
                let mut keys = Vec::new();
                for entry in ReadableTable::range(&read, (miner_id, 0u64)..(miner_id, end))
                    .map_err(|e| fail(e.into()))?
                    .take(RETENTION_BATCH)
                {
                    keys.push(entry.map_err(|e| fail(e.into()))?.0.value());
                }
                keys
            };
            if keys.is_empty() {
                return Ok(());
            }
            let txn = db.begin_write().map_err(|e| fail(e.into()))?;
            {
                let mut write = txn.open_table(table).map_err(|e| fail(e.into()))?;
                for key in &keys {
                    write.remove(*key).map_err(|e| fail(e.into()))?;
                }
            }
            txn.commit().map_err(|e| fail(e.into()))?;
            if keys.len() < RETENTION_BATCH {
                return Ok(());
            }
        }
    }
}
