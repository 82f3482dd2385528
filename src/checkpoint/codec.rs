//! The byte-level primitives of the checkpoint format: LEB128 varints, zigzag for signed values,
//! little-endian floats and length-prefixed UTF-8 strings.
//!
//! The reader never trusts a length: every count is checked against the bytes that remain, so a
//! hostile or truncated record gives a typed [`DecodeError`], never a panic or a huge allocation.

use thiserror::Error;

/// Why a checkpoint record could not be read. The changelog reader adds the partition and offset.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("record ends early (truncated at byte {at})")]
    Truncated { at: usize },
    #[error("varint longer than 10 bytes at byte {at}")]
    VarintTooLong { at: usize },
    #[error("a length of {len} at byte {at} exceeds the {left} bytes left")]
    LengthTooLarge { len: u64, at: usize, left: usize },
    #[error("string at byte {at} is not UTF-8")]
    NotUtf8 { at: usize },
    #[error("not a cxpulse checkpoint record (bad magic)")]
    BadMagic,
    #[error("checkpoint format version {found} is newer than this build reads (up to {supported})")]
    UnsupportedVersion { found: u8, supported: u8 },
    #[error("unexpected record type {found} (wanted {wanted})")]
    WrongRecordType { found: u8, wanted: u8 },
    #[error("invalid value: {what}")]
    Invalid { what: &'static str },
    #[error("{left} unread bytes after the record")]
    TrailingBytes { left: usize },
}

/// Appends encoded values to a byte buffer.
#[derive(Debug, Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    pub fn zigzag(&mut self, v: i64) {
        self.varint(((v << 1) ^ (v >> 63)) as u64);
    }

    pub fn f64(&mut self, v: f64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub fn u64_fixed(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub fn bytes(&mut self, b: &[u8]) {
        self.varint(b.len() as u64);
        self.buf.extend_from_slice(b);
    }

    pub fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// Reads encoded values from a byte slice.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, at: 0 }
    }

    pub fn left(&self) -> usize {
        self.buf.len() - self.at
    }

    pub fn is_done(&self) -> bool {
        self.left() == 0
    }

    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.left() {
            0 => Ok(()),
            left => Err(DecodeError::TrailingBytes { left }),
        }
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        let b = *self.buf.get(self.at).ok_or(DecodeError::Truncated { at: self.at })?;
        self.at += 1;
        Ok(b)
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.left() {
            return Err(DecodeError::Truncated { at: self.at });
        }
        let out = &self.buf[self.at..self.at + n];
        self.at += n;
        Ok(out)
    }

    pub fn varint(&mut self) -> Result<u64, DecodeError> {
        let start = self.at;
        let mut v: u64 = 0;
        for shift in (0..70).step_by(7) {
            let b = self.u8()?;
            if shift == 63 && b > 1 {
                return Err(DecodeError::VarintTooLong { at: start });
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError::VarintTooLong { at: start })
    }

    pub fn zigzag(&mut self) -> Result<i64, DecodeError> {
        let v = self.varint()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    pub fn f64(&mut self) -> Result<f64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_le_bytes(a))
    }

    pub fn u64_fixed(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// A count of items that each take at least `min_item_bytes`: refused when the rest of the
    /// record could not hold that many, so no allocation is ever sized by a hostile number.
    pub fn count(&mut self, min_item_bytes: usize) -> Result<usize, DecodeError> {
        let at = self.at;
        let len = self.varint()?;
        let left = self.left();
        if len.saturating_mul(min_item_bytes.max(1) as u64) > left as u64 {
            return Err(DecodeError::LengthTooLarge { len, at, left });
        }
        Ok(len as usize)
    }

    pub fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.count(1)?;
        self.take(n)
    }

    pub fn str(&mut self) -> Result<&'a str, DecodeError> {
        let at = self.at;
        std::str::from_utf8(self.bytes()?).map_err(|_| DecodeError::NotUtf8 { at })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_hostile_lengths() {
        let mut w = Writer::default();
        for v in [0i64, -1, 1, i64::MIN, i64::MAX, 1_767_225_600_000] {
            w.zigzag(v);
        }
        w.varint(u64::MAX);
        w.str("héllo");
        w.f64(-2.5);
        let mut r = Reader::new(&w.buf);
        for v in [0i64, -1, 1, i64::MIN, i64::MAX, 1_767_225_600_000] {
            assert_eq!(r.zigzag().unwrap(), v);
        }
        assert_eq!(r.varint().unwrap(), u64::MAX);
        assert_eq!(r.str().unwrap(), "héllo");
        assert_eq!(r.f64().unwrap(), -2.5);
        r.finish().unwrap();
        // A length far beyond the input is refused before anything is allocated.
        let mut w = Writer::default();
        w.varint(1 << 40);
        assert!(matches!(Reader::new(&w.buf).bytes(), Err(DecodeError::LengthTooLarge { .. })));
        assert!(matches!(Reader::new(&[0xff; 11]).varint(), Err(DecodeError::VarintTooLong { .. })));
        assert!(matches!(Reader::new(&[0x80]).varint(), Err(DecodeError::Truncated { .. })));
    }
}
