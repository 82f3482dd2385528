//! Bad input end to end: every dead-letter reason with its source line, nothing lost, nothing
//! panics, and a missing input file is a clear error (SPEC §1, §6).

mod replay_support;

use replay_support::{login, run};

#[test]
fn every_invalid_reason_lands_in_the_dead_letter_file() {
    let mut input: Vec<u8> = Vec::new();
    let mut line = |bytes: &[u8]| {
        input.extend_from_slice(bytes);
        input.push(b'\n');
    };
    line(login("ok", "2026-01-01T00:00:00Z").trim_end().as_bytes());
    line(
        format!(r#"{{"type":"interaction","customer_id":"c","ts":1,"kind":"login","pad":"{}"}}"#, "x".repeat(300))
            .as_bytes(),
    );
    line(b"{\"type\":\"interaction\",\"customer_id\":\"\xff\",\"ts\":1,\"kind\":\"login\"}");
    line(br#"{"type":"interaction","#);
    line(br#"{"type":"interaction","ts":1,"kind":"login"}"#);
    line(br#"{"type":"interaction","customer_id":"c","ts":1,"kind":"purchase","amount":-1}"#);
    line(br#"{"type":"clickstream","customer_id":"c","ts":1}"#);
    line(br#"{"type":"survey","customer_id":"c","ts":1,"survey":"nps","score":11}"#);
    line(br#"{"type":"interaction","customer_id":"c","ts":"2026-01-01T00:00:00","kind":"login"}"#);
    line(br#"{"type":"interaction","customer_id":"c","ts":99999999999999999,"kind":"login"}"#);
    line(b"");
    line(br#"[1,2,3]"#);
    let out = run(&input, "[limits]\nmax_event_bytes = 200\n", None);
    let got: Vec<(String, u64)> = out
        .dead_letters
        .iter()
        .map(|d| (d["reason"].as_str().unwrap().to_string(), d["source"]["line"].as_u64().unwrap()))
        .collect();
    let expected = [
        ("too_large", 2),
        ("not_utf8", 3),
        ("malformed_json", 4),
        ("missing_field", 5),
        ("invalid_field", 6),
        ("unknown_type", 7),
        ("out_of_range", 8),
        ("invalid_field", 9),
        ("invalid_field", 10),
        ("malformed_json", 12),
    ];
    let expected: Vec<(String, u64)> = expected.iter().map(|(r, l)| (r.to_string(), *l)).collect();
    assert_eq!(got, expected);
    assert_eq!(out.summary.invalid, 10);
    assert_eq!(out.summary.accepted, 1);
    assert!(out.dead_letters[1]["payload_base64"].is_string(), "non-UTF-8 payload is base64");
    assert_eq!(out.dead_letters[2]["payload"], r#"{"type":"interaction","#);
    for d in &out.dead_letters {
        assert!(d["detail"].as_str().is_some_and(|s| !s.is_empty()));
        assert!(d["source"]["file"].as_str().is_some_and(|f| f.ends_with("in.jsonl")));
    }
    assert_eq!(out.metric(r#"cxpulse_invalid_events_total{reason="invalid_field"}"#), Some(3.0));
    assert_eq!(out.metric(r#"cxpulse_events_total{outcome="invalid"}"#), Some(10.0));
}

#[test]
fn future_timestamps_are_fine_in_replay() {
    let out = run(login("c", "2099-01-01T00:00:00Z"), "", None);
    assert_eq!(out.summary.accepted, 1);
    assert!(out.dead_letters.is_empty());
}

#[test]
fn a_missing_input_file_is_a_clear_error() {
    let config = cxpulse::config::Config::builtin().unwrap();
    let opts = cxpulse::replay::ReplayOptions { input: "/nonexistent/events.jsonl".into(), ..Default::default() };
    let err = cxpulse::replay::replay(&config, &opts).unwrap_err();
    assert!(format!("{err:#}").contains("/nonexistent/events.jsonl"), "{err:#}");
}

#[test]
fn the_binary_reports_bad_config_and_bad_paths() {
    let bin = env!("CARGO_BIN_EXE_cxpulse");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[segments]\ndimensions = [\"plan\"]\nbogus = 1\n[inactivity]\ninactive_after = \"2 fortnights\"\n\
         [[inactivity.overrides]]\ndimension = \"tier\"\nsegment = \"gold\"\n\
         [[windows]]\nname = \"w\"\nsize = \"90m\"\nbucket = \"1h\"\n\
         [[rules]]\nname = \"r\"\nmetric = \"happiness\"\nwindow = \"w\"\nabove = 1.0\nbelow = 2.0\n",
    )
    .unwrap();
    let out = std::process::Command::new(bin).args(["check-config", bad.to_str().unwrap()]).output().unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in ["bogus", "inactive_after", "tier", "multiple", "happiness", "not both"] {
        assert!(text.contains(needle), "{needle} not in:\n{text}");
    }
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "[segments]\nmax_values = 10\n").unwrap();
    let out = std::process::Command::new(bin).args(["check-config", good.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let out = std::process::Command::new(bin).args(["replay", "--input", "/nonexistent/x.jsonl"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/x.jsonl"));
}

#[test]
fn the_shipped_example_config_is_valid() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config/example.toml");
    cxpulse::config::load(Some(std::path::Path::new(example)), &[]).expect("config/example.toml is valid");
}
