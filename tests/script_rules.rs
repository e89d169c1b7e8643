//! Automation: the agile-bands rule over a recorded day of Agile prices (exact actions,
//! times, no flapping), dry-run, `rule test`, host checks, notification throttling and
//! delivery, and the overheat and offline-alert rules.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use hmm::model::{MinerKind, Mode, PricePoint, Sample};
use hmm::script::automation::parse_at;
use hmm::script::testing::{MemoryData, MemorySink, miner_info};
use hmm::script::{
    AutomationSettings, Notifier, NotifySettings, RuleRunner, RuleSettings, ScriptHost,
};
use hmm::ukclock::{days_from_civil, rfc3339, uk_hhmm};

/// 2026-11-28 (GMT, so UK time = UTC).
fn day_start_s() -> u64 {
    days_from_civil(2026, 11, 28) as u64 * 86_400
}

/// A recorded-shape Agile day, 48 half-hour prices in p/kWh: a dear night, a cheaper early
/// morning, the morning peak, a SINGLE 3 p slot at 10:00 between 22 p slots, the 16:00
/// peak, a dear evening and a cheap late evening.
const DAY: [f64; 48] = [
    15.1, 14.8, 14.2, 13.9, 13.5, 13.0, 12.6, 12.4, // 00:00–03:30 dear
    8.9, 8.2, 7.6, 7.9, // 04:00–05:30 normal
    5.4, 5.1, // 06:00–06:30 cheap
    22.3, 24.8, 26.1, 25.0, 23.9, 22.7, // 07:00–09:30 off
    3.0,  // 10:00 the single cheap slot
    22.1, 21.4, 20.9, 21.7, 22.5, 23.3, 24.0, 24.6, 25.2, 26.0, 27.4, // 10:30–15:30 off
    35.2, 38.9, 41.3, 40.1, 37.6, 33.0, // 16:00–18:30 peak
    13.8, 13.1, 12.9, 12.2, // 19:00–20:30 dear
    6.8, 6.1, 5.5, 4.9, 4.4, 4.2, // 21:00–23:30 cheap
];

fn agile_fleet() -> Arc<MemoryData> {
    let data = Arc::new(MemoryData::new(120_000));
    let day = day_start_s();
    data.with(|s| {
        s.miners = vec![
            miner_info(1, "bitaxe", MinerKind::Axeos),
            miner_info(2, "avalon", MinerKind::Avalon),
            miner_info(3, "nm", MinerKind::Nmminer),
        ];
        s.prices = DAY
            .iter()
            .enumerate()
            .map(|(i, &p)| PricePoint {
                valid_from_s: day + i as u64 * 1800,
                valid_to_s: day + i as u64 * 1800 + 1800,
                pence_per_kwh: p,
            })
            .collect();
    });
    let t0 = (day - 60) * 1000;
    data.set_now(t0);
    data.append(&[
        Sample {
            miner_id: 1,
            ts_ms: t0,
            online: true,
            mode: Some(Mode::Standard),
            ..Sample::default()
        },
        Sample {
            miner_id: 2,
            ts_ms: t0,
            online: true,
            mode: Some(Mode::Standard),
            ..Sample::default()
        },
        Sample {
            miner_id: 3,
            ts_ms: t0,
            online: true,
            ..Sample::default()
        },
    ]);
    data
}

fn runner(
    data: Arc<MemoryData>,
    rule: &str,
    settings: RuleSettings,
    global_dry_run: bool,
) -> RuleRunner {
    let mut automation = AutomationSettings {
        dry_run: global_dry_run,
        ..AutomationSettings::default()
    };
    automation.rules.insert(rule.to_string(), settings);
    RuleRunner::new(
        ScriptHost::new(data),
        None,
        automation,
        Arc::new(Notifier::new(NotifySettings::default())),
    )
}

const ON: RuleSettings = RuleSettings {
    enabled: true,
    dry_run: false,
};

/// Runs the rule every minute of the day; returns "HH:MM miner action" for executed ones.
fn simulate_day(data: &Arc<MemoryData>, runner: &RuleRunner, sink: &MemorySink) -> Vec<String> {
    let day = day_start_s();
    for minute in 0..(24 * 60) {
        let now_ms = (day + minute * 60) * 1000;
        data.set_now(now_ms);
        data.touch(now_ms);
        runner.run_due(now_ms, sink);
    }
    let audit = sink.audit_log.lock().unwrap();
    audit
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {}",
                uk_hhmm(r.ts_ms / 1000),
                r.miner,
                r.action,
                r.outcome
            )
        })
        .collect()
}

#[test]
fn agile_bands_over_a_recorded_day_takes_exactly_these_actions() {
    let data = agile_fleet();
    let sink = MemorySink::applying_to(data.clone());
    let rules = runner(data.clone(), "agile-bands", ON, false);
    let log = simulate_day(&data, &rules, &sink);
    assert_eq!(
        log,
        [
            "00:00 bitaxe set_mode eco ok",
            "00:00 avalon set_mode eco ok",
            "04:00 bitaxe set_mode standard ok",
            "04:00 avalon set_mode standard ok",
            "06:00 bitaxe set_mode turbo ok",
            "06:00 avalon set_mode turbo ok",
            // The price rises: immediate step-down to off.
            "07:00 bitaxe set_enabled false ok",
            "07:00 avalon set_enabled false ok",
            // 10:00 (3 p) is a single cheap slot before 22 p: nothing wakes.
            "19:00 bitaxe set_enabled true ok",
            "19:00 bitaxe set_mode eco ok",
            "19:00 avalon set_enabled true ok",
            "19:00 avalon set_mode eco ok",
            "21:00 bitaxe set_mode turbo ok",
            "21:00 avalon set_mode turbo ok",
        ]
    );
    // Every action carries the rule's reason with the price.
    let audit = sink.audit_log.lock().unwrap();
    assert!(
        audit[0]
            .reason
            .starts_with("price 15.1 p/kWh, next 14.8 p/kWh: band dear"),
        "{}",
        audit[0].reason
    );
    assert_eq!(audit[0].actor.to_string(), "rule:agile-bands");
    // The sink saw exactly the executed actions: no repeats, no flapping.
    assert_eq!(sink.actions.lock().unwrap().len(), 14);
}

#[test]
fn a_miner_disabled_by_hand_is_not_woken() {
    let data = agile_fleet();
    data.set_enabled("avalon", false);
    let sink = MemorySink::applying_to(data.clone());
    let rules = runner(data.clone(), "agile-bands", ON, false);
    let log = simulate_day(&data, &rules, &sink);
    assert!(log.iter().all(|l| !l.contains("avalon")), "{log:?}");
    assert!(log.contains(&"19:00 bitaxe set_enabled true ok".to_string()));
}

#[test]
fn dry_run_records_without_acting() {
    for (settings, global) in [
        (
            RuleSettings {
                enabled: true,
                dry_run: true,
            },
            false,
        ),
        (ON, true),
    ] {
        let data = agile_fleet();
        let sink = MemorySink::applying_to(data.clone());
        let rules = runner(data.clone(), "agile-bands", settings, global);
        let log = simulate_day(&data, &rules, &sink);
        assert!(sink.actions.lock().unwrap().is_empty());
        assert!(!log.is_empty());
        assert!(log.iter().all(|l| l.ends_with("dry-run")), "{log:?}");
        assert_eq!(log[0], "00:00 bitaxe set_mode eco dry-run");
    }
}

#[test]
fn disabled_rules_do_not_run() {
    let data = agile_fleet();
    let sink = MemorySink::applying_to(data.clone());
    let rules = runner(data.clone(), "agile-bands", RuleSettings::default(), false);
    assert!(simulate_day(&data, &rules, &sink).is_empty());
}

#[test]
fn rule_test_plans_at_a_given_time_and_executes_nothing() {
    let data = agile_fleet();
    let rules = runner(data.clone(), "agile-bands", RuleSettings::default(), false);
    let at = parse_at("2026-11-28 06:00").unwrap();
    assert_eq!(at, (day_start_s() + 6 * 3600) * 1000);
    let plans = rules.test_rule("agile-bands", at).unwrap();
    let text: Vec<String> = plans.iter().map(|p| p.to_string()).collect();
    assert_eq!(
        text,
        [
            "2026-11-28T06:00:00Z bitaxe set_mode turbo: price 5.4 p/kWh, next 5.1 p/kWh: band cheap",
            "2026-11-28T06:00:00Z avalon set_mode turbo: price 5.4 p/kWh, next 5.1 p/kWh: band cheap",
        ]
    );
    // The single cheap slot: no miner is woken or sped up; with no memory the rule is in
    // "off", which parks the running miners.
    let single = rules
        .test_rule("agile-bands", parse_at("2026-11-28T10:05:00Z").unwrap())
        .unwrap();
    let actions: Vec<String> = single
        .iter()
        .map(|p| format!("{} {}", p.action.miner(), p.action.describe()))
        .collect();
    assert_eq!(
        actions,
        ["bitaxe set_enabled false", "avalon set_enabled false"]
    );
    // Planning twice gives the same answer: test_rule keeps no memory.
    assert_eq!(rules.test_rule("agile-bands", at).unwrap().len(), 2);
    assert!(
        rules
            .test_rule("nope", at)
            .unwrap_err()
            .to_string()
            .contains("no rule named 'nope'")
    );
}

#[test]
fn parse_at_accepts_rfc3339_offsets_and_uk_local_time() {
    let summer = parse_at("2026-07-01 17:00").unwrap();
    assert_eq!(rfc3339(summer / 1000), "2026-07-01T16:00:00Z");
    assert_eq!(parse_at("2026-07-01T17:00:00+01:00").unwrap(), summer);
    assert_eq!(parse_at("2026-07-01T16:00:00Z").unwrap(), summer);
    assert!(parse_at("tomorrow").unwrap_err().contains("RFC 3339"));
    assert!(parse_at("2026-13-01 10:00").is_err());
}

fn user_rule(dir: &std::path::Path, name: &str, body: &str) {
    std::fs::write(dir.join(format!("{name}.rhai")), body).unwrap();
}

#[test]
fn host_refuses_unknown_miners_unsupported_modes_and_bad_topics() {
    let data = agile_fleet();
    let dir = tempfile::tempdir().unwrap();
    user_rule(
        dir.path(),
        "checks",
        r#"fn rule() {
            set_mode("ghost", "eco", "test");
            set_mode("avalon", "oc", "test");
            set_mode("bitaxe", "warp", "test");
            switch_pool("bitaxe", "nicehash", "test");
            publish("bad/#", #{ x: 1 });
            restart("bitaxe", "test");
        }"#,
    );
    let mut automation = AutomationSettings::default();
    automation.rules.insert("checks".into(), ON);
    let rules = RuleRunner::new(
        ScriptHost::new(data.clone()),
        Some(dir.path()),
        automation,
        Arc::new(Notifier::new(NotifySettings::default())),
    );
    let sink = MemorySink::applying_to(data.clone());
    let records = rules.run_due(1_000, &sink);
    let outcomes: Vec<(&str, &str)> = records
        .iter()
        .map(|r| (r.action.as_str(), r.outcome.as_str()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("set_mode eco", "refused"),
            ("set_mode oc", "refused"),
            ("set_mode warp", "refused"),
            ("switch_pool nicehash", "refused"),
            ("publish bad/#", "refused"),
            ("restart", "ok"),
        ]
    );
    assert!(records[0].reason.contains("no miner named 'ghost'"));
    assert!(
        records[1]
            .reason
            .contains("avalon does not support mode oc (supported: eco, standard, turbo)"),
        "{}",
        records[1].reason
    );
    assert_eq!(*sink.actions.lock().unwrap(), ["bitaxe restart"]);
    // The control API's own refusal (cooldown) is audited as refused too.
    sink.refuse
        .lock()
        .unwrap()
        .insert("bitaxe".into(), "cooldown: 4m left".into());
    let records = rules.run_due(120_000, &sink);
    assert_eq!(records.last().unwrap().outcome, "refused");
    assert!(
        records
            .last()
            .unwrap()
            .reason
            .ends_with("cooldown: 4m left")
    );
}

#[test]
fn rules_run_every_interval_and_at_each_slot_change() {
    let data = agile_fleet();
    let rules = runner(data, "agile-bands", RuleSettings::default(), false);
    let sink = MemorySink::default();
    let t = day_start_s() * 1000 + 29 * 60_000 + 30_000; // 00:29:30
    assert!(rules.due(t));
    rules.run_due(t, &sink);
    assert!(!rules.due(t + 20_000), "00:29:50: same slot, < 1 min");
    assert!(rules.due(t + 30_000), "00:30:00: a new tariff slot");
    assert!(rules.due(t + 60_000));
}

/// A loopback HTTP server that answers 204 and reports each request body.
fn webhook_server() -> (String, std::sync::mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/api/webhooks/42/SECRETTOKEN",
        listener.local_addr().unwrap()
    );
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(10) {
            let Ok(mut stream) = stream else { continue };
            stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let n = stream.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf);
                if let Some(head_end) = text.find("\r\n\r\n") {
                    let len = text[..head_end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if buf.len() >= head_end + 4 + len {
                        break;
                    }
                }
            }
            let _ = stream.write_all(
                b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            let text = String::from_utf8_lossy(&buf).to_string();
            let body = text
                .split_once("\r\n\r\n")
                .map(|(_, b)| b.to_string())
                .unwrap_or_default();
            let _ = tx.send(body);
        }
    });
    (url, rx)
}

#[test]
fn overheat_steps_down_notifies_and_throttles_per_kind() {
    let data = agile_fleet();
    let t0 = day_start_s() * 1000;
    data.append(&[Sample {
        miner_id: 1,
        ts_ms: t0,
        online: true,
        temp_c: Some(78.0),
        mode: Some(Mode::Oc),
        ..Sample::default()
    }]);
    let (url, bodies) = webhook_server();
    let notifier = Arc::new(Notifier::new(NotifySettings {
        discord_webhook: url,
        ..NotifySettings::default()
    }));
    let mut automation = AutomationSettings::default();
    automation.rules.insert("overheat".into(), ON);
    let rules = RuleRunner::new(ScriptHost::new(data.clone()), None, automation, notifier);
    let sink = MemorySink::applying_to(data.clone());
    let mut log = Vec::new();
    for minute in 0..12 {
        let now = t0 + minute * 60_000;
        data.set_now(now);
        data.touch(now);
        for r in rules.run_due(now, &sink) {
            log.push(format!("{} {} {}", minute, r.action, r.outcome));
        }
    }
    assert_eq!(
        log,
        [
            "0 set_mode turbo ok",
            "0 notify warning \"bitaxe overheating\" ok",
            "5 set_mode standard ok",
            "5 notify warning \"bitaxe overheating\" throttled",
            "10 set_mode eco ok",
            "10 notify warning \"bitaxe overheating\" throttled",
        ]
    );
    assert_eq!(
        sink.notes.lock().unwrap().len(),
        1,
        "throttled notes are not published"
    );
    let body = bodies
        .recv_timeout(Duration::from_secs(10))
        .expect("the Discord webhook got the notification");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        json["content"]
            .as_str()
            .unwrap()
            .contains("bitaxe overheating"),
        "{body}"
    );
    assert!(
        bodies.recv_timeout(Duration::from_millis(500)).is_err(),
        "throttled ones are not delivered"
    );
}

#[test]
fn offline_alert_notifies_once_when_down_and_once_when_back() {
    let data = agile_fleet();
    let mut automation = AutomationSettings::default();
    automation.rules.insert("offline-alert".into(), ON);
    let rules = RuleRunner::new(
        ScriptHost::new(data.clone()),
        None,
        automation,
        Arc::new(Notifier::new(NotifySettings::default())),
    );
    let sink = MemorySink::applying_to(data.clone());
    let t0 = day_start_s() * 1000;
    for minute in 0..40u64 {
        let now = t0 + minute * 60_000;
        data.set_now(now);
        // The NMMiner stops answering from minute 1 until minute 30.
        let nm_online = !(1..30).contains(&minute);
        data.append(&[
            Sample {
                miner_id: 1,
                ts_ms: now,
                online: true,
                ..Sample::default()
            },
            Sample {
                miner_id: 2,
                ts_ms: now,
                online: true,
                ..Sample::default()
            },
            Sample {
                miner_id: 3,
                ts_ms: now,
                online: nm_online,
                ..Sample::default()
            },
        ]);
        rules.run_due(now, &sink);
    }
    let notes = sink.notes.lock().unwrap();
    let titles: Vec<&str> = notes.iter().map(|n| n.0.as_str()).collect();
    assert_eq!(titles, ["nm offline", "nm back online"]);
    assert!(
        notes[0].1.starts_with("no answer for 11m"),
        "{}",
        notes[0].1
    );
    assert!(notes[1].1.contains("30m"), "{}", notes[1].1);
}
