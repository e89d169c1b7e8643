//! The web server over loopback with the in-memory backend: every route, status code and
//! error shape, pagination, control authorisation, secrets, slow clients, `/metrics`
//! grammar, page size and HTML escaping.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hmm::web::memory::{
    MemoryBackend, PLANTED_API_KEY, PLANTED_NOTIFY_TOKEN, PLANTED_POOL_PASSWORD,
};
use hmm::web::{WebBackend, WebServer, WebSettings, start};
use serde_json::Value;

/// 2026-03-29 12:00 UTC, a BST change day, pinned for reproducible data.
const NOW_MS: u64 = 1_774_785_600_000;
const TOKEN: &str = "web-token-planted-55aa";

fn serve(backend: Arc<MemoryBackend>, token: &str, workers: usize) -> WebServer {
    let settings = WebSettings {
        bind: "127.0.0.1:0".into(),
        token: token.into(),
        workers,
        ..WebSettings::default()
    };
    start(&settings, backend).expect("server starts")
}

fn demo(miners: usize, interval_s: u64, days: u64) -> Arc<MemoryBackend> {
    Arc::new(MemoryBackend::demo(
        NOW_MS,
        miners,
        Duration::from_secs(interval_s),
        days,
    ))
}

struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// A plain HTTP/1.1 client: one request per connection, chunked bodies decoded.
fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let answer = Answer {
        status,
        head,
        body: String::new(),
    };
    if answer
        .header("Transfer-Encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        body = dechunk(&body);
    }
    Answer {
        body: String::from_utf8(body).unwrap(),
        ..answer
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap().trim(), 16)
                .unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[line_end + 2..line_end + 2 + size]);
        data = &data[line_end + 4 + size..];
    }
}

fn get(addr: SocketAddr, target: &str) -> Answer {
    request(addr, "GET", target, &[], b"")
}

fn assert_error(answer: &Answer, status: u16, mentions: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    let json = answer.json();
    assert_eq!(json["status"], status);
    let message = json["error"].as_str().unwrap();
    assert!(
        message.contains(mentions),
        "error {message:?} should mention {mentions:?}"
    );
}

#[test]
fn every_read_route_answers_with_the_right_type() {
    let server = serve(demo(4, 60, 1), "", 2);
    let addr = server.local_addr();
    for (target, content_type) in [
        ("/", "text/html"),
        ("/miner/bitaxe-1", "text/html"),
        ("/metrics", "text/plain; version=0.0.4"),
        ("/healthz", "application/json"),
        ("/api/miners", "application/json"),
        ("/api/miners/bitaxe-1", "application/json"),
        ("/api/miners/bitaxe-1/telemetry", "application/json"),
        ("/api/miners/bitaxe-1/slots", "application/json"),
        ("/api/widgets", "application/json"),
        ("/api/widgets/daily_cost", "application/json"),
        ("/api/prices", "application/json"),
        ("/api/audit", "application/json"),
        ("/api/feeds", "application/json"),
    ] {
        let answer = get(addr, target);
        assert_eq!(answer.status, 200, "{target}: {}", answer.body);
        assert!(
            answer
                .header("Content-Type")
                .unwrap()
                .starts_with(content_type),
            "{target}"
        );
    }
    let miners = get(addr, "/api/miners").json();
    let names: Vec<&str> = miners["miners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["bitaxe-1", "nerdqaxe-1", "avalon-nano-1", "nmminer-1"]
    );
    let avalon = get(addr, "/api/miners/avalon-nano-1").json();
    assert_eq!(avalon["online"], false);
    assert!(
        avalon["hashrate_hs"].is_null(),
        "offline values stay null, never 0"
    );
    let bitaxe = get(addr, "/api/miners/bitaxe-1").json();
    assert!(bitaxe["hashrate"].as_str().unwrap().ends_with("TH/s"));
    // 96 half-hour prices for 29 March 2026 (a 23-hour UK day: 46) + 30 March (48).
    let prices = get(addr, "/api/prices").json();
    assert_eq!(prices["prices"].as_array().unwrap().len(), 46 + 48);
    assert!(prices["current"]["valid_from_s"].as_u64().unwrap() <= NOW_MS / 1000);
    let audit = get(addr, "/api/audit?limit=2").json();
    let rows = audit["audit"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert!(
        rows[0]["ts_ms"].as_u64() > rows[1]["ts_ms"].as_u64(),
        "newest first"
    );
    let older = get(
        addr,
        &format!("/api/audit?limit=50&before={}", audit["next_before"]),
    )
    .json();
    assert!(
        older["audit"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["ts_ms"].as_u64() < rows[1]["ts_ms"].as_u64())
    );
    assert_eq!(
        get(addr, "/api/feeds").json()["feeds"]
            .as_array()
            .unwrap()
            .len(),
        5,
        "octopus, coingecko, ckpool, solopool, solopool-network"
    );
    let slots = get(addr, "/api/miners/bitaxe-1/slots").json();
    // From the slot 24 h ago through the current one.
    assert_eq!(slots["slots"].as_array().unwrap().len(), 49);
}

#[test]
fn errors_have_one_shape_and_the_right_status() {
    let server = serve(demo(4, 60, 1), TOKEN, 2);
    let addr = server.local_addr();
    assert_error(&get(addr, "/api/nothing"), 404, "no route");
    assert_error(&get(addr, "/api/miners/ghost"), 404, "ghost");
    assert_error(&get(addr, "/api/miners/ghost/telemetry"), 404, "ghost");
    assert_error(&get(addr, "/api/widgets/ghost"), 404, "ghost");
    assert_eq!(get(addr, "/miner/ghost").status, 404);
    assert_error(
        &get(addr, "/api/miners/bitaxe-1/telemetry?from=yesterday"),
        400,
        "'from'",
    );
    assert_error(
        &get(addr, "/api/miners/bitaxe-1/telemetry?limit=0"),
        400,
        "'limit'",
    );
    assert_error(
        &get(addr, "/api/miners/bitaxe-1/telemetry?cursor=abc"),
        400,
        "'cursor'",
    );
    assert_error(
        &get(addr, "/api/miners/bitaxe-1/slots?from=0"),
        400,
        "'from'",
    );
    assert_error(&get(addr, "/api/audit?before=soon"), 400, "'before'");
    let wrong_method = request(addr, "POST", "/api/miners", &[], b"");
    assert_error(&wrong_method, 405, "GET");
    assert_eq!(wrong_method.header("Allow").as_deref(), Some("GET, HEAD"));
    let wrong_method = request(addr, "DELETE", "/api/miners/bitaxe-1/mode", &[], b"");
    assert_error(&wrong_method, 405, "POST");
    assert_eq!(wrong_method.header("Allow").as_deref(), Some("POST"));
    let big = vec![b'x'; 64 * 1024];
    assert_error(
        &request(
            addr,
            "POST",
            "/api/miners/bitaxe-1/mode",
            &[("Authorization", &format!("Bearer {TOKEN}"))],
            &big,
        ),
        413,
        "larger",
    );
    let long = format!("/api/miners?{}", "a".repeat(5000));
    assert_error(&get(addr, &long), 414, "longer");
    let huge_header = "h".repeat(20 * 1024);
    assert_error(
        &request(addr, "GET", "/api/miners", &[("X-Big", &huge_header)], b""),
        431,
        "headers",
    );
}

#[test]
fn times_are_accepted_as_epoch_ms_or_rfc3339() {
    let server = serve(demo(1, 60, 1), "", 1);
    let addr = server.local_addr();
    let from_ms = NOW_MS - 3_600_000;
    let by_ms = get(
        addr,
        &format!("/api/miners/bitaxe-1/telemetry?from={from_ms}&to={NOW_MS}"),
    )
    .json();
    let by_text = get(
        addr,
        "/api/miners/bitaxe-1/telemetry?from=2026-03-29T11:00:00Z&to=2026-03-29T13:00:00%2B01:00",
    )
    .json();
    assert_eq!(by_ms["samples"], by_text["samples"]);
    assert_eq!(by_ms["count"], 60);
    assert_eq!(by_ms["samples"][0]["time"], "2026-03-29T11:00:00Z");
}

#[test]
fn pagination_walks_a_day_of_samples_exactly_once() {
    let backend = demo(3, 30, 1);
    let server = serve(backend.clone(), "", 2);
    let addr = server.local_addr();
    let expected = backend
        .samples("nerdqaxe-1", 0, u64::MAX, usize::MAX, None)
        .unwrap()
        .samples;
    assert!(expected.len() >= 2879, "a day at 30 s");
    let mut seen: Vec<u64> = Vec::new();
    let from = NOW_MS - 86_400_000;
    let mut target = format!(
        "/api/miners/nerdqaxe-1/telemetry?from={from}&to={}&limit=5000",
        NOW_MS + 1
    );
    let mut pages = 0;
    loop {
        let page = get(addr, &target).json();
        pages += 1;
        assert_eq!(page["limit"], 1000, "limit is capped");
        let samples = page["samples"].as_array().unwrap();
        assert!(samples.len() <= 1000);
        seen.extend(samples.iter().map(|s| s["ts_ms"].as_u64().unwrap()));
        match page["next"].as_str() {
            Some(next) => target = next.to_string(),
            None => {
                assert!(page["next_cursor"].is_null());
                break;
            }
        }
        assert!(pages < 10, "pagination must end");
    }
    let want: Vec<u64> = expected
        .iter()
        .map(|s| s.ts_ms)
        .filter(|t| *t >= from)
        .collect();
    assert_eq!(seen, want, "every sample once, in order");
    assert_eq!(pages, want.len().div_ceil(1000));
}

fn mode_of(addr: SocketAddr, miner: &str) -> Value {
    get(addr, &format!("/api/miners/{miner}")).json()["mode"].clone()
}

#[test]
fn control_without_a_configured_token_is_off() {
    let backend = demo(4, 60, 1);
    let server = serve(backend.clone(), "", 2);
    let addr = server.local_addr();
    let before = backend.audit_len();
    let answer = request(
        addr,
        "POST",
        "/api/miners/bitaxe-1/mode",
        &[("Authorization", "Bearer anything")],
        br#"{"mode":"eco"}"#,
    );
    assert_error(&answer, 403, "web.token");
    assert_eq!(mode_of(addr, "bitaxe-1"), "standard");
    assert_eq!(backend.audit_len(), before);
}

#[test]
fn control_needs_the_right_token_and_obeys_cooldowns() {
    let backend = demo(4, 60, 1);
    let server = serve(backend.clone(), TOKEN, 2);
    let addr = server.local_addr();
    let before = backend.audit_len();
    let body = br#"{"mode":"eco"}"#;
    let wrong_token = format!("Bearer {TOKEN}x");
    let short_token = format!("Bearer {}", &TOKEN[..TOKEN.len() - 1]);
    for auth in [
        None,
        Some("Bearer nope"),
        Some(wrong_token.as_str()),
        Some(short_token.as_str()),
        Some(TOKEN),
    ] {
        let headers: Vec<(&str, &str)> =
            auth.map(|a| vec![("Authorization", a)]).unwrap_or_default();
        let answer = request(addr, "POST", "/api/miners/bitaxe-1/mode", &headers, body);
        assert_error(&answer, 401, "token");
    }
    assert_eq!(mode_of(addr, "bitaxe-1"), "standard", "nothing changed");
    assert_eq!(backend.audit_len(), before, "nothing audited");

    let auth = format!("Bearer {TOKEN}");
    let ok = request(
        addr,
        "POST",
        "/api/miners/bitaxe-1/mode",
        &[("Authorization", &auth)],
        body,
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.json()["action"], "set_mode eco");
    assert_eq!(mode_of(addr, "bitaxe-1"), "eco");
    let again = request(
        addr,
        "POST",
        "/api/miners/bitaxe-1/mode",
        &[("Authorization", &auth)],
        b"turbo",
    );
    assert_error(&again, 429, "cooling down");
    assert_eq!(again.header("Retry-After").as_deref(), Some("300"));
    assert_eq!(mode_of(addr, "bitaxe-1"), "eco");

    let disabled = request(
        addr,
        "POST",
        "/api/miners/nerdqaxe-1/enabled",
        &[("Authorization", &auth)],
        br#"{"enabled":false}"#,
    );
    assert_eq!(disabled.status, 200);
    assert_eq!(get(addr, "/api/miners/nerdqaxe-1").json()["enabled"], false);
    let pool = request(
        addr,
        "POST",
        "/api/miners/bitaxe-1/pool",
        &[("Authorization", &auth)],
        br#"{"pool":"public-pool"}"#,
    );
    assert_eq!(pool.status, 200, "{}", pool.body);
    assert_eq!(
        get(addr, "/api/miners/bitaxe-1").json()["pool"],
        "stratum+tcp://public-pool.io:21496"
    );
    assert_error(
        &request(
            addr,
            "POST",
            "/api/miners/bitaxe-1/pool",
            &[("Authorization", &auth)],
            b"nowhere",
        ),
        422,
        "nowhere",
    );
    assert_error(
        &request(
            addr,
            "POST",
            "/api/miners/nmminer-1/restart",
            &[("Authorization", &auth)],
            b"",
        ),
        422,
        "NMMiner",
    );
    assert_error(
        &request(
            addr,
            "POST",
            "/api/miners/ghost/restart",
            &[("Authorization", &auth)],
            b"",
        ),
        404,
        "ghost",
    );
    assert_error(
        &request(
            addr,
            "POST",
            "/api/miners/bitaxe-1/mode",
            &[("Authorization", &auth)],
            br#"{"mode":"ludicrous"}"#,
        ),
        400,
        "'mode'",
    );
    let audit = get(addr, "/api/audit?limit=1").json();
    assert_eq!(audit["audit"][0]["actor"], "http");
}

#[test]
fn no_secret_appears_in_any_answer() {
    let backend = demo(4, 60, 1);
    let server = serve(backend.clone(), TOKEN, 2);
    let addr = server.local_addr();
    let auth = format!("Bearer {TOKEN}");
    let mut answers = Vec::new();
    for target in [
        "/",
        "/miner/bitaxe-1",
        "/miner/nmminer-1",
        "/metrics",
        "/healthz",
        "/api/miners",
        "/api/miners/bitaxe-1",
        "/api/miners/bitaxe-1/telemetry?limit=1000",
        "/api/miners/bitaxe-1/slots",
        "/api/widgets",
        "/api/widgets/daily_cost",
        "/api/prices",
        "/api/audit?limit=1000",
        "/api/feeds",
        "/nowhere",
        "/api/miners/ghost",
    ] {
        answers.push(get(addr, target));
    }
    for (target, body) in [
        ("mode", "eco"),
        ("mode", "eco"),
        ("pool", "ckpool"),
        ("enabled", "maybe"),
        ("restart", ""),
    ] {
        answers.push(request(
            addr,
            "POST",
            &format!("/api/miners/bitaxe-1/{target}"),
            &[("Authorization", &auth)],
            body.as_bytes(),
        ));
    }
    answers.push(request(
        addr,
        "POST",
        "/api/miners/bitaxe-1/restart",
        &[("Authorization", "Bearer guess")],
        b"",
    ));
    // The audit now holds the control calls above; read it again.
    answers.push(get(addr, "/api/audit"));
    answers.push(get(addr, "/"));
    let planted = [
        PLANTED_POOL_PASSWORD,
        PLANTED_API_KEY,
        PLANTED_NOTIFY_TOKEN,
        TOKEN,
    ];
    for answer in &answers {
        for secret in planted {
            assert!(
                !answer.body.contains(secret),
                "secret leaked in: {}",
                &answer.body[..answer.body.len().min(300)]
            );
            assert!(!answer.head.contains(secret));
        }
    }
    // The feed error that quoted the API key is still shown, redacted.
    assert!(
        get(addr, "/api/feeds")
            .body
            .contains("x_cg_demo_api_key=[redacted]")
    );
}

#[test]
fn a_slow_loris_client_does_not_block_other_requests() {
    let server = serve(demo(2, 60, 1), "", 1);
    let addr = server.local_addr();
    let mut lorises = Vec::new();
    for _ in 0..8 {
        let mut stream = TcpStream::connect(addr).unwrap();
        lorises.push(std::thread::spawn(move || {
            for byte in b"GET / HTTP/1.1\r\nHost: x\r\n".iter().cycle().take(6) {
                if stream.write_all(&[*byte]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    for _ in 0..10 {
        let answer = get(addr, "/api/miners");
        assert_eq!(answer.status, 200);
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?} with slow clients connected",
        started.elapsed()
    );
    for loris in lorises {
        loris.join().unwrap();
    }
}

/// A strict checker of the Prometheus text exposition format 0.0.4: HELP/TYPE before the
/// samples of each family, one TYPE per family, valid names, quoted and escaped label
/// values, parseable values, no duplicate series, trailing newline.
fn validate_exposition(text: &str) -> Result<usize, String> {
    fn valid_name(name: &str) -> bool {
        let mut chars = name.chars();
        matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    }
    if !text.ends_with('\n') {
        return Err("no trailing newline".into());
    }
    let mut types: std::collections::HashMap<String, String> = Default::default();
    let mut helps = std::collections::HashSet::new();
    let mut series = std::collections::HashSet::new();
    let mut current: Option<String> = None;
    let mut samples = 0;
    for (n, line) in text.lines().enumerate() {
        let at = |m: &str| format!("line {}: {m}: {line}", n + 1);
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, _) = rest
                .split_once(' ')
                .ok_or_else(|| at("HELP without text"))?;
            if !valid_name(name) || !helps.insert(name.to_string()) {
                return Err(at("bad or repeated HELP"));
            }
            current = Some(name.to_string());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest
                .split_once(' ')
                .ok_or_else(|| at("TYPE without type"))?;
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                return Err(at("unknown type"));
            }
            if types.insert(name.to_string(), kind.to_string()).is_some()
                || current.as_deref() != Some(name)
            {
                return Err(at("TYPE repeated or not after its HELP"));
            }
        } else if line.starts_with('#') || line.is_empty() {
            return Err(at("unexpected comment or blank line"));
        } else {
            let name_end = line.find(['{', ' ']).ok_or_else(|| at("no value"))?;
            let name = &line[..name_end];
            if !valid_name(name) || current.as_deref() != Some(name) || !types.contains_key(name) {
                return Err(at("sample outside its family"));
            }
            let mut rest = &line[name_end..];
            let mut labels = String::new();
            if rest.starts_with('{') {
                let mut chars = rest.char_indices().skip(1).peekable();
                let end;
                loop {
                    let key_start = match chars.peek() {
                        Some((_, '}')) => {
                            end = chars.next().map(|(i, _)| i);
                            break;
                        }
                        Some((i, _)) => *i,
                        None => return Err(at("unterminated labels")),
                    };
                    let mut key_end = key_start;
                    for (i, c) in chars.by_ref() {
                        if c == '=' {
                            key_end = i;
                            break;
                        }
                    }
                    if !valid_name(&rest[key_start..key_end])
                        || chars.next().map(|(_, c)| c) != Some('"')
                    {
                        return Err(at("bad label name or unquoted value"));
                    }
                    loop {
                        match chars.next() {
                            Some((_, '\\')) => match chars.next() {
                                Some((_, '\\' | '"' | 'n')) => {}
                                _ => return Err(at("bad escape")),
                            },
                            Some((_, '"')) => break,
                            Some((_, '\n')) | None => return Err(at("unterminated label value")),
                            Some(_) => {}
                        }
                    }
                    match chars.next() {
                        Some((_, ',')) => continue,
                        Some((i, '}')) => {
                            end = Some(i);
                            break;
                        }
                        _ => return Err(at("expected , or }")),
                    }
                }
                let end = end.ok_or_else(|| at("unterminated labels"))?;
                labels = rest[..=end].to_string();
                rest = &rest[end + 1..];
            }
            let mut parts = rest
                .strip_prefix(' ')
                .ok_or_else(|| at("no space before value"))?
                .split(' ');
            let value = parts.next().unwrap_or("");
            if !(value == "NaN"
                || value == "+Inf"
                || value == "-Inf"
                || value.parse::<f64>().is_ok())
            {
                return Err(at("bad value"));
            }
            if let Some(ts) = parts.next() {
                ts.parse::<i64>().map_err(|_| at("bad timestamp"))?;
            }
            if parts.next().is_some() || !series.insert(format!("{name}{labels}")) {
                return Err(at("trailing fields or duplicate series"));
            }
            samples += 1;
        }
    }
    Ok(samples)
}

#[test]
fn metrics_follow_the_exposition_format() {
    let backend = demo(4, 60, 1);
    backend.rename("bitaxe-1", "odd \"name\" \\ with\nnewline");
    let server = serve(backend, "", 1);
    let text = get(server.local_addr(), "/metrics").body;
    let samples = validate_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(samples > 30);
    for family in [
        "hmm_miner_hashrate_hashes_per_second",
        "hmm_miner_power_watts",
        "hmm_miner_temperature_celsius",
        "hmm_miner_online",
        "hmm_miner_poll_duration_seconds",
        "hmm_miner_poll_errors_total",
        "hmm_feed_cache_hits_total",
        "hmm_feed_cache_misses_total",
        "hmm_feed_stale_serves_total",
        "hmm_feed_errors_total",
        "hmm_widget_eval_seconds",
        "hmm_mqtt_connected",
        "hmm_mqtt_queue_length",
        "hmm_store_size_bytes",
        "hmm_process_resident_memory_bytes",
    ] {
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "missing {family}"
        );
    }
    assert!(text.contains("hmm_miner_online{miner=\"avalon-nano-1\"} 0"));
    assert!(
        text.contains("hmm_miner_power_watts{miner=\"nmminer-1\"} 2.5"),
        "manual power"
    );
    assert!(
        !text.contains("hmm_miner_temperature_celsius{miner=\"nmminer-1\"}"),
        "unknown stays absent"
    );
    assert!(text.contains("{miner=\"odd \\\"name\\\" \\\\ with\\nnewline\"}"));
    // The checker itself rejects broken input.
    assert!(validate_exposition("x 1\n").is_err());
    assert!(validate_exposition("# HELP x y\n# TYPE x gauge\nx{a=\"b} 1\n").is_err());
    assert!(validate_exposition("# HELP x y\n# TYPE x gauge\nx{a=\"b\"} one\n").is_err());
}

#[test]
fn healthz_follows_the_collector() {
    let backend = demo(1, 60, 1);
    let server = serve(backend.clone(), "", 1);
    let addr = server.local_addr();
    assert_eq!(get(addr, "/healthz").status, 200);
    backend.set_last_cycle(Some(NOW_MS - 25_000));
    assert_eq!(
        get(addr, "/healthz").status,
        200,
        "within 3 poll intervals of 10 s"
    );
    backend.set_last_cycle(Some(NOW_MS - 31_000));
    assert_error(&get(addr, "/healthz"), 503, "31 s ago");
    backend.set_last_cycle(None);
    assert_error(&get(addr, "/healthz"), 503, "not completed");
}

#[test]
fn the_page_for_100_miners_stays_under_100_kb() {
    let server = serve(demo(100, 600, 1), "", 1);
    let page = get(server.local_addr(), "/");
    assert_eq!(page.status, 200);
    assert!(
        page.body.len() < 100 * 1024,
        "page is {} bytes",
        page.body.len()
    );
    assert_eq!(
        page.body
            .matches("<th scope=\"row\"><a href=\"/miner/")
            .count(),
        100
    );
    assert_eq!(
        page.body.matches("<svg class=\"spark\"").count(),
        101,
        "one per miner and the fleet"
    );
    assert!(page.body.contains("<meta name=\"viewport\""));
    println!("page with 100 miners: {} bytes", page.body.len());
}

#[test]
fn hostile_names_and_errors_are_escaped() {
    let backend = demo(4, 60, 1);
    backend.rename("bitaxe-1", "<script>alert(1)</script>");
    backend.set_last_error("avalon-nano-1", "<img src=x onerror=alert(2)>");
    let server = serve(backend, "", 1);
    let addr = server.local_addr();
    let page = get(addr, "/").body;
    assert!(!page.contains("<script>alert(1)</script>"));
    assert!(!page.contains("<img src=x"));
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(page.contains("&lt;img src=x onerror=alert(2)&gt;"));
    let detail = get(addr, "/miner/%3Cscript%3Ealert(1)%3C%2Fscript%3E");
    assert_eq!(detail.status, 200);
    assert!(!detail.body.contains("<script>alert(1)"));
    assert_eq!(
        page.matches("<script>").count(),
        1,
        "only the refresh script"
    );
}

#[test]
fn shutdown_joins_workers_and_closes_the_port() {
    let server = serve(demo(1, 60, 1), "", 3);
    let addr = server.local_addr();
    assert_eq!(get(addr, "/healthz").status, 200);
    let started = Instant::now();
    server.shutdown();
    assert!(started.elapsed() < Duration::from_secs(2));
    std::thread::sleep(Duration::from_millis(100));
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
}

/// A request that declares an absurd body length is answered 413 and the server keeps
/// serving (tiny_http 0.12 allocated the declared length when draining it: see vendor/).
#[test]
fn an_absurd_content_length_is_refused_without_harm() {
    let backend = demo(3, 60, 1);
    let server = serve(backend, TOKEN, 2);
    let addr = server.local_addr();
    for length in ["18446744073709551615", "4294967296000"] {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let head = format!(
            "POST /api/miners/bitaxe-1/mode HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\
             Authorization: Bearer {TOKEN}\r\nContent-Length: {length}\r\n\r\n{{\"mode\":\"eco\"}}"
        );
        stream.write_all(head.as_bytes()).unwrap();
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw);
        let text = String::from_utf8_lossy(&raw);
        assert!(text.starts_with("HTTP/1.1 413"), "answer: {text}");
    }
    let after = get(addr, "/api/miners");
    assert_eq!(after.status, 200);
}
