//! The daemon's side of scripting: [`ScriptData`] over the store, fleet and feed caches,
//! [`ActionSink`] over the control API and MQTT, and [`Scripts`], which owns the widget
//! set and the rule runner and evaluates them off the async runtime.

use std::path::Path;
use std::sync::{Arc, RwLock};

use crate::config::{Config, PoolStats as PoolStatsKind, Tariff};
use crate::control::{ControlAction, ControlRefusal, ControlRequest, Controller};
use crate::difficulty::{DifficultyReading, NetworkDifficulties, freshest};
use crate::feeds::FeedHub;
use crate::feeds::hub::PoolStats as FeedPoolStats;
use crate::fleet::Fleet;
use crate::model::{Actor, AuditRecord, MinerKind, Mode, PricePoint, Sample, SlotRollup};
use crate::mqtt::MqttHandle;
use crate::script::{
    ActionError, ActionSink, AutomationSettings, CoinPrice, MinerInfo, Notifier, NotifyLevel,
    NotifySettings, PoolStats, RuleRunner, RuleSettings, ScriptData, ScriptHost, WidgetSet,
};
use crate::store::Store;
use crate::ukclock::SLOT_S;
use crate::units::now_ms;

/// The configuration cell shared by the daemon and the script data (swapped on reload).
pub type SharedConfig = Arc<RwLock<Arc<Config>>>;

fn read_config(cell: &SharedConfig) -> Arc<Config> {
    Arc::clone(&cell.read().unwrap_or_else(|e| e.into_inner()))
}

/// What scripts may read: the store, the fleet, the feed caches and the network
/// difficulty the miners reported. Never the network.
pub struct DaemonData {
    config: SharedConfig,
    store: Arc<Store>,
    fleet: Arc<Fleet>,
    feeds: Arc<FeedHub>,
    controller: Arc<Controller>,
    difficulties: Arc<NetworkDifficulties>,
}

impl DaemonData {
    /// Script data over the daemon's parts.
    pub fn new(
        config: SharedConfig,
        store: Arc<Store>,
        fleet: Arc<Fleet>,
        feeds: Arc<FeedHub>,
        controller: Arc<Controller>,
        difficulties: Arc<NetworkDifficulties>,
    ) -> DaemonData {
        DaemonData {
            config,
            store,
            fleet,
            feeds,
            controller,
            difficulties,
        }
    }
}

impl ScriptData for DaemonData {
    fn miners(&self) -> Result<Vec<MinerInfo>, String> {
        let config = read_config(&self.config);
        // Under the fleet's read lock; pool_names takes the controller's pool list lock,
        // whose holders never wait for the fleet.
        Ok(self.fleet.map_entries(|entry| {
            let kind = entry.kind.unwrap_or(entry.config.kind);
            MinerInfo {
                name: entry.config.name.clone(),
                id: entry.id,
                kind,
                model: entry.status.model.clone(),
                manual_power_w: entry.config.manual_power_w,
                enabled: entry.status.enabled,
                temp_threshold_c: (kind != MinerKind::Auto)
                    .then(|| config.alerts.temp_c.for_kind(kind)),
                modes: entry.capabilities().modes,
                pools: self.controller.pool_names(entry),
                last_seen_ms: entry.status.last_seen_ms,
            }
        }))
    }

    fn fleet_latest(&self, ids: &[u32], cutoff_ms: u64) -> Result<Vec<Option<Sample>>, String> {
        self.store
            .fleet_latest(ids, cutoff_ms)
            .map_err(|e| e.to_string())
    }

    fn samples(
        &self,
        miner_id: u32,
        from_ms: u64,
        to_ms: u64,
        limit: usize,
    ) -> Result<Vec<Sample>, String> {
        self.store
            .range(miner_id, from_ms, to_ms, limit, None)
            .map(|page| page.samples)
            .map_err(|e| e.to_string())
    }

    fn slots(
        &self,
        miner_id: Option<u32>,
        from_s: u64,
        to_s: u64,
    ) -> Result<Vec<SlotRollup>, String> {
        self.store
            .slots(miner_id, from_s, to_s)
            .map_err(|e| e.to_string())
    }

    fn price_at(&self, t_s: u64) -> Result<Option<PricePoint>, String> {
        self.feeds.price_at(t_s)
    }

    /// Agile slots from the store; on a fixed tariff, the fixed price as 30-minute slots
    /// so "cheapest window" and charts work the same.
    fn prices(&self, from_s: u64, to_s: u64) -> Result<Vec<PricePoint>, String> {
        let config = read_config(&self.config);
        match config.energy.tariff {
            Tariff::Agile => self
                .store
                .prices(config.energy.region_byte(), from_s, to_s)
                .map_err(|e| e.to_string()),
            Tariff::Fixed { p_kwh } => {
                let first = from_s - from_s % SLOT_S;
                Ok((first..to_s)
                    .step_by(SLOT_S as usize)
                    .take(2 * 48 * 31)
                    .map(|start| PricePoint {
                        valid_from_s: start,
                        valid_to_s: start + SLOT_S,
                        pence_per_kwh: p_kwh,
                    })
                    .collect())
            }
        }
    }

    fn coin_prices(&self) -> Result<Vec<CoinPrice>, String> {
        let Some(cached) = self.feeds.coin_prices() else {
            return Ok(Vec::new());
        };
        Ok(cached
            .value
            .prices
            .iter()
            .map(|(coin, price)| CoinPrice {
                coin: coin.clone(),
                price: price.price_minor / 100.0,
                currency: cached.value.currency.clone(),
                age_s: cached.age_ms / 1000,
                stale: cached.stale,
            })
            .collect())
    }

    fn pool_stats(&self) -> Result<Vec<PoolStats>, String> {
        let config = read_config(&self.config);
        let now_s = now_ms() / 1000;
        Ok(config
            .pools
            .iter()
            .filter(|pool| pool.enabled && pool.stats != PoolStatsKind::None)
            .filter_map(|pool| {
                let cached = self.feeds.pool_stats(&pool.name)?;
                let mut stats = pool_stats_of(&cached.value, now_s);
                stats.name = pool.name.clone();
                stats.coin = pool.coin.to_ascii_lowercase();
                stats.age_s = cached.age_ms / 1000;
                stats.stale = cached.stale;
                Some(stats)
            })
            .collect())
    }

    /// The freshest of two sources, both read from memory: what miners on a configured
    /// pool of this coin reported (at most an hour old, see [`crate::difficulty`]), and
    /// SoloPool's `/api/stats` for the coin of an enabled `solopool` pool (served stale
    /// with the feed's back-off when SoloPool is down). `None` when neither knows: the
    /// profitability widget then says "unknown" rather than guess.
    fn network_difficulty(&self, coin: &str) -> Result<Option<f64>, String> {
        let config = read_config(&self.config);
        let now = now_ms();
        let coin = coin.trim();
        let from_miners = self.difficulties.for_coin(coin, &config.pools, now);
        let from_solopool = self
            .feeds
            .network_difficulty(coin)
            .map(|cached| DifficultyReading {
                difficulty: cached.value.difficulty,
                block_height: None,
                at_ms: cached.fetched_at_ms,
            });
        Ok(freshest(from_miners, from_solopool).map(|r| r.difficulty))
    }

    fn now_ms(&self) -> u64 {
        now_ms()
    }
}

/// One pool's statistics in the scripts' shape.
fn pool_stats_of(stats: &FeedPoolStats, now_s: u64) -> PoolStats {
    let age = |last: Option<u64>| last.map(|t| now_s.saturating_sub(t));
    match stats {
        FeedPoolStats::Ckpool(user) => PoolStats {
            workers: user.workers_connected.map(|w| w as u32),
            hashrate_1m_hs: user.hashrate.h1m,
            hashrate_1h_hs: user.hashrate.h1h,
            best_share: user.best_share.or(user.best_ever),
            last_share_age_s: age(user.last_share_s),
            ..PoolStats::default()
        },
        FeedPoolStats::CkpoolStatus(status) => PoolStats {
            workers: status.workers.map(|w| w as u32),
            hashrate_1m_hs: status.hashrate.h1m,
            hashrate_1h_hs: status.hashrate.h1h,
            best_share: status.best_share,
            last_share_age_s: None,
            ..PoolStats::default()
        },
        FeedPoolStats::Solopool(account) => PoolStats {
            workers: account.workers_online.map(|w| w as u32),
            hashrate_1m_hs: account.current_hashrate_hs,
            hashrate_1h_hs: account.hashrate_hs,
            best_share: None,
            last_share_age_s: age(account.last_share_s),
            ..PoolStats::default()
        },
    }
}

/// Where rules' actions go: the control API (cooldowns, device calls), MQTT events and
/// the audit table. Runs on blocking threads, so it may wait for the device.
pub struct DaemonActions {
    controller: Arc<Controller>,
    store: Arc<Store>,
    mqtt: Option<MqttHandle>,
    runtime: tokio::runtime::Handle,
}

impl DaemonActions {
    fn control(&self, miner: &str, action: ControlAction) -> Result<(), ActionError> {
        let request = ControlRequest {
            miner: miner.to_string(),
            action,
            actor: Actor::System,
            reason: String::new(),
            dry_run: false,
            // The rule runner writes the audit row itself, with the rule's name and reason.
            audit: false,
        };
        match self.controller.execute_blocking(&self.runtime, request) {
            Ok(_) => Ok(()),
            Err(ControlRefusal::Failed(why)) => Err(ActionError::Failed(why)),
            Err(refusal) => Err(ActionError::Refused(refusal.to_string())),
        }
    }
}

impl ActionSink for DaemonActions {
    fn set_mode(&self, miner: &str, mode: Mode) -> Result<(), ActionError> {
        self.control(miner, ControlAction::SetMode(mode))
    }

    fn restart(&self, miner: &str) -> Result<(), ActionError> {
        self.control(miner, ControlAction::Restart)
    }

    fn switch_pool(&self, miner: &str, pool: &str) -> Result<(), ActionError> {
        self.control(miner, ControlAction::SwitchPool(pool.to_string()))
    }

    fn set_enabled(&self, miner: &str, enabled: bool) -> Result<(), ActionError> {
        self.control(miner, ControlAction::SetEnabled(enabled))
    }

    fn notify(&self, title: &str, message: &str, level: NotifyLevel) {
        log::info!("notify [{}] {title}: {message}", level.as_str());
        if let Some(mqtt) = &self.mqtt {
            mqtt.publish_event(&serde_json::json!({
                "type": "notify",
                "title": title,
                "message": message,
                "level": level.as_str(),
                "ts_ms": now_ms(),
            }));
        }
    }

    fn publish(&self, topic_suffix: &str, payload: &serde_json::Value) -> Result<(), ActionError> {
        let Some(mqtt) = &self.mqtt else {
            return Err(ActionError::Refused(
                "MQTT is not enabled in the config".into(),
            ));
        };
        mqtt.publish_event(
            &serde_json::json!({ "type": "publish", "topic": topic_suffix, "payload": payload }),
        );
        Ok(())
    }

    fn audit(&self, record: AuditRecord) {
        if let Some(mqtt) = &self.mqtt {
            mqtt.publish_event(&serde_json::json!({
                "type": "action",
                "actor": record.actor.to_string(),
                "miner": record.miner,
                "action": record.action,
                "outcome": record.outcome,
                "reason": record.reason,
                "ts_ms": record.ts_ms,
            }));
        }
        if let Err(err) = self.store.append_audit(&record) {
            log::error!("writing the audit log failed: {err}");
        }
    }
}

/// The widget set and the rule runner of a daemon.
pub struct Scripts {
    /// Widgets and their cached results.
    pub widgets: WidgetSet,
    /// Automation rules.
    pub rules: RuleRunner,
    actions: DaemonActions,
}

impl Scripts {
    /// Loads built-in and user scripts (`<data_dir>/widgets`, `<data_dir>/scripts`).
    pub fn load(
        config: &Config,
        data: Arc<dyn ScriptData>,
        controller: Arc<Controller>,
        store: Arc<Store>,
        mqtt: Option<MqttHandle>,
    ) -> Scripts {
        let host = ScriptHost::new(data);
        let widgets_dir = config.data_dir.join("widgets");
        let scripts_dir = config.data_dir.join("scripts");
        let widgets = WidgetSet::load(Arc::clone(&host), existing(&widgets_dir));
        let rules = RuleRunner::new(
            host,
            existing(&scripts_dir),
            automation_settings(config),
            Arc::new(Notifier::new(notify_settings(config))),
        );
        Scripts {
            widgets,
            rules,
            actions: DaemonActions {
                controller,
                store,
                mqtt,
                runtime: tokio::runtime::Handle::current(),
            },
        }
    }

    /// Re-evaluates due widgets and runs due rules. Blocking: call off the runtime.
    pub fn tick(&self, now_ms: u64) -> Vec<String> {
        let refreshed = self.widgets.refresh_due(now_ms);
        self.rules.run_due(now_ms, &self.actions);
        refreshed
    }
}

fn existing(dir: &Path) -> Option<&Path> {
    dir.is_dir().then_some(dir)
}

/// `[automation]` as the rule runner takes it.
pub fn automation_settings(config: &Config) -> AutomationSettings {
    AutomationSettings {
        dry_run: config.automation.dry_run,
        interval: config.automation.interval,
        rules: config
            .automation
            .rules
            .iter()
            .map(|(name, rule)| {
                (
                    name.clone(),
                    RuleSettings {
                        enabled: rule.enabled,
                        dry_run: rule.dry_run,
                    },
                )
            })
            .collect(),
    }
}

/// `[notify]` as the notifier takes it.
pub fn notify_settings(config: &Config) -> NotifySettings {
    let notify = &config.notify;
    NotifySettings {
        discord_webhook: notify.discord_webhook.expose().to_string(),
        telegram_bot_token: notify.telegram_bot_token.expose().to_string(),
        telegram_chat_id: notify.telegram_chat_id.expose().to_string(),
        webhook_url: notify.webhook_url.expose().to_string(),
        throttle: notify.throttle,
        ..NotifySettings::default()
    }
}
