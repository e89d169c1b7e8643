//! The values the daemon hands the bridge (miner facts, state snapshots, widget sensor
//! declarations, fleet figures) and the JSON documents built from them.
//!
//! Every JSON document is a struct serialised in field order, so the same input always
//! gives the same bytes: unchanged widgets and configs are recognised by comparing bytes.
//! Every state field is always present; a value the miner did not report is `null`, never 0
//! (Home Assistant then shows "unknown" instead of a false reading).

use serde::Serialize;

use crate::model::{MinerKind, MinerStatus, Mode, Sample};
use crate::units;

/// HA caps a state string at 255 characters and shows "unknown" beyond; hmm cuts long
/// texts (pool URLs, errors) to this many characters in the state JSON.
const MAX_TEXT_CHARS: usize = 250;

/// Slowly changing facts about one miner that shape its Home Assistant device and
/// controls. The daemon passes the whole set with `set_miners`; model and firmware are
/// also picked up from each state snapshot, so the device card follows a firmware update.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MinerInfo {
    /// Config name: the miner's identity in topics and unique ids.
    pub name: String,
    /// Protocol kind once detected.
    pub kind: Option<MinerKind>,
    /// Model as the device names it.
    pub model: Option<String>,
    /// Firmware version (HA `sw_version`).
    pub firmware: Option<String>,
    /// The miner's own web page (AxeOS: `http://host/`), HA `configuration_url`.
    pub config_url: Option<String>,
    /// Modes the driver can set; the HA mode select offers exactly these (none: no select).
    pub modes: Vec<Mode>,
    /// Names of the configured pools this miner may switch to (none: no pool select).
    pub pools: Vec<String>,
    /// Whether the driver can restart the miner (no restart button otherwise: NMMiner's
    /// UDP protocol has none, and a button that is always refused only confuses).
    pub can_restart: bool,
    /// Whether the driver can pause and resume mining (no "Mining enabled" switch
    /// otherwise: AxeOS before 2.14, NerdQAxe, NMMiner).
    pub can_pause: bool,
    /// Which of the [`OPTIONAL_FIELDS`] this miner has reported while online (see
    /// [`MinerState::reported_fields`]), or `None` while that is not known yet. A sensor
    /// of an optional field the miner never reports is not announced: Home Assistant would
    /// show it as "unknown" forever (an NMMiner has no fan, a Nano 3 no core voltage).
    /// `None` announces every sensor, so nothing is removed before the first online poll.
    pub reported: Option<Vec<&'static str>>,
}

/// State fields that some miners never report; their sensors are announced only for
/// miners that do (see [`MinerInfo::reported`]). Hashrate, energy, pool and last error
/// are announced for every miner.
pub const OPTIONAL_FIELDS: [&str; 12] = [
    "power_w",
    "temp_c",
    "vr_temp_c",
    "fan_rpm",
    "frequency_mhz",
    "core_voltage_mv",
    "efficiency_j_th",
    "shares_accepted",
    "shares_rejected",
    "best_diff",
    "uptime_s",
    "mode",
];

impl MinerInfo {
    /// Whether the sensor reading `field` should be announced: always for fields outside
    /// [`OPTIONAL_FIELDS`], and for optional ones unless the miner is known not to report it.
    pub fn reports(&self, field: &str) -> bool {
        !OPTIONAL_FIELDS.contains(&field)
            || self
                .reported
                .as_ref()
                .is_none_or(|fields| fields.contains(&field))
    }
}

/// One miner's latest state as the daemon knows it: the newest sample plus descriptive
/// status and the figures the daemon derives (energy from slot rollups, pool name).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MinerState {
    /// Descriptive facts; `status.name` is the config name.
    pub status: MinerStatus,
    /// Newest sample (an offline sample if the last poll failed). `power_w` should already
    /// include the miner's manual power where one is configured.
    pub sample: Sample,
    /// Name of the configured pool the miner is on, if it matches one (the pool select's
    /// current option).
    pub pool_name: Option<String>,
    /// Energy used since hmm started tracking this miner, kWh, summed from slot rollups
    /// (monotonic, so HA's `total_increasing` accepts it).
    pub energy_kwh: Option<f64>,
}

impl MinerState {
    /// The [`OPTIONAL_FIELDS`] that have a value in this state's JSON, or `None` for an
    /// offline sample (which says nothing about what the miner can report).
    pub fn reported_fields(&self) -> Option<Vec<&'static str>> {
        if !self.sample.online {
            return None;
        }
        let json = serde_json::to_value(MinerStateJson::from_state(self)).ok()?;
        Some(
            OPTIONAL_FIELDS
                .into_iter()
                .filter(|field| json.get(*field).is_some_and(|v| !v.is_null()))
                .collect(),
        )
    }
}

/// A widget that offers one field of its result as a Home Assistant sensor.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WidgetSensor {
    /// Widget name (file stem).
    pub name: String,
    /// Key of the widget's JSON result that holds the sensor value.
    pub state_field: String,
    /// Unit of measurement, fixed forever (changing it breaks HA statistics).
    pub unit: Option<String>,
    /// HA device class, e.g. `power`, `monetary`.
    pub device_class: Option<String>,
    /// HA state class: `measurement`, `total` or `total_increasing`.
    pub state_class: Option<String>,
}

impl WidgetSensor {
    /// Checks what Home Assistant would reject or warn about on every state write; the text
    /// names the widget and the fix.
    pub fn check(&self) -> Result<(), String> {
        let name = &self.name;
        if self.state_field.is_empty()
            || !self
                .state_field
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!(
                "widget {name}: state field {:?} must be letters, digits, _ or -",
                self.state_field
            ));
        }
        if let Some(class) = &self.state_class
            && !matches!(class.as_str(), "measurement" | "total" | "total_increasing")
        {
            return Err(format!(
                "widget {name}: state class {class:?} is not one of measurement, total, total_increasing"
            ));
        }
        if self.device_class.as_deref() == Some("monetary")
            && self
                .state_class
                .as_deref()
                .is_some_and(|class| class != "total")
        {
            return Err(format!(
                "widget {name}: device class monetary only allows state class total (HA logs a warning on every update otherwise)"
            ));
        }
        Ok(())
    }
}

/// Fleet-level figures shown on the hmm bridge device.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FleetState {
    /// Current Agile unit rate, pence per kWh inc. VAT.
    pub price_p_kwh: Option<f64>,
    /// Electricity cost of the whole fleet over the last 24 hours, pence.
    pub cost_24h_p: Option<f64>,
    /// Miners that answered their last poll.
    pub miners_online: Option<u32>,
}

/// `hmm/<miner>/state`: every telemetry field in fixed units.
#[derive(Debug, Serialize)]
pub(crate) struct MinerStateJson<'a> {
    name: &'a str,
    online: bool,
    kind: Option<&'static str>,
    model: Option<&'a str>,
    firmware: Option<&'a str>,
    hashrate_ths: Option<f64>,
    hashrate_hs: Option<f64>,
    power_w: Option<f64>,
    temp_c: Option<f64>,
    vr_temp_c: Option<f64>,
    fan_rpm: Option<u32>,
    frequency_mhz: Option<f64>,
    core_voltage_mv: Option<f64>,
    efficiency_j_th: Option<f64>,
    shares_accepted: Option<u64>,
    shares_rejected: Option<u64>,
    best_diff: Option<f64>,
    uptime_s: Option<u64>,
    mode: Option<&'static str>,
    pool: Option<String>,
    pool_name: Option<&'a str>,
    enabled: bool,
    energy_kwh: Option<f64>,
    last_seen: Option<String>,
    last_error: Option<String>,
}

impl<'a> MinerStateJson<'a> {
    /// Builds the document from a snapshot (units converted here, at the edge).
    pub(crate) fn from_state(state: &'a MinerState) -> Self {
        let (status, sample) = (&state.status, &state.sample);
        MinerStateJson {
            name: &status.name,
            online: sample.online,
            kind: status.kind.map(MinerKind::as_str),
            model: status.model.as_deref(),
            firmware: status.firmware.as_deref(),
            hashrate_ths: sample.hashrate_hs.map(units::hs_to_ths),
            hashrate_hs: sample.hashrate_hs,
            power_w: sample.power_w,
            temp_c: sample.temp_c,
            vr_temp_c: sample.vr_temp_c,
            fan_rpm: sample.fan_rpm,
            frequency_mhz: sample.frequency_mhz,
            core_voltage_mv: sample.core_voltage_mv,
            efficiency_j_th: units::efficiency_j_per_th(sample.power_w, sample.hashrate_hs),
            shares_accepted: sample.shares_accepted,
            shares_rejected: sample.shares_rejected,
            best_diff: sample.best_diff,
            uptime_s: sample.uptime_s,
            mode: sample.mode.map(Mode::as_str),
            pool: status.pool.as_deref().map(truncate),
            pool_name: state.pool_name.as_deref(),
            enabled: status.enabled,
            energy_kwh: state.energy_kwh,
            last_seen: status
                .last_seen_ms
                .map(|ms| crate::ukclock::rfc3339(ms / 1000)),
            last_error: status.last_error.as_deref().map(truncate),
        }
    }
}

/// `hmm/bridge/state`: the bridge's own facts and the fleet figures, money in GBP.
#[derive(Debug, Serialize)]
pub(crate) struct BridgeStateJson<'a> {
    pub(crate) instance_id: &'a str,
    pub(crate) version: &'a str,
    pub(crate) miners: usize,
    pub(crate) miners_online: Option<u32>,
    pub(crate) price_gbp_kwh: Option<f64>,
    pub(crate) cost_24h_gbp: Option<f64>,
}

/// Pence to pounds, rounded to 1/10000 p so float noise does not make every update differ.
pub(crate) fn pence_to_gbp(pence: f64) -> f64 {
    (pence * 100.0).round() / 10_000.0
}

/// A text cut to [`MAX_TEXT_CHARS`] characters (on a character boundary).
fn truncate(text: &str) -> String {
    match text.char_indices().nth(MAX_TEXT_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn state_json_has_every_field_in_fixed_units_and_nulls_for_missing() {
        let state = MinerState {
            status: MinerStatus {
                name: "bitaxe-1".into(),
                kind: Some(MinerKind::Axeos),
                firmware: Some("v2.4.0".into()),
                pool: Some("stratum+tcp://solo.ckpool.org:3333".into()),
                last_seen_ms: Some(1_767_225_600_000),
                last_error: Some("x".repeat(300)),
                enabled: true,
                ..MinerStatus::default()
            },
            sample: Sample {
                online: true,
                hashrate_hs: Some(1.2e12),
                power_w: Some(18.0),
                fan_rpm: Some(4000),
                mode: Some(Mode::Eco),
                ..Sample::default()
            },
            pool_name: Some("ckpool".into()),
            energy_kwh: Some(12.5),
        };
        let json: Value = serde_json::to_value(MinerStateJson::from_state(&state)).unwrap();
        assert_eq!(json["hashrate_ths"], json!(1.2));
        assert_eq!(json["hashrate_hs"], json!(1.2e12));
        assert_eq!(json["efficiency_j_th"], json!(15.0));
        assert_eq!(json["mode"], json!("eco"));
        assert_eq!(json["kind"], json!("axeos"));
        assert_eq!(json["temp_c"], Value::Null);
        assert_eq!(json["uptime_s"], Value::Null);
        assert_eq!(json["model"], Value::Null);
        assert_eq!(json["last_seen"], json!("2026-01-01T00:00:00Z"));
        assert_eq!(json["last_error"].as_str().unwrap().chars().count(), 251);
        assert_eq!(json["pool_name"], json!("ckpool"));
        assert_eq!(json.as_object().unwrap().len(), 25);
    }

    #[test]
    fn widget_sensor_checks_follow_home_assistant_rules() {
        let good = WidgetSensor {
            name: "cost".into(),
            state_field: "today_gbp".into(),
            unit: Some("GBP".into()),
            device_class: Some("monetary".into()),
            state_class: Some("total".into()),
        };
        assert_eq!(good.check(), Ok(()));
        let bad = WidgetSensor {
            state_class: Some("measurement".into()),
            ..good.clone()
        };
        assert!(
            bad.check()
                .unwrap_err()
                .contains("monetary only allows state class total")
        );
        let bad = WidgetSensor {
            state_field: "a b".into(),
            ..good.clone()
        };
        assert!(bad.check().is_err());
        let bad = WidgetSensor {
            state_class: Some("average".into()),
            ..good
        };
        assert!(bad.check().is_err());
    }

    #[test]
    fn reported_fields_come_from_online_samples_only() {
        let mut state = MinerState {
            status: MinerStatus {
                name: "nm".into(),
                ..MinerStatus::default()
            },
            sample: Sample {
                online: true,
                hashrate_hs: Some(1.0e6),
                power_w: Some(4.5),
                temp_c: Some(47.0),
                ..Sample::default()
            },
            ..MinerState::default()
        };
        assert_eq!(
            state.reported_fields(),
            Some(vec!["power_w", "temp_c", "efficiency_j_th"])
        );
        state.sample.online = false;
        assert_eq!(state.reported_fields(), None);

        let mut info = MinerInfo::default();
        assert!(info.reports("fan_rpm"), "unknown: announce");
        info.reported = Some(vec!["temp_c"]);
        assert!(info.reports("temp_c"));
        assert!(!info.reports("fan_rpm"));
        assert!(info.reports("last_error"), "not optional: always");
    }

    #[test]
    fn pence_become_pounds() {
        assert_eq!(pence_to_gbp(24.5), 0.245);
        assert_eq!(pence_to_gbp(123.456_78), 1.2346);
    }
}
