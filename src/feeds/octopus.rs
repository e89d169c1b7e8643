//! Octopus Energy Agile: product discovery, paginated unit rates into the store, the
//! refresh schedule around the ~16:00 UK publication, and [`Tariff`], which prices any
//! moment from either the stored Agile slots or a fixed unit rate.
//!
//! Unlike the ancestor (original.md §4) this does not hard-code `AGILE-24-10-01`: it walks
//! `/v1/products/` for the newest available import Agile product (a config pin wins), asks
//! for an explicit window (yesterday's UK midnight to the end of tomorrow), follows every
//! `next` page, and upserts so a republished slot replaces the old value. "Today" and
//! "tomorrow" are Europe/London days (23 or 25 hours on change days), never UTC days.

use std::sync::Mutex;

use serde_json::Value;

use super::cache::{FeedCounters, backoff_ms};
use super::http::HttpClient;
use super::settings::EnergySettings;
use super::{FeedError, PriceStore};
use crate::model::PricePoint;
use crate::ukclock::{SLOT_S, slot_start_s, uk_day_bounds, uk_offset_s};

/// Poll interval while tomorrow's prices are awaited (from 16:00 UK) or today's are missing.
pub const PUBLICATION_POLL_S: u64 = 300;

/// At most this many pages are followed (a 3-day window is 2 pages of 100).
const MAX_PAGES: usize = 50;

/// Re-discover the product after this long, so a new Agile product is picked up.
const PRODUCT_TTL_S: u64 = 86_400;

/// The Agile region letters (GSP groups); I and O do not exist.
pub const REGIONS: &str = "ABCDEFGHJKLMNP";

/// The region byte (b'A'..=b'P') of a region letter, case-insensitive.
pub fn region_byte(letter: &str) -> Result<u8, String> {
    let upper = letter.trim().to_ascii_uppercase();
    match upper.as_bytes() {
        [b] if REGIONS.as_bytes().contains(b) => Ok(*b),
        _ => Err(format!(
            "[energy] region = {letter:?}: use one Agile region letter of {REGIONS} (no I or O)"
        )),
    }
}

/// The single-register electricity tariff code, `E-1R-<PRODUCT>-<REGION>`.
pub fn tariff_code(product: &str, region: u8) -> String {
    format!("E-1R-{product}-{}", region as char)
}

/// Parses ISO 8601 as Octopus writes it: `2025-05-13T21:30:00Z`, `...+01:00`, optional
/// fractional seconds; without a zone the time is Europe/London (Octopus's rule).
pub fn parse_iso8601(text: &str) -> Option<u64> {
    let text = text.trim();
    let (date, time) = text.split_once('T')?;
    let mut ymd = date.split('-');
    let year: i64 = ymd.next()?.parse().ok()?;
    let month: u32 = ymd.next()?.parse().ok()?;
    let day: u32 = ymd.next()?.parse().ok()?;
    if ymd.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let (clock, zone) = split_zone(time)?;
    let clock = clock.split('.').next()?;
    let mut hms = clock.split(':');
    let h: i64 = hms.next()?.parse().ok()?;
    let m: i64 = hms.next()?.parse().ok()?;
    let s: i64 = hms.next().map_or(Some(0), |s| s.parse().ok())?;
    if h > 23 || m > 59 || s > 60 {
        return None;
    }
    let wall = crate::ukclock::days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s;
    let utc = match zone {
        Some(offset_s) => wall - offset_s,
        None => wall - uk_offset_s(wall - uk_offset_s(wall)),
    };
    u64::try_from(utc).ok()
}

/// Splits `21:30:00+01:00` into the clock part and the zone offset (None = no zone).
fn split_zone(time: &str) -> Option<(&str, Option<i64>)> {
    if let Some(clock) = time.strip_suffix('Z').or_else(|| time.strip_suffix('z')) {
        return Some((clock, Some(0)));
    }
    let Some(pos) = time.rfind(['+', '-']) else {
        return Some((time, None));
    };
    let (clock, zone) = time.split_at(pos);
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let digits: String = zone[1..].chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 {
        return None;
    }
    let hours: i64 = digits[..2].parse().ok()?;
    let minutes: i64 = digits[2..].parse().ok()?;
    Some((clock, Some(sign * (hours * 3600 + minutes * 60))))
}

/// One entry of `/v1/products/`.
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    /// Product code, e.g. `AGILE-24-10-01`.
    pub code: String,
    /// `IMPORT` or `EXPORT`.
    pub direction: String,
    /// Available from, UTC seconds.
    pub available_from_s: Option<u64>,
    /// Available until, UTC seconds; `None` = still available.
    pub available_to_s: Option<u64>,
}

/// Parses one `/v1/products/` page into its products and `next` link.
pub fn parse_products_page(body: &str) -> Result<(Vec<Product>, Option<String>), FeedError> {
    let root: Value = serde_json::from_str(body).map_err(|e| parse_error("products", e))?;
    let results = root
        .get("results")
        .and_then(Value::as_array)
        .ok_or_else(|| parse_error("products", "no results array"))?;
    let products = results
        .iter()
        .filter_map(|p| {
            let time = |key: &str| p.get(key).and_then(Value::as_str).and_then(parse_iso8601);
            Some(Product {
                code: p.get("code")?.as_str()?.to_string(),
                direction: p
                    .get("direction")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                available_from_s: time("available_from"),
                available_to_s: time("available_to"),
            })
        })
        .collect();
    Ok((products, next_link(&root)))
}

/// The current import Agile product at `now_s`: code `AGILE-…` (not `AGILE-OUTGOING-…`),
/// direction IMPORT, already available and not withdrawn; the newest such wins.
pub fn select_agile_product(products: &[Product], now_s: u64) -> Option<String> {
    products
        .iter()
        .filter(|p| p.code.starts_with("AGILE-") && !p.code.contains("OUTGOING"))
        .filter(|p| p.direction.eq_ignore_ascii_case("IMPORT"))
        .filter(|p| p.available_from_s.is_none_or(|from| from <= now_s))
        .filter(|p| p.available_to_s.is_none_or(|to| to > now_s))
        .max_by_key(|p| (p.available_from_s.unwrap_or(0), p.code.clone()))
        .map(|p| p.code.clone())
}

/// Walks every `/v1/products/` page and selects the current Agile import product.
pub fn discover_product(
    http: &HttpClient,
    base: &str,
    now_s: u64,
    counters: &FeedCounters,
) -> Result<String, FeedError> {
    let mut url = format!("{}/v1/products/?brand=OCTOPUS_ENERGY", trim(base));
    let mut all = Vec::new();
    for _ in 0..MAX_PAGES {
        counters.request();
        let (products, next) = parse_products_page(&http.get_text(&url, &[])?)?;
        all.extend(products);
        match next {
            Some(next) => url = rebase_next(base, &next),
            None => break,
        }
    }
    select_agile_product(&all, now_s).ok_or_else(|| {
        FeedError::Unavailable(format!(
            "Octopus lists no current Agile import product at {}/v1/products/; \
             pin one with [energy] product = \"AGILE-..\"",
            trim(base)
        ))
    })
}

/// The unit-rates URL for a window.
pub fn rates_url(
    base: &str,
    product: &str,
    region: u8,
    from_s: u64,
    to_s: u64,
    page_size: u32,
) -> String {
    format!(
        "{}/v1/products/{product}/electricity-tariffs/{}/standard-unit-rates/?period_from={}&period_to={}&page_size={}",
        trim(base),
        tariff_code(product, region),
        crate::ukclock::rfc3339(from_s),
        crate::ukclock::rfc3339(to_s),
        page_size.clamp(1, 1500)
    )
}

/// Parses one unit-rates page: prices (p/kWh inc. VAT) and the `next` link. Rows without
/// an end (open-ended fixed rates) or with unreadable times are skipped.
pub fn parse_rates_page(body: &str) -> Result<(Vec<PricePoint>, Option<String>), FeedError> {
    let root: Value = serde_json::from_str(body).map_err(|e| parse_error("unit rates", e))?;
    let results = root
        .get("results")
        .and_then(Value::as_array)
        .ok_or_else(|| parse_error("unit rates", "no results array"))?;
    let prices: Vec<PricePoint> = results
        .iter()
        .filter_map(|row| {
            let time = |key: &str| row.get(key).and_then(Value::as_str).and_then(parse_iso8601);
            let (from, to) = (time("valid_from")?, time("valid_to")?);
            let pence = row.get("value_inc_vat")?.as_f64()?;
            (to > from && pence.is_finite()).then_some(PricePoint {
                valid_from_s: from,
                valid_to_s: to,
                pence_per_kwh: pence,
            })
        })
        .collect();
    if prices.is_empty() && !results.is_empty() {
        return Err(parse_error(
            "unit rates",
            "no row has valid_from, valid_to and value_inc_vat",
        ));
    }
    Ok((prices, next_link(&root)))
}

/// Fetches every page of unit rates for `[from_s, to_s)`, oldest first.
pub fn fetch_rates(
    http: &HttpClient,
    base: &str,
    product: &str,
    region: u8,
    (from_s, to_s): (u64, u64),
    page_size: u32,
    counters: &FeedCounters,
) -> Result<Vec<PricePoint>, FeedError> {
    let mut url = rates_url(base, product, region, from_s, to_s, page_size);
    let mut prices = Vec::new();
    for _ in 0..MAX_PAGES {
        counters.request();
        let (page, next) = parse_rates_page(&http.get_text(&url, &[])?)?;
        prices.extend(page);
        match next {
            Some(next) => url = rebase_next(base, &next),
            None => break,
        }
    }
    prices.sort_by_key(|p| p.valid_from_s);
    prices.dedup_by_key(|p| p.valid_from_s);
    Ok(prices)
}

/// The `next` page link made relative to the configured base: Octopus returns absolute
/// `https://api.octopus.energy/v1/...` links, and a configured mirror or test server must
/// keep serving the later pages (and a reply must not redirect us to another host).
pub fn rebase_next(base: &str, next: &str) -> String {
    let path = match next.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => next,
    };
    let path = path.strip_prefix(base_path(base)).unwrap_or(path);
    format!("{}{}", trim(base), path)
}

/// The path part of a base URL (`""` for `https://host`).
fn base_path(base: &str) -> &str {
    let base = trim(base);
    match base.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("", |i| &rest[i..]),
        None => "",
    }
}

/// The window fetched at `now_s`: yesterday's UK midnight to the end of tomorrow (UK).
pub fn fetch_window(now_s: u64) -> (u64, u64) {
    let (today_start, today_end) = uk_day_bounds(now_s);
    let (yesterday_start, _) = uk_day_bounds(today_start - 1);
    let (_, tomorrow_end) = uk_day_bounds(today_end);
    (yesterday_start, tomorrow_end)
}

/// UTC seconds of local UK wall time `hour:minute` on the UK day starting at `day_start_s`.
pub fn uk_time_on_day(day_start_s: u64, hour: u64, minute: u64) -> u64 {
    let candidate = day_start_s + hour * 3600 + minute * 60;
    let shift = uk_offset_s(day_start_s as i64) - uk_offset_s(candidate as i64);
    (candidate as i64 + shift) as u64
}

/// End of the run of contiguous stored slots that contains `now_s`; `None` when the slot
/// at `now_s` has no price. `prices` must be sorted by `valid_from_s`.
pub fn covered_until(prices: &[PricePoint], now_s: u64) -> Option<u64> {
    let mut end: Option<u64> = None;
    for p in prices {
        match end {
            None if p.valid_from_s <= now_s && p.valid_to_s > now_s => end = Some(p.valid_to_s),
            Some(e) if p.valid_from_s == e => end = Some(p.valid_to_s),
            Some(e) if p.valid_from_s > e => break,
            _ => {}
        }
    }
    end
}

/// When to fetch Agile rates next (UTC s), given `now_s`, the last successful fetch and how
/// far the stored prices reach contiguously from now:
/// - never fetched: now;
/// - the current slot has no price: every 5 min;
/// - tomorrow (UK) complete: the regular interval (30 min) after the last fetch;
/// - otherwise the regular interval, but from 16:00 UK every 5 min until tomorrow is complete.
pub fn next_fetch_at(
    now_s: u64,
    last_ok_s: Option<u64>,
    covered_until_s: Option<u64>,
    regular_s: u64,
) -> u64 {
    let Some(last) = last_ok_s else {
        return now_s;
    };
    let Some(covered) = covered_until_s.filter(|c| *c > now_s) else {
        return last + PUBLICATION_POLL_S;
    };
    let (today_start, today_end) = uk_day_bounds(now_s);
    let (_, tomorrow_end) = uk_day_bounds(today_end);
    let regular = last + regular_s;
    if covered >= tomorrow_end {
        return regular;
    }
    let publication = uk_time_on_day(today_start, 16, 0);
    if now_s >= publication {
        last + PUBLICATION_POLL_S
    } else {
        regular.min(publication)
    }
}

/// How electricity is priced: Agile slots from the store, or one fixed unit rate. Widgets
/// and rules call [`Tariff::price_at`] and need not care which.
#[derive(Debug, Clone, PartialEq)]
pub enum Tariff {
    /// Octopus Agile in a region (ASCII region letter).
    Agile {
        /// b'A'..=b'P'.
        region: u8,
        /// Standing charge, p/day.
        standing_charge_p_day: f64,
    },
    /// A fixed unit rate.
    Fixed {
        /// p/kWh including VAT.
        pence_per_kwh: f64,
        /// Standing charge, p/day.
        standing_charge_p_day: f64,
    },
}

impl Tariff {
    /// The tariff `[energy]` describes.
    pub fn from_settings(energy: &EnergySettings) -> Result<Tariff, String> {
        match energy.tariff.as_str() {
            "agile" => Ok(Tariff::Agile {
                region: region_byte(&energy.region)?,
                standing_charge_p_day: energy.standing_charge_p_day,
            }),
            "fixed" => Ok(Tariff::Fixed {
                pence_per_kwh: energy.fixed_price_p_kwh,
                standing_charge_p_day: energy.standing_charge_p_day,
            }),
            other => Err(format!(
                "[energy] tariff = {other:?}: use \"agile\" or \"fixed\""
            )),
        }
    }

    /// The unit rate at `t_s`: for a fixed tariff the 30-minute slot containing `t_s` at the
    /// fixed rate; for Agile the stored slot, or `None` if it is not (yet) stored.
    pub fn price_at(&self, store: &dyn PriceStore, t_s: u64) -> Result<Option<PricePoint>, String> {
        match self {
            Tariff::Fixed { pence_per_kwh, .. } => {
                let from = slot_start_s(t_s);
                Ok(Some(PricePoint {
                    valid_from_s: from,
                    valid_to_s: from + SLOT_S,
                    pence_per_kwh: *pence_per_kwh,
                }))
            }
            Tariff::Agile { region, .. } => store.price_at(*region, t_s),
        }
    }

    /// Standing charge, p/day.
    pub fn standing_charge_p_day(&self) -> f64 {
        match self {
            Tariff::Agile {
                standing_charge_p_day,
                ..
            }
            | Tariff::Fixed {
                standing_charge_p_day,
                ..
            } => *standing_charge_p_day,
        }
    }

    /// The Agile region byte, `None` for a fixed tariff.
    pub fn region(&self) -> Option<u8> {
        match self {
            Tariff::Agile { region, .. } => Some(*region),
            Tariff::Fixed { .. } => None,
        }
    }
}

/// What `hmm status` and `/metrics` show about the Agile feed.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct AgileStatus {
    /// Product in use (pinned or discovered).
    pub product: Option<String>,
    /// Tariff code in use.
    pub tariff_code: Option<String>,
    /// Last successful fetch, UTC s.
    pub last_ok_s: Option<u64>,
    /// Why the last fetch failed, if it did.
    pub last_error: Option<String>,
    /// Consecutive failures.
    pub failures: u32,
    /// Stored prices reach contiguously from now to here, UTC s.
    pub covered_until_s: Option<u64>,
    /// Slots stored by the last successful fetch.
    pub last_slots: usize,
}

#[derive(Debug, Default)]
struct AgileState {
    product: Option<(String, u64)>,
    last_ok_s: Option<u64>,
    last_error: Option<String>,
    failures: u32,
    retry_at_s: u64,
    covered_until_s: Option<u64>,
    coverage_known: bool,
    last_slots: usize,
}

/// The stateful Agile job the refresher runs: schedule, discovery cache, back-off, counters.
#[derive(Debug)]
pub struct AgileFeed {
    base: String,
    region: u8,
    pinned_product: Option<String>,
    regular_s: u64,
    page_size: u32,
    state: Mutex<AgileState>,
    running: Mutex<()>,
    counters: FeedCounters,
}

impl AgileFeed {
    /// The Agile feed for `energy` (must be an Agile tariff) against `base`.
    pub fn new(
        base: &str,
        energy: &EnergySettings,
        regular_s: u64,
        page_size: u32,
    ) -> Result<AgileFeed, String> {
        let product = energy.product.trim();
        Ok(AgileFeed {
            base: trim(base).to_string(),
            region: region_byte(&energy.region)?,
            pinned_product: (!product.is_empty()).then(|| product.to_string()),
            regular_s: regular_s.max(60),
            page_size,
            state: Mutex::new(AgileState::default()),
            running: Mutex::new(()),
            counters: FeedCounters::default(),
        })
    }

    /// Request, error and read counters.
    pub fn counters(&self) -> &FeedCounters {
        &self.counters
    }

    /// The region byte.
    pub fn region(&self) -> u8 {
        self.region
    }

    /// When the job is next due (UTC s), reading the store once to learn the coverage.
    pub fn due_at_s(&self, now_s: u64, store: &dyn PriceStore) -> u64 {
        let mut state = self.lock();
        if !state.coverage_known {
            state.covered_until_s = self.coverage(store, now_s);
            state.coverage_known = true;
        }
        let scheduled = next_fetch_at(
            now_s,
            state.last_ok_s,
            state.covered_until_s,
            self.regular_s,
        );
        scheduled.max(state.retry_at_s)
    }

    /// Fetches the window around `now_s` into `store`, unless another thread is already
    /// doing so. Returns the number of slots stored (0 when skipped).
    pub fn run(
        &self,
        http: &HttpClient,
        store: &dyn PriceStore,
        now_s: u64,
    ) -> Result<usize, FeedError> {
        let Ok(_running) = self.running.try_lock() else {
            return Ok(0);
        };
        let result = self.fetch_and_store(http, store, now_s);
        let mut state = self.lock();
        match &result {
            Ok(slots) => {
                state.last_ok_s = Some(now_s);
                state.failures = 0;
                state.last_error = None;
                state.retry_at_s = 0;
                state.last_slots = *slots;
                state.covered_until_s = self.coverage(store, now_s);
                state.coverage_known = true;
            }
            Err(error) => {
                self.counters.error();
                state.failures += 1;
                state.last_error = Some(error.to_string());
                state.retry_at_s = now_s + backoff_ms(state.failures, error) / 1000;
                if matches!(
                    error,
                    FeedError::Http(super::http::HttpError::Status { status: 404, .. })
                ) {
                    state.product = None;
                }
            }
        }
        result
    }

    fn fetch_and_store(
        &self,
        http: &HttpClient,
        store: &dyn PriceStore,
        now_s: u64,
    ) -> Result<usize, FeedError> {
        let product = self.product(http, now_s)?;
        let prices = fetch_rates(
            http,
            &self.base,
            &product,
            self.region,
            fetch_window(now_s),
            self.page_size,
            &self.counters,
        )?;
        store
            .put_prices(self.region, &prices)
            .map_err(|e| FeedError::Unavailable(format!("storing Agile prices failed: {e}")))?;
        Ok(prices.len())
    }

    fn product(&self, http: &HttpClient, now_s: u64) -> Result<String, FeedError> {
        if let Some(pinned) = &self.pinned_product {
            return Ok(pinned.clone());
        }
        if let Some((code, at)) = &self.lock().product
            && now_s < at + PRODUCT_TTL_S
        {
            return Ok(code.clone());
        }
        let code = discover_product(http, &self.base, now_s, &self.counters)?;
        self.lock().product = Some((code.clone(), now_s));
        Ok(code)
    }

    fn coverage(&self, store: &dyn PriceStore, now_s: u64) -> Option<u64> {
        let (from, to) = fetch_window(now_s);
        let prices = store.prices(self.region, from, to).ok()?;
        covered_until(&prices, now_s)
    }

    /// A snapshot for status pages.
    pub fn status(&self) -> AgileStatus {
        let state = self.lock();
        let product = self
            .pinned_product
            .clone()
            .or_else(|| state.product.as_ref().map(|(code, _)| code.clone()));
        AgileStatus {
            tariff_code: product.as_deref().map(|p| tariff_code(p, self.region)),
            product,
            last_ok_s: state.last_ok_s,
            last_error: state.last_error.clone(),
            failures: state.failures,
            covered_until_s: state.covered_until_s,
            last_slots: state.last_slots,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, AgileState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn next_link(root: &Value) -> Option<String> {
    root.get("next").and_then(Value::as_str).map(str::to_string)
}

fn trim(base: &str) -> &str {
    base.trim_end_matches('/')
}

fn parse_error(what: &str, message: impl std::fmt::Display) -> FeedError {
    FeedError::Parse {
        source: format!("Octopus {what}"),
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ukclock::days_from_civil;

    fn utc(y: i64, mo: u32, d: u32, h: u64, mi: u64) -> u64 {
        days_from_civil(y, mo, d) as u64 * 86_400 + h * 3600 + mi * 60
    }

    #[test]
    fn iso_times_with_and_without_zones() {
        assert_eq!(
            parse_iso8601("2025-05-13T21:30:00Z"),
            Some(utc(2025, 5, 13, 21, 30))
        );
        assert_eq!(
            parse_iso8601("2024-10-01T00:00:00+01:00"),
            Some(utc(2024, 9, 30, 23, 0))
        );
        assert_eq!(
            parse_iso8601("2025-05-13T21:30:00.000Z"),
            Some(utc(2025, 5, 13, 21, 30))
        );
        // No zone: Europe/London (BST in July, GMT in January).
        assert_eq!(
            parse_iso8601("2026-07-01T12:00:00"),
            Some(utc(2026, 7, 1, 11, 0))
        );
        assert_eq!(
            parse_iso8601("2026-01-01T12:00:00"),
            Some(utc(2026, 1, 1, 12, 0))
        );
        assert_eq!(parse_iso8601("2026-13-01T12:00:00Z"), None);
        assert_eq!(parse_iso8601("yesterday"), None);
    }

    #[test]
    fn regions_exclude_i_and_o() {
        assert_eq!(region_byte("H"), Ok(b'H'));
        assert_eq!(region_byte("p"), Ok(b'P'));
        assert!(region_byte("I").is_err());
        assert!(region_byte("O").is_err());
        assert!(region_byte("Q").is_err());
        assert!(region_byte("HH").is_err());
        assert_eq!(tariff_code("AGILE-24-10-01", b'H'), "E-1R-AGILE-24-10-01-H");
    }

    #[test]
    fn next_links_are_rebased_onto_the_configured_base() {
        let next = "https://api.octopus.energy/v1/products/X/?page=2";
        assert_eq!(
            rebase_next("http://127.0.0.1:9/", next),
            "http://127.0.0.1:9/v1/products/X/?page=2"
        );
        assert_eq!(rebase_next("https://api.octopus.energy", next), next);
        assert_eq!(
            rebase_next("http://mirror/octo", "http://mirror/octo/v1/p/?page=3"),
            "http://mirror/octo/v1/p/?page=3"
        );
    }

    #[test]
    fn publication_time_is_four_pm_local_on_change_days() {
        let (start, _) = uk_day_bounds(utc(2026, 3, 29, 12, 0));
        assert_eq!(uk_time_on_day(start, 16, 0), utc(2026, 3, 29, 15, 0));
        let (start, _) = uk_day_bounds(utc(2026, 10, 25, 12, 0));
        assert_eq!(uk_time_on_day(start, 16, 0), utc(2026, 10, 25, 16, 0));
        let (start, _) = uk_day_bounds(utc(2026, 7, 1, 12, 0));
        assert_eq!(uk_time_on_day(start, 16, 0), utc(2026, 7, 1, 15, 0));
    }

    #[test]
    fn fixed_tariff_prices_every_slot() {
        let tariff = Tariff::Fixed {
            pence_per_kwh: 24.5,
            standing_charge_p_day: 60.0,
        };
        let store = crate::feeds::MemoryPriceStore::new();
        let p = tariff.price_at(&store, 1_800 * 10 + 7).unwrap().unwrap();
        assert_eq!(
            (p.valid_from_s, p.valid_to_s, p.pence_per_kwh),
            (18_000, 19_800, 24.5)
        );
        assert_eq!(tariff.standing_charge_p_day(), 60.0);
        assert_eq!(tariff.region(), None);
    }
}
