//! Every reference fixture parsed with exact values in program units (H/s, pence, UTC s),
//! both from the file and fetched through the loopback fixture server.

use std::sync::Arc;

use hmm::feeds::fixture_server::{self, FixtureServer, Route};
use hmm::feeds::http::HttpClient;
use hmm::feeds::{ManualClock, ckpool, coingecko, octopus, solopool};
use hmm::ukclock::days_from_civil;

/// Reads a reference fixture from `../shared/fixtures/` beside the checkout (one level up
/// again for a worktree under `wt/`), else the copy in `tests/fixtures/`.
fn fixture(name: &str) -> String {
    let root = env!("CARGO_MANIFEST_DIR");
    let candidates = [
        format!("{root}/../shared/fixtures/{name}"),
        format!("{root}/../../shared/fixtures/{name}"),
        format!("{root}/tests/fixtures/{name}"),
    ];
    candidates
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok())
        .unwrap_or_else(|| panic!("fixture {name} not found at {}", candidates[0]))
}

/// Reads this project's own test data (`tests/data/`, provenance in its README).
fn test_data(name: &str) -> String {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn close(actual: Option<f64>, expected: f64) -> bool {
    actual.is_some_and(|a| (a - expected).abs() <= 1e-9 * expected.abs().max(1.0))
}

fn utc(y: i64, mo: u32, d: u32, h: u64, mi: u64) -> u64 {
    days_from_civil(y, mo, d) as u64 * 86_400 + h * 3600 + mi * 60
}

fn assert_coingecko(prices: &coingecko::CoinPrices) {
    assert_eq!(prices.currency, "gbp");
    assert_eq!(prices.prices.len(), 3);
    let btc = &prices.prices["bitcoin"];
    assert!(close(Some(btc.price_minor), 7_681_055.0), "{btc:?}");
    assert!(close(btc.change_24h_pct, -1.0987654321098));
    assert_eq!(btc.last_updated_s, Some(1_747_140_180));
    let bch = &prices.prices["bitcoin-cash"];
    assert!(close(Some(bch.price_minor), 32_614.0));
    assert_eq!(bch.last_updated_s, Some(1_747_140_175));
    let dgb = &prices.prices["digibyte"];
    assert!(close(Some(dgb.price_minor), 0.887465));
    assert!(close(dgb.change_24h_pct, 1.0123456789012));
}

fn assert_ckpool_user(user: &ckpool::CkpoolUser) {
    assert_eq!(user.hashrate.h1m, Some(0.0));
    assert_eq!(user.hashrate.h5m, Some(0.0));
    assert!(close(user.hashrate.h1h, 4.57e9));
    assert!(close(user.hashrate.h1d, 85.4e12));
    assert!(close(user.hashrate.h7d, 148e12));
    assert_eq!(user.hashrate.h15m, None);
    assert_eq!(user.last_share_s, Some(1_751_962_081));
    assert_eq!(user.workers_connected, Some(0));
    assert_eq!(user.shares, Some(7_831_260_707_329));
    assert!(close(user.best_share, 137_427_866_914_851.2));
    assert!(close(user.best_ever, 137_427_866_914_851.0));
    assert_eq!(user.authorised_s, Some(1_721_981_103));
    assert_eq!(user.workers.len(), 1);
    let worker = &user.workers[0];
    assert_eq!(worker.name, "bc1qa8r4up9nchkvdnhcf9feexv2jfantrk48ef374");
    assert!(close(worker.hashrate.h1d, 85.4e12));
    assert!(close(worker.hashrate.h7d, 51.5e12));
    assert_eq!(worker.shares, Some(10_267_078_458));
    assert!(close(worker.best_share, 203_034_806_650.409));
    assert!(close(worker.best_ever, 203_034_806_650.0));
}

fn assert_pool_status(status: &ckpool::CkpoolStatus) {
    assert_eq!(status.runtime_s, Some(9240));
    assert_eq!(status.last_update_s, Some(1_767_000_053));
    assert_eq!(
        (
            status.users,
            status.workers,
            status.idle,
            status.disconnected
        ),
        (Some(1), Some(4), Some(1), Some(3))
    );
    let h = &status.hashrate;
    assert!(close(h.h1m, 1.71e12) && close(h.h5m, 1.79e12) && close(h.h15m, 1.8e12));
    assert!(close(h.h1h, 1.48e12) && close(h.h6h, 439e9));
    assert!(close(h.h1d, 121e9) && close(h.h7d, 17.8e9));
    assert!(close(status.diff, 0.24));
    assert_eq!(
        (status.accepted, status.rejected),
        (Some(2_525_312), Some(637_048))
    );
    assert!(close(status.best_share, 169_302.0));
    assert!(close(status.sps_1m, 0.398) && close(status.sps_5m, 0.42));
    assert!(close(status.sps_15m, 0.429) && close(status.sps_1h, 0.351));
    assert!(close(
        status.reject_rate_pct(),
        637_048.0 / 3_162_360.0 * 100.0
    ));
}

fn assert_solopool(account: &solopool::SolopoolAccount) {
    assert!(close(account.current_hashrate_hs, 1.082e12));
    assert!(close(account.hashrate_hs, 1.064523e12));
    assert_eq!(
        (
            account.workers_online,
            account.workers_offline,
            account.workers_total
        ),
        (Some(1), Some(0), Some(1))
    );
    assert_eq!(account.workers.len(), 1);
    let w = &account.workers[0];
    assert_eq!(w.name, "bitaxe");
    assert!(close(w.hashrate_hs, 1.082e12) && close(w.hashrate_long_hs, 1.064523e12));
    assert_eq!(w.last_beat_s, Some(1_747_140_112));
    assert_eq!(w.offline, Some(false));
    assert_eq!(
        (w.shares_valid, w.shares_invalid, w.shares_stale),
        (Some(5210), Some(2), Some(0))
    );
    assert_eq!(account.blocks_found, Some(0));
    assert_eq!(account.last_share_s, Some(1_747_140_112));
    assert_eq!((account.balance, account.paid), (Some(0.0), Some(0.0)));
    assert_eq!(account.payments_total, Some(0));
    assert_eq!(account.round_shares, Some(52_431));
    let periods: Vec<u64> = account.earnings.iter().map(|e| e.period_s).collect();
    assert_eq!(periods, vec![86_400, 604_800, 2_592_000]);
    assert!(account.earnings.iter().all(|e| e.blocks == Some(0)));
}

#[test]
fn coingecko_fixture() {
    let prices =
        coingecko::parse_simple_price(&fixture("coingecko_simple_price.json"), "gbp").unwrap();
    assert_coingecko(&prices);
    let usd =
        coingecko::parse_simple_price(&fixture("coingecko_simple_price.json"), "usd").unwrap();
    assert!(close(Some(usd.prices["bitcoin"].price_minor), 9_723_412.0));
    // A currency CoinGecko did not return leaves the coin out rather than inventing 0.
    let eur =
        coingecko::parse_simple_price(&fixture("coingecko_simple_price.json"), "eur").unwrap();
    assert!(eur.prices.is_empty());
    assert!(coingecko::parse_simple_price("[]", "gbp").is_err());
}

#[test]
fn ckpool_fixtures() {
    assert_ckpool_user(&ckpool::parse_user(&fixture("ckpool_user.json")).unwrap());
    assert_pool_status(&ckpool::parse_pool_status(&fixture("ckpool_pool_status.txt")).unwrap());
}

#[test]
fn solopool_fixture() {
    assert_solopool(&solopool::parse_account(&fixture("solopool_account.json")).unwrap());
}

#[test]
fn solopool_stats_give_the_network_difficulty() {
    let network = solopool::parse_network(&test_data("solopool_stats.json")).unwrap();
    assert_eq!(network.difficulty, 126_411_437_451_912.0);
    // open-ethereum-pool's own /api/stats keeps it per node, as a string.
    let oep = r#"{"hashrate": 0, "nodes": [{"name": "main", "difficulty": "5512345678901", "height": "880001"}],
        "stats": {"lastBlockFound": 0, "roundShares": 0}}"#;
    assert_eq!(
        solopool::parse_network(oep).unwrap().difficulty,
        5_512_345_678_901.0
    );
    // No usable difficulty is an error (the cache then keeps the last good value).
    for bad in [
        r#"{"stats": {"difficulty": 0}}"#,
        r#"{"stats": {"difficulty": -1}}"#,
        r#"{"stats": {"difficulty": "n/a"}}"#,
        r#"{"stats": {"poolHashrate": 1}}"#,
        "[]",
        "<html>Bad gateway</html>",
    ] {
        let error = solopool::parse_network(bad).unwrap_err().to_string();
        assert!(error.contains("SoloPool stats"), "{bad}: {error}");
    }
}

#[test]
fn octopus_fixtures() {
    let (prices, next) = octopus::parse_rates_page(&fixture("octopus_agile_rates.json")).unwrap();
    assert_eq!(prices.len(), 12);
    assert_eq!(
        next.as_deref(),
        Some(
            "https://api.octopus.energy/v1/products/AGILE-24-10-01/electricity-tariffs/E-1R-AGILE-24-10-01-H/standard-unit-rates/?page=2"
        )
    );
    // Newest first on the wire; value_inc_vat in p/kWh.
    assert_eq!(prices[0].valid_from_s, utc(2025, 5, 13, 21, 30));
    assert_eq!(prices[0].valid_to_s, utc(2025, 5, 13, 22, 0));
    assert_eq!(prices[0].pence_per_kwh, 17.283);
    assert_eq!(prices[11].valid_from_s, utc(2025, 5, 13, 16, 0));
    assert_eq!(prices[11].pence_per_kwh, 27.489);

    let (products, next) = octopus::parse_products_page(&fixture("octopus_products.json")).unwrap();
    assert_eq!(next, None);
    assert_eq!(products.len(), 2);
    assert_eq!(products[0].available_from_s, Some(utc(2024, 9, 30, 23, 0)));
    let now = utc(2026, 1, 10, 12, 0);
    assert_eq!(
        octopus::select_agile_product(&products, now).as_deref(),
        Some("AGILE-24-10-01")
    );
    // Before it was available, nothing qualifies (the export product never does).
    assert_eq!(
        octopus::select_agile_product(&products, utc(2024, 1, 1, 0, 0)),
        None
    );
}

#[test]
fn newest_available_agile_product_wins_and_withdrawn_ones_lose() {
    let product = |code: &str, dir: &str, from: u64, to: Option<u64>| octopus::Product {
        code: code.into(),
        direction: dir.into(),
        available_from_s: Some(from),
        available_to_s: to,
    };
    let now = utc(2026, 6, 1, 0, 0);
    let products = vec![
        product("AGILE-24-10-01", "IMPORT", utc(2024, 10, 1, 0, 0), None),
        product("AGILE-26-05-01", "IMPORT", utc(2026, 5, 1, 0, 0), None),
        product("AGILE-26-09-01", "IMPORT", utc(2026, 9, 1, 0, 0), None),
        product(
            "AGILE-OUTGOING-26-05-01",
            "IMPORT",
            utc(2026, 5, 2, 0, 0),
            None,
        ),
        product(
            "AGILE-FLEX-22-11-25",
            "IMPORT",
            utc(2026, 5, 3, 0, 0),
            Some(utc(2026, 5, 20, 0, 0)),
        ),
    ];
    assert_eq!(
        octopus::select_agile_product(&products, now).as_deref(),
        Some("AGILE-26-05-01")
    );
}

#[test]
fn built_in_demo_payloads_match_the_reference_fixtures() {
    let same_json = |a: &str, b: &str| {
        serde_json::from_str::<serde_json::Value>(a).unwrap()
            == serde_json::from_str::<serde_json::Value>(b).unwrap()
    };
    assert!(same_json(
        fixture_server::COINGECKO_BODY,
        &fixture("coingecko_simple_price.json")
    ));
    assert!(same_json(
        fixture_server::CKPOOL_USER_BODY,
        &fixture("ckpool_user.json")
    ));
    assert!(same_json(
        fixture_server::SOLOPOOL_ACCOUNT_BODY,
        &fixture("solopool_account.json")
    ));
    assert!(same_json(
        fixture_server::SOLOPOOL_STATS_BODY,
        &test_data("solopool_stats.json")
    ));
    let lines = |s: &str| -> Vec<serde_json::Value> {
        s.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    assert_eq!(
        lines(fixture_server::CKPOOL_STATUS_BODY),
        lines(&fixture("ckpool_pool_status.txt"))
    );
}

#[test]
fn fixtures_fetched_over_http_parse_the_same() {
    let server =
        FixtureServer::start(Arc::new(ManualClock::new(utc(2026, 1, 10, 12, 0) * 1000))).unwrap();
    server.set_body(Route::CoinGecko, &fixture("coingecko_simple_price.json"));
    server.set_body(Route::CkpoolUser, &fixture("ckpool_user.json"));
    server.set_body(Route::CkpoolStatus, &fixture("ckpool_pool_status.txt"));
    server.set_body(Route::Solopool, &fixture("solopool_account.json"));
    let http = HttpClient::new(std::time::Duration::from_secs(2));
    let base = server.base_url();
    let coins = vec![
        "bitcoin".to_string(),
        "bitcoin-cash".into(),
        "digibyte".into(),
        "nocoin".into(),
    ];
    let prices = coingecko::fetch_prices(&http, &base, &coins, "gbp", "CG-demo-key").unwrap();
    assert_coingecko(&prices);
    assert_eq!(
        server.last_header("x-cg-demo-api-key").as_deref(),
        Some("CG-demo-key")
    );
    let agent = server.last_header("user-agent").unwrap();
    assert_eq!(agent, format!("hmm/{}", env!("CARGO_PKG_VERSION")));
    assert_ckpool_user(&ckpool::fetch_user(&http, &base, fixture_server::DEMO_ADDRESS).unwrap());
    assert_pool_status(&ckpool::fetch_pool_status(&http, &base).unwrap());
    let template = format!("{base}/{{coin}}");
    let account =
        solopool::fetch_account(&http, &template, "dgb-sha", fixture_server::DEMO_ADDRESS).unwrap();
    assert_solopool(&account);
    assert_eq!(server.hits(Route::Solopool), 1);
    server.set_body(Route::SolopoolStats, &test_data("solopool_stats.json"));
    let network = solopool::fetch_network(&http, &template, "btc").unwrap();
    assert_eq!(network.difficulty, 126_411_437_451_912.0);
    assert_eq!(server.hits(Route::SolopoolStats), 1);
    server.set_body(Route::SolopoolStats, r#"{"stats": {}}"#);
    let error = solopool::fetch_network(&http, &template, "btc").unwrap_err();
    assert!(
        error.to_string().contains("/btc/api/stats"),
        "names the URL: {error}"
    );
}

#[test]
fn http_errors_are_typed_and_never_carry_the_api_key() {
    let server = FixtureServer::start(Arc::new(ManualClock::new(0))).unwrap();
    server.set_fault(
        Route::CoinGecko,
        fixture_server::Fault::TooManyRequests { retry_after_s: 90 },
    );
    let http = HttpClient::new(std::time::Duration::from_secs(2));
    let error = coingecko::fetch_prices(
        &http,
        &server.base_url(),
        &["bitcoin".into()],
        "gbp",
        "CG-secret-123",
    )
    .unwrap_err();
    assert!(error.is_rate_limited());
    assert_eq!(
        error.retry_after(),
        Some(std::time::Duration::from_secs(90))
    );
    let text = error.to_string();
    assert!(text.contains("HTTP 429") && text.contains("90 s"), "{text}");
    assert!(!text.contains("CG-secret-123") && !format!("{error:?}").contains("CG-secret-123"));

    server.set_fault(Route::CkpoolUser, fixture_server::Fault::Status(404));
    let error = ckpool::fetch_user(&http, &server.base_url(), "bc1qunknown").unwrap_err();
    assert!(
        error.to_string().contains("/users/bc1qunknown: HTTP 404"),
        "{error}"
    );

    // Nothing listening: a transport error naming the URL, quickly.
    let dead = HttpClient::new(std::time::Duration::from_millis(500));
    let error = ckpool::fetch_pool_status(&dead, "http://127.0.0.1:9").unwrap_err();
    assert!(
        error.to_string().contains("127.0.0.1:9/pool/pool.status"),
        "{error}"
    );
}
