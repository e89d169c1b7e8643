//! SoloPool.org (open-ethereum-pool lineage), two endpoints per coin host:
//! - `GET https://{coin}.solopool.org/api/accounts/<address>`: the account's hashrate,
//!   workers, share counts and earnings windows ([`fetch_account`]);
//! - `GET https://{coin}.solopool.org/api/stats`: pool and network statistics, of which
//!   hmm reads the network difficulty for the profitability widget ([`fetch_network`]).
//!
//! The base URL is a template with `{coin}` (config `[feeds] solopool_url`), filled with the
//! pool's configured coin slug. Hashrates are already H/s numbers. SoloPool publishes no
//! schema (protocols.md §5.2), so every account field is optional, and the one stats field
//! hmm needs is looked for where consumers read it (`stats.difficulty`) and, failing that,
//! where open-ethereum-pool's own `/api/stats` has it (`nodes[0].difficulty`).

use serde_json::{Map, Value};

use super::FeedError;
use super::http::HttpClient;

/// One worker of a SoloPool account.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SoloWorker {
    /// Worker name (the part after the address).
    pub name: String,
    /// Short-window hashrate, H/s.
    pub hashrate_hs: Option<f64>,
    /// Long-window hashrate, H/s.
    pub hashrate_long_hs: Option<f64>,
    /// Last share, UTC seconds.
    pub last_beat_s: Option<u64>,
    /// Whether SoloPool considers it offline.
    pub offline: Option<bool>,
    /// Valid shares.
    pub shares_valid: Option<u64>,
    /// Invalid shares.
    pub shares_invalid: Option<u64>,
    /// Stale shares.
    pub shares_stale: Option<u64>,
}

/// Blocks and luck over one earnings window.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SoloEarnings {
    /// Window length, seconds (86400, 604800, 2592000).
    pub period_s: u64,
    /// Blocks found in the window.
    pub blocks: Option<u64>,
    /// Amount earned, in the coin's atomic units.
    pub amount: Option<f64>,
    /// Luck, as SoloPool reports it.
    pub luck: Option<f64>,
}

/// A SoloPool account.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SolopoolAccount {
    /// Current hashrate, H/s.
    pub current_hashrate_hs: Option<f64>,
    /// Longer-window hashrate, H/s.
    pub hashrate_hs: Option<f64>,
    /// Workers online.
    pub workers_online: Option<u64>,
    /// Workers offline.
    pub workers_offline: Option<u64>,
    /// Workers known.
    pub workers_total: Option<u64>,
    /// Per-worker details, sorted by name.
    pub workers: Vec<SoloWorker>,
    /// Blocks found.
    pub blocks_found: Option<u64>,
    /// Last share, UTC seconds.
    pub last_share_s: Option<u64>,
    /// Balance, atomic units.
    pub balance: Option<f64>,
    /// Immature balance, atomic units.
    pub immature: Option<f64>,
    /// Paid, atomic units.
    pub paid: Option<f64>,
    /// Number of payments.
    pub payments_total: Option<u64>,
    /// Shares in the current round.
    pub round_shares: Option<u64>,
    /// Earnings windows.
    pub earnings: Vec<SoloEarnings>,
}

/// The API base for `coin` from a `{coin}` template.
pub fn base_for_coin(template: &str, coin: &str) -> String {
    template
        .replace("{coin}", coin)
        .trim_end_matches('/')
        .to_string()
}

/// Parses an `/api/accounts/<address>` reply.
pub fn parse_account(body: &str) -> Result<SolopoolAccount, FeedError> {
    let root: Value = serde_json::from_str(body).map_err(|e| parse_error(e.to_string()))?;
    let Value::Object(map) = root else {
        return Err(parse_error("expected a JSON object".into()));
    };
    let empty = Map::new();
    let stats = map
        .get("stats")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let workers = map
        .get("workers")
        .and_then(Value::as_object)
        .map(|workers| {
            workers
                .iter()
                .filter_map(|(name, w)| Some((name, w.as_object()?)))
                .map(|(name, w)| SoloWorker {
                    name: name.clone(),
                    hashrate_hs: number(w, "hr"),
                    hashrate_long_hs: number(w, "hr2"),
                    last_beat_s: count(w, "lastBeat"),
                    offline: w.get("offline").and_then(Value::as_bool),
                    shares_valid: count(w, "sharesValid"),
                    shares_invalid: count(w, "sharesInvalid"),
                    shares_stale: count(w, "sharesStale"),
                })
                .collect()
        })
        .unwrap_or_default();
    let earnings = map
        .get("earnings")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_object)
                .filter_map(|e| {
                    Some(SoloEarnings {
                        period_s: count(e, "period")?,
                        blocks: count(e, "blocks"),
                        amount: number(e, "amount"),
                        luck: number(e, "luck"),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(SolopoolAccount {
        current_hashrate_hs: number(&map, "currentHashrate"),
        hashrate_hs: number(&map, "hashrate"),
        workers_online: count(&map, "workersOnline"),
        workers_offline: count(&map, "workersOffline"),
        workers_total: count(&map, "workersTotal"),
        workers,
        blocks_found: count(stats, "blocksFound"),
        last_share_s: count(stats, "lastShare"),
        balance: number(stats, "balance"),
        immature: number(stats, "immature"),
        paid: number(stats, "paid"),
        payments_total: count(&map, "paymentsTotal"),
        round_shares: count(&map, "roundShares"),
        earnings,
    })
}

/// Fetches the account `address` from the coin's SoloPool host.
pub fn fetch_account(
    http: &HttpClient,
    template: &str,
    coin: &str,
    address: &str,
) -> Result<SolopoolAccount, FeedError> {
    let url = format!("{}/api/accounts/{address}", base_for_coin(template, coin));
    parse_account(&http.get_text(&url, &[])?).map_err(|e| match e {
        FeedError::Parse { message, .. } => FeedError::Parse {
            source: format!("SoloPool {url}"),
            message,
        },
        other => other,
    })
}

/// What hmm reads from a coin's `/api/stats`: the network difficulty that coin's blocks
/// must meet, for expected coins per day.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SolopoolNetwork {
    /// Network difficulty, finite and above zero.
    pub difficulty: f64,
}

/// Parses an `/api/stats` reply. The difficulty may be a JSON number or a numeric string
/// (open-ethereum-pool sends big values as strings); a reply without a usable one (missing,
/// zero, negative) is an error, so the cache keeps serving the last good value.
pub fn parse_network(body: &str) -> Result<SolopoolNetwork, FeedError> {
    let root: Value = serde_json::from_str(body).map_err(|e| network_error(e.to_string()))?;
    let Value::Object(map) = root else {
        return Err(network_error("expected a JSON object".into()));
    };
    let from_stats = map
        .get("stats")
        .and_then(|stats| stats.get("difficulty"))
        .and_then(difficulty);
    let from_nodes = || {
        map.get("nodes")
            .and_then(Value::as_array)
            .and_then(|nodes| nodes.first())
            .and_then(|node| node.get("difficulty"))
            .and_then(difficulty)
    };
    match from_stats.or_else(from_nodes) {
        Some(difficulty) => Ok(SolopoolNetwork { difficulty }),
        None => Err(network_error(
            "no network difficulty above zero in stats.difficulty".into(),
        )),
    }
}

/// Fetches the network statistics of `coin` from its SoloPool host.
pub fn fetch_network(
    http: &HttpClient,
    template: &str,
    coin: &str,
) -> Result<SolopoolNetwork, FeedError> {
    let url = format!("{}/api/stats", base_for_coin(template, coin));
    parse_network(&http.get_text(&url, &[])?).map_err(|e| match e {
        FeedError::Parse { message, .. } => FeedError::Parse {
            source: format!("SoloPool {url}"),
            message,
        },
        other => other,
    })
}

fn difficulty(value: &Value) -> Option<f64> {
    let parsed = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    parsed.filter(|d| d.is_finite() && *d > 0.0)
}

fn network_error(message: String) -> FeedError {
    FeedError::Parse {
        source: "SoloPool stats".into(),
        message,
    }
}

fn number(map: &Map<String, Value>, key: &str) -> Option<f64> {
    map.get(key)
        .and_then(Value::as_f64)
        .filter(|v| v.is_finite())
}

fn count(map: &Map<String, Value>, key: &str) -> Option<u64> {
    let value = map.get(key)?;
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|v| v.is_finite() && *v >= 0.0 && *v < 1.8e19)
            .map(|v| v.round() as u64)
    })
}

fn parse_error(message: String) -> FeedError {
    FeedError::Parse {
        source: "SoloPool account".into(),
        message,
    }
}
