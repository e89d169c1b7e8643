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
        "widget" => script_command(rest, true),
        "rule" => script_command(rest, false),
        other => {
            let _ = rest;
            eprintln!("hmm: unknown command '{other}'\n\n{USAGE}");
            2
        }
    }
}

/// `hmm widget run NAME [--json] [--demo] [--dir DIR]` and
/// `hmm rule test NAME --at TIME [--demo] [--dir DIR]`.
fn script_command(args: Vec<OsString>, widget: bool) -> i32 {
    use lexopt::prelude::*;
    let (verb, usage) = if widget {
        (
            "run",
            "usage: hmm widget run NAME [--json] [--demo] [--dir WIDGETS_DIR]",
        )
    } else {
        (
            "test",
            "usage: hmm rule test NAME --at TIME [--demo] [--dir SCRIPTS_DIR]",
        )
    };
    let mut parser = lexopt::Parser::from_args(args);
    let (mut positional, mut json, mut demo, mut at, mut dir) =
        (Vec::new(), false, false, None, None);
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
    let outcome = crate::script::commands::command_data(demo).and_then(|data| {
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
