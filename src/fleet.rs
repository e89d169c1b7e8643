//! The daemon's in-memory picture of the fleet: each configured miner with what its last
//! poll said. The collector writes it once per cycle; MQTT, the web page, scripts and the
//! control API read it. It is the "readers see the newest at once" half of the design: the
//! store holds history, this holds now, so no page or widget re-polls a device.

use std::sync::RwLock;

use crate::config::MinerConfig;
use crate::devices::{Capabilities, DeviceInfo, capabilities};
use crate::model::{MinerKind, MinerStatus, Sample};

/// One miner: its configuration plus what the collector last learned.
#[derive(Debug, Clone)]
pub struct MinerEntry {
    /// Its `[[miners]]` entry.
    pub config: MinerConfig,
    /// Store id (stable for the life of the data file).
    pub id: u32,
    /// Kind after detection (`config.kind` unless that was `auto`).
    pub kind: Option<MinerKind>,
    /// Device facts from the last successful poll.
    pub info: Option<DeviceInfo>,
    /// Descriptive status (model, firmware, pool, last error, enabled).
    pub status: MinerStatus,
    /// The newest sample, online or not.
    pub latest: Option<Sample>,
    /// Energy used since the data file began, Wh (measured, plus manual power × online time
    /// for miners without a power sensor). Monotonic for Home Assistant's energy sensor.
    pub energy_wh_total: f64,
    /// Duration of the last poll, seconds.
    pub last_poll_s: f64,
    /// Polls made since start.
    pub polls: u64,
    /// Polls that failed since start.
    pub poll_errors: u64,
}

impl MinerEntry {
    /// A miner that has not been polled yet.
    pub fn new(config: MinerConfig, id: u32) -> MinerEntry {
        let kind = (config.kind != MinerKind::Auto).then_some(config.kind);
        let status = MinerStatus {
            name: config.name.clone(),
            kind,
            enabled: config.enabled,
            ..MinerStatus::default()
        };
        MinerEntry {
            config,
            id,
            kind,
            info: None,
            status,
            latest: None,
            energy_wh_total: 0.0,
            last_poll_s: 0.0,
            polls: 0,
            poll_errors: 0,
        }
    }

    /// What the device supports, from its last reading; before the first poll only the
    /// modes remembered from an earlier run, and no control at all.
    pub fn capabilities(&self) -> Capabilities {
        match &self.info {
            Some(info) => capabilities(info),
            None => Capabilities {
                modes: self.status.modes.clone(),
                restart: false,
                switch_pool: false,
                pause: false,
            },
        }
    }

    /// Whether the newest sample is online and no older than `fresh_ms` at `now_ms`.
    pub fn is_online(&self, now_ms: u64, fresh_ms: u64) -> bool {
        self.latest
            .as_ref()
            .is_some_and(|s| s.online && now_ms.saturating_sub(s.ts_ms) <= fresh_ms)
    }
}

/// The whole fleet behind one lock. Readers clone what they need and let go at once.
#[derive(Debug, Default)]
pub struct Fleet {
    miners: RwLock<Vec<MinerEntry>>,
}

impl Fleet {
    /// A fleet of the given miners, in config order.
    pub fn new(miners: Vec<MinerEntry>) -> Fleet {
        Fleet {
            miners: RwLock::new(miners),
        }
    }

    /// A copy of every entry.
    pub fn snapshot(&self) -> Vec<MinerEntry> {
        self.read().clone()
    }

    /// `f` of every entry, in config order, read under the lock instead of copying the
    /// entries: a snapshot copies every string of every entry (config, device info,
    /// status), where the script host's `miners()` reads a few fields on each call.
    /// `f` must not touch the fleet.
    pub fn map_entries<T>(&self, f: impl FnMut(&MinerEntry) -> T) -> Vec<T> {
        self.read().iter().map(f).collect()
    }

    /// A copy of one entry by config name.
    pub fn get(&self, name: &str) -> Option<MinerEntry> {
        self.read().iter().find(|m| m.config.name == name).cloned()
    }

    /// Runs `change` on the entry named `name`; false if there is none.
    pub fn update(&self, name: &str, change: impl FnOnce(&mut MinerEntry)) -> bool {
        let mut miners = self.miners.write().unwrap_or_else(|e| e.into_inner());
        match miners.iter_mut().find(|m| m.config.name == name) {
            Some(entry) => {
                change(entry);
                true
            }
            None => false,
        }
    }

    /// Replaces the miner list (config reload), keeping what was learned about miners that
    /// stay. A miner whose `kind` or `host` changed is a different device (or a corrected
    /// config): its detected kind and device facts start afresh from the new config, so it
    /// is polled and controlled as what it now is; its energy total and counters carry on.
    pub fn replace(&self, mut miners: Vec<MinerEntry>) {
        let mut current = self.miners.write().unwrap_or_else(|e| e.into_inner());
        for fresh in &mut miners {
            let Some(old) = current.iter().find(|m| m.id == fresh.id) else {
                continue;
            };
            let config = fresh.config.clone();
            if old.config.kind == config.kind && old.config.host == config.host {
                *fresh = old.clone();
                fresh.status.enabled = config.enabled;
                fresh.config = config;
            } else {
                fresh.latest = old.latest.clone();
                fresh.energy_wh_total = old.energy_wh_total;
                fresh.polls = old.polls;
                fresh.poll_errors = old.poll_errors;
                fresh.status.model = None;
                fresh.status.firmware = None;
                fresh.status.pool = None;
                if config.kind == MinerKind::Auto {
                    // The kind saved for the old host says nothing about the new one.
                    fresh.kind = None;
                    fresh.status.kind = None;
                }
            }
        }
        *current = miners;
    }

    /// Config names, in config order.
    pub fn names(&self) -> Vec<String> {
        self.read().iter().map(|m| m.config.name.clone()).collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<MinerEntry>> {
        self.miners.read().unwrap_or_else(|e| e.into_inner())
    }
}
