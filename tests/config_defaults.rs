//! Defaults, durations and the typed values of a valid config.

use std::time::Duration;

use hmm::config::{Config, PoolStats, Tariff};
use hmm::model::MinerKind;

#[test]
fn empty_file_gives_every_documented_default() {
    let config = Config::from_str("", "empty.toml").unwrap();
    assert_eq!(config, Config::default());
    assert_eq!(config.data_dir.to_str(), Some("/var/lib/hmm"));
    assert_eq!(config.poll_interval, Duration::from_secs(10));
    assert_eq!(config.commit_interval, Duration::from_secs(30));
    assert_eq!(config.instance_id, "hmm");
    assert_eq!(config.retention.raw, Duration::from_secs(7 * 86_400));
    assert_eq!(config.retention.slots, Duration::from_secs(400 * 86_400));
    assert_eq!(config.devices.timeout, Duration::from_secs(3));
    assert_eq!(config.devices.max_reply_bytes, 262_144);
    assert_eq!(config.devices.mode_cooldown, Duration::from_secs(300));
    assert_eq!(config.devices.pool_cooldown, Duration::from_secs(900));
    assert_eq!(config.devices.restart_cooldown, Duration::from_secs(300));
    assert_eq!(config.devices.nmminer_listen.to_string(), "0.0.0.0:12345");
    assert_eq!(
        config.devices.nmminer_offline_after,
        Duration::from_secs(120)
    );
    assert!(config.miners.is_empty() && config.pools.is_empty());
    assert_eq!(config.energy.tariff, Tariff::Agile);
    assert_eq!(config.energy.region, 'H');
    assert_eq!(config.energy.region_byte(), b'H');
    assert_eq!(config.energy.product, None);
    assert_eq!(config.energy.standing_charge_p_day, 0.0);
    assert_eq!(config.feeds.octopus_url, "https://api.octopus.energy");
    assert_eq!(config.feeds.coingecko_url, "https://api.coingecko.com");
    assert_eq!(config.feeds.ckpool_url, "https://solo.ckpool.org");
    assert_eq!(config.feeds.solopool_url, "https://{coin}.solopool.org");
    assert!(config.feeds.coingecko_api_key.is_empty());
    assert_eq!(config.feeds.coins, vec!["bitcoin".to_string()]);
    assert_eq!(config.feeds.currency, "gbp");
    assert_eq!(config.feeds.timeout, Duration::from_secs(10));
    assert_eq!(config.cache.coingecko, Duration::from_secs(300));
    assert_eq!(config.cache.solopool, Duration::from_secs(120));
    assert_eq!(config.cache.solopool_network, Duration::from_secs(600));
    assert_eq!(config.cache.ckpool, Duration::from_secs(60));
    assert_eq!(config.cache.octopus, Duration::from_secs(1800));
    assert!(!config.mqtt.enabled);
    assert_eq!(
        (config.mqtt.host.as_str(), config.mqtt.port),
        ("127.0.0.1", 1883)
    );
    assert_eq!(config.mqtt.client_id, "hmm");
    assert_eq!(config.mqtt.base_topic, "hmm");
    assert_eq!(config.mqtt.discovery_prefix, "homeassistant");
    assert_eq!(config.mqtt.keep_alive, Duration::from_secs(30));
    assert!(!config.mqtt.tls && config.mqtt.username.is_empty() && config.mqtt.password.is_empty());
    assert!(config.web.enabled);
    assert_eq!(config.web.bind.to_string(), "0.0.0.0:8080");
    assert!(config.web.token.is_empty());
    assert_eq!(config.web.workers, 4);
    assert!(!config.automation.dry_run);
    assert_eq!(config.automation.interval, Duration::from_secs(60));
    assert!(config.automation.rules.is_empty());
    assert_eq!(config.alerts.temp_c.axeos, 75.0);
    assert_eq!(config.alerts.temp_c.avalon, 90.0);
    assert_eq!(config.alerts.temp_c.nmminer, 70.0);
    assert_eq!(config.notify.throttle, Duration::from_secs(900));
    assert!(config.notify.discord_webhook.is_empty() && config.notify.webhook_url.is_empty());
}

#[test]
fn one_miner_is_a_complete_config() {
    let config = Config::from_str(
        "[[miners]]\nname = \"bitaxe-1\"\nhost = \"192.168.1.50\"\n",
        "small.toml",
    )
    .unwrap();
    let miner = &config.miners[0];
    assert_eq!(miner.name, "bitaxe-1");
    assert_eq!(miner.kind, MinerKind::Auto);
    assert_eq!((miner.host.as_str(), miner.port), ("192.168.1.50", None));
    assert_eq!(miner.address(80), "192.168.1.50:80");
    assert!(miner.enabled);
    assert_eq!(miner.manual_power_w, None);
    assert!(miner.pools.is_empty());
}

#[test]
fn values_are_converted_to_their_types() {
    let text = r#"
        poll_interval = "2s"
        commit_interval = "1m 30s"
        [retention]
        raw = "36h"
        [[miners]]
        name = "avalon_1"
        kind = "avalon"
        host = "[fe80::1]:4029"
        manual_power_w = 140
        enabled = false
        pools = ["solo"]
        [[pools]]
        name = "solo"
        url = "stratum+tcp://eu2.solopool.org:8002"
        user = "qaddr.avalon"
        password = "pw"
        stats = "solopool"
        account = "qaddr"
        coin = "bch"
        [energy]
        tariff = "fixed"
        region = "c"
        fixed_price_p_kwh = 24.5
        [devices]
        timeout = "800ms"
        [automation.rules."agile-bands"]
        enabled = true
        [automation.rules.night]
        dry_run = true
    "#;
    let config = Config::from_str(text, "typed.toml").unwrap();
    assert_eq!(config.poll_interval, Duration::from_secs(2));
    assert_eq!(config.commit_interval, Duration::from_secs(90));
    assert_eq!(config.retention.raw, Duration::from_secs(36 * 3600));
    assert_eq!(config.devices.timeout, Duration::from_millis(800));
    let miner = &config.miners[0];
    assert_eq!(miner.kind, MinerKind::Avalon);
    assert_eq!((miner.host.as_str(), miner.port), ("fe80::1", Some(4029)));
    assert_eq!(miner.address(4028), "[fe80::1]:4029");
    assert_eq!(miner.manual_power_w, Some(140.0));
    assert!(!miner.enabled);
    let pool = &config.pools[0];
    assert_eq!(pool.stats, PoolStats::Solopool);
    assert_eq!(pool.account.as_deref(), Some("qaddr"));
    assert_eq!(pool.password.expose(), "pw");
    assert_eq!(config.energy.tariff, Tariff::Fixed { p_kwh: 24.5 });
    assert_eq!(config.energy.region, 'C');
    assert_eq!(config.energy.region_byte(), b'C');
    assert!(config.automation.rule("agile-bands").enabled);
    assert!(!config.automation.is_dry_run("agile-bands"));
    assert!(config.automation.is_dry_run("night"));
    assert!(
        !config.automation.rule("unlisted").enabled,
        "unlisted rules are off"
    );
}
