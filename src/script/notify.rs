//! Notifications to Discord, Telegram and a generic webhook, with per-kind throttling.
//!
//! Rules call `notify(title, message, level)`; the rule runner asks [`Notifier::admit`]
//! whether that kind (the title) was sent within the throttle period, publishes it on MQTT
//! through the action sink, and hands it to [`Notifier::send`], which queues it for one
//! background thread. That thread posts with ureq 3 and a global timeout, so a slow or dead
//! endpoint never delays a rule, a poll or a page. The webhook URLs and the bot token are
//! secrets: errors are logged with every secret replaced by `***`, and the URL itself is
//! never logged.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::time::Duration;

use crate::script::data::NotifyLevel;

/// `[notify]` settings, same names and defaults as the config file, plus the Telegram API
/// base (configurable so tests can use a loopback server).
#[derive(Debug, Clone, PartialEq)]
pub struct NotifySettings {
    /// Discord webhook URL (secret); empty = off.
    pub discord_webhook: String,
    /// Telegram bot token (secret); empty = off.
    pub telegram_bot_token: String,
    /// Telegram chat id.
    pub telegram_chat_id: String,
    /// Generic webhook URL (secret): receives `{"title","message","level"}` JSON.
    pub webhook_url: String,
    /// Minimum time between two notifications of the same kind (title).
    pub throttle: Duration,
    /// Telegram Bot API base URL.
    pub telegram_api_url: String,
    /// Whole-request timeout per delivery.
    pub timeout: Duration,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            discord_webhook: String::new(),
            telegram_bot_token: String::new(),
            telegram_chat_id: String::new(),
            webhook_url: String::new(),
            throttle: Duration::from_secs(15 * 60),
            telegram_api_url: "https://api.telegram.org".to_string(),
            timeout: Duration::from_secs(10),
        }
    }
}

/// One message waiting for delivery.
struct Outgoing {
    title: String,
    message: String,
    level: NotifyLevel,
}

/// Notification throttle and delivery queue.
pub struct Notifier {
    throttle_ms: u64,
    last_sent: Mutex<HashMap<String, u64>>,
    queue: Option<SyncSender<Outgoing>>,
    channels: Vec<&'static str>,
}

/// Messages that may wait for delivery; beyond this, new ones are dropped with a warning.
const QUEUE_LEN: usize = 64;

impl Notifier {
    /// Creates the notifier; starts its delivery thread only if a channel is configured.
    pub fn new(settings: NotifySettings) -> Notifier {
        let mut channels = Vec::new();
        if !settings.discord_webhook.is_empty() {
            channels.push("discord");
        }
        if !settings.telegram_bot_token.is_empty() && !settings.telegram_chat_id.is_empty() {
            channels.push("telegram");
        }
        if !settings.webhook_url.is_empty() {
            channels.push("webhook");
        }
        let queue = (!channels.is_empty()).then(|| {
            let (tx, rx) = mpsc::sync_channel(QUEUE_LEN);
            let worker_settings = settings.clone();
            let spawned = std::thread::Builder::new()
                .name("hmm-notify".to_string())
                .spawn(move || deliver_loop(worker_settings, rx));
            if let Err(err) = spawned {
                log::warn!("notify: cannot start the delivery thread: {err}");
            }
            tx
        });
        Notifier {
            throttle_ms: settings.throttle.as_millis() as u64,
            last_sent: Mutex::new(HashMap::new()),
            queue,
            channels,
        }
    }

    /// The external channels configured (`discord`, `telegram`, `webhook`).
    pub fn channels(&self) -> &[&'static str] {
        &self.channels
    }

    /// Whether a notification of kind `kind` may go out at `now_ms`; if so, the kind's
    /// throttle period starts now.
    pub fn admit(&self, kind: &str, now_ms: u64) -> bool {
        let mut last = self.last_sent.lock().unwrap_or_else(|e| e.into_inner());
        match last.get(kind) {
            Some(&at) if now_ms < at + self.throttle_ms && now_ms >= at => false,
            _ => {
                last.insert(kind.to_string(), now_ms);
                true
            }
        }
    }

    /// Queues a notification for the external channels (returns at once).
    pub fn send(&self, title: &str, message: &str, level: NotifyLevel) {
        let Some(queue) = &self.queue else { return };
        let outgoing = Outgoing {
            title: title.to_string(),
            message: message.to_string(),
            level,
        };
        match queue.try_send(outgoing) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                log::warn!("notify: delivery queue full, dropped \"{title}\"")
            }
            Err(TrySendError::Disconnected(_)) => {
                log::warn!("notify: delivery thread stopped, dropped \"{title}\"")
            }
        }
    }
}

fn deliver_loop(settings: NotifySettings, rx: Receiver<Outgoing>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(settings.timeout))
        .build()
        .into();
    let secrets: Vec<&str> = [
        settings.discord_webhook.as_str(),
        settings.telegram_bot_token.as_str(),
        settings.webhook_url.as_str(),
    ]
    .into_iter()
    .filter(|s| !s.is_empty())
    .collect();
    while let Ok(msg) = rx.recv() {
        for (channel, url, body) in requests(&settings, &msg) {
            if let Err(err) = agent.post(&url).send_json(&body) {
                log::warn!(
                    "notify: {channel} delivery of \"{}\" failed: {}",
                    msg.title,
                    redact(&err.to_string(), &secrets)
                );
            }
        }
    }
}

/// The HTTP requests for one message: (channel, url, JSON body).
fn requests(
    settings: &NotifySettings,
    msg: &Outgoing,
) -> Vec<(&'static str, String, serde_json::Value)> {
    let text = format!("[{}] {}\n{}", msg.level.as_str(), msg.title, msg.message);
    let mut out = Vec::new();
    if !settings.discord_webhook.is_empty() {
        out.push((
            "discord",
            settings.discord_webhook.clone(),
            serde_json::json!({ "content": text, "username": "hmm" }),
        ));
    }
    if !settings.telegram_bot_token.is_empty() && !settings.telegram_chat_id.is_empty() {
        out.push((
            "telegram",
            format!(
                "{}/bot{}/sendMessage",
                settings.telegram_api_url.trim_end_matches('/'),
                settings.telegram_bot_token
            ),
            serde_json::json!({ "chat_id": settings.telegram_chat_id, "text": text }),
        ));
    }
    if !settings.webhook_url.is_empty() {
        out.push((
            "webhook",
            settings.webhook_url.clone(),
            serde_json::json!({ "title": msg.title, "message": msg.message, "level": msg.level.as_str() }),
        ));
    }
    out
}

/// Replaces every secret (and the path part of any secret URL) in `text` with `***`.
pub(crate) fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for secret in secrets {
        out = out.replace(secret, "***");
        // A URL may be echoed without its scheme or host; hide its path too.
        if let Some(path) = secret
            .split_once("://")
            .and_then(|(_, rest)| rest.split_once('/'))
            .map(|(_, p)| p)
            && path.len() > 3
        {
            out = out.replace(path, "***");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttles_per_kind() {
        let n = Notifier::new(NotifySettings::default());
        assert!(n.admit("hot", 0));
        assert!(!n.admit("hot", 60_000));
        assert!(n.admit("offline", 60_000));
        assert!(n.admit("hot", 15 * 60_000));
    }

    #[test]
    fn redacts_secrets() {
        let url = "https://discord.com/api/webhooks/123/abcdef";
        let text = format!("error sending to {url}: timeout; path api/webhooks/123/abcdef");
        let clean = redact(&text, &[url]);
        assert!(!clean.contains("abcdef"), "{clean}");
    }
}
