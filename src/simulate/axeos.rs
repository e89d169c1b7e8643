//! Simulated AxeOS web API (Bitaxe on v2.4 / v2.10 / v2.15 firmware, NerdQAxe++ v1.0.38).
//!
//! Replies follow protocols.md §1–§2 and the fixtures key for key: HEAD (v2.15) emits
//! compact JSON with floats rounded to 7 decimals, numeric `bestDiff` and `pools[]`;
//! v2.10 and older emit tab-indented JSON with float noise and `bestDiff` strings like
//! `"4.29G"`; v2.4 still has `stratumDiff`, `flipscreen`, `asicCount` and no
//! `/api/system/asic`; NerdQAxe has `deviceModel`, `hostip`, max-chip `temp` and a
//! `stratum{}` block. Every `/api/*` request passes the private-network gate first
//! (§1.1): in station mode the client address and the `Origin` address must be private,
//! else `401 Unauthorized`.

use std::net::{IpAddr, SocketAddr};

use serde_json::Value;

use super::control::SimControl;
use super::http::{Request, Response};
use super::json::{Json, Layout, float_noise, obj, round7};
use super::models::SimModel;
use super::telemetry::{DeviceState, PoolConfig};

/// The message both restart reply styles carry.
const RESTART_MESSAGE: &str = "System will restart shortly.";
/// Reply messages of `POST /api/system/pause` / `resume` (v2.14+).
const PAUSE_MESSAGE: &str = "Mining paused";
const RESUME_MESSAGE: &str = "Mining resumed";
/// Network difficulty the simulated pool reports.
const NETWORK_DIFFICULTY: u64 = 126_411_437_451_912;

/// Which reply dialect a device speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Generation {
    V2_4,
    V2_10,
    V2_15,
    NerdQaxe,
}

fn generation(model: SimModel) -> Generation {
    match model {
        SimModel::BitaxeSupraV2_4 => Generation::V2_4,
        SimModel::BitaxeGammaV2_10 => Generation::V2_10,
        SimModel::NerdQaxePlusPlus => Generation::NerdQaxe,
        _ => Generation::V2_15,
    }
}

/// Answers one AxeOS request (the [`super::http::Handler`] of AxeOS devices).
pub(crate) fn handle(control: &SimControl, request: &Request, peer: SocketAddr) -> Response {
    let mut state = control.lock();
    let generation = generation(state.model);
    let path = request.path.as_str();
    if path.starts_with("/api/") {
        if request.method == "OPTIONS" {
            return Response::text(200, "");
        }
        if !network_allowed(&state, request, peer) {
            return Response::text(401, "Unauthorized");
        }
    }
    match (request.method.as_str(), path) {
        ("GET", "/api/system/info") => {
            let (info, layout) = match generation {
                Generation::V2_4 => (info_v2_4(&state), Layout::Tabs),
                Generation::V2_10 => (info_v2_10(&state), Layout::Tabs),
                Generation::V2_15 => (info_v2_15(&state), Layout::Compact),
                Generation::NerdQaxe => (info_nerdqaxe(&state), Layout::Compact),
            };
            Response::json(200, info.render(layout))
        }
        ("GET", "/api/system/asic") if generation != Generation::V2_4 => Response::json(
            200,
            asic_info(&state, generation).render(layout_of(generation)),
        ),
        ("PATCH", "/api/system") => patch(&mut state, generation, &request.body),
        ("POST", "/api/system/restart") => {
            state.restart();
            if generation == Generation::V2_15 {
                let body = obj().field("message", RESTART_MESSAGE).build();
                Response::json(200, body.render(Layout::Compact))
            } else {
                Response::text(200, RESTART_MESSAGE)
            }
        }
        ("POST", "/api/system/pause" | "/api/system/resume") if generation == Generation::V2_15 => {
            let pause = path == "/api/system/pause";
            state.set_paused(pause);
            let message = if pause { PAUSE_MESSAGE } else { RESUME_MESSAGE };
            let body = obj().field("message", message).build();
            Response::json(200, body.render(Layout::Compact))
        }
        // Before v2.14 no handler is registered for these URIs; ESP-IDF's httpd answers
        // its stock 404 for a POST nothing matches (GETs fall through to the web UI).
        ("POST", "/api/system/pause" | "/api/system/resume")
            if matches!(generation, Generation::V2_4 | Generation::V2_10) =>
        {
            Response::text(404, "This URI does not exist")
        }
        (_, "/api/system/info" | "/api/system/asic" | "/api/system" | "/api/system/restart")
            if generation != Generation::V2_4 || path != "/api/system/asic" =>
        {
            Response::text(405, "Request method for this URI is not handled by server")
        }
        _ => not_found(generation, path),
    }
}

fn layout_of(generation: Generation) -> Layout {
    match generation {
        Generation::V2_4 | Generation::V2_10 => Layout::Tabs,
        Generation::V2_15 | Generation::NerdQaxe => Layout::Compact,
    }
}

/// Unknown routes: HEAD answers 404 JSON for `/api/*`, NerdQAxe redirects to `/`, and the
/// web UI (whose `<title>` detection tools look for) is served for everything else.
fn not_found(generation: Generation, path: &str) -> Response {
    match generation {
        Generation::NerdQaxe if path != "/" => {
            let mut response = Response::text(302, "");
            response.headers.push(("Location", "/".into()));
            response
        }
        Generation::NerdQaxe => Response::html(
            "<!doctype html><html><head><title>NerdQAxe++ Dashboard</title></head>\
             <body><app-root></app-root></body></html>"
                .into(),
        ),
        Generation::V2_15 if path.starts_with("/api/") => Response::json(
            404,
            obj()
                .field("error", "unknown route")
                .build()
                .render(Layout::Compact),
        ),
        _ => Response::html(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>AxeOS</title></head><body><app-root></app-root></body></html>"
                .into(),
        ),
    }
}

/// `is_network_allowed()`: outside AP mode, the client address and the `Origin` address
/// (when present) must be private. Loopback counts as private here: a real device never
/// sees a loopback client, and the simulator listens on loopback only.
fn network_allowed(state: &DeviceState, request: &Request, peer: SocketAddr) -> bool {
    if state.ap_mode {
        return true;
    }
    let client = state.client_ip_override.unwrap_or(peer.ip());
    if !is_private(client) {
        return false;
    }
    match request.header("origin") {
        None => true,
        Some(origin) => origin_ip(origin).is_some_and(is_private),
    }
}

/// The IP address in an `Origin` header (`http://192.168.1.5:4200`); `None` for a
/// hostname, which the firmware's `inet_addr` cannot parse and therefore refuses.
fn origin_ip(origin: &str) -> Option<IpAddr> {
    let rest = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))?;
    let host = rest.split('/').next().unwrap_or_default();
    if let Some(v6) = host.strip_prefix('[') {
        return v6.split(']').next()?.parse().ok();
    }
    host.split(':').next()?.parse().ok()
}

/// RFC 1918 ranges (plus loopback, link-local and IPv6 unique-local).
pub(crate) fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_private() || v4.is_loopback() || v4.is_link_local(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_private(IpAddr::V4(v4)),
            None => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
        },
    }
}

/// AxeOS `suffix_string`: three significant digits and ` kMGTPE` (lower-case k), e.g.
/// `"483k"`, `"61.2M"`, `"4.29G"`, `"0"`.
pub(crate) fn suffix_string(value: f64) -> String {
    const SUFFIXES: [&str; 7] = ["", "k", "M", "G", "T", "P", "E"];
    if !value.is_finite() || value < 1000.0 {
        return format!("{}", value.max(0.0).floor() as u64);
    }
    let mut scaled = value;
    let mut index = 0;
    while scaled >= 1000.0 && index < SUFFIXES.len() - 1 {
        scaled /= 1000.0;
        index += 1;
    }
    let digits = if scaled < 10.0 {
        format!("{:.2}", truncate_to(scaled, 2))
    } else if scaled < 100.0 {
        format!("{:.1}", truncate_to(scaled, 1))
    } else {
        format!("{}", scaled.floor() as u64)
    };
    format!("{digits}{}", SUFFIXES[index])
}

fn truncate_to(value: f64, decimals: i32) -> f64 {
    let factor = 10f64.powi(decimals);
    (value * factor).floor() / factor
}

/// Values every generation derives from the state the same way, quantised like the
/// firmware's sensors (power in 1/32 W, voltage in 1.25 mV, current in 31.25 mA).
struct Reading {
    power: f64,
    voltage_mv: f64,
    current_ma: f64,
    temp: f64,
    vr_temp: i64,
    core_actual: i64,
    ghs: f64,
    expected_ghs: f64,
    fan_pct: i64,
}

fn reading(state: &DeviceState) -> Reading {
    let power = (state.power_w * 32.0).round() / 32.0;
    let voltage_mv = (state.input_mv / 1.25).round() * 1.25;
    let current_ma = (power / (voltage_mv / 1000.0) * 1000.0 / 31.25).round() * 31.25;
    let profile = state.profile;
    Reading {
        power,
        voltage_mv,
        current_ma,
        temp: (state.temp_c * 4.0).round() / 4.0,
        vr_temp: (state.temp_c - 9.0).round() as i64,
        core_actual: (state.core_voltage_mv - 7.0).round() as i64,
        ghs: state.hashrate_hs / 1e9,
        expected_ghs: f64::from(profile.small_cores)
            * f64::from(profile.asic_count)
            * state.frequency_mhz
            / 1000.0,
        fan_pct: state.fan_pct.round() as i64,
    }
}

fn error_percentage(state: &DeviceState) -> f64 {
    ((state.dh_pct - 2.0) * 0.5 * 1000.0).round() / 1000.0
}

fn reset_reason(state: &DeviceState) -> &'static str {
    if state.restarts > 0 {
        "Software reset via esp_restart"
    } else {
        "Reset due to power-on event"
    }
}

fn rejected_reasons(state: &DeviceState) -> Json {
    let stale = state.rejected / 2;
    let above = state.rejected - stale;
    let mut reasons = Vec::new();
    for (message, count) in [("Above target", above), ("Stale", stale)] {
        if count > 0 {
            reasons.push(
                obj()
                    .field("message", message)
                    .field("count", count)
                    .build(),
            );
        }
    }
    Json::Arr(reasons)
}

fn pool_slot(state: &DeviceState, index: usize) -> PoolConfig {
    state.pools.get(index).cloned().unwrap_or(PoolConfig {
        url: String::new(),
        port: 0,
        user: String::new(),
        password: String::new(),
    })
}

/// `GET /api/system/info` of AxeOS v2.15 (HEAD), key order of `bitaxe_system_info.json`.
fn info_v2_15(state: &DeviceState) -> Json {
    let r = reading(state);
    let profile = state.profile;
    let float = |value: f64| Json::Float(round7(value));
    let uptime = state.uptime_s();
    let total_hashes = state.total_hashes + state.total_uptime_before_s as f64 * state.hashrate_hs;
    let primary = pool_slot(state, 0);
    let fallback = pool_slot(state, 1);
    let domain = r.ghs / 4.0;
    obj()
        .field("power", float(r.power))
        .field("voltage", float(r.voltage_mv))
        .field("current", float(r.current_ma))
        .field("temp", float(r.temp))
        .field("temp2", -1)
        .field("vrTemp", r.vr_temp)
        .field("coreVoltageActual", r.core_actual)
        .field("actualFrequency", float(state.frequency_mhz * 0.99996))
        .field("expectedHashrate", r.expected_ghs.round() as i64)
        .field("fanspeed", r.fan_pct)
        .field("fanrpm", state.fan_rpm)
        .field("fan2rpm", 0)
        .field("hashRate", float(r.ghs))
        .field("hashRate_1m", float(state.ema[0] / 1e9))
        .field("hashRate_10m", float(state.ema[2] / 1e9))
        .field("hashRate_1h", float(state.ema[4] / 1e9))
        .field("errorPercentage", float(error_percentage(state)))
        .field("sharesAccepted", state.accepted)
        .field("sharesRejected", state.rejected)
        .field("sharesPending", 0)
        .field("bestDiff", state.best_ever as u64)
        .field("bestSessionDiff", state.best_session as u64)
        .field("poolDifficulty", profile.pool_diff as u64)
        .field("responseTime", float(f64::from(state.ping_ms) + 0.214))
        .field("responseShareBatch", 1)
        .field("processTime", float(0.872))
        .field("workReceived", (state.local_work / 200.0) as u64)
        .field("blockFound", 0)
        .field("showNewBlock", false)
        .field("blockHeight", 912_345 + uptime / 600)
        .field("scriptsig", "/ckpool/")
        .field("networkDifficulty", NETWORK_DIFFICULTY)
        .field("coinbaseValueTotalSatoshis", 314_159_265)
        .field("coinbaseValueUserSatoshis", 311_017_672)
        .field("freeHeap", 8_391_684)
        .field("freeHeapInternal", 121_344)
        .field("freeHeapSpiram", 8_270_340)
        .field("minFreeHeap", 8_212_912)
        .field("maxAllocHeap", 65_524)
        .field("uptimeSeconds", uptime)
        .field("totalUptimeSeconds", state.total_uptime_before_s + uptime)
        .field("totalHashes", float(total_hashes))
        .field(
            "totalLog2Work",
            float((total_hashes.max(1.0).log2() * 1e4).round() / 1e4),
        )
        .field("cpuUsage", float(11.5))
        .field("miningPaused", state.paused)
        .field("overheat_mode", 0)
        .field("wifiStatus", "Connected!")
        .field("wifiRSSI", state.rssi)
        .field("version", "v2.15.0")
        .field("axeOSVersion", "v2.15.0")
        .field("idfVersion", "v5.5.1")
        .field("boardVersion", profile.board_version)
        .field("maxPower", profile.max_power_w as i64)
        .field("nominalVoltage", profile.supply_v as i64)
        .field("smallCoreCount", profile.small_cores)
        .field("ASICModel", profile.asic_model)
        .field("isPSRAMAvailable", 1)
        .field("resetReason", reset_reason(state))
        .field("runningPartition", "ota_0")
        .field("macAddr", state.mac.as_str())
        .field("hostname", state.hostname.as_str())
        .field("ssid", "HomeWiFi")
        .field("ipv4", state.ip.to_string())
        .field("ipv6", "fe80::aabb:ccff:fedd:eeff")
        .field("apEnabled", i64::from(state.ap_mode))
        .field("poolConnectionInfo", "IPv4")
        .field("isUsingFallbackStratum", i64::from(state.active_pool == 1))
        .field("primaryPoolIndex", 0)
        .field("secondaryPoolIndex", 1)
        .field("useFallbackStratum", 0)
        .field(
            "pools",
            Json::Arr(
                (0..state.pools.len())
                    .filter(|index| !state.pools[*index].url.is_empty())
                    .map(|index| pool_v2_15(index, &state.pools[index]))
                    .collect(),
            ),
        )
        .field("stratumURL", primary.url.as_str())
        .field("stratumPort", primary.port)
        .field("stratumUser", primary.user.as_str())
        .field("stratumSuggestedDifficulty", 1000)
        .field("stratumExtranonceSubscribe", false)
        .field("stratumTLS", 0)
        .field("stratumCert", "")
        .field("stratumDecodeCoinbase", true)
        .field("stratumProtocol", "SV1")
        .field("stratumV2AuthorityPubkey", "")
        .field("stratumV2ChannelType", "extended")
        .field("fallbackStratumURL", fallback.url.as_str())
        .field("fallbackStratumPort", fallback.port)
        .field("fallbackStratumUser", fallback.user.as_str())
        .field("fallbackStratumSuggestedDifficulty", 1000)
        .field("fallbackStratumExtranonceSubscribe", false)
        .field("fallbackStratumTLS", 0)
        .field("fallbackStratumCert", "")
        .field("fallbackStratumDecodeCoinbase", true)
        .field("fallbackStratumProtocol", "SV1")
        .field("fallbackStratumV2AuthorityPubkey", "")
        .field("fallbackStratumV2ChannelType", "extended")
        .field("useCustomWWW", 0)
        .field("overclockEnabled", 0)
        .field("display", "SSD1306 (128x32)")
        .field("rotation", 0)
        .field("invertscreen", 0)
        .field("displayTimeout", -1)
        .field("autofanspeed", i64::from(state.manual_fan_pct.is_none()))
        .field(
            "manualFanSpeed",
            state.manual_fan_pct.unwrap_or(100.0).round() as i64,
        )
        .field("minFanSpeed", 25)
        .field("temptarget", 60)
        .field("coreVoltage", state.core_voltage_mv.round() as i64)
        .field("frequency", float(state.frequency_mhz))
        .field("statsFrequency", 0)
        .field("statsLimit", 720)
        .field(
            "hashrateMonitor",
            obj()
                .field(
                    "asics",
                    vec![
                        obj()
                            .field("total", float((r.ghs * 10.0).round() / 10.0))
                            .field("errorCount", state.rejected)
                            .field(
                                "domains",
                                vec![
                                    float((domain * 10.0).round() / 10.0),
                                    float((domain * 1.004 * 10.0).round() / 10.0),
                                    float((domain * 0.996 * 10.0).round() / 10.0),
                                    float((domain * 10.0).round() / 10.0),
                                ],
                            )
                            .build(),
                    ],
                )
                .build(),
        )
        .field("partitions", partitions())
        .field("sharesRejectedReasons", rejected_reasons(state))
        .field("blockSignals", Json::Arr(Vec::new()))
        .field(
            "coinbaseOutputs",
            vec![
                obj()
                    .field("value", 311_017_672)
                    .field(
                        "address",
                        primary.user.split('.').next().unwrap_or_default(),
                    )
                    .build(),
            ],
        )
        .build()
}

fn pool_v2_15(index: usize, pool: &PoolConfig) -> Json {
    obj()
        .field("id", index as u64)
        .field("stratumProtocol", "SV1")
        .field("stratumURL", pool.url.as_str())
        .field("stratumPort", pool.port)
        .field("stratumUser", pool.user.as_str())
        .field("stratumPassword", "*****")
        .field("stratumSuggestedDifficulty", 1000)
        .field("stratumExtranonceSubscribe", false)
        .field("stratumTLS", 0)
        .field("stratumCert", "")
        .field("stratumDecodeCoinbase", true)
        .field("stratumV2ChannelType", "extended")
        .field("stratumV2AuthorityPubkey", "")
        .field("stratumV2RequireAuth", false)
        .build()
}

fn partitions() -> Json {
    let partition = |label: &str, current: bool, factory: bool, version: Option<&str>| {
        let text = |value: Option<&str>| value.map_or(Json::Null, Json::from);
        obj()
            .field("label", label)
            .field("isCurrent", current)
            .field("isFactory", factory)
            .field("version", text(version))
            .field("compileDate", text(version.map(|_| "Aug 20 2026")))
            .field("compileTime", text(version.map(|_| "20:19:13")))
            .field(
                "usagePercent",
                version.map_or(Json::Null, |_| Json::Int(80)),
            )
            .build()
    };
    Json::Arr(vec![
        partition("factory", false, true, Some("v2.13.1")),
        partition("ota_0", true, false, Some("v2.15.0")),
        partition("ota_1", false, false, None),
    ])
}

/// `GET /api/system/info` of AxeOS v2.10, key order of `bitaxe_system_info_v2_10.json`.
fn info_v2_10(state: &DeviceState) -> Json {
    let r = reading(state);
    let profile = state.profile;
    let noisy = |value: f64| Json::Float(float_noise(value));
    let primary = pool_slot(state, 0);
    let fallback = pool_slot(state, 1);
    obj()
        .field("power", noisy(r.power))
        .field("voltage", noisy(r.voltage_mv))
        .field("current", noisy(r.current_ma))
        .field("temp", noisy(r.temp))
        .field("temp2", -1)
        .field("vrTemp", r.vr_temp)
        .field("maxPower", profile.max_power_w as i64)
        .field("nominalVoltage", profile.supply_v as i64)
        .field("hashRate", noisy(r.ghs))
        .field("expectedHashrate", r.expected_ghs.round() as i64)
        .field("bestDiff", suffix_string(state.best_ever))
        .field("bestSessionDiff", suffix_string(state.best_session))
        .field("poolDifficulty", profile.pool_diff as u64)
        .field("isUsingFallbackStratum", i64::from(state.active_pool == 1))
        .field("isPSRAMAvailable", 1)
        .field("freeHeap", 8_409_216)
        .field("coreVoltage", state.core_voltage_mv.round() as i64)
        .field("coreVoltageActual", r.core_actual)
        .field("frequency", noisy(state.frequency_mhz))
        .field("ssid", "HomeWiFi")
        .field("macAddr", state.mac.as_str())
        .field("hostname", state.hostname.as_str())
        .field("wifiStatus", "Connected!")
        .field("wifiRSSI", state.rssi)
        .field("apEnabled", i64::from(state.ap_mode))
        .field("sharesAccepted", state.accepted)
        .field("sharesRejected", state.rejected)
        .field("sharesRejectedReasons", rejected_reasons(state))
        .field("uptimeSeconds", state.uptime_s())
        .field("smallCoreCount", profile.small_cores)
        .field("ASICModel", profile.asic_model)
        .field("stratumURL", primary.url.as_str())
        .field("stratumPort", primary.port)
        .field("stratumUser", primary.user.as_str())
        .field("stratumSuggestedDifficulty", 1000)
        .field("stratumExtranonceSubscribe", 0)
        .field("fallbackStratumURL", fallback.url.as_str())
        .field("fallbackStratumPort", fallback.port)
        .field("fallbackStratumUser", fallback.user.as_str())
        .field("fallbackStratumSuggestedDifficulty", 1000)
        .field("fallbackStratumExtranonceSubscribe", 0)
        .field("responseTime", noisy(f64::from(state.ping_ms) + 0.2))
        .field("version", "v2.10.0")
        .field("axeOSVersion", "v2.10.0")
        .field("idfVersion", "v5.4.1")
        .field("boardVersion", profile.board_version)
        .field("runningPartition", "ota_0")
        .field("overheat_mode", 0)
        .field("overclockEnabled", 0)
        .field("display", "SSD1306 (128x32)")
        .field("rotation", 0)
        .field("invertscreen", 0)
        .field("displayTimeout", -1)
        .field("autofanspeed", i64::from(state.manual_fan_pct.is_none()))
        .field("fanspeed", r.fan_pct)
        .field("minFanSpeed", 25)
        .field("temptarget", 60)
        .field("fanrpm", state.fan_rpm)
        .field("statsFrequency", 0)
        .build()
}

/// `GET /api/system/info` of AxeOS v2.4.x (old Supra flavour, protocols.md §1.3):
/// integer `voltage`, `stratumDiff`, `flipscreen`, `invertfanpolarity`, `asicCount`.
fn info_v2_4(state: &DeviceState) -> Json {
    let r = reading(state);
    let profile = state.profile;
    let noisy = |value: f64| Json::Float(float_noise(value));
    let primary = pool_slot(state, 0);
    let fallback = pool_slot(state, 1);
    obj()
        .field("power", noisy(r.power))
        .field("voltage", r.voltage_mv.round() as i64)
        .field("current", noisy(r.current_ma))
        .field("temp", noisy(r.temp))
        .field("vrTemp", r.vr_temp)
        .field("hashRate", noisy(r.ghs))
        .field("bestDiff", suffix_string(state.best_ever))
        .field("bestSessionDiff", suffix_string(state.best_session))
        .field("stratumDiff", profile.pool_diff as u64)
        .field("isUsingFallbackStratum", i64::from(state.active_pool == 1))
        .field("freeHeap", 186_760)
        .field("coreVoltage", state.core_voltage_mv.round() as i64)
        .field("coreVoltageActual", r.core_actual)
        .field("frequency", state.frequency_mhz.round() as i64)
        .field("ssid", "HomeWiFi")
        .field("macAddr", state.mac.as_str())
        .field("hostname", state.hostname.as_str())
        .field("wifiStatus", "Connected!")
        .field("sharesAccepted", state.accepted)
        .field("sharesRejected", state.rejected)
        .field("uptimeSeconds", state.uptime_s())
        .field("asicCount", profile.asic_count)
        .field("smallCoreCount", profile.small_cores)
        .field("ASICModel", profile.asic_model)
        .field("stratumURL", primary.url.as_str())
        .field("fallbackStratumURL", fallback.url.as_str())
        .field("stratumPort", primary.port)
        .field("fallbackStratumPort", fallback.port)
        .field("stratumUser", primary.user.as_str())
        .field("fallbackStratumUser", fallback.user.as_str())
        .field("version", "v2.4.5")
        .field("idfVersion", "v5.3.1")
        .field("boardVersion", profile.board_version)
        .field("runningPartition", "ota_0")
        .field("flipscreen", 1)
        .field("overheat_mode", 0)
        .field("invertscreen", 0)
        .field("invertfanpolarity", 1)
        .field("autofanspeed", i64::from(state.manual_fan_pct.is_none()))
        .field("fanspeed", r.fan_pct)
        .field("fanrpm", state.fan_rpm)
        .build()
}

/// `GET /api/system/info` of NerdQAxe++ v1.0.38, key order of
/// `nerdqaxe_system_info_v1_0_38.json`. `temp` is the hottest chip of `asicTemps`.
fn info_nerdqaxe(state: &DeviceState) -> Json {
    let r = reading(state);
    let profile = state.profile;
    let float = |value: f64| Json::Float(round7(value));
    let quarter = |value: f64| (value * 4.0).round() / 4.0;
    let chip_temps = [
        quarter(r.temp - 1.0),
        r.temp,
        quarter(r.temp - 1.75),
        quarter(r.temp - 0.5),
    ];
    let uptime = state.uptime_s();
    let primary = pool_slot(state, 0);
    let fallback = pool_slot(state, 1);
    let pool_entry = obj()
        .field("connected", true)
        .field("verifyBlocked", "")
        .field("poolDifficulty", profile.pool_diff as u64)
        .field("networkDifficulty", NETWORK_DIFFICULTY)
        .field("poolDiffErr", false)
        .field("accepted", state.accepted)
        .field("rejected", state.rejected)
        .field("pingRtt", float(f64::from(state.ping_ms)))
        .field("pingLoss", 0)
        .field("bestDiff", state.best_session as u64)
        .field("activeProtocol", 0)
        .field("encrypted", false)
        .build();
    let fan = obj()
        .field("label", "ASIC")
        .field("mode", 2)
        .field("manualSpeed", 100)
        .field("overheatTemp", 70)
        .field("rpm", state.fan_rpm)
        .field("speedPerc", r.fan_pct)
        .field(
            "pid",
            obj()
                .field("targetTemp", 60)
                .field("p", 6)
                .field("i", 0.1)
                .field("d", 10)
                .build(),
        )
        .build();
    obj()
        .field("asicCount", profile.asic_count)
        .field("smallCoreCount", profile.small_cores)
        .field("deviceModel", profile.device_model)
        .field("hostip", state.ip.to_string())
        .field("macAddr", state.mac.as_str())
        .field("wifiRSSI", state.rssi)
        .field("power", float((r.power * 10.0).round() / 10.0))
        .field("maxPower", profile.max_power_w as i64)
        .field("minPower", 52)
        .field("maxVoltage", 13)
        .field("minVoltage", 11)
        .field("current", float(r.current_ma))
        .field("currentA", float(r.current_ma / 1000.0))
        .field("minCurrentA", 0)
        .field("maxCurrentA", 8)
        .field("temp", float(r.temp))
        .field("vrTemp", r.vr_temp + 5)
        .field("vrTempInt", float(quarter(r.temp + 9.0)))
        .field("hashRateTimestamp", uptime * 1000 + 500)
        .field("hashRate", float((r.ghs * 100.0).round() / 100.0))
        .field("hashRate_1m", float((state.ema[0] / 1e7).round() / 100.0))
        .field("hashRate_10m", float((state.ema[2] / 1e7).round() / 100.0))
        .field("hashRate_1h", float((state.ema[4] / 1e7).round() / 100.0))
        .field("hashRate_1d", float((state.ema[5] / 1e7).round() / 100.0))
        .field("coreVoltage", state.core_voltage_mv.round() as i64)
        .field("defaultCoreVoltage", profile.default_mv as i64)
        .field("coreVoltageActual", r.core_actual + 4)
        .field("fanspeed", r.fan_pct)
        .field(
            "manualFanSpeed",
            state.manual_fan_pct.unwrap_or(100.0).round() as i64,
        )
        .field("fanrpm", state.fan_rpm)
        .field("fanrpm2", 0)
        .field("fanspeed2", 0)
        .field("fanCount", 1)
        .field("lastpingrtt", float(f64::from(state.ping_ms)))
        .field("recentpingloss", 0)
        .field("shutdown", false)
        .field(
            "can",
            obj()
                .field("hasExtension", false)
                .field("enabled", false)
                .build(),
        )
        .field("duplicateHWNonces", 0)
        .field(
            "stratum",
            obj()
                .field("poolMode", 0)
                .field("activePoolMode", 0)
                .field("poolBalance", 50)
                .field("totalBestDiff", state.best_ever as u64)
                .field("usingFallback", state.active_pool == 1)
                .field("pools", vec![pool_entry])
                .build(),
        )
        .field("poolDifficulty", profile.pool_diff as u64)
        .field("networkDifficulty", NETWORK_DIFFICULTY)
        .field("foundBlocks", 0)
        .field("totalFoundBlocks", 0)
        .field("sharesAccepted", state.accepted)
        .field("sharesRejected", state.rejected)
        .field("bestDiff", state.best_ever as u64)
        .field("bestSessionDiff", state.best_session as u64)
        .field(
            "blockHeaders",
            vec![
                obj()
                    .field("pool", 0)
                    .field("blockHeight", 912_345 + uptime / 600)
                    .field("networkDifficulty", NETWORK_DIFFICULTY)
                    .field("scriptsig", "/ckpool/")
                    .build(),
            ],
        )
        .field("coinbaseVerifyMode", 0)
        .field("coinbaseMaxFee", 0)
        .field("coinbaseVerifyForce", false)
        .field("fallbackCoinbaseVerifyMode", 0)
        .field("fallbackCoinbaseMaxFee", 0)
        .field("fallbackCoinbaseVerifyForce", false)
        .field(
            "asicTemps",
            Json::Arr(chip_temps.iter().map(|temp| float(*temp)).collect()),
        )
        .field("pidTargetTemp", 60)
        .field("pidP", 6)
        .field("pidI", 0.1)
        .field("pidD", 10)
        .field("fans", vec![fan])
        .field("hostname", state.hostname.as_str())
        .field("ssid", "HomeWiFi")
        .field("stratumURL", primary.url.as_str())
        .field("stratumPort", primary.port)
        .field("stratumUser", primary.user.as_str())
        .field("stratumEnonceSubscribe", false)
        .field("stratumTLS", false)
        .field("fallbackStratumURL", fallback.url.as_str())
        .field("fallbackStratumPort", fallback.port)
        .field("fallbackStratumUser", fallback.user.as_str())
        .field("fallbackStratumEnonceSubscribe", false)
        .field("fallbackStratumTLS", false)
        .field("stratumProtocol", 0)
        .field("fallbackStratumProtocol", 0)
        .field("sv2AuthorityPubkey", "")
        .field("fallbackSv2AuthorityPubkey", "")
        .field("sv2ChannelType", 0)
        .field("fallbackSv2ChannelType", 0)
        .field("voltage", float(r.voltage_mv))
        .field("frequency", float(state.frequency_mhz))
        .field("defaultFrequency", profile.default_freq as i64)
        .field("jobInterval", 500)
        .field("stratumDifficulty", 1000)
        .field("overheat_temp", 70)
        .field("flipscreen", 1)
        .field("invertscreen", 0)
        .field("autoscreenoff", 0)
        .field("invertfanpolarity", 1)
        .field(
            "autofanspeed",
            if state.manual_fan_pct.is_some() { 0 } else { 2 },
        )
        .field("stratum_keep", 0)
        .field("vrFrequency", 500)
        .field("defaultVrFrequency", 500)
        .field("otp", false)
        .field("ASICModel", profile.asic_model)
        .field("uptimeSeconds", uptime)
        .field("lastResetReason", reset_reason(state))
        .field("wifiStatus", "Connected!")
        .field("freeHeap", 7_612_344)
        .field("freeHeapInt", 88_120)
        .field("version", profile.firmware)
        .field("runningPartition", "ota_0")
        .field("defaultTheme", "default")
        .build()
}

/// `GET /api/system/asic` (AxeOS ≥ v2.7 and NerdQAxe).
fn asic_info(state: &DeviceState, generation: Generation) -> Json {
    let profile = state.profile;
    let numbers = |values: &[u32]| Json::Arr(values.iter().map(|v| Json::from(*v)).collect());
    if generation == Generation::NerdQaxe {
        return obj()
            .field("ASICModel", profile.asic_model)
            .field("deviceModel", profile.device_model)
            .field("asicCount", profile.asic_count)
            .field("defaultFrequency", profile.default_freq as i64)
            .field("defaultVoltage", profile.default_mv as i64)
            .field("swarmColor", profile.swarm_color)
            .field("frequencyOptions", numbers(profile.freq_options))
            .field("voltageOptions", numbers(profile.volt_options))
            .build();
    }
    let hash_domains = (generation == Generation::V2_15).then_some(4);
    obj()
        .field("ASICModel", profile.asic_model)
        .field("deviceModel", profile.device_model)
        .field("swarmColor", profile.swarm_color)
        .field("asicCount", profile.asic_count)
        .field_opt("hashDomains", hash_domains)
        .field("defaultFrequency", profile.default_freq as i64)
        .field("frequencyOptions", numbers(profile.freq_options))
        .field("defaultVoltage", profile.default_mv as i64)
        .field("voltageOptions", numbers(profile.volt_options))
        .build()
}

/// Finds a key: case-insensitively on AxeOS (`cJSON_GetObjectItem`), exactly on NerdQAxe
/// (ArduinoJson).
fn lookup<'a>(
    body: &'a serde_json::Map<String, Value>,
    key: &str,
    generation: Generation,
) -> Option<&'a Value> {
    if generation == Generation::NerdQaxe {
        return body.get(key);
    }
    body.iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(key))
        .map(|(_, value)| value)
}

/// `PATCH /api/system`.
fn patch(state: &mut DeviceState, generation: Generation, body: &[u8]) -> Response {
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
        return Response::text(400, "Invalid JSON");
    };
    let result = match generation {
        Generation::V2_15 => patch_validated(state, &fields),
        Generation::V2_4 | Generation::V2_10 => {
            patch_unvalidated(state, &fields, generation);
            Ok(false)
        }
        Generation::NerdQaxe => patch_nerdqaxe(state, &fields),
    };
    match result {
        Ok(false) => Response::text(200, ""),
        Ok(true) => {
            let body = obj()
                .field("status", "success")
                .field(
                    "redirect",
                    obj()
                        .field("url", format!("http://{}.local", state.hostname))
                        .field("delay", 2000)
                        .field("message", "Hostname changed, redirecting...")
                        .build(),
                )
                .build();
            Response::json(200, body.render(Layout::Compact))
        }
        Err(()) => Response::text(400, "Wrong API input"),
    }
}

/// A pending HEAD PATCH: validated completely before anything is written.
#[derive(Default)]
struct Changes {
    frequency: Option<f64>,
    core_voltage: Option<f64>,
    hostname: Option<String>,
    manual_fan: Option<f64>,
    auto_fan: Option<bool>,
    primary_index: Option<usize>,
    pools: Vec<(usize, PoolConfig)>,
}

fn number_in(value: &Value, min: f64, max: f64) -> Result<f64, ()> {
    value
        .as_f64()
        .filter(|number| (min..=max).contains(number))
        .ok_or(())
}

/// HEAD (v2.15): validates every known key, then writes; flat pool keys are ignored.
/// Returns whether the hostname changed (redirect reply).
fn patch_validated(
    state: &mut DeviceState,
    fields: &serde_json::Map<String, Value>,
) -> Result<bool, ()> {
    let generation = Generation::V2_15;
    let mut changes = Changes::default();
    if let Some(value) = lookup(fields, "frequency", generation) {
        changes.frequency = Some(number_in(value, 1.0, 10_000.0)?);
    }
    if let Some(value) = lookup(fields, "coreVoltage", generation) {
        changes.core_voltage = Some(number_in(value, 1.0, 10_000.0)?);
    }
    if let Some(value) = lookup(fields, "hostname", generation) {
        let name = value
            .as_str()
            .filter(|name| (1..=32).contains(&name.len()))
            .ok_or(())?;
        changes.hostname = Some(name.to_ascii_lowercase());
    }
    if let Some(value) = lookup(fields, "manualFanSpeed", generation) {
        changes.manual_fan = Some(number_in(value, 0.0, 100.0)?);
    }
    if let Some(value) = lookup(fields, "autofanspeed", generation) {
        changes.auto_fan = Some(number_in(value, 0.0, 1.0)? >= 1.0);
    }
    if let Some(value) = lookup(fields, "primaryPoolIndex", generation) {
        changes.primary_index = Some(number_in(value, 0.0, 7.0)? as usize);
    }
    if let Some(value) = lookup(fields, "pools", generation) {
        let entries = value.as_array().ok_or(())?;
        for entry in entries {
            let entry = entry.as_object().ok_or(())?;
            let id = lookup(entry, "id", generation)
                .ok_or(())
                .and_then(|id| number_in(id, 0.0, 7.0))? as usize;
            let mut pool = pool_slot(state, id);
            if let Some(url) = lookup(entry, "stratumURL", generation) {
                pool.url = url
                    .as_str()
                    .filter(|url| !url.is_empty())
                    .ok_or(())?
                    .to_string();
            }
            if let Some(port) = lookup(entry, "stratumPort", generation) {
                pool.port = number_in(port, 1.0, 65_535.0)? as u16;
            }
            if let Some(user) = lookup(entry, "stratumUser", generation) {
                pool.user = user.as_str().ok_or(())?.to_string();
            }
            if let Some(password) = lookup(entry, "stratumPassword", generation) {
                let password = password.as_str().ok_or(())?;
                if password != "*****" {
                    pool.password = password.to_string();
                }
            }
            changes.pools.push((id, pool));
        }
    }
    apply_changes(state, changes)
}

fn apply_changes(state: &mut DeviceState, changes: Changes) -> Result<bool, ()> {
    if let Some(frequency) = changes.frequency {
        state.frequency_mhz = frequency;
    }
    if let Some(voltage) = changes.core_voltage {
        state.core_voltage_mv = voltage;
    }
    if let Some(manual) = changes.manual_fan
        && state.manual_fan_pct.is_some()
    {
        state.manual_fan_pct = Some(manual);
    }
    if let Some(auto) = changes.auto_fan {
        state.manual_fan_pct = if auto {
            None
        } else {
            Some(changes.manual_fan.unwrap_or(100.0))
        };
    }
    for (id, pool) in changes.pools {
        if state.pools.len() <= id {
            state.pools.resize(id + 1, pool_slot(state, usize::MAX));
        }
        state.pools[id] = pool;
    }
    if let Some(index) = changes.primary_index
        && index < state.pools.len()
        && !state.pools[index].url.is_empty()
    {
        state.pools.swap(0, index);
    }
    match changes.hostname {
        Some(name) if name != state.hostname => {
            state.hostname = name;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// ≤ v2.10: no validation; a numeric key holding a non-number is written as 0 (what
/// `cJSON`'s `valuedouble` gives), flat `stratum*` / `fallbackStratum*` keys, `fanspeed`.
fn patch_unvalidated(
    state: &mut DeviceState,
    fields: &serde_json::Map<String, Value>,
    generation: Generation,
) {
    let number =
        |key: &str| lookup(fields, key, generation).map(|value| value.as_f64().unwrap_or(0.0));
    let text = |key: &str| {
        lookup(fields, key, generation)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    if let Some(frequency) = number("frequency") {
        state.frequency_mhz = frequency;
    }
    if let Some(voltage) = number("coreVoltage") {
        state.core_voltage_mv = voltage;
    }
    if let Some(auto) = number("autofanspeed") {
        state.manual_fan_pct = if auto >= 1.0 {
            None
        } else {
            Some(number("fanspeed").unwrap_or(100.0))
        };
    } else if let Some(fan) = number("fanspeed")
        && state.manual_fan_pct.is_some()
    {
        state.manual_fan_pct = Some(fan.clamp(0.0, 100.0));
    }
    if let Some(name) = text("hostname") {
        state.hostname = name;
    }
    apply_flat_pools(state, fields, generation);
}

fn apply_flat_pools(
    state: &mut DeviceState,
    fields: &serde_json::Map<String, Value>,
    generation: Generation,
) {
    for (slot, prefix) in [(0usize, "stratum"), (1, "fallbackStratum")] {
        let key = |suffix: &str| format!("{prefix}{suffix}");
        if let Some(url) = lookup(fields, &key("URL"), generation).and_then(Value::as_str) {
            state.pools[slot].url = url.to_string();
        }
        if let Some(port) = lookup(fields, &key("Port"), generation).and_then(Value::as_u64) {
            state.pools[slot].port = u16::try_from(port).unwrap_or(0);
        }
        if let Some(user) = lookup(fields, &key("User"), generation).and_then(Value::as_str) {
            state.pools[slot].user = user.to_string();
        }
        if let Some(password) = lookup(fields, &key("Password"), generation).and_then(Value::as_str)
        {
            state.pools[slot].password = password.to_string();
        }
    }
}

/// NerdQAxe: case-sensitive keys, wrong types ignored, flat pool keys.
fn patch_nerdqaxe(
    state: &mut DeviceState,
    fields: &serde_json::Map<String, Value>,
) -> Result<bool, ()> {
    let generation = Generation::NerdQaxe;
    if let Some(frequency) = fields.get("frequency").and_then(Value::as_f64) {
        state.frequency_mhz = frequency;
    }
    if let Some(voltage) = fields.get("coreVoltage").and_then(Value::as_f64) {
        state.core_voltage_mv = voltage;
    }
    if let Some(mode) = fields.get("autofanspeed").and_then(Value::as_u64) {
        state.manual_fan_pct = if mode == 0 {
            Some(
                fields
                    .get("manualFanSpeed")
                    .and_then(Value::as_f64)
                    .unwrap_or(100.0),
            )
        } else {
            None
        };
    }
    if let Some(name) = fields.get("hostname").and_then(Value::as_str) {
        state.hostname = name.to_string();
    }
    apply_flat_pools(state, fields, generation);
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffix_string_matches_axeos_examples() {
        assert_eq!(suffix_string(483_000.0), "483k");
        assert_eq!(suffix_string(4_294_967_296.0), "4.29G");
        assert_eq!(suffix_string(61_234_567.0), "61.2M");
        assert_eq!(suffix_string(0.0), "0");
        assert_eq!(suffix_string(999.0), "999");
    }

    #[test]
    fn origin_addresses_are_classified_like_the_firmware() {
        assert_eq!(
            origin_ip("http://192.168.1.5:4200"),
            Some("192.168.1.5".parse().unwrap())
        );
        assert_eq!(origin_ip("http://bitaxe.local"), None);
        assert!(is_private("10.1.2.3".parse().unwrap()));
        assert!(is_private("172.20.0.1".parse().unwrap()));
        assert!(!is_private("172.32.0.1".parse().unwrap()));
        assert!(!is_private("8.8.8.8".parse().unwrap()));
        assert!(is_private("127.0.0.1".parse().unwrap()));
    }
}
