//! CoinGecko `GET /api/v3/simple/price?ids=..&vs_currencies=..`: coin prices in the
//! configured currency, with the 24 h change and CoinGecko's update time.
//!
//! One request covers every configured coin. Prices are kept in hundredths of the currency
//! (pence for `gbp`), the project's money unit. Unknown ids are silently absent in
//! CoinGecko's reply, so they are simply absent here. The optional demo key travels in the
//! `x-cg-demo-api-key` header, never in the URL, so it cannot reach a log line.

use std::collections::BTreeMap;

use serde_json::Value;

use super::FeedError;
use super::http::HttpClient;

/// One coin's price.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CoinPrice {
    /// Price in hundredths of the quote currency (pence for gbp, cents for usd).
    pub price_minor: f64,
    /// 24-hour change, percent; `None` when CoinGecko has none (stale coin).
    pub change_24h_pct: Option<f64>,
    /// When CoinGecko last updated the price, UTC seconds.
    pub last_updated_s: Option<u64>,
}

/// Prices of all configured coins in one currency.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CoinPrices {
    /// Quote currency code, lower case (`gbp`).
    pub currency: String,
    /// Coin id → price; ids CoinGecko did not know are missing.
    pub prices: BTreeMap<String, CoinPrice>,
}

/// The request URL for `coins` in `currency` (with 24 h change and update time).
pub fn price_url(base: &str, coins: &[String], currency: &str) -> String {
    format!(
        "{}/api/v3/simple/price?ids={}&vs_currencies={}&include_24hr_change=true&include_last_updated_at=true",
        base.trim_end_matches('/'),
        coins.join(","),
        currency
    )
}

/// Parses a `simple/price` reply, keeping `currency` only.
pub fn parse_simple_price(body: &str, currency: &str) -> Result<CoinPrices, FeedError> {
    let root: Value = serde_json::from_str(body).map_err(|e| parse_error(e.to_string()))?;
    let Value::Object(coins) = root else {
        return Err(parse_error(
            "expected a JSON object keyed by coin id".into(),
        ));
    };
    let mut prices = BTreeMap::new();
    for (coin, fields) in coins {
        let Some(price) = fields.get(currency).and_then(Value::as_f64) else {
            continue;
        };
        prices.insert(
            coin,
            CoinPrice {
                price_minor: price * 100.0,
                change_24h_pct: fields
                    .get(format!("{currency}_24h_change"))
                    .and_then(Value::as_f64),
                last_updated_s: fields.get("last_updated_at").and_then(Value::as_u64),
            },
        );
    }
    Ok(CoinPrices {
        currency: currency.to_string(),
        prices,
    })
}

/// Fetches the prices of `coins` in `currency`; `api_key` (may be empty) is sent as the
/// demo-key header.
pub fn fetch_prices(
    http: &HttpClient,
    base: &str,
    coins: &[String],
    currency: &str,
    api_key: &str,
) -> Result<CoinPrices, FeedError> {
    let url = price_url(base, coins, currency);
    let headers: Vec<(&str, &str)> = if api_key.is_empty() {
        Vec::new()
    } else {
        vec![("x-cg-demo-api-key", api_key)]
    };
    let body = http.get_text(&url, &headers)?;
    parse_simple_price(&body, currency).map_err(|e| match e {
        FeedError::Parse { message, .. } => FeedError::Parse {
            source: format!("CoinGecko {url}"),
            message,
        },
        other => other,
    })
}

fn parse_error(message: String) -> FeedError {
    FeedError::Parse {
        source: "CoinGecko simple/price".into(),
        message,
    }
}
