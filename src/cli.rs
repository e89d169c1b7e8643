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
        "check-config" => check_config(rest),
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
