//! The state of one simulated device and how it evolves over time.
//!
//! Time is simulated in whole device seconds: `now = seconds since the fleet started +
//! an offset` (tests move the offset with [`DeviceState::advance`]). Whenever the state is
//! read, it first catches up second by second, each step drawing from the device's own
//! seeded PRNG. So the telemetry at a given device second is a function of the seed, the
//! device index and the control actions alone: reproducible in tests, and idle devices
//! cost nothing between requests (no timer task per device).
//!
//! The physics is deliberately simple but plausible: hashrate ∝ frequency (AxeOS) or the
//! work mode's nominal rate (Avalon), power ∝ f·V² or the mode's power, both with a slow
//! mean-reverting random walk; chip temperature relaxes towards a target set by power;
//! shares arrive at a rate ∝ hashrate / pool difficulty with ~0.2 % rejects; each share's
//! difficulty is `pool_diff / U(0,1)`, so the best difficulty grows like a real one.

use std::net::IpAddr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::faults::{CgminerQuirk, Fault};
use super::models::{Profile, SimModel};
use crate::model::MinerKind;

/// 2^32: hashes per difficulty-1 share.
const DIFF1_HASHES: f64 = 4_294_967_296.0;
/// Ambient temperature the devices sit in, °C.
const AMBIENT_C: f64 = 25.0;
/// Probability that a found share is rejected by the pool.
const REJECT_PROBABILITY: f64 = 0.002;
/// Power a paused device still draws (controller, Wi-Fi, fan at minimum), W.
pub(crate) const PAUSED_POWER_W: f64 = 3.0;
/// At most this many seconds are stepped one by one on catch-up; an older gap jumps.
const MAX_CATCH_UP_STEPS: i64 = 86_400;

/// One configured pool.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PoolConfig {
    /// Host (AxeOS) or full `stratum+tcp://host:port` URL (cgminer, NMMiner).
    pub url: String,
    /// Port (AxeOS keeps it separately).
    pub port: u16,
    /// Worker name.
    pub user: String,
    /// Password (never shown: AxeOS replies `*****`).
    pub password: String,
}

/// Everything one simulated device knows. Shared behind a mutex between its server task(s)
/// and its [`super::SimControl`]; never held across an `.await`.
#[derive(Debug)]
pub(crate) struct DeviceState {
    /// Which model this is.
    pub model: SimModel,
    /// Static facts of the model.
    pub profile: &'static Profile,
    /// Device PRNG (telemetry noise, garbage bytes).
    pub rng: fastrand::Rng,
    epoch: Instant,
    offset_s: i64,
    stepped_s: i64,
    frozen: Option<(i64, u64)>,
    boot_s: i64,
    calibration_s: i64,
    /// Uptime accumulated before the current boot (AxeOS `totalUptimeSeconds`).
    pub total_uptime_before_s: u64,
    /// ASIC clock, MHz (AxeOS).
    pub frequency_mhz: f64,
    /// Core voltage set point, mV (AxeOS).
    pub core_voltage_mv: f64,
    /// Avalon WORKMODE (3S) / WORKLEVEL (Nano 3).
    pub workmode: u8,
    /// Pools: primary, fallback, third (cgminer has three slots).
    pub pools: Vec<PoolConfig>,
    /// Index of the pool in use.
    pub active_pool: usize,
    /// Hostname.
    pub hostname: String,
    /// MAC address `AA:BB:..`.
    pub mac: String,
    /// Address the device claims (NMMiner `IP`, AxeOS `ipv4`).
    pub ip: IpAddr,
    /// Manual fan duty %, when not automatic.
    pub manual_fan_pct: Option<f64>,
    hash_factor: f64,
    power_factor: f64,
    /// Current hashrate, H/s.
    pub hashrate_hs: f64,
    /// Current power, W.
    pub power_w: f64,
    /// Chip temperature (AxeOS average, Avalon TAvg), °C.
    pub temp_c: f64,
    /// Fan duty, %.
    pub fan_pct: f64,
    /// Fan speed, RPM.
    pub fan_rpm: u32,
    /// Exponential averages of the hashrate, H/s: 1 min, 5 min, 10 min, 15 min, 1 h, 1 d.
    pub ema: [f64; 6],
    /// Average hashrate since boot, H/s.
    pub avg_hs: f64,
    /// Accepted shares since boot.
    pub accepted: u64,
    /// Rejected shares since boot.
    pub rejected: u64,
    share_credit: f64,
    /// Best share difficulty since boot.
    pub best_session: f64,
    /// Best share difficulty ever.
    pub best_ever: f64,
    /// Difficulty of the last share.
    pub last_diff: f64,
    /// Unix time of the last share.
    pub last_share_unix: u64,
    /// Restarts since the simulator started.
    pub restarts: u32,
    calibrating_until: Option<i64>,
    pending_reboot: Option<i64>,
    /// Mining paused (AxeOS `miningPaused`, Avalon `SoftOFF` ≠ 0): no hashrate, idle power.
    pub paused: bool,
    /// A scheduled Avalon soft switch: (device second, paused afterwards).
    pending_soft_switch: Option<(i64, bool)>,
    /// Hashes computed since boot.
    pub total_hashes: f64,
    /// cgminer local work counter (`LW`).
    pub local_work: f64,
    /// cgminer difficulty-1 work since start (for `WU`).
    pub diff1_work: f64,
    /// Device hardware error % (`DH`).
    pub dh_pct: f64,
    /// `MEMFREE`.
    pub memfree: u32,
    /// Input voltage, mV (`PS[2]` on the 3S, `voltage` on AxeOS).
    pub input_mv: f64,
    /// Chip id string (`DNA`).
    pub dna: String,
    /// Pool ping, ms.
    pub ping_ms: u32,
    /// Wi-Fi RSSI, dBm.
    pub rssi: i32,
    /// Current fault mode.
    pub fault: Fault,
    /// cgminer output quirk.
    pub quirk: CgminerQuirk,
    /// AxeOS access point mode: the private-network gate is off (as in firmware).
    pub ap_mode: bool,
    /// Treat every client as coming from this address (to exercise the AxeOS IP gate,
    /// since a loopback client is always private).
    pub client_ip_override: Option<IpAddr>,
}

/// Inputs for creating a device.
pub(crate) struct DeviceSeed {
    pub model: SimModel,
    pub seed: u64,
    pub index: u32,
    pub epoch: Instant,
    pub calibration_s: u64,
    pub hostname: String,
    pub ip: IpAddr,
}

impl DeviceState {
    /// Creates a device that has already been running for a while (random, seeded).
    pub(crate) fn new(seed: DeviceSeed) -> DeviceState {
        let profile = seed.model.profile();
        let mut rng = fastrand::Rng::with_seed(
            seed.seed ^ (u64::from(seed.index) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let uptime = i64::from(rng.u32(3_600..3 * 86_400));
        let mac = format!(
            "{:02X}:{:02X}:{:02X}:{:02X}:{:02X}:{:02X}",
            0x02,
            0x5E,
            rng.u8(..),
            rng.u8(..),
            (seed.index >> 8) as u8,
            seed.index as u8
        );
        let dna = format!("0201{:012x}", rng.u64(..) & 0xFFFF_FFFF_FFFF);
        let pools = default_pools(seed.model, &seed.hostname);
        let mut state = DeviceState {
            model: seed.model,
            profile,
            epoch: seed.epoch,
            offset_s: 0,
            stepped_s: 0,
            frozen: None,
            boot_s: -uptime,
            calibration_s: i64::try_from(seed.calibration_s).unwrap_or(i64::MAX),
            total_uptime_before_s: u64::from(rng.u32(0..90 * 86_400)),
            frequency_mhz: profile.default_freq,
            core_voltage_mv: profile.default_mv,
            workmode: profile.default_mode,
            pools,
            active_pool: 0,
            hostname: seed.hostname,
            mac,
            ip: seed.ip,
            manual_fan_pct: None,
            hash_factor: 1.0 + (rng.f64() - 0.5) * 0.02,
            power_factor: 1.0 + (rng.f64() - 0.5) * 0.01,
            hashrate_hs: 0.0,
            power_w: 0.0,
            temp_c: 0.0,
            fan_pct: 0.0,
            fan_rpm: 0,
            ema: [0.0; 6],
            avg_hs: 0.0,
            accepted: 0,
            rejected: 0,
            share_credit: 0.0,
            best_session: 0.0,
            best_ever: 0.0,
            last_diff: profile.pool_diff,
            last_share_unix: 0,
            restarts: 0,
            calibrating_until: None,
            pending_reboot: None,
            paused: false,
            pending_soft_switch: None,
            total_hashes: 0.0,
            local_work: 0.0,
            diff1_work: 0.0,
            dh_pct: 2.0 + rng.f64(),
            memfree: 60_000 + rng.u32(0..8_000),
            input_mv: profile.supply_v * 1000.0,
            dna,
            ping_ms: 20 + rng.u32(0..80),
            rssi: -45 - rng.i32(0..30),
            fault: Fault::None,
            quirk: CgminerQuirk::None,
            ap_mode: false,
            client_ip_override: None,
            rng,
        };
        state.settle(uptime);
        state
    }

    /// Puts the device in a steady state as if it had run `uptime` seconds.
    fn settle(&mut self, uptime: i64) {
        let hashrate = self.nominal_hs() * self.hash_factor;
        self.hashrate_hs = hashrate;
        self.power_w = self.nominal_power_w() * self.power_factor;
        self.temp_c = self.target_temp_c();
        self.update_fan();
        self.ema = [hashrate; 6];
        self.avg_hs = hashrate;
        let seconds = uptime.max(0) as f64;
        let shares = (self.share_rate(hashrate) * seconds).round();
        self.rejected = (shares * REJECT_PROBABILITY).round() as u64;
        self.accepted = (shares as u64).saturating_sub(self.rejected);
        let diff = self.profile.pool_diff;
        self.best_session = diff * shares.max(1.0) / (self.rng.f64() * 2.0 + 0.05);
        self.best_ever = self.best_session * (1.0 + self.rng.f64() * 30.0);
        self.total_hashes = hashrate * seconds;
        self.local_work = hashrate / 1e9 * 0.1157 * seconds;
        self.diff1_work = hashrate * seconds / DIFF1_HASHES;
        self.last_share_unix = self.unix_now();
    }

    /// The current device second.
    pub(crate) fn now_s(&self) -> i64 {
        match self.frozen {
            Some((second, _)) => second,
            None => {
                i64::try_from(self.epoch.elapsed().as_secs()).unwrap_or(i64::MAX) + self.offset_s
            }
        }
    }

    /// The device's wall clock, Unix seconds (cgminer `When`).
    pub(crate) fn unix_now(&self) -> u64 {
        match self.frozen {
            Some((_, unix)) => unix,
            None => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|elapsed| elapsed.as_secs())
                    .unwrap_or(0);
                now.saturating_add_signed(self.offset_s)
            }
        }
    }

    /// Seconds since the device last booted.
    pub(crate) fn uptime_s(&self) -> u64 {
        u64::try_from(self.now_s() - self.boot_s).unwrap_or(0)
    }

    /// Whether the device is calibrating (Avalon `ADJ[0]`): mode switches are refused.
    pub(crate) fn calibrating(&self) -> bool {
        self.calibrating_until
            .is_some_and(|until| self.now_s() < until)
    }

    /// Simulates every second up to now.
    pub(crate) fn catch_up(&mut self) {
        if self.frozen.is_some() {
            return;
        }
        let now = self.now_s();
        if now - self.stepped_s > MAX_CATCH_UP_STEPS {
            self.stepped_s = now - MAX_CATCH_UP_STEPS;
        }
        while self.stepped_s < now {
            self.stepped_s += 1;
            if self.pending_reboot.is_some_and(|at| at <= self.stepped_s) {
                self.pending_reboot = None;
                self.boot_at(self.stepped_s);
            }
            if let Some((at, paused)) = self.pending_soft_switch
                && at <= self.stepped_s
            {
                self.pending_soft_switch = None;
                self.set_paused(paused);
            }
            self.step();
        }
    }

    /// Moves the device clock forward (tests, demos) and simulates the time in between.
    pub(crate) fn advance(&mut self, seconds: u64) {
        let seconds = i64::try_from(seconds).unwrap_or(i64::MAX / 2);
        self.offset_s = self.offset_s.saturating_add(seconds);
        if let Some((second, unix)) = self.frozen {
            self.frozen = Some((second + seconds, unix.saturating_add_signed(seconds)));
        }
        self.catch_up();
    }

    /// Reboots now: uptime, share counters and session best reset; Avalon recalibrates.
    pub(crate) fn restart(&mut self) {
        self.catch_up();
        let now = self.now_s();
        self.boot_at(now);
    }

    /// Reboots `delay_s` seconds from now (cgminer `ascset|0,reboot,<delay>`).
    pub(crate) fn schedule_reboot(&mut self, delay_s: u64) {
        if delay_s == 0 {
            self.restart();
        } else {
            let delay = i64::try_from(delay_s).unwrap_or(i64::MAX / 2);
            self.pending_reboot = Some(self.now_s() + delay);
        }
    }

    /// Pauses or resumes mining now; hashrate and power follow at once, so the next read
    /// already shows 0 H/s and idle power (the firmware stops the ASIC job immediately).
    pub(crate) fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
        self.pending_soft_switch = None;
        self.hashrate_hs = (self.nominal_hs() * self.hash_factor).max(0.0);
        self.power_w = self.nominal_power_w() * self.power_factor;
    }

    /// Avalon `ascset 0,softoff|softon,1:<unix_ts>`: switches at `unix_ts` on the device
    /// clock (now, if that time has passed).
    pub(crate) fn schedule_soft_switch(&mut self, unix_ts: u64, paused: bool) {
        let delay = i64::try_from(unix_ts).unwrap_or(i64::MAX)
            - i64::try_from(self.unix_now()).unwrap_or(0);
        if delay <= 0 {
            self.set_paused(paused);
        } else {
            self.pending_soft_switch = Some((self.now_s() + delay, paused));
        }
    }

    fn boot_at(&mut self, second: i64) {
        self.total_uptime_before_s += u64::try_from(second - self.boot_s).unwrap_or(0);
        self.boot_s = second;
        self.restarts += 1;
        self.accepted = 0;
        self.rejected = 0;
        self.share_credit = 0.0;
        self.best_session = 0.0;
        self.total_hashes = 0.0;
        self.local_work = 0.0;
        self.diff1_work = 0.0;
        self.avg_hs = 0.0;
        self.ema = [0.0; 6];
        self.active_pool = 0;
        if self.profile_kind() == MinerKind::Avalon {
            self.start_calibration();
        }
        if let Some((_, unix)) = self.frozen {
            self.frozen = Some((second, unix));
        }
    }

    /// Starts the Avalon calibration phase (after a boot or a mode switch).
    pub(crate) fn start_calibration(&mut self) {
        if self.calibration_s > 0 {
            self.calibrating_until = Some(self.now_s() + self.calibration_s);
        }
    }

    fn profile_kind(&self) -> MinerKind {
        self.model.kind()
    }

    /// Hashrate the current settings should give, H/s.
    pub(crate) fn nominal_hs(&self) -> f64 {
        if self.paused {
            return 0.0;
        }
        let profile = self.profile;
        match self.model.kind() {
            MinerKind::Avalon => self.mode_nominal_ghs() * 1e9,
            MinerKind::Axeos => {
                f64::from(profile.small_cores)
                    * f64::from(profile.asic_count)
                    * self.frequency_mhz.max(0.0)
                    * 1e6
            }
            _ => profile.nominal_hs,
        }
    }

    /// Nominal GH/s of the current Avalon mode (`GHSmm`).
    pub(crate) fn mode_nominal_ghs(&self) -> f64 {
        self.profile
            .modes
            .get(usize::from(self.workmode))
            .map_or(0.0, |mode| mode.nominal_ghs)
    }

    /// Power the current settings should draw, W: ∝ f·V² on AxeOS, per mode on Avalon.
    pub(crate) fn nominal_power_w(&self) -> f64 {
        if self.paused {
            return PAUSED_POWER_W;
        }
        let profile = self.profile;
        match self.model.kind() {
            MinerKind::Avalon => profile
                .modes
                .get(usize::from(self.workmode))
                .map_or(profile.nominal_power_w, |mode| mode.power_w),
            MinerKind::Axeos => {
                let f_ratio = self.frequency_mhz.max(0.0) / profile.default_freq;
                let v_ratio = self.core_voltage_mv.max(0.0) / profile.default_mv;
                // A small fixed part (controller, fan, regulator losses) stays when idle.
                let fixed = profile.nominal_power_w * 0.1;
                fixed + (profile.nominal_power_w - fixed) * f_ratio * v_ratio * v_ratio
            }
            _ => profile.nominal_power_w,
        }
    }

    fn target_temp_c(&self) -> f64 {
        match self.model.kind() {
            // Paused chips idle: the fan loop has nothing to hold them at.
            MinerKind::Avalon if self.paused => AMBIENT_C + 10.0,
            // The Avalon fan loop holds the chips at the mode's target temperature.
            MinerKind::Avalon => self
                .profile
                .modes
                .get(usize::from(self.workmode))
                .map_or(85.0, |mode| mode.target_temp_c),
            _ => AMBIENT_C + self.profile.temp_per_watt * self.power_w,
        }
    }

    fn share_rate(&self, hashrate: f64) -> f64 {
        hashrate / (self.profile.pool_diff * DIFF1_HASHES)
    }

    fn update_fan(&mut self) {
        let duty = match self.manual_fan_pct {
            Some(manual) => manual,
            None => match self.model.kind() {
                MinerKind::Avalon => 15.0 + self.power_w * 0.14,
                _ => (25.0 + (self.temp_c - 45.0) * 1.5).clamp(20.0, 100.0),
            },
        };
        self.fan_pct = duty.clamp(0.0, 100.0);
        let max_rpm = if self.model.kind() == MinerKind::Avalon {
            4600.0
        } else {
            8700.0
        };
        self.fan_rpm = (self.fan_pct / 100.0 * max_rpm).round() as u32;
    }

    /// One simulated second.
    fn step(&mut self) {
        let rng = &mut self.rng;
        self.hash_factor += (rng.f64() - 0.5) * 0.006 - (self.hash_factor - 1.0) * 0.02;
        self.power_factor += (rng.f64() - 0.5) * 0.002 - (self.power_factor - 1.0) * 0.02;
        let hashrate = (self.nominal_hs() * self.hash_factor).max(0.0);
        self.hashrate_hs = hashrate;
        self.power_w = self.nominal_power_w() * self.power_factor;
        let target = self.target_temp_c();
        self.temp_c += (target - self.temp_c) * 0.05 + (self.rng.f64() - 0.5) * 0.1;
        self.update_fan();
        for (ema, tau) in self
            .ema
            .iter_mut()
            .zip([60.0, 300.0, 600.0, 900.0, 3600.0, 86_400.0])
        {
            *ema += (hashrate - *ema) / tau;
        }
        let uptime = self.uptime_s().max(1) as f64;
        self.avg_hs += (hashrate - self.avg_hs) / uptime;
        self.total_hashes += hashrate;
        self.local_work += hashrate / 1e9 * 0.1157;
        self.diff1_work += hashrate / DIFF1_HASHES;
        self.input_mv = self.profile.supply_v * 1000.0 + (self.rng.f64() - 0.5) * 40.0;
        self.share_credit += self.share_rate(hashrate) * self.rng.f64() * 2.0;
        while self.share_credit >= 1.0 {
            self.share_credit -= 1.0;
            self.find_share();
        }
    }

    fn find_share(&mut self) {
        if self.rng.f64() < REJECT_PROBABILITY {
            self.rejected += 1;
            return;
        }
        self.accepted += 1;
        let diff = self.profile.pool_diff / self.rng.f64().max(1e-12);
        self.last_diff = diff;
        self.best_session = self.best_session.max(diff);
        self.best_ever = self.best_ever.max(diff);
        self.last_share_unix = self.unix_now();
    }

    /// The pool in use.
    pub(crate) fn pool(&self) -> &PoolConfig {
        &self.pools[self.active_pool.min(self.pools.len() - 1)]
    }

    /// Puts an Avalon Nano 3S in exactly the state of `avalon_nano3s_estats.wire` and
    /// freezes it, so its `estats` reply is byte-identical to the fixture.
    pub(crate) fn load_nano3s_fixture(&mut self) {
        self.workmode = 2;
        self.calibrating_until = None;
        self.pending_reboot = None;
        self.frozen = None;
        self.catch_up();
        let now = self.now_s();
        self.boot_s = now - 10_010;
        self.frozen = Some((now, 1_765_004_100));
        self.hashrate_hs = 6598.84e9;
        self.avg_hs = 6695.18e9;
        self.temp_c = 90.0;
        self.fan_rpm = 1520;
        self.fan_pct = 33.0;
        self.input_mv = 27_541.0;
        self.power_w = 133.0;
        self.local_work = 7_753_951.0;
        self.diff1_work = 15_604_010.0;
        self.dh_pct = 2.374;
        self.memfree = 63_728;
        self.dna = "02010000bd448216".into();
        self.ping_ms = 78;
    }
}

fn default_pools(model: SimModel, hostname: &str) -> Vec<PoolConfig> {
    let profile = model.profile();
    let user = format!("bc1qexampleaddress000000000000000000000000.{hostname}");
    let primary = PoolConfig {
        url: profile.pool_url.to_string(),
        port: profile.pool_port,
        user: user.clone(),
        password: "x".into(),
    };
    let fallback = match model.kind() {
        MinerKind::Axeos => PoolConfig {
            url: "public-pool.io".into(),
            port: 21496,
            user: user.clone(),
            password: "x".into(),
        },
        _ => PoolConfig {
            url: "stratum+tcp://solo.ckpool.org:3333".into(),
            port: 3333,
            user: user.clone(),
            password: "x".into(),
        },
    };
    let third = PoolConfig {
        url: String::new(),
        port: 0,
        user: String::new(),
        password: String::new(),
    };
    vec![primary, fallback, third]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn device(model: SimModel, seed: u64) -> DeviceState {
        DeviceState::new(DeviceSeed {
            model,
            seed,
            index: 3,
            epoch: Instant::now(),
            calibration_s: 60,
            hostname: "t".into(),
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        })
    }

    #[test]
    fn same_seed_same_telemetry_after_the_same_time() {
        let mut a = device(SimModel::BitaxeGammaV2_15, 42);
        let mut b = device(SimModel::BitaxeGammaV2_15, 42);
        a.advance(600);
        b.advance(600);
        assert_eq!(a.hashrate_hs, b.hashrate_hs);
        assert_eq!(a.accepted, b.accepted);
        let mut c = device(SimModel::BitaxeGammaV2_15, 43);
        c.advance(600);
        assert_ne!(a.hashrate_hs, c.hashrate_hs);
    }

    #[test]
    fn shares_accumulate_in_proportion_to_hashrate() {
        let mut gamma = device(SimModel::BitaxeGammaV2_15, 1);
        let before = gamma.accepted;
        gamma.advance(3_600);
        // 1.07 TH/s at difficulty 1000 → about 0.25 shares/s → ~900 per hour.
        let found = gamma.accepted - before;
        assert!((600..1200).contains(&found), "{found}");
        assert!(gamma.best_session >= gamma.profile.pool_diff);
        let ghs = gamma.hashrate_hs / 1e9;
        assert!((1000.0..1150.0).contains(&ghs), "{ghs}");
    }

    #[test]
    fn frequency_and_voltage_drive_hashrate_and_power() {
        let mut gamma = device(SimModel::BitaxeGammaV2_15, 1);
        gamma.advance(10);
        let (h0, p0) = (gamma.hashrate_hs, gamma.power_w);
        gamma.frequency_mhz = 400.0;
        gamma.core_voltage_mv = 1060.0;
        gamma.advance(10);
        assert!(gamma.hashrate_hs < h0 * 0.8);
        assert!(gamma.power_w < p0 * 0.7);
    }

    #[test]
    fn restart_resets_uptime_and_shares_and_avalon_calibrates() {
        let mut nano = device(SimModel::AvalonNano3s, 9);
        nano.advance(100);
        assert!(nano.uptime_s() > 3_600 && nano.accepted > 0);
        assert!(!nano.calibrating());
        nano.restart();
        assert_eq!(nano.uptime_s(), 0);
        assert_eq!(nano.accepted, 0);
        assert_eq!(nano.restarts, 1);
        assert!(nano.calibrating());
        nano.advance(61);
        assert!(!nano.calibrating());
        nano.schedule_reboot(5);
        nano.advance(4);
        assert_eq!(nano.restarts, 1);
        nano.advance(1);
        assert_eq!(nano.restarts, 2);
    }
}
