//! NMMiner and NMAxe: passive UDP telemetry on port 12345, pool changes by a config
//! datagram to UDP 12347, and the v2 firmware's HTTP probe used by detection (§4).
//!
//! Devices broadcast a JSON status datagram every 2–5 s. [`NmminerListener`] binds the
//! port once for the whole fleet and keeps only the latest datagram per device with its
//! arrival time, so the collector asks "latest reading for host X, and is it older than
//! `nmminer_offline_after`?" without any network I/O of its own.
//!
//! Keying: by the IP the payload reports (`IP`, NMAxe `ip`), falling back to the datagram's
//! source address. The payload has no MAC or serial, so an IP is the only stable identity,
//! and it is what the config's `host` holds; the payload's own IP wins over the source
//! because relays (NMController forwarding, container bridges) rewrite the source. The map
//! is bounded ([`MAX_DEVICES`]) so broadcast noise cannot grow memory over months.
//!
//! Payload styles: NMMiner (`"HashRate":"113.13K"`, `"Share":"1/138"` = rejected/accepted,
//! `"Uptime":"00d 01:23:46"`) and NMAxe (`"1.2045TH/s"`, `"3/10452/99.9%"`,
//! session`\r`ever pairs in `BestDiff`/`Uptime`, `"Power":"18.4W"`). Keys are matched
//! case-insensitively, as NMController does.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use tokio::net::UdpSocket;

use super::fields::{count, first_count, first_number, first_text, number, si_number};
use super::{
    ControlOutcome, DeviceError, DeviceInfo, Limits, PoolTarget, Reading, Variant, online_sample,
    with_deadline,
};
use crate::model::MinerKind;
use crate::units::{ghs_to_hs, now_ms, parse_si};

/// Port the devices broadcast telemetry to.
pub const TELEMETRY_PORT: u16 = 12345;
/// Port devices listen on for config datagrams.
pub const CONFIG_PORT: u16 = 12347;
/// Most devices the listener remembers; the longest-silent one is dropped beyond this.
pub const MAX_DEVICES: usize = 1024;
/// Largest datagram read; telemetry datagrams are ~500 bytes.
const MAX_DATAGRAM: usize = 4096;

/// Parses one telemetry datagram into the IP the payload names (if any) and a reading.
pub fn parse_datagram(bytes: &[u8]) -> Result<(Option<IpAddr>, Reading), DeviceError> {
    let obj = match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(obj)) => lowercase_keys(obj),
        Ok(_) => return Err(DeviceError::garbage(bytes)),
        Err(err) if err.is_eof() => return Err(DeviceError::Truncated("NMMiner datagram")),
        Err(_) => return Err(DeviceError::garbage(bytes)),
    };
    if !obj.contains_key("hashrate") && !obj.contains_key("share") {
        return Err(DeviceError::Garbage(
            "not an NMMiner status datagram (no HashRate or Share)".into(),
        ));
    }
    let ip = first_text(&obj, &["ip"]).and_then(|ip| ip.parse::<IpAddr>().ok());
    let board = first_text(&obj, &["boardtype"]);
    let is_nmaxe = board
        .as_deref()
        .is_some_and(|b| b.to_ascii_lowercase().contains("axe"));
    let variant = if is_nmaxe {
        Variant::Nmaxe
    } else {
        Variant::Nmminer
    };

    let mut sample = online_sample();
    sample.hashrate_hs = obj.get("hashrate").and_then(parse_hashrate);
    if let Some((rejected, accepted)) = first_text(&obj, &["share"]).and_then(|s| parse_shares(&s))
    {
        sample.shares_rejected = Some(rejected);
        sample.shares_accepted = Some(accepted);
    }
    sample.best_diff = first_text(&obj, &["bestdiff"]).and_then(|d| parse_si(ever_part(&d)));
    sample.uptime_s = first_text(&obj, &["uptime"]).and_then(|u| parse_uptime(session_part(&u)));
    // CYD boards without a sensor report 0 °C.
    sample.temp_c = first_number(&obj, &["temp"]).filter(|t| *t != 0.0);
    sample.power_w = first_text(&obj, &["power"])
        .and_then(|p| {
            p.trim()
                .trim_end_matches(['W', 'w'])
                .trim()
                .parse::<f64>()
                .ok()
        })
        .or_else(|| first_number(&obj, &["power"]))
        .filter(|w| w.is_finite() && *w > 0.0);

    let mut info = DeviceInfo::new(MinerKind::Nmminer, variant);
    info.model = board;
    info.firmware = first_text(&obj, &["version"]);
    info.pool_url = first_text(&obj, &["poolinuse"]);
    info.ip = ip.map(|ip| ip.to_string());
    Ok((ip, Reading { sample, info }))
}

fn lowercase_keys(obj: Map<String, Value>) -> Map<String, Value> {
    obj.into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect()
}

/// "113.13K" (H/s), "1.2045TH/s", "1013.4KH/s", "956 H/s", or a bare number (H/s).
pub fn parse_hashrate(value: &Value) -> Option<f64> {
    let Value::String(text) = value else {
        return number(value).filter(|v| *v >= 0.0);
    };
    let trimmed = text.trim();
    let lower = trimmed.to_ascii_lowercase();
    let without_unit = if lower.ends_with("h/s") {
        &trimmed[..trimmed.len() - 3]
    } else {
        trimmed
    };
    parse_si(without_unit).filter(|v| *v >= 0.0)
}

/// "rejected/accepted[/pct%]" → (rejected, accepted).
pub fn parse_shares(text: &str) -> Option<(u64, u64)> {
    let mut parts = text.split('/').map(str::trim);
    let rejected = parts.next()?.parse().ok()?;
    let accepted = parts.next()?.parse().ok()?;
    Some((rejected, accepted))
}

/// "DDd HH:MM:SS" (any number of day digits) → seconds.
pub fn parse_uptime(text: &str) -> Option<u64> {
    let (days, clock) = text.trim().split_once(['d', 'D'])?;
    let days: u64 = days.trim().parse().ok()?;
    let mut fields = clock.trim().split(':').map(|f| f.parse::<u64>().ok());
    let (h, m, s) = (fields.next()??, fields.next()??, fields.next()??);
    if fields.next().is_some() || m >= 60 || s >= 60 {
        return None;
    }
    Some(days * 86_400 + h * 3_600 + m * 60 + s)
}

/// NMAxe sends "session\rever"; the session part is the uptime since boot.
fn session_part(text: &str) -> &str {
    text.split(['\r', '\n']).next().unwrap_or(text)
}

/// NMAxe sends "session\rever"; the all-time part is the best difficulty hmm keeps.
fn ever_part(text: &str) -> &str {
    text.split(['\r', '\n'])
        .rfind(|p| !p.trim().is_empty())
        .unwrap_or(text)
}

/// The latest datagram of one device.
#[derive(Debug, Clone, PartialEq)]
pub struct Latest {
    /// The parsed reading; `sample.ts_ms` is the arrival time.
    pub reading: Reading,
    /// Arrival time, UTC ms.
    pub received_ms: u64,
    /// Arrival time, monotonic (for ages immune to clock steps).
    pub received: Instant,
    /// Where the datagram came from.
    pub source: SocketAddr,
}

#[derive(Debug, Default)]
struct ListenerState {
    devices: HashMap<IpAddr, Latest>,
    bad_datagrams: u64,
    last_error: Option<String>,
}

/// Receives NMMiner telemetry for the whole fleet; dropping it stops the receive task.
#[derive(Debug)]
pub struct NmminerListener {
    state: Arc<Mutex<ListenerState>>,
    local_addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl NmminerListener {
    /// Binds `addr` (config `devices.nmminer_listen`, e.g. `0.0.0.0:12345`) with
    /// SO_REUSEADDR and SO_BROADCAST, so another NMMiner tool on the same host can listen
    /// too, and starts receiving on the current tokio runtime.
    pub async fn bind(addr: &str) -> std::io::Result<NmminerListener> {
        let socket = bind_udp(addr)?;
        let local_addr = socket.local_addr()?;
        let state = Arc::new(Mutex::new(ListenerState::default()));
        let task = tokio::spawn(receive_loop(socket, Arc::clone(&state)));
        Ok(NmminerListener {
            state,
            local_addr,
            task,
        })
    }

    /// The bound address (useful when binding port 0 in tests).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The latest datagram from `host` (an IP, optionally with a port, which is ignored).
    pub fn latest(&self, host: &str) -> Option<Latest> {
        let ip = parse_host_ip(host)?;
        self.lock().devices.get(&ip).cloned()
    }

    /// The latest reading of `host` if it arrived within `offline_after`, else why not.
    pub fn reading(&self, host: &str, offline_after: Duration) -> Result<Reading, DeviceError> {
        let Some(ip) = parse_host_ip(host) else {
            return Err(DeviceError::InvalidRequest(format!(
                "NMMiner host '{host}' must be an IP address (devices are matched by the IP in their datagrams)"
            )));
        };
        let latest = self.lock().devices.get(&ip).cloned().ok_or_else(|| {
            DeviceError::NoData(format!(
                "no NMMiner datagram from {ip} yet (listening on UDP {})",
                self.local_addr
            ))
        })?;
        let age = latest.received.elapsed();
        if age > offline_after {
            return Err(DeviceError::NoData(format!(
                "no NMMiner datagram from {ip} for {} s",
                age.as_secs()
            )));
        }
        Ok(latest.reading)
    }

    /// Every device heard so far, by IP.
    pub fn devices(&self) -> Vec<(IpAddr, Latest)> {
        self.lock()
            .devices
            .iter()
            .map(|(ip, l)| (*ip, l.clone()))
            .collect()
    }

    /// How many datagrams could not be parsed, and the last reason.
    pub fn bad_datagrams(&self) -> (u64, Option<String>) {
        let state = self.lock();
        (state.bad_datagrams, state.last_error.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ListenerState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for NmminerListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn parse_host_ip(host: &str) -> Option<IpAddr> {
    let host = host.trim();
    host.parse::<IpAddr>()
        .ok()
        .or_else(|| host.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| super::host_of(host).parse().ok())
}

fn bind_udp(addr: &str) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let addr: SocketAddr = addr.parse().map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("devices.nmminer_listen '{addr}' is not an IP:port such as 0.0.0.0:12345"),
        )
    })?;
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    socket.set_broadcast(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

async fn receive_loop(socket: UdpSocket, state: Arc<Mutex<ListenerState>>) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (len, source) = match socket.recv_from(&mut buf).await {
            Ok(received) => received,
            Err(err) => {
                // ICMP errors and the like surface here on some platforms; keep listening.
                log::debug!("nmminer listener: {err}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let parsed = parse_datagram(&buf[..len]);
        let mut state = state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match parsed {
            Ok((ip, mut reading)) => {
                let key = ip.filter(|ip| !ip.is_unspecified()).unwrap_or(source.ip());
                let received_ms = now_ms();
                reading.sample.ts_ms = received_ms;
                remember(
                    &mut state.devices,
                    key,
                    Latest {
                        reading,
                        received_ms,
                        received: Instant::now(),
                        source,
                    },
                );
            }
            Err(err) => {
                state.bad_datagrams += 1;
                state.last_error = Some(format!("{source}: {err}"));
            }
        }
    }
}

fn remember(devices: &mut HashMap<IpAddr, Latest>, key: IpAddr, latest: Latest) {
    if devices.len() >= MAX_DEVICES && !devices.contains_key(&key) {
        let oldest = devices
            .iter()
            .min_by_key(|(_, l)| l.received)
            .map(|(ip, _)| *ip);
        if let Some(oldest) = oldest {
            devices.remove(&oldest);
        }
    }
    devices.insert(key, latest);
}

// ---------------------------------------------------------------------------------------
// Pool switch by config datagram

/// The config datagram that sets the primary pool of the device at `device_ip`
/// (`0.0.0.0` = every device), in the NMController `NMParam` key spelling. Only the pool
/// keys are sent, as the ancestor did, so Wi-Fi and display settings stay untouched.
pub fn pool_config_datagram(device_ip: IpAddr, target: &PoolTarget) -> Result<String, DeviceError> {
    let endpoint = target.endpoint()?;
    let scheme = if endpoint.tls {
        "stratum+ssl"
    } else {
        "stratum+tcp"
    };
    Ok(serde_json::json!({
        "IP": device_ip.to_string(),
        "PrimaryPool": format!("{scheme}://{}:{}", endpoint.host, endpoint.port),
        "PrimaryAddress": target.user,
        "PrimaryPassword": target.password,
    })
    .to_string())
}

/// Sends the pool config datagram to `device` (`ip[:port]`, port 12347 by default) three
/// times 100 ms apart (UDP may drop one; NMController repeats too). Fire-and-forget: the
/// device does not answer, so success means "sent"; the next telemetry shows the pool.
pub async fn switch_pool(
    device: &str,
    target: &PoolTarget,
    limits: Limits,
) -> Result<ControlOutcome, DeviceError> {
    let destination: SocketAddr = super::with_port(device, CONFIG_PORT).parse().map_err(|_| {
        DeviceError::InvalidRequest(format!("NMMiner host '{device}' must be an IP address"))
    })?;
    let datagram = pool_config_datagram(destination.ip(), target)?;
    with_deadline(limits.timeout, async {
        let bind = if destination.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        };
        let socket = UdpSocket::bind(bind)
            .await
            .map_err(|e| DeviceError::from_io(device, &e))?;
        socket
            .set_broadcast(true)
            .map_err(|e| DeviceError::from_io(device, &e))?;
        for attempt in 0..3 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            socket
                .send_to(datagram.as_bytes(), destination)
                .await
                .map_err(|e| DeviceError::from_io(device, &e))?;
        }
        let endpoint = target.endpoint()?;
        Ok(ControlOutcome {
            message: format!(
                "pool config {}:{} sent to {destination} (no reply expected)",
                endpoint.host, endpoint.port
            ),
        })
    })
    .await
}

// ---------------------------------------------------------------------------------------
// HTTP (NMMiner v2 firmware), used by detection

/// Parses `GET /probe` (`model, hostname, ver, hr` H/s, `sbd`/`ebd` best diffs, `ut` s).
pub fn parse_http_probe(body: &[u8]) -> Result<Reading, DeviceError> {
    let obj = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(obj)) if obj.contains_key("model") && obj.contains_key("hr") => obj,
        _ => return Err(DeviceError::Garbage("not an NMMiner /probe reply".into())),
    };
    let mut sample = online_sample();
    sample.hashrate_hs = first_number(&obj, &["hr"]).filter(|v| *v >= 0.0);
    sample.best_diff = obj.get("ebd").and_then(si_number);
    sample.uptime_s = first_count(&obj, &["ut"]);
    let mut info = DeviceInfo::new(MinerKind::Nmminer, Variant::Nmminer);
    info.model = first_text(&obj, &["model"]);
    info.hostname = first_text(&obj, &["hostname"]);
    info.firmware = first_text(&obj, &["ver"]);
    Ok(Reading { sample, info })
}

/// Parses the v2 firmware's `GET /api/system/info` (`identity{}`, `miner{}` with
/// `hashRate` in GH/s and difficulties as strings, `stratum{}`, `temps{}`).
pub fn parse_http_system_info(body: &[u8]) -> Result<Reading, DeviceError> {
    let obj = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(obj)) => obj,
        _ => return Err(DeviceError::garbage(body)),
    };
    let section = |name: &str| obj.get(name).and_then(Value::as_object);
    let (Some(identity), Some(miner)) = (section("identity"), section("miner")) else {
        return Err(DeviceError::Garbage(
            "not an NMMiner /api/system/info reply".into(),
        ));
    };
    let empty = Map::new();
    let temps = section("temps").unwrap_or(&empty);
    let stratum = section("stratum").unwrap_or(&empty);
    let mut sample = online_sample();
    sample.hashrate_hs = first_number(miner, &["hashRate"]).map(ghs_to_hs);
    sample.shares_accepted = first_count(miner, &["sAccepted"]);
    sample.shares_rejected = first_count(miner, &["sRejected"]);
    sample.uptime_s = miner.get("uptimeSeconds").and_then(count);
    sample.best_diff = miner.get("bestDiffEver").and_then(si_number);
    sample.temp_c = first_number(temps, &["asic"]);
    sample.vr_temp_c = first_number(temps, &["vcore"]);
    let mut info = DeviceInfo::new(MinerKind::Nmminer, Variant::Nmminer);
    info.model = first_text(identity, &["hwModel"]);
    info.hostname = first_text(identity, &["hostName"]);
    info.firmware = first_text(identity, &["fwVersion"]);
    info.pool_url = first_text(stratum, &["url"]);
    info.pool_user = first_text(stratum, &["user"]);
    Ok(Reading { sample, info })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hashrate_strings_in_every_style() {
        assert_eq!(parse_hashrate(&json!("113.13K")), Some(113_130.0));
        assert_eq!(parse_hashrate(&json!("1.2045TH/s")), Some(1.2045e12));
        assert_eq!(parse_hashrate(&json!("1013.4KH/s")), Some(1_013_400.0));
        assert_eq!(parse_hashrate(&json!("956 H/s")), Some(956.0));
        assert_eq!(parse_hashrate(&json!("fast")), None);
    }

    #[test]
    fn shares_and_uptimes() {
        assert_eq!(parse_shares("1/138"), Some((1, 138)));
        assert_eq!(parse_shares("3/10452/99.9%"), Some((3, 10452)));
        assert_eq!(parse_shares("x/1"), None);
        assert_eq!(parse_uptime("00d 01:23:46"), Some(5026));
        assert_eq!(parse_uptime("123d 00:00:01"), Some(123 * 86_400 + 1));
        assert_eq!(parse_uptime("01:23:46"), None);
        assert_eq!(parse_uptime("00d 01:99:46"), None);
    }

    #[test]
    fn listener_map_is_bounded() {
        let (_, reading) =
            parse_datagram(br#"{"IP":"10.0.0.1","HashRate":"1K","Share":"0/1"}"#).unwrap();
        let mut devices = HashMap::new();
        let source: SocketAddr = "10.0.0.1:1".parse().unwrap();
        for i in 0..(MAX_DEVICES as u32 + 5) {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            let latest = Latest {
                reading: reading.clone(),
                received_ms: u64::from(i),
                received: Instant::now(),
                source,
            };
            remember(&mut devices, ip, latest);
        }
        assert_eq!(devices.len(), MAX_DEVICES);
    }
}
