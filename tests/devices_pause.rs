//! The "enabled" switch (pause / resume mining): the Avalon soft-switch replies parsed from
//! the fixtures, the paused state read from every info fixture, and the drivers driving the
//! simulated fleet (AxeOS v2.15 pause/resume, v2.10 refusal, Nano 3S softoff/softon,
//! original Nano 3 refusal).

use std::time::Duration;

use hmm::devices::{self, DeviceError, Limits, avalon, axeos, capabilities, cgminer};
use hmm::model::MinerKind;
use hmm::simulate::{FleetSpec, SimDevice, SimFleet, SimModel};
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

/// Reads `shared/fixtures/<name>` from the nearest ancestor directory that has it (the
/// checkout's parent, or one level further up from a worktree), else the copy in
/// `tests/fixtures/`.
fn fixture(name: &str) -> Vec<u8> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = root
        .ancestors()
        .skip(1)
        .map(|dir| dir.join("shared/fixtures").join(name))
        .chain(std::iter::once(root.join("tests/fixtures").join(name)))
        .find(|path| path.exists())
        .unwrap_or_else(|| panic!("fixture {name} not found beside {}", root.display()));
    std::fs::read(&path).unwrap_or_else(|err| panic!("read {}: {err}", path.display()))
}

fn json(name: &str) -> Value {
    cgminer::decode_reply(&fixture(name)).unwrap_or_else(|err| panic!("{name}: {err}"))
}

// ------------------------------------------------------------------------- fixtures

#[test]
fn softoff_and_softon_replies_give_the_accepted_trigger_time() {
    let softoff = json("avalon_q_ascset_softoff_asic-rs.json");
    assert_eq!(
        avalon::parse_soft_reply(&softoff, "softoff").unwrap(),
        Some(1_753_434_821)
    );
    let softon = json("avalon_q_ascset_softon_asic-rs.json");
    assert_eq!(
        avalon::parse_soft_reply(&softon, "softon").unwrap(),
        Some(1_753_434_757)
    );
    // A reply confirming the other switch is not a confirmation of this one.
    let err = avalon::parse_soft_reply(&softon, "softoff").unwrap_err();
    assert!(
        matches!(&err, DeviceError::Refused(msg) if msg.contains("success softon:1753434757")),
        "{err:?}"
    );
    // The help listing of the Q is where softon/softoff are advertised.
    let help = cgminer::status_of(&json("avalon_q_ascset_help_asic-rs.json")).unwrap();
    assert!(help.msg.contains("|softon|softoff|"), "{}", help.msg);
    assert_eq!(
        avalon::soft_parameter(false, 1_753_434_821),
        "0,softoff,1:1753434821"
    );
    assert_eq!(
        avalon::soft_parameter(true, 1_753_434_757),
        "0,softon,1:1753434757"
    );
}

#[test]
fn unknown_option_reply_means_firmware_without_the_soft_switch() {
    let examples: Value = serde_json::from_slice(&fixture("avalon_nano3s_ascset_examples.json"))
        .expect("examples file is JSON");
    let (_, bogus) = examples
        .as_object()
        .unwrap()
        .iter()
        .find(|(request, _)| request.contains("0,bogus,1"))
        .expect("unknown-option example");
    let err = cgminer::decode_reply(bogus.to_string().as_bytes()).unwrap_err();
    assert_eq!(
        err,
        DeviceError::Command("ASC 0 set failed: Unknown option: bogus".into())
    );
    match avalon::soft_error(err, "softoff") {
        DeviceError::Unsupported(msg) => {
            assert!(
                msg.contains("Avalon Q, or a newer Nano 3S firmware"),
                "{msg}"
            );
            assert!(msg.contains("Unknown option: bogus"), "{msg}");
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
    // Other failures keep their meaning.
    let other = avalon::soft_error(
        DeviceError::Command("ASC 0 set failed: invalid value".into()),
        "softoff",
    );
    assert!(matches!(other, DeviceError::Refused(_)), "{other:?}");
}

#[test]
fn paused_state_and_pause_capability_from_every_info_fixture() {
    let v2_15 = axeos::parse_system_info(&fixture("bitaxe_system_info.json")).unwrap();
    assert_eq!(v2_15.info.paused, Some(false));
    assert!(v2_15.info.can_pause());
    assert!(capabilities(&v2_15.info).pause);

    let v2_10 = axeos::parse_system_info(&fixture("bitaxe_system_info_v2_10.json")).unwrap();
    assert_eq!(v2_10.info.paused, None, "v2.10 has no miningPaused");
    assert!(!v2_10.info.can_pause());
    assert!(!capabilities(&v2_10.info).pause);

    let nerd = axeos::parse_system_info(&fixture("nerdqaxe_system_info_v1_0_38.json")).unwrap();
    assert_eq!(nerd.info.paused, None);
    assert!(!nerd.info.can_pause(), "NerdQAxe has shutdown, not pause");

    let nano3s =
        avalon::reading_from(None, None, Some(&json("avalon_nano3s_estats.json")), None).unwrap();
    assert_eq!(nano3s.info.paused, Some(false), "SoftOFF[0] = running");
    assert!(nano3s.info.can_pause());

    // The Q fixture was captured in standby: SoftOFF[4], "In Idle", GHSspd 0.
    let q = avalon::reading_from(
        Some(&json("avalon_q_version_asic-rs.json")),
        None,
        Some(&json("avalon_q_stats_asic-rs.json")),
        None,
    )
    .unwrap();
    assert_eq!(q.info.paused, Some(true));
    assert_eq!(q.sample.hashrate_hs, Some(0.0));
    assert!(q.info.can_pause());
    assert!(avalon::is_q_model(q.info.model.as_deref()));

    let nmminer = devices::nmminer::parse_datagram(&fixture("nmminer_udp.json"))
        .unwrap()
        .1;
    assert_eq!(nmminer.info.paused, None);
    assert!(!capabilities(&nmminer.info).pause);
}

#[test]
fn pause_reply_message_is_the_devices_own() {
    assert_eq!(
        axeos::pause_message(false, br#"{"message":"Mining paused"}"#),
        "Mining paused"
    );
    assert_eq!(axeos::pause_message(true, b""), "mining resumed");
}

// ------------------------------------------------------------------------- simulator

fn limits() -> Limits {
    Limits {
        timeout: Duration::from_secs(5),
        max_reply_bytes: 262_144,
    }
}

async fn fleet_of(model: SimModel) -> SimFleet {
    SimFleet::start(FleetSpec::of_models([model], 11))
        .await
        .expect("simulated fleet starts")
}

fn only(fleet: &SimFleet) -> &SimDevice {
    &fleet.devices()[0]
}

#[tokio::test]
async fn axeos_v2_15_pauses_and_resumes() {
    let fleet = fleet_of(SimModel::BitaxeGammaV2_15).await;
    let device = only(&fleet);
    let addr = device.addr.to_string();
    let before = axeos::poll(&addr, limits()).await.unwrap();
    assert_eq!(before.info.paused, Some(false));
    assert!(capabilities(&before.info).pause);
    assert!(before.sample.hashrate_hs.unwrap() > 500e9);

    let outcome = axeos::set_mining(&addr, false, limits()).await.unwrap();
    assert_eq!(outcome.message, "Mining paused");
    let snapshot = device.control.snapshot();
    assert!(snapshot.paused);
    assert_eq!(snapshot.hashrate_hs, 0.0);
    let paused = axeos::poll(&addr, limits()).await.unwrap();
    assert_eq!(paused.info.paused, Some(true));
    assert_eq!(paused.sample.hashrate_hs, Some(0.0));
    let idle = paused.sample.power_w.unwrap();
    assert!((2.0..4.5).contains(&idle), "idle power {idle} W");
    // Still paused after time passes: shares stop, power stays idle.
    device.control.advance(Duration::from_secs(120));
    let snapshot = device.control.snapshot();
    assert!(snapshot.paused && snapshot.hashrate_hs == 0.0 && snapshot.power_w < 4.5);

    let outcome = devices::set_mining(MinerKind::Axeos, &addr, true, limits())
        .await
        .unwrap();
    assert_eq!(outcome.message, "Mining resumed");
    assert!(!device.control.snapshot().paused);
    let resumed = axeos::poll(&addr, limits()).await.unwrap();
    assert_eq!(resumed.info.paused, Some(false));
    assert!(resumed.sample.hashrate_hs.unwrap() > 500e9);
    assert!(resumed.sample.power_w.unwrap() > 10.0);
    fleet.shutdown().await;
}

#[tokio::test]
async fn axeos_v2_10_has_no_pause_and_says_which_firmware_does() {
    let fleet = fleet_of(SimModel::BitaxeGammaV2_10).await;
    let device = only(&fleet);
    let addr = device.addr.to_string();
    let reading = axeos::poll(&addr, limits()).await.unwrap();
    assert!(!capabilities(&reading.info).pause);
    for on in [false, true] {
        match axeos::set_mining(&addr, on, limits()).await {
            Err(DeviceError::Unsupported(msg)) => {
                assert!(msg.contains("AxeOS 2.14 or newer"), "{msg}");
                assert!(msg.contains("HTTP 404"), "{msg}");
            }
            other => panic!("expected Unsupported, got {other:?}"),
        }
    }
    let snapshot = device.control.snapshot();
    assert!(!snapshot.paused);
    assert!(snapshot.hashrate_hs > 500e9, "still mining");
    fleet.shutdown().await;
}

#[tokio::test]
async fn nano3s_softoff_then_softon() {
    let fleet = fleet_of(SimModel::AvalonNano3s).await;
    let device = only(&fleet);
    let addr = device.addr.to_string();
    let before = avalon::poll(&addr, limits()).await.unwrap();
    assert_eq!(before.info.paused, Some(false));
    assert!(capabilities(&before.info).pause);

    let outcome = avalon::set_mining(&addr, false, limits()).await.unwrap();
    assert!(
        outcome.message.contains("ASC 0 set info: success softoff:"),
        "{}",
        outcome.message
    );
    // The switch is triggered SOFT_SWITCH_DELAY_S after now, on the device clock.
    assert!(!device.control.snapshot().paused, "not before the trigger");
    device
        .control
        .advance(Duration::from_secs(avalon::SOFT_SWITCH_DELAY_S + 1));
    let snapshot = device.control.snapshot();
    assert!(snapshot.paused);
    assert_eq!(snapshot.hashrate_hs, 0.0);
    let paused = avalon::poll(&addr, limits()).await.unwrap();
    assert_eq!(paused.info.paused, Some(true));
    assert_eq!(paused.sample.hashrate_hs, Some(0.0));
    let idle = paused.sample.power_w.unwrap();
    assert!(idle <= 4.0, "idle power {idle} W");

    let outcome = devices::set_mining(MinerKind::Avalon, &addr, true, limits())
        .await
        .unwrap();
    assert!(
        outcome.message.contains("success softon:"),
        "{}",
        outcome.message
    );
    device
        .control
        .advance(Duration::from_secs(avalon::SOFT_SWITCH_DELAY_S + 1));
    assert!(!device.control.snapshot().paused);
    let resumed = avalon::poll(&addr, limits()).await.unwrap();
    assert_eq!(resumed.info.paused, Some(false));
    assert!(resumed.sample.hashrate_hs.unwrap() > 1e12);
    fleet.shutdown().await;
}

#[tokio::test]
async fn original_nano3_refuses_the_soft_switch() {
    let fleet = fleet_of(SimModel::AvalonNano3).await;
    let device = only(&fleet);
    let addr = device.addr.to_string();
    let reading = avalon::poll(&addr, limits()).await.unwrap();
    assert!(!capabilities(&reading.info).pause);
    match avalon::set_mining(&addr, false, limits()).await {
        Err(DeviceError::Unsupported(msg)) => {
            assert!(msg.contains("Unknown option: softoff"), "{msg}");
            assert!(
                msg.contains("Avalon Q, or a newer Nano 3S firmware"),
                "{msg}"
            );
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
    device.control.advance(Duration::from_secs(10));
    let snapshot = device.control.snapshot();
    assert!(!snapshot.paused);
    assert!(snapshot.hashrate_hs > 1e12, "still mining");
    fleet.shutdown().await;
}

/// A cgminer port that reads one request and closes without answering.
async fn silent_cgminer() -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        for _ in 0..2 {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let mut buf = [0u8; 512];
            let _ = stream.read(&mut buf).await;
        }
    });
    (addr, task)
}

#[tokio::test]
async fn softon_without_reply_is_sent_but_softoff_must_be_confirmed() {
    let (addr, task) = silent_cgminer().await;
    let outcome = avalon::set_mining(&addr, true, limits()).await.unwrap();
    assert!(
        outcome.message.contains("without a reply"),
        "{}",
        outcome.message
    );
    let err = avalon::set_mining(&addr, false, limits())
        .await
        .unwrap_err();
    assert!(!matches!(err, DeviceError::Unsupported(_)), "{err:?}");
    task.await.unwrap();
}
