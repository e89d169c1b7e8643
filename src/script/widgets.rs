//! Widgets (`widgets/*.rhai`): the registry, per-interval evaluation and the result cache.
//!
//! A widget is a script with `fn widget()` returning a map (its JSON result) and, optionally,
//! `fn meta()` returning its refresh interval and Home Assistant hints. Readers (MQTT, the
//! web page, the CLI) read [`WidgetSet::results`] / [`WidgetSet::result`], which never run a
//! script: only [`WidgetSet::refresh_due`] evaluates, and only the widgets whose interval
//! has passed. (The ancestor's dashboard re-ran every widget's SQL per request, every 5 s.)
//! A widget that fails keeps serving its last good value, with the error beside it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use rhai::Dynamic;

use crate::script::ScriptHost;
use crate::script::api::CallContext;
use crate::script::engine::{ScriptError, ScriptSet, dynamic_to_json};

/// The built-in widgets, embedded in the binary; a user file of the same name overrides one.
pub const BUILTIN_WIDGETS: &[(&str, &str)] = &[
    (
        "total-hashrate",
        include_str!("../../widgets/total-hashrate.rhai"),
    ),
    (
        "miners-list",
        include_str!("../../widgets/miners-list.rhai"),
    ),
    ("efficiency", include_str!("../../widgets/efficiency.rhai")),
    (
        "temperature-alert",
        include_str!("../../widgets/temperature-alert.rhai"),
    ),
    (
        "energy-price",
        include_str!("../../widgets/energy-price.rhai"),
    ),
    ("daily-cost", include_str!("../../widgets/daily-cost.rhai")),
    ("uptime", include_str!("../../widgets/uptime.rhai")),
    (
        "reject-rate",
        include_str!("../../widgets/reject-rate.rhai"),
    ),
    ("pool-stats", include_str!("../../widgets/pool-stats.rhai")),
    (
        "coin-prices",
        include_str!("../../widgets/coin-prices.rhai"),
    ),
    (
        "profitability",
        include_str!("../../widgets/profitability.rhai"),
    ),
];

/// Refresh interval of a widget that declares none.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(60);
/// Shortest refresh interval a widget may ask for.
pub const MIN_REFRESH: Duration = Duration::from_secs(5);

/// What a widget says about itself in `fn meta()`.
#[derive(Debug, Clone, PartialEq)]
pub struct WidgetMeta {
    /// How often to re-evaluate (`refresh: "1m"`).
    pub refresh: Duration,
    /// Field of the result that is the Home Assistant sensor state (`state_field`).
    pub state_field: Option<String>,
    /// Unit of that state (`unit`), fixed for ever once published.
    pub unit: Option<String>,
    /// Home Assistant device class (`device_class`).
    pub device_class: Option<String>,
    /// Home Assistant state class (`state_class`).
    pub state_class: Option<String>,
}

impl Default for WidgetMeta {
    fn default() -> Self {
        WidgetMeta {
            refresh: DEFAULT_REFRESH,
            state_field: None,
            unit: None,
            device_class: None,
            state_class: None,
        }
    }
}

/// One cached widget evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct WidgetResult {
    /// Widget name.
    pub name: String,
    /// The last good result as JSON (`null` if it never succeeded).
    pub value: serde_json::Value,
    /// When `value` was computed, UTC ms.
    pub evaluated_ms: u64,
    /// How long that evaluation took, µs.
    pub took_us: u64,
    /// The latest error (`file:line:col: message`) if the last evaluation failed.
    pub error: Option<String>,
}

struct Cached {
    meta: WidgetMeta,
    result: Option<Arc<WidgetResult>>,
    next_due_ms: u64,
}

/// The widgets, their metadata and their cached results.
pub struct WidgetSet {
    host: Arc<ScriptHost>,
    scripts: ScriptSet,
    cache: RwLock<BTreeMap<String, Cached>>,
}

impl WidgetSet {
    /// Loads the built-in widgets and the user's widget directory (if any).
    pub fn load(host: Arc<ScriptHost>, dir: Option<&Path>) -> WidgetSet {
        let scripts = ScriptSet::load(host.engine(), "widget", BUILTIN_WIDGETS, dir);
        let set = WidgetSet {
            host,
            scripts,
            cache: RwLock::new(BTreeMap::new()),
        };
        set.sync_meta(&set.scripts.names());
        set
    }

    /// Names of every runnable widget.
    pub fn names(&self) -> Vec<String> {
        self.scripts.names()
    }

    /// A widget's metadata.
    pub fn meta(&self, name: &str) -> Option<WidgetMeta> {
        let cache = self.cache.read().unwrap_or_else(|e| e.into_inner());
        cache.get(name).map(|c| c.meta.clone())
    }

    /// Current compile and runtime errors of the widgets (`file:line:col: message`).
    pub fn script_errors(&self) -> Vec<ScriptError> {
        self.scripts.errors()
    }

    /// Every cached result (no script runs).
    pub fn results(&self) -> BTreeMap<String, Arc<WidgetResult>> {
        let cache = self.cache.read().unwrap_or_else(|e| e.into_inner());
        cache
            .iter()
            .filter_map(|(name, c)| Some((name.clone(), c.result.clone()?)))
            .collect()
    }

    /// One cached result (no script runs).
    pub fn result(&self, name: &str) -> Option<Arc<WidgetResult>> {
        let cache = self.cache.read().unwrap_or_else(|e| e.into_inner());
        cache.get(name)?.result.clone()
    }

    /// Reloads changed widget files and evaluates the widgets whose interval has passed.
    /// Returns the names evaluated.
    pub fn refresh_due(&self, now_ms: u64) -> Vec<String> {
        let changed = self.scripts.reload(self.host.engine());
        self.sync_meta(&changed);
        let due: Vec<String> = {
            let cache = self.cache.read().unwrap_or_else(|e| e.into_inner());
            cache
                .iter()
                .filter(|(_, c)| now_ms >= c.next_due_ms)
                .map(|(n, _)| n.clone())
                .collect()
        };
        for name in &due {
            if let Err(error) = self.evaluate(name, now_ms) {
                log::warn!("widget {name}: {error}");
            }
        }
        due
    }

    /// Evaluates one widget now, caches and returns its result (the CLI and the bench).
    pub fn evaluate(&self, name: &str, now_ms: u64) -> Result<Arc<WidgetResult>, ScriptError> {
        let outcome = self.run(name, now_ms);
        let mut cache = self.cache.write().unwrap_or_else(|e| e.into_inner());
        let Some(entry) = cache.get_mut(name) else {
            return outcome.map(Arc::new);
        };
        entry.next_due_ms = now_ms + entry.meta.refresh.as_millis() as u64;
        match outcome {
            Ok(result) => {
                let result = Arc::new(result);
                entry.result = Some(result.clone());
                Ok(result)
            }
            Err(error) => {
                let previous = entry.result.as_deref();
                entry.result = Some(Arc::new(WidgetResult {
                    name: name.to_string(),
                    value: previous.map_or(serde_json::Value::Null, |r| r.value.clone()),
                    evaluated_ms: previous.map_or(0, |r| r.evaluated_ms),
                    took_us: previous.map_or(0, |r| r.took_us),
                    error: Some(error.to_string()),
                }));
                Err(error)
            }
        }
    }

    fn run(&self, name: &str, now_ms: u64) -> Result<WidgetResult, ScriptError> {
        let started = Instant::now();
        let value = self
            .scripts
            .call_entry(self.host.engine(), name, widget_tag(now_ms))?;
        if !value.is_map() {
            let (_, file) = self.scripts.ast(name).unwrap_or_default();
            return Err(ScriptError::whole_file(
                &file,
                format!(
                    "fn widget() must return a map, it returned {}",
                    value.type_name()
                ),
            ));
        }
        let json = dynamic_to_json(&value);
        Ok(WidgetResult {
            name: name.to_string(),
            value: json,
            evaluated_ms: now_ms,
            took_us: started.elapsed().as_micros() as u64,
            error: None,
        })
    }

    /// Reads `fn meta()` of the given (new or recompiled) widgets; drops removed ones.
    fn sync_meta(&self, names: &[String]) {
        let mut cache = self.cache.write().unwrap_or_else(|e| e.into_inner());
        for name in names {
            if !self.scripts.contains(name) {
                cache.remove(name);
                continue;
            }
            let meta = self.read_meta(name);
            let entry = cache.entry(name.clone()).or_insert(Cached {
                meta: WidgetMeta::default(),
                result: None,
                next_due_ms: 0,
            });
            entry.meta = meta;
            entry.next_due_ms = 0;
        }
    }

    fn read_meta(&self, name: &str) -> WidgetMeta {
        if !self.scripts.has_fn(name, "meta") {
            return WidgetMeta::default();
        }
        match self.scripts.call(
            self.host.engine(),
            name,
            "meta",
            widget_tag(self.host.data().now_ms()),
        ) {
            Ok(value) => meta_from(&dynamic_to_json(&value)).unwrap_or_else(|why| {
                log::warn!("widget {name}: fn meta(): {why}; using defaults");
                WidgetMeta::default()
            }),
            Err(error) => {
                log::warn!("{error}");
                WidgetMeta::default()
            }
        }
    }
}

fn widget_tag(now_ms: u64) -> Dynamic {
    Dynamic::from(CallContext::new(now_ms, None))
}

fn meta_from(value: &serde_json::Value) -> Result<WidgetMeta, String> {
    let map = value.as_object().ok_or("it must return a map")?;
    let text = |key: &str| map.get(key).and_then(|v| v.as_str()).map(str::to_string);
    let refresh = match text("refresh") {
        Some(t) => humantime::parse_duration(&t)
            .map_err(|e| format!("refresh \"{t}\": {e}"))?
            .max(MIN_REFRESH),
        None => DEFAULT_REFRESH,
    };
    Ok(WidgetMeta {
        refresh,
        state_field: text("state_field"),
        unit: text("unit"),
        device_class: text("device_class"),
        state_class: text("state_class"),
    })
}
