//! Commands from MQTT (`hmm/<miner>/set/<what>`): parsed and validated here, then handed to
//! the daemon as a typed [`MinerCommand`] through a bounded channel. The daemon answers each
//! one ([`PendingCommand::respond`]) and the answer is published on `hmm/event`.
//!
//! The broker's ACL is the only gate in front of these topics, so every payload is checked
//! against what hmm knows before anything reaches hardware: the miner must be configured,
//! the mode supported by its driver, the pool one of its configured pools. A retained
//! command is never executed (it would be replayed on every reconnect, e.g. a restart
//! loop); an empty payload is ignored silently (it is how a retained message is cleared).

use serde::Serialize;
use tokio::sync::mpsc;

use super::state::MinerInfo;
use super::topics::CommandKind;
use crate::model::Mode;

/// What the daemon is asked to do to a miner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Switch the operating mode (one the miner's driver supports).
    SetMode(Mode),
    /// Restart the miner.
    Restart,
    /// Enable or disable mining (hmm's switch).
    SetEnabled(bool),
    /// Switch to a configured pool, by its `[[pools]]` name.
    SwitchPool(String),
}

impl Action {
    /// Short text for events and the audit log: `set_mode eco`, `restart`, ...
    pub fn describe(&self) -> String {
        match self {
            Action::SetMode(mode) => format!("set_mode {}", mode.as_str()),
            Action::Restart => "restart".into(),
            Action::SetEnabled(on) => format!("set_enabled {on}"),
            Action::SwitchPool(pool) => format!("switch_pool {pool}"),
        }
    }
}

/// A validated command for one miner (by config name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinerCommand {
    /// Config name of the miner.
    pub miner: String,
    /// What to do.
    pub action: Action,
}

/// The daemon's answer to a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandResult {
    /// Done or queued for the device.
    Accepted,
    /// Not done, with the reason (rate limit, device refused, dry run, ...).
    Refused(String),
}

/// `hmm/event` document about a command.
#[derive(Debug, Serialize)]
pub(crate) struct CommandEvent<'a> {
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    pub(crate) source: &'static str,
    pub(crate) ts: String,
    pub(crate) topic: &'a str,
    pub(crate) miner: Option<&'a str>,
    pub(crate) action: Option<String>,
    pub(crate) result: &'static str,
    pub(crate) reason: Option<&'a str>,
}

impl CommandEvent<'_> {
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Publishes command answers on `hmm/event`; implemented by the bridge's shared state.
pub(crate) trait EventSink: Send + Sync {
    /// Queues one event payload (never blocks).
    fn push_event(&self, payload: String);
}

/// A command waiting for the daemon's answer. Dropping it unanswered publishes a refusal,
/// so a command is never silently lost.
pub struct PendingCommand {
    /// The validated command.
    pub command: MinerCommand,
    topic: String,
    sink: Option<std::sync::Arc<dyn EventSink>>,
}

impl std::fmt::Debug for PendingCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingCommand")
            .field("command", &self.command)
            .field("topic", &self.topic)
            .finish()
    }
}

impl PendingCommand {
    pub(crate) fn new(
        command: MinerCommand,
        topic: String,
        sink: std::sync::Arc<dyn EventSink>,
    ) -> Self {
        PendingCommand {
            command,
            topic,
            sink: Some(sink),
        }
    }

    /// Publishes the daemon's answer on `hmm/event`.
    pub fn respond(mut self, result: CommandResult) {
        self.answer(&result);
    }

    fn answer(&mut self, result: &CommandResult) {
        let Some(sink) = self.sink.take() else { return };
        let (outcome, reason) = match result {
            CommandResult::Accepted => ("accepted", None),
            CommandResult::Refused(reason) => ("refused", Some(reason.as_str())),
        };
        let event = CommandEvent {
            kind: "command",
            source: "mqtt",
            ts: now_text(),
            topic: &self.topic,
            miner: Some(&self.command.miner),
            action: Some(self.command.action.describe()),
            result: outcome,
            reason,
        };
        sink.push_event(event.to_json());
    }
}

impl Drop for PendingCommand {
    fn drop(&mut self) {
        if self.sink.is_some() {
            self.answer(&CommandResult::Refused(
                "the daemon dropped the command without answering".into(),
            ));
        }
    }
}

/// The daemon's end of the command channel.
#[derive(Debug)]
pub struct CommandReceiver {
    pub(crate) rx: mpsc::Receiver<PendingCommand>,
}

impl CommandReceiver {
    /// Waits for the next command; `None` once the bridge has stopped.
    pub async fn recv(&mut self) -> Option<PendingCommand> {
        self.rx.recv().await
    }

    /// The next command if one is waiting (for a polling loop).
    pub fn try_recv(&mut self) -> Option<PendingCommand> {
        self.rx.try_recv().ok()
    }
}

/// Turns a command payload into an action for `miner`, or the reason it is refused. `Ok(None)`
/// means "ignore silently" (empty payload).
pub(crate) fn validate(
    miner: &MinerInfo,
    kind: CommandKind,
    payload: &[u8],
) -> Result<Option<Action>, String> {
    let Ok(text) = std::str::from_utf8(payload) else {
        return Err("payload is not UTF-8 text".into());
    };
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let name = &miner.name;
    match kind {
        CommandKind::Mode => {
            let supported: Vec<&str> = miner.modes.iter().map(|m| m.as_str()).collect();
            let Some(mode) = Mode::parse(text) else {
                return Err(format!(
                    "unknown mode {text:?}: {name} supports {}",
                    list_or_none(&supported)
                ));
            };
            if !miner.modes.contains(&mode) {
                return Err(format!(
                    "{name} does not support mode {}: it supports {}",
                    mode.as_str(),
                    list_or_none(&supported)
                ));
            }
            Ok(Some(Action::SetMode(mode)))
        }
        CommandKind::Restart => match text.to_ascii_lowercase().as_str() {
            "press" | "restart" | "1" | "true" | "on" => Ok(Some(Action::Restart)),
            _ => Err(format!(
                "restart payload {text:?} not understood: send PRESS"
            )),
        },
        CommandKind::Enabled => match text.to_ascii_lowercase().as_str() {
            "on" | "true" | "1" | "enable" | "enabled" => Ok(Some(Action::SetEnabled(true))),
            "off" | "false" | "0" | "disable" | "disabled" => Ok(Some(Action::SetEnabled(false))),
            _ => Err(format!(
                "enabled payload {text:?} not understood: send ON or OFF"
            )),
        },
        CommandKind::Pool => {
            if miner.pools.iter().any(|pool| pool == text) {
                Ok(Some(Action::SwitchPool(text.to_string())))
            } else {
                let pools: Vec<&str> = miner.pools.iter().map(String::as_str).collect();
                Err(format!(
                    "unknown pool {text:?} for {name}: configured pools are {}",
                    list_or_none(&pools)
                ))
            }
        }
    }
}

fn list_or_none(items: &[&str]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

/// Now as RFC 3339 UTC text, for event timestamps.
pub(crate) fn now_text() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn miner() -> MinerInfo {
        MinerInfo {
            name: "bitaxe-1".into(),
            modes: vec![Mode::Eco, Mode::Standard],
            pools: vec!["ckpool".into(), "public-pool".into()],
            ..MinerInfo::default()
        }
    }

    #[test]
    fn valid_payloads_become_actions() {
        let m = miner();
        assert_eq!(
            validate(&m, CommandKind::Mode, b"Eco"),
            Ok(Some(Action::SetMode(Mode::Eco)))
        );
        assert_eq!(
            validate(&m, CommandKind::Restart, b"PRESS"),
            Ok(Some(Action::Restart))
        );
        assert_eq!(
            validate(&m, CommandKind::Enabled, b"OFF"),
            Ok(Some(Action::SetEnabled(false)))
        );
        assert_eq!(
            validate(&m, CommandKind::Enabled, b"true"),
            Ok(Some(Action::SetEnabled(true)))
        );
        assert_eq!(
            validate(&m, CommandKind::Pool, b"public-pool"),
            Ok(Some(Action::SwitchPool("public-pool".into())))
        );
        assert_eq!(validate(&m, CommandKind::Restart, b""), Ok(None));
    }

    #[test]
    fn bad_payloads_are_refused_with_the_reason() {
        let m = miner();
        let err = validate(&m, CommandKind::Mode, b"warp").unwrap_err();
        assert!(
            err.contains("unknown mode \"warp\"") && err.contains("eco, standard"),
            "{err}"
        );
        let err = validate(&m, CommandKind::Mode, b"turbo").unwrap_err();
        assert!(err.contains("does not support mode turbo"), "{err}");
        let err = validate(&m, CommandKind::Enabled, b"maybe").unwrap_err();
        assert!(err.contains("send ON or OFF"), "{err}");
        let err = validate(&m, CommandKind::Pool, b"nicehash").unwrap_err();
        assert!(err.contains("ckpool, public-pool"), "{err}");
        assert!(validate(&m, CommandKind::Restart, b"now please").is_err());
        assert!(validate(&m, CommandKind::Mode, &[0xff, 0xfe]).is_err());
    }
}
