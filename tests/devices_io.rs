//! The drivers against small loopback servers: HTTP status and framing faults, hangs,
//! cgminer framing and quirks, real UDP datagrams, and control requests recorded by the
//! fake device (method, path, body) so their exact shape is checked.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmm::devices::{DeviceError, Limits, PoolTarget, Variant, avalon, axeos, detect, nmminer};
use hmm::model::{MinerKind, Mode};
use hmm::units::ghs_to_hs;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

/// Reads `../shared/fixtures/<name>` beside the checkout, else the copy in `tests/fixtures/`.
fn fixture(name: &str) -> Vec<u8> {
    let root = env!("CARGO_MANIFEST_DIR");
    [
        format!("{root}/../shared/fixtures/{name}"),
        format!("{root}/../../shared/fixtures/{name}"),
        format!("{root}/tests/fixtures/{name}"),
    ]
    .iter()
    .find_map(|path| std::fs::read(path).ok())
    .unwrap_or_else(|| panic!("fixture {name} not found"))
}

fn limits(ms: u64) -> Limits {
    Limits {
        timeout: Duration::from_millis(ms),
        max_reply_bytes: 262_144,
    }
}

fn pool(url: &str) -> PoolTarget {
    PoolTarget {
        url: url.into(),
        user: "bc1qnew.worker".into(),
        password: "s3cret".into(),
    }
}

// ------------------------------------------------------------------ fake HTTP device

#[derive(Clone)]
enum Reply {
    Raw(Vec<u8>),
    Hang,
}

fn ok_json(body: &[u8]) -> Reply {
    let mut raw = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    Reply::Raw(raw)
}

fn chunked(status: &str, body: &[u8]) -> Reply {
    let mut raw = format!("HTTP/1.1 {status}\r\nTransfer-Encoding: chunked\r\n\r\n").into_bytes();
    for part in body.chunks(1000) {
        raw.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        raw.extend_from_slice(part);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    Reply::Raw(raw)
}

fn status(line: &str, body: &str) -> Reply {
    Reply::Raw(
        format!(
            "HTTP/1.1 {line}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

type Log = Arc<Mutex<Vec<(String, String, String)>>>;

/// Serves `routes` (method, path, reply) on a loopback port; records every request.
async fn http_device(routes: Vec<(&'static str, &'static str, Reply)>) -> (String, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let log: Log = Arc::default();
    let seen = Arc::clone(&log);
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let routes = routes.clone();
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    if buf.first() == Some(&b'{') {
                        return; // a cgminer probe: not HTTP, hang up
                    }
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break end + 4;
                    }
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let mut words = head.split_whitespace();
                let method = words.next().unwrap_or("").to_string();
                let path = words.next().unwrap_or("").to_string();
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().to_string())
                    })
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                while buf.len() < head_end + length {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let body = String::from_utf8_lossy(&buf[head_end..]).to_string();
                seen.lock()
                    .unwrap()
                    .push((method.clone(), path.clone(), body));
                let reply = routes
                    .iter()
                    .find(|(m, p, _)| *m == method && *p == path)
                    .map(|(_, _, r)| r.clone())
                    .unwrap_or_else(|| status("404 Not Found", r#"{"error":"unknown route"}"#));
                match reply {
                    Reply::Raw(bytes) => {
                        let _ = stream.write_all(&bytes).await;
                        let _ = stream.shutdown().await;
                    }
                    Reply::Hang => tokio::time::sleep(Duration::from_secs(30)).await,
                }
            });
        }
    });
    (addr, log)
}

// ------------------------------------------------------------------ AxeOS

#[tokio::test]
async fn axeos_poll_reads_a_chunked_reply() {
    let (addr, log) = http_device(vec![(
        "GET",
        "/api/system/info",
        chunked("200 OK", &fixture("bitaxe_system_info.json")),
    )])
    .await;
    let reading = axeos::poll(&addr, limits(2000)).await.unwrap();
    assert_eq!(reading.sample.hashrate_hs, Some(ghs_to_hs(1082.6514)));
    assert_eq!(reading.info.model.as_deref(), Some("Bitaxe Gamma"));
    assert!(reading.sample.ts_ms > 0);
    assert_eq!(log.lock().unwrap()[0].1, "/api/system/info");
}

#[tokio::test]
async fn axeos_http_errors_read_as_reasons() {
    let (addr, _) = http_device(vec![(
        "GET",
        "/api/system/info",
        status("401 Unauthorized", "Unauthorized"),
    )])
    .await;
    let err = axeos::poll(&addr, limits(2000)).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "HTTP 401 from 127.0.0.1: device refuses non-LAN clients"
    );

    let (addr, _) = http_device(vec![(
        "GET",
        "/api/system/info",
        status("500 Internal Server Error", "oops"),
    )])
    .await;
    let err = axeos::poll(&addr, limits(2000)).await.unwrap_err();
    assert_eq!(err.to_string(), "HTTP 500 from 127.0.0.1");

    let (addr, _) = http_device(vec![
        (
            "PATCH",
            "/api/system",
            status("401 Unauthorized", "OTP/Session required"),
        ),
        (
            "GET",
            "/api/system/info",
            ok_json(&fixture("nerdqaxe_system_info_v1_0_38.json")),
        ),
    ])
    .await;
    let err = axeos::set_mode(&addr, Mode::Eco, limits(2000))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("requires an OTP"), "{err}");
}

#[tokio::test]
async fn axeos_hang_times_out_quickly() {
    let (addr, _) = http_device(vec![("GET", "/api/system/info", Reply::Hang)]).await;
    let started = Instant::now();
    let err = axeos::poll(&addr, limits(300)).await.unwrap_err();
    assert_eq!(err.to_string(), "timeout after 0.3 s");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn axeos_truncated_and_garbage_replies() {
    let body = fixture("bitaxe_system_info.json");
    let mut short =
        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    short.extend_from_slice(&body[..100]);
    let (addr, _) = http_device(vec![("GET", "/api/system/info", Reply::Raw(short))]).await;
    assert_eq!(
        axeos::poll(&addr, limits(2000))
            .await
            .unwrap_err()
            .to_string(),
        "HTTP reply truncated"
    );

    let (addr, _) = http_device(vec![("GET", "/api/system/info", ok_json(&body[..200]))]).await;
    assert_eq!(
        axeos::poll(&addr, limits(2000))
            .await
            .unwrap_err()
            .to_string(),
        "JSON reply truncated"
    );

    let (addr, _) = http_device(vec![(
        "GET",
        "/api/system/info",
        ok_json(b"<html><title>AxeOS</title></html>"),
    )])
    .await;
    let err = axeos::poll(&addr, limits(2000))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("garbage reply: <html><title>AxeOS"),
        "{err}"
    );

    let small = Limits {
        max_reply_bytes: 1000,
        ..limits(2000)
    };
    let (addr, _) = http_device(vec![("GET", "/api/system/info", ok_json(&body))]).await;
    assert_eq!(
        axeos::poll(&addr, small).await.unwrap_err(),
        DeviceError::TooLarge(1000)
    );
}

#[tokio::test]
async fn connection_refused_is_named() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    assert_eq!(
        axeos::poll(&addr, limits(2000))
            .await
            .unwrap_err()
            .to_string(),
        "connection refused"
    );
    assert_eq!(
        avalon::poll(&addr, limits(2000))
            .await
            .unwrap_err()
            .to_string(),
        "connection refused"
    );
}

#[tokio::test]
async fn axeos_set_mode_patches_frequency_and_core_voltage() {
    // v2.15 Gamma without /api/system/asic answering: the base BM1370 table.
    let (addr, log) = http_device(vec![
        (
            "GET",
            "/api/system/info",
            ok_json(&fixture("bitaxe_system_info.json")),
        ),
        ("PATCH", "/api/system", chunked("200 OK", b"")),
    ])
    .await;
    let outcome = axeos::set_mode(&addr, Mode::Eco, limits(2000))
        .await
        .unwrap();
    assert!(outcome.message.contains("400 MHz"), "{}", outcome.message);
    let log = log.lock().unwrap().clone();
    let patch = log
        .iter()
        .find(|(m, _, _)| m == "PATCH")
        .expect("PATCH sent");
    assert_eq!(patch.1, "/api/system");
    assert_eq!(
        serde_json::from_str::<Value>(&patch.2).unwrap(),
        json!({"frequency": 400, "coreVoltage": 1060})
    );

    // A Supra with its option lists: turbo = 525 MHz / 1200 mV.
    let info = String::from_utf8(fixture("bitaxe_system_info_v2_10.json"))
        .unwrap()
        .replace("BM1370", "BM1368");
    let (addr, log) = http_device(vec![
        ("GET", "/api/system/info", ok_json(info.as_bytes())),
        (
            "GET",
            "/api/system/asic",
            ok_json(&fixture("bitaxe_system_asic.json")),
        ),
        (
            "PATCH",
            "/api/system",
            Reply::Raw(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec()),
        ),
    ])
    .await;
    axeos::set_mode(&addr, Mode::Turbo, limits(2000))
        .await
        .unwrap();
    let patch = log
        .lock()
        .unwrap()
        .iter()
        .find(|(m, _, _)| m == "PATCH")
        .cloned()
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&patch.2).unwrap(),
        json!({"frequency": 525, "coreVoltage": 1200})
    );
}

#[tokio::test]
async fn nerdqaxe_turbo_is_refused_before_anything_is_written() {
    let (addr, log) = http_device(vec![
        (
            "GET",
            "/api/system/info",
            ok_json(&fixture("nerdqaxe_system_info_v1_0_38.json")),
        ),
        (
            "GET",
            "/api/system/asic",
            ok_json(&fixture("nerdqaxe_system_asic.json")),
        ),
    ])
    .await;
    let err = axeos::set_mode(&addr, Mode::Turbo, limits(2000))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("supported: eco, standard"), "{err}");
    assert!(log.lock().unwrap().iter().all(|(m, _, _)| m == "GET"));
}

#[tokio::test]
async fn axeos_restart_accepts_text_and_json_replies() {
    let (addr, log) = http_device(vec![(
        "POST",
        "/api/system/restart",
        status("200 OK", "System will restart shortly."),
    )])
    .await;
    let outcome = axeos::restart(&addr, limits(2000)).await.unwrap();
    assert_eq!(outcome.message, "System will restart shortly.");
    assert_eq!(log.lock().unwrap()[0].0, "POST");

    let (addr, _) = http_device(vec![(
        "POST",
        "/api/system/restart",
        ok_json(br#"{"message":"System will restart shortly."}"#),
    )])
    .await;
    assert_eq!(
        axeos::restart(&addr, limits(2000)).await.unwrap().message,
        "System will restart shortly."
    );
}

#[tokio::test]
async fn axeos_pool_switch_writes_then_restarts() {
    let (addr, log) = http_device(vec![
        (
            "GET",
            "/api/system/info",
            ok_json(&fixture("bitaxe_system_info.json")),
        ),
        ("PATCH", "/api/system", chunked("200 OK", b"")),
        (
            "POST",
            "/api/system/restart",
            ok_json(br#"{"message":"System will restart shortly."}"#),
        ),
    ])
    .await;
    let outcome = axeos::switch_pool(
        &addr,
        &pool("stratum+tcp://pool.example.org:4333"),
        limits(2000),
    )
    .await
    .unwrap();
    assert!(!outcome.message.contains("s3cret"));
    let log = log.lock().unwrap().clone();
    let order: Vec<&str> = log.iter().map(|(m, _, _)| m.as_str()).collect();
    assert_eq!(order, vec!["GET", "PATCH", "POST"]);
    let body: Value = serde_json::from_str(&log[1].2).unwrap();
    assert_eq!(body["pools"][0]["stratumURL"], "pool.example.org");
    assert_eq!(body["pools"][0]["stratumPort"], 4333);
    assert_eq!(body["pools"][0]["stratumPassword"], "s3cret");
    assert_eq!(log[2].1, "/api/system/restart");

    // v2.10: flat keys.
    let (addr, log) = http_device(vec![
        (
            "GET",
            "/api/system/info",
            ok_json(&fixture("bitaxe_system_info_v2_10.json")),
        ),
        ("PATCH", "/api/system", chunked("200 OK", b"")),
        (
            "POST",
            "/api/system/restart",
            status("200 OK", "System will restart shortly."),
        ),
    ])
    .await;
    axeos::switch_pool(
        &addr,
        &pool("stratum+tcp://pool.example.org:4333"),
        limits(2000),
    )
    .await
    .unwrap();
    let body: Value = serde_json::from_str(&log.lock().unwrap()[1].2).unwrap();
    assert_eq!(body["stratumURL"], "pool.example.org");
    assert!(body.get("pools").is_none());
}

// ------------------------------------------------------------------ fake cgminer device

#[derive(Clone)]
enum Rpc {
    /// Bytes written as they are, then the connection is closed.
    Bytes(Vec<u8>),
    Hang,
}

fn nul(value: &[u8]) -> Rpc {
    let compact: Value = serde_json::from_slice(value).unwrap();
    let mut bytes = compact.to_string().into_bytes();
    bytes.push(0);
    Rpc::Bytes(bytes)
}

fn rpc_json(value: Value) -> Rpc {
    let mut bytes = value.to_string().into_bytes();
    bytes.push(0);
    Rpc::Bytes(bytes)
}

type RpcLog = Arc<Mutex<Vec<Value>>>;

/// Answers cgminer commands by name (one command per connection); records each request.
async fn cgminer_device(routes: Vec<(&'static str, Rpc)>) -> (String, RpcLog) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let log: RpcLog = Arc::default();
    let seen = Arc::clone(&log);
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let routes = routes.clone();
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                let request = loop {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                    if let Ok(value) = serde_json::from_slice::<Value>(&buf) {
                        break value;
                    }
                    if !buf.starts_with(b"{") {
                        return; // an HTTP probe: hang up
                    }
                };
                seen.lock().unwrap().push(request.clone());
                let command = request["command"].as_str().unwrap_or("").to_string();
                let reply = routes.iter().find(|(c, _)| *c == command).map(|(_, r)| r.clone()).unwrap_or_else(|| {
                    rpc_json(json!({"STATUS":[{"STATUS":"E","When":1,"Code":14,"Msg":"Invalid command"}],"id":1}))
                });
                match reply {
                    Rpc::Bytes(bytes) => {
                        let _ = stream.write_all(&bytes).await;
                    }
                    Rpc::Hang => tokio::time::sleep(Duration::from_secs(30)).await,
                }
            });
        }
    });
    (addr, log)
}

fn nano3s_routes() -> Vec<(&'static str, Rpc)> {
    vec![
        ("version", nul(&fixture("avalon_nano3s_version.json"))),
        ("summary", nul(&fixture("avalon_nano3s_summary.json"))),
        ("estats", Rpc::Bytes(fixture("avalon_nano3s_estats.wire"))),
        ("pools", nul(&fixture("avalon_q_pools_asic-rs.json"))),
    ]
}

#[tokio::test]
async fn avalon_poll_over_nul_terminated_replies() {
    let (addr, log) = cgminer_device(nano3s_routes()).await;
    let reading = avalon::poll(&addr, limits(2000)).await.unwrap();
    assert_eq!(reading.sample.hashrate_hs, Some(ghs_to_hs(6598.84)));
    assert_eq!(reading.sample.power_w, Some(133.0));
    assert_eq!(reading.sample.shares_accepted, Some(2612));
    assert_eq!(reading.sample.mode, Some(Mode::Turbo));
    assert_eq!(reading.info.model.as_deref(), Some("Avalon Nano3s"));
    assert_eq!(
        reading.info.pool_url.as_deref(),
        Some("stratum+tcp://pool.example.com:4444")
    );
    let commands: Vec<String> = log
        .lock()
        .unwrap()
        .iter()
        .map(|r| r["command"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(commands, vec!["version", "summary", "estats", "pools"]);
}

#[tokio::test]
async fn avalon_framing_faults() {
    // Without the NUL: the reply ends at connection close and still parses.
    let mut routes = nano3s_routes();
    let summary: Value = serde_json::from_slice(&fixture("avalon_nano3s_summary.json")).unwrap();
    routes[1] = ("summary", Rpc::Bytes(summary.to_string().into_bytes()));
    let (addr, _) = cgminer_device(routes).await;
    assert_eq!(
        avalon::poll(&addr, limits(2000))
            .await
            .unwrap()
            .sample
            .shares_accepted,
        Some(2612)
    );

    // Cut in the middle of the estats blob.
    let mut routes = nano3s_routes();
    let wire = fixture("avalon_nano3s_estats.wire");
    routes[2] = ("estats", Rpc::Bytes(wire[..wire.len() / 2].to_vec()));
    let (addr, _) = cgminer_device(routes).await;
    assert_eq!(
        avalon::poll(&addr, limits(2000))
            .await
            .unwrap_err()
            .to_string(),
        "cgminer reply truncated"
    );

    // Quirky: trailing comma, bare nan and a newline, NUL-terminated.
    let mut routes = nano3s_routes();
    routes[1] = (
        "summary",
        Rpc::Bytes(b"{\"STATUS\":[{\"STATUS\":\"S\",\"Msg\":\"Summary\"}],\"SUMMARY\":[{\"Elapsed\":5,\n\"MHS av\":nan,\"Accepted\":7,\"Rejected\":1,}],\"id\":1}\0".to_vec()),
    );
    let (addr, _) = cgminer_device(routes).await;
    let reading = avalon::poll(&addr, limits(2000)).await.unwrap();
    assert_eq!(reading.sample.shares_accepted, Some(7));
    assert_eq!(reading.sample.uptime_s, Some(5));

    // Garbage and a hang.
    let mut routes = nano3s_routes();
    routes[1] = (
        "summary",
        Rpc::Bytes(b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec()),
    );
    let (addr, _) = cgminer_device(routes).await;
    let err = avalon::poll(&addr, limits(2000))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("garbage reply: HTTP/1.1 400"), "{err}");
    let mut routes = nano3s_routes();
    routes[2] = ("estats", Rpc::Hang);
    let (addr, _) = cgminer_device(routes).await;
    assert_eq!(
        avalon::poll(&addr, limits(300))
            .await
            .unwrap_err()
            .to_string(),
        "timeout after 0.3 s"
    );
}

#[tokio::test]
async fn avalon_mode_change_refused_while_calibrating() {
    let calibrating = json!({"STATUS":[{"STATUS":"E","When":1765004200,"Code":120,
        "Msg":"ASC 0 set failed: current mode 2 is caling Don't permit switch mode","Description":"cgminer 4.11.1"}],"id":1});
    let (addr, log) = cgminer_device(vec![
        ("estats", Rpc::Bytes(fixture("avalon_nano3s_estats.wire"))),
        ("ascset", rpc_json(calibrating)),
    ])
    .await;
    let err = avalon::set_mode(&addr, Mode::Standard, limits(2000))
        .await
        .unwrap_err();
    assert!(matches!(err, DeviceError::Refused(_)));
    assert!(err.to_string().contains("still calibrating"), "{err}");
    let log = log.lock().unwrap().clone();
    assert_eq!(
        log[1],
        json!({"command": "ascset", "parameter": "0,workmode,set,1"})
    );
}

#[tokio::test]
async fn avalon_mode_restart_and_pool_requests() {
    let ok = json!({"STATUS":[{"STATUS":"S","When":1,"Code":119,"Msg":"ASC 0 set OK","Description":"cgminer 4.11.1"}],"id":1});
    let switched =
        json!({"STATUS":[{"STATUS":"S","When":1,"Code":27,"Msg":"Switching to pool 0"}],"id":1});
    let mut routes = nano3s_routes();
    routes.push(("ascset", rpc_json(ok.clone())));
    routes.push(("switchpool", rpc_json(switched)));
    routes.push((
        "setpool",
        rpc_json(json!({"STATUS":[{"STATUS":"S","Code":0,"Msg":"Set pool OK"}],"id":1})),
    ));
    let (addr, log) = cgminer_device(routes).await;

    let outcome = avalon::set_mode(&addr, Mode::Eco, limits(2000))
        .await
        .unwrap();
    assert_eq!(outcome.message, "mode eco: ASC 0 set OK");
    avalon::restart(&addr, limits(2000)).await.unwrap();
    let existing = PoolTarget {
        url: "stratum+tcp://pool.example.com:4444".into(),
        user: "worker1".into(),
        password: "x".into(),
    };
    avalon::switch_pool(
        &addr,
        &existing,
        &avalon::AdminLogin::default(),
        limits(2000),
    )
    .await
    .unwrap();
    let outcome = avalon::switch_pool(
        &addr,
        &pool("stratum+tcp://new.example:3333"),
        &avalon::AdminLogin::default(),
        limits(2000),
    )
    .await
    .unwrap();
    assert!(!outcome.message.contains("s3cret") && !outcome.message.contains("admin"));

    let log = log.lock().unwrap().clone();
    let requests: Vec<Value> = log
        .into_iter()
        .filter(|r| r["command"] != "estats" && r["command"] != "pools")
        .collect();
    assert_eq!(
        requests,
        vec![
            json!({"command": "ascset", "parameter": "0,workmode,set,0"}),
            json!({"command": "ascset", "parameter": "0,reboot,0"}),
            json!({"command": "switchpool", "parameter": "0"}),
            json!({"command": "setpool", "parameter": "admin,admin,0,stratum+tcp://new.example:3333,bc1qnew.worker,s3cret"}),
            json!({"command": "ascset", "parameter": "0,reboot,0"}),
        ]
    );
}

// ------------------------------------------------------------------ NMMiner

#[tokio::test]
async fn nmminer_listener_keeps_the_latest_datagram_per_device() {
    let listener = nmminer::NmminerListener::bind("127.0.0.1:0").await.unwrap();
    let sender = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let to = listener.local_addr();
    sender
        .send_to(&fixture("nmminer_udp.json"), to)
        .await
        .unwrap();
    sender
        .send_to(&fixture("nmaxe_udp.json"), to)
        .await
        .unwrap();
    sender.send_to(b"not json", to).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    while listener.devices().len() < 2 || listener.bad_datagrams().0 < 1 {
        assert!(Instant::now() < deadline, "datagrams not received");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let nm = listener
        .reading("192.168.1.101", Duration::from_secs(120))
        .unwrap();
    assert_eq!(nm.sample.hashrate_hs, Some(113_130.0));
    assert!(nm.sample.ts_ms > 0);
    let axe = listener.latest("192.168.1.77:80").unwrap();
    assert_eq!(axe.reading.sample.hashrate_hs, Some(1.2045e12));
    assert_eq!(axe.reading.info.variant, Variant::Nmaxe);
    assert!(axe.source.ip().is_loopback());
    // A device without an IP in its payload is keyed by where the datagram came from.
    sender
        .send_to(br#"{"HashRate":"50K","Share":"0/3"}"#, to)
        .await
        .unwrap();
    while listener.latest("127.0.0.1").is_none() {
        assert!(
            Instant::now() < deadline,
            "source-keyed datagram not received"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Staleness and absence are reasons, not zeros.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let stale = listener
        .reading("192.168.1.101", Duration::from_millis(1))
        .unwrap_err()
        .to_string();
    assert!(
        stale.starts_with("no NMMiner datagram from 192.168.1.101 for"),
        "{stale}"
    );
    let absent = listener
        .reading("192.168.1.200", Duration::from_secs(120))
        .unwrap_err()
        .to_string();
    assert!(
        absent.starts_with("no NMMiner datagram from 192.168.1.200 yet"),
        "{absent}"
    );
    assert!(
        listener
            .bad_datagrams()
            .1
            .unwrap()
            .contains("garbage reply")
    );
}

#[tokio::test]
async fn nmminer_pool_switch_sends_the_config_datagram() {
    let device = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = device.local_addr().unwrap().to_string();
    nmminer::switch_pool(
        &addr,
        &pool("stratum+tcp://public-pool.io:21496"),
        limits(2000),
    )
    .await
    .unwrap();
    let mut buf = [0u8; 2048];
    let (n, _) = tokio::time::timeout(Duration::from_secs(2), device.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let datagram: Value = serde_json::from_slice(&buf[..n]).unwrap();
    assert_eq!(
        datagram,
        json!({"IP": "127.0.0.1", "PrimaryPool": "stratum+tcp://public-pool.io:21496",
            "PrimaryAddress": "bc1qnew.worker", "PrimaryPassword": "s3cret"})
    );
}

// ------------------------------------------------------------------ detection

#[tokio::test]
async fn detect_tells_the_three_kinds_apart() {
    let (addr, _) = http_device(vec![(
        "GET",
        "/api/system/info",
        ok_json(&fixture("nerdqaxe_system_info_v1_0_38.json")),
    )])
    .await;
    let found = detect::detect(&addr, limits(1000)).await.unwrap();
    assert_eq!(found.kind, MinerKind::Axeos);
    assert_eq!(found.reading.info.model.as_deref(), Some("NerdQAxe++"));
    let snippet = detect::config_snippet(&found);
    assert_eq!(
        snippet,
        format!("[[miners]]\nname = \"nerdqaxe\"\nkind = \"axeos\"\nhost = \"{addr}\"\n")
    );

    let (addr, _) = cgminer_device(nano3s_routes()).await;
    let found = detect::detect(&addr, limits(1000)).await.unwrap();
    assert_eq!(found.kind, MinerKind::Avalon);
    let report = detect::report(&found);
    assert!(report.contains("model:    Avalon Nano3s"), "{report}");
    assert!(report.contains("firmware: 25021401_56abae7"), "{report}");
    assert!(report.contains("kind = \"avalon\""), "{report}");

    let (addr, _) = http_device(vec![(
        "GET",
        "/probe",
        ok_json(&fixture("nmminer_http_probe.json")),
    )])
    .await;
    let found = detect::detect(&addr, limits(1000)).await.unwrap();
    assert_eq!(found.kind, MinerKind::Nmminer);
    assert_eq!(detect::suggested_name(&found), "nm-cyd-c5-ab12cd");

    let (addr, _) = http_device(vec![(
        "GET",
        "/api/system/info",
        status("401 Unauthorized", "Unauthorized"),
    )])
    .await;
    let err = detect::detect(&addr, limits(1000))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("device refuses non-LAN clients"), "{err}");
}

#[tokio::test]
async fn dispatch_by_kind() {
    let (addr, _) = cgminer_device(nano3s_routes()).await;
    let reading = hmm::devices::poll(MinerKind::Avalon, &addr, limits(2000))
        .await
        .unwrap();
    assert_eq!(reading.info.kind, MinerKind::Avalon);
    let auto = hmm::devices::poll(MinerKind::Auto, &addr, limits(1000))
        .await
        .unwrap();
    assert_eq!(auto.sample.shares_accepted, Some(2612));
    let err = hmm::devices::set_mode(MinerKind::Nmminer, &addr, Mode::Eco, limits(500))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "not supported: set_mode on a nmminer miner"
    );
}
