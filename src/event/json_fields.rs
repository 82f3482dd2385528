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
mod tests {
    use super::*;

    fn dims() -> Vec<String> {
        vec!["plan".into(), "region".into()]
    }

    fn short(json: &str) -> String {
        json.chars().take(200).collect()
    }

    fn fields(json: &str) -> Fields<'_> {
        match parse(json, &dims()) {
            Ok(fields) => fields,
            Err(rejection) => panic!("{} rejected: {rejection}", short(json)),
        }
    }

    fn rejection(json: &str) -> Rejection {
        match parse(json, &dims()) {
            Ok(fields) => panic!("{} accepted: {fields:?}", short(json)),
            Err(rejection) => rejection,
        }
    }

    fn reason(json: &str) -> Reason {
        rejection(json).reason
    }

    /// A valid interaction with `extra` spliced in (later keys win).
    fn interaction(extra: &str) -> String {
        format!(r#"{{"type":"interaction","customer_id":"c1","ts":1,"kind":"login"{extra}}}"#)
    }

    fn segments(value: &str) -> Segments {
        fields(&interaction(&format!(r#","segments":{value}"#))).segments
    }

    fn valid(pairs: &[(&str, &str)]) -> Segments {
        Segments::Valid(pairs.iter().map(|&(k, v)| (k.into(), v.into())).collect())
    }

    fn text(s: &str) -> Raw<'_> {
        Raw::Str(Cow::Borrowed(s))
    }

    fn owned(raw: Raw<'_>) -> Raw<'static> {
        match raw {
            Raw::Absent => Raw::Absent,
            Raw::Int(i) => Raw::Int(i),
            Raw::BigUint(u) => Raw::BigUint(u),
            Raw::Float(x) => Raw::Float(x),
            Raw::Str(s) => Raw::Str(Cow::Owned(s.into_owned())),
            Raw::Other => Raw::Other,
        }
    }

    #[test]
    fn malformed_json() {
        for bad in [
            "",
            "   ",
            "{",
            "}",
            "[]",
            "[{}]",
            "\"x\"",
            "null",
            "42",
            "true",
            "{}x",
            "{} {}",
            r#"{"type":"interaction",}"#,
            r#"{"type" "interaction"}"#,
            r#"{'type':'interaction'}"#,
            r#"{"a":1e400}"#,
            r#"{"a":"\ud800"}"#,
            r#"{"\ud800":1}"#,
            r#"{"a":["\udc00"]}"#,
            "{\"a\":\"tab\there\"}",
            r#"{"a":NaN}"#,
            r#"{"a":01}"#,
        ] {
            assert_eq!(reason(bad), Reason::MalformedJson, "{bad:?}");
        }
        // A byte-order mark is not stripped.
        assert_eq!(reason(&format!("\u{feff}{}", interaction(""))), Reason::MalformedJson);
        // Surrounding JSON whitespace is fine.
        fields(&format!(" \t\r\n{}\r\n \t", interaction("")));
    }

    fn nested(depth: usize) -> String {
        // `depth` levels of arrays under the key `x`, so `depth + 1` levels in all.
        format!("{}{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn nesting_limit_is_64_levels() {
        // Top-level object = level 1; 63 levels of arrays under it = 64 levels.
        fields(&interaction(&format!(r#","x":{}"#, nested(63))));
        assert_eq!(reason(&interaction(&format!(r#","x":{}"#, nested(64)))), Reason::MalformedJson);
        // Objects count too, and known fields and segments are checked the same way.
        let objects = |n: usize| format!("{}1{}", r#"{"a":"#.repeat(n), "}".repeat(n));
        fields(&interaction(&format!(r#","x":{}"#, objects(63))));
        assert_eq!(reason(&interaction(&format!(r#","x":{}"#, objects(64)))), Reason::MalformedJson);
        assert_eq!(fields(&interaction(&format!(r#","kind":{}"#, nested(63)))).kind, Raw::Other);
        assert_eq!(reason(&interaction(&format!(r#","kind":{}"#, nested(64)))), Reason::MalformedJson);
        let in_segments = |n: usize| format!(r#"{{"plan":{}}}"#, nested(n));
        assert_eq!(segments(&in_segments(62)), Segments::Invalid);
        assert_eq!(reason(&interaction(&format!(r#","segments":{}"#, in_segments(63)))), Reason::MalformedJson);
        let detail = rejection(&interaction(&format!(r#","x":{}"#, nested(64)))).detail;
        assert_eq!(detail, TOO_DEEP);
        assert!(detail.contains("deeper than 64"), "{detail}");
    }

    #[test]
    fn huge_and_deep_input_never_overflows() {
        for depth in [65, 200, 1_000_000] {
            let json = format!(r#"{{"x":{}}}"#, nested(depth));
            assert_eq!(reason(&json), Reason::MalformedJson);
            let unclosed = format!(r#"{{"x":{}"#, "[".repeat(depth));
            assert_eq!(reason(&unclosed), Reason::MalformedJson);
            let objects = format!("{}{}", r#"{"a":"#.repeat(depth), "}".repeat(depth));
            assert_eq!(reason(&objects), Reason::MalformedJson);
        }
        // A large but flat object is fine, and so are many unknown fields and segments.
        let long = "y".repeat(60_000);
        fields(&interaction(&format!(r#","note":"{long}""#)));
        let many: String = (0..2000).map(|i| format!(r#","k{i}":[{i},"v",null,{{}}]"#)).collect();
        assert_eq!(fields(&interaction(&many)).kind, text("login"));
        let keys: String = (0..3000).map(|i| format!(r#""d{i}":"v","#)).collect();
        assert_eq!(segments(&format!(r#"{{{keys}"plan":"pro"}}"#)), valid(&[("plan", "pro")]));
        let bad_keys: String = (0..3000).map(|i| format!(r#""d{i}":{i},"#)).collect();
        assert_eq!(segments(&format!(r#"{{{bad_keys}"plan":"pro"}}"#)), Segments::Invalid);
    }

    #[test]
    fn numbers_strings_and_others() {
        let with = |v: &str| interaction(&format!(r#","ts":{v}"#));
        let ts = |v: &str| owned(fields(&with(v)).ts);
        assert_eq!(ts("0"), Raw::Int(0));
        assert_eq!(ts("-9223372036854775808"), Raw::Int(i64::MIN));
        assert_eq!(ts("9223372036854775807"), Raw::Int(i64::MAX));
        assert_eq!(ts("9223372036854775808"), Raw::BigUint(1 << 63));
        assert_eq!(ts("18446744073709551615"), Raw::BigUint(u64::MAX));
        assert_eq!(ts("18446744073709551616"), Raw::Float(18446744073709551616.0));
        assert_eq!(ts("1.0"), Raw::Float(1.0));
        assert_eq!(ts("1e3"), Raw::Float(1000.0));
        match ts("-0") {
            Raw::Float(x) => assert!(x == 0.0 && x.is_sign_negative()),
            other => panic!("{other:?}"),
        }
        for other in ["true", "false", "[]", "[1]", "{}", r#"{"a":"b"}"#] {
            assert_eq!(ts(other), Raw::Other, "{other}");
        }
        // Strings are borrowed from the input unless an escape had to be decoded.
        let plain = with(r#""abc""#);
        assert!(matches!(fields(&plain).ts, Raw::Str(Cow::Borrowed("abc"))));
        let escaped = with(r#""a\"b\u00e9""#);
        match fields(&escaped).ts {
            Raw::Str(Cow::Owned(s)) => assert_eq!(s, "a\"b\u{e9}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn repeated_keys_keep_the_last_value() {
        assert_eq!(fields(&interaction(r#","type":"survey""#)).ty, text("survey"));
        assert_eq!(fields(&interaction(r#","type":"bogus","type":"survey""#)).ty, text("survey"));
        assert_eq!(fields(&interaction(r#","ts":"x","ts":5"#)).ts, Raw::Int(5));
        assert_eq!(segments(r#"{"plan":"a","region":"eu","plan":"b"}"#), valid(&[("plan", "b"), ("region", "eu")]));
        assert_eq!(segments(r#"{"plan":"a","plan":""}"#), valid(&[]));
        assert_eq!(segments(r#"{"plan":5,"team":[],"plan":"pro","team":"x"}"#), valid(&[("plan", "pro")]));
        assert_eq!(segments(r#"{"plan":"pro","plan":5}"#), Segments::Invalid);
        // The whole `segments` value is replaced by a later one.
        assert_eq!(fields(&interaction(r#","segments":{"plan":"a"},"segments":3"#)).segments, Segments::Invalid);
        assert_eq!(
            fields(&interaction(r#","segments":3,"segments":{"region":"eu"}"#)).segments,
            valid(&[("region", "eu")])
        );
    }

    #[test]
    fn segments_are_checked_and_filtered() {
        assert_eq!(fields(&interaction("")).segments, Segments::Absent);
        assert_eq!(segments("{}"), valid(&[]));
        // Configured keys only, in the object's order, compared after unescaping; empty values
        // dropped; every value, kept or not, a string of at most 64 bytes.
        assert_eq!(
            segments(r#"{"team":"a","region":"eu","x":"","pl\u0061n":"pro","Plan":"p"}"#),
            valid(&[("region", "eu"), ("plan", "pro")])
        );
        let v64 = "v".repeat(64);
        assert_eq!(segments(&format!(r#"{{"plan":"{v64}"}}"#)), valid(&[("plan", v64.as_str())]));
        for bad in [
            format!(r#"{{"other":"{}"}}"#, "v".repeat(65)),
            r#"{"plan":null}"#.to_string(),
            r#"{"team":true,"plan":"pro"}"#.to_string(),
            r#""pro""#.to_string(),
            "[]".to_string(),
            "7".to_string(),
        ] {
            assert_eq!(segments(&bad), Segments::Invalid, "{bad}");
        }
    }

    #[test]
    fn nulls_read_as_absent() {
        let names = [
            "type",
            "customer_id",
            "ts",
            "event_id",
            "segments",
            "kind",
            "duration_seconds",
            "amount",
            "ticket_id",
            "survey",
            "score",
            "x",
        ];
        let set: String = names.iter().map(|n| format!(r#","{n}":1"#)).collect();
        let unset: String = names.iter().map(|n| format!(r#","{n}":null"#)).collect();
        assert_eq!(fields(&format!("{{{}}}", &(set + &unset)[1..])), Fields::default());
    }

    #[test]
    fn unknown_fields_are_skipped() {
        assert_eq!(
            fields(&interaction(
                r#","v":2,"meta":{"a":[1,2,{"b":null}],"c":"\u00e9\n"},"flag":true,"n":-1.5e-3,"Type":"survey","segments ":5"#,
            )),
            fields(&interaction(""))
        );
    }
}
