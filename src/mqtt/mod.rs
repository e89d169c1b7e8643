//! MQTT and Home Assistant: publishes the fleet's state, widget results and events to a
//! broker, announces every miner to Home Assistant by MQTT discovery, and turns commands
//! from `hmm/<miner>/set/<what>` into validated [`MinerCommand`]s for the daemon.
//!
//! The module talks to the rest of hmm only through the small types re-exported here, so it
//! is tested on its own against an in-process broker:
//!
//! ```no_run
//! # async fn demo() -> Result<(), hmm::mqtt::MqttError> {
//! use hmm::mqtt::{BridgeIdentity, CommandResult, MqttBridge, MqttSettings};
//! let settings = MqttSettings { host: "127.0.0.1".into(), port: 1883, ..MqttSettings::default() };
//! let identity = BridgeIdentity { instance_id: "hmm".into(), version: "0.1.0".into() };
//! let (mqtt, mut commands) = MqttBridge::start(&settings, identity)?;
//! mqtt.set_miners(&[/* MinerInfo per configured miner */]);
//! tokio::spawn(async move {
//!     while let Some(command) = commands.recv().await {
//!         // ... act on command.command, then:
//!         command.respond(CommandResult::Accepted);
//!     }
//! });
//! # Ok(()) }
//! ```
//!
//! Layout (DESIGN.md "MQTT and Home Assistant"): `hmm/status` (retained `online`/`offline`,
//! the last will), `hmm/<miner>/state`, `hmm/<miner>/availability`, `hmm/widget/<name>`,
//! `hmm/bridge/state` (version and fleet figures), `hmm/event`, commands on
//! `hmm/<miner>/set/{mode,restart,enabled,pool}`, and per-component discovery configs under
//! `homeassistant/<component>/<instance>/<object_id>/config`.

mod client;
mod commands;
mod discovery;
mod outbox;
mod publisher;
mod settings;
mod state;
mod topics;

use std::sync::Arc;

use tokio::sync::mpsc;

pub use commands::{Action, CommandReceiver, CommandResult, MinerCommand, PendingCommand};
pub use discovery::BridgeIdentity;
pub use outbox::MAX_EVENTS;
pub use publisher::{MqttHandle, MqttStats};
pub use settings::{MqttSettings, TLS_UNSUPPORTED};
pub use state::{FleetState, MinerInfo, MinerState, WidgetSensor};
pub use topics::{Topics, slug, topic_segment};

/// Commands that may wait for the daemon; more are refused as "busy" on `hmm/event`.
const COMMAND_QUEUE: usize = 32;

/// Why the bridge could not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MqttError {
    /// The `[mqtt]` settings have problems; each line names the field and the fix.
    Settings(Vec<String>),
    /// `start` was called outside a tokio runtime.
    NoRuntime,
}

impl std::fmt::Display for MqttError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MqttError::Settings(problems) => {
                write!(f, "invalid [mqtt] settings: {}", problems.join("; "))
            }
            MqttError::NoRuntime => {
                f.write_str("the MQTT bridge must be started inside the tokio runtime")
            }
        }
    }
}

impl std::error::Error for MqttError {}

/// Starts the MQTT bridge.
pub struct MqttBridge;

impl MqttBridge {
    /// Validates the settings, spawns the event loop and writer tasks on the current tokio
    /// runtime and returns the publishing handle and the command receiver. Returns at once;
    /// the connection is made (and re-made) in the background, so a broker that is down at
    /// start only delays publishing.
    pub fn start(
        settings: &MqttSettings,
        identity: BridgeIdentity,
    ) -> Result<(MqttHandle, CommandReceiver), MqttError> {
        let problems = settings.validate();
        if !problems.is_empty() {
            return Err(MqttError::Settings(problems));
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| MqttError::NoRuntime)?;
        let topics = Topics::new(
            &settings.base_topic,
            &settings.discovery_prefix,
            &identity.instance_id,
        );
        let options = client::options(settings, &topics.status());
        let (client, eventloop) = rumqttc::AsyncClient::new(options, client::REQUEST_CHANNEL);
        let (command_tx, command_rx) = mpsc::channel(COMMAND_QUEUE);
        let shared = publisher::Shared::new(topics, identity, command_tx);
        let broker = format!("{}:{}", settings.host, settings.port);
        runtime.spawn(client::run_event_loop(
            Arc::clone(&shared),
            eventloop,
            broker,
        ));
        runtime.spawn(client::run_writer(Arc::clone(&shared), client.clone()));
        Ok((
            MqttHandle { shared, client },
            CommandReceiver { rx: command_rx },
        ))
    }
}
