//! Unit tests of `plain_fields.rs`: wherever the fast path answers, it answers exactly what the
//! serde path does, and it does answer for the shapes real producers write.
use super::*;
use crate::event::json_fields::parse_with_serde;
use proptest::prelude::*;

fn dims() -> Vec<String> {
    vec!["plan".to_string(), "region".to_string()]
}

/// The fast path's answer, checked against the serde path; whether it answered.
fn agrees(text: &str) -> bool {
    match parse_plain(text, &dims()) {
        None => false,
        Some(fast) => {
            let full = parse_with_serde(text, &dims());
            assert_eq!(Ok(&fast), full.as_ref(), "{text}");
            true
        }
    }
}

#[test]
fn answers_for_the_usual_shapes() {
    for text in [
        r#"{"type":"interaction","customer_id":"c1","ts":1793534400000,"event_id":"e1","kind":"login"}"#,
        r#"{"type":"survey","customer_id":"5f0c6a7e-1b2d-4c3e-8f9a-0b1c2d3e4f50","ts":"2026-11-01T21:00:00.5+09:00","segments":{"plan":"pro","region":"eu","channel":"ios"},"survey":"nps","score":9}"#,
        r#"{"type":"interaction","customer_id":"c1","ts":1,"kind":"purchase","amount":12.50,"x":[]}"#,
        r#" { "type" : "interaction" , "amount" : -0.0 , "n" : null , "b" : true , "segments" : null } "#,
        r#"{}"#,
        r#"{"segments":{}}"#,
        r#"{"segments":{"plan":""}}"#,
        r#"{"segments":{"plan":7,"region":"eu"}}"#,
        r#"{"segments":{"plan":"x","other":"yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"}}"#,
        r#"{"score":9223372036854775807,"amount":9223372036854775808,"ts":-9223372036854775808}"#,
        r#"{"score":18446744073709551615,"amount":18446744073709551616,"ts":-9223372036854775809}"#,
        r#"{"score":-0,"amount":1e3,"duration_seconds":1E-2,"ts":0.1}"#,
        r#"{"type":"a","type":"b"}"#,
        r#"{"segments":{"plan":"a"},"segments":{"region":"b"}}"#,
    ] {
        // `"x":[]` is nested: the serde path takes it.
        assert_eq!(agrees(text), !text.contains("\"x\":[]"), "{text}");
    }
}

#[test]
fn leaves_everything_unusual_to_serde() {
    for text in [
        r#"{"type":"inter\u0061ction"}"#,
        r#"{"type":"a\"b"}"#,
        "{\"type\":\"a\tb\"}",
        r#"{"x":{"y":1}}"#,
        r#"{"segments":{"plan":"a","plan":"b"}}"#,
        r#"{"segments":{"plan":{"a":1}}}"#,
        r#"{"segments":[]}"#,
        r#"{"score":01}"#,
        r#"{"score":1.}"#,
        r#"{"score":-}"#,
        r#"{"score":1e}"#,
        r#"{"score":nul}"#,
        r#"{"score":truex}"#,
        r#"{"score":1,}"#,
        r#"{"score":1}x"#,
        r#"{"score":1e400}"#,
        r#"{"score" 1}"#,
        r#"[1]"#,
        r#"{"score":1"#,
        "",
    ] {
        assert!(parse_plain(text, &dims()).is_none(), "{text}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn agrees_with_serde_on_generated_events(json in crate::event::decode::tests::event_json()) {
        agrees(&json);
    }

    #[test]
    fn agrees_with_serde_on_mutations(
        json in crate::event::decode::tests::event_json(),
        cut in any::<prop::sample::Index>(),
        byte in prop::sample::select(b" \t\"\\:,{}[]0-.eE+nt1aZ".to_vec()),
    ) {
        let mut bytes = json.into_bytes();
        let at = cut.index(bytes.len());
        bytes[at] = byte;
        if let Ok(text) = std::str::from_utf8(&bytes) {
            agrees(text);
        }
    }

    #[test]
    fn numbers_are_read_as_serde_reads_them(n in any::<i64>(), u in any::<u64>(), f in any::<f64>(), e in -30i32..30) {
        for token in [n.to_string(), u.to_string(), format!("{f:?}"), format!("{f}"), format!("{n}e{e}"), format!("{u}.{u}")] {
            agrees(&format!(r#"{{"amount":{token}}}"#));
        }
    }
}

proptest! {
    #[test]
    fn special_at_finds_what_a_byte_loop_finds(bytes in prop::collection::vec(
        prop_oneof![4 => 0x20u8..0x7f, 1 => any::<u8>(), 1 => Just(b'"'), 1 => Just(b'\\')], 0..40)) {
        let naive = bytes.iter().position(|b| matches!(b, b'"' | b'\\' | 0..=0x1f));
        prop_assert_eq!(special_at(&bytes), naive);
    }
}
