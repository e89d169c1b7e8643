//! The bridge's shared state and the daemon's handle on it.
//!
//! Every `publish_*` call only serialises the payload and puts it in the bounded
//! [`Outbox`](super::outbox::Outbox) under a short mutex, then wakes the writer task: it
//! never waits for the broker, so polling and scripts are never held up by MQTT. The
//! catalog (miners and widget sensors) lives here too, because discovery configs, command
//! validation and the stale-config sweep all read it.
//!
//! Remembering what was announced, also across restarts: at every connect the bridge
//! subscribes to its own discovery topics (`<prefix>/+/<node>/+/config`). The broker answers
//! with every retained config a previous run left; any that the current catalog does not
//! produce is cleared with an empty retained payload. This needs no persisted list, heals
//! after a rename, a lost data directory or a crash between announce and save, and only
//! touches topics under this instance's node id. A config of a kind (miners, widgets) is
//! judged only once the daemon has declared that kind, so a restart never deletes and
//! recreates entities (which would lose the user's entity settings in HA). Within one run,
//! configs removed from the catalog are cleared from the in-memory `announced` map.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use log::{info, warn};
use tokio::sync::{Notify, mpsc};

use super::commands::{self, CommandEvent, EventSink, PendingCommand};
use super::discovery::{BridgeIdentity, ConfigBuilder, IdSpace, id_space};
use super::outbox::{Message, Outbox};
use super::state::{
    BridgeStateJson, FleetState, MinerInfo, MinerState, MinerStateJson, WidgetSensor, pence_to_gbp,
};
use super::topics::{Topics, fnv1a, slug, topic_segment};

/// Counters for `/metrics` and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MqttStats {
    /// Whether the client is connected to the broker now.
    pub connected: bool,
    /// Successful connections (ConnAcks) since start.
    pub connects: u64,
    /// Messages handed to the MQTT client.
    pub published: u64,
    /// Messages waiting in the outbox.
    pub queue_len: usize,
    /// Payload bytes waiting in the outbox.
    pub queued_bytes: usize,
    /// Pending payloads replaced by a newer one for the same topic (outage coalescing).
    pub superseded: u64,
    /// Events dropped because the event ring was full.
    pub events_dropped: u64,
    /// Commands received (valid or not, retained ones included).
    pub commands: u64,
}

/// The next thing the writer should hand to the client.
pub(crate) enum Next {
    /// Subscribe to these filters (after a ConnAck).
    Subscribe(Vec<String>),
    /// A topic message.
    Topic(Message),
    /// An `hmm/event` payload.
    Event(Vec<u8>),
}

/// State shared by the handle, the event loop task and the writer task.
pub(crate) struct Shared {
    pub(crate) topics: Topics,
    pub(crate) identity: BridgeIdentity,
    inner: Mutex<Inner>,
    /// Wakes the writer: something was queued or the connection came up.
    pub(crate) wake: Notify,
    connected: AtomicBool,
    stopping: AtomicBool,
    birth_scheduled: AtomicBool,
    connects: AtomicU64,
    published: AtomicU64,
    command_count: AtomicU64,
    commands: mpsc::Sender<PendingCommand>,
}

#[derive(Default)]
struct Inner {
    outbox: Outbox,
    miners: Vec<MinerInfo>,
    widgets: Vec<WidgetSensor>,
    miners_ready: bool,
    widgets_ready: bool,
    /// Discovery topic → hash of the payload last queued there.
    announced: BTreeMap<String, u64>,
    /// Retained configs of this node found on the broker, not yet judged.
    seen: BTreeSet<String>,
    subscribe_due: bool,
    fleet: FleetState,
}

impl Shared {
    pub(crate) fn new(
        topics: Topics,
        identity: BridgeIdentity,
        commands: mpsc::Sender<PendingCommand>,
    ) -> Arc<Shared> {
        let shared = Arc::new(Shared {
            topics,
            identity,
            inner: Mutex::new(Inner::default()),
            wake: Notify::new(),
            connected: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            birth_scheduled: AtomicBool::new(false),
            connects: AtomicU64::new(0),
            published: AtomicU64::new(0),
            command_count: AtomicU64::new(0),
            commands,
        });
        shared.publish_bridge_state();
        shared
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the outbox inconsistent in a way
        // that matters more than stopping MQTT, so keep going with the data.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn builder(&self) -> ConfigBuilder<'_> {
        ConfigBuilder {
            topics: &self.topics,
            identity: &self.identity,
        }
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }

    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    pub(crate) fn set_stopping(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    pub(crate) fn count_published(&self) {
        self.published.fetch_add(1, Ordering::Relaxed);
    }

    /// Called by the event loop on every successful ConnAck.
    pub(crate) fn on_connack(&self) {
        self.connects.fetch_add(1, Ordering::Relaxed);
        {
            let mut inner = self.lock();
            inner.subscribe_due = true;
            inner
                .outbox
                .put_first(&self.topics.status(), b"online".to_vec(), true);
            self.announce_locked(&mut inner);
        }
        self.connected.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Called by the event loop when the connection is lost.
    pub(crate) fn on_disconnect(&self) {
        self.connected.store(false, Ordering::SeqCst);
    }

    /// Every discovery config plus every mirrored state, queued (retained). Used on connect
    /// and after Home Assistant's birth message.
    pub(crate) fn announce(&self) {
        let mut inner = self.lock();
        self.announce_locked(&mut inner);
        drop(inner);
        self.wake.notify_one();
    }

    fn announce_locked(&self, inner: &mut Inner) {
        let configs = self.builder().all(&inner.miners, &inner.widgets);
        let mut announced = BTreeMap::new();
        for (topic, payload) in configs {
            announced.insert(topic.clone(), fnv1a(payload.as_bytes()));
            inner.outbox.put(&topic, payload.into_bytes(), true);
        }
        for stale in inner
            .announced
            .keys()
            .filter(|t| !announced.contains_key(*t))
        {
            inner.outbox.put(stale, Vec::new(), true);
        }
        inner.announced = announced;
        inner.outbox.requeue_mirror();
        self.sweep_locked(inner);
    }

    /// Re-derives the discovery configs after a catalog change and queues only what
    /// changed: new or different configs, and empty payloads for configs that are gone.
    fn sync_discovery_locked(&self, inner: &mut Inner) {
        let configs = self.builder().all(&inner.miners, &inner.widgets);
        let mut announced = BTreeMap::new();
        for (topic, payload) in configs {
            let hash = fnv1a(payload.as_bytes());
            if inner.announced.get(&topic) != Some(&hash) {
                inner.outbox.put(&topic, payload.into_bytes(), true);
            }
            announced.insert(topic, hash);
        }
        let gone: Vec<String> = inner
            .announced
            .keys()
            .filter(|t| !announced.contains_key(*t))
            .cloned()
            .collect();
        for topic in gone {
            info!("mqtt: removing discovery config {topic}");
            inner.outbox.put(&topic, Vec::new(), true);
        }
        inner.announced = announced;
        self.sweep_locked(inner);
    }

    /// Clears retained configs of this node that the current catalog does not produce,
    /// for the kinds the daemon has declared.
    fn sweep_locked(&self, inner: &mut Inner) {
        let seen = std::mem::take(&mut inner.seen);
        for topic in seen {
            let Some(object_id) = self.topics.discovery_object_id(&topic) else {
                continue;
            };
            let ready = match id_space(&self.topics.node, object_id) {
                IdSpace::Bridge | IdSpace::Other => true,
                IdSpace::Miner => inner.miners_ready,
                IdSpace::Widget => inner.widgets_ready,
            };
            if !ready {
                inner.seen.insert(topic);
            } else if !inner.announced.contains_key(&topic) {
                info!("mqtt: clearing stale discovery config {topic} left by an earlier run");
                inner.outbox.put(&topic, Vec::new(), true);
            }
        }
    }

    /// A retained discovery config of this node arrived from the broker.
    pub(crate) fn on_retained_config(&self, topic: &str) {
        let mut inner = self.lock();
        inner.seen.insert(topic.to_string());
        self.sweep_locked(&mut inner);
        drop(inner);
        self.wake.notify_one();
    }

    /// Home Assistant said `online`: re-announce after a random 0–5 s delay (HA's advice,
    /// so a broker with many clients is not flooded at once). Births inside the delay
    /// share one announce.
    pub(crate) fn on_ha_birth(self: &Arc<Self>) {
        if self.birth_scheduled.swap(true, Ordering::SeqCst) {
            return;
        }
        let shared = Arc::clone(self);
        let delay = std::time::Duration::from_millis(fastrand::u64(0..=5_000));
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            shared.birth_scheduled.store(false, Ordering::SeqCst);
            info!("mqtt: Home Assistant came online; re-sending discovery and states");
            shared.announce();
        });
    }

    /// The writer's next piece of work, or `None` when there is nothing to do (or the
    /// broker is away: then everything waits in the outbox).
    pub(crate) fn next(&self) -> Option<Next> {
        if !self.is_connected() {
            return None;
        }
        let mut inner = self.lock();
        if std::mem::take(&mut inner.subscribe_due) {
            return Some(Next::Subscribe(vec![
                self.topics.command_filter(),
                self.topics.ha_status(),
                self.topics.discovery_filter(),
            ]));
        }
        if let Some(message) = inner.outbox.pop() {
            return Some(Next::Topic(message));
        }
        inner.outbox.pop_event().map(Next::Event)
    }

    /// Gives back work the client could not take (its request channel was full).
    pub(crate) fn give_back(&self, next: Next) {
        let mut inner = self.lock();
        match next {
            Next::Subscribe(_) => inner.subscribe_due = true,
            Next::Topic(message) => inner.outbox.put_back(message),
            Next::Event(payload) => inner.outbox.unpop_event(payload),
        }
    }

    fn queue_state(&self, topic: &str, payload: Vec<u8>) -> bool {
        if !fits(topic, &payload) {
            return false;
        }
        let queued = self.lock().outbox.put_state(topic, payload);
        if queued {
            self.wake.notify_one();
        }
        queued
    }

    fn publish_bridge_state(&self) {
        let (miners, fleet) = {
            let inner = self.lock();
            (inner.miners.len(), inner.fleet)
        };
        let json = BridgeStateJson {
            instance_id: &self.identity.instance_id,
            version: &self.identity.version,
            miners,
            miners_online: fleet.miners_online,
            price_gbp_kwh: fleet.price_p_kwh.map(pence_to_gbp),
            cost_24h_gbp: fleet.cost_24h_p.map(pence_to_gbp),
        };
        let payload = serde_json::to_vec(&json).unwrap_or_default();
        self.queue_state(&self.topics.bridge_state(), payload);
    }

    /// An incoming publish on a command topic: validate, deliver or refuse.
    pub(crate) fn on_command(self: &Arc<Self>, topic: &str, payload: &[u8], retained: bool) {
        let Some((segment, kind)) = self.topics.parse_command(topic) else {
            return;
        };
        if payload.is_empty() {
            // Empty payloads clear retained messages (including hmm's own clears); they
            // are never commands.
            return;
        }
        self.command_count.fetch_add(1, Ordering::Relaxed);
        let miner = {
            let inner = self.lock();
            inner
                .miners
                .iter()
                .find(|m| topic_segment(&m.name) == segment)
                .cloned()
        };
        let refuse = |miner: Option<&str>, result: &'static str, reason: String| {
            warn!("mqtt: command on {topic} {result}: {reason}");
            let event = CommandEvent {
                kind: "command",
                source: "mqtt",
                ts: commands::now_text(),
                topic,
                miner,
                action: None,
                result,
                reason: Some(&reason),
            };
            self.push_event(event.to_json());
        };
        if retained {
            refuse(
                miner.as_ref().map(|m| m.name.as_str()),
                "ignored",
                "retained command ignored: commands must be published with retain=false, \
                 otherwise they replay on every reconnect; hmm cleared the retained message"
                    .into(),
            );
            // Clear it so it does not come back on the next connect.
            self.lock().outbox.put(topic, Vec::new(), true);
            self.wake.notify_one();
            return;
        }
        let kind = match kind {
            Ok(kind) => kind,
            Err(what) => {
                return refuse(
                    miner.as_ref().map(|m| m.name.as_str()),
                    "refused",
                    format!(
                        "unknown command set/{what}: use set/mode, set/restart, set/enabled or set/pool"
                    ),
                );
            }
        };
        let Some(miner) = miner else {
            return refuse(
                None,
                "refused",
                format!("unknown miner {segment:?}: no configured miner has this topic"),
            );
        };
        let action = match commands::validate(&miner, kind, payload) {
            Ok(Some(action)) => action,
            Ok(None) => return,
            Err(reason) => return refuse(Some(&miner.name), "refused", reason),
        };
        let pending = PendingCommand::new(
            commands::MinerCommand {
                miner: miner.name.clone(),
                action,
            },
            topic.to_string(),
            Arc::clone(self) as Arc<dyn EventSink>,
        );
        if let Err(error) = self.commands.try_send(pending) {
            let reason = match &error {
                mpsc::error::TrySendError::Full(_) => "busy: too many commands waiting, try again",
                mpsc::error::TrySendError::Closed(_) => "the daemon is not accepting commands",
            };
            // Answer with the specific reason, then drop the pending command silently.
            error
                .into_inner()
                .respond(commands::CommandResult::Refused(reason.into()));
        }
    }

    fn stats(&self) -> MqttStats {
        let inner = self.lock();
        MqttStats {
            connected: self.is_connected(),
            connects: self.connects.load(Ordering::Relaxed),
            published: self.published.load(Ordering::Relaxed),
            queue_len: inner.outbox.len(),
            queued_bytes: inner.outbox.bytes(),
            superseded: inner.outbox.superseded,
            events_dropped: inner.outbox.events_dropped,
            commands: self.command_count.load(Ordering::Relaxed),
        }
    }
}

/// Whether a payload fits the client's packet limit. A bigger one would make rumqttc drop
/// the connection, and re-sending it on reconnect would loop, so it is refused here.
fn fits(topic: &str, payload: &[u8]) -> bool {
    let fits = payload.len() + topic.len() + 16 <= super::client::MAX_PACKET_BYTES;
    if !fits {
        warn!(
            "mqtt: not publishing {} bytes on {topic}: larger than the {} byte packet limit",
            payload.len(),
            super::client::MAX_PACKET_BYTES
        );
    }
    fits
}

impl EventSink for Shared {
    fn push_event(&self, payload: String) {
        if !fits(&self.topics.event(), payload.as_bytes()) {
            return;
        }
        self.lock().outbox.push_event(payload.into_bytes());
        self.wake.notify_one();
    }
}

/// The daemon's handle on the MQTT bridge. Cheap to clone; every method returns at once.
#[derive(Clone)]
pub struct MqttHandle {
    pub(crate) shared: Arc<Shared>,
    pub(crate) client: rumqttc::AsyncClient,
}

impl std::fmt::Debug for MqttHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttHandle")
            .field("stats", &self.stats())
            .finish()
    }
}

impl MqttHandle {
    /// Declares the current set of miners (config order). New miners are announced to Home
    /// Assistant, changed ones re-announced, removed ones get every config and their state
    /// and availability topics cleared with empty retained payloads. Two names that map to
    /// the same id (`a-1`, `a_1`) cannot both have HA entities: the later one is skipped
    /// with a warning and an event.
    pub fn set_miners(&self, miners: &[MinerInfo]) {
        let mut accepted: Vec<MinerInfo> = Vec::with_capacity(miners.len());
        for miner in miners {
            let clash = accepted.iter().find(|m| {
                slug(&m.name) == slug(&miner.name)
                    || topic_segment(&m.name) == topic_segment(&miner.name)
            });
            if let Some(other) = clash {
                let reason = format!(
                    "miner {:?} has the same MQTT/Home Assistant id as {:?}: rename one of them in the config",
                    miner.name, other.name
                );
                warn!("mqtt: {reason}");
                self.publish_event(
                    &serde_json::json!({"type": "config", "result": "refused", "reason": reason}),
                );
                continue;
            }
            accepted.push(miner.clone());
        }
        {
            let mut inner = self.shared.lock();
            let removed: Vec<String> = inner
                .miners
                .iter()
                .filter(|old| !accepted.iter().any(|m| m.name == old.name))
                .map(|old| old.name.clone())
                .collect();
            for name in removed {
                info!("mqtt: miner {name} left the config; clearing its topics");
                inner
                    .outbox
                    .clear_state(&self.shared.topics.miner_state(&name));
                inner
                    .outbox
                    .clear_state(&self.shared.topics.miner_availability(&name));
            }
            inner.miners = accepted;
            inner.miners_ready = true;
            self.shared.sync_discovery_locked(&mut inner);
        }
        self.shared.publish_bridge_state();
        self.shared.wake.notify_one();
    }

    /// Declares the widgets that offer a Home Assistant sensor. Invalid declarations (see
    /// [`WidgetSensor::check`]) are skipped with a warning and an event.
    pub fn set_widgets(&self, widgets: &[WidgetSensor]) {
        let mut accepted = Vec::new();
        for widget in widgets {
            match widget.check() {
                Ok(()) => accepted.push(widget.clone()),
                Err(reason) => {
                    warn!("mqtt: {reason}");
                    self.publish_event(&serde_json::json!({"type": "config", "result": "refused", "reason": reason}));
                }
            }
        }
        let mut inner = self.shared.lock();
        inner.widgets = accepted;
        inner.widgets_ready = true;
        self.shared.sync_discovery_locked(&mut inner);
        drop(inner);
        self.shared.wake.notify_one();
    }

    /// Publishes a miner's state (retained JSON, every field). Model, firmware and kind in
    /// the status also update the miner's HA device when they changed. Once `set_miners`
    /// was called, states of miners outside that set are ignored.
    pub fn publish_miner_state(&self, state: &MinerState) {
        let status = &state.status;
        {
            let mut inner = self.shared.lock();
            if inner.miners_ready && !inner.miners.iter().any(|m| m.name == status.name) {
                // Not (or no longer) configured: publishing would re-create the retained
                // state that removal just cleared.
                log::debug!("mqtt: ignoring state of unconfigured miner {}", status.name);
                return;
            }
            let mut changed = false;
            if let Some(info) = inner.miners.iter_mut().find(|m| m.name == status.name) {
                for (known, reported) in [
                    (&mut info.model, &status.model),
                    (&mut info.firmware, &status.firmware),
                ] {
                    if reported.is_some() && known != reported {
                        known.clone_from(reported);
                        changed = true;
                    }
                }
                if status.kind.is_some() && info.kind != status.kind {
                    info.kind = status.kind;
                    changed = true;
                }
            }
            if changed {
                self.shared.sync_discovery_locked(&mut inner);
            }
        }
        let payload = serde_json::to_vec(&MinerStateJson::from_state(state)).unwrap_or_default();
        self.shared
            .queue_state(&self.shared.topics.miner_state(&status.name), payload);
    }

    /// Publishes whether a miner answers (`online`/`offline`, retained).
    pub fn publish_availability(&self, miner: &str, online: bool) {
        let payload = if online { "online" } else { "offline" };
        self.shared.queue_state(
            &self.shared.topics.miner_availability(miner),
            payload.as_bytes().to_vec(),
        );
    }

    /// Publishes a widget's result (retained) if it differs from the last one published;
    /// returns whether it was queued.
    pub fn publish_widget(&self, name: &str, result: &serde_json::Value) -> bool {
        let payload = serde_json::to_vec(result).unwrap_or_default();
        self.shared
            .queue_state(&self.shared.topics.widget(name), payload)
    }

    /// Publishes the fleet figures on `hmm/bridge/state` (money converted to GBP).
    pub fn publish_fleet(&self, fleet: &FleetState) {
        self.shared.lock().fleet = *fleet;
        self.shared.publish_bridge_state();
    }

    /// Publishes an event (automation action, notification) on `hmm/event`, not retained.
    /// While the broker is away the newest [`MAX_EVENTS`](super::outbox::MAX_EVENTS) wait.
    pub fn publish_event(&self, event: &serde_json::Value) {
        self.shared.push_event(event.to_string());
    }

    /// Whether the client is connected to the broker now.
    pub fn connected(&self) -> bool {
        self.shared.is_connected()
    }

    /// Messages waiting to be sent (for `/metrics`); bounded by the number of topics plus
    /// the event ring.
    pub fn queue_len(&self) -> usize {
        self.shared.lock().outbox.len()
    }

    /// Payload bytes waiting to be sent.
    pub fn queued_bytes(&self) -> usize {
        self.shared.lock().outbox.bytes()
    }

    /// Number of retained state topics remembered for re-sending on reconnect.
    pub fn mirrored_topics(&self) -> usize {
        self.shared.lock().outbox.mirrored()
    }

    /// All counters at once.
    pub fn stats(&self) -> MqttStats {
        self.shared.stats()
    }

    /// Graceful stop: publishes `offline` (retained; a clean disconnect does not fire the
    /// last will), disconnects and waits up to `timeout` for the broker to take it.
    pub async fn shutdown(&self, timeout: std::time::Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        self.shared.set_stopping();
        if self.connected() {
            let _ = self.client.try_publish(
                self.shared.topics.status(),
                rumqttc::QoS::AtLeastOnce,
                true,
                "offline",
            );
            let _ = self.client.try_disconnect();
            while self.connected() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    }
}
