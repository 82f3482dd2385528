//! A simulated year through replay: byte-identical across runs, and every metric and alert kind
//! of SPEC §4–5 shows up.

use cxpulse::config;
use cxpulse::replay::{replay, ReplayOptions};
use cxpulse::source::simulator::{write_jsonl, SimulationOptions};
use cxpulse::window::SegmentMetric;

const RULES: &str = r#"
[[rules]]
name = "low-nps"
metric = "nps_score"
window = "30d"
below = 0.0
clear = 5.0
min_samples = 10

[[rules]]
name = "churny"
metric = "churn_ratio"
window = "30d"
above = 0.03
min_samples = 20
"#;

struct Run {
    alerts: String,
    messages: String,
    dead_letters: String,
    metrics: String,
}

fn replay_file(dir: &std::path::Path, input: &std::path::Path, tag: &str) -> Run {
    let config_path = dir.join("rules.toml");
    std::fs::write(&config_path, RULES).unwrap();
    let config = config::load(Some(&config_path), &[]).unwrap();
    let out = |name: &str| Some(dir.join(format!("{tag}.{name}")));
    let opts = ReplayOptions {
        input: input.to_path_buf(),
        as_of: None,
        metrics_out: out("prom"),
        alerts_out: out("alerts"),
        messages_out: out("messages"),
        dead_letter_out: out("dl"),
        progress: false,
        report: None,
    };
    replay(&config, &opts).unwrap();
    let read = |name: &str| std::fs::read_to_string(dir.join(format!("{tag}.{name}"))).unwrap();
    Run { alerts: read("alerts"), messages: read("messages"), dead_letters: read("dl"), metrics: read("prom") }
}

#[test]
fn a_simulated_year_replays_identically_and_shows_everything() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("year.jsonl");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
    let opts = SimulationOptions { customers: 150, days: 365, seed: 11, start_ms: SimulationOptions::DEFAULT_START_MS };
    let events = write_jsonl(opts, &mut file).unwrap();
    drop(file);
    assert!(events > 50_000, "{events}");

    let a = replay_file(dir.path(), &input, "a");
    let b = replay_file(dir.path(), &input, "b");
    assert_eq!(a.alerts, b.alerts, "alerts differ between runs");
    assert_eq!(a.messages, b.messages, "messages differ between runs");
    assert_eq!(a.dead_letters, b.dead_letters);
    // Everything but the processing-time histogram is a function of the input.
    let stable = |m: &str| m.lines().filter(|l| !l.contains("processing_seconds")).collect::<Vec<_>>().join("\n");
    assert_eq!(stable(&a.metrics), stable(&b.metrics));

    for kind in ["customer_inactive", "customer_churned", "customer_reactivated", "segment_threshold"] {
        assert!(a.alerts.contains(&format!("\"kind\":\"{kind}\"")), "no {kind} alert");
    }
    for reason in [
        "\"reason\":\"inactivity\"",
        "\"reason\":\"cancellation\"",
        "\"previous_state\":\"churned\"",
        "\"group\":\"holdout\"",
    ] {
        assert!(a.alerts.contains(reason), "no alert with {reason}");
    }
    assert!(!a.messages.is_empty() && !a.dead_letters.is_empty());
    // Every windowed metric has at least one series, at least in the 30d window.
    for metric in SegmentMetric::ALL {
        let name = format!("cxpulse_{}{{", metric.name());
        assert!(a.metrics.lines().any(|l| l.starts_with(&name)), "no series of {name}");
    }
    assert!(a.metrics.contains("cxpulse_customers{dimension=\"plan\""));
}
