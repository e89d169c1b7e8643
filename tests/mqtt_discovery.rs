//! Home Assistant discovery against a real broker: every config parsed and checked field
//! by field, re-sent on HA's birth message and after a reconnect, cleared when a miner
//! leaves, and stale configs of an earlier run swept.

mod mqtt_support;

use std::collections::BTreeMap;
use std::time::Duration;

use hmm::mqtt::{FleetState, WidgetSensor};
use mqtt_support::*;
use serde_json::{Value, json};

/// Retained configs under `prefix`, by topic, once `expected` of them have arrived.
async fn retained_configs(
    addr: std::net::SocketAddr,
    prefix: &str,
    expected: usize,
) -> BTreeMap<String, Value> {
    let mut observer = Observer::connect(addr, &[format!("{prefix}/#")]).await;
    let mut configs = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while configs.len() < expected && tokio::time::Instant::now() < deadline {
        for msg in observer.collect(Duration::from_millis(300)).await {
            if msg.retain && !msg.payload.is_empty() && msg.topic.ends_with("/config") {
                configs.insert(msg.topic.clone(), msg.json());
            }
        }
    }
    // Nothing more than expected turns up.
    for msg in observer.collect(Duration::from_millis(500)).await {
        if msg.retain && !msg.payload.is_empty() {
            configs.insert(msg.topic.clone(), msg.json());
        }
    }
    configs
}

fn cost_widget() -> WidgetSensor {
    WidgetSensor {
        name: "cost-today".into(),
        state_field: "cost_gbp".into(),
        unit: Some("GBP".into()),
        device_class: Some("monetary".into()),
        state_class: Some("total".into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_configs_are_complete_and_correct() {
    let addr = broker();
    let root = unique("disc");
    let (base, prefix, node) = (format!("t/{root}"), format!("{root}_ha"), root.clone());
    let (mqtt, _commands) = start_bridge(addr, &root);
    mqtt.set_miners(&[axeos("Bitaxe-1"), nmminer("nm-1")]);
    mqtt.set_widgets(&[cost_widget()]);
    mqtt.publish_fleet(&FleetState {
        price_p_kwh: Some(12.0),
        cost_24h_p: Some(50.0),
        miners_online: Some(2),
    });
    settled(&mqtt).await;

    // Bridge: 5; axeos: 16 sensors + 2 selects + button + switch; nmminer: 11 sensors (no
    // fan, VR temperature, frequency, core voltage or mode; no button or switch); widget: 1.
    let configs = retained_configs(addr, &prefix, 5 + 20 + 11 + 1).await;
    assert_eq!(
        configs.len(),
        37,
        "{:#?}",
        configs.keys().collect::<Vec<_>>()
    );
    let get = |component: &str, object: &str| {
        let topic = format!("{prefix}/{component}/{node}/{node}-{object}/config");
        configs
            .get(&topic)
            .unwrap_or_else(|| panic!("missing {topic}"))
            .clone()
    };
    let bridge_id = json!([format!("{node}-bridge")]);
    let miner_availability = json!([
        {"topic": format!("{base}/status"), "payload_available": "online", "payload_not_available": "offline"},
        {"topic": format!("{base}/Bitaxe-1/availability"), "payload_available": "online", "payload_not_available": "offline"},
    ]);

    let hashrate = get("sensor", "miner-bitaxe_1-hashrate");
    assert_eq!(
        hashrate["unique_id"],
        format!("{node}-miner-bitaxe_1-hashrate")
    );
    assert_eq!(
        hashrate["default_entity_id"],
        format!("sensor.{node}_bitaxe_1_hashrate")
    );
    assert!(hashrate.get("object_id").is_none());
    assert_eq!(hashrate["unit_of_measurement"], "TH/s");
    assert_eq!(hashrate["state_class"], "measurement");
    assert!(
        hashrate.get("device_class").is_none(),
        "hashrate has no HA device class"
    );
    assert_eq!(hashrate["state_topic"], format!("{base}/Bitaxe-1/state"));
    assert_eq!(hashrate["value_template"], "{{ value_json.hashrate_ths }}");
    assert_eq!(hashrate["availability"], miner_availability);
    assert_eq!(hashrate["availability_mode"], "all");
    let device = &hashrate["device"];
    assert_eq!(
        device["identifiers"],
        json!([format!("{node}-miner-bitaxe_1")])
    );
    assert_eq!(device["name"], "Bitaxe-1");
    assert_eq!(device["model"], "Bitaxe Gamma");
    assert_eq!(device["sw_version"], "v2.4.0");
    assert_eq!(device["configuration_url"], "http://192.168.1.50/");
    assert_eq!(device["via_device"], format!("{node}-bridge"));
    assert_eq!(hashrate["origin"]["name"], "hmm");
    assert_eq!(hashrate["origin"]["sw_version"], "9.9.9");

    let expect_sensor =
        |object: &str, class: Option<&str>, unit: Option<&str>, state: Option<&str>| {
            let config = get("sensor", object);
            assert_eq!(
                config["device_class"].as_str(),
                class,
                "{object} device class"
            );
            assert_eq!(
                config["unit_of_measurement"].as_str(),
                unit,
                "{object} unit"
            );
            assert_eq!(
                config["state_class"].as_str(),
                state,
                "{object} state class"
            );
        };
    expect_sensor(
        "miner-bitaxe_1-power",
        Some("power"),
        Some("W"),
        Some("measurement"),
    );
    expect_sensor(
        "miner-bitaxe_1-energy",
        Some("energy"),
        Some("kWh"),
        Some("total_increasing"),
    );
    expect_sensor(
        "miner-bitaxe_1-temp",
        Some("temperature"),
        Some("°C"),
        Some("measurement"),
    );
    expect_sensor(
        "miner-bitaxe_1-vr_temp",
        Some("temperature"),
        Some("°C"),
        Some("measurement"),
    );
    expect_sensor(
        "miner-bitaxe_1-efficiency",
        None,
        Some("J/TH"),
        Some("measurement"),
    );
    expect_sensor(
        "miner-bitaxe_1-shares_accepted",
        None,
        None,
        Some("total_increasing"),
    );
    expect_sensor(
        "miner-bitaxe_1-shares_rejected",
        None,
        None,
        Some("total_increasing"),
    );
    expect_sensor("miner-bitaxe_1-uptime", Some("duration"), Some("s"), None);
    expect_sensor("miner-bitaxe_1-best_diff", None, None, Some("measurement"));
    expect_sensor("miner-bitaxe_1-mode", None, None, None);
    expect_sensor("miner-bitaxe_1-pool", None, None, None);
    expect_sensor("bridge-price", None, Some("GBP/kWh"), Some("measurement"));
    expect_sensor(
        "bridge-cost_24h",
        Some("monetary"),
        Some("GBP"),
        Some("total"),
    );
    expect_sensor(
        "widget-cost_today",
        Some("monetary"),
        Some("GBP"),
        Some("total"),
    );

    let mode = get("select", "miner-bitaxe_1-mode_select");
    assert_eq!(mode["command_topic"], format!("{base}/Bitaxe-1/set/mode"));
    assert_eq!(mode["options"], json!(["eco", "standard", "turbo"]));
    assert_eq!(mode["value_template"], "{{ value_json.mode }}");
    assert_eq!(mode["retain"], false);
    let pool = get("select", "miner-bitaxe_1-pool_select");
    assert_eq!(pool["command_topic"], format!("{base}/Bitaxe-1/set/pool"));
    assert_eq!(pool["options"], json!(["ckpool", "public-pool"]));
    let restart = get("button", "miner-bitaxe_1-restart");
    assert_eq!(restart["device_class"], "restart");
    assert_eq!(
        restart["command_topic"],
        format!("{base}/Bitaxe-1/set/restart")
    );
    assert_eq!(restart["payload_press"], "PRESS");
    let enabled = get("switch", "miner-bitaxe_1-enabled");
    assert_eq!(
        enabled["command_topic"],
        format!("{base}/Bitaxe-1/set/enabled")
    );
    assert_eq!(enabled["state_topic"], format!("{base}/Bitaxe-1/state"));
    assert_eq!(
        (
            enabled["payload_on"].as_str(),
            enabled["payload_off"].as_str()
        ),
        (Some("ON"), Some("OFF"))
    );

    // The NMMiner has no modes or pools: no selects, no configuration_url.
    assert!(
        !configs
            .keys()
            .any(|t| t.contains("nm_1-mode_select") || t.contains("nm_1-pool_select"))
    );
    let nm = get("sensor", "miner-nm_1-power");
    assert!(nm["device"].get("configuration_url").is_none());
    assert_eq!(nm["device"]["manufacturer"], "NMMiner");
    // Sensors of fields it never reports, and controls its protocol lacks, would sit at
    // "unknown" in HA or always be refused: not announced.
    for missing in [
        "sensor/{node}/{node}-miner-nm_1-fan/",
        "sensor/{node}/{node}-miner-nm_1-vr_temp/",
        "sensor/{node}/{node}-miner-nm_1-frequency/",
        "sensor/{node}/{node}-miner-nm_1-core_voltage/",
        "sensor/{node}/{node}-miner-nm_1-mode/",
        "button/{node}/{node}-miner-nm_1-restart/",
        "switch/{node}/{node}-miner-nm_1-enabled/",
    ] {
        let missing = missing.replace("{node}", &node);
        assert!(
            !configs.keys().any(|t| t.contains(&missing)),
            "{missing} announced"
        );
    }
    assert_eq!(
        get("sensor", "miner-nm_1-temp")["unit_of_measurement"],
        "°C"
    );
    // No error shows as the text "none", not HA's "unknown".
    assert_eq!(
        get("sensor", "miner-nm_1-last_error")["value_template"],
        "{{ value_json.last_error if value_json.last_error is not none else 'none' }}"
    );

    let status = get("binary_sensor", "bridge-status");
    assert_eq!(status["device_class"], "connectivity");
    assert_eq!(status["state_topic"], format!("{base}/status"));
    assert_eq!(status["device"]["identifiers"], bridge_id);
    assert_eq!(status["device"]["sw_version"], "9.9.9");
    let widget = get("sensor", "widget-cost_today");
    assert_eq!(widget["state_topic"], format!("{base}/widget/cost-today"));
    assert_eq!(widget["value_template"], "{{ value_json.get('cost_gbp') }}");
    assert_eq!(widget["device"]["identifiers"], bridge_id);
    assert_eq!(
        get("sensor", "bridge-version")["availability"][0]["topic"],
        format!("{base}/status")
    );
    for (topic, config) in &configs {
        assert!(
            config["unique_id"].is_string() && config["origin"]["name"] == "hmm",
            "{topic}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_is_resent_on_the_ha_birth_message() {
    let addr = broker();
    let root = unique("birth");
    let prefix = format!("{root}_ha");
    let (mqtt, _commands) = start_bridge(addr, &root);
    mqtt.set_miners(&[axeos("a")]);
    settled(&mqtt).await;
    let topic = format!("{prefix}/sensor/{root}/{root}-miner-a-hashrate/config");
    let mut observer = Observer::connect(addr, std::slice::from_ref(&topic)).await;
    let retained = observer
        .wait_for(Duration::from_secs(5), |m| m.retain)
        .await
        .expect("retained config");
    assert!(
        observer
            .collect(Duration::from_millis(500))
            .await
            .is_empty(),
        "no re-send without a reason"
    );

    observer
        .publish(&format!("{prefix}/status"), "online", false)
        .await;
    // HA asks for a random 0–5 s delay before re-announcing.
    let again = observer
        .wait_for(Duration::from_secs(8), |m| m.topic == topic)
        .await
        .expect("re-sent after birth");
    assert!(
        !again.retain,
        "a live re-send, not the broker's retained copy"
    );
    assert_eq!(
        again.payload, retained.payload,
        "unchanged config is byte-identical"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_and_state_are_resent_after_a_reconnect() {
    let addr = broker();
    let mut proxy = Proxy::start(addr).await;
    let root = unique("recon");
    let base = format!("t/{root}");
    let topic = format!("{root}_ha/sensor/{root}/{root}-miner-a-power/config");
    let (mqtt, _commands) = start_bridge(proxy.addr, &root);
    mqtt.set_miners(&[axeos("a")]);
    mqtt.publish_availability("a", true);
    settled(&mqtt).await;
    let mut observer = Observer::connect(
        addr,
        &[
            topic.clone(),
            format!("{base}/status"),
            format!("{base}/a/availability"),
        ],
    )
    .await;
    observer.collect(Duration::from_millis(500)).await; // the retained copies

    proxy.cut();
    proxy.restore().await;
    let got = observer.collect(Duration::from_secs(6)).await;
    let live = |t: &str, payload: &str| {
        got.iter()
            .any(|m| m.topic == t && !m.retain && m.text() == payload)
    };
    assert!(
        got.iter().any(|m| m.topic == topic && !m.retain),
        "config re-sent: {got:?}"
    );
    assert!(
        live(&format!("{base}/status"), "online"),
        "online after reconnect: {got:?}"
    );
    assert!(
        live(&format!("{base}/a/availability"), "online"),
        "state re-sent: {got:?}"
    );
    assert!(mqtt.stats().connects >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_miner_has_its_configs_and_state_cleared() {
    let addr = broker();
    let root = unique("rm");
    let (base, prefix) = (format!("t/{root}"), format!("{root}_ha"));
    let (mqtt, _commands) = start_bridge(addr, &root);
    mqtt.set_miners(&[axeos("keep"), axeos("gone")]);
    mqtt.publish_availability("gone", true);
    settled(&mqtt).await;
    assert_eq!(retained_configs(addr, &prefix, 45).await.len(), 45);

    let mut observer =
        Observer::connect(addr, &[format!("{prefix}/#"), format!("{base}/gone/#")]).await;
    observer.collect(Duration::from_millis(500)).await;
    mqtt.set_miners(&[axeos("keep")]);
    let got = observer.collect(Duration::from_secs(2)).await;
    let cleared: Vec<&Msg> = got.iter().filter(|m| m.payload.is_empty()).collect();
    assert_eq!(
        cleared
            .iter()
            .filter(|m| m.topic.contains("-miner-gone-"))
            .count(),
        20,
        "{got:?}"
    );
    assert!(
        cleared
            .iter()
            .any(|m| m.topic == format!("{base}/gone/availability"))
    );
    assert!(cleared.iter().all(|m| !m.topic.contains("-miner-keep-")));
    assert!(
        got.iter()
            .all(|m| !m.payload.is_empty() || m.topic.contains("gone"))
    );

    let remaining = retained_configs(addr, &prefix, 25).await;
    assert_eq!(remaining.len(), 25);
    assert!(remaining.keys().all(|t| !t.contains("gone")));
    let mut late = Observer::connect(addr, &[format!("{base}/gone/#")]).await;
    assert!(
        late.collect(Duration::from_millis(800)).await.is_empty(),
        "no retained state of the removed miner"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_configs_of_an_earlier_run_are_swept_at_start() {
    let addr = broker();
    let root = unique("sweep");
    let prefix = format!("{root}_ha");
    // An earlier run announced a miner "old" that is no longer configured, and a widget.
    let ghost = format!("{prefix}/sensor/{root}/{root}-miner-old-power/config");
    let widget = format!("{prefix}/sensor/{root}/{root}-widget-cost_today/config");
    let other = format!("{prefix}/sensor/other_instance/other_instance-miner-old-power/config");
    let seeder = Observer::connect(addr, &[format!("{prefix}/unused")]).await;
    for topic in [&ghost, &widget, &other] {
        seeder.publish(topic, r#"{"unique_id":"x"}"#, true).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (mqtt, _commands) = start_bridge(addr, &root);
    settled(&mqtt).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Before the daemon declared its miners and widgets nothing of theirs is judged.
    let configs = retained_configs(addr, &prefix, 8).await;
    assert!(
        configs.contains_key(&ghost) && configs.contains_key(&widget),
        "{:?}",
        configs.keys()
    );

    mqtt.set_miners(&[nmminer("new")]);
    settled(&mqtt).await;
    let configs = retained_configs(addr, &prefix, 5 + 11 + 2).await;
    assert!(!configs.contains_key(&ghost), "stale miner config swept");
    assert!(
        configs.contains_key(&widget),
        "widgets not declared yet: kept"
    );
    assert!(
        configs.contains_key(&other),
        "another instance's config is never touched"
    );

    mqtt.set_widgets(&[cost_widget()]);
    settled(&mqtt).await;
    let configs = retained_configs(addr, &prefix, 5 + 11 + 2).await;
    assert_eq!(
        configs[&widget]["unit_of_measurement"], "GBP",
        "the widget is re-announced, not deleted"
    );
    assert_eq!(configs.len(), 5 + 11 + 1 + 1);
}
