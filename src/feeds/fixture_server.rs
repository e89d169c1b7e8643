//! A loopback HTTP server that plays Octopus, CoinGecko, CKPool and SoloPool, for the feed
//! tests and for `hmm demo` (so the whole feed path runs without the internet).
//!
//! It serves the reference fixture payloads at the real paths, generates paginated Agile
//! unit rates with `next` links for a realistic day shape (cheap overnight, peak
//! 16:00–19:00 UK) around its clock's "now" (tomorrow's prices appear at 16:00 UK, as on
//! the real API), and can be told per route to hang, fail with a status, or answer 429 with
//! a Retry-After. It counts hits per route so tests can count outbound requests. Each
//! connection is answered on its own thread and closed after one reply, so a hung route does
//! not delay the others. (std only: tiny_http's worker pool can queue a new connection behind
//! idle keep-alive ones, which made "one hung pool" tests flaky.)
//!
//! Paths: `/v1/products/`, `/v1/products/<code>/electricity-tariffs/E-1R-<code>-<R>/
//! standard-unit-rates/`, `/api/v3/simple/price`, `/users/<address>`, `/pool/pool.status`,
//! `/<coin>/api/accounts/<address>` and `/<coin>/api/stats` (so the SoloPool template is
//! `<base>/{coin}`).

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::clock::Clock;
use super::settings::{FeedSettings, PoolFeed, StatsKind};
use crate::ukclock::{SLOT_S, rfc3339, uk_day_bounds, uk_local};

/// The routes the server plays, for faults and hit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// `/v1/products/`.
    Products,
    /// Agile standard unit rates.
    Rates,
    /// CoinGecko `simple/price`.
    CoinGecko,
    /// CKPool `/users/<address>`.
    CkpoolUser,
    /// CKPool `/pool/pool.status`.
    CkpoolStatus,
    /// SoloPool `/<coin>/api/accounts/<address>`.
    Solopool,
    /// SoloPool `/<coin>/api/stats` (network difficulty).
    SolopoolStats,
}

/// What a route does instead of answering normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer normally.
    None,
    /// Accept the request and never answer (until the fault is cleared or 60 s pass).
    Hang,
    /// Answer normally, but only after this many milliseconds (a slow server).
    Delay(u64),
    /// Answer with this HTTP status.
    Status(u16),
    /// Answer 429 with `Retry-After: <seconds>`.
    TooManyRequests {
        /// The Retry-After value in seconds.
        retry_after_s: u64,
    },
}

/// The Agile product the server offers (the one in the reference fixture).
pub const AGILE_PRODUCT: &str = "AGILE-24-10-01";

/// A CKPool/SoloPool account address the built-in payloads belong to.
pub const DEMO_ADDRESS: &str = "bc1qa8r4up9nchkvdnhcf9feexv2jfantrk48ef374";

/// Built-in payloads, byte-for-byte the reference fixtures (a test keeps them in step), so
/// `hmm demo` needs no files beside the binary.
pub const COINGECKO_BODY: &str = r#"{
  "bitcoin": {"usd": 97234.12, "usd_24h_change": -1.2345678901234, "gbp": 76810.55, "gbp_24h_change": -1.0987654321098, "last_updated_at": 1747140180},
  "bitcoin-cash": {"usd": 412.87, "usd_24h_change": 2.3456789012345, "gbp": 326.14, "gbp_24h_change": 2.5678901234567, "last_updated_at": 1747140175},
  "digibyte": {"usd": 0.01123456, "usd_24h_change": 0.8765432109876, "gbp": 0.00887465, "gbp_24h_change": 1.0123456789012, "last_updated_at": 1747140171}
}"#;

/// See [`COINGECKO_BODY`].
pub const CKPOOL_USER_BODY: &str = r#"{
 "hashrate1m": "0", "hashrate5m": "0", "hashrate1hr": "4.57G", "hashrate1d": "85.4T", "hashrate7d": "148T",
 "lastshare": 1751962081, "workers": 0, "shares": 7831260707329, "bestshare": 137427866914851.2,
 "bestever": 137427866914851, "authorised": 1721981103,
 "worker": [{"workername": "bc1qa8r4up9nchkvdnhcf9feexv2jfantrk48ef374", "hashrate1m": "0", "hashrate5m": "0",
   "hashrate1hr": "4.57G", "hashrate1d": "85.4T", "hashrate7d": "51.5T", "lastshare": 1751962081,
   "shares": 10267078458, "bestshare": 203034806650.409, "bestever": 203034806650}]
}"#;

/// See [`COINGECKO_BODY`].
pub const CKPOOL_STATUS_BODY: &str = r#"{"runtime": 9240, "lastupdate": 1767000053, "Users": 1, "Workers": 4, "Idle": 1, "Disconnected": 3}
{"hashrate1m": "1.71T", "hashrate5m": "1.79T", "hashrate15m": "1.8T", "hashrate1hr": "1.48T", "hashrate6hr": "439G", "hashrate1d": "121G", "hashrate7d": "17.8G"}
{"diff": 0.24, "accepted": 2525312, "rejected": 637048, "bestshare": 169302, "SPS1m": 0.398, "SPS5m": 0.42, "SPS15m": 0.429, "SPS1h": 0.351}
"#;

/// See [`COINGECKO_BODY`].
pub const SOLOPOOL_ACCOUNT_BODY: &str = r#"{
  "currentHashrate": 1082000000000, "hashrate": 1064523000000, "pageSize": 30, "payments": [], "paymentsTotal": 0,
  "roundShares": 52431,
  "stats": {"balance": 0, "blocksFound": 0, "immature": 0, "lastShare": 1747140112, "paid": 0, "pending": false},
  "earnings": [{"period": 86400, "blocks": 0, "amount": 0, "luck": 0}, {"period": 604800, "blocks": 0, "amount": 0, "luck": 0},
    {"period": 2592000, "blocks": 0, "amount": 0, "luck": 0}],
  "workers": {"bitaxe": {"lastBeat": 1747140112, "hr": 1082000000000, "offline": false, "hr2": 1064523000000,
    "sharesValid": 5210, "sharesInvalid": 2, "sharesStale": 0}},
  "workersOffline": 0, "workersOnline": 1, "workersTotal": 1
}"#;

/// SoloPool `/api/stats`, the same JSON as `tests/data/solopool_stats.json` (a test keeps
/// them in step). **Reconstructed**, not captured: SoloPool publishes no schema
/// (protocols.md §5.2); the shape follows what consumers read (`stats.difficulty`, with
/// pool and network figures beside it) and the difficulty is the one the reference AxeOS
/// fixtures report, so the demo's miners and its SoloPool agree as real ones would.
pub const SOLOPOOL_STATS_BODY: &str = r#"{
  "now": 1747140180,
  "stats": {"difficulty": 126411437451912, "height": 912345, "networkHashrate": 904888316160519000000,
    "poolHashrate": 1480000000000000, "poolMiners": 812, "poolBlocks": 37, "poolFee": 1.0,
    "lastBlockFound": 1746982111}
}"#;

struct Shared {
    clock: Arc<dyn Clock>,
    addr: SocketAddr,
    faults: Mutex<HashMap<Route, Fault>>,
    hits: Mutex<HashMap<Route, u64>>,
    bodies: Mutex<HashMap<Route, String>>,
    overrides: Mutex<BTreeMap<u64, f64>>,
    headers: Mutex<HashMap<String, String>>,
    stopping: AtomicBool,
    requests: AtomicU64,
}

/// A running fixture server; stopped on drop.
pub struct FixtureServer {
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl FixtureServer {
    /// Starts on `127.0.0.1:0` with `clock` deciding "now" for the Agile prices.
    pub fn start(clock: Arc<dyn Clock>) -> Result<FixtureServer, String> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| format!("fixture server: cannot listen on 127.0.0.1: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("fixture server: no local address: {e}"))?;
        let shared = Arc::new(Shared {
            clock,
            addr,
            faults: Mutex::new(HashMap::new()),
            hits: Mutex::new(HashMap::new()),
            bodies: Mutex::new(HashMap::new()),
            overrides: Mutex::new(BTreeMap::new()),
            headers: Mutex::new(HashMap::new()),
            stopping: AtomicBool::new(false),
            requests: AtomicU64::new(0),
        });
        let accept = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("fixture-server".into())
                .spawn(move || accept_loop(&listener, &shared))
                .map_err(|e| format!("fixture server: cannot start thread: {e}"))?
        };
        Ok(FixtureServer {
            shared,
            accept: Some(accept),
        })
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    /// Makes `route` misbehave (or behave again with [`Fault::None`]).
    pub fn set_fault(&self, route: Route, fault: Fault) {
        lock(&self.shared.faults).insert(route, fault);
    }

    /// Requests received on `route` so far (faulted ones included).
    pub fn hits(&self, route: Route) -> u64 {
        lock(&self.shared.hits).get(&route).copied().unwrap_or(0)
    }

    /// Requests received on any path.
    pub fn total_hits(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Replaces the payload of a fixed-body route (CoinGecko, CKPool, SoloPool accounts and
    /// stats).
    pub fn set_body(&self, route: Route, body: &str) {
        lock(&self.shared.bodies).insert(route, body.to_string());
    }

    /// Republishes one Agile slot with a new price (p/kWh inc. VAT).
    pub fn set_price(&self, valid_from_s: u64, pence_per_kwh: f64) {
        lock(&self.shared.overrides).insert(valid_from_s, pence_per_kwh);
    }

    /// The last value received for a request header (lower-case name), for tests.
    pub fn last_header(&self, name: &str) -> Option<String> {
        lock(&self.shared.headers).get(name).cloned()
    }

    /// Feed settings with every URL pointing here, three coins and three pools (one per
    /// stats kind), a 2 s timeout and Agile region H: what tests and `hmm demo` use.
    pub fn settings(&self) -> FeedSettings {
        let base = self.base_url();
        let mut settings = FeedSettings::default();
        settings.feeds.octopus_url = base.clone();
        settings.feeds.coingecko_url = base.clone();
        settings.feeds.ckpool_url = base.clone();
        settings.feeds.solopool_url = format!("{base}/{{coin}}");
        settings.feeds.coins = vec!["bitcoin".into(), "bitcoin-cash".into(), "digibyte".into()];
        settings.feeds.timeout = Duration::from_secs(2);
        let pool = |name: &str, stats: StatsKind, coin: &str, stats_url: &str| PoolFeed {
            name: name.into(),
            url: "stratum+tcp://127.0.0.1:3333".into(),
            user: format!("{DEMO_ADDRESS}.bitaxe"),
            stats,
            account: String::new(),
            coin: coin.into(),
            enabled: true,
            stats_url: stats_url.into(),
        };
        settings.pools = vec![
            pool("ckpool", StatsKind::Ckpool, "btc", ""),
            pool("home-ckpool", StatsKind::CkpoolStatus, "btc", &base),
            pool("solopool-btc", StatsKind::Solopool, "btc", ""),
        ];
        settings
    }

    /// The unit rate the server publishes for the slot starting at `valid_from_s` (after
    /// any [`FixtureServer::set_price`] override).
    pub fn price_for_slot(&self, valid_from_s: u64) -> f64 {
        slot_price(&self.shared, valid_from_s)
    }
}

impl Drop for FixtureServer {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake the blocking accept() so the loop sees the flag.
        let _ = TcpStream::connect_timeout(&self.shared.addr, Duration::from_secs(1));
        if let Some(handle) = self.accept.take() {
            let _ = handle.join();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// One thread per connection, one request per connection (`Connection: close`): simple,
/// and a hung route can never queue other requests behind it.
fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else {
            continue;
        };
        let shared = Arc::clone(shared);
        let _ = std::thread::Builder::new()
            .name("fixture-request".into())
            .spawn(move || handle(stream, &shared));
    }
}

type Reply = (u16, String, Vec<(String, String)>);

/// The request line's target and the headers (lower-case names) of one GET.
fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<(String, String)>)> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 || head.len() > 16 * 1024 {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let mut request_line = lines.next()?.split_whitespace();
    let (_method, target) = (request_line.next()?, request_line.next()?);
    let headers = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some((target.to_string(), headers))
}

fn handle(mut stream: TcpStream, shared: &Shared) {
    let Some((url, headers)) = read_request(&mut stream) else {
        return;
    };
    shared.requests.fetch_add(1, Ordering::SeqCst);
    for (name, value) in headers {
        if name == "x-cg-demo-api-key" || name == "user-agent" {
            lock(&shared.headers).insert(name, value);
        }
    }
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let query = parse_query(query);
    let route = route_of(path);
    if let Some(route) = route {
        *lock(&shared.hits).entry(route).or_insert(0) += 1;
        let fault = lock(&shared.faults)
            .get(&route)
            .copied()
            .unwrap_or(Fault::None);
        match fault {
            Fault::None => {}
            Fault::Delay(ms) => std::thread::sleep(Duration::from_millis(ms)),
            Fault::Hang => {
                hang(shared, route);
                return;
            }
            Fault::Status(code) => {
                return respond(stream, (code, r#"{"detail":"fault"}"#.into(), vec![]));
            }
            Fault::TooManyRequests { retry_after_s } => {
                let headers = vec![("Retry-After".to_string(), retry_after_s.to_string())];
                return respond(
                    stream,
                    (429, r#"{"detail":"rate limited"}"#.into(), headers),
                );
            }
        }
    }
    let reply = match route {
        Some(Route::Products) => products_page(shared, &query),
        Some(Route::Rates) => rates_page(shared, path, &query),
        Some(Route::CoinGecko) => coingecko(shared, &query),
        Some(Route::CkpoolUser) => ok(body(shared, Route::CkpoolUser, CKPOOL_USER_BODY)),
        Some(Route::CkpoolStatus) => ok(body(shared, Route::CkpoolStatus, CKPOOL_STATUS_BODY)),
        Some(Route::Solopool) => ok(body(shared, Route::Solopool, SOLOPOOL_ACCOUNT_BODY)),
        Some(Route::SolopoolStats) => ok(body(shared, Route::SolopoolStats, SOLOPOOL_STATS_BODY)),
        None => not_found(),
    };
    respond(stream, reply);
}

fn hang(shared: &Shared, route: Route) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) && !shared.stopping.load(Ordering::SeqCst) {
        if lock(&shared.faults).get(&route) != Some(&Fault::Hang) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Returning drops the stream without an answer: the client sees a closed connection.
}

fn respond(mut stream: TcpStream, (status, body, headers): Reply) {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
    let _ = stream.flush();
}

fn ok(body: String) -> Reply {
    (
        200,
        body,
        vec![("Content-Type".into(), "application/json".into())],
    )
}

fn not_found() -> Reply {
    (404, r#"{"detail":"Not found."}"#.into(), vec![])
}

fn body(shared: &Shared, route: Route, default: &str) -> String {
    lock(&shared.bodies)
        .get(&route)
        .cloned()
        .unwrap_or_else(|| default.to_string())
}

fn route_of(path: &str) -> Option<Route> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    match parts.as_slice() {
        ["v1", "products"] => Some(Route::Products),
        [
            "v1",
            "products",
            _,
            "electricity-tariffs",
            _,
            "standard-unit-rates",
        ] => Some(Route::Rates),
        ["api", "v3", "simple", "price"] => Some(Route::CoinGecko),
        ["users", _] => Some(Route::CkpoolUser),
        ["pool", "pool.status"] => Some(Route::CkpoolStatus),
        [_, "api", "accounts", _] => Some(Route::Solopool),
        [_, "api", "stats"] => Some(Route::SolopoolStats),
        _ => None,
    }
}

fn parse_query(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), percent_decode(v)))
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex_byte = (bytes[i] == b'%' && i + 2 < bytes.len())
            .then(|| std::str::from_utf8(&bytes[i + 1..i + 3]).ok())
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        if let Some(byte) = hex_byte {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn page_number(query: &HashMap<String, String>) -> usize {
    query
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1)
}

/// Products over three pages of two: the current import product sits on the last page,
/// among an expired Agile, an export Agile and non-Agile products.
fn products_page(shared: &Shared, query: &HashMap<String, String>) -> Reply {
    let product = |code: &str, direction: &str, from: &str, to: Value| {
        json!({"code": code, "direction": direction, "full_name": code, "display_name": code,
               "is_variable": true, "brand": "OCTOPUS_ENERGY", "available_from": from, "available_to": to})
    };
    let all = [
        product(
            "VAR-22-11-01",
            "IMPORT",
            "2022-11-01T00:00:00Z",
            Value::Null,
        ),
        product(
            "AGILE-FLEX-22-11-25",
            "IMPORT",
            "2022-11-25T00:00:00Z",
            json!("2024-09-30T23:59:59+01:00"),
        ),
        product(
            "AGILE-OUTGOING-19-05-13",
            "EXPORT",
            "2018-01-01T00:00:00Z",
            Value::Null,
        ),
        product(
            "GO-VAR-22-10-14",
            "IMPORT",
            "2022-10-14T00:00:00+01:00",
            Value::Null,
        ),
        product(
            AGILE_PRODUCT,
            "IMPORT",
            "2024-10-01T00:00:00+01:00",
            Value::Null,
        ),
    ];
    let per_page = 2;
    let page = page_number(query);
    let items: Vec<Value> = all
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .cloned()
        .collect();
    let pages = all.len().div_ceil(per_page);
    let link = |n: usize| json!(format!("http://{}/v1/products/?page={n}", shared.addr));
    let body = json!({
        "count": all.len(),
        "next": if page < pages { link(page + 1) } else { Value::Null },
        "previous": if page > 1 { link(page - 1) } else { Value::Null },
        "results": items,
    });
    ok(body.to_string())
}

/// Agile unit rates for the requested window, newest first, paginated with `next` links.
/// Published: everything up to the end of today (UK), and tomorrow from 16:00 UK.
fn rates_page(shared: &Shared, path: &str, query: &HashMap<String, String>) -> Reply {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let (product, tariff) = (parts[2], parts[4]);
    let region_ok = tariff
        .strip_prefix(&format!("E-1R-{product}-"))
        .is_some_and(|r| r.len() == 1 && super::octopus::REGIONS.contains(r));
    if product != AGILE_PRODUCT || !region_ok {
        return not_found();
    }
    let now_s = shared.clock.now_s();
    let published_until = published_until(now_s);
    let time = |key: &str| {
        query
            .get(key)
            .and_then(|v| super::octopus::parse_iso8601(v))
    };
    let to = time("period_to")
        .unwrap_or(published_until)
        .min(published_until);
    let from = time("period_from").unwrap_or(to.saturating_sub(2 * 86_400));
    let first = from.div_ceil(SLOT_S) * SLOT_S;
    let mut slots: Vec<u64> = (first..to).step_by(SLOT_S as usize).collect();
    slots.reverse();
    let page_size: usize = query
        .get("page_size")
        .and_then(|p| p.parse().ok())
        .unwrap_or(100usize)
        .clamp(1, 1500);
    let page = page_number(query);
    let results: Vec<Value> = slots
        .iter()
        .skip((page - 1) * page_size)
        .take(page_size)
        .map(|&start| {
            let inc = slot_price(shared, start);
            json!({"value_exc_vat": round4(inc / 1.05), "value_inc_vat": inc,
                   "valid_from": rfc3339(start), "valid_to": rfc3339(start + SLOT_S), "payment_method": null})
        })
        .collect();
    let pages = slots.len().div_ceil(page_size).max(1);
    let link = |n: usize| {
        let mut url = format!("http://{}{path}?", shared.addr);
        for key in ["period_from", "period_to"] {
            if let Some(v) = query.get(key) {
                url.push_str(&format!("{key}={v}&"));
            }
        }
        json!(format!("{url}page_size={page_size}&page={n}"))
    };
    let body = json!({
        "count": slots.len(),
        "next": if page < pages { link(page + 1) } else { Value::Null },
        "previous": if page > 1 { link(page - 1) } else { Value::Null },
        "results": results,
    });
    ok(body.to_string())
}

/// End of the published prices at `now_s`: end of tomorrow (UK) from 16:00 UK, else end of
/// today.
pub fn published_until(now_s: u64) -> u64 {
    let (today_start, today_end) = uk_day_bounds(now_s);
    if now_s >= super::octopus::uk_time_on_day(today_start, 16, 0) {
        uk_day_bounds(today_end).1
    } else {
        today_end
    }
}

fn slot_price(shared: &Shared, start: u64) -> f64 {
    if let Some(price) = lock(&shared.overrides).get(&start) {
        return *price;
    }
    agile_shape_price(start)
}

/// An Agile-like price for the slot starting at `start` (p/kWh inc. VAT): ~8 p overnight,
/// a morning rise, a midday dip, a 16:00–19:00 peak, and a deterministic ±1.5 p wobble.
pub fn agile_shape_price(start: u64) -> f64 {
    let (_, _, _, h, m) = uk_local(start);
    let hour = f64::from(h) + f64::from(m) / 60.0;
    let base = match h {
        0..=4 => 12.0 - 4.0 * (std::f64::consts::PI * hour / 5.0).sin(),
        5..=6 => 12.0 + (hour - 5.0) * 4.5,
        7..=9 => 22.0,
        10..=15 => 17.0 - 2.0 * (std::f64::consts::PI * (hour - 10.0) / 6.0).sin(),
        16..=18 => 34.0,
        _ => 24.0 - (hour - 19.0) * 2.0,
    };
    let wobble = ((start / SLOT_S).wrapping_mul(2_654_435_761) % 301) as f64 / 100.0 - 1.5;
    round4(base + wobble)
}

fn round4(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

/// CoinGecko's reply filtered to the requested ids and currencies, as the real API does.
fn coingecko(shared: &Shared, query: &HashMap<String, String>) -> Reply {
    let source: Value = match serde_json::from_str(&body(shared, Route::CoinGecko, COINGECKO_BODY))
    {
        Ok(value) => value,
        Err(_) => return (500, "bad fixture".into(), vec![]),
    };
    let ids: Vec<&str> = query
        .get("ids")
        .map(|s| s.split(',').collect())
        .unwrap_or_default();
    let currencies: Vec<&str> = query
        .get("vs_currencies")
        .map(|s| s.split(',').collect())
        .unwrap_or_default();
    if currencies.is_empty() {
        return (
            400,
            r#"{"error":"Missing parameter vs_currencies"}"#.into(),
            vec![],
        );
    }
    let mut out = serde_json::Map::new();
    for id in ids {
        let Some(Value::Object(fields)) = source.get(id) else {
            continue;
        };
        let mut coin = serde_json::Map::new();
        for currency in &currencies {
            for key in [currency.to_string(), format!("{currency}_24h_change")] {
                if let Some(v) = fields.get(&key) {
                    coin.insert(key, v.clone());
                }
            }
        }
        if let Some(v) = fields.get("last_updated_at") {
            coin.insert("last_updated_at".into(), v.clone());
        }
        out.insert(id.to_string(), Value::Object(coin));
    }
    ok(Value::Object(out).to_string())
}
