//! The customer id as decoded: its text, and its 16 bytes when it is a lowercase UUID.
//!
//! Why here and not where customers are stored: an id is parsed once, where its event is decoded,
//! which in a replay is the reading thread, not the applying one that bounds the run. The applying
//! thread then finds the customer by 16 bytes held in the event, without reading the id's text.
//! [`state::customer_id`](crate::state::customer_id) decides how the bytes are stored.

use compact_str::CompactString;

/// A customer id, with its [`uuid_bytes`] worked out once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerId(Repr);

/// Every lowercase UUID is `Uuid` (the constructor decides), so the derived equality is the
/// text's.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Repr {
    /// Its text is held inline: a 36-byte id would not fit a `CompactString`'s 24 inline bytes, and
    /// a heap copy per event costs the reading thread an allocation and a free, and the applying
    /// one a cache miss wherever it reads the text. Only ever written from the bytes of a `&str`
    /// (in [`CustomerId::new`]), so it is always valid UTF-8.
    Uuid {
        bytes: [u8; 16],
        text: [u8; 36],
    },
    Other(CompactString),
}

impl CustomerId {
    pub fn new(text: &str) -> Self {
        match (uuid_bytes(text), <[u8; 36]>::try_from(text.as_bytes())) {
            (Some(bytes), Ok(text)) => CustomerId(Repr::Uuid { bytes, text }),
            _ => CustomerId(Repr::Other(CompactString::new(text))),
        }
    }

    pub fn as_str(&self) -> &str {
        match &self.0 {
            // SAFETY: `text` is private and only ever copied whole from a `&str` (`new`), so it is
            // valid UTF-8. Checking it again on every read cost the applying thread a UTF-8 scan
            // wherever an event's id is read (ticket keys, the inactivity index).
            Repr::Uuid { text, .. } => unsafe { std::str::from_utf8_unchecked(text) },
            Repr::Other(text) => text,
        }
    }

    /// The 16 bytes of the id when it is a lowercase UUID ([`uuid_bytes`]).
    pub fn uuid(&self) -> Option<&[u8; 16]> {
        match &self.0 {
            Repr::Uuid { bytes, .. } => Some(bytes),
            Repr::Other(_) => None,
        }
    }
}

impl std::ops::Deref for CustomerId {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for CustomerId {
    fn from(text: &str) -> Self {
        CustomerId::new(text)
    }
}

impl From<String> for CustomerId {
    fn from(text: String) -> Self {
        CustomerId::new(&text)
    }
}

impl PartialEq<&str> for CustomerId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

const DASHES: [usize; 4] = [8, 13, 18, 23];

/// Where the 32 hex digits of a UUID lie.
const DIGITS: [usize; 32] = {
    let mut at = [0; 32];
    let (mut i, mut p) = (0, 0);
    while i < 32 {
        let mut d = 0;
        while d < DASHES.len() {
            if p == DASHES[d] {
                p += 1;
            }
            d += 1;
        }
        at[i] = p;
        i += 1;
        p += 1;
    }
    at
};

/// The value of each lowercase hex digit; 0xff for every other byte.
const HEX_VALUES: [u8; 256] = {
    let mut values = [0xff; 256];
    let mut c = 0;
    while c < 16 {
        values[b"0123456789abcdef"[c] as usize] = c as u8;
        c += 1;
    }
    values
};

/// The 16 bytes of an id that is 36 bytes of lowercase hex digits in the 8-4-4-4-12 shape, or
/// None. Those ids and their bytes map one to one: [`uuid_text`] writes back the same string.
/// A table and no branch per digit: it runs once per event.
pub fn uuid_bytes(id: &str) -> Option<[u8; 16]> {
    let s: &[u8; 36] = id.as_bytes().try_into().ok()?;
    if DASHES.iter().any(|&d| s[d] != b'-') {
        return None;
    }
    let mut out = [0u8; 16];
    let mut invalid = 0;
    for (i, byte) in out.iter_mut().enumerate() {
        let hi = HEX_VALUES[usize::from(s[DIGITS[2 * i]])];
        let lo = HEX_VALUES[usize::from(s[DIGITS[2 * i + 1]])];
        invalid |= hi | lo;
        *byte = hi << 4 | lo;
    }
    (invalid & 0xf0 == 0).then_some(out)
}

/// The text of a UUID's 16 bytes, the inverse of [`uuid_bytes`].
pub fn uuid_text(bytes: &[u8; 16]) -> [u8; 36] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'-'; 36];
    for (i, byte) in bytes.iter().enumerate() {
        out[DIGITS[2 * i]] = HEX[usize::from(byte >> 4)];
        out[DIGITS[2 * i + 1]] = HEX[usize::from(byte & 15)];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every lowercase UUID renders back exactly; changing any one byte to anything but a
    /// lowercase hex digit where a digit was (or anything but a dash where a dash was) makes it
    /// not a UUID.
    #[test]
    fn every_digit_and_dash_is_checked() {
        let id = "0123abcd-4567-89ef-fedc-ba9876543210";
        let bytes = uuid_bytes(id).unwrap();
        assert_eq!(&uuid_text(&bytes), id.as_bytes());
        for at in 0..36 {
            for c in (0u8..=127).filter(|c| !(c.is_ascii_digit() || (b'a'..=b'f').contains(c))) {
                let mut changed = id.as_bytes().to_vec();
                changed[at] = c;
                let changed = String::from_utf8(changed).unwrap();
                assert_eq!(uuid_bytes(&changed).is_some(), DASHES.contains(&at) && c == b'-', "{changed}");
            }
        }
    }

    #[test]
    fn the_bytes_are_worked_out_with_the_id() {
        let uuid = CustomerId::from("5f0c6a7e-1b2d-4c3e-8f9a-0b1c2d3e4f50");
        assert_eq!(uuid.uuid().map(uuid_text), Some(*b"5f0c6a7e-1b2d-4c3e-8f9a-0b1c2d3e4f50"));
        assert_eq!(CustomerId::from("5F0C6A7E-1B2D-4C3E-8F9A-0B1C2D3E4F50").uuid(), None);
        assert_eq!(CustomerId::from("c-1").uuid(), None);
        assert_eq!(CustomerId::from("c-1"), "c-1");
        let long = "x".repeat(36);
        assert_eq!(
            (CustomerId::from(long.as_str()).as_str(), CustomerId::from(long.as_str()).uuid()),
            (long.as_str(), None)
        );
        assert_eq!(uuid.as_str(), "5f0c6a7e-1b2d-4c3e-8f9a-0b1c2d3e4f50");
        assert_eq!(uuid, CustomerId::from(String::from("5f0c6a7e-1b2d-4c3e-8f9a-0b1c2d3e4f50")));
    }
}
