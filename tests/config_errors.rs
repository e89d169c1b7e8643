//! Every class of config mistake is reported with its field, its line and what is allowed,
//! and all of them at once.

use hmm::config::{Config, ConfigError};

/// Parses `text`, expecting it to be rejected, and returns the problems.
fn problems(text: &str) -> Vec<ConfigError> {
    match Config::from_str(text, "test.toml") {
        Ok(config) => panic!("accepted an invalid config: {config:?}"),
        Err(errors) => errors.errors,
    }
}

/// Asserts that exactly one problem names `field`, on `line`, with every `needle` in it.
fn assert_problem(problems: &[ConfigError], field: &str, line: usize, needles: &[&str]) {
    let found: Vec<&ConfigError> = problems.iter().filter(|p| p.field == field).collect();
    assert_eq!(
        found.len(),
        1,
        "expected one problem for {field} in {problems:#?}"
    );
    let problem = found[0];
    assert_eq!(problem.file, "test.toml");
    assert_eq!(problem.line, Some(line), "line of {field}: {problem}");
    for needle in needles {
        assert!(
            problem.message.contains(needle),
            "{field}: {problem} lacks {needle:?}"
        );
    }
}

/// A single problem for `field` in the one-key config `text` (line 1 or as given).
fn single(text: &str, field: &str, line: usize, needles: &[&str]) {
    let found = problems(text);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_problem(&found, field, line, needles);
}

const MINER: &str = "[[miners]]\nname = \"m\"\nhost = \"10.0.0.1\"\n";

#[test]
fn unknown_keys_are_rejected_with_a_suggestion() {
    single(
        "poll_intervall = \"5s\"",
        "poll_intervall",
        1,
        &["unknown key", "did you mean \"poll_interval\""],
    );
    single(
        "[mqtt]\nbase-topic = \"x\"",
        "mqtt.base-topic",
        2,
        &["did you mean \"base_topic\""],
    );
    single(
        &format!("{MINER}ip = \"10.0.0.2\""),
        "miners[0].ip",
        4,
        &["unknown key", "known keys:", "host"],
    );
    single(
        "[miner]\nname = \"x\"",
        "miner",
        1,
        &["did you mean \"miners\""],
    );
    single(
        "[alerts]\ntemp_c = { axeos = 70, bitaxe = 70 }",
        "alerts.temp_c.bitaxe",
        2,
        &["unknown key"],
    );
    single(
        "[automation.rules.x]\nenable = true",
        "automation.rules.\"x\".enable",
        2,
        &["did you mean \"enabled\""],
    );
}

#[test]
fn miner_mistakes_name_the_entry_and_field() {
    single(
        "[[miners]]\nname = \"Bitaxe 1\"\nhost = \"h\"",
        "miners[0].name",
        2,
        &["a-z", "1 to 32", "MQTT", "try \"bitaxe-1\""],
    );
    single(
        &format!(
            "{}name = \"{}\"\nhost = \"h\"",
            "[[miners]]\n",
            "a".repeat(33)
        ),
        "miners[0].name",
        2,
        &["1 to 32"],
    );
    single(
        "[[miners]]\nname = \"a\"\nhost = \"h\"\nkind = \"bitaxe\"",
        "miners[0].kind",
        4,
        &["\"axeos\"", "\"avalon\"", "\"nmminer\"", "\"auto\""],
    );
    single(
        "[[miners]]\nname = \"a\"\nhost = \"h:0\"",
        "miners[0].host",
        3,
        &["1 to 65535"],
    );
    single(
        "[[miners]]\nname = \"a\"\nhost = \"h:65536\"",
        "miners[0].host",
        3,
        &["1 to 65535"],
    );
    single(
        "[[miners]]\nname = \"a\"\nhost = \"http://h/\"",
        "miners[0].host",
        3,
        &["URL"],
    );
    single(
        "[[miners]]\nname = \"a\"",
        "miners[0].host",
        1,
        &["missing", "host ="],
    );
    single(
        "[[miners]]\nhost = \"h\"",
        "miners[0].name",
        1,
        &["missing", "name ="],
    );
    single(
        &format!("{MINER}manual_power_w = -5.0"),
        "miners[0].manual_power_w",
        4,
        &["from 0 W"],
    );
    single(
        &format!("{MINER}manual_power_w = \"15\""),
        "miners[0].manual_power_w",
        4,
        &["expected a number", "found a string"],
    );
    single(
        &format!("{MINER}enabled = \"yes\""),
        "miners[0].enabled",
        4,
        &["true or false"],
    );
    single("[miners]\nname = \"a\"", "miners", 1, &["[[miners]]"]);
}

#[test]
fn duplicate_names_point_at_the_repeat() {
    let text = format!(
        "{MINER}{MINER}[[pools]]\nname = \"p\"\nurl = \"stratum+tcp://h:1\"\nuser = \"u\"\n[[pools]]\nname = \"p\"\nurl = \"stratum+tcp://h:1\"\nuser = \"u\"\n"
    );
    let found = problems(&text);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert_problem(
        &found,
        "miners[1].name",
        5,
        &["\"m\" is already used by miners[0]", "unique"],
    );
    assert_problem(&found, "pools[1].name", 12, &["already used by pools[0]"]);
}

#[test]
fn pools_are_checked_and_references_resolved() {
    let pool = "[[pools]]\nname = \"ck\"\nurl = \"stratum+tcp://solo.ckpool.org:3333\"\nuser = \"bc1qxyz.w1\"\n";
    single(
        &format!("{MINER}pools = [\"ck\", \"nope\"]\n{pool}"),
        "miners[0].pools[1]",
        4,
        &["\"nope\" is not defined", "defined pools: ck"],
    );
    single(
        &format!("{MINER}pools = [\"x\"]"),
        "miners[0].pools[0]",
        4,
        &["no [[pools]] are defined"],
    );
    single(
        &format!("{pool}stats = \"solo\""),
        "pools[0].stats",
        5,
        &[
            "\"none\"",
            "\"ckpool\"",
            "\"ckpool-status\"",
            "\"solopool\"",
        ],
    );
    single(
        &format!("{pool}stats = \"ckpool\""),
        "pools[0].account",
        5,
        &["needs account", "account = \"bc1qxyz\""],
    );
    single(
        &format!("{pool}stats = \"solopool\"\ncoin = \"bch\""),
        "pools[0].account",
        5,
        &["needs account"],
    );
    assert!(
        Config::from_str(&format!("{pool}stats = \"ckpool-status\""), "t").is_ok(),
        "pool-wide stats need no account"
    );
    single(
        "[[pools]]\nname = \"a\"\nurl = \"solo.ckpool.org:3333\"\nuser = \"u\"",
        "pools[0].url",
        3,
        &["stratum+tcp://"],
    );
    single(
        "[[pools]]\nname = \"a\"\nurl = \"stratum+tcp://solo.ckpool.org\"\nuser = \"u\"",
        "pools[0].url",
        3,
        &["needs a port"],
    );
    single(
        "[[pools]]\nname = \"a\"\nurl = \"stratum+tcp://h:1\"",
        "pools[0].user",
        1,
        &["missing", "user ="],
    );
}

#[test]
fn energy_region_and_tariff() {
    for letter in ["I", "O"] {
        single(
            &format!("[energy]\nregion = \"{letter}\""),
            "energy.region",
            2,
            &["A to P", "except I and O", "do not exist"],
        );
    }
    single("[energy]\nregion = \"Z\"", "energy.region", 2, &["A to P"]);
    single(
        "[energy]\nregion = \"HH\"",
        "energy.region",
        2,
        &["one letter"],
    );
    single(
        "[energy]\ntariff = \"fixed\"",
        "energy.fixed_price_p_kwh",
        2,
        &["needs fixed_price_p_kwh"],
    );
    single(
        "[energy]\ntariff = \"economy7\"",
        "energy.tariff",
        2,
        &["\"agile\" or \"fixed\""],
    );
    single(
        "[energy]\nfixed_price_p_kwh = -1",
        "energy.fixed_price_p_kwh",
        2,
        &["from 0"],
    );
}

#[test]
fn zero_and_absurd_intervals() {
    single(
        "poll_interval = \"0s\"",
        "poll_interval",
        1,
        &["from 1s to 1h"],
    );
    single(
        "poll_interval = \"500ms\"",
        "poll_interval",
        1,
        &["from 1s"],
    );
    single(
        "poll_interval = 10",
        "poll_interval",
        1,
        &["duration string", "\"10s\"", "found an integer"],
    );
    single(
        "poll_interval = \"ten seconds\"",
        "poll_interval",
        1,
        &["not a duration"],
    );
    single(
        "commit_interval = \"0s\"",
        "commit_interval",
        1,
        &["from 1s"],
    );
    assert!(Config::from_str("poll_interval = \"10s\"\ncommit_interval = \"10m\"", "t").is_ok());
    single(
        "[retention]\nraw = \"30m\"",
        "retention.raw",
        2,
        &["from 1h"],
    );
    single(
        "[retention]\nslots = \"12h\"",
        "retention.slots",
        2,
        &["from 1d"],
    );
    single(
        "poll_interval = \"5s\"\n[devices]\ntimeout = \"5s\"",
        "devices.timeout",
        3,
        &["shorter than poll_interval (5s)"],
    );
    single(
        "[automation]\ninterval = \"0s\"",
        "automation.interval",
        2,
        &["from 1s"],
    );
    single(
        "[mqtt]\nkeep_alive = \"1s\"",
        "mqtt.keep_alive",
        2,
        &["from 5s"],
    );
    single(
        "[cache]\noctopus = \"0s\"",
        "cache.octopus",
        2,
        &["from 1s"],
    );
    single(
        "[cache]\nsolopool_network = \"2d\"",
        "cache.solopool_network",
        2,
        &["from 1s to 1d"],
    );
    single(
        "[devices]\nmax_reply_bytes = 10",
        "devices.max_reply_bytes",
        2,
        &["from 1024"],
    );
}

#[test]
fn network_settings() {
    single("[mqtt]\nport = 0", "mqtt.port", 2, &["from 1 to 65535"]);
    single(
        "[mqtt]\nhost = \"broker:1883\"",
        "mqtt.host",
        2,
        &["mqtt.port"],
    );
    single(
        "[mqtt]\nbase_topic = \"hmm/#\"",
        "mqtt.base_topic",
        2,
        &["'#'"],
    );
    single(
        "[web]\nbind = \"localhost:8080\"",
        "web.bind",
        2,
        &["IP:port", "0.0.0.0:8080"],
    );
    single("[web]\nbind = \"0.0.0.0\"", "web.bind", 2, &["IP:port"]);
    single("[web]\nworkers = 0", "web.workers", 2, &["from 1 to 64"]);
    single(
        "[devices]\nnmminer_listen = \"12345\"",
        "devices.nmminer_listen",
        2,
        &["IP:port"],
    );
    single(
        "[feeds]\noctopus_url = \"api.octopus.energy\"",
        "feeds.octopus_url",
        2,
        &["http:// or https://"],
    );
    single(
        "[feeds]\nsolopool_url = \"ftp://x\"",
        "feeds.solopool_url",
        2,
        &["http:// or https://"],
    );
    single(
        "[notify]\ndiscord_webhook = \"discord.com/api/webhooks/1\"",
        "notify.discord_webhook",
        2,
        &["https://"],
    );
    single(
        "[notify]\ntelegram_bot_token = \"123:abc\"",
        "notify.telegram_chat_id",
        1,
        &["both"],
    );
}

#[test]
fn temperature_thresholds_out_of_range() {
    single(
        "[alerts]\ntemp_c = { axeos = 200.0 }",
        "alerts.temp_c.axeos",
        2,
        &["from 30 °C to 120 °C"],
    );
    single(
        "[alerts]\ntemp_c = { nmminer = 5 }",
        "alerts.temp_c.nmminer",
        2,
        &["from 30 °C"],
    );
}

#[test]
fn every_problem_is_reported_at_once_in_file_order() {
    let text = "\
poll_interval = \"0s\"
[[miners]]
name = \"A B\"
host = \"h:99999\"
kind = \"antminer\"
[energy]
region = \"O\"
[mqtt]
port = 0
colour = \"red\"
";
    let found = problems(text);
    let fields: Vec<&str> = found.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "poll_interval",
            "miners[0].name",
            "miners[0].host",
            "miners[0].kind",
            "energy.region",
            "mqtt.port",
            "mqtt.colour"
        ]
    );
    let lines: Vec<Option<usize>> = found.iter().map(|p| p.line).collect();
    assert_eq!(
        lines,
        [
            Some(1),
            Some(3),
            Some(4),
            Some(5),
            Some(7),
            Some(9),
            Some(10)
        ]
    );
    let rendered = Config::from_str(text, "test.toml").unwrap_err().to_string();
    assert_eq!(rendered.lines().count(), 7);
    assert!(
        rendered.starts_with("test.toml:1: poll_interval: "),
        "{rendered}"
    );
}

#[test]
fn syntax_errors_have_line_and_column() {
    let found = problems("poll_interval = \"10s\"\n[[miners]]\nname = bitaxe\n");
    assert!(!found.is_empty());
    let first = &found[0];
    assert_eq!((first.line, first.column), (Some(3), Some(8)), "{first}");
    assert_eq!(first.field, "toml");
    assert!(first.message.contains("quoted"), "{first}");
    assert!(
        first
            .to_string()
            .starts_with("test.toml:3:8: toml: syntax error"),
        "{first}"
    );
}

#[test]
fn unreadable_file_names_the_path() {
    let errors = Config::load(std::path::Path::new("/nonexistent/hmm.toml")).unwrap_err();
    assert_eq!(errors.len(), 1);
    let text = errors.to_string();
    assert!(
        text.starts_with("/nonexistent/hmm.toml: file: cannot read"),
        "{text}"
    );
}

proptest::proptest! {
    /// Whatever the text, reading it returns a config or a list of problems, never a
    /// panic, and every problem names a field.
    #[test]
    fn arbitrary_text_never_panics(text in "[\\[\\]a-z_=\". 0-9\n{},:#-]{0,200}") {
        if let Err(errors) = Config::from_str(&text, "fuzz.toml") {
            proptest::prop_assert!(!errors.is_empty());
            for error in errors.iter() {
                proptest::prop_assert!(!error.field.is_empty());
            }
        }
    }

    /// Valid-shaped miner entries with arbitrary values never panic either.
    #[test]
    fn arbitrary_miner_values_never_panic(
        name in "\\PC{0,40}", host in "\\PC{0,40}", kind in "\\PC{0,10}", power in proptest::num::f64::ANY,
    ) {
        let text = format!(
            "[[miners]]\nname = {name:?}\nhost = {host:?}\nkind = {kind:?}\nmanual_power_w = {power:?}\n"
        );
        let _ = Config::from_str(&text, "fuzz.toml");
    }
}
