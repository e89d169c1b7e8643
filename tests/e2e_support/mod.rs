//! Shared harness of the end-to-end tests: a simulated fleet, fixture feed servers and the
//! real daemon started from an ordinary TOML config that points at them (as `hmm demo`
//! does), plus small helpers to read what a user would see.
//!
//! Each test gets its own data directory, web port (127.0.0.1:0) and NMMiner UDP port, so
//! the e2e tests run in parallel without sharing anything.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hmm::config::Config;
use hmm::daemon::Daemon;
use hmm::feeds::SystemClock;
use hmm::feeds::fixture_server::{FixtureServer, Route};
use hmm::model::{MinerKind, Sample};
use hmm::simulate::{FleetSpec, SimDevice, SimFleet, SimModel};

/// The bearer token every e2e config sets for HTTP control.
pub const TOKEN: &str = "e2e-secret-token";

/// A running daemon over a simulated fleet.
pub struct Harness {
    /// The real daemon.
    pub daemon: Arc<Daemon>,
    /// The simulated devices it polls.
    pub fleet: SimFleet,
    /// Octopus / CoinGecko / pool stats stand-ins (kept alive for the daemon's feeds).
    pub feeds: FixtureServer,
    /// The data directory (deleted when the harness is dropped).
    pub dir: tempfile::TempDir,
    /// Where NMMiner telemetry goes.
    pub nmminer_listen: SocketAddr,
    /// The config text the daemon was started from (without the miners).
    pub base_config: String,
}

/// Options of one harness.
pub struct Options {
    /// `[devices]` lines (timeout, cooldowns).
    pub devices: &'static str,
    /// Poll interval for `Daemon::run`.
    pub poll_interval: &'static str,
    /// How many of the simulated devices the first config lists (the rest can be added
    /// by a reload); `None` = all.
    pub configured: Option<usize>,
    /// Config text appended to the base config (before the miners): `[[pools]]`, `[cache]`.
    pub extra_config: &'static str,
    /// Fixture-server payloads set before the daemon starts (its feeds fetch at once).
    pub feed_bodies: &'static [(Route, &'static str)],
}

impl Default for Options {
    fn default() -> Options {
        Options {
            devices: "timeout = \"1s\"\nmode_cooldown = \"5m\"\nrestart_cooldown = \"5m\"",
            poll_interval: "10s",
            configured: None,
            extra_config: "",
            feed_bodies: &[],
        }
    }
}

/// A free loopback UDP port (bound then released).
pub fn free_udp_port() -> SocketAddr {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind a UDP port");
    socket.local_addr().expect("local address")
}

/// Starts the fleet of `models`, the fixture feeds and the daemon.
pub async fn start(models: &[SimModel], options: Options) -> Harness {
    let nmminer_listen = free_udp_port();
    let mut spec = FleetSpec::of_models(models.iter().copied(), 11);
    spec.nmminer_target = nmminer_listen;
    spec.nmminer_interval = Duration::from_millis(200);
    let fleet = SimFleet::start(spec).await.expect("simulated fleet starts");
    let feeds = FixtureServer::start(Arc::new(SystemClock)).expect("fixture server starts");
    for (route, body) in options.feed_bodies {
        feeds.set_body(*route, body);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let base_config = base_config(dir.path(), &feeds, nmminer_listen, &options);
    let listed = options.configured.unwrap_or(fleet.devices().len());
    let text = format!("{base_config}{}", miners_toml(&fleet.devices()[..listed]));
    let config = Config::from_str(&text, "<e2e>").unwrap_or_else(|e| panic!("config: {e}"));
    let daemon = Daemon::start(config, None).await.expect("daemon starts");
    Harness {
        daemon,
        fleet,
        feeds,
        dir,
        nmminer_listen,
        base_config,
    }
}

fn base_config(
    data_dir: &Path,
    feeds: &FixtureServer,
    nmminer_listen: SocketAddr,
    options: &Options,
) -> String {
    let base = feeds.base_url();
    format!(
        r#"data_dir = "{data_dir}"
poll_interval = "{poll}"
commit_interval = "30s"
instance_id = "hmm-e2e"

[devices]
{devices}
nmminer_listen = "{nmminer_listen}"
nmminer_offline_after = "30s"

[energy]
tariff = "agile"
region = "H"

[feeds]
octopus_url = "{base}"
coingecko_url = "{base}"
ckpool_url = "{base}"
solopool_url = "{base}/{{coin}}"
timeout = "2s"

[web]
bind = "127.0.0.1:0"
token = "{TOKEN}"
workers = 2

[mqtt]
enabled = false
{extra}"#,
        data_dir = data_dir.display(),
        poll = options.poll_interval,
        devices = options.devices,
        extra = options.extra_config,
    )
}

/// `[[miners]]` blocks for `devices`.
pub fn miners_toml(devices: &[SimDevice]) -> String {
    let mut text = String::new();
    for device in devices {
        text.push('\n');
        text.push_str(&device.miners_toml());
    }
    text
}

impl Harness {
    /// The simulated device of `model` (the first one).
    pub fn device(&self, model: SimModel) -> &SimDevice {
        self.fleet
            .devices()
            .iter()
            .find(|d| d.model == model)
            .unwrap_or_else(|| panic!("no simulated {model:?}"))
    }

    /// The store id the daemon gave miner `name`.
    pub fn id(&self, name: &str) -> u32 {
        self.daemon
            .fleet
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not in the daemon's fleet"))
            .id
    }

    /// The newest stored sample of `name`.
    pub fn latest(&self, name: &str) -> Sample {
        self.daemon
            .store
            .latest(self.id(name))
            .expect("store readable")
            .unwrap_or_else(|| panic!("no stored sample for {name}"))
    }

    /// The daemon's last error for `name`.
    pub fn last_error(&self, name: &str) -> Option<String> {
        self.daemon.fleet.get(name).unwrap().status.last_error
    }

    /// Runs poll cycles until every miner has an online sample (NMMiner datagrams arrive on
    /// their own clock), at most 10 s.
    pub async fn cycle_until_all_online(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let samples = self.daemon.collector.cycle().await;
            let configured = self.daemon.fleet.names().len();
            if samples.len() == configured && samples.iter().all(|s| s.online) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "not every miner came online within 10 s: {:?}",
                self.daemon
                    .fleet
                    .snapshot()
                    .iter()
                    .map(|m| (m.config.name.clone(), m.status.last_error.clone()))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the daemon and the fleet.
    pub async fn stop(self) {
        self.daemon.shutdown().await;
        self.fleet.shutdown().await;
    }
}

/// Names of the simulated devices of `kind`.
pub fn names_of(fleet: &SimFleet, kind: MinerKind) -> Vec<String> {
    fleet
        .devices()
        .iter()
        .filter(|d| d.kind == kind)
        .map(|d| d.name.clone())
        .collect()
}

/// Asserts `got` is within `tolerance` (fraction) of `want`.
pub fn assert_close(what: &str, got: Option<f64>, want: f64, tolerance: f64) {
    let got = got.unwrap_or_else(|| panic!("{what}: missing (None), expected ≈ {want}"));
    assert!(
        (got - want).abs() <= want.abs() * tolerance,
        "{what}: stored {got}, simulator says {want} (tolerance {:.1} %)",
        tolerance * 100.0
    );
}

/// A plain HTTP/1.1 request over a raw TCP stream; returns (status, body). Blocking: call
/// from `spawn_blocking`.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to the web server");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).expect("read the reply");
    let reply = String::from_utf8_lossy(&reply).to_string();
    let status: u16 = reply
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {reply:?}"));
    let body = reply
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}
