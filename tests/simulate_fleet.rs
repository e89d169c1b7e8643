//! The simulated fleet seen from outside, through plain tokio sockets (not hmm's drivers):
//! reply shapes against the fixtures, control commands, calibration, UDP telemetry,
//! fault modes and a 200-device fleet.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hmm::simulate::{Fault, FleetSpec, SimFleet, SimModel};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// Reads a fixture from `shared/fixtures`, which sits beside the checkout (`../shared`);
/// a worktree one level deeper finds it one directory further up; else the copy in
/// `tests/fixtures/`.
fn fixture(name: &str) -> Vec<u8> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = root
        .ancestors()
        .skip(1)
        .map(|dir| dir.join("shared/fixtures").join(name))
        .chain(std::iter::once(root.join("tests/fixtures").join(name)))
        .find(|path| path.exists())
        .unwrap_or_else(|| {
            panic!(
                "fixture {name} not found in a shared/fixtures beside {}",
                root.display()
            )
        });
    std::fs::read(&path).unwrap_or_else(|err| panic!("read {}: {err}", path.display()))
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).unwrap()
}

fn keys(value: &Value) -> BTreeSet<String> {
    value.as_object().expect("object").keys().cloned().collect()
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Sends raw bytes, reads until the server closes (at most `limit`).
async fn exchange(addr: SocketAddr, request: &[u8], limit: Duration) -> Result<Vec<u8>, String> {
    let attempt = async {
        let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        stream.write_all(request).await.map_err(|e| e.to_string())?;
        let mut reply = Vec::new();
        stream
            .read_to_end(&mut reply)
            .await
            .map_err(|e| e.to_string())?;
        Ok(reply)
    };
    tokio::time::timeout(limit, attempt)
        .await
        .map_err(|_| "timed out".to_string())?
}

struct HttpReply {
    status: u16,
    head: String,
    body: Vec<u8>,
}

async fn http(addr: SocketAddr, method: &str, path: &str, headers: &str, body: &str) -> HttpReply {
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let raw = exchange(addr, request.as_bytes(), Duration::from_secs(5))
        .await
        .unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("blank line");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let status = head[9..12].parse().unwrap();
    HttpReply {
        status,
        head,
        body: raw[split + 4..].to_vec(),
    }
}

async fn get_json(addr: SocketAddr, path: &str) -> Value {
    let reply = http(addr, "GET", path, "", "").await;
    assert_eq!(reply.status, 200, "{path}: {}", reply.head);
    serde_json::from_slice(&reply.body).unwrap_or_else(|err| panic!("{path}: {err}"))
}

/// One cgminer request; asserts the reply ends with exactly one NUL and returns the JSON.
async fn cgminer(addr: SocketAddr, request: &str) -> Value {
    let raw = exchange(addr, request.as_bytes(), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(raw.last(), Some(&0), "{request}: no NUL terminator");
    assert_eq!(
        raw.iter().filter(|b| **b == 0).count(),
        1,
        "{request}: more than one NUL"
    );
    serde_json::from_slice(&raw[..raw.len() - 1]).unwrap_or_else(|err| panic!("{request}: {err}"))
}

fn status_of(reply: &Value) -> (String, u64, String) {
    let status = &reply["STATUS"][0];
    (
        status["STATUS"].as_str().unwrap().to_string(),
        status["Code"].as_u64().unwrap(),
        status["Msg"].as_str().unwrap().to_string(),
    )
}

async fn fleet_of(models: &[SimModel]) -> SimFleet {
    let spec = FleetSpec::of_models(models.iter().copied(), 7);
    SimFleet::start(spec).await.unwrap()
}

#[tokio::test]
async fn axeos_info_has_the_fixture_shape_of_each_generation() {
    let fleet = fleet_of(&[
        SimModel::BitaxeGammaV2_15,
        SimModel::BitaxeGammaV2_10,
        SimModel::NerdQaxePlusPlus,
        SimModel::BitaxeSupraV2_4,
    ])
    .await;
    let cases = [
        ("sim-gamma-v2-15-1", "bitaxe_system_info.json"),
        ("sim-gamma-v2-10-1", "bitaxe_system_info_v2_10.json"),
        ("sim-nerdqaxe-1", "nerdqaxe_system_info_v1_0_38.json"),
    ];
    for (name, file) in cases {
        let device = fleet.device(name).unwrap();
        let info = get_json(device.addr, "/api/system/info").await;
        let expected = fixture_json(file);
        assert_eq!(keys(&info), keys(&expected), "{name} key set");
        for key in keys(&expected) {
            assert_eq!(
                json_type(&info[&key]),
                json_type(&expected[&key]),
                "{name}: type of {key}"
            );
        }
    }
    let head = get_json(
        fleet.device("sim-gamma-v2-15-1").unwrap().addr,
        "/api/system/info",
    )
    .await;
    assert!(head["bestDiff"].is_u64());
    assert_eq!(head["pools"].as_array().unwrap().len(), 2);
    assert_eq!(head["pools"][0]["stratumPassword"], "*****");
    let ghs = head["hashRate"].as_f64().unwrap();
    assert!(
        (1000.0..1150.0).contains(&ghs),
        "Gamma at 525 MHz: {ghs} GH/s"
    );
    assert_eq!(head["expectedHashrate"], 1071);
    // Units as the firmware reports them: W, mV, mA (P = U·I within sensor rounding).
    let (power, millivolts, milliamps) = (
        head["power"].as_f64().unwrap(),
        head["voltage"].as_f64().unwrap(),
        head["current"].as_f64().unwrap(),
    );
    assert!((15.0..21.0).contains(&power), "{power} W");
    assert!((4900.0..5100.0).contains(&millivolts), "{millivolts} mV");
    assert!(
        (power - millivolts * milliamps / 1e6).abs() < 0.3,
        "{power} W vs {millivolts} mV × {milliamps} mA"
    );

    let old = fleet.device("sim-gamma-v2-10-1").unwrap();
    let raw = http(old.addr, "GET", "/api/system/info", "", "").await;
    assert!(
        raw.body.starts_with(b"{\n\t\"power\":\t"),
        "v2.10 is tab-indented cJSON"
    );
    let v2_10: Value = serde_json::from_slice(&raw.body).unwrap();
    let best = v2_10["bestDiff"]
        .as_str()
        .expect("v2.10 bestDiff is a string");
    assert!(hmm::units::parse_si(best).unwrap() > 1000.0, "{best}");

    let supra = get_json(
        fleet.device("sim-supra-v2-4-1").unwrap().addr,
        "/api/system/info",
    )
    .await;
    assert!(supra["bestDiff"].is_string());
    assert_eq!(supra["stratumDiff"], 1024);
    assert_eq!(supra["asicCount"], 1);
    assert!(supra.get("flipscreen").is_some() && supra.get("poolDifficulty").is_none());
    assert!(supra["voltage"].is_i64(), "v2.4 voltage is integer mV");

    let nerd = get_json(
        fleet.device("sim-nerdqaxe-1").unwrap().addr,
        "/api/system/info",
    )
    .await;
    let max_chip = nerd["asicTemps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_f64().unwrap())
        .fold(f64::MIN, f64::max);
    assert_eq!(
        nerd["temp"].as_f64().unwrap(),
        max_chip,
        "NerdQAxe temp = hottest chip"
    );
    assert!(nerd["bestDiff"].is_u64());
    fleet.shutdown().await;
}

#[tokio::test]
async fn axeos_asic_endpoint_per_generation() {
    let fleet = fleet_of(&[
        SimModel::BitaxeGammaV2_15,
        SimModel::NerdQaxePlusPlus,
        SimModel::BitaxeSupraV2_4,
    ])
    .await;
    let head = get_json(fleet.devices()[0].addr, "/api/system/asic").await;
    let mut expected = keys(&fixture_json("bitaxe_system_asic.json"));
    expected.insert("hashDomains".into());
    assert_eq!(keys(&head), expected);
    assert_eq!(head["deviceModel"], "Gamma");
    let nerd = get_json(fleet.devices()[1].addr, "/api/system/asic").await;
    assert_eq!(nerd, fixture_json("nerdqaxe_system_asic.json"));
    // v2.4 predates /api/system/asic: the catch-all serves the AxeOS web UI.
    let old = http(fleet.devices()[2].addr, "GET", "/api/system/asic", "", "").await;
    assert!(String::from_utf8_lossy(&old.body).contains("<title>AxeOS</title>"));
    let missing = http(fleet.devices()[0].addr, "GET", "/api/nope", "", "").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body, br#"{"error":"unknown route"}"#);
    fleet.shutdown().await;
}

#[tokio::test]
async fn patch_changes_frequency_hashrate_and_power() {
    let fleet = fleet_of(&[SimModel::BitaxeGammaV2_15, SimModel::BitaxeGammaV2_10]).await;
    let device = &fleet.devices()[0];
    let before = device.control.snapshot();
    let reply = http(
        device.addr,
        "PATCH",
        "/api/system",
        "",
        r#"{"frequency":400,"coreVoltage":1060}"#,
    )
    .await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.is_empty());
    device.control.advance(Duration::from_secs(5));
    let after = device.control.snapshot();
    assert_eq!(after.frequency_mhz, Some(400.0));
    assert_eq!(after.core_voltage_mv, Some(1060.0));
    assert!(
        after.hashrate_hs < before.hashrate_hs * 0.85,
        "{} vs {}",
        after.hashrate_hs,
        before.hashrate_hs
    );
    assert!(
        after.power_w < before.power_w * 0.75,
        "{} vs {}",
        after.power_w,
        before.power_w
    );
    let info = get_json(device.addr, "/api/system/info").await;
    assert_eq!(info["frequency"], 400);
    assert_eq!(info["expectedHashrate"], 816);

    // HEAD validates everything before writing anything.
    let bad = http(
        device.addr,
        "PATCH",
        "/api/system",
        "",
        r#"{"frequency":500,"coreVoltage":"high"}"#,
    )
    .await;
    assert_eq!(
        (bad.status, bad.body.as_slice()),
        (400, b"Wrong API input".as_slice())
    );
    assert_eq!(device.control.snapshot().frequency_mhz, Some(400.0));
    let broken = http(device.addr, "PATCH", "/api/system", "", "{frequency").await;
    assert_eq!(
        (broken.status, broken.body.as_slice()),
        (400, b"Invalid JSON".as_slice())
    );

    // Pools through pools[]; "*****" keeps the stored password.
    let pools = r#"{"pools":[{"id":0,"stratumURL":"pool.example.org","stratumPort":4444,"stratumUser":"me.rig","stratumPassword":"*****"}]}"#;
    assert_eq!(
        http(device.addr, "PATCH", "/api/system", "", pools)
            .await
            .status,
        200
    );
    let snapshot = device.control.snapshot();
    assert_eq!(
        (snapshot.pool_url.as_str(), snapshot.pool_port),
        ("pool.example.org", 4444)
    );
    assert_eq!(snapshot.pool_user, "me.rig");

    // v2.10: flat keys, case-insensitive (cJSON), no validation.
    let old = &fleet.devices()[1];
    let flat = r#"{"StratumURL":"flat.example.org","stratumPort":3334,"FREQUENCY":490}"#;
    assert_eq!(
        http(old.addr, "PATCH", "/api/system", "", flat)
            .await
            .status,
        200
    );
    let snapshot = old.control.snapshot();
    assert_eq!(snapshot.pool_url, "flat.example.org");
    assert_eq!(snapshot.frequency_mhz, Some(490.0));
    fleet.shutdown().await;
}

#[tokio::test]
async fn restart_resets_uptime_and_shares_in_both_reply_styles() {
    let fleet = fleet_of(&[SimModel::BitaxeGammaV2_15, SimModel::BitaxeGammaV2_10]).await;
    for device in fleet.devices() {
        let before = device.control.snapshot();
        assert!(before.uptime_s >= 3600 && before.shares_accepted > 0);
        let reply = http(device.addr, "POST", "/api/system/restart", "", "").await;
        assert_eq!(reply.status, 200);
        if device.model == SimModel::BitaxeGammaV2_15 {
            assert_eq!(reply.body, br#"{"message":"System will restart shortly."}"#);
        } else {
            assert_eq!(reply.body, b"System will restart shortly.");
        }
        let info = get_json(device.addr, "/api/system/info").await;
        assert!(info["uptimeSeconds"].as_u64().unwrap() < 5);
        assert!(info["sharesAccepted"].as_u64().unwrap() < before.shares_accepted);
        assert_eq!(device.control.snapshot().restarts, 1);
    }
    fleet.shutdown().await;
}

#[tokio::test]
async fn axeos_refuses_non_private_clients_and_origins() {
    let fleet = fleet_of(&[SimModel::BitaxeGammaV2_15]).await;
    let device = &fleet.devices()[0];
    let public = http(
        device.addr,
        "GET",
        "/api/system/info",
        "Origin: http://8.8.8.8\r\n",
        "",
    )
    .await;
    assert_eq!(
        (public.status, public.body.as_slice()),
        (401, b"Unauthorized".as_slice())
    );
    let named = http(
        device.addr,
        "PATCH",
        "/api/system",
        "Origin: http://evil.example\r\n",
        "{}",
    )
    .await;
    assert_eq!(named.status, 401);
    let private = http(
        device.addr,
        "GET",
        "/api/system/info",
        "Origin: http://192.168.1.20:4200\r\n",
        "",
    )
    .await;
    assert_eq!(private.status, 200);
    device
        .control
        .set_client_ip_override(Some("203.0.113.9".parse().unwrap()));
    assert_eq!(
        http(device.addr, "GET", "/api/system/info", "", "")
            .await
            .status,
        401
    );
    device.control.set_ap_mode(true);
    assert_eq!(
        http(device.addr, "GET", "/api/system/info", "", "")
            .await
            .status,
        200
    );
    fleet.shutdown().await;
}

#[tokio::test]
async fn nano3s_estats_in_the_fixture_state_is_byte_identical() {
    let fleet = fleet_of(&[SimModel::AvalonNano3s]).await;
    let device = &fleet.devices()[0];
    assert!(device.control.load_fixture_state());
    let raw = exchange(
        device.addr,
        br#"{"command":"estats"}"#,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let expected = fixture("avalon_nano3s_estats.wire");
    assert_eq!(
        String::from_utf8_lossy(&raw),
        String::from_utf8_lossy(&expected)
    );
    assert_eq!(raw, expected);
    fleet.shutdown().await;
}

#[tokio::test]
async fn cgminer_replies_match_the_fixture_shapes() {
    let fleet = fleet_of(&[SimModel::AvalonNano3s, SimModel::AvalonNano3]).await;
    let nano3s = fleet.devices()[0].addr;
    let version = cgminer(nano3s, r#"{"command":"version"}"#).await;
    let expected = fixture_json("avalon_nano3s_version.json");
    assert_eq!(keys(&version["VERSION"][0]), keys(&expected["VERSION"][0]));
    assert_eq!(keys(&version["STATUS"][0]), keys(&expected["STATUS"][0]));
    assert_eq!(version["VERSION"][0]["PROD"], "Avalon Nano3s");
    assert_eq!(version["id"], 1);

    let summary = cgminer(nano3s, r#"{"command":"summary"}"#).await;
    assert_eq!(status_of(&summary), ("S".into(), 11, "Summary".into()));
    let summary_keys = keys(&summary["SUMMARY"][0]);
    assert!(
        keys(&fixture_json("avalon_nano3s_summary.json")["SUMMARY"][0]).is_subset(&summary_keys)
    );
    let mhs = summary["SUMMARY"][0]["MHS 5s"].as_f64().unwrap();
    assert!((6.0e6..7.5e6).contains(&mhs), "MH/s: {mhs}");

    let lcd = cgminer(nano3s, r#"{"command":"lcd"}"#).await;
    assert_eq!(
        keys(&lcd["LCD"][0]),
        keys(&fixture_json("avalon_nano3s_lcd.json")["LCD"][0])
    );
    let devs = cgminer(nano3s, r#"{"command":"devs"}"#).await;
    assert!(
        keys(&fixture_json("avalon_q_devs_asic-rs.json")["DEVS"][0])
            .is_subset(&keys(&devs["DEVS"][0]))
    );
    let pools = cgminer(nano3s, r#"{"command":"pools"}"#).await;
    let mut pool_keys = keys(&fixture_json("avalon_q_pools_asic-rs.json")["POOLS"][0]);
    pool_keys.remove("Password"); // newer Q firmware only, and a secret
    assert!(pool_keys.is_subset(&keys(&pools["POOLS"][0])));
    assert_eq!(pools["POOLS"].as_array().unwrap().len(), 2);

    // Plain-text requests get plain-text replies, '|'-separated, one NUL.
    let plain = exchange(nano3s, b"summary", Duration::from_secs(5))
        .await
        .unwrap();
    let text = String::from_utf8(plain).unwrap();
    assert!(text.starts_with("STATUS=S,When="), "{text}");
    assert!(text.contains("|SUMMARY,Elapsed="));
    assert!(text.ends_with("|\0"));

    // Joined commands nest each reply under its name.
    let joined = cgminer(nano3s, r#"{"command":"summary+estats"}"#).await;
    assert!(joined["summary"][0]["SUMMARY"].is_array() && joined["estats"][0]["STATS"].is_array());

    // Original Nano 3: AVANANO0, WORKLEVEL, no WORKMODE.
    let nano3 = fleet.devices()[1].addr;
    let stats = cgminer(nano3, r#"{"command":"stats"}"#).await;
    assert_eq!(stats["STATS"][0]["ID"], "AVANANO0");
    let blob = stats["STATS"][0]["MM ID0"].as_str().unwrap();
    assert!(
        blob.contains("WORKLEVEL[1]") && !blob.contains("WORKMODE["),
        "{blob}"
    );
    assert_eq!(stats["STATS"][1]["ID"], "POOL0");
    let invalid = cgminer(nano3, r#"{"command":"restart"}"#).await;
    assert_eq!(
        status_of(&invalid),
        ("E".into(), 14, "Invalid command".into())
    );
    assert!(invalid["STATUS"][0].get("Description").is_none());
    fleet.shutdown().await;
}

#[tokio::test]
async fn workmode_changes_power_and_is_refused_while_calibrating() {
    let fleet = fleet_of(&[SimModel::AvalonNano3s, SimModel::AvalonNano3]).await;
    let device = &fleet.devices()[0];
    let before = device.control.snapshot();
    assert_eq!((before.workmode, before.calibrating), (Some(2), false));
    let set = cgminer(
        device.addr,
        r#"{"command":"ascset","parameter":"0,workmode,set,0"}"#,
    )
    .await;
    assert_eq!(status_of(&set), ("S".into(), 119, "ASC 0 set OK".into()));
    device.control.advance(Duration::from_secs(2));
    let eco = device.control.snapshot();
    assert_eq!((eco.workmode, eco.calibrating), (Some(0), true));
    assert!(eco.power_w < before.power_w * 0.7 && eco.hashrate_hs < before.hashrate_hs * 0.7);
    let stats = cgminer(device.addr, r#"{"command":"estats"}"#).await;
    let blob = stats["STATS"][0]["MM ID0"].as_str().unwrap().to_string();
    assert!(
        blob.contains("WORKMODE[0]") && blob.contains("ADJ[0]"),
        "{blob}"
    );

    let plain = exchange(device.addr, b"ascset|0,workmode,1", Duration::from_secs(5))
        .await
        .unwrap();
    let plain = String::from_utf8(plain).unwrap();
    assert!(
        plain.starts_with("STATUS=E,") && plain.contains("Code=120,") && plain.ends_with("|\0"),
        "{plain}"
    );
    let refused = cgminer(
        device.addr,
        r#"{"command":"ascset","parameter":"0,workmode,1"}"#,
    )
    .await;
    assert_eq!(
        status_of(&refused),
        (
            "E".into(),
            120,
            "ASC 0 set failed: current mode 0 is caling Don't permit switch mode".into()
        )
    );
    let too_high = cgminer(
        device.addr,
        r#"{"command":"ascset","parameter":"0,workmode,set,3"}"#,
    )
    .await;
    assert_eq!(
        status_of(&too_high).2,
        "ASC 0 set failed: error:1 not support set workmode max_mode[2]"
    );

    device.control.advance(Duration::from_secs(121));
    let accepted = cgminer(
        device.addr,
        r#"{"command":"ascset","parameter":"0,workmode,set,1"}"#,
    )
    .await;
    assert_eq!(status_of(&accepted).1, 119);
    let get = cgminer(
        device.addr,
        r#"{"command":"ascset","parameter":"0,workmode,get"}"#,
    )
    .await;
    assert_eq!(
        status_of(&get),
        ("I".into(), 118, "ASC 0 set info: workmode 1".into())
    );

    // Reboot: counters reset and the device calibrates again.
    device.control.advance(Duration::from_secs(121));
    let reboot = cgminer(
        device.addr,
        r#"{"command":"ascset","parameter":"0,reboot,0"}"#,
    )
    .await;
    assert_eq!(status_of(&reboot).1, 119);
    let rebooted = device.control.snapshot();
    assert_eq!(rebooted.restarts, 1);
    assert!(rebooted.calibrating && rebooted.uptime_s < 5);
    let summary = cgminer(device.addr, r#"{"command":"summary"}"#).await;
    assert!(summary["SUMMARY"][0]["Elapsed"].as_u64().unwrap() < 5);

    // Original Nano 3: modes are WORKLEVEL; WORKMODE is an unknown option.
    let nano3 = &fleet.devices()[1];
    let level = cgminer(
        nano3.addr,
        r#"{"command":"ascset","parameter":"0,worklevel,set,2"}"#,
    )
    .await;
    assert_eq!(status_of(&level).1, 119);
    assert_eq!(nano3.control.snapshot().workmode, Some(2));
    let mode = cgminer(
        nano3.addr,
        r#"{"command":"ascset","parameter":"0,workmode,set,1"}"#,
    )
    .await;
    assert_eq!(
        status_of(&mode).2,
        "ASC 0 set failed: Unknown option: workmode"
    );
    fleet.shutdown().await;
}

#[tokio::test]
async fn cgminer_pool_commands() {
    let fleet = fleet_of(&[SimModel::AvalonNano3s]).await;
    let device = &fleet.devices()[0];
    let denied = cgminer(
        device.addr,
        r#"{"command":"setpool","parameter":"root,wrong,1,stratum+tcp://p.example:3333,w,x"}"#,
    )
    .await;
    assert_eq!(status_of(&denied).0, "E");
    let set = cgminer(
        device.addr,
        r#"{"command":"setpool","parameter":"root,admin,1,stratum+tcp://p.example:3333,me.nano,x"}"#,
    )
    .await;
    assert_eq!(status_of(&set).0, "S");
    let switch = cgminer(device.addr, r#"{"command":"switchpool","parameter":"1"}"#).await;
    assert_eq!(
        status_of(&switch),
        (
            "S".into(),
            27,
            "Switching to pool 1:'stratum+tcp://p.example:3333'".into()
        )
    );
    let snapshot = device.control.snapshot();
    assert_eq!(
        (snapshot.pool_url.as_str(), snapshot.pool_user.as_str()),
        ("stratum+tcp://p.example:3333", "me.nano")
    );
    let out_of_range = cgminer(device.addr, r#"{"command":"switchpool","parameter":"7"}"#).await;
    assert_eq!(status_of(&out_of_range).1, 26);
    // addpool is not compiled into the Nano 3S cgminer (protocols.md §3.1).
    let addpool = cgminer(device.addr, r#"{"command":"addpool","parameter":"a,b,c"}"#).await;
    assert_eq!(status_of(&addpool).1, 14);
    fleet.shutdown().await;
}

async fn receive_json(socket: &UdpSocket) -> (Value, SocketAddr) {
    let mut buffer = vec![0u8; 4096];
    let (len, from) = tokio::time::timeout(Duration::from_secs(3), socket.recv_from(&mut buffer))
        .await
        .expect("a datagram within 3 s")
        .unwrap();
    (
        serde_json::from_slice(&buffer[..len]).expect("datagram is JSON"),
        from,
    )
}

#[tokio::test]
async fn nmminer_datagrams_config_and_http_probe() {
    let listener = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut spec = FleetSpec::of_models([SimModel::Nmminer, SimModel::NmaxeGamma], 5);
    spec.nmminer_target = listener.local_addr().unwrap();
    spec.nmminer_interval = Duration::from_millis(100);
    let fleet = SimFleet::start(spec).await.unwrap();
    let (nm, nmaxe) = (&fleet.devices()[0], &fleet.devices()[1]);
    let mut seen_nm = false;
    let mut seen_nmaxe = false;
    while !(seen_nm && seen_nmaxe) {
        let (payload, from) = receive_json(&listener).await;
        if payload.get("IP").is_some() {
            assert_eq!(keys(&payload), keys(&fixture_json("nmminer_udp.json")));
            assert_eq!(payload["IP"].as_str().unwrap(), from.ip().to_string());
            assert_eq!(from.ip(), nm.addr.ip());
            let hashrate = payload["HashRate"].as_str().unwrap();
            let hs = hmm::units::parse_si(hashrate).unwrap();
            assert!((800e3..1100e3).contains(&hs), "{hashrate}");
            let share = payload["Share"].as_str().unwrap();
            let (rejected, accepted) = share.split_once('/').unwrap();
            assert!(
                rejected.parse::<u64>().is_ok() && accepted.parse::<u64>().unwrap() > 0,
                "{share}"
            );
            let uptime = payload["Uptime"].as_str().unwrap();
            assert_eq!(uptime.len(), 12, "{uptime}");
            assert_eq!(&uptime[2..4], "d ");
            seen_nm = true;
        } else {
            assert_eq!(keys(&payload), keys(&fixture_json("nmaxe_udp.json")));
            assert_eq!(from.ip(), nmaxe.addr.ip());
            assert!(payload["HashRate"].as_str().unwrap().ends_with("TH/s"));
            assert_eq!(payload["Share"].as_str().unwrap().split('/').count(), 3);
            assert!(payload["BestDiff"].as_str().unwrap().contains('\r'));
            assert!(payload["Power"].as_str().unwrap().ends_with('W'));
            seen_nmaxe = true;
        }
    }

    // The config datagram (NMController's, to everyone) switches the pool.
    let sender = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sender
        .send_to(&fixture("nmminer_udp_config.json"), nm.config_addr.unwrap())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    while nm.control.snapshot().pool_url != "pool.nmminer.com" {
        assert!(Instant::now() < deadline, "config datagram not applied");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let snapshot = nm.control.snapshot();
    assert_eq!(snapshot.pool_port, 3333);
    assert_eq!(snapshot.pool_user, "18dK8EfyepKuS74fs27iuDJWoGUT4rPto1.CYD");
    assert_eq!(snapshot.restarts, 1);

    // NMMiner v2 HTTP endpoints for detection.
    let probe = get_json(nm.addr, "/probe").await;
    assert_eq!(keys(&probe), keys(&fixture_json("nmminer_http_probe.json")));
    assert_eq!(probe["model"], "NMMiner");
    let info = get_json(nm.addr, "/api/system/info").await;
    let expected = fixture_json("nmminer_http_system_info.json");
    assert_eq!(keys(&info), keys(&expected));
    assert_eq!(keys(&info["miner"]), keys(&expected["miner"]));
    assert!(info["miner"]["hashRate"].as_f64().unwrap() < 0.01, "GH/s");
    fleet.shutdown().await;
}

#[tokio::test]
async fn fault_modes_behave_as_described() {
    let fleet = fleet_of(&[SimModel::BitaxeGammaV2_15, SimModel::AvalonNano3s]).await;
    let (axe, nano) = (&fleet.devices()[0], &fleet.devices()[1]);
    let get = b"GET /api/system/info HTTP/1.1\r\nHost: x\r\n\r\n".as_slice();
    let estats = br#"{"command":"estats"}"#.as_slice();

    for device in [axe, nano] {
        device.control.set_fault(Fault::Hang);
        let request = if std::ptr::eq(device, axe) {
            get
        } else {
            estats
        };
        let started = Instant::now();
        let result = exchange(device.addr, request, Duration::from_secs(1)).await;
        assert_eq!(result, Err("timed out".to_string()), "{}", device.name);
        assert!(started.elapsed() >= Duration::from_millis(990));
    }

    axe.control.set_fault(Fault::Garbage);
    let reply = http(axe.addr, "GET", "/api/system/info", "", "").await;
    assert_eq!(reply.status, 200);
    assert!(serde_json::from_slice::<Value>(&reply.body).is_err());
    nano.control.set_fault(Fault::Garbage);
    let raw = exchange(nano.addr, estats, Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(raw.last(), Some(&0));
    assert!(serde_json::from_slice::<Value>(&raw[..raw.len() - 1]).is_err());

    axe.control.set_fault(Fault::Truncated);
    let raw = exchange(axe.addr, get, Duration::from_secs(2))
        .await
        .unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let announced: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("Content-Length: "))
        .unwrap()
        .parse()
        .unwrap();
    let body = &raw[split + 4..];
    assert!(body.len() < announced && !body.is_empty());
    assert!(serde_json::from_slice::<Value>(body).is_err());
    nano.control.set_fault(Fault::Truncated);
    let raw = exchange(nano.addr, estats, Duration::from_secs(2))
        .await
        .unwrap();
    assert!(!raw.contains(&0), "truncated cgminer reply has no NUL");
    assert!(raw.starts_with(b"{\"STATUS\"") && serde_json::from_slice::<Value>(&raw).is_err());

    axe.control.set_fault(Fault::Http500);
    assert_eq!(
        http(axe.addr, "GET", "/api/system/info", "", "")
            .await
            .status,
        500
    );
    nano.control.set_fault(Fault::Http500);
    assert!(
        exchange(nano.addr, estats, Duration::from_secs(2))
            .await
            .unwrap()
            .is_empty()
    );

    for device in [axe, nano] {
        device
            .control
            .set_fault(Fault::Slow(Duration::from_millis(400)));
        let request = if std::ptr::eq(device, axe) {
            get
        } else {
            estats
        };
        let started = Instant::now();
        let raw = exchange(device.addr, request, Duration::from_secs(3))
            .await
            .unwrap();
        assert!(
            started.elapsed() >= Duration::from_millis(400),
            "{}",
            device.name
        );
        assert!(!raw.is_empty());
        device.control.set_fault(Fault::None);
    }
    let healthy = cgminer(nano.addr, r#"{"command":"estats"}"#).await;
    assert_eq!(healthy["STATS"][0]["ID"], "AVALON0");
    fleet.shutdown().await;
}

#[tokio::test]
async fn nmminer_hang_stops_datagrams() {
    let listener = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut spec = FleetSpec::of_models([SimModel::Nmminer], 5);
    spec.nmminer_target = listener.local_addr().unwrap();
    spec.nmminer_interval = Duration::from_millis(50);
    spec.set_fault("sim-nmminer-1", Fault::Hang).unwrap();
    let fleet = SimFleet::start(spec).await.unwrap();
    let mut buffer = [0u8; 2048];
    let silent =
        tokio::time::timeout(Duration::from_millis(400), listener.recv_from(&mut buffer)).await;
    assert!(silent.is_err(), "a hanging NMMiner sends nothing");
    fleet.devices()[0].control.set_fault(Fault::Truncated);
    let (len, _) = tokio::time::timeout(Duration::from_secs(2), listener.recv_from(&mut buffer))
        .await
        .unwrap()
        .unwrap();
    assert!(serde_json::from_slice::<Value>(&buffer[..len]).is_err());
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_devices_start_answer_and_stop() {
    let sink = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut spec = FleetSpec::mixed(200, 11);
    spec.nmminer_target = sink.local_addr().unwrap();
    let fleet = SimFleet::start(spec).await.unwrap();
    assert_eq!(fleet.devices().len(), 200);
    let toml = fleet.miners_toml();
    assert_eq!(toml.matches("[[miners]]").count(), 200);
    let mut tasks = Vec::new();
    for device in fleet.devices() {
        let (addr, kind, model) = (device.addr, device.kind, device.model);
        tasks.push(tokio::spawn(async move {
            let request: &[u8] = match (kind.as_str(), model) {
                ("avalon", _) => br#"{"command":"version"}"#,
                ("nmminer", SimModel::NmaxeGamma) => return true, // UDP only
                ("nmminer", _) => b"GET /probe HTTP/1.1\r\nHost: x\r\n\r\n",
                _ => b"GET /api/system/info HTTP/1.1\r\nHost: x\r\n\r\n",
            };
            let reply = exchange(addr, request, Duration::from_secs(10))
                .await
                .unwrap();
            reply.starts_with(b"HTTP/1.1 200 OK")
                || reply.starts_with(b"{\"STATUS\":[{\"STATUS\":\"S\"")
        }));
    }
    for task in tasks {
        assert!(task.await.unwrap());
    }
    let first = fleet.devices()[0].addr;
    fleet.shutdown().await;
    assert!(
        TcpStream::connect(first).await.is_err(),
        "listener closed after shutdown"
    );
}
