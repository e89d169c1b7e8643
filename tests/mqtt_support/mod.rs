//! Shared helpers of the MQTT integration tests: a broker per test (in-process rumqttd on
//! its own port, or the broker named by `HMM_TEST_MQTT=host:port`, e.g. Mosquitto in CI),
//! an observing client, a TCP proxy the tests cut and restore to simulate outages, and
//! unique topic roots so parallel tests never see each other's messages.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmm::model::{MinerKind, Mode};
use hmm::mqtt::{BridgeIdentity, CommandReceiver, MinerInfo, MqttBridge, MqttHandle, MqttSettings};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The broker of one test: `HMM_TEST_MQTT` if set, else a fresh in-process rumqttd.
pub fn broker() -> SocketAddr {
    if let Ok(addr) = std::env::var("HMM_TEST_MQTT") {
        return addr
            .parse()
            .expect("HMM_TEST_MQTT must be host:port, e.g. 127.0.0.1:1883");
    }
    start_rumqttd()
}

fn start_rumqttd() -> SocketAddr {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let server = rumqttd::ServerSettings {
        name: "v4-test".into(),
        listen,
        tls: None,
        next_connection_delay_ms: 1,
        connections: rumqttd::ConnectionSettings {
            connection_timeout_ms: 60_000,
            max_payload_size: 256 * 1024,
            max_inflight_count: 500,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        },
    };
    let config = rumqttd::Config {
        id: 0,
        router: rumqttd::RouterConfig {
            max_connections: 64,
            max_outgoing_packet_count: 1000,
            max_segment_size: 10 * 1024 * 1024,
            max_segment_count: 10,
            ..Default::default()
        },
        v4: Some(std::collections::HashMap::from([("1".to_string(), server)])),
        ..Default::default()
    };
    let mut broker = rumqttd::Broker::new(config);
    std::thread::spawn(move || broker.start().unwrap());
    for _ in 0..500 {
        if std::net::TcpStream::connect(listen).is_ok() {
            return listen;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("rumqttd did not start on {listen}");
}

/// A unique name for this test's topics and ids.
pub fn unique(test: &str) -> String {
    format!("{test}{:08x}", fastrand::u32(..))
}

/// Settings for a bridge on `addr` with base topic `<root>` and prefix `<root>_ha`.
pub fn settings(addr: SocketAddr, root: &str) -> MqttSettings {
    MqttSettings {
        enabled: true,
        host: addr.ip().to_string(),
        port: addr.port(),
        client_id: format!("{root}-bridge"),
        base_topic: format!("t/{root}"),
        discovery_prefix: format!("{root}_ha"),
        keep_alive: Duration::from_secs(5),
        ..MqttSettings::default()
    }
}

/// Starts a bridge with instance id `<root>` (the discovery node id).
pub fn start_bridge(addr: SocketAddr, root: &str) -> (MqttHandle, CommandReceiver) {
    let identity = BridgeIdentity {
        instance_id: root.to_string(),
        version: "9.9.9".into(),
    };
    MqttBridge::start(&settings(addr, root), identity).expect("bridge starts")
}

/// Waits until the bridge is connected and its outbox is empty.
pub async fn settled(handle: &MqttHandle) {
    for _ in 0..1000 {
        if handle.connected() && handle.queue_len() == 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if handle.queue_len() == 0 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("bridge did not settle: {:?}", handle.stats());
}

/// A typical AxeOS miner with two modes and two pools.
pub fn axeos(name: &str) -> MinerInfo {
    MinerInfo {
        name: name.into(),
        kind: Some(MinerKind::Axeos),
        model: Some("Bitaxe Gamma".into()),
        firmware: Some("v2.4.0".into()),
        config_url: Some("http://192.168.1.50/".into()),
        modes: vec![Mode::Eco, Mode::Standard, Mode::Turbo],
        pools: vec!["ckpool".into(), "public-pool".into()],
        reported: None,
        can_restart: true,
        can_pause: true,
    }
}

/// An NMMiner as the daemon announces it after a poll: no mode, restart or pause over its
/// UDP protocol, no web page, and no fan, VR temperature, frequency or core voltage.
pub fn nmminer(name: &str) -> MinerInfo {
    MinerInfo {
        name: name.into(),
        kind: Some(MinerKind::Nmminer),
        reported: Some(vec![
            "best_diff",
            "efficiency_j_th",
            "power_w",
            "shares_accepted",
            "shares_rejected",
            "temp_c",
            "uptime_s",
        ]),
        ..MinerInfo::default()
    }
}

/// One message an observer received.
#[derive(Debug, Clone)]
pub struct Msg {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}

impl Msg {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload)
            .unwrap_or_else(|e| panic!("{} is not JSON ({e}): {}", self.topic, self.text()))
    }
}

/// A plain MQTT client that subscribes to filters and records what arrives.
pub struct Observer {
    pub client: AsyncClient,
    rx: mpsc::UnboundedReceiver<Msg>,
    task: JoinHandle<()>,
}

impl Observer {
    /// Connects to `addr` and subscribes to `filters` (again after any reconnect); returns
    /// once the subscription is acknowledged.
    pub async fn connect(addr: SocketAddr, filters: &[String]) -> Observer {
        let mut options = MqttOptions::new(unique("obs"), addr.ip().to_string(), addr.port());
        options
            .set_keep_alive(Duration::from_secs(5))
            .set_max_packet_size(512 * 1024, 512 * 1024);
        let (client, mut eventloop) = AsyncClient::new(options, 1000);
        let (tx, rx) = mpsc::unbounded_channel();
        let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
        let subscriber = client.clone();
        let count = filters.len();
        let filters: Vec<String> = filters.to_vec();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        for filter in &filters {
                            subscriber
                                .try_subscribe(filter.clone(), QoS::AtLeastOnce)
                                .unwrap();
                        }
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        let _ = ready_tx.send(());
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let _ = tx.send(Msg {
                            topic: p.topic,
                            payload: p.payload.to_vec(),
                            retain: p.retain,
                        });
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        });
        for _ in 0..count {
            tokio::time::timeout(Duration::from_secs(10), ready_rx.recv())
                .await
                .expect("observer subscribed");
        }
        Observer { client, rx, task }
    }

    /// The next message matching `pred` within `timeout`; others are skipped.
    pub async fn wait_for(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&Msg) -> bool,
    ) -> Option<Msg> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(msg)) if pred(&msg) => return Some(msg),
                Ok(Some(_)) => continue,
                _ => return None,
            }
        }
    }

    /// Everything that arrives within `window`.
    pub async fn collect(&mut self, window: Duration) -> Vec<Msg> {
        let deadline = tokio::time::Instant::now() + window;
        let mut all = Vec::new();
        while let Ok(Some(msg)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            all.push(msg);
        }
        all
    }

    /// Publishes a message as another client would (e.g. Home Assistant).
    pub async fn publish(&self, topic: &str, payload: &str, retain: bool) {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload.as_bytes().to_vec())
            .await
            .unwrap();
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A TCP proxy in front of the broker that a test can cut (close every connection and
/// refuse new ones) and restore, to simulate a broker outage.
pub struct Proxy {
    pub addr: SocketAddr,
    upstream: SocketAddr,
    accept: Option<JoinHandle<()>>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0)));
        let addr = listener.local_addr().unwrap();
        let mut proxy = Proxy {
            addr,
            upstream,
            accept: None,
            connections: Arc::default(),
        };
        proxy.accept = Some(proxy.spawn_accept(listener));
        proxy
    }

    fn spawn_accept(&self, listener: TcpListener) -> JoinHandle<()> {
        let upstream = self.upstream;
        let connections = Arc::clone(&self.connections);
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let pipe = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                connections.lock().unwrap().push(pipe);
            }
        })
    }

    /// Drops every proxied connection and stops listening: connects are refused.
    pub fn cut(&mut self) {
        if let Some(accept) = self.accept.take() {
            accept.abort();
        }
        for pipe in self.connections.lock().unwrap().drain(..) {
            pipe.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn restore(&mut self) {
        // The aborted accept task drops its listener asynchronously; retry the bind.
        for _ in 0..100 {
            if let Ok(listener) = try_bind(self.addr) {
                self.accept = Some(self.spawn_accept(listener));
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("could not re-listen on {}", self.addr);
    }
}

fn try_bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(64)
}

fn bind(addr: SocketAddr) -> TcpListener {
    try_bind(addr).unwrap()
}
