//! Tolerant field readers for device JSON: firmware generations send the same value as a
//! number, a numeric string, an SI-suffixed string ("483k") or not at all, and booleans as
//! `true`/`false` or `0`/`1`. Every reader returns `None` rather than inventing a 0.

use serde_json::{Map, Value};

use crate::units::parse_si;

/// A finite number from a JSON number or numeric string.
pub(crate) fn number(value: &Value) -> Option<f64> {
    let parsed = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    parsed.filter(|v| v.is_finite())
}

/// A number that may carry an SI suffix when sent as a string ("4.29G", "130.46 k").
pub(crate) fn si_number(value: &Value) -> Option<f64> {
    match value {
        Value::String(s) => parse_si(s),
        other => number(other),
    }
}

/// The first of `keys` present with a usable number.
pub(crate) fn first_number(obj: &Map<String, Value>, keys: &[&str]) -> Option<f64> {
    keys.iter().find_map(|key| obj.get(*key).and_then(number))
}

/// A non-negative whole count (shares, seconds, rpm), from an integer, an integral float
/// or a numeric string.
pub(crate) fn count(value: &Value) -> Option<u64> {
    if let Some(n) = value.as_u64() {
        return Some(n);
    }
    let v = number(value)?;
    (v >= 0.0 && v.fract() == 0.0 && v < 1.8e19).then_some(v as u64)
}

/// The first of `keys` present with a usable count.
pub(crate) fn first_count(obj: &Map<String, Value>, keys: &[&str]) -> Option<u64> {
    keys.iter().find_map(|key| obj.get(*key).and_then(count))
}

/// A non-empty trimmed string; numbers are rendered (some firmware sends versions as numbers).
pub(crate) fn text(value: &Value) -> Option<String> {
    let s = match value {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!s.is_empty()).then_some(s)
}

/// The first of `keys` present as a non-empty string.
pub(crate) fn first_text(obj: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|key| obj.get(*key).and_then(text))
}

/// A boolean from `true`/`false`, `0`/`1` or `"0"`/`"1"`/`"true"`.
pub(crate) fn flag(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_f64().map(|v| v != 0.0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" => Some(true),
            "0" | "false" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Removes float-to-double noise: AxeOS keeps these values as 32-bit floats, and firmware
/// before v2.12 printed the widened double (`2.65000009536743`), HEAD rounds to 7 decimals.
/// Taking the shortest decimal that round-trips the 32-bit value gives every firmware the
/// same number (`2.65`), and loses nothing the device actually measured.
pub(crate) fn denoise(value: f64) -> f64 {
    let single = value as f32;
    if !single.is_finite() {
        return value;
    }
    single.to_string().parse::<f64>().unwrap_or(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_strings_and_nulls() {
        assert_eq!(number(&json!(5.5)), Some(5.5));
        assert_eq!(number(&json!("5.5")), Some(5.5));
        assert_eq!(number(&json!(null)), None);
        assert_eq!(number(&json!("n/a")), None);
        assert_eq!(si_number(&json!("483k")), Some(483_000.0));
        assert_eq!(si_number(&json!(4294967296u64)), Some(4294967296.0));
        assert_eq!(count(&json!(12.0)), Some(12));
        assert_eq!(count(&json!(-1)), None);
        assert_eq!(flag(&json!(1)), Some(true));
        assert_eq!(flag(&json!(false)), Some(false));
        assert_eq!(denoise(2.65000009536743), 2.65);
    }
}
