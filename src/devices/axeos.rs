//! Bitaxe and NerdQAxe over the AxeOS HTTP API (protocols.md §1–§2).
//!
//! Polling is one `GET /api/system/info`, parsed by [`parse_system_info`] across firmware
//! generations: `bestDiff` as an SI string (≤ v2.10, NerdQAxe ≤ 1.0.33) or a number,
//! `stratumDiff`/`poolDifficulty` and other renames, 0/1 numbers vs booleans, float noise
//! from firmware before v2.12, and NerdQAxe's differences (`deviceModel`, `hostip`, `temp`
//! = hottest chip, per-chip `asicTemps`, `hashRate` = 10-minute average on 1.0.30–1.0.32).
//!
//! Control: mode presets ([`ModePresets`]) written as `frequency` + `coreVoltage` with
//! `PATCH /api/system`; restart with `POST /api/system/restart` (plain-text and JSON
//! replies); pool switch with flat `stratumURL…` keys or `pools[]` (v2.15+), chosen from the
//! info reply, followed by a restart because AxeOS applies pool changes only at boot.

use serde_json::{Map, Value, json};

use super::fields::{
    count, denoise, first_count, first_number, first_text, flag, number, si_number, text,
};
use super::http::{self, expect_success};
use super::{
    ControlOutcome, DeviceError, DeviceInfo, Limits, NetworkReading, PoolTarget, Reading, Variant,
    online_sample, with_deadline,
};
use crate::model::{MinerKind, Mode};
use crate::units::{ghs_to_hs, now_ms};

/// Telemetry endpoint.
pub const INFO_PATH: &str = "/api/system/info";
/// ASIC limits endpoint (v2.7+, NerdQAxe since Aug 2025).
pub const ASIC_PATH: &str = "/api/system/asic";
/// Settings endpoint (PATCH).
pub const SYSTEM_PATH: &str = "/api/system";
/// Restart endpoint (POST).
pub const RESTART_PATH: &str = "/api/system/restart";
/// Pause-mining endpoint (POST, v2.14+).
pub const PAUSE_PATH: &str = "/api/system/pause";
/// Resume-mining endpoint (POST, v2.14+).
pub const RESUME_PATH: &str = "/api/system/resume";

/// Polls one AxeOS device: `GET /api/system/info` within `limits`.
pub async fn poll(addr: &str, limits: Limits) -> Result<Reading, DeviceError> {
    let response = http::request(addr, "GET", INFO_PATH, None, limits).await?;
    let response = expect_success(addr, response)?;
    let mut reading = parse_system_info(&response.body)?;
    reading.sample.ts_ms = now_ms();
    Ok(reading)
}

/// Parses a `/api/system/info` body (Bitaxe any version, NerdQAxe) into a reading.
pub fn parse_system_info(body: &[u8]) -> Result<Reading, DeviceError> {
    let obj = parse_object(body)?;
    if !looks_like_axeos(&obj) {
        return Err(DeviceError::Garbage(
            "not an AxeOS /api/system/info reply (no hashRate, ASICModel or power)".into(),
        ));
    }
    let variant = variant_of(&obj);
    let presets = presets_from_info(&obj);
    let mut sample = online_sample();
    sample.hashrate_hs = hashrate_ghs(&obj, variant).map(|ghs| ghs_to_hs(denoise(ghs)));
    sample.power_w = first_number(&obj, &["power"]).map(denoise);
    sample.temp_c = chip_temp(&obj);
    sample.vr_temp_c = first_number(&obj, &["vrTemp"])
        .filter(|t| *t > 0.0)
        .map(denoise);
    sample.fan_rpm = first_count(&obj, &["fanrpm"]).and_then(|rpm| u32::try_from(rpm).ok());
    let frequency = first_number(&obj, &["frequency", "actualFrequency"]).map(denoise);
    sample.frequency_mhz = frequency;
    sample.core_voltage_mv = first_number(&obj, &["coreVoltageActual", "coreVoltage"]).map(denoise);
    sample.shares_accepted = first_count(&obj, &["sharesAccepted"]);
    sample.shares_rejected = first_count(&obj, &["sharesRejected"]);
    sample.best_diff = obj.get("bestDiff").and_then(si_number);
    sample.uptime_s = first_count(&obj, &["uptimeSeconds"]);
    sample.mode = match (&presets, frequency) {
        (Some(presets), Some(f)) => presets.mode_for(f),
        _ => None,
    };
    let mut info = DeviceInfo::new(MinerKind::Axeos, variant);
    info.model = Some(model_name(&obj, variant));
    info.firmware = first_text(&obj, &["version", "axeOSVersion"]);
    let (pool_url, pool_user) = pool_in_use(&obj);
    info.pool_url = pool_url;
    info.pool_user = pool_user;
    info.hostname = first_text(&obj, &["hostname"]);
    info.mac = first_text(&obj, &["macAddr"]).and_then(|m| super::normalize_mac(&m));
    info.ip = first_text(&obj, &["ipv4", "hostip"]);
    info.asic_model = first_text(&obj, &["ASICModel"]);
    info.asic_count = first_count(&obj, &["asicCount"]).and_then(|n| u32::try_from(n).ok());
    info.supported_modes = presets.map(|p| p.modes()).unwrap_or_default();
    info.paused = obj.get("miningPaused").and_then(flag);
    info.network = network_readings(&obj);
    Ok(Reading { sample, info })
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, DeviceError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(obj)) => Ok(obj),
        Ok(_) => Err(DeviceError::garbage(body)),
        Err(err) if err.is_eof() => Err(DeviceError::Truncated("JSON")),
        Err(_) => Err(DeviceError::garbage(body)),
    }
}

fn looks_like_axeos(obj: &Map<String, Value>) -> bool {
    ["hashRate", "ASICModel", "power", "sharesAccepted"]
        .iter()
        .any(|key| obj.contains_key(*key))
}

fn variant_of(obj: &Map<String, Value>) -> Variant {
    if obj.contains_key("deviceModel") || obj.contains_key("hostip") {
        return Variant::NerdQaxe;
    }
    let has_pools = obj.get("pools").is_some_and(Value::is_array);
    // v2.14 reports pools[] but still takes (and documents) the flat PATCH keys; v2.15
    // dropped them, so pools[] writes are for v2.15 and later (or unknown versions).
    let old = firmware_version(obj).is_some_and(|v| v < (2, 15, 0));
    Variant::Bitaxe {
        pools_array: has_pools && !old,
    }
}

fn firmware_version(obj: &Map<String, Value>) -> Option<(u32, u32, u32)> {
    first_text(obj, &["version", "axeOSVersion"]).and_then(|v| parse_version(&v))
}

/// Parses "v2.10.0", "2.4.5-dirty", "v1.0.38-alpha9" into (major, minor, patch).
pub(crate) fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let text = text.trim().trim_start_matches(['v', 'V']);
    let mut parts = text
        .split(|c: char| !c.is_ascii_digit())
        .take(3)
        .map(|p| p.parse::<u32>().ok());
    let major = parts.next().flatten()?;
    let minor = parts.next().flatten()?;
    let patch = parts.next().flatten().unwrap_or(0);
    Some((major, minor, patch))
}

/// GH/s as the device means "current": NerdQAxe 1.0.30–1.0.32 reports a 10-minute average
/// in `hashRate`, so the 1-minute value is preferred there when present.
fn hashrate_ghs(obj: &Map<String, Value>, variant: Variant) -> Option<f64> {
    if variant == Variant::NerdQaxe
        && firmware_version(obj).is_some_and(|v| v < (1, 0, 33))
        && let Some(one_minute) = first_number(obj, &["hashRate_1m"])
    {
        return Some(one_minute);
    }
    first_number(obj, &["hashRate"])
}

/// Hottest chip temperature: NerdQAxe's `temp` is already the max (and `asicTemps[]` lists
/// every chip); AxeOS `temp` is the average, `temp2` (-1 = absent) a second sensor.
/// Readings ≤ 0 °C mean "no sensor/not read yet" on these boards and stay `None`.
fn chip_temp(obj: &Map<String, Value>) -> Option<f64> {
    let per_chip = obj
        .get("asicTemps")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(number);
    [obj.get("temp"), obj.get("temp2")]
        .into_iter()
        .flatten()
        .filter_map(number)
        .chain(per_chip)
        .filter(|t| *t > 0.0)
        .map(denoise)
        .reduce(f64::max)
}

fn model_name(obj: &Map<String, Value>, variant: Variant) -> String {
    if variant == Variant::NerdQaxe {
        return first_text(obj, &["deviceModel"]).unwrap_or_else(|| "NerdQAxe".to_string());
    }
    let board = first_text(obj, &["boardVersion"]).and_then(|b| board_family(&b));
    let asic = first_text(obj, &["ASICModel"]);
    let family = board.or_else(|| asic.as_deref().and_then(asic_family));
    match family {
        Some(family) => format!("Bitaxe {family}"),
        None => "Bitaxe".to_string(),
    }
}

/// Board family by `boardVersion` (ESP-Miner device_config.h, protocols.md §1.4).
fn board_family(board: &str) -> Option<&'static str> {
    let family = match board.trim() {
        "2.2" | "102" => "Max",
        "0.11" | "201" | "202" | "203" | "204" | "205" | "207" => "Ultra",
        "302" | "303" => "Hex",
        "400" | "401" | "402" | "403" => "Supra",
        "600" | "601" | "602" | "603" => "Gamma",
        "650" => "GammaDuo",
        "701" | "702" => "SupraHex",
        "801" => "GammaTurbo",
        _ => return None,
    };
    Some(family)
}

/// Family by ASIC when the board is unknown (pyasic's mapping).
fn asic_family(asic: &str) -> Option<&'static str> {
    match asic {
        "BM1397" => Some("Max"),
        "BM1366" => Some("Ultra"),
        "BM1368" => Some("Supra"),
        "BM1370" => Some("Gamma"),
        _ => None,
    }
}

/// The pool the device mines on now (primary or fallback), as `stratum+tcp://host:port`,
/// and its user. Passwords are never read.
fn pool_in_use(obj: &Map<String, Value>) -> (Option<String>, Option<String>) {
    let on_fallback = using_fallback(obj);
    if let Some(pools) = obj.get("pools").and_then(Value::as_array) {
        let index_key = if on_fallback {
            "secondaryPoolIndex"
        } else {
            "primaryPoolIndex"
        };
        let wanted = first_count(obj, &[index_key]).unwrap_or(u64::from(on_fallback));
        let slot = pools
            .iter()
            .filter_map(Value::as_object)
            .find(|p| p.get("id").and_then(count) == Some(wanted));
        if let Some(slot) = slot {
            return (
                pool_url(slot, "stratumURL", "stratumPort", "stratumTLS"),
                first_text(slot, &["stratumUser"]),
            );
        }
    }
    let prefix = if on_fallback {
        "fallbackStratum"
    } else {
        "stratum"
    };
    let key = |suffix: &str| format!("{prefix}{suffix}");
    (
        pool_url(obj, &key("URL"), &key("Port"), &key("TLS")),
        first_text(obj, &[&key("User")]),
    )
}

/// The network difficulty (and block height) the device reports, per pool it mines on.
///
/// NerdQAxe firmware that lists `stratum.pools[]` with a `networkDifficulty` each is read
/// per pool (dual-pool mode mines two pools, possibly of two coins, at once); a pool the
/// firmware marks `connected: false` is skipped, as its value may be from long ago. Other
/// firmware (AxeOS v2.11+, older NerdQAxe) has one top-level `networkDifficulty` for the
/// pool in use. Values that are not finite or not above zero are dropped: AxeOS sends 0
/// before the first job, and a made-up difficulty would make profitability a guess.
fn network_readings(obj: &Map<String, Value>) -> Vec<NetworkReading> {
    let per_pool = per_pool_readings(obj);
    if !per_pool.is_empty() {
        return per_pool;
    }
    let on_fallback = using_fallback(obj);
    let reading = obj
        .get("networkDifficulty")
        .and_then(valid_difficulty)
        .zip(pool_in_use(obj).0)
        .map(|(difficulty, pool_url)| NetworkReading {
            pool_url,
            difficulty,
            block_height: first_count(obj, &["blockHeight"])
                .or_else(|| block_height_of_pool(obj, u64::from(on_fallback))),
        });
    reading.into_iter().collect()
}

/// NerdQAxe's `stratum.pools[]`: entry 0 is the primary pool and entry 1 the fallback (or
/// second pool in dual-pool mode), unless the entry names its own host; a single entry is
/// the pool in use.
fn per_pool_readings(obj: &Map<String, Value>) -> Vec<NetworkReading> {
    let Some(pools) = obj
        .get("stratum")
        .and_then(|s| s.get("pools"))
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    let single = pools.len() == 1;
    pools
        .iter()
        .enumerate()
        .filter_map(|(index, entry)| {
            let entry = entry.as_object()?;
            if entry.get("connected").and_then(flag) == Some(false) {
                return None;
            }
            let difficulty = entry.get("networkDifficulty").and_then(valid_difficulty)?;
            let pool_url = nerdqaxe_pool_url(obj, entry, index, single)?;
            Some(NetworkReading {
                pool_url,
                difficulty,
                block_height: block_height_of_pool(obj, index as u64),
            })
        })
        .collect()
}

fn nerdqaxe_pool_url(
    obj: &Map<String, Value>,
    entry: &Map<String, Value>,
    index: usize,
    single: bool,
) -> Option<String> {
    let own = pool_url(entry, "url", "port", "encrypted")
        .or_else(|| pool_url(entry, "host", "port", "encrypted"));
    if own.is_some() {
        return own;
    }
    match (single, index) {
        (true, _) => pool_in_use(obj).0,
        (false, 0) => pool_url(obj, "stratumURL", "stratumPort", "stratumTLS"),
        (false, 1) => pool_url(
            obj,
            "fallbackStratumURL",
            "fallbackStratumPort",
            "fallbackStratumTLS",
        ),
        _ => None,
    }
}

/// NerdQAxe's `blockHeaders[]`: the height of the block pool `index` is mining.
fn block_height_of_pool(obj: &Map<String, Value>, index: u64) -> Option<u64> {
    obj.get("blockHeaders")
        .and_then(Value::as_array)?
        .iter()
        .filter_map(Value::as_object)
        .find(|header| header.get("pool").and_then(count) == Some(index))
        .and_then(|header| first_count(header, &["blockHeight"]))
}

/// A network difficulty worth using: a finite number above zero.
fn valid_difficulty(value: &Value) -> Option<f64> {
    si_number(value).filter(|d| d.is_finite() && *d > 0.0)
}

/// Whether the device mines on its fallback pool (`isUsingFallbackStratum`, NerdQAxe's
/// `stratum.usingFallback`).
fn using_fallback(obj: &Map<String, Value>) -> bool {
    obj.get("isUsingFallbackStratum")
        .and_then(flag)
        .or_else(|| {
            obj.get("stratum")
                .and_then(|s| s.get("usingFallback"))
                .and_then(flag)
        })
        .unwrap_or(false)
}

fn pool_url(
    obj: &Map<String, Value>,
    url_key: &str,
    port_key: &str,
    tls_key: &str,
) -> Option<String> {
    let host = first_text(obj, &[url_key])?;
    if host.contains("://") {
        return Some(host);
    }
    let tls = obj.get(tls_key).and_then(flag).unwrap_or(false);
    let scheme = if tls { "stratum+ssl" } else { "stratum+tcp" };
    match first_count(obj, &[port_key]) {
        Some(port) => Some(format!("{scheme}://{host}:{port}")),
        None => Some(format!("{scheme}://{host}")),
    }
}

// ---------------------------------------------------------------------------------------
// Mode presets

/// Reply of `GET /api/system/asic`: the vendor's frequency/voltage choices for this board.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AsicInfo {
    /// "BM1370".
    pub asic_model: Option<String>,
    /// "Supra", "NerdQAxe++".
    pub device_model: Option<String>,
    /// Chips on the board.
    pub asic_count: Option<u32>,
    /// Stock frequency, MHz.
    pub default_frequency: Option<f64>,
    /// Stock core voltage, mV.
    pub default_voltage: Option<f64>,
    /// Frequencies the vendor UI offers, MHz, ascending.
    pub frequency_options: Vec<f64>,
    /// Core voltages the vendor UI offers, mV, ascending.
    pub voltage_options: Vec<f64>,
    /// NerdQAxe's own eco frequency, MHz.
    pub eco_frequency: Option<f64>,
    /// NerdQAxe's own eco voltage, mV.
    pub eco_voltage: Option<f64>,
}

/// Parses a `/api/system/asic` body.
pub fn parse_asic_info(body: &[u8]) -> Result<AsicInfo, DeviceError> {
    let obj = parse_object(body)?;
    let options = |key: &str| {
        let mut list: Vec<f64> = obj
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(number)
            .collect();
        list.sort_by(f64::total_cmp);
        list
    };
    if !obj.contains_key("ASICModel") && !obj.contains_key("frequencyOptions") {
        return Err(DeviceError::Garbage(
            "not an AxeOS /api/system/asic reply".into(),
        ));
    }
    Ok(AsicInfo {
        asic_model: first_text(&obj, &["ASICModel"]),
        device_model: first_text(&obj, &["deviceModel"]),
        asic_count: first_count(&obj, &["asicCount"]).and_then(|n| u32::try_from(n).ok()),
        default_frequency: first_number(&obj, &["defaultFrequency"]),
        default_voltage: first_number(&obj, &["defaultVoltage"]),
        frequency_options: options("frequencyOptions"),
        voltage_options: options("voltageOptions"),
        eco_frequency: first_number(&obj, &["ecoFrequency"]),
        eco_voltage: first_number(&obj, &["ecoVoltage"]),
    })
}

/// One mode's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Preset {
    /// The mode.
    pub mode: Mode,
    /// ASIC frequency, MHz.
    pub frequency_mhz: f64,
    /// Core voltage, mV.
    pub core_voltage_mv: f64,
}

/// Base presets per ASIC, `(frequency MHz, core voltage mV)` for eco, standard, turbo, oc.
///
/// Source: "standard" is the stock default of ESP-Miner `device_config.h` (protocols.md
/// §1.4: BM1397 425/1400, BM1366 485/1200, BM1368 490/1166, BM1370 525/1150). The other
/// three are points taken from the frequency/voltage dropdowns AxeOS offers for that ASIC
/// (e.g. Supra: 400–575 MHz, 1100–1300 mV, `fixtures/bitaxe_system_asic.json`): eco one
/// to three steps below stock at lower voltage, turbo one step up, oc the top of the
/// offered range. When the device publishes its own lists (`/api/system/asic`), each value
/// is snapped into them, so hmm never writes a setting the vendor UI would not offer.
const BASE_PRESETS: [(&str, [(f64, f64); 4]); 4] = [
    (
        "BM1397",
        [
            (400.0, 1300.0),
            (425.0, 1400.0),
            (475.0, 1450.0),
            (525.0, 1500.0),
        ],
    ),
    (
        "BM1366",
        [
            (425.0, 1150.0),
            (485.0, 1200.0),
            (525.0, 1250.0),
            (575.0, 1300.0),
        ],
    ),
    (
        "BM1368",
        [
            (425.0, 1100.0),
            (490.0, 1166.0),
            (525.0, 1200.0),
            (575.0, 1250.0),
        ],
    ),
    (
        "BM1370",
        [
            (400.0, 1060.0),
            (525.0, 1150.0),
            (600.0, 1200.0),
            (625.0, 1250.0),
        ],
    ),
];

/// The mode presets of one device, ascending by frequency. Modes that would not differ
/// from their neighbour on this device (e.g. "turbo" on a NerdQAxe++ whose stock 600 MHz
/// is already the top option) are left out, so they are reported as unsupported.
#[derive(Debug, Clone, PartialEq)]
pub struct ModePresets {
    presets: Vec<Preset>,
}

impl ModePresets {
    /// Builds the presets for `asic_model`, with the device's stock `(MHz, mV)` if it reports
    /// them and its `/api/system/asic` lists if available. An ASIC without a base table
    /// gets only "standard" (its stock setting), and only when the stock setting is known.
    pub fn for_device(
        asic_model: Option<&str>,
        stock: Option<(f64, f64)>,
        asic: Option<&AsicInfo>,
    ) -> Option<ModePresets> {
        let stock = asic
            .and_then(|a| Some((a.default_frequency?, a.default_voltage?)))
            .or(stock);
        let base = asic_model.and_then(|model| {
            BASE_PRESETS
                .iter()
                .find(|(name, _)| *name == model)
                .map(|(_, table)| *table)
        });
        let Some(base) = base else {
            let (f, v) = stock?;
            return Some(ModePresets {
                presets: vec![Preset {
                    mode: Mode::Standard,
                    frequency_mhz: f,
                    core_voltage_mv: v,
                }],
            });
        };
        let standard = stock.unwrap_or(base[1]);
        let eco = asic
            .and_then(|a| Some((a.eco_frequency?, a.eco_voltage?)))
            .unwrap_or(base[0]);
        let snap = |(f, v): (f64, f64)| match asic {
            Some(a) if !a.frequency_options.is_empty() => (
                snap_down(&a.frequency_options, f),
                snap_nearest(&a.voltage_options, v).unwrap_or(v),
            ),
            _ => (f, v),
        };
        let mut presets = Vec::with_capacity(4);
        let (eco_f, eco_v) = snap(eco);
        if eco_f < standard.0 {
            presets.push(Preset {
                mode: Mode::Eco,
                frequency_mhz: eco_f,
                core_voltage_mv: eco_v,
            });
        }
        presets.push(Preset {
            mode: Mode::Standard,
            frequency_mhz: standard.0,
            core_voltage_mv: standard.1,
        });
        for (mode, wanted) in [(Mode::Turbo, base[2]), (Mode::Oc, base[3])] {
            let (f, v) = snap(wanted);
            let top = presets.last().map_or(0.0, |p| p.frequency_mhz);
            if f > top {
                presets.push(Preset {
                    mode,
                    frequency_mhz: f,
                    core_voltage_mv: v,
                });
            }
        }
        Some(ModePresets { presets })
    }

    /// The preset for `mode`, if this device supports it.
    pub fn get(&self, mode: Mode) -> Option<Preset> {
        self.presets.iter().copied().find(|p| p.mode == mode)
    }

    /// Supported modes in increasing power order.
    pub fn modes(&self) -> Vec<Mode> {
        self.presets.iter().map(|p| p.mode).collect()
    }

    /// Reads the mode back from the configured frequency: the preset whose frequency is
    /// nearest (ties go to the lower mode). One rule for polling and control alike.
    pub fn mode_for(&self, frequency_mhz: f64) -> Option<Mode> {
        let mut best: Option<(f64, Mode)> = None;
        for preset in &self.presets {
            let distance = (preset.frequency_mhz - frequency_mhz).abs();
            if best.is_none_or(|(d, _)| distance < d) {
                best = Some((distance, preset.mode));
            }
        }
        best.map(|(_, mode)| mode)
    }
}

/// The largest option ≤ `value`, else the smallest option.
fn snap_down(options: &[f64], value: f64) -> f64 {
    options
        .iter()
        .copied()
        .filter(|o| *o <= value)
        .reduce(f64::max)
        .or_else(|| options.first().copied())
        .unwrap_or(value)
}

/// The option nearest to `value` (ties go up).
fn snap_nearest(options: &[f64], value: f64) -> Option<f64> {
    options.iter().copied().reduce(|best, o| {
        if (o - value).abs() <= (best - value).abs() {
            o
        } else {
            best
        }
    })
}

/// Presets as far as the info reply alone tells (no `/api/system/asic` round trip).
/// NerdQAxe reports its stock `defaultFrequency`/`defaultCoreVoltage` in info but not its
/// upper limits (its boards differ from a Bitaxe with the same chip), so only eco and
/// standard are claimed there; `set_mode` reads `/api/system/asic` and knows the rest.
fn presets_from_info(obj: &Map<String, Value>) -> Option<ModePresets> {
    let asic = first_text(obj, &["ASICModel"]);
    let stock = first_number(obj, &["defaultFrequency"])
        .zip(first_number(obj, &["defaultCoreVoltage", "defaultVoltage"]));
    let mut presets = ModePresets::for_device(asic.as_deref(), stock, None)?;
    if stock.is_some() {
        presets
            .presets
            .retain(|p| matches!(p.mode, Mode::Eco | Mode::Standard));
    }
    Some(presets)
}

/// One row of `GET /api/system/statistics` (v2.8+), for back-filling history.
#[derive(Debug, Clone, PartialEq)]
pub struct StatisticsRow {
    /// Device time of the row, ms since boot.
    pub since_boot_ms: u64,
    /// Hashrate, H/s (column `hashrate`, GH/s on the wire).
    pub hashrate_hs: Option<f64>,
    /// Chip temperature, °C (`asicTemp`).
    pub temp_c: Option<f64>,
    /// VR temperature, °C (`vrTemp`).
    pub vr_temp_c: Option<f64>,
    /// Power, W (`power`).
    pub power_w: Option<f64>,
}

/// Parses `/api/system/statistics?columns=…`: `labels` name the columns of each row in
/// `statistics` (`timestamp` last, ms since boot). Unknown columns are ignored; a row
/// without a timestamp is skipped.
pub fn parse_statistics(body: &[u8]) -> Result<Vec<StatisticsRow>, DeviceError> {
    let obj = parse_object(body)?;
    let labels: Vec<&str> = obj
        .get("labels")
        .and_then(Value::as_array)
        .ok_or_else(|| DeviceError::Garbage("statistics reply without labels".into()))?
        .iter()
        .map(|l| l.as_str().unwrap_or(""))
        .collect();
    let column = |name: &str| labels.iter().position(|l| *l == name);
    let (ts, hashrate, temp, vr, power) = (
        column("timestamp"),
        column("hashrate"),
        column("asicTemp"),
        column("vrTemp"),
        column("power"),
    );
    let rows = obj
        .get("statistics")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    Ok(rows
        .filter_map(Value::as_array)
        .filter_map(|row| {
            let at = |i: Option<usize>| i.and_then(|i| row.get(i)).and_then(number);
            Some(StatisticsRow {
                since_boot_ms: ts.and_then(|i| row.get(i)).and_then(count)?,
                hashrate_hs: at(hashrate).map(|ghs| ghs_to_hs(denoise(ghs))),
                temp_c: at(temp).filter(|t| *t > 0.0).map(denoise),
                vr_temp_c: at(vr).filter(|t| *t > 0.0).map(denoise),
                power_w: at(power).map(denoise),
            })
        })
        .collect())
}

/// Applies one `/api/ws/live` frame (`{"event":"update","data":{…changed keys…}}`, v2.14+)
/// to the last full info object, diffing nested objects recursively as the firmware does,
/// and returns the reading of the merged state.
pub fn apply_live_update(
    info: &mut Map<String, Value>,
    frame: &[u8],
) -> Result<Reading, DeviceError> {
    let frame = parse_object(frame)?;
    let Some(Value::Object(data)) = frame.get("data") else {
        return Err(DeviceError::Garbage(
            "live update without a data object".into(),
        ));
    };
    merge(info, data);
    parse_system_info(Value::Object(info.clone()).to_string().as_bytes())
}

fn merge(target: &mut Map<String, Value>, diff: &Map<String, Value>) {
    for (key, value) in diff {
        match (target.get_mut(key), value) {
            (Some(Value::Object(inner)), Value::Object(changes)) => merge(inner, changes),
            _ => {
                target.insert(key.clone(), value.clone());
            }
        }
    }
}

/// Parses an info body into its JSON object (for [`apply_live_update`]).
pub fn info_object(body: &[u8]) -> Result<Map<String, Value>, DeviceError> {
    parse_object(body)
}

// ---------------------------------------------------------------------------------------
// Control

/// The body that sets a preset: `{"frequency":F,"coreVoltage":V}` (whole numbers as
/// integers; `coreVoltage` is the AxeOS key, not `voltage` as the ancestor sent).
pub fn mode_patch_body(preset: &Preset) -> String {
    json!({
        "frequency": whole_or_float(preset.frequency_mhz),
        "coreVoltage": whole_or_float(preset.core_voltage_mv),
    })
    .to_string()
}

fn whole_or_float(value: f64) -> Value {
    if value.fract() == 0.0 && (0.0..1e15).contains(&value) {
        json!(value as u64)
    } else {
        json!(value)
    }
}

/// Sets `mode`: reads info and `/api/system/asic` (absent on old firmware: base presets),
/// then `PATCH /api/system` with the preset's frequency and core voltage. AxeOS applies
/// them live, no restart needed.
pub async fn set_mode(
    addr: &str,
    mode: Mode,
    limits: Limits,
) -> Result<ControlOutcome, DeviceError> {
    with_deadline(limits.timeout, async {
        let (info, _) = fetch_info(addr, limits).await?;
        let asic = fetch_asic(addr, limits).await?;
        let stock = asic
            .as_ref()
            .and_then(|a| Some((a.default_frequency?, a.default_voltage?)));
        let presets = ModePresets::for_device(info.asic_model.as_deref(), stock, asic.as_ref())
            .or_else(|| ModePresets::for_device(info.asic_model.as_deref(), None, None));
        let preset = presets.as_ref().and_then(|p| p.get(mode)).ok_or_else(|| {
            DeviceError::Unsupported(format!(
                "mode {} on {} ({}); supported: {}",
                mode.as_str(),
                info.model.as_deref().unwrap_or("this AxeOS device"),
                info.asic_model.as_deref().unwrap_or("unknown ASIC"),
                presets
                    .as_ref()
                    .map(|p| p
                        .modes()
                        .iter()
                        .map(|m| m.as_str())
                        .collect::<Vec<_>>()
                        .join(", "))
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "none".to_string())
            ))
        })?;
        patch(addr, mode_patch_body(&preset).as_bytes(), limits).await?;
        Ok(ControlOutcome {
            message: format!(
                "mode {}: frequency {} MHz, core voltage {} mV",
                mode.as_str(),
                preset.frequency_mhz,
                preset.core_voltage_mv
            ),
        })
    })
    .await
}

/// Restarts the device (`POST /api/system/restart`). v2.10 answers plain text, HEAD a JSON
/// `{"message": …}`; both are accepted and the message returned.
pub async fn restart(addr: &str, limits: Limits) -> Result<ControlOutcome, DeviceError> {
    let response = http::request(addr, "POST", RESTART_PATH, None, limits).await?;
    let response = expect_success(addr, response)?;
    Ok(ControlOutcome {
        message: restart_message(&response.body),
    })
}

/// The device's words from a restart reply, JSON or plain text.
pub fn restart_message(body: &[u8]) -> String {
    if let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(body)
        && let Some(message) = first_text(&obj, &["message", "status"])
    {
        return message;
    }
    let text = String::from_utf8_lossy(body).trim().to_string();
    if text.is_empty() {
        "restart requested".to_string()
    } else {
        super::excerpt(text.as_bytes())
    }
}

/// Pauses (`on = false`, `POST /api/system/pause`) or resumes (`on = true`,
/// `POST /api/system/resume`) mining. Both endpoints exist since AxeOS v2.14; older
/// firmware answers 404 (and NerdQAxe redirects unknown routes to `/`), which becomes
/// [`DeviceError::Unsupported`] naming the firmware needed rather than a bare HTTP error.
pub async fn set_mining(
    addr: &str,
    on: bool,
    limits: Limits,
) -> Result<ControlOutcome, DeviceError> {
    let path = if on { RESUME_PATH } else { PAUSE_PATH };
    let response = http::request(addr, "POST", path, None, limits).await?;
    if matches!(response.status, 404 | 405 | 301 | 302 | 307) {
        return Err(DeviceError::Unsupported(format!(
            "pause/resume needs AxeOS 2.14 or newer; {} answered HTTP {} to POST {path} \
             (update the firmware to use the enabled switch)",
            super::host_of(addr),
            response.status
        )));
    }
    let response = expect_success(addr, response)?;
    Ok(ControlOutcome {
        message: pause_message(on, &response.body),
    })
}

/// The device's words from a pause/resume reply (`{"message": …}`), or a plain statement
/// of what was asked when the body carries none.
pub fn pause_message(on: bool, body: &[u8]) -> String {
    if let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(body)
        && let Some(message) = first_text(&obj, &["message"])
    {
        return message;
    }
    if on {
        "mining resumed"
    } else {
        "mining paused"
    }
    .to_string()
}

/// Writes the pool as the firmware wants it (see [`pool_patch_body`]) and restarts, since
/// AxeOS connects to a new pool only after a reboot.
pub async fn switch_pool(
    addr: &str,
    target: &PoolTarget,
    limits: Limits,
) -> Result<ControlOutcome, DeviceError> {
    with_deadline(limits.timeout, async {
        let (info, raw) = fetch_info(addr, limits).await?;
        let body = pool_patch_body(&raw, info.variant, target)?;
        patch(addr, body.as_bytes(), limits).await?;
        let restart = restart(addr, limits).await?;
        let endpoint = target.endpoint()?;
        Ok(ControlOutcome {
            message: format!(
                "pool set to {}:{} as {}; {}",
                endpoint.host, endpoint.port, target.user, restart.message
            ),
        })
    })
    .await
}

/// The PATCH body for a pool change, decided from the device's info reply:
/// * Bitaxe v2.15+ (`pools[]` in info): `{"pools":[{id, stratumURL, stratumPort,
///   stratumUser, stratumPassword, stratumTLS}], "primaryPoolIndex": id}` into the primary
///   slot (v2.15 dropped the flat PATCH keys);
/// * older Bitaxe and NerdQAxe: flat `stratumURL/stratumPort/stratumUser/stratumPassword`,
///   plus `stratumTLS` (number on Bitaxe, boolean on NerdQAxe) only where the firmware has
///   it. TLS to a firmware without `stratumTLS` is refused rather than silently dropped.
pub fn pool_patch_body(
    info_reply: &Map<String, Value>,
    variant: Variant,
    target: &PoolTarget,
) -> Result<String, DeviceError> {
    let endpoint = target.endpoint()?;
    let has_tls_key = info_reply.contains_key("stratumTLS");
    if endpoint.tls && !has_tls_key && !matches!(variant, Variant::Bitaxe { pools_array: true }) {
        return Err(DeviceError::Unsupported(
            "this firmware has no TLS pool support (no stratumTLS); use a stratum+tcp:// URL"
                .into(),
        ));
    }
    let mut body = Map::new();
    match variant {
        Variant::Bitaxe { pools_array: true } => {
            let slot = first_count(info_reply, &["primaryPoolIndex"]).unwrap_or(0);
            body.insert(
                "pools".into(),
                json!([{
                    "id": slot,
                    "stratumURL": endpoint.host,
                    "stratumPort": endpoint.port,
                    "stratumUser": target.user,
                    "stratumPassword": target.password,
                    "stratumTLS": u8::from(endpoint.tls),
                }]),
            );
            body.insert("primaryPoolIndex".into(), json!(slot));
        }
        _ => {
            body.insert("stratumURL".into(), json!(endpoint.host));
            body.insert("stratumPort".into(), json!(endpoint.port));
            body.insert("stratumUser".into(), json!(target.user));
            body.insert("stratumPassword".into(), json!(target.password));
            if has_tls_key {
                let tls = if variant == Variant::NerdQaxe {
                    json!(endpoint.tls)
                } else {
                    json!(u8::from(endpoint.tls))
                };
                body.insert("stratumTLS".into(), tls);
            }
        }
    }
    Ok(Value::Object(body).to_string())
}

async fn fetch_info(
    addr: &str,
    limits: Limits,
) -> Result<(DeviceInfo, Map<String, Value>), DeviceError> {
    let response = http::request(addr, "GET", INFO_PATH, None, limits).await?;
    let response = expect_success(addr, response)?;
    let reading = parse_system_info(&response.body)?;
    let raw = parse_object(&response.body)?;
    Ok((reading.info, raw))
}

/// `GET /api/system/asic`; `None` when the firmware predates it (404, NerdQAxe's 302) or
/// answers something else. A 401 is still an error.
pub async fn fetch_asic(addr: &str, limits: Limits) -> Result<Option<AsicInfo>, DeviceError> {
    let response = http::request(addr, "GET", ASIC_PATH, None, limits).await?;
    if response.status == 401 {
        return expect_success(addr, response).map(|_| None);
    }
    if !(200..300).contains(&response.status) {
        return Ok(None);
    }
    Ok(parse_asic_info(&response.body).ok())
}

async fn patch(addr: &str, body: &[u8], limits: Limits) -> Result<(), DeviceError> {
    let response = http::request(addr, "PATCH", SYSTEM_PATH, Some(body), limits).await?;
    if response.status == 400 {
        let why = text(&Value::String(
            String::from_utf8_lossy(&response.body).into(),
        ))
        .unwrap_or_else(|| "Wrong API input".into());
        return Err(DeviceError::Refused(format!(
            "HTTP 400 from {}: {}",
            super::host_of(addr),
            super::excerpt(why.as_bytes())
        )));
    }
    expect_success(addr, response).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_with_suffixes() {
        assert_eq!(parse_version("v2.10.0"), Some((2, 10, 0)));
        assert_eq!(parse_version("v1.0.38-alpha9"), Some((1, 0, 38)));
        assert_eq!(parse_version("2.4"), Some((2, 4, 0)));
        assert_eq!(parse_version("dev"), None);
    }

    #[test]
    fn presets_follow_the_base_table_without_device_lists() {
        let p = ModePresets::for_device(Some("BM1370"), None, None).unwrap();
        assert_eq!(p.modes(), Mode::ALL.to_vec());
        assert_eq!(p.get(Mode::Standard).unwrap().frequency_mhz, 525.0);
        assert_eq!(p.mode_for(525.0), Some(Mode::Standard));
        assert_eq!(p.mode_for(450.0), Some(Mode::Eco));
        assert_eq!(p.mode_for(562.5), Some(Mode::Standard)); // tie goes low
        assert_eq!(p.mode_for(700.0), Some(Mode::Oc));
        assert!(ModePresets::for_device(Some("BM1373"), None, None).is_none());
        let only_std =
            ModePresets::for_device(Some("BM1373"), Some((500.0, 1100.0)), None).unwrap();
        assert_eq!(only_std.modes(), vec![Mode::Standard]);
    }

    #[test]
    fn whole_numbers_are_sent_as_integers() {
        let preset = Preset {
            mode: Mode::Eco,
            frequency_mhz: 425.0,
            core_voltage_mv: 1100.0,
        };
        let body: Value = serde_json::from_str(&mode_patch_body(&preset)).unwrap();
        assert_eq!(body, json!({"frequency": 425, "coreVoltage": 1100}));
        assert!(mode_patch_body(&preset).contains("\"frequency\":425"));
    }

    #[test]
    fn restart_replies_in_both_styles() {
        assert_eq!(
            restart_message(b"System will restart shortly."),
            "System will restart shortly."
        );
        assert_eq!(
            restart_message(br#"{"message":"System will restart shortly."}"#),
            "System will restart shortly."
        );
        assert_eq!(restart_message(b""), "restart requested");
    }
}
