//! Request dispatch: maps method and path to a handler and every failure to one error
//! shape, `{"error": "...", "status": N}` with the matching status code (400 bad
//! parameter, 401/403 control refused, 404 unknown route/miner/widget, 405 with `Allow`,
//! 413 body too large, 429 cooldown with `Retry-After`).
//!
//! Routing works on plain data ([`Request`] in, [`Reply`] out) so it is independent of
//! tiny_http; `server.rs` does the translation and the size limits.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::model::Mode;

use super::api::{self, Query};
use super::auth::{AuthDecision, authorize};
use super::{ControlAction, ControlRefusal, WebBackend, metrics, page};

/// A request after the server has checked its size limits and read its body.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Upper-case method, e.g. `GET`.
    pub method: &'a str,
    /// The path without the query, still percent-encoded.
    pub path: &'a str,
    /// The query string without `?`.
    pub query: &'a str,
    /// The `Authorization` header, if any.
    pub authorization: Option<&'a str>,
    /// The body (empty for GET).
    pub body: &'a [u8],
}

/// An answer ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// `Content-Type` header value.
    pub content_type: &'static str,
    /// Extra headers (`Allow`, `Retry-After`).
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

const JSON: &str = "application/json";
const HTML: &str = "text/html; charset=utf-8";
const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";

impl Reply {
    /// A JSON answer.
    pub fn json(status: u16, value: &Value) -> Reply {
        Reply {
            status,
            content_type: JSON,
            headers: Vec::new(),
            body: serde_json::to_vec(value).unwrap_or_default(),
        }
    }

    /// An HTML page.
    pub fn html(status: u16, page: String) -> Reply {
        Reply {
            status,
            content_type: HTML,
            headers: Vec::new(),
            body: page.into_bytes(),
        }
    }
}

/// A failed request: status, a message for the client and the headers that go with it.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpError {
    /// HTTP status code.
    pub status: u16,
    /// What went wrong and what to do, for people.
    pub message: String,
    /// `Allow` header for 405.
    pub allow: Option<&'static str>,
    /// `Retry-After` header for 429, seconds.
    pub retry_after_s: Option<u64>,
}

impl HttpError {
    /// An error with just a status and message.
    pub fn new(status: u16, message: String) -> HttpError {
        HttpError {
            status,
            message,
            allow: None,
            retry_after_s: None,
        }
    }

    /// 400 Bad Request; the message names the parameter.
    pub fn bad_request(message: String) -> HttpError {
        HttpError::new(400, message)
    }

    /// 404 Not Found.
    pub fn not_found(message: String) -> HttpError {
        HttpError::new(404, message)
    }

    /// 405 Method Not Allowed with the methods the route takes.
    pub fn method_not_allowed(allow: &'static str) -> HttpError {
        HttpError {
            allow: Some(allow),
            ..HttpError::new(405, format!("method not allowed here; use {allow}"))
        }
    }

    /// The JSON error answer.
    pub fn into_reply(self) -> Reply {
        let mut reply = Reply::json(
            self.status,
            &json!({ "error": self.message, "status": self.status }),
        );
        if let Some(allow) = self.allow {
            reply.headers.push(("Allow", allow.to_string()));
        }
        if let Some(seconds) = self.retry_after_s {
            reply.headers.push(("Retry-After", seconds.to_string()));
        }
        reply
    }
}

/// What routing needs: the backend and the control token.
pub struct Context {
    /// The daemon (or a test double).
    pub backend: Arc<dyn WebBackend>,
    /// The configured bearer token; empty = control off.
    pub token: String,
}

const READ_METHODS: &str = "GET, HEAD";
const CONTROL_METHODS: &str = "POST";

/// Answers one request.
pub fn handle(context: &Context, request: &Request<'_>) -> Reply {
    let segments: Vec<String> = request
        .path
        .trim_start_matches('/')
        .split('/')
        .map(path_decode)
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let backend = context.backend.as_ref();
    let query = Query::parse(request.query);
    let is_read = matches!(request.method, "GET" | "HEAD");

    let result = match segments.as_slice() {
        [
            "api",
            "miners",
            name,
            action @ ("mode" | "restart" | "enabled" | "pool"),
        ] => {
            if request.method != "POST" {
                Err(HttpError::method_not_allowed(CONTROL_METHODS))
            } else {
                control(context, name, action, request).map(|v| Reply::json(200, &v))
            }
        }
        _ if !is_read => match read_route_exists(&segments) {
            true => Err(HttpError::method_not_allowed(READ_METHODS)),
            false => Err(unknown_route(request.path)),
        },
        [""] => page::status_page(backend).map(|html| Reply::html(200, html)),
        ["miner", name] => page::miner_page(backend, name).map(|html| Reply::html(200, html)),
        ["metrics"] => Ok(Reply {
            status: 200,
            content_type: PROMETHEUS,
            headers: Vec::new(),
            body: metrics::render(backend).into_bytes(),
        }),
        ["healthz"] => Ok(healthz(backend)),
        ["api", "miners"] => api::miners(backend).map(|v| Reply::json(200, &v)),
        ["api", "miners", name] => api::miner(backend, name).map(|v| Reply::json(200, &v)),
        ["api", "miners", name, "telemetry"] => {
            api::telemetry(backend, name, &query).map(|v| Reply::json(200, &v))
        }
        ["api", "miners", name, "slots"] => {
            api::slots(backend, name, &query).map(|v| Reply::json(200, &v))
        }
        ["api", "widgets"] => Ok(Reply::json(200, &api::widgets(backend))),
        ["api", "widgets", name] => api::widget(backend, name).map(|v| Reply::json(200, &v)),
        ["api", "prices"] => api::prices(backend, &query).map(|v| Reply::json(200, &v)),
        ["api", "audit"] => api::audit(backend, &query).map(|v| Reply::json(200, &v)),
        ["api", "feeds"] => Ok(Reply::json(200, &api::feeds(backend))),
        _ => Err(unknown_route(request.path)),
    };
    match result {
        Ok(reply) => reply,
        Err(error) if !request.path.starts_with("/api/") && error.status == 404 && is_read => {
            Reply::html(404, page::not_found_page(&error.message))
        }
        Err(error) => error.into_reply(),
    }
}

fn unknown_route(path: &str) -> HttpError {
    let shown: String = path.chars().take(80).collect();
    HttpError::not_found(format!(
        "no route {shown}; see /api/miners, /api/widgets, /api/prices, /api/audit, /api/feeds, /metrics, /healthz"
    ))
}

/// Whether a read route of this shape exists (for 405 versus 404).
fn read_route_exists(segments: &[&str]) -> bool {
    matches!(
        segments,
        [""] | ["miner", _]
            | ["metrics"]
            | ["healthz"]
            | ["api", "miners"]
            | ["api", "miners", _]
            | ["api", "miners", _, "telemetry" | "slots"]
            | ["api", "widgets"]
            | ["api", "widgets", _]
            | ["api", "prices" | "audit" | "feeds"]
    )
}

/// Percent-decodes one path segment (`+` stays `+` in paths).
fn path_decode(segment: &str) -> String {
    api::percent_decode(&segment.replace('+', "%2B"))
}

/// `GET /healthz`: 200 while the collector completed a cycle within three poll intervals.
fn healthz(backend: &dyn WebBackend) -> Reply {
    let health = backend.health();
    let now = backend.now_ms();
    let interval_ms = (health.poll_interval.as_millis() as u64).max(1000);
    let limit_ms = 3 * interval_ms;
    match health.last_cycle_ms {
        None => HttpError::new(
            503,
            "the collector has not completed a poll cycle yet".into(),
        )
        .into_reply(),
        Some(last) if now.saturating_sub(last) > limit_ms => HttpError::new(
            503,
            format!(
                "the last collector cycle finished {} s ago, more than 3 poll intervals ({} s)",
                now.saturating_sub(last) / 1000,
                limit_ms / 1000
            ),
        )
        .into_reply(),
        Some(last) => Reply::json(
            200,
            &json!({
                "status": "ok",
                "last_cycle_ms": last,
                "last_cycle": api::time_text(last),
                "age_ms": now.saturating_sub(last),
                "poll_interval_ms": interval_ms,
            }),
        ),
    }
}

/// `POST /api/miners/<name>/<action>`: authorise, parse the body, ask the backend.
fn control(
    context: &Context,
    name: &str,
    action: &str,
    request: &Request<'_>,
) -> Result<Value, HttpError> {
    match authorize(&context.token, request.authorization) {
        AuthDecision::Allowed => {}
        AuthDecision::ControlDisabled => {
            return Err(HttpError::new(
                403,
                "HTTP control is off: set web.token in the config file and send it as 'Authorization: Bearer <token>'".into(),
            ));
        }
        AuthDecision::Denied => {
            log::warn!("web: refused {action} on miner {name:?}: missing or wrong bearer token");
            return Err(HttpError::new(
                401,
                "missing or wrong token: send 'Authorization: Bearer <web.token from the config>'"
                    .into(),
            ));
        }
    }
    let action = parse_action(action, request.body)?;
    let described = action.describe();
    match context.backend.control(name, action) {
        Ok(message) => {
            log::info!("web: {described} on miner {name:?}: {message}");
            Ok(json!({ "ok": true, "miner": name, "action": described, "message": message }))
        }
        Err(refusal) => {
            log::info!("web: {described} on miner {name:?} refused: {refusal:?}");
            Err(refusal_error(name, refusal))
        }
    }
}

fn refusal_error(name: &str, refusal: ControlRefusal) -> HttpError {
    match refusal {
        ControlRefusal::UnknownMiner => HttpError::not_found(format!("no miner named '{name}'")),
        ControlRefusal::Unsupported(reason) => HttpError::new(422, reason),
        ControlRefusal::Cooldown { retry_after_s } => HttpError {
            retry_after_s: Some(retry_after_s),
            ..HttpError::new(
                429,
                format!(
                    "the miner is cooling down from its last change; try again in {retry_after_s} s"
                ),
            )
        },
        ControlRefusal::Failed(reason) => {
            HttpError::new(502, format!("the miner did not accept it: {reason}"))
        }
    }
}

/// Reads the value of a control body: JSON `{"<key>": value}`, a bare JSON value, or
/// plain text.
fn body_value(body: &[u8], key: &str) -> Result<Option<Value>, HttpError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| HttpError::bad_request("body: not UTF-8 text".into()))?
        .trim();
    if text.is_empty() {
        return Ok(None);
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(mut map)) => map.remove(key).map(Some).ok_or_else(|| {
            HttpError::bad_request(format!("body: expected a JSON object with a '{key}' field"))
        }),
        Ok(value) => Ok(Some(value)),
        Err(_) => Ok(Some(Value::String(text.to_string()))),
    }
}

fn parse_action(action: &str, body: &[u8]) -> Result<ControlAction, HttpError> {
    match action {
        "restart" => Ok(ControlAction::Restart),
        "mode" => {
            let value = body_value(body, "mode")?;
            value
                .as_ref()
                .and_then(Value::as_str)
                .and_then(Mode::parse)
                .map(ControlAction::SetMode)
                .ok_or_else(|| HttpError::bad_request("body: 'mode' must be one of eco, standard, turbo, oc, e.g. {\"mode\":\"eco\"}".into()))
        }
        "enabled" => {
            let value = body_value(body, "enabled")?;
            let enabled = match value {
                Some(Value::Bool(on)) => Some(on),
                Some(Value::String(text)) => match text.to_ascii_lowercase().as_str() {
                    "true" | "on" | "1" => Some(true),
                    "false" | "off" | "0" => Some(false),
                    _ => None,
                },
                Some(Value::Number(n)) => n.as_u64().filter(|n| *n <= 1).map(|n| n == 1),
                _ => None,
            };
            enabled.map(ControlAction::SetEnabled).ok_or_else(|| {
                HttpError::bad_request(
                    "body: 'enabled' must be true or false, e.g. {\"enabled\":false}".into(),
                )
            })
        }
        _ => {
            let value = body_value(body, "pool")?;
            value
                .as_ref()
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|pool| !pool.is_empty() && pool.len() <= 64)
                .map(|pool| ControlAction::SwitchPool(pool.to_string()))
                .ok_or_else(|| HttpError::bad_request("body: 'pool' must name a [[pools]] entry of the config, e.g. {\"pool\":\"ckpool\"}".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_control_bodies() {
        assert_eq!(
            parse_action("mode", br#"{"mode":"eco"}"#),
            Ok(ControlAction::SetMode(Mode::Eco))
        );
        assert_eq!(
            parse_action("mode", b"Turbo"),
            Ok(ControlAction::SetMode(Mode::Turbo))
        );
        assert_eq!(
            parse_action("mode", br#""oc""#),
            Ok(ControlAction::SetMode(Mode::Oc))
        );
        assert_eq!(parse_action("mode", b"").unwrap_err().status, 400);
        assert_eq!(
            parse_action("mode", br#"{"mod":"eco"}"#)
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            parse_action("enabled", br#"{"enabled":false}"#),
            Ok(ControlAction::SetEnabled(false))
        );
        assert_eq!(
            parse_action("enabled", b"on"),
            Ok(ControlAction::SetEnabled(true))
        );
        assert_eq!(parse_action("enabled", b"maybe").unwrap_err().status, 400);
        assert_eq!(
            parse_action("pool", br#"{"pool":"ckpool"}"#),
            Ok(ControlAction::SwitchPool("ckpool".into()))
        );
        assert_eq!(
            parse_action("restart", b"whatever"),
            Ok(ControlAction::Restart)
        );
    }
}
