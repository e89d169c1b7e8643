//! Device drivers: one file per protocol, each turning a miner's replies into a
//! [`Reading`] (a [`Sample`] plus descriptive [`DeviceInfo`]) and carrying out the control
//! actions the device supports (`set_mode`, `restart`, `switch_pool`).
//!
//! Layout (DESIGN.md "Devices"):
//! * [`axeos`]: Bitaxe and NerdQAxe over HTTP (`/api/system/info`, `PATCH /api/system`).
//! * [`cgminer`]: the cgminer JSON API transport on TCP 4028 (framing, quirk repair, STATUS).
//! * [`avalon`]: Avalon Nano 3 / 3S (and Q) on top of [`cgminer`], incl. the `MM ID0` grammar.
//! * [`nmminer`]: NMMiner / NMAxe UDP telemetry listener, pool config datagram, HTTP probe.
//! * [`detect`]: identifies an unknown `host[:port]` (`kind = "auto"`, `hmm detect`).
//! * `http`: a small bounded HTTP/1.1 client (why hand-written: see its module docs).
//!
//! Every parser is a pure function over bytes so fixture tests are exact; every I/O function
//! takes [`Limits`] (one overall timeout, one reply size bound) so a hung or chatty device
//! costs at most that and never delays the others. Values a device did not report stay
//! `None`; they never become 0.

pub mod avalon;
pub mod axeos;
pub mod cgminer;
pub mod detect;
pub(crate) mod fields;
pub(crate) mod http;
pub mod nmminer;

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::model::{MinerKind, Mode, Sample};

/// Bounds for one device operation: the whole exchange (connect, send, receive, all
/// commands of one poll) must finish within `timeout`, and no reply may exceed
/// `max_reply_bytes`. Copied into every driver call so each device has its own budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deadline for the whole operation.
    pub timeout: Duration,
    /// Largest reply body accepted, in bytes.
    pub max_reply_bytes: usize,
}

impl Default for Limits {
    /// The `[devices]` defaults: 3 s and 256 KiB.
    fn default() -> Limits {
        Limits {
            timeout: Duration::from_secs(3),
            max_reply_bytes: 262_144,
        }
    }
}

/// The `[devices]` section of the config, mirrored here with the same field names and
/// defaults until the config module lands, so wiring it up is a one-line conversion.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceSettings {
    /// Per-device deadline for one poll or control action.
    pub timeout: Duration,
    /// Largest reply accepted from a device, bytes.
    pub max_reply_bytes: usize,
    /// Minimum time between two mode changes of one miner.
    pub mode_cooldown: Duration,
    /// Minimum time between two pool switches of one miner.
    pub pool_cooldown: Duration,
    /// Minimum time between two restarts of one miner.
    pub restart_cooldown: Duration,
    /// Where the NMMiner UDP telemetry listener binds.
    pub nmminer_listen: String,
    /// An NMMiner with no datagram for this long is offline.
    pub nmminer_offline_after: Duration,
}

impl Default for DeviceSettings {
    fn default() -> DeviceSettings {
        DeviceSettings {
            timeout: Duration::from_secs(3),
            max_reply_bytes: 262_144,
            mode_cooldown: Duration::from_secs(300),
            pool_cooldown: Duration::from_secs(900),
            restart_cooldown: Duration::from_secs(300),
            nmminer_listen: "0.0.0.0:12345".to_string(),
            nmminer_offline_after: Duration::from_secs(120),
        }
    }
}

impl DeviceSettings {
    /// The per-operation bounds drivers take.
    pub fn limits(&self) -> Limits {
        Limits {
            timeout: self.timeout,
            max_reply_bytes: self.max_reply_bytes,
        }
    }
}

/// Which firmware family answered, where that changes how the device is driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// Bitaxe AxeOS. `pools_array`: the info reply carries `pools[]` (v2.14+), so pool
    /// changes are written as `pools[]` (v2.15 dropped the flat PATCH keys).
    Bitaxe {
        /// Whether pool writes use `pools[]` instead of flat `stratumURL`/... keys.
        pools_array: bool,
    },
    /// NerdQAxe / NerdAxe family (AxeOS-derived, flat pool keys, `deviceModel` in info).
    NerdQaxe,
    /// Avalon whose mode is `WORKMODE` (Nano 3S, Q): `ascset 0,workmode,set,N`.
    AvalonWorkmode,
    /// Avalon whose mode is `WORKLEVEL` (original Nano 3): `ascset 0,worklevel,set,N`.
    AvalonWorklevel,
    /// NMMiner (ESP32 lottery miner) UDP telemetry.
    Nmminer,
    /// NMAxe (ESP-Miner fork) UDP telemetry.
    Nmaxe,
}

/// Descriptive, slowly changing facts read along with a sample. Never holds a password.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceInfo {
    /// Protocol family.
    pub kind: MinerKind,
    /// Firmware family, which decides how control requests are written.
    pub variant: Variant,
    /// Model for people: "Bitaxe Gamma", "NerdQAxe++", "Avalon Nano3s", "NMLotto".
    pub model: Option<String>,
    /// Firmware version string as the device reports it.
    pub firmware: Option<String>,
    /// Pool in use, as `stratum+tcp://host:port` or the device's own `host:port` form.
    pub pool_url: Option<String>,
    /// Pool user (address.worker) in use; not a secret.
    pub pool_user: Option<String>,
    /// Device hostname.
    pub hostname: Option<String>,
    /// MAC address, upper-case with colons.
    pub mac: Option<String>,
    /// Serial or chip DNA where the device has one.
    pub serial: Option<String>,
    /// IP address the device reports for itself.
    pub ip: Option<String>,
    /// ASIC chip model ("BM1370", "A3197S").
    pub asic_model: Option<String>,
    /// Number of ASIC chips.
    pub asic_count: Option<u32>,
    /// Modes hmm can set on this device, in increasing power order.
    pub supported_modes: Vec<Mode>,
    /// Whether mining is paused (AxeOS `miningPaused`, Avalon `SoftOFF` ≠ 0); `None` when
    /// the firmware does not report it (AxeOS before v2.14, Avalons without `SoftOFF`).
    pub paused: Option<bool>,
    /// What the device reports about the network of the pool(s) it mines on (AxeOS v2.11+,
    /// NerdQAxe); empty when it reports nothing. Read for the scripts' `network_difficulty`,
    /// which otherwise needs a web feed; never stored, as it is not a series anyone charts.
    pub network: Vec<NetworkReading>,
}

/// One pool's network as a miner sees it in the jobs that pool sends: the difficulty a
/// block must meet and the height of the block being mined. Tied to the pool rather than to
/// a coin because devices do not say which coin they mine; the daemon looks the coin up in
/// the configured `[[pools]]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetworkReading {
    /// The pool the values came from, in the same form as [`DeviceInfo::pool_url`].
    pub pool_url: String,
    /// Network difficulty, finite and greater than zero.
    pub difficulty: f64,
    /// Height of the block being mined, when the device reports it.
    pub block_height: Option<u64>,
}

impl DeviceInfo {
    /// An info with only the kind and variant known; parsers fill in the rest.
    pub fn new(kind: MinerKind, variant: Variant) -> DeviceInfo {
        DeviceInfo {
            kind,
            variant,
            model: None,
            firmware: None,
            pool_url: None,
            pool_user: None,
            hostname: None,
            mac: None,
            serial: None,
            ip: None,
            asic_model: None,
            asic_count: None,
            supported_modes: Vec::new(),
            paused: None,
            network: Vec::new(),
        }
    }

    /// Whether [`set_mining`] can pause and resume this device, judged from what its reply
    /// showed: AxeOS has `POST /api/system/pause` since v2.14, the same release that added
    /// `miningPaused` to the info reply, so the key's presence is the test (NerdQAxe has no
    /// pause endpoint, only a full shutdown, protocols.md §2). Avalons take
    /// `ascset softoff/softon` on the Q and on Nano 3S firmware that reports `SoftOFF`
    /// in its stats (the original Nano 3, `WORKLEVEL` variant, only when it is a Q). NMMiner has no control channel for it.
    pub fn can_pause(&self) -> bool {
        match self.variant {
            Variant::Bitaxe { .. } | Variant::NerdQaxe => self.paused.is_some(),
            Variant::AvalonWorkmode => {
                self.paused.is_some() || avalon::is_q_model(self.model.as_deref())
            }
            // The original Nano 3 reports `SoftOFF[0]` too, but no firmware of it is known
            // to take softoff/softon, so the field alone does not promise the switch there.
            Variant::AvalonWorklevel => avalon::is_q_model(self.model.as_deref()),
            Variant::Nmminer | Variant::Nmaxe => false,
        }
    }
}

/// One successful poll: the values (`sample.miner_id` is 0 and `sample.ts_ms` the time the
/// reply was read, or 0 from the pure parsers; the collector sets both) and the facts.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// Telemetry in hmm's units (H/s, W, °C, MHz, mV).
    pub sample: Sample,
    /// Model, firmware, pool and identity facts.
    pub info: DeviceInfo,
}

/// What a device can be asked to do; drives Home Assistant selects and the control API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    /// Modes accepted by `set_mode`, in increasing power order (empty: no mode control).
    pub modes: Vec<Mode>,
    /// Whether `restart` is supported.
    pub restart: bool,
    /// Whether `switch_pool` is supported.
    pub switch_pool: bool,
    /// Whether mining can be paused and resumed ([`set_mining`]); see
    /// [`DeviceInfo::can_pause`].
    pub pause: bool,
}

/// Which operations a device supports, decided from what its last reading said.
/// NMMiner has no mode or restart over its UDP protocol; pools switch by config datagram.
pub fn capabilities(info: &DeviceInfo) -> Capabilities {
    match info.variant {
        Variant::Bitaxe { .. }
        | Variant::NerdQaxe
        | Variant::AvalonWorkmode
        | Variant::AvalonWorklevel => Capabilities {
            modes: info.supported_modes.clone(),
            restart: true,
            switch_pool: true,
            pause: info.can_pause(),
        },
        Variant::Nmminer | Variant::Nmaxe => Capabilities {
            modes: Vec::new(),
            restart: false,
            switch_pool: true,
            pause: info.can_pause(),
        },
    }
}

/// Polls a device of `kind` at `addr`. NMMiner is passive (read it from
/// [`nmminer::NmminerListener`]); `Auto` detects first and polls with what it found.
pub async fn poll(kind: MinerKind, addr: &str, limits: Limits) -> Result<Reading, DeviceError> {
    match kind {
        MinerKind::Axeos => axeos::poll(addr, limits).await,
        MinerKind::Avalon => avalon::poll(addr, limits).await,
        MinerKind::Nmminer => Err(DeviceError::InvalidRequest(
            "NMMiner is not polled: its telemetry comes from the UDP listener".into(),
        )),
        MinerKind::Auto => detect::detect(addr, limits)
            .await
            .map(|found| found.reading),
    }
}

/// Sets `mode` on a device of `kind` (see [`capabilities`] for what each supports).
pub async fn set_mode(
    kind: MinerKind,
    addr: &str,
    mode: Mode,
    limits: Limits,
) -> Result<ControlOutcome, DeviceError> {
    match kind {
        MinerKind::Axeos => axeos::set_mode(addr, mode, limits).await,
        MinerKind::Avalon => avalon::set_mode(addr, mode, limits).await,
        MinerKind::Nmminer | MinerKind::Auto => Err(DeviceError::Unsupported(format!(
            "set_mode on a {} miner",
            kind.as_str()
        ))),
    }
}

/// Restarts a device of `kind`.
pub async fn restart(
    kind: MinerKind,
    addr: &str,
    limits: Limits,
) -> Result<ControlOutcome, DeviceError> {
    match kind {
        MinerKind::Axeos => axeos::restart(addr, limits).await,
        MinerKind::Avalon => avalon::restart(addr, limits).await,
        MinerKind::Nmminer | MinerKind::Auto => Err(DeviceError::Unsupported(format!(
            "restart on a {} miner",
            kind.as_str()
        ))),
    }
}

/// Pauses (`on = false`) or resumes (`on = true`) mining on a device of `kind`: the
/// "enabled" switch. See [`axeos::set_mining`] and [`avalon::set_mining`].
pub async fn set_mining(
    kind: MinerKind,
    addr: &str,
    on: bool,
    limits: Limits,
) -> Result<ControlOutcome, DeviceError> {
    match kind {
        MinerKind::Axeos => axeos::set_mining(addr, on, limits).await,
        MinerKind::Avalon => avalon::set_mining(addr, on, limits).await,
        MinerKind::Nmminer | MinerKind::Auto => Err(DeviceError::Unsupported(format!(
            "pause/resume on a {} miner",
            kind.as_str()
        ))),
    }
}

/// A pool to switch to. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct PoolTarget {
    /// `stratum+tcp://host:port` (also `stratum+ssl://`, or bare `host:port`).
    pub url: String,
    /// Pool user, usually `address.worker`.
    pub user: String,
    /// Pool password (secret: never logged).
    pub password: String,
}

impl fmt::Debug for PoolTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolTarget")
            .field("url", &self.url)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A pool URL split into the parts device APIs want.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolEndpoint {
    /// Host name or IP, without scheme.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Whether the scheme asks for TLS (`stratum+ssl`, `stratum+tls`, `stratums`).
    pub tls: bool,
}

impl PoolTarget {
    /// Splits [`PoolTarget::url`]; the error names the URL and the expected form.
    pub fn endpoint(&self) -> Result<PoolEndpoint, DeviceError> {
        pool_endpoint(&self.url)
    }
}

/// Splits a stratum URL (`stratum+tcp://host:port`, `stratum+ssl://…` or bare `host:port`)
/// into host, port and TLS. Shared by pool switching and by everything that has to tell
/// whether two URLs name the same pool. The error names the URL and the expected form.
pub(crate) fn pool_endpoint(url: &str) -> Result<PoolEndpoint, DeviceError> {
    let bad = |why: &str| {
        DeviceError::InvalidRequest(format!(
            "pool URL '{url}' {why}; expected stratum+tcp://host:port"
        ))
    };
    let trimmed = url.trim();
    let (scheme, rest) = match trimmed.split_once("://") {
        Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
        None => (String::from("stratum+tcp"), trimmed),
    };
    let tls = matches!(
        scheme.as_str(),
        "stratum+ssl" | "stratum+tls" | "stratums" | "ssl"
    );
    if !tls && !matches!(scheme.as_str(), "stratum+tcp" | "stratum" | "tcp") {
        return Err(bad("has an unknown scheme"));
    }
    let rest = rest.trim_end_matches('/');
    let (host, port) = rest.rsplit_once(':').ok_or_else(|| bad("has no port"))?;
    let port: u16 = port.parse().map_err(|_| bad("has a bad port"))?;
    if host.is_empty() || port == 0 || host.contains('/') {
        return Err(bad("has no host"));
    }
    Ok(PoolEndpoint {
        host: host.to_string(),
        port,
        tls,
    })
}

/// What a control action got back: the device's own words, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlOutcome {
    /// Device reply summarised ("ASC 0 set OK", "System will restart shortly.").
    pub message: String,
}

/// Why a poll or control action failed. `Display` is the reason shown verbatim on the
/// status page, so each variant says what happened in a user's words.
#[derive(Debug, Clone, PartialEq)]
pub enum DeviceError {
    /// The whole operation did not finish within the limit.
    Timeout(Duration),
    /// TCP connection refused (nothing listening on that port).
    ConnectionRefused,
    /// Could not connect or the connection failed for another reason.
    Io(String),
    /// HTTP 401: AxeOS refuses clients outside private ranges; NerdQAxe may want an OTP.
    Unauthorized {
        /// Device host (without port).
        host: String,
        /// Why the device refused, in words.
        reason: String,
    },
    /// Any other non-success HTTP status.
    Http {
        /// Status code.
        status: u16,
        /// Device host (without port).
        host: String,
    },
    /// The reply ended before it was complete; `what` names the protocol.
    Truncated(&'static str),
    /// The reply was larger than the configured bound.
    TooLarge(usize),
    /// The reply was not what the protocol promises; carries a short excerpt.
    Garbage(String),
    /// The device answered with an error status (cgminer STATUS E/F).
    Command(String),
    /// The device refused a control action for a stated reason (e.g. calibrating).
    Refused(String),
    /// The operation is not available for this device.
    Unsupported(String),
    /// The request itself is invalid (bad pool URL, unknown mode preset).
    InvalidRequest(String),
    /// No telemetry: a passive device was not heard from in time.
    NoData(String),
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceError::Timeout(limit) => write!(f, "timeout after {} s", limit.as_secs_f64()),
            DeviceError::ConnectionRefused => f.write_str("connection refused"),
            DeviceError::Io(what) => f.write_str(what),
            DeviceError::Unauthorized { host, reason } => {
                write!(f, "HTTP 401 from {host}: {reason}")
            }
            DeviceError::Http { status, host } => write!(f, "HTTP {status} from {host}"),
            DeviceError::Truncated(what) => write!(f, "{what} reply truncated"),
            DeviceError::TooLarge(limit) => {
                write!(
                    f,
                    "reply larger than {limit} bytes (devices.max_reply_bytes)"
                )
            }
            DeviceError::Garbage(excerpt) => write!(f, "garbage reply: {excerpt}"),
            DeviceError::Command(msg) => write!(f, "device reported an error: {msg}"),
            DeviceError::Refused(msg) => write!(f, "refused by device: {msg}"),
            DeviceError::Unsupported(msg) => write!(f, "not supported: {msg}"),
            DeviceError::InvalidRequest(msg) => f.write_str(msg),
            DeviceError::NoData(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for DeviceError {}

impl DeviceError {
    /// Maps a connect/read/write error to the user's words.
    pub(crate) fn from_io(addr: &str, err: &std::io::Error) -> DeviceError {
        match err.kind() {
            std::io::ErrorKind::ConnectionRefused => DeviceError::ConnectionRefused,
            std::io::ErrorKind::TimedOut => DeviceError::Io(format!("{addr}: network timeout")),
            _ => DeviceError::Io(format!("{addr}: {err}")),
        }
    }

    /// A garbage error with a short, printable excerpt of what arrived.
    pub(crate) fn garbage(bytes: &[u8]) -> DeviceError {
        DeviceError::Garbage(excerpt(bytes))
    }
}

/// The first 60 printable characters of a reply, for error messages.
pub(crate) fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(120)]);
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(60)
        .collect();
    out = out.trim().to_string();
    if out.is_empty() {
        return "empty reply".to_string();
    }
    if bytes.len() > 60 {
        out.push('…');
    }
    out
}

/// Runs `fut` under the operation deadline, turning expiry into [`DeviceError::Timeout`].
pub(crate) async fn with_deadline<T>(
    limit: Duration,
    fut: impl std::future::Future<Output = Result<T, DeviceError>>,
) -> Result<T, DeviceError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(result) => result,
        Err(_) => Err(DeviceError::Timeout(limit)),
    }
}

/// `host:port` with `default_port` added when the address has none (IPv6 in brackets).
pub(crate) fn with_port(addr: &str, default_port: u16) -> String {
    let addr = addr.trim();
    if addr.starts_with('[') {
        if addr.contains("]:") {
            return addr.to_string();
        }
        return format!("{addr}:{default_port}");
    }
    match addr.matches(':').count() {
        0 => format!("{addr}:{default_port}"),
        1 => addr.to_string(),
        _ => format!("[{addr}]:{default_port}"), // bare IPv6
    }
}

/// The host part of `host[:port]`, for messages ("HTTP 500 from 10.0.0.5").
pub(crate) fn host_of(addr: &str) -> String {
    let addr = addr.trim();
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest).to_string();
    }
    match addr.matches(':').count() {
        1 => addr.split(':').next().unwrap_or(addr).to_string(),
        _ => addr.to_string(),
    }
}

/// Normalises a MAC address to upper-case with colons ("e0e1a93f3053" → "E0:E1:A9:3F:30:53").
pub(crate) fn normalize_mac(raw: &str) -> Option<String> {
    let hex: String = raw.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    if hex.len() != 12 {
        return None;
    }
    let upper = hex.to_ascii_uppercase();
    let parts: Vec<&str> = (0..6).map(|i| &upper[i * 2..i * 2 + 2]).collect();
    Some(parts.join(":"))
}

/// A reading's sample with only the online flag set; parsers fill in the values.
pub(crate) fn online_sample() -> Sample {
    Sample {
        online: true,
        ..Sample::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_reads_like_a_person_wrote_it() {
        assert_eq!(
            DeviceError::Timeout(Duration::from_secs(3)).to_string(),
            "timeout after 3 s"
        );
        assert_eq!(
            DeviceError::Timeout(Duration::from_millis(250)).to_string(),
            "timeout after 0.25 s"
        );
    }

    #[test]
    fn pool_urls_split_or_explain() {
        let target = |url: &str| PoolTarget {
            url: url.into(),
            user: "u".into(),
            password: "secret".into(),
        };
        let ep = target("stratum+tcp://solo.ckpool.org:3333")
            .endpoint()
            .unwrap();
        assert_eq!(
            (ep.host.as_str(), ep.port, ep.tls),
            ("solo.ckpool.org", 3333, false)
        );
        let ep = target("stratum+ssl://pool.example:443").endpoint().unwrap();
        assert!(ep.tls);
        assert_eq!(
            target("public-pool.io:21496").endpoint().unwrap().port,
            21496
        );
        let err = target("stratum+tcp://nowhere")
            .endpoint()
            .unwrap_err()
            .to_string();
        assert!(err.contains("has no port"), "{err}");
        assert!(!format!("{:?}", target("x:1")).contains("secret"));
    }

    #[test]
    fn addresses_get_default_ports_and_hosts() {
        assert_eq!(with_port("10.0.0.5", 80), "10.0.0.5:80");
        assert_eq!(with_port("10.0.0.5:8080", 80), "10.0.0.5:8080");
        assert_eq!(with_port("::1", 4028), "[::1]:4028");
        assert_eq!(host_of("10.0.0.5:80"), "10.0.0.5");
        assert_eq!(host_of("[::1]:80"), "::1");
        assert_eq!(normalize_mac("e0e1a93f3053").unwrap(), "E0:E1:A9:3F:30:53");
        assert_eq!(normalize_mac("<DELETED>"), None);
    }
}
