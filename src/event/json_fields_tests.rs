//! Unit tests of `json_fields.rs`, kept in their own file beside it.
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
