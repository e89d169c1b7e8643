//! [`FeedHub`]: the one owner of every feed's cache and of the refresher threads that keep
//! them warm, so that readers never touch the network.
//!
//! Jobs are CoinGecko (one request for all coins), each enabled pool whose `stats` kind is
//! not `none` (selected by that configured kind only), the network statistics of each coin
//! mined on an enabled `solopool` pool (one request per coin, however many accounts), and
//! Octopus Agile (when the tariff is Agile). [`FeedHub::start`] gives every job its own thread, which sleeps until the job is
//! due (shortly before its value expires, or after its back-off) and then fetches. One slow
//! or hung pool therefore holds only its own thread, and only until the HTTP timeout.
//! Getters ([`FeedHub::coin_prices`], [`FeedHub::pool_stats`],
//! [`FeedHub::network_difficulty`], [`FeedHub::price_at`]) read memory or the store and
//! return at once. [`FeedHub::refresh_due`] runs every due job once,
//! in parallel, and returns when all finished: for tests, the traffic simulation and
//! one-shot commands.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::cache::{Cached, FeedMetrics, FetchOutcome, TtlCache};
use super::ckpool::{CkpoolStatus, CkpoolUser};
use super::clock::Clock;
use super::coingecko::{CoinPrice, CoinPrices};
use super::http::HttpClient;
use super::octopus::{AgileFeed, AgileStatus, Tariff};
use super::settings::{FeedSettings, PoolFeed, StatsKind, stratum_host};
use super::solopool::{SolopoolAccount, SolopoolNetwork};
use super::{FeedError, PriceStore, ckpool, coingecko, solopool};
use crate::model::PricePoint;

/// Statistics of one pool, by the API it was read with.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum PoolStats {
    /// CKPool `/users/<address>`.
    Ckpool(CkpoolUser),
    /// CKPool `/pool/pool.status`.
    CkpoolStatus(CkpoolStatus),
    /// SoloPool `/api/accounts/<address>`.
    Solopool(SolopoolAccount),
}

impl PoolStats {
    /// The best short-window hashrate the API reports, H/s.
    pub fn hashrate_hs(&self) -> Option<f64> {
        match self {
            PoolStats::Ckpool(user) => user.hashrate.h5m.or(user.hashrate.h1h),
            PoolStats::CkpoolStatus(status) => status.hashrate.h5m.or(status.hashrate.h15m),
            PoolStats::Solopool(account) => account.current_hashrate_hs.or(account.hashrate_hs),
        }
    }
}

/// One refresher job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Job {
    Octopus,
    CoinGecko,
    Pool(usize),
    Network(usize),
}

/// A coin whose SoloPool network statistics are fetched, and the URL template to ask.
#[derive(Debug, Clone, PartialEq)]
struct NetworkFeed {
    coin: String,
    template: String,
}

struct HubInner {
    settings: FeedSettings,
    http: HttpClient,
    clock: Arc<dyn Clock>,
    store: Arc<dyn PriceStore>,
    tariff: Tariff,
    agile: Option<AgileFeed>,
    coins: TtlCache<(), CoinPrices>,
    ckpool: TtlCache<String, PoolStats>,
    solopool: TtlCache<String, PoolStats>,
    network: TtlCache<String, SolopoolNetwork>,
    pools: Vec<PoolFeed>,
    networks: Vec<NetworkFeed>,
    stop: Mutex<bool>,
    wake: Condvar,
}

/// Owns the feed caches and the refresher; shared as `Arc<FeedHub>` by the web page, MQTT,
/// widgets and rules. See the module documentation for the threading model.
pub struct FeedHub {
    inner: Arc<HubInner>,
    started: AtomicBool,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl FeedHub {
    /// Builds the hub (validating `settings`) without starting any thread. Agile prices are
    /// written to and read from `store`.
    pub fn new(
        settings: FeedSettings,
        clock: Arc<dyn Clock>,
        store: Arc<dyn PriceStore>,
    ) -> Result<FeedHub, String> {
        settings.validate()?;
        let tariff = Tariff::from_settings(&settings.energy)?;
        let agile = match tariff {
            Tariff::Agile { .. } => Some(AgileFeed::new(
                &settings.feeds.octopus_url,
                &settings.energy,
                settings.cache.octopus.as_secs(),
                settings.octopus_page_size,
            )?),
            Tariff::Fixed { .. } => None,
        };
        let pools: Vec<PoolFeed> = settings
            .pools
            .iter()
            .filter(|p| p.enabled && p.stats != StatsKind::None)
            .cloned()
            .collect();
        let networks = network_feeds(&pools, &settings.feeds.solopool_url);
        let capacity = pools.len() + 4;
        let inner = HubInner {
            http: HttpClient::new(settings.feeds.timeout),
            coins: TtlCache::new(settings.cache.coingecko, 4, clock.clone()),
            ckpool: TtlCache::new(settings.cache.ckpool, capacity, clock.clone()),
            solopool: TtlCache::new(settings.cache.solopool, capacity, clock.clone()),
            network: TtlCache::new(settings.cache.solopool_network, capacity, clock.clone()),
            clock,
            store,
            tariff,
            agile,
            pools,
            networks,
            settings,
            stop: Mutex::new(false),
            wake: Condvar::new(),
        };
        Ok(FeedHub {
            inner: Arc::new(inner),
            started: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
        })
    }

    /// Starts one refresher thread per job (once; later calls do nothing).
    pub fn start(&self) -> Result<(), String> {
        if self.started.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let mut threads = self.threads.lock().unwrap_or_else(|p| p.into_inner());
        for job in self.inner.jobs() {
            let inner = Arc::clone(&self.inner);
            let handle = std::thread::Builder::new()
                .name(format!("feed-{}", inner.job_name(job)))
                .spawn(move || inner.refresher_loop(job))
                .map_err(|e| format!("cannot start a feed refresher thread: {e}"))?;
            threads.push(handle);
        }
        Ok(())
    }

    /// Stops the refresher threads and waits for them (at most one HTTP timeout).
    pub fn shutdown(&self) {
        *self.inner.stop.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.inner.wake.notify_all();
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        for handle in threads {
            let _ = handle.join();
        }
    }

    /// Runs every job that is due now, all in parallel, and returns how many ran. Blocks
    /// until they finish (each is bounded by the HTTP timeout).
    pub fn refresh_due(&self) -> usize {
        let now_ms = self.inner.clock.now_ms();
        let due: Vec<Job> = self
            .inner
            .jobs()
            .into_iter()
            .filter(|job| self.inner.due_at_ms(*job, now_ms) <= now_ms)
            .collect();
        std::thread::scope(|scope| {
            for job in &due {
                let inner = &self.inner;
                scope.spawn(move || inner.run(*job));
            }
        });
        due.len()
    }

    /// Coin prices (all configured coins), without waiting: cached, possibly stale, or None.
    pub fn coin_prices(&self) -> Option<Cached<CoinPrices>> {
        self.inner.coins.peek(&())
    }

    /// One coin's price with the age and staleness of the whole reply.
    pub fn coin_price(&self, coin: &str) -> Option<(CoinPrice, Cached<CoinPrices>)> {
        let cached = self.coin_prices()?;
        let price = cached.value.prices.get(coin)?.clone();
        Some((price, cached))
    }

    /// A pool's statistics by config name, without waiting; None if unknown, not fetched
    /// yet, or its `stats` kind is `none`.
    pub fn pool_stats(&self, pool: &str) -> Option<Cached<PoolStats>> {
        let feed = self.inner.pools.iter().find(|p| p.name == pool)?;
        self.inner.pool_cache(feed.stats).peek(&feed.name)
    }

    /// The network difficulty of `coin` (a configured pool coin slug, e.g. `btc`) from
    /// SoloPool's `/api/stats`, without waiting: cached, possibly stale, or None when no
    /// enabled `solopool` pool mines that coin or nothing was fetched yet.
    pub fn network_difficulty(&self, coin: &str) -> Option<Cached<SolopoolNetwork>> {
        let feed = self.inner.network_feed(coin)?;
        self.inner.network.peek(&feed.coin)
    }

    /// Every fetched network value by coin, not counted as reads (for status pages).
    pub fn network_difficulties(&self) -> Vec<(String, Cached<SolopoolNetwork>)> {
        self.inner
            .networks
            .iter()
            .filter_map(|feed| {
                let cached = self.inner.network.peek_uncounted(&feed.coin)?;
                Some((feed.coin.clone(), cached))
            })
            .collect()
    }

    /// Names of the pools whose statistics are fetched.
    pub fn pool_names(&self) -> Vec<String> {
        self.inner.pools.iter().map(|p| p.name.clone()).collect()
    }

    /// The electricity tariff in force.
    pub fn tariff(&self) -> &Tariff {
        &self.inner.tariff
    }

    /// The unit rate at `t_s` (fixed, or the stored Agile slot). Reads the store, never
    /// the network.
    pub fn price_at(&self, t_s: u64) -> Result<Option<PricePoint>, String> {
        let price = self.inner.tariff.price_at(self.inner.store.as_ref(), t_s)?;
        if let Some(agile) = &self.inner.agile {
            if price.is_some() {
                agile.counters().hit();
            } else {
                agile.counters().miss();
            }
        }
        Ok(price)
    }

    /// Agile feed status; None for a fixed tariff.
    pub fn agile_status(&self) -> Option<AgileStatus> {
        self.inner.agile.as_ref().map(AgileFeed::status)
    }

    /// Counter snapshots of every feed, for `/metrics` and `hmm status`.
    pub fn metrics(&self) -> Vec<FeedMetrics> {
        let mut out = Vec::new();
        if let Some(agile) = &self.inner.agile {
            out.push(agile.counters().snapshot("octopus"));
        }
        out.push(self.inner.coins.counters().snapshot("coingecko"));
        out.push(self.inner.ckpool.counters().snapshot("ckpool"));
        out.push(self.inner.solopool.counters().snapshot("solopool"));
        out.push(self.inner.network.counters().snapshot("solopool-network"));
        out
    }
}

impl Drop for FeedHub {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl HubInner {
    fn jobs(&self) -> Vec<Job> {
        let mut jobs = Vec::new();
        if self.agile.is_some() {
            jobs.push(Job::Octopus);
        }
        if !self.settings.feeds.coins.is_empty() {
            jobs.push(Job::CoinGecko);
        }
        jobs.extend((0..self.pools.len()).map(Job::Pool));
        jobs.extend((0..self.networks.len()).map(Job::Network));
        jobs
    }

    fn job_name(&self, job: Job) -> String {
        match job {
            Job::Octopus => "octopus".into(),
            Job::CoinGecko => "coingecko".into(),
            Job::Pool(i) => format!("pool-{}", self.pools[i].name),
            Job::Network(i) => format!("network-{}", self.networks[i].coin),
        }
    }

    fn network_feed(&self, coin: &str) -> Option<&NetworkFeed> {
        self.networks
            .iter()
            .find(|feed| feed.coin.eq_ignore_ascii_case(coin.trim()))
    }

    fn pool_cache(&self, kind: StatsKind) -> &TtlCache<String, PoolStats> {
        match kind {
            StatsKind::Solopool => &self.solopool,
            _ => &self.ckpool,
        }
    }

    fn due_at_ms(&self, job: Job, now_ms: u64) -> u64 {
        match job {
            Job::Octopus => match &self.agile {
                Some(agile) => agile.due_at_s(now_ms / 1000, self.store.as_ref()) * 1000,
                None => u64::MAX,
            },
            Job::CoinGecko => self.coins.due_at_ms(&()),
            Job::Pool(i) => {
                let pool = &self.pools[i];
                self.pool_cache(pool.stats).due_at_ms(&pool.name)
            }
            Job::Network(i) => self.network.due_at_ms(&self.networks[i].coin),
        }
    }

    fn run(&self, job: Job) {
        let name = self.job_name(job);
        let failed = match job {
            Job::Octopus => self.run_octopus(),
            Job::CoinGecko => {
                let feeds = &self.settings.feeds;
                let outcome = self.coins.refresh(&(), || {
                    coingecko::fetch_prices(
                        &self.http,
                        &feeds.coingecko_url,
                        &feeds.coins,
                        &feeds.currency,
                        &feeds.coingecko_api_key,
                    )
                });
                failure(outcome)
            }
            Job::Pool(i) => {
                let pool = &self.pools[i];
                let outcome = self
                    .pool_cache(pool.stats)
                    .refresh(&pool.name, || self.fetch_pool(pool));
                failure(outcome)
            }
            Job::Network(i) => {
                let feed = &self.networks[i];
                let outcome = self.network.refresh(&feed.coin, || {
                    solopool::fetch_network(&self.http, &feed.template, &feed.coin)
                });
                failure(outcome)
            }
        };
        if let Some(error) = failed {
            log::warn!("feed {name}: {error}; serving the last good value");
        }
    }

    fn run_octopus(&self) -> Option<FeedError> {
        let agile = self.agile.as_ref()?;
        let now_s = self.clock.now_s();
        agile.run(&self.http, self.store.as_ref(), now_s).err()
    }

    fn fetch_pool(&self, pool: &PoolFeed) -> Result<PoolStats, FeedError> {
        let feeds = &self.settings.feeds;
        let explicit = (!pool.stats_url.is_empty()).then_some(pool.stats_url.as_str());
        match pool.stats {
            StatsKind::Ckpool => {
                let base = explicit.unwrap_or(&feeds.ckpool_url);
                ckpool::fetch_user(&self.http, base, pool.address()).map(PoolStats::Ckpool)
            }
            StatsKind::CkpoolStatus => {
                let base = match explicit {
                    Some(url) => url.to_string(),
                    None => format!("http://{}", stratum_host(&pool.url).unwrap_or("127.0.0.1")),
                };
                ckpool::fetch_pool_status(&self.http, &base).map(PoolStats::CkpoolStatus)
            }
            StatsKind::Solopool => {
                let template = explicit.unwrap_or(&feeds.solopool_url);
                solopool::fetch_account(&self.http, template, &pool.coin, pool.address())
                    .map(PoolStats::Solopool)
            }
            StatsKind::None => Err(FeedError::Unavailable(format!(
                "pool {:?} has stats = \"none\"",
                pool.name
            ))),
        }
    }

    fn refresher_loop(&self, job: Job) {
        let tick = self.settings.refresher_tick.max(Duration::from_millis(1));
        loop {
            let now = self.clock.now_ms();
            if self.due_at_ms(job, now) <= now {
                self.run(job);
            }
            // Sleep until due, but look at the clock at least every tick (a manual clock in
            // tests jumps) and at least one tick after a run (no spinning while another
            // caller holds the job).
            let now = self.clock.now_ms();
            let due = self.due_at_ms(job, now);
            let wait = if due <= now {
                tick
            } else {
                Duration::from_millis(due - now).min(tick)
            };
            let stop = self.stop.lock().unwrap_or_else(|p| p.into_inner());
            if *stop {
                return;
            }
            let (stop, _) = self
                .wake
                .wait_timeout(stop, wait)
                .unwrap_or_else(|p| p.into_inner());
            if *stop {
                return;
            }
        }
    }
}

/// One network feed per coin of the `solopool` pools (the first pool of a coin decides an
/// explicit `stats_url`), so two accounts on one coin cost one `/api/stats` request.
fn network_feeds(pools: &[PoolFeed], default_template: &str) -> Vec<NetworkFeed> {
    let mut feeds: Vec<NetworkFeed> = Vec::new();
    for pool in pools.iter().filter(|p| p.stats == StatsKind::Solopool) {
        let coin = pool.coin.to_ascii_lowercase();
        if feeds.iter().any(|feed| feed.coin == coin) {
            continue;
        }
        let template = if pool.stats_url.is_empty() {
            default_template
        } else {
            &pool.stats_url
        };
        feeds.push(NetworkFeed {
            coin,
            template: template.to_string(),
        });
    }
    feeds
}

fn failure<V>(outcome: FetchOutcome<V>) -> Option<FeedError> {
    match outcome {
        FetchOutcome::Failed { error, .. } => Some(error),
        _ => None,
    }
}
