//! The two tasks that talk to the broker through rumqttc.
//!
//! - The *event loop task* owns rumqttc's `EventLoop` and polls it all the time (nothing is
//!   sent, acknowledged or pinged otherwise). rumqttc has no reconnect delay, so after an
//!   error the task sleeps with exponential back-off (1 s doubling to 30 s, reset on
//!   ConnAck): no busy loop and no log flood while the broker is down. It never awaits a
//!   publish (that deadlocks rumqttc); incoming messages are handled without blocking.
//! - The *writer task* moves messages from the outbox into rumqttc's bounded request
//!   channel with `try_publish`; when the channel is full it puts the message back and
//!   waits 20 ms. While disconnected it sleeps until the next ConnAck, so the outbox (one
//!   payload per topic) is the only queue that grows during an outage, and it is bounded.
//!
//! Sessions are clean: on every ConnAck the bridge re-subscribes, publishes `online`
//! (retained; the last will is `offline`, retained), re-announces discovery and re-sends
//! the newest retained states.

use std::sync::Arc;
use std::time::Duration;

use log::{debug, info, warn};
use rumqttc::{
    AsyncClient, ClientError, ConnectReturnCode, ConnectionError, Event, EventLoop, LastWill,
    MqttOptions, Outgoing, Packet, QoS,
};

use super::publisher::{Next, Shared};
use super::settings::MqttSettings;

/// Largest packet in either direction: discovery configs are 1–2 KB each and widget
/// results can be larger than rumqttc's 10 KiB default.
pub(crate) const MAX_PACKET_BYTES: usize = 256 * 1024;

/// Capacity of rumqttc's request channel (between the writer and the event loop).
pub(crate) const REQUEST_CHANNEL: usize = 64;

/// Reconnect delays.
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// rumqttc options from the settings: credentials, keep-alive, last will, packet sizes.
pub(crate) fn options(settings: &MqttSettings, status_topic: &str) -> MqttOptions {
    let mut options = MqttOptions::new(
        settings.client_id.clone(),
        settings.host.clone(),
        settings.port,
    );
    options
        .set_keep_alive(settings.keep_alive)
        .set_clean_session(true)
        .set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES)
        .set_last_will(LastWill::new(
            status_topic,
            "offline",
            QoS::AtLeastOnce,
            true,
        ))
        .set_inflight(100);
    if !settings.username.is_empty() {
        options.set_credentials(settings.username.clone(), settings.password.clone());
    }
    options
}

/// Exponential reconnect delay.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    pub(crate) fn new() -> Backoff {
        Backoff {
            next: BACKOFF_FIRST,
        }
    }

    /// The delay to wait now; doubles the following one up to the maximum.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        delay
    }

    /// Back to the first delay (after a successful connect).
    pub(crate) fn reset(&mut self) {
        self.next = BACKOFF_FIRST;
    }
}

/// Explains a connection error in terms of what the user can do.
fn explain(error: &ConnectionError, broker: &str) -> String {
    match error {
        ConnectionError::ConnectionRefused(
            ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized,
        ) => {
            format!("broker {broker} refused the login: check mqtt.username and mqtt.password")
        }
        ConnectionError::ConnectionRefused(ConnectReturnCode::BadClientId) => {
            format!("broker {broker} refused client id: set another mqtt.client_id")
        }
        ConnectionError::Io(io) => format!(
            "cannot reach broker {broker}: {io} (check mqtt.host / mqtt.port and that the broker runs)"
        ),
        other => format!("connection to broker {broker} failed: {other}"),
    }
}

/// Polls the event loop until the bridge stops.
pub(crate) async fn run_event_loop(shared: Arc<Shared>, mut eventloop: EventLoop, broker: String) {
    let mut backoff = Backoff::new();
    let mut failures = 0u32;
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                info!("mqtt: connected to {broker}");
                backoff.reset();
                failures = 0;
                shared.on_connack();
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                handle_incoming(&shared, &publish.topic, &publish.payload, publish.retain);
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                shared.on_disconnect();
                if shared.stopping() {
                    info!("mqtt: disconnected from {broker}");
                    return;
                }
            }
            Ok(_) => {}
            Err(error) => {
                shared.on_disconnect();
                if shared.stopping() {
                    return;
                }
                let delay = backoff.next_delay();
                failures += 1;
                if failures == 1 {
                    warn!(
                        "mqtt: {}; retrying with back-off up to {}s",
                        explain(&error, &broker),
                        BACKOFF_MAX.as_secs()
                    );
                } else {
                    debug!(
                        "mqtt: attempt {failures}: {}; next in {delay:?}",
                        explain(&error, &broker)
                    );
                }
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// Dispatches one incoming publish without blocking the event loop.
fn handle_incoming(shared: &Arc<Shared>, topic: &str, payload: &[u8], retained: bool) {
    if topic == shared.topics.ha_status() {
        if payload.eq_ignore_ascii_case(b"online") {
            shared.on_ha_birth();
        }
    } else if shared.topics.discovery_object_id(topic).is_some() {
        // Live copies of our own announces arrive with retain=false; only the broker's
        // retained store (answering the subscription) tells us what earlier runs left.
        if retained && !payload.is_empty() {
            shared.on_retained_config(topic);
        }
    } else {
        shared.on_command(topic, payload, retained);
    }
}

/// Moves messages from the outbox into the client until the bridge stops.
pub(crate) async fn run_writer(shared: Arc<Shared>, client: AsyncClient) {
    loop {
        if shared.stopping() {
            return;
        }
        let Some(next) = shared.next() else {
            shared.wake.notified().await;
            continue;
        };
        let result = match &next {
            Next::Subscribe(filters) => client.try_subscribe_many(
                filters
                    .iter()
                    .map(|filter| rumqttc::SubscribeFilter::new(filter.clone(), QoS::AtLeastOnce)),
            ),
            Next::Topic(message) => client.try_publish(
                message.topic.as_str(),
                QoS::AtLeastOnce,
                message.retain,
                message.payload.clone(),
            ),
            Next::Event(payload) => client.try_publish(
                shared.topics.event(),
                QoS::AtLeastOnce,
                false,
                payload.clone(),
            ),
        };
        match result {
            Ok(()) => {
                if !matches!(next, Next::Subscribe(_)) {
                    shared.count_published();
                }
            }
            Err(ClientError::TryRequest(_)) | Err(ClientError::Request(_)) => {
                shared.give_back(next);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_thirty_seconds_and_resets() {
        let mut backoff = Backoff::new();
        let delays: Vec<u64> = (0..7).map(|_| backoff.next_delay().as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30]);
        backoff.reset();
        assert_eq!(backoff.next_delay(), Duration::from_secs(1));
    }

    #[test]
    fn options_carry_will_credentials_and_packet_size() {
        let settings = MqttSettings {
            username: "u".into(),
            password: "p".into(),
            ..MqttSettings::default()
        };
        let options = options(&settings, "hmm/status");
        let will = options.last_will().unwrap();
        assert_eq!(will.topic, "hmm/status");
        assert_eq!(&will.message[..], b"offline");
        assert!(will.retain);
        assert_eq!(options.max_packet_size(), MAX_PACKET_BYTES);
        assert_eq!(options.keep_alive(), Duration::from_secs(30));
        assert_eq!(
            options.credentials().map(|login| login.username),
            Some("u".to_string())
        );
    }
}
