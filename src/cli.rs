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
  hmm demo [--mqtt HOST:PORT] [--web ADDR]   simulated fleet + daemon + status page, no config
  hmm run --config FILE                      the daemon
  hmm simulate [--miners N]                  fake devices on loopback
  hmm status [--json] [--config FILE]        the fleet as the store sees it
  hmm widget run NAME [--json]               evaluate one widget
  hmm rule test NAME --at TIME               what a rule would do, executing nothing
  hmm detect HOST[:PORT]                     identify a miner
  hmm check-config FILE                      validate a config, listing every problem
  hmm bench [--json] [--miners N] [--days D] [--interval 10s] [--dir PATH]
  hmm --version | --help
";

/// Runs the command line and returns the process exit code.
pub fn run(args: Vec<OsString>) -> i32 {
    crate::logging::init();
    let mut args = args.into_iter();
    let Some(command) = args.next() else {
        eprint!("{USAGE}");
        return 2;
    };
    let rest: Vec<OsString> = args.collect();
    match command.to_string_lossy().as_ref() {
        "--version" | "-V" | "version" => {
            println!("{}", version_line());
            0
        }
        "--help" | "-h" | "help" => {
            print!("{USAGE}");
            0
        }
        "bench" => bench_command(rest),
        other => {
            eprintln!("hmm: unknown command '{other}'\n\n{USAGE}");
            2
        }
    }
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
                    .map_err(|e| format!("--days: {e} (give a number, e.g. 7 or 0.5)"))?;
                if !(days > 0.0 && days <= 3650.0) {
                    return Err("--days must be between 0 and 3650".to_string());
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
