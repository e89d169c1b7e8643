//! Simulated NMMiner and NMAxe (protocols.md §4): periodic UDP telemetry datagrams, a UDP
//! config listener that switches the pool, and (NMMiner v2 only) the HTTP probe endpoints.
//!
//! Real devices broadcast to 255.255.255.255:12345; the simulator sends to a configurable
//! unicast target (default 127.0.0.1:12345) from a socket bound to the device's own
//! loopback address (127.1.x.y where the OS allows it), so a listener can tell devices
//! apart by source address and by the `IP`/`ip` field, as it would on a LAN.
//! Values are strings with SI suffixes exactly in the shapes of `nmminer_udp.json` and
//! `nmaxe_udp.json`.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::net::UdpSocket;
use tokio::sync::watch;

use super::control::SimControl;
use super::faults::{Fault, garbage_bytes, truncate_reply};
use super::http::{Request, Response};
use super::json::{Json, Layout, obj};
use super::models::SimModel;
use super::telemetry::DeviceState;

/// Network difficulty the simulated network reports.
const NETWORK_DIFFICULTY: f64 = 126.411_437_451_912e12;

/// `"113.13K"`: two decimals and an upper-case SI suffix (NMMiner hashrates).
pub(crate) fn si_two_decimals(value: f64) -> String {
    let (mantissa, suffix) = scale(value);
    format!("{mantissa:.2}{suffix}")
}

/// `"4.021M"`, `"126.4T"`, `"0.001"`, `"8192"`: four significant digits with a suffix from
/// 1000 up; plain below (NMMiner difficulties).
pub(crate) fn si_four_digits(value: f64) -> String {
    if !value.is_finite() || value <= 0.0 {
        return "0".into();
    }
    if value < 1000.0 {
        let digits = value.abs().log10().floor() as i32;
        let factor = 10f64.powi(3 - digits);
        return format!("{}", (value * factor).round() / factor);
    }
    let (mantissa, suffix) = scale(value);
    let decimals = if mantissa < 10.0 {
        3
    } else if mantissa < 100.0 {
        2
    } else {
        1
    };
    format!("{mantissa:.decimals$}{suffix}")
}

fn scale(value: f64) -> (f64, &'static str) {
    const SUFFIXES: [&str; 7] = ["", "K", "M", "G", "T", "P", "E"];
    let mut mantissa = value.max(0.0);
    let mut index = 0;
    while mantissa >= 1000.0 && index < SUFFIXES.len() - 1 {
        mantissa /= 1000.0;
        index += 1;
    }
    (mantissa, SUFFIXES[index])
}

/// `"00d 01:23:46"`.
pub(crate) fn uptime_text(seconds: u64) -> String {
    format!(
        "{:02}d {:02}:{:02}:{:02}",
        seconds / 86_400,
        seconds % 86_400 / 3_600,
        seconds % 3_600 / 60,
        seconds % 60
    )
}

/// `"1.2045TH/s"` (NMAxe): four decimals and a unit.
fn nmaxe_hashrate(hs: f64) -> String {
    const UNITS: [&str; 7] = ["H/s", "KH/s", "MH/s", "GH/s", "TH/s", "PH/s", "EH/s"];
    let mut value = hs.max(0.0);
    let mut index = 0;
    while value >= 1000.0 && index < UNITS.len() - 1 {
        value /= 1000.0;
        index += 1;
    }
    format!("{value:.4}{}", UNITS[index])
}

fn pool_in_use(state: &DeviceState) -> String {
    let pool = state.pool();
    format!("{}:{}", pool.url, pool.port)
}

/// The status datagram in the device's style.
pub(crate) fn status_payload(state: &DeviceState) -> String {
    let uptime = state.uptime_s();
    let temp = (state.temp_c * 2.0).round() / 2.0;
    if state.model == SimModel::NmaxeGamma {
        let total = (state.accepted + state.rejected).max(1) as f64;
        return obj()
            .field("ip", state.ip.to_string())
            .field("HashRate", nmaxe_hashrate(state.hashrate_hs))
            .field(
                "Share",
                format!(
                    "{}/{}/{:.1}%",
                    state.rejected,
                    state.accepted,
                    state.accepted as f64 / total * 100.0
                ),
            )
            .field("NetDiff", si_four_digits(NETWORK_DIFFICULTY))
            .field(
                "PoolDiff",
                format!("{}", state.profile.pool_diff.round() as u64),
            )
            .field("LastDiff", si_four_digits(state.last_diff))
            .field(
                "BestDiff",
                format!(
                    "{}\r{}",
                    si_four_digits(state.best_session),
                    si_four_digits(state.best_ever)
                ),
            )
            .field("Valid", 0)
            .field("Temp", temp.round() as i64)
            .field("RSSI", state.rssi)
            .field("FreeHeap", 143.2)
            .field(
                "Uptime",
                format!(
                    "{}\r{}",
                    uptime_text(uptime),
                    uptime_text(state.total_uptime_before_s + uptime)
                ),
            )
            .field("Version", state.profile.firmware)
            .field("BoardType", state.profile.device_model)
            .field("Power", format!("{:.1}W", state.power_w))
            .field("PoolInUse", pool_in_use(state))
            .field("Lastseen", 2001)
            .build()
            .render(Layout::Compact);
    }
    let progress = (state.best_ever / NETWORK_DIFFICULTY * 1e8 * 1000.0).round() / 1000.0;
    obj()
        .field("IP", state.ip.to_string())
        .field("BoardType", "NMLotto")
        .field("HashRate", si_two_decimals(state.hashrate_hs))
        .field("Share", format!("{}/{}", state.rejected, state.accepted))
        .field("NetDiff", si_four_digits(NETWORK_DIFFICULTY))
        .field("PoolDiff", si_four_digits(state.profile.pool_diff))
        .field("LastDiff", si_four_digits(state.last_diff))
        .field("BestDiff", si_four_digits(state.best_ever))
        .field("Valid", 0)
        .field("Progress", progress)
        .field("Temp", temp)
        .field("RSSI", state.rssi)
        .field("FreeHeap", 8203.9)
        .field("Uptime", uptime_text(uptime))
        .field("Version", state.profile.firmware)
        .field("PoolInUse", pool_in_use(state))
        .build()
        .render(Layout::Compact)
}

/// Sends a status datagram every `interval` until shutdown, honouring the fault mode.
pub(crate) async fn run_telemetry(
    socket: UdpSocket,
    target: SocketAddr,
    interval: Duration,
    control: SimControl,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
        let fault = control.fault();
        match fault {
            Fault::Hang => continue,
            Fault::Slow(delay) => {
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.changed() => return,
                }
            }
            _ => {}
        }
        let payload = {
            let mut state = control.lock();
            let text = status_payload(&state);
            match fault {
                Fault::Garbage => {
                    let len = 32 + state.rng.usize(..128);
                    garbage_bytes(&mut state.rng, len)
                }
                Fault::Truncated => truncate_reply(text.as_bytes()).to_vec(),
                _ => text.into_bytes(),
            }
        };
        if let Err(error) = socket.send_to(&payload, target).await {
            log::debug!("simulate: NMMiner datagram to {target} failed: {error}");
        }
    }
}

/// Receives config datagrams (`nmminer_udp_config.json` shape) until shutdown.
pub(crate) async fn run_config_listener(
    socket: UdpSocket,
    control: SimControl,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut buffer = vec![0u8; 4096];
    loop {
        let received = tokio::select! {
            received = socket.recv_from(&mut buffer) => received,
            _ = shutdown.changed() => return,
        };
        let Ok((len, from)) = received else { continue };
        match serde_json::from_slice::<Value>(&buffer[..len]) {
            Ok(config) => {
                let mut state = control.lock();
                apply_config(&mut state, &config);
            }
            Err(error) => {
                log::debug!("simulate: ignoring non-JSON config datagram from {from}: {error}")
            }
        }
    }
}

/// Applies a config datagram addressed to this device (`"IP"` = `"0.0.0.0"` or its own
/// address). The device stores the pools and reboots to use them, as NMMiner does after
/// NMController pushes a config. Returns whether the datagram was for this device.
pub(crate) fn apply_config(state: &mut DeviceState, config: &Value) -> bool {
    let target = config
        .get("IP")
        .and_then(Value::as_str)
        .unwrap_or("0.0.0.0");
    if target != "0.0.0.0" && target != state.ip.to_string() {
        return false;
    }
    for (slot, prefix) in [(0usize, "Primary"), (1, "Secondary")] {
        let field = |suffix: &str| {
            config
                .get(format!("{prefix}{suffix}"))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        if let Some(url) = field("Pool").filter(|url| !url.is_empty()) {
            let (host, port) = split_pool_url(&url);
            state.pools[slot].url = host;
            state.pools[slot].port = port.unwrap_or(state.pools[slot].port);
        }
        if let Some(user) = field("Address") {
            state.pools[slot].user = user;
        }
        if let Some(password) = field("Password") {
            state.pools[slot].password = password;
        }
    }
    state.restart();
    true
}

/// `stratum+tcp://pool.nmminer.com:3333` → (`pool.nmminer.com`, 3333).
fn split_pool_url(url: &str) -> (String, Option<u16>) {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    match rest.rsplit_once(':') {
        Some((host, port)) => (host.to_string(), port.trim_end_matches('/').parse().ok()),
        None => (rest.to_string(), None),
    }
}

/// HTTP handler of the NMMiner v2 firmware: `/probe`, `/api/system/info`,
/// `POST /api/system/restart`, and the web root.
pub(crate) fn handle_http(control: &SimControl, request: &Request, _peer: SocketAddr) -> Response {
    let mut state = control.lock();
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/probe") => Response::json(200, probe(&state).render(Layout::Compact)),
        ("GET", "/api/system/info") => {
            Response::json(200, system_info(&state).render(Layout::Compact))
        }
        ("POST", "/api/system/restart") => {
            state.restart();
            Response::json(
                200,
                obj().field("status", "ok").build().render(Layout::Compact),
            )
        }
        ("GET", "/") => Response::html(
            "<!doctype html><html><head><title>NMMiner</title></head><body></body></html>".into(),
        ),
        _ => Response::json(
            404,
            obj()
                .field("error", "not found")
                .build()
                .render(Layout::Compact),
        ),
    }
}

fn probe(state: &DeviceState) -> Json {
    obj()
        .field("model", state.profile.device_model)
        .field("hostname", state.hostname.as_str())
        .field("ver", state.profile.firmware)
        .field("sw", 320)
        .field("sh", 240)
        .field("hr", state.hashrate_hs.round() as u64)
        .field("sbd", (state.best_session * 1e4).round() / 1e4)
        .field("ebd", (state.best_ever * 1e4).round() / 1e4)
        .field("ut", state.uptime_s())
        .build()
}

fn system_info(state: &DeviceState) -> Json {
    let uptime = state.uptime_s();
    let pool = state.pool();
    obj()
        .field(
            "identity",
            obj()
                .field("hwModel", state.profile.device_model)
                .field("hostName", state.hostname.as_str())
                .field("fwVersion", state.profile.firmware)
                .field("rssi", state.rssi)
                .build(),
        )
        .field(
            "miner",
            obj()
                .field("hashRate", state.hashrate_hs / 1e9)
                .field("sAccepted", state.accepted)
                .field("sRejected", state.rejected)
                .field("uptimeSeconds", uptime)
                .field("uptimeEver", state.total_uptime_before_s + uptime)
                .field("networkDiff", format!("{:.4}", NETWORK_DIFFICULTY))
                .field("poolDiff", format!("{:.5}", state.profile.pool_diff))
                .field("lastDiff", format!("{:.5}", state.last_diff))
                .field("bestDiffSession", format!("{:.5}", state.best_session))
                .field("bestDiffEver", format!("{:.5}", state.best_ever))
                .field("blkhits", 0)
                .field("freeHeap", 118_432)
                .field("minFreeHeap", 94_312)
                .build(),
        )
        .field(
            "stratum",
            obj()
                .field("url", format!("{}:{}", pool.url, pool.port))
                .field("user", pool.user.as_str())
                .build(),
        )
        .field(
            "temps",
            obj()
                .field("vcore", (state.temp_c * 10.0).round() / 10.0)
                .field("asic", Json::Null)
                .build(),
        )
        .field(
            "storage",
            obj()
                .field("fsTotal", 1_048_576)
                .field("fsUsed", 262_144)
                .build(),
        )
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn si_formats_match_the_fixtures() {
        assert_eq!(si_two_decimals(113_130.0), "113.13K");
        assert_eq!(si_four_digits(89.47e12), "89.47T");
        assert_eq!(si_four_digits(4.021e6), "4.021M");
        assert_eq!(si_four_digits(126.4e12), "126.4T");
        assert_eq!(si_four_digits(0.001), "0.001");
        assert_eq!(si_four_digits(8192.0), "8.192K");
        assert_eq!(si_four_digits(512.0), "512");
        assert_eq!(nmaxe_hashrate(1.2045e12), "1.2045TH/s");
        assert_eq!(uptime_text(5026), "00d 01:23:46");
        assert_eq!(
            uptime_text(12 * 86_400 + 3 * 3600 + 44 * 60 + 51),
            "12d 03:44:51"
        );
    }

    #[test]
    fn pool_urls_split_into_host_and_port() {
        assert_eq!(
            split_pool_url("stratum+tcp://pool.nmminer.com:3333"),
            ("pool.nmminer.com".to_string(), Some(3333))
        );
        assert_eq!(
            split_pool_url("public-pool.io"),
            ("public-pool.io".to_string(), None)
        );
    }
}
