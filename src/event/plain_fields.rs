//! The fast path of [`json_fields::parse`](super::json_fields::parse) for the shape nearly every
//! event has: one flat object whose strings have no escapes, whose unknown fields are scalars, and
//! whose `segments` (if any) is a flat object of plain strings without repeated keys.
//!
//! # Why it gives the same outcome as the serde path
//! It answers only when it is sure and otherwise says "not plain" (`None`), and the caller then
//! runs the full serde path on the same text. It never rejects anything: every rejection, with its
//! reason and detail, still comes from the serde path. When it does answer, it builds the same
//! [`Fields`] the serde visitor builds for that text:
//! - strings are borrowed slices exactly as serde_json borrows them (no escape, no control
//!   character; the text is already valid UTF-8);
//! - integers are classified as serde_json does (`Int` when they fit `i64`, `BigUint` above that
//!   up to `u64::MAX`); anything else that serde_json reads as a float (`-0`, a fraction, an
//!   exponent, a longer integer) is handed to `serde_json` itself, token by token, so the value is
//!   bit-for-bit the one the serde path gets;
//! - `null` reads as absent, `true`/`false` as `Other`, a repeated known key keeps its last value;
//! - anything nested outside `segments`, any escape, a repeated segment key, a segment value that
//!   is not a string, or any syntax this scanner does not follow exactly returns `None`.
//!
//! `plain_fields_tests.rs` checks the outcome against the serde path on generated events.

use std::borrow::Cow;

use compact_str::CompactString;

use super::decode::MAX_SEGMENT_VALUE_BYTES;
use super::json_fields::{Fields, Raw, Segments};

/// The fields of `text` when it has the plain shape, else `None` (take the serde path).
pub(super) fn parse_plain<'de>(text: &'de str, dimensions: &[String]) -> Option<Fields<'de>> {
    let mut s = Scanner { text, bytes: text.as_bytes(), at: 0 };
    let mut fields = Fields::default();
    s.skip_ws();
    s.expect(b'{')?;
    s.skip_ws();
    if s.peek() == Some(b'}') {
        s.at += 1;
    } else {
        loop {
            let key = s.string()?;
            s.skip_ws();
            s.expect(b':')?;
            s.skip_ws();
            let slot = match key {
                "type" => &mut fields.ty,
                "customer_id" => &mut fields.customer_id,
                "ts" => &mut fields.ts,
                "event_id" => &mut fields.event_id,
                "kind" => &mut fields.kind,
                "duration_seconds" => &mut fields.duration_seconds,
                "amount" => &mut fields.amount,
                "ticket_id" => &mut fields.ticket_id,
                "survey" => &mut fields.survey,
                "score" => &mut fields.score,
                "segments" => {
                    fields.segments = s.segments(dimensions)?;
                    if !s.next_member()? {
                        break;
                    }
                    continue;
                }
                _ => {
                    s.scalar()?;
                    if !s.next_member()? {
                        break;
                    }
                    continue;
                }
            };
            *slot = s.scalar()?;
            if !s.next_member()? {
                break;
            }
        }
    }
    s.skip_ws();
    (s.at == s.bytes.len()).then_some(fields)
}

struct Scanner<'de> {
    text: &'de str,
    bytes: &'de [u8],
    at: usize,
}

impl<'de> Scanner<'de> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.peek() == Some(byte)).then(|| self.at += 1)
    }

    /// After a member: `,` then the next key's quote (true), or `}` (false).
    fn next_member(&mut self) -> Option<bool> {
        self.skip_ws();
        match self.peek()? {
            b',' => {
                self.at += 1;
                self.skip_ws();
                (self.peek() == Some(b'"')).then_some(true)
            }
            b'}' => {
                self.at += 1;
                Some(false)
            }
            _ => None,
        }
    }

    /// A string without escapes or control characters, borrowed.
    fn string(&mut self) -> Option<&'de str> {
        self.expect(b'"')?;
        let start = self.at;
        let len = special_at(&self.bytes[start..])?;
        if self.bytes[start + len] != b'"' {
            return None;
        }
        self.at = start + len + 1;
        // Both ends are ASCII quotes, so these are char boundaries.
        self.text.get(start..start + len)
    }

    /// A scalar value; `None` for containers and anything not plain.
    fn scalar(&mut self) -> Option<Raw<'de>> {
        match self.peek()? {
            b'"' => self.string().map(|s| Raw::Str(Cow::Borrowed(s))),
            b'n' => self.literal(b"null", Raw::Absent),
            b't' => self.literal(b"true", Raw::Other),
            b'f' => self.literal(b"false", Raw::Other),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8], value: Raw<'de>) -> Option<Raw<'de>> {
        let end = self.at + word.len();
        if self.bytes.get(self.at..end) != Some(word) {
            return None;
        }
        self.at = end;
        // `nullx` and the like are syntax errors: leave them to serde.
        self.delimited().then_some(value)
    }

    /// Whether the byte after a literal or number can end a value.
    fn delimited(&self) -> bool {
        matches!(self.peek(), None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
    }

    /// A JSON number: integers classified here, floats parsed by serde_json itself.
    fn number(&mut self) -> Option<Raw<'de>> {
        let start = self.at;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.at += 1;
        }
        let int_start = self.at;
        match self.peek()? {
            b'0' => self.at += 1,
            b'1'..=b'9' => {
                while matches!(self.peek(), Some(b'0'..=b'9')) {
                    self.at += 1;
                }
            }
            _ => return None,
        }
        let digits = &self.text[int_start..self.at];
        let mut float = false;
        if self.peek() == Some(b'.') {
            self.at += 1;
            float = true;
            self.digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            float = true;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            self.digits()?;
        }
        if !self.delimited() {
            return None;
        }
        let token = &self.text[start..self.at];
        if !float && digits.len() <= 19 && !(negative && digits == "0") {
            // At most 19 digits always fit u64; serde_json reads them as integers.
            let magnitude: u64 = digits.parse().ok()?;
            return Some(match (negative, i64::try_from(magnitude)) {
                (false, Ok(v)) => Raw::Int(v),
                (false, Err(_)) => Raw::BigUint(magnitude),
                (true, _) if magnitude <= i64::MAX as u64 + 1 => Raw::Int((magnitude as i128).wrapping_neg() as i64),
                (true, _) => serde_float(token)?,
            });
        }
        if !float && !negative && digits.len() == 20 {
            // 20 digits: an integer up to u64::MAX, else serde_json's float.
            return match digits.parse::<u64>() {
                Ok(v) => Some(Raw::BigUint(v)),
                Err(_) => serde_float(token),
            };
        }
        serde_float(token)
    }

    fn digits(&mut self) -> Option<()> {
        let start = self.at;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
        (self.at > start).then_some(())
    }

    /// `segments`: `null`, or a flat object of plain strings with distinct keys; the configured
    /// dimensions are kept in object order, empty values removed, as the serde path does.
    fn segments(&mut self, dimensions: &[String]) -> Option<Segments> {
        match self.peek()? {
            b'n' => return self.literal(b"null", Raw::Absent).map(|_| Segments::Absent),
            b'{' => self.at += 1,
            _ => return None,
        }
        let mut seen: smallvec::SmallVec<[&'de str; 8]> = smallvec::SmallVec::new();
        let mut kept: Vec<(CompactString, CompactString)> = Vec::new();
        let mut invalid = false;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Some(Segments::Valid(kept));
        }
        loop {
            let key = self.string()?;
            if seen.contains(&key) {
                return None; // repeated keys: the serde path holds the rule
            }
            seen.push(key);
            self.skip_ws();
            self.expect(b':')?;
            self.skip_ws();
            if self.peek()? != b'"' {
                // A plain scalar that is not a string (a container returns `None`): invalid.
                self.scalar()?;
                invalid = true;
            } else {
                let value = self.string()?;
                if value.len() > MAX_SEGMENT_VALUE_BYTES {
                    invalid = true;
                } else if !value.is_empty() && dimensions.iter().any(|d| d == key) {
                    kept.push((CompactString::new(key), CompactString::new(value)));
                }
            }
            if !self.next_member()? {
                break;
            }
        }
        Some(if invalid { Segments::Invalid } else { Segments::Valid(kept) })
    }
}

/// Offset of the first `"`, `\\` or control character in `bytes`: eight bytes at a time, as
/// serde_json's own string scanner does.
fn special_at(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let mut at = 0;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let word = u64::from_le_bytes(chunk.try_into().ok()?);
        let quote = word ^ (ONES * u64::from(b'"'));
        let slash = word ^ (ONES * u64::from(b'\\'));
        // A byte's high bit is set where it is zero (quote, slash) or below 0x20 (control); only
        // bytes above the first such byte can be flagged wrongly, and the lowest flag is taken.
        let found = (quote.wrapping_sub(ONES) & !quote
            | slash.wrapping_sub(ONES) & !slash
            | word.wrapping_sub(ONES * 0x20) & !word)
            & HIGH;
        if found != 0 {
            return Some(at + found.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    bytes[at..].iter().position(|b| matches!(b, b'"' | b'\\' | 0..=0x1f)).map(|p| at + p)
}

/// A number token as serde_json reads it inside an object (`deserialize_any`).
fn serde_float<'de>(token: &str) -> Option<Raw<'de>> {
    let mut de = serde_json::Deserializer::from_str(token);
    let value: serde_json::Number = serde::Deserialize::deserialize(&mut de).ok()?;
    de.end().ok()?;
    if let Some(v) = value.as_i64() {
        Some(Raw::Int(v))
    } else if let Some(v) = value.as_u64() {
        Some(Raw::BigUint(v))
    } else {
        value.as_f64().map(Raw::Float)
    }
}

#[cfg(test)]
#[path = "plain_fields_tests.rs"]
mod tests;
