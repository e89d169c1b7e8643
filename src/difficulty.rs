//! Network difficulty as the fleet's own miners report it, so profitability needs no web
//! request when a miner already knows the number.
//!
//! AxeOS v2.11+ and NerdQAxe put the network difficulty of the pool they mine on into every
//! `/api/system/info` reply. The collector records each successful poll's readings here,
//! keyed by the pool's `host:port` (devices do not say which coin they mine). A script asks
//! by coin: `NetworkDifficulties::for_coin` looks the coin up in the configured
//! `[[pools]]` at that moment (so a config reload applies at once) and answers the freshest
//! reading of any pool configured with that coin. A miner on a pool that is not configured
//! gives no coin and so never answers: hmm does not guess which network it is on.
//!
//! Readings older than [`MINER_READING_MAX_AGE_MS`] are not served. Why one hour: a miner
//! that is polled reports a new value every poll interval, so an hour without one means the
//! miner is offline or left that pool; BTC's difficulty then may still be right (it moves
//! every ~2 weeks), but smaller coins retarget every block, and the SoloPool feed (served
//! stale like every feed) is the better fallback by then. Each new poll drops what is older
//! than that, so the table holds one entry per pool mined on within the last hour.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::config::PoolConfig;
use crate::devices::{NetworkReading, pool_endpoint};

/// How long a miner's network difficulty reading is served after the poll that read it.
pub const MINER_READING_MAX_AGE_MS: u64 = 3_600_000;

/// One network difficulty with when it was read, from a miner or a feed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct DifficultyReading {
    /// Network difficulty, > 0.
    pub(crate) difficulty: f64,
    /// Height of the block being mined when the value was read, if known. Breaks ties
    /// between readings of the same poll cycle: the miner that saw the newer block wins.
    pub(crate) block_height: Option<u64>,
    /// When it was read (poll time, or the feed's fetch time), UTC ms.
    pub(crate) at_ms: u64,
}

impl DifficultyReading {
    /// Whether `self` is newer than `other`: read later, or in the same cycle at a higher
    /// block.
    fn is_newer_than(&self, other: &DifficultyReading) -> bool {
        (self.at_ms, self.block_height.unwrap_or(0))
            > (other.at_ms, other.block_height.unwrap_or(0))
    }
}

/// The newest network difficulty each pool endpoint's miners reported. Shared by the
/// collector (writer) and the scripts' data (reader); every call holds the lock briefly.
#[derive(Debug, Default)]
pub struct NetworkDifficulties {
    by_pool: Mutex<HashMap<(String, u16), DifficultyReading>>,
}

impl NetworkDifficulties {
    /// An empty table.
    pub fn new() -> NetworkDifficulties {
        NetworkDifficulties::default()
    }

    /// Records what one successful poll at `at_ms` reported. Readings whose pool URL has
    /// no host and port are skipped: they could never be matched to a configured pool.
    pub(crate) fn record(&self, readings: &[NetworkReading], at_ms: u64) {
        if readings.is_empty() {
            return;
        }
        let mut by_pool = self.lock();
        for reading in readings {
            let Some(key) = endpoint_key(&reading.pool_url) else {
                continue;
            };
            let new = DifficultyReading {
                difficulty: reading.difficulty,
                block_height: reading.block_height,
                at_ms,
            };
            let keep_old = by_pool.get(&key).is_some_and(|old| old.is_newer_than(&new));
            if !keep_old {
                by_pool.insert(key, new);
            }
        }
        by_pool.retain(|_, r| at_ms.saturating_sub(r.at_ms) <= MINER_READING_MAX_AGE_MS);
    }

    /// The freshest reading, at most [`MINER_READING_MAX_AGE_MS`] old at `now_ms`, from any
    /// pool in `pools` whose `coin` is `coin`. A pool endpoint configured twice with two
    /// different coins answers for neither.
    pub(crate) fn for_coin(
        &self,
        coin: &str,
        pools: &[PoolConfig],
        now_ms: u64,
    ) -> Option<DifficultyReading> {
        let by_pool = self.lock();
        by_pool
            .iter()
            .filter(|(key, _)| coin_of(key, pools).is_some_and(|c| c.eq_ignore_ascii_case(coin)))
            .map(|(_, reading)| *reading)
            .filter(|r| now_ms.saturating_sub(r.at_ms) <= MINER_READING_MAX_AGE_MS)
            .reduce(|a, b| if b.is_newer_than(&a) { b } else { a })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, u16), DifficultyReading>> {
        self.by_pool.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The newer of two optional readings (see [`DifficultyReading`] for "newer").
pub(crate) fn freshest(
    a: Option<DifficultyReading>,
    b: Option<DifficultyReading>,
) -> Option<DifficultyReading> {
    match (a, b) {
        (Some(a), Some(b)) if b.is_newer_than(&a) => Some(b),
        (Some(a), _) => Some(a),
        (None, b) => b,
    }
}

/// `(lower-case host, port)` of a stratum URL; `None` without a port.
fn endpoint_key(url: &str) -> Option<(String, u16)> {
    let endpoint = pool_endpoint(url).ok()?;
    Some((endpoint.host.to_ascii_lowercase(), endpoint.port))
}

/// The coin of the configured pools at `key`; `None` when none is configured there or
/// those configured disagree.
fn coin_of<'a>(key: &(String, u16), pools: &'a [PoolConfig]) -> Option<&'a str> {
    let mut coins = pools
        .iter()
        .filter(|pool| endpoint_key(&pool.url).as_ref() == Some(key))
        .map(|pool| pool.coin.as_str());
    let first = coins.next()?;
    coins.all(|c| c == first).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn pools() -> Vec<PoolConfig> {
        Config::from_str(
            r#"
[[pools]]
name = "ckpool"
url = "stratum+tcp://solo.ckpool.org:3333"
user = "bc1qexample.worker"
[[pools]]
name = "solopool-bch"
url = "stratum+tcp://eu2.solopool.org:8002"
user = "qexample.worker"
coin = "bch"
"#,
            "<test>",
        )
        .unwrap()
        .pools
    }

    fn reading(url: &str, difficulty: f64, block_height: Option<u64>) -> NetworkReading {
        NetworkReading {
            pool_url: url.into(),
            difficulty,
            block_height,
        }
    }

    #[test]
    fn the_coin_comes_from_the_configured_pool_at_that_host_and_port() {
        let table = NetworkDifficulties::new();
        table.record(
            &[
                reading("stratum+tcp://SOLO.ckpool.org:3333", 1.2e14, None),
                reading("stratum+tcp://eu2.solopool.org:8002", 5.0e11, None),
                // Same host, another port: not the configured pool, so no coin.
                reading("stratum+tcp://solo.ckpool.org:4444", 9.9e14, None),
            ],
            1_000,
        );
        let pools = pools();
        assert_eq!(
            table.for_coin("btc", &pools, 2_000).unwrap().difficulty,
            1.2e14
        );
        assert_eq!(
            table.for_coin("BCH", &pools, 2_000).unwrap().difficulty,
            5.0e11
        );
        assert_eq!(table.for_coin("dgb", &pools, 2_000), None);
        assert_eq!(table.for_coin("btc", &[], 2_000), None, "no pools, no coin");
    }

    #[test]
    fn the_freshest_reading_wins_and_old_ones_expire() {
        let table = NetworkDifficulties::new();
        let url = "stratum+tcp://solo.ckpool.org:3333";
        table.record(&[reading(url, 1.0e14, Some(100))], 10_000);
        table.record(&[reading(url, 1.1e14, Some(99))], 10_000); // same cycle, older block
        table.record(&[reading(url, 0.9e14, Some(101))], 5_000); // arrived late, older poll
        let pools = pools();
        assert_eq!(
            table.for_coin("btc", &pools, 10_000).unwrap().difficulty,
            1.0e14
        );
        table.record(&[reading(url, 1.3e14, Some(101))], 10_000);
        assert_eq!(
            table.for_coin("btc", &pools, 10_000).unwrap().difficulty,
            1.3e14
        );
        let last_served = 10_000 + MINER_READING_MAX_AGE_MS;
        assert!(table.for_coin("btc", &pools, last_served).is_some());
        assert_eq!(table.for_coin("btc", &pools, last_served + 1), None);
    }

    #[test]
    fn a_pool_configured_with_two_coins_answers_for_neither() {
        let mut pools = pools();
        let mut twin = pools[0].clone();
        twin.name = "ckpool-bch".into();
        twin.coin = "bch".into();
        pools.push(twin);
        let table = NetworkDifficulties::new();
        table.record(&[reading("solo.ckpool.org:3333", 1.2e14, None)], 1_000);
        assert_eq!(table.for_coin("btc", &pools, 1_000), None);
        assert_eq!(table.for_coin("bch", &pools, 1_000), None);
    }

    #[test]
    fn freshest_prefers_the_later_reading() {
        let at = |at_ms| DifficultyReading {
            difficulty: at_ms as f64,
            block_height: None,
            at_ms,
        };
        assert_eq!(freshest(Some(at(1)), Some(at(2))), Some(at(2)));
        assert_eq!(freshest(Some(at(3)), Some(at(2))), Some(at(3)));
        assert_eq!(freshest(None, Some(at(2))), Some(at(2)));
        assert_eq!(freshest(Some(at(1)), None), Some(at(1)));
        assert_eq!(freshest(None, None), None);
    }
}
