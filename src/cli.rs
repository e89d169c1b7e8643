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
  hmm simulate [--miners N] [--seed S] [--fault NAME=MODE ...] [--nmminer-target ADDR]
                                             fake devices on loopback (MODE: none, hang,
                                             garbage, truncated, http500, slow[:2s])
  hmm status [--json] [--config FILE]        the fleet as the store sees it
  hmm widget run NAME [--json]               evaluate one widget
  hmm rule test NAME --at TIME               what a rule would do, executing nothing
  hmm detect HOST[:PORT]                     identify a miner
  hmm check-config FILE                      validate a config, listing every problem
  hmm bench [--json] [--miners N] [--days D] [--interval 10s]
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
        "simulate" => simulate_command(rest),
        other => {
            let _ = rest;
            eprintln!("hmm: unknown command '{other}'\n\n{USAGE}");
            2
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
