//! Replay on two threads (read + decode beside apply) writes exactly what one thread writes:
//! alerts, messages, dead letters and metrics, byte for byte, on a simulated year with duplicates,
//! malformed lines and rule alerts, and on input whose batches end mid-way and with a read error.

use std::path::Path;

use cxpulse::config;
use cxpulse::replay::{replay_with, ReplayOptions, ReplaySummary, Threads};
use cxpulse::source::decoding_reader::BATCH_LINES;
use cxpulse::source::simulator::{write_jsonl, SimulationOptions};

const RULES: &str = r#"
[[rules]]
name = "low-nps"
metric = "nps_score"
window = "30d"
below = 0.0
clear = 5.0
min_samples = 10
"#;

struct Outputs {
    summary: ReplaySummary,
    alerts: String,
    messages: String,
    dead_letters: String,
    metrics: String,
}

fn run(dir: &Path, input: &Path, threads: Threads) -> Outputs {
    let config_path = dir.join("rules.toml");
    std::fs::write(&config_path, RULES).unwrap();
    let config = config::load(Some(&config_path), &[]).unwrap();
    let tag = format!("{threads:?}");
    let out = |name: &str| Some(dir.join(format!("{tag}.{name}")));
    let opts = ReplayOptions {
        input: input.to_path_buf(),
        as_of: Some(1_900_000_000_000),
        metrics_out: out("prom"),
        alerts_out: out("alerts"),
        messages_out: out("messages"),
        dead_letter_out: out("dl"),
        progress: false,
        report: None,
    };
    let summary = replay_with(&config, &opts, threads).unwrap();
    let read = |name: &str| std::fs::read_to_string(dir.join(format!("{tag}.{name}"))).unwrap();
    // Only the processing-time histogram measures the machine rather than the input.
    let metrics = read("prom").lines().filter(|l| !l.contains("processing_seconds")).collect::<Vec<_>>().join("\n");
    Outputs { summary, alerts: read("alerts"), messages: read("messages"), dead_letters: read("dl"), metrics }
}

fn assert_same(dir: &Path, input: &Path) -> Outputs {
    let one = run(dir, input, Threads::One);
    let two = run(dir, input, Threads::Two);
    assert_eq!(one.alerts, two.alerts, "alerts differ");
    assert_eq!(one.messages, two.messages, "messages differ");
    assert_eq!(one.dead_letters, two.dead_letters, "dead letters differ");
    assert_eq!(one.metrics, two.metrics, "metrics differ");
    let counts = |s: &ReplaySummary| ReplaySummary { seconds: 0.0, ..s.clone() };
    assert_eq!(counts(&one.summary), counts(&two.summary));
    two
}

#[test]
fn two_threads_write_what_one_thread_writes_on_a_simulated_year() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("year.jsonl");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
    let opts = SimulationOptions { customers: 200, days: 365, seed: 5, start_ms: SimulationOptions::DEFAULT_START_MS };
    write_jsonl(opts, &mut file).unwrap();
    drop(file);
    let out = assert_same(dir.path(), &input);
    // The comparison means something: every kind of output is there, over many batches.
    assert!(out.summary.lines > 20 * BATCH_LINES as u64, "{}", out.summary.lines);
    assert!(out.summary.invalid > 0 && out.summary.duplicate > 0);
    assert!(out.alerts.contains("segment_threshold") && out.alerts.contains("customer_churned"));
    assert!(!out.messages.is_empty() && !out.dead_letters.is_empty());
}

#[test]
fn batch_edges_blank_lines_and_bad_bytes_keep_their_line_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("edges.jsonl");
    let mut text = Vec::new();
    // Exactly one batch, then a partial one; blank lines and invalid UTF-8 in between.
    for i in 0..BATCH_LINES + 7 {
        match i % 97 {
            5 => text.extend_from_slice(b"\n"),
            6 => text.extend_from_slice(b"{\"type\":\"interaction\",\"customer_id\":\"\xff\"}\n"),
            7 => text.extend_from_slice(b"{\"type\":\r\n"),
            _ => text.extend_from_slice(
                format!(
                    "{{\"type\":\"interaction\",\"customer_id\":\"c{}\",\"ts\":{},\"event_id\":\"e{}\",\"kind\":\"login\"}}\r\n",
                    i % 13,
                    1_767_225_600_000i64 + (i as i64) * 60_000,
                    i % 50
                )
                .as_bytes(),
            ),
        }
    }
    std::fs::write(&input, &text).unwrap();
    let out = assert_same(dir.path(), &input);
    assert!(out.dead_letters.contains("\"line\":7}") && out.dead_letters.contains("payload_base64"));
    assert!(out.summary.duplicate > 0);

    // An input that ends exactly at a batch edge.
    let exact = dir.path().join("exact.jsonl");
    let lines: Vec<&[u8]> = text.split_inclusive(|b| *b == b'\n').take(BATCH_LINES).collect();
    std::fs::write(&exact, lines.concat()).unwrap();
    assert_same(dir.path(), &exact);
}

#[test]
fn missing_and_unreadable_inputs_are_errors_on_both_paths() {
    let config = config::Config::builtin().unwrap();
    let dir = tempfile::tempdir().unwrap();
    for threads in [Threads::One, Threads::Two] {
        let opts = ReplayOptions { input: "/nonexistent/events.jsonl".into(), ..Default::default() };
        let error = replay_with(&config, &opts, threads).unwrap_err();
        assert!(format!("{error:#}").contains("cannot open input /nonexistent/events.jsonl"), "{error:#}");
        // A directory opens but cannot be read: the reading thread's error reaches the caller.
        let opts = ReplayOptions { input: dir.path().to_path_buf(), ..Default::default() };
        let error = replay_with(&config, &opts, threads).unwrap_err();
        assert!(format!("{error:#}").contains("cannot read input"), "{threads:?}: {error:#}");
    }
}
