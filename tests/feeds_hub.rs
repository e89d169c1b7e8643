//! FeedHub with its background refresher threads: readers never wait, a hung pool does not
//! hold the other feeds, values are renewed before they expire, and pools are selected by
//! their configured `stats` kind only.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hmm::feeds::fixture_server::{Fault, FixtureServer, Route};
use hmm::feeds::hub::PoolStats;
use hmm::feeds::{FeedHub, FeedSettings, ManualClock, MemoryPriceStore, PoolFeed, StatsKind};

const T0_MS: u64 = 1_768_064_400_000; // 2026-01-10 17:00 UTC (tomorrow's Agile published)

fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    None
}

fn fast_settings(server: &FixtureServer) -> FeedSettings {
    let mut settings = server.settings();
    settings.refresher_tick = Duration::from_millis(5);
    settings
}

#[test]
fn a_hung_pool_holds_neither_readers_nor_other_feeds() {
    let clock = Arc::new(ManualClock::new(T0_MS));
    let server = FixtureServer::start(clock.clone()).unwrap();
    server.set_fault(Route::CkpoolUser, Fault::Hang);
    let store = Arc::new(MemoryPriceStore::new());
    let hub = FeedHub::new(fast_settings(&server), clock.clone(), store.clone()).unwrap();
    let started = Instant::now();
    hub.start().unwrap();

    // Readers during the hang: immediate answers (None for the hung pool).
    let read_start = Instant::now();
    for _ in 0..1000 {
        let _ = hub.pool_stats("ckpool");
        let _ = hub.coin_prices();
    }
    assert!(
        read_start.elapsed() < Duration::from_millis(200),
        "{:?}",
        read_start.elapsed()
    );

    // Everything else arrives quickly although the CKPool request hangs for its 2 s timeout.
    let others = wait_until(Duration::from_secs(5), || {
        hub.coin_prices().is_some()
            && hub.pool_stats("home-ckpool").is_some()
            && hub.pool_stats("solopool-btc").is_some()
            && store.len() == 144
    })
    .unwrap_or_else(|| {
        panic!(
            "other feeds incomplete: coins {} home-ckpool {} solopool {} agile slots {} metrics {:?}",
            hub.coin_prices().is_some(),
            hub.pool_stats("home-ckpool").is_some(),
            hub.pool_stats("solopool-btc").is_some(),
            store.len(),
            hub.metrics()
        )
    });
    assert!(
        others < Duration::from_millis(1000),
        "others took {others:?}"
    );
    assert_eq!(hub.pool_stats("ckpool"), None);
    assert!(server.hits(Route::CkpoolUser) >= 1);

    // The hung request times out after [feeds] timeout (2 s) and is counted as an error.
    let timed_out = wait_until(Duration::from_secs(6), || {
        hub.metrics()
            .iter()
            .any(|m| m.feed == "ckpool" && m.errors == 1)
    });
    assert!(timed_out.is_some(), "the hang ended as a timeout error");
    assert!(started.elapsed() >= Duration::from_millis(1900));

    // Shutdown returns promptly.
    let stop = Instant::now();
    hub.shutdown();
    assert!(
        stop.elapsed() < Duration::from_secs(1),
        "{:?}",
        stop.elapsed()
    );
}

#[test]
fn the_refresher_renews_values_before_they_expire() {
    let clock = Arc::new(ManualClock::new(T0_MS));
    let server = FixtureServer::start(clock.clone()).unwrap();
    let hub = FeedHub::new(
        fast_settings(&server),
        clock.clone(),
        Arc::new(MemoryPriceStore::new()),
    )
    .unwrap();
    hub.start().unwrap();
    wait_until(Duration::from_secs(5), || {
        hub.coin_prices().is_some()
            && hub
                .pool_names()
                .iter()
                .all(|name| hub.pool_stats(name).is_some())
    })
    .expect("first fetch of every feed");
    assert_eq!(server.hits(Route::CkpoolUser), 1);

    // 55 s later the 60 s CKPool value is due (renewal 6 s before expiry); CoinGecko is not.
    clock.advance_ms(55_000);
    wait_until(Duration::from_secs(5), || {
        server.hits(Route::CkpoolUser) == 2
    })
    .expect("renewed");
    wait_until(Duration::from_secs(5), || {
        server.hits(Route::CkpoolStatus) == 2
    })
    .expect("renewed");
    // A hit is counted when the request arrives; the hub stores the answer a moment later
    // (much later under an emulator), so wait for the stored value itself to be renewed.
    wait_until(Duration::from_secs(5), || {
        hub.pool_stats("ckpool")
            .is_some_and(|value| value.age_ms == 0)
    })
    .expect("renewed value stored");
    clock.advance_ms(6_000); // 61 s: past the first value's TTL
    let value = hub.pool_stats("ckpool").unwrap();
    assert!(!value.stale, "renewed before expiry, so never stale");
    assert_eq!(value.age_ms, 6_000);
    assert_eq!(server.hits(Route::CoinGecko), 1);
    wait_until(Duration::from_secs(5), || {
        hub.agile_status().unwrap().last_slots == 144
    })
    .expect("Agile fetched by its own thread");
    let agile = hub.agile_status().unwrap();
    assert_eq!(agile.product.as_deref(), Some("AGILE-24-10-01"));
    assert_eq!(
        agile.last_ok_s,
        Some(T0_MS / 1000),
        "once at start, not again within 30 min"
    );
    hub.shutdown();
}

#[test]
fn pools_are_selected_by_configured_kind_never_by_name() {
    let clock = Arc::new(ManualClock::new(T0_MS));
    let server = FixtureServer::start(clock.clone()).unwrap();
    let mut settings = server.settings();
    settings.energy.tariff = "fixed".into();
    let template = settings.pools[0].clone();
    settings.pools = vec![
        // Named like CKPool, configured as SoloPool: read as SoloPool.
        PoolFeed {
            name: "my-ckpool-backup".into(),
            stats: StatsKind::Solopool,
            coin: "bch".into(),
            ..template.clone()
        },
        // Named like CKPool, no stats: never fetched.
        PoolFeed {
            name: "ckpool".into(),
            stats: StatsKind::None,
            ..template.clone()
        },
        // Disabled: never fetched.
        PoolFeed {
            name: "solopool-off".into(),
            stats: StatsKind::Solopool,
            enabled: false,
            ..template.clone()
        },
    ];
    let hub = FeedHub::new(settings, clock.clone(), Arc::new(MemoryPriceStore::new())).unwrap();
    assert_eq!(hub.pool_names(), vec!["my-ckpool-backup".to_string()]);
    hub.refresh_due();
    assert_eq!(server.hits(Route::Solopool), 1);
    assert_eq!(server.hits(Route::CkpoolUser), 0);
    assert_eq!(server.hits(Route::CkpoolStatus), 0);
    let stats = hub.pool_stats("my-ckpool-backup").unwrap();
    assert!(matches!(*stats.value, PoolStats::Solopool(_)));
    assert_eq!(stats.value.hashrate_hs(), Some(1.082e12));
    assert_eq!(hub.pool_stats("ckpool"), None);
    assert_eq!(hub.pool_stats("solopool-off"), None);
}

#[test]
fn bad_settings_are_refused_before_anything_starts() {
    let clock = Arc::new(ManualClock::new(T0_MS));
    let store = Arc::new(MemoryPriceStore::new());
    let mut settings = FeedSettings::default();
    settings.energy.region = "O".into();
    let error = FeedHub::new(settings, clock.clone(), store.clone())
        .err()
        .unwrap();
    assert!(
        error.contains("[energy] region") && error.contains("no I or O"),
        "{error}"
    );
    let mut settings = FeedSettings::default();
    settings.pools.push(PoolFeed {
        name: "solo".into(),
        url: "stratum+tcp://eu3.solopool.org:8005".into(),
        user: String::new(),
        stats: StatsKind::Solopool,
        account: String::new(),
        coin: "btc".into(),
        enabled: true,
        stats_url: String::new(),
    });
    let error = FeedHub::new(settings, clock, store).err().unwrap();
    assert!(error.contains("needs account"), "{error}");
}

#[test]
fn coin_prices_are_read_per_coin_with_age() {
    let clock = Arc::new(ManualClock::new(T0_MS));
    let server = FixtureServer::start(clock.clone()).unwrap();
    let mut settings = server.settings();
    settings.feeds.coins = vec!["bitcoin".into(), "no-such-coin".into()];
    settings.feeds.coingecko_api_key = "CG-key-xyz".into();
    let hub = FeedHub::new(settings, clock.clone(), Arc::new(MemoryPriceStore::new())).unwrap();
    assert_eq!(
        hub.coin_price("bitcoin"),
        None,
        "nothing before the first fetch"
    );
    hub.refresh_due();
    clock.advance_ms(42_000);
    let (btc, cached) = hub.coin_price("bitcoin").unwrap();
    assert!((btc.price_minor - 7_681_055.0).abs() < 1e-6);
    assert_eq!(cached.age_ms, 42_000);
    assert_eq!(hub.coin_price("no-such-coin"), None);
    assert_eq!(
        hub.coin_price("digibyte"),
        None,
        "not configured, not requested"
    );
    assert_eq!(
        server.last_header("x-cg-demo-api-key").as_deref(),
        Some("CG-key-xyz")
    );
}
