//! The read path: newest samples, sample ranges with paging, and slot rollups, each
//! merging what is in the file with what waits in the writer's memory (or, for a
//! read-only store, with the `live` table the writer keeps).
//!
//! Every value is copied out of redb's guards immediately; no guard outlives the loop
//! that read it, and none is held across a write.

use std::path::Path;

use redb::{ReadOnlyTable, ReadTransaction, ReadableTable, TableDefinition, TableError};

use super::block;
use super::schema::{LIVE, SLOTS, STATUS, TELEMETRY};
use super::writer::decode_live;
use super::{SamplePage, Store, StoreError, rollup};
use crate::model::{MinerStatus, Sample, SlotRollup};

/// Opens a table in a read transaction; `None` if the file has no such table yet (a new
/// or older-schema file).
pub(super) fn open_table<K: redb::Key + 'static, V: redb::Value + 'static>(
    path: &Path,
    txn: &ReadTransaction,
    definition: TableDefinition<K, V>,
) -> Result<Option<ReadOnlyTable<K, V>>, StoreError> {
    match txn.open_table(definition) {
        Ok(table) => Ok(Some(table)),
        Err(TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(StoreError::db(path, "opening a table", e)),
    }
}

/// What memory (or the `live` and `parked` tables) adds to `telemetry` for one miner's
/// samples: parked blocks, full blocks not yet committed, and the open block.
#[derive(Default)]
struct Overlay {
    sealed: Vec<(u64, Vec<u8>)>,
    open: Vec<u8>,
}

impl Store {
    /// The newest sample of `miner_id`, committed or not.
    pub fn latest(&self, miner_id: u32) -> Result<Option<Sample>, StoreError> {
        Ok(self.fleet_latest(&[miner_id], 0)?.pop().flatten())
    }

    /// The newest sample of each miner in `ids` (same order), `None` where the miner has
    /// none at or after `cutoff_ms`. One read transaction and at most one reverse step per
    /// miner; the daemon's store answers from memory for every miner it has seen.
    pub fn fleet_latest(
        &self,
        ids: &[u32],
        cutoff_ms: u64,
    ) -> Result<Vec<Option<Sample>>, StoreError> {
        let mut out: Vec<Option<Option<Sample>>> = vec![None; ids.len()];
        let mut txn = None;
        if let Some(state) = &self.state {
            let state = state.lock().unwrap_or_else(|p| p.into_inner());
            for (slot, id) in out.iter_mut().zip(ids) {
                if let Some(last) = state.miners.get(id).and_then(|m| m.last.as_ref()) {
                    *slot = Some(Some(last.clone()));
                }
            }
            if out.iter().any(Option::is_none) {
                // Taken under the lock so the snapshot matches memory.
                txn = Some(self.begin_read()?);
            }
        }
        if out.iter().any(Option::is_none) {
            let txn = match txn {
                Some(txn) => txn,
                None => self.begin_read()?,
            };
            let live = open_table(&self.path, &txn, LIVE)?;
            for (slot, id) in out.iter_mut().zip(ids) {
                if slot.is_some() {
                    continue;
                }
                let mut newest = None;
                if self.state.is_none() {
                    if let Some(live) = &live {
                        newest = self.live_last(live, *id)?;
                    }
                    if newest.is_none()
                        && let Some((_, first_ts, bytes)) = self.read_parked(&txn, Some(*id))?.pop()
                    {
                        newest = block::decode_last(&bytes, *id)
                            .map_err(|e| self.corrupt(format!("parked/({first_ts}, {id})"), e))?;
                    }
                }
                if newest.is_none() {
                    newest = self.last_sealed_sample(&txn, *id)?;
                }
                *slot = Some(newest);
            }
        }
        Ok(out
            .into_iter()
            .map(|s| s.flatten().filter(|s| s.ts_ms >= cutoff_ms))
            .collect())
    }

    fn live_last(
        &self,
        live: &ReadOnlyTable<u32, &'static [u8]>,
        id: u32,
    ) -> Result<Option<Sample>, StoreError> {
        let row = ReadableTable::get(live, id)
            .map_err(|e| StoreError::db(&self.path, "reading a live row", e))?
            .map(|guard| guard.value().to_vec());
        let Some(row) = row else { return Ok(None) };
        let (open, _) = decode_live(&row, id).map_err(|e| self.corrupt(format!("live/{id}"), e))?;
        block::decode_last(open.bytes(), id).map_err(|e| self.corrupt(format!("live/{id}"), e))
    }

    /// Takes a read snapshot and the matching overlay of `miner_id`.
    fn snapshot(&self, miner_id: u32) -> Result<(ReadTransaction, Overlay), StoreError> {
        let mut overlay = Overlay::default();
        if let Some(state) = &self.state {
            let state = state.lock().unwrap_or_else(|p| p.into_inner());
            for (id, first_ts, bytes) in state.parked.iter().chain(&state.sealed) {
                if *id == miner_id {
                    overlay.sealed.push((*first_ts, bytes.clone()));
                }
            }
            if let Some(miner) = state.miners.get(&miner_id) {
                overlay.open = miner.block.bytes().to_vec();
            }
            let txn = self.begin_read()?;
            return Ok((txn, overlay));
        }
        let txn = self.begin_read()?;
        for (_, first_ts, bytes) in self.read_parked(&txn, Some(miner_id))? {
            overlay.sealed.push((first_ts, bytes));
        }
        if let Some(live) = open_table(&self.path, &txn, LIVE)? {
            let row = ReadableTable::get(&live, miner_id)
                .map_err(|e| StoreError::db(&self.path, "reading a live row", e))?
                .map(|guard| guard.value().to_vec());
            if let Some(row) = row {
                let (open, _) = decode_live(&row, miner_id)
                    .map_err(|e| self.corrupt(format!("live/{miner_id}"), e))?;
                overlay.open = open.bytes().to_vec();
            }
        }
        Ok((txn, overlay))
    }

    /// Samples of `miner_id` with `from_ms <= ts < to_ms`, oldest first, at most `limit`
    /// (at least 1) per page. With `cursor` (the previous page's `next_cursor`) the page
    /// starts strictly after that timestamp, so paging visits every sample exactly once.
    pub fn range(
        &self,
        miner_id: u32,
        from_ms: u64,
        to_ms: u64,
        limit: usize,
        cursor: Option<u64>,
    ) -> Result<SamplePage, StoreError> {
        let limit = limit.max(1);
        let start = match cursor {
            Some(after) => from_ms.max(after.saturating_add(1)),
            None => from_ms,
        };
        let mut samples = Vec::new();
        if start >= to_ms {
            return Ok(SamplePage::default());
        }
        let (txn, overlay) = self.snapshot(miner_id)?;
        // Sample is large: size the page once from the poll interval (a day at 10 s is
        // 8 640 samples) rather than from `limit`, which is often "everything".
        let poll_ms = (self.options.poll_interval.as_millis() as u64).max(1);
        let expected = ((to_ms - start) / poll_ms).saturating_add(2);
        samples.reserve((limit as u64).min(expected).min(16_384) as usize + 1);
        let place = |ts: u64| format!("telemetry/({miner_id}, {ts})");
        if let Some(table) = open_table(&self.path, &txn, TELEMETRY)? {
            let fail = |e: redb::StorageError| StoreError::db(&self.path, "reading samples", e);
            // The block that may straddle `start`: one reverse step.
            let first = ReadableTable::range(&table, (miner_id, 0u64)..=(miner_id, start))
                .map_err(fail)?
                .next_back()
                .transpose()
                .map_err(fail)?
                .map(|(k, v)| (k.value().1, v.value().to_vec()));
            if let Some((ts, bytes)) = first {
                block::decode_range(&bytes, miner_id, start, to_ms, &mut samples)
                    .map_err(|e| self.corrupt(place(ts), e))?;
            }
            if start < u64::MAX {
                for entry in ReadableTable::range(&table, (miner_id, start + 1)..(miner_id, to_ms))
                    .map_err(fail)?
                {
                    if samples.len() > limit {
                        break;
                    }
                    let (key, value) = entry.map_err(fail)?;
                    let ts = key.value().1;
                    block::decode_range(value.value(), miner_id, start, to_ms, &mut samples)
                        .map_err(|e| self.corrupt(place(ts), e))?;
                }
            }
        }
        drop(txn);
        for (ts, bytes) in overlay.sealed.iter() {
            if samples.len() > limit {
                break;
            }
            block::decode_range(bytes, miner_id, start, to_ms, &mut samples)
                .map_err(|e| self.corrupt(format!("memory block ({miner_id}, {ts})"), e))?;
        }
        if samples.len() <= limit && !overlay.open.is_empty() {
            block::decode_range(&overlay.open, miner_id, start, to_ms, &mut samples)
                .map_err(|e| self.corrupt(format!("live/{miner_id}"), e))?;
        }
        let next_cursor = if samples.len() > limit {
            samples.truncate(limit);
            samples.last().map(|s| s.ts_ms)
        } else {
            None
        };
        Ok(SamplePage {
            samples,
            next_cursor,
        })
    }

    /// Slot rollups with `from_s <= slot_start_s < to_s`, of one miner or (with `None`)
    /// of every known miner, ordered by miner then slot. Includes the current, still
    /// growing slot of each miner.
    pub fn slots(
        &self,
        miner_id: Option<u32>,
        from_s: u64,
        to_s: u64,
    ) -> Result<Vec<SlotRollup>, StoreError> {
        let ids = match miner_id {
            Some(id) => vec![id],
            None => self.all_ids()?,
        };
        // One snapshot for all miners: memory's unwritten rollups and a read transaction
        // taken under the same lock.
        let mut pending: Vec<SlotRollup> = Vec::new();
        let txn = match &self.state {
            Some(state) => {
                let state = state.lock().unwrap_or_else(|p| p.into_inner());
                pending.extend(state.closed_slots.iter().cloned());
                pending.extend(state.miners.values().filter_map(|m| m.slot.clone()));
                self.begin_read()?
            }
            None => {
                let txn = self.begin_read()?;
                if let Some(live) = open_table(&self.path, &txn, LIVE)? {
                    for id in &ids {
                        let row = ReadableTable::get(&live, *id)
                            .map_err(|e| StoreError::db(&self.path, "reading a live row", e))?
                            .map(|guard| guard.value().to_vec());
                        if let Some(row) = row {
                            let (_, slot) = decode_live(&row, *id)
                                .map_err(|e| self.corrupt(format!("live/{id}"), e))?;
                            pending.extend(slot);
                        }
                    }
                }
                txn
            }
        };
        pending.retain(|s| s.slot_start_s >= from_s && s.slot_start_s < to_s);
        let table = open_table(&self.path, &txn, SLOTS)?;
        let fail = |e: redb::StorageError| StoreError::db(&self.path, "reading slots", e);
        let mut out = Vec::new();
        for (n, &id) in ids.iter().enumerate() {
            // This miner's run is the tail of `out`, sorted by slot start.
            let first = out.len();
            if let Some(table) = &table {
                for entry in ReadableTable::range(table, (id, from_s)..(id, to_s)).map_err(fail)? {
                    let (key, value) = entry.map_err(fail)?;
                    let start = key.value().1;
                    let slot = rollup::from_bytes(value.value(), id, start)
                        .map_err(|e| self.corrupt(format!("slots/({id}, {start})"), e))?;
                    out.push(slot);
                }
            }
            for slot in pending.iter().filter(|s| s.miner_id == id) {
                overlay(&mut out, first, slot);
            }
            if n == 0 {
                // The other miners' runs are about as long: grow once, not by doubling.
                out.reserve((out.len() - first) * (ids.len() - 1));
            }
        }
        Ok(out)
    }

    /// Every miner id the store knows: the `miners` table plus any id with data in memory
    /// or in `live`.
    pub(super) fn all_ids(&self) -> Result<Vec<u32>, StoreError> {
        let txn = self.begin_read()?;
        let mut ids = self.known_ids(&txn)?;
        if let Some(state) = &self.state {
            let state = state.lock().unwrap_or_else(|p| p.into_inner());
            ids.extend(state.miners.keys());
        } else if let Some(live) = open_table(&self.path, &txn, LIVE)? {
            let fail = |e: redb::StorageError| StoreError::db(&self.path, "listing live rows", e);
            for entry in ReadableTable::iter(&live).map_err(fail)? {
                ids.push(entry.map_err(fail)?.0.value());
            }
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    /// The statuses stored in the file.
    pub(super) fn read_statuses(
        &self,
        txn: &ReadTransaction,
    ) -> Result<Vec<(u32, MinerStatus)>, StoreError> {
        let Some(table) = open_table(&self.path, txn, STATUS)? else {
            return Ok(Vec::new());
        };
        let fail = |e: redb::StorageError| StoreError::db(&self.path, "reading statuses", e);
        let mut raw = Vec::new();
        for entry in ReadableTable::iter(&table).map_err(fail)? {
            let (id, json) = entry.map_err(fail)?;
            raw.push((id.value(), json.value().to_vec()));
        }
        let mut out = Vec::with_capacity(raw.len());
        for (id, json) in raw {
            match serde_json::from_slice(&json) {
                Ok(status) => out.push((id, status)),
                Err(e) => log::warn!(
                    "{}: skipping unreadable status of miner {id}: {e}",
                    self.path.display()
                ),
            }
        }
        Ok(out)
    }

    /// The latest status of every miner that has one, by id.
    pub fn statuses(&self) -> Result<Vec<(u32, MinerStatus)>, StoreError> {
        if let Some(state) = &self.state {
            let state = state.lock().unwrap_or_else(|p| p.into_inner());
            return Ok(state
                .statuses
                .iter()
                .map(|(id, s)| (*id, s.clone()))
                .collect());
        }
        let txn = self.begin_read()?;
        self.read_statuses(&txn)
    }
}

/// Puts an unwritten rollup from memory into `out[first..]` (one miner's stored rollups,
/// sorted by slot start), replacing the stored rollup of the same slot: memory is newer.
/// A plain sorted vector: a map per miner cost more than reading the rollups.
fn overlay(out: &mut Vec<SlotRollup>, first: usize, slot: &SlotRollup) {
    match out[first..].binary_search_by_key(&slot.slot_start_s, |s| s.slot_start_s) {
        Ok(i) => out[first + i] = slot.clone(),
        Err(i) => out.insert(first + i, slot.clone()),
    }
}
