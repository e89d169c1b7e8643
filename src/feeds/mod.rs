//! Web feeds: Octopus Agile unit rates, CoinGecko coin prices, and CKPool / SoloPool
//! account statistics (DESIGN.md "Feeds").
//!
//! # How reading works (nobody waits on the network)
//!
//! [`FeedHub`] owns one TTL cache per feed and a background refresher: one thread per
//! job (CoinGecko, each enabled pool with a `stats` kind, Octopus Agile). Each job
//! re-fetches shortly *before* its value expires, so a widget or page that calls a getter
//! such as [`FeedHub::coin_prices`] or [`FeedHub::pool_stats`] only peeks at memory: it gets
//! the cached value (marked stale, with its age, if the last fetch failed or is overdue) or
//! `None` when nothing was ever fetched. A hung pool blocks only its own job thread, and only
//! until the HTTP timeout. Agile rates are written to the store (through [`PriceStore`]) and
//! read back by [`Tariff::price_at`], which answers a fixed-price tariff just as well.
//!
//! # Files
//! - [`settings`]: the `[energy]`, `[[pools]]`, `[feeds]`, `[cache]` view of the config.
//! - [`clock`]: the injectable clock every TTL, back-off and schedule decision reads.
//! - [`http`]: the one blocking HTTP client (ureq 3, rustls, timeouts, body cap, typed errors).
//! - [`cache`]: TTL, single-flight, serve-stale and back-off on top of `quick_cache`.
//! - [`octopus`], [`coingecko`], [`ckpool`], [`solopool`]: one web API each, parse + fetch.
//! - [`hub`]: [`FeedHub`] and its refresher threads.
//! - [`fixture_server`]: a loopback server that plays all four APIs for tests and `hmm demo`.

pub mod cache;
pub mod ckpool;
pub mod clock;
pub mod coingecko;
pub mod fixture_server;
pub mod http;
pub mod hub;
pub mod octopus;
pub mod settings;
pub mod solopool;

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::model::PricePoint;

pub use cache::{Cached, FeedCounters, FeedMetrics};
pub use clock::{Clock, ManualClock, SystemClock};
pub use hub::FeedHub;
pub use octopus::Tariff;
pub use settings::{CacheTtls, EnergySettings, FeedSettings, FeedUrls, PoolFeed, StatsKind};

/// Why one feed fetch failed. The cache keeps the last good value and uses
/// [`FeedError::retry_after`] to decide how long to back off.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedError {
    /// The HTTP exchange failed (status, timeout, transport, body too large).
    Http(http::HttpError),
    /// The server answered, but not with what the API documents.
    Parse {
        /// Which feed and URL, so the log line says where to look.
        source: String,
        /// What was wrong.
        message: String,
    },
    /// No usable data (e.g. no Agile product found, region letter invalid).
    Unavailable(String),
}

impl FeedError {
    /// The server's Retry-After, if it sent one with a 429/503.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            FeedError::Http(http::HttpError::Status { retry_after, .. }) => *retry_after,
            _ => None,
        }
    }

    /// Whether the server said "too many requests" (the feed must back off harder).
    pub fn is_rate_limited(&self) -> bool {
        matches!(
            self,
            FeedError::Http(http::HttpError::Status { status: 429, .. })
        )
    }
}

impl std::fmt::Display for FeedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FeedError::Http(e) => e.fmt(f),
            FeedError::Parse { source, message } => {
                write!(f, "{source}: unexpected reply: {message}")
            }
            FeedError::Unavailable(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for FeedError {}

impl From<http::HttpError> for FeedError {
    fn from(e: http::HttpError) -> FeedError {
        FeedError::Http(e)
    }
}

/// What the feeds need from the store for electricity prices: upsert Agile slots and read
/// them back. `Store` implements it at integration (one impl block mapping its
/// `StoreError` to text); [`MemoryPriceStore`] implements it for tests and the demo.
/// `region` is the ASCII byte of the Agile region letter (b'A'..=b'P').
pub trait PriceStore: Send + Sync {
    /// Inserts or replaces prices keyed by `valid_from_s` (a republished slot replaces the
    /// old value).
    fn put_prices(&self, region: u8, prices: &[PricePoint]) -> Result<(), String>;
    /// The price whose interval contains `t_s`, if stored.
    fn price_at(&self, region: u8, t_s: u64) -> Result<Option<PricePoint>, String>;
    /// Prices with `valid_from_s` in `[from_s, to_s)`, oldest first.
    fn prices(&self, region: u8, from_s: u64, to_s: u64) -> Result<Vec<PricePoint>, String>;
}

/// An in-memory [`PriceStore`] with the same upsert semantics as the redb store, for tests
/// and for `hmm demo` runs without a data directory.
#[derive(Debug, Default)]
pub struct MemoryPriceStore {
    rows: Mutex<BTreeMap<(u8, u64), PricePoint>>,
}

impl MemoryPriceStore {
    /// An empty store.
    pub fn new() -> MemoryPriceStore {
        MemoryPriceStore::default()
    }

    /// Number of stored price rows, all regions.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(u8, u64), PricePoint>> {
        self.rows
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl PriceStore for MemoryPriceStore {
    fn put_prices(&self, region: u8, prices: &[PricePoint]) -> Result<(), String> {
        let mut rows = self.lock();
        for price in prices {
            rows.insert((region, price.valid_from_s), *price);
        }
        Ok(())
    }

    fn price_at(&self, region: u8, t_s: u64) -> Result<Option<PricePoint>, String> {
        let rows = self.lock();
        Ok(rows
            .range((region, 0)..=(region, t_s))
            .next_back()
            .map(|(_, p)| *p)
            .filter(|p| p.valid_to_s > t_s))
    }

    fn prices(&self, region: u8, from_s: u64, to_s: u64) -> Result<Vec<PricePoint>, String> {
        if to_s <= from_s {
            return Ok(Vec::new());
        }
        let rows = self.lock();
        Ok(rows
            .range((region, from_s)..(region, to_s))
            .map(|(_, p)| *p)
            .collect())
    }
}
