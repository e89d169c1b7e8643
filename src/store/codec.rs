//! Byte-level helpers shared by the store's encodings: LEB128 varints, zigzag for signed
//! deltas, and a bounds-checked reader that turns a short or garbled value into an error
//! instead of a panic.
//!
//! Everything the store writes is built from these few primitives so that a corrupt value
//! (a torn page that redb's checksums missed, a file from a buggy build) is reported as
//! "corrupt value in table X" rather than crashing the daemon.

/// Appends `value` as an unsigned LEB128 varint (1 byte below 128, at most 10 bytes).
pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Maps a signed delta to an unsigned one so small magnitudes of either sign stay small.
pub(crate) fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// Inverse of [`zigzag`].
pub(crate) fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// A decoding failure: the value ended early or held something impossible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodeError(pub(crate) &'static str);

/// Reads the primitives of [`put_varint`] back from a byte slice, never past its end.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Starts reading at the first byte.
    pub(crate) fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, pos: 0 }
    }

    /// Whether every byte has been consumed.
    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    /// One raw byte.
    #[inline]
    pub(crate) fn byte(&mut self) -> Result<u8, DecodeError> {
        let byte = *self
            .bytes
            .get(self.pos)
            .ok_or(DecodeError("value ends early"))?;
        self.pos += 1;
        Ok(byte)
    }

    /// One LEB128 varint. Most values of a block are one byte: that case is one
    /// comparison.
    #[inline]
    pub(crate) fn varint(&mut self) -> Result<u64, DecodeError> {
        if let Some(&byte) = self.bytes.get(self.pos)
            && byte < 0x80
        {
            self.pos += 1;
            return Ok(u64::from(byte));
        }
        self.varint_long()
    }

    /// A varint of two or more bytes (or a truncated one).
    fn varint_long(&mut self) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let byte = self.byte()?;
            if shift == 63 && byte > 1 {
                return Err(DecodeError("varint overflows 64 bits"));
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError("varint longer than 10 bytes"))
    }

    /// A zigzag-encoded signed varint.
    #[inline]
    pub(crate) fn signed(&mut self) -> Result<i64, DecodeError> {
        Ok(unzigzag(self.varint()?))
    }

    /// A little-endian f64.
    pub(crate) fn f64(&mut self) -> Result<f64, DecodeError> {
        let end = self.pos + 8;
        let raw = self
            .bytes
            .get(self.pos..end)
            .ok_or(DecodeError("value ends early"))?;
        self.pos = end;
        Ok(f64::from_le_bytes(raw.try_into().expect("slice of 8")))
    }

    /// `len` raw bytes.
    pub(crate) fn take(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(len)
            .ok_or(DecodeError("length overflows"))?;
        let raw = self
            .bytes
            .get(self.pos..end)
            .ok_or(DecodeError("value ends early"))?;
        self.pos = end;
        Ok(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn varints_round_trip(value in any::<u64>(), signed in any::<i64>()) {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            put_varint(&mut out, zigzag(signed));
            let mut reader = Reader::new(&out);
            prop_assert_eq!(reader.varint().unwrap(), value);
            prop_assert_eq!(reader.signed().unwrap(), signed);
            prop_assert!(reader.is_empty());
        }
    }

    #[test]
    fn truncated_varint_is_an_error_not_a_panic() {
        let mut reader = Reader::new(&[0x80, 0x80]);
        assert_eq!(reader.varint(), Err(DecodeError("value ends early")));
        let mut reader = Reader::new(&[0xff; 11]);
        assert!(reader.varint().is_err());
    }

    #[test]
    fn small_deltas_take_one_byte() {
        let mut out = Vec::new();
        put_varint(&mut out, zigzag(-3));
        put_varint(&mut out, zigzag(63));
        assert_eq!(out.len(), 2);
    }
}
