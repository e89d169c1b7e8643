//! What the daemon publishes to MQTT after each poll cycle: the miner set for Home
//! Assistant discovery (only when it changed), each miner's state and availability, and
//! the fleet-level figures (current price, 24-hour cost, miners online).

use std::sync::Arc;

use crate::config::PoolConfig;
use crate::fleet::MinerEntry;
use crate::model::MinerKind;
use crate::mqtt::{FleetState, MinerInfo, MinerState, MqttHandle, WidgetSensor};
use crate::units::now_ms;

use super::Daemon;

/// A miner counts as online for availability while its newest sample is online and no
/// older than this many poll intervals.
const FRESH_POLLS: u32 = 3;

/// Tells the bridge which miners exist and what they can do; sends nothing when that is
/// unchanged since the last call.
pub fn announce_miners(daemon: &Daemon, mqtt: &MqttHandle) {
    let pools = daemon.config().pools.clone();
    let mut announced = daemon
        .mqtt_announced
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let miners: Vec<MinerInfo> = daemon
        .fleet
        .snapshot()
        .iter()
        .map(|entry| {
            let before = announced.iter().find(|m| m.name == entry.config.name);
            miner_info(daemon, entry, &pools, before)
        })
        .collect();
    if *announced != miners {
        mqtt.set_miners(&miners);
        *announced = miners;
    }
}

/// What the bridge announces for one miner. The optional sensors it reports are the
/// union of what its newest online sample has and what was announced before, so a value
/// missing from one poll never removes an entity from Home Assistant.
fn miner_info(
    daemon: &Daemon,
    entry: &MinerEntry,
    pools: &[PoolConfig],
    before: Option<&MinerInfo>,
) -> MinerInfo {
    let now_reported = miner_state(entry, pools).and_then(|state| state.reported_fields());
    let reported = match (before.and_then(|m| m.reported.clone()), now_reported) {
        (Some(mut fields), Some(now)) => {
            for field in now {
                if !fields.contains(&field) {
                    fields.push(field);
                }
            }
            fields.sort_unstable();
            Some(fields)
        }
        (known, None) => known,
        (None, Some(mut now)) => {
            now.sort_unstable();
            Some(now)
        }
    };
    // Before the device has answered once its capabilities are unknown: keep what was
    // announced, so a miner that is down for a while keeps its controls in HA.
    let capabilities = entry.capabilities();
    let (modes, can_restart, can_pause) = match (&entry.info, before) {
        (None, Some(before)) => (before.modes.clone(), before.can_restart, before.can_pause),
        _ => (capabilities.modes, capabilities.restart, capabilities.pause),
    };
    MinerInfo {
        name: entry.config.name.clone(),
        kind: entry.kind,
        model: entry.status.model.clone(),
        firmware: entry.status.firmware.clone(),
        config_url: config_url(entry),
        modes,
        pools: daemon.controller.pool_names(entry),
        reported,
        can_restart,
        can_pause,
    }
}

/// The state published for a miner, from its newest sample (none before the first). An
/// online miner without a power sensor shows its configured `manual_power_w`, the figure
/// its energy and cost are computed from.
pub fn miner_state(entry: &MinerEntry, pools: &[PoolConfig]) -> Option<MinerState> {
    let mut sample = entry.latest.clone()?;
    if sample.online && sample.power_w.is_none() {
        sample.power_w = entry.config.manual_power_w;
    }
    Some(MinerState {
        status: entry.status.clone(),
        sample,
        pool_name: entry
            .status
            .pool
            .as_deref()
            .and_then(|url| pool_name_for(url, pools)),
        energy_kwh: Some(entry.energy_wh_total / 1000.0),
    })
}

/// The miner's own web page, where it has one (AxeOS and the Avalon's CGI pages on 80).
pub fn config_url(entry: &MinerEntry) -> Option<String> {
    match entry.kind {
        Some(MinerKind::Axeos) => Some(format!("http://{}/", entry.config.address(80))),
        Some(MinerKind::Avalon) => Some(format!("http://{}/", bracket_host(&entry.config.host))),
        _ => None,
    }
}

fn bracket_host(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// Publishes re-evaluated widget results (the bridge sends only changed ones) and keeps
/// the Home Assistant sensors of widgets that declare a state field in step.
pub fn publish_widgets(daemon: &Daemon, mqtt: &MqttHandle, refreshed: &[String]) {
    let widgets = &daemon.scripts.widgets;
    let sensors: Vec<WidgetSensor> = widgets
        .names()
        .into_iter()
        .filter_map(|name| {
            let meta = widgets.meta(&name)?;
            Some(WidgetSensor {
                name,
                state_field: meta.state_field?,
                unit: meta.unit,
                device_class: meta.device_class,
                state_class: meta.state_class,
            })
        })
        .collect();
    let mut announced = daemon
        .mqtt_widgets
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if *announced != sensors {
        mqtt.set_widgets(&sensors);
        *announced = sensors;
    }
    for name in refreshed {
        if let Some(result) = widgets.result(name).filter(|r| !r.value.is_null()) {
            mqtt.publish_widget(name, &result.value);
        }
    }
}

/// Publishes the whole fleet after a cycle.
pub fn publish_cycle(daemon: &Arc<Daemon>, mqtt: &MqttHandle) {
    announce_miners(daemon, mqtt);
    let config = daemon.config();
    let now = now_ms();
    let fresh_ms = config.poll_interval.as_millis() as u64 * u64::from(FRESH_POLLS);
    let mut online = 0;
    for entry in daemon.fleet.snapshot() {
        let is_online = entry.is_online(now, fresh_ms);
        online += u32::from(is_online);
        mqtt.publish_availability(&entry.config.name, is_online);
        if let Some(state) = miner_state(&entry, &config.pools) {
            mqtt.publish_miner_state(&state);
        }
    }
    let now_s = now / 1000;
    mqtt.publish_fleet(&FleetState {
        price_p_kwh: daemon
            .feeds
            .price_at(now_s)
            .ok()
            .flatten()
            .map(|p| p.pence_per_kwh),
        cost_24h_p: daemon.cost_24h_p(now_s),
        miners_online: Some(online),
    });
}

/// The configured pool whose stratum endpoint matches the URL a device reports, by host
/// and port (devices print `stratum+tcp://host:port`, `host:port` or the host alone).
pub fn pool_name_for(url_in_use: &str, pools: &[PoolConfig]) -> Option<String> {
    let in_use = endpoint(url_in_use);
    pools
        .iter()
        .find(|pool| {
            let configured = endpoint(&pool.url);
            configured.0 == in_use.0 && (in_use.1.is_none() || configured.1 == in_use.1)
        })
        .map(|pool| pool.name.clone())
}

fn endpoint(url: &str) -> (String, Option<u16>) {
    let rest = url
        .trim()
        .rsplit("://")
        .next()
        .unwrap_or("")
        .trim_end_matches('/');
    match rest.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => {
            (host.to_ascii_lowercase(), port.parse().ok())
        }
        _ => (rest.to_ascii_lowercase(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn manual_power_fills_in_for_an_online_miner_without_a_power_sensor() {
        let config = Config::from_str(
            r#"
[[miners]]
name = "nm-1"
kind = "nmminer"
host = "192.168.1.60"
manual_power_w = 4.5
"#,
            "<test>",
        )
        .unwrap();
        let mut entry = MinerEntry::new(config.miners[0].clone(), 1);
        assert!(miner_state(&entry, &[]).is_none(), "no sample yet");
        entry.latest = Some(crate::model::Sample {
            online: true,
            hashrate_hs: Some(1.0e6),
            ..crate::model::Sample::default()
        });
        let state = miner_state(&entry, &[]).unwrap();
        assert_eq!(state.sample.power_w, Some(4.5));
        assert!(state.reported_fields().unwrap().contains(&"power_w"));
        entry.latest.as_mut().unwrap().online = false;
        assert_eq!(
            miner_state(&entry, &[]).unwrap().sample.power_w,
            None,
            "an offline miner draws no assumed power"
        );
    }

    #[test]
    fn pools_match_by_host_and_port() {
        let config = Config::from_str(
            r#"
[[pools]]
name = "ckpool"
url = "stratum+tcp://solo.ckpool.org:3333"
user = "bc1qexample.worker"
[[pools]]
name = "backup"
url = "stratum+tcp://backup.example.org:3333"
user = "bc1qexample.worker"
"#,
            "<test>",
        )
        .unwrap();
        assert_eq!(
            pool_name_for("stratum+tcp://SOLO.ckpool.org:3333", &config.pools),
            Some("ckpool".into())
        );
        assert_eq!(
            pool_name_for("backup.example.org:3333", &config.pools),
            Some("backup".into())
        );
        assert_eq!(
            pool_name_for("solo.ckpool.org", &config.pools),
            Some("ckpool".into())
        );
        assert_eq!(pool_name_for("solo.ckpool.org:4444", &config.pools), None);
        assert_eq!(pool_name_for("public-pool.io:21496", &config.pools), None);
    }
}
