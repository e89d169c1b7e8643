//! Reads each config section from the spanned TOML tree, then runs the checks that span
//! sections (unique names, pool references, timeouts against the poll interval).
//!
//! Every getter is called whether or not its key is present, so the defaults live in one
//! place (here) and the set of known keys is exactly the set read.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use toml::de::DeTable;

use super::checks;
use super::reader::{Ctx, Section, short_duration};
use super::*;

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

/// Parses `text`, returning the result and the schema paths (known, present) for tests.
pub(crate) fn parse(
    text: &str,
    origin: &str,
) -> (Result<Config, ConfigErrors>, Vec<String>, Vec<String>) {
    let mut ctx = Ctx::new(origin, text);
    let (document, syntax_errors) = DeTable::parse_recoverable(text);
    for error in &syntax_errors {
        ctx.syntax_error(error.span(), error.message());
    }
    let config = if syntax_errors.is_empty() {
        Some(read_config(&mut ctx, document.get_ref()))
    } else {
        None
    };
    let known = ctx.known_paths.iter().cloned().collect();
    let present = ctx.present_paths.iter().cloned().collect();
    let mut errors = ctx.errors;
    let result = match config {
        Some(config) if errors.is_empty() => Ok(config),
        _ => {
            errors.sort_by_key(|error| (error.line.unwrap_or(usize::MAX), error.column));
            Err(ConfigErrors { errors })
        }
    };
    (result, known, present)
}

fn read_config(ctx: &mut Ctx<'_>, document: &DeTable<'_>) -> Config {
    let mut root = Section::root(document);
    let data_dir = root.parsed(ctx, "data_dir", "/var/lib/hmm".into(), |text| {
        if text.trim().is_empty() {
            Err("must name a directory, e.g. \"/var/lib/hmm\"".to_string())
        } else {
            Ok(text.into())
        }
    });
    let poll_interval = root.duration(ctx, "poll_interval", "10s", SECOND, HOUR);
    let commit_interval = root.duration(ctx, "commit_interval", "30s", SECOND, HOUR);
    let instance_id = root.parsed(ctx, "instance_id", "hmm".into(), checks::identifier);

    let mut section = root.section(ctx, "retention");
    let retention = RetentionConfig {
        raw: section.duration(ctx, "raw", "7d", HOUR, 3650 * DAY),
        slots: section.duration(ctx, "slots", "400d", DAY, 36500 * DAY),
    };
    section.finish(ctx);

    let mut section = root.section(ctx, "devices");
    let devices = read_devices(ctx, &mut section, poll_interval);
    section.finish(ctx);

    let mut miner_sections = root.tables(ctx, "miners");
    let mut miners = Vec::new();
    for section in &mut miner_sections {
        miners.push(read_miner(ctx, section));
    }

    let mut section = root.section(ctx, "energy");
    let energy = read_energy(ctx, &mut section);
    section.finish(ctx);

    let mut pool_sections = root.tables(ctx, "pools");
    let mut pools = Vec::new();
    for section in &mut pool_sections {
        pools.push(read_pool(ctx, section));
    }

    let mut section = root.section(ctx, "feeds");
    let feeds = read_feeds(ctx, &mut section);
    section.finish(ctx);

    let mut section = root.section(ctx, "cache");
    let cache = CacheConfig {
        coingecko: section.duration(ctx, "coingecko", "5m", SECOND, DAY),
        solopool: section.duration(ctx, "solopool", "2m", SECOND, DAY),
        solopool_network: section.duration(ctx, "solopool_network", "10m", SECOND, DAY),
        ckpool: section.duration(ctx, "ckpool", "1m", SECOND, DAY),
        octopus: section.duration(ctx, "octopus", "30m", SECOND, DAY),
    };
    section.finish(ctx);

    let mut section = root.section(ctx, "mqtt");
    let mqtt = read_mqtt(ctx, &mut section);
    section.finish(ctx);

    let mut section = root.section(ctx, "web");
    let web = read_web(ctx, &mut section);
    section.finish(ctx);

    let mut section = root.section(ctx, "automation");
    let automation = read_automation(ctx, &mut section);
    section.finish(ctx);

    let mut section = root.section(ctx, "alerts");
    let mut temp = section.section(ctx, "temp_c");
    let mut threshold =
        |ctx: &mut Ctx<'_>, key, default| temp.number(ctx, key, default, 30.0, 120.0, " °C");
    let temp_c = TempThresholds {
        axeos: threshold(ctx, "axeos", 75.0),
        avalon: threshold(ctx, "avalon", 90.0),
        nmminer: threshold(ctx, "nmminer", 70.0),
    };
    temp.finish(ctx);
    section.finish(ctx);
    let alerts = AlertsConfig { temp_c };

    let mut section = root.section(ctx, "notify");
    let notify = read_notify(ctx, &mut section);
    section.finish(ctx);

    check_unique(ctx, &miner_sections, &miners, |miner| &miner.name, "miner");
    check_unique(ctx, &pool_sections, &pools, |pool| &pool.name, "pool");
    check_pool_references(ctx, &miner_sections, &miners, &pools);
    for section in miner_sections.into_iter().chain(pool_sections) {
        section.finish(ctx);
    }
    root.finish(ctx);

    Config {
        data_dir,
        poll_interval,
        commit_interval,
        instance_id,
        retention,
        devices,
        miners,
        energy,
        pools,
        feeds,
        cache,
        mqtt,
        web,
        automation,
        alerts,
        notify,
    }
}

fn socket_addr(text: &str) -> Result<SocketAddr, String> {
    text.trim().parse().map_err(|_| {
        format!(
            "\"{text}\" is not an IP:port address; write e.g. \"0.0.0.0:8080\" or \"[::]:8080\""
        )
    })
}

fn read_devices(ctx: &mut Ctx<'_>, section: &mut Section<'_, '_>, poll: Duration) -> DevicesConfig {
    let timeout = section.duration(ctx, "timeout", "3s", Duration::from_millis(100), MINUTE);
    if timeout >= poll {
        ctx.error(
            section.span_of("timeout"),
            &section.field("timeout"),
            format!(
                "{} must be shorter than poll_interval ({}) so one slow miner cannot delay \
                 the next cycle; lower it or raise poll_interval",
                short_duration(timeout),
                short_duration(poll)
            ),
        );
    }
    let max_reply = section.integer(ctx, "max_reply_bytes", 262_144, 1024, 16 * 1024 * 1024);
    let default_listen: SocketAddr = ([0, 0, 0, 0], 12345).into();
    DevicesConfig {
        timeout,
        max_reply_bytes: max_reply as usize,
        mode_cooldown: section.duration(ctx, "mode_cooldown", "5m", Duration::ZERO, DAY),
        pool_cooldown: section.duration(ctx, "pool_cooldown", "15m", Duration::ZERO, DAY),
        restart_cooldown: section.duration(ctx, "restart_cooldown", "5m", Duration::ZERO, DAY),
        nmminer_listen: section.parsed(ctx, "nmminer_listen", default_listen, socket_addr),
        nmminer_offline_after: section.duration(
            ctx,
            "nmminer_offline_after",
            "2m",
            10 * SECOND,
            DAY,
        ),
    }
}

/// Reports a missing required key of a `[[miners]]` / `[[pools]]` entry.
fn require(ctx: &mut Ctx<'_>, section: &Section<'_, '_>, key: &str, example: &str) {
    let array = section.path().split('[').next().unwrap_or("");
    ctx.error(
        section.span(),
        &section.field(key),
        format!("missing: every [[{array}]] entry needs {key} = {example}"),
    );
}

fn read_miner(ctx: &mut Ctx<'_>, section: &mut Section<'_, '_>) -> MinerConfig {
    let name = section.parsed(ctx, "name", String::new(), checks::identifier);
    if !section.has("name") {
        require(ctx, section, "name", "\"bitaxe-1\" (unique)");
    }
    let kind = section.parsed(ctx, "kind", MinerKind::Auto, |text| {
        MinerKind::parse(text).ok_or_else(|| {
            format!("unknown miner kind \"{text}\": use \"axeos\" (Bitaxe, NerdQAxe), \"avalon\" (Avalon Nano), \"nmminer\" or \"auto\" (detect)")
        })
    });
    let address = section.parsed(ctx, "host", None, |text| checks::host_port(text).map(Some));
    if !section.has("host") {
        require(
            ctx,
            section,
            "host",
            "\"192.168.1.50\" (optionally with :port)",
        );
    }
    let (host, port) = address.map_or((String::new(), None), |a| (a.host, a.port));
    MinerConfig {
        name,
        kind,
        host,
        port,
        manual_power_w: section.opt_number(ctx, "manual_power_w", 0.0, 10_000.0, " W"),
        enabled: section.bool(ctx, "enabled", true),
        pools: section
            .string_list(ctx, "pools", &[])
            .into_iter()
            .map(|name| name.into_inner())
            .collect(),
    }
}

fn read_energy(ctx: &mut Ctx<'_>, section: &mut Section<'_, '_>) -> EnergyConfig {
    let is_fixed = section.parsed(ctx, "tariff", false, |text| match text {
        "agile" => Ok(false),
        "fixed" => Ok(true),
        _ => Err(format!(
            "unknown tariff \"{text}\": use \"agile\" or \"fixed\""
        )),
    });
    let region = section.parsed(ctx, "region", 'H', checks::region);
    let product = section.opt_string(ctx, "product");
    let fixed_price = section.opt_number(ctx, "fixed_price_p_kwh", 0.0, 1000.0, " p/kWh");
    let standing_charge_p_day =
        section.number(ctx, "standing_charge_p_day", 0.0, 0.0, 10_000.0, " p");
    let tariff = match (is_fixed, fixed_price) {
        (false, _) => Tariff::Agile,
        (true, Some(p_kwh)) => Tariff::Fixed { p_kwh },
        (true, None) => {
            if !section.has("fixed_price_p_kwh") {
                ctx.error(
                    section.span_of("tariff"),
                    &section.field("fixed_price_p_kwh"),
                    "tariff = \"fixed\" needs fixed_price_p_kwh, the unit rate in pence per \
                     kWh inc. VAT (e.g. 24.5)",
                );
            }
            Tariff::Fixed { p_kwh: 0.0 }
        }
    };
    EnergyConfig {
        tariff,
        region,
        product,
        standing_charge_p_day,
    }
}

fn read_pool(ctx: &mut Ctx<'_>, section: &mut Section<'_, '_>) -> PoolConfig {
    let name = section.parsed(ctx, "name", String::new(), checks::identifier);
    if !section.has("name") {
        require(ctx, section, "name", "\"ckpool\" (unique)");
    }
    let url = section.parsed(ctx, "url", String::new(), checks::stratum_url);
    if !section.has("url") {
        require(
            ctx,
            section,
            "url",
            "\"stratum+tcp://solo.ckpool.org:3333\"",
        );
    }
    let user = section.string(ctx, "user", "");
    if user.is_empty() {
        require(ctx, section, "user", "\"<address>.<worker>\"");
    }
    let password = Secret::new(section.string(ctx, "password", "x"));
    let stats = section.parsed(ctx, "stats", PoolStats::None, |text| {
        PoolStats::ALL
            .iter()
            .find(|(_, name)| *name == text)
            .map(|(kind, _)| *kind)
            .ok_or_else(|| {
                format!("unknown stats kind \"{text}\": use \"none\", \"ckpool\", \"ckpool-status\" or \"solopool\"")
            })
    });
    let account = section.opt_string(ctx, "account");
    if stats.needs_account() && account.is_none() {
        let address = user.split('.').next().unwrap_or("");
        ctx.error(
            section.span_of("stats"),
            &section.field("account"),
            format!(
                "stats = \"{}\" needs account, the payout address whose statistics are \
                 fetched (e.g. account = \"{}\")",
                stats.as_str(),
                if address.is_empty() {
                    "bc1q..."
                } else {
                    address
                }
            ),
        );
    }
    let coin = section.parsed(ctx, "coin", "btc".to_string(), |text| {
        let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
        if !text.is_empty() && text.chars().all(ok) {
            Ok(text.to_string())
        } else {
            Err(format!(
                "\"{text}\" is not a coin slug: use lowercase such as \"btc\", \"bch\", \"dgb-sha\""
            ))
        }
    });
    let stats_url = Some(section.parsed(ctx, "stats_url", String::new(), |text| {
        if text.is_empty() {
            Ok(String::new())
        } else {
            checks::http_url(text)
        }
    }))
    .filter(|url| !url.is_empty());
    PoolConfig {
        name,
        url,
        user,
        password,
        stats,
        account,
        stats_url,
        coin,
        enabled: section.bool(ctx, "enabled", true),
    }
}

fn read_feeds(ctx: &mut Ctx<'_>, section: &mut Section<'_, '_>) -> FeedsConfig {
    let mut url = |ctx: &mut Ctx<'_>, key, default: &str| {
        section.parsed(ctx, key, default.to_string(), checks::http_url)
    };
    let octopus_url = url(ctx, "octopus_url", "https://api.octopus.energy");
    let coingecko_url = url(ctx, "coingecko_url", "https://api.coingecko.com");
    let ckpool_url = url(ctx, "ckpool_url", "https://solo.ckpool.org");
    let solopool_url = url(ctx, "solopool_url", "https://{coin}.solopool.org");
    let coins = section.string_list(ctx, "coins", &["bitcoin"]);
    for coin in &coins {
        if coin.get_ref().trim().is_empty() {
            ctx.error(
                coin.span(),
                &section.field("coins"),
                "coin ids cannot be empty",
            );
        }
    }
    FeedsConfig {
        octopus_url,
        coingecko_url,
        coingecko_api_key: Secret::new(section.string(ctx, "coingecko_api_key", "")),
        coins: coins.into_iter().map(|coin| coin.into_inner()).collect(),
        currency: section.parsed(ctx, "currency", "gbp".to_string(), |text| {
            if !text.is_empty() && text.chars().all(|c| c.is_ascii_alphabetic()) {
                Ok(text.to_ascii_lowercase())
            } else {
                Err(format!(
                    "\"{text}\" is not a currency code: use e.g. \"gbp\", \"usd\", \"eur\""
                ))
            }
        }),
        ckpool_url,
        solopool_url,
        timeout: section.duration(ctx, "timeout", "10s", SECOND, 2 * MINUTE),
    }
}

fn read_mqtt(ctx: &mut Ctx<'_>, section: &mut Section<'_, '_>) -> MqttConfig {
    let host = section.parsed(ctx, "host", "127.0.0.1".to_string(), |text| {
        let address = checks::host_port(text)?;
        match address.port {
            None => Ok(address.host),
            Some(_) => Err(format!(
                "\"{text}\": give the host only and the port in mqtt.port"
            )),
        }
    });
    MqttConfig {
        enabled: section.bool(ctx, "enabled", false),
        host,
        port: section.integer(ctx, "port", 1883, 1, 65535) as u16,
        username: section.string(ctx, "username", ""),
        password: Secret::new(section.string(ctx, "password", "")),
        client_id: section.parsed(ctx, "client_id", "hmm".to_string(), |text| {
            if text.is_empty() || text.len() > 64 || text.contains(char::is_whitespace) {
                Err("use 1 to 64 characters without spaces, unique on the broker".to_string())
            } else {
                Ok(text.to_string())
            }
        }),
        base_topic: section.parsed(ctx, "base_topic", "hmm".into(), checks::topic_prefix),
        discovery_prefix: section.parsed(
            ctx,
            "discovery_prefix",
            "homeassistant".into(),
            checks::topic_prefix,
        ),
        keep_alive: section.duration(ctx, "keep_alive", "30s", 5 * SECOND, 65535 * SECOND),
        tls: read_tls(ctx, section),
    }
}

/// `mqtt.tls`: kept in the schema, but this build has no TLS for MQTT (rumqttc's rustls
/// feature pulls aws-lc, see Cargo.toml), so `true` is refused here rather than silently
/// sending the broker password in clear text.
fn read_tls(ctx: &mut Ctx<'_>, section: &mut Section<'_, '_>) -> bool {
    let tls = section.bool(ctx, "tls", false);
    if tls {
        ctx.error(
            section.span_of("tls"),
            &section.field("tls"),
            "this build speaks plain TCP to the broker only: set tls = false and use a \
             broker on your LAN (or a local Mosquitto bridge that adds TLS)",
        );
    }
    false
}

fn read_web(ctx: &mut Ctx<'_>, section: &mut Section<'_, '_>) -> WebConfig {
    let default_bind: SocketAddr = ([0, 0, 0, 0], 8080).into();
    WebConfig {
        enabled: section.bool(ctx, "enabled", true),
        bind: section.parsed(ctx, "bind", default_bind, socket_addr),
        token: section.parsed(ctx, "token", Secret::default(), |text| {
            if text.is_empty() || (text.len() >= 12 && !text.contains(char::is_whitespace)) {
                Ok(Secret::new(text))
            } else {
                // The value itself is not echoed: it is a secret.
                Err(
                    "the token must be at least 12 characters without spaces (e.g. the \
                     output of `openssl rand -hex 16`), or empty to turn HTTP control off"
                        .to_string(),
                )
            }
        }),
        workers: section.integer(ctx, "workers", 4, 1, 64) as usize,
    }
}

fn read_automation(ctx: &mut Ctx<'_>, section: &mut Section<'_, '_>) -> AutomationConfig {
    let dry_run = section.bool(ctx, "dry_run", false);
    let interval = section.duration(ctx, "interval", "1m", SECOND, HOUR);
    let mut rules = BTreeMap::new();
    for (name, mut rule) in section.named_tables(ctx, "rules") {
        let ok = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        if name.get_ref().is_empty() || !name.get_ref().chars().all(ok) {
            ctx.error(
                name.span(),
                rule.path(),
                "a rule name is its script's file name without .rhai: letters, digits, '_' \
                 and '-' only",
            );
        }
        let settings = RuleConfig {
            enabled: rule.bool(ctx, "enabled", false),
            dry_run: rule.bool(ctx, "dry_run", false),
        };
        rule.finish(ctx);
        rules.insert(name.into_inner(), settings);
    }
    AutomationConfig {
        dry_run,
        interval,
        rules,
    }
}

fn read_notify(ctx: &mut Ctx<'_>, section: &mut Section<'_, '_>) -> NotifyConfig {
    // Messages below never quote the value: these are secrets.
    let mut url = |ctx: &mut Ctx<'_>, key| {
        section.parsed(ctx, key, Secret::default(), |text| {
            checks::optional_http_url(text)
                .map(Secret::new)
                .map_err(|_| {
                    "must be empty (off) or a URL starting with https:// or http://".to_string()
                })
        })
    };
    let discord_webhook = url(ctx, "discord_webhook");
    let webhook_url = url(ctx, "webhook_url");
    let telegram_bot_token = Secret::new(section.string(ctx, "telegram_bot_token", ""));
    let telegram_chat_id = Secret::new(section.string(ctx, "telegram_chat_id", ""));
    if telegram_bot_token.is_empty() != telegram_chat_id.is_empty() {
        let missing = if telegram_bot_token.is_empty() {
            "telegram_bot_token"
        } else {
            "telegram_chat_id"
        };
        ctx.error(
            section.span_of(missing),
            &section.field(missing),
            "Telegram needs both telegram_bot_token and telegram_chat_id (or neither)",
        );
    }
    NotifyConfig {
        discord_webhook,
        telegram_bot_token,
        telegram_chat_id,
        webhook_url,
        throttle: section.duration(ctx, "throttle", "15m", Duration::ZERO, 7 * DAY),
    }
}

/// Reports every entry whose name repeats an earlier one.
fn check_unique<T>(
    ctx: &mut Ctx<'_>,
    sections: &[Section<'_, '_>],
    items: &[T],
    name: impl Fn(&T) -> &String,
    what: &str,
) {
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (index, item) in items.iter().enumerate() {
        let item_name = name(item);
        if item_name.is_empty() {
            continue;
        }
        if let Some(&earlier) = first.get(item_name.as_str()) {
            ctx.error(
                sections[index].span_of("name"),
                &sections[index].field("name"),
                format!(
                    "{what} name \"{item_name}\" is already used by {}; names must be unique",
                    sections[earlier].path()
                ),
            );
        } else {
            first.insert(item_name, index);
        }
    }
}

/// Reports miners' `pools` entries that name no `[[pools]]` entry.
fn check_pool_references(
    ctx: &mut Ctx<'_>,
    sections: &[Section<'_, '_>],
    miners: &[MinerConfig],
    pools: &[PoolConfig],
) {
    let defined: Vec<&str> = pools.iter().map(|pool| pool.name.as_str()).collect();
    for (section, miner) in sections.iter().zip(miners) {
        for (index, pool) in miner.pools.iter().enumerate() {
            if !defined.contains(&pool.as_str()) {
                let known = if defined.is_empty() {
                    "no [[pools]] are defined".to_string()
                } else {
                    format!("defined pools: {}", defined.join(", "))
                };
                ctx.error(
                    section.span_of("pools"),
                    &format!("{}[{index}]", section.field("pools")),
                    format!("pool \"{pool}\" is not defined ({known}); add a [[pools]] entry with name = \"{pool}\""),
                );
            }
        }
    }
}
