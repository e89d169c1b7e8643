//! End to end, devices: the real daemon polls a simulated fleet and what lands in the store
//! is in H/s, W and °C; a hung device costs only its own timeout; garbage and truncated
//! replies leave a reason and an offline sample with no values (never zeros).

mod e2e_support;

use std::time::{Duration, Instant};

use e2e_support::{Options, assert_close, start};
use hmm::model::Sample;
use hmm::simulate::{Fault, SimModel};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_values_are_hs_watts_and_celsius_for_every_kind() {
    let h = start(
        &[
            SimModel::BitaxeGammaV2_15,
            SimModel::AvalonNano3s,
            SimModel::Nmminer,
        ],
        Options::default(),
    )
    .await;
    h.cycle_until_all_online().await;

    for model in [
        SimModel::BitaxeGammaV2_15,
        SimModel::AvalonNano3s,
        SimModel::Nmminer,
    ] {
        let device = h.device(model);
        let sample = h.latest(&device.name);
        let truth = device.control.snapshot();
        let name = &device.name;
        assert!(sample.online, "{name}: stored sample is offline");
        // Telemetry drifts a little every simulated second and devices round what they
        // print, so allow 5 %; a unit mistake (GH/s vs H/s, mW vs W) is a factor of 1000.
        assert_close(
            &format!("{name} hashrate H/s"),
            sample.hashrate_hs,
            truth.hashrate_hs,
            0.05,
        );
        if model != SimModel::Nmminer {
            assert!(
                sample.hashrate_hs.unwrap() > 1e11,
                "{name}: an ASIC's hashrate in H/s is in the hundreds of billions, got {:?}",
                sample.hashrate_hs
            );
        }
        // Sample.temp_c is the hottest chip: AxeOS reports that as `temp`; an Avalon
        // reports chip average `TAvg` (the simulator's temp_c) and `TMax`, 5 °C above it.
        let hottest = match model {
            SimModel::AvalonNano3s => truth.temp_c.round() + 5.0,
            _ => truth.temp_c,
        };
        assert_close(&format!("{name} temp °C"), sample.temp_c, hottest, 0.03);
        match model {
            // NMMiner v2 has no power sensor: the value is missing, never 0.
            SimModel::Nmminer => assert_eq!(sample.power_w, None, "{name} power"),
            _ => assert_close(
                &format!("{name} power W"),
                sample.power_w,
                truth.power_w,
                0.05,
            ),
        }
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_device_costs_only_its_timeout_and_is_marked_offline() {
    let h = start(
        &[
            SimModel::BitaxeGammaV2_15,
            SimModel::AvalonNano3s,
            SimModel::BitaxeGammaV2_10,
        ],
        Options::default(),
    )
    .await;
    h.cycle_until_all_online().await;
    let hung = h.device(SimModel::AvalonNano3s).name.clone();
    h.device(SimModel::AvalonNano3s)
        .control
        .set_fault(Fault::Hang);

    let started = Instant::now();
    let samples = h.daemon.collector.cycle().await;
    let took = started.elapsed();

    assert!(
        took < Duration::from_secs(2),
        "a cycle with one hung device took {took:?}; [devices] timeout is 1 s"
    );
    assert!(
        took >= Duration::from_millis(900),
        "the cycle ended in {took:?}, before the hung device's 1 s timeout could expire"
    );
    assert_eq!(samples.len(), 3);
    for device in h.fleet.devices() {
        let sample = h.latest(&device.name);
        if device.name == hung {
            assert_eq!(sample, Sample::offline(sample.miner_id, sample.ts_ms));
            assert_eq!(
                h.last_error(&device.name).as_deref(),
                Some("timeout after 1 s"),
                "{}: the reason a user sees",
                device.name
            );
        } else {
            assert!(
                sample.online,
                "{} was delayed by the hung device",
                device.name
            );
            assert!(sample.hashrate_hs.is_some());
            assert_eq!(h.last_error(&device.name), None);
        }
    }

    // Healing the device brings it back with values and clears the reason.
    h.device(SimModel::AvalonNano3s)
        .control
        .set_fault(Fault::None);
    h.daemon.collector.cycle().await;
    assert!(h.latest(&hung).online);
    assert_eq!(h.last_error(&hung), None);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_truncated_replies_leave_a_reason_and_no_values() {
    let h = start(
        &[SimModel::BitaxeGammaV2_15, SimModel::AvalonNano3s],
        Options::default(),
    )
    .await;
    h.cycle_until_all_online().await;

    for (fault, word) in [(Fault::Garbage, "garbage"), (Fault::Truncated, "truncated")] {
        for model in [SimModel::BitaxeGammaV2_15, SimModel::AvalonNano3s] {
            let device = h.device(model);
            device.control.set_fault(fault);
            // The sample this cycle wrote, which must be in the store: faulty replies fail
            // at once, so this cycle may end in the same millisecond as the previous one.
            let id = h.id(&device.name);
            let sample = h
                .daemon
                .collector
                .cycle()
                .await
                .into_iter()
                .find(|s| s.miner_id == id)
                .expect("the cycle polled every miner");
            let stored = h
                .daemon
                .store
                .range(id, sample.ts_ms, sample.ts_ms + 1, 10, None)
                .unwrap();
            assert!(
                stored.samples.contains(&sample),
                "{} with {fault}: the cycle's sample was not stored",
                device.name
            );
            assert_eq!(
                sample,
                Sample::offline(sample.miner_id, sample.ts_ms),
                "{} with {fault}: the stored sample must be offline with every value None",
                device.name
            );
            let reason = h.last_error(&device.name).unwrap_or_default();
            assert!(
                reason.contains(word),
                "{} with {fault}: last_error {reason:?} should mention {word}",
                device.name
            );
            device.control.set_fault(Fault::None);
        }
    }
    // Nothing already stored was lost: the earlier online samples are still there.
    let id = h.id(&h.device(SimModel::BitaxeGammaV2_15).name);
    let page = h
        .daemon
        .store
        .range(id, 0, u64::MAX / 2, 100, None)
        .unwrap();
    assert!(
        page.samples
            .iter()
            .any(|s| s.online && s.hashrate_hs.is_some())
    );
    assert!(page.samples.iter().filter(|s| !s.online).count() >= 2);
    h.stop().await;
}
