//! The JSON API: parameter parsing and the answer bodies of `/api/...`.
//!
//! Times in parameters are accepted as epoch milliseconds (`1767225600000`) or RFC 3339
//! (`2026-01-01T00:00:00Z`, `2026-01-01T01:00:00+01:00`, fractional seconds allowed); times
//! in answers are given both ways (`ts_ms` and `time`). Every list is bounded: sample pages
//! by `limit` (default 500, capped at [`MAX_LIMIT`]) with a cursor for the next page, time
//! ranges by [`MAX_SPAN_MS`]. A bad parameter is a 400 naming it.

use serde_json::{Value, json};

use crate::model::{AuditRecord, PricePoint, Sample, SlotRollup};
use crate::ukclock;
use crate::units;

use super::routes::HttpError;
use super::{BackendError, FeedStatus, MinerView, WebBackend};

/// Most rows one answer returns (samples, audit rows); larger `limit`s are capped.
pub const MAX_LIMIT: usize = 1000;
/// Default page size for samples.
pub const DEFAULT_SAMPLE_LIMIT: usize = 500;
/// Default number of audit rows.
pub const DEFAULT_AUDIT_LIMIT: usize = 50;
/// Longest time range for slots and prices (31 days).
pub const MAX_SPAN_MS: u64 = 31 * 86_400_000;
const DAY_MS: u64 = 86_400_000;

/// The decoded `key=value` pairs of a query string.
#[derive(Debug, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses `a=1&b=x%20y` (percent-decoding, `+` as space). Missing `=` gives "".
    pub fn parse(text: &str) -> Query {
        let pairs = text
            .split('&')
            .filter(|part| !part.is_empty())
            .map(|part| {
                let (key, value) = part.split_once('=').unwrap_or((part, ""));
                (percent_decode(key), percent_decode(value))
            })
            .collect();
        Query { pairs }
    }

    /// The first value of `key`, if present and non-empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// A time parameter in ms, or `default` when absent.
    pub fn time_ms(&self, key: &str, default: u64) -> Result<u64, HttpError> {
        match self.get(key) {
            None => Ok(default),
            Some(text) => parse_time_ms(text).ok_or_else(|| {
                HttpError::bad_request(format!(
                    "parameter '{key}': '{}' is not a time; use epoch milliseconds or RFC 3339 such as 2026-01-01T00:00:00Z",
                    clip(text)
                ))
            }),
        }
    }

    /// A positive count parameter, capped at `max`, or `default` when absent.
    pub fn limit(&self, key: &str, default: usize, max: usize) -> Result<usize, HttpError> {
        match self.get(key) {
            None => Ok(default),
            Some(text) => match text.parse::<usize>() {
                Ok(n) if n > 0 => Ok(n.min(max)),
                _ => Err(HttpError::bad_request(format!(
                    "parameter '{key}': '{}' is not a positive whole number (at most {max} are returned)",
                    clip(text)
                ))),
            },
        }
    }

    /// An opaque numeric cursor from a previous answer's `next_cursor`.
    pub fn cursor(&self, key: &str) -> Result<Option<u64>, HttpError> {
        match self.get(key) {
            None => Ok(None),
            Some(text) => text.parse().map(Some).map_err(|_| {
                HttpError::bad_request(format!(
                    "parameter '{key}': '{}' is not a cursor; pass back the next_cursor of the previous page",
                    clip(text)
                ))
            }),
        }
    }

    /// A `from`/`to` pair with defaults, checked for order and the longest allowed span.
    pub fn range_ms(
        &self,
        default_from: u64,
        default_to: u64,
        max_span: u64,
    ) -> Result<(u64, u64), HttpError> {
        let to = self.time_ms("to", default_to)?;
        let from = self.time_ms("from", default_from.min(to))?;
        if from > to {
            return Err(HttpError::bad_request(
                "parameter 'from': must not be later than 'to'".to_string(),
            ));
        }
        if to - from > max_span {
            return Err(HttpError::bad_request(format!(
                "parameter 'from': the range may span at most {} days",
                max_span / DAY_MS
            )));
        }
        Ok((from, to))
    }
}

/// Shortens user input quoted back in an error message.
fn clip(text: &str) -> String {
    text.chars().take(64).collect()
}

pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high * 16 + low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|d| d as u8)
}

/// Parses epoch milliseconds or RFC 3339 (with `Z` or a `±HH:MM` offset) to UTC ms.
pub fn parse_time_ms(text: &str) -> Option<u64> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    let (local, offset_s) = split_offset(text)?;
    let time = humantime::parse_rfc3339_weak(local).ok()?;
    let ms = time.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as i64;
    u64::try_from(ms - offset_s * 1000).ok()
}

/// Splits `...Z` or `...+01:00` (a `+` may arrive as a space from a query string) into
/// the local part and the offset in seconds.
fn split_offset(text: &str) -> Option<(&str, i64)> {
    if let Some(local) = text.strip_suffix(['Z', 'z']) {
        return Some((local, 0));
    }
    let split = text.len().checked_sub(6)?;
    let (local, offset) = text.split_at(split);
    let sign = match offset.as_bytes()[0] {
        b'+' | b' ' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (hours, minutes) = offset[1..].split_once(':')?;
    let (hours, minutes): (i64, i64) = (hours.parse().ok()?, minutes.parse().ok()?);
    if !local.contains('T') && !local.contains('t') {
        return None;
    }
    Some((local, sign * (hours * 3600 + minutes * 60)))
}

/// RFC 3339 text of a UTC ms time.
pub fn time_text(ms: u64) -> String {
    ukclock::rfc3339(ms / 1000)
}

/// Maps a backend failure to the HTTP error the client sees.
pub fn backend_error(error: BackendError, miner: &str) -> HttpError {
    match error {
        BackendError::UnknownMiner => {
            HttpError::not_found(format!("no miner named '{}'", clip(miner)))
        }
        BackendError::Unavailable(reason) => {
            HttpError::new(503, format!("data temporarily unavailable: {reason}"))
        }
    }
}

/// A sample as JSON: the model fields plus `time` in RFC 3339.
pub fn sample_json(sample: &Sample) -> Value {
    let mut value = serde_json::to_value(sample).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert("time".into(), json!(time_text(sample.ts_ms)));
    }
    value
}

/// One miner as JSON: status, derived numbers and the latest sample.
pub fn miner_json(view: &MinerView) -> Value {
    let status = &view.status;
    let latest = view.latest.as_ref();
    let hashrate = latest.and_then(|s| s.hashrate_hs);
    json!({
        "name": status.name,
        "kind": status.kind.map(|k| k.as_str()),
        "model": status.model,
        "firmware": status.firmware,
        "online": view.online,
        "enabled": status.enabled,
        "pool": status.pool,
        "last_seen_ms": status.last_seen_ms,
        "last_seen": status.last_seen_ms.map(time_text),
        "last_error": status.last_error,
        "hashrate_hs": hashrate,
        "hashrate": hashrate.map(units::format_hashrate),
        "power_w": latest.and_then(|s| s.power_w),
        "manual_power_w": view.manual_power_w,
        "temp_c": latest.and_then(|s| s.temp_c),
        "mode": latest.and_then(|s| s.mode).map(|m| m.as_str()),
        "efficiency_j_per_th": view.efficiency_j_per_th,
        "latest": latest.map(sample_json),
    })
}

/// `GET /api/miners`.
pub fn miners(backend: &dyn WebBackend) -> Result<Value, HttpError> {
    let views = backend.miners().map_err(|e| backend_error(e, ""))?;
    Ok(json!({ "miners": views.iter().map(miner_json).collect::<Vec<_>>() }))
}

/// Finds one miner's view or answers 404.
pub fn find_miner(backend: &dyn WebBackend, name: &str) -> Result<MinerView, HttpError> {
    let views = backend.miners().map_err(|e| backend_error(e, name))?;
    views
        .into_iter()
        .find(|view| view.status.name == name)
        .ok_or_else(|| HttpError::not_found(format!("no miner named '{}'", clip(name))))
}

/// `GET /api/miners/<name>`.
pub fn miner(backend: &dyn WebBackend, name: &str) -> Result<Value, HttpError> {
    Ok(miner_json(&find_miner(backend, name)?))
}

/// `GET /api/miners/<name>/telemetry?from=&to=&limit=&cursor=`: one page of samples with
/// `next_cursor` and a ready-made `next` URL (both `null` on the last page). Defaults:
/// the last 24 hours, 500 samples.
pub fn telemetry(backend: &dyn WebBackend, name: &str, query: &Query) -> Result<Value, HttpError> {
    find_miner(backend, name)?;
    let now = backend.now_ms();
    let to = query.time_ms("to", now + 1)?;
    let from = query.time_ms("from", to.saturating_sub(DAY_MS))?;
    if from > to {
        return Err(HttpError::bad_request(
            "parameter 'from': must not be later than 'to'".to_string(),
        ));
    }
    let limit = query.limit("limit", DEFAULT_SAMPLE_LIMIT, MAX_LIMIT)?;
    let cursor = query.cursor("cursor")?;
    let page = backend
        .samples(name, from, to, limit, cursor)
        .map_err(|e| backend_error(e, name))?;
    let next = page.next_cursor.map(|cursor| {
        format!(
            "/api/miners/{}/telemetry?from={from}&to={to}&limit={limit}&cursor={cursor}",
            url_segment(name)
        )
    });
    Ok(json!({
        "miner": name,
        "from_ms": from,
        "to_ms": to,
        "limit": limit,
        "count": page.samples.len(),
        "samples": page.samples.iter().map(sample_json).collect::<Vec<_>>(),
        "next_cursor": page.next_cursor,
        "next": next,
    }))
}

/// Percent-encodes a path segment for links.
pub fn url_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A slot rollup as JSON with derived means.
pub fn slot_json(slot: &SlotRollup) -> Value {
    let mean_power_w =
        (slot.powered_ms > 0).then(|| slot.energy_wh / (slot.powered_ms as f64 / 3_600_000.0));
    json!({
        "slot_start_s": slot.slot_start_s,
        "time": ukclock::rfc3339(slot.slot_start_s),
        "samples": slot.samples,
        "online_samples": slot.online_samples,
        "online_ms": slot.online_ms,
        "powered_ms": slot.powered_ms,
        "energy_wh": slot.energy_wh,
        "mean_power_w": mean_power_w,
        "mean_hashrate_hs": slot.mean_hashrate_hs(),
        "shares_accepted": slot.shares_accepted,
        "shares_rejected": slot.shares_rejected,
        "temp_max_c": slot.temp_max_c,
    })
}

/// `GET /api/miners/<name>/slots?from=&to=`: default the last 24 hours, at most 31 days.
pub fn slots(backend: &dyn WebBackend, name: &str, query: &Query) -> Result<Value, HttpError> {
    find_miner(backend, name)?;
    let now = backend.now_ms();
    let (from, to) = query.range_ms(now.saturating_sub(DAY_MS), now + 1, MAX_SPAN_MS)?;
    let rollups = backend
        .slots(Some(name), from / 1000, to.div_ceil(1000))
        .map_err(|e| backend_error(e, name))?;
    Ok(json!({
        "miner": name,
        "from_ms": from,
        "to_ms": to,
        "slots": rollups.iter().map(slot_json).collect::<Vec<_>>(),
    }))
}

/// A price point as JSON.
pub fn price_json(price: &PricePoint) -> Value {
    json!({
        "valid_from_s": price.valid_from_s,
        "valid_to_s": price.valid_to_s,
        "valid_from": ukclock::rfc3339(price.valid_from_s),
        "valid_to": ukclock::rfc3339(price.valid_to_s),
        "pence_per_kwh": price.pence_per_kwh,
    })
}

/// `GET /api/prices?from=&to=`: default today and tomorrow (Europe/London days), with the
/// price in force now.
pub fn prices(backend: &dyn WebBackend, query: &Query) -> Result<Value, HttpError> {
    let now = backend.now_ms();
    let (today_start, today_end) = ukclock::uk_day_bounds(now / 1000);
    let (_, tomorrow_end) = ukclock::uk_day_bounds(today_end);
    let (from, to) = query.range_ms(today_start * 1000, tomorrow_end * 1000, MAX_SPAN_MS)?;
    let points = backend
        .prices(from / 1000, to.div_ceil(1000))
        .map_err(|e| backend_error(e, ""))?;
    let current = backend
        .price_at(now / 1000)
        .map_err(|e| backend_error(e, ""))?;
    Ok(json!({
        "from_ms": from,
        "to_ms": to,
        "current": current.as_ref().map(price_json),
        "prices": points.iter().map(price_json).collect::<Vec<_>>(),
    }))
}

/// `GET /api/widgets`: every widget's latest result and the scripts that fail.
pub fn widgets(backend: &dyn WebBackend) -> Value {
    let results: serde_json::Map<String, Value> = backend.widgets().into_iter().collect();
    json!({ "widgets": results, "script_errors": backend.script_errors() })
}

/// `GET /api/widgets/<name>`.
pub fn widget(backend: &dyn WebBackend, name: &str) -> Result<Value, HttpError> {
    backend
        .widgets()
        .into_iter()
        .find(|(widget, _)| widget == name)
        .map(|(_, value)| value)
        .ok_or_else(|| HttpError::not_found(format!("no widget named '{}'", clip(name))))
}

/// An audit row as JSON.
pub fn audit_json(record: &AuditRecord) -> Value {
    json!({
        "ts_ms": record.ts_ms,
        "time": time_text(record.ts_ms),
        "actor": record.actor.to_string(),
        "miner": record.miner,
        "action": record.action,
        "outcome": record.outcome,
        "reason": record.reason,
    })
}

/// `GET /api/audit?limit=&before=`: newest first; `next_before` pages further back.
pub fn audit(backend: &dyn WebBackend, query: &Query) -> Result<Value, HttpError> {
    let limit = query.limit("limit", DEFAULT_AUDIT_LIMIT, MAX_LIMIT)?;
    let before = match query.get("before") {
        None => None,
        Some(_) => Some(query.time_ms("before", 0)?),
    };
    let rows = backend
        .audit(limit, before)
        .map_err(|e| backend_error(e, ""))?;
    let next_before = (rows.len() == limit)
        .then(|| rows.last().map(|r| r.ts_ms))
        .flatten();
    Ok(json!({
        "audit": rows.iter().map(audit_json).collect::<Vec<_>>(),
        "next_before": next_before,
    }))
}

/// A feed's status as JSON.
pub fn feed_json(feed: &FeedStatus) -> Value {
    serde_json::to_value(feed).unwrap_or(Value::Null)
}

/// `GET /api/feeds`.
pub fn feeds(backend: &dyn WebBackend) -> Value {
    json!({ "feeds": backend.feeds().iter().map(feed_json).collect::<Vec<_>>() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_time_forms() {
        assert_eq!(parse_time_ms("1767225600000"), Some(1_767_225_600_000));
        assert_eq!(
            parse_time_ms("2026-01-01T00:00:00Z"),
            Some(1_767_225_600_000)
        );
        assert_eq!(
            parse_time_ms("2026-01-01T00:00:00.250Z"),
            Some(1_767_225_600_250)
        );
        assert_eq!(
            parse_time_ms("2026-01-01T01:00:00+01:00"),
            Some(1_767_225_600_000)
        );
        assert_eq!(
            parse_time_ms("2025-12-31T23:00:00-01:00"),
            Some(1_767_225_600_000)
        );
        assert_eq!(
            parse_time_ms("2026-01-01T01:00:00 01:00"),
            Some(1_767_225_600_000)
        );
        assert_eq!(parse_time_ms("yesterday"), None);
        assert_eq!(parse_time_ms(""), None);
        assert_eq!(parse_time_ms("-5"), None);
    }

    #[test]
    fn decodes_queries() {
        let q = Query::parse("a=1&b=x%20y+z&c&d=%zz&e=%4");
        assert_eq!(q.get("a"), Some("1"));
        assert_eq!(q.get("b"), Some("x y z"));
        assert_eq!(q.get("c"), None);
        assert_eq!(q.get("d"), Some("%zz"));
        assert_eq!(q.get("e"), Some("%4"));
    }

    #[test]
    fn limits_are_capped_and_checked() {
        let q = Query::parse("limit=5000&bad=0&worse=x");
        assert_eq!(q.limit("limit", 10, MAX_LIMIT).unwrap(), MAX_LIMIT);
        assert_eq!(q.limit("none", 10, MAX_LIMIT).unwrap(), 10);
        assert!(
            q.limit("bad", 10, MAX_LIMIT)
                .unwrap_err()
                .message
                .contains("'bad'")
        );
        assert!(q.limit("worse", 10, MAX_LIMIT).is_err());
    }
}
