//! The daemon: wires the modules together and runs them until asked to stop.
//!
//! One tokio runtime carries the collector timer, the MQTT client and command loop, and
//! the signal handlers; redb commits, rhai evaluation and the web's worker threads run off
//! it (blocking pool or their own threads), so a slow script or a large commit never
//! delays a poll. Data flows one way (DESIGN.md): collector → store and fleet → scripts →
//! MQTT and web; control requests from any side go through the one [`Controller`].
//!
//! Shutdown (SIGINT, SIGTERM, Ctrl-C in the demo): the web stops accepting, the store
//! commits what waits in memory, MQTT publishes `offline` and disconnects — well inside
//! 5 s. SIGHUP reloads the config: miners added or removed, pools and thresholds changed,
//! without losing state; a bad new config is refused with its reasons and the old one
//! keeps running.

pub mod backend;
pub mod publish;
pub mod scripts;
pub mod settings;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::watch;

use crate::collector::Collector;
use crate::config::Config;
use crate::control::{ControlAction, ControlRequest, Controller};
use crate::devices::nmminer::NmminerListener;
use crate::difficulty::NetworkDifficulties;
use crate::feeds::{FeedHub, SystemClock};
use crate::fleet::{Fleet, MinerEntry};
use crate::model::{Actor, MinerKind, MinerStatus};
use crate::mqtt::{Action, BridgeIdentity, CommandReceiver, CommandResult, MqttBridge, MqttHandle};
use crate::store::Store;
use crate::units::now_ms;
use crate::web::WebServer;

/// Everything a running daemon holds. Shared as `Arc<Daemon>` by its tasks, the web
/// backend and the demo.
pub struct Daemon {
    config: scripts::SharedConfig,
    config_path: Option<PathBuf>,
    /// The telemetry store.
    pub store: Arc<Store>,
    /// The fleet as last polled.
    pub fleet: Arc<Fleet>,
    /// The poller.
    pub collector: Arc<Collector>,
    /// The one control API.
    pub controller: Arc<Controller>,
    /// Prices, coin prices and pool stats, served from memory.
    pub feeds: Arc<FeedHub>,
    /// The MQTT bridge, when `[mqtt] enabled`.
    pub mqtt: Option<MqttHandle>,
    /// Widgets and automation rules.
    pub scripts: Arc<scripts::Scripts>,
    commands: Mutex<Option<CommandReceiver>>,
    web: Mutex<Option<WebServer>>,
    runtime: tokio::runtime::Handle,
    started_ms: u64,
    statuses_written: Mutex<Vec<(u32, MinerStatus)>>,
    mqtt_announced: Mutex<Vec<crate::mqtt::MinerInfo>>,
    mqtt_widgets: Mutex<Vec<crate::mqtt::WidgetSensor>>,
}

impl Daemon {
    /// Opens the store, binds the listeners and starts feeds, MQTT and the web server.
    /// Must be called on the tokio runtime. `config_path` is remembered for SIGHUP.
    pub async fn start(
        config: Config,
        config_path: Option<PathBuf>,
    ) -> Result<Arc<Daemon>, String> {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            format!(
                "cannot create data_dir {}: {e}; create it or point data_dir at a writable directory",
                config.data_dir.display()
            )
        })?;
        let store_path = config.data_dir.join("hmm.redb");
        let options = settings::store_options(&config);
        let store = tokio::task::spawn_blocking(move || Store::open(&store_path, options))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let store = Arc::new(store);
        let fleet = Arc::new(Fleet::new(build_entries(&store, &config)?));
        let nmminer = start_nmminer(&config).await?;
        let difficulties = Arc::new(NetworkDifficulties::new());
        let collector = Arc::new(Collector::new(
            Arc::clone(&fleet),
            Arc::clone(&store),
            Arc::clone(&difficulties),
            settings::device_limits(&config),
            nmminer.clone(),
            config.devices.nmminer_offline_after,
            config.poll_interval,
        ));
        let controller = Arc::new(Controller::new(
            Arc::clone(&fleet),
            Arc::clone(&store),
            config.pools.clone(),
            settings::device_limits(&config),
            settings::cooldowns(&config),
        ));
        let price_store: Arc<dyn crate::feeds::PriceStore> = store.clone();
        let feeds = FeedHub::new(
            settings::feed_settings(&config),
            Arc::new(SystemClock),
            price_store,
        )?;
        feeds.start()?;
        let (mqtt, commands) = start_mqtt(&config)?;
        let feeds = Arc::new(feeds);
        let shared_config: scripts::SharedConfig = Arc::new(RwLock::new(Arc::new(config)));
        let config = Arc::clone(&shared_config.read().unwrap_or_else(|e| e.into_inner()));
        let data = Arc::new(scripts::DaemonData::new(
            Arc::clone(&shared_config),
            Arc::clone(&store),
            Arc::clone(&fleet),
            Arc::clone(&feeds),
            Arc::clone(&controller),
            difficulties,
        ));
        let scripts = Arc::new(scripts::Scripts::load(
            &config,
            data,
            Arc::clone(&controller),
            Arc::clone(&store),
            mqtt.clone(),
        ));
        let daemon = Arc::new(Daemon {
            config: shared_config,
            config_path,
            store,
            fleet,
            collector,
            controller,
            feeds,
            mqtt,
            scripts,
            commands: Mutex::new(commands),
            web: Mutex::new(None),
            runtime: tokio::runtime::Handle::current(),
            started_ms: now_ms(),
            statuses_written: Mutex::new(Vec::new()),
            mqtt_announced: Mutex::new(Vec::new()),
            mqtt_widgets: Mutex::new(Vec::new()),
        });
        daemon.start_web()?;
        daemon.write_marker();
        Ok(daemon)
    }

    /// Writes `<data_dir>/daemon.json` (pid, web address, start time) so `hmm status` can
    /// find the running daemon and show what only it knows (feed caches, script errors).
    fn write_marker(&self) {
        let config = self.config();
        let marker = serde_json::json!({
            "pid": std::process::id(),
            "web": self.web_addr().map(|addr| format!("http://{}/", local_url_addr(addr))),
            "started_ms": self.started_ms,
        });
        let path = config.data_dir.join(MARKER_FILE);
        if let Err(err) = std::fs::write(&path, marker.to_string()) {
            log::warn!(
                "cannot write {}: {err} (hmm status will not find this daemon)",
                path.display()
            );
        }
    }

    /// The current configuration.
    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.config.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Where the web server listens, when it runs.
    pub fn web_addr(&self) -> Option<SocketAddr> {
        self.web
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|w| w.local_addr())
    }

    /// The runtime the daemon's tasks run on (for callers on plain threads).
    pub fn runtime(&self) -> &tokio::runtime::Handle {
        &self.runtime
    }

    /// When the daemon started, UTC ms.
    pub fn started_ms(&self) -> u64 {
        self.started_ms
    }

    fn start_web(self: &Arc<Self>) -> Result<(), String> {
        let config = self.config();
        if !config.web.enabled {
            return Ok(());
        }
        let backend = Arc::new(backend::DaemonBackend::new(Arc::clone(self)));
        let server = crate::web::start(&settings::web_settings(&config), backend)
            .map_err(|e| format!("web server on {}: {e}", config.web.bind))?;
        *self.web.lock().unwrap_or_else(|e| e.into_inner()) = Some(server);
        Ok(())
    }

    /// Runs the collector, MQTT command and housekeeping loops until `stop` turns true,
    /// then shuts down cleanly.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(Arc::clone(&self).collector_loop(stop.clone()));
        tasks.spawn(Arc::clone(&self).housekeeping_loop(stop.clone()));
        let commands = self
            .commands
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(commands) = commands {
            tasks.spawn(Arc::clone(&self).command_loop(commands, stop.clone()));
        }
        let _ = stop.wait_for(|stopped| *stopped).await;
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        self.shutdown().await;
    }

    async fn collector_loop(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        self.wait_for_first_feeds(Duration::from_secs(3)).await;
        let mut ticker = tokio::time::interval(self.config().poll_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.changed() => return,
            }
            let samples = self.collector.cycle().await;
            self.after_cycle(&samples).await;
        }
    }

    /// Gives the feeds' first fetches (started with the daemon) a moment, so the first
    /// widget evaluation already has prices; a feed that is down costs at most `limit`.
    async fn wait_for_first_feeds(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            let now_s = now_ms() / 1000;
            if self.feeds.price_at(now_s).ok().flatten().is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Everything that follows a poll cycle: persist changed statuses, evaluate due
    /// widgets and rules (off the runtime), publish to MQTT.
    async fn after_cycle(self: &Arc<Self>, _samples: &[crate::model::Sample]) {
        self.persist_statuses().await;
        let scripts = Arc::clone(&self.scripts);
        let refreshed = tokio::task::spawn_blocking(move || scripts.tick(now_ms()))
            .await
            .unwrap_or_default();
        if let Some(mqtt) = &self.mqtt {
            publish::publish_cycle(self, mqtt);
            publish::publish_widgets(self, mqtt, &refreshed);
        }
    }

    /// The latest result of every widget, by name (`null` for one that never succeeded).
    pub fn widget_results(&self) -> Vec<(String, serde_json::Value)> {
        self.scripts
            .widgets
            .results()
            .into_iter()
            .map(|(name, result)| (name, result.value.clone()))
            .collect()
    }

    /// Scripts that fail to compile or run, as (file, `file:line:col: message`).
    pub fn script_errors(&self) -> Vec<(String, String)> {
        let mut errors: Vec<(String, String)> = self
            .scripts
            .widgets
            .script_errors()
            .into_iter()
            .chain(self.scripts.rules.script_errors())
            .map(|e| (e.file.clone(), e.to_string()))
            .collect();
        for (name, result) in self.scripts.widgets.results() {
            if let Some(error) = &result.error {
                errors.push((format!("widgets/{name}.rhai"), error.clone()));
            }
        }
        errors.sort();
        errors.dedup();
        errors
    }

    /// How long each widget's last evaluation took, seconds.
    pub fn widget_eval_times(&self) -> Vec<(String, f64)> {
        self.scripts
            .widgets
            .results()
            .into_iter()
            .map(|(name, result)| (name, result.took_us as f64 / 1e6))
            .collect()
    }

    /// Writes miner statuses to the store when they changed (model, pool, error…), so
    /// `hmm status` in another process can show them without a write per cycle.
    async fn persist_statuses(&self) {
        let current: Vec<(u32, MinerStatus)> = self
            .fleet
            .snapshot()
            .into_iter()
            .map(|m| {
                let mut status = m.status.clone();
                // last_seen changes every cycle; the sample already carries it.
                status.last_seen_ms = status.last_seen_ms.map(|t| t / 600_000 * 600_000);
                (m.id, status)
            })
            .collect();
        let changed = {
            let written = self
                .statuses_written
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            *written != current
        };
        if !changed {
            return;
        }
        let store = Arc::clone(&self.store);
        let to_write = current.clone();
        match tokio::task::spawn_blocking(move || store.put_statuses(&to_write)).await {
            Ok(Ok(())) => {
                *self
                    .statuses_written
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = current
            }
            Ok(Err(err)) => log::error!("writing miner statuses failed: {err}"),
            Err(err) => log::error!("writing miner statuses panicked: {err}"),
        }
    }

    async fn housekeeping_loop(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(Duration::from_secs(3600));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.changed() => return,
            }
            let store = Arc::clone(&self.store);
            let result = tokio::task::spawn_blocking(move || store.apply_retention(now_ms())).await;
            if let Ok(Err(err)) = result {
                log::error!("retention failed: {err}");
            }
        }
    }

    async fn command_loop(
        self: Arc<Self>,
        mut commands: CommandReceiver,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            let pending = tokio::select! {
                pending = commands.recv() => pending,
                _ = stop.changed() => return,
            };
            let Some(pending) = pending else { return };
            let action = match &pending.command.action {
                Action::SetMode(mode) => ControlAction::SetMode(*mode),
                Action::Restart => ControlAction::Restart,
                Action::SetEnabled(on) => ControlAction::SetEnabled(*on),
                Action::SwitchPool(pool) => ControlAction::SwitchPool(pool.clone()),
            };
            let request = ControlRequest {
                miner: pending.command.miner.clone(),
                action,
                actor: Actor::Mqtt,
                reason: "MQTT command".to_string(),
                dry_run: false,
                audit: true,
            };
            let controller = Arc::clone(&self.controller);
            tokio::spawn(async move {
                let result = match controller.execute(request).await {
                    Ok(message) => {
                        let _ = message;
                        CommandResult::Accepted
                    }
                    Err(refusal) => CommandResult::Refused(refusal.to_string()),
                };
                pending.respond(result);
            });
        }
    }

    /// Stops the web server, commits the store and says goodbye on MQTT.
    pub async fn shutdown(&self) {
        let _ = std::fs::remove_file(self.config().data_dir.join(MARKER_FILE));
        let web = self.web.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(web) = web {
            let _ = tokio::task::spawn_blocking(move || web.shutdown()).await;
        }
        self.feeds.shutdown();
        self.persist_statuses().await;
        let store = Arc::clone(&self.store);
        match tokio::task::spawn_blocking(move || store.flush()).await {
            Ok(Ok(())) => log::info!("store committed"),
            Ok(Err(err)) => log::error!("final store commit failed: {err}"),
            Err(err) => log::error!("final store commit panicked: {err}"),
        }
        if let Some(mqtt) = &self.mqtt {
            mqtt.shutdown(Duration::from_secs(2)).await;
        }
    }

    /// Applies a new configuration (SIGHUP): miners added or removed keep their ids and
    /// history, pools and thresholds change at once. Settings that need new sockets (web
    /// bind, MQTT broker, data dir, NMMiner listener) keep their old values and are logged.
    pub fn reload(&self, new: Config) -> Result<(), String> {
        let old = self.config();
        if new.data_dir != old.data_dir {
            return Err(
                "data_dir cannot change while running; restart hmm to move the store".into(),
            );
        }
        let entries = build_entries(&self.store, &new)?;
        self.fleet.replace(entries);
        self.controller.set_pools(new.pools.clone());
        for (what, changed) in [
            ("[web]", new.web != old.web),
            ("[mqtt]", new.mqtt != old.mqtt),
            ("poll_interval", new.poll_interval != old.poll_interval),
            (
                "[devices] nmminer_listen",
                new.devices.nmminer_listen != old.devices.nmminer_listen,
            ),
        ] {
            if changed {
                log::warn!("reload: {what} changed; it takes effect after a restart");
            }
        }
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(new);
        if let Some(mqtt) = &self.mqtt {
            publish::announce_miners(self, mqtt);
        }
        Ok(())
    }

    /// Electricity cost of the whole fleet over the 24 hours before `now_s`, pence: slot
    /// energy × slot price, plus manual power × unmeasured online time for miners without
    /// a power sensor. `None` when no price is known.
    pub fn cost_24h_p(&self, now_s: u64) -> Option<f64> {
        let from_s = now_s.saturating_sub(86_400);
        let slots = self.store.slots(None, from_s, now_s + 1).ok()?;
        let manual: std::collections::HashMap<u32, f64> = self
            .fleet
            .snapshot()
            .iter()
            .filter_map(|m| m.config.manual_power_w.map(|w| (m.id, w)))
            .collect();
        let mut total = 0.0;
        let mut priced = false;
        for slot in &slots {
            let Some(price) = self.feeds.price_at(slot.slot_start_s).ok().flatten() else {
                continue;
            };
            priced = true;
            let unpowered_h = slot.online_ms.saturating_sub(slot.powered_ms) as f64 / 3_600_000.0;
            let wh =
                slot.energy_wh + manual.get(&slot.miner_id).copied().unwrap_or(0.0) * unpowered_h;
            total += wh / 1000.0 * price.pence_per_kwh;
        }
        (priced || slots.is_empty()).then_some(total)
    }

    /// Reloads from the config file given at start.
    pub fn reload_from_file(&self) -> Result<(), String> {
        let Some(path) = &self.config_path else {
            return Err("this daemon was started without a config file".into());
        };
        let config = Config::load(path).map_err(|errors| errors.to_string())?;
        self.reload(config)
    }
}

/// The file in the data directory that says where the running daemon serves HTTP.
pub const MARKER_FILE: &str = "daemon.json";

/// The address to reach a listener on: a wildcard bind is reached on loopback.
fn local_url_addr(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => {
            SocketAddr::from(([127, 0, 0, 1], addr.port()))
        }
        ip if ip.is_unspecified() => SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port())),
        _ => addr,
    }
}

/// Fleet entries for the configured miners, with stable store ids, persisted statuses and
/// energy totals from the slot rollups.
fn build_entries(store: &Store, config: &Config) -> Result<Vec<MinerEntry>, String> {
    let statuses = store.statuses().map_err(|e| e.to_string())?;
    let mut entries = Vec::new();
    for miner in &config.miners {
        let id = store.miner_id(&miner.name).map_err(|e| e.to_string())?;
        let mut entry = MinerEntry::new(miner.clone(), id);
        if let Some((_, saved)) = statuses.iter().find(|(sid, _)| *sid == id) {
            entry.status.model = saved.model.clone();
            entry.status.firmware = saved.firmware.clone();
            entry.status.pool = saved.pool.clone();
            entry.status.last_seen_ms = saved.last_seen_ms;
            entry.status.modes = saved.modes.clone();
            if miner.kind == MinerKind::Auto {
                entry.kind = saved.kind;
                entry.status.kind = saved.kind;
            }
        }
        entry.energy_wh_total = energy_total_wh(store, id, miner.manual_power_w)?;
        entry.latest = store.latest(id).map_err(|e| e.to_string())?;
        entries.push(entry);
    }
    Ok(entries)
}

/// Energy used by a miner over everything the store keeps, Wh: measured energy plus the
/// manual power over online time that had no measurement.
pub fn energy_total_wh(store: &Store, id: u32, manual_power_w: Option<f64>) -> Result<f64, String> {
    let slots = store
        .slots(Some(id), 0, u64::MAX / 2)
        .map_err(|e| e.to_string())?;
    Ok(slots
        .iter()
        .map(|slot| {
            let unpowered_ms = slot.online_ms.saturating_sub(slot.powered_ms) as f64;
            slot.energy_wh + manual_power_w.unwrap_or(0.0) * unpowered_ms / 3_600_000.0
        })
        .sum())
}

/// Script data over a data directory without a running daemon, for `hmm widget run` and
/// `hmm rule test`: the store opened read-only beside a possibly running daemon, the
/// fleet as last persisted, prices from the store; coin prices, pool stats and network
/// difficulty are empty because nothing here fetches or polls.
pub fn offline_script_data(config: &Config) -> Result<Arc<dyn crate::script::ScriptData>, String> {
    let path = config.data_dir.join("hmm.redb");
    if !path.is_file() {
        return Err(format!(
            "no store at {}; run the daemon first, or add --demo to try against a generated fleet",
            path.display()
        ));
    }
    let store = Arc::new(Store::open_read_only(&path).map_err(|e| e.to_string())?);
    script_data_over(config, store)
}

/// The scripts' data over an open `store`, as the daemon builds it, without polling and
/// without fetching feeds (cached feed values are simply absent). Miners of `config` that
/// the store does not know are left out: a read-only store cannot assign ids. Used by
/// [`offline_script_data`] and by `hmm bench`, which times the widgets on this path.
pub fn script_data_over(
    config: &Config,
    store: Arc<Store>,
) -> Result<Arc<dyn crate::script::ScriptData>, String> {
    let known: Vec<String> = store
        .miner_names()
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let mut known_config = config.clone();
    known_config.miners.retain(|m| known.contains(&m.name));
    let fleet = Arc::new(Fleet::new(build_entries(&store, &known_config)?));
    let controller = Arc::new(Controller::new(
        Arc::clone(&fleet),
        Arc::clone(&store),
        config.pools.clone(),
        settings::device_limits(config),
        settings::cooldowns(config),
    ));
    let price_store: Arc<dyn crate::feeds::PriceStore> = store.clone();
    let feeds = Arc::new(FeedHub::new(
        settings::feed_settings(config),
        Arc::new(SystemClock),
        price_store,
    )?);
    let shared: scripts::SharedConfig = Arc::new(RwLock::new(Arc::new(config.clone())));
    Ok(Arc::new(scripts::DaemonData::new(
        shared,
        store,
        fleet,
        feeds,
        controller,
        Arc::new(NetworkDifficulties::new()),
    )))
}

async fn start_nmminer(config: &Config) -> Result<Option<Arc<NmminerListener>>, String> {
    let wanted = config
        .miners
        .iter()
        .any(|m| matches!(m.kind, MinerKind::Nmminer | MinerKind::Auto));
    if !wanted {
        return Ok(None);
    }
    let addr = config.devices.nmminer_listen.to_string();
    match NmminerListener::bind(&addr).await {
        Ok(listener) => Ok(Some(Arc::new(listener))),
        Err(err) => Err(format!(
            "cannot listen for NMMiner telemetry on UDP {addr}: {err}; set [devices] nmminer_listen to a free address"
        )),
    }
}

fn start_mqtt(config: &Config) -> Result<(Option<MqttHandle>, Option<CommandReceiver>), String> {
    if !config.mqtt.enabled {
        return Ok((None, None));
    }
    let identity = BridgeIdentity {
        instance_id: config.instance_id.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let (handle, commands) = MqttBridge::start(&settings::mqtt_settings(config), identity)
        .map_err(|e| format!("MQTT: {e}"))?;
    Ok((Some(handle), Some(commands)))
}

/// `hmm run --config FILE`: loads the config, starts the daemon and runs it until SIGINT
/// or SIGTERM; SIGHUP reloads the config. Returns the exit code.
pub fn run_from_config_file(path: &Path) -> i32 {
    let config = match Config::load(path) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!(
                "hmm: {} problem(s) in {}; fix them and start again",
                errors.len(),
                path.display()
            );
            return 1;
        }
    };
    let runtime = match build_runtime() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("hmm: cannot start the async runtime: {err}");
            return 1;
        }
    };
    runtime.block_on(async move {
        let daemon = match Daemon::start(config, Some(path.to_path_buf())).await {
            Ok(daemon) => daemon,
            Err(err) => {
                eprintln!("hmm: {err}");
                return 1;
            }
        };
        log_start_line(&daemon, Some(path));
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::spawn(signal_loop(Arc::clone(&daemon), stop_tx));
        daemon.run(stop_rx).await;
        log::info!("stopped");
        0
    })
}

/// The runtime hmm uses: two workers are plenty for I/O-bound polling on a Pi.
pub fn build_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(16)
        .enable_all()
        .build()
}

/// One line at start: config path, data dir, miners, MQTT and web endpoints.
pub fn log_start_line(daemon: &Daemon, path: Option<&Path>) {
    let config = daemon.config();
    let mqtt = if config.mqtt.enabled {
        format!("{}:{}", config.mqtt.host, config.mqtt.port)
    } else {
        "off".to_string()
    };
    let web = daemon
        .web_addr()
        .map_or("off".to_string(), |a| format!("http://{a}/"));
    log::info!(
        "hmm {} started: config {}, data dir {}, {} miners, MQTT {mqtt}, web {web}",
        env!("CARGO_PKG_VERSION"),
        path.map_or("(built in)".to_string(), |p| p.display().to_string()),
        config.data_dir.display(),
        config.miners.len(),
    );
}

/// Waits for signals: SIGINT/SIGTERM stop the daemon, SIGHUP reloads its config.
pub async fn signal_loop(daemon: Arc<Daemon>, stop: watch::Sender<bool>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        log::error!("cannot install signal handlers; stop hmm with SIGKILL");
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                match daemon.reload_from_file() {
                    Ok(()) => log::info!("config reloaded"),
                    Err(err) => log::error!("config reload refused, the old config keeps running:\n{err}"),
                }
            }
        }
    }
    log::info!("stopping");
    let _ = stop.send(true);
}
