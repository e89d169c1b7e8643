//! Automation rules (`scripts/*.rhai`): evaluation schedule, action checks, execution,
//! dry-run and audit.
//!
//! A rule's `fn rule()` reads data and *requests* actions (`set_mode`, `restart`,
//! `switch_pool`, `set_enabled`, `notify`, `publish`), each with a reason. Nothing happens
//! while the script runs: the requests are collected, and after the rule returns the host
//! checks each one (known miner, supported mode, allowed pool, valid topic), then executes
//! it through the [`ActionSink`] (whose control API enforces cooldowns) or, in dry-run,
//! only records it. Every outcome goes to the audit log with the rule's name and reason.
//! A rule that fails part-way requests nothing: half a plan is worse than none.
//!
//! Rules run every `interval` (default 1 minute) and at each tariff slot change, so a
//! price-driven rule reacts at 17:00:00, not up to a minute late.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rhai::{Dynamic, Map};

use crate::model::{Actor, AuditRecord, Mode};
use crate::script::ScriptHost;
use crate::script::api::{CallContext, RuleCall};
use crate::script::data::{ActionError, ActionSink, MinerInfo, NotifyLevel};
use crate::script::engine::{ScriptError, ScriptSet};
use crate::script::notify::Notifier;
use crate::ukclock;

/// The built-in rules, embedded in the binary. Off until enabled in config.
pub const BUILTIN_RULES: &[(&str, &str)] = &[
    (
        "agile-bands",
        include_str!("../../scripts/agile-bands.rhai"),
    ),
    ("overheat", include_str!("../../scripts/overheat.rhai")),
    (
        "offline-alert",
        include_str!("../../scripts/offline-alert.rhai"),
    ),
];

/// One action a rule asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Change a miner's mode (mode name as the script wrote it; checked later).
    SetMode { miner: String, mode: String },
    /// Restart a miner.
    Restart { miner: String },
    /// Switch a miner to a configured pool.
    SwitchPool { miner: String, pool: String },
    /// Turn hmm's enabled switch of a miner on or off.
    SetEnabled { miner: String, enabled: bool },
    /// Send a notification (MQTT and the configured channels, throttled per title).
    Notify {
        title: String,
        message: String,
        level: String,
    },
    /// Publish JSON under `<base>/<topic>`.
    Publish {
        topic: String,
        payload: serde_json::Value,
    },
}

impl Action {
    /// The miner the action is about, or "" for fleet-wide actions.
    pub fn miner(&self) -> &str {
        match self {
            Action::SetMode { miner, .. }
            | Action::Restart { miner }
            | Action::SwitchPool { miner, .. }
            | Action::SetEnabled { miner, .. } => miner,
            Action::Notify { .. } | Action::Publish { .. } => "",
        }
    }

    /// Short text for the audit log and `hmm rule test`: `set_mode eco`, `set_enabled false`.
    pub fn describe(&self) -> String {
        match self {
            Action::SetMode { mode, .. } => format!("set_mode {mode}"),
            Action::Restart { .. } => "restart".to_string(),
            Action::SwitchPool { pool, .. } => format!("switch_pool {pool}"),
            Action::SetEnabled { enabled, .. } => format!("set_enabled {enabled}"),
            Action::Notify { level, title, .. } => format!("notify {level} \"{title}\""),
            Action::Publish { topic, .. } => format!("publish {topic}"),
        }
    }
}

/// An action request with the rule's reason.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestedAction {
    /// What to do.
    pub action: Action,
    /// Why, in the rule's words.
    pub reason: String,
}

/// A checked action: what a rule would do at a moment, and whether the host's checks pass.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedAction {
    /// Rule (file) name.
    pub rule: String,
    /// Evaluation time, UTC ms.
    pub at_ms: u64,
    /// The action.
    pub action: Action,
    /// The rule's reason.
    pub reason: String,
    /// `Err(why)` when the host would refuse it before reaching the device.
    pub check: Result<(), String>,
}

impl std::fmt::Display for PlannedAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let miner = self.action.miner();
        write!(
            f,
            "{} {}{}{}: {}",
            ukclock::rfc3339(self.at_ms / 1000),
            if miner.is_empty() { "" } else { miner },
            if miner.is_empty() { "" } else { " " },
            self.action.describe(),
            self.reason
        )?;
        if let Err(why) = &self.check {
            write!(f, " (would be refused: {why})")?;
        }
        Ok(())
    }
}

/// Per-rule switches (`[automation.rules."<name>"]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RuleSettings {
    /// The rule runs only when enabled.
    pub enabled: bool,
    /// Record the rule's actions as `dry-run` without executing them.
    pub dry_run: bool,
}

/// `[automation]` settings, same names and defaults as the config file.
#[derive(Debug, Clone, PartialEq)]
pub struct AutomationSettings {
    /// Global dry-run: no rule acts, every action is recorded as `dry-run`.
    pub dry_run: bool,
    /// Evaluation period (rules also run at every tariff slot change).
    pub interval: Duration,
    /// Per-rule switches by rule file name; a rule not listed is off.
    pub rules: BTreeMap<String, RuleSettings>,
}

impl Default for AutomationSettings {
    fn default() -> Self {
        AutomationSettings {
            dry_run: false,
            interval: Duration::from_secs(60),
            rules: BTreeMap::new(),
        }
    }
}

/// Runs the rules: schedule, evaluation, checks, execution, audit.
pub struct RuleRunner {
    host: Arc<ScriptHost>,
    scripts: ScriptSet,
    settings: AutomationSettings,
    notifier: Arc<Notifier>,
    memory: Mutex<BTreeMap<String, Map>>,
    last_run_ms: Mutex<Option<u64>>,
}

impl RuleRunner {
    /// Loads the built-in rules and the user's rule directory (if any).
    pub fn new(
        host: Arc<ScriptHost>,
        dir: Option<&Path>,
        settings: AutomationSettings,
        notifier: Arc<Notifier>,
    ) -> RuleRunner {
        let scripts = ScriptSet::load(host.engine(), "rule", BUILTIN_RULES, dir);
        RuleRunner {
            host,
            scripts,
            settings,
            notifier,
            memory: Mutex::new(BTreeMap::new()),
            last_run_ms: Mutex::new(None),
        }
    }

    /// Every known rule name (built-in and user).
    pub fn rule_names(&self) -> Vec<String> {
        self.scripts.names()
    }

    /// Current compile and runtime errors of the rules, as `file:line:col: message`.
    pub fn script_errors(&self) -> Vec<ScriptError> {
        self.scripts.errors()
    }

    /// Whether the rules should run at `now_ms`: never run yet, `interval` elapsed, or a
    /// new tariff slot started since the last run.
    pub fn due(&self, now_ms: u64) -> bool {
        let last = *self.last_run_ms.lock().unwrap_or_else(|e| e.into_inner());
        match last {
            None => true,
            Some(last) => {
                now_ms >= last + self.settings.interval.as_millis() as u64
                    || ukclock::slot_start_s(now_ms / 1000) != ukclock::slot_start_s(last / 1000)
            }
        }
    }

    /// Reloads changed rule files and, if due, evaluates every enabled rule and executes
    /// its checked actions. Returns the audit records written (empty when not due).
    pub fn run_due(&self, now_ms: u64, sink: &dyn ActionSink) -> Vec<AuditRecord> {
        self.scripts.reload(self.host.engine());
        if !self.due(now_ms) {
            return Vec::new();
        }
        *self.last_run_ms.lock().unwrap_or_else(|e| e.into_inner()) = Some(now_ms);
        let mut records = Vec::new();
        for name in self.scripts.names() {
            let rule = self.settings.rules.get(&name).copied().unwrap_or_default();
            if !rule.enabled {
                continue;
            }
            match self.plan(&name, now_ms, true) {
                Ok(plans) => {
                    let dry_run = self.settings.dry_run || rule.dry_run;
                    records.extend(self.execute(&plans, dry_run, sink));
                }
                Err(error) => log::warn!("rule {name}: {error}"),
            }
        }
        records
    }

    /// What rule `name` would do at `at_ms`, checked, executing nothing and leaving the
    /// rule's memory untouched (`hmm rule test NAME --at TIME`). Works for disabled rules.
    pub fn test_rule(&self, name: &str, at_ms: u64) -> Result<Vec<PlannedAction>, ScriptError> {
        self.plan(name, at_ms, false)
    }

    /// Evaluates a rule and checks its requests. `keep_memory` stores what the rule wrote
    /// with `state_set` for its next evaluation.
    fn plan(
        &self,
        name: &str,
        at_ms: u64,
        keep_memory: bool,
    ) -> Result<Vec<PlannedAction>, ScriptError> {
        let state = {
            let memory = self.memory.lock().unwrap_or_else(|e| e.into_inner());
            memory.get(name).cloned().unwrap_or_default()
        };
        let call = Arc::new(Mutex::new(RuleCall {
            requests: Vec::new(),
            state,
        }));
        let context = CallContext::new(at_ms, Some(call.clone()));
        // The rule's return value is ignored: what counts is the actions it requested.
        let _ = self
            .scripts
            .call_entry(self.host.engine(), name, Dynamic::from(context))?;
        let call = std::mem::replace(
            &mut *call.lock().unwrap_or_else(|e| e.into_inner()),
            RuleCall {
                requests: Vec::new(),
                state: Map::new(),
            },
        );
        if keep_memory {
            let mut memory = self.memory.lock().unwrap_or_else(|e| e.into_inner());
            memory.insert(name.to_string(), call.state);
        }
        let miners = self.host.data().miners().unwrap_or_default();
        Ok(call
            .requests
            .into_iter()
            .map(|request| PlannedAction {
                rule: name.to_string(),
                at_ms,
                check: check(&request.action, &miners),
                action: request.action,
                reason: request.reason,
            })
            .collect())
    }

    /// Executes checked plans (or records them as dry-run) and audits every outcome.
    pub fn execute(
        &self,
        plans: &[PlannedAction],
        dry_run: bool,
        sink: &dyn ActionSink,
    ) -> Vec<AuditRecord> {
        plans
            .iter()
            .map(|plan| {
                let (outcome, detail) = match (&plan.check, dry_run) {
                    (Err(why), _) => ("refused", Some(why.clone())),
                    (Ok(()), true) => ("dry-run", None),
                    (Ok(()), false) => self.perform(plan, sink),
                };
                let record = AuditRecord {
                    ts_ms: plan.at_ms,
                    actor: Actor::Rule(plan.rule.clone()),
                    miner: plan.action.miner().to_string(),
                    action: plan.action.describe(),
                    outcome: outcome.to_string(),
                    reason: match detail {
                        Some(detail) => format!("{}; {detail}", plan.reason),
                        None => plan.reason.clone(),
                    },
                };
                if outcome != "ok" && outcome != "dry-run" {
                    log::info!(
                        "rule {}: {} {}: {}",
                        plan.rule,
                        record.action,
                        outcome,
                        record.reason
                    );
                }
                sink.audit(record.clone());
                record
            })
            .collect()
    }

    fn perform(
        &self,
        plan: &PlannedAction,
        sink: &dyn ActionSink,
    ) -> (&'static str, Option<String>) {
        let result = match &plan.action {
            Action::SetMode { miner, mode } => match Mode::parse(mode) {
                Some(mode) => sink.set_mode(miner, mode),
                None => Err(ActionError::Refused(format!("unknown mode '{mode}'"))),
            },
            Action::Restart { miner } => sink.restart(miner),
            Action::SwitchPool { miner, pool } => sink.switch_pool(miner, pool),
            Action::SetEnabled { miner, enabled } => sink.set_enabled(miner, *enabled),
            Action::Publish { topic, payload } => sink.publish(topic, payload),
            Action::Notify {
                title,
                message,
                level,
            } => {
                if !self.notifier.admit(title, plan.at_ms) {
                    return (
                        "throttled",
                        Some("same title sent within the throttle period".into()),
                    );
                }
                let level = NotifyLevel::parse(level).unwrap_or(NotifyLevel::Info);
                sink.notify(title, message, level);
                self.notifier.send(title, message, level);
                Ok(())
            }
        };
        match result {
            Ok(()) => ("ok", None),
            Err(ActionError::Refused(why)) => ("refused", Some(why)),
            Err(ActionError::Failed(why)) => ("failed", Some(why)),
        }
    }
}

/// The host's checks before an action reaches the control API.
pub(crate) fn check(action: &Action, miners: &[MinerInfo]) -> Result<(), String> {
    let find = |name: &str| {
        miners
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| format!("no miner named '{name}'"))
    };
    match action {
        Action::SetMode { miner, mode } => {
            let info = find(miner)?;
            let mode = Mode::parse(mode)
                .ok_or_else(|| format!("unknown mode '{mode}' (use eco, standard, turbo or oc)"))?;
            if !info.modes.contains(&mode) {
                let supported: Vec<&str> = info.modes.iter().map(|m| m.as_str()).collect();
                return Err(format!(
                    "{miner} does not support mode {} (supported: {})",
                    mode.as_str(),
                    if supported.is_empty() {
                        "none".to_string()
                    } else {
                        supported.join(", ")
                    }
                ));
            }
            Ok(())
        }
        Action::Restart { miner } | Action::SetEnabled { miner, .. } => find(miner).map(|_| ()),
        Action::SwitchPool { miner, pool } => {
            let info = find(miner)?;
            if info.pools.iter().any(|p| p == pool) {
                Ok(())
            } else {
                Err(format!(
                    "pool '{pool}' is not one of {miner}'s pools ({})",
                    info.pools.join(", ")
                ))
            }
        }
        Action::Notify { title, level, .. } => {
            if title.trim().is_empty() {
                return Err("a notification needs a title".to_string());
            }
            NotifyLevel::parse(level)
                .map(|_| ())
                .ok_or_else(|| format!("unknown level '{level}' (use info, warning or critical)"))
        }
        Action::Publish { topic, .. } => check_topic(topic),
    }
}

fn check_topic(topic: &str) -> Result<(), String> {
    let valid = !topic.is_empty()
        && topic.len() <= 128
        && !topic.starts_with('/')
        && !topic.ends_with('/')
        && !topic.contains("//")
        && topic
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '/' | '.'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "bad topic suffix '{topic}': use letters, digits, '_', '-', '.', '/' (no wildcards, max 128)"
        ))
    }
}

/// Parses the `--at` time of `hmm rule test`: RFC 3339 (`2026-11-28T17:00:00Z`, with an
/// offset or `Z`) or UK local wall-clock time `2026-11-28 17:00[:SS]` (Europe/London, the
/// tariff's time zone). Returns UTC ms.
pub fn parse_at(text: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "bad time '{text}': use RFC 3339 (2026-11-28T17:00:00Z) or UK local '2026-11-28 17:00'"
        )
    };
    let text = text.trim();
    if text.len() < 16 {
        return Err(bad());
    }
    let (date, rest) = text.split_at(10);
    let mut parts = date.split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let year: i64 = y.parse().map_err(|_| bad())?;
    let month: u32 = m.parse().map_err(|_| bad())?;
    let day: u32 = d.parse().map_err(|_| bad())?;
    let rest = rest.strip_prefix(['T', ' ']).ok_or_else(bad)?;
    let zone_at = rest.find(['Z', 'z', '+', '-']).unwrap_or(rest.len());
    let (clock, zone) = rest.split_at(zone_at);
    let mut hms = clock.split(':');
    let hour: u32 = hms.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
    let minute: u32 = hms.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
    let second: f64 = hms
        .next()
        .map_or(Ok(0.0), |s| s.parse())
        .map_err(|_| bad())?;
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || !(0.0..60.0).contains(&second)
    {
        return Err(bad());
    }
    let local_s = ukclock::days_from_civil(year, month, day) * 86_400
        + i64::from(hour) * 3600
        + i64::from(minute) * 60
        + second as i64;
    let utc_s = match zone {
        "" => {
            // UK local: try GMT then BST; take the reading whose offset matches.
            let as_gmt = local_s;
            if ukclock::uk_offset_s(as_gmt - 3600) == 3600 {
                local_s - 3600
            } else {
                as_gmt
            }
        }
        "Z" | "z" => local_s,
        offset => {
            let sign = if offset.starts_with('-') { -1 } else { 1 };
            let mut hm = offset[1..].split(':');
            let oh: i64 = hm.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
            let om: i64 = hm.next().unwrap_or("0").parse().map_err(|_| bad())?;
            local_s - sign * (oh * 3600 + om * 60)
        }
    };
    u64::try_from(utc_s).map(|s| s * 1000).map_err(|_| bad())
}
