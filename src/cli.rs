//! Command-line entry: parses the subcommand and its flags with lexopt and calls the module
//! that does the work. Every error is printed once, naming what to fix, and becomes exit
//! code 2 (usage) or 1 (failure).

use std::ffi::OsString;

/// Version line: crate version, git commit and target triple (set by build.rs).
pub fn version_line() -> String {
    format!(
        "hmm {} ({} {})",
        env!("CARGO_PKG_VERSION"),
        env!("HMM_GIT_COMMIT"),
        env!("HMM_TARGET")
    )
}

const USAGE: &str = "\
hmm - Home Miner Manager

usage:
  hmm demo [--mqtt HOST:PORT] [--web ADDR:PORT] [--miners N] [--for 30s] [--poll 5s] [--data-dir DIR]
                                             simulated fleet + daemon + status page, no config
  hmm run [--config FILE]                    the daemon (default ./hmm.toml, then /etc/hmm/hmm.toml)
  hmm status [--json] [--config FILE | --data-dir DIR]
                                             the fleet as the store sees it
  hmm check-config FILE                      validate a config, listing every problem
  hmm detect HOST[:PORT] [--timeout 3s]      identify a miner and print its [[miners]] block
  hmm widget run NAME [--json] [--config FILE | --demo] [--dir WIDGETS_DIR]
                                             evaluate one widget against the store
  hmm rule test NAME --at TIME [--config FILE | --demo] [--dir SCRIPTS_DIR]
                                             what a rule would do at TIME, executing nothing
  hmm simulate [--miners N] [--seed S] [--fault NAME=MODE ...] [--nmminer-target ADDR]
                                             fake devices on loopback
  hmm bench [--json] [--miners N] [--days D] [--interval 10s] [--dir DIR]
                                             store and widget benchmarks on this machine
  hmm --version | --help
";

/// The lines of [`USAGE`] that describe `command` (its synopsis and description), so
/// `hmm COMMAND --help` works the same for every command; `None` for an unknown command.
fn command_help(command: &str) -> Option<String> {
    let synopsis = format!("  hmm {command} ");
    let mut lines = USAGE
        .lines()
        .skip_while(|line| !line.starts_with(&synopsis));
    let first = lines.next()?;
    let mut help = format!("usage:\n{first}\n");
    for line in lines.take_while(|line| line.starts_with("       ")) {
        help.push_str(line);
        help.push('\n');
    }
    Some(help)
}

/// Runs the command line and returns the process exit code.
pub fn run(args: Vec<OsString>) -> i32 {
    crate::logging::init();
    let mut args = args.into_iter();
    let Some(command) = args.next() else {
        eprint!("{USAGE}");
        return 2;
    };
    let rest: Vec<OsString> = args.collect();
    let command = command.to_string_lossy().into_owned();
    if rest.iter().any(|arg| arg == "--help" || arg == "-h")
        && let Some(help) = command_help(&command)
    {
        print!("{help}");
        return 0;
    }
    match command.as_str() {
        "--version" | "-V" | "version" => {
            println!("{}", version_line());
            0
        }
        "--help" | "-h" | "help" => {
            print!("{USAGE}");
            0
        }
        "run" => run_command(rest),
        "demo" => demo_command(rest),
        "status" => status_command(rest),
        "check-config" => check_config(rest),
        "detect" => detect_command(rest),
        "simulate" => simulate_command(rest),
        "bench" => bench_command(rest),
        "widget" => script_command(rest, true),
        "rule" => script_command(rest, false),
        other => {
            eprintln!("hmm: unknown command '{other}'\n\n{USAGE}");
            2
        }
    }
}

/// `hmm check-config FILE`: prints every problem (`file:line: field: message`) and exits 1,
/// or prints a short summary of the valid config and exits 0.
fn check_config(args: Vec<OsString>) -> i32 {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut file: Option<std::path::PathBuf> = None;
    loop {
        match parser.next() {
            Ok(None) => break,
            Ok(Some(Short('h') | Long("help"))) => {
                println!("usage: hmm check-config FILE");
                return 0;
            }
            Ok(Some(Value(value))) if file.is_none() => file = Some(value.into()),
            Ok(Some(other)) => {
                eprintln!(
                    "hmm check-config: {}\nusage: hmm check-config FILE",
                    other.unexpected()
                );
                return 2;
            }
            Err(error) => {
                eprintln!("hmm check-config: {error}\nusage: hmm check-config FILE");
                return 2;
            }
        }
    }
    let Some(file) = file else {
        eprintln!("hmm check-config: missing FILE\nusage: hmm check-config FILE");
        return 2;
    };
    match crate::config::Config::load(&file) {
        Ok(config) => {
            println!("{}: OK", file.display());
            println!("{}", config.summary());
            0
        }
        Err(errors) => {
            println!("{errors}");
            eprintln!("{}: {} problem(s) found", file.display(), errors.len());
            1
        }
    }
}

/// `hmm detect HOST[:PORT] [--timeout 3s]`: identifies a miner and prints the config
/// line to paste (see `devices::detect`).
fn detect_command(args: Vec<OsString>) -> i32 {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut host: Option<String> = None;
    let mut limits = crate::devices::Limits::default();
    loop {
        match parser.next() {
            Ok(Some(Long("timeout"))) => {
                let value = parser.value().map(|v| v.to_string_lossy().into_owned());
                match value.as_deref().map(humantime::parse_duration) {
                    Ok(Ok(timeout)) => limits.timeout = timeout,
                    _ => {
                        eprintln!("hmm detect: --timeout needs a duration such as 3s or 500ms");
                        return 2;
                    }
                }
            }
            Ok(Some(Value(value))) if host.is_none() => {
                host = Some(value.to_string_lossy().into_owned());
            }
            Ok(Some(other)) => {
                eprintln!("hmm detect: unexpected {}\n\n{USAGE}", other.unexpected());
                return 2;
            }
            Ok(None) => break,
            Err(err) => {
                eprintln!("hmm detect: {err}");
                return 2;
            }
        }
    }
    let Some(host) = host else {
        eprintln!("hmm detect: give the miner's address, e.g. hmm detect 192.168.1.50");
        return 2;
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("hmm detect: cannot start the async runtime: {err}");
            return 1;
        }
    };
    match runtime.block_on(crate::devices::detect::detect(&host, limits)) {
        Ok(detection) => {
            print!("{}", crate::devices::detect::report(&detection));
            0
        }
        Err(err) => {
            eprintln!("hmm detect: {err}");
            1
        }
    }
}

/// `hmm simulate`: parses its flags and runs the simulated fleet until Ctrl-C.
fn simulate_command(args: Vec<OsString>) -> i32 {
    let options = match parse_simulate(args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("hmm simulate: {message}\n\n{USAGE}");
            return 2;
        }
    };
    match crate::simulate::run(options) {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("{error}");
            1
        }
    }
}

fn parse_simulate(args: Vec<OsString>) -> Result<crate::simulate::SimulateOptions, String> {
    use lexopt::prelude::*;
    let mut options = crate::simulate::SimulateOptions::default();
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next().map_err(|err| err.to_string())? {
        match arg {
            Long("miners") => {
                let value = parser.value().map_err(|err| err.to_string())?;
                let count: usize = value
                    .string()
                    .ok()
                    .and_then(|text| text.parse().ok())
                    .filter(|count| *count > 0)
                    .ok_or("--miners needs a positive whole number, e.g. --miners 20")?;
                options.miners = Some(count);
            }
            Long("seed") => {
                let value = parser.value().map_err(|err| err.to_string())?;
                options.seed = value
                    .string()
                    .ok()
                    .and_then(|text| text.parse().ok())
                    .ok_or("--seed needs a whole number, e.g. --seed 42")?;
            }
            Long("fault") => {
                let value = parser.value().map_err(|err| err.to_string())?;
                let text = value.string().map_err(|_| "--fault must be UTF-8 text")?;
                let (name, mode) = text
                    .split_once('=')
                    .ok_or("--fault needs NAME=MODE, e.g. --fault sim-nano3s-1=hang")?;
                let fault = crate::simulate::Fault::parse(mode)?;
                options.faults.push((name.to_string(), fault));
            }
            Long("nmminer-target") => {
                let value = parser.value().map_err(|err| err.to_string())?;
                options.nmminer_target = value
                    .string()
                    .ok()
                    .and_then(|text| text.parse().ok())
                    .ok_or(
                        "--nmminer-target needs IP:PORT, e.g. --nmminer-target 127.0.0.1:12345",
                    )?;
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    Ok(options)
}

/// `hmm bench [--json] [--miners N] [--days D] [--interval 10s] [--dir PATH]`.
fn bench_command(args: Vec<OsString>) -> i32 {
    let options = match parse_bench_args(args) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("hmm bench: {message}\n\n{USAGE}");
            return 2;
        }
    };
    let (options, json) = options;
    match crate::bench::run(&options) {
        Ok(report) if json => {
            println!("{}", report.to_json());
            0
        }
        Ok(report) => {
            print!("{}", report.to_table());
            0
        }
        Err(message) => {
            eprintln!("hmm bench: {message}");
            1
        }
    }
}

fn parse_bench_args(args: Vec<OsString>) -> Result<(crate::bench::BenchOptions, bool), String> {
    use lexopt::prelude::*;
    let mut options = crate::bench::BenchOptions::default();
    let mut json = false;
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("json") => json = true,
            Long("miners") => {
                options.miners = parser
                    .value()
                    .map_err(|e| e.to_string())?
                    .parse()
                    .map_err(|e| format!("--miners: {e} (give a whole number, e.g. 100)"))?;
            }
            Long("days") => {
                let days: f64 = parser
                    .value()
                    .map_err(|e| e.to_string())?
                    .parse()
                    .map_err(|e| format!("--days: {e} (give a number, e.g. 7 or 1.5)"))?;
                if !(1.0..=3650.0).contains(&days) {
                    return Err(
                        "--days must be between 1 and 3650 (the range row reads one whole day)"
                            .to_string(),
                    );
                }
                options.days = days;
            }
            Long("interval") => {
                let text = parser.value().map_err(|e| e.to_string())?;
                options.interval = humantime::parse_duration(&text.to_string_lossy())
                    .map_err(|e| format!("--interval: {e} (e.g. 10s)"))?;
            }
            Long("dir") => options.dir = Some(parser.value().map_err(|e| e.to_string())?.into()),
            _ => return Err(arg.unexpected().to_string()),
        }
    }
    if options.miners == 0 {
        return Err("--miners must be at least 1".to_string());
    }
    Ok((options, json))
}

/// `hmm widget run NAME [--json] [--demo] [--dir DIR]` and
/// `hmm rule test NAME --at TIME [--demo] [--dir DIR]`.
fn script_command(args: Vec<OsString>, widget: bool) -> i32 {
    use lexopt::prelude::*;
    let (verb, usage) = if widget {
        (
            "run",
            "usage: hmm widget run NAME [--json] [--config FILE | --demo] [--dir WIDGETS_DIR]",
        )
    } else {
        (
            "test",
            "usage: hmm rule test NAME --at TIME [--config FILE | --demo] [--dir SCRIPTS_DIR]",
        )
    };
    let mut parser = lexopt::Parser::from_args(args);
    let (mut positional, mut json, mut demo, mut at, mut dir, mut config) = (
        Vec::new(),
        false,
        false,
        None,
        None,
        None::<std::path::PathBuf>,
    );
    loop {
        let arg = match parser.next() {
            Ok(Some(arg)) => arg,
            Ok(None) => break,
            Err(err) => {
                eprintln!("hmm: {err}\n{usage}");
                return 2;
            }
        };
        let parsed: Result<(), lexopt::Error> = match arg {
            Long("json") => {
                json = true;
                Ok(())
            }
            Long("demo") => {
                demo = true;
                Ok(())
            }
            Long("at") => parser
                .value()
                .and_then(|v| v.string())
                .map(|v| at = Some(v)),
            Long("dir") => parser
                .value()
                .map(|v| dir = Some(std::path::PathBuf::from(v))),
            Short('c') | Long("config") => parser
                .value()
                .map(|v| config = Some(std::path::PathBuf::from(v))),
            Value(v) => v.string().map(|v| positional.push(v)),
            other => Err(other.unexpected()),
        };
        if let Err(err) = parsed {
            eprintln!("hmm: {err}\n{usage}");
            return 2;
        }
    }
    let [v, name] = positional.as_slice() else {
        eprintln!("{usage}");
        return 2;
    };
    if v != verb || (!widget && at.is_none()) {
        eprintln!("{usage}");
        return 2;
    }
    let data = if demo {
        Ok(crate::script::commands::demo_data())
    } else {
        live_script_data(config, &mut dir, widget)
    };
    let outcome = data.and_then(|data| {
        if widget {
            crate::script::commands::widget_run(data, dir.as_deref(), name, json)
        } else {
            crate::script::commands::rule_test(
                data,
                dir.as_deref(),
                name,
                at.as_deref().unwrap_or_default(),
            )
        }
    });
    match outcome {
        Ok(text) => {
            print!("{text}");
            0
        }
        Err(err) => {
            eprintln!("hmm: {err}");
            1
        }
    }
}

/// `hmm run --config FILE`: the daemon.
fn run_command(args: Vec<OsString>) -> i32 {
    use lexopt::prelude::*;
    let usage = "usage: hmm run --config FILE";
    let mut parser = lexopt::Parser::from_args(args);
    let mut config: Option<std::path::PathBuf> = None;
    loop {
        match parser.next() {
            Ok(None) => break,
            Ok(Some(Short('c') | Long("config"))) => match parser.value() {
                Ok(value) => config = Some(value.into()),
                Err(err) => {
                    eprintln!("hmm run: {err}\n{usage}");
                    return 2;
                }
            },
            Ok(Some(Value(value))) if config.is_none() => config = Some(value.into()),
            Ok(Some(Short('h') | Long("help"))) => {
                println!("{usage}");
                return 0;
            }
            Ok(Some(other)) => {
                eprintln!("hmm run: {}\n{usage}", other.unexpected());
                return 2;
            }
            Err(err) => {
                eprintln!("hmm run: {err}\n{usage}");
                return 2;
            }
        }
    }
    let Some(config) = config.or_else(default_config_path) else {
        eprintln!(
            "hmm run: no config file given and none found at /etc/hmm/hmm.toml or ./hmm.toml\n{usage}"
        );
        return 2;
    };
    crate::daemon::run_from_config_file(&config)
}

/// The config file used when none is given: `./hmm.toml`, then `/etc/hmm/hmm.toml`.
fn default_config_path() -> Option<std::path::PathBuf> {
    ["hmm.toml", "/etc/hmm/hmm.toml"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|path| path.is_file())
}

/// `hmm demo [--mqtt HOST:PORT] [--web ADDR] [--miners N] [--for DURATION] [--data-dir DIR]`.
fn demo_command(args: Vec<OsString>) -> i32 {
    use lexopt::prelude::*;
    let usage = "usage: hmm demo [--mqtt HOST:PORT] [--web ADDR:PORT] [--miners N] [--for 30s] [--data-dir DIR] [--poll 5s]";
    let mut parser = lexopt::Parser::from_args(args);
    let mut options = crate::demo::DemoOptions::default();
    loop {
        let arg = match parser.next() {
            Ok(None) => break,
            Ok(Some(arg)) => arg,
            Err(err) => {
                eprintln!("hmm demo: {err}\n{usage}");
                return 2;
            }
        };
        let value = |parser: &mut lexopt::Parser| -> Result<String, String> {
            parser
                .value()
                .map_err(|e| e.to_string())?
                .string()
                .map_err(|e| e.to_string())
        };
        let parsed: Result<(), String> = match arg {
            Long("mqtt") => value(&mut parser).map(|v| options.mqtt = Some(v)),
            Long("web") => value(&mut parser).and_then(|v| {
                v.parse()
                    .map(|addr| options.web = Some(addr))
                    .map_err(|_| format!("--web {v}: use an address such as 127.0.0.1:8080"))
            }),
            Long("miners") => value(&mut parser).and_then(|v| match v.parse::<usize>() {
                Ok(n) if (1..=500).contains(&n) => {
                    options.miners = Some(n);
                    Ok(())
                }
                _ => Err(format!("--miners {v}: use a number from 1 to 500")),
            }),
            Long("for") => value(&mut parser).and_then(|v| {
                humantime::parse_duration(&v)
                    .map(|d| options.run_for = Some(d))
                    .map_err(|_| format!("--for {v}: use a duration such as 30s"))
            }),
            Long("poll") => value(&mut parser).and_then(|v| match humantime::parse_duration(&v) {
                Ok(d) if d >= std::time::Duration::from_secs(1) => {
                    options.poll_interval = Some(d);
                    Ok(())
                }
                _ => Err(format!("--poll {v}: use a duration of at least 1s")),
            }),
            Long("data-dir") => value(&mut parser).map(|v| options.data_dir = Some(v.into())),
            Short('h') | Long("help") => {
                println!("{usage}");
                return 0;
            }
            other => Err(other.unexpected().to_string()),
        };
        if let Err(err) = parsed {
            eprintln!("hmm demo: {err}\n{usage}");
            return 2;
        }
    }
    crate::demo::run(options)
}

/// `hmm status [--json] [--config FILE | --data-dir DIR]`.
fn status_command(args: Vec<OsString>) -> i32 {
    use lexopt::prelude::*;
    let usage = "usage: hmm status [--json] [--config FILE | --data-dir DIR]";
    let mut parser = lexopt::Parser::from_args(args);
    let (mut json, mut config, mut data_dir) = (
        false,
        None::<std::path::PathBuf>,
        None::<std::path::PathBuf>,
    );
    loop {
        let arg = match parser.next() {
            Ok(None) => break,
            Ok(Some(arg)) => arg,
            Err(err) => {
                eprintln!("hmm status: {err}\n{usage}");
                return 2;
            }
        };
        let parsed: Result<(), lexopt::Error> = match arg {
            Long("json") => {
                json = true;
                Ok(())
            }
            Short('c') | Long("config") => parser.value().map(|v| config = Some(v.into())),
            Long("data-dir") => parser.value().map(|v| data_dir = Some(v.into())),
            Short('h') | Long("help") => {
                println!("{usage}");
                return 0;
            }
            other => Err(other.unexpected()),
        };
        if let Err(err) = parsed {
            eprintln!("hmm status: {err}\n{usage}");
            return 2;
        }
    }
    let (data_dir, poll) = match (data_dir, config.or_else(default_config_path)) {
        (Some(dir), _) => (dir, std::time::Duration::from_secs(10)),
        (None, Some(path)) => match crate::config::Config::load(&path) {
            Ok(config) => (config.data_dir, config.poll_interval),
            Err(errors) => {
                eprintln!("{errors}");
                return 1;
            }
        },
        (None, None) => {
            eprintln!(
                "hmm status: give --config FILE or --data-dir DIR (no ./hmm.toml or /etc/hmm/hmm.toml found)"
            );
            return 2;
        }
    };
    crate::status::run(&data_dir, poll, json)
}

/// Script data over the configured data directory (`--config`, else ./hmm.toml or
/// /etc/hmm/hmm.toml). Without `--dir`, the user's scripts are taken from the data
/// directory as the daemon does.
fn live_script_data(
    config: Option<std::path::PathBuf>,
    dir: &mut Option<std::path::PathBuf>,
    widget: bool,
) -> Result<std::sync::Arc<dyn crate::script::ScriptData>, String> {
    let path = config.or_else(default_config_path).ok_or_else(|| {
        "give --config FILE (no ./hmm.toml or /etc/hmm/hmm.toml found), or --demo to use a generated fleet".to_string()
    })?;
    let config = crate::config::Config::load(&path).map_err(|errors| errors.to_string())?;
    if dir.is_none() {
        let own = config
            .data_dir
            .join(if widget { "widgets" } else { "scripts" });
        if own.is_dir() {
            *dir = Some(own);
        }
    }
    crate::daemon::offline_script_data(&config)
}
