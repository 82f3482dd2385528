//! The streaming JSON reader behind [`Decoder`](super::Decoder): one pass over a message's text
//! checks that it is a single JSON object within the nesting limit and picks out the fields the
//! decoder knows, skipping everything else.
//!
//! # Why not parse into `serde_json::Value`
//! A `Value` costs a `String` per key and per string plus a map per object, for fields that are then
//! mostly thrown away, millions of times. Instead the top-level object is streamed through a serde
//! visitor that keeps the known fields as borrowed slices (owned only when the JSON string had
//! escapes) and skips everything else without allocating. The outcome is the one of parsing into a
//! `Value` and reading it (a test in `decode` checks this against such a reference): the same parser
//! and number classification (`deserialize_any`, so `-0` and `1.0` are floats and strings are fully
//! validated, lone surrogates included), `null` reads as absent, a repeated key keeps its last value,
//! unknown fields must still be valid JSON. `segments` come out in the object's order, a repeated
//! key at its first position, as in the insertion-ordered map this crate's `serde_json` (built with
//! `preserve_order`) gives a `Value`. Their values are checked here, against the decoder's segment
//! rule, so that no map of them is ever built.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use compact_str::CompactString;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::error::Category;

use super::decode::MAX_SEGMENT_VALUE_BYTES;
use super::rejection::{Reason, Rejection};

/// Deepest nesting of arrays and objects accepted; the top-level object is level 1.
pub(super) const MAX_JSON_DEPTH: usize = 64;

/// Message of the parse error raised past [`MAX_JSON_DEPTH`]; recognised in [`json_rejection`].
const TOO_DEEP: &str = "json nesting deeper than 64 levels";

/// One known field as read from the JSON, before validation.
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) enum Raw<'de> {
    /// Not present, or `null`.
    #[default]
    Absent,
    /// An integer that fits `i64`.
    Int(i64),
    /// An integer above `i64::MAX` that fits `u64`.
    BigUint(u64),
    /// Any other number: it had a fraction or an exponent (`-0` too), or did not fit 64 bits.
    Float(f64),
    /// A string, borrowed from the input when it had no escapes.
    Str(Cow<'de, str>),
    /// A boolean, array or object.
    Other,
}

/// The `segments` field, checked and filtered while it is read.
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) enum Segments {
    #[default]
    Absent,
    /// Not an object, or some value is not a string of at most [`MAX_SEGMENT_VALUE_BYTES`].
    Invalid,
    /// The configured dimensions, in object order, empty values removed.
    Valid(Vec<(CompactString, CompactString)>),
}

/// The fields this version reads, as found in the object; any other key is skipped.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Fields<'de> {
    pub(super) ty: Raw<'de>,
    pub(super) customer_id: Raw<'de>,
    pub(super) ts: Raw<'de>,
    pub(super) event_id: Raw<'de>,
    pub(super) segments: Segments,
    pub(super) kind: Raw<'de>,
    pub(super) duration_seconds: Raw<'de>,
    pub(super) amount: Raw<'de>,
    pub(super) ticket_id: Raw<'de>,
    pub(super) survey: Raw<'de>,
    pub(super) score: Raw<'de>,
}

/// Reads one message's JSON text, which must be a single object nested at most [`MAX_JSON_DEPTH`]
/// levels deep; anything else is a `malformed_json` rejection. Only the `segments` keys listed in
/// `dimensions` are kept.
pub(super) fn parse<'de>(text: &'de str, dimensions: &[String]) -> Result<Fields<'de>, Rejection> {
    if let Some(fields) = super::plain_fields::parse_plain(text, dimensions) {
        return Ok(fields);
    }
    parse_with_serde(text, dimensions)
}

/// The general path: any JSON text, every rejection decided here.
pub(super) fn parse_with_serde<'de>(text: &'de str, dimensions: &[String]) -> Result<Fields<'de>, Rejection> {
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = de::Deserializer::deserialize_map(&mut de, TopVisitor { dimensions });
    parsed.and_then(|fields| de.end().map(|()| fields)).map_err(json_rejection)
}

fn json_rejection(error: serde_json::Error) -> Rejection {
    // serde_json's own messages may quote the input ("invalid type: string \"...\""): never use them.
    let detail = match error.classify() {
        Category::Data if error.to_string().starts_with(TOO_DEEP) => TOO_DEEP.to_string(),
        Category::Data => "payload must be a json object".to_string(),
        Category::Eof => "payload is not valid json (unexpected end of input)".to_string(),
        Category::Syntax | Category::Io => {
            format!("payload is not valid json (syntax error at line {} column {})", error.line(), error.column())
        }
    };
    Rejection::new(Reason::MalformedJson, detail)
}

fn too_deep<E: de::Error>() -> E {
    E::custom(TOO_DEEP)
}

/// The top-level object (level 1 of nesting).
struct TopVisitor<'a> {
    dimensions: &'a [String],
}

impl<'de> Visitor<'de> for TopVisitor<'_> {
    type Value = Fields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a json object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<'de>, A::Error> {
        let mut fields = Fields::default();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let slot = match key {
                Key::Type => &mut fields.ty,
                Key::CustomerId => &mut fields.customer_id,
                Key::Ts => &mut fields.ts,
                Key::EventId => &mut fields.event_id,
                Key::Kind => &mut fields.kind,
                Key::DurationSeconds => &mut fields.duration_seconds,
                Key::Amount => &mut fields.amount,
                Key::TicketId => &mut fields.ticket_id,
                Key::Survey => &mut fields.survey,
                Key::Score => &mut fields.score,
                Key::Segments => {
                    fields.segments = map.next_value_seed(SegmentsVisitor { dimensions: self.dimensions })?;
                    continue;
                }
                Key::Unknown => {
                    map.next_value_seed(Skip { depth: 2 })?;
                    continue;
                }
            };
            *slot = map.next_value_seed(RawVisitor { depth: 2 })?;
        }
        Ok(fields)
    }
}

/// The top-level keys this version reads; every other key is skipped.
enum Key {
    Type,
    CustomerId,
    Ts,
    EventId,
    Segments,
    Kind,
    DurationSeconds,
    Amount,
    TicketId,
    Survey,
    Score,
    Unknown,
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Key, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
        Ok(match key {
            "type" => Key::Type,
            "customer_id" => Key::CustomerId,
            "ts" => Key::Ts,
            "event_id" => Key::EventId,
            "segments" => Key::Segments,
            "kind" => Key::Kind,
            "duration_seconds" => Key::DurationSeconds,
            "amount" => Key::Amount,
            "ticket_id" => Key::TicketId,
            "survey" => Key::Survey,
            "score" => Key::Score,
            _ => Key::Unknown,
        })
    }
}

/// A string, borrowed from the input when it had no escapes.
struct CowStr;

impl<'de> DeserializeSeed<'de> for CowStr {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for CowStr {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(s))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(s.to_owned()))
    }
}

/// Reads any value as a [`Raw`]; `depth` is the nesting level the value has if it is a container.
struct RawVisitor {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for RawVisitor {
    type Value = Raw<'de>;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Raw<'de>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any json value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Raw<'de>, E> {
        Ok(Raw::Absent)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Raw<'de>, E> {
        Ok(Raw::Other)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Raw<'de>, E> {
        Ok(Raw::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Raw<'de>, E> {
        Ok(i64::try_from(v).map_or(Raw::BigUint(v), Raw::Int))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Raw<'de>, E> {
        Ok(Raw::Float(v))
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Raw<'de>, E> {
        Ok(Raw::Str(Cow::Borrowed(s)))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Raw<'de>, E> {
        Ok(Raw::Str(Cow::Owned(s.to_owned())))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Raw<'de>, A::Error> {
        skip_seq(seq, self.depth)?;
        Ok(Raw::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Raw<'de>, A::Error> {
        skip_map(map, self.depth)?;
        Ok(Raw::Other)
    }
}

/// Implements the non-null scalar `visit_*` methods of a visitor, all returning `$value`.
macro_rules! visit_scalars {
    ($value:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($value)
        }

        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($value)
        }

        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($value)
        }

        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($value)
        }

        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
}

/// Consumes any value without keeping it, enforcing [`MAX_JSON_DEPTH`].
struct Skip {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Skip {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        // `deserialize_any`, not `deserialize_ignored_any`: the latter does not validate `\u`
        // escapes, and a `Value` parse would refuse a lone surrogate anywhere in the message.
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any json value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    visit_scalars!(());

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        skip_seq(seq, self.depth)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        skip_map(map, self.depth)
    }
}

/// Skips the elements of an array found at nesting level `depth`.
fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A, depth: usize) -> Result<(), A::Error> {
    if depth > MAX_JSON_DEPTH {
        return Err(too_deep());
    }
    while seq.next_element_seed(Skip { depth: depth + 1 })?.is_some() {}
    Ok(())
}

/// Skips the entries of an object found at nesting level `depth`.
fn skip_map<'de, A: MapAccess<'de>>(mut map: A, depth: usize) -> Result<(), A::Error> {
    if depth > MAX_JSON_DEPTH {
        return Err(too_deep());
    }
    // Keys go through the string parser either way (serde_json's map keys forward to it).
    while map.next_key::<IgnoredAny>()?.is_some() {
        map.next_value_seed(Skip { depth: depth + 1 })?;
    }
    Ok(())
}

/// The `segments` value (nesting level 2).
struct SegmentsVisitor<'a> {
    dimensions: &'a [String],
}

impl<'de> DeserializeSeed<'de> for SegmentsVisitor<'_> {
    type Value = Segments;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Segments, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for SegmentsVisitor<'_> {
    type Value = Segments;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any json value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Segments, E> {
        Ok(Segments::Absent)
    }

    visit_scalars!(Segments::Invalid);

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Segments, A::Error> {
        skip_seq(seq, 2)?;
        Ok(Segments::Invalid)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Segments, A::Error> {
        let mut kept: Vec<(CompactString, CompactString)> = Vec::new();
        // Keys whose latest value is invalid. A repeated key keeps its last value (as a `Value`
        // map would), so a bad value is forgiven when the same key comes again with a good one.
        // Empty, hence allocation-free, on the usual path.
        let mut bad: HashSet<Cow<'de, str>> = HashSet::new();
        while let Some(key) = map.next_key_seed(CowStr)? {
            match map.next_value_seed(RawVisitor { depth: 3 })? {
                Raw::Str(value) if value.len() <= MAX_SEGMENT_VALUE_BYTES => {
                    if !bad.is_empty() {
                        bad.remove(key.as_ref());
                    }
                    if self.dimensions.iter().any(|d| d.as_str() == key.as_ref()) {
                        match kept.iter_mut().find(|(k, _)| k.as_str() == key.as_ref()) {
                            Some(slot) => slot.1 = CompactString::new(&value),
                            None => kept.push((CompactString::new(&key), CompactString::new(&value))),
                        }
                    }
                }
                _ => {
                    bad.insert(key);
                }
            }
        }
        if !bad.is_empty() {
            return Ok(Segments::Invalid);
        }
        kept.retain(|(_, value)| !value.is_empty());
        Ok(Segments::Valid(kept))
    }
}

#[cfg(test)]
#[path = "json_fields_tests.rs"]
mod tests;
