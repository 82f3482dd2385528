//! Hostile input through a real broker (issue 11). Nine kinds of bad records, 1,000 of each, are
//! mixed into valid simulated traffic on one partition:
//! bad UTF-8, truncated JSON, wrong types, missing fields, JSON nested 200 deep, oversize, unknown
//! type and null payload are refused (exactly 8,000 dead letters, 1,000 per kind with its reason);
//! null *keys* on valid events are re-keyed and applied like any event and counted as mismatched
//! keys (see the README's readings). The figures, alerts and messages equal `cxpulse replay` of the valid events
//! (null-key ones included), the service never restarts, and its RSS is sampled while it works.
//!
//! Privacy, on the same live run: the log at info level and `/metrics` never contain any of the
//! customer ids that were produced (valid or hostile).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cxpulse::event::Decoder;
use cxpulse::replay::{replay, ReplayOptions};
use cxpulse::source::simulator::{write_jsonl, SimulationOptions};
use serde_json::Value;
use support::*;

const PER_KIND: usize = 1_000;
const MAX_EVENT_BYTES: usize = 4096;

const TEST_CONFIG: &str = r#"
[clock]
max_lag = "36500d"
max_future_skew = "36500d"

[limits]
max_event_bytes = 4096

[service]
merge_wait = "2s"
probe_interval = "1s"
"#;

/// Series that are not figures: service state, timings, and the counts of refused input (checked
/// on their own, since replay of the valid events refuses nothing).
/// The bad kinds: (name, dead-letter reason) — `None` for the null-key kind, which is applied.
const KINDS: [(&str, Option<&str>); 9] = [
    ("bad_utf8", Some("not_utf8")),
    ("truncated", Some("malformed_json")),
    ("wrong_type", Some("invalid_field")),
    ("missing_field", Some("missing_field")),
    ("nested_200", Some("malformed_json")),
    ("oversize", Some("too_large")),
    ("unknown_type", Some("unknown_type")),
    ("null_payload", Some("malformed_json")),
    ("null_key", None),
];

fn login(customer: &str, ts: i64, extra: &str) -> String {
    format!(r#"{{"type":"interaction","kind":"login","customer_id":"{customer}","ts":{ts}{extra}}}"#)
}

/// Record `n` of bad kind `kind`, with the customer id it names.
fn bad_record(kind: usize, n: usize, ts: i64) -> (Record, String) {
    let customer = format!("hostile-{}-{n:04}", KINDS[kind].0);
    let key = Some(customer.clone().into_bytes());
    let value: Option<Vec<u8>> = match KINDS[kind].0 {
        "bad_utf8" => {
            let mut v = login(&customer, ts, r#","note":"XX""#).into_bytes();
            let at = v.len() - 4;
            v[at] = 0xff;
            v[at + 1] = 0xfe;
            Some(v)
        }
        "truncated" => {
            let full = login(&customer, ts, r#","segments":{"plan":"pro"}"#);
            Some(full.as_bytes()[..full.len() / 2 + n % 10].to_vec())
        }
        "wrong_type" => Some(
            format!(r#"{{"type":"survey","survey":"nps","score":"nine","customer_id":"{customer}","ts":{ts}}}"#)
                .into_bytes(),
        ),
        "missing_field" => {
            Some(format!(r#"{{"type":"interaction","kind":"login","ts":{ts},"note":"{customer}"}}"#).into_bytes())
        }
        "nested_200" => {
            let nested = format!("{}1{}", "[".repeat(200), "]".repeat(200));
            Some(login(&customer, ts, &format!(r#","deep":{nested}"#)).into_bytes())
        }
        "oversize" => Some(login(&customer, ts, &format!(r#","pad":"{}""#, "x".repeat(MAX_EVENT_BYTES))).into_bytes()),
        "unknown_type" => Some(format!(r#"{{"type":"feedback","customer_id":"{customer}","ts":{ts}}}"#).into_bytes()),
        "null_payload" => None,
        "null_key" => {
            return (
                Record { topic: TOPICS[0].into(), key: None, value: Some(login(&customer, ts, "").into_bytes()) },
                customer,
            )
        }
        other => unreachable!("{other}"),
    };
    (Record { topic: TOPICS[0].into(), key, value }, customer)
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb / 1024.0
}

/// Captures every log line at info and above, as the service's own subscriber would print them.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn figures(metrics: &str) -> BTreeSet<String> {
    figures_except(metrics, &["cxpulse_invalid_events_total", "cxpulse_events_total{outcome=\"invalid\"}"])
}

fn json_lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_records_are_dead_lettered_and_leave_figures_exact() {
    let logs = LogBuffer::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    // Valid traffic: simulated, with the simulator's own bad lines left out.
    let dir = tempfile::tempdir().unwrap();
    let opts = SimulationOptions { customers: 300, days: 30, seed: 11, start_ms: SimulationOptions::DEFAULT_START_MS };
    let mut simulated = Vec::new();
    write_jsonl(opts, &mut simulated).unwrap();
    let decoder = Decoder::new(MAX_EVENT_BYTES, vec!["plan".into(), "region".into()], 0);
    let valid: Vec<Vec<u8>> = simulated
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty() && decoder.decode(l, None).is_ok())
        .map(<[u8]>::to_vec)
        .collect();

    // Interleave: after each valid record, the next bad ones in turn, spread over the whole stream.
    let total_bad = KINDS.len() * PER_KIND;
    let mut records = Vec::new();
    let mut replay_lines: Vec<u8> = Vec::new();
    let mut customers = BTreeSet::new();
    let mut bad = 0;
    for (i, line) in valid.iter().enumerate() {
        let record = route_line(line);
        customers.insert(String::from_utf8(record.key.clone().unwrap()).unwrap());
        replay_lines.extend_from_slice(line);
        replay_lines.push(b'\n');
        let ts = decoder.decode(line, None).unwrap().ts;
        records.push(record);
        while bad < total_bad && bad * valid.len() <= (i + 1) * total_bad {
            let (record, customer) = bad_record(bad % KINDS.len(), bad / KINDS.len(), ts);
            if record.key.is_none() {
                // A valid event without a key: applied, so replay gets it too.
                replay_lines.extend_from_slice(record.value.as_deref().unwrap());
                replay_lines.push(b'\n');
            }
            customers.insert(customer);
            records.push(record);
            bad += 1;
        }
    }
    assert_eq!(bad, total_bad);

    // The reference: replay of the valid events under the same config.
    let config_file = write_config(dir.path(), "embedded", "replay", 1, TEST_CONFIG);
    let input = dir.path().join("valid.jsonl");
    std::fs::write(&input, &replay_lines).unwrap();
    let out = |name: &str| Some(dir.path().join(name));
    let options = ReplayOptions {
        input,
        metrics_out: out("metrics.prom"),
        alerts_out: out("alerts.jsonl"),
        messages_out: out("messages.jsonl"),
        dead_letter_out: out("dead.jsonl"),
        ..ReplayOptions::default()
    };
    let summary = replay(&cxpulse::config::load(Some(&config_file), &[]).unwrap(), &options).unwrap();
    assert_eq!(summary.invalid, 0);
    let replay_metrics = std::fs::read_to_string(dir.path().join("metrics.prom")).unwrap();

    // Live.
    let tansu = Tansu::start();
    let bootstrap = tansu.bootstrap();
    create_default_topics(&bootstrap, 1).await;
    produce(&bootstrap, &records).await;
    let port = free_port();
    let service = InProcess::start(&write_config(dir.path(), &bootstrap, "hostile", port, TEST_CONFIG), port);
    let total = records.len() as u64;
    let samples = Mutex::new(Vec::new());
    wait_until(Duration::from_secs(300), "every record consumed", || async {
        let seen = events_seen(&service.metrics().await);
        samples.lock().unwrap().push((seen, rss_mib()));
        seen == total
    })
    .await;
    let samples = samples.into_inner().unwrap();
    wait_until(Duration::from_secs(30), "readiness", || async { service.ready().await.0 }).await;
    let metrics = service.metrics().await;
    let after = rss_mib();
    service.stop().await;

    // Exactly 8,000 dead letters, 1,000 per refused kind.
    assert_eq!(metric(&metrics, r#"cxpulse_events_total{outcome="invalid"}"#), Some(8_000.0), "{metrics}");
    let dead = read_topic(&bootstrap, TOPICS[4], 8_000, Duration::from_secs(60));
    assert_eq!(dead.len(), 8_000);
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for record in &dead {
        for (k, v) in headers(record) {
            if k == "cxpulse.reason" {
                *reasons.entry(v).or_default() += 1;
            }
        }
    }
    let mut expected: BTreeMap<String, usize> = BTreeMap::new();
    for (_, reason) in KINDS {
        if let Some(reason) = reason {
            *expected.entry(reason.to_string()).or_default() += PER_KIND;
        }
    }
    assert_eq!(reasons, expected);
    assert_eq!(metric(&metrics, "cxpulse_mismatched_keys_total"), Some(PER_KIND as f64), "the null keys");

    // Figures, alerts and messages equal replay of the valid events.
    let (live, reference) = (figures(&metrics), figures(&replay_metrics));
    let only_live: Vec<_> = live.difference(&reference).collect();
    let only_replay: Vec<_> = reference.difference(&live).collect();
    assert!(only_live.is_empty() && only_replay.is_empty(), "live only: {only_live:#?}\nreplay only: {only_replay:#?}");
    let ids = |records: &[Value], id: &str| -> BTreeSet<String> {
        records.iter().map(|r| r[id].as_str().unwrap().to_string()).collect()
    };
    let live_alerts: Vec<Value> = read_topic(&bootstrap, TOPICS[2], 1, Duration::from_secs(30))
        .iter()
        .map(|m| serde_json::from_slice(rdkafka::Message::payload(m).unwrap()).unwrap())
        .collect();
    let replay_alerts = json_lines(&dir.path().join("alerts.jsonl"));
    let transitions =
        |a: &[Value]| -> Vec<Value> { a.iter().filter(|a| a["kind"] != "segment_threshold").cloned().collect() };
    assert_eq!(ids(&transitions(&live_alerts), "alert_id"), ids(&transitions(&replay_alerts), "alert_id"));
    assert!(!transitions(&live_alerts).is_empty());

    // RSS while the hostile stream was consumed.
    let half = samples.iter().find(|(seen, _)| *seen * 2 >= total).map_or(after, |(_, rss)| *rss);
    let peak = samples.iter().map(|(_, rss)| *rss).fold(after, f64::max);
    println!(
        "hostile: {} records ({} valid, {total_bad} bad), RSS at half {half:.1} MiB, peak {peak:.1} MiB, after {after:.1} MiB; samples (seen, MiB): {:?}",
        records.len(),
        records.len() - total_bad + PER_KIND,
        samples.iter().step_by(samples.len().div_ceil(12).max(1)).collect::<Vec<_>>()
    );
    assert!(peak - half < 64.0, "RSS grew by {:.1} MiB in the second half", peak - half);

    // Privacy: no produced customer id in the info log or in /metrics.
    let log = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(log.contains("/metrics, /healthz and /readyz"), "the log capture works: {log}");
    let leaked: Vec<&String> =
        customers.iter().filter(|c| log.contains(c.as_str()) || metrics.contains(c.as_str())).collect();
    assert!(leaked.is_empty(), "customer ids in logs or metrics: {:?}", &leaked[..leaked.len().min(5)]);
    println!(
        "privacy: {} customer ids checked against {} bytes of info log and {} bytes of /metrics",
        customers.len(),
        log.len(),
        metrics.len()
    );
}
