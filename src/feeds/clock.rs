//! The clock the feeds read: wall time in production, a hand-moved clock in tests.
//!
//! Every TTL, back-off and Agile schedule decision goes through [`Clock`] so that tests
//! and the traffic simulation can jump an hour ahead in microseconds instead of sleeping.

use std::sync::atomic::{AtomicU64, Ordering};

/// Source of "now" in UTC milliseconds.
pub trait Clock: Send + Sync {
    /// Current time, UTC milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;

    /// Current time, UTC seconds.
    fn now_s(&self) -> u64 {
        self.now_ms() / 1000
    }
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        crate::units::now_ms()
    }
}

/// A clock that only moves when told to; shared between a test and the code under test.
#[derive(Debug, Default)]
pub struct ManualClock {
    ms: AtomicU64,
}

impl ManualClock {
    /// A clock reading `start_ms`.
    pub fn new(start_ms: u64) -> ManualClock {
        ManualClock {
            ms: AtomicU64::new(start_ms),
        }
    }

    /// Sets the time.
    pub fn set_ms(&self, ms: u64) {
        self.ms.store(ms, Ordering::SeqCst);
    }

    /// Moves the time forward by `ms`.
    pub fn advance_ms(&self, ms: u64) {
        self.ms.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.ms.load(Ordering::SeqCst)
    }
}
