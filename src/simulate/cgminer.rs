//! Simulated cgminer API of the Avalon Nano 3 and Nano 3S (protocols.md §3).
//!
//! One command per TCP connection; the request is JSON (`{"command":..,"parameter":..}`)
//! or plain text (`cmd|param`), detected by its first byte, and answered in the same
//! encoding, always followed by exactly one NUL byte. Numbers are formatted the way
//! cgminer's `api.c` prints them (`%.2f` for MH/s, `%.8f` for difficulties, `%f` for
//! timings), so the Nano 3S `estats` reply of the fixture state is byte-identical to
//! `fixtures/avalon_nano3s_estats.wire`.
//!
//! Mode changes are refused while the device calibrates (`ADJ[0]`), which it does for a
//! while after every boot and every accepted mode switch, with the firmware's message.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::control::SimControl;
use super::faults::{Fault, garbage_bytes, truncate_reply};
use super::http::hang;
use super::json::{Json, Layout, obj};
use super::models::SimModel;
use super::telemetry::DeviceState;

/// cgminer version string in every STATUS.
const DESCRIPTION: &str = "cgminer 4.11.1";
/// Longest request read.
const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// The admin password `setpool` checks (Canaan's factory default) and its web hash form.
const ADMIN_PASSWORD: &str = "admin";
const ADMIN_PASSWORD_HASH: &str = "ff0000ff8c6976e5b5410415bde908bd";
/// Nano 3S `ascset` options (`device_cmds[]` of driver-avalon.c).
const NANO3S_OPTIONS: &[&str] = &[
    "help",
    "voltage",
    "fan-spd",
    "ledmode",
    "ledset",
    "lcd",
    "nightlamp",
    "wallpaper",
    "hash-sn-read",
    "volt-adjust-switch",
    "workmode",
    "worklevel",
    "work_mode_lvl",
    "reboot",
    "filter-clean",
    "facopts",
    "faclock",
    "frequency",
    "loop",
    "password",
    "qr_auth",
];
/// Per-chip constants of the Nano 3S fixture (`PVT_T0` at TAvg 90, `PVT_V0`, `MW0`).
const NANO3S_PVT_T: [i64; 12] = [85, 91, 91, 91, 91, 90, 85, 86, 95, 95, 91, 87];
const NANO3S_PVT_V: &str = "299 303 301 303 300 301 306 301 297 296 303 305";
const NANO3S_MW: &str = "321 338 337 334 296 338 294 322 309 283 318 321";
const NANO3_PVT_T: [i64; 10] = [84, 86, 88, 85, 87, 89, 86, 84, 88, 87];

/// How the request was encoded (the reply uses the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Json,
    Plain,
}

/// One parsed request.
#[derive(Debug, Clone, PartialEq)]
struct Command {
    name: String,
    parameter: String,
    encoding: Encoding,
}

/// One reply: the STATUS entry and any sections.
#[derive(Debug)]
struct Reply {
    letter: &'static str,
    code: u32,
    message: String,
    description: bool,
    sections: Vec<(&'static str, Vec<Json>)>,
}

impl Reply {
    fn status(letter: &'static str, code: u32, message: impl Into<String>) -> Reply {
        Reply {
            letter,
            code,
            message: message.into(),
            description: true,
            sections: Vec::new(),
        }
    }

    fn with(mut self, name: &'static str, items: Vec<Json>) -> Reply {
        self.sections.push((name, items));
        self
    }

    fn invalid_command() -> Reply {
        let mut reply = Reply::status("E", 14, "Invalid command");
        reply.description = false;
        reply
    }

    fn status_json(&self, when: u64) -> Json {
        let mut status = obj()
            .field("STATUS", self.letter)
            .field("When", when)
            .field("Code", self.code)
            .field("Msg", self.message.as_str());
        if self.description {
            status = status.field("Description", DESCRIPTION);
        }
        status.build()
    }

    /// The reply object without the `"id"` (joined replies nest it).
    fn fields(&self, when: u64) -> Vec<(String, Json)> {
        let mut fields = vec![(
            "STATUS".to_string(),
            Json::Arr(vec![self.status_json(when)]),
        )];
        for (name, items) in &self.sections {
            fields.push((name.to_string(), Json::Arr(items.clone())));
        }
        fields
    }

    fn render_json(&self, when: u64) -> String {
        let mut fields = self.fields(when);
        fields.push(("id".into(), Json::Int(1)));
        Json::Obj(fields).render(Layout::Compact)
    }

    /// `STATUS=S,When=..,Code=..,Msg=..,Description=..|SECTION,key=value,..|`.
    fn render_plain(&self, when: u64) -> String {
        let mut out = format!(
            "STATUS={},When={when},Code={},Msg={}",
            self.letter, self.code, self.message
        );
        if self.description {
            out.push_str(&format!(",Description={DESCRIPTION}"));
        }
        out.push('|');
        for (name, items) in &self.sections {
            for item in items {
                let Json::Obj(fields) = item else { continue };
                let singular = name.trim_end_matches('S');
                let starts_with_name = fields
                    .first()
                    .is_some_and(|(key, _)| key == name || key == singular || key == "ASC");
                if !starts_with_name {
                    out.push_str(name);
                    out.push(',');
                }
                let parts: Vec<String> = fields
                    .iter()
                    .map(|(key, value)| format!("{key}={}", plain_value(value)))
                    .collect();
                out.push_str(&parts.join(","));
                out.push('|');
            }
        }
        out
    }
}

fn plain_value(value: &Json) -> String {
    match value {
        Json::Str(text) => text.clone(),
        other => other.render(Layout::Compact),
    }
}

/// `%.Nf` number as cgminer prints it.
fn fixed(value: f64, decimals: usize) -> Json {
    if value.is_finite() {
        Json::Raw(format!("{value:.decimals$}"))
    } else {
        Json::Raw(format!("{:.decimals$}", 0.0))
    }
}

/// Parses a request (JSON or `cmd|param`).
fn parse_request(bytes: &[u8]) -> Result<Command, Reply> {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    if text.starts_with('{') {
        let value: Value =
            serde_json::from_str(text).map_err(|_| Reply::status("E", 23, "Invalid JSON"))?;
        let name = value
            .get("command")
            .and_then(Value::as_str)
            .ok_or_else(|| Reply::status("E", 24, "Missing JSON 'command'"))?;
        let parameter = match value.get("parameter") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(text)) => text.clone(),
            Some(other) => other.to_string(),
        };
        return Ok(Command {
            name: name.to_string(),
            parameter,
            encoding: Encoding::Json,
        });
    }
    let (name, parameter) = text.split_once('|').unwrap_or((text, ""));
    Ok(Command {
        name: name.to_string(),
        parameter: parameter.to_string(),
        encoding: Encoding::Plain,
    })
}

/// Whether the request bytes so far form a complete request.
fn request_complete(bytes: &[u8]) -> bool {
    if bytes.contains(&0) || bytes.contains(&b'\n') {
        return true;
    }
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    text.starts_with('{') && serde_json::from_str::<Value>(text).is_ok()
}

async fn read_request(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buffer = Vec::with_capacity(128);
    let mut chunk = [0u8; 1024];
    loop {
        // Plain-text requests have no terminator: a short pause after data ends them.
        let wait = if buffer.is_empty() {
            Duration::from_secs(10)
        } else {
            Duration::from_millis(100)
        };
        match tokio::time::timeout(wait, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(read)) => {
                buffer.extend_from_slice(&chunk[..read]);
                if request_complete(&buffer) || buffer.len() >= MAX_REQUEST_BYTES {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    (!buffer.is_empty()).then_some(buffer)
}

/// Serves one connection: one request, one NUL-terminated reply, then close.
pub(crate) async fn serve_connection(mut stream: TcpStream, control: SimControl) {
    let Some(request) = read_request(&mut stream).await else {
        return;
    };
    let fault = control.fault();
    match fault {
        Fault::Hang => {
            hang(stream).await;
            return;
        }
        Fault::Http500 => {
            let _ = stream.shutdown().await;
            return;
        }
        Fault::Slow(delay) => tokio::time::sleep(delay).await,
        Fault::None | Fault::Garbage | Fault::Truncated => {}
    }
    let bytes = {
        let mut state = control.lock();
        let text = respond(&mut state, &request);
        let text = state.quirk.apply(text);
        match fault {
            Fault::Garbage => {
                let len = 64 + state.rng.usize(..256);
                let mut bytes = garbage_bytes(&mut state.rng, len);
                bytes.push(0);
                bytes
            }
            Fault::Truncated => truncate_reply(text.as_bytes()).to_vec(),
            _ => {
                let mut bytes = text.into_bytes();
                bytes.push(0);
                bytes
            }
        }
    };
    let _ = stream.write_all(&bytes).await;
    let _ = stream.shutdown().await;
}

/// The reply text (without NUL) to one request.
fn respond(state: &mut DeviceState, request: &[u8]) -> String {
    let when = state.unix_now();
    let command = match parse_request(request) {
        Ok(command) => command,
        Err(reply) => return reply.render_json(when),
    };
    let names: Vec<&str> = command.name.split('+').collect();
    if names.len() > 1 {
        return joined(state, &names, &command, when);
    }
    let reply = dispatch(state, &command.name, &command.parameter);
    match command.encoding {
        Encoding::Json => reply.render_json(when),
        Encoding::Plain => reply.render_plain(when),
    }
}

/// `summary+estats`: `{"summary":[{..}],"estats":[{..}],"id":1}`; only read commands join.
fn joined(state: &mut DeviceState, names: &[&str], command: &Command, when: u64) -> String {
    const JOINABLE: &[&str] = &[
        "version",
        "config",
        "devs",
        "edevs",
        "pools",
        "summary",
        "devdetails",
        "stats",
        "estats",
        "litestats",
        "check",
        "lcd",
    ];
    let mut fields = Vec::new();
    let mut plain = String::new();
    for name in names {
        let reply = if JOINABLE.contains(name) {
            dispatch(state, name, &command.parameter)
        } else {
            Reply::status("E", 45, format!("Access denied to '{name}' command"))
        };
        fields.push((
            name.to_string(),
            Json::Arr(vec![Json::Obj(reply.fields(when))]),
        ));
        plain.push_str(&reply.render_plain(when));
    }
    fields.push(("id".into(), Json::Int(1)));
    match command.encoding {
        Encoding::Json => Json::Obj(fields).render(Layout::Compact),
        Encoding::Plain => plain,
    }
}

fn dispatch(state: &mut DeviceState, name: &str, parameter: &str) -> Reply {
    match name {
        "version" => version(state),
        "config" => config(state),
        "summary" => summary(state),
        "devs" | "edevs" => devs(state),
        "pools" => pools(state),
        "lcd" => lcd(state),
        "stats" => stats(state, true),
        "estats" => stats(state, false),
        "litestats" => litestats(state),
        "devdetails" => devdetails(state),
        "check" => check(parameter),
        "ascset" => ascset(state, parameter),
        "switchpool" => switchpool(state, parameter),
        "setpool" => setpool(state, parameter),
        _ => Reply::invalid_command(),
    }
}

fn is_nano3s(state: &DeviceState) -> bool {
    state.model == SimModel::AvalonNano3s
}

fn version(state: &DeviceState) -> Reply {
    let firmware = state.profile.firmware;
    let item = if is_nano3s(state) {
        obj()
            .field("CGMiner", "4.11.1")
            .field("API", "3.7")
            .field("PROD", "Avalon Nano3s")
            .field("MODEL", "Nano3s")
            .field("HWTYPE", "N_MM1v1_X1")
            .field("SWTYPE", "MM319")
            .field("LVERSION", firmware)
            .field("BVERSION", firmware)
            .field("CGVERSION", firmware)
            .field("DNA", state.dna.as_str())
            .field("MAC", state.mac.replace(':', "").to_ascii_lowercase())
            .field("UPAPI", "2")
            .build()
    } else {
        obj()
            .field("CGMiner", "4.11.1")
            .field("API", "3.7")
            .field("PROD", "Avalonnano")
            .field("MODEL", "nano3")
            .field("HWTYPE", "PMMv1_X1")
            .field("SWTYPE", "MM318_X2")
            .field("VERSION", firmware)
            .field("HVERSION", "PMMv1")
            .field("CGVERSION", firmware)
            .field("DNA", state.dna.as_str())
            .field("UPAPI", "2")
            .build()
    };
    Reply::status("S", 22, "CGMiner versions").with("VERSION", vec![item])
}

fn config(state: &DeviceState) -> Reply {
    let pool_count = state
        .pools
        .iter()
        .filter(|pool| !pool.url.is_empty())
        .count();
    let item = obj()
        .field("ASC Count", 1)
        .field("PGA Count", 0)
        .field("Pool Count", pool_count as u64)
        .field("Strategy", "Failover")
        .field("Log Interval", 5)
        .field("Device Code", "AVA ")
        .field("OS", "Linux")
        .field("Hotplug", "None")
        .build();
    Reply::status("S", 33, "CGMiner config").with("CONFIG", vec![item])
}

/// Share statistics derived from the state, shared by summary/devs/pools.
struct Shares {
    elapsed: u64,
    stale: u64,
    diff_accepted: f64,
    diff_rejected: f64,
    diff_stale: f64,
    utility: f64,
    work_utility: f64,
    device_rejected_pct: f64,
    pool_rejected_pct: f64,
    pool_stale_pct: f64,
}

fn shares(state: &DeviceState) -> Shares {
    let elapsed = state.uptime_s();
    let minutes = (elapsed.max(1) as f64) / 60.0;
    let diff = state.profile.pool_diff;
    let stale = state.accepted / 200;
    let total = (state.accepted + state.rejected + stale).max(1) as f64;
    Shares {
        elapsed,
        stale,
        diff_accepted: state.accepted as f64 * diff,
        diff_rejected: state.rejected as f64 * diff,
        diff_stale: stale as f64 * diff,
        utility: state.accepted as f64 / minutes,
        work_utility: state.diff1_work / minutes,
        device_rejected_pct: state.rejected as f64 * diff / state.diff1_work.max(1.0) * 100.0,
        pool_rejected_pct: state.rejected as f64 / total * 100.0,
        pool_stale_pct: stale as f64 / total * 100.0,
    }
}

fn summary(state: &DeviceState) -> Reply {
    let s = shares(state);
    let mhs = |hs: f64| fixed(hs / 1e6, 2);
    let item = obj()
        .field("Elapsed", s.elapsed)
        .field("MHS av", mhs(state.avg_hs))
        .field("MHS 5s", mhs(state.hashrate_hs))
        .field("MHS 1m", mhs(state.ema[0]))
        .field("MHS 5m", mhs(state.ema[1]))
        .field("MHS 15m", mhs(state.ema[3]))
        .field("Found Blocks", 0)
        .field("Getworks", s.elapsed / 30)
        .field("Accepted", state.accepted)
        .field("Rejected", state.rejected)
        .field("Hardware Errors", 0)
        .field("Utility", fixed(s.utility, 2))
        .field("Discarded", s.elapsed / 15)
        .field("Stale", s.stale)
        .field("Get Failures", 0)
        .field("Local Work", state.local_work as u64)
        .field("Remote Failures", 0)
        .field("Network Blocks", s.elapsed / 600)
        .field("Total MH", fixed(state.total_hashes / 1e6, 4))
        .field("Work Utility", fixed(s.work_utility, 2))
        .field("Difficulty Accepted", fixed(s.diff_accepted, 8))
        .field("Difficulty Rejected", fixed(s.diff_rejected, 8))
        .field("Difficulty Stale", fixed(s.diff_stale, 8))
        .field("Best Share", state.best_session as u64)
        .field("Device Hardware%", fixed(0.0, 4))
        .field("Device Rejected%", fixed(s.device_rejected_pct, 4))
        .field("Pool Rejected%", fixed(s.pool_rejected_pct, 4))
        .field("Pool Stale%", fixed(s.pool_stale_pct, 4))
        .field("Last getwork", state.unix_now())
        .build();
    Reply::status("S", 11, "Summary").with("SUMMARY", vec![item])
}

fn devs(state: &DeviceState) -> Reply {
    let s = shares(state);
    let mhs = |hs: f64| fixed(hs / 1e6, 2);
    let item = obj()
        .field("ASC", 0)
        .field("Name", "AVALON")
        .field("ID", 0)
        .field("Enabled", "Y")
        .field("Status", "Alive")
        .field("Temperature", fixed(0.0, 2))
        .field("Device Elapsed", s.elapsed)
        .field("MHS av", mhs(state.avg_hs))
        .field("MHS 5s", mhs(state.hashrate_hs))
        .field("MHS 1m", mhs(state.ema[0]))
        .field("MHS 5m", mhs(state.ema[1]))
        .field("MHS 15m", mhs(state.ema[3]))
        .field("Accepted", state.accepted)
        .field("Rejected", state.rejected)
        .field("Hardware Errors", 0)
        .field("Utility", fixed(s.utility, 2))
        .field("Last Share Pool", state.active_pool as u64)
        .field("Last Share Time", state.last_share_unix)
        .field("Total MH", fixed(state.total_hashes / 1e6, 4))
        .field("Diff1 Work", state.diff1_work as u64)
        .field("Difficulty Accepted", fixed(s.diff_accepted, 8))
        .field("Difficulty Rejected", fixed(s.diff_rejected, 8))
        .field("Last Share Difficulty", fixed(state.profile.pool_diff, 8))
        .field("Last Valid Work", state.last_share_unix)
        .field("Device Hardware%", fixed(0.0, 4))
        .field("Device Rejected%", fixed(s.device_rejected_pct, 4))
        .build();
    Reply::status("S", 9, "1 ASC(s)").with("DEVS", vec![item])
}

fn pools(state: &DeviceState) -> Reply {
    let s = shares(state);
    let diff = state.profile.pool_diff;
    let mut items = Vec::new();
    for (index, pool) in state.pools.iter().enumerate() {
        if pool.url.is_empty() {
            continue;
        }
        let active = index == state.active_pool;
        let count = |value: u64| if active { value } else { 0 };
        let amount = |value: f64| fixed(if active { value } else { 0.0 }, 8);
        items.push(
            obj()
                .field("POOL", index as u64)
                .field("URL", pool.url.as_str())
                .field("Status", "Alive")
                .field("Priority", index as u64)
                .field("Quota", 1)
                .field("Long Poll", "N")
                .field("Getworks", count(s.elapsed / 30))
                .field("Accepted", count(state.accepted))
                .field("Rejected", count(state.rejected))
                .field("Works", count(state.local_work as u64 / 80))
                .field("Discarded", count(s.elapsed / 15))
                .field("Stale", count(s.stale))
                .field("Get Failures", 0)
                .field("Remote Failures", 0)
                .field("User", pool.user.as_str())
                .field("Last Share Time", count(state.last_share_unix))
                .field("Diff1 Shares", count(state.diff1_work as u64))
                .field("Proxy Type", "")
                .field("Proxy", "")
                .field("Difficulty Accepted", amount(s.diff_accepted))
                .field("Difficulty Rejected", amount(s.diff_rejected))
                .field("Difficulty Stale", amount(s.diff_stale))
                .field("Last Share Difficulty", amount(diff))
                .field("Work Difficulty", amount(diff))
                .field("Has Stratum", true)
                .field("Stratum Active", active)
                .field("Stratum URL", if active { pool.url.as_str() } else { "" })
                .field("Stratum Difficulty", amount(diff))
                .field("Has Vmask", true)
                .field("Has GBT", false)
                .field("Best Share", count(state.best_session as u64))
                .field(
                    "Pool Rejected%",
                    fixed(if active { s.pool_rejected_pct } else { 0.0 }, 4),
                )
                .field(
                    "Pool Stale%",
                    fixed(if active { s.pool_stale_pct } else { 0.0 }, 4),
                )
                .field("Bad Work", 0)
                .field("Current Block Height", 912_345 + s.elapsed / 600)
                .field("Current Block Version", 536_870_912)
                .build(),
        );
    }
    let message = format!("{} Pool(s)", items.len());
    Reply::status("S", 7, message).with("POOLS", items)
}

fn lcd(state: &DeviceState) -> Reply {
    let pool = state.pool();
    let item = obj()
        .field("Elapsed", state.uptime_s())
        .field("GHS av", fixed(state.avg_hs / 1e9, 2))
        .field("GHS 5m", fixed(state.ema[1] / 1e9, 2))
        .field("GHS 5s", fixed(state.hashrate_hs / 1e9, 2))
        .field("Temperature", fixed(0.0, 2))
        .field("Last Share Difficulty", fixed(state.profile.pool_diff, 2))
        .field("Last Share Time", state.last_share_unix)
        .field("Best Share", state.best_session as u64)
        .field("Last Valid Work", state.last_share_unix)
        .field("Found Blocks", 0)
        .field("Current Pool", pool.url.as_str())
        .field("User", pool.user.as_str())
        .build();
    Reply::status("S", 125, "LCD").with("LCD", vec![item])
}

/// Temperatures as the MM reports them: TAvg (chips), TMax, OTemp (board).
fn temps(state: &DeviceState) -> (i64, i64, i64) {
    let average = state.temp_c.round() as i64;
    (average, average + 5, average - 25)
}

fn padded_chips(base: &[i64], offset: i64) -> String {
    base.iter()
        .map(|temp| format!("{:3}", temp + offset))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `MM ID0` blob (§3.4).
fn mm_id0(state: &DeviceState) -> String {
    let (average, max, board) = temps(state);
    let mode_index = usize::from(state.workmode);
    let mode = &state.profile.modes[mode_index.min(state.profile.modes.len() - 1)];
    let elapsed = state.uptime_s();
    let ghs = state.hashrate_hs / 1e9;
    let avg = state.avg_hs / 1e9;
    let wu = state.diff1_work * 60.0 / (elapsed.max(1) as f64);
    let adj = u8::from(!state.calibrating());
    let mpo = mode.power_w.round() as i64;
    let target = mode.target_temp_c.round() as i64;
    let pll = mode.pll_start;
    let sf = format!("{} {} {} {}", pll, pll + 18, pll + 39, pll + 60);
    let firmware = state.profile.firmware;
    let power = state.power_w.round() as i64;
    let fan_pct = state.fan_pct.round() as i64;
    if is_nano3s(state) {
        format!(
            "Ver[Nano3s-{firmware}] LVer[{firmware}] BVer[{firmware}] FW[Release] LED[0-0] \
             LEDUser[0-100-100-5-0-255] LcdOnoff[1] LcdSwitch[2] DNA[{dna}] MEMFREE[{memfree}] \
             PFCnt[0] NETFAIL[0 0 0 0 0 0 0 0] SYSTEMSTATU[Work: {work}, Hash Board: 1] \
             Elapsed[{mm_elapsed}] BOOTBY[0x01.00000000] LW[{lw}] MH[0] DHW[0] HW[0] DH[{dh:.3}%] \
             ITemp[-273] OTemp[{board}] TMax[{max}] TAvg[{average}] TarT[{target}] Fan1[{rpm}] \
             FanR[{fan_pct}%] PS[0 0 {input} 4 0 {volt} {power}] GHSspd[{ghs:.2}] DHspd[{dh:.3}%] \
             GHSmm[{mm:.2}] GHSavg[{avg:.2}] WU[{wu:.2}] Freq[{freq:.2}] MGHS[{avg:.2}] \
             MTmax[{max}] MTavg[{average}] TA[12] Core[A3197S] BIN[60] PING[{ping}] SoftOFF[{soft_off}] \
             ECHU[0] ECMM[0] PLL0[499 254 423 648] SF0[{sf}] PVT_T0[{pvt_t}] PVT_V0[{pvt_v}] \
             MW0[{mw}] CRC[0] COMCRC[0] ATA{mode_index}[{mpo}-{target}-{volt}-{pll}-20] \
             WORKMODE[{mode_index}] WORKLEVEL[0] MPO[{mpo}] CALIALL[7] ADJ[{adj}]",
            dna = state.dna,
            memfree = state.memfree,
            work = if state.paused { "In Idle" } else { "In Work" },
            soft_off = u8::from(state.paused),
            mm_elapsed = elapsed + 17,
            lw = state.local_work as u64,
            dh = state.dh_pct,
            rpm = state.fan_rpm,
            input = state.input_mv.round() as i64,
            volt = mode.volt,
            mm = mode.nominal_ghs,
            freq = mode.freq_mhz,
            ping = state.ping_ms,
            pvt_t = padded_chips(&NANO3S_PVT_T, average - 90),
            pvt_v = NANO3S_PVT_V,
            mw = NANO3S_MW,
        )
    } else {
        let ata: Vec<String> = state
            .profile
            .modes
            .iter()
            .enumerate()
            .map(|(index, level)| {
                format!(
                    "ATA{index}[{}-{}-{}-{}-20]",
                    level.power_w.round() as i64,
                    level.target_temp_c.round() as i64,
                    level.volt,
                    level.pll_start
                )
            })
            .collect();
        format!(
            "Ver[nano3-{firmware}] LVer[{firmware}] BVer[{firmware}] FW[Release] LED[0-0] \
             LEDUser[0-100-100-5-0-255] DNA[{dna}] MEMFREE[{memfree}] NETFAIL[0 0 0 0 0 0 0 0] \
             SYSTEMSTATU[Work: In Work, Hash Board: 1] Elapsed[{mm_elapsed}] BOOTBY[0x01.00000000] \
             LW[{lw}] MH[0] DHW[0] HW[0] DH[{dh:.3}%] Temp[25] ITemp[-273] OTemp[{board}] \
             TMax[{max}] TAvg[{average}] TarT[{target}] Fan1[{rpm}] FanR[{fan_pct}%] \
             PS[0 0 0 3 {input} {power} 324] GHSspd[{ghs:.2}] DHspd[{dh:.3}%] GHSmm[{mm:.2}] \
             GHSavg[{avg:.2}] WU[{wu:.2}] Freq[{freq:.2}] MGHS[{avg:.2}] MTmax[{max}] \
             MTavg[{average}] TA[10] Core[A3198S] BIN[42] PING[{ping}] SoftOFF[0] ECHU[0] \
             ECMM[0] PLL0[412 301 388 520] SF0[{sf}] PVT_T0[{pvt_t}] CRC[0] COMCRC[0] {ata} \
             WORKLEVEL[{mode_index}] MPO[{mpo}] CALIALL[7] ADJ[{adj}]",
            dna = state.dna,
            memfree = state.memfree,
            mm_elapsed = elapsed + 17,
            lw = state.local_work as u64,
            dh = state.dh_pct,
            rpm = state.fan_rpm,
            input = (state.input_mv / 10.0).round() as i64,
            mm = mode.nominal_ghs,
            freq = mode.freq_mhz,
            ping = state.ping_ms,
            pvt_t = padded_chips(&NANO3_PVT_T, average - 87),
            ata = ata.join(" "),
        )
    }
}

fn stats_id(state: &DeviceState) -> &'static str {
    if is_nano3s(state) {
        "AVALON0"
    } else {
        "AVANANO0"
    }
}

fn stats(state: &DeviceState, with_pool: bool) -> Reply {
    let elapsed = state.uptime_s();
    let mut items = vec![
        obj()
            .field("STATS", 0)
            .field("ID", stats_id(state))
            .field("Elapsed", elapsed)
            .field("Calls", 0)
            .field("Wait", fixed(0.0, 6))
            .field("Max", fixed(0.0, 6))
            .field("Min", fixed(99_999_999.0, 6))
            .field("MM ID0", mm_id0(state))
            .field("MM Count", 1)
            .field("Nonce Mask", 25)
            .build(),
    ];
    if with_pool {
        items.push(
            obj()
                .field("STATS", 1)
                .field("ID", "POOL0")
                .field("Elapsed", elapsed)
                .field("Calls", 0)
                .field("Wait", fixed(0.0, 6))
                .field("Max", fixed(0.0, 6))
                .field("Min", fixed(99_999_999.0, 6))
                .field("Pool Calls", 0)
                .field("Pool Attempts", 0)
                .field("Pool Wait", fixed(0.0, 6))
                .field("Pool Max", fixed(0.0, 6))
                .field("Pool Min", fixed(99_999_999.0, 6))
                .field("Pool Av", fixed(0.0, 6))
                .field("Work Had Roll Time", false)
                .field("Work Can Roll", false)
                .field("Work Had Expire", false)
                .field("Work Roll Time", 0)
                .field("Work Diff", fixed(state.profile.pool_diff, 8))
                .field("Min Diff", fixed(state.profile.pool_diff, 8))
                .field("Max Diff", fixed(state.profile.pool_diff, 8))
                .field("Min Diff Count", 1)
                .field("Max Diff Count", state.accepted)
                .field("Times Sent", state.accepted + state.rejected)
                .field("Bytes Sent", (state.accepted + state.rejected) * 164)
                .field("Times Recv", elapsed / 30)
                .field("Bytes Recv", elapsed / 30 * 555)
                .field("Net Bytes Sent", (state.accepted + state.rejected) * 164)
                .field("Net Bytes Recv", elapsed / 30 * 555)
                .build(),
        );
    }
    Reply::status("S", 70, "CGMiner stats").with("STATS", items)
}

fn litestats(state: &DeviceState) -> Reply {
    let (_, _, board) = temps(state);
    let blob = format!(
        "LVer[{fw}] BVer[{fw}] FW[Release] STATE[2] MODE[{mode}] LEVEL[0] GHSspd[{ghs:.2}] \
         ITemp[-273] OTemp[{board}] Limitemp[{target}] FanR[{fan}%] Filter[0] LED[0-0] \
         LEDUser[0-100-100-5-0-255] LcdOnoff[1] LcdSwitch[2] LcdBright[100] ECHU[0] ECMM[0] \
         SSID[HomeWiFi] RSSI[{rssi}] NetDevType[1]",
        fw = state.profile.firmware,
        mode = state.workmode,
        ghs = state.hashrate_hs / 1e9,
        target = state.profile.modes[usize::from(state.workmode).min(2)].target_temp_c,
        fan = state.fan_pct.round() as i64,
        rssi = state.rssi,
    );
    let item = obj().field("MM ID0", blob).build();
    Reply::status("S", 70, "CGMiner stats").with("STATS", vec![item])
}

fn devdetails(state: &DeviceState) -> Reply {
    let item = obj()
        .field("DEVDETAILS", 0)
        .field("Name", "AVALON")
        .field("ID", 0)
        .field("Driver", "avalon")
        .field("Kernel", "")
        .field("Model", state.profile.device_model)
        .field("Device Path", "")
        .build();
    Reply::status("S", 69, "Device Details").with("DEVDETAILS", vec![item])
}

fn check(parameter: &str) -> Reply {
    const COMMANDS: &[&str] = &[
        "version",
        "config",
        "devs",
        "edevs",
        "pools",
        "summary",
        "switchpool",
        "poolpriority",
        "enablepool",
        "disablepool",
        "setpool",
        "devdetails",
        "stats",
        "estats",
        "litestats",
        "check",
        "coin",
        "ascset",
        "lcd",
        "lockstats",
        "time",
    ];
    let exists = if COMMANDS.contains(&parameter.trim()) {
        "Y"
    } else {
        "N"
    };
    let item = obj()
        .field("Exists", exists)
        .field("Access", exists)
        .build();
    Reply::status("S", 72, "Check command").with("CHECK", vec![item])
}

fn set_ok() -> Reply {
    Reply::status("S", 119, "ASC 0 set OK")
}

fn set_info(text: impl AsRef<str>) -> Reply {
    Reply::status("I", 118, format!("ASC 0 set info: {}", text.as_ref()))
}

fn set_failed(text: impl AsRef<str>) -> Reply {
    Reply::status("E", 120, format!("ASC 0 set failed: {}", text.as_ref()))
}

/// `ascset|0,<option>[,<value>...]` (§3.5).
fn ascset(state: &mut DeviceState, parameter: &str) -> Reply {
    let parts: Vec<&str> = parameter.split(',').map(str::trim).collect();
    if parameter.trim().is_empty() {
        return Reply::status("E", 15, "Missing device id parameter");
    }
    if parts[0] != "0" {
        return Reply::status(
            "E",
            107,
            format!("Invalid ASC id {} - range is 0 - 0", parts[0]),
        );
    }
    let Some(option) = parts.get(1).filter(|option| !option.is_empty()) else {
        return Reply::status("E", 116, "Missing option after ASC number");
    };
    let args = &parts[2..];
    let nano3s = is_nano3s(state);
    // The soft switch came with firmware newer than the Nano 3S source's option table;
    // the simulated 3S plays such a firmware, the original Nano 3 does not have it.
    if nano3s && matches!(*option, "softoff" | "softon") {
        return soft_switch(state, option, args);
    }
    let known = NANO3S_OPTIONS.contains(option)
        && (nano3s || !matches!(*option, "workmode" | "work_mode_lvl"));
    if !known {
        return set_failed(format!("Unknown option: {option}"));
    }
    match *option {
        "help" if nano3s => set_info(format!("{}|softon|softoff|", NANO3S_OPTIONS.join("|"))),
        "help" => set_info(format!("{}|", NANO3S_OPTIONS.join("|"))),
        "workmode" => match setting(args) {
            Setting::Get => set_info(format!("workmode {}", state.workmode)),
            Setting::Set(value) => switch_mode(state, value, "workmode", "max_mode"),
            Setting::Invalid => set_failed("invalid workmode value"),
        },
        "worklevel" => match setting(args) {
            Setting::Get => set_info(format!(
                "worklevel {}",
                if nano3s { 0 } else { state.workmode }
            )),
            Setting::Set(0) if nano3s => set_ok(),
            Setting::Set(_) if nano3s => {
                set_failed("error:1 not support set worklevel max_level[0]")
            }
            Setting::Set(value) => switch_mode(state, value, "worklevel", "max_level"),
            Setting::Invalid => set_failed("invalid worklevel value"),
        },
        "work_mode_lvl" => match args {
            [] | ["get"] => set_info(format!("workmode {} worklevel 0", state.workmode)),
            ["set", mode, "0"] | [mode, "0"] => match mode.parse::<u8>() {
                Ok(mode) => switch_mode(state, mode, "workmode", "max_mode"),
                Err(_) => set_failed("invalid workmode value"),
            },
            _ => set_failed("invalid work_mode_lvl value"),
        },
        "fan-spd" => match args.first().and_then(|value| value.parse::<i32>().ok()) {
            Some(-1) => {
                state.manual_fan_pct = None;
                set_ok()
            }
            Some(value) if (15..=100).contains(&value) => {
                state.manual_fan_pct = Some(f64::from(value));
                set_ok()
            }
            _ => set_failed(
                "invalid fan value, valid range 15-100 for stable pwm,-1 for auto adjust",
            ),
        },
        "reboot" => match args.first().and_then(|value| value.parse::<u64>().ok()) {
            Some(delay) if delay <= 300 => {
                state.schedule_reboot(delay);
                set_ok()
            }
            _ => set_failed("invalid reboot delay, valid range 0-300"),
        },
        "voltage" if args.is_empty() => {
            let mode = &state.profile.modes[usize::from(state.workmode).min(2)];
            set_info(format!(
                "PS[0 0 {} 4 0 {} {}]",
                state.input_mv.round() as i64,
                mode.volt,
                state.power_w.round() as i64
            ))
        }
        _ => set_ok(),
    }
}

/// `softoff,1:<unix_ts>` / `softon,1:<unix_ts>` (§3.5): schedules standby or wake at
/// `unix_ts` and answers `success <option>:<unix_ts>` as the Avalon Q does
/// (`fixtures/avalon_q_ascset_softoff_asic-rs.json`).
fn soft_switch(state: &mut DeviceState, option: &str, args: &[&str]) -> Reply {
    let trigger = match args {
        [value] => value
            .split_once(':')
            .filter(|(index, _)| *index == "1")
            .and_then(|(_, ts)| ts.parse::<u64>().ok()),
        _ => None,
    };
    let Some(trigger) = trigger else {
        return set_failed(format!("invalid {option} value, expect 1:<unix time>"));
    };
    state.schedule_soft_switch(trigger, option == "softoff");
    set_info(format!("success {option}:{trigger}"))
}

enum Setting {
    Get,
    Set(u8),
    Invalid,
}

/// `get` / `set,N` / bare `N` (both forms are sent by tools in the wild).
fn setting(args: &[&str]) -> Setting {
    let value = match args {
        [] | ["get"] => return Setting::Get,
        ["set", value] | [value] => value,
        _ => return Setting::Invalid,
    };
    value.parse().map_or(Setting::Invalid, Setting::Set)
}

fn switch_mode(state: &mut DeviceState, value: u8, name: &str, max_name: &str) -> Reply {
    let max = state.profile.modes.len().saturating_sub(1);
    if usize::from(value) > max {
        return set_failed(format!("error:1 not support set {name} {max_name}[{max}]"));
    }
    if state.calibrating() {
        return set_failed(format!(
            "current mode {} is caling Don't permit switch mode",
            state.workmode
        ));
    }
    if value != state.workmode {
        state.workmode = value;
        state.start_calibration();
    }
    set_ok()
}

fn switchpool(state: &mut DeviceState, parameter: &str) -> Reply {
    let count = state
        .pools
        .iter()
        .filter(|pool| !pool.url.is_empty())
        .count();
    let Ok(index) = parameter.trim().parse::<usize>() else {
        return Reply::status("E", 25, "Missing pool id parameter");
    };
    if index >= count {
        return Reply::status(
            "E",
            26,
            format!(
                "Invalid pool id {index} - range is 0 - {}",
                count.saturating_sub(1)
            ),
        );
    }
    state.active_pool = index;
    Reply::status(
        "S",
        27,
        format!("Switching to pool {index}:'{}'", state.pools[index].url),
    )
}

/// `setpool|<admin user>,<admin password or hash>,<index 0-2>,<url>,<worker>,<worker password>`.
/// The reply text of Canaan's custom command is not documented; this one says what happened.
fn setpool(state: &mut DeviceState, parameter: &str) -> Reply {
    let parts: Vec<&str> = parameter.splitn(6, ',').collect();
    let [admin, password, index, url, worker, worker_password] = parts[..] else {
        return Reply::status(
            "E",
            121,
            "Missing setpool parameter: user,password,index,url,worker,workerpass",
        );
    };
    if admin != "root" || (password != ADMIN_PASSWORD && password != ADMIN_PASSWORD_HASH) {
        return Reply::status("E", 45, "Access denied to 'setpool' command");
    }
    let Some(index) = index.parse::<usize>().ok().filter(|index| *index < 3) else {
        return Reply::status("E", 26, format!("Invalid pool id {index} - range is 0 - 2"));
    };
    if url.is_empty() {
        return Reply::status("E", 121, "Missing setpool parameter: url");
    }
    state.pools[index].url = url.to_string();
    state.pools[index].user = worker.to_string();
    state.pools[index].password = worker_password.to_string();
    Reply::status("S", 122, format!("Set pool {index} to '{url}'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_json_and_plain_requests() {
        let json =
            parse_request(br#"{"command":"ascset","parameter":"0,workmode,set,1"}"#).unwrap();
        assert_eq!(json.name, "ascset");
        assert_eq!(json.parameter, "0,workmode,set,1");
        assert_eq!(json.encoding, Encoding::Json);
        let numeric = parse_request(br#"{"command":"switchpool","parameter":1}"#).unwrap();
        assert_eq!(numeric.parameter, "1");
        let plain = parse_request(b"ascset|0,reboot,0\n").unwrap();
        assert_eq!(
            (plain.name.as_str(), plain.parameter.as_str()),
            ("ascset", "0,reboot,0")
        );
        assert!(parse_request(b"{\"command\":").is_err());
        assert!(parse_request(b"{\"cmd\":\"x\"}").is_err());
    }

    #[test]
    fn request_completion_detection() {
        assert!(request_complete(br#"{"command":"summary"}"#));
        assert!(!request_complete(br#"{"command":"sum"#));
        assert!(request_complete(b"summary\n"));
        assert!(!request_complete(b"summary"));
    }

    #[test]
    fn plain_rendering_follows_cgminer() {
        let reply = Reply::status("S", 11, "Summary").with(
            "SUMMARY",
            vec![
                obj()
                    .field("Elapsed", 5)
                    .field("MHS av", fixed(1.5, 2))
                    .build(),
            ],
        );
        assert_eq!(
            reply.render_plain(7),
            "STATUS=S,When=7,Code=11,Msg=Summary,Description=cgminer 4.11.1|SUMMARY,Elapsed=5,MHS av=1.50|"
        );
        assert_eq!(
            Reply::invalid_command().render_json(7),
            r#"{"STATUS":[{"STATUS":"E","When":7,"Code":14,"Msg":"Invalid command"}],"id":1}"#
        );
    }
}
