//! Inline SVG charts for the status page: sparklines, a labelled line chart and the
//! price bar chart. Pure functions from numbers to markup, no JavaScript, no external
//! assets, so the page renders with scripts off and stays small: coordinates are integers
//! and a 48-point sparkline costs about 350 bytes, which keeps a 100-miner page under
//! 100 KB.
//!
//! Every chart carries `role="img"`, an `aria-label` and a `<title>` so screen readers and
//! hover tooltips say what it shows. Labels are HTML-escaped by the caller's helper.

use crate::model::PricePoint;
use crate::ukclock;

use super::page::escape;

/// Builds the `d` attribute of a path through `values` spread evenly over `width`, scaled
/// into `height` between `low` and `high`. `None` breaks the line (a gap stays a gap).
fn path_data(values: &[Option<f64>], width: u32, height: u32, low: f64, high: f64) -> String {
    let span = if high > low { high - low } else { 1.0 };
    let step = if values.len() > 1 {
        f64::from(width) / (values.len() - 1) as f64
    } else {
        0.0
    };
    let mut d = String::with_capacity(values.len() * 7);
    let mut pen_down = false;
    for (i, value) in values.iter().enumerate() {
        let Some(value) = value.filter(|v| v.is_finite()) else {
            pen_down = false;
            continue;
        };
        let x = (i as f64 * step).round() as i64;
        let y = (f64::from(height) - (value - low) / span * f64::from(height)).round() as i64;
        d.push(if pen_down { 'L' } else { 'M' });
        d.push_str(&format!("{x} {y}"));
        pen_down = true;
    }
    d
}

/// The lowest and highest finite value, or `None` when there is none.
fn bounds(values: &[Option<f64>]) -> Option<(f64, f64)> {
    let finite = values.iter().flatten().copied().filter(|v| v.is_finite());
    finite.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// A small inline sparkline (96×24), labelled by `aria-label` only (no `<title>`: it
/// would repeat the label and cost 4 KB on a 100-miner page). The scale starts at zero so a steady miner looks
/// steady; `label` is the accessible description, e.g. "bitaxe-1 hashrate, last 24 hours".
pub fn sparkline(values: &[Option<f64>], label: &str) -> String {
    const W: u32 = 96;
    const H: u32 = 24;
    let label = escape(label);
    let Some((_, high)) = bounds(values) else {
        return format!(
            "<svg class=\"spark\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=\"img\" aria-label=\"{label}: no data\"><title>{label}: no data</title></svg>"
        );
    };
    let d = path_data(values, W, H - 2, 0.0, high.max(f64::MIN_POSITIVE));
    format!(
        "<svg class=\"spark\" viewBox=\"0 -1 {W} {H}\" width=\"{W}\" height=\"{H}\" role=\"img\" aria-label=\"{label}\"><path d=\"{d}\"/></svg>"
    )
}

/// A wider line chart (600×120, scales to the page width) with its minimum and maximum
/// written on it via `format`, for the miner detail page.
pub fn line_chart(values: &[Option<f64>], label: &str, format: impl Fn(f64) -> String) -> String {
    const W: u32 = 600;
    const H: u32 = 120;
    let label = escape(label);
    let Some((low, high)) = bounds(values) else {
        return format!(
            "<svg class=\"chart\" viewBox=\"0 0 {W} 24\" role=\"img\" aria-label=\"{label}: no data\"><title>{label}: no data</title><text x=\"4\" y=\"16\">no data</text></svg>"
        );
    };
    let pad = (high - low) * 0.05;
    let (low_axis, high_axis) = (low - pad, high + pad);
    let d = path_data(values, W, H, low_axis, high_axis);
    let (hi_text, lo_text) = (escape(&format(high)), escape(&format(low)));
    format!(
        "<svg class=\"chart\" viewBox=\"0 -14 {W} {}\" role=\"img\" aria-label=\"{label}, from {lo_text} to {hi_text}\"><title>{label}</title><path d=\"{d}\"/><text x=\"2\" y=\"-3\">max {hi_text}</text><text x=\"2\" y=\"{}\">min {lo_text}</text></svg>",
        H + 28,
        H + 12
    )
}

/// A bar chart of price slots (pence per kWh, negative prices go below the zero line),
/// with the slot containing `now_s` marked and hour labels every six hours (UK time).
pub fn price_bars(prices: &[PricePoint], now_s: u64, label: &str) -> String {
    const BAR: u32 = 6;
    const H: f64 = 100.0;
    let label = escape(label);
    if prices.is_empty() {
        return format!(
            "<svg class=\"prices\" viewBox=\"0 0 300 24\" role=\"img\" aria-label=\"{label}: no prices\"><title>{label}: no prices</title><text x=\"4\" y=\"16\">no prices published</text></svg>"
        );
    }
    let high = prices
        .iter()
        .map(|p| p.pence_per_kwh)
        .fold(0.0f64, f64::max);
    let low = prices
        .iter()
        .map(|p| p.pence_per_kwh)
        .fold(0.0f64, f64::min);
    let span = if high > low { high - low } else { 1.0 };
    let zero_y = high / span * H;
    let width = prices.len() as u32 * BAR;
    let mut out = format!(
        "<svg class=\"prices\" viewBox=\"0 -12 {width} {}\" role=\"img\" aria-label=\"{label}\"><title>{label}</title>",
        H as u32 + 26
    );
    for (i, price) in prices.iter().enumerate() {
        let x = i as u32 * BAR;
        let top = (high - price.pence_per_kwh.max(0.0)) / span * H;
        let bottom = (high - price.pence_per_kwh.min(0.0)) / span * H;
        let height = (bottom - top).max(1.0);
        let current = price.valid_from_s <= now_s && now_s < price.valid_to_s;
        let class = if current {
            " class=\"now\""
        } else if price.pence_per_kwh < 0.0 {
            " class=\"neg\""
        } else {
            ""
        };
        let when = ukclock::uk_hhmm(price.valid_from_s);
        let note = if current { " (now)" } else { "" };
        out.push_str(&format!(
            "<rect{class} x=\"{x}\" y=\"{:.0}\" width=\"{}\" height=\"{:.0}\"><title>{when} {:.2}p/kWh{note}</title></rect>",
            top,
            BAR - 1,
            height,
            price.pence_per_kwh
        ));
        let (_, _, _, hour, minute) = ukclock::uk_local(price.valid_from_s);
        if minute == 0 && hour % 6 == 0 {
            out.push_str(&format!(
                "<text x=\"{x}\" y=\"{}\">{hour:02}:00</text>",
                H as u32 + 12
            ));
        }
    }
    out.push_str(&format!(
        "<line x1=\"0\" x2=\"{width}\" y1=\"{zero_y:.0}\" y2=\"{zero_y:.0}\"/></svg>"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_break_the_line() {
        let d = path_data(
            &[Some(0.0), Some(10.0), None, Some(10.0)],
            30,
            10,
            0.0,
            10.0,
        );
        assert_eq!(d, "M0 10L10 0M30 0");
    }

    #[test]
    fn marks_the_current_slot_and_negative_prices() {
        let prices = [
            PricePoint {
                valid_from_s: 0,
                valid_to_s: 1800,
                pence_per_kwh: 10.0,
            },
            PricePoint {
                valid_from_s: 1800,
                valid_to_s: 3600,
                pence_per_kwh: -2.0,
            },
        ];
        let svg = price_bars(&prices, 100, "Prices");
        assert!(svg.contains("class=\"now\""));
        assert!(svg.contains("class=\"neg\""));
        assert!(svg.contains("10.00p/kWh (now)"));
        assert!(svg.contains("aria-label=\"Prices\""));
    }

    #[test]
    fn empty_charts_say_so() {
        assert!(sparkline(&[None, None], "x").contains("no data"));
        assert!(price_bars(&[], 0, "p").contains("no prices"));
    }
}
