//! CKPool statistics: the per-user log `GET <base>/users/<address>` (solo.ckpool.org and
//! ckpool-family pools) and a self-hosted pool's `GET <base>/pool/pool.status`.
//!
//! CKPool prints hashrates as SI-suffixed strings (`"4.57G"`, `"85.4T"`, `"0"`), converted
//! here to H/s with [`crate::units::parse_si`]. Some forks print `shares`/`bestever` as
//! floats, so every count is read as a number of either kind. Missing fields stay `None`.

use serde_json::{Map, Value};

use super::FeedError;
use super::http::HttpClient;
use crate::units::parse_si;

/// Hashrate windows as CKPool reports them, H/s.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct CkHashrates {
    /// 1-minute average.
    pub h1m: Option<f64>,
    /// 5-minute average.
    pub h5m: Option<f64>,
    /// 15-minute average (pool.status only).
    pub h15m: Option<f64>,
    /// 1-hour average.
    pub h1h: Option<f64>,
    /// 6-hour average (pool.status only).
    pub h6h: Option<f64>,
    /// 1-day average.
    pub h1d: Option<f64>,
    /// 7-day average.
    pub h7d: Option<f64>,
}

/// One worker of a CKPool user.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CkWorker {
    /// `<address>` or `<address>.<name>`.
    pub name: String,
    /// Its hashrates.
    pub hashrate: CkHashrates,
    /// Last share, UTC seconds.
    pub last_share_s: Option<u64>,
    /// Shares submitted.
    pub shares: Option<u64>,
    /// Best share difficulty this session.
    pub best_share: Option<f64>,
    /// Best share difficulty ever.
    pub best_ever: Option<f64>,
}

/// `/users/<address>`: one solo miner's account.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CkpoolUser {
    /// Account hashrates.
    pub hashrate: CkHashrates,
    /// Last share, UTC seconds.
    pub last_share_s: Option<u64>,
    /// Workers currently connected.
    pub workers_connected: Option<u64>,
    /// Shares submitted.
    pub shares: Option<u64>,
    /// Best share difficulty this session.
    pub best_share: Option<f64>,
    /// Best share difficulty ever.
    pub best_ever: Option<f64>,
    /// First authorisation, UTC seconds.
    pub authorised_s: Option<u64>,
    /// Per-worker details.
    pub workers: Vec<CkWorker>,
}

/// `/pool/pool.status`: a self-hosted pool's totals.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CkpoolStatus {
    /// Seconds the pool has run.
    pub runtime_s: Option<u64>,
    /// When the file was written, UTC seconds.
    pub last_update_s: Option<u64>,
    /// Users connected.
    pub users: Option<u64>,
    /// Workers connected.
    pub workers: Option<u64>,
    /// Idle workers.
    pub idle: Option<u64>,
    /// Disconnected workers.
    pub disconnected: Option<u64>,
    /// Pool hashrates.
    pub hashrate: CkHashrates,
    /// Current pool difficulty.
    pub diff: Option<f64>,
    /// Accepted shares (difficulty-weighted).
    pub accepted: Option<u64>,
    /// Rejected shares.
    pub rejected: Option<u64>,
    /// Best share.
    pub best_share: Option<f64>,
    /// Shares per second, 1 minute.
    pub sps_1m: Option<f64>,
    /// Shares per second, 5 minutes.
    pub sps_5m: Option<f64>,
    /// Shares per second, 15 minutes.
    pub sps_15m: Option<f64>,
    /// Shares per second, 1 hour.
    pub sps_1h: Option<f64>,
}

impl CkpoolStatus {
    /// Rejected over all shares, percent; `None` without both counts or with none.
    pub fn reject_rate_pct(&self) -> Option<f64> {
        let (a, r) = (self.accepted?, self.rejected?);
        (a + r > 0).then(|| r as f64 / (a + r) as f64 * 100.0)
    }
}

/// Parses a `/users/<address>` reply.
pub fn parse_user(body: &str) -> Result<CkpoolUser, FeedError> {
    let root: Value =
        serde_json::from_str(body).map_err(|e| parse_error("users", e.to_string()))?;
    let Value::Object(map) = root else {
        return Err(parse_error("users", "expected a JSON object".into()));
    };
    let workers = match map.get("worker") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_object)
            .map(|w| CkWorker {
                name: w
                    .get("workername")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                hashrate: hashrates(w),
                last_share_s: count(w, "lastshare"),
                shares: count(w, "shares"),
                best_share: number(w, "bestshare"),
                best_ever: number(w, "bestever"),
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok(CkpoolUser {
        hashrate: hashrates(&map),
        last_share_s: count(&map, "lastshare"),
        workers_connected: count(&map, "workers"),
        shares: count(&map, "shares"),
        best_share: number(&map, "bestshare"),
        best_ever: number(&map, "bestever"),
        authorised_s: count(&map, "authorised"),
        workers,
    })
}

/// Parses `pool.status`: JSON objects one per line, merged (non-JSON lines are skipped).
pub fn parse_pool_status(body: &str) -> Result<CkpoolStatus, FeedError> {
    let mut merged = Map::new();
    for line in body.lines().map(str::trim).filter(|l| l.starts_with('{')) {
        match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(object)) => merged.extend(object),
            _ => return Err(parse_error("pool.status", format!("bad line {line:?}"))),
        }
    }
    if merged.is_empty() {
        return Err(parse_error(
            "pool.status",
            "no JSON lines (is this a ckpool pool.status URL?)".into(),
        ));
    }
    let m = &merged;
    Ok(CkpoolStatus {
        runtime_s: count(m, "runtime"),
        last_update_s: count(m, "lastupdate"),
        users: count(m, "Users"),
        workers: count(m, "Workers"),
        idle: count(m, "Idle"),
        disconnected: count(m, "Disconnected"),
        hashrate: hashrates(m),
        diff: number(m, "diff"),
        accepted: count(m, "accepted"),
        rejected: count(m, "rejected"),
        best_share: number(m, "bestshare"),
        sps_1m: number(m, "SPS1m"),
        sps_5m: number(m, "SPS5m"),
        sps_15m: number(m, "SPS15m"),
        sps_1h: number(m, "SPS1h"),
    })
}

/// Fetches a CKPool user account.
pub fn fetch_user(http: &HttpClient, base: &str, address: &str) -> Result<CkpoolUser, FeedError> {
    let url = format!("{}/users/{address}", base.trim_end_matches('/'));
    parse_user(&http.get_text(&url, &[])?).map_err(|e| with_url(e, &url))
}

/// Fetches a self-hosted pool's `pool.status`.
pub fn fetch_pool_status(http: &HttpClient, base: &str) -> Result<CkpoolStatus, FeedError> {
    let url = format!("{}/pool/pool.status", base.trim_end_matches('/'));
    parse_pool_status(&http.get_text(&url, &[])?).map_err(|e| with_url(e, &url))
}

fn hashrates(map: &Map<String, Value>) -> CkHashrates {
    let rate = |key: &str| map.get(key).and_then(si_hashrate);
    CkHashrates {
        h1m: rate("hashrate1m"),
        h5m: rate("hashrate5m"),
        h15m: rate("hashrate15m"),
        h1h: rate("hashrate1hr"),
        h6h: rate("hashrate6hr"),
        h1d: rate("hashrate1d"),
        h7d: rate("hashrate7d"),
    }
}

fn si_hashrate(value: &Value) -> Option<f64> {
    match value {
        Value::String(text) => parse_si(text),
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

fn number(map: &Map<String, Value>, key: &str) -> Option<f64> {
    map.get(key)
        .and_then(Value::as_f64)
        .filter(|v| v.is_finite())
}

/// An integer count that some forks print as a float (`25621.0`).
fn count(map: &Map<String, Value>, key: &str) -> Option<u64> {
    let value = map.get(key)?;
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|v| v.is_finite() && *v >= 0.0 && *v < 1.8e19)
            .map(|v| v.round() as u64)
    })
}

fn parse_error(what: &str, message: String) -> FeedError {
    FeedError::Parse {
        source: format!("CKPool {what}"),
        message,
    }
}

fn with_url(error: FeedError, url: &str) -> FeedError {
    match error {
        FeedError::Parse { message, .. } => FeedError::Parse {
            source: format!("CKPool {url}"),
            message,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_counts_and_missing_fields() {
        let user = parse_user(r#"{"hashrate1m":"1.2k","shares":25621.0,"bestever":12.0}"#).unwrap();
        assert_eq!(user.shares, Some(25_621));
        assert_eq!(user.best_ever, Some(12.0));
        assert_eq!(user.hashrate.h1m, Some(1_200.0));
        assert_eq!(user.hashrate.h1d, None);
        assert_eq!(user.last_share_s, None);
        assert!(user.workers.is_empty());
        assert!(parse_user("[1,2]").is_err());
        assert!(parse_pool_status("Pretty print\n").is_err());
    }
}
