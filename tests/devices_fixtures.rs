//! Every device fixture in `../shared/fixtures/` parsed by the driver that meets it in the
//! field, with the exact values asserted in hmm's units (H/s, W, °C, MHz, mV).

use hmm::devices::{
    Capabilities, NetworkReading, PoolTarget, Variant, avalon, axeos, capabilities, cgminer,
    nmminer,
};
use hmm::model::{MinerKind, Mode};
use hmm::units::ghs_to_hs;
use serde_json::Value;

/// Reads `../shared/fixtures/<name>` beside the checkout (also found from a worktree one
/// level deeper, e.g. `/work/wt/<branch>`), else the copy in `tests/fixtures/`.
fn fixture(name: &str) -> Vec<u8> {
    let root = env!("CARGO_MANIFEST_DIR");
    let candidates = [
        format!("{root}/../shared/fixtures/{name}"),
        format!("{root}/../../shared/fixtures/{name}"),
        format!("{root}/tests/fixtures/{name}"),
    ];
    candidates
        .iter()
        .find_map(|path| std::fs::read(path).ok())
        .unwrap_or_else(|| panic!("fixture {name} not found in {candidates:?}"))
}

fn json(name: &str) -> Value {
    cgminer::decode_reply(&fixture(name)).unwrap_or_else(|err| panic!("{name}: {err}"))
}

fn target(url: &str) -> PoolTarget {
    PoolTarget {
        url: url.into(),
        user: "bc1qnew.worker".into(),
        password: "s3cret".into(),
    }
}

// ------------------------------------------------------------------------- AxeOS

#[test]
fn bitaxe_v2_15_info() {
    let r = axeos::parse_system_info(&fixture("bitaxe_system_info.json")).unwrap();
    let s = &r.sample;
    assert!(s.online);
    // 1082.6513672 GH/s is a 32-bit float on the device; its shortest form is 1082.6514.
    assert_eq!(s.hashrate_hs, Some(ghs_to_hs(1082.6514)));
    assert_eq!(s.power_w, Some(17.84375));
    assert_eq!(s.temp_c, Some(61.25)); // temp2 = -1 means no second sensor
    assert_eq!(s.vr_temp_c, Some(52.0));
    assert_eq!(s.fan_rpm, Some(4176));
    assert_eq!(s.frequency_mhz, Some(525.0));
    assert_eq!(s.core_voltage_mv, Some(1143.0));
    assert_eq!(s.shares_accepted, Some(18342));
    assert_eq!(s.shares_rejected, Some(7));
    assert_eq!(s.best_diff, Some(4294967296.0));
    assert_eq!(s.uptime_s, Some(172845));
    assert_eq!(s.mode, Some(Mode::Standard));
    let i = &r.info;
    assert_eq!(i.kind, MinerKind::Axeos);
    assert_eq!(i.variant, Variant::Bitaxe { pools_array: true });
    assert_eq!(i.model.as_deref(), Some("Bitaxe Gamma"));
    assert_eq!(i.firmware.as_deref(), Some("v2.15.0"));
    assert_eq!(
        i.pool_url.as_deref(),
        Some("stratum+tcp://solo.ckpool.org:3333")
    );
    assert_eq!(
        i.pool_user.as_deref(),
        Some("bc1qexampleaddress000000000000000000000000.bitaxe")
    );
    assert_eq!(i.hostname.as_deref(), Some("bitaxe"));
    assert_eq!(i.mac.as_deref(), Some("AA:BB:CC:DD:EE:FF"));
    assert_eq!(i.ip.as_deref(), Some("192.168.1.50"));
    assert_eq!(i.asic_model.as_deref(), Some("BM1370"));
    assert_eq!(i.asic_count, None);
    assert_eq!(i.supported_modes, Mode::ALL.to_vec());
    assert_eq!(
        capabilities(i),
        Capabilities {
            modes: Mode::ALL.to_vec(),
            restart: true,
            switch_pool: true,
            pause: true
        }
    );
    assert!(
        !format!("{r:?}").contains("*****"),
        "no password field is carried"
    );
}

#[test]
fn bitaxe_v2_15_pool_switch_uses_pools_array() {
    let body = fixture("bitaxe_system_info.json");
    let info = axeos::info_object(&body).unwrap();
    let patch = axeos::pool_patch_body(
        &info,
        Variant::Bitaxe { pools_array: true },
        &target("stratum+tcp://pool.example.org:4333"),
    )
    .unwrap();
    let patch: Value = serde_json::from_str(&patch).unwrap();
    assert_eq!(
        patch,
        serde_json::json!({"primaryPoolIndex": 0, "pools": [{"id": 0, "stratumURL": "pool.example.org",
            "stratumPort": 4333, "stratumUser": "bc1qnew.worker", "stratumPassword": "s3cret", "stratumTLS": 0}]})
    );
}

#[test]
fn bitaxe_v2_10_info_with_si_strings() {
    let body = fixture("bitaxe_system_info_v2_10.json");
    let r = axeos::parse_system_info(&body).unwrap();
    let s = &r.sample;
    assert_eq!(s.hashrate_hs, Some(ghs_to_hs(1071.9379))); // 1071.9378662109375 as f32
    assert_eq!(s.power_w, Some(17.46875));
    assert_eq!(s.temp_c, Some(60.75));
    assert_eq!(s.vr_temp_c, Some(51.0));
    assert_eq!(s.fan_rpm, Some(4150));
    assert_eq!(s.frequency_mhz, Some(525.0));
    assert_eq!(s.core_voltage_mv, Some(1144.0));
    assert_eq!(s.shares_accepted, Some(18342));
    assert_eq!(s.shares_rejected, Some(7));
    assert_eq!(s.best_diff, Some(4.29e9)); // "4.29G"
    assert_eq!(s.uptime_s, Some(172845));
    assert_eq!(s.mode, Some(Mode::Standard));
    assert_eq!(r.info.variant, Variant::Bitaxe { pools_array: false });
    assert_eq!(r.info.firmware.as_deref(), Some("v2.10.0"));
    assert_eq!(r.info.model.as_deref(), Some("Bitaxe Gamma"));
    assert_eq!(
        r.info.pool_url.as_deref(),
        Some("stratum+tcp://solo.ckpool.org:3333")
    );
    assert_eq!(r.info.ip, None);
    // Flat pool keys, and no stratumTLS: v2.10 has none.
    let info = axeos::info_object(&body).unwrap();
    let patch = axeos::pool_patch_body(
        &info,
        r.info.variant,
        &target("stratum+tcp://p.example:3333"),
    )
    .unwrap();
    let patch: Value = serde_json::from_str(&patch).unwrap();
    assert_eq!(
        patch,
        serde_json::json!({"stratumURL": "p.example", "stratumPort": 3333,
            "stratumUser": "bc1qnew.worker", "stratumPassword": "s3cret"})
    );
    let tls = axeos::pool_patch_body(
        &info,
        r.info.variant,
        &target("stratum+ssl://p.example:443"),
    );
    assert!(tls.unwrap_err().to_string().contains("no TLS pool support"));
}

#[test]
fn bitaxe_old_firmware_variants_and_float_noise() {
    // v2.4.5 Supra flavour (§1.3): SI bestDiff, stratumDiff, flipscreen, asicCount, f32 noise.
    let body = br#"{"power": 2.65000009536743, "voltage": 5175, "current": 521.25, "temp": 44.5,
        "hashRate": 512.345678, "bestDiff": "483k", "stratumDiff": 1000, "flipscreen": 1,
        "asicCount": 1, "sharesAccepted": "12", "sharesRejected": 0, "uptimeSeconds": 60,
        "ASICModel": "BM1368", "frequency": 425, "coreVoltage": 1100, "version": "v2.4.5",
        "boardVersion": "401", "stratumURL": "public-pool.io", "stratumPort": 21496,
        "stratumUser": "u", "fanrpm": 3000}"#;
    let r = axeos::parse_system_info(body).unwrap();
    assert_eq!(r.sample.power_w, Some(2.65));
    assert_eq!(r.sample.best_diff, Some(483_000.0));
    assert_eq!(r.sample.shares_accepted, Some(12));
    assert_eq!(r.sample.temp_c, Some(44.5));
    assert_eq!(r.sample.vr_temp_c, None);
    assert_eq!(r.sample.core_voltage_mv, Some(1100.0));
    assert_eq!(r.sample.mode, Some(Mode::Eco));
    assert_eq!(r.info.model.as_deref(), Some("Bitaxe Supra"));
    assert_eq!(r.info.asic_count, Some(1));
    // Missing fields stay None, never 0.
    let sparse = axeos::parse_system_info(br#"{"hashRate": 100.5}"#).unwrap();
    assert_eq!(sparse.sample.power_w, None);
    assert_eq!(sparse.sample.shares_accepted, None);
    assert_eq!(sparse.sample.mode, None);
    assert_eq!(sparse.info.model.as_deref(), Some("Bitaxe"));
}

#[test]
fn bitaxe_asic_options_shape_the_presets() {
    let asic = axeos::parse_asic_info(&fixture("bitaxe_system_asic.json")).unwrap();
    assert_eq!(asic.asic_model.as_deref(), Some("BM1368"));
    assert_eq!(asic.device_model.as_deref(), Some("Supra"));
    assert_eq!(asic.asic_count, Some(1));
    assert_eq!(asic.default_frequency, Some(490.0));
    assert_eq!(asic.default_voltage, Some(1166.0));
    assert_eq!(
        asic.frequency_options,
        vec![
            400.0, 425.0, 450.0, 475.0, 485.0, 490.0, 500.0, 525.0, 550.0, 575.0
        ]
    );
    assert_eq!(
        asic.voltage_options,
        vec![1100.0, 1150.0, 1166.0, 1200.0, 1250.0, 1300.0]
    );
    let presets = axeos::ModePresets::for_device(Some("BM1368"), None, Some(&asic)).unwrap();
    let pairs: Vec<(Mode, f64, f64)> = presets
        .modes()
        .into_iter()
        .map(|m| {
            let p = presets.get(m).unwrap();
            (m, p.frequency_mhz, p.core_voltage_mv)
        })
        .collect();
    assert_eq!(
        pairs,
        vec![
            (Mode::Eco, 425.0, 1100.0),
            (Mode::Standard, 490.0, 1166.0),
            (Mode::Turbo, 525.0, 1200.0),
            (Mode::Oc, 575.0, 1250.0)
        ]
    );
    assert_eq!(presets.mode_for(500.0), Some(Mode::Standard));
}

#[test]
fn bitaxe_statistics_rows() {
    let rows = axeos::parse_statistics(&fixture("bitaxe_statistics.json")).unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].since_boot_ms, 172725000);
    assert_eq!(rows[0].hashrate_hs, Some(ghs_to_hs(1081.2)));
    assert_eq!(rows[0].temp_c, Some(61.1));
    assert_eq!(rows[0].vr_temp_c, Some(52.0));
    assert_eq!(rows[0].power_w, Some(17.8));
    assert_eq!(rows[2].since_boot_ms, 172845000);
    assert_eq!(rows[2].hashrate_hs, Some(ghs_to_hs(1083.6)));
}

#[test]
fn bitaxe_live_update_merges_into_the_last_info() {
    let mut info = axeos::info_object(&fixture("bitaxe_system_info.json")).unwrap();
    let r = axeos::apply_live_update(&mut info, &fixture("bitaxe_ws_live_update.json")).unwrap();
    assert_eq!(r.sample.power_w, Some(17.90625));
    assert_eq!(r.sample.temp_c, Some(61.5));
    assert_eq!(r.sample.hashrate_hs, Some(ghs_to_hs(1090.2323)));
    assert_eq!(r.sample.shares_accepted, Some(18343));
    assert_eq!(r.sample.uptime_s, Some(172850));
    // Unchanged keys keep their values.
    assert_eq!(r.sample.fan_rpm, Some(4176));
    assert_eq!(r.info.firmware.as_deref(), Some("v2.15.0"));
}

#[test]
fn nerdqaxe_info_v1_0_38() {
    let body = fixture("nerdqaxe_system_info_v1_0_38.json");
    let r = axeos::parse_system_info(&body).unwrap();
    let s = &r.sample;
    assert_eq!(s.hashrate_hs, Some(ghs_to_hs(4812.33)));
    assert_eq!(s.power_w, Some(77.9));
    assert_eq!(s.temp_c, Some(55.5)); // max chip temp
    assert_eq!(s.vr_temp_c, Some(61.0));
    assert_eq!(s.fan_rpm, Some(2410));
    assert_eq!(s.frequency_mhz, Some(600.0));
    assert_eq!(s.core_voltage_mv, Some(1147.0));
    assert_eq!(s.shares_accepted, Some(12834));
    assert_eq!(s.shares_rejected, Some(3));
    assert_eq!(s.best_diff, Some(12834567890.0));
    assert_eq!(s.uptime_s, Some(86412));
    assert_eq!(s.mode, Some(Mode::Standard));
    let i = &r.info;
    assert_eq!(i.variant, Variant::NerdQaxe);
    assert_eq!(i.model.as_deref(), Some("NerdQAxe++"));
    assert_eq!(i.firmware.as_deref(), Some("v1.0.38"));
    assert_eq!(i.ip.as_deref(), Some("192.168.1.61"));
    assert_eq!(i.mac.as_deref(), Some("F0:9E:9E:1F:94:CC"));
    assert_eq!(i.hostname.as_deref(), Some("nerdqaxe"));
    assert_eq!(i.asic_model.as_deref(), Some("BM1370"));
    assert_eq!(i.asic_count, Some(4));
    assert_eq!(
        i.pool_url.as_deref(),
        Some("stratum+tcp://solo.ckpool.org:3333")
    );
    assert_eq!(i.supported_modes, vec![Mode::Eco, Mode::Standard]);
    // NerdQAxe pool writes: flat keys, stratumTLS as a boolean.
    let info = axeos::info_object(&body).unwrap();
    let patch =
        axeos::pool_patch_body(&info, i.variant, &target("stratum+ssl://p.example:443")).unwrap();
    let patch: Value = serde_json::from_str(&patch).unwrap();
    assert_eq!(patch["stratumTLS"], Value::Bool(true));
    assert_eq!(patch["stratumURL"], "p.example");
    assert_eq!(patch["stratumPort"], 443);
}

// ------------------------------------------------------------- network difficulty

/// The network difficulty both AxeOS reference fixtures carry (block 912345).
const FIXTURE_DIFFICULTY: f64 = 126_411_437_451_912.0;

/// A fixture as a JSON object to vary one field at a time.
fn info_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).unwrap()
}

fn network_of(info: &Value) -> Vec<NetworkReading> {
    axeos::parse_system_info(info.to_string().as_bytes())
        .unwrap()
        .info
        .network
}

#[test]
fn bitaxe_reports_the_network_difficulty_of_the_pool_in_use() {
    let r = axeos::parse_system_info(&fixture("bitaxe_system_info.json")).unwrap();
    assert_eq!(
        r.info.network,
        vec![NetworkReading {
            pool_url: "stratum+tcp://solo.ckpool.org:3333".into(),
            difficulty: FIXTURE_DIFFICULTY,
            block_height: Some(912_345),
        }]
    );
    // On the fallback pool the same value belongs to the fallback pool.
    let mut info = info_json("bitaxe_system_info.json");
    info["isUsingFallbackStratum"] = 1.into();
    assert_eq!(
        network_of(&info)[0].pool_url,
        "stratum+tcp://public-pool.io:21496"
    );
    // v2.10 firmware has no networkDifficulty: nothing, not a zero.
    let old = axeos::parse_system_info(&fixture("bitaxe_system_info_v2_10.json")).unwrap();
    assert_eq!(old.info.network, vec![]);
}

#[test]
fn nerdqaxe_reports_the_network_difficulty_per_pool() {
    let r = axeos::parse_system_info(&fixture("nerdqaxe_system_info_v1_0_38.json")).unwrap();
    assert_eq!(
        r.info.network,
        vec![NetworkReading {
            pool_url: "stratum+tcp://solo.ckpool.org:3333".into(),
            difficulty: FIXTURE_DIFFICULTY,
            block_height: Some(912_345),
        }]
    );
    // Dual-pool mode: two connected pools, possibly two coins, each with its own value;
    // entry 1 is the second (fallback) pool, and its block height comes from its header.
    let mut info = info_json("nerdqaxe_system_info_v1_0_38.json");
    let second = serde_json::json!({"connected": true, "poolDifficulty": 512,
        "networkDifficulty": 5.5e11, "accepted": 10, "rejected": 0});
    info["stratum"]["pools"]
        .as_array_mut()
        .unwrap()
        .push(second);
    info["blockHeaders"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"pool": 1, "blockHeight": 880_001, "networkDifficulty": 5.5e11}));
    assert_eq!(
        network_of(&info),
        vec![
            NetworkReading {
                pool_url: "stratum+tcp://solo.ckpool.org:3333".into(),
                difficulty: FIXTURE_DIFFICULTY,
                block_height: Some(912_345),
            },
            NetworkReading {
                pool_url: "stratum+tcp://public-pool.io:21496".into(),
                difficulty: 5.5e11,
                block_height: Some(880_001),
            },
        ]
    );
    // A pool the firmware says is not connected may hold a value from long ago.
    info["stratum"]["pools"][1]["connected"] = false.into();
    assert_eq!(network_of(&info).len(), 1);
}

#[test]
fn unusable_network_difficulties_are_ignored() {
    for bad in [
        serde_json::json!(0),
        serde_json::json!(-5),
        serde_json::json!("nan"),
        serde_json::json!("inf"),
        serde_json::json!(null),
        serde_json::json!("soon"),
    ] {
        let mut bitaxe = info_json("bitaxe_system_info.json");
        bitaxe["networkDifficulty"] = bad.clone();
        assert_eq!(
            network_of(&bitaxe),
            vec![],
            "Bitaxe networkDifficulty = {bad}"
        );
        let mut nerd = info_json("nerdqaxe_system_info_v1_0_38.json");
        nerd["stratum"]["pools"][0]["networkDifficulty"] = bad.clone();
        nerd["networkDifficulty"] = bad.clone();
        assert_eq!(
            network_of(&nerd),
            vec![],
            "NerdQAxe networkDifficulty = {bad}"
        );
    }
}

#[test]
fn nerdqaxe_older_firmware_hashrate_semantics() {
    // 1.0.30–1.0.32: hashRate is a 10-minute average; the 1-minute value is current.
    let body = br#"{"deviceModel":"NerdQAxe+","ASICModel":"BM1368","version":"v1.0.31",
        "hashRate": 2400.0, "hashRate_1m": 2512.5, "bestDiff": "270M", "temp": 60, "asicTemps": [58, 61.5]}"#;
    let r = axeos::parse_system_info(body).unwrap();
    assert_eq!(r.sample.hashrate_hs, Some(ghs_to_hs(2512.5)));
    assert_eq!(r.sample.best_diff, Some(270e6));
    assert_eq!(r.sample.temp_c, Some(61.5));
}

#[test]
fn nerdqaxe_asic_limits_leave_no_room_for_turbo() {
    let asic = axeos::parse_asic_info(&fixture("nerdqaxe_system_asic.json")).unwrap();
    assert_eq!(asic.device_model.as_deref(), Some("NerdQAxe++"));
    assert_eq!(asic.asic_count, Some(4));
    assert_eq!(
        asic.frequency_options,
        vec![500.0, 515.0, 525.0, 550.0, 575.0, 590.0, 600.0]
    );
    assert_eq!(asic.voltage_options.first(), Some(&1120.0));
    assert_eq!(asic.voltage_options.last(), Some(&1200.0));
    let presets = axeos::ModePresets::for_device(Some("BM1370"), None, Some(&asic)).unwrap();
    assert_eq!(presets.modes(), vec![Mode::Eco, Mode::Standard]);
    let eco = presets.get(Mode::Eco).unwrap();
    assert_eq!((eco.frequency_mhz, eco.core_voltage_mv), (500.0, 1120.0));
    let standard = presets.get(Mode::Standard).unwrap();
    assert_eq!(
        (standard.frequency_mhz, standard.core_voltage_mv),
        (600.0, 1150.0)
    );
}

// ------------------------------------------------------------------------- Avalon

#[test]
fn avalon_nano3s_full_poll_from_fixtures() {
    let version = json("avalon_nano3s_version.json");
    let summary = json("avalon_nano3s_summary.json");
    let estats = json("avalon_nano3s_estats.json");
    let r = avalon::reading_from(Some(&version), Some(&summary), Some(&estats), None).unwrap();
    let s = &r.sample;
    assert_eq!(s.hashrate_hs, Some(ghs_to_hs(6598.84))); // GHSspd
    assert_eq!(s.power_w, Some(133.0)); // PS[6] on the Nano 3S
    assert_eq!(s.temp_c, Some(95.0)); // TMax
    assert_eq!(s.vr_temp_c, Some(65.0)); // OTemp
    assert_eq!(s.fan_rpm, Some(1520));
    assert_eq!(s.frequency_mhz, Some(464.89));
    assert_eq!(s.core_voltage_mv, Some(301.25)); // mean PVT_V0
    assert_eq!(s.shares_accepted, Some(2612));
    assert_eq!(s.shares_rejected, Some(2));
    assert_eq!(s.best_diff, Some(224199508.0));
    assert_eq!(s.uptime_s, Some(133923));
    assert_eq!(s.mode, Some(Mode::Turbo)); // WORKMODE[2]
    let i = &r.info;
    assert_eq!(i.kind, MinerKind::Avalon);
    assert_eq!(i.variant, Variant::AvalonWorkmode);
    assert_eq!(i.model.as_deref(), Some("Avalon Nano3s"));
    assert_eq!(i.firmware.as_deref(), Some("25021401_56abae7"));
    assert_eq!(i.mac.as_deref(), Some("E0:E1:A9:3F:30:53"));
    assert_eq!(i.serial.as_deref(), Some("020100003cbe4d15"));
    assert_eq!(i.asic_model.as_deref(), Some("A3197S"));
    assert_eq!(i.asic_count, Some(12));
    assert_eq!(
        i.supported_modes,
        vec![Mode::Eco, Mode::Standard, Mode::Turbo]
    );
    assert_eq!(
        capabilities(i).modes,
        vec![Mode::Eco, Mode::Standard, Mode::Turbo]
    );
}

#[test]
fn avalon_nano3s_wire_bytes_decode_like_the_json() {
    let wire = fixture("avalon_nano3s_estats.wire");
    assert_eq!(wire.last(), Some(&0u8), "wire capture ends with NUL");
    let from_wire = cgminer::decode_reply(&wire).unwrap();
    assert_eq!(from_wire, json("avalon_nano3s_estats.json"));
    let r = avalon::reading_from(None, None, Some(&from_wire), None).unwrap();
    assert_eq!(r.sample.uptime_s, Some(10027)); // MM Elapsed without summary
    assert_eq!(r.sample.shares_accepted, None);
    assert_eq!(r.info.model.as_deref(), Some("Avalon Nano3s"));
    assert_eq!(r.info.firmware.as_deref(), Some("25021401_56abae7"));
    let (mm, id) = avalon::mm_stats(&from_wire).unwrap();
    assert_eq!(id.as_deref(), Some("AVALON0"));
    assert_eq!(mm["SYSTEMSTATU"], "Work: In Work, Hash Board: 1");
    assert_eq!(mm["PS"], "0 0 27541 4 0 3756 133");
    assert_eq!(mm["ATA2"], "133-90-3756-432-20");
    assert_eq!(mm["ADJ"], "1");
    assert_eq!(mm["ITemp"], "-273");
}

#[test]
fn avalon_nano3s_lcd_names_the_pool() {
    let lcd = json("avalon_nano3s_lcd.json");
    let (url, user) = avalon::pool_in_use(&lcd).unwrap();
    assert_eq!(url, "stratum+tcp://fr1.letsmine.it:3339");
    assert_eq!(
        user.as_deref(),
        Some("myt1qnw6vzu0thguwtw6rlj4lz7f02vmlk9k5e7h4hy.Nano3s-01")
    );
    assert_eq!(avalon::section_number(&lcd, "LCD", "GHS 5s"), Some(6477.09));
}

#[test]
fn avalon_nano3s_ascset_replies() {
    let examples = json_object("avalon_nano3s_ascset_examples.json");
    let mut checked = 0;
    for (request, reply) in &examples {
        let bytes = reply.to_string().into_bytes();
        let result = cgminer::decode_reply(&bytes).map_err(avalon::ascset_error);
        let msg = reply["STATUS"][0]["Msg"].as_str().unwrap();
        if request.contains("while calibrating") {
            let err = result.unwrap_err().to_string();
            assert!(err.contains("still calibrating"), "{err}");
            assert!(
                err.contains("current mode 2 is caling Don't permit switch mode"),
                "{err}"
            );
        } else if reply["STATUS"][0]["STATUS"] == "E" {
            assert_eq!(
                result.unwrap_err().to_string(),
                format!("refused by device: {msg}")
            );
        } else {
            let status = cgminer::status_of(&result.unwrap()).unwrap();
            assert_eq!(status.msg, msg);
            assert!(matches!(status.code, Some(118 | 119)));
        }
        checked += 1;
    }
    assert_eq!(checked, 9);
}

fn json_object(name: &str) -> serde_json::Map<String, Value> {
    match serde_json::from_slice::<Value>(&fixture(name)).unwrap() {
        Value::Object(map) => map,
        other => panic!("{name}: not an object: {other}"),
    }
}

#[test]
fn avalon_q_stats_summary_version_pools() {
    let version = json("avalon_q_version_asic-rs.json");
    let summary = json("avalon_q_summary_asic-rs.json");
    let stats = json("avalon_q_stats_asic-rs.json");
    let pools = json("avalon_q_pools_asic-rs.json");
    let r =
        avalon::reading_from(Some(&version), Some(&summary), Some(&stats), Some(&pools)).unwrap();
    let s = &r.sample;
    assert_eq!(s.hashrate_hs, Some(0.0)); // GHSspd[0.00]: soft-off, really idle
    assert_eq!(s.power_w, Some(146.0)); // PS[6]
    assert_eq!(s.temp_c, None); // TMax/TAvg 0 while the board is off
    assert_eq!(s.vr_temp_c, Some(27.0)); // HBOTemp
    assert_eq!(s.fan_rpm, Some(0));
    assert_eq!(s.frequency_mhz, Some(282.86));
    assert_eq!(s.core_voltage_mv, None);
    assert_eq!(s.shares_accepted, Some(890));
    assert_eq!(s.shares_rejected, Some(2));
    assert_eq!(s.best_diff, Some(354914572.0));
    assert_eq!(s.uptime_s, Some(37714));
    assert_eq!(s.mode, Some(Mode::Eco));
    let i = &r.info;
    assert_eq!(i.model.as_deref(), Some("Avalon Q"));
    assert_eq!(i.firmware.as_deref(), Some("25052801_14a19a2"));
    assert_eq!(i.mac.as_deref(), Some("AA:BB:CC:DD:EE:FF"));
    assert_eq!(
        i.serial.as_deref(),
        Some("01234567890123456789012345678901")
    );
    assert_eq!(i.asic_count, Some(160));
    assert_eq!(
        i.pool_url.as_deref(),
        Some("stratum+tcp://pool.example.com:4444")
    );
    assert_eq!(i.pool_user.as_deref(), Some("worker1"));
    assert!(!format!("{r:?}").contains("Password"));
}

#[test]
fn avalon_q_litestats_and_the_other_replies() {
    let lite = json("avalon_q_litestats_asic-rs.json");
    let r = avalon::reading_from(None, None, Some(&lite), None).unwrap();
    assert_eq!(r.sample.power_w, Some(146.0));
    assert_eq!(r.sample.uptime_s, Some(37977));
    assert_eq!(r.sample.mode, Some(Mode::Eco));
    assert_eq!(r.info.model.as_deref(), Some("Avalon Q"));
    assert_eq!(r.info.serial, None); // DNA[<DELETED>]

    let devs = json("avalon_q_devs_asic-rs.json");
    assert_eq!(
        avalon::section_number(&devs, "DEVS", "MHS av"),
        Some(44046770.26)
    );
    assert_eq!(
        avalon::section_number(&devs, "DEVS", "Accepted"),
        Some(890.0)
    );
    let check = json("avalon_q_check_asic-rs.json");
    assert_eq!(check["CHECK"][0]["Exists"], "N");
    let workmode = cgminer::status_of(&json("avalon_q_ascset_workmode_asic-rs.json")).unwrap();
    assert_eq!((workmode.letter.as_str(), workmode.code), ("S", Some(119)));
    let softoff = cgminer::status_of(&json("avalon_q_ascset_softoff_asic-rs.json")).unwrap();
    assert_eq!(softoff.msg, "ASC 0 set info: success softoff:1753434821");
    let softon = cgminer::status_of(&json("avalon_q_ascset_softon_asic-rs.json")).unwrap();
    assert_eq!(softon.msg, "ASC 0 set info: success softon:1753434757");
    let help = cgminer::status_of(&json("avalon_q_ascset_help_asic-rs.json")).unwrap();
    assert!(
        help.msg
            .contains("|workmode|worklevel|work_mode_lvl|reboot|")
    );
    assert!(hmm::devices::detect::is_avalon(&json(
        "avalon_q_version_asic-rs.json"
    )));
}

// ------------------------------------------------------------------------- NMMiner

#[test]
fn nmminer_udp_datagram() {
    let (ip, r) = nmminer::parse_datagram(&fixture("nmminer_udp.json")).unwrap();
    assert_eq!(ip, Some("192.168.1.101".parse().unwrap()));
    let s = &r.sample;
    assert_eq!(s.hashrate_hs, Some(113_130.0));
    assert_eq!(s.shares_rejected, Some(1));
    assert_eq!(s.shares_accepted, Some(138));
    assert_eq!(s.best_diff, Some(4.021e6));
    assert_eq!(s.uptime_s, Some(5026));
    assert_eq!(s.temp_c, Some(48.5));
    assert_eq!(s.power_w, None);
    assert_eq!(s.mode, None);
    let i = &r.info;
    assert_eq!(i.kind, MinerKind::Nmminer);
    assert_eq!(i.variant, Variant::Nmminer);
    assert_eq!(i.model.as_deref(), Some("NMLotto"));
    assert_eq!(i.firmware.as_deref(), Some("v0.3.01"));
    assert_eq!(i.pool_url.as_deref(), Some("public-pool.io:21496"));
    assert_eq!(
        capabilities(i),
        Capabilities {
            modes: vec![],
            restart: false,
            switch_pool: true,
            pause: false
        }
    );
}

#[test]
fn nmaxe_udp_datagram() {
    let (ip, r) = nmminer::parse_datagram(&fixture("nmaxe_udp.json")).unwrap();
    assert_eq!(ip, Some("192.168.1.77".parse().unwrap()));
    let s = &r.sample;
    assert_eq!(s.hashrate_hs, Some(1.2045e12));
    assert_eq!(s.shares_rejected, Some(3));
    assert_eq!(s.shares_accepted, Some(10452));
    assert_eq!(s.best_diff, Some(1.932e9)); // all-time part of "12.31M\r1.932G"
    assert_eq!(s.uptime_s, Some(5 * 3600 + 12 * 60 + 9)); // session part
    assert_eq!(s.temp_c, Some(58.0));
    assert_eq!(s.power_w, Some(18.4));
    assert_eq!(r.info.variant, Variant::Nmaxe);
    assert_eq!(r.info.model.as_deref(), Some("NMAxe-Gamma"));
    assert_eq!(r.info.firmware.as_deref(), Some("v2.5.10"));
}

#[test]
fn nmminer_config_datagram_uses_the_controller_spelling() {
    let reference = json_object("nmminer_udp_config.json");
    assert_eq!(reference["IP"], "0.0.0.0");
    assert_eq!(
        reference["PrimaryPool"],
        "stratum+tcp://pool.nmminer.com:3333"
    );
    let ours = nmminer::pool_config_datagram(
        "192.168.1.101".parse().unwrap(),
        &target("stratum+tcp://public-pool.io:21496"),
    )
    .unwrap();
    let ours: serde_json::Map<String, Value> = serde_json::from_str(&ours).unwrap();
    for key in ours.keys() {
        assert!(reference.contains_key(key), "{key} is not an NMParam key");
    }
    assert_eq!(ours["IP"], "192.168.1.101");
    assert_eq!(ours["PrimaryPool"], "stratum+tcp://public-pool.io:21496");
    assert_eq!(ours["PrimaryAddress"], "bc1qnew.worker");
    assert_eq!(ours["PrimaryPassword"], "s3cret");
    assert!(
        !ours.contains_key("WiFiSSID"),
        "Wi-Fi settings are left alone"
    );
}

#[test]
fn nmminer_http_probe_and_system_info() {
    let probe = nmminer::parse_http_probe(&fixture("nmminer_http_probe.json")).unwrap();
    assert_eq!(probe.sample.hashrate_hs, Some(956432.0));
    assert_eq!(probe.sample.best_diff, Some(1.7833));
    assert_eq!(probe.sample.uptime_s, Some(4321));
    assert_eq!(probe.info.model.as_deref(), Some("NMMiner"));
    assert_eq!(probe.info.hostname.as_deref(), Some("nm-cyd-c5-ab12cd"));
    assert_eq!(probe.info.firmware.as_deref(), Some("v2.0.04"));

    let body = fixture("nmminer_http_system_info.json");
    assert!(
        axeos::parse_system_info(&body).is_err(),
        "not mistaken for AxeOS"
    );
    let info = nmminer::parse_http_system_info(&body).unwrap();
    let s = &info.sample;
    assert_eq!(s.hashrate_hs, Some(ghs_to_hs(0.000956432)));
    assert_eq!(s.shares_accepted, Some(128));
    assert_eq!(s.shares_rejected, Some(2));
    assert_eq!(s.uptime_s, Some(4321));
    assert_eq!(s.best_diff, Some(1.7833));
    assert_eq!(s.temp_c, None); // "asic": null
    assert_eq!(s.vr_temp_c, Some(51.3));
    assert_eq!(info.info.model.as_deref(), Some("NMMiner"));
    assert_eq!(info.info.firmware.as_deref(), Some("v2.0.04"));
    assert_eq!(
        info.info.pool_url.as_deref(),
        Some("solobtc.nmminer.com:3333")
    );
    assert_eq!(info.info.pool_user.as_deref(), Some("bc1q....worker1"));
}
