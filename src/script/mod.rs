//! The script host: sandboxed rhai widgets (`widgets/*.rhai`) and automation rules
//! (`scripts/*.rhai`) over the fleet's data (DESIGN.md "Scripts (rhai)").
//!
//! - [`engine`]: the sandboxed engine, compile/recompile-on-change, `file:line:col` errors.
//! - [`api`]: the host functions scripts call (documented in docs/scripting.md).
//! - [`aggregate`]: the heavy sums (cost per slot × price, uptime, shares) in Rust.
//! - [`widgets`]: the widget registry and its per-interval result cache.
//! - [`automation`]: the rule runner: schedule, checks, execution, dry-run, audit.
//! - [`notify`]: Discord / Telegram / webhook delivery with per-kind throttling.
//! - [`reads`]: slot rollups read once per evaluation and shared by its host functions.
//! - [`shape`]: fixed-key script maps built from a blank copy of their keys (fast).
//! - [`data`]: the narrow traits this module needs from the store, feeds and control.
//! - [`testing`]: in-memory implementations of those traits and generated fleets, for tests,
//!   `hmm widget run --demo` and `hmm bench`.

pub mod aggregate;
pub mod api;
pub mod automation;
pub mod commands;
pub mod data;
pub mod engine;
pub mod notify;
mod reads;
mod shape;
pub mod testing;
pub mod widgets;

use std::sync::Arc;

use rhai::Engine;

pub use automation::{AutomationSettings, PlannedAction, RuleRunner, RuleSettings};
pub use data::{ActionError, ActionSink, CoinPrice, MinerInfo, NotifyLevel, PoolStats, ScriptData};
pub use engine::ScriptError;
pub use notify::{Notifier, NotifySettings};
pub use widgets::{WidgetMeta, WidgetResult, WidgetSet};

/// One sandboxed engine with the host functions bound to one data source, shared by the
/// widgets and the rules (the engine is `Send + Sync` with rhai's `sync` feature).
pub struct ScriptHost {
    engine: Engine,
    data: Arc<dyn ScriptData>,
}

impl ScriptHost {
    /// Builds the sandboxed engine and registers the host functions over `data`.
    pub fn new(data: Arc<dyn ScriptData>) -> Arc<ScriptHost> {
        let mut engine = engine::sandboxed_engine();
        api::register(&mut engine, data.clone());
        Arc::new(ScriptHost { engine, data })
    }

    /// The engine (for compiling and calling scripts).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The data source.
    pub fn data(&self) -> &dyn ScriptData {
        self.data.as_ref()
    }

    /// Evaluates a snippet (statements and a final expression, no `fn` definitions) as if
    /// it were the body of a rule's function at `now_ms`: actions are collected, not
    /// executed, and returned with the value. Used to run docs/scripting.md's examples.
    pub fn eval_snippet(
        &self,
        source: &str,
        now_ms: u64,
    ) -> Result<(rhai::Dynamic, Vec<automation::RequestedAction>), ScriptError> {
        let wrapped = format!("fn __snippet() {{\n{source}\n}}");
        let ast = engine::compile_checked(&self.engine, "snippet", &wrapped, "__snippet")?;
        let call = Arc::new(std::sync::Mutex::new(api::RuleCall {
            requests: Vec::new(),
            state: rhai::Map::new(),
        }));
        let options = rhai::CallFnOptions::new()
            .eval_ast(false)
            .with_tag(rhai::Dynamic::from(api::CallContext::new(
                now_ms,
                Some(call.clone()),
            )));
        let value = self
            .engine
            .call_fn_with_options::<rhai::Dynamic>(
                options,
                &mut rhai::Scope::new(),
                &ast,
                "__snippet",
                (),
            )
            .map_err(|err| ScriptError::from_eval("snippet", err))?;
        let requests = std::mem::take(&mut call.lock().unwrap_or_else(|e| e.into_inner()).requests);
        Ok((value, requests))
    }
}
