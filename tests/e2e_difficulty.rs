//! Network difficulty end to end, as a user sees it in the profitability widget
//! (`/api/widgets/profitability`): the real daemon polls simulated AxeOS firmware that
//! reports `networkDifficulty`, and fetches SoloPool `/api/stats` from the fixture server.
//!
//! What must hold: a miner's value counts for the coin of the configured pool it mines on,
//! and for nothing when its pool is not configured; the fresher of miner and SoloPool
//! wins; expected coins per day is hashrate × 86400 × block reward / (difficulty × 2³²).

mod e2e_support;

use std::time::{Duration, Instant};

use e2e_support::{Harness, Options, http, miners_toml, start};
use hmm::config::Config;
use hmm::feeds::fixture_server::Route;
use hmm::simulate::SimModel;
use hmm::units::now_ms;
use serde_json::Value;

/// The network difficulty simulated AxeOS v2.15 and NerdQAxe firmware report.
const SIM_DIFFICULTY: f64 = 126_411_437_451_912.0;
/// The profitability widget's BTC block subsidy.
const BLOCK_REWARD_BTC: f64 = 3.125;
/// Bitcoin in GBP in the fixture server's CoinGecko reply.
const BTC_GBP: f64 = 76_810.55;

/// The pool both simulated miners mine on (their default), listed as BTC.
const CKPOOL: &str = r#"
[[pools]]
name = "ckpool"
url = "stratum+tcp://solo.ckpool.org:3333"
user = "bc1qexampleaddress000000000000000000000000.rig"
coin = "btc"
"#;

/// A BTC pool none of the simulated miners mines on.
const PUBLIC_POOL: &str = r#"
[[pools]]
name = "public-pool"
url = "stratum+tcp://public-pool.io:21496"
user = "bc1qexampleaddress000000000000000000000000.rig"
coin = "btc"
"#;

/// A SoloPool BTC account: its coin's `/api/stats` is fetched for the network difficulty.
const SOLOPOOL_BTC: &str = r#"
[[pools]]
name = "solopool-btc"
url = "stratum+tcp://eu3.solopool.org:8005"
user = "bc1qa8r4up9nchkvdnhcf9feexv2jfantrk48ef374.rig"
stats = "solopool"
account = "bc1qa8r4up9nchkvdnhcf9feexv2jfantrk48ef374"
coin = "btc"
"#;

/// SoloPool's answer in these tests: a difficulty unlike the miners' so the source shows.
const SOLOPOOL_DIFFICULTY: f64 = 130_000_000_000_000.0;
const SOLOPOOL_STATS: &str = r#"{"stats": {"difficulty": 130000000000000, "height": 912350}}"#;

/// Evaluates the profitability widget now and reads it back from the web API.
async fn profitability(h: &Harness) -> Value {
    let daemon = std::sync::Arc::clone(&h.daemon);
    tokio::task::spawn_blocking(move || {
        daemon
            .scripts
            .widgets
            .evaluate("profitability", now_ms())
            .expect("profitability evaluates");
        let addr = daemon.web_addr().expect("web server runs");
        let (status, body) = http(addr, "GET", "/api/widgets/profitability", None, "");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("JSON widget result")
    })
    .await
    .unwrap()
}

/// Expected coins per day from the stored hashrate of every miner, computed here.
fn expected_coins_per_day(h: &Harness, difficulty: f64) -> f64 {
    let hashrate: f64 = h
        .fleet
        .devices()
        .iter()
        .map(|d| h.latest(&d.name).hashrate_hs.expect("hashrate reported"))
        .sum();
    hashrate * 86_400.0 * BLOCK_REWARD_BTC / (difficulty * 2f64.powi(32))
}

fn assert_near(what: &str, got: &Value, want: f64) {
    let got = got
        .as_f64()
        .unwrap_or_else(|| panic!("{what} is {got}, expected ≈ {want}"));
    assert!(
        (got - want).abs() <= want.abs() * 1e-9,
        "{what}: widget says {got}, computed {want}"
    );
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "{what} within 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn reload_with(h: &Harness, pools: &str) {
    let text = format!("{}{pools}{}", h.base_config, miners_toml(h.fleet.devices()));
    let config = Config::from_str(&text, "<reload>").unwrap_or_else(|e| panic!("{e}"));
    h.daemon.reload(config).expect("reload accepted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miner_counts_only_for_the_coin_of_its_configured_pool() {
    let h = start(
        &[SimModel::BitaxeGammaV2_15, SimModel::NerdQaxePlusPlus],
        Options {
            extra_config: PUBLIC_POOL,
            ..Options::default()
        },
    )
    .await;
    h.cycle_until_all_online().await;
    wait_for("the BTC price", || h.daemon.feeds.coin_prices().is_some()).await;

    // Both report the difficulty of solo.ckpool.org:3333, which the config does not list:
    // hmm does not guess its coin, so profitability stays unknown.
    let unknown = profitability(&h).await;
    assert!(unknown["network_difficulty"].is_null(), "{unknown}");
    assert!(unknown["coins_per_day"].is_null(), "{unknown}");
    assert_eq!(unknown["profit_display"], "--");
    assert_eq!(unknown["status"], "unknown");

    // Listing the pool as BTC makes the readings count at once (no new poll needed).
    reload_with(&h, CKPOOL);
    let known = profitability(&h).await;
    assert_eq!(known["network_difficulty"].as_f64(), Some(SIM_DIFFICULTY));
    let coins = expected_coins_per_day(&h, SIM_DIFFICULTY);
    assert!(coins > 0.0);
    assert_near("coins_per_day", &known["coins_per_day"], coins);
    assert_near("value_gbp", &known["value_gbp"], coins * BTC_GBP);
    assert_ne!(known["status"], "unknown", "{known}");
    assert_ne!(known["profit_display"], "--", "{known}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn solopool_answers_until_a_miner_on_a_configured_pool_reports_a_newer_value() {
    let h = start(
        &[SimModel::BitaxeGammaV2_15],
        Options {
            extra_config: SOLOPOOL_BTC,
            feed_bodies: &[(Route::SolopoolStats, SOLOPOOL_STATS)],
            ..Options::default()
        },
    )
    .await;
    wait_for("SoloPool's BTC network difficulty", || {
        h.daemon.feeds.network_difficulty("btc").is_some()
    })
    .await;
    assert_eq!(h.feeds.hits(Route::SolopoolStats), 1);
    // The miner is polled after that fetch, but its pool (solo.ckpool.org) is not listed.
    h.cycle_until_all_online().await;
    let from_solopool = profitability(&h).await;
    assert_eq!(
        from_solopool["network_difficulty"].as_f64(),
        Some(SOLOPOOL_DIFFICULTY)
    );
    assert_near(
        "coins_per_day",
        &from_solopool["coins_per_day"],
        expected_coins_per_day(&h, SOLOPOOL_DIFFICULTY),
    );

    // Once the miner's pool is listed, its reading (newer than SoloPool's fetch) wins.
    reload_with(&h, CKPOOL);
    let from_miner = profitability(&h).await;
    assert_eq!(
        from_miner["network_difficulty"].as_f64(),
        Some(SIM_DIFFICULTY)
    );
    assert_near(
        "coins_per_day",
        &from_miner["coins_per_day"],
        expected_coins_per_day(&h, SIM_DIFFICULTY),
    );
    // Reading the value never fetched anything: still the one request from start-up.
    assert_eq!(h.feeds.hits(Route::SolopoolStats), 1);
    h.stop().await;
}
