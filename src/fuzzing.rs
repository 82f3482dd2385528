//! The bodies of the fuzz targets, kept in the library so that `fuzz/` (cargo-fuzz, libFuzzer) and
//! the ordinary test suite (`tests/fuzz_corpora.rs`, which feeds every committed corpus and
//! regression file through [`TARGETS`]) run exactly the same code.
//!
//! Each target does more than "must not panic": it checks the properties the rest of the service
//! relies on (an accepted event is within SPEC §1's bounds, a refused one yields a dead letter that
//! gives back the exact original bytes, a config that loads is within its validated bounds).
//!
//! Adding a target (e.g. the checkpoint/changelog decoder): write `pub fn NAME(data: &[u8])` here,
//! add `("NAME", NAME)` to [`TARGETS`], copy `fuzz/fuzz_targets/decode.rs` to `NAME.rs` with the
//! call changed, add its `[[bin]]` to `fuzz/Cargo.toml`, and seed `fuzz/corpus/NAME/` with a few
//! small valid inputs. `fuzz/README.md` has the commands.

use std::sync::OnceLock;

use base64::Engine as _;

use crate::config::{load_text, ConfigError};
use crate::engine::Settings;
use crate::event::decode::{MAX_ID_BYTES, MAX_SEGMENT_VALUE_BYTES};
use crate::event::{DeadLetter, Decoder, Event, Interaction, Payload, Reason, Rejection, SourcePosition};

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every fuzz target by name; the name is its folder under `fuzz/corpus/` and `fuzz/regressions/`.
pub const TARGETS: &[(&str, Target)] = &[("decode", decode), ("config", config)];

/// A fixed wall clock for the live-mode decode (2026-11-01T00:00:00Z).
const NOW_MS: i64 = 1_793_491_200_000;
/// Years 0000 to 9999, RFC 3339's range.
const TS_RANGE: std::ops::RangeInclusive<i64> = -62_167_219_200_000..=253_402_300_799_999;
/// A dead letter's `detail` is a short human message that never quotes the payload.
const MAX_DETAIL_BYTES: usize = 256;

fn decoder() -> &'static Decoder {
    static DECODER: OnceLock<Decoder> = OnceLock::new();
    DECODER.get_or_init(|| Decoder::new(65_536, vec!["plan".into(), "region".into()], 300_000))
}

/// The event decoder, in replay and live mode, and the dead letter of anything it refuses.
pub fn decode(data: &[u8]) {
    let replay = decoder().decode(data, None);
    let live = decoder().decode(data, Some(NOW_MS));
    match &replay {
        Ok(event) => check_event(event),
        Err(rejection) => check_dead_letter(rejection, data),
    }
    // Live mode differs from replay only by the future-timestamp check.
    match (&replay, &live) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "live and replay decode differently"),
        (Err(a), Err(b)) => assert_eq!(a.reason, b.reason, "live and replay refuse differently"),
        (Ok(_), Err(b)) => assert_eq!(b.reason, Reason::FutureTimestamp, "live refused a valid event: {b}"),
        (Err(a), Ok(_)) => panic!("live accepted what replay refused: {a}"),
    }
}

fn check_event(e: &Event) {
    let id_ok = |id: &str| !id.is_empty() && id.len() <= MAX_ID_BYTES;
    assert!(id_ok(&e.customer_id), "customer_id out of bounds");
    assert!(e.event_id.as_deref().is_none_or(id_ok), "event_id out of bounds");
    assert!(TS_RANGE.contains(&e.ts), "ts {} outside years 0000-9999", e.ts);
    for (key, value) in &e.segments {
        assert!(key == "plan" || key == "region", "unconfigured dimension `{key}` kept");
        assert!(!value.is_empty() && value.len() <= MAX_SEGMENT_VALUE_BYTES, "segment value out of bounds");
    }
    match &e.payload {
        Payload::Survey(s) => {
            let (low, high) = s.survey.scale();
            assert!((low..=high).contains(&i64::from(s.score)), "score outside its scale");
        }
        Payload::Interaction(Interaction::Purchase { amount }) => {
            assert!(amount.is_finite() && *amount >= 0.0, "amount {amount}")
        }
        Payload::Interaction(Interaction::Session { duration_seconds: d }) => {
            assert!(d.is_finite() && *d >= 0.0, "duration {d}")
        }
        Payload::Interaction(
            Interaction::SupportOpened { ticket_id }
            | Interaction::SupportFirstResponse { ticket_id }
            | Interaction::SupportResolved { ticket_id },
        ) => assert!(id_ok(ticket_id), "ticket_id out of bounds"),
        Payload::Interaction(_) => {}
    }
}

/// The dead letter is one JSON line that gives back the exact bytes, with a short detail.
fn check_dead_letter(rejection: &Rejection, data: &[u8]) {
    assert!(rejection.detail.len() <= MAX_DETAIL_BYTES, "detail too long: {}", rejection.detail.len());
    let source = SourcePosition::File { file: "fuzz.jsonl".into(), line: 1 };
    let line = DeadLetter::new(rejection.clone(), source, data.to_vec()).to_json_line();
    assert!(!line.contains('\n'), "a dead letter must be one line");
    let value: serde_json::Value = serde_json::from_str(&line).expect("a dead letter is JSON");
    assert_eq!(value["reason"], rejection.reason.code());
    let back = match (&value["payload"], &value["payload_base64"]) {
        (serde_json::Value::String(text), _) => text.as_bytes().to_vec(),
        (_, serde_json::Value::String(b64)) => {
            base64::engine::general_purpose::STANDARD.decode(b64).expect("payload_base64 is base64")
        }
        _ => panic!("a dead letter without its payload"),
    };
    assert_eq!(back, data, "the dead letter does not give back the original bytes");
}

/// Config parsing, layering and validation: the input is a TOML file, then optionally a NUL byte
/// and `NAME=value` lines taken as the environment.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (file, env) = text.split_once('\0').unwrap_or((text, ""));
    let env: Vec<(String, String)> =
        env.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect();
    match load_text(Some((file, "fuzz.toml")), &env) {
        Ok(config) => {
            // What the engine relies on after validation.
            assert!(!config.windows.is_empty());
            for w in &config.windows {
                assert!(w.bucket.0 > 0 && w.size.0 % w.bucket.0 == 0);
                assert!(w.size.0 / w.bucket.0 <= config.limits.max_buckets_per_window);
            }
            assert!(config.inactivity.churn_after > config.inactivity.inactive_after);
            assert!(config.segments.max_values >= 1 && config.limits.max_customers >= 1);
            let settings = Settings::from_config(&config);
            assert_eq!(settings.windows.len(), config.windows.len());
        }
        Err(ConfigError::Invalid { problems }) => assert!(!problems.is_empty(), "refused without a reason"),
        Err(ConfigError::Read { .. }) => panic!("nothing is read from disk here"),
    }
}
