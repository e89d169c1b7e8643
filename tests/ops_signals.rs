//! Operability of the built binary, as a service manager drives it: `hmm run --config`
//! against simulated miners and local fixture feeds, stopped with SIGTERM (systemd, procd)
//! and SIGINT (Ctrl-C), reloaded with SIGHUP (`systemctl reload`, `/etc/init.d/hmm reload`).
//!
//! Signals are sent with the `kill` command, as an operator would, so the test needs no
//! libc bindings. Under qemu (`scripts/qemu-tests.sh`) the signal goes to the emulator
//! process, which delivers it to hmm. Each test has its own simulated fleet, data directory and web port.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hmm::feeds::SystemClock;
use hmm::feeds::fixture_server::FixtureServer;
use hmm::simulate::{FleetSpec, SimFleet, SimModel};
use serde_json::Value;

mod exec_support;
use exec_support::hmm_command;

const POLL_MS: u64 = 1000;
/// Device timeout in the test config; a cycle cut short by a stop takes at most this long.
const DEVICE_TIMEOUT_MS: u64 = 500;
/// Generous: the suite also runs under qemu user emulation in CI.
const STARTUP: Duration = Duration::from_secs(30);

/// A simulated fleet, fixture feeds and a data directory; `hmm run` is started on them.
struct Site {
    runtime: tokio::runtime::Runtime,
    fleet: Option<SimFleet>,
    feeds: FixtureServer,
    dir: tempfile::TempDir,
    web: SocketAddr,
}

impl Site {
    /// Two AxeOS devices and one Avalon on loopback.
    fn new() -> Site {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let spec = FleetSpec::of_models(
            [
                SimModel::BitaxeGammaV2_15,
                SimModel::AvalonNano3,
                SimModel::NerdQaxePlusPlus,
            ],
            3,
        );
        let fleet = runtime
            .block_on(SimFleet::start(spec))
            .expect("simulated fleet");
        let feeds = FixtureServer::start(Arc::new(SystemClock)).expect("fixture feeds");
        Site {
            runtime,
            fleet: Some(fleet),
            feeds,
            dir: tempfile::tempdir().expect("tempdir"),
            web: free_addr(),
        }
    }

    fn names(&self) -> Vec<String> {
        self.fleet()
            .devices()
            .iter()
            .map(|d| d.name.clone())
            .collect()
    }

    fn fleet(&self) -> &SimFleet {
        self.fleet.as_ref().expect("fleet running")
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("hmm.toml")
    }

    /// A complete config polling the first `miners` simulated devices every second, with
    /// the web on and the feeds pointing at the fixture server. Commits only every 30 s,
    /// so samples of a short run reach the disk only through the shutdown commit.
    fn config_text(&self, miners: usize) -> String {
        let base = self.feeds.base_url();
        let mut text = format!(
            r#"data_dir = "{data}"
poll_interval = "{POLL_MS}ms"
commit_interval = "30s"
instance_id = "ops-test"

[devices]
timeout = "{DEVICE_TIMEOUT_MS}ms"

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
bind = "{web}"
"#,
            data = self.data_dir().display(),
            web = self.web,
        );
        for device in self.fleet().devices().iter().take(miners) {
            text.push('\n');
            text.push_str(&device.miners_toml());
        }
        text
    }

    fn write_config(&self, text: &str) {
        std::fs::write(self.config_path(), text).expect("write config");
    }

    /// Starts `hmm run --config` with its log going to a file.
    fn start(&self, miners: usize) -> Daemon {
        self.write_config(&self.config_text(miners));
        let log_path = self.dir.path().join("hmm.log");
        let log = std::fs::File::create(&log_path).expect("log file");
        let child = hmm_command()
            .args(["run", "--config"])
            .arg(self.config_path())
            .env("HMM_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn hmm run");
        Daemon {
            child,
            log_path,
            web: self.web,
        }
    }

    /// `hmm status --json --data-dir DIR`, as another process reads the store.
    fn status_json(&self) -> Vec<Value> {
        let out = hmm_command()
            .args(["status", "--json", "--data-dir"])
            .arg(self.data_dir())
            .output()
            .expect("run hmm status");
        assert!(
            out.status.success(),
            "hmm status failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout)
            .expect("status JSON")
            .as_array()
            .expect("status rows")
            .clone()
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        if let Some(fleet) = self.fleet.take() {
            self.runtime.block_on(fleet.shutdown());
        }
    }
}

/// A running `hmm run` process. Killed (SIGKILL) if a test fails before stopping it.
struct Daemon {
    child: Child,
    log_path: PathBuf,
    web: SocketAddr,
}

impl Daemon {
    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// `GET /api/miners` → the miners array, or `None` while the server is not up.
    fn api_miners(&self) -> Option<Vec<Value>> {
        let body = http_get(self.web, "/api/miners")?;
        let value: Value = serde_json::from_str(&body).ok()?;
        value["miners"].as_array().cloned()
    }

    /// Waits until every name is listed and has a sample; returns each one's latest
    /// sample time (UTC ms) as the daemon shows it.
    fn wait_polled(&mut self, names: &[String], limit: Duration) -> Vec<u64> {
        let deadline = Instant::now() + limit;
        loop {
            assert!(self.is_running(), "hmm exited early; log:\n{}", self.log());
            if let Some(miners) = self.api_miners() {
                let times: Vec<Option<u64>> = names
                    .iter()
                    .map(|name| {
                        miners
                            .iter()
                            .find(|m| m["name"] == name.as_str())
                            .and_then(|m| m["latest"]["ts_ms"].as_u64())
                    })
                    .collect();
                if times.iter().all(Option::is_some) {
                    return times.into_iter().flatten().collect();
                }
            }
            assert!(
                Instant::now() < deadline,
                "{names:?} not polled within {limit:?}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits for the process to exit; `None` when it is still running after `limit`.
    fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn wait_log(&mut self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "log never said {needle:?}; log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.is_running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
}

/// A minimal HTTP/1.0 GET (the server closes the connection after the answer).
fn http_get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).ok()?;
    let (head, body) = reply.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200")
        .then(|| body.to_string())
        .or_else(|| head.starts_with("HTTP/1.0 200").then(|| body.to_string()))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

/// Stops a daemon with `signal` and checks what a service manager relies on: exit code 0
/// within 5 s, and every sample the daemon showed before the stop durably in the store,
/// the newest no older than one poll interval (plus one device timeout for a cycle the
/// stop cut short) before the stop.
fn stops_cleanly_on(signal: &str) {
    let site = Site::new();
    let names = site.names();
    let mut daemon = site.start(names.len());
    daemon.wait_polled(&names, STARTUP);
    // Let a few more cycles run so the stop lands at an arbitrary point of a cycle.
    std::thread::sleep(Duration::from_millis(2500));
    let shown = daemon.wait_polled(&names, STARTUP);
    let stop_ms = now_ms();
    daemon.signal(signal);
    let status = daemon
        .wait_exit(Duration::from_secs(5))
        .unwrap_or_else(|| panic!("hmm still running 5 s after SIG{signal}"));
    let log = daemon.log();
    assert!(
        status.success(),
        "exit status {status} after SIG{signal}; log:\n{log}"
    );
    assert!(
        log.contains("store committed"),
        "no final commit in log:\n{log}"
    );

    let rows = site.status_json();
    for (name, shown_ms) in names.iter().zip(shown) {
        let row = rows
            .iter()
            .find(|r| r["name"] == name.as_str())
            .unwrap_or_else(|| panic!("{name} missing from hmm status: {rows:?}"));
        assert_eq!(row["online"], true, "{name}: {row}");
        let last = row["last_seen_ms"].as_u64().expect("last_seen_ms");
        assert!(
            last >= shown_ms,
            "{name}: store has {last}, daemon showed {shown_ms} before SIG{signal}"
        );
        assert!(
            last + POLL_MS + DEVICE_TIMEOUT_MS >= stop_ms,
            "{name}: newest stored sample {last} is more than a poll interval before the stop at {stop_ms}"
        );
    }
}

#[test]
fn sigterm_stops_within_5s_with_the_last_cycle_committed() {
    stops_cleanly_on("TERM");
}

#[test]
fn sigint_stops_within_5s_with_the_last_cycle_committed() {
    stops_cleanly_on("INT");
}

#[test]
fn sighup_reload_adds_a_miner() {
    let site = Site::new();
    let names = site.names();
    let mut daemon = site.start(2);
    daemon.wait_polled(&names[..2], STARTUP);
    let listed = daemon.api_miners().expect("api");
    assert!(
        !listed.iter().any(|m| m["name"] == names[2].as_str()),
        "{} listed before it was configured",
        names[2]
    );

    site.write_config(&site.config_text(3));
    daemon.signal("HUP");
    daemon.wait_log("config reloaded", STARTUP);
    // The new miner is listed and polled; the old ones keep their history.
    daemon.wait_polled(&names, STARTUP);
    assert!(daemon.is_running());
    daemon.signal("TERM");
    let status = daemon.wait_exit(Duration::from_secs(5)).expect("stopped");
    assert!(status.success(), "{status}; log:\n{}", daemon.log());
}

#[test]
fn sighup_with_a_broken_config_is_refused_and_the_old_config_keeps_running() {
    let site = Site::new();
    let names = site.names();
    let mut daemon = site.start(2);
    let before = daemon.wait_polled(&names[..2], STARTUP);

    // The third miner added, but with a typo in a key: the whole file is refused.
    let broken = site.config_text(3).replace("poll_interval", "pol_interval");
    site.write_config(&broken);
    daemon.signal("HUP");
    let log = daemon.wait_log("config reload refused", STARTUP);
    assert!(
        log.contains("pol_interval"),
        "the refusal should name the bad key; log:\n{log}"
    );
    assert!(!log.contains("config reloaded"), "log:\n{log}");

    // Still running the old config: the same two miners, still being polled.
    std::thread::sleep(Duration::from_millis(2 * POLL_MS));
    let after = daemon.wait_polled(&names[..2], STARTUP);
    for (b, a) in before.iter().zip(&after) {
        assert!(
            a > b,
            "polling stopped after the refused reload: {before:?} → {after:?}"
        );
    }
    let miners = daemon.api_miners().expect("api");
    assert_eq!(miners.len(), 2, "{miners:?}");
    daemon.signal("TERM");
    let status = daemon.wait_exit(Duration::from_secs(5)).expect("stopped");
    assert!(status.success(), "{status}; log:\n{}", daemon.log());
}

#[test]
fn version_names_version_commit_and_target() {
    let out = hmm_command().arg("--version").output().expect("hmm");
    assert!(out.status.success());
    let line = String::from_utf8(out.stdout).expect("utf-8");
    let line = line.trim_end();
    let rest = line
        .strip_prefix(&format!("hmm {} (", env!("CARGO_PKG_VERSION")))
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("unexpected version line {line:?}"));
    let (commit, target) = rest.split_once(' ').expect("commit and target");
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "commit {commit:?}"
    );
    // The target triple the binary was built for: this test is built for the same one.
    assert!(
        target.starts_with(&format!("{}-", std::env::consts::ARCH))
            && target.contains(std::env::consts::OS),
        "target {target:?} is not {}-*-{}",
        std::env::consts::ARCH,
        std::env::consts::OS
    );
}

#[test]
fn every_command_answers_help_with_its_usage() {
    for command in [
        "demo",
        "run",
        "status",
        "check-config",
        "detect",
        "widget",
        "rule",
        "simulate",
        "bench",
    ] {
        let out = hmm_command()
            .args([command, "--help"])
            .output()
            .expect("hmm");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "hmm {command} --help failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains(&format!("hmm {command}")),
            "hmm {command} --help printed {text:?}"
        );
    }
    // `-h` after other flags works too, and an unknown command is still an error.
    let out = hmm_command()
        .args(["bench", "--json", "-h"])
        .output()
        .expect("hmm");
    assert!(String::from_utf8_lossy(&out.stdout).contains("--days D"));
    // Less than the one day the range row reads is refused up front, not a panic.
    let out = hmm_command()
        .args(["bench", "--days", "0.5"])
        .output()
        .expect("hmm");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--days must be between 1"));
    let out = hmm_command()
        .args(["frobnicate", "--help"])
        .output()
        .expect("hmm");
    assert_eq!(out.status.code(), Some(2));
}
