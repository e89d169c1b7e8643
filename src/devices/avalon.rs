//! Avalon Nano 3 / Nano 3S (and the same-family Avalon Q) over the cgminer API (§3).
//!
//! A poll is four short connections, one after another (the API is single-threaded):
//! `version` (model, firmware, MAC), `summary` (shares, best share, uptime), `estats`
//! (`stats` on firmware without it) whose `MM ID0` blob carries the live values, and `pools`
//! (the pool in use). `version` and `pools` may be refused by odd firmware without failing
//! the poll; their facts are then `None`.
//!
//! From the `MM ID0` blob ([`parse_mm_blob`]): hashrate = `GHSspd` (real-time GH/s, what
//! Canaan's UI shows; `summary` `MHS 5s` only if absent), power from `PS[]` by model —
//! original Nano 3 `PS[5]`, Nano 3S / Q `PS[6]` (never a fixed index, §3.4), chip temp
//! `TMax` (else `TAvg`), board temp `OTemp`, `Fan1`, `Freq`, mean `PVT_V0` as core mV.
//!
//! Modes (documented mapping, Canaan's Low/Mid/High): `WORKMODE` 0/1/2 on the Nano 3S and
//! Q, `WORKLEVEL` 0/1/2 on the original Nano 3 (which has no `WORKMODE`) → eco / standard /
//! turbo. There is no "oc" on Avalons. Writes: `ascset 0,workmode,set,N` (or `worklevel`),
//! reboot `ascset 0,reboot,0` (the Nano 3S has no `restart` command), pool switch by
//! `switchpool N` when the pool is already in one of the three slots, else `setpool` into
//! slot 0 with the admin password and a reboot.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::cgminer::{self, section};
use super::fields::{count, first_count, first_number, first_text, number};
use super::{
    ControlOutcome, DeviceError, DeviceInfo, Limits, PoolTarget, Reading, Variant, online_sample,
    with_deadline,
};
use crate::model::{MinerKind, Mode};
use crate::units::{ghs_to_hs, mhs_to_hs, now_ms};

/// The modes every Avalon Nano offers, in increasing power order.
pub const MODES: [Mode; 3] = [Mode::Eco, Mode::Standard, Mode::Turbo];

/// Polls one Avalon: `version`, `summary`, `estats` (or `stats`), `pools`, in one deadline.
pub async fn poll(addr: &str, limits: Limits) -> Result<Reading, DeviceError> {
    with_deadline(limits.timeout, async {
        let version = optional(cgminer::command(addr, "version", None, limits).await)?;
        let summary = cgminer::command(addr, "summary", None, limits).await?;
        let stats = fetch_stats(addr, limits).await?;
        let mut pools = optional(cgminer::command(addr, "pools", None, limits).await)?;
        if pools.is_none() {
            pools = optional(cgminer::command(addr, "lcd", None, limits).await)?;
        }
        let mut reading = reading_from(
            version.as_ref(),
            Some(&summary),
            Some(&stats),
            pools.as_ref(),
        )?;
        reading.sample.ts_ms = now_ms();
        Ok(reading)
    })
    .await
}

/// `estats`, falling back to `stats` where the firmware refuses `estats`.
async fn fetch_stats(addr: &str, limits: Limits) -> Result<Value, DeviceError> {
    match cgminer::command(addr, "estats", None, limits).await {
        Err(DeviceError::Command(_)) => cgminer::command(addr, "stats", None, limits).await,
        other => other,
    }
}

/// A command the device may not know: its error status becomes `None`; transport
/// failures still fail the poll.
fn optional(result: Result<Value, DeviceError>) -> Result<Option<Value>, DeviceError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(DeviceError::Command(msg)) => {
            log::debug!("avalon: optional command refused: {msg}");
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

/// Parses the `MM ID0` grammar: space-separated `Key[value]` tokens, values may hold
/// spaces, `%`, `-`, `:` and commas (§3.4). Newer firmware wraps the blob in
/// `'STATS':{…}`; that wrapper is ignored. Values are kept as trimmed strings.
pub fn parse_mm_blob(blob: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    let bytes = blob.as_bytes();
    let mut i = 0;
    while let Some(open) = blob[i..].find('[').map(|o| o + i) {
        let mut key_start = open;
        while key_start > 0
            && (bytes[key_start - 1].is_ascii_alphanumeric() || bytes[key_start - 1] == b'_')
        {
            key_start -= 1;
        }
        let Some(close) = blob[open + 1..].find(']').map(|c| c + open + 1) else {
            break;
        };
        if key_start < open {
            map.insert(
                blob[key_start..open].to_string(),
                blob[open + 1..close].trim().to_string(),
            );
        }
        i = close + 1;
    }
    map
}

/// The `MM ID0` map of a `stats`/`estats`/`litestats` reply (key `MM ID0` or, on newer
/// firmware, `MM ID0:Summary`), plus the stats entry's `ID` (`AVALON0`, `AVANANO0`).
pub fn mm_stats(stats_reply: &Value) -> Option<(BTreeMap<String, String>, Option<String>)> {
    let entries = stats_reply.get("STATS")?.as_array()?;
    entries
        .iter()
        .filter_map(Value::as_object)
        .find_map(|entry| {
            let blob = entry
                .get("MM ID0")
                .or_else(|| entry.get("MM ID0:Summary"))
                .and_then(Value::as_str)?;
            Some((parse_mm_blob(blob), first_text(entry, &["ID"])))
        })
}

fn mm_number(mm: &BTreeMap<String, String>, key: &str) -> Option<f64> {
    mm.get(key)?
        .trim()
        .trim_end_matches('%')
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
}

fn mm_numbers(mm: &BTreeMap<String, String>, key: &str) -> Vec<f64> {
    mm.get(key)
        .map(|v| {
            v.split_whitespace()
                .filter_map(|p| p.parse::<f64>().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Model code from the blob's `Ver[<model>-<fw>]` ("Nano3s", "nano3", "Q").
fn model_code(mm: &BTreeMap<String, String>) -> Option<&str> {
    mm.get("Ver")
        .and_then(|v| v.split('-').next())
        .filter(|m| !m.is_empty())
}

fn is_original_nano3(mm: &BTreeMap<String, String>, stats_id: Option<&str>) -> bool {
    model_code(mm).is_some_and(|m| m.eq_ignore_ascii_case("nano3")) || stats_id == Some("AVANANO0")
}

/// Wall power in W: `WALLPOWER` where present, else `PS[5]` on the original Nano 3 and
/// `PS[6]` on the Nano 3S / Q / A-series (§3.4). 0 means "not measured" → `None`.
fn power_w(mm: &BTreeMap<String, String>, stats_id: Option<&str>) -> Option<f64> {
    if let Some(wall) = mm_number(mm, "WALLPOWER") {
        return (wall > 0.0).then_some(wall);
    }
    let ps = mm_numbers(mm, "PS");
    let index = if is_original_nano3(mm, stats_id) {
        5
    } else {
        6
    };
    ps.get(index).copied().filter(|w| *w > 0.0)
}

/// Canaan's mode number → hmm's mode.
pub fn mode_from_level(level: u64) -> Option<Mode> {
    match level {
        0 => Some(Mode::Eco),
        1 => Some(Mode::Standard),
        2 => Some(Mode::Turbo),
        _ => None,
    }
}

/// hmm's mode → Canaan's mode number (no "oc" on Avalons).
pub fn level_for(mode: Mode) -> Option<u8> {
    match mode {
        Mode::Eco => Some(0),
        Mode::Standard => Some(1),
        Mode::Turbo => Some(2),
        Mode::Oc => None,
    }
}

/// Builds a reading from decoded replies; at least `summary` or `stats` must be present.
pub fn reading_from(
    version: Option<&Value>,
    summary: Option<&Value>,
    stats: Option<&Value>,
    pools: Option<&Value>,
) -> Result<Reading, DeviceError> {
    let summary = summary.and_then(|s| section(s, "SUMMARY"));
    let mm = stats.and_then(mm_stats);
    if summary.is_none() && mm.is_none() {
        return Err(DeviceError::Garbage(
            "cgminer reply without SUMMARY or MM ID0 stats".into(),
        ));
    }
    let version = version.and_then(|v| section(v, "VERSION"));
    let (mm, stats_id) = mm.unwrap_or_default();
    let stats_id = stats_id.as_deref();
    let variant = variant_of(&mm, version);

    let mut sample = online_sample();
    sample.hashrate_hs = mm_number(&mm, "GHSspd").map(ghs_to_hs).or_else(|| {
        summary
            .and_then(|s| first_number(s, &["MHS 5s", "MHS 1m"]))
            .map(mhs_to_hs)
    });
    sample.power_w = power_w(&mm, stats_id);
    sample.temp_c = ["TMax", "MTmax", "TAvg"]
        .iter()
        .find_map(|key| mm_number(&mm, key).filter(|t| *t > 0.0));
    sample.vr_temp_c = ["OTemp", "HBOTemp"]
        .iter()
        .find_map(|key| mm_number(&mm, key).filter(|t| *t > -273.0 && *t != 0.0));
    sample.fan_rpm = mm_number(&mm, "Fan1").and_then(|rpm| (rpm >= 0.0).then_some(rpm as u32));
    sample.frequency_mhz = mm_number(&mm, "Freq").filter(|f| *f > 0.0);
    let volts = mm_numbers(&mm, "PVT_V0");
    sample.core_voltage_mv =
        (!volts.is_empty()).then(|| volts.iter().sum::<f64>() / volts.len() as f64);
    sample.shares_accepted = summary.and_then(|s| first_count(s, &["Accepted"]));
    sample.shares_rejected = summary.and_then(|s| first_count(s, &["Rejected"]));
    sample.best_diff = summary.and_then(|s| first_number(s, &["Best Share"]));
    sample.uptime_s = summary
        .and_then(|s| first_count(s, &["Elapsed"]))
        .or_else(|| mm_number(&mm, "Elapsed").map(|e| e as u64));
    let level_key = if variant == Variant::AvalonWorklevel {
        "WORKLEVEL"
    } else {
        "WORKMODE"
    };
    sample.mode = mm_number(&mm, level_key).and_then(|l| mode_from_level(l as u64));

    let mut info = DeviceInfo::new(MinerKind::Avalon, variant);
    info.model = model_name(version, &mm);
    info.firmware = version
        .and_then(|v| first_text(v, &["LVERSION", "VERSION", "CGVERSION"]))
        .or_else(|| {
            mm.get("Ver")
                .and_then(|v| v.split_once('-'))
                .map(|(_, fw)| fw.to_string())
        });
    info.mac = version
        .and_then(|v| first_text(v, &["MAC"]))
        .and_then(|m| super::normalize_mac(&m));
    info.serial = version
        .and_then(|v| first_text(v, &["DNA"]))
        .or_else(|| mm.get("DNA").cloned())
        .filter(|dna| !dna.is_empty() && dna.chars().all(|c| c.is_ascii_alphanumeric()));
    info.asic_model = mm.get("Core").cloned().filter(|c| !c.is_empty());
    info.asic_count = mm_number(&mm, "TA").map(|n| n as u32);
    if let Some((url, user)) = pools.and_then(pool_in_use) {
        info.pool_url = Some(url);
        info.pool_user = user;
    }
    info.supported_modes = MODES.to_vec();
    info.paused = mm_number(&mm, "SoftOFF").map(|reason| reason != 0.0);
    Ok(Reading { sample, info })
}

fn variant_of(mm: &BTreeMap<String, String>, version: Option<&Map<String, Value>>) -> Variant {
    if mm.contains_key("WORKMODE") {
        return Variant::AvalonWorkmode;
    }
    if mm.contains_key("WORKLEVEL") {
        return Variant::AvalonWorklevel;
    }
    let nano3 = version
        .and_then(|v| first_text(v, &["MODEL"]))
        .is_some_and(|m| m.eq_ignore_ascii_case("nano3"));
    if nano3 {
        Variant::AvalonWorklevel
    } else {
        Variant::AvalonWorkmode
    }
}

/// "Avalon Nano3s" from `PROD`; the original Nano 3 says `PROD "Avalonnano"`, so its
/// `MODEL` is appended ("Avalon Nano3"); without `version`, the blob's `Ver` model code.
fn model_name(
    version: Option<&Map<String, Value>>,
    mm: &BTreeMap<String, String>,
) -> Option<String> {
    let prod = version.and_then(|v| first_text(v, &["PROD"]));
    let model = version.and_then(|v| first_text(v, &["MODEL"]));
    match (prod, model) {
        (Some(prod), Some(model)) if prod.eq_ignore_ascii_case("avalonnano") => {
            Some(format!("Avalon {}", capitalize(&model)))
        }
        (Some(prod), _) => Some(prod),
        (None, Some(model)) => Some(format!("Avalon {}", capitalize(&model))),
        (None, None) => model_code(mm).map(|m| format!("Avalon {}", capitalize(m))),
    }
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The pool in use: among alive pools, the one with an active stratum connection, then
/// the lowest priority (priority 0 may be dead during failover). URL and user, no password.
/// Also accepts an `lcd` reply (`Current Pool`, `User`), the fallback when `pools` is refused.
pub fn pool_in_use(pools_reply: &Value) -> Option<(String, Option<String>)> {
    if let Some(lcd) = section(pools_reply, "LCD") {
        let url = first_text(lcd, &["Current Pool"])?;
        return Some((url, first_text(lcd, &["User"])));
    }
    let pools = pools_reply.get("POOLS")?.as_array()?;
    pools
        .iter()
        .filter_map(Value::as_object)
        .filter(|p| first_text(p, &["URL"]).is_some())
        .min_by_key(|p| {
            let alive = first_text(p, &["Status"]).is_some_and(|s| s == "Alive");
            let active = p
                .get("Stratum Active")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let priority = first_count(p, &["Priority"]).unwrap_or(u64::MAX);
            (!alive, !active, priority)
        })
        .map(|p| {
            (
                first_text(p, &["URL"]).unwrap_or_default(),
                first_text(p, &["User"]),
            )
        })
}

// ---------------------------------------------------------------------------------------
// Control

/// The `ascset` parameter for a mode on this variant, e.g. `0,workmode,set,1`.
pub fn mode_parameter(variant: Variant, mode: Mode) -> Result<String, DeviceError> {
    let level = level_for(mode).ok_or_else(|| {
        DeviceError::Unsupported(format!(
            "mode {} on an Avalon (modes: eco, standard, turbo)",
            mode.as_str()
        ))
    })?;
    let option = if variant == Variant::AvalonWorklevel {
        "worklevel"
    } else {
        "workmode"
    };
    Ok(format!("0,{option},set,{level}"))
}

/// Maps an `ascset` failure to the user's words; the calibration lock gets its own reason.
pub fn ascset_error(err: DeviceError) -> DeviceError {
    match err {
        DeviceError::Command(msg) => {
            let lower = msg.to_ascii_lowercase();
            if lower.contains("caling") || lower.contains("permit") || lower.contains("calibrat") {
                DeviceError::Refused(format!(
                    "still calibrating, mode changes are blocked until it finishes ({msg})"
                ))
            } else {
                DeviceError::Refused(msg)
            }
        }
        other => other,
    }
}

/// Sets the work mode: reads `estats` to learn whether the device uses `WORKMODE` or
/// `WORKLEVEL`, then sends the `ascset`. A calibrating device's refusal is reported.
pub async fn set_mode(
    addr: &str,
    mode: Mode,
    limits: Limits,
) -> Result<ControlOutcome, DeviceError> {
    with_deadline(limits.timeout, async {
        let stats = fetch_stats(addr, limits).await?;
        let mm = mm_stats(&stats).map(|(mm, _)| mm).unwrap_or_default();
        let parameter = mode_parameter(variant_of(&mm, None), mode)?;
        let reply = cgminer::command(addr, "ascset", Some(&parameter), limits)
            .await
            .map_err(ascset_error)?;
        Ok(ControlOutcome {
            message: format!("mode {}: {}", mode.as_str(), status_message(&reply)),
        })
    })
    .await
}

/// Reboots via `ascset 0,reboot,0`. A device that drops the connection without a reply is
/// taken as rebooting.
pub async fn restart(addr: &str, limits: Limits) -> Result<ControlOutcome, DeviceError> {
    let raw = cgminer::exchange(addr, "ascset", Some("0,reboot,0"), limits).await?;
    if raw.iter().all(|b| b.is_ascii_whitespace() || *b == 0) {
        return Ok(ControlOutcome {
            message: "reboot requested (no reply)".into(),
        });
    }
    let reply = cgminer::decode_reply(&raw).map_err(ascset_error)?;
    Ok(ControlOutcome {
        message: format!("reboot: {}", status_message(&reply)),
    })
}

/// Whether a model name is an Avalon Q (`PROD "Avalon Q"`, or `Ver[Q-…]` → "Avalon Q"),
/// whose firmware has `softoff`/`softon` (§3.5).
pub fn is_q_model(model: Option<&str>) -> bool {
    model.is_some_and(|m| {
        let m = m.trim();
        m.eq_ignore_ascii_case("avalon q") || m.eq_ignore_ascii_case("q")
    })
}

/// Seconds ahead of now the soft switch is scheduled: the trigger is a Unix time, and the
/// tools that drive these devices (asic-rs, Canaan users' scripts) all use now + 5 s.
pub const SOFT_SWITCH_DELAY_S: u64 = 5;

/// The `ascset` option for the enabled switch: `softon` resumes, `softoff` pauses.
pub fn soft_option(on: bool) -> &'static str {
    if on { "softon" } else { "softoff" }
}

/// The `ascset` parameter `0,<softon|softoff>,1:<unix_ts>` (§3.5): the device switches at
/// `unix_ts`.
pub fn soft_parameter(on: bool, unix_ts: u64) -> String {
    format!("0,{},1:{unix_ts}", soft_option(on))
}

/// Checks a `softoff`/`softon` reply: info 118 `ASC 0 set info: success <option>:<ts>`
/// gives the trigger time the device accepted; a plain 119 `ASC 0 set OK` (reported for
/// some firmware) is accepted without one. Any other text is not a confirmation.
pub fn parse_soft_reply(reply: &Value, option: &str) -> Result<Option<u64>, DeviceError> {
    let status = cgminer::status_of(reply)?;
    if status.letter == "S" && status.code == Some(119) {
        return Ok(None);
    }
    let confirmed = status
        .msg
        .strip_prefix("ASC 0 set info: success ")
        .and_then(|rest| rest.strip_prefix(option))
        .and_then(|rest| rest.strip_prefix(':'))
        .and_then(|ts| ts.trim().parse::<u64>().ok());
    match confirmed {
        Some(ts) if status.letter == "I" => Ok(Some(ts)),
        _ => Err(DeviceError::Refused(format!(
            "{option} not confirmed, the device answered: {}",
            status.msg
        ))),
    }
}

/// Maps a `softoff`/`softon` failure: an unknown or unsupported option means the firmware
/// predates the soft switch, which is said with the firmware needed.
pub fn soft_error(err: DeviceError, option: &str) -> DeviceError {
    match err {
        DeviceError::Command(msg) => {
            let lower = msg.to_ascii_lowercase();
            if lower.contains("unknown option") || lower.contains("not support") {
                DeviceError::Unsupported(format!(
                    "pause/resume needs Avalon firmware with the ascset {option} option \
                     (Avalon Q, or a newer Nano 3S firmware); the device answered: {msg}"
                ))
            } else {
                ascset_error(DeviceError::Command(msg))
            }
        }
        other => other,
    }
}

/// Pauses (`on = false`, `ascset 0,softoff,1:<ts>`) or resumes (`on = true`,
/// `ascset 0,softon,1:<ts>`) mining, triggered [`SOFT_SWITCH_DELAY_S`] from now. §3.5 notes
/// that softon may close the socket without a reply, so for softon (only) a connection
/// closed with no bytes is taken as sent; softoff must be confirmed.
pub async fn set_mining(
    addr: &str,
    on: bool,
    limits: Limits,
) -> Result<ControlOutcome, DeviceError> {
    let option = soft_option(on);
    let trigger = now_ms() / 1000 + SOFT_SWITCH_DELAY_S;
    let parameter = soft_parameter(on, trigger);
    let raw = cgminer::exchange(addr, "ascset", Some(&parameter), limits).await?;
    if on && raw.iter().all(|b| b.is_ascii_whitespace() || *b == 0) {
        return Ok(ControlOutcome {
            message: format!(
                "softon for {trigger} sent; the device closed the connection without a reply, \
                 as Avalon firmware may for softon"
            ),
        });
    }
    let reply = cgminer::decode_reply(&raw).map_err(|err| soft_error(err, option))?;
    let accepted = parse_soft_reply(&reply, option)?;
    let action = if on { "resume" } else { "pause" };
    Ok(ControlOutcome {
        message: match accepted {
            Some(ts) => format!("{action} at {ts}: {}", status_message(&reply)),
            None => format!("{action} at {trigger}: {}", status_message(&reply)),
        },
    })
}

/// Admin credentials for `setpool` (Canaan's factory default is `admin`/`admin`; the
/// original Nano 3 CLI uses user `root`). The password is never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminLogin {
    /// Admin user name.
    pub user: String,
    /// Admin password (or its `ff0000ff…` hash).
    pub password: String,
}

impl Default for AdminLogin {
    fn default() -> AdminLogin {
        AdminLogin {
            user: "admin".into(),
            password: "admin".into(),
        }
    }
}

impl std::fmt::Debug for AdminLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminLogin")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The `setpool` parameter: `<admin>,<adminpw>,0,<url>,<user>,<pass>`. Commas would shift
/// cgminer's fields, so values containing one are refused.
pub fn setpool_parameter(admin: &AdminLogin, target: &PoolTarget) -> Result<String, DeviceError> {
    let endpoint = target.endpoint()?;
    let scheme = if endpoint.tls {
        "stratum+ssl"
    } else {
        "stratum+tcp"
    };
    let url = format!("{scheme}://{}:{}", endpoint.host, endpoint.port);
    for (what, value) in [
        ("admin user", admin.user.as_str()),
        ("admin password", admin.password.as_str()),
        ("pool user", target.user.as_str()),
        ("pool password", target.password.as_str()),
    ] {
        if value.contains(',') {
            return Err(DeviceError::InvalidRequest(format!(
                "the {what} contains a comma, which the cgminer setpool command cannot carry"
            )));
        }
    }
    Ok(format!(
        "{},{},0,{url},{},{}",
        admin.user, admin.password, target.user, target.password
    ))
}

/// Switches pool. If the pool (same host:port and user) is already in one of the device's
/// three slots, `switchpool N` (no reboot). Otherwise `setpool` into slot 0 with the admin
/// login, then `ascset 0,reboot,0` so the new pool is used (§3.5; 30–180 s to come back).
pub async fn switch_pool(
    addr: &str,
    target: &PoolTarget,
    admin: &AdminLogin,
    limits: Limits,
) -> Result<ControlOutcome, DeviceError> {
    let endpoint = target.endpoint()?;
    let wanted = format!("{}:{}", endpoint.host, endpoint.port).to_ascii_lowercase();
    with_deadline(limits.timeout, async {
        let pools = cgminer::command(addr, "pools", None, limits).await?;
        if let Some(slot) = slot_of(&pools, &wanted, &target.user) {
            let reply = cgminer::command(addr, "switchpool", Some(&slot.to_string()), limits)
                .await
                .map_err(ascset_error)?;
            return Ok(ControlOutcome {
                message: format!("switched to pool slot {slot}: {}", status_message(&reply)),
            });
        }
        let parameter = setpool_parameter(admin, target)?;
        let reply = cgminer::command(addr, "setpool", Some(&parameter), limits)
            .await
            .map_err(ascset_error)?;
        let reboot = restart(addr, limits).await?;
        Ok(ControlOutcome {
            message: format!(
                "pool slot 0 set to {wanted}: {}; {}",
                status_message(&reply),
                reboot.message
            ),
        })
    })
    .await
}

/// The slot (`POOL` number) already holding `host:port` with `user`, if any.
fn slot_of(pools_reply: &Value, host_port: &str, user: &str) -> Option<u64> {
    let pools = pools_reply.get("POOLS")?.as_array()?;
    pools.iter().filter_map(Value::as_object).find_map(|p| {
        let url = first_text(p, &["URL"])?.to_ascii_lowercase();
        let bare = url
            .split_once("://")
            .map_or(url.as_str(), |(_, rest)| rest)
            .trim_end_matches('/');
        let same_user = first_text(p, &["User"]).is_some_and(|u| u == user);
        (bare == host_port && same_user)
            .then(|| p.get("POOL").and_then(count))
            .flatten()
    })
}

fn status_message(reply: &Value) -> String {
    cgminer::status_of(reply).map(|s| s.msg).unwrap_or_default()
}

/// Numbers from a cgminer section as `f64` (used by tests and detection).
pub fn section_number(reply: &Value, name: &str, key: &str) -> Option<f64> {
    section(reply, name)
        .and_then(|s| s.get(key))
        .and_then(number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_grammar_handles_every_value_shape() {
        let mm = parse_mm_blob(
            "Ver[Nano3s-1] SYSTEMSTATU[Work: In Work, Hash Board: 1] DH[2.374%] PVT_T0[ 85  91] ATA1[90-85-324-100:441:461:481] Nonce Mask[25]",
        );
        assert_eq!(mm["SYSTEMSTATU"], "Work: In Work, Hash Board: 1");
        assert_eq!(mm["DH"], "2.374%");
        assert_eq!(mm["PVT_T0"], "85  91");
        assert_eq!(mm["ATA1"], "90-85-324-100:441:461:481");
        assert_eq!(mm["Mask"], "25");
        assert_eq!(mm_number(&mm, "DH"), Some(2.374));
        let wrapped = parse_mm_blob("'STATS':{Ver[Q-25052801_14a19a2] WORKMODE[0]}");
        assert_eq!(wrapped["Ver"], "Q-25052801_14a19a2");
        assert_eq!(wrapped["WORKMODE"], "0");
        assert!(parse_mm_blob("no brackets [ here").is_empty());
    }

    #[test]
    fn original_nano3_power_and_mode_come_from_its_own_fields() {
        let blob = "Ver[nano3-24071801_42c628d] PS[0 0 0 3 2792 89 324] WORKLEVEL[1] GHSspd[4000.5] ATA1[90-85-324-100-20]";
        let stats = serde_json::json!({"STATUS":[{"STATUS":"S"}],"STATS":[{"ID":"AVANANO0","MM ID0":blob}]});
        let reading = reading_from(None, None, Some(&stats), None).unwrap();
        assert_eq!(reading.sample.power_w, Some(89.0));
        assert_eq!(reading.sample.mode, Some(Mode::Standard));
        assert_eq!(reading.info.variant, Variant::AvalonWorklevel);
        assert_eq!(reading.info.model.as_deref(), Some("Avalon Nano3"));
        assert_eq!(
            mode_parameter(reading.info.variant, Mode::Eco).unwrap(),
            "0,worklevel,set,0"
        );
        assert!(mode_parameter(reading.info.variant, Mode::Oc).is_err());
    }

    #[test]
    fn setpool_refuses_commas_and_keeps_order() {
        let target = PoolTarget {
            url: "stratum+tcp://pool.example:3333".into(),
            user: "bc1q.nano".into(),
            password: "x".into(),
        };
        assert_eq!(
            setpool_parameter(&AdminLogin::default(), &target).unwrap(),
            "admin,admin,0,stratum+tcp://pool.example:3333,bc1q.nano,x"
        );
        let bad = PoolTarget {
            password: "a,b".into(),
            ..target
        };
        assert!(setpool_parameter(&AdminLogin::default(), &bad).is_err());
    }
}
