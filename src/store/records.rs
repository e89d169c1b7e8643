//! The small tables: miner ids, prices and the audit log. Each write is its own durable
//! transaction; they are rare (a new miner, a day's prices, an automation action).

use redb::{ReadableTable, ReadableTableMetadata};

use super::reader::open_table;
use super::schema::{AUDIT, MINERS, PRICES};
use super::{Store, StoreError};
use crate::model::{AuditRecord, PricePoint};

impl Store {
    /// The stable id of the miner called `name`, assigning the next free id (from 1) the
    /// first time a name is seen. Ids are never reused.
    pub fn miner_id(&self, name: &str) -> Result<u32, StoreError> {
        {
            let txn = self.begin_read()?;
            if let Some(table) = open_table(&self.path, &txn, MINERS)? {
                let found = ReadableTable::get(&table, name)
                    .map_err(|e| StoreError::db(&self.path, "looking up a miner", e))?
                    .map(|guard| guard.value());
                if let Some(id) = found {
                    return Ok(id);
                }
            }
        }
        let db = self.writable("assigning a miner id")?;
        let fail = |e: redb::Error| StoreError::db(&self.path, "assigning a miner id", e);
        let txn = db.begin_write().map_err(|e| fail(e.into()))?;
        let id = {
            let mut table = txn.open_table(MINERS).map_err(|e| fail(e.into()))?;
            let existing = table
                .get(name)
                .map_err(|e| fail(e.into()))?
                .map(|guard| guard.value());
            match existing {
                Some(id) => id,
                None => {
                    let mut next = 1u32;
                    for entry in table.iter().map_err(|e| fail(e.into()))? {
                        let (_, id) = entry.map_err(|e| fail(e.into()))?;
                        next = next.max(id.value().saturating_add(1));
                    }
                    table.insert(name, next).map_err(|e| fail(e.into()))?;
                    next
                }
            }
        };
        txn.commit().map_err(|e| fail(e.into()))?;
        Ok(id)
    }

    /// Every known miner name with its id, ordered by name.
    pub fn miner_names(&self) -> Result<Vec<(String, u32)>, StoreError> {
        let txn = self.begin_read()?;
        let Some(table) = open_table(&self.path, &txn, MINERS)? else {
            return Ok(Vec::new());
        };
        let fail = |e: redb::StorageError| StoreError::db(&self.path, "listing miners", e);
        let mut out = Vec::with_capacity(table.len().map_err(fail)? as usize);
        for entry in ReadableTable::iter(&table).map_err(fail)? {
            let (name, id) = entry.map_err(fail)?;
            out.push((name.value().to_string(), id.value()));
        }
        Ok(out)
    }

    /// Stores prices of `region` (ASCII region letter), replacing any stored price with
    /// the same `valid_from_s` (a republished slot wins). One durable transaction.
    pub fn put_prices(&self, region: u8, prices: &[PricePoint]) -> Result<(), StoreError> {
        let db = self.writable("put_prices")?;
        let fail = |e: redb::Error| StoreError::db(&self.path, "storing prices", e);
        let txn = db.begin_write().map_err(|e| fail(e.into()))?;
        {
            let mut table = txn.open_table(PRICES).map_err(|e| fail(e.into()))?;
            for price in prices {
                table
                    .insert(
                        (region, price.valid_from_s),
                        (price.valid_to_s, price.pence_per_kwh),
                    )
                    .map_err(|e| fail(e.into()))?;
            }
        }
        txn.commit().map_err(|e| fail(e.into()))
    }

    /// The price of `region` valid at `t_s` (`valid_from <= t < valid_to`), if stored.
    pub fn price_at(&self, region: u8, t_s: u64) -> Result<Option<PricePoint>, StoreError> {
        let txn = self.begin_read()?;
        let Some(table) = open_table(&self.path, &txn, PRICES)? else {
            return Ok(None);
        };
        let fail = |e: redb::StorageError| StoreError::db(&self.path, "reading prices", e);
        let candidate = ReadableTable::range(&table, (region, 0u64)..=(region, t_s))
            .map_err(fail)?
            .next_back()
            .transpose()
            .map_err(fail)?
            .map(|(key, value)| price_point(key.value(), value.value()));
        Ok(candidate.filter(|p| p.valid_to_s > t_s))
    }

    /// Prices of `region` overlapping `[from_s, to_s)`, in time order.
    pub fn prices(
        &self,
        region: u8,
        from_s: u64,
        to_s: u64,
    ) -> Result<Vec<PricePoint>, StoreError> {
        let txn = self.begin_read()?;
        let Some(table) = open_table(&self.path, &txn, PRICES)? else {
            return Ok(Vec::new());
        };
        let fail = |e: redb::StorageError| StoreError::db(&self.path, "reading prices", e);
        let mut out = Vec::new();
        // The slot straddling `from_s` starts before it: one reverse step.
        let straddling = ReadableTable::range(&table, (region, 0u64)..(region, from_s))
            .map_err(fail)?
            .next_back()
            .transpose()
            .map_err(fail)?
            .map(|(key, value)| price_point(key.value(), value.value()));
        out.extend(straddling.filter(|p| p.valid_to_s > from_s));
        for entry in ReadableTable::range(&table, (region, from_s)..(region, to_s)).map_err(fail)? {
            let (key, value) = entry.map_err(fail)?;
            out.push(price_point(key.value(), value.value()));
        }
        Ok(out)
    }

    /// Appends an audit record (durably, at once). Records with the same millisecond keep
    /// their order through a sequence number.
    pub fn append_audit(&self, record: &AuditRecord) -> Result<(), StoreError> {
        let db = self.writable("append_audit")?;
        let fail = |e: redb::Error| StoreError::db(&self.path, "appending to the audit log", e);
        let json = serde_json::to_vec(record).expect("audit records serialise");
        let txn = db.begin_write().map_err(|e| fail(e.into()))?;
        {
            let mut table = txn.open_table(AUDIT).map_err(|e| fail(e.into()))?;
            let last_seq = table
                .range((record.ts_ms, 0u32)..=(record.ts_ms, u32::MAX))
                .map_err(|e| fail(e.into()))?
                .next_back()
                .transpose()
                .map_err(|e| fail(e.into()))?
                .map(|(key, _)| key.value().1);
            let seq = last_seq.map_or(0, |s| s.saturating_add(1));
            table
                .insert((record.ts_ms, seq), json.as_slice())
                .map_err(|e| fail(e.into()))?;
        }
        txn.commit().map_err(|e| fail(e.into()))
    }

    /// Up to `limit` audit records, newest first, strictly before `before_ms` if given
    /// (pass the last record's `ts_ms` to page back).
    pub fn audit(
        &self,
        limit: usize,
        before_ms: Option<u64>,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let txn = self.begin_read()?;
        let Some(table) = open_table(&self.path, &txn, AUDIT)? else {
            return Ok(Vec::new());
        };
        let fail = |e: redb::StorageError| StoreError::db(&self.path, "reading the audit log", e);
        let end = before_ms.unwrap_or(u64::MAX);
        let mut raw = Vec::new();
        let range = match before_ms {
            Some(_) => ReadableTable::range(&table, ..(end, 0u32)),
            None => ReadableTable::range::<(u64, u32)>(&table, ..),
        };
        for entry in range.map_err(fail)?.rev().take(limit) {
            let (key, value) = entry.map_err(fail)?;
            raw.push((key.value(), value.value().to_vec()));
        }
        raw.into_iter()
            .map(|((ts, seq), json)| {
                serde_json::from_slice(&json).map_err(|_| StoreError::Corrupt {
                    path: self.path.clone(),
                    place: format!("audit/({ts}, {seq})"),
                    detail: "not a JSON audit record",
                })
            })
            .collect()
    }
}

fn price_point(
    (_, valid_from_s): (u8, u64),
    (valid_to_s, pence_per_kwh): (u64, f64),
) -> PricePoint {
    PricePoint {
        valid_from_s,
        valid_to_s,
        pence_per_kwh,
    }
}
