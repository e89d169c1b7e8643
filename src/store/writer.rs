//! The write path: the daemon's in-memory newest data per miner, how a cycle of samples
//! updates it, and the commit that moves it into the file.
//!
//! Everything a cycle changes is first applied to [`WriterState`] under one mutex, so every
//! reader of the same `Store` sees it at once. A commit (every `commit_interval`, or on
//! [`Store::flush`]) writes, in ONE durable write transaction: the `live` row of every
//! miner that changed, blocks that became full (to `parked`, and every
//! [`PARK_BLOCKS`] blocks of a miner all parked blocks to `telemetry`), slot rollups of slots
//! that ended (to `slots`) and changed statuses (to `status`). The mutex is held during the
//! commit so readers never see data twice or not at all.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use redb::{ReadTransaction, ReadableTable};

use super::block::{self, BlockWriter};
use super::codec::{DecodeError, Reader, put_varint};
use super::reader::open_table;
use super::schema::{LIVE, PARKED, SLOTS, STATUS, TELEMETRY};
use super::{BLOCK_SAMPLES, PARK_BLOCKS, Store, StoreError, rollup};
use crate::model::{MinerStatus, Sample, SlotRollup};
use crate::ukclock;

/// Format byte of a `live` row.
const LIVE_FORMAT: u8 = 1;

/// The newest data of one miner, kept in memory by the writer.
#[derive(Debug, Clone, Default)]
pub(super) struct MinerLive {
    /// The open block (not yet in `telemetry`).
    pub(super) block: BlockWriter,
    /// The newest sample (the predecessor for integration), from memory or the file.
    pub(super) last: Option<Sample>,
    /// The current slot's rollup.
    pub(super) slot: Option<SlotRollup>,
}

/// What the writer holds in memory between commits.
pub(super) struct WriterState {
    /// Per-miner newest data.
    pub(super) miners: HashMap<u32, MinerLive>,
    /// Full blocks waiting for the next commit: `(miner, first_ts, bytes)`.
    pub(super) sealed: Vec<(u32, u64, Vec<u8>)>,
    /// Full blocks committed to the `parked` table (a copy, so readers of this store need
    /// no file access for them), in the order they were sealed: `(miner, first_ts, bytes)`.
    pub(super) parked: Vec<(u32, u64, Vec<u8>)>,
    /// Finished slot rollups waiting for the next commit.
    pub(super) closed_slots: Vec<SlotRollup>,
    /// Latest status of every miner that has one.
    pub(super) statuses: BTreeMap<u32, MinerStatus>,
    /// Statuses changed since the last commit.
    dirty_statuses: BTreeSet<u32>,
    /// Miners whose `live` row changed since the last commit.
    dirty_live: BTreeSet<u32>,
    /// When the last commit finished.
    last_commit: Instant,
    /// Newest sample timestamp covered by the last commit (or the first sample seen).
    commit_mark_ts: Option<u64>,
    /// Newest sample timestamp appended.
    newest_ts: u64,
}

/// Encodes a `live` row: the open block and the current slot rollup.
pub(super) fn encode_live(block: &BlockWriter, slot: Option<&SlotRollup>) -> Vec<u8> {
    let mut out = Vec::with_capacity(block.bytes().len() + 48);
    out.push(LIVE_FORMAT);
    put_varint(&mut out, block.bytes().len() as u64);
    out.extend_from_slice(block.bytes());
    match slot {
        Some(slot) => {
            out.push(1);
            put_varint(&mut out, slot.slot_start_s);
            rollup::encode(slot, &mut out);
        }
        None => out.push(0),
    }
    out
}

/// Decodes a `live` row of `miner_id`.
pub(super) fn decode_live(
    bytes: &[u8],
    miner_id: u32,
) -> Result<(BlockWriter, Option<SlotRollup>), DecodeError> {
    let mut reader = Reader::new(bytes);
    if reader.byte()? != LIVE_FORMAT {
        return Err(DecodeError("unknown live row format byte"));
    }
    let len = usize::try_from(reader.varint()?).map_err(|_| DecodeError("length overflows"))?;
    let block = BlockWriter::resume(reader.take(len)?)?;
    let slot = match reader.byte()? {
        0 => None,
        _ => {
            let start = reader.varint()?;
            Some(rollup::decode(&mut reader, miner_id, start)?)
        }
    };
    Ok((block, slot))
}

impl Store {
    /// Loads every miner's open block, current slot and newest sample from the file.
    pub(super) fn load_writer_state(&self) -> Result<WriterState, StoreError> {
        let txn = self.begin_read()?;
        let mut ids = self.known_ids(&txn)?;
        let mut miners = HashMap::new();
        let mut live_rows: Vec<(u32, Vec<u8>)> = Vec::new();
        if let Some(live) = open_table(&self.path, &txn, LIVE)? {
            for entry in ReadableTable::iter(&live)
                .map_err(|e| StoreError::db(&self.path, "loading live rows", e))?
            {
                let (id, row) =
                    entry.map_err(|e| StoreError::db(&self.path, "loading live rows", e))?;
                live_rows.push((id.value(), row.value().to_vec()));
            }
        }
        for (id, row) in live_rows {
            let (block, slot) =
                decode_live(&row, id).map_err(|e| self.corrupt(format!("live/{id}"), e))?;
            let last = block::decode_last(block.bytes(), id)
                .map_err(|e| self.corrupt(format!("live/{id}"), e))?;
            miners.insert(id, MinerLive { block, last, slot });
            ids.push(id);
        }
        ids.sort_unstable();
        ids.dedup();
        let parked = self.read_parked(&txn, None)?;
        for (id, first_ts, bytes) in &parked {
            let entry = miners.entry(*id).or_default();
            if entry.block.is_empty() {
                // Parked blocks come in time order: the newest one wins.
                entry.last = block::decode_last(bytes, *id)
                    .map_err(|e| self.corrupt(format!("parked/({first_ts}, {id})"), e))?;
            }
        }
        for id in ids {
            let entry = miners.entry(id).or_default();
            if entry.last.is_none() {
                entry.last = self.last_sealed_sample(&txn, id)?;
            }
        }
        let statuses = self.read_statuses(&txn)?.into_iter().collect();
        Ok(WriterState {
            miners,
            sealed: Vec::new(),
            parked,
            closed_slots: Vec::new(),
            statuses,
            dirty_statuses: BTreeSet::new(),
            dirty_live: BTreeSet::new(),
            last_commit: Instant::now(),
            commit_mark_ts: None,
            newest_ts: 0,
        })
    }

    /// Blocks in the `parked` table (of one miner, or all), in time order:
    /// `(miner, first_ts, bytes)`. The table is small (at most [`PARK_BLOCKS`] blocks per
    /// miner), so a scan is cheap.
    pub(super) fn read_parked(
        &self,
        txn: &ReadTransaction,
        miner_id: Option<u32>,
    ) -> Result<Vec<(u32, u64, Vec<u8>)>, StoreError> {
        let Some(table) = open_table(&self.path, txn, PARKED)? else {
            return Ok(Vec::new());
        };
        let fail = |e: redb::StorageError| StoreError::db(&self.path, "reading parked blocks", e);
        let mut out = Vec::new();
        for entry in ReadableTable::iter(&table).map_err(fail)? {
            let (key, value) = entry.map_err(fail)?;
            let (first_ts, id) = key.value();
            if miner_id.is_none_or(|wanted| wanted == id) {
                out.push((id, first_ts, value.value().to_vec()));
            }
        }
        Ok(out)
    }

    /// The newest sample in `telemetry` for `miner_id`: one reverse step, one block.
    pub(super) fn last_sealed_sample(
        &self,
        txn: &ReadTransaction,
        miner_id: u32,
    ) -> Result<Option<Sample>, StoreError> {
        let Some(table) = open_table(&self.path, txn, TELEMETRY)? else {
            return Ok(None);
        };
        let newest = table
            .range((miner_id, 0u64)..=(miner_id, u64::MAX))
            .map_err(|e| StoreError::db(&self.path, "reading the newest block", e))?
            .next_back()
            .transpose()
            .map_err(|e| StoreError::db(&self.path, "reading the newest block", e))?
            .map(|(key, value)| (key.value().1, value.value().to_vec()));
        match newest {
            None => Ok(None),
            Some((first_ts, bytes)) => block::decode_last(&bytes, miner_id)
                .map_err(|e| self.corrupt(format!("telemetry/({miner_id}, {first_ts})"), e)),
        }
    }

    /// Adds one poll cycle of the whole fleet. Samples of a miner must come in time order;
    /// a sample not newer than the miner's newest stored one is ignored (a duplicate or a
    /// clock step back) and logged. Commits when `commit_interval` has passed since the
    /// last commit; otherwise the samples wait in memory (visible to every reader of this
    /// store).
    pub fn append_cycle(&self, samples: &[Sample]) -> Result<(), StoreError> {
        let state = self.state.as_ref().ok_or(StoreError::ReadOnly {
            path: self.path.clone(),
            operation: "append_cycle",
        })?;
        let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
        let max_gap_ms = 2 * self.options.poll_interval.as_millis() as u64;
        for sample in samples {
            state.add_sample(sample, max_gap_ms);
        }
        if state.commit_due(self.options.commit_interval) {
            self.commit(&mut state)?;
        }
        Ok(())
    }

    /// Commits everything waiting in memory, durably. The daemon calls this on shutdown;
    /// `Drop` does too.
    pub fn flush(&self) -> Result<(), StoreError> {
        let Some(state) = self.state.as_ref() else {
            return Ok(());
        };
        let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
        self.commit(&mut state)
    }

    /// Commits, moving every parked block to `telemetry` (retention then sees them).
    pub(super) fn flush_and_unpark(&self) -> Result<(), StoreError> {
        let Some(state) = self.state.as_ref() else {
            return Ok(());
        };
        let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
        self.commit_with(&mut state, true)
    }

    /// Records the descriptive status of miners. Readers of this store see it at once; it
    /// reaches the file with the next commit (see the module doc), so `hmm status` in
    /// another process sees it within one commit interval.
    pub fn put_statuses(&self, statuses: &[(u32, MinerStatus)]) -> Result<(), StoreError> {
        let state = self.state.as_ref().ok_or(StoreError::ReadOnly {
            path: self.path.clone(),
            operation: "put_statuses",
        })?;
        let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
        for (id, status) in statuses {
            if state.statuses.get(id) != Some(status) {
                state.statuses.insert(*id, status.clone());
                state.dirty_statuses.insert(*id);
            }
        }
        Ok(())
    }

    /// Writes everything waiting in `state` in one durable transaction.
    fn commit(&self, state: &mut WriterState) -> Result<(), StoreError> {
        self.commit_with(state, false)
    }

    /// [`Store::commit`]; with `unpark`, parked blocks move to `telemetry` even if no
    /// miner has [`PARK_BLOCKS`] of them yet.
    fn commit_with(&self, state: &mut WriterState, unpark: bool) -> Result<(), StoreError> {
        let unpark = (unpark && !(state.parked.is_empty() && state.sealed.is_empty()))
            || state.parking_full();
        if state.dirty_live.is_empty() && state.dirty_statuses.is_empty() && !unpark {
            state.last_commit = Instant::now();
            return Ok(());
        }
        let db = self.writable("commit")?;
        let fail = |e: redb::Error| StoreError::db(&self.path, "committing samples", e);
        let txn = db.begin_write().map_err(|e| fail(e.into()))?;
        {
            if unpark {
                let mut telemetry = txn.open_table(TELEMETRY).map_err(|e| fail(e.into()))?;
                // Sorted by key: each miner's leaf is visited once.
                let mut moving: Vec<&(u32, u64, Vec<u8>)> =
                    state.parked.iter().chain(&state.sealed).collect();
                moving.sort_unstable_by_key(|(id, first_ts, _)| (*id, *first_ts));
                for (id, first_ts, bytes) in moving {
                    telemetry
                        .insert((*id, *first_ts), bytes.as_slice())
                        .map_err(|e| fail(e.into()))?;
                }
                drop(telemetry);
                // Dropping the table frees its pages without rewriting them.
                txn.delete_table(PARKED).map_err(|e| fail(e.into()))?;
                txn.open_table(PARKED).map_err(|e| fail(e.into()))?;
            } else if !state.sealed.is_empty() {
                let mut parked = txn.open_table(PARKED).map_err(|e| fail(e.into()))?;
                for (id, first_ts, bytes) in &state.sealed {
                    parked
                        .insert((*first_ts, *id), bytes.as_slice())
                        .map_err(|e| fail(e.into()))?;
                }
            }
            let mut slots = txn.open_table(SLOTS).map_err(|e| fail(e.into()))?;
            let mut encoded = Vec::with_capacity(48);
            for slot in &state.closed_slots {
                encoded.clear();
                rollup::encode(slot, &mut encoded);
                slots
                    .insert((slot.miner_id, slot.slot_start_s), encoded.as_slice())
                    .map_err(|e| fail(e.into()))?;
            }
            let mut live = txn.open_table(LIVE).map_err(|e| fail(e.into()))?;
            for id in &state.dirty_live {
                let miner = &state.miners[id];
                let row = encode_live(&miner.block, miner.slot.as_ref());
                live.insert(*id, row.as_slice())
                    .map_err(|e| fail(e.into()))?;
            }
            let mut status = txn.open_table(STATUS).map_err(|e| fail(e.into()))?;
            for id in &state.dirty_statuses {
                let json = serde_json::to_vec(&state.statuses[id]).expect("status serialises");
                status
                    .insert(*id, json.as_slice())
                    .map_err(|e| fail(e.into()))?;
            }
        }
        txn.commit().map_err(|e| fail(e.into()))?;
        if unpark {
            state.parked.clear();
            state.sealed.clear();
        } else {
            let sealed = std::mem::take(&mut state.sealed);
            state.parked.extend(sealed);
        }
        state.closed_slots.clear();
        state.dirty_live.clear();
        state.dirty_statuses.clear();
        state.last_commit = Instant::now();
        state.commit_mark_ts = Some(state.newest_ts);
        Ok(())
    }
}

impl WriterState {
    /// Whether some miner has [`PARK_BLOCKS`] full blocks parked or waiting to be.
    fn parking_full(&self) -> bool {
        let mut counts: HashMap<u32, usize> = HashMap::new();
        for (id, _, _) in self.parked.iter().chain(&self.sealed) {
            let count = counts.entry(*id).or_default();
            *count += 1;
            if *count >= PARK_BLOCKS {
                return true;
            }
        }
        false
    }

    /// Whether a commit is due: `interval` has passed since the last commit by the wall
    /// clock, or by the samples' own timestamps (the same thing for a live daemon; the
    /// latter makes back-filling and benchmarks commit as a live daemon would).
    fn commit_due(&self, interval: std::time::Duration) -> bool {
        let interval_ms = interval.as_millis().min(u128::from(u64::MAX)) as u64;
        let by_data = self
            .commit_mark_ts
            .is_some_and(|mark| self.newest_ts >= mark.saturating_add(interval_ms));
        by_data || self.last_commit.elapsed() >= interval
    }

    /// Applies one sample: rollup of its slot, open block, newest sample.
    fn add_sample(&mut self, sample: &Sample, max_gap_ms: u64) {
        let sample = block::normalise(sample);
        let id = sample.miner_id;
        let miner = self.miners.entry(id).or_default();
        if let Some(last) = &miner.last
            && sample.ts_ms <= last.ts_ms
        {
            log::warn!(
                "store: ignoring a sample of miner {id} at {} ms, not newer than {} ms",
                sample.ts_ms,
                last.ts_ms
            );
            return;
        }
        let slot_start_s = ukclock::slot_start_s(sample.ts_ms / 1000);
        if let Some(open) = miner.slot.take_if(|slot| slot.slot_start_s != slot_start_s) {
            self.closed_slots.push(open);
        }
        let slot = miner
            .slot
            .get_or_insert_with(|| rollup::empty_for(id, sample.ts_ms));
        rollup::apply(slot, miner.last.as_ref(), &sample, max_gap_ms);
        miner.block.push(&sample);
        if miner.block.len() >= BLOCK_SAMPLES {
            let full = std::mem::take(&mut miner.block);
            let first_ts = full.first_ts().expect("a full block has samples");
            self.sealed.push((id, first_ts, full.bytes().to_vec()));
        }
        self.newest_ts = self.newest_ts.max(sample.ts_ms);
        self.commit_mark_ts.get_or_insert(sample.ts_ms);
        miner.last = Some(sample);
        self.dirty_live.insert(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_rows_round_trip() {
        let mut block = BlockWriter::new();
        block.push(&Sample::offline(4, 1000));
        let mut slot = rollup::empty_for(4, 1000);
        slot.samples = 1;
        let row = encode_live(&block, Some(&slot));
        let (decoded, decoded_slot) = decode_live(&row, 4).unwrap();
        assert_eq!(decoded, block);
        assert_eq!(decoded_slot, Some(slot));
        let (empty, none) = decode_live(&encode_live(&BlockWriter::new(), None), 4).unwrap();
        assert!(empty.is_empty());
        assert_eq!(none, None);
        assert!(decode_live(&row[..row.len() - 3], 4).is_err());
    }
}
