//! The plain data types that every module agrees on: one polled sample, a tariff-slot
//! rollup, a price point, an audit record and a miner's descriptive status.
//!
//! They live in one small module with no behaviour beyond conversions so that the store,
//! the device drivers, the scripts, MQTT and the web page can exchange them without
//! reaching into each other. Units are fixed by the field names (DESIGN.md "Units and
//! time"): hashrate in H/s, power in W, temperatures in °C, energy in Wh, money in pence,
//! timestamps in UTC milliseconds. A value the device did not report is `None`, never 0.

use serde::{Deserialize, Serialize};

/// Which protocol family a miner speaks. `Auto` is only valid in config: detection turns it
/// into one of the others before the first poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MinerKind {
    /// Bitaxe and NerdQAxe family: AxeOS HTTP API.
    Axeos,
    /// Avalon Nano 3 / 3S: cgminer JSON API on TCP 4028.
    Avalon,
    /// NMMiner / NMAxe: passive UDP telemetry.
    Nmminer,
    /// Detect the kind from the device's replies.
    Auto,
}

impl MinerKind {
    /// The config spelling of the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            MinerKind::Axeos => "axeos",
            MinerKind::Avalon => "avalon",
            MinerKind::Nmminer => "nmminer",
            MinerKind::Auto => "auto",
        }
    }

    /// Parses the config spelling; `None` for anything else.
    pub fn parse(text: &str) -> Option<MinerKind> {
        match text {
            "axeos" => Some(MinerKind::Axeos),
            "avalon" => Some(MinerKind::Avalon),
            "nmminer" => Some(MinerKind::Nmminer),
            "auto" => Some(MinerKind::Auto),
            _ => None,
        }
    }
}

/// A miner's operating mode, common to all drivers so rules and Home Assistant can say
/// "eco" without knowing the device. Each driver maps these to its own settings (AxeOS
/// frequency + core voltage, Avalon WORKMODE/WORKLEVEL) and says which it supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Lowest power that still mines.
    Eco,
    /// The device's stock setting.
    Standard,
    /// Higher clocks within the vendor's limits.
    Turbo,
    /// Overclock beyond stock (AxeOS only, within `/api/system/asic` limits).
    Oc,
}

impl Mode {
    /// Every mode, in increasing power order.
    pub const ALL: [Mode; 4] = [Mode::Eco, Mode::Standard, Mode::Turbo, Mode::Oc];

    /// The lower-case name used in config, scripts, MQTT and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Eco => "eco",
            Mode::Standard => "standard",
            Mode::Turbo => "turbo",
            Mode::Oc => "oc",
        }
    }

    /// Parses a mode name (case-insensitive); `None` for anything else.
    pub fn parse(text: &str) -> Option<Mode> {
        Mode::ALL
            .into_iter()
            .find(|mode| mode.as_str().eq_ignore_ascii_case(text.trim()))
    }

    /// Stable one-byte code for the compact sample encoding.
    pub fn code(self) -> u8 {
        match self {
            Mode::Eco => 1,
            Mode::Standard => 2,
            Mode::Turbo => 3,
            Mode::Oc => 4,
        }
    }

    /// Inverse of [`Mode::code`].
    pub fn from_code(code: u8) -> Option<Mode> {
        Mode::ALL.into_iter().find(|mode| mode.code() == code)
    }
}

/// One poll of one miner. An offline poll is still a sample (`online == false`, values
/// `None`) so that uptime is time-based and gaps are visible.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Sample {
    /// Store id of the miner (see the `miners` table).
    pub miner_id: u32,
    /// When the poll completed, UTC milliseconds.
    pub ts_ms: u64,
    /// Whether the device answered with usable telemetry.
    pub online: bool,
    /// Current hashrate, H/s.
    pub hashrate_hs: Option<f64>,
    /// Power draw, W (measured by the device; manual power is applied by readers).
    pub power_w: Option<f64>,
    /// Hottest ASIC / main chip temperature, °C.
    pub temp_c: Option<f64>,
    /// Voltage regulator or board temperature, °C.
    pub vr_temp_c: Option<f64>,
    /// Fan speed, RPM.
    pub fan_rpm: Option<u32>,
    /// ASIC clock, MHz.
    pub frequency_mhz: Option<f64>,
    /// ASIC core voltage, mV.
    pub core_voltage_mv: Option<f64>,
    /// Cumulative accepted shares since the device booted.
    pub shares_accepted: Option<u64>,
    /// Cumulative rejected shares since the device booted.
    pub shares_rejected: Option<u64>,
    /// Best share difficulty (all-time where the device reports it, else since boot).
    pub best_diff: Option<f64>,
    /// Seconds since the device booted.
    pub uptime_s: Option<u64>,
    /// Operating mode as read back from the device.
    pub mode: Option<Mode>,
}

impl Sample {
    /// An offline sample: the device did not answer usefully at `ts_ms`.
    pub fn offline(miner_id: u32, ts_ms: u64) -> Sample {
        Sample {
            miner_id,
            ts_ms,
            online: false,
            ..Sample::default()
        }
    }
}

/// Aggregates of one miner over one 30-minute tariff slot, updated as samples arrive so
/// that daily cost, uptime and history never re-read raw samples.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SlotRollup {
    /// Store id of the miner.
    pub miner_id: u32,
    /// Slot start, UTC seconds, a multiple of 1800.
    pub slot_start_s: u64,
    /// Samples that fell in the slot.
    pub samples: u32,
    /// Of those, samples with `online == true`.
    pub online_samples: u32,
    /// Milliseconds of the slot covered by online intervals (between consecutive online
    /// samples, each interval capped at twice the poll interval). Time-based uptime.
    pub online_ms: u64,
    /// Milliseconds of those online intervals that had a measured power on both ends, i.e.
    /// the time `energy_wh` covers. `online_ms - powered_ms` is the time a reader must price
    /// with the miner's manual power.
    pub powered_ms: u64,
    /// Energy integrated from measured power (trapezoid between consecutive samples, gap
    /// capped), Wh.
    pub energy_wh: f64,
    /// Sum of online hashrate readings, H/s (divide by `hashrate_samples` for the mean).
    pub hashrate_sum_hs: f64,
    /// Number of samples that carried a hashrate.
    pub hashrate_samples: u32,
    /// Accepted shares gained in the slot (reset-aware deltas).
    pub shares_accepted: u64,
    /// Rejected shares gained in the slot (reset-aware deltas).
    pub shares_rejected: u64,
    /// Highest chip temperature seen in the slot, °C.
    pub temp_max_c: Option<f64>,
}

impl SlotRollup {
    /// Mean hashrate over the slot's samples that reported one, H/s.
    pub fn mean_hashrate_hs(&self) -> Option<f64> {
        (self.hashrate_samples > 0).then(|| self.hashrate_sum_hs / f64::from(self.hashrate_samples))
    }
}

/// One half-hourly (or other) price interval, pence per kWh including VAT.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PricePoint {
    /// Start of validity, UTC seconds (inclusive).
    pub valid_from_s: u64,
    /// End of validity, UTC seconds (exclusive).
    pub valid_to_s: u64,
    /// Unit rate, pence per kWh including VAT.
    pub pence_per_kwh: f64,
}

/// Who or what asked for a control action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Actor {
    /// An automation rule, by file name.
    Rule(String),
    /// An MQTT command (Home Assistant or another client).
    Mqtt,
    /// An HTTP API call.
    Http,
    /// The command line.
    Cli,
    /// The daemon itself (start-up, detection, retention).
    System,
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Actor::Rule(name) => write!(f, "rule:{name}"),
            Actor::Mqtt => f.write_str("mqtt"),
            Actor::Http => f.write_str("http"),
            Actor::Cli => f.write_str("cli"),
            Actor::System => f.write_str("system"),
        }
    }
}

/// One row of the `audit` table: an action taken, refused or dry-run, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When it happened, UTC milliseconds.
    pub ts_ms: u64,
    /// Who asked.
    pub actor: Actor,
    /// Miner config name, or empty for fleet-wide actions such as `notify`.
    pub miner: String,
    /// The action, e.g. `set_mode eco`, `restart`, `switch_pool 1`, `notify`.
    pub action: String,
    /// `ok`, `refused`, `failed` or `dry-run`.
    pub outcome: String,
    /// The reason the requester gave, followed by the refusal or failure reason if any.
    pub reason: String,
}

/// Descriptive, slowly-changing facts about a miner that do not belong in every sample:
/// model, firmware, pool, last error. Kept in memory by the collector and persisted so
/// `hmm status` in another process can show them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MinerStatus {
    /// Config name.
    pub name: String,
    /// Protocol kind after detection.
    pub kind: Option<MinerKind>,
    /// Model as the device names it ("Bitaxe Gamma (BM1370)", "Avalon Nano 3s").
    pub model: Option<String>,
    /// Firmware version string.
    pub firmware: Option<String>,
    /// Pool URL currently in use (never the password).
    pub pool: Option<String>,
    /// Last successful poll, UTC ms.
    pub last_seen_ms: Option<u64>,
    /// Why the last poll failed, if it did.
    pub last_error: Option<String>,
    /// Whether mining is enabled (hmm's switch, not the device's power).
    pub enabled: bool,
    /// Modes the device accepts, from its last reading (persisted so `hmm rule test` and
    /// a restarted daemon know them before the first poll).
    #[serde(default)]
    pub modes: Vec<Mode>,
}
