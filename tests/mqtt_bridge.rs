//! The MQTT bridge against a real broker (in-process rumqttd, or `HMM_TEST_MQTT`):
//! retained state for late subscribers, the last will after SIGKILL, commands, and a
//! broker outage that neither blocks publishing nor grows memory.

mod mqtt_support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use hmm::model::{MinerStatus, Mode, Sample};
use hmm::mqtt::{Action, CommandResult, FleetState, MAX_EVENTS, MinerState};
use mqtt_support::*;
use serde_json::json;

mod exec_support;

fn state(name: &str, uptime_s: u64) -> MinerState {
    MinerState {
        status: MinerStatus {
            name: name.into(),
            model: Some("Bitaxe Gamma".into()),
            firmware: Some("v2.4.0".into()),
            pool: Some("stratum+tcp://solo.ckpool.org:3333".into()),
            last_seen_ms: Some(1_767_225_600_000),
            enabled: true,
            ..MinerStatus::default()
        },
        sample: Sample {
            online: true,
            hashrate_hs: Some(1.1e12),
            power_w: Some(17.6),
            temp_c: Some(58.5),
            fan_rpm: Some(3900),
            shares_accepted: Some(120),
            uptime_s: Some(uptime_s),
            mode: Some(Mode::Standard),
            ..Sample::default()
        },
        pool_name: Some("ckpool".into()),
        energy_kwh: Some(3.25),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_state_reaches_a_late_subscriber() {
    let addr = broker();
    let root = unique("late");
    let (mqtt, _commands) = start_bridge(addr, &root);
    mqtt.set_miners(&[axeos("bitaxe-1")]);
    mqtt.publish_miner_state(&state("bitaxe-1", 600));
    mqtt.publish_availability("bitaxe-1", true);
    assert!(mqtt.publish_widget("daily", &json!({"cost_gbp": 0.42})));
    assert!(
        !mqtt.publish_widget("daily", &json!({"cost_gbp": 0.42})),
        "unchanged widget is not re-sent"
    );
    mqtt.publish_fleet(&FleetState {
        price_p_kwh: Some(24.5),
        cost_24h_p: Some(131.0),
        miners_online: Some(1),
    });
    settled(&mqtt).await;

    let base = format!("t/{root}");
    let mut late = Observer::connect(addr, &[format!("{base}/#")]).await;
    let got = late.collect(Duration::from_millis(1500)).await;
    let find = |topic: &str| {
        got.iter()
            .find(|m| m.topic == format!("{base}/{topic}"))
            .unwrap_or_else(|| panic!("no retained {topic} in {got:?}"))
    };
    assert!(
        got.iter().all(|m| m.retain),
        "late subscriber sees only retained messages"
    );
    assert_eq!(find("status").text(), "online");
    assert_eq!(find("bitaxe-1/availability").text(), "online");
    let state = find("bitaxe-1/state").json();
    assert_eq!(state["hashrate_ths"], json!(1.1));
    assert_eq!(state["hashrate_hs"], json!(1.1e12));
    assert_eq!(state["power_w"], json!(17.6));
    assert_eq!(state["temp_c"], json!(58.5));
    assert_eq!(state["vr_temp_c"], json!(null));
    assert_eq!(state["uptime_s"], json!(600));
    assert_eq!(state["mode"], json!("standard"));
    assert_eq!(state["pool_name"], json!("ckpool"));
    assert_eq!(state["energy_kwh"], json!(3.25));
    assert_eq!(state["enabled"], json!(true));
    assert_eq!(state["last_seen"], json!("2026-01-01T00:00:00Z"));
    assert_eq!(find("widget/daily").json(), json!({"cost_gbp": 0.42}));
    let bridge = find("bridge/state").json();
    assert_eq!(bridge["price_gbp_kwh"], json!(0.245));
    assert_eq!(bridge["cost_24h_gbp"], json!(1.31));
    assert_eq!(bridge["version"], json!("9.9.9"));
    assert!(
        got.iter().all(|m| m.topic != format!("{base}/event")),
        "events are not retained"
    );
}

/// The child half of the last-will test: connect, say so, then wait to be killed.
fn last_will_child(spec: &str) {
    let (addr, root) = spec.split_once('|').unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let (mqtt, _commands) = start_bridge(addr.parse().unwrap(), root);
        settled(&mqtt).await;
        println!("CHILD-CONNECTED");
        tokio::time::sleep(Duration::from_secs(120)).await;
    });
}

#[test]
fn last_will_offline_is_delivered_when_the_process_is_killed() {
    if let Ok(spec) = std::env::var("HMM_MQTT_WILL_CHILD") {
        return last_will_child(&spec);
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let addr = broker();
        let root = unique("will");
        let status = format!("t/{root}/status");
        let mut observer = Observer::connect(addr, std::slice::from_ref(&status)).await;
        let mut child = exec_support::self_command()
            .args([
                "last_will_offline_is_delivered_when_the_process_is_killed",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("HMM_MQTT_WILL_CHILD", format!("{addr}|{root}"))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let connected = tokio::task::spawn_blocking(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .any(|line| line.contains("CHILD-CONNECTED"))
        });
        assert!(
            tokio::time::timeout(Duration::from_secs(30), connected)
                .await
                .unwrap()
                .unwrap()
        );
        let online = observer
            .wait_for(Duration::from_secs(5), |m| m.text() == "online")
            .await;
        assert!(online.is_some(), "child announced online");

        child.kill().unwrap(); // SIGKILL: no chance to say goodbye
        child.wait().unwrap();
        let offline = observer
            .wait_for(Duration::from_secs(20), |m| m.topic == status)
            .await
            .expect("will delivered");
        assert_eq!(offline.text(), "offline");

        let mut late = Observer::connect(addr, std::slice::from_ref(&status)).await;
        let retained = late
            .wait_for(Duration::from_secs(5), |m| m.topic == status)
            .await
            .unwrap();
        assert!(retained.retain);
        assert_eq!(retained.text(), "offline");
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_commands_reach_the_daemon_and_invalid_ones_are_refused_with_a_reason() {
    let addr = broker();
    let root = unique("cmd");
    let base = format!("t/{root}");
    let mut events = Observer::connect(addr, &[format!("{base}/event")]).await;
    // A retained command left on the broker (a client published it with retain=true
    // while hmm was away) reaches hmm flagged retained when it subscribes: it is never
    // executed, and hmm clears it from the broker.
    events
        .publish(&format!("{base}/bitaxe-1/set/restart"), "PRESS", true)
        .await;
    let (mqtt, mut commands) = start_bridge(addr, &root);
    mqtt.set_miners(&[axeos("bitaxe-1"), nmminer("nm-1")]);
    let event = events
        .wait_for(Duration::from_secs(10), |_| true)
        .await
        .unwrap()
        .json();
    assert_eq!(event["result"], "ignored");
    assert!(
        event["reason"].as_str().unwrap().contains("retained"),
        "{event}"
    );
    settled(&mqtt).await;
    let mut late = Observer::connect(addr, &[format!("{base}/+/set/+")]).await;
    assert!(
        late.collect(Duration::from_millis(800)).await.is_empty(),
        "retained command was cleared"
    );

    events
        .publish(&format!("{base}/bitaxe-1/set/mode"), "eco", false)
        .await;
    let pending = tokio::time::timeout(Duration::from_secs(5), commands.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pending.command.miner, "bitaxe-1");
    assert_eq!(pending.command.action, Action::SetMode(Mode::Eco));
    pending.respond(CommandResult::Accepted);
    let event = events
        .wait_for(Duration::from_secs(5), |_| true)
        .await
        .unwrap()
        .json();
    assert_eq!(
        (event["result"].as_str(), event["action"].as_str()),
        (Some("accepted"), Some("set_mode eco"))
    );

    events
        .publish(&format!("{base}/bitaxe-1/set/pool"), "public-pool", false)
        .await;
    let pending = tokio::time::timeout(Duration::from_secs(5), commands.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        pending.command.action,
        Action::SwitchPool("public-pool".into())
    );
    pending.respond(CommandResult::Refused("pool cooldown: 14 min left".into()));
    let event = events
        .wait_for(Duration::from_secs(5), |_| true)
        .await
        .unwrap()
        .json();
    assert_eq!(event["result"], "refused");
    assert_eq!(event["reason"], "pool cooldown: 14 min left");

    let bad = [
        ("bitaxe-1/set/mode", "warp", "unknown mode"),
        ("nm-1/set/mode", "eco", "does not support mode eco"),
        ("bitaxe-1/set/enabled", "maybe", "send ON or OFF"),
        (
            "bitaxe-1/set/pool",
            "nicehash",
            "configured pools are ckpool, public-pool",
        ),
        ("ghost/set/restart", "PRESS", "unknown miner"),
        ("bitaxe-1/set/fan", "50", "unknown command set/fan"),
    ];
    for (topic, payload, reason) in bad {
        events
            .publish(&format!("{base}/{topic}"), payload, false)
            .await;
        let event = events
            .wait_for(Duration::from_secs(5), |_| true)
            .await
            .unwrap()
            .json();
        assert_eq!(event["result"], "refused", "{topic} {payload}: {event}");
        assert!(
            event["reason"].as_str().unwrap().contains(reason),
            "{topic}: {event}"
        );
    }

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        commands.try_recv().is_none(),
        "no invalid or retained command was delivered"
    );

    // A valid command the daemon never answers is still answered on hmm/event.
    events
        .publish(&format!("{base}/bitaxe-1/set/enabled"), "OFF", false)
        .await;
    let pending = tokio::time::timeout(Duration::from_secs(5), commands.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pending.command.action, Action::SetEnabled(false));
    drop(pending);
    let event = events
        .wait_for(Duration::from_secs(5), |_| true)
        .await
        .unwrap()
        .json();
    assert_eq!(event["result"], "refused");
    assert!(
        event["reason"]
            .as_str()
            .unwrap()
            .contains("without answering")
    );
    assert_eq!(mqtt.stats().commands, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_outage_neither_blocks_nor_grows_and_the_newest_state_arrives_after() {
    let addr = broker();
    let mut proxy = Proxy::start(addr).await;
    let root = unique("outage");
    let base = format!("t/{root}");
    let (mqtt, _commands) = start_bridge(proxy.addr, &root);
    let miners: Vec<_> = (0..5).map(|i| axeos(&format!("m{i}"))).collect();
    mqtt.set_miners(&miners);
    settled(&mqtt).await;
    let baseline_len = mqtt.queue_len();
    assert_eq!(baseline_len, 0);

    proxy.cut();
    let outage = Duration::from_secs(20);
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    let (mut counter, mut max_len, mut max_bytes) = (0u64, 0usize, 0usize);
    while started.elapsed() < outage {
        for miner in &miners {
            counter += 1;
            let call = Instant::now();
            mqtt.publish_miner_state(&state(&miner.name, counter));
            mqtt.publish_availability(&miner.name, counter % 2 == 0);
            mqtt.publish_event(&json!({"type": "test", "n": counter}));
            slowest = slowest.max(call.elapsed());
        }
        max_len = max_len.max(mqtt.queue_len());
        max_bytes = max_bytes.max(mqtt.queued_bytes());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(!mqtt.connected());
    assert!(
        counter > 5_000,
        "published {counter} times during the outage"
    );
    assert!(
        slowest < Duration::from_millis(50),
        "a publish call took {slowest:?}"
    );
    // Per topic only the newest payload waits: 5 states + 5 availabilities (+ whatever the
    // connect-time announce left), plus the bounded event ring.
    let topics_bound = 5 * 2 + 2 + 25 * 5 + 5;
    assert!(
        max_len <= topics_bound + MAX_EVENTS,
        "queue grew to {max_len}"
    );
    assert!(max_bytes < 512 * 1024, "queue held {max_bytes} bytes");
    assert!(mqtt.stats().superseded > 10_000);
    eprintln!(
        "outage {outage:?}: {counter} state+availability+event rounds, slowest call {slowest:?}, \
         max queue {max_len} messages / {max_bytes} bytes"
    );

    let mut observer = Observer::connect(addr, &[format!("{base}/m4/state")]).await;
    proxy.restore().await;
    let last = counter;
    // Back-off after 20 s of failures is at most 30 s.
    let newest = observer
        .wait_for(Duration::from_secs(45), |m| {
            m.json()["uptime_s"] == json!(last)
        })
        .await;
    assert!(
        newest.is_some(),
        "newest state after the outage: {:?}",
        mqtt.stats()
    );
    assert!(mqtt.connected());
    assert!(mqtt.stats().connects >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_says_offline_and_unconfigured_miners_are_not_published() {
    let addr = broker();
    let root = unique("bye");
    let base = format!("t/{root}");
    let (mqtt, _commands) = start_bridge(addr, &root);
    mqtt.set_miners(&[axeos("a")]);
    mqtt.publish_miner_state(&state("stranger", 1));
    settled(&mqtt).await;
    let mut observer = Observer::connect(addr, &[format!("{base}/#")]).await;
    let got = observer.collect(Duration::from_millis(800)).await;
    assert!(got.iter().all(|m| !m.topic.contains("stranger")), "{got:?}");
    assert!(
        got.iter()
            .any(|m| m.topic == format!("{base}/status") && m.text() == "online")
    );

    mqtt.shutdown(Duration::from_secs(3)).await;
    assert!(!mqtt.connected());
    let offline = observer
        .wait_for(Duration::from_secs(5), |m| {
            m.topic == format!("{base}/status")
        })
        .await;
    assert_eq!(offline.map(|m| m.text()).as_deref(), Some("offline"));
    // Publishing after shutdown is harmless and still returns at once.
    mqtt.publish_availability("a", false);
}
