//! `hmm demo`: the whole product on one machine with no configuration — a simulated fleet
//! of every supported kind, fixture servers standing in for Octopus, CoinGecko, CKPool and
//! SoloPool, and the real daemon with a temporary data directory, its status page and
//! (with `--mqtt`) Home Assistant discovery.
//!
//! Nothing here is a mock of hmm itself: the demo writes an ordinary config file into its
//! data directory and runs the same daemon as `hmm run`, so what the demo shows is what a
//! user's fleet will show. Ctrl-C stops everything cleanly.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::config::Config;
use crate::daemon::{self, Daemon};
use crate::feeds::SystemClock;
use crate::feeds::fixture_server::{DEMO_ADDRESS, FixtureServer};
use crate::simulate::{FleetSpec, SimFleet};

/// What `hmm demo` was asked for.
#[derive(Debug, Clone, Default)]
pub struct DemoOptions {
    /// MQTT broker `host:port` for Home Assistant; none = MQTT off.
    pub mqtt: Option<String>,
    /// Web listen address; default 127.0.0.1:8080, or a free port when that is taken.
    pub web: Option<SocketAddr>,
    /// Simulated miners; default one of every model.
    pub miners: Option<usize>,
    /// Stop by itself after this long (for smoke tests); default: until Ctrl-C.
    pub run_for: Option<Duration>,
    /// Data directory; default a fresh temporary one.
    pub data_dir: Option<PathBuf>,
    /// Poll interval; default 5 s so the page fills quickly.
    pub poll_interval: Option<Duration>,
}

/// Runs the demo and returns the exit code.
pub fn run(options: DemoOptions) -> i32 {
    let runtime = match daemon::build_runtime() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("hmm demo: cannot start the async runtime: {err}");
            return 1;
        }
    };
    runtime.block_on(async move {
        match run_demo(options).await {
            Ok(()) => 0,
            Err(err) => {
                eprintln!("hmm demo: {err}");
                1
            }
        }
    })
}

async fn run_demo(options: DemoOptions) -> Result<(), String> {
    let data_dir = match &options.data_dir {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("hmm-demo-{}", std::process::id())),
    };
    std::fs::create_dir_all(&data_dir)
        .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    let nmminer_target = free_udp_port()?;
    let mut spec = match options.miners {
        Some(count) => FleetSpec::mixed(count, 7),
        None => FleetSpec::one_of_each(7),
    };
    spec.nmminer_target = nmminer_target;
    let fleet = SimFleet::start(spec)
        .await
        .map_err(|e| format!("simulated fleet: {e}"))?;
    let feeds = FixtureServer::start(Arc::new(SystemClock))?;
    let web = match options.web {
        Some(addr) => addr,
        None => default_web_addr(),
    };
    let text = demo_config(&data_dir, &fleet, &feeds, nmminer_target, web, &options);
    let config_path = data_dir.join("hmm-demo.toml");
    std::fs::write(&config_path, &text)
        .map_err(|e| format!("cannot write {}: {e}", config_path.display()))?;
    let config = Config::load(&config_path)
        .map_err(|errors| format!("the demo config is invalid:\n{errors}"))?;
    let daemon = Daemon::start(config, Some(config_path.clone())).await?;
    print_banner(
        &daemon,
        &fleet,
        &data_dir,
        &config_path,
        options.mqtt.as_deref(),
    );
    daemon::log_start_line(&daemon, Some(&config_path));

    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(daemon::signal_loop(Arc::clone(&daemon), stop_tx.clone()));
    if let Some(limit) = options.run_for {
        tokio::spawn(async move {
            tokio::time::sleep(limit).await;
            let _ = stop_tx.send(true);
        });
    }
    daemon.run(stop_rx).await;
    drop(feeds);
    fleet.shutdown().await;
    println!("hmm demo stopped; its data stays in {}", data_dir.display());
    Ok(())
}

/// The demo's config file: every simulated miner, the fixture feeds, pools of each stats
/// kind, the built-in rules in dry-run so the automation log fills without surprises.
fn demo_config(
    data_dir: &Path,
    fleet: &SimFleet,
    feeds: &FixtureServer,
    nmminer_target: SocketAddr,
    web: SocketAddr,
    options: &DemoOptions,
) -> String {
    let base = feeds.base_url();
    let poll = options.poll_interval.unwrap_or(Duration::from_secs(5));
    let mut text = format!(
        r#"# Written by `hmm demo`: an ordinary hmm config, pointing at simulated devices and
# local fixture servers. Copy it as a starting point for your own.
data_dir = "{data_dir}"
poll_interval = "{poll}"
commit_interval = "30s"
instance_id = "hmm-demo"

[devices]
timeout = "2s"
nmminer_listen = "{nmminer_target}"
mode_cooldown = "1m"
pool_cooldown = "2m"
restart_cooldown = "1m"

[energy]
tariff = "agile"
region = "H"

[feeds]
octopus_url = "{base}"
coingecko_url = "{base}"
ckpool_url = "{base}"
solopool_url = "{base}/{{coin}}"
coins = ["bitcoin", "bitcoin-cash", "digibyte"]
timeout = "2s"

[[pools]]
name = "ckpool"
url = "stratum+tcp://solo.ckpool.org:3333"
user = "{DEMO_ADDRESS}.demo"
stats = "ckpool"
account = "{DEMO_ADDRESS}"
coin = "btc"

[[pools]]
name = "home-ckpool"
url = "stratum+tcp://127.0.0.1:3333"
user = "{DEMO_ADDRESS}.demo"
stats = "ckpool-status"
stats_url = "{base}"
coin = "btc"

[[pools]]
name = "solopool-btc"
url = "stratum+tcp://eu3.solopool.org:8005"
user = "{DEMO_ADDRESS}.demo"
stats = "solopool"
account = "{DEMO_ADDRESS}"
coin = "btc"

[web]
bind = "{web}"

[automation]
dry_run = true

[automation.rules."agile-bands"]
enabled = true

[automation.rules."overheat"]
enabled = true

[automation.rules."offline-alert"]
enabled = true
"#,
        data_dir = data_dir.display(),
        poll = humantime::format_duration(poll),
    );
    if let Some(mqtt) = &options.mqtt {
        let (host, port) = mqtt.rsplit_once(':').unwrap_or((mqtt.as_str(), "1883"));
        text.push_str(&format!(
            "\n[mqtt]\nenabled = true\nhost = \"{host}\"\nport = {port}\nclient_id = \"hmm-demo\"\n"
        ));
    }
    for device in fleet.devices() {
        text.push('\n');
        text.push_str(&device.miners_toml());
        if device.kind == crate::model::MinerKind::Nmminer {
            text.push_str("manual_power_w = 4.5\n");
        }
    }
    text
}

fn print_banner(
    daemon: &Daemon,
    fleet: &SimFleet,
    data_dir: &Path,
    config: &Path,
    mqtt: Option<&str>,
) {
    println!("hmm demo: {} simulated miners", fleet.devices().len());
    for device in fleet.devices() {
        println!(
            "  {:<22} {:<8} {}",
            device.name,
            device.kind.as_str(),
            device.addr
        );
    }
    match daemon.web_addr() {
        Some(addr) => println!("\nstatus page: http://{addr}/   (JSON: http://{addr}/api/miners)"),
        None => println!("\nweb is off"),
    }
    if let Some(mqtt) = mqtt {
        println!("MQTT: publishing to {mqtt} with Home Assistant discovery");
    }
    println!("config: {}", config.display());
    println!(
        "data:   {}   (try: hmm status --data-dir {})",
        data_dir.display(),
        data_dir.display()
    );
    println!("Ctrl-C stops the demo.\n");
}

fn default_web_addr() -> SocketAddr {
    let preferred: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 8080));
    match std::net::TcpListener::bind(preferred) {
        Ok(_) => preferred,
        Err(_) => SocketAddr::from(([127, 0, 0, 1], 0)),
    }
}

fn free_udp_port() -> Result<SocketAddr, String> {
    let socket =
        std::net::UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("no free UDP port: {e}"))?;
    socket.local_addr().map_err(|e| e.to_string())
}
