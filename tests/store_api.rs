//! Behaviour of the store's public API that a user of `hmm` would notice: paging through
//! a day, prices, the audit log, retention, schema migration and refusal, and reading the
//! file from a second handle while the daemon writes it.

use std::path::Path;
use std::time::Duration;

use hmm::model::{Actor, AuditRecord, MinerStatus, PricePoint, Sample};
use hmm::store::{Store, StoreError, StoreOptions};

const DAY_MS: u64 = 86_400_000;
const T0: u64 = 1_750_000_000_000; // a June 2025 instant, ms

fn sample(miner_id: u32, ts_ms: u64, power_w: Option<f64>) -> Sample {
    Sample {
        miner_id,
        ts_ms,
        online: true,
        hashrate_hs: Some(1_200_000_000_000.0 + (ts_ms % 7_000) as f64 * 1e6),
        power_w,
        temp_c: Some(55.25),
        shares_accepted: Some(ts_ms / 10_000),
        shares_rejected: Some(1),
        uptime_s: Some(ts_ms / 1000 - T0 / 1000),
        ..Sample::default()
    }
}

fn options(commit_interval: Duration, poll: Duration) -> StoreOptions {
    StoreOptions {
        commit_interval,
        poll_interval: poll,
        ..StoreOptions::default()
    }
}

#[test]
fn paging_walks_a_day_exactly_once_across_committed_and_pending_data() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        &dir.path().join("hmm.redb"),
        options(Duration::from_secs(600), Duration::from_secs(10)),
    )
    .unwrap();
    let id = store.miner_id("bitaxe-1").unwrap();
    let other = store.miner_id("bitaxe-2").unwrap();
    // A day and a half at 10 s; the newest part stays in memory (commit every 10 min of data).
    let mut expected = Vec::new();
    for i in 0..(DAY_MS * 3 / 2 / 10_000) {
        let ts = T0 + i * 10_000 + (i % 3);
        let s = sample(
            id,
            ts,
            if i % 50 == 0 {
                None
            } else {
                Some(15.0 + (i % 10) as f64 / 1000.0)
            },
        );
        store
            .append_cycle(&[s.clone(), sample(other, ts + 1, Some(1.0))])
            .unwrap();
        if (T0 + DAY_MS / 2..T0 + DAY_MS * 3 / 2).contains(&ts) {
            expected.push(s);
        }
    }
    let (from, to) = (T0 + DAY_MS / 2, T0 + DAY_MS * 3 / 2);
    let mut walked = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = store.range(id, from, to, 1000, cursor).unwrap();
        pages += 1;
        walked.extend(page.samples);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(walked.len(), expected.len());
    assert_eq!(
        walked, expected,
        "every sample once, in order, values intact"
    );
    assert_eq!(pages, expected.len().div_ceil(1000));
    // Missing power stays missing.
    assert!(walked.iter().any(|s| s.power_w.is_none()));
    // The newest sample (still in memory) is what `latest` answers.
    let newest = store
        .range(id, to - 60_000, u64::MAX, 10_000, None)
        .unwrap()
        .samples
        .pop();
    assert_eq!(store.latest(id).unwrap(), newest);
}

#[test]
fn prices_upsert_and_lookup() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("hmm.redb"), StoreOptions::default()).unwrap();
    let slot = |from: u64, p: f64| PricePoint {
        valid_from_s: from,
        valid_to_s: from + 1800,
        pence_per_kwh: p,
    };
    store
        .put_prices(b'H', &[slot(0, 10.0), slot(1800, 20.0), slot(3600, -2.5)])
        .unwrap();
    store.put_prices(b'A', &[slot(1800, 99.0)]).unwrap();
    // Octopus republishes the 1800 slot with a new price: it replaces the old one.
    store.put_prices(b'H', &[slot(1800, 21.5)]).unwrap();
    assert_eq!(store.price_at(b'H', 1800).unwrap(), Some(slot(1800, 21.5)));
    assert_eq!(store.price_at(b'H', 3599).unwrap(), Some(slot(1800, 21.5)));
    assert_eq!(store.price_at(b'H', 3600).unwrap(), Some(slot(3600, -2.5)));
    assert_eq!(
        store.price_at(b'H', 5400).unwrap(),
        None,
        "after the last slot ends"
    );
    assert_eq!(store.price_at(b'B', 1800).unwrap(), None, "other region");
    assert_eq!(
        store.prices(b'H', 900, 3600).unwrap(),
        vec![slot(0, 10.0), slot(1800, 21.5)],
        "the slot straddling `from` is included, `to` is exclusive"
    );
}

#[test]
fn audit_is_newest_first_and_pages_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("hmm.redb"), StoreOptions::default()).unwrap();
    let record = |ts_ms: u64, action: &str| AuditRecord {
        ts_ms,
        actor: Actor::Rule("agile-bands".into()),
        miner: "bitaxe-1".into(),
        action: action.into(),
        outcome: "ok".into(),
        reason: "price band".into(),
    };
    store.append_audit(&record(1000, "set_mode eco")).unwrap();
    store.append_audit(&record(3000, "restart")).unwrap();
    store
        .append_audit(&record(2000, "set_mode standard"))
        .unwrap();
    store.append_audit(&record(3000, "switch_pool 1")).unwrap(); // same ms: after "restart"
    let all = store.audit(10, None).unwrap();
    let actions: Vec<&str> = all.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "switch_pool 1",
            "restart",
            "set_mode standard",
            "set_mode eco"
        ]
    );
    assert_eq!(store.audit(2, None).unwrap().len(), 2);
    let older: Vec<String> = store
        .audit(10, Some(3000))
        .unwrap()
        .into_iter()
        .map(|r| r.action)
        .collect();
    assert_eq!(older, ["set_mode standard", "set_mode eco"]);
}

#[test]
fn retention_deletes_only_old_data() {
    let dir = tempfile::tempdir().unwrap();
    let opts = StoreOptions {
        commit_interval: Duration::from_secs(3600),
        poll_interval: Duration::from_secs(60),
        retention_raw: Duration::from_secs(7 * 86_400),
        retention_slots: Duration::from_secs(8 * 86_400),
    };
    let store = Store::open(&dir.path().join("hmm.redb"), opts).unwrap();
    let a = store.miner_id("a").unwrap();
    let b = store.miner_id("b").unwrap();
    let cycles = 10 * 1440; // 10 days at 60 s
    for i in 0..cycles {
        let ts = T0 + i * 60_000;
        store
            .append_cycle(&[sample(a, ts, Some(10.0)), sample(b, ts, Some(20.0))])
            .unwrap();
    }
    store.flush().unwrap();
    let now = T0 + cycles * 60_000;
    let raw_cutoff = now - 7 * DAY_MS;
    let before_newest = store
        .range(a, raw_cutoff, u64::MAX, 100_000, None)
        .unwrap()
        .samples;
    store.apply_retention(now).unwrap();
    for id in [a, b] {
        let kept = store.range(id, 0, u64::MAX, 100_000, None).unwrap().samples;
        // Everything newer than the cutoff is intact.
        let recent: Vec<_> = kept
            .iter()
            .filter(|s| s.ts_ms >= raw_cutoff)
            .cloned()
            .collect();
        assert_eq!(recent.len(), before_newest.len());
        // Older samples survive only in the one block straddling the cutoff (< 32 samples).
        let old = kept.iter().filter(|s| s.ts_ms < raw_cutoff).count();
        assert!(old < 32, "{old} samples older than the cutoff remain");
        let slots = store.slots(Some(id), 0, u64::MAX).unwrap();
        let slot_cutoff_s = now / 1000 - 8 * 86_400;
        assert!(slots.iter().all(|s| s.slot_start_s + 1800 > slot_cutoff_s));
        assert_eq!(
            slots.first().unwrap().slot_start_s,
            hmm::ukclock::slot_start_s(slot_cutoff_s)
        );
        assert_eq!(
            slots.last().unwrap().slot_start_s,
            hmm::ukclock::slot_start_s((now - 60_000) / 1000)
        );
    }
    // Retention is idempotent and leaves the latest sample alone.
    store.apply_retention(now).unwrap();
    assert_eq!(store.latest(a).unwrap().unwrap().ts_ms, now - 60_000);
}

fn raw_db(path: &Path) -> redb::Database {
    redb::Builder::new()
        .set_concurrency_mode(redb::ConcurrencyMode::SingleWriter)
        .open(path)
        .unwrap()
}

const META: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta");

fn set_version(path: &Path, version: &str) {
    let db = raw_db(path);
    let txn = db.begin_write().unwrap();
    txn.open_table(META)
        .unwrap()
        .insert("schema_version", version.as_bytes())
        .unwrap();
    txn.commit().unwrap();
}

fn read_version(path: &Path) -> String {
    use redb::ReadableDatabase;
    let db = raw_db(path);
    let txn = db.begin_read().unwrap();
    let meta = txn.open_table(META).unwrap();
    String::from_utf8(
        meta.get("schema_version")
            .unwrap()
            .unwrap()
            .value()
            .to_vec(),
    )
    .unwrap()
}

#[test]
fn version_one_files_are_upgraded_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hmm.redb");
    let samples: Vec<Sample> = (0..64)
        .map(|i| sample(1, T0 + i * 10_000, Some(12.5)))
        .collect();
    {
        let store = Store::open(&path, StoreOptions::default()).unwrap();
        assert_eq!(store.miner_id("old").unwrap(), 1);
        for s in &samples {
            store.append_cycle(std::slice::from_ref(s)).unwrap();
        }
    }
    // Turn it into the version-1 layout: no `status`, no `live` table.
    {
        let db = raw_db(&path);
        let txn = db.begin_write().unwrap();
        assert!(
            txn.delete_table(redb::TableDefinition::<u32, &[u8]>::new("status"))
                .unwrap()
        );
        assert!(
            txn.delete_table(redb::TableDefinition::<u32, &[u8]>::new("live"))
                .unwrap()
        );
        txn.open_table(META)
            .unwrap()
            .insert("schema_version", "1".as_bytes())
            .unwrap();
        txn.commit().unwrap();
    }
    assert_eq!(read_version(&path), "1");
    {
        let store = Store::open(&path, StoreOptions::default()).unwrap();
        // Old data is all there, and new features work.
        let got = store.range(1, 0, u64::MAX, 1000, None).unwrap().samples;
        assert_eq!(got, samples);
        let status = MinerStatus {
            name: "old".into(),
            enabled: true,
            ..MinerStatus::default()
        };
        store.put_statuses(&[(1, status.clone())]).unwrap();
        store
            .append_cycle(&[sample(1, T0 + 64 * 10_000, None)])
            .unwrap();
        store.flush().unwrap();
        drop(store);
        let store = Store::open(&path, StoreOptions::default()).unwrap();
        assert_eq!(store.statuses().unwrap(), vec![(1, status)]);
        assert_eq!(
            store
                .range(1, 0, u64::MAX, 1000, None)
                .unwrap()
                .samples
                .len(),
            65
        );
    }
    assert_eq!(read_version(&path), "3");
}

#[test]
fn newer_files_are_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hmm.redb");
    {
        let store = Store::open(&path, StoreOptions::default()).unwrap();
        store.miner_id("x").unwrap();
    }
    set_version(&path, "99");
    let before = std::fs::read(&path).unwrap();
    let error = Store::open(&path, StoreOptions::default())
        .err()
        .expect("refused");
    assert!(
        matches!(
            error,
            StoreError::NewerSchema {
                found: 99,
                supported: 3,
                ..
            }
        ),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains("hmm.redb")
            && message.contains("newer hmm")
            && message.contains("not changed"),
        "{message}"
    );
    assert!(matches!(
        Store::open_read_only(&path),
        Err(StoreError::NewerSchema { .. })
    ));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the file was not rewritten"
    );
}

#[test]
fn a_second_process_reads_while_the_daemon_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hmm.redb");
    let writer = Store::open(
        &path,
        options(Duration::from_secs(30), Duration::from_secs(10)),
    )
    .unwrap();
    let id = writer.miner_id("bitaxe-1").unwrap();
    for i in 0..40 {
        writer
            .append_cycle(&[sample(id, T0 + i * 10_000, Some(15.0))])
            .unwrap();
    }
    let status = MinerStatus {
        name: "bitaxe-1".into(),
        firmware: Some("v2.4".into()),
        enabled: true,
        ..MinerStatus::default()
    };
    writer.put_statuses(&[(id, status.clone())]).unwrap();
    writer.flush().unwrap();

    assert!(matches!(
        Store::open(&path, StoreOptions::default()),
        Err(StoreError::Locked { .. })
    ));
    let reader = Store::open_read_only(&path).unwrap();
    assert_eq!(reader.latest(id).unwrap(), writer.latest(id).unwrap());
    assert_eq!(
        reader.fleet_latest(&[id, 99], 0).unwrap(),
        writer.fleet_latest(&[id, 99], 0).unwrap()
    );
    assert_eq!(
        reader
            .range(id, 0, u64::MAX, 1000, None)
            .unwrap()
            .samples
            .len(),
        40
    );
    assert_eq!(
        reader.slots(None, 0, u64::MAX).unwrap(),
        writer.slots(None, 0, u64::MAX).unwrap()
    );
    assert_eq!(reader.statuses().unwrap(), vec![(id, status)]);
    assert_eq!(
        reader.miner_names().unwrap(),
        vec![("bitaxe-1".to_string(), id)]
    );
    let refused = reader
        .append_cycle(&[sample(id, T0 + 41 * 10_000, None)])
        .unwrap_err();
    assert!(matches!(refused, StoreError::ReadOnly { .. }), "{refused}");

    // The reader follows the writer's later commits.
    writer
        .append_cycle(&[sample(id, T0 + 50 * 10_000, Some(16.0))])
        .unwrap();
    writer.flush().unwrap();
    assert_eq!(reader.latest(id).unwrap().unwrap().ts_ms, T0 + 50 * 10_000);
}

#[test]
fn miner_ids_are_stable_and_garbage_files_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hmm.redb");
    {
        let store = Store::open(&path, StoreOptions::default()).unwrap();
        assert_eq!(store.miner_id("a").unwrap(), 1);
        assert_eq!(store.miner_id("b").unwrap(), 2);
        assert_eq!(store.miner_id("a").unwrap(), 1);
    }
    let store = Store::open(&path, StoreOptions::default()).unwrap();
    assert_eq!(store.miner_id("b").unwrap(), 2);
    assert_eq!(store.miner_id("c").unwrap(), 3);
    assert_eq!(store.miner_names().unwrap().len(), 3);

    let garbage = dir.path().join("garbage.redb");
    std::fs::write(&garbage, vec![0x42u8; 10_000]).unwrap();
    let error = Store::open(&garbage, StoreOptions::default())
        .err()
        .expect("refused");
    assert!(error.to_string().contains("garbage.redb"), "{error}");
    let missing = Store::open_read_only(&dir.path().join("nope.redb"))
        .err()
        .expect("refused");
    assert!(missing.to_string().contains("nope.redb"), "{missing}");
}

/// Full blocks wait in the `parked` table and move to `telemetry` several at a time; at
/// every step (parked, moved, reopened, read from another handle) every sample is there
/// exactly once, in order.
#[test]
fn parked_blocks_are_read_everywhere_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hmm.redb");
    let per_block = hmm::store::BLOCK_SAMPLES as u64;
    let park = hmm::store::PARK_BLOCKS as u64;
    // Enough to move once and park a few more, plus an open block.
    let count = per_block * (park + 3) + 5;
    let samples: Vec<Vec<Sample>> = (0..count)
        .map(|i| {
            vec![
                sample(1, T0 + i * 10_000, Some(10.0)),
                sample(2, T0 + i * 10_000 + 7, None),
            ]
        })
        .collect();
    let everything = |store: &Store, id: u32| -> Vec<Sample> {
        store.range(id, 0, u64::MAX, 100_000, None).unwrap().samples
    };
    let expected = |id: u32| -> Vec<Sample> {
        samples
            .iter()
            .map(|cycle| cycle[id as usize - 1].clone())
            .collect()
    };
    {
        let store = Store::open(&path, StoreOptions::default()).unwrap();
        for cycle in &samples {
            store.append_cycle(cycle).unwrap();
        }
        store.flush().unwrap();
        assert_eq!(everything(&store, 1), expected(1));
        let reader = Store::open_read_only(&path).unwrap();
        assert_eq!(everything(&reader, 2), expected(2));
        // A page boundary inside the parked blocks.
        let page = reader
            .range(1, 0, u64::MAX, (per_block * park + 3) as usize, None)
            .unwrap();
        let rest = reader
            .range(1, 0, u64::MAX, 100_000, page.next_cursor)
            .unwrap();
        let mut joined = page.samples;
        joined.extend(rest.samples);
        assert_eq!(joined, expected(1));
    }
    // Reopened: the writer resumes with the parked blocks and the newest sample.
    let store = Store::open(&path, StoreOptions::default()).unwrap();
    assert_eq!(everything(&store, 1), expected(1));
    assert_eq!(store.latest(2).unwrap(), expected(2).last().cloned());
    // Retention sees parked blocks too: everything older than the last 10 samples goes.
    let now = T0 + count * 10_000;
    let short = Store::open_read_only(&path).unwrap();
    assert_eq!(everything(&short, 2).len(), count as usize);
    drop(short);
    drop(store);
    let store = Store::open(
        &path,
        StoreOptions {
            retention_raw: Duration::from_secs(100),
            ..StoreOptions::default()
        },
    )
    .unwrap();
    store.apply_retention(now).unwrap();
    let left = everything(&store, 1);
    assert!(left.len() < (2 * per_block) as usize, "{} left", left.len());
    assert_eq!(left.last(), expected(1).last());
    assert!(left.windows(2).all(|w| w[0].ts_ms < w[1].ts_ms));
}
