//! Identifies an unknown miner from its replies (§6): used by `kind = "auto"` and by
//! `hmm detect HOST[:PORT]`.
//!
//! Three probes run at once, each under the same short deadline, and are ranked:
//! 1. AxeOS HTTP `GET /api/system/info` (port 80) — Bitaxe and NerdQAxe answer with their
//!    full info (which also gives model and firmware; pyasic/asic-rs look at the web root's
//!    title instead, which misses NerdQAxe for pyasic). NMMiner v2 firmware answers the same
//!    path with its own `identity{}` shape, which is recognised too.
//! 2. cgminer `{"command":"version"}` on TCP 4028 — `AVALON` in the reply (upper-cased,
//!    as pyasic and asic-rs test) means an Avalon; a full poll then reads the facts.
//! 3. NMMiner v2 `GET /probe` (port 80).
//!
//! With an explicit port all probes use that port (the simulator and tests put each device
//! on its own loopback port). A 401 from AxeOS is reported as such: it is an AxeOS device
//! refusing a non-LAN client, and pretending "unknown" would hide the fix.

use serde_json::Value;

use super::http::{self, expect_success};
use super::{DeviceError, Limits, Reading, avalon, axeos, cgminer, nmminer};
use crate::model::MinerKind;

/// What detection found.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// Protocol kind to put in the config.
    pub kind: MinerKind,
    /// The address as given (kept verbatim for the config line).
    pub host: String,
    /// The first reading, with model and firmware.
    pub reading: Reading,
}

/// Identifies `host[:port]` within `limits` (each probe gets the full timeout; they run
/// concurrently, so detection takes at most about one timeout).
pub async fn detect(host: &str, limits: Limits) -> Result<Detection, DeviceError> {
    let (web, rpc, probe) = tokio::join!(
        probe_axeos(host, limits),
        probe_cgminer(host, limits),
        probe_nmminer(host, limits)
    );
    let found = |kind, reading| Detection {
        kind,
        host: host.trim().to_string(),
        reading,
    };
    match web {
        Ok((kind, reading)) => return Ok(found(kind, reading)),
        Err(err @ DeviceError::Unauthorized { .. }) => return Err(err),
        Err(_) => {}
    }
    if let Ok(reading) = &rpc {
        return Ok(found(MinerKind::Avalon, reading.clone()));
    }
    if let Ok(reading) = &probe {
        return Ok(found(MinerKind::Nmminer, reading.clone()));
    }
    let reason = |result: Result<(), DeviceError>| match result {
        Ok(()) => "ok".to_string(),
        Err(err) => err.to_string(),
    };
    Err(DeviceError::NoData(format!(
        "could not identify {host}: AxeOS HTTP: {}; cgminer: {}; NMMiner /probe: {}",
        reason(web.map(|_| ())),
        reason(rpc.map(|_| ())),
        reason(probe.map(|_| ()))
    )))
}

async fn probe_axeos(host: &str, limits: Limits) -> Result<(MinerKind, Reading), DeviceError> {
    let response = http::request(host, "GET", axeos::INFO_PATH, None, limits).await?;
    let response = expect_success(host, response)?;
    match axeos::parse_system_info(&response.body) {
        Ok(reading) => Ok((MinerKind::Axeos, reading)),
        Err(err) => nmminer::parse_http_system_info(&response.body)
            .map(|reading| (MinerKind::Nmminer, reading))
            .map_err(|_| err),
    }
}

async fn probe_cgminer(host: &str, limits: Limits) -> Result<Reading, DeviceError> {
    let version = cgminer::command(host, "version", None, limits).await?;
    if !is_avalon(&version) {
        return Err(DeviceError::Unsupported(
            "a cgminer API that is not an Avalon (hmm drives Avalon Nano 3/3S only)".into(),
        ));
    }
    avalon::poll(host, limits).await
}

/// Whether a cgminer `version` reply is an Avalon's (pyasic/asic-rs: `AVALON` upper-cased).
pub fn is_avalon(version: &Value) -> bool {
    version.to_string().to_ascii_uppercase().contains("AVALON")
}

async fn probe_nmminer(host: &str, limits: Limits) -> Result<Reading, DeviceError> {
    let response = http::request(host, "GET", "/probe", None, limits).await?;
    let response = expect_success(host, response)?;
    nmminer::parse_http_probe(&response.body)
}

/// A config-file name for the miner: its hostname or model, lower-case, dashes only.
pub fn suggested_name(detection: &Detection) -> String {
    let info = &detection.reading.info;
    let raw = info
        .hostname
        .clone()
        .or_else(|| info.model.clone())
        .unwrap_or_else(|| detection.kind.as_str().to_string());
    let mut name = String::new();
    for c in raw.chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c.to_ascii_lowercase());
        } else if !name.ends_with('-') && !name.is_empty() {
            name.push('-');
        }
    }
    let name = name.trim_end_matches('-').to_string();
    if name.is_empty() {
        detection.kind.as_str().to_string()
    } else {
        name
    }
}

/// The `[[miners]]` block to paste into the config.
pub fn config_snippet(detection: &Detection) -> String {
    format!(
        "[[miners]]\nname = \"{}\"\nkind = \"{}\"\nhost = \"{}\"\n",
        suggested_name(detection),
        detection.kind.as_str(),
        detection.host
    )
}

/// The human report `hmm detect` prints: kind, model, firmware, pool, then the config.
pub fn report(detection: &Detection) -> String {
    let info = &detection.reading.info;
    let unknown = || "unknown".to_string();
    let mut out = format!(
        "kind:     {}\nmodel:    {}\nfirmware: {}\n",
        detection.kind.as_str(),
        info.model.clone().unwrap_or_else(unknown),
        info.firmware.clone().unwrap_or_else(unknown),
    );
    if let Some(asic) = &info.asic_model {
        out.push_str(&format!("asic:     {asic}\n"));
    }
    if let Some(pool) = &info.pool_url {
        out.push_str(&format!("pool:     {pool}\n"));
    }
    if let Some(hs) = detection.reading.sample.hashrate_hs {
        out.push_str(&format!(
            "hashrate: {}\n",
            crate::units::format_hashrate(hs)
        ));
    }
    let modes: Vec<&str> = info.supported_modes.iter().map(|m| m.as_str()).collect();
    if !modes.is_empty() {
        out.push_str(&format!("modes:    {}\n", modes.join(", ")));
    }
    if detection.kind == MinerKind::Nmminer {
        out.push_str(
            "note:     NMMiner telemetry arrives by UDP broadcast on port 12345 (devices.nmminer_listen)\n",
        );
    }
    out.push_str("\nconfig:\n");
    out.push_str(&config_snippet(detection));
    out
}
