//! Built-in widgets checked against independent computations on generated data.

use std::sync::Arc;

use hmm::model::{MinerKind, Mode, PricePoint, Sample};
use hmm::script::testing::{MemoryData, agile_prices, generated_fleet, miner_info};
use hmm::script::{ScriptHost, WidgetSet};
use hmm::ukclock::{days_from_civil, uk_day_bounds};
use serde_json::Value;

const NOW_MS: u64 = 1_790_000_000_000;

fn widgets(data: Arc<MemoryData>) -> WidgetSet {
    WidgetSet::load(ScriptHost::new(data), None)
}

fn run(set: &WidgetSet, name: &str, now_ms: u64) -> Value {
    match set.evaluate(name, now_ms) {
        Ok(result) => result.value.clone(),
        Err(error) => panic!("{name}: {error}"),
    }
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs().max(1e-9)
}

#[test]
fn every_builtin_widget_runs_and_returns_a_map() {
    let data = generated_fleet(20, NOW_MS, 24, 30);
    let set = widgets(data);
    assert_eq!(set.names().len(), 11, "{:?}", set.names());
    for name in set.names() {
        let value = run(&set, &name, NOW_MS);
        assert!(value.is_object(), "{name}: {value}");
    }
    assert!(set.script_errors().is_empty(), "{:?}", set.script_errors());
}
