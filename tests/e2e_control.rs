//! End to end, control: requests through the daemon's one control API (and over HTTP)
//! change the simulated device, are refused when they must be, and every one is audited.

mod e2e_support;

use std::time::Duration;

use e2e_support::{Options, TOKEN, http, start};
use hmm::control::{ControlAction, ControlRefusal, ControlRequest};
use hmm::model::{Actor, Mode};
use hmm::simulate::SimModel;

fn request(miner: &str, action: ControlAction, reason: &str) -> ControlRequest {
    ControlRequest {
        miner: miner.to_string(),
        action,
        actor: Actor::Cli,
        reason: reason.to_string(),
        dry_run: false,
        audit: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_mode_restart_and_pause_change_the_device_and_are_audited() {
    let h = start(
        &[SimModel::BitaxeGammaV2_15, SimModel::BitaxeGammaV2_15],
        Options::default(),
    )
    .await;
    h.cycle_until_all_online().await;
    let devices = h.fleet.devices();
    let (bitaxe, second) = (&devices[0], &devices[1]);
    let before = bitaxe.control.snapshot();
    assert_ne!(
        h.latest(&bitaxe.name).mode,
        Some(Mode::Eco),
        "the test needs a device that is not in eco already"
    );

    // set_mode eco: the device's clock and voltage change, the next poll reads eco.
    let answer = h
        .daemon
        .controller
        .execute(request(
            &bitaxe.name,
            ControlAction::SetMode(Mode::Eco),
            "e2e: save power",
        ))
        .await
        .expect("set_mode eco accepted");
    let after = bitaxe.control.snapshot();
    assert!(
        after.frequency_mhz < before.frequency_mhz,
        "eco lowers the clock: {:?} -> {:?} ({answer})",
        before.frequency_mhz,
        after.frequency_mhz
    );
    assert!(
        after.core_voltage_mv < before.core_voltage_mv,
        "eco lowers the core voltage: {:?} -> {:?}",
        before.core_voltage_mv,
        after.core_voltage_mv
    );
    h.daemon.collector.cycle().await;
    let polled = h.latest(&bitaxe.name);
    assert_eq!(polled.mode, Some(Mode::Eco), "the next poll reads mode eco");
    assert_eq!(polled.frequency_mhz, after.frequency_mhz);

    let audit = h.daemon.store.audit(10, None).unwrap();
    let row = &audit[0];
    assert_eq!(row.actor, Actor::Cli);
    assert_eq!(row.miner, bitaxe.name);
    assert_eq!(row.action, "set_mode eco");
    assert_eq!(row.outcome, "ok");
    assert!(row.reason.starts_with("e2e: save power"), "{}", row.reason);

    // restart: the device reboots (uptime back near zero, one more restart counted).
    assert!(
        before.uptime_s > 60,
        "the simulated device has been up a while"
    );
    h.daemon
        .controller
        .execute(request(&bitaxe.name, ControlAction::Restart, "e2e: reboot"))
        .await
        .expect("restart accepted");
    let rebooted = bitaxe.control.snapshot();
    assert!(
        rebooted.uptime_s < 5,
        "uptime after restart: {} s",
        rebooted.uptime_s
    );
    assert_eq!(rebooted.restarts, before.restarts + 1);
    let audit = h.daemon.store.audit(10, None).unwrap();
    assert_eq!(
        (audit[0].action.as_str(), audit[0].outcome.as_str()),
        ("restart", "ok")
    );

    // set_enabled false on AxeOS v2.15: mining pauses.
    assert!(!second.control.snapshot().paused);
    h.daemon
        .controller
        .execute(request(
            &second.name,
            ControlAction::SetEnabled(false),
            "e2e: pause",
        ))
        .await
        .expect("pause accepted on v2.15");
    assert!(second.control.snapshot().paused, "the device paused mining");
    assert!(!h.daemon.fleet.get(&second.name).unwrap().status.enabled);
    let audit = h.daemon.store.audit(10, None).unwrap();
    assert_eq!(
        (audit[0].action.as_str(), audit[0].outcome.as_str()),
        ("set_enabled false", "ok")
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooldown_unknown_miner_and_unsupported_mode_are_refused_and_audited() {
    let h = start(
        &[SimModel::BitaxeGammaV2_15, SimModel::Nmminer],
        Options::default(),
    )
    .await;
    h.cycle_until_all_online().await;
    let bitaxe = h.device(SimModel::BitaxeGammaV2_15);
    let nmminer = h.device(SimModel::Nmminer);

    h.daemon
        .controller
        .execute(request(
            &bitaxe.name,
            ControlAction::SetMode(Mode::Eco),
            "first",
        ))
        .await
        .expect("the first change is allowed");
    let after_first = bitaxe.control.snapshot();

    // A second change within mode_cooldown (5 min) is refused; the device is untouched.
    let refusal = h
        .daemon
        .controller
        .execute(request(
            &bitaxe.name,
            ControlAction::SetMode(Mode::Turbo),
            "second",
        ))
        .await
        .unwrap_err();
    match &refusal {
        ControlRefusal::Cooldown {
            message,
            retry_after_s,
        } => {
            assert!(message.contains("cooldown"), "{message}");
            assert!(
                (290..=300).contains(retry_after_s),
                "retry after {retry_after_s} s"
            );
        }
        other => panic!("expected a cooldown refusal, got {other:?}"),
    }
    let untouched = bitaxe.control.snapshot();
    assert_eq!(untouched.frequency_mhz, after_first.frequency_mhz);
    assert_eq!(untouched.core_voltage_mv, after_first.core_voltage_mv);
    let audit = h.daemon.store.audit(10, None).unwrap();
    assert_eq!(audit[0].action, "set_mode turbo");
    assert_eq!(audit[0].outcome, "refused");
    assert!(audit[0].reason.starts_with("second"), "{}", audit[0].reason);
    assert!(audit[0].reason.contains("cooldown"), "{}", audit[0].reason);

    // Unknown miner: the reason names it and lists the configured ones.
    let refusal = h
        .daemon
        .controller
        .execute(request("no-such-miner", ControlAction::Restart, "typo"))
        .await
        .unwrap_err();
    let ControlRefusal::UnknownMiner(message) = &refusal else {
        panic!("expected UnknownMiner, got {refusal:?}");
    };
    assert!(message.contains("'no-such-miner'"), "{message}");
    assert!(message.contains(&bitaxe.name) && message.contains(&nmminer.name));
    let audit = h.daemon.store.audit(10, None).unwrap();
    assert_eq!(
        (
            audit[0].miner.as_str(),
            audit[0].action.as_str(),
            audit[0].outcome.as_str()
        ),
        ("no-such-miner", "restart", "refused")
    );
    assert!(
        audit[0].reason.contains("unknown miner"),
        "{}",
        audit[0].reason
    );

    // Unsupported mode: an NMMiner has no modes.
    let refusal = h
        .daemon
        .controller
        .execute(request(
            &nmminer.name,
            ControlAction::SetMode(Mode::Eco),
            "why not",
        ))
        .await
        .unwrap_err();
    let ControlRefusal::Unsupported(message) = &refusal else {
        panic!("expected Unsupported, got {refusal:?}");
    };
    assert!(message.contains("mode 'eco' is not supported"), "{message}");
    assert!(message.contains("supported: none"), "{message}");
    let audit = h.daemon.store.audit(10, None).unwrap();
    assert_eq!(audit[0].miner, nmminer.name);
    assert_eq!(audit[0].outcome, "refused");
    assert!(
        audit[0].reason.contains("not supported"),
        "{}",
        audit[0].reason
    );
    assert_eq!(audit.len(), 4, "every request was audited: {audit:?}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_mode_change_needs_the_bearer_token() {
    let h = start(&[SimModel::BitaxeGammaV2_15], Options::default()).await;
    h.cycle_until_all_online().await;
    let bitaxe = h.device(SimModel::BitaxeGammaV2_15);
    let addr = h.daemon.web_addr().expect("web is on");
    let path = format!("/api/miners/{}/mode", bitaxe.name);
    let before = bitaxe.control.snapshot();

    // Without the token (and with a wrong one): 401, nothing reaches the device.
    for token in [None, Some("wrong-token")] {
        let p = path.clone();
        let (status, body) =
            tokio::task::spawn_blocking(move || http(addr, "POST", &p, token, r#"{"mode":"eco"}"#))
                .await
                .unwrap();
        assert_eq!(status, 401, "token {token:?}: {body}");
        assert!(!body.contains(TOKEN), "the token never appears in a reply");
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let unchanged = bitaxe.control.snapshot();
    assert_eq!(unchanged.frequency_mhz, before.frequency_mhz);
    assert_eq!(unchanged.core_voltage_mv, before.core_voltage_mv);

    // With the token: 200 and the device runs in eco.
    let p = path.clone();
    let (status, body) = tokio::task::spawn_blocking(move || {
        http(addr, "POST", &p, Some(TOKEN), r#"{"mode":"eco"}"#)
    })
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let after = bitaxe.control.snapshot();
    assert!(
        after.frequency_mhz < before.frequency_mhz,
        "{:?} -> {:?}",
        before.frequency_mhz,
        after.frequency_mhz
    );
    let audit = h.daemon.store.audit(10, None).unwrap();
    assert_eq!(audit[0].actor, Actor::Http);
    assert_eq!(
        (audit[0].action.as_str(), audit[0].outcome.as_str()),
        ("set_mode eco", "ok")
    );
    h.stop().await;
}
