//! `/metrics` in the Prometheus text exposition format (version 0.0.4).
//!
//! Each family gets one `# HELP` and one `# TYPE` line before its samples; label values
//! are escaped (`\\`, `\"`, `\n`); a value the backend does not know (a miner that never
//! reported power) is left out rather than written as 0, so graphs show a gap instead of
//! a false reading. Names follow Prometheus conventions: base units, `_total` counters.

use std::fmt::Write;

use super::{MinerView, WebBackend};

/// One metric family being written: its name, help, type and samples.
struct Family<'a> {
    out: &'a mut String,
    name: &'static str,
    started: bool,
    help: &'static str,
    kind: &'static str,
}

impl<'a> Family<'a> {
    fn new(
        out: &'a mut String,
        name: &'static str,
        kind: &'static str,
        help: &'static str,
    ) -> Self {
        Family {
            out,
            name,
            started: false,
            help,
            kind,
        }
    }

    /// Writes one sample; the HELP/TYPE header goes out with the first one, so a family
    /// with no samples is omitted entirely.
    fn sample(&mut self, labels: &[(&str, &str)], value: f64) {
        if !self.started {
            let _ = writeln!(self.out, "# HELP {} {}", self.name, self.help);
            let _ = writeln!(self.out, "# TYPE {} {}", self.name, self.kind);
            self.started = true;
        }
        self.out.push_str(self.name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (key, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{key}=\"{}\"", escape_label(value));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", format_value(value));
    }
}

/// Escapes a label value: backslash, double quote and newline.
pub fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Formats a sample value the way Prometheus parses it (`NaN`, `+Inf`, `-Inf`).
fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        format!("{value}")
    }
}

/// Resident set size of this process from `/proc/self/status` (`VmRSS`), bytes.
pub fn process_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_rss(&status)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kb: u64 = line["VmRSS:".len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

fn miner_gauge(
    out: &mut String,
    miners: &[MinerView],
    name: &'static str,
    help: &'static str,
    value: impl Fn(&MinerView) -> Option<f64>,
) {
    let mut family = Family::new(out, name, "gauge", help);
    for view in miners {
        if let Some(v) = value(view) {
            family.sample(&[("miner", &view.status.name)], v);
        }
    }
}

/// Renders the whole exposition. Backend read failures leave the affected families out.
pub fn render(backend: &dyn WebBackend) -> String {
    let mut out = String::with_capacity(8 * 1024);
    let miners = backend.miners().unwrap_or_default();
    miner_gauge(
        &mut out,
        &miners,
        "hmm_miner_hashrate_hashes_per_second",
        "Latest hashrate of the miner.",
        |v| v.latest.as_ref().and_then(|s| s.hashrate_hs),
    );
    miner_gauge(
        &mut out,
        &miners,
        "hmm_miner_power_watts",
        "Latest power draw of the miner (measured, else the configured manual power).",
        |v| {
            v.latest
                .as_ref()
                .and_then(|s| s.power_w)
                .or(v.manual_power_w)
        },
    );
    miner_gauge(
        &mut out,
        &miners,
        "hmm_miner_temperature_celsius",
        "Latest chip temperature of the miner.",
        |v| v.latest.as_ref().and_then(|s| s.temp_c),
    );
    miner_gauge(
        &mut out,
        &miners,
        "hmm_miner_online",
        "1 when the last poll reached the miner, else 0.",
        |v| Some(if v.online { 1.0 } else { 0.0 }),
    );

    let snapshot = backend.metrics();
    let mut family = Family::new(
        &mut out,
        "hmm_miner_poll_duration_seconds",
        "gauge",
        "Duration of the last poll of the miner.",
    );
    for miner in &snapshot.miners {
        if let Some(seconds) = miner.poll_duration_s {
            family.sample(&[("miner", &miner.name)], seconds);
        }
    }
    let mut family = Family::new(
        &mut out,
        "hmm_miner_poll_errors_total",
        "counter",
        "Failed polls of the miner since start.",
    );
    for miner in &snapshot.miners {
        family.sample(&[("miner", &miner.name)], miner.poll_errors as f64);
    }

    let feeds = backend.feeds();
    let feed_counter =
        |out: &mut String, name, kind, help, value: &dyn Fn(&super::FeedStatus) -> Option<f64>| {
            let mut family = Family::new(out, name, kind, help);
            for feed in &feeds {
                if let Some(v) = value(feed) {
                    family.sample(&[("feed", &feed.name)], v);
                }
            }
        };
    feed_counter(
        &mut out,
        "hmm_feed_cache_hits_total",
        "counter",
        "Feed cache hits since start.",
        &|f| Some(f.hits as f64),
    );
    feed_counter(
        &mut out,
        "hmm_feed_cache_misses_total",
        "counter",
        "Feed cache misses (fetches) since start.",
        &|f| Some(f.misses as f64),
    );
    feed_counter(
        &mut out,
        "hmm_feed_stale_serves_total",
        "counter",
        "Stale feed values served because a refresh failed.",
        &|f| Some(f.stale_serves as f64),
    );
    feed_counter(
        &mut out,
        "hmm_feed_errors_total",
        "counter",
        "Failed feed fetches since start.",
        &|f| Some(f.errors as f64),
    );
    feed_counter(
        &mut out,
        "hmm_feed_age_seconds",
        "gauge",
        "Age of the feed value being served.",
        &|f| f.age_s.map(|a| a as f64),
    );
    feed_counter(
        &mut out,
        "hmm_feed_stale",
        "gauge",
        "1 when the served feed value is past its TTL.",
        &|f| Some(if f.stale { 1.0 } else { 0.0 }),
    );

    let mut family = Family::new(
        &mut out,
        "hmm_widget_eval_seconds",
        "gauge",
        "Duration of the last evaluation of the widget.",
    );
    for (widget, seconds) in &snapshot.widget_eval_s {
        family.sample(&[("widget", widget)], *seconds);
    }
    Family::new(
        &mut out,
        "hmm_mqtt_connected",
        "gauge",
        "1 when the MQTT client is connected to the broker.",
    )
    .sample(&[], if snapshot.mqtt_connected { 1.0 } else { 0.0 });
    Family::new(
        &mut out,
        "hmm_mqtt_queue_length",
        "gauge",
        "MQTT messages waiting to be published.",
    )
    .sample(&[], snapshot.mqtt_queue_len as f64);
    Family::new(
        &mut out,
        "hmm_store_size_bytes",
        "gauge",
        "Size of the redb store file.",
    )
    .sample(&[], snapshot.store_size_bytes as f64);
    if let Some(rss) = process_rss_bytes() {
        Family::new(
            &mut out,
            "hmm_process_resident_memory_bytes",
            "gauge",
            "Resident memory of the hmm process (VmRSS).",
        )
        .sample(&[], rss as f64);
    }
    let health = backend.health();
    if let Some(last) = health.last_cycle_ms {
        let age = backend.now_ms().saturating_sub(last) as f64 / 1000.0;
        Family::new(
            &mut out,
            "hmm_collector_last_cycle_age_seconds",
            "gauge",
            "Seconds since the collector last completed a fleet cycle.",
        )
        .sample(&[], age);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_label_values() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn reads_vm_rss() {
        let status = "Name:\thmm\nVmRSS:\t   12345 kB\nThreads:\t4\n";
        assert_eq!(parse_vm_rss(status), Some(12345 * 1024));
        assert_eq!(parse_vm_rss("Name:\thmm\n"), None);
        assert!(process_rss_bytes().unwrap() > 0);
    }

    #[test]
    fn formats_special_values() {
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_value(1.5), "1.5");
        assert_eq!(format_value(3.0), "3");
    }
}
