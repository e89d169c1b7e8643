//! Crash safety: a child process appends whole-fleet cycles in a loop and reports what it
//! has appended and flushed; the parent SIGKILLs it at random moments, reopens the file
//! and checks that it opens cleanly, that every flushed cycle is there, that nothing older
//! than one commit interval (by the samples' timestamps) is missing, and that cycles are
//! all-or-nothing across the fleet.
//!
//! The same test function plays both roles: with `HMM_STORE_CRASH_CHILD` set it is the
//! child (re-executed from this test binary) and never returns normally.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmm::model::Sample;
use hmm::store::{Store, StoreOptions};

mod exec_support;

const CHILD_ENV: &str = "HMM_STORE_CRASH_CHILD";
const T0: u64 = 1_750_000_000_000;
/// Cycles are 10 ms apart in sample time; commits every 50 ms of sample time.
const STEP_MS: u64 = 10;
const COMMIT_MS: u64 = 50;
const MINERS: u32 = 20;

fn options() -> StoreOptions {
    StoreOptions {
        commit_interval: Duration::from_millis(COMMIT_MS),
        poll_interval: Duration::from_millis(STEP_MS),
        ..StoreOptions::default()
    }
}

fn cycle(n: u64) -> Vec<Sample> {
    (1..=MINERS)
        .map(|id| Sample {
            miner_id: id,
            ts_ms: T0 + n * STEP_MS,
            online: true,
            power_w: Some(10.0 + f64::from(id)),
            shares_accepted: Some(n),
            ..Sample::default()
        })
        .collect()
}

fn run_child(path: &Path) -> ! {
    let store = Store::open(path, options()).expect("child opens the store");
    let mut n = store
        .latest(1)
        .unwrap()
        .map_or(0, |s| (s.ts_ms - T0) / STEP_MS + 1);
    loop {
        store.append_cycle(&cycle(n)).unwrap();
        println!("appended {n}");
        if n.is_multiple_of(7) {
            store.flush().unwrap();
            println!("flushed {n}");
        }
        n += 1;
    }
}

/// Cycle numbers present for `id`, which must be 0..k without holes.
fn present(store: &Store, id: u32) -> Option<u64> {
    let samples = store
        .range(id, 0, u64::MAX, usize::MAX, None)
        .unwrap()
        .samples;
    for (index, s) in samples.iter().enumerate() {
        assert_eq!(
            s.ts_ms,
            T0 + index as u64 * STEP_MS,
            "miner {id}: a hole before sample {index}"
        );
        assert_eq!(s.shares_accepted, Some(index as u64));
    }
    samples.len().checked_sub(1).map(|k| k as u64)
}

#[test]
fn killed_writers_lose_at_most_one_commit_interval() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        run_child(Path::new(&path));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hmm.redb");
    let mut rng = fastrand::Rng::with_seed(2024);
    let mut total_appended = 0;
    for round in 0..20 {
        let mut child = exec_support::self_command()
            .args([
                "--exact",
                "killed_writers_lose_at_most_one_commit_interval",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let reader = {
            let lines = lines.clone();
            let stdout = child.stdout.take().unwrap();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    lines.lock().unwrap().push(line);
                }
            })
        };
        // Wait for the child to be writing, then kill it at a random moment.
        while !lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.starts_with("appended"))
        {
            assert!(
                child.try_wait().unwrap().is_none(),
                "round {round}: the child exited early"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(rng.u64(0..250)));
        child.kill().unwrap();
        child.wait().unwrap();
        reader.join().unwrap();

        let lines = lines.lock().unwrap();
        let last = |prefix: &str| {
            lines
                .iter()
                .filter_map(|l| l.strip_prefix(prefix))
                .filter_map(|n| n.trim().parse::<u64>().ok())
                .max()
        };
        let appended = last("appended ").expect("the child appended something");
        let flushed = last("flushed ");
        total_appended += lines.iter().filter(|l| l.starts_with("appended")).count();

        let store = Store::open(&path, options())
            .unwrap_or_else(|e| panic!("round {round}: reopen failed: {e}"));
        let newest = present(&store, 1);
        for id in 2..=MINERS {
            assert_eq!(
                present(&store, id),
                newest,
                "round {round}: cycles are all-or-nothing across the fleet"
            );
        }
        let newest = newest.expect("something is durable");
        if let Some(flushed) = flushed {
            assert!(
                newest >= flushed,
                "round {round}: flushed cycle {flushed} lost (have {newest})"
            );
        }
        // After `append_cycle(appended)` returned, everything COMMIT_MS older is durable.
        let must_have = appended.saturating_sub(COMMIT_MS / STEP_MS);
        assert!(
            newest >= must_have,
            "round {round}: appended {appended}, only {newest} survived"
        );
        assert!(
            newest <= appended + 1,
            "round {round}: more cycles than appended"
        );
    }
    assert!(
        total_appended > 100,
        "the children made real progress ({total_appended} cycles)"
    );
}
