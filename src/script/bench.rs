//! Benchmark hook for `hmm bench`: times every built-in widget on a generated fleet.
//!
//! Budgets are proven by the bench, never by timed unit tests (DESIGN.md "Budgets").

use std::collections::BTreeMap;
use std::time::Instant;

use crate::script::testing::generated_fleet;
use crate::script::{ScriptHost, WidgetSet};

/// Median evaluation time in µs of each built-in widget (rhai included) at `miners`
/// miners with 24 h of data, over `runs` evaluations each. Returns name → µs.
pub fn widget_timings(miners: usize, runs: usize) -> BTreeMap<String, f64> {
    let now_ms = 1_790_000_000_000; // a fixed moment (2026-09-21) so runs compare
    let data = generated_fleet(miners, now_ms, 24, 30);
    let host = ScriptHost::new(data);
    let widgets = WidgetSet::load(host, None);
    let mut out = BTreeMap::new();
    for name in widgets.names() {
        let mut times: Vec<f64> = (0..runs.max(1))
            .map(|_| {
                let started = Instant::now();
                if let Err(error) = widgets.evaluate(&name, now_ms) {
                    log::warn!("bench: {error}");
                }
                started.elapsed().as_secs_f64() * 1e6
            })
            .collect();
        times.sort_by(f64::total_cmp);
        out.insert(name, times[times.len() / 2]);
    }
    out
}
