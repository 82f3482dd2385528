//! Decoding: simulated lines and lines that all carry segments and a UUID customer id, beside a
//! bare `serde_json` pass that only validates the same bytes (the floor any JSON decoder pays).
//!
//! `cargo bench --bench decode`

mod common;

use common::{median_ns, ratio, report};
use cxpulse::config::Config;
use cxpulse::event::Decoder;
use cxpulse::source::simulator::{write_jsonl, SimulationOptions};
use serde::de::IgnoredAny;

fn simulated() -> Vec<Vec<u8>> {
    let mut text = Vec::new();
    let opts = SimulationOptions { customers: 2_000, days: 30, seed: 1, start_ms: SimulationOptions::DEFAULT_START_MS };
    write_jsonl(opts, &mut text).expect("in memory");
    text.split(|b| *b == b'\n').filter(|l| !l.is_empty()).take(50_000).map(<[u8]>::to_vec).collect()
}

/// The `gen_uuid_segments` shape: UUID ids, segments on every event, mixed timestamp forms.
fn uuid_segments(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let id = format!("{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}", i * 7919, i % 65_536, i % 4096, i % 4093, i * 104_729);
            let ts = match i % 4 {
                0 => format!("{}", 1_767_225_600_000u64 + i as u64 * 1000),
                1 => "\"2026-03-01T10:20:30Z\"".to_string(),
                2 => "\"2026-03-01T10:20:30.123Z\"".to_string(),
                _ => "\"2026-03-01T19:20:30+09:00\"".to_string(),
            };
            let body = match i % 4 {
                0 => r#""type":"survey","survey":"nps","score":9"#.to_string(),
                1 => format!(r#""type":"interaction","kind":"purchase","amount":{}.{:02}"#, i % 400, i % 100),
                2 => r#""type":"interaction","kind":"session","duration_seconds":312.5"#.to_string(),
                _ => r#""type":"interaction","kind":"login""#.to_string(),
            };
            format!(
                r#"{{{body},"customer_id":"{id}","ts":{ts},"event_id":"e-7-{i:012}","segments":{{"plan":"pro","region":"eu-west","channel":"ios"}}}}"#
            )
            .into_bytes()
        })
        .collect()
}

fn main() {
    let config = Config::builtin().expect("built-in config");
    let decoder = Decoder::new(config.limits.max_event_bytes, config.segments.dimensions.clone(), 0);
    for (name, lines) in [("simulated", simulated()), ("uuid+segments", uuid_segments(50_000))] {
        let n = lines.len() as u64;
        let bytes: usize = lines.iter().map(Vec::len).sum();
        println!("{name}: {n} lines, {} bytes on average", bytes / lines.len());
        let decode = median_ns(n, || {
            for l in &lines {
                std::hint::black_box(decoder.decode(l, None).is_ok());
            }
        });
        let floor = median_ns(n, || {
            for l in &lines {
                std::hint::black_box(serde_json::from_slice::<IgnoredAny>(l).is_ok());
            }
        });
        report(&format!("decode {name}"), decode);
        report(&format!("serde_json validate only (IgnoredAny) {name}"), floor);
        ratio(&format!("decode / validate-only {name}"), decode, floor);
    }
}
