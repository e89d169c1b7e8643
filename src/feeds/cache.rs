//! A TTL cache for feed values on top of `quick_cache` (which has no TTL of its own):
//! single-flight fetches, serve-stale on failure, back-off after repeated failures or a 429,
//! and per-feed counters.
//!
//! Two kinds of callers use it, on purpose with different methods:
//! - readers (widgets, pages, MQTT) call [`TtlCache::peek`], which only looks at memory and
//!   never waits for a fetch;
//! - fetchers (the refresher threads, `hmm status`) call [`TtlCache::refresh`] or
//!   [`TtlCache::get_or_fetch`]. However many call at once for one key, one fetch runs: the
//!   first caller marks the entry in flight (or holds quick_cache's placeholder guard when
//!   the key is new), the others get the current value back immediately (or, for a key
//!   never fetched, wait on the placeholder and then see the fresh value).
//!
//! A failed fetch keeps the last good value; it is then served marked stale with its age,
//! and the key is not fetched again before its back-off ([`backoff_ms`]) has passed.

use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use quick_cache::sync::{Cache, EntryAction, EntryResult};
use serde::Serialize;

use super::FeedError;
use super::clock::Clock;

/// A value as a reader sees it: shared, with its age and whether it is stale.
#[derive(Debug, Clone, PartialEq)]
pub struct Cached<V> {
    /// The last successfully fetched value.
    pub value: Arc<V>,
    /// When it was fetched, UTC ms.
    pub fetched_at_ms: u64,
    /// How old it is now, ms.
    pub age_ms: u64,
    /// True when the last fetch failed or the value is older than its TTL.
    pub stale: bool,
    /// Why the last fetch failed, if it did (no secrets: URLs only).
    pub last_error: Option<String>,
}

/// Live counters of one feed, updated with relaxed atomics on every read and fetch.
#[derive(Debug, Default)]
pub struct FeedCounters {
    hits: AtomicU64,
    misses: AtomicU64,
    stale_serves: AtomicU64,
    errors: AtomicU64,
    requests: AtomicU64,
}

impl FeedCounters {
    /// A fresh value was served.
    pub fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }
    /// Nothing could be served.
    pub fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }
    /// A stale value was served.
    pub fn stale_serve(&self) {
        self.stale_serves.fetch_add(1, Ordering::Relaxed);
    }
    /// A fetch failed.
    pub fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }
    /// An outbound HTTP request was made.
    pub fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// A copy of the counters, named, for `/metrics` and `hmm status`.
    pub fn snapshot(&self, feed: &str) -> FeedMetrics {
        FeedMetrics {
            feed: feed.to_string(),
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            stale_serves: self.stale_serves.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
        }
    }
}

/// A snapshot of one feed's counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeedMetrics {
    /// Feed name (`coingecko`, `ckpool`, `solopool`, `octopus`).
    pub feed: String,
    /// Reads answered with a fresh value.
    pub hits: u64,
    /// Reads that found nothing.
    pub misses: u64,
    /// Reads answered with a stale value.
    pub stale_serves: u64,
    /// Failed fetches.
    pub errors: u64,
    /// Outbound HTTP requests.
    pub requests: u64,
}

impl FeedMetrics {
    /// Fresh reads over all reads (1.0 when there were no reads).
    pub fn hit_rate(&self) -> f64 {
        let reads = self.hits + self.misses + self.stale_serves;
        if reads == 0 {
            1.0
        } else {
            self.hits as f64 / reads as f64
        }
    }
}

/// What a fetcher call did.
#[derive(Debug, Clone, PartialEq)]
pub enum FetchOutcome<V> {
    /// This call fetched a new value.
    Fetched(Cached<V>),
    /// This call fetched and failed; the last good value, if any, is still served.
    Failed {
        /// Why.
        error: FeedError,
        /// The stale value readers keep getting.
        stale: Option<Cached<V>>,
    },
    /// No fetch was needed or allowed (fresh, already in flight, or backing off).
    Skipped(Option<Cached<V>>),
}

/// How long a key waits before the next attempt after its `failures`-th consecutive failure.
///
/// The server's Retry-After wins (clamped to 1 s..1 h). A 429 without it waits 60 s,
/// doubling per failure up to 1 h. Other failures retry after 15 s twice, then back off
/// exponentially (30 s, 60 s, ...) up to 15 min, so a dead pool costs a handful of requests
/// an hour, not one per refresher tick.
pub fn backoff_ms(failures: u32, error: &FeedError) -> u64 {
    if let Some(wait) = error.retry_after() {
        return (wait.as_millis() as u64).clamp(1_000, 3_600_000);
    }
    let doublings = failures.saturating_sub(1).min(16);
    if error.is_rate_limited() {
        return (60_000u64 << doublings).min(3_600_000);
    }
    if failures <= 2 {
        return 15_000;
    }
    (15_000u64 << (failures - 2).min(16)).min(900_000)
}

/// A fetch in flight longer than this is taken as abandoned (its thread died) and may be
/// retried. Far longer than any HTTP timeout.
const ABANDONED_AFTER_MS: u64 = 300_000;

struct Slot<V> {
    value: Option<Arc<V>>,
    fetched_ms: u64,
    failures: u32,
    last_error: Option<String>,
    retry_at_ms: u64,
    in_flight_since: Option<u64>,
}

impl<V> Clone for Slot<V> {
    fn clone(&self) -> Self {
        Slot {
            value: self.value.clone(),
            fetched_ms: self.fetched_ms,
            failures: self.failures,
            last_error: self.last_error.clone(),
            retry_at_ms: self.retry_at_ms,
            in_flight_since: self.in_flight_since,
        }
    }
}

impl<V> Slot<V> {
    fn view(&self, now_ms: u64, ttl_ms: u64) -> Option<Cached<V>> {
        let value = self.value.clone()?;
        let age_ms = now_ms.saturating_sub(self.fetched_ms);
        Some(Cached {
            value,
            fetched_at_ms: self.fetched_ms,
            age_ms,
            stale: self.failures > 0 || age_ms >= ttl_ms,
            last_error: self.last_error.clone(),
        })
    }

    fn in_flight(&self, now_ms: u64) -> bool {
        self.in_flight_since
            .is_some_and(|since| now_ms.saturating_sub(since) < ABANDONED_AFTER_MS)
    }

    fn record(&mut self, result: Result<V, &FeedError>, now_ms: u64) {
        self.in_flight_since = None;
        match result {
            Ok(value) => {
                self.value = Some(Arc::new(value));
                self.fetched_ms = now_ms;
                self.failures = 0;
                self.last_error = None;
                self.retry_at_ms = 0;
            }
            Err(error) => {
                self.failures = self.failures.saturating_add(1);
                self.last_error = Some(error.to_string());
                self.retry_at_ms = now_ms + backoff_ms(self.failures, error);
            }
        }
    }
}

enum Decision<V> {
    Fetch,
    Skip(Option<Cached<V>>),
}

/// The TTL cache of one feed. `K` is the key (pool name, coin list), `V` the parsed reply.
pub struct TtlCache<K, V> {
    entries: Cache<K, Slot<V>>,
    ttl_ms: u64,
    refresh_ahead_ms: u64,
    clock: Arc<dyn Clock>,
    counters: FeedCounters,
}

impl<K, V> TtlCache<K, V>
where
    K: Eq + Hash + Clone,
    V: Send + Sync,
{
    /// A cache whose values are fresh for `ttl`, with room for `capacity` keys (feeds have a
    /// handful; nothing is evicted in practice). The refresher renews a value when a tenth of
    /// its TTL (1–30 s) is left, so readers keep seeing fresh values.
    pub fn new(ttl: std::time::Duration, capacity: usize, clock: Arc<dyn Clock>) -> TtlCache<K, V> {
        let ttl_ms = (ttl.as_millis() as u64).max(1);
        TtlCache {
            entries: Cache::new(capacity.max(4)),
            ttl_ms,
            refresh_ahead_ms: (ttl_ms / 10).clamp(1_000.min(ttl_ms / 2), 30_000),
            clock,
            counters: FeedCounters::default(),
        }
    }

    /// The TTL in ms.
    pub fn ttl_ms(&self) -> u64 {
        self.ttl_ms
    }

    /// The counters of this feed.
    pub fn counters(&self) -> &FeedCounters {
        &self.counters
    }

    /// Reader path: the cached value (possibly stale) or `None`, without ever waiting for a
    /// fetch. Counted as hit, stale serve or miss.
    pub fn peek(&self, key: &K) -> Option<Cached<V>> {
        let view = self.peek_uncounted(key);
        match &view {
            None => self.counters.miss(),
            Some(cached) if cached.stale => self.counters.stale_serve(),
            Some(_) => self.counters.hit(),
        }
        view
    }

    /// Like [`TtlCache::peek`] but not counted (for status pages about the cache itself).
    pub fn peek_uncounted(&self, key: &K) -> Option<Cached<V>> {
        let now = self.clock.now_ms();
        self.entries.peek(key)?.view(now, self.ttl_ms)
    }

    /// When the refresher should next fetch `key`, UTC ms (0 = now): the refresh-ahead point
    /// of a good value, the end of a back-off, or later if a fetch is in flight.
    pub fn due_at_ms(&self, key: &K) -> u64 {
        let Some(slot) = self.entries.peek(key) else {
            return 0;
        };
        if let Some(since) = slot.in_flight_since {
            return since + ABANDONED_AFTER_MS;
        }
        if slot.value.is_none() || slot.failures > 0 {
            return slot.retry_at_ms;
        }
        (slot.fetched_ms + self.ttl_ms - self.refresh_ahead_ms).max(slot.retry_at_ms)
    }

    /// Refresher path: fetch if the value is due for renewal (see [`TtlCache::due_at_ms`]),
    /// unless another caller is already fetching it or it is backing off.
    pub fn refresh(
        &self,
        key: &K,
        fetch: impl FnOnce() -> Result<V, FeedError>,
    ) -> FetchOutcome<V> {
        let ahead = self.refresh_ahead_ms;
        self.fetch_if(key, |slot| slot.fetched_ms + self.ttl_ms - ahead, fetch)
    }

    /// On-demand path (e.g. `hmm status` without a daemon): fetch only if the value is
    /// missing or expired; otherwise return it. Concurrent callers share one fetch.
    pub fn get_or_fetch(
        &self,
        key: &K,
        fetch: impl FnOnce() -> Result<V, FeedError>,
    ) -> FetchOutcome<V> {
        self.fetch_if(key, |slot| slot.fetched_ms + self.ttl_ms, fetch)
    }

    fn fetch_if(
        &self,
        key: &K,
        renew_at: impl FnOnce(&Slot<V>) -> u64,
        fetch: impl FnOnce() -> Result<V, FeedError>,
    ) -> FetchOutcome<V> {
        let now = self.clock.now_ms();
        let ttl = self.ttl_ms;
        // Tiny callback: it runs under the shard's write lock.
        let decision = self.entries.entry(key, None, |_, slot| {
            let healthy = slot.value.is_some() && slot.failures == 0;
            if slot.in_flight(now) || now < slot.retry_at_ms || (healthy && now < renew_at(slot)) {
                return EntryAction::Retain(Decision::Skip(slot.view(now, ttl)));
            }
            slot.in_flight_since = Some(now);
            EntryAction::Retain(Decision::Fetch)
        });
        match decision {
            EntryResult::Retained(Decision::Skip(view)) => FetchOutcome::Skipped(view),
            EntryResult::Retained(Decision::Fetch) => {
                let result = self.run_fetch(fetch);
                self.record(key, result)
            }
            EntryResult::Vacant(guard) => {
                // New key: the guard makes concurrent callers wait for this one fetch.
                let result = self.run_fetch(fetch);
                let mut slot = Slot {
                    value: None,
                    fetched_ms: 0,
                    failures: 0,
                    last_error: None,
                    retry_at_ms: 0,
                    in_flight_since: None,
                };
                let now = self.clock.now_ms();
                let outcome = self.apply(&mut slot, result, now);
                let _ = guard.insert(slot);
                outcome
            }
            EntryResult::Removed(..) | EntryResult::Replaced(..) | EntryResult::Timeout => {
                FetchOutcome::Skipped(self.peek_uncounted(key))
            }
        }
    }

    fn run_fetch(&self, fetch: impl FnOnce() -> Result<V, FeedError>) -> Result<V, FeedError> {
        self.counters.request();
        let result = fetch();
        if result.is_err() {
            self.counters.error();
        }
        result
    }

    fn record(&self, key: &K, result: Result<V, FeedError>) -> FetchOutcome<V> {
        let now = self.clock.now_ms();
        let mut result = Some(result);
        let updated = self.entries.entry(key, None, |_, slot| {
            let result = result.take().expect("entry callback runs once");
            EntryAction::Retain(self.apply(slot, result, now))
        });
        match updated {
            EntryResult::Retained(outcome) => outcome,
            EntryResult::Vacant(guard) => {
                // Evicted while fetching (only with more keys than capacity): start afresh.
                let mut slot = Slot {
                    value: None,
                    fetched_ms: 0,
                    failures: 0,
                    last_error: None,
                    retry_at_ms: 0,
                    in_flight_since: None,
                };
                let outcome = match result.take() {
                    Some(result) => self.apply(&mut slot, result, now),
                    None => FetchOutcome::Skipped(None),
                };
                let _ = guard.insert(slot);
                outcome
            }
            _ => FetchOutcome::Skipped(self.peek_uncounted(key)),
        }
    }

    fn apply(&self, slot: &mut Slot<V>, result: Result<V, FeedError>, now: u64) -> FetchOutcome<V> {
        match result {
            Ok(value) => {
                slot.record(Ok(value), now);
                match slot.view(now, self.ttl_ms) {
                    Some(view) => FetchOutcome::Fetched(view),
                    None => FetchOutcome::Skipped(None),
                }
            }
            Err(error) => {
                slot.record(Err(&error), now);
                FetchOutcome::Failed {
                    error,
                    stale: slot.view(now, self.ttl_ms),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feeds::http::HttpError;
    use std::time::Duration;

    fn status(code: u16, retry_after: Option<u64>) -> FeedError {
        FeedError::Http(HttpError::Status {
            url: "http://x/".into(),
            status: code,
            retry_after: retry_after.map(Duration::from_secs),
        })
    }

    #[test]
    fn backoff_grows_and_honours_retry_after() {
        let e500 = status(500, None);
        assert_eq!(backoff_ms(1, &e500), 15_000);
        assert_eq!(backoff_ms(2, &e500), 15_000);
        assert_eq!(backoff_ms(3, &e500), 30_000);
        assert_eq!(backoff_ms(4, &e500), 60_000);
        assert_eq!(backoff_ms(40, &e500), 900_000);
        assert_eq!(backoff_ms(1, &status(429, Some(120))), 120_000);
        assert_eq!(backoff_ms(1, &status(429, Some(0))), 1_000);
        assert_eq!(backoff_ms(1, &status(429, Some(86_400))), 3_600_000);
        assert_eq!(backoff_ms(1, &status(429, None)), 60_000);
        assert_eq!(backoff_ms(2, &status(429, None)), 120_000);
    }
}
