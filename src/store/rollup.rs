//! Per-slot rollups: how one new sample updates its miner's 30-minute tariff-slot
//! aggregate, and the rollup's compact encoding in the `slots` table.
//!
//! The interval between a miner's previous sample and the new one is credited to the slot
//! of the new sample (its end). Each interval is capped at twice the poll interval, so an
//! offline gap counts neither as uptime nor as energy (DESIGN.md "Storage"). Share counters
//! are cumulative on the device and use [`units::counter_delta`], which treats a drop as a
//! reboot.

use super::codec::{DecodeError, Reader, put_varint};
use crate::model::{Sample, SlotRollup};
use crate::{ukclock, units};

/// Format byte of the encoded rollup.
const ROLLUP_FORMAT: u8 = 1;

/// An empty rollup of `miner_id` for the slot containing `ts_ms`.
pub(crate) fn empty_for(miner_id: u32, ts_ms: u64) -> SlotRollup {
    SlotRollup {
        miner_id,
        slot_start_s: ukclock::slot_start_s(ts_ms / 1000),
        ..SlotRollup::default()
    }
}

/// Adds `sample` (whose predecessor of the same miner is `previous`) to `rollup`, which
/// must be the rollup of the sample's slot. `max_gap_ms` is twice the poll interval.
pub(crate) fn apply(
    rollup: &mut SlotRollup,
    previous: Option<&Sample>,
    sample: &Sample,
    max_gap_ms: u64,
) {
    rollup.samples += 1;
    if sample.online {
        rollup.online_samples += 1;
        if let Some(hashrate) = sample.hashrate_hs {
            rollup.hashrate_sum_hs += hashrate;
            rollup.hashrate_samples += 1;
        }
    }
    if let Some(temp) = sample.temp_c {
        rollup.temp_max_c = Some(rollup.temp_max_c.map_or(temp, |max| max.max(temp)));
    }
    let Some(previous) = previous else { return };
    if sample.ts_ms <= previous.ts_ms {
        return;
    }
    let dt_ms = (sample.ts_ms - previous.ts_ms).min(max_gap_ms);
    if previous.online && sample.online {
        rollup.online_ms += dt_ms;
    }
    if previous.power_w.is_some() && sample.power_w.is_some() {
        rollup.powered_ms += dt_ms;
        rollup.energy_wh += units::energy_wh(
            previous.ts_ms,
            previous.power_w,
            sample.ts_ms,
            sample.power_w,
            max_gap_ms,
        );
    }
    rollup.shares_accepted +=
        units::counter_delta(previous.shares_accepted, sample.shares_accepted);
    rollup.shares_rejected +=
        units::counter_delta(previous.shares_rejected, sample.shares_rejected);
}

/// Encodes a rollup (its key, miner and slot start, is not repeated).
pub(crate) fn encode(rollup: &SlotRollup, out: &mut Vec<u8>) {
    out.push(ROLLUP_FORMAT);
    put_varint(out, u64::from(rollup.samples));
    put_varint(out, u64::from(rollup.online_samples));
    put_varint(out, rollup.online_ms);
    put_varint(out, rollup.powered_ms);
    out.extend_from_slice(&rollup.energy_wh.to_le_bytes());
    out.extend_from_slice(&rollup.hashrate_sum_hs.to_le_bytes());
    put_varint(out, u64::from(rollup.hashrate_samples));
    put_varint(out, rollup.shares_accepted);
    put_varint(out, rollup.shares_rejected);
    match rollup.temp_max_c {
        Some(temp) => {
            out.push(1);
            out.extend_from_slice(&temp.to_le_bytes());
        }
        None => out.push(0),
    }
}

/// Encodes a rollup into a fresh vector.
#[cfg(test)]
pub(crate) fn to_bytes(rollup: &SlotRollup) -> Vec<u8> {
    let mut out = Vec::with_capacity(40);
    encode(rollup, &mut out);
    out
}

/// Decodes a rollup of `miner_id` for `slot_start_s`.
pub(crate) fn decode(
    reader: &mut Reader<'_>,
    miner_id: u32,
    slot_start_s: u64,
) -> Result<SlotRollup, DecodeError> {
    if reader.byte()? != ROLLUP_FORMAT {
        return Err(DecodeError("unknown slot rollup format byte"));
    }
    let small = |value: u64| u32::try_from(value).map_err(|_| DecodeError("count overflows"));
    Ok(SlotRollup {
        miner_id,
        slot_start_s,
        samples: small(reader.varint()?)?,
        online_samples: small(reader.varint()?)?,
        online_ms: reader.varint()?,
        powered_ms: reader.varint()?,
        energy_wh: reader.f64()?,
        hashrate_sum_hs: reader.f64()?,
        hashrate_samples: small(reader.varint()?)?,
        shares_accepted: reader.varint()?,
        shares_rejected: reader.varint()?,
        temp_max_c: match reader.byte()? {
            0 => None,
            _ => Some(reader.f64()?),
        },
    })
}

/// Decodes a rollup stored alone in a value.
pub(crate) fn from_bytes(
    bytes: &[u8],
    miner_id: u32,
    slot_start_s: u64,
) -> Result<SlotRollup, DecodeError> {
    decode(&mut Reader::new(bytes), miner_id, slot_start_s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn online(ts_ms: u64, power_w: f64, accepted: u64) -> Sample {
        Sample {
            miner_id: 1,
            ts_ms,
            online: true,
            power_w: Some(power_w),
            hashrate_hs: Some(1e12),
            temp_c: Some(60.0),
            shares_accepted: Some(accepted),
            ..Sample::default()
        }
    }

    #[test]
    fn gaps_are_capped_and_reboots_counted() {
        let first = online(0, 10.0, 100);
        let second = online(10_000, 10.0, 130);
        let after_gap_and_reboot = online(3_600_000, 10.0, 5);
        let mut rollup = empty_for(1, 0);
        apply(&mut rollup, None, &first, 20_000);
        apply(&mut rollup, Some(&first), &second, 20_000);
        apply(&mut rollup, Some(&second), &after_gap_and_reboot, 20_000);
        assert_eq!(rollup.samples, 3);
        assert_eq!(rollup.online_ms, 10_000 + 20_000);
        assert_eq!(rollup.powered_ms, 30_000);
        assert!((rollup.energy_wh - 10.0 * 30.0 / 3600.0).abs() < 1e-12);
        assert_eq!(rollup.shares_accepted, 30 + 5);
        assert_eq!(rollup.mean_hashrate_hs(), Some(1e12));
    }

    #[test]
    fn offline_samples_add_no_uptime_or_energy() {
        let first = online(0, 10.0, 1);
        let offline = Sample::offline(1, 10_000);
        let mut rollup = empty_for(1, 0);
        apply(&mut rollup, Some(&first), &offline, 20_000);
        assert_eq!(
            (rollup.online_ms, rollup.powered_ms, rollup.energy_wh),
            (0, 0, 0.0)
        );
        assert_eq!((rollup.samples, rollup.online_samples), (1, 0));
        assert_eq!(rollup.temp_max_c, None);
    }

    #[test]
    fn encoding_round_trips() {
        let mut rollup = empty_for(7, 1_800_000);
        rollup.energy_wh = 1.25;
        rollup.temp_max_c = Some(71.5);
        rollup.samples = 180;
        assert_eq!(from_bytes(&to_bytes(&rollup), 7, 1800).unwrap(), rollup);
        rollup.temp_max_c = None;
        assert_eq!(from_bytes(&to_bytes(&rollup), 7, 1800).unwrap(), rollup);
        assert!(from_bytes(&[1, 2], 7, 1800).is_err());
    }
}
