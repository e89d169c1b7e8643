//! End to end, lifecycle: the daemon's own timer loop fills the store, `hmm status --json`
//! (the built binary, another process) reads it after shutdown, and a SIGHUP-style reload
//! adds and removes miners without touching the others' ids and history.

mod e2e_support;
mod exec_support;

use std::time::{Duration, Instant};

use e2e_support::{Options, miners_toml, start};
use hmm::config::Config;
use hmm::model::MinerKind;
use hmm::simulate::SimModel;
use tokio::sync::watch;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_json_after_shutdown_lists_every_miner_with_nulls_for_missing_values() {
    let h = start(
        &[
            SimModel::BitaxeGammaV2_15,
            SimModel::AvalonNano3,
            SimModel::Nmminer,
        ],
        Options {
            poll_interval: "2s",
            ..Options::default()
        },
    )
    .await;
    let (stop_tx, stop_rx) = watch::channel(false);
    let running = tokio::spawn(std::sync::Arc::clone(&h.daemon).run(stop_rx));
    // Let the daemon's own timer poll until every miner has been seen online.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let all_online = h
            .daemon
            .fleet
            .snapshot()
            .iter()
            .all(|m| m.latest.as_ref().is_some_and(|s| s.online));
        if all_online && h.daemon.collector.cycles() >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon's timer did not bring every miner online within 15 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("the daemon stops within 5 s")
        .unwrap();

    let data_dir = h.dir.path().to_path_buf();
    let output = tokio::task::spawn_blocking(move || {
        exec_support::hmm_command()
            .arg("status")
            .arg("--json")
            .arg("--data-dir")
            .arg(&data_dir)
            .output()
    })
    .await
    .unwrap()
    .expect("run hmm status");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "hmm status failed: {}{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout).expect("status is JSON");
    assert_eq!(rows.len(), 3, "{stdout}");
    for device in h.fleet.devices() {
        let row = rows
            .iter()
            .find(|r| r["name"] == device.name.as_str())
            .unwrap_or_else(|| panic!("{} missing from hmm status: {stdout}", device.name));
        assert_eq!(row["kind"], device.kind.as_str(), "{row}");
        assert!(row["model"].is_string(), "model persisted: {row}");
        let hashrate = row["hashrate_hs"]
            .as_f64()
            .expect("hashrate_hs is a number");
        assert!(hashrate > 0.0, "{row}");
        assert!(
            row["temp_c"].as_f64().is_some(),
            "temp_c is a number: {row}"
        );
        if device.kind == MinerKind::Nmminer {
            assert!(
                row["power_w"].is_null(),
                "NMMiner has no power sensor: null, never 0: {row}"
            );
            assert!(row["efficiency_j_th"].is_null(), "{row}");
        } else {
            assert!(row["power_w"].as_f64().is_some_and(|w| w > 1.0), "{row}");
        }
    }
    h.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_adds_and_removes_miners_keeping_ids_and_history() {
    let h = start(
        &[
            SimModel::BitaxeGammaV2_15,
            SimModel::AvalonNano3s,
            SimModel::BitaxeGammaV2_10,
        ],
        Options {
            configured: Some(2),
            ..Options::default()
        },
    )
    .await;
    let devices = h.fleet.devices();
    let (kept, removed, added) = (&devices[0], &devices[1], &devices[2]);
    h.cycle_until_all_online().await;
    h.daemon.collector.cycle().await;
    let kept_id = h.id(&kept.name);
    let removed_id = h.id(&removed.name);
    let history = |id: u32| {
        h.daemon
            .store
            .range(id, 0, u64::MAX / 2, 1000, None)
            .unwrap()
            .samples
    };
    let kept_before = history(kept_id);
    let removed_before = history(removed_id);
    assert!(kept_before.len() >= 2 && removed_before.len() >= 2);

    // The new config drops the Avalon and adds the v2.10 Bitaxe.
    let text = format!(
        "{}{}",
        h.base_config,
        miners_toml(&[kept.clone(), added.clone()])
    );
    let config = Config::from_str(&text, "<reload>").expect("new config is valid");
    h.daemon.reload(config).expect("reload accepted");
    assert_eq!(
        h.daemon.fleet.names(),
        vec![kept.name.clone(), added.name.clone()]
    );
    assert_eq!(h.id(&kept.name), kept_id, "a kept miner keeps its store id");
    let added_id = h.id(&added.name);
    assert!(added_id != kept_id && added_id != removed_id);

    let samples = h.daemon.collector.cycle().await;
    assert_eq!(samples.len(), 2, "the removed miner is no longer polled");
    assert!(samples.iter().all(|s| s.online));
    assert!(
        h.latest(&added.name).online,
        "the added miner is polled at once"
    );
    let kept_after = history(kept_id);
    assert_eq!(
        kept_after.len(),
        kept_before.len() + 1,
        "history kept and continued"
    );
    assert_eq!(&kept_after[..kept_before.len()], &kept_before[..]);
    assert_eq!(
        history(removed_id),
        removed_before,
        "a removed miner's history stays in the store"
    );

    // Putting the Avalon back gives it its old id.
    let text = format!("{}{}", h.base_config, miners_toml(devices));
    h.daemon
        .reload(Config::from_str(&text, "<reload>").unwrap())
        .unwrap();
    assert_eq!(h.id(&removed.name), removed_id);

    // A bad config is refused with reasons naming the line and field; the old one runs on.
    let bad = format!(
        "{}{}\n[[miners]]\nname = \"toaster\"\nkind = \"toaster\"\nhost = \"127.0.0.1\"\n",
        h.base_config
            .replace("poll_interval = \"10s\"", "poll_interval = \"soon\""),
        miners_toml(devices)
    );
    let errors = Config::from_str(&bad, "hmm.toml").unwrap_err();
    let text = errors.to_string();
    assert!(errors.len() >= 2, "both problems are reported: {text}");
    assert!(text.contains("hmm.toml:2"), "names the line: {text}");
    assert!(text.contains("poll_interval"), "{text}");
    assert!(text.contains("toaster") && text.contains("kind"), "{text}");
    assert_eq!(
        h.daemon.fleet.names().len(),
        3,
        "the running config is unchanged"
    );

    // Moving the store is refused while running.
    let moved = h.base_config.replace(
        &h.dir.path().display().to_string(),
        &h.dir.path().join("elsewhere").display().to_string(),
    );
    let refused = h
        .daemon
        .reload(Config::from_str(&format!("{moved}{}", miners_toml(devices)), "<m>").unwrap())
        .unwrap_err();
    assert!(refused.contains("data_dir"), "{refused}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_that_corrects_a_miners_kind_or_host_takes_effect_at_once() {
    let h = start(
        &[SimModel::AvalonNano3s, SimModel::BitaxeGammaV2_15],
        Options {
            configured: Some(0),
            ..Options::default()
        },
    )
    .await;
    let devices = h.fleet.devices();
    let (avalon, bitaxe) = (&devices[0], &devices[1]);
    // A user's first config: the Avalon typed as AxeOS, and "rig" at the Bitaxe's address.
    let wrong = format!(
        "{}\n[[miners]]\nname = \"{}\"\nkind = \"axeos\"\nhost = \"{}\"\n\n[[miners]]\nname = \"rig\"\nkind = \"axeos\"\nhost = \"{}\"\n",
        h.base_config,
        avalon.name,
        avalon.host(),
        bitaxe.host()
    );
    h.daemon
        .reload(Config::from_str(&wrong, "<wrong>").unwrap())
        .unwrap();
    h.daemon.collector.cycle().await;
    assert!(
        !h.latest(&avalon.name).online,
        "an Avalon does not speak AxeOS"
    );
    assert!(h.last_error(&avalon.name).is_some());
    assert!(h.latest("rig").online);
    let avalon_id = h.id(&avalon.name);

    // The fix: kind avalon; and "rig" now points at the Avalon's port (a different device).
    let fixed = format!(
        "{}\n[[miners]]\nname = \"{}\"\nkind = \"avalon\"\nhost = \"{}\"\n\n[[miners]]\nname = \"rig\"\nkind = \"avalon\"\nhost = \"{}\"\n",
        h.base_config,
        avalon.name,
        avalon.host(),
        avalon.host()
    );
    h.daemon
        .reload(Config::from_str(&fixed, "<fixed>").unwrap())
        .unwrap();
    assert_eq!(h.id(&avalon.name), avalon_id);
    let samples = h.daemon.collector.cycle().await;
    assert!(
        samples.iter().all(|s| s.online),
        "after the reload both are polled as Avalons: {:?}",
        h.daemon
            .fleet
            .snapshot()
            .iter()
            .map(|m| (m.config.name.clone(), m.kind, m.status.last_error.clone()))
            .collect::<Vec<_>>()
    );
    let rig = h.daemon.fleet.get("rig").unwrap();
    assert_eq!(rig.kind, Some(MinerKind::Avalon));
    assert_eq!(rig.status.kind, Some(MinerKind::Avalon));
    // Control capabilities follow the device now behind "rig", not the Bitaxe it was.
    let model = rig.status.model.clone().unwrap_or_default();
    assert!(
        model.to_lowercase().contains("nano"),
        "rig's model: {model}"
    );
    h.stop().await;
}
