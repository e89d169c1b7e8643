//! The control handle of one simulated device: switch faults, read its state, move its
//! clock, restart it. Tests, `hmm demo` and load tests hold one per device.
//!
//! It is a cheap clone of an `Arc<Mutex<DeviceState>>` shared with the device's server
//! tasks; the lock is only ever held for a few microseconds and never across an `.await`.

use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::faults::{CgminerQuirk, Fault};
use super::models::SimModel;
use super::telemetry::DeviceState;

/// Handle to one simulated device's state.
#[derive(Debug, Clone)]
pub struct SimControl {
    state: Arc<Mutex<DeviceState>>,
}

/// What a test or a demo can read back from a simulated device (after catching up).
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceSnapshot {
    /// Seconds since the device last booted.
    pub uptime_s: u64,
    /// Restarts since the simulator started.
    pub restarts: u32,
    /// ASIC clock, MHz (AxeOS models; `None` elsewhere).
    pub frequency_mhz: Option<f64>,
    /// Core voltage set point, mV (AxeOS models; `None` elsewhere).
    pub core_voltage_mv: Option<f64>,
    /// Avalon `WORKMODE` (Nano 3S) or `WORKLEVEL` (Nano 3); `None` for other kinds.
    pub workmode: Option<u8>,
    /// Avalon calibration in progress (`ADJ[0]`): mode switches are refused.
    pub calibrating: bool,
    /// URL (or host) of the pool in use.
    pub pool_url: String,
    /// Port of the pool in use (AxeOS keeps it apart from the host).
    pub pool_port: u16,
    /// Worker name on the pool in use.
    pub pool_user: String,
    /// Current hashrate, H/s.
    pub hashrate_hs: f64,
    /// Current power, W.
    pub power_w: f64,
    /// Chip temperature, °C.
    pub temp_c: f64,
    /// Accepted shares since boot.
    pub shares_accepted: u64,
    /// Rejected shares since boot.
    pub shares_rejected: u64,
    /// Best share difficulty ever.
    pub best_diff: f64,
    /// Current fault mode.
    pub fault: Fault,
    /// Mining paused (AxeOS pause / Avalon softoff): hashrate 0, idle power.
    pub paused: bool,
}

impl SimControl {
    pub(crate) fn new(state: DeviceState) -> SimControl {
        SimControl {
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// Locks the state after simulating the time since the last access.
    pub(crate) fn lock(&self) -> MutexGuard<'_, DeviceState> {
        let mut guard = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        guard.catch_up();
        guard
    }

    /// Switches the device into a fault mode (`Fault::None` heals it). Takes effect for the
    /// next connection or datagram.
    pub fn set_fault(&self, fault: Fault) {
        self.lock().fault = fault;
    }

    /// The current fault mode.
    pub fn fault(&self) -> Fault {
        self.lock().fault
    }

    /// Selects a §3.6 malformed-output quirk (cgminer devices only; ignored elsewhere).
    pub fn set_cgminer_quirk(&self, quirk: CgminerQuirk) {
        self.lock().quirk = quirk;
    }

    /// AxeOS access-point mode: while on, the private-network gate is off (firmware
    /// behaviour); while off (default) non-private clients and origins get 401.
    pub fn set_ap_mode(&self, on: bool) {
        self.lock().ap_mode = on;
    }

    /// Makes an AxeOS device treat every client as coming from `ip` (a loopback client is
    /// always private, so this is how a test sees the client-address branch of the gate).
    pub fn set_client_ip_override(&self, ip: Option<IpAddr>) {
        self.lock().client_ip_override = ip;
    }

    /// The model this device plays.
    pub fn model(&self) -> SimModel {
        self.lock().model
    }

    /// Reads the device's state now.
    pub fn snapshot(&self) -> DeviceSnapshot {
        let state = self.lock();
        let kind = state.model.kind();
        let axeos = kind == crate::model::MinerKind::Axeos;
        let avalon = kind == crate::model::MinerKind::Avalon;
        let pool = state.pool();
        DeviceSnapshot {
            uptime_s: state.uptime_s(),
            restarts: state.restarts,
            frequency_mhz: axeos.then_some(state.frequency_mhz),
            core_voltage_mv: axeos.then_some(state.core_voltage_mv),
            workmode: avalon.then_some(state.workmode),
            calibrating: state.calibrating(),
            pool_url: pool.url.clone(),
            pool_port: pool.port,
            pool_user: pool.user.clone(),
            hashrate_hs: state.hashrate_hs,
            power_w: state.power_w,
            temp_c: state.temp_c,
            shares_accepted: state.accepted,
            shares_rejected: state.rejected,
            best_diff: state.best_ever,
            fault: state.fault,
            paused: state.paused,
        }
    }

    /// Moves the device clock forward by `by` (whole seconds), simulating the time between:
    /// shares accumulate, calibration ends, a scheduled reboot happens.
    pub fn advance(&self, by: Duration) {
        self.lock().advance(by.as_secs());
    }

    /// Reboots the device now, as its restart command would.
    pub fn restart(&self) {
        self.lock().restart();
    }

    /// Puts an Avalon Nano 3S into the exact state recorded in
    /// `fixtures/avalon_nano3s_estats.wire` and freezes its clock, so `estats` answers
    /// that file byte for byte. Returns `false` (and changes nothing) for other models.
    pub fn load_fixture_state(&self) -> bool {
        let mut state = self.lock();
        if state.model != SimModel::AvalonNano3s {
            return false;
        }
        state.load_nano3s_fixture();
        true
    }
}
