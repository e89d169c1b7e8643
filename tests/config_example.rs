//! The shipped example validates, and no secret survives `{:?}` or `hmm check-config`.

use hmm::config::{Config, Tariff};
use hmm::model::MinerKind;
use std::path::Path;

mod exec_support;
use exec_support::hmm_command;

fn example_path() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/hmm.example.toml"))
}

#[test]
fn example_file_validates_with_every_kind_of_miner() {
    let config = Config::load(example_path()).unwrap_or_else(|errors| panic!("{errors}"));
    for kind in [
        MinerKind::Axeos,
        MinerKind::Avalon,
        MinerKind::Nmminer,
        MinerKind::Auto,
    ] {
        assert!(
            config.miners.iter().any(|m| m.kind == kind),
            "no {kind:?} example"
        );
    }
    assert_eq!(config.energy.tariff, Tariff::Agile);
    assert_eq!(config.pools.len(), 3);
    assert!(config.pools.iter().any(|p| p.stats_url.is_some()));
    assert!(config.automation.rules.contains_key("agile-bands"));
}

const SECRETS: [&str; 9] = [
    "pool-pw-1234",
    "mqtt-pw-5678",
    "web-token-abcdefgh",
    "cg-key-9999",
    "https://discord.example/hook-secret",
    "tg-token-4242",
    "tg-chat-777",
    "https://hooks.example/webhook-secret",
    "https://hooks.example/bad hook-secret",
];

fn config_with_secrets() -> String {
    format!(
        r#"
[[pools]]
name = "p"
url = "stratum+tcp://h:1"
user = "u"
password = "{}"
[mqtt]
password = "{}"
[web]
token = "{}"
[feeds]
coingecko_api_key = "{}"
[notify]
discord_webhook = "{}"
telegram_bot_token = "{}"
telegram_chat_id = "{}"
webhook_url = "{}"
"#,
        SECRETS[0],
        SECRETS[1],
        SECRETS[2],
        SECRETS[3],
        SECRETS[4],
        SECRETS[5],
        SECRETS[6],
        SECRETS[7]
    )
}

#[test]
fn debug_output_contains_no_secret() {
    let config = Config::from_str(&config_with_secrets(), "secrets.toml").unwrap();
    let debug = format!("{config:?} {config:#?} {}", config.summary());
    for secret in &SECRETS[..8] {
        assert!(!debug.contains(secret), "{secret} leaked: {debug}");
    }
    assert!(debug.contains("***"));
    assert_eq!(config.pools[0].password.expose(), SECRETS[0]);
    assert_eq!(config.mqtt.password.expose(), SECRETS[1]);
    assert_eq!(config.web.token.expose(), SECRETS[2]);
    assert_eq!(config.notify.telegram_chat_id.expose(), SECRETS[6]);
}

#[test]
fn error_messages_do_not_echo_secrets() {
    let text = config_with_secrets()
        .replace(SECRETS[7], SECRETS[8])
        .replace(SECRETS[2], "short secret");
    let errors = Config::from_str(&text, "secrets.toml")
        .unwrap_err()
        .to_string();
    assert!(
        errors.contains("notify.webhook_url") && errors.contains("web.token"),
        "{errors}"
    );
    assert!(
        !errors.contains("hook-secret") && !errors.contains("short secret"),
        "{errors}"
    );
}

#[test]
fn check_config_command_lists_problems_or_summarises() {
    let ok = hmm_command()
        .arg("check-config")
        .arg(example_path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(ok.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("miners: 5 (1 auto, 1 avalon, 2 axeos, 1 nmminer), 1 disabled"),
        "{stdout}"
    );
    assert!(
        stdout.contains("tariff: agile, region H (Southern England)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("mqtt: off") && stdout.contains("web: on, 0.0.0.0:8080"),
        "{stdout}"
    );

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    let text = config_with_secrets().replace("[mqtt]\n", "[mqtt]\nport = 0\n")
        + "[energy]\nregion = \"I\"\n";
    let line_of = |needle: &str| text.lines().position(|line| line == needle).unwrap() + 1;
    let (port_line, region_line) = (line_of("port = 0"), line_of("region = \"I\""));
    std::fs::write(&bad, &text).unwrap();
    let failed = hmm_command()
        .arg("check-config")
        .arg(&bad)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&failed.stdout);
    assert_eq!(failed.status.code(), Some(1), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    let file = bad.display();
    assert!(
        lines[0].starts_with(&format!("{file}:{port_line}: mqtt.port: ")),
        "{stdout}"
    );
    assert!(
        lines[1].starts_with(&format!("{file}:{region_line}: energy.region: ")),
        "{stdout}"
    );
    for secret in &SECRETS[..8] {
        assert!(!stdout.contains(secret), "{secret} leaked: {stdout}");
    }
    assert!(String::from_utf8_lossy(&failed.stderr).contains("2 problem(s)"));

    let usage = hmm_command().arg("check-config").output().unwrap();
    assert_eq!(usage.status.code(), Some(2));
}
