//! A tiny stderr logger for the `log` facade: one line per record with a UTC timestamp,
//! level and module. `HMM_LOG` (`error`, `warn`, `info`, `debug`, `trace`) sets the level;
//! the default is `info`. Kept in-house because env_logger's filtering pulls in regex,
//! which costs more on the embedded binary than this whole file.

use log::{LevelFilter, Log, Metadata, Record};

struct StderrLogger {
    level: LevelFilter,
}

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
        eprintln!(
            "{now} {:<5} {}: {}",
            record.level(),
            record.target(),
            record.args()
        );
    }

    fn flush(&self) {}
}

/// Installs the logger once; later calls are ignored (tests may call it repeatedly).
pub fn init() {
    let level = std::env::var("HMM_LOG")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(LevelFilter::Info);
    let logger = Box::leak(Box::new(StderrLogger { level }));
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
}
