//! Octopus Agile against the loopback fixture server: product discovery over several pages,
//! paginated unit rates, upsert of a republished slot, the BST/GMT change days (46 and 50
//! slots) and the refresh schedule around the 16:00 UK publication.

use std::sync::Arc;
use std::time::Duration;

use hmm::feeds::cache::FeedCounters;
use hmm::feeds::fixture_server::{AGILE_PRODUCT, Fault, FixtureServer, Route};
use hmm::feeds::http::HttpClient;
use hmm::feeds::octopus::{self, AgileFeed, PUBLICATION_POLL_S, next_fetch_at};
use hmm::feeds::{EnergySettings, FeedHub, ManualClock, MemoryPriceStore, PriceStore, Tariff};
use hmm::model::PricePoint;
use hmm::ukclock::{SLOT_S, days_from_civil, uk_day_bounds};

fn utc(y: i64, mo: u32, d: u32, h: u64, mi: u64) -> u64 {
    days_from_civil(y, mo, d) as u64 * 86_400 + h * 3600 + mi * 60
}

fn agile(region: &str) -> EnergySettings {
    EnergySettings {
        region: region.into(),
        ..EnergySettings::default()
    }
}

struct Rig {
    clock: Arc<ManualClock>,
    server: FixtureServer,
    store: MemoryPriceStore,
    http: HttpClient,
}

fn make_rig(now_s: u64) -> Rig {
    let clock = Arc::new(ManualClock::new(now_s * 1000));
    let server = FixtureServer::start(clock.clone()).unwrap();
    Rig {
        clock,
        server,
        store: MemoryPriceStore::new(),
        http: HttpClient::new(Duration::from_secs(2)),
    }
}

fn slots_in_uk_day(store: &MemoryPriceStore, region: u8, any_time_s: u64) -> Vec<PricePoint> {
    let (start, end) = uk_day_bounds(any_time_s);
    store.prices(region, start, end).unwrap()
}

fn assert_contiguous(prices: &[PricePoint]) {
    for pair in prices.windows(2) {
        assert_eq!(pair[0].valid_to_s, pair[1].valid_from_s);
        assert_eq!(pair[0].valid_to_s - pair[0].valid_from_s, SLOT_S);
    }
}

#[test]
fn discovers_the_product_across_pages() {
    let rig = make_rig(utc(2026, 1, 10, 12, 0));
    let counters = FeedCounters::default();
    let code = octopus::discover_product(
        &rig.http,
        &rig.server.base_url(),
        utc(2026, 1, 10, 12, 0),
        &counters,
    )
    .unwrap();
    assert_eq!(code, AGILE_PRODUCT);
    assert_eq!(
        rig.server.hits(Route::Products),
        3,
        "all three product pages read"
    );
    assert_eq!(counters.snapshot("octopus").requests, 3);
}

#[test]
fn fetches_every_rates_page_of_the_window() {
    // 17:00 GMT: tomorrow is published, so the window is yesterday + today + tomorrow.
    let now = utc(2026, 1, 10, 17, 0);
    let rig = make_rig(now);
    let feed = AgileFeed::new(&rig.server.base_url(), &agile("H"), 1800, 50).unwrap();
    let stored = feed.run(&rig.http, &rig.store, now).unwrap();
    assert_eq!(stored, 144);
    assert_eq!(
        rig.server.hits(Route::Rates),
        3,
        "144 slots at 50 a page is 3 pages"
    );
    let all = rig.store.prices(b'H', 0, u64::MAX).unwrap();
    assert_eq!(all.len(), 144);
    assert_eq!(all[0].valid_from_s, utc(2026, 1, 9, 0, 0));
    assert_eq!(all[143].valid_to_s, utc(2026, 1, 12, 0, 0));
    assert_contiguous(&all);
    for p in &all {
        assert_eq!(p.pence_per_kwh, rig.server.price_for_slot(p.valid_from_s));
    }
    // The curve is Agile-shaped: the 17:00 peak costs more than 03:00.
    let at = |h, m| {
        rig.store
            .price_at(b'H', utc(2026, 1, 10, h, m))
            .unwrap()
            .unwrap()
            .pence_per_kwh
    };
    assert!(
        at(17, 0) > 2.0 * at(3, 0),
        "peak {} vs night {}",
        at(17, 0),
        at(3, 0)
    );
    let status = feed.status();
    assert_eq!(status.tariff_code.as_deref(), Some("E-1R-AGILE-24-10-01-H"));
    assert_eq!(status.covered_until_s, Some(utc(2026, 1, 12, 0, 0)));
    // Other regions are separate rows.
    assert!(rig.store.prices(b'C', 0, u64::MAX).unwrap().is_empty());
}

#[test]
fn a_republished_slot_replaces_the_old_value() {
    let now = utc(2026, 1, 10, 17, 0);
    let rig = make_rig(now);
    let feed = AgileFeed::new(&rig.server.base_url(), &agile("H"), 1800, 100).unwrap();
    feed.run(&rig.http, &rig.store, now).unwrap();
    let slot = utc(2026, 1, 11, 8, 30);
    let before = rig.store.price_at(b'H', slot).unwrap().unwrap();
    rig.server.set_price(slot, 42.4242);
    rig.clock.set_ms((now + 1800) * 1000);
    feed.run(&rig.http, &rig.store, now + 1800).unwrap();
    let after = rig.store.price_at(b'H', slot + 60).unwrap().unwrap();
    assert_ne!(before.pence_per_kwh, 42.4242);
    assert_eq!(after.pence_per_kwh, 42.4242);
    assert_eq!(after.valid_from_s, slot);
    assert_eq!(rig.store.len(), 144, "replaced, not duplicated");
}

#[test]
fn change_days_have_46_and_50_slots() {
    // Spring forward: Sunday 29 March 2026, 17:00 BST = 16:00 UTC.
    let now = utc(2026, 3, 29, 16, 0);
    let rig = make_rig(now);
    let feed = AgileFeed::new(&rig.server.base_url(), &agile("H"), 1800, 100).unwrap();
    assert_eq!(feed.run(&rig.http, &rig.store, now).unwrap(), 48 + 46 + 48);
    let day = slots_in_uk_day(&rig.store, b'H', now);
    assert_eq!(day.len(), 46);
    assert_eq!(day[0].valid_from_s, utc(2026, 3, 29, 0, 0));
    assert_eq!(day[45].valid_to_s, utc(2026, 3, 29, 23, 0));
    assert_contiguous(&day);

    // Fall back: Sunday 25 October 2026, 17:00 GMT.
    let now = utc(2026, 10, 25, 17, 0);
    let rig2 = make_rig(now);
    let feed = AgileFeed::new(&rig2.server.base_url(), &agile("N"), 1800, 100).unwrap();
    assert_eq!(
        feed.run(&rig2.http, &rig2.store, now).unwrap(),
        48 + 50 + 48
    );
    let day = slots_in_uk_day(&rig2.store, b'N', now);
    assert_eq!(day.len(), 50);
    assert_eq!(day[0].valid_from_s, utc(2026, 10, 24, 23, 0));
    assert_eq!(day[49].valid_to_s, utc(2026, 10, 26, 0, 0));
    assert_contiguous(&day);
}

/// Stored prices from `from_s` to `to_s` as the schedule sees them.
fn covered(from_s: u64, to_s: u64, now_s: u64) -> Option<u64> {
    let prices: Vec<PricePoint> = (from_s..to_s)
        .step_by(SLOT_S as usize)
        .map(|s| PricePoint {
            valid_from_s: s,
            valid_to_s: s + SLOT_S,
            pence_per_kwh: 10.0,
        })
        .collect();
    octopus::covered_until(&prices, now_s)
}

#[test]
fn schedule_on_the_day_before_spring_forward() {
    let regular = 1800;
    // Saturday 28 March 2026 (GMT); tomorrow, 29 March, has 46 slots and ends at 23:00 UTC
    // (midnight BST).
    let sat_start = utc(2026, 3, 28, 0, 0);
    let sun_end = utc(2026, 3, 29, 23, 0);
    assert_eq!(uk_day_bounds(utc(2026, 3, 29, 12, 0)).1, sun_end);
    let today_only = |now| covered(sat_start, utc(2026, 3, 29, 0, 0), now);

    // Never fetched: now.
    let now = utc(2026, 3, 28, 10, 0);
    assert_eq!(next_fetch_at(now, None, None, regular), now);
    // Morning with today complete: every 30 min.
    assert_eq!(
        next_fetch_at(now, Some(now), today_only(now), regular),
        now + 1800
    );
    // 15:50: the regular fetch would be 16:20, but publication at 16:00 comes first.
    let now = utc(2026, 3, 28, 15, 50);
    assert_eq!(
        next_fetch_at(now, Some(now), today_only(now), regular),
        utc(2026, 3, 28, 16, 0)
    );
    // 16:10 without tomorrow: every 5 minutes.
    let now = utc(2026, 3, 28, 16, 10);
    assert_eq!(
        next_fetch_at(now, Some(now), today_only(now), regular),
        now + PUBLICATION_POLL_S
    );
    // Tomorrow stored but one slot short of its 46: keep polling.
    let short = covered(sat_start, sun_end - SLOT_S, now);
    assert_eq!(
        next_fetch_at(now, Some(now), short, regular),
        now + PUBLICATION_POLL_S
    );
    // All 46 slots of tomorrow stored: back to every 30 min.
    let full = covered(sat_start, sun_end, now);
    assert_eq!(full, Some(sun_end));
    assert_eq!(next_fetch_at(now, Some(now), full, regular), now + 1800);
    // The current slot missing (a gap at now) means poll every 5 minutes whatever the hour.
    let now = utc(2026, 3, 28, 9, 0);
    let gap = covered(utc(2026, 3, 28, 10, 0), sun_end, now);
    assert_eq!(gap, None);
    assert_eq!(
        next_fetch_at(now, Some(now - 60), gap, regular),
        now - 60 + PUBLICATION_POLL_S
    );
}

#[test]
fn schedule_on_the_change_days_themselves() {
    let regular = 1800;
    // Sunday 29 March: 16:00 BST is 15:00 UTC.
    let day_start = utc(2026, 3, 29, 0, 0);
    let mon_end = utc(2026, 3, 30, 23, 0);
    let now = utc(2026, 3, 29, 14, 50);
    let today = covered(day_start, utc(2026, 3, 29, 23, 0), now);
    assert_eq!(
        next_fetch_at(now, Some(now), today, regular),
        utc(2026, 3, 29, 15, 0)
    );
    let now = utc(2026, 3, 29, 15, 5);
    assert_eq!(
        next_fetch_at(now, Some(now), today, regular),
        now + PUBLICATION_POLL_S
    );
    let both = covered(day_start, mon_end, now);
    assert_eq!(next_fetch_at(now, Some(now), both, regular), now + 1800);

    // Saturday 24 October (BST): tomorrow, 25 October, has 50 slots ending 00:00 UTC on 26th.
    let sat_start = utc(2026, 10, 23, 23, 0);
    let sun_end = utc(2026, 10, 26, 0, 0);
    let now = utc(2026, 10, 24, 15, 30); // 16:30 BST
    let short = covered(sat_start, sun_end - SLOT_S, now);
    assert_eq!(
        next_fetch_at(now, Some(now), short, regular),
        now + PUBLICATION_POLL_S
    );
    let full = covered(sat_start, sun_end, now);
    assert_eq!(next_fetch_at(now, Some(now), full, regular), now + 1800);
    // Sunday 25 October: 16:00 GMT is 16:00 UTC.
    let now = utc(2026, 10, 25, 15, 45);
    let today = covered(utc(2026, 10, 24, 23, 0), sun_end, now);
    assert_eq!(
        next_fetch_at(now, Some(now), today, regular),
        utc(2026, 10, 25, 16, 0)
    );
}

#[test]
fn the_feed_polls_until_tomorrow_appears_then_relaxes() {
    // 15:40 GMT: only today is published.
    let start = utc(2026, 1, 10, 15, 40);
    let rig = make_rig(start);
    let feed = AgileFeed::new(&rig.server.base_url(), &agile("H"), 1800, 100).unwrap();
    assert_eq!(
        feed.due_at_s(start, &rig.store),
        start,
        "nothing stored: fetch now"
    );
    assert_eq!(feed.run(&rig.http, &rig.store, start).unwrap(), 96);
    assert_eq!(feed.due_at_s(start, &rig.store), utc(2026, 1, 10, 16, 0));
    // 16:00: the server now publishes tomorrow, and the fetch completes it.
    let four = utc(2026, 1, 10, 16, 0);
    rig.clock.set_ms(four * 1000);
    assert_eq!(feed.run(&rig.http, &rig.store, four).unwrap(), 144);
    assert_eq!(feed.due_at_s(four, &rig.store), four + 1800);
}

#[test]
fn a_failed_fetch_keeps_stored_prices_and_backs_off() {
    let now = utc(2026, 1, 10, 17, 0);
    let rig = make_rig(now);
    let feed = AgileFeed::new(&rig.server.base_url(), &agile("H"), 1800, 100).unwrap();
    feed.run(&rig.http, &rig.store, now).unwrap();
    rig.server.set_fault(Route::Rates, Fault::Status(500));
    let later = now + 1800;
    let error = feed.run(&rig.http, &rig.store, later).unwrap_err();
    assert!(error.to_string().contains("HTTP 500"), "{error}");
    assert_eq!(rig.store.len(), 144);
    assert_eq!(feed.status().failures, 1);
    assert_eq!(feed.due_at_s(later, &rig.store), later + 15);
    assert_eq!(feed.counters().snapshot("octopus").errors, 1);
}

#[test]
fn a_pinned_product_skips_discovery() {
    let now = utc(2026, 1, 10, 12, 0);
    let rig = make_rig(now);
    let mut energy = agile("C");
    energy.product = AGILE_PRODUCT.into();
    let feed = AgileFeed::new(&rig.server.base_url(), &energy, 1800, 100).unwrap();
    feed.run(&rig.http, &rig.store, now).unwrap();
    assert_eq!(rig.server.hits(Route::Products), 0);
    // A pinned product the server does not know is a clear 404, not silence.
    energy.product = "AGILE-99-01-01".into();
    let feed = AgileFeed::new(&rig.server.base_url(), &energy, 1800, 100).unwrap();
    let error = feed.run(&rig.http, &rig.store, now).unwrap_err();
    assert!(
        error.to_string().contains("E-1R-AGILE-99-01-01-C"),
        "{error}"
    );
}

#[test]
fn tariff_price_at_answers_for_agile_and_fixed() {
    let now = utc(2026, 1, 10, 17, 0);
    let rig = make_rig(now);
    let mut settings = rig.server.settings();
    settings.pools.clear();
    settings.feeds.coins.clear();
    let store = Arc::new(MemoryPriceStore::new());
    let hub = FeedHub::new(settings.clone(), rig.clock.clone(), store.clone()).unwrap();
    assert_eq!(hub.price_at(now).unwrap(), None, "nothing fetched yet");
    assert_eq!(hub.refresh_due(), 1);
    let price = hub.price_at(now + 600).unwrap().unwrap();
    assert_eq!(price.valid_from_s, now);
    assert_eq!(price.pence_per_kwh, rig.server.price_for_slot(now));
    assert!(matches!(hub.tariff(), Tariff::Agile { region: b'H', .. }));

    settings.energy.tariff = "fixed".into();
    settings.energy.fixed_price_p_kwh = 27.03;
    settings.energy.standing_charge_p_day = 48.79;
    let fixed = FeedHub::new(settings, rig.clock.clone(), store).unwrap();
    let price = fixed.price_at(now + 600).unwrap().unwrap();
    assert_eq!((price.valid_from_s, price.pence_per_kwh), (now, 27.03));
    assert_eq!(fixed.tariff().standing_charge_p_day(), 48.79);
    assert_eq!(fixed.agile_status(), None);
    assert_eq!(fixed.refresh_due(), 0, "a fixed tariff fetches nothing");
}
