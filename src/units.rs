//! Unit conversions and the small formulas every module must get the same way: hashrate
//! formatting, SI-suffixed numbers from devices and pools, energy integration with the
//! offline-gap cap, reset-aware counter deltas and freshness cutoffs.
//!
//! Hashrate is always `f64` H/s inside the program (DESIGN.md "Units and time"); adapters
//! convert at their boundary with [`ghs_to_hs`] and friends, and people see it through
//! [`format_hashrate`]. The ancestor mixed GH/s and MH/s in one sum; one helper per
//! direction removes that class of bug.

/// Converts GH/s (AxeOS, cgminer `GHSspd`) to H/s.
pub fn ghs_to_hs(ghs: f64) -> f64 {
    ghs * 1e9
}

/// Converts MH/s (cgminer `MHS av`) to H/s.
pub fn mhs_to_hs(mhs: f64) -> f64 {
    mhs * 1e6
}

/// Converts H/s to TH/s, the one unit Home Assistant sensors use for ever.
pub fn hs_to_ths(hs: f64) -> f64 {
    hs / 1e12
}

const HASHRATE_UNITS: [&str; 7] = ["H/s", "kH/s", "MH/s", "GH/s", "TH/s", "PH/s", "EH/s"];

/// Formats a hashrate in H/s for people: the largest unit that keeps the number ≥ 1,
/// with two decimals ("1.23 TH/s", "113.13 kH/s", "0.00 H/s").
pub fn format_hashrate(hs: f64) -> String {
    if !hs.is_finite() || hs <= 0.0 {
        return "0.00 H/s".to_string();
    }
    let mut value = hs;
    let mut unit = 0;
    while value >= 1000.0 && unit < HASHRATE_UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    // 999.996 rounds to "1000.00": move up one unit instead.
    if value >= 999.995 && unit < HASHRATE_UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.2} {}", HASHRATE_UNITS[unit])
}

/// Parses a number with an optional SI suffix as devices and pools print them:
/// `"483k"`, `"4.29G"`, `"113.13K"`, `"85.4T"`, `"1.2 M"`, `"0"`, `"12345"`.
/// Both `k` and `K` mean 10³. Returns `None` for anything else (empty, NaN, unknown suffix).
pub fn parse_si(text: &str) -> Option<f64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+' || c == 'e'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let value: f64 = number.trim().parse().ok()?;
    let factor = match suffix.trim() {
        "" => 1.0,
        "k" | "K" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        _ => return None,
    };
    let result = value * factor;
    result.is_finite().then_some(result)
}

/// Energy in Wh used between two samples, by the trapezoid rule.
///
/// `max_gap_ms` caps the interval (DESIGN.md: twice the poll interval) so an offline gap
/// is not counted as consumption. Returns 0 when either end has no measured power or the
/// timestamps are out of order.
pub fn energy_wh(
    prev_ts_ms: u64,
    prev_w: Option<f64>,
    ts_ms: u64,
    w: Option<f64>,
    max_gap_ms: u64,
) -> f64 {
    let (Some(a), Some(b)) = (prev_w, w) else {
        return 0.0;
    };
    if ts_ms <= prev_ts_ms {
        return 0.0;
    }
    let dt_ms = (ts_ms - prev_ts_ms).min(max_gap_ms);
    (a + b) / 2.0 * dt_ms as f64 / 3_600_000.0
}

/// The increase of a cumulative device counter that resets to 0 when the device reboots.
/// When `new < old` the device restarted, so everything it counted since is new.
pub fn counter_delta(old: Option<u64>, new: Option<u64>) -> u64 {
    match (old, new) {
        (Some(old), Some(new)) if new >= old => new - old,
        (Some(_), Some(new)) => new,
        _ => 0,
    }
}

/// The oldest timestamp still considered fresh at `now_ms` for a window of `max_age_ms`.
pub fn cutoff_ms(now_ms: u64, max_age_ms: u64) -> u64 {
    now_ms.saturating_sub(max_age_ms)
}

/// Efficiency in J/TH from power in W and hashrate in H/s; `None` without both or with no
/// hashrate.
pub fn efficiency_j_per_th(power_w: Option<f64>, hashrate_hs: Option<f64>) -> Option<f64> {
    let (power, hs) = (power_w?, hashrate_hs?);
    (hs > 0.0).then(|| power / hs_to_ths(hs))
}

/// Current wall-clock time in UTC milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_every_unit() {
        assert_eq!(format_hashrate(0.0), "0.00 H/s");
        assert_eq!(format_hashrate(512.0), "512.00 H/s");
        assert_eq!(format_hashrate(113_130.0), "113.13 kH/s");
        assert_eq!(format_hashrate(ghs_to_hs(1234.5)), "1.23 TH/s");
        assert_eq!(format_hashrate(ghs_to_hs(6_500.0)), "6.50 TH/s");
        assert_eq!(format_hashrate(999_999.0), "1.00 MH/s");
        assert_eq!(format_hashrate(2.5e18), "2.50 EH/s");
        assert_eq!(format_hashrate(2.5e21), "2500.00 EH/s");
        assert_eq!(format_hashrate(f64::NAN), "0.00 H/s");
    }

    #[test]
    fn parses_si_suffixes() {
        assert_eq!(parse_si("483k"), Some(483_000.0));
        assert_eq!(parse_si("113.13K"), Some(113_130.0));
        assert_eq!(parse_si("4.29G"), Some(4.29e9));
        assert_eq!(parse_si("85.4T"), Some(85.4e12));
        assert_eq!(parse_si(" 1.5 M "), Some(1.5e6));
        assert_eq!(parse_si("0"), Some(0.0));
        assert_eq!(parse_si(""), None);
        assert_eq!(parse_si("12Q"), None);
        assert_eq!(parse_si("abc"), None);
    }

    #[test]
    fn energy_caps_offline_gaps() {
        // 10 s at a constant 100 W is 100 * 10 / 3600 Wh.
        let e = energy_wh(0, Some(100.0), 10_000, Some(100.0), 20_000);
        assert!((e - 100.0 * 10.0 / 3600.0).abs() < 1e-12);
        // A one-hour gap with a 20 s cap counts only 20 s.
        let capped = energy_wh(0, Some(100.0), 3_600_000, Some(100.0), 20_000);
        assert!((capped - 100.0 * 20.0 / 3600.0).abs() < 1e-12);
        assert_eq!(energy_wh(0, None, 10_000, Some(5.0), 20_000), 0.0);
        assert_eq!(energy_wh(10_000, Some(5.0), 10_000, Some(5.0), 20_000), 0.0);
    }

    #[test]
    fn counter_delta_survives_reboot() {
        assert_eq!(counter_delta(Some(100), Some(130)), 30);
        assert_eq!(counter_delta(Some(100), Some(7)), 7);
        assert_eq!(counter_delta(None, Some(7)), 0);
        assert_eq!(counter_delta(Some(7), None), 0);
    }

    #[test]
    fn efficiency_needs_both_values() {
        assert_eq!(efficiency_j_per_th(Some(15.0), Some(1e12)), Some(15.0));
        assert_eq!(efficiency_j_per_th(None, Some(1e12)), None);
        assert_eq!(efficiency_j_per_th(Some(15.0), Some(0.0)), None);
    }
}
