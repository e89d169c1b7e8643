//! `hmm simulate`: faithful fake devices of every kind on loopback, with fault modes.
//!
//! Tests, `hmm demo` and load tests start a [`SimFleet`] in-process from a [`FleetSpec`];
//! the command line runs one until Ctrl-C. Each device speaks its real protocol byte for
//! byte as recorded in `reference/protocols.md` and the fixtures:
//!
//! * AxeOS HTTP (`axeos.rs`): Bitaxe on v2.4 / v2.10 / v2.15 firmware and NerdQAxe++,
//! * cgminer TCP (`cgminer.rs`): Avalon Nano 3 and Nano 3S,
//! * NMMiner UDP telemetry + config + HTTP probe (`nmminer.rs`),
//!
//! with telemetry that drifts plausibly and reproducibly from a seed (`telemetry.rs`),
//! control commands that change it (modes, restarts, pools), and runtime-switchable
//! faults (`faults.rs`) through each device's [`SimControl`].

mod axeos;
mod cgminer;
mod control;
mod faults;
mod fleet;
mod http;
mod json;
mod models;
mod nmminer;
mod telemetry;

use std::net::SocketAddr;
use std::time::Duration;

pub use control::{DeviceSnapshot, SimControl};
pub use faults::{CgminerQuirk, DEFAULT_SLOW_DELAY, Fault};
pub use fleet::{DEFAULT_NMMINER_TARGET, DeviceSpec, FleetSpec, SimDevice, SimError, SimFleet};
pub use models::SimModel;

/// Options of `hmm simulate`.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulateOptions {
    /// Number of devices (cycling through the models); `None` = one of each model.
    pub miners: Option<usize>,
    /// Telemetry seed.
    pub seed: u64,
    /// `(device name or "all", fault)` pairs from `--fault NAME=MODE`.
    pub faults: Vec<(String, Fault)>,
    /// Where NMMiner devices send telemetry.
    pub nmminer_target: SocketAddr,
    /// How often they send.
    pub nmminer_interval: Duration,
}

impl Default for SimulateOptions {
    fn default() -> SimulateOptions {
        SimulateOptions {
            miners: None,
            seed: 1,
            faults: Vec::new(),
            nmminer_target: DEFAULT_NMMINER_TARGET,
            nmminer_interval: Duration::from_secs(5),
        }
    }
}

impl SimulateOptions {
    /// The fleet these options describe.
    pub fn fleet_spec(&self) -> Result<FleetSpec, SimError> {
        let mut spec = match self.miners {
            Some(count) => FleetSpec::mixed(count, self.seed),
            None => FleetSpec::one_of_each(self.seed),
        };
        spec.nmminer_target = self.nmminer_target;
        spec.nmminer_interval = self.nmminer_interval;
        for (name, fault) in &self.faults {
            spec.set_fault(name, *fault)?;
        }
        Ok(spec)
    }
}

/// One line per device: name, kind, model, address (and fault when not healthy).
pub fn device_table(fleet: &SimFleet) -> String {
    let mut out = String::new();
    for device in fleet.devices() {
        let fault = device.control.fault();
        let fault = if fault == Fault::None {
            String::new()
        } else {
            format!("  fault={fault}")
        };
        let config = device
            .config_addr
            .map(|addr| format!("  udp-config={addr}"))
            .unwrap_or_default();
        out.push_str(&format!(
            "{:<22} {:<8} {:<28} {}{config}{fault}\n",
            device.name,
            device.kind.as_str(),
            device.model.description(),
            device.addr
        ));
    }
    out
}

/// Runs `hmm simulate` until Ctrl-C: starts the fleet on its own runtime, prints the
/// device table and the `[[miners]]` blocks, then stops cleanly.
pub fn run(options: SimulateOptions) -> Result<(), SimError> {
    let spec = options.fleet_spec()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| SimError::Bind {
            what: "the tokio runtime".into(),
            source,
        })?;
    runtime.block_on(async move {
        let fleet = SimFleet::start(spec).await?;
        println!(
            "hmm simulate: {} devices on loopback (Ctrl-C stops)\n",
            fleet.devices().len()
        );
        print!("{}", device_table(&fleet));
        println!("\n# paste into hmm's config:\n");
        print!("{}", fleet.miners_toml());
        if let Err(error) = tokio::signal::ctrl_c().await {
            log::warn!("simulate: cannot wait for Ctrl-C ({error}); stopping now");
        }
        println!("hmm simulate: stopping");
        fleet.shutdown().await;
        Ok(())
    })
}
