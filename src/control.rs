//! The one control API behind automation rules, MQTT commands, HTTP and the CLI:
//! `set_mode`, `restart`, `switch_pool`, `set_enabled`.
//!
//! Every request is checked (known miner, supported by its driver, a configured pool,
//! cooldown), then executed through the device driver, and every request — accepted,
//! refused, failed or dry-run — is written to the `audit` table with who asked and why.
//! Per-miner cooldowns (default 5 min for mode and restart, 15 min for pool switches) make
//! flapping a device impossible whatever a rule or a user does; enabling or disabling
//! mining shares the mode cooldown because it is the same kind of power change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::PoolConfig;
use crate::devices::{
    self, ControlOutcome, DeviceError, Limits, PoolTarget, avalon, axeos, nmminer,
};
use crate::fleet::{Fleet, MinerEntry};
use crate::model::{Actor, AuditRecord, MinerKind, Mode};
use crate::store::Store;
use crate::units::now_ms;

/// What to do to a miner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlAction {
    /// Change the operating mode.
    SetMode(Mode),
    /// Reboot the device.
    Restart,
    /// Pause (false) or resume (true) mining.
    SetEnabled(bool),
    /// Switch to the configured pool of this name.
    SwitchPool(String),
}

impl ControlAction {
    /// The action as written in the audit log (`set_mode eco`, `switch_pool ckpool`).
    pub fn describe(&self) -> String {
        match self {
            ControlAction::SetMode(mode) => format!("set_mode {}", mode.as_str()),
            ControlAction::Restart => "restart".to_string(),
            ControlAction::SetEnabled(on) => format!("set_enabled {on}"),
            ControlAction::SwitchPool(pool) => format!("switch_pool {pool}"),
        }
    }

    /// Which cooldown the action counts against.
    fn cooldown_class(&self) -> CooldownClass {
        match self {
            ControlAction::SetMode(_) | ControlAction::SetEnabled(_) => CooldownClass::Mode,
            ControlAction::Restart => CooldownClass::Restart,
            ControlAction::SwitchPool(_) => CooldownClass::Pool,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum CooldownClass {
    Mode,
    Restart,
    Pool,
}

/// One request to the control API.
#[derive(Debug, Clone)]
pub struct ControlRequest {
    /// Miner config name.
    pub miner: String,
    /// What to do.
    pub action: ControlAction,
    /// Who asks.
    pub actor: Actor,
    /// Why, in the requester's words (a rule's reason string, "MQTT command").
    pub reason: String,
    /// Record without acting.
    pub dry_run: bool,
    /// Write the audit row here. False only for callers that write their own richer row
    /// (the rule runner records the rule name and its reason).
    pub audit: bool,
}

/// Cooldown lengths per action class.
#[derive(Debug, Clone, Copy)]
pub struct Cooldowns {
    /// Between two mode changes (and enable/disable) of one miner.
    pub mode: Duration,
    /// Between two restarts of one miner.
    pub restart: Duration,
    /// Between two pool switches of one miner.
    pub pool: Duration,
}

/// The control API. Cheap to share (`Arc<Controller>`).
pub struct Controller {
    fleet: Arc<Fleet>,
    store: Arc<Store>,
    pools: Mutex<Vec<PoolConfig>>,
    limits: Limits,
    cooldowns: Cooldowns,
    last_action: Mutex<HashMap<(String, CooldownClass), Instant>>,
}

impl Controller {
    /// A controller over the fleet, auditing into `store`.
    pub fn new(
        fleet: Arc<Fleet>,
        store: Arc<Store>,
        pools: Vec<PoolConfig>,
        limits: Limits,
        cooldowns: Cooldowns,
    ) -> Controller {
        Controller {
            fleet,
            store,
            pools: Mutex::new(pools),
            limits,
            cooldowns,
            last_action: Mutex::new(HashMap::new()),
        }
    }

    /// Replaces the configured pools (config reload).
    pub fn set_pools(&self, pools: Vec<PoolConfig>) {
        *self.pools.lock().unwrap_or_else(|e| e.into_inner()) = pools;
    }

    /// Names of the pools `miner` may switch to: its own `pools` list, or every enabled
    /// configured pool when the list is empty.
    pub fn pool_names(&self, entry: &MinerEntry) -> Vec<String> {
        if !entry.config.pools.is_empty() {
            return entry.config.pools.clone();
        }
        let pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        pools
            .iter()
            .filter(|p| p.enabled)
            .map(|p| p.name.clone())
            .collect()
    }

    /// Checks, executes and audits one request. `Ok` carries the device's answer (or
    /// "dry run"), `Err` the refusal or failure reason; both are in the audit log.
    pub async fn execute(&self, request: ControlRequest) -> Result<String, ControlRefusal> {
        let result = self.run(&request).await;
        let outcome = match &result {
            Ok(_) if request.dry_run => "dry-run",
            Ok(_) => "ok",
            Err(ControlRefusal::Failed(_)) => "failed",
            Err(_) => "refused",
        };
        let detail = match &result {
            Ok(message) => message.clone(),
            Err(refusal) => refusal.to_string(),
        };
        let reason = if detail.is_empty() {
            request.reason.clone()
        } else {
            format!("{} — {detail}", request.reason)
        };
        let record = AuditRecord {
            ts_ms: now_ms(),
            actor: request.actor.clone(),
            miner: request.miner.clone(),
            action: request.action.describe(),
            outcome: outcome.to_string(),
            reason,
        };
        if request.audit {
            let store = Arc::clone(&self.store);
            let write = tokio::task::spawn_blocking(move || store.append_audit(&record)).await;
            if let Ok(Err(err)) = write {
                log::error!("writing the audit log failed: {err}");
            }
        }
        log::info!(
            "control {} {} by {}: {outcome} ({detail})",
            request.miner,
            request.action.describe(),
            request.actor
        );
        result
    }

    /// [`Controller::execute`] for threads outside the async runtime (web workers, rhai).
    pub fn execute_blocking(
        &self,
        runtime: &tokio::runtime::Handle,
        request: ControlRequest,
    ) -> Result<String, ControlRefusal> {
        runtime.block_on(self.execute(request))
    }

    async fn run(&self, request: &ControlRequest) -> Result<String, ControlRefusal> {
        let entry = self.fleet.get(&request.miner).ok_or_else(|| {
            ControlRefusal::UnknownMiner(format!(
                "unknown miner '{}'; configured miners: {}",
                request.miner,
                self.fleet.names().join(", ")
            ))
        })?;
        let pool = self.check_supported(&entry, &request.action)?;
        self.check_cooldown(&entry.config.name, &request.action)?;
        if request.dry_run {
            return Ok("dry run: nothing sent to the device".to_string());
        }
        self.mark_cooldown(&entry.config.name, &request.action);
        let outcome = self
            .send(&entry, &request.action, pool)
            .await
            .map_err(|e| ControlRefusal::Failed(e.to_string()))?;
        if let ControlAction::SetEnabled(on) = request.action {
            self.fleet
                .update(&entry.config.name, |e| e.status.enabled = on);
        }
        Ok(outcome.message)
    }

    /// Refuses what the driver cannot do; returns the pool target for a pool switch.
    fn check_supported(
        &self,
        entry: &MinerEntry,
        action: &ControlAction,
    ) -> Result<Option<PoolTarget>, ControlRefusal> {
        let caps = entry.capabilities();
        let model = entry
            .status
            .model
            .clone()
            .unwrap_or_else(|| "this device".to_string());
        if entry.info.is_none() {
            return Err(ControlRefusal::Unsupported(format!(
                "{} has not answered a poll yet, so its capabilities are unknown; try again after it is online",
                entry.config.name
            )));
        }
        match action {
            ControlAction::SetMode(mode) if !caps.modes.contains(mode) => {
                let supported: Vec<&str> = caps.modes.iter().map(|m| m.as_str()).collect();
                Err(ControlRefusal::Unsupported(format!(
                    "mode '{}' is not supported by {model}; supported: {}",
                    mode.as_str(),
                    if supported.is_empty() {
                        "none".to_string()
                    } else {
                        supported.join(", ")
                    }
                )))
            }
            ControlAction::Restart if !caps.restart => Err(ControlRefusal::Unsupported(format!(
                "{model} cannot be restarted remotely"
            ))),
            ControlAction::SetEnabled(_) if !supports_pause(entry) => {
                Err(ControlRefusal::Unsupported(format!(
                    "{model} cannot pause mining remotely (AxeOS needs firmware 2.14 or newer; NMMiner has no pause)"
                )))
            }
            ControlAction::SwitchPool(name) => self.pool_target(entry, name).map(Some),
            _ => Ok(None),
        }
    }

    fn pool_target(&self, entry: &MinerEntry, name: &str) -> Result<PoolTarget, ControlRefusal> {
        if !entry.capabilities().switch_pool {
            return Err(ControlRefusal::Unsupported(
                "this device cannot switch pools remotely".to_string(),
            ));
        }
        let allowed = self.pool_names(entry);
        if !allowed.iter().any(|p| p == name) {
            return Err(ControlRefusal::Unsupported(format!(
                "pool '{name}' is not configured for {}; choose one of: {}",
                entry.config.name,
                if allowed.is_empty() {
                    "(none configured)".to_string()
                } else {
                    allowed.join(", ")
                }
            )));
        }
        let pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        let pool = pools.iter().find(|p| p.name == name).ok_or_else(|| {
            ControlRefusal::Unsupported(format!("pool '{name}' is not defined in [[pools]]"))
        })?;
        Ok(PoolTarget {
            url: pool.url.clone(),
            user: pool.user.clone(),
            password: pool.password.expose().to_string(),
        })
    }

    fn check_cooldown(&self, miner: &str, action: &ControlAction) -> Result<(), ControlRefusal> {
        let class = action.cooldown_class();
        let length = match class {
            CooldownClass::Mode => self.cooldowns.mode,
            CooldownClass::Restart => self.cooldowns.restart,
            CooldownClass::Pool => self.cooldowns.pool,
        };
        let last = self.last_action.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = last.get(&(miner.to_string(), class)) {
            let elapsed = at.elapsed();
            if elapsed < length {
                let wait = (length - elapsed).as_secs().max(1);
                return Err(ControlRefusal::Cooldown {
                    message: format!(
                        "cooldown: {miner} changed {} s ago; the next change is allowed in {wait} s",
                        elapsed.as_secs()
                    ),
                    retry_after_s: wait,
                });
            }
        }
        Ok(())
    }

    fn mark_cooldown(&self, miner: &str, action: &ControlAction) {
        let mut last = self.last_action.lock().unwrap_or_else(|e| e.into_inner());
        last.insert((miner.to_string(), action.cooldown_class()), Instant::now());
    }

    async fn send(
        &self,
        entry: &MinerEntry,
        action: &ControlAction,
        pool: Option<PoolTarget>,
    ) -> Result<ControlOutcome, DeviceError> {
        let kind = entry.kind.unwrap_or(MinerKind::Auto);
        let address = entry.config.address(crate::collector::default_port(kind));
        let limits = self.limits;
        match action {
            ControlAction::SetMode(mode) => devices::set_mode(kind, &address, *mode, limits).await,
            ControlAction::Restart => devices::restart(kind, &address, limits).await,
            ControlAction::SetEnabled(on) => devices::set_mining(kind, &address, *on, limits).await,
            ControlAction::SwitchPool(_) => {
                let target =
                    pool.ok_or_else(|| DeviceError::InvalidRequest("no pool target".into()))?;
                match kind {
                    MinerKind::Axeos => axeos::switch_pool(&address, &target, limits).await,
                    MinerKind::Avalon => {
                        avalon::switch_pool(
                            &address,
                            &target,
                            &avalon::AdminLogin::default(),
                            limits,
                        )
                        .await
                    }
                    MinerKind::Nmminer => {
                        nmminer::switch_pool(&entry.config.host, &target, limits).await
                    }
                    MinerKind::Auto => Err(DeviceError::Unsupported(
                        "the miner's kind is not detected yet".into(),
                    )),
                }
            }
        }
    }
}

/// Whether the device can pause and resume mining (AxeOS ≥ 2.14 `pause`/`resume`, Avalon
/// `softoff`/`softon`).
fn supports_pause(entry: &MinerEntry) -> bool {
    entry.capabilities().pause
}

/// Why a control request was not carried out. Each kind maps to an HTTP status and an
/// MQTT event; `Display` is the sentence shown to the user and written to the audit log.
#[derive(Debug, Clone, PartialEq)]
pub enum ControlRefusal {
    /// No miner of that name in the config.
    UnknownMiner(String),
    /// The device or config cannot do it (unsupported mode, unknown pool, not yet polled).
    Unsupported(String),
    /// The miner's cooldown for this kind of action has not expired.
    Cooldown {
        /// The sentence for people.
        message: String,
        /// Seconds until the action is allowed again.
        retry_after_s: u64,
    },
    /// The device was asked and failed.
    Failed(String),
}

impl std::fmt::Display for ControlRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ControlRefusal::UnknownMiner(m)
            | ControlRefusal::Unsupported(m)
            | ControlRefusal::Cooldown { message: m, .. }
            | ControlRefusal::Failed(m) => f.write_str(m),
        }
    }
}
