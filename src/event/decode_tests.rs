//! Unit tests of `decode.rs`, kept in their own file beside it.
use super::*;
use crate::event::json_fields::MAX_JSON_DEPTH;
use crate::event::model::InteractionKind;
use proptest::prelude::*;
use serde_json::Value;

const NOW: Millis = 1_793_534_400_000; // 2026-11-01T12:00:00Z
const SKEW: u64 = 300_000;

fn decoder() -> Decoder {
    Decoder::new(65_536, vec!["plan".into(), "region".into()], SKEW)
}

fn ok(json: &str) -> Event {
    match decoder().decode(json.as_bytes(), None) {
        Ok(event) => event,
        Err(rejection) => panic!("{} rejected: {rejection}", short(json)),
    }
}

fn short(json: &str) -> String {
    json.chars().take(200).collect()
}

fn rejection(json: &str) -> Rejection {
    match decoder().decode(json.as_bytes(), None) {
        Ok(event) => panic!("{} accepted: {event:?}", short(json)),
        Err(rejection) => rejection,
    }
}

fn reason(json: &str) -> Reason {
    rejection(json).reason
}

/// A valid interaction with `extra` spliced in (later keys win).
fn interaction(extra: &str) -> String {
    format!(r#"{{"type":"interaction","customer_id":"c1","ts":{NOW},"kind":"login"{extra}}}"#)
}

fn survey(extra: &str) -> String {
    format!(r#"{{"type":"survey","customer_id":"c1","ts":{NOW},"survey":"nps","score":9{extra}}}"#)
}

fn segs(event: &Event) -> Vec<(&str, &str)> {
    event.segments.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[test]
fn decodes_a_full_interaction() {
    let event = ok(r#"{"type":"interaction","customer_id":"c-42","ts":"2026-11-01T12:00:00Z",
        "event_id":"e-1","segments":{"region":"eu","plan":"pro","team":"x"},
        "kind":"purchase","amount":19.5,"currency":"EUR"}"#);
    assert_eq!(
        event,
        Event {
            customer_id: "c-42".into(),
            ts: NOW,
            event_id: Some("e-1".into()),
            segments: vec![("region".into(), "eu".into()), ("plan".into(), "pro".into())],
            payload: Payload::Interaction(Interaction::Purchase { amount: 19.5 }),
        }
    );
}

#[test]
fn every_reason_code() {
    let small = Decoder::new(8, vec![], SKEW);
    assert_eq!(small.decode(b"123456789", None).unwrap_err().reason, Reason::TooLarge);
    assert_eq!(decoder().decode(b"{\"type\":\"\xff\"}", None).unwrap_err().reason, Reason::NotUtf8);
    assert_eq!(reason("{"), Reason::MalformedJson);
    assert_eq!(reason(r#"{"customer_id":"c1"}"#), Reason::MissingField);
    assert_eq!(reason(&interaction(r#","customer_id":7"#)), Reason::InvalidField);
    assert_eq!(reason(&interaction(r#","type":"purchase""#)), Reason::UnknownType);
    assert_eq!(reason(&survey(r#","score":11"#)), Reason::OutOfRange);
    let future = interaction(&format!(r#","ts":{}"#, NOW + SKEW as i64 + 1));
    assert_eq!(decoder().decode(future.as_bytes(), Some(NOW)).unwrap_err().reason, Reason::FutureTimestamp);
    for reason in Reason::ALL {
        assert!(!reason.code().is_empty());
    }
}

#[test]
fn size_is_checked_first_and_inclusive() {
    let json = interaction("");
    let exact = Decoder::new(json.len(), vec![], SKEW);
    assert!(exact.decode(json.as_bytes(), None).is_ok());
    let under = Decoder::new(json.len() - 1, vec![], SKEW);
    let r = under.decode(json.as_bytes(), None).unwrap_err();
    assert_eq!(r.reason, Reason::TooLarge);
    // Before the UTF-8 check.
    assert_eq!(under.decode(&vec![0xff; json.len()], None).unwrap_err().reason, Reason::TooLarge);
    let huge = vec![b' '; 65_537];
    assert_eq!(decoder().decode(&huge, None).unwrap_err().reason, Reason::TooLarge);
}

#[test]
fn malformed_json_beats_field_errors() {
    // A field error early in the object does not hide a syntax error later on.
    assert_eq!(reason(r#"{"type":5,"customer_id":"#), Reason::MalformedJson);
    assert_eq!(reason(r#"{"type":"nope"} trailing"#), Reason::MalformedJson);
}

#[test]
fn type_field() {
    assert_eq!(reason(&interaction(r#","type":null"#)), Reason::MissingField);
    assert_eq!(reason(&interaction(r#","type":1"#)), Reason::InvalidField);
    assert_eq!(reason(&interaction(r#","type":["interaction"]"#)), Reason::InvalidField);
    assert_eq!(reason(&interaction(r#","type":"Interaction""#)), Reason::UnknownType);
    assert_eq!(reason(&interaction(r#","type":"""#)), Reason::UnknownType);
    // Escapes are decoded before comparing.
    ok(&interaction(r#","type":"inter\u0061ction""#));
    assert!(rejection(&interaction(r#","type":"x""#)).detail.contains("`type`"));
}

#[test]
fn customer_id_field() {
    let strip = r#"{"type":"interaction","ts":1,"kind":"login"}"#;
    assert_eq!(reason(strip), Reason::MissingField);
    assert_eq!(reason(&interaction(r#","customer_id":null"#)), Reason::MissingField);
    assert_eq!(reason(&interaction(r#","customer_id":"""#)), Reason::InvalidField);
    assert_eq!(reason(&interaction(r#","customer_id":12"#)), Reason::InvalidField);
    assert_eq!(reason(&interaction(r#","customer_id":{"id":"c"}"#)), Reason::InvalidField);
    let max = "c".repeat(128);
    assert_eq!(ok(&interaction(&format!(r#","customer_id":"{max}""#))).customer_id, max.as_str());
    let over = "c".repeat(129);
    assert_eq!(reason(&interaction(&format!(r#","customer_id":"{over}""#))), Reason::InvalidField);
    // 64 two-byte characters = 128 bytes; 65 = 130 bytes.
    ok(&interaction(&format!(r#","customer_id":"{}""#, "\u{e9}".repeat(64))));
    let wide = format!(r#","customer_id":"{}""#, "\u{e9}".repeat(65));
    assert_eq!(reason(&interaction(&wide)), Reason::InvalidField);
    assert_eq!(ok(&interaction(r#","customer_id":"a\"b\\c""#)).customer_id, "a\"b\\c");
}

#[test]
fn timestamps() {
    let ts = |v: &str| ok(&interaction(&format!(r#","ts":{v}"#))).ts;
    assert_eq!(ts("1793534400000"), NOW);
    assert_eq!(ts("0"), 0);
    assert_eq!(ts("-1000"), -1000);
    // RFC 3339's range, 0000-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z, both ends included.
    assert_eq!(ts(r#""0000-01-01T00:00:00Z""#), MIN_TS_MS);
    assert_eq!(ts(r#""9999-12-31T23:59:59.999999999Z""#), MAX_TS_MS);
    assert_eq!(ts(&MIN_TS_MS.to_string()), MIN_TS_MS);
    assert_eq!(ts(&MAX_TS_MS.to_string()), MAX_TS_MS);
    assert_eq!(ts(r#""2026-11-01T12:00:00Z""#), NOW);
    assert_eq!(ts(r#""2026-11-01T21:00:00+09:00""#), NOW);
    assert_eq!(ts(r#""2026-11-01T07:30:00-04:30""#), NOW);
    assert_eq!(ts(r#""2026-11-01T12:00:00.250Z""#), NOW + 250);
    assert_eq!(ts(r#""2026-11-01T21:00:00.25+09:00""#), NOW + 250);
    assert_eq!(ts(r#""2026-11-01T21:00:00.123456789+09:00""#), NOW + 123);
    let bad = |v: &str| reason(&interaction(&format!(r#","ts":{v}"#)));
    assert_eq!(bad("null"), Reason::MissingField);
    for v in [
        "1.7e12",
        "1793534400000.0",
        "1e3",
        "-0",
        "9223372036854775808",
        "18446744073709551616",
        "true",
        "[1]",
        "{}",
        r#""""#,
        r#""1793534400000""#,
        r#""2026-11-01T12:00:00""#,
        r#""2026-11-01""#,
        r#""2026-13-01T12:00:00Z""#,
        r#""yesterday""#,
    ] {
        assert_eq!(bad(v), Reason::InvalidField, "{v}");
    }
    // One past either end of the range, as epoch milliseconds or through an offset, and far past.
    for v in [
        (MIN_TS_MS - 1).to_string(),
        (MAX_TS_MS + 1).to_string(),
        i64::MIN.to_string(),
        i64::MAX.to_string(),
        r#""0000-01-01T00:00:00+00:01""#.to_string(),
        r#""9999-12-31T23:59:59.999-00:01""#.to_string(),
    ] {
        let r = rejection(&interaction(&format!(r#","ts":{v}"#)));
        assert_eq!(r.reason, Reason::InvalidField, "{v}");
        assert_eq!(r.detail, "field `ts` must be an rfc 3339 timestamp with offset or integer epoch milliseconds");
    }
    let missing = r#"{"type":"interaction","customer_id":"c1","kind":"login"}"#;
    assert_eq!(reason(missing), Reason::MissingField);
    assert!(rejection(missing).detail.contains("`ts`"));
}

#[test]
fn event_id_field() {
    assert_eq!(ok(&interaction("")).event_id, None);
    assert_eq!(ok(&interaction(r#","event_id":null"#)).event_id, None);
    assert_eq!(ok(&interaction(r#","event_id":"""#)).event_id, None);
    assert_eq!(ok(&interaction(r#","event_id":"e1""#)).event_id.as_deref(), Some("e1"));
    ok(&interaction(&format!(r#","event_id":"{}""#, "e".repeat(128))));
    let over = format!(r#","event_id":"{}""#, "e".repeat(129));
    assert_eq!(reason(&interaction(&over)), Reason::InvalidField);
    assert_eq!(reason(&interaction(r#","event_id":17"#)), Reason::InvalidField);
    assert_eq!(reason(&interaction(r#","event_id":false"#)), Reason::InvalidField);
}

#[test]
fn segments_filtering() {
    let with = |s: &str| interaction(&format!(r#","segments":{s}"#));
    assert!(ok(&interaction("")).segments.is_empty());
    assert!(ok(&with("null")).segments.is_empty());
    assert!(ok(&with("{}")).segments.is_empty());
    // Configured keys only, in the object's order; empty values skipped.
    let event = ok(&with(r#"{"team":"a","region":"eu","x":"","plan":"pro"}"#));
    assert_eq!(segs(&event), [("region", "eu"), ("plan", "pro")]);
    let event = ok(&with(r#"{"plan":"","region":"us"}"#));
    assert_eq!(segs(&event), [("region", "us")]);
    // Keys are compared after unescaping, and case matters.
    let event = ok(&with(r#"{"pl\u0061n":"pro","Region":"eu"}"#));
    assert_eq!(segs(&event), [("plan", "pro")]);
    // Values up to 64 bytes, for every key, configured or not.
    let v64 = "v".repeat(64);
    assert_eq!(segs(&ok(&with(&format!(r#"{{"plan":"{v64}"}}"#)))), [("plan", v64.as_str())]);
    let v65 = "v".repeat(65);
    assert_eq!(reason(&with(&format!(r#"{{"plan":"{v65}"}}"#))), Reason::InvalidField);
    assert_eq!(reason(&with(&format!(r#"{{"other":"{v65}"}}"#))), Reason::InvalidField);
    for bad in [
        r#"{"plan":1}"#,
        r#"{"team":1}"#,
        r#"{"plan":null}"#,
        r#"{"plan":["pro"]}"#,
        r#"{"plan":{"a":"b"}}"#,
        r#"{"team":true,"plan":"pro"}"#,
        r#""pro""#,
        "[]",
        r#"[["plan","pro"]]"#,
        "7",
        "false",
    ] {
        let r = rejection(&with(bad));
        assert_eq!(r.reason, Reason::InvalidField, "{bad}");
        assert!(r.detail.contains("`segments`"), "{}", r.detail);
    }
    // With no configured dimension nothing is kept, but values are still checked.
    let none = Decoder::new(65_536, vec![], SKEW);
    let e = none.decode(with(r#"{"plan":"pro"}"#).as_bytes(), None).unwrap();
    assert!(e.segments.is_empty());
    assert!(none.decode(with(r#"{"plan":5}"#).as_bytes(), None).is_err());
}

#[test]
fn interaction_kinds() {
    let kind = |extra: &str| match ok(&interaction(extra)).payload {
        Payload::Interaction(i) => i,
        other => panic!("{other:?}"),
    };
    assert_eq!(kind(""), Interaction::Login);
    assert_eq!(kind(r#","kind":"page_view""#), Interaction::PageView);
    assert_eq!(kind(r#","kind":"cancellation""#), Interaction::Cancellation);
    assert_eq!(kind(r#","kind":"session","duration_seconds":125.5"#), Interaction::Session { duration_seconds: 125.5 });
    assert_eq!(kind(r#","kind":"session","duration_seconds":0"#), Interaction::Session { duration_seconds: 0.0 });
    assert_eq!(kind(r#","kind":"purchase","amount":20"#), Interaction::Purchase { amount: 20.0 });
    assert_eq!(kind(r#","kind":"purchase","amount":1e2"#), Interaction::Purchase { amount: 100.0 });
    match kind(r#","kind":"purchase","amount":-0.0"#) {
        Interaction::Purchase { amount } => assert!(amount == 0.0 && amount.is_sign_positive()),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        kind(r#","kind":"purchase","amount":18446744073709551615"#),
        Interaction::Purchase { amount: 18446744073709551615.0 }
    );
    assert_eq!(
        kind(r#","kind":"support_opened","ticket_id":"t1""#),
        Interaction::SupportOpened { ticket_id: "t1".into() }
    );
    assert_eq!(
        kind(r#","kind":"support_first_response","ticket_id":"t1""#),
        Interaction::SupportFirstResponse { ticket_id: "t1".into() }
    );
    assert_eq!(
        kind(r#","kind":"support_resolved","ticket_id":"t1""#),
        Interaction::SupportResolved { ticket_id: "t1".into() }
    );
    // Unknown kinds are `other`, whatever else they carry.
    for other in ["wishlist_add", "", "Login", "session ", "purchase\u{0}"] {
        let extra = format!(r#","kind":{}"#, serde_json::to_string(other).unwrap());
        assert_eq!(kind(&extra), Interaction::Other, "{other:?}");
    }
    assert_eq!(kind(r#","kind":"refund","amount":-5"#).kind(), InteractionKind::Other);
    // A kind without extra fields ignores them even when they are bad.
    assert_eq!(kind(r#","amount":-1,"ticket_id":5,"duration_seconds":"x""#), Interaction::Login);
}

#[test]
fn interaction_field_errors() {
    let r = |extra: &str| reason(&interaction(extra));
    assert_eq!(r(r#","kind":5"#), Reason::InvalidField);
    assert_eq!(r(r#","kind":{"name":"login"}"#), Reason::InvalidField);
    let no_kind = r#"{"type":"interaction","customer_id":"c1","ts":1}"#;
    assert_eq!(reason(no_kind), Reason::MissingField);
    assert!(rejection(no_kind).detail.contains("`kind`"));
    for field in ["duration_seconds", "amount"] {
        let kind = if field == "amount" { "purchase" } else { "session" };
        let missing = rejection(&interaction(&format!(r#","kind":"{kind}""#)));
        assert_eq!(missing.reason, Reason::MissingField);
        assert!(missing.detail.contains(field), "{}", missing.detail);
        for bad in ["-1", "-0.001", "-1e-300", "\"5\"", "true", "[1]", "{}", "-9223372036854775808"] {
            let r = rejection(&interaction(&format!(r#","kind":"{kind}","{field}":{bad}"#)));
            assert_eq!(r.reason, Reason::InvalidField, "{field} {bad}");
            assert_eq!(r.detail, format!("field `{field}` must be a finite number >= 0"));
        }
    }
    for kind in ["support_opened", "support_first_response", "support_resolved"] {
        let with = |t: &str| reason(&interaction(&format!(r#","kind":"{kind}"{t}"#)));
        assert_eq!(with(""), Reason::MissingField);
        assert_eq!(with(r#","ticket_id":"""#), Reason::InvalidField);
        assert_eq!(with(r#","ticket_id":42"#), Reason::InvalidField);
        assert_eq!(with(&format!(r#","ticket_id":"{}""#, "t".repeat(129))), Reason::InvalidField);
        ok(&interaction(&format!(r#","kind":"{kind}","ticket_id":"{}""#, "t".repeat(128))));
    }
}

#[test]
fn surveys() {
    let response = |extra: &str| match ok(&survey(extra)).payload {
        Payload::Survey(s) => (s.survey, s.score),
        other => panic!("{other:?}"),
    };
    assert_eq!(response(""), (Survey::Nps, 9));
    for (name, survey, (low, high)) in
        [("nps", Survey::Nps, (0, 10)), ("csat", Survey::Csat, (1, 5)), ("ces", Survey::Ces, (1, 7))]
    {
        for score in low..=high {
            assert_eq!(response(&format!(r#","survey":"{name}","score":{score}"#)), (survey, score as u8));
        }
        for score in [low - 1, high + 1, -100, 1000, i64::MIN, i64::MAX] {
            let r = rejection(&self::survey(&format!(r#","survey":"{name}","score":{score}"#)));
            assert_eq!(r.reason, Reason::OutOfRange, "{name} {score}");
            assert_eq!(r.detail, format!("field `score` must be between {low} and {high} for survey `{name}`"));
        }
    }
    let r = |extra: &str| reason(&survey(extra));
    assert_eq!(r(r#","score":18446744073709551615"#), Reason::OutOfRange);
    for bad in ["9.0", "9.5", "9e0", "-0", "\"9\"", "true", "[9]", "1e400x"] {
        let expected = if bad == "1e400x" { Reason::MalformedJson } else { Reason::InvalidField };
        assert_eq!(r(&format!(r#","score":{bad}"#)), expected, "{bad}");
    }
    for bad in ["\"NPS\"", "\"csat \"", "\"\"", "3", "[\"nps\"]"] {
        assert_eq!(r(&format!(r#","survey":{bad}"#)), Reason::InvalidField, "{bad}");
    }
    let no_survey = r#"{"type":"survey","customer_id":"c1","ts":1,"score":3}"#;
    assert_eq!(reason(no_survey), Reason::MissingField);
    let no_score = r#"{"type":"survey","customer_id":"c1","ts":1,"survey":"csat"}"#;
    assert_eq!(reason(no_score), Reason::MissingField);
    // Interaction fields on a survey are ignored, and the other way round.
    assert_eq!(response(r#","kind":5,"amount":-1"#), (Survey::Nps, 9));
    assert_eq!(ok(&interaction(r#","score":99,"survey":"x""#)).payload, Payload::Interaction(Interaction::Login));
}

#[test]
fn check_order_decides_the_reason() {
    // type before customer_id before ts before event_id before segments before kind fields.
    assert_eq!(reason(r#"{"type":"x"}"#), Reason::UnknownType);
    assert_eq!(reason(r#"{"customer_id":5,"ts":"bad"}"#), Reason::MissingField);
    assert_eq!(reason(r#"{"type":"survey","ts":"bad","score":99}"#), Reason::MissingField);
    let r = rejection(r#"{"type":"survey","customer_id":"c","ts":"bad","event_id":5,"score":99}"#);
    assert_eq!((r.reason, r.detail.contains("`ts`")), (Reason::InvalidField, true));
    let r = rejection(&interaction(r#","event_id":5,"segments":5,"kind":7"#));
    assert!(r.detail.contains("`event_id`"), "{}", r.detail);
    let r = rejection(&interaction(r#","segments":5,"kind":7"#));
    assert!(r.detail.contains("`segments`"), "{}", r.detail);
    let r = rejection(&survey(r#","segments":{"plan":"pro"},"survey":"ces","score":0"#));
    assert_eq!(r.reason, Reason::OutOfRange);
    let r = rejection(&survey(r#","survey":"x","score":"y""#));
    assert!(r.detail.contains("`survey`"), "{}", r.detail);
    // The future check comes last.
    let late = interaction(&format!(r#","ts":{},"kind":"purchase","amount":-1"#, NOW + 86_400_000));
    assert_eq!(decoder().decode(late.as_bytes(), Some(NOW)).unwrap_err().reason, Reason::InvalidField);
}

#[test]
fn future_timestamps_in_live_mode_only() {
    let at = |ts: i64| interaction(&format!(r#","ts":{ts}"#));
    let d = decoder();
    let edge = NOW + SKEW as i64;
    assert_eq!(d.decode(at(edge).as_bytes(), Some(NOW)).unwrap().ts, edge);
    let r = d.decode(at(edge + 1).as_bytes(), Some(NOW)).unwrap_err();
    assert_eq!(r.reason, Reason::FutureTimestamp);
    assert!(r.detail.contains("`ts`"));
    assert!(d.decode(at(edge + 1).as_bytes(), None).is_ok());
    assert!(d.decode(at(MAX_TS_MS).as_bytes(), None).is_ok());
    assert_eq!(d.decode(at(MAX_TS_MS).as_bytes(), Some(NOW)).unwrap_err().reason, Reason::FutureTimestamp);
    assert!(d.decode(at(MIN_TS_MS).as_bytes(), Some(NOW)).is_ok());
    // Out of range is invalid before it is in the future.
    assert_eq!(d.decode(at(MAX_TS_MS + 1).as_bytes(), Some(NOW)).unwrap_err().reason, Reason::InvalidField);
    // No overflow at the edges of the clock or the skew.
    let wide = Decoder::new(65_536, vec![], u64::MAX);
    assert!(wide.decode(at(MAX_TS_MS).as_bytes(), Some(i64::MAX)).is_ok());
    assert!(wide.decode(at(MAX_TS_MS).as_bytes(), Some(NOW)).is_ok());
    assert_eq!(wide.decode(at(MAX_TS_MS).as_bytes(), Some(i64::MIN)).unwrap_err().reason, Reason::FutureTimestamp);
    assert!(d.decode(at(MIN_TS_MS).as_bytes(), Some(i64::MAX)).is_ok());
    assert_eq!(d.decode(at(MIN_TS_MS).as_bytes(), Some(i64::MIN)).unwrap_err().reason, Reason::FutureTimestamp);
    let rfc = interaction(r#","ts":"2026-11-01T21:05:00.001+09:00""#);
    assert_eq!(d.decode(rfc.as_bytes(), Some(NOW)).unwrap_err().reason, Reason::FutureTimestamp);
}

#[test]
fn details_never_quote_the_payload() {
    let secret = "SECRETc0ffee";
    let cases = [
        format!(r#"{{"type":"{secret}"}}"#),
        format!(r#"{{"type":{secret}}}"#),
        format!(r#"{{"type":["{secret}"]}}"#),
        format!(r#"["{secret}"]"#),
        format!(r#""{secret}""#),
        format!(r#"{{"{secret}":1,}}"#),
        format!(r#"{{"type":"interaction","customer_id":"{secret}","ts":"{secret}"}}"#),
        format!(r#"{{"type":"interaction","customer_id":"{}{secret}"}}"#, "x".repeat(130)),
        format!(r#"{{"type":"interaction","customer_id":"{secret}","ts":1,"event_id":{secret}"#),
        format!(r#"{{"type":"interaction","customer_id":"c","ts":1,"segments":{{"{secret}":1}}}}"#),
        format!(r#"{{"type":"interaction","customer_id":"c","ts":1,"kind":"purchase","amount":"{secret}"}}"#),
        format!(r#"{{"type":"interaction","customer_id":"{secret}","ts":1,"kind":"support_opened","ticket_id":1}}"#),
        format!(r#"{{"type":"survey","customer_id":"{secret}","ts":1,"survey":"{secret}","score":1}}"#),
        format!(r#"{{"type":"survey","customer_id":"{secret}","ts":1,"survey":"nps","score":"{secret}"}}"#),
        format!(r#"{{"type":"survey","customer_id":"{secret}","ts":1,"survey":"nps","score":777}}"#),
    ];
    for json in &cases {
        let r = rejection(json);
        assert!(!r.detail.contains("SECRET") && !r.detail.contains("777"), "{json} -> {}", r.detail);
        assert!(!r.detail.is_empty() && r.detail.len() < 120, "{}", r.detail);
        assert_eq!(r.detail, r.detail.to_lowercase(), "{}", r.detail);
    }
    let mut bytes = format!("{{\"customer_id\":\"{secret}").into_bytes();
    bytes.push(0xff);
    let r = decoder().decode(&bytes, None).unwrap_err();
    assert!(!r.detail.contains("SECRET"));
}

// -----------------------------------------------------------------------------------------
// A reference decoder that follows the rules literally on a `serde_json::Value`, to check the
// streaming parser against.

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn reference(bytes: &[u8], dims: &[String], wall_clock: Option<Millis>) -> Result<Event, Reason> {
    use Reason::*;
    let text = std::str::from_utf8(bytes).map_err(|_| NotUtf8)?;
    let value: Value = serde_json::from_str(text).map_err(|_| MalformedJson)?;
    let obj = value.as_object().ok_or(MalformedJson)?;
    if depth(&value) > MAX_JSON_DEPTH {
        return Err(MalformedJson);
    }
    let get = |k: &str| obj.get(k).filter(|v| !v.is_null());
    let is_survey = match get("type") {
        None => return Err(MissingField),
        Some(Value::String(s)) if s == "interaction" => false,
        Some(Value::String(s)) if s == "survey" => true,
        Some(Value::String(_)) => return Err(UnknownType),
        Some(_) => return Err(InvalidField),
    };
    let id = |k: &str| match get(k) {
        None => Err(MissingField),
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 128 => Ok(CompactString::new(s)),
        Some(_) => Err(InvalidField),
    };
    let customer_id = id("customer_id")?;
    let ts = match get("ts") {
        None => return Err(MissingField),
        Some(Value::String(s)) => parse_rfc3339(s).ok_or(InvalidField)?,
        Some(v) => v.as_i64().ok_or(InvalidField)?,
    };
    // 0000-01-01T00:00:00Z ..= 9999-12-31T23:59:59.999Z
    if !(-62_167_219_200_000..=253_402_300_799_999).contains(&ts) {
        return Err(InvalidField);
    }
    let event_id = match get("event_id") {
        None => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) if s.len() <= 128 => Some(CompactString::new(s)),
        Some(_) => return Err(InvalidField),
    };
    let mut segments = Vec::new();
    if let Some(s) = get("segments") {
        let s = s.as_object().ok_or(InvalidField)?;
        for (k, v) in s {
            let v = v.as_str().filter(|v| v.len() <= 64).ok_or(InvalidField)?;
            if dims.iter().any(|d| d == k) && !v.is_empty() {
                segments.push((CompactString::new(k), CompactString::new(v)));
            }
        }
    }
    let number = |k: &str| match get(k) {
        None => Err(MissingField),
        Some(v) => v.as_f64().filter(|x| x.is_finite() && *x >= 0.0).map(|x| x + 0.0).ok_or(InvalidField),
    };
    let payload = if is_survey {
        let survey = match get("survey") {
            None => return Err(MissingField),
            Some(v) => match v.as_str() {
                Some("nps") => Survey::Nps,
                Some("csat") => Survey::Csat,
                Some("ces") => Survey::Ces,
                _ => return Err(InvalidField),
            },
        };
        let score = match get("score") {
            None => return Err(MissingField),
            Some(v) if v.is_u64() && !v.is_i64() => return Err(OutOfRange),
            Some(v) => v.as_i64().ok_or(InvalidField)?,
        };
        let (lo, hi) = survey.scale();
        if score < lo || score > hi {
            return Err(OutOfRange);
        }
        Payload::Survey(SurveyResponse { survey, score: score as u8 })
    } else {
        let kind = match get("kind") {
            None => return Err(MissingField),
            Some(Value::String(s)) => s.as_str(),
            Some(_) => return Err(InvalidField),
        };
        Payload::Interaction(match kind {
            "login" => Interaction::Login,
            "page_view" => Interaction::PageView,
            "cancellation" => Interaction::Cancellation,
            "session" => Interaction::Session { duration_seconds: number("duration_seconds")? },
            "purchase" => Interaction::Purchase { amount: number("amount")? },
            "support_opened" => Interaction::SupportOpened { ticket_id: id("ticket_id")? },
            "support_first_response" => Interaction::SupportFirstResponse { ticket_id: id("ticket_id")? },
            "support_resolved" => Interaction::SupportResolved { ticket_id: id("ticket_id")? },
            _ => Interaction::Other,
        })
    };
    if let Some(now) = wall_clock {
        if ts > now.saturating_add(SKEW as i64) {
            return Err(FutureTimestamp);
        }
    }
    Ok(Event { customer_id: CustomerId::new(&customer_id), ts, event_id, segments, payload })
}

/// Both outcomes, with segments sorted, so that the comparison does not depend on the order of
/// a `Value` map's keys.
fn normalise(r: Result<Event, Reason>) -> Result<Event, Reason> {
    r.map(|mut e| {
        e.segments.sort();
        e
    })
}

fn json_string() -> impl Strategy<Value = String> {
    let words = prop_oneof![
        Just("interaction"),
        Just("survey"),
        Just("login"),
        Just("page_view"),
        Just("session"),
        Just("purchase"),
        Just("support_opened"),
        Just("support_resolved"),
        Just("cancellation"),
        Just("nps"),
        Just("csat"),
        Just("ces"),
        Just("plan"),
        Just("pro"),
        Just(""),
        Just("c1"),
        Just("2026-11-01T12:00:00Z"),
        Just("2026-11-01T21:00:00.5+09:00"),
        Just("2026-11-01T12:00:00"),
        Just("\\u0070lan"),
        Just("\\ud800"),
        Just("a\\\"b"),
    ]
    .prop_map(|s| format!("\"{s}\""));
    let long = prop_oneof![Just(63usize), Just(64), Just(65), Just(128), Just(129)]
        .prop_map(|n| format!("\"{}\"", "x".repeat(n)));
    prop_oneof![8 => words, 1 => long]
}

fn json_scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        (-2i64..13).prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        Just("1793534400000".to_string()),
        Just("1793534800000".to_string()),
        prop_oneof![Just(MIN_TS_MS - 1), Just(MIN_TS_MS), Just(MAX_TS_MS), Just(MAX_TS_MS + 1)]
            .prop_map(|n| n.to_string()),
        prop_oneof![
            Just("9.0"),
            Just("-0"),
            Just("-0.0"),
            Just("1.5"),
            Just("1e3"),
            Just("-1"),
            Just("18446744073709551615"),
            Just("99999999999999999999"),
            Just("1e400"),
        ]
        .prop_map(str::to_string),
        json_string(),
    ]
}

fn json_value() -> impl Strategy<Value = String> {
    json_scalar().prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec((json_string(), inner), 0..5).prop_map(|v| {
                let pairs: Vec<String> = v.into_iter().map(|(k, v)| format!("{k}:{v}")).collect();
                format!("{{{}}}", pairs.join(","))
            }),
        ]
    })
}

fn segments_value() -> impl Strategy<Value = String> {
    let key = prop_oneof![Just("\"plan\""), Just("\"region\""), Just("\"team\""), Just("\"pl\\u0061n\"")];
    let value = prop_oneof![
        4 => prop_oneof![Just("\"pro\""), Just("\"eu\""), Just("\"\""), Just("\"us\"")].prop_map(str::to_string),
        1 => json_value(),
    ];
    prop_oneof![
        4 => prop::collection::vec((key, value), 0..5).prop_map(|v| {
            let pairs: Vec<String> = v.into_iter().map(|(k, v)| format!("{k}:{v}")).collect();
            format!("{{{}}}", pairs.join(","))
        }),
        1 => json_value(),
    ]
}

/// A generated event object: known fields with good and bad values, unknown and nested fields.
pub(crate) fn event_json() -> impl Strategy<Value = String> {
    let field = prop_oneof![
        (
            prop_oneof![
                Just("type"),
                Just("customer_id"),
                Just("ts"),
                Just("event_id"),
                Just("kind"),
                Just("duration_seconds"),
                Just("amount"),
                Just("ticket_id"),
                Just("survey"),
                Just("score"),
                Just("other"),
            ],
            prop_oneof![4 => json_scalar(), 1 => json_value()]
        )
            .prop_map(|(k, v)| format!("\"{k}\":{v}")),
        segments_value().prop_map(|v| format!("\"segments\":{v}")),
    ];
    let base = prop_oneof![
        Just(r#""type":"interaction","customer_id":"c1","ts":1793534400000,"kind":"login""#),
        Just(r#""type":"survey","customer_id":"c1","ts":"2026-11-01T12:00:00Z","survey":"nps","score":7"#),
        Just(""),
    ];
    (base, prop::collection::vec(field, 0..6)).prop_map(|(base, fields)| {
        let mut parts: Vec<String> = Vec::new();
        if !base.is_empty() {
            parts.push(base.to_string());
        }
        parts.extend(fields);
        format!("{{{}}}", parts.join(","))
    })
}

#[test]
fn reference_inputs_reach_every_outcome() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = event_json();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..400 {
        let json = strategy.new_tree(&mut runner).unwrap().current();
        let outcome = decoder().decode(json.as_bytes(), Some(NOW));
        seen.insert(outcome.map(|_| "ok").map_err(|r| r.reason.code()));
    }
    for outcome in ["malformed_json", "missing_field", "invalid_field", "unknown_type", "out_of_range"] {
        assert!(seen.contains(&Err(outcome)), "{outcome} never generated: {seen:?}");
    }
    assert!(seen.contains(&Ok("ok")) && seen.contains(&Err("future_timestamp")), "{seen:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decoder().decode(&bytes, Some(NOW));
        let _ = decoder().decode(&bytes, None);
    }

    #[test]
    fn never_panics_on_json_ish_text(text in r#"[{}\[\]":,0-9a-z_\\. eE+\-]{0,200}"#) {
        let _ = decoder().decode(text.as_bytes(), Some(NOW));
    }

    #[test]
    fn matches_the_value_reference(json in event_json(), live in any::<bool>()) {
        let dims = vec!["plan".to_string(), "region".to_string()];
        let wall = live.then_some(NOW);
        let ours = decoder().decode(json.as_bytes(), wall).map_err(|r| r.reason);
        prop_assert_eq!(normalise(ours), normalise(reference(json.as_bytes(), &dims, wall)), "{}", json);
    }

    #[test]
    fn prefixes_and_mutations_never_panic(json in event_json(), cut in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let bytes = json.as_bytes();
        let at = cut.index(bytes.len() + 1);
        let _ = decoder().decode(&bytes[..at], None);
        let mut mutated = bytes.to_vec();
        if at < mutated.len() {
            mutated[at] = byte;
        }
        let _ = decoder().decode(&mutated, Some(NOW));
    }
}
