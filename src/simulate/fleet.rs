//! Starting and stopping a fleet of simulated devices.
//!
//! Every device gets its own loopback listener on a port chosen by the OS (bind to `:0`),
//! one tokio task per listener, and one short-lived task per connection. A device's state
//! is a few hundred bytes and advances lazily (see `telemetry.rs`), so hundreds of devices
//! cost little memory and no CPU while idle. One `watch` channel stops everything.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::control::SimControl;
use super::faults::Fault;
use super::models::SimModel;
use super::telemetry::{DeviceSeed, DeviceState};
use super::{axeos, cgminer, http, nmminer};
use crate::model::MinerKind;

/// Where NMMiner telemetry goes unless told otherwise (hmm's default `nmminer_listen` port).
pub const DEFAULT_NMMINER_TARGET: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 12345);

/// One device to simulate.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceSpec {
    /// Name (also its hostname), unique in the fleet.
    pub name: String,
    /// What it plays.
    pub model: SimModel,
    /// Fault mode at start.
    pub fault: Fault,
}

/// What fleet to start.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetSpec {
    /// The devices.
    pub devices: Vec<DeviceSpec>,
    /// Seed of all telemetry randomness: the same seed gives the same telemetry.
    pub seed: u64,
    /// Where NMMiner/NMAxe devices send their status datagrams.
    pub nmminer_target: SocketAddr,
    /// How often they send (real devices: every 2–5 s).
    pub nmminer_interval: Duration,
    /// How long an Avalon calibrates after a boot or mode switch (mode changes refused).
    pub calibration: Duration,
}

impl FleetSpec {
    /// `count` devices cycling through every model (`count` = 8 gives one of each).
    pub fn mixed(count: usize, seed: u64) -> FleetSpec {
        let models = (0..count).map(|index| SimModel::ALL[index % SimModel::ALL.len()]);
        FleetSpec::of_models(models, seed)
    }

    /// One device of every model.
    pub fn one_of_each(seed: u64) -> FleetSpec {
        FleetSpec::mixed(SimModel::ALL.len(), seed)
    }

    /// The given models, named `sim-<model>-<n>`.
    pub fn of_models(models: impl IntoIterator<Item = SimModel>, seed: u64) -> FleetSpec {
        let mut counters = [0usize; SimModel::ALL.len()];
        let devices = models
            .into_iter()
            .map(|model| {
                let slot = SimModel::ALL.iter().position(|m| *m == model).unwrap_or(0);
                counters[slot] += 1;
                DeviceSpec {
                    // Config names allow [a-z0-9_-] only: "supra-v2.4" becomes "supra-v2-4".
                    name: format!("sim-{}-{}", model.slug().replace('.', "-"), counters[slot]),
                    model,
                    fault: Fault::None,
                }
            })
            .collect();
        FleetSpec {
            devices,
            seed,
            nmminer_target: DEFAULT_NMMINER_TARGET,
            nmminer_interval: Duration::from_secs(5),
            calibration: Duration::from_secs(120),
        }
    }

    /// Sets the start fault of the device `name` (`all` or `*` = every device).
    pub fn set_fault(&mut self, name: &str, fault: Fault) -> Result<(), SimError> {
        let mut found = false;
        for device in &mut self.devices {
            if name == "all" || name == "*" || device.name == name {
                device.fault = fault;
                found = true;
            }
        }
        if found {
            Ok(())
        } else {
            let names: Vec<&str> = self
                .devices
                .iter()
                .map(|device| device.name.as_str())
                .collect();
            Err(SimError::Spec(format!(
                "--fault {name}=...: no simulated device is called '{name}'; the fleet has: {} (or use 'all')",
                names.join(", ")
            )))
        }
    }
}

/// Why the fleet could not start.
#[derive(Debug)]
pub enum SimError {
    /// A socket could not be bound.
    Bind {
        /// Which device and socket.
        what: String,
        /// The OS error.
        source: io::Error,
    },
    /// The spec is inconsistent (duplicate name, unknown fault target).
    Spec(String),
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::Bind { what, source } => write!(
                f,
                "simulate: cannot bind {what}: {source} (is loopback available and the open-file limit high enough? try `ulimit -n 4096`)"
            ),
            SimError::Spec(message) => write!(f, "simulate: {message}"),
        }
    }
}

impl std::error::Error for SimError {}

/// One running simulated device.
#[derive(Debug, Clone)]
pub struct SimDevice {
    /// Name (as in the `[[miners]]` block).
    pub name: String,
    /// Protocol family.
    pub kind: MinerKind,
    /// Model and firmware.
    pub model: SimModel,
    /// Main address: AxeOS HTTP, cgminer TCP, NMMiner HTTP (NMAxe: its UDP config port).
    pub addr: SocketAddr,
    /// NMMiner/NMAxe: where config datagrams are received (the 12347-style port).
    pub config_addr: Option<SocketAddr>,
    /// Control handle.
    pub control: SimControl,
}

impl SimDevice {
    /// The `host` value for hmm's config: `ip:port`. For NMMiner the IP is also the
    /// datagrams' source and `IP` field, which is how hmm tells devices apart.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// A ready-to-paste `[[miners]]` block.
    pub fn miners_toml(&self) -> String {
        format!(
            "[[miners]]\nname = \"{}\"\nkind = \"{}\"\nhost = \"{}\"\n",
            self.name,
            self.kind.as_str(),
            self.host()
        )
    }
}

/// A running fleet. Dropping it without [`SimFleet::shutdown`] leaves the tasks running
/// until the runtime stops.
#[derive(Debug)]
pub struct SimFleet {
    devices: Vec<SimDevice>,
    nmminer_target: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl SimFleet {
    /// Binds every device's sockets and starts serving. Must run inside a tokio runtime.
    pub async fn start(spec: FleetSpec) -> Result<SimFleet, SimError> {
        let mut names = std::collections::HashSet::new();
        for device in &spec.devices {
            if !names.insert(device.name.as_str()) {
                return Err(SimError::Spec(format!(
                    "two simulated devices are called '{}'; names must be unique",
                    device.name
                )));
            }
        }
        let (shutdown, _) = watch::channel(false);
        let mut fleet = SimFleet {
            devices: Vec::with_capacity(spec.devices.len()),
            nmminer_target: spec.nmminer_target,
            shutdown,
            tasks: Vec::new(),
        };
        let epoch = Instant::now();
        let mut nm_index = 0u32;
        for (index, device) in spec.devices.iter().enumerate() {
            let ip = if device.model.kind() == MinerKind::Nmminer {
                nm_index += 1;
                nmminer_ip(nm_index)
            } else {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            };
            let state = DeviceState::new(DeviceSeed {
                model: device.model,
                seed: spec.seed,
                index: u32::try_from(index).unwrap_or(u32::MAX),
                epoch,
                calibration_s: spec.calibration.as_secs(),
                hostname: device.name.clone(),
                ip,
            });
            let control = SimControl::new(state);
            control.set_fault(device.fault);
            let started = match device.model.kind() {
                MinerKind::Nmminer => fleet.start_nmminer(device, control.clone(), &spec).await,
                _ => fleet.start_tcp(device, control.clone()).await,
            };
            if let Err(error) = started {
                fleet.shutdown().await;
                return Err(error);
            }
        }
        Ok(fleet)
    }

    async fn start_tcp(
        &mut self,
        device: &DeviceSpec,
        control: SimControl,
    ) -> Result<(), SimError> {
        let listener = bind_tcp(&device.name, IpAddr::V4(Ipv4Addr::LOCALHOST), 0).await?;
        let addr = local_addr(&listener, &device.name)?;
        let kind = device.model.kind();
        let task = match kind {
            MinerKind::Avalon => spawn_listener(
                listener,
                control.clone(),
                self.shutdown.subscribe(),
                Protocol::Cgminer,
            ),
            _ => spawn_listener(
                listener,
                control.clone(),
                self.shutdown.subscribe(),
                Protocol::Http(axeos::handle),
            ),
        };
        self.tasks.push(task);
        self.devices.push(SimDevice {
            name: device.name.clone(),
            kind,
            model: device.model,
            addr,
            config_addr: None,
            control,
        });
        Ok(())
    }

    async fn start_nmminer(
        &mut self,
        device: &DeviceSpec,
        control: SimControl,
        spec: &FleetSpec,
    ) -> Result<(), SimError> {
        let wanted_ip = control.lock().ip;
        // Fall back to 127.0.0.1 where the OS has only that loopback address (macOS).
        let config_socket = match UdpSocket::bind(SocketAddr::new(wanted_ip, 0)).await {
            Ok(socket) => socket,
            Err(_) => {
                control.lock().ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
                UdpSocket::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))
                    .await
                    .map_err(|source| SimError::Bind {
                        what: format!("{}: UDP config socket", device.name),
                        source,
                    })?
            }
        };
        let config_addr = config_socket
            .local_addr()
            .map_err(|source| SimError::Bind {
                what: format!("{}: UDP config socket address", device.name),
                source,
            })?;
        let ip = config_addr.ip();
        let sender = UdpSocket::bind(SocketAddr::new(ip, 0))
            .await
            .map_err(|source| SimError::Bind {
                what: format!("{}: UDP telemetry socket", device.name),
                source,
            })?;
        self.tasks.push(tokio::spawn(nmminer::run_config_listener(
            config_socket,
            control.clone(),
            self.shutdown.subscribe(),
        )));
        self.tasks.push(tokio::spawn(nmminer::run_telemetry(
            sender,
            spec.nmminer_target,
            spec.nmminer_interval,
            control.clone(),
            self.shutdown.subscribe(),
        )));
        let mut addr = config_addr;
        if device.model == SimModel::Nmminer {
            // The HTTP probe listens on the same port number as the config socket when free.
            let listener = match bind_tcp(&device.name, ip, config_addr.port()).await {
                Ok(listener) => listener,
                Err(_) => bind_tcp(&device.name, ip, 0).await?,
            };
            addr = local_addr(&listener, &device.name)?;
            self.tasks.push(spawn_listener(
                listener,
                control.clone(),
                self.shutdown.subscribe(),
                Protocol::Http(nmminer::handle_http),
            ));
        }
        self.devices.push(SimDevice {
            name: device.name.clone(),
            kind: MinerKind::Nmminer,
            model: device.model,
            addr,
            config_addr: Some(config_addr),
            control,
        });
        Ok(())
    }

    /// The running devices, in spec order.
    pub fn devices(&self) -> &[SimDevice] {
        &self.devices
    }

    /// The device called `name`.
    pub fn device(&self, name: &str) -> Option<&SimDevice> {
        self.devices.iter().find(|device| device.name == name)
    }

    /// Where NMMiner devices send telemetry.
    pub fn nmminer_target(&self) -> SocketAddr {
        self.nmminer_target
    }

    /// `[[miners]]` blocks for every device, ready to paste into a config, preceded by the
    /// `nmminer_listen` hint when the fleet has NMMiner devices.
    pub fn miners_toml(&self) -> String {
        let mut out = String::new();
        if self
            .devices
            .iter()
            .any(|device| device.kind == MinerKind::Nmminer)
        {
            out.push_str(&format!(
                "# NMMiner telemetry goes to {}: set [devices] nmminer_listen = \"{}\"\n\n",
                self.nmminer_target, self.nmminer_target
            ));
        }
        for device in &self.devices {
            out.push_str(&device.miners_toml());
            out.push('\n');
        }
        out
    }

    /// Stops every listener, sender and open connection (a hanging one included).
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
        }
    }
}

/// 127.1.x.y for the n-th NMMiner device (n ≥ 1): distinct loopback addresses so a
/// listener can tell devices apart by source address and `IP` field.
fn nmminer_ip(n: u32) -> IpAddr {
    let n = n.min(250 * 250);
    IpAddr::V4(Ipv4Addr::new(
        127,
        1,
        ((n - 1) / 250) as u8,
        ((n - 1) % 250 + 1) as u8,
    ))
}

async fn bind_tcp(name: &str, ip: IpAddr, port: u16) -> Result<TcpListener, SimError> {
    TcpListener::bind(SocketAddr::new(ip, port))
        .await
        .map_err(|source| SimError::Bind {
            what: format!("{name}: TCP listener on {ip}:{port}"),
            source,
        })
}

fn local_addr(listener: &TcpListener, name: &str) -> Result<SocketAddr, SimError> {
    listener.local_addr().map_err(|source| SimError::Bind {
        what: format!("{name}: listener address"),
        source,
    })
}

/// What a listener speaks.
#[derive(Clone, Copy)]
enum Protocol {
    Http(http::Handler),
    Cgminer,
}

fn spawn_listener(
    listener: TcpListener,
    control: SimControl,
    mut shutdown: watch::Receiver<bool>,
    protocol: Protocol,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = shutdown.changed() => return,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    log::debug!("simulate: accept failed: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let control = control.clone();
            let mut connection_shutdown = shutdown.clone();
            tokio::spawn(async move {
                let serve = async {
                    match protocol {
                        Protocol::Http(handler) => {
                            http::serve_connection(stream, peer, control, handler).await;
                        }
                        Protocol::Cgminer => cgminer::serve_connection(stream, control).await,
                    }
                };
                tokio::select! {
                    _ = serve => {}
                    _ = connection_shutdown.changed() => {}
                }
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_specs_cycle_models_with_unique_names() {
        let spec = FleetSpec::mixed(10, 1);
        assert_eq!(spec.devices.len(), 10);
        assert_eq!(spec.devices[0].name, "sim-gamma-v2-15-1");
        assert_eq!(spec.devices[8].name, "sim-gamma-v2-15-2");
        let names: std::collections::HashSet<_> = spec.devices.iter().map(|d| &d.name).collect();
        assert_eq!(names.len(), 10);
    }

    #[test]
    fn fault_for_an_unknown_device_names_the_fleet() {
        let mut spec = FleetSpec::one_of_each(1);
        let error = spec.set_fault("nope", Fault::Hang).unwrap_err().to_string();
        assert!(error.contains("sim-nano3s-1"), "{error}");
        spec.set_fault("sim-nano3s-1", Fault::Hang).unwrap();
        assert_eq!(spec.devices[4].fault, Fault::Hang);
    }

    #[test]
    fn nmminer_addresses_are_distinct_loopback_addresses() {
        assert_eq!(nmminer_ip(1), IpAddr::V4(Ipv4Addr::new(127, 1, 0, 1)));
        assert_eq!(nmminer_ip(251), IpAddr::V4(Ipv4Addr::new(127, 1, 1, 1)));
    }
}
