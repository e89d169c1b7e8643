//! `hmm status [--json]`: the fleet as the store sees it, readable while the daemon runs.
//!
//! It opens the store read-only (redb allows a reader beside the daemon's writer), so it
//! shows what the daemon last committed: at most one commit interval behind the live page.
//! Numbers in `--json` are in base units with the unit in the key; a missing value is
//! `null`, never 0.

use serde::Serialize;

use crate::model::{MinerStatus, Sample};
use crate::store::{Store, StoreError};
use crate::units::{efficiency_j_per_th, format_hashrate};

/// One miner's row as `hmm status` prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusRow {
    /// Config name.
    pub name: String,
    /// Protocol kind (`axeos`, `avalon`, `nmminer`).
    pub kind: Option<String>,
    /// Model as the device names it.
    pub model: Option<String>,
    /// Firmware version.
    pub firmware: Option<String>,
    /// Whether the latest sample is online and fresh.
    pub online: bool,
    /// Whether hmm's enabled switch is on.
    pub enabled: bool,
    /// Hashrate, H/s.
    pub hashrate_hs: Option<f64>,
    /// Power, W.
    pub power_w: Option<f64>,
    /// Hottest chip temperature, °C.
    pub temp_c: Option<f64>,
    /// Efficiency, J/TH.
    pub efficiency_j_th: Option<f64>,
    /// Operating mode.
    pub mode: Option<String>,
    /// Pool in use.
    pub pool: Option<String>,
    /// Accepted shares since the device booted.
    pub shares_accepted: Option<u64>,
    /// Rejected shares since the device booted.
    pub shares_rejected: Option<u64>,
    /// Best share difficulty.
    pub best_diff: Option<f64>,
    /// Device uptime, s.
    pub uptime_s: Option<u64>,
    /// Last successful poll, UTC ms.
    pub last_seen_ms: Option<u64>,
    /// Why the last poll failed, if it did.
    pub last_error: Option<String>,
}

/// Builds the rows for every miner the store knows, in name order. A sample older than
/// `fresh_ms` counts as offline.
pub fn rows(store: &Store, now_ms: u64, fresh_ms: u64) -> Result<Vec<StatusRow>, StoreError> {
    let names = store.miner_names()?;
    let ids: Vec<u32> = names.iter().map(|(_, id)| *id).collect();
    let latest = store.fleet_latest(&ids, 0)?;
    let statuses = store.statuses()?;
    let mut rows: Vec<StatusRow> = names
        .iter()
        .zip(latest)
        .map(|((name, id), sample)| {
            let status = statuses
                .iter()
                .find(|(sid, _)| sid == id)
                .map(|(_, status)| status.clone())
                .unwrap_or_else(|| MinerStatus {
                    name: name.clone(),
                    ..MinerStatus::default()
                });
            row(name, sample.as_ref(), &status, now_ms, fresh_ms)
        })
        .collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(rows)
}

fn row(
    name: &str,
    sample: Option<&Sample>,
    status: &MinerStatus,
    now_ms: u64,
    fresh_ms: u64,
) -> StatusRow {
    let online = sample.is_some_and(|s| s.online && now_ms.saturating_sub(s.ts_ms) <= fresh_ms);
    let s = sample.filter(|s| s.online);
    StatusRow {
        name: name.to_string(),
        kind: status.kind.map(|k| k.as_str().to_string()),
        model: status.model.clone(),
        firmware: status.firmware.clone(),
        online,
        enabled: status.enabled,
        hashrate_hs: s.and_then(|s| s.hashrate_hs),
        power_w: s.and_then(|s| s.power_w),
        temp_c: s.and_then(|s| s.temp_c),
        efficiency_j_th: s.and_then(|s| efficiency_j_per_th(s.power_w, s.hashrate_hs)),
        mode: s.and_then(|s| s.mode).map(|m| m.as_str().to_string()),
        pool: status.pool.clone(),
        shares_accepted: s.and_then(|s| s.shares_accepted),
        shares_rejected: s.and_then(|s| s.shares_rejected),
        best_diff: s.and_then(|s| s.best_diff),
        uptime_s: s.and_then(|s| s.uptime_s),
        last_seen_ms: s.map(|s| s.ts_ms).or(status.last_seen_ms),
        last_error: status.last_error.clone(),
    }
}

/// Renders rows as an aligned text table for people.
pub fn render_table(rows: &[StatusRow], now_ms: u64) -> String {
    let header = [
        "NAME",
        "KIND",
        "MODEL",
        "ONLINE",
        "HASHRATE",
        "POWER",
        "TEMP",
        "J/TH",
        "MODE",
        "SHARES A/R",
        "BEST",
        "LAST SEEN",
        "LAST ERROR",
    ];
    let mut table: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    for r in rows {
        table.push(vec![
            r.name.clone(),
            r.kind.clone().unwrap_or_else(|| "-".into()),
            r.model.clone().unwrap_or_else(|| "-".into()),
            if r.online { "yes" } else { "no" }.into(),
            r.hashrate_hs
                .map(format_hashrate)
                .unwrap_or_else(|| "-".into()),
            opt(r.power_w, "W", 1),
            opt(r.temp_c, "°C", 1),
            opt(r.efficiency_j_th, "", 1),
            r.mode.clone().unwrap_or_else(|| "-".into()),
            format!(
                "{}/{}",
                r.shares_accepted.map_or("-".into(), |v| v.to_string()),
                r.shares_rejected.map_or("-".into(), |v| v.to_string())
            ),
            r.best_diff.map(format_diff).unwrap_or_else(|| "-".into()),
            r.last_seen_ms
                .map(|t| ago(now_ms, t))
                .unwrap_or_else(|| "never".into()),
            r.last_error.clone().unwrap_or_default(),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            table
                .iter()
                .map(|row| row[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in &table {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell}{}", " ".repeat(w - cell.chars().count())))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn opt(value: Option<f64>, unit: &str, decimals: usize) -> String {
    match value {
        Some(v) if unit.is_empty() => format!("{v:.decimals$}"),
        Some(v) => format!("{v:.decimals$} {unit}"),
        None => "-".into(),
    }
}

/// Best-difficulty for people: SI suffix like the devices print ("4.29G").
pub fn format_diff(diff: f64) -> String {
    const SUFFIXES: [&str; 7] = ["", "k", "M", "G", "T", "P", "E"];
    let mut value = diff;
    let mut i = 0;
    while value >= 1000.0 && i < SUFFIXES.len() - 1 {
        value /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}{}", SUFFIXES[i])
    }
}

/// "12s ago", "5m ago", "3h ago", "2d ago".
pub fn ago(now_ms: u64, then_ms: u64) -> String {
    let s = now_ms.saturating_sub(then_ms) / 1000;
    match s {
        0..=59 => format!("{s}s ago"),
        60..=3599 => format!("{}m ago", s / 60),
        3600..=86_399 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86_400),
    }
}

/// `hmm status`: opens `<data_dir>/hmm.redb` read-only and prints the fleet. A sample
/// older than three poll intervals counts as offline. Returns the exit code.
pub fn run(data_dir: &std::path::Path, poll_interval: std::time::Duration, json: bool) -> i32 {
    let path = data_dir.join("hmm.redb");
    if !path.is_file() {
        eprintln!(
            "hmm status: no store at {}; is data_dir right, and has the daemon run yet?",
            path.display()
        );
        return 1;
    }
    let store = match Store::open_read_only(&path) {
        Ok(store) => store,
        Err(err) => {
            eprintln!("hmm status: {err}");
            return 1;
        }
    };
    let now = crate::units::now_ms();
    let fresh_ms = 3 * poll_interval.as_millis() as u64;
    match rows(&store, now, fresh_ms) {
        Ok(rows) if json => match serde_json::to_string_pretty(&rows) {
            Ok(text) => {
                println!("{text}");
                0
            }
            Err(err) => {
                eprintln!("hmm status: {err}");
                1
            }
        },
        Ok(rows) => {
            print!("{}", render_table(&rows, now));
            print!("{}", live_report(data_dir));
            0
        }
        Err(err) => {
            eprintln!("hmm status: {err}");
            1
        }
    }
}

/// What only the running daemon knows — feed caches and script errors — fetched from its
/// own API (found through `<data_dir>/daemon.json`) with a one-second timeout.
fn live_report(data_dir: &std::path::Path) -> String {
    let marker = std::fs::read_to_string(data_dir.join(crate::daemon::MARKER_FILE)).ok();
    let web = marker
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|json| json["web"].as_str().map(str::to_string));
    let Some(web) = web else {
        return "\nno running daemon found for this data directory (feeds and script errors are shown while it runs)\n"
            .to_string();
    };
    let client = crate::feeds::http::HttpClient::new(std::time::Duration::from_secs(1));
    let feeds = client.get_json::<serde_json::Value>(&format!("{web}api/feeds"), &[]);
    let widgets = client.get_json::<serde_json::Value>(&format!("{web}api/widgets"), &[]);
    let (Ok(feeds), Ok(widgets)) = (feeds, widgets) else {
        return format!("\nthe daemon at {web} does not answer; it may have stopped\n");
    };
    let mut out = format!("\nfeeds (from the daemon at {web}):\n");
    for feed in feeds["feeds"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {:<10} {:<12} hits {:<6} misses {:<5} stale serves {:<4} errors {}{}\n",
            feed["name"].as_str().unwrap_or("?"),
            match (feed["age_s"].as_u64(), feed["stale"].as_bool()) {
                (None, _) => "no data".to_string(),
                (Some(age), Some(true)) => format!("stale {age}s"),
                (Some(age), _) => format!("age {age}s"),
            },
            feed["hits"],
            feed["misses"],
            feed["stale_serves"],
            feed["errors"],
            feed["last_error"]
                .as_str()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default(),
        ));
    }
    let errors: Vec<&serde_json::Value> = widgets["script_errors"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    if errors.is_empty() {
        out.push_str("script errors: none\n");
    } else {
        out.push_str("script errors:\n");
        for error in errors {
            out.push_str(&format!("  {}\n", error["message"].as_str().unwrap_or("?")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_difficulty_and_age() {
        assert_eq!(format_diff(483_000.0), "483.00k");
        assert_eq!(format_diff(4.29e9), "4.29G");
        assert_eq!(format_diff(12.0), "12");
        assert_eq!(ago(100_000, 88_000), "12s ago");
        assert_eq!(ago(10_000_000, 0), "2h ago");
    }
}
