//! The server-rendered HTML pages: `/` (fleet, prices, widgets, automation log, feeds,
//! script errors) and `/miner/<name>` (one miner over seven days).
//!
//! Plain HTML and inline CSS/SVG, no external assets and no framework, so the page works
//! offline on a LAN, with JavaScript off (a `<noscript>` meta refresh) and on a phone
//! (viewport meta, wrapping grid, horizontally scrolling tables). A few lines of inline
//! script refresh the content in place every poll interval when JavaScript is on. Every
//! string that comes from a device, the config or a script goes through [`escape`].
//! Charts come from slot rollups (48 points a day), never from raw samples, so a page for
//! 100 miners costs 100 cheap range reads and stays under 100 KB.

use std::collections::HashMap;
use std::fmt::Write;

use serde_json::Value;

use crate::model::{AuditRecord, SlotRollup};
use crate::ukclock::{self, SLOT_S};
use crate::units;

use super::api::url_segment;
use super::routes::HttpError;
use super::{MinerView, WebBackend, svg};

const DAY_S: u64 = 86_400;
/// Audit rows shown on the status page.
const AUDIT_ROWS: usize = 50;
/// Deepest JSON nesting rendered as HTML; deeper values are shown as compact JSON.
const MAX_WIDGET_DEPTH: usize = 4;
/// Most rows of a widget's array rendered as a table.
const MAX_WIDGET_ROWS: usize = 50;

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "\
:root{color-scheme:light dark;--fg:#1b1f24;--bg:#fff;--mut:#57606a;--line:#d0d7de;--acc:#0550ae;--ok:#116329;--bad:#a40e26}\
@media(prefers-color-scheme:dark){:root{--fg:#e6edf3;--bg:#0d1117;--mut:#9da7b3;--line:#30363d;--acc:#58a6ff;--ok:#3fb950;--bad:#ff7b72}}\
body{margin:0 auto;max-width:76rem;padding:.5rem 1rem 2rem;font:15px/1.45 system-ui,sans-serif;color:var(--fg);background:var(--bg)}\
h1{font-size:1.4rem;margin:.3rem 0}h2{font-size:1.15rem;margin:1.4rem 0 .5rem;border-bottom:1px solid var(--line)}h3{font-size:1rem;margin:0 0 .3rem}\
a{color:var(--acc)}.mut,dt,svg text{color:var(--mut);fill:var(--mut)}.ok{color:var(--ok);font-weight:600}.bad{color:var(--bad);font-weight:600}\
.scroll{overflow-x:auto}table{border-collapse:collapse;width:100%;font-size:.9rem}\
th,td{padding:.25rem .45rem;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap;vertical-align:middle}\
td.w{white-space:normal;min-width:12rem}.n{text-align:right;font-variant-numeric:tabular-nums}\
svg path{fill:none;stroke:var(--acc);stroke-width:1.5;vector-effect:non-scaling-stroke}svg text{font-size:10px}\
svg.chart,svg.prices{display:block;width:100%;height:auto;max-height:12rem}\
.prices rect{fill:var(--mut)}.prices rect.now{fill:var(--acc)}.prices rect.neg{fill:var(--ok)}.prices line{stroke:var(--line)}\
.grid{display:grid;gap:.8rem;grid-template-columns:repeat(auto-fit,minmax(17rem,1fr))}\
article{border:1px solid var(--line);border-radius:6px;padding:.5rem .7rem;overflow-x:auto}\
dl{display:grid;grid-template-columns:auto 1fr;gap:.1rem .8rem;margin:0}dd{margin:0}\
.sum{display:flex;flex-wrap:wrap;gap:.3rem 1.5rem;align-items:center}\
@media(max-width:40rem){.x{display:none}body{padding:.3rem .5rem}}";

/// The page head with title, viewport, the no-JavaScript refresh and the style.
fn head(title: &str, refresh_s: u64) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{}</title><noscript><meta http-equiv=\"refresh\" content=\"{refresh_s}\"></noscript><style>{STYLE}</style></head><body>",
        escape(title)
    )
}

/// The in-place refresh: fetch the same page and swap `#live`, keeping scroll position.
fn refresh_script(refresh_s: u64) -> String {
    format!(
        "<script>setInterval(function(){{fetch(location.href,{{cache:\"no-store\"}}).then(function(r){{return r.ok?r.text():null}}).then(function(t){{if(!t)return;var n=new DOMParser().parseFromString(t,\"text/html\").getElementById(\"live\"),o=document.getElementById(\"live\");if(n&&o)o.replaceWith(n)}}).catch(function(){{}})}},{});</script>",
        refresh_s * 1000
    )
}

fn refresh_seconds(backend: &dyn WebBackend) -> u64 {
    backend.health().poll_interval.as_secs().clamp(5, 300)
}

/// "8 s ago", "3 min ago", "2 h ago", "4 d ago".
fn age_text(now_ms: u64, then_ms: u64) -> String {
    let s = now_ms.saturating_sub(then_ms) / 1000;
    match s {
        0..=119 => format!("{s} s ago"),
        120..=7199 => format!("{} min ago", s / 60),
        7200..=172_799 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86_400),
    }
}

/// `YYYY-MM-DD HH:MM` in UK time.
fn uk_datetime(ms: u64) -> String {
    let (y, mo, d, h, mi) = ukclock::uk_local(ms / 1000);
    format!("{y}-{mo:02}-{d:02} {h:02}:{mi:02}")
}

fn opt_num(value: Option<f64>, decimals: usize, unit: &str) -> String {
    match value.filter(|v| v.is_finite()) {
        Some(v) => format!("{v:.decimals$}{unit}"),
        None => "–".to_string(),
    }
}

/// Mean power over a slot's powered time, W.
fn slot_power(slot: &SlotRollup) -> Option<f64> {
    (slot.powered_ms > 0).then(|| slot.energy_wh / (slot.powered_ms as f64 / 3_600_000.0))
}

/// One value per slot from `first_slot` for `count` slots (None where no rollup).
fn slot_series(
    rollups: &[&SlotRollup],
    first_slot: u64,
    count: usize,
    value: impl Fn(&SlotRollup) -> Option<f64>,
) -> Vec<Option<f64>> {
    let mut series = vec![None; count];
    for slot in rollups {
        if slot.slot_start_s < first_slot {
            continue;
        }
        let index = ((slot.slot_start_s - first_slot) / SLOT_S) as usize;
        if let Some(cell) = series.get_mut(index) {
            *cell = value(slot);
        }
    }
    series
}

/// Power shown for a miner: measured, else its manual power marked as such.
fn power_text(view: &MinerView) -> String {
    match view.latest.as_ref().and_then(|s| s.power_w) {
        Some(w) => format!("{w:.1} W"),
        None => match view.manual_power_w {
            Some(w) => format!(
                "{w:.1} W <span class=\"mut\" title=\"configured manual power\">(set)</span>"
            ),
            None => "–".to_string(),
        },
    }
}

fn online_cell(view: &MinerView) -> &'static str {
    if !view.status.enabled {
        "<td class=\"mut\">disabled</td>"
    } else if view.online {
        "<td class=\"ok\">online</td>"
    } else {
        "<td class=\"bad\">offline</td>"
    }
}

fn fleet_table(
    views: &[MinerView],
    sparks: &HashMap<u32, Vec<Option<f64>>>,
    now_ms: u64,
) -> String {
    let mut out = String::with_capacity(views.len() * 700 + 1024);
    out.push_str("<div class=\"scroll\"><table id=\"fleet\"><caption class=\"mut\">Latest poll of every miner; hashrate sparkline over the last 24 hours</caption><thead><tr><th scope=\"col\">Miner</th><th scope=\"col\" class=\"x\">Kind</th><th scope=\"col\">State</th><th scope=\"col\" class=\"n\">Hashrate</th><th scope=\"col\">24 h</th><th scope=\"col\" class=\"n\">Power</th><th scope=\"col\" class=\"n\">Temp</th><th scope=\"col\" class=\"n x\">J/TH</th><th scope=\"col\">Mode</th><th scope=\"col\" class=\"x\">Pool</th><th scope=\"col\">Last seen</th><th scope=\"col\">Last error</th></tr></thead><tbody>");
    for view in views {
        let status = &view.status;
        let latest = view.latest.as_ref();
        let name = escape(&status.name);
        let empty = Vec::new();
        let spark = svg::sparkline(
            sparks.get(&view.id).unwrap_or(&empty),
            &format!("{} hashrate, last 24 hours", status.name),
        );
        let _ = write!(
            out,
            "<tr><th scope=\"row\"><a href=\"/miner/{}\">{name}</a></th><td class=\"x\">{}</td>{}<td class=\"n\">{}</td><td>{spark}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n x\">{}</td><td>{}</td><td class=\"x\">{}</td><td>{}</td><td class=\"w\">{}</td></tr>",
            url_segment(&status.name),
            escape(
                status
                    .model
                    .as_deref()
                    .or(status.kind.map(|k| k.as_str()))
                    .unwrap_or("–")
            ),
            online_cell(view),
            latest
                .and_then(|s| s.hashrate_hs)
                .map(units::format_hashrate)
                .unwrap_or_else(|| "–".into()),
            power_text(view),
            opt_num(latest.and_then(|s| s.temp_c), 1, " °C"),
            opt_num(view.efficiency_j_per_th, 1, ""),
            latest
                .and_then(|s| s.mode)
                .map(|m| m.as_str())
                .unwrap_or("–"),
            escape(status.pool.as_deref().unwrap_or("–")),
            status
                .last_seen_ms
                .map(|t| age_text(now_ms, t))
                .unwrap_or_else(|| "never".into()),
            escape(status.last_error.as_deref().unwrap_or("")),
        );
    }
    out.push_str("</tbody></table></div>");
    out
}

/// Renders a widget's JSON result readably: objects as definition lists, arrays of
/// objects as tables, other arrays as lists, scalars as text.
pub fn render_json(value: &Value, depth: usize) -> String {
    if depth >= MAX_WIDGET_DEPTH {
        return format!("<code>{}</code>", escape(&value.to_string()));
    }
    match value {
        Value::Null => "–".to_string(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.to_string(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => format!("{}", (f * 1000.0).round() / 1000.0),
            _ => n.to_string(),
        },
        Value::String(s) => escape(s),
        Value::Object(map) => {
            let mut out = String::from("<dl>");
            for (key, item) in map {
                let _ = write!(
                    out,
                    "<dt>{}</dt><dd>{}</dd>",
                    escape(&key.replace('_', " ")),
                    render_json(item, depth + 1)
                );
            }
            out.push_str("</dl>");
            out
        }
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_object) => {
            let mut columns: Vec<&String> = Vec::new();
            for item in items.iter().take(MAX_WIDGET_ROWS) {
                if let Value::Object(map) = item {
                    for key in map.keys() {
                        if !columns.contains(&key) {
                            columns.push(key);
                        }
                    }
                }
            }
            let mut out = String::from("<table><thead><tr>");
            for column in &columns {
                let _ = write!(
                    out,
                    "<th scope=\"col\">{}</th>",
                    escape(&column.replace('_', " "))
                );
            }
            out.push_str("</tr></thead><tbody>");
            for item in items.iter().take(MAX_WIDGET_ROWS) {
                out.push_str("<tr>");
                for column in &columns {
                    let cell = item
                        .get(column.as_str())
                        .map(|v| render_json(v, depth + 1))
                        .unwrap_or_default();
                    let _ = write!(out, "<td>{cell}</td>");
                }
                out.push_str("</tr>");
            }
            out.push_str("</tbody></table>");
            if items.len() > MAX_WIDGET_ROWS {
                let _ = write!(
                    out,
                    "<p class=\"mut\">{} more rows in /api/widgets</p>",
                    items.len() - MAX_WIDGET_ROWS
                );
            }
            out
        }
        Value::Array(items) => {
            let parts: Vec<String> = items
                .iter()
                .take(MAX_WIDGET_ROWS)
                .map(|v| render_json(v, depth + 1))
                .collect();
            parts.join(", ")
        }
    }
}

fn audit_table(rows: &[AuditRecord]) -> String {
    if rows.is_empty() {
        return "<p class=\"mut\">No actions yet.</p>".to_string();
    }
    let mut out = String::from(
        "<div class=\"scroll\"><table><thead><tr><th scope=\"col\">Time</th><th scope=\"col\">By</th><th scope=\"col\">Miner</th><th scope=\"col\">Action</th><th scope=\"col\">Outcome</th><th scope=\"col\">Reason</th></tr></thead><tbody>",
    );
    for row in rows {
        let outcome_class = match row.outcome.as_str() {
            "ok" => "ok",
            "failed" | "refused" => "bad",
            _ => "mut",
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{outcome_class}\">{}</td><td class=\"w\">{}</td></tr>",
            uk_datetime(row.ts_ms),
            escape(&row.actor.to_string()),
            escape(&row.miner),
            escape(&row.action),
            escape(&row.outcome),
            escape(&row.reason)
        );
    }
    out.push_str("</tbody></table></div>");
    out
}

fn feeds_and_errors(backend: &dyn WebBackend) -> String {
    let mut out =
        String::from("<section aria-labelledby=\"feeds-h\"><h2 id=\"feeds-h\">Feeds</h2>");
    let feeds = backend.feeds();
    if feeds.is_empty() {
        out.push_str("<p class=\"mut\">No feeds configured.</p>");
    } else {
        out.push_str("<div class=\"scroll\"><table><thead><tr><th scope=\"col\">Feed</th><th scope=\"col\">Age</th><th scope=\"col\">State</th><th scope=\"col\" class=\"n\">Errors</th><th scope=\"col\">Last error</th></tr></thead><tbody>");
        for feed in &feeds {
            let age = feed
                .age_s
                .map(|s| age_text(s * 1000, 0))
                .unwrap_or_else(|| "never fetched".into());
            let state = if feed.age_s.is_none() {
                "<td class=\"bad\">no data</td>"
            } else if feed.stale {
                "<td class=\"bad\">stale</td>"
            } else {
                "<td class=\"ok\">fresh</td>"
            };
            let _ = write!(
                out,
                "<tr><th scope=\"row\">{}</th><td>{age}</td>{state}<td class=\"n\">{}</td><td class=\"w\">{}</td></tr>",
                escape(&feed.name),
                feed.errors,
                escape(feed.last_error.as_deref().unwrap_or(""))
            );
        }
        out.push_str("</tbody></table></div>");
    }
    out.push_str(
        "</section><section aria-labelledby=\"errors-h\"><h2 id=\"errors-h\">Script errors</h2>",
    );
    let errors = backend.script_errors();
    if errors.is_empty() {
        out.push_str("<p class=\"mut\">All scripts compiled and ran.</p>");
    } else {
        out.push_str("<ul>");
        for error in &errors {
            let _ = write!(
                out,
                "<li><code>{}</code>: {}</li>",
                escape(&error.file),
                escape(&error.message)
            );
        }
        out.push_str("</ul>");
    }
    out.push_str("</section>");
    out
}

fn prices_section(backend: &dyn WebBackend, now_s: u64) -> String {
    let mut out = String::from(
        "<section aria-labelledby=\"prices-h\"><h2 id=\"prices-h\">Electricity prices</h2>",
    );
    if let Ok(Some(current)) = backend.price_at(now_s) {
        let _ = write!(
            out,
            "<p>Now: <strong>{:.2}p/kWh</strong> until {} (UK time).</p>",
            current.pence_per_kwh,
            ukclock::uk_hhmm(current.valid_to_s)
        );
    }
    out.push_str("<div class=\"grid\">");
    let (today_start, today_end) = ukclock::uk_day_bounds(now_s);
    let (_, tomorrow_end) = ukclock::uk_day_bounds(today_end);
    for (title, from, to) in [
        ("Today", today_start, today_end),
        ("Tomorrow", today_end, tomorrow_end),
    ] {
        let prices = backend.prices(from, to).unwrap_or_default();
        let (y, m, d, _, _) = ukclock::uk_local(from);
        let label = format!("{title} ({y}-{m:02}-{d:02}), pence per kWh by half hour");
        let _ = write!(
            out,
            "<figure style=\"margin:0\"><figcaption>{}</figcaption>{}</figure>",
            escape(&label),
            svg::price_bars(&prices, now_s, &label)
        );
    }
    out.push_str("</div></section>");
    out
}

fn widgets_section(backend: &dyn WebBackend) -> String {
    let mut out =
        String::from("<section aria-labelledby=\"widgets-h\"><h2 id=\"widgets-h\">Widgets</h2>");
    let widgets = backend.widgets();
    if widgets.is_empty() {
        out.push_str("<p class=\"mut\">No widget results yet.</p>");
    } else {
        out.push_str("<div class=\"grid\">");
        for (name, value) in &widgets {
            let _ = write!(
                out,
                "<article><h3>{}</h3>{}</article>",
                escape(&name.replace('_', " ")),
                render_json(value, 0)
            );
        }
        out.push_str("</div>");
    }
    out.push_str("</section>");
    out
}

/// The status page `/`.
pub fn status_page(backend: &dyn WebBackend) -> Result<String, HttpError> {
    let now_ms = backend.now_ms();
    let now_s = now_ms / 1000;
    let views = backend
        .miners()
        .map_err(|e| super::api::backend_error(e, ""))?;
    let first_slot = ukclock::slot_start_s(now_s.saturating_sub(DAY_S)) + SLOT_S;
    let count = ((ukclock::slot_start_s(now_s) - first_slot) / SLOT_S + 1) as usize;
    let rollups = backend
        .slots(None, first_slot, now_s + 1)
        .unwrap_or_default();
    let mut by_miner: HashMap<u32, Vec<&SlotRollup>> = HashMap::new();
    for slot in &rollups {
        by_miner.entry(slot.miner_id).or_default().push(slot);
    }
    let sparks: HashMap<u32, Vec<Option<f64>>> = by_miner
        .iter()
        .map(|(id, slots)| {
            (
                *id,
                slot_series(slots, first_slot, count, SlotRollup::mean_hashrate_hs),
            )
        })
        .collect();
    let mut fleet_series: Vec<Option<f64>> = vec![None; count];
    for series in sparks.values() {
        for (total, value) in fleet_series.iter_mut().zip(series) {
            if let Some(v) = value {
                *total = Some(total.unwrap_or(0.0) + v);
            }
        }
    }
    let online = views.iter().filter(|v| v.online).count();
    let fleet_hs: f64 = views
        .iter()
        .filter_map(|v| v.latest.as_ref().and_then(|s| s.hashrate_hs))
        .sum();
    let fleet_w: f64 = views
        .iter()
        .filter(|v| v.online)
        .filter_map(|v| {
            v.latest
                .as_ref()
                .and_then(|s| s.power_w)
                .or(v.manual_power_w)
        })
        .sum();
    let refresh = refresh_seconds(backend);
    let mut out = head(
        &format!("hmm · {online}/{} miners online", views.len()),
        refresh,
    );
    let _ = write!(
        out,
        "<div id=\"live\"><header><h1>Home Miner Manager</h1><div class=\"sum\"><span><strong>{online}</strong> of {} miners online</span><span>Fleet <strong>{}</strong></span><span><strong>{fleet_w:.0} W</strong></span>{}<span class=\"mut\">Updated {} UK</span></div></header><main>",
        views.len(),
        units::format_hashrate(fleet_hs),
        svg::sparkline(&fleet_series, "Fleet hashrate, last 24 hours"),
        uk_datetime(now_ms),
    );
    out.push_str("<section aria-labelledby=\"fleet-h\"><h2 id=\"fleet-h\">Fleet</h2>");
    if views.is_empty() {
        out.push_str(
            "<p>No miners configured. Add <code>[[miners]]</code> entries to the config file.</p>",
        );
    } else {
        out.push_str(&fleet_table(&views, &sparks, now_ms));
    }
    out.push_str("</section>");
    out.push_str(&prices_section(backend, now_s));
    out.push_str(&widgets_section(backend));
    out.push_str("<section aria-labelledby=\"log-h\"><h2 id=\"log-h\">Automation log</h2>");
    out.push_str(&audit_table(
        &backend.audit(AUDIT_ROWS, None).unwrap_or_default(),
    ));
    out.push_str("</section>");
    out.push_str(&feeds_and_errors(backend));
    out.push_str("</main></div>");
    out.push_str(&footer());
    out.push_str(&refresh_script(refresh));
    out.push_str("</body></html>");
    Ok(out)
}

fn footer() -> String {
    "<footer class=\"mut\"><p>JSON: <a href=\"/api/miners\">/api/miners</a> · <a href=\"/api/widgets\">/api/widgets</a> · <a href=\"/api/prices\">/api/prices</a> · <a href=\"/api/audit\">/api/audit</a> · <a href=\"/api/feeds\">/api/feeds</a> · <a href=\"/metrics\">/metrics</a> · <a href=\"/healthz\">/healthz</a></p></footer>".to_string()
}

/// The miner detail page `/miner/<name>`: status, latest sample and 7-day charts.
pub fn miner_page(backend: &dyn WebBackend, name: &str) -> Result<String, HttpError> {
    let view = super::api::find_miner(backend, name)?;
    let now_ms = backend.now_ms();
    let now_s = now_ms / 1000;
    let first_slot = ukclock::slot_start_s(now_s.saturating_sub(7 * DAY_S)) + SLOT_S;
    let count = ((ukclock::slot_start_s(now_s) - first_slot) / SLOT_S + 1) as usize;
    let rollups = backend
        .slots(Some(name), first_slot, now_s + 1)
        .unwrap_or_default();
    let refs: Vec<&SlotRollup> = rollups.iter().collect();
    let status = &view.status;
    let title = escape(&status.name);
    let refresh = refresh_seconds(backend);
    let mut out = head(&format!("hmm · {}", status.name), refresh);
    let _ = write!(
        out,
        "<div id=\"live\"><header><p><a href=\"/\">← Fleet</a></p><h1>{title}</h1></header><main><section aria-labelledby=\"now-h\"><h2 id=\"now-h\">Now</h2><dl>"
    );
    let latest = view.latest.as_ref();
    let state = online_cell(&view)
        .replace("<td", "<dd")
        .replace("</td>", "</dd>");
    let rows: [(&str, String); 13] = [
        (
            "Kind",
            escape(status.kind.map(|k| k.as_str()).unwrap_or("–")),
        ),
        ("Model", escape(status.model.as_deref().unwrap_or("–"))),
        (
            "Firmware",
            escape(status.firmware.as_deref().unwrap_or("–")),
        ),
        (
            "Hashrate",
            latest
                .and_then(|s| s.hashrate_hs)
                .map(units::format_hashrate)
                .unwrap_or_else(|| "–".into()),
        ),
        ("Power", power_text(&view)),
        (
            "Temperature",
            opt_num(latest.and_then(|s| s.temp_c), 1, " °C"),
        ),
        (
            "VR temperature",
            opt_num(latest.and_then(|s| s.vr_temp_c), 1, " °C"),
        ),
        ("Efficiency", opt_num(view.efficiency_j_per_th, 1, " J/TH")),
        (
            "Fan",
            latest
                .and_then(|s| s.fan_rpm)
                .map(|r| format!("{r} rpm"))
                .unwrap_or_else(|| "–".into()),
        ),
        (
            "Mode",
            latest
                .and_then(|s| s.mode)
                .map(|m| m.as_str())
                .unwrap_or("–")
                .to_string(),
        ),
        ("Pool", escape(status.pool.as_deref().unwrap_or("–"))),
        (
            "Last seen",
            status
                .last_seen_ms
                .map(|t| format!("{} ({})", uk_datetime(t), age_text(now_ms, t)))
                .unwrap_or_else(|| "never".into()),
        ),
        (
            "Last error",
            escape(status.last_error.as_deref().unwrap_or("none")),
        ),
    ];
    let _ = write!(out, "<dt>State</dt>{state}");
    for (label, value) in rows {
        let _ = write!(out, "<dt>{label}</dt><dd>{value}</dd>");
    }
    out.push_str("</dl></section><section aria-labelledby=\"hist-h\"><h2 id=\"hist-h\">Last 7 days</h2><p class=\"mut\">Half-hour means from the slot rollups.</p>");
    let charts: [Chart; 3] = [
        (
            "Hashrate",
            slot_series(&refs, first_slot, count, SlotRollup::mean_hashrate_hs),
            units::format_hashrate,
        ),
        (
            "Power",
            slot_series(&refs, first_slot, count, slot_power),
            |w| format!("{w:.1} W"),
        ),
        (
            "Temperature (max)",
            slot_series(&refs, first_slot, count, |s| s.temp_max_c),
            |c| format!("{c:.1} °C"),
        ),
    ];
    for (label, series, format) in charts {
        let _ = write!(
            out,
            "<h3>{label}</h3>{}",
            svg::line_chart(
                &series,
                &format!("{} {}, last 7 days", status.name, label.to_lowercase()),
                format
            )
        );
    }
    out.push_str(
        "</section><section aria-labelledby=\"log-h\"><h2 id=\"log-h\">Recent actions</h2>",
    );
    let rows: Vec<AuditRecord> = backend
        .audit(500, None)
        .unwrap_or_default()
        .into_iter()
        .filter(|row| row.miner == status.name)
        .take(20)
        .collect();
    out.push_str(&audit_table(&rows));
    let _ = write!(
        out,
        "</section><p class=\"mut\">Samples: <a href=\"/api/miners/{0}/telemetry\">/api/miners/{1}/telemetry</a></p></main></div>",
        url_segment(&status.name),
        escape(&status.name)
    );
    out.push_str(&footer());
    out.push_str(&refresh_script(refresh));
    out.push_str("</body></html>");
    Ok(out)
}

/// One detail chart: title, series and how to print its extremes.
type Chart = (&'static str, Vec<Option<f64>>, fn(f64) -> String);

/// A small HTML 404 page for unknown pages and miners.
pub fn not_found_page(message: &str) -> String {
    let mut out = head("hmm · not found", 3600);
    let _ = write!(
        out,
        "<main><h1>Not found</h1><p>{}</p><p><a href=\"/\">Back to the fleet</a></p></main></body></html>",
        escape(message)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<script>\"a\"&'b'"),
            "&lt;script&gt;&quot;a&quot;&amp;&#39;b&#39;"
        );
    }

    #[test]
    fn renders_widget_json_readably() {
        let html = render_json(
            &json!({"daily_cost": 1.23456, "miners": [{"name": "<b>", "cost": 2}], "ok": true}),
            0,
        );
        assert!(html.contains("<dt>daily cost</dt><dd>1.235</dd>"));
        assert!(html.contains("<th scope=\"col\">name</th>"));
        assert!(html.contains("<td>&lt;b&gt;</td>"));
        assert!(html.contains("<dd>yes</dd>"));
    }

    #[test]
    fn ages_read_naturally() {
        assert_eq!(age_text(10_000, 2_000), "8 s ago");
        assert_eq!(age_text(600_000, 0), "10 min ago");
        assert_eq!(age_text(3 * 86_400_000, 0), "3 d ago");
    }
}
