//! Conversions from the validated [`Config`] into each module's own settings.
//!
//! Every module takes a small settings struct of its own (so it can be built and tested
//! alone); the config module owns the file format. These one-screen conversions are the
//! only place the two meet, so a renamed key touches one line here.

use crate::config::{Config, PoolStats, Tariff};
use crate::control::Cooldowns;
use crate::devices::Limits;
use crate::feeds::PriceStore;
use crate::feeds::settings::{
    CacheTtls, EnergySettings, FeedSettings, FeedUrls, PoolFeed, StatsKind,
};
use crate::model::PricePoint;
use crate::mqtt::MqttSettings;
use crate::store::{Store, StoreOptions};
use crate::web::WebSettings;

/// Store options from `poll_interval`, `commit_interval` and `[retention]`.
pub fn store_options(config: &Config) -> StoreOptions {
    StoreOptions {
        commit_interval: config.commit_interval,
        poll_interval: config.poll_interval,
        retention_raw: config.retention.raw,
        retention_slots: config.retention.slots,
    }
}

/// Per-device bounds from `[devices]`.
pub fn device_limits(config: &Config) -> Limits {
    Limits {
        timeout: config.devices.timeout,
        max_reply_bytes: config.devices.max_reply_bytes,
    }
}

/// Control cooldowns from `[devices]`.
pub fn cooldowns(config: &Config) -> Cooldowns {
    Cooldowns {
        mode: config.devices.mode_cooldown,
        restart: config.devices.restart_cooldown,
        pool: config.devices.pool_cooldown,
    }
}

/// Feed settings from `[energy]`, `[[pools]]`, `[feeds]` and `[cache]`.
pub fn feed_settings(config: &Config) -> FeedSettings {
    let (tariff, fixed_price_p_kwh) = match config.energy.tariff {
        Tariff::Agile => ("agile", 0.0),
        Tariff::Fixed { p_kwh } => ("fixed", p_kwh),
    };
    let feeds = &config.feeds;
    FeedSettings {
        energy: EnergySettings {
            tariff: tariff.to_string(),
            region: config.energy.region.to_string(),
            product: config.energy.product.clone().unwrap_or_default(),
            fixed_price_p_kwh,
            standing_charge_p_day: config.energy.standing_charge_p_day,
        },
        pools: config
            .pools
            .iter()
            .map(|pool| PoolFeed {
                name: pool.name.clone(),
                url: pool.url.clone(),
                user: pool.user.clone(),
                stats: stats_kind(pool.stats),
                account: pool.account.clone().unwrap_or_default(),
                coin: pool.coin.clone(),
                enabled: pool.enabled,
                stats_url: pool.stats_url.clone().unwrap_or_default(),
            })
            .collect(),
        feeds: FeedUrls {
            octopus_url: feeds.octopus_url.clone(),
            coingecko_url: feeds.coingecko_url.clone(),
            coingecko_api_key: feeds.coingecko_api_key.expose().to_string(),
            coins: feeds.coins.clone(),
            currency: feeds.currency.clone(),
            ckpool_url: feeds.ckpool_url.clone(),
            solopool_url: feeds.solopool_url.clone(),
            timeout: feeds.timeout,
        },
        cache: CacheTtls {
            coingecko: config.cache.coingecko,
            solopool: config.cache.solopool,
            solopool_network: config.cache.solopool_network,
            ckpool: config.cache.ckpool,
            octopus: config.cache.octopus,
        },
        ..FeedSettings::default()
    }
}

fn stats_kind(stats: PoolStats) -> StatsKind {
    match stats {
        PoolStats::None => StatsKind::None,
        PoolStats::Ckpool => StatsKind::Ckpool,
        PoolStats::CkpoolStatus => StatsKind::CkpoolStatus,
        PoolStats::Solopool => StatsKind::Solopool,
    }
}

/// MQTT settings from `[mqtt]`.
pub fn mqtt_settings(config: &Config) -> MqttSettings {
    let mqtt = &config.mqtt;
    MqttSettings {
        enabled: mqtt.enabled,
        host: mqtt.host.clone(),
        port: mqtt.port,
        username: mqtt.username.clone(),
        password: mqtt.password.expose().to_string(),
        client_id: mqtt.client_id.clone(),
        base_topic: mqtt.base_topic.clone(),
        discovery_prefix: mqtt.discovery_prefix.clone(),
        keep_alive: mqtt.keep_alive,
        tls: mqtt.tls,
    }
}

/// Web settings from `[web]`.
pub fn web_settings(config: &Config) -> WebSettings {
    WebSettings {
        enabled: config.web.enabled,
        bind: config.web.bind.to_string(),
        token: config.web.token.expose().to_string(),
        workers: config.web.workers,
    }
}

/// Every secret in the config, for the web's last-line scrubbing.
pub fn secrets(config: &Config) -> Vec<String> {
    let mut secrets: Vec<String> = config
        .pools
        .iter()
        .map(|pool| pool.password.expose().to_string())
        .filter(|password| password.len() > 1 && password != "x")
        .collect();
    for secret in [
        &config.mqtt.password,
        &config.web.token,
        &config.feeds.coingecko_api_key,
        &config.notify.discord_webhook,
        &config.notify.telegram_bot_token,
        &config.notify.webhook_url,
    ] {
        if !secret.is_empty() {
            secrets.push(secret.expose().to_string());
        }
    }
    secrets
}

/// The store serves the feeds' electricity prices.
impl PriceStore for Store {
    fn put_prices(&self, region: u8, prices: &[PricePoint]) -> Result<(), String> {
        Store::put_prices(self, region, prices).map_err(|e| e.to_string())
    }

    fn price_at(&self, region: u8, t_s: u64) -> Result<Option<PricePoint>, String> {
        Store::price_at(self, region, t_s).map_err(|e| e.to_string())
    }

    fn prices(&self, region: u8, from_s: u64, to_s: u64) -> Result<Vec<PricePoint>, String> {
        Store::prices(self, region, from_s, to_s).map_err(|e| e.to_string())
    }
}
