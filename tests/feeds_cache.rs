//! The TTL cache and the hub's fetch path: expiry with an injected clock, one fetch for many
//! concurrent callers, serving stale values with their age on failure, and back-off that
//! honours Retry-After. Outbound requests are counted at the loopback fixture server.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use hmm::feeds::cache::{FetchOutcome, TtlCache};
use hmm::feeds::fixture_server::{Fault, FixtureServer, Route};
use hmm::feeds::http::HttpError;
use hmm::feeds::{FeedError, FeedHub, FeedMetrics, ManualClock, MemoryPriceStore, PoolFeed};

const T0_MS: u64 = 1_768_046_400_000; // 2026-01-10 12:00 UTC

fn metrics(hub: &FeedHub, feed: &str) -> FeedMetrics {
    hub.metrics().into_iter().find(|m| m.feed == feed).unwrap()
}

/// A hub on the fixture server with Agile off (fixed tariff) so only coins and pools run.
fn hub(clock: &Arc<ManualClock>) -> (FixtureServer, FeedHub) {
    let server = FixtureServer::start(clock.clone()).unwrap();
    let mut settings = server.settings();
    settings.energy.tariff = "fixed".into();
    let hub = FeedHub::new(settings, clock.clone(), Arc::new(MemoryPriceStore::new())).unwrap();
    (server, hub)
}

#[test]
fn values_expire_after_their_ttl_on_the_injected_clock() {
    let clock = Arc::new(ManualClock::new(T0_MS));
    let cache: TtlCache<&str, u32> = TtlCache::new(Duration::from_secs(300), 8, clock.clone());
    let fetches = AtomicU32::new(0);
    let fetch = || Ok::<u32, FeedError>(fetches.fetch_add(1, Ordering::SeqCst) + 1);
    assert_eq!(cache.peek(&"k"), None);
    assert!(matches!(
        cache.get_or_fetch(&"k", fetch),
        FetchOutcome::Fetched(_)
    ));
    // Fresh for 300 s: no new fetch, readers get a hit with the true age.
    clock.advance_ms(100_000);
    assert!(matches!(
        cache.get_or_fetch(&"k", fetch),
        FetchOutcome::Skipped(Some(_))
    ));
    let seen = cache.peek(&"k").unwrap();
    assert_eq!((*seen.value, seen.age_ms, seen.stale), (1, 100_000, false));
    // The refresher renews 30 s before expiry (a tenth of the TTL, capped at 30 s).
    assert_eq!(cache.due_at_ms(&"k"), T0_MS + 270_000);
    clock.advance_ms(160_000); // 260 s
    assert!(matches!(
        cache.refresh(&"k", fetch),
        FetchOutcome::Skipped(_)
    ));
    clock.advance_ms(20_000); // 280 s
    assert!(matches!(
        cache.refresh(&"k", fetch),
        FetchOutcome::Fetched(_)
    ));
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    // Nobody refreshes: past the TTL the value is served stale, with its age.
    clock.advance_ms(300_000);
    let seen = cache.peek(&"k").unwrap();
    assert_eq!((*seen.value, seen.age_ms, seen.stale), (2, 300_000, true));
    let m = cache.counters().snapshot("test");
    assert_eq!((m.hits, m.stale_serves, m.misses, m.requests), (1, 1, 1, 2));
}

#[test]
fn concurrent_callers_share_one_fetch_in_the_cache() {
    let clock = Arc::new(ManualClock::new(T0_MS));
    let cache: TtlCache<&str, u32> = TtlCache::new(Duration::from_secs(60), 8, clock.clone());
    let fetches = AtomicU32::new(0);
    let slow_fetch = || {
        fetches.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(150));
        Ok::<u32, FeedError>(7)
    };
    for round in 1..=2 {
        // Round 1: new key (placeholder guard). Round 2: expired key (in-flight mark).
        let barrier = Barrier::new(16);
        std::thread::scope(|s| {
            for _ in 0..16 {
                s.spawn(|| {
                    barrier.wait();
                    cache.get_or_fetch(&"k", slow_fetch);
                });
            }
        });
        assert_eq!(fetches.load(Ordering::SeqCst), round);
        clock.advance_ms(61_000);
    }
}

#[test]
fn concurrent_refreshes_make_one_request_per_feed() {
    let clock = Arc::new(ManualClock::new(T0_MS));
    let (server, hub) = hub(&clock);
    for route in [
        Route::CoinGecko,
        Route::CkpoolUser,
        Route::CkpoolStatus,
        Route::Solopool,
        Route::SolopoolStats,
    ] {
        server.set_fault(route, Fault::Delay(200));
    }
    let barrier = Barrier::new(12);
    std::thread::scope(|s| {
        for _ in 0..12 {
            s.spawn(|| {
                barrier.wait();
                hub.refresh_due();
            });
        }
    });
    for route in [
        Route::CoinGecko,
        Route::CkpoolUser,
        Route::CkpoolStatus,
        Route::Solopool,
        Route::SolopoolStats,
    ] {
        assert_eq!(server.hits(route), 1, "{route:?}");
    }
    assert_eq!(server.total_hits(), 5);
    assert!(hub.coin_prices().is_some_and(|c| !c.stale));
    assert!(hub.pool_stats("ckpool").is_some());
}

#[test]
fn a_failing_server_serves_the_last_good_value_with_its_age() {
    let clock = Arc::new(ManualClock::new(T0_MS));
    let (server, hub) = hub(&clock);
    hub.refresh_due();
    let good = hub.pool_stats("ckpool").unwrap();
    assert!(!good.stale);
    let hashrate = good.value.hashrate_hs();

    server.set_fault(Route::CkpoolUser, Fault::Status(500));
    clock.advance_ms(70_000); // CKPool TTL is 60 s
    hub.refresh_due();
    let stale = hub.pool_stats("ckpool").unwrap();
    assert!(stale.stale);
    assert_eq!(stale.age_ms, 70_000);
    assert_eq!(stale.fetched_at_ms, T0_MS);
    assert_eq!(stale.value.hashrate_hs(), hashrate);
    assert!(stale.last_error.as_deref().unwrap().contains("HTTP 500"));
    // The other pools were refreshed normally.
    assert!(!hub.pool_stats("solopool-btc").unwrap().stale);
    let m = metrics(&hub, "ckpool");
    assert_eq!(m.errors, 1);
    assert!(m.stale_serves >= 1);

    // Recovery clears the stale mark.
    server.set_fault(Route::CkpoolUser, Fault::None);
    clock.advance_ms(15_000);
    hub.refresh_due();
    let fresh = hub.pool_stats("ckpool").unwrap();
    assert!(!fresh.stale && fresh.age_ms == 0 && fresh.last_error.is_none());
}

#[test]
fn solopool_network_difficulty_is_cached_and_served_stale_on_failure() {
    let clock = Arc::new(ManualClock::new(T0_MS));
    let (server, hub) = hub(&clock);
    assert_eq!(
        hub.network_difficulty("btc"),
        None,
        "nothing before the first fetch"
    );
    hub.refresh_due();
    let fresh = hub.network_difficulty("btc").unwrap();
    assert_eq!(fresh.value.difficulty, 126_411_437_451_912.0);
    assert!(!fresh.stale);
    assert_eq!(server.hits(Route::SolopoolStats), 1);

    // Cached for its 10-minute TTL: the refresher asks every second, SoloPool once.
    for _ in 0..500 {
        clock.advance_ms(1_000);
        hub.refresh_due();
    }
    assert_eq!(server.hits(Route::SolopoolStats), 1);
    assert_eq!(hub.network_difficulty("BTC").unwrap().age_ms, 500_000);

    // SoloPool fails: the last good value is served, stale, with its age and the reason.
    server.set_fault(Route::SolopoolStats, Fault::Status(503));
    clock.advance_ms(100_000); // 600 s: past the TTL
    hub.refresh_due();
    assert_eq!(server.hits(Route::SolopoolStats), 2);
    let stale = hub.network_difficulty("btc").unwrap();
    assert!(stale.stale);
    assert_eq!(stale.value.difficulty, 126_411_437_451_912.0);
    assert_eq!((stale.fetched_at_ms, stale.age_ms), (T0_MS, 600_000));
    assert!(stale.last_error.as_deref().unwrap().contains("HTTP 503"));
    // ... and it backs off instead of asking every second.
    for _ in 0..10 {
        clock.advance_ms(1_000);
        hub.refresh_due();
    }
    assert_eq!(server.hits(Route::SolopoolStats), 2);
    let m = metrics(&hub, "solopool-network");
    assert_eq!((m.errors, m.requests), (1, 2));
    assert!(m.hits >= 2 && m.stale_serves >= 1, "{m:?}");

    // A coin no solopool pool mines is not fetched, and asking is not counted as a miss.
    assert_eq!(hub.network_difficulty("bch"), None);
    assert_eq!(metrics(&hub, "solopool-network").misses, 1);

    // Recovery clears the stale mark.
    server.set_fault(Route::SolopoolStats, Fault::None);
    clock.advance_ms(10_000);
    hub.refresh_due();
    let fresh = hub.network_difficulty("btc").unwrap();
    assert!(!fresh.stale && fresh.age_ms == 0 && fresh.last_error.is_none());
}

#[test]
fn solopool_network_is_fetched_once_per_coin() {
    let clock = Arc::new(ManualClock::new(T0_MS));
    let server = FixtureServer::start(clock.clone()).unwrap();
    let mut settings = server.settings();
    settings.energy.tariff = "fixed".into();
    let btc = settings.pools[2].clone();
    settings.pools = vec![
        btc.clone(),
        PoolFeed {
            name: "solopool-btc-garage".into(),
            ..btc.clone()
        },
        PoolFeed {
            name: "solopool-bch".into(),
            coin: "bch".into(),
            ..btc.clone()
        },
        PoolFeed {
            name: "solopool-dgb-off".into(),
            coin: "dgb-sha".into(),
            enabled: false,
            ..btc
        },
    ];
    let hub = FeedHub::new(settings, clock, Arc::new(MemoryPriceStore::new())).unwrap();
    hub.refresh_due();
    assert_eq!(server.hits(Route::Solopool), 3, "one per account");
    assert_eq!(
        server.hits(Route::SolopoolStats),
        2,
        "one per coin: btc, bch"
    );
    assert!(hub.network_difficulty("bch").is_some());
    assert_eq!(hub.network_difficulty("dgb-sha"), None, "disabled pool");
}

#[test]
fn rate_limited_feed_waits_for_retry_after() {
    let clock = Arc::new(ManualClock::new(T0_MS));
    let (server, hub) = hub(&clock);
    hub.refresh_due();
    assert_eq!(server.hits(Route::CoinGecko), 1);
    server.set_fault(
        Route::CoinGecko,
        Fault::TooManyRequests { retry_after_s: 120 },
    );
    clock.advance_ms(300_000);
    hub.refresh_due();
    assert_eq!(server.hits(Route::CoinGecko), 2);
    let served = hub.coin_prices().unwrap();
    assert!(served.stale && served.last_error.as_deref().unwrap().contains("HTTP 429"));
    // The refresher asks every second; CoinGecko is not called again for 120 s.
    for _ in 0..119 {
        clock.advance_ms(1_000);
        hub.refresh_due();
    }
    assert_eq!(
        server.hits(Route::CoinGecko),
        2,
        "no request inside Retry-After"
    );
    server.set_fault(Route::CoinGecko, Fault::None);
    clock.advance_ms(1_000);
    hub.refresh_due();
    assert_eq!(server.hits(Route::CoinGecko), 3);
    assert!(!hub.coin_prices().unwrap().stale);
}

#[test]
fn repeated_failures_back_off_exponentially() {
    let clock = Arc::new(ManualClock::new(T0_MS));
    let (server, hub) = hub(&clock);
    server.set_fault(Route::Solopool, Fault::Status(503));
    // Five minutes of refresher ticks, one per second, against a dead SoloPool:
    // attempts at 0, 15, 30, 60, 120 and 240 s instead of 300.
    for _ in 0..300 {
        hub.refresh_due();
        clock.advance_ms(1_000);
    }
    assert_eq!(server.hits(Route::Solopool), 6);
    assert_eq!(
        hub.pool_stats("solopool-btc"),
        None,
        "never fetched: nothing to serve"
    );
    assert_eq!(metrics(&hub, "solopool").errors, 6);
    // CKPool alongside: a 60 s TTL renewed 6 s early, at 0, 54, 108, 162, 216, 270 s.
    assert_eq!(server.hits(Route::CkpoolUser), 6);
}

#[test]
fn fetch_errors_carry_retry_after() {
    let error = FeedError::Http(HttpError::Status {
        url: "http://127.0.0.1/".into(),
        status: 503,
        retry_after: Some(Duration::from_secs(30)),
    });
    assert_eq!(hmm::feeds::cache::backoff_ms(1, &error), 30_000);
    assert!(!error.is_rate_limited());
}
