//! The HTTP server: tiny_http on a listener we bind ourselves, a fixed number of worker
//! threads, request size limits and graceful shutdown.
//!
//! tiny_http 0.12 has no timeouts and reads each connection on its own thread. We bind the
//! `TcpListener` with socket2 and set SO_RCVTIMEO/SO_SNDTIMEO on it (Linux copies them to
//! accepted sockets), so a client that stops sending or reading is dropped after
//! [`SOCKET_TIMEOUT`]. Request heads are parsed by tiny_http's connection threads, so a
//! slow-loris client occupies one of those, never one of our `workers`: workers only see
//! complete heads, and read bodies against a [`BODY_DEADLINE`] and [`MAX_BODY_BYTES`].
//!
//! Known limit of tiny_http 0.12 (documented, not fixable without vendoring it): it buffers
//! a header line before we see it, and when a request with a declared body larger than
//! 1 KiB is dropped unread it allocates the unread remainder at once. We therefore read
//! bodies up to the limit ourselves and answer 413 for larger ones; the daemon should be
//! bound to the LAN, as DESIGN.md says.

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tiny_http::{Header, Response, Server};

use super::routes::{self, Context, HttpError, Reply};
use super::{WebBackend, WebSettings, secrets};

/// Read and write timeout of every connection socket.
pub const SOCKET_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest request body accepted (control bodies are a few bytes).
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Longest request target (path and query).
pub const MAX_URL_BYTES: usize = 4 * 1024;
/// Largest total size of all request headers.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Longest time a worker spends reading one request body.
pub const BODY_DEADLINE: Duration = Duration::from_secs(15);
/// Most worker threads, whatever the config says.
const MAX_WORKERS: usize = 64;

/// Why the server could not start. The message names the config field and the fix.
#[derive(Debug)]
pub struct WebError(String);

impl std::fmt::Display for WebError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WebError {}

/// A running web server. Dropping it (or calling [`WebServer::shutdown`]) stops accepting,
/// lets the workers finish the request in hand and joins them.
pub struct WebServer {
    server: Arc<Server>,
    workers: Vec<JoinHandle<()>>,
    stopping: Arc<AtomicBool>,
    local_addr: SocketAddr,
}

impl WebServer {
    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops the server and waits for the workers.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        for _ in &self.workers {
            self.server.unblock();
        }
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Binds `settings.bind` with socket timeouts and starts `settings.workers` workers.
pub fn start(settings: &WebSettings, backend: Arc<dyn WebBackend>) -> Result<WebServer, WebError> {
    let listener = bind(&settings.bind)?;
    let local_addr = listener
        .local_addr()
        .map_err(|e| WebError(format!("web.bind = {:?}: {e}", settings.bind)))?;
    let server = Server::from_listener(listener, None)
        .map_err(|e| WebError(format!("web.bind = {:?}: cannot serve: {e}", settings.bind)))?;
    let server = Arc::new(server);
    let stopping = Arc::new(AtomicBool::new(false));
    let context = Arc::new(Context {
        backend,
        token: settings.token.clone(),
    });
    let count = settings.workers.clamp(1, MAX_WORKERS);
    let mut workers = Vec::with_capacity(count);
    for index in 0..count {
        let (server, stopping, context) = (server.clone(), stopping.clone(), context.clone());
        let worker = std::thread::Builder::new()
            .name(format!("web-{index}"))
            .spawn(move || worker_loop(&server, &stopping, &context))
            .map_err(|e| WebError(format!("cannot start web worker thread: {e}")))?;
        workers.push(worker);
    }
    log::info!("web: serving http://{local_addr}/ with {count} workers");
    Ok(WebServer {
        server,
        workers,
        stopping,
        local_addr,
    })
}

/// Creates the listening socket with SO_REUSEADDR and the read/write timeouts that
/// accepted connections inherit.
fn bind(bind: &str) -> Result<TcpListener, WebError> {
    let fail = |what: &str, e: std::io::Error| {
        WebError(format!(
            "web.bind = {bind:?}: {what}: {e}; set web.bind to a free ADDRESS:PORT such as 0.0.0.0:8080"
        ))
    };
    let addr = bind
        .to_socket_addrs()
        .map_err(|e| fail("not an address", e))?
        .next()
        .ok_or_else(|| WebError(format!("web.bind = {bind:?}: resolves to no address")))?;
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )
    .map_err(|e| fail("cannot create socket", e))?;
    socket
        .set_reuse_address(true)
        .map_err(|e| fail("SO_REUSEADDR", e))?;
    socket
        .set_read_timeout(Some(SOCKET_TIMEOUT))
        .map_err(|e| fail("SO_RCVTIMEO", e))?;
    socket
        .set_write_timeout(Some(SOCKET_TIMEOUT))
        .map_err(|e| fail("SO_SNDTIMEO", e))?;
    socket
        .bind(&addr.into())
        .map_err(|e| fail("cannot bind", e))?;
    socket.listen(128).map_err(|e| fail("cannot listen", e))?;
    Ok(socket.into())
}

fn worker_loop(server: &Server, stopping: &AtomicBool, context: &Context) {
    while !stopping.load(Ordering::SeqCst) {
        match server.recv() {
            Ok(request) => serve(context, request),
            Err(_) if stopping.load(Ordering::SeqCst) => break,
            // An accept error (e.g. out of file descriptors): back off instead of spinning.
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Checks the limits, reads the body, routes, scrubs secrets and answers one request.
fn serve(context: &Context, mut request: tiny_http::Request) {
    let started = Instant::now();
    let method = request.method().as_str().to_ascii_uppercase();
    let url = request.url().to_string();
    let reply = match check_and_read(&mut request) {
        Err(error) => error.into_reply(),
        Ok(body) => {
            let (path, query) = url.split_once('?').unwrap_or((&url, ""));
            let authorization = request
                .headers()
                .iter()
                .find(|h| h.field.equiv("Authorization"))
                .map(|h| h.value.as_str().to_string());
            routes::handle(
                context,
                &routes::Request {
                    method: &method,
                    path,
                    query,
                    authorization: authorization.as_deref(),
                    body: &body,
                },
            )
        }
    };
    let path_only: String = url
        .split('?')
        .next()
        .unwrap_or("")
        .chars()
        .take(120)
        .collect();
    log::debug!(
        "web: {method} {path_only} -> {} in {:?}",
        reply.status,
        started.elapsed()
    );
    let mut secrets = context.backend.secrets();
    secrets.push(context.token.clone());
    let _ = request.respond(into_response(reply, &secrets));
}

/// Enforces the URL, header and body limits and returns the body.
fn check_and_read(request: &mut tiny_http::Request) -> Result<Vec<u8>, HttpError> {
    if request.url().len() > MAX_URL_BYTES {
        return Err(HttpError::new(
            414,
            format!("request target longer than {MAX_URL_BYTES} bytes"),
        ));
    }
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|h| h.field.as_str().as_str().len() + h.value.as_str().len() + 4)
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return Err(HttpError::new(
            431,
            format!("request headers larger than {MAX_HEADER_BYTES} bytes"),
        ));
    }
    if request.body_length().is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(too_large());
    }
    let deadline = Instant::now() + BODY_DEADLINE;
    let mut body = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let read = std::io::Read::read(request.as_reader(), &mut chunk)
            .map_err(|e| HttpError::new(400, format!("could not read the request body: {e}")))?;
        if read == 0 {
            return Ok(body);
        }
        body.extend_from_slice(&chunk[..read]);
        if body.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        if Instant::now() > deadline {
            return Err(HttpError::new(
                408,
                "the request body arrived too slowly".into(),
            ));
        }
    }
}

fn too_large() -> HttpError {
    HttpError::new(
        413,
        format!("request body larger than {MAX_BODY_BYTES} bytes"),
    )
}

fn header(name: &str, value: &str) -> Option<Header> {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).ok()
}

/// Builds the tiny_http response with security and caching headers; the body is scrubbed
/// of every secret first.
fn into_response(reply: Reply, secrets: &[String]) -> Response<std::io::Cursor<Vec<u8>>> {
    let body = secrets::scrub(reply.body, secrets);
    let mut response = Response::from_data(body).with_status_code(reply.status);
    let mut headers = vec![
        header("Content-Type", reply.content_type),
        header("Cache-Control", "no-store"),
        header("X-Content-Type-Options", "nosniff"),
        header("Referrer-Policy", "no-referrer"),
        header(
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    ];
    if reply.status == 413 || reply.status == 408 {
        headers.push(header("Connection", "close"));
    }
    for (name, value) in &reply.headers {
        headers.push(header(name, value));
    }
    for h in headers.into_iter().flatten() {
        response.add_header(h);
    }
    response
}
