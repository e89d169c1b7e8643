//! The device models the simulator can play, and the static facts of each: identity
//! strings, chip counts, stock clocks, nominal power and the operating points of the
//! Avalon work modes.
//!
//! Values come from reference/protocols.md (device_config.h table, fixtures, §3.4 ATA
//! lines) so a driver tested against the simulator meets the numbers a real device gives.

use crate::model::MinerKind;

/// One simulated model + firmware generation. Each firmware generation of AxeOS is its own
/// model because the reply shapes differ (protocols.md §1.3 "Version drift").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SimModel {
    /// Bitaxe Supra on AxeOS v2.4.5: string `bestDiff` ("483k"), `stratumDiff`,
    /// `flipscreen`, `asicCount`, no `/api/system/asic`, pretty JSON.
    BitaxeSupraV2_4,
    /// Bitaxe Gamma on AxeOS v2.10.0 (fixture `bitaxe_system_info_v2_10.json`).
    BitaxeGammaV2_10,
    /// Bitaxe Gamma on AxeOS v2.15.0 / HEAD (fixture `bitaxe_system_info.json`), `pools[]`.
    BitaxeGammaV2_15,
    /// NerdQAxe++ on v1.0.38 (fixture `nerdqaxe_system_info_v1_0_38.json`).
    NerdQaxePlusPlus,
    /// Original Avalon Nano 3 (fw 24071801): mode = `WORKLEVEL`, `AVANANO0`.
    AvalonNano3,
    /// Avalon Nano 3S (fw 25021401): mode = `WORKMODE`, `AVALON0` (fixture estats).
    AvalonNano3s,
    /// NMMiner v2 (ESP32 lottery miner): UDP telemetry in the NMMiner style + HTTP probe.
    Nmminer,
    /// NMAxe Gamma: UDP telemetry in the NMAxe style (`ip`, "1.2045TH/s", "rej/acc/%").
    NmaxeGamma,
}

impl SimModel {
    /// Every model, in the order a mixed fleet cycles through them.
    pub const ALL: [SimModel; 8] = [
        SimModel::BitaxeGammaV2_15,
        SimModel::BitaxeGammaV2_10,
        SimModel::BitaxeSupraV2_4,
        SimModel::NerdQaxePlusPlus,
        SimModel::AvalonNano3s,
        SimModel::AvalonNano3,
        SimModel::Nmminer,
        SimModel::NmaxeGamma,
    ];

    /// Protocol family (what `[[miners]] kind` must say).
    pub fn kind(self) -> MinerKind {
        match self {
            SimModel::BitaxeSupraV2_4
            | SimModel::BitaxeGammaV2_10
            | SimModel::BitaxeGammaV2_15
            | SimModel::NerdQaxePlusPlus => MinerKind::Axeos,
            SimModel::AvalonNano3 | SimModel::AvalonNano3s => MinerKind::Avalon,
            SimModel::Nmminer | SimModel::NmaxeGamma => MinerKind::Nmminer,
        }
    }

    /// Short name used in device names and on the command line.
    pub fn slug(self) -> &'static str {
        match self {
            SimModel::BitaxeSupraV2_4 => "supra-v2.4",
            SimModel::BitaxeGammaV2_10 => "gamma-v2.10",
            SimModel::BitaxeGammaV2_15 => "gamma-v2.15",
            SimModel::NerdQaxePlusPlus => "nerdqaxe",
            SimModel::AvalonNano3 => "nano3",
            SimModel::AvalonNano3s => "nano3s",
            SimModel::Nmminer => "nmminer",
            SimModel::NmaxeGamma => "nmaxe",
        }
    }

    /// Human description: model and firmware.
    pub fn description(self) -> &'static str {
        match self {
            SimModel::BitaxeSupraV2_4 => "Bitaxe Supra, AxeOS v2.4.5",
            SimModel::BitaxeGammaV2_10 => "Bitaxe Gamma, AxeOS v2.10.0",
            SimModel::BitaxeGammaV2_15 => "Bitaxe Gamma, AxeOS v2.15.0",
            SimModel::NerdQaxePlusPlus => "NerdQAxe++, v1.0.38",
            SimModel::AvalonNano3 => "Avalon Nano 3, fw 24071801",
            SimModel::AvalonNano3s => "Avalon Nano 3S, fw 25021401",
            SimModel::Nmminer => "NMMiner, v2.0.04",
            SimModel::NmaxeGamma => "NMAxe Gamma, v2.5.10",
        }
    }

    /// Parses a slug (see [`SimModel::slug`]).
    pub fn parse(text: &str) -> Option<SimModel> {
        SimModel::ALL.into_iter().find(|model| model.slug() == text)
    }

    /// The static facts of this model.
    pub(crate) fn profile(self) -> &'static Profile {
        match self {
            SimModel::BitaxeSupraV2_4 => &SUPRA,
            SimModel::BitaxeGammaV2_10 | SimModel::BitaxeGammaV2_15 => &GAMMA,
            SimModel::NerdQaxePlusPlus => &NERDQAXE,
            SimModel::AvalonNano3 => &NANO3,
            SimModel::AvalonNano3s => &NANO3S,
            SimModel::Nmminer => &NMMINER,
            SimModel::NmaxeGamma => &NMAXE,
        }
    }
}

/// One Avalon work mode: what the device reports and draws in it.
#[derive(Debug)]
pub(crate) struct AvalonMode {
    /// Nominal hashrate `GHSmm`, GH/s.
    pub nominal_ghs: f64,
    /// Wall power in this mode, W (also `MPO`, the mode's max power output).
    pub power_w: f64,
    /// Target chip temperature `TarT`, °C.
    pub target_temp_c: f64,
    /// `ATA` voltage field and `PS[5]` set voltage.
    pub volt: u32,
    /// `ATA` pll start field.
    pub pll_start: u32,
    /// Reported `Freq`, MHz.
    pub freq_mhz: f64,
}

/// Static facts of a model.
#[derive(Debug)]
pub(crate) struct Profile {
    /// ASIC model string (`ASICModel`).
    pub asic_model: &'static str,
    /// `deviceModel` (AxeOS `/api/system/asic`, NerdQAxe info).
    pub device_model: &'static str,
    /// `boardVersion` (AxeOS).
    pub board_version: &'static str,
    /// Firmware version string.
    pub firmware: &'static str,
    /// Small cores per ASIC (`smallCoreCount`).
    pub small_cores: u32,
    /// ASICs on the board.
    pub asic_count: u32,
    /// Stock frequency, MHz (AxeOS).
    pub default_freq: f64,
    /// Stock core voltage, mV (AxeOS).
    pub default_mv: f64,
    /// Power at stock frequency/voltage (AxeOS) or nominal power (NMMiner), W.
    pub nominal_power_w: f64,
    /// `maxPower` W.
    pub max_power_w: f64,
    /// Supply voltage, V (`nominalVoltage`; input voltage for `voltage` mV).
    pub supply_v: f64,
    /// `swarmColor`.
    pub swarm_color: &'static str,
    /// `frequencyOptions`.
    pub freq_options: &'static [u32],
    /// `voltageOptions`.
    pub volt_options: &'static [u32],
    /// Avalon work modes, index = WORKMODE / WORKLEVEL.
    pub modes: &'static [AvalonMode],
    /// Stock Avalon mode.
    pub default_mode: u8,
    /// Nominal hashrate for devices without a frequency model (NMMiner), H/s.
    pub nominal_hs: f64,
    /// Pool share difficulty the simulated pool hands out.
    pub pool_diff: f64,
    /// Chip °C above ambient per W of power (temperature follows power).
    pub temp_per_watt: f64,
    /// Default pool host and port.
    pub pool_url: &'static str,
    /// Default pool port.
    pub pool_port: u16,
}

const NO_MODES: &[AvalonMode] = &[];

static GAMMA: Profile = Profile {
    asic_model: "BM1370",
    device_model: "Gamma",
    board_version: "601",
    firmware: "",
    small_cores: 2040,
    asic_count: 1,
    default_freq: 525.0,
    default_mv: 1150.0,
    nominal_power_w: 17.8,
    max_power_w: 40.0,
    supply_v: 5.0,
    swarm_color: "green",
    freq_options: &[400, 490, 525, 550, 600, 625],
    volt_options: &[1000, 1060, 1100, 1150, 1200, 1250],
    modes: NO_MODES,
    default_mode: 0,
    nominal_hs: 0.0,
    pool_diff: 1000.0,
    temp_per_watt: 2.0,
    pool_url: "solo.ckpool.org",
    pool_port: 3333,
};

static SUPRA: Profile = Profile {
    asic_model: "BM1368",
    device_model: "Supra",
    board_version: "401",
    firmware: "v2.4.5",
    small_cores: 1276,
    asic_count: 1,
    default_freq: 490.0,
    default_mv: 1166.0,
    nominal_power_w: 12.4,
    max_power_w: 40.0,
    supply_v: 5.0,
    swarm_color: "blue",
    freq_options: &[400, 425, 450, 475, 485, 490, 500, 525, 550, 575],
    volt_options: &[1100, 1150, 1166, 1200, 1250, 1300],
    modes: NO_MODES,
    default_mode: 0,
    nominal_hs: 0.0,
    pool_diff: 1024.0,
    temp_per_watt: 2.6,
    pool_url: "public-pool.io",
    pool_port: 21496,
};

static NERDQAXE: Profile = Profile {
    asic_model: "BM1370",
    device_model: "NerdQAxe++",
    board_version: "",
    firmware: "v1.0.38",
    small_cores: 2040,
    asic_count: 4,
    default_freq: 600.0,
    default_mv: 1150.0,
    nominal_power_w: 77.9,
    max_power_w: 100.0,
    supply_v: 12.0,
    swarm_color: "#e700d8",
    freq_options: &[500, 515, 525, 550, 575, 590, 600],
    volt_options: &[1120, 1130, 1140, 1150, 1160, 1170, 1180, 1190, 1200],
    modes: NO_MODES,
    default_mode: 0,
    nominal_hs: 0.0,
    pool_diff: 4096.0,
    temp_per_watt: 0.4,
    pool_url: "solo.ckpool.org",
    pool_port: 3333,
};

static NANO3S_MODES: [AvalonMode; 3] = [
    AvalonMode {
        nominal_ghs: 4212.40,
        power_w: 82.0,
        target_temp_c: 80.0,
        volt: 3356,
        pll_start: 300,
        freq_mhz: 301.52,
    },
    AvalonMode {
        nominal_ghs: 5402.17,
        power_w: 105.0,
        target_temp_c: 85.0,
        volt: 3556,
        pll_start: 372,
        freq_mhz: 373.07,
    },
    AvalonMode {
        nominal_ghs: 6783.65,
        power_w: 133.0,
        target_temp_c: 90.0,
        volt: 3756,
        pll_start: 432,
        freq_mhz: 464.89,
    },
];

static NANO3S: Profile = Profile {
    asic_model: "A3197S",
    device_model: "Nano3s",
    board_version: "",
    firmware: "25021401_56abae7",
    small_cores: 0,
    asic_count: 12,
    default_freq: 0.0,
    default_mv: 0.0,
    nominal_power_w: 133.0,
    max_power_w: 140.0,
    supply_v: 27.5,
    swarm_color: "",
    freq_options: &[],
    volt_options: &[],
    modes: &NANO3S_MODES,
    default_mode: 2,
    nominal_hs: 0.0,
    pool_diff: 40000.0,
    temp_per_watt: 0.3,
    pool_url: "stratum+tcp://fr1.letsmine.it:3339",
    pool_port: 3339,
};

static NANO3_MODES: [AvalonMode; 3] = [
    AvalonMode {
        nominal_ghs: 2000.0,
        power_w: 60.0,
        target_temp_c: 80.0,
        volt: 3250,
        pll_start: 290,
        freq_mhz: 300.0,
    },
    AvalonMode {
        nominal_ghs: 3000.0,
        power_w: 89.0,
        target_temp_c: 85.0,
        volt: 3450,
        pll_start: 350,
        freq_mhz: 400.0,
    },
    AvalonMode {
        nominal_ghs: 4000.0,
        power_w: 125.0,
        target_temp_c: 90.0,
        volt: 3650,
        pll_start: 425,
        freq_mhz: 500.0,
    },
];

static NANO3: Profile = Profile {
    asic_model: "A3198S",
    device_model: "nano3",
    board_version: "",
    firmware: "24071801_42c628d",
    small_cores: 0,
    asic_count: 10,
    default_freq: 0.0,
    default_mv: 0.0,
    nominal_power_w: 89.0,
    max_power_w: 140.0,
    supply_v: 27.9,
    swarm_color: "",
    freq_options: &[],
    volt_options: &[],
    modes: &NANO3_MODES,
    default_mode: 1,
    nominal_hs: 0.0,
    pool_diff: 16384.0,
    temp_per_watt: 0.45,
    pool_url: "stratum+tcp://public-pool.io:21496",
    pool_port: 21496,
};

static NMMINER: Profile = Profile {
    asic_model: "",
    device_model: "NMMiner",
    board_version: "",
    firmware: "v2.0.04",
    small_cores: 0,
    asic_count: 0,
    default_freq: 0.0,
    default_mv: 0.0,
    nominal_power_w: 1.1,
    max_power_w: 2.0,
    supply_v: 5.0,
    swarm_color: "",
    freq_options: &[],
    volt_options: &[],
    modes: NO_MODES,
    default_mode: 0,
    nominal_hs: 956_432.0,
    pool_diff: 0.001,
    temp_per_watt: 20.0,
    pool_url: "public-pool.io",
    pool_port: 21496,
};

static NMAXE: Profile = Profile {
    asic_model: "BM1370",
    device_model: "NMAxe-Gamma",
    board_version: "",
    firmware: "v2.5.10",
    small_cores: 2040,
    asic_count: 1,
    default_freq: 575.0,
    default_mv: 1150.0,
    nominal_power_w: 18.4,
    max_power_w: 40.0,
    supply_v: 5.0,
    swarm_color: "",
    freq_options: &[],
    volt_options: &[],
    modes: NO_MODES,
    default_mode: 0,
    nominal_hs: 1.2045e12,
    pool_diff: 8192.0,
    temp_per_watt: 1.8,
    pool_url: "public-pool.io",
    pool_port: 21496,
};
