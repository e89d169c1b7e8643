//! One simulated hour of dashboard and widget traffic against a FeedHub on the fixture
//! server, with an injected clock: a page load every 5 s and a widget evaluation every 10 s,
//! each reading the coin prices, every pool's statistics and the current electricity price.
//! The refresher runs once per simulated second, as its threads would. CKPool fails with
//! HTTP 500 for five minutes in the middle. The test reports the cache hit rate and the
//! number of outbound requests and asserts the goals: hit rate ≥ 95 %, no read ever misses
//! after start-up, and outbound requests are a small fraction of reads.
//!
//! Run with `cargo test --test feeds_simulation -- --nocapture` to see the numbers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hmm::feeds::fixture_server::{Fault, FixtureServer, Route};
use hmm::feeds::{FeedHub, ManualClock, MemoryPriceStore};

const START_S: u64 = 1_768_059_000; // 2026-01-10 15:30 UTC: the hour spans the 16:00 publication

#[test]
fn an_hour_of_dashboard_traffic_is_served_from_the_cache() {
    let clock = Arc::new(ManualClock::new(START_S * 1000));
    let server = FixtureServer::start(clock.clone()).unwrap();
    let hub = FeedHub::new(
        server.settings(),
        clock.clone(),
        Arc::new(MemoryPriceStore::new()),
    )
    .unwrap();
    let pools = hub.pool_names();

    let mut reads = 0u64;
    let mut read_time = Duration::ZERO;
    let mut slowest_read = Duration::ZERO;
    let mut read_everything = |hub: &FeedHub, now_s: u64| {
        let started = Instant::now();
        let mut seen = 0;
        seen += usize::from(hub.coin_prices().is_some());
        for pool in &pools {
            seen += usize::from(hub.pool_stats(pool).is_some());
        }
        seen += usize::from(hub.price_at(now_s).unwrap().is_some());
        let took = started.elapsed();
        read_time += took;
        slowest_read = slowest_read.max(took);
        reads += 2 + pools.len() as u64;
        seen
    };

    let mut page_loads = 0;
    let mut widget_runs = 0;
    let mut incomplete_views = 0;
    for second in 0..3600u64 {
        let now_s = START_S + second;
        clock.set_ms(now_s * 1000);
        match second {
            1200 => server.set_fault(Route::CkpoolUser, Fault::Status(500)),
            1500 => server.set_fault(Route::CkpoolUser, Fault::None),
            _ => {}
        }
        hub.refresh_due();
        if second % 5 == 0 {
            page_loads += 1;
            if read_everything(&hub, now_s) < 2 + pools.len() {
                incomplete_views += 1;
            }
        }
        if second % 10 == 0 {
            widget_runs += 1;
            if read_everything(&hub, now_s) < 2 + pools.len() {
                incomplete_views += 1;
            }
        }
    }

    let metrics = hub.metrics();
    let hits: u64 = metrics.iter().map(|m| m.hits).sum();
    let stale: u64 = metrics.iter().map(|m| m.stale_serves).sum();
    let misses: u64 = metrics.iter().map(|m| m.misses).sum();
    let requests = server.total_hits();
    let hit_rate = hits as f64 / (hits + stale + misses) as f64;
    println!(
        "simulated 1 h: {page_loads} page loads (every 5 s), {widget_runs} widget runs (every 10 s)"
    );
    println!("reads: {reads} ({hits} fresh, {stale} stale, {misses} missing)");
    println!("cache hit rate: {:.2} %", hit_rate * 100.0);
    println!("outbound requests: {requests} (without a cache: {reads})");
    for m in &metrics {
        println!(
            "  {:<10} hits {:>5} stale {:>3} misses {:>2} errors {:>2} requests {:>3}",
            m.feed, m.hits, m.stale_serves, m.misses, m.errors, m.requests
        );
    }
    println!(
        "reader time: mean {:.1} µs per read, slowest view {:?} (debug build)",
        read_time.as_secs_f64() * 1e6 / reads as f64,
        slowest_read
    );

    assert_eq!((page_loads, widget_runs), (720, 360));
    assert_eq!(reads, 1080 * 5);
    assert_eq!(
        incomplete_views, 0,
        "every view had every value (stale at worst)"
    );
    assert_eq!(misses, 0);
    assert!(hit_rate >= 0.95, "hit rate {hit_rate}");
    assert!(stale > 0, "the CKPool outage was served stale");
    assert_eq!(hits + stale, reads);
    assert!(requests < 250, "{requests} outbound requests");
    assert_eq!(
        requests,
        metrics.iter().map(|m| m.requests).sum::<u64>(),
        "the server saw exactly the requests the feeds counted"
    );
}
