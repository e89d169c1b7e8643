//! The telemetry block format: consecutive samples of one miner, delta-encoded.
//!
//! A block is the value of one `telemetry` key `(miner_id, first_ts_ms)` (and of the open
//! block kept in the `live` table). Layout, format byte [`BLOCK_FORMAT`] = 1:
//!
//! ```text
//! [format u8 = 1] then per sample:
//!   varint  presence mask XOR the previous sample's mask (0 = same fields as before)
//!   varint  ts: absolute ms for the first sample, then zigzag(Δts − previous Δts)
//!   varint  changed mask: bit i = field i is present and differs from its previous value
//!   for each changed field, in the order of `Field`:
//!     zigzag varint of (quantised value − the field's previous quantised value)
//!     (best_diff: varint of its f64 bits XOR the previous bits, lossless;
//!      hashrate: a byte e = trailing decimal zeros of the value, then the zigzag delta
//!      in units of 10^e, see `put_scaled_delta`)
//!   a present field that did not change costs nothing
//! ```
//!
//! The mask has bit 0 = `online` and one bit per optional field, so a missing value stays
//! `None` (never 0) and costs nothing. Appending needs only the previous sample's state
//! ([`BlockWriter`]), so the open block grows without being re-encoded.
//!
//! Quantisation (the round trip is exact for values at this precision; anything finer is
//! rounded to it, non-finite floats are stored as missing):
//!
//! | field | stored as |
//! |---|---|
//! | hashrate | integer H/s |
//! | power | integer mW (0.001 W) |
//! | temp, vr_temp | integer 0.01 °C |
//! | frequency | integer 0.001 MHz |
//! | core voltage | integer 0.01 mV |
//! | fan, shares, uptime | exact integers |
//! | best_diff | exact f64 bits |
//! | mode | its one-byte code |
//!
//! A steady 10 s poll of a Bitaxe costs about 15 bytes per sample, most of it the noise
//! of hashrate, power and temperatures.

use super::codec::{DecodeError, Reader, put_varint, zigzag};
use crate::model::{Mode, Sample};

/// Format byte of the current block layout.
pub(crate) const BLOCK_FORMAT: u8 = 1;

/// Number of value fields after the `online` flag.
const FIELDS: usize = 12;

/// Field order inside a sample and bit `1 + index` of the presence mask.
#[derive(Clone, Copy)]
enum Field {
    Hashrate = 0,
    Power,
    Temp,
    VrTemp,
    Fan,
    Frequency,
    Voltage,
    Accepted,
    Rejected,
    BestDiff,
    Uptime,
    Mode,
}

const HASHRATE_SCALE: f64 = 1.0;
const POWER_SCALE: f64 = 1000.0;
const TEMP_SCALE: f64 = 100.0;
const FREQUENCY_SCALE: f64 = 1000.0;
const VOLTAGE_SCALE: f64 = 100.0;

fn quantise(value: Option<f64>, scale: f64) -> Option<i64> {
    value
        .filter(|v| v.is_finite())
        .map(|v| (v * scale).round() as i64)
}

fn dequantise(value: i64, scale: f64) -> f64 {
    if scale == 1.0 {
        value as f64
    } else {
        value as f64 / scale
    }
}

/// The quantised value of every field of a sample; `None` where missing.
fn fields_of(sample: &Sample) -> [Option<i64>; FIELDS] {
    let mut out = [None; FIELDS];
    out[Field::Hashrate as usize] = quantise(sample.hashrate_hs, HASHRATE_SCALE);
    out[Field::Power as usize] = quantise(sample.power_w, POWER_SCALE);
    out[Field::Temp as usize] = quantise(sample.temp_c, TEMP_SCALE);
    out[Field::VrTemp as usize] = quantise(sample.vr_temp_c, TEMP_SCALE);
    out[Field::Fan as usize] = sample.fan_rpm.map(i64::from);
    out[Field::Frequency as usize] = quantise(sample.frequency_mhz, FREQUENCY_SCALE);
    out[Field::Voltage as usize] = quantise(sample.core_voltage_mv, VOLTAGE_SCALE);
    out[Field::Accepted as usize] = sample.shares_accepted.map(|v| v as i64);
    out[Field::Rejected as usize] = sample.shares_rejected.map(|v| v as i64);
    out[Field::BestDiff as usize] = sample
        .best_diff
        .filter(|v| v.is_finite())
        .map(|v| v.to_bits() as i64);
    out[Field::Uptime as usize] = sample.uptime_s.map(|v| v as i64);
    out[Field::Mode as usize] = sample.mode.map(|m| i64::from(m.code()));
    out
}

fn sample_from(miner_id: u32, ts_ms: u64, online: bool, f: &[Option<i64>; FIELDS]) -> Sample {
    Sample {
        miner_id,
        ts_ms,
        online,
        hashrate_hs: f[Field::Hashrate as usize].map(|v| dequantise(v, HASHRATE_SCALE)),
        power_w: f[Field::Power as usize].map(|v| dequantise(v, POWER_SCALE)),
        temp_c: f[Field::Temp as usize].map(|v| dequantise(v, TEMP_SCALE)),
        vr_temp_c: f[Field::VrTemp as usize].map(|v| dequantise(v, TEMP_SCALE)),
        fan_rpm: f[Field::Fan as usize].map(|v| v as u32),
        frequency_mhz: f[Field::Frequency as usize].map(|v| dequantise(v, FREQUENCY_SCALE)),
        core_voltage_mv: f[Field::Voltage as usize].map(|v| dequantise(v, VOLTAGE_SCALE)),
        shares_accepted: f[Field::Accepted as usize].map(|v| v as u64),
        shares_rejected: f[Field::Rejected as usize].map(|v| v as u64),
        best_diff: f[Field::BestDiff as usize].map(|v| f64::from_bits(v as u64)),
        uptime_s: f[Field::Uptime as usize].map(|v| v as u64),
        mode: f[Field::Mode as usize].and_then(|v| Mode::from_code(v as u8)),
    }
}

/// The sample exactly as the store will return it: every value rounded to its stored
/// precision. The store computes rollups from this, so rollups always agree with a
/// recomputation over the stored raw samples.
pub(crate) fn normalise(sample: &Sample) -> Sample {
    sample_from(
        sample.miner_id,
        sample.ts_ms,
        sample.online,
        &fields_of(sample),
    )
}

fn mask_of(online: bool, fields: &[Option<i64>; FIELDS]) -> u64 {
    let mut mask = u64::from(online);
    for (index, field) in fields.iter().enumerate() {
        if field.is_some() {
            mask |= 1 << (index + 1);
        }
    }
    mask
}

/// The running state of the delta encoding: what the next sample is encoded against.
#[derive(Debug, Clone, Default, PartialEq)]
struct DeltaState {
    count: u32,
    ts: u64,
    ts_delta: i64,
    mask: u64,
    values: [i64; FIELDS],
}

/// An open block being appended to. Cheap to append to, cheap to clone.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BlockWriter {
    bytes: Vec<u8>,
    first_ts: Option<u64>,
    state: DeltaState,
}

impl Default for BlockWriter {
    fn default() -> Self {
        BlockWriter::new()
    }
}

impl BlockWriter {
    /// An empty block.
    pub(crate) fn new() -> BlockWriter {
        BlockWriter {
            bytes: vec![BLOCK_FORMAT],
            first_ts: None,
            state: DeltaState::default(),
        }
    }

    /// Rebuilds the writer state of an existing block so more samples can be appended.
    pub(crate) fn resume(bytes: &[u8]) -> Result<BlockWriter, DecodeError> {
        let mut writer = BlockWriter::new();
        let mut first_ts = None;
        let state = decode_into(bytes, 0, |sample| {
            first_ts.get_or_insert(sample.ts_ms);
        })?;
        writer.bytes = bytes.to_vec();
        writer.first_ts = first_ts;
        writer.state = state;
        Ok(writer)
    }

    /// Appends one sample. The caller guarantees `ts_ms` grows within a block.
    pub(crate) fn push(&mut self, sample: &Sample) {
        let fields = fields_of(sample);
        let mask = mask_of(sample.online, &fields);
        let state = &mut self.state;
        put_varint(&mut self.bytes, mask ^ state.mask);
        if state.count == 0 {
            put_varint(&mut self.bytes, sample.ts_ms);
            state.ts_delta = 0;
            self.first_ts = Some(sample.ts_ms);
        } else {
            let delta = sample.ts_ms.wrapping_sub(state.ts) as i64;
            put_varint(&mut self.bytes, zigzag(delta.wrapping_sub(state.ts_delta)));
            state.ts_delta = delta;
        }
        state.ts = sample.ts_ms;
        state.mask = mask;
        let mut changed = 0u64;
        for (index, value) in fields.iter().enumerate() {
            if value.is_some_and(|v| v != state.values[index]) {
                changed |= 1 << index;
            }
        }
        put_varint(&mut self.bytes, changed);
        for (index, value) in fields.iter().enumerate() {
            let Some(value) = *value else { continue };
            if changed & (1 << index) == 0 {
                continue;
            }
            let previous = state.values[index];
            if index == Field::BestDiff as usize {
                put_varint(&mut self.bytes, (value ^ previous) as u64);
            } else if index == Field::Hashrate as usize {
                put_scaled_delta(&mut self.bytes, previous, value);
            } else {
                put_varint(&mut self.bytes, zigzag(value.wrapping_sub(previous)));
            }
            state.values[index] = value;
        }
        state.count += 1;
    }

    /// Number of samples in the block.
    pub(crate) fn len(&self) -> u32 {
        self.state.count
    }

    /// Whether the block holds no sample.
    pub(crate) fn is_empty(&self) -> bool {
        self.state.count == 0
    }

    /// Timestamp of the first sample (the block's key), if any.
    pub(crate) fn first_ts(&self) -> Option<u64> {
        self.first_ts
    }

    /// The encoded block.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// Powers of ten up to 10^15, the most trailing zeros a scaled delta uses.
const POW10: [i64; 16] = {
    let mut table = [1i64; 16];
    let mut i = 1;
    while i < 16 {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

/// Writes `value` against `previous` in units of 10^e, where e is the number of
/// trailing decimal zeros of `value` (devices print hashrates as GH/s with two decimals,
/// so a value in H/s usually ends in seven zeros). Lossless: `value` is a multiple of
/// 10^e, and the decoder derives the same base from `previous`.
fn put_scaled_delta(out: &mut Vec<u8>, previous: i64, value: i64) {
    let mut exponent = 0;
    while exponent < 15 && value != 0 && value % POW10[exponent + 1] == 0 {
        exponent += 1;
    }
    let unit = POW10[exponent];
    out.push(exponent as u8);
    put_varint(out, zigzag((value / unit).wrapping_sub(previous / unit)));
}

/// `value / 10^exponent` (exponent ≤ 15). A division by a constant compiles to a multiply
/// and a shift; a division by a table entry is a hardware divide, the slowest step of
/// decoding a hashrate.
#[inline]
fn div_pow10(value: i64, exponent: usize) -> i64 {
    match exponent {
        0 => value,
        1 => value / 10,
        2 => value / 100,
        3 => value / 1_000,
        4 => value / 10_000,
        5 => value / 100_000,
        6 => value / 1_000_000,
        7 => value / 10_000_000,
        8 => value / 100_000_000,
        9 => value / 1_000_000_000,
        10 => value / 10_000_000_000,
        11 => value / 100_000_000_000,
        12 => value / 1_000_000_000_000,
        13 => value / 10_000_000_000_000,
        14 => value / 100_000_000_000_000,
        _ => value / POW10[exponent],
    }
}

/// Decodes every sample of a block, calling `each` in time order. Returns the final delta
/// state (used to resume appending).
fn decode_into(
    bytes: &[u8],
    miner_id: u32,
    each: impl FnMut(&Sample),
) -> Result<DeltaState, DecodeError> {
    decode_window(bytes, miner_id, 0, u64::MAX, each)
}

/// Sets field `index` of `sample` to the quantised `value` (`None` = missing).
///
/// Decoding keeps one running [`Sample`] and touches only the fields a sample changed,
/// instead of rebuilding all twelve for each of the 8 640 samples of a day: that rebuild
/// was the largest cost of reading a day of one miner.
#[inline(always)]
fn set_field(sample: &mut Sample, index: usize, value: Option<i64>) {
    const HASHRATE: usize = Field::Hashrate as usize;
    const POWER: usize = Field::Power as usize;
    const TEMP: usize = Field::Temp as usize;
    const VR_TEMP: usize = Field::VrTemp as usize;
    const FAN: usize = Field::Fan as usize;
    const FREQUENCY: usize = Field::Frequency as usize;
    const VOLTAGE: usize = Field::Voltage as usize;
    const ACCEPTED: usize = Field::Accepted as usize;
    const REJECTED: usize = Field::Rejected as usize;
    const BEST_DIFF: usize = Field::BestDiff as usize;
    const UPTIME: usize = Field::Uptime as usize;
    match index {
        HASHRATE => sample.hashrate_hs = value.map(|v| dequantise(v, HASHRATE_SCALE)),
        POWER => sample.power_w = value.map(|v| dequantise(v, POWER_SCALE)),
        TEMP => sample.temp_c = value.map(|v| dequantise(v, TEMP_SCALE)),
        VR_TEMP => sample.vr_temp_c = value.map(|v| dequantise(v, TEMP_SCALE)),
        FAN => sample.fan_rpm = value.map(|v| v as u32),
        FREQUENCY => sample.frequency_mhz = value.map(|v| dequantise(v, FREQUENCY_SCALE)),
        VOLTAGE => sample.core_voltage_mv = value.map(|v| dequantise(v, VOLTAGE_SCALE)),
        ACCEPTED => sample.shares_accepted = value.map(|v| v as u64),
        REJECTED => sample.shares_rejected = value.map(|v| v as u64),
        BEST_DIFF => sample.best_diff = value.map(|v| f64::from_bits(v as u64)),
        UPTIME => sample.uptime_s = value.map(|v| v as u64),
        _ => sample.mode = value.and_then(|v| Mode::from_code(v as u8)),
    }
}

/// Reads the encoded change of field `index` and returns its new quantised value.
#[inline(always)]
fn read_field(
    reader: &mut Reader<'_>,
    index: usize,
    previous: i64,
    hashrate: &mut ScaledHashrate,
) -> Result<i64, DecodeError> {
    if index == Field::BestDiff as usize {
        Ok((reader.varint()? as i64) ^ previous)
    } else if index == Field::Hashrate as usize {
        hashrate.read(reader, previous)
    } else {
        Ok(previous.wrapping_add(reader.signed()?))
    }
}

/// The last hashrate in the units of its own scale (value / 10^exponent), so that the
/// next delta at the same scale, the usual case, needs no division.
#[derive(Default)]
struct ScaledHashrate {
    exponent: usize,
    scaled: i64,
}

impl ScaledHashrate {
    /// Reads one hashrate written by [`put_scaled_delta`] against `previous`.
    #[inline(always)]
    fn read(&mut self, reader: &mut Reader<'_>, previous: i64) -> Result<i64, DecodeError> {
        let exponent = usize::from(reader.byte()?);
        let unit = *POW10
            .get(exponent)
            .ok_or(DecodeError("scale exponent out of range"))?;
        // `previous` is a multiple of 10^self.exponent, so the division is exact there.
        let base = if exponent == self.exponent {
            self.scaled
        } else {
            div_pow10(previous, exponent)
        };
        let scaled = base.wrapping_add(reader.signed()?);
        self.exponent = exponent;
        self.scaled = scaled;
        Ok(scaled.wrapping_mul(unit))
    }
}

/// Like [`decode_into`], but passes to `each` only the samples with
/// `from_ms <= ts < to_ms`; the others are decoded just enough to follow the deltas.
fn decode_window(
    bytes: &[u8],
    miner_id: u32,
    from_ms: u64,
    to_ms: u64,
    mut each: impl FnMut(&Sample),
) -> Result<DeltaState, DecodeError> {
    let mut reader = Reader::new(bytes);
    let format = reader.byte()?;
    if format != BLOCK_FORMAT {
        return Err(DecodeError("unknown block format byte"));
    }
    let mut state = DeltaState::default();
    // The running sample: every field as of the last decoded sample (all missing at first,
    // matching the empty presence mask of `state`).
    let mut current = Sample {
        miner_id,
        ..Sample::default()
    };
    let mut hashrate = ScaledHashrate::default();
    while !reader.is_empty() {
        let mask = reader.varint()? ^ state.mask;
        if mask >> (FIELDS + 1) != 0 {
            return Err(DecodeError("unknown field in presence mask"));
        }
        if state.count == 0 {
            state.ts = reader.varint()?;
            state.ts_delta = 0;
        } else {
            state.ts_delta = state.ts_delta.wrapping_add(reader.signed()?);
            state.ts = state.ts.wrapping_add(state.ts_delta as u64);
        }
        let presence_changed = mask != state.mask;
        state.mask = mask;
        let changed = reader.varint()?;
        if (changed << 1) & !mask != 0 {
            return Err(DecodeError("changed field is not present"));
        }
        let mut pending = changed;
        while pending != 0 {
            let index = pending.trailing_zeros() as usize;
            pending &= pending - 1;
            let value = read_field(&mut reader, index, state.values[index], &mut hashrate)?;
            state.values[index] = value;
            if !presence_changed {
                set_field(&mut current, index, Some(value));
            }
        }
        if presence_changed {
            // A field appeared or vanished: rebuild every field from the state.
            for (index, value) in state.values.iter().enumerate() {
                let present = mask & (1 << (index + 1)) != 0;
                set_field(&mut current, index, present.then_some(*value));
            }
        }
        current.ts_ms = state.ts;
        current.online = mask & 1 == 1;
        state.count += 1;
        if state.ts >= from_ms && state.ts < to_ms {
            each(&current);
        }
    }
    Ok(state)
}

/// Decodes a whole block of `miner_id`.
#[cfg(test)]
pub(crate) fn decode(bytes: &[u8], miner_id: u32) -> Result<Vec<Sample>, DecodeError> {
    let mut out = Vec::new();
    decode_into(bytes, miner_id, |sample| out.push(sample.clone()))?;
    Ok(out)
}

/// Decodes the samples of a block with `from_ms <= ts < to_ms`, appending to `out`.
pub(crate) fn decode_range(
    bytes: &[u8],
    miner_id: u32,
    from_ms: u64,
    to_ms: u64,
    out: &mut Vec<Sample>,
) -> Result<(), DecodeError> {
    decode_window(bytes, miner_id, from_ms, to_ms, |sample| {
        out.push(sample.clone())
    })?;
    Ok(())
}

/// The last sample of a block, if it has any.
pub(crate) fn decode_last(bytes: &[u8], miner_id: u32) -> Result<Option<Sample>, DecodeError> {
    let mut seen = false;
    let state = decode_window(bytes, miner_id, 0, u64::MAX, |_| seen = true)?;
    if !seen {
        return Ok(None);
    }
    Ok(Some(sample_from(
        miner_id,
        state.ts,
        state.mask & 1 == 1,
        &present_values(&state),
    )))
}

/// The quantised values of the last decoded sample, `None` where its mask says missing.
fn present_values(state: &DeltaState) -> [Option<i64>; FIELDS] {
    let mut out = [None; FIELDS];
    for (index, value) in state.values.iter().enumerate() {
        if state.mask & (1 << (index + 1)) != 0 {
            out[index] = Some(*value);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn scaled(present: f64, scale: f64) -> impl Strategy<Value = Option<f64>> {
        proptest::option::weighted(
            present,
            (-2_000_000_000i64..2_000_000_000).prop_map(move |k| k as f64 / scale),
        )
    }

    /// Samples whose fields are each present with probability `present`: 0.5 changes the
    /// presence mask almost every sample, 0.97 keeps it steady for long runs as real
    /// devices do (the decoder's fast path).
    fn sample_strategy(present: f64) -> impl Strategy<Value = Sample> {
        use proptest::option::weighted;
        (
            (
                any::<bool>(),
                0u64..30_000,
                weighted(present, 0i64..(1i64 << 50)),
            ),
            (
                scaled(present, POWER_SCALE),
                scaled(present, TEMP_SCALE),
                scaled(present, TEMP_SCALE),
            ),
            (
                weighted(present, any::<u32>()),
                scaled(present, FREQUENCY_SCALE),
                scaled(present, VOLTAGE_SCALE),
            ),
            (
                weighted(present, any::<u64>()),
                weighted(present, any::<u64>()),
            ),
            (weighted(
                present,
                any::<f64>().prop_filter("finite", |v| v.is_finite()),
            )),
            (weighted(present, any::<u64>()), weighted(present, 1u8..=4)),
        )
            .prop_map(|(a, b, c, d, best, e)| Sample {
                miner_id: 3,
                ts_ms: a.1,
                online: a.0,
                hashrate_hs: a.2.map(|v| v as f64),
                power_w: b.0,
                temp_c: b.1,
                vr_temp_c: b.2,
                fan_rpm: c.0,
                frequency_mhz: c.1,
                core_voltage_mv: c.2,
                shares_accepted: d.0,
                shares_rejected: d.1,
                best_diff: best,
                uptime_s: e.0,
                mode: e.1.and_then(Mode::from_code),
            })
    }

    proptest! {
        #[test]
        fn blocks_round_trip_exactly(mut samples in prop_oneof![
                                         proptest::collection::vec(sample_strategy(0.5), 0..80),
                                         proptest::collection::vec(sample_strategy(0.97), 0..200),
                                     ],
                                     start in 0u64..(1u64 << 45)) {
            // Make timestamps strictly increasing, with irregular gaps.
            let mut ts = start;
            for sample in &mut samples {
                ts += 1 + sample.ts_ms;
                sample.ts_ms = ts;
            }
            // Some fields repeat their previous value, as steady readings do.
            for index in 1..samples.len() {
                if index % 2 == 0 {
                    let previous = samples[index - 1].clone();
                    let sample = &mut samples[index];
                    sample.power_w = previous.power_w;
                    sample.fan_rpm = previous.fan_rpm;
                    sample.uptime_s = previous.uptime_s;
                    sample.best_diff = previous.best_diff;
                }
            }
            let mut writer = BlockWriter::new();
            for sample in &samples {
                writer.push(sample);
            }
            prop_assert_eq!(writer.len() as usize, samples.len());
            let decoded = decode(writer.bytes(), 3).unwrap();
            prop_assert_eq!(&decoded, &samples);
            // Resuming mid-way and appending gives the same bytes as writing in one go.
            let half = samples.len() / 2;
            let mut first = BlockWriter::new();
            for sample in &samples[..half] {
                first.push(sample);
            }
            let mut resumed = BlockWriter::resume(first.bytes()).unwrap();
            for sample in &samples[half..] {
                resumed.push(sample);
            }
            prop_assert_eq!(resumed.bytes(), writer.bytes());
            prop_assert_eq!(decode_last(writer.bytes(), 3).unwrap(), samples.last().cloned());
        }
    }

    #[test]
    fn missing_values_stay_missing_and_finer_values_are_rounded() {
        let mut writer = BlockWriter::new();
        let sample = Sample {
            miner_id: 1,
            ts_ms: 1_700_000_000_123,
            online: true,
            hashrate_hs: Some(1.234_567_891_2e12),
            power_w: Some(15.1234),
            temp_c: Some(f64::NAN),
            ..Sample::default()
        };
        writer.push(&sample);
        writer.push(&Sample::offline(1, 1_700_000_010_123));
        let decoded = decode(writer.bytes(), 1).unwrap();
        assert_eq!(decoded[0].hashrate_hs, Some(1_234_567_891_200.0));
        assert_eq!(decoded[0].power_w, Some(15.123));
        assert_eq!(decoded[0].temp_c, None, "NaN is stored as missing");
        assert_eq!(decoded[0].fan_rpm, None);
        assert_eq!(decoded[1], Sample::offline(1, 1_700_000_010_123));
        assert_eq!(normalise(&sample), decoded[0]);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(decode(&[], 1).is_err());
        assert!(decode(&[9, 1, 2], 1).is_err());
        assert!(decode(&[BLOCK_FORMAT, 0x80], 1).is_err());
        assert!(decode(&[BLOCK_FORMAT, 0xff, 0x7f], 1).is_err());
    }
}
