//! The `hmm widget run` and `hmm rule test` commands.
//!
//! Both evaluate against a [`ScriptData`]: the configured store (built by the CLI through
//! `daemon::offline_script_data`), or with `--demo`, for trying scripts without a fleet, a
//! generated 10-miner fleet with a day of Agile prices.

use std::path::Path;
use std::sync::Arc;

use crate::script::data::ScriptData;
use crate::script::testing::generated_fleet;
use crate::script::{
    AutomationSettings, Notifier, NotifySettings, RuleRunner, ScriptHost, WidgetSet,
};

/// The data behind `--demo`: a generated 10-miner fleet with a day of Agile prices.
pub fn demo_data() -> Arc<dyn ScriptData> {
    generated_fleet(10, crate::units::now_ms(), 24, 60)
}

/// Evaluates one widget now and renders its result: pretty JSON with `--json`, else
/// `key: value` lines.
pub fn widget_run(
    data: Arc<dyn ScriptData>,
    dir: Option<&Path>,
    name: &str,
    json: bool,
) -> Result<String, String> {
    let now = data.now_ms();
    let set = WidgetSet::load(ScriptHost::new(data), dir);
    let result = set.evaluate(name, now).map_err(|e| e.to_string())?;
    if json {
        return serde_json::to_string_pretty(&result.value).map_err(|e| e.to_string());
    }
    let mut out = String::new();
    if let Some(map) = result.value.as_object() {
        for (key, value) in map {
            out.push_str(&format!("{key}: {value}\n"));
        }
    }
    out.push_str(&format!("({name} took {} µs)\n", result.took_us));
    Ok(out)
}

/// Plans rule `name` at `at` (RFC 3339 or UK local "YYYY-MM-DD HH:MM") and lists the
/// actions it would take, one per line; nothing is executed.
pub fn rule_test(
    data: Arc<dyn ScriptData>,
    dir: Option<&Path>,
    name: &str,
    at: &str,
) -> Result<String, String> {
    let at_ms = crate::script::automation::parse_at(at)?;
    let host = ScriptHost::new(data);
    let runner = RuleRunner::new(
        host,
        dir,
        AutomationSettings::default(),
        Arc::new(Notifier::new(NotifySettings::default())),
    );
    let plans = runner.test_rule(name, at_ms).map_err(|e| e.to_string())?;
    if plans.is_empty() {
        return Ok(format!(
            "{name} would take no action at {}\n",
            crate::ukclock::rfc3339(at_ms / 1000)
        ));
    }
    Ok(plans.iter().map(|p| format!("{p}\n")).collect())
}
