//! The status API's JSON against the engine view it reads: every figure equals the merged view
//! (and so `/metrics`), the series are the window's own buckets, rule states colour the right
//! figures, and no customer id appears unless `status.customer_rows` allows it.

use std::sync::Arc;

use cxpulse::alert::Effect;
use cxpulse::config::{self, Config};
use cxpulse::detect::RuleEvaluator;
use cxpulse::engine::Engine;
use cxpulse::event::time::parse_rfc3339;
use cxpulse::event::Decoder;
use cxpulse::telemetry::status::api::{self, ApiError, Query};
use cxpulse::telemetry::status::report::ReplayStatus;
use cxpulse::telemetry::status::{series, RecentAlerts};
use cxpulse::telemetry::Metrics;
use cxpulse::window::SegmentMetric;
use serde_json::Value;

const CONFIG: &str = r#"
[status]
refresh = "5s"
recent_alerts = 10
counts_bucket = "1d"
counts_buckets = 3
customer_rows = false

[[windows]]
name = "24h"
size = "24h"
bucket = "1h"

[[windows]]
name = "7d"
size = "7d"
bucket = "1h"

[[rules]]
name = "low-nps"
metric = "nps_score"
window = "24h"
below = 0.0
clear = 10.0
min_samples = 3

[[rules]]
name = "eu-revenue"
metric = "revenue"
window = "7d"
dimension = "region"
segment = "eu"
above = 1000.0
"#;

struct Run {
    engine: Engine,
    rules: RuleEvaluator,
    metrics: Metrics,
}

impl Run {
    fn status(&self) -> ReplayStatus<'_> {
        ReplayStatus { engine: &self.engine, rules: self.rules.states(), metrics: &self.metrics }
    }
}

fn config(extra: &str) -> Config {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, format!("{CONFIG}\n{extra}")).unwrap();
    config::load(Some(&path), &[]).expect("valid config")
}

fn at(t: &str) -> i64 {
    parse_rfc3339(t).unwrap()
}

/// Applies JSON lines through one partition with the rules, recording effects as replay does.
fn run(config: &Config, lines: &[String], until: &str) -> Run {
    let engine = Engine::new(config);
    let metrics = Metrics::new();
    metrics.keep_recent_alerts(Arc::new(RecentAlerts::new(&config.status)));
    let s = &engine.settings;
    let decoder = Decoder::new(s.max_event_bytes, s.dimensions.clone(), s.max_future_skew as u64);
    let mut partition = engine.partition(0);
    let mut rules = engine.rule_evaluator();
    let mut effects: Vec<Effect> = Vec::new();
    for line in lines {
        let event = decoder.decode(line.as_bytes(), None).expect("valid test event");
        partition.apply(&event, &mut effects, &mut rules);
    }
    partition.advance_to(at(until), &mut effects, &mut rules);
    rules.evaluate_all(partition.clock(), &mut effects);
    for e in &effects {
        metrics.effect_emitted(e);
    }
    Run { engine, rules, metrics }
}

fn survey(id: &str, ts: &str, score: u8, plan: &str, region: &str) -> String {
    format!(
        r#"{{"type":"survey","survey":"nps","score":{score},"customer_id":"{id}","ts":"{ts}","segments":{{"plan":"{plan}","region":"{region}"}}}}"#
    )
}

fn purchase(id: &str, ts: &str, amount: f64) -> String {
    format!(r#"{{"type":"interaction","kind":"purchase","amount":{amount},"customer_id":"{id}","ts":"{ts}"}}"#)
}

/// Two days of known events: `pro`/`eu` unhappy, `free`/`us` happy, purchases in `eu`.
fn events() -> Vec<String> {
    let mut lines = Vec::new();
    for (i, score) in [0, 2, 6, 10, 3].iter().enumerate() {
        lines.push(survey(&format!("cust-pro-{i}"), &format!("2026-03-02T0{i}:15:00Z"), *score, "pro", "eu"));
    }
    for (i, score) in [9, 10, 10, 8].iter().enumerate() {
        lines.push(survey(&format!("cust-free-{i}"), &format!("2026-03-02T0{}:30:00Z", i + 1), *score, "free", "us"));
    }
    lines.push(purchase("cust-pro-0", "2026-03-02T05:00:00Z", 700.0));
    lines.push(purchase("cust-pro-1", "2026-03-02T07:10:00Z", 450.5));
    lines.push(purchase("cust-free-0", "2026-03-02T07:20:00Z", 20.0));
    lines
}

fn figure<'a>(doc: &'a Value, dimension: &str, segment: &str) -> &'a Value {
    doc["dimensions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == dimension)
        .and_then(|d| d["segments"].as_array().unwrap().iter().find(|s| s["segment"] == segment))
        .unwrap_or_else(|| panic!("{dimension}/{segment} missing"))
}

#[test]
fn overview_figures_equal_the_engine_view_and_the_exposition() {
    let r = run(&config(""), &events(), "2026-03-02T09:00:00Z");
    let src = r.status();
    let clock = r.engine.view.clock();
    let exposition = r.engine.render_segments(&r.rules, clock);
    let mut compared = 0;
    for (w, spec) in r.engine.settings.windows.iter().enumerate() {
        let doc = api::segments(&src, &Query { window: Some(spec.name.clone()), ..Query::default() }).unwrap();
        assert_eq!(doc["window"], spec.name.as_str());
        for (id, dimension, segment) in r.engine.catalog.all_segments() {
            let row = figure(&doc, &dimension, &segment);
            let view = r.engine.view.figures(id, w, clock);
            for name in api::OVERVIEW_METRICS {
                let Some(metric) = SegmentMetric::from_name(name) else { continue };
                let expected = view.read(metric, None);
                let shown = &row["figures"][name];
                match expected {
                    None => assert!(shown.is_null(), "{dimension}/{segment} {name}: {shown}"),
                    Some(reading) => {
                        assert_eq!(shown["value"].as_f64(), Some(reading.value), "{dimension}/{segment} {name}");
                        assert_eq!(shown["samples"].as_i64(), Some(reading.samples));
                        let series = format!(
                            "cxpulse_{name}{{dimension=\"{dimension}\",segment=\"{segment}\",window=\"{}\"}} {}",
                            spec.name, reading.value
                        );
                        assert!(exposition.lines().any(|l| l == series), "{series} in /metrics");
                        compared += 1;
                    }
                }
            }
            let by_state = r.engine.view.by_state(id);
            assert_eq!(row["customers"]["active"].as_i64(), Some(by_state[0]));
        }
    }
    assert!(compared >= 30, "{compared}");
}

#[test]
fn series_are_the_window_buckets_and_add_up_to_the_window() {
    let r = run(&config(""), &events(), "2026-03-02T09:00:00Z");
    let src = r.status();
    let q = Query { window: Some("24h".into()), points: Some(24), ..Query::default() };
    let doc = api::segment(&src, "plan", "pro", &q).unwrap();
    assert_eq!(doc["axis"]["step_ms"], 3_600_000);
    let starts: Vec<i64> = doc["axis"]["starts"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
    assert_eq!(starts.len(), 24);
    assert_eq!(*starts.last().unwrap(), at("2026-03-02T09:00:00Z"), "the newest bucket holds the clock");
    let nps = doc["figures"].as_array().unwrap().iter().find(|f| f["metric"] == "nps_score").unwrap();
    let points = nps["series"].as_array().unwrap();
    let hour =
        |h: i64| points[starts.iter().position(|s| *s == at("2026-03-02T00:00:00Z") + h * 3_600_000).unwrap()].clone();
    // One response per hour 00..04: scores 0, 2, 6 (detractors), 10 (promoter), 3.
    assert_eq!(hour(0), -100.0);
    assert_eq!(hour(3), 100.0);
    assert_eq!(hour(4), -100.0);
    assert!(hour(5).is_null(), "no responses, no point");
    assert_eq!(nps["value"], 100.0 * (1.0 - 4.0) / 5.0);

    // Grouped points (6 hours each) still add up to the window for additive figures.
    let r7 = api::segments(&src, &Query { window: Some("7d".into()), ..Query::default() }).unwrap();
    assert_eq!(r7["axis"]["step_ms"], 6 * 3_600_000);
    let eu = figure(&r7, "region", "eu");
    let revenue = &eu["figures"]["revenue"];
    let spark: Vec<f64> = revenue["spark"].as_array().unwrap().iter().filter_map(|v| v.as_f64()).collect();
    // 700 at 05:00 and 450.5 at 07:10 fall in the 00:00 and 06:00 points (3 significant digits).
    assert_eq!(spark[spark.len() - 2..], [700.0, 451.0]);
    assert!(spark[..spark.len() - 2].iter().all(|v| *v == 0.0));
    assert_eq!(revenue["value"], 1150.5);
    let id = r.engine.catalog.find("region", "eu").unwrap();
    let spec = &r.engine.settings.windows[1];
    let grouped = series::grouped(&r.engine.view, id, 1, spec, r.engine.view.clock(), 30);
    let exact: f64 = series::values(&grouped, SegmentMetric::Revenue, None).unwrap().into_iter().flatten().sum();
    assert_eq!(exact, 1150.5);
    let active: f64 =
        series::values(&grouped, SegmentMetric::ActiveCustomers, None).unwrap().into_iter().flatten().sum();
    assert_eq!(Some(active), eu["figures"]["active_customers"]["value"].as_f64());
}

#[test]
fn rule_states_mark_the_figures_they_judge() {
    let r = run(&config(""), &events(), "2026-03-02T09:00:00Z");
    let src = r.status();
    let doc = api::segments(&src, &Query { window: Some("24h".into()), ..Query::default() }).unwrap();
    let pro = figure(&doc, "plan", "pro");
    assert_eq!(pro["firing"], serde_json::json!(["low-nps"]));
    assert_eq!(
        pro["figures"]["nps_score"]["rules"],
        serde_json::json!([{ "rule": "low-nps", "window": "24h", "state": "firing" }])
    );
    let free = figure(&doc, "plan", "free");
    assert_eq!(free["figures"]["nps_score"]["rules"][0]["state"], "ok");
    assert_eq!(free["firing"], serde_json::json!([]));
    // Revenue 1150.5 > 1000 in eu over 7d; the rule applies to region/eu only.
    let doc7 = api::segments(&src, &Query { window: Some("7d".into()), ..Query::default() }).unwrap();
    let eu = figure(&doc7, "region", "eu");
    assert_eq!(eu["figures"]["revenue"]["rules"][0]["state"], "firing");
    assert!(figure(&doc7, "region", "us")["figures"]["revenue"].get("rules").is_none());
    let rule = doc7["rules"].as_array().unwrap().iter().find(|r| r["name"] == "eu-revenue").unwrap();
    assert_eq!(rule["direction"], "above");
    assert_eq!(rule["threshold"], 1000.0);
    // The alerts view lists the firing alert.
    let alerts = api::alerts(&src);
    let recent = alerts["recent"].as_array().unwrap();
    assert!(recent.iter().any(|a| a["rule"] == "low-nps" && a["segment"] == "pro" && a["state"] == "firing"));
}

#[test]
fn no_customer_id_unless_customer_rows_is_on() {
    // Quiet customers go inactive by the 20th: transitions are counted, not listed.
    let r = run(&config(""), &events(), "2026-03-20T00:00:00Z");
    let src = r.status();
    let mut everything = String::new();
    for w in ["24h", "7d"] {
        everything += &api::segments(&src, &Query { window: Some(w.into()), ..Query::default() }).unwrap().to_string();
        everything += &api::segment(&src, "plan", "pro", &Query { window: Some(w.into()), ..Query::default() })
            .unwrap()
            .to_string();
    }
    let alerts = api::alerts(&src);
    everything += &alerts.to_string();
    everything += &api::health(&src).to_string();
    assert!(!everything.contains("cust-"), "a customer id leaked");
    assert_eq!(alerts["counts"]["totals"]["inactive"], 9);
    assert_eq!(alerts["counts"]["series"].as_array().unwrap().len(), 3);
    assert!(alerts.get("customers").is_none());

    let r = run(&config("").with_customer_rows(), &events(), "2026-03-20T00:00:00Z");
    let alerts = api::alerts(&r.status());
    assert_eq!(alerts["customer_rows"], true);
    let rows = alerts["customers"].as_array().unwrap();
    assert_eq!(rows.len(), 10, "bounded by status.recent_alerts");
    assert!(rows.iter().all(|r| r["customer_id"].as_str().unwrap().starts_with("cust-")));
}

trait CustomerRows {
    fn with_customer_rows(self) -> Self;
}

impl CustomerRows for Config {
    fn with_customer_rows(mut self) -> Self {
        self.status.customer_rows = true;
        self
    }
}

#[test]
fn health_reports_clocks_lag_and_version() {
    let r = run(&config(""), &events(), "2026-03-02T09:00:00Z");
    r.metrics.set_consumer_lag("cx.interactions", 0, 12);
    r.metrics.set_consumer_lag("cx.surveys", 0, 3);
    let h = api::health(&r.status());
    assert_eq!(h["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(h["stream_time"], "2026-03-02T09:00:00Z");
    assert_eq!(h["consumer_lag_total"], 15.0);
    assert_eq!(h["partitions"][0]["partition"], 0);
    assert_eq!(h["ready"], true);
    assert_eq!(h["restore"], serde_json::json!([]), "no restore running");
}

#[test]
fn bad_queries_are_clear_errors() {
    let r = run(&config(""), &events(), "2026-03-02T09:00:00Z");
    let src = r.status();
    let err = api::segments(&src, &Query::parse(Some("window=1y")).unwrap()).unwrap_err();
    assert_eq!(err.code(), "unknown_window");
    assert!(err.to_string().contains("24h, 7d"), "{err}");
    let err = api::segment(&src, "plan", "nope", &Query::default()).unwrap_err();
    assert_eq!((err.code(), err.status()), ("unknown_segment", 404));
    assert_eq!(Query::parse(Some("points=0")).unwrap_err(), ApiError::BadPoints);
    assert_eq!(Query::parse(Some("colour=red")).unwrap_err().code(), "unknown_parameter");
    let err = api::segments(&src, &Query::parse(Some("metrics=interactions")).unwrap()).unwrap_err();
    assert_eq!(err.code(), "unknown_metric", "a labelled metric is not an overview figure");
    let q = Query::parse(Some("window=7d&metrics=nps_score%2Crevenue&points=12")).unwrap();
    let doc = api::segments(&src, &q).unwrap();
    assert_eq!(doc["metrics"], serde_json::json!(["nps_score", "revenue"]));
    assert!(doc["axis"]["starts"].as_array().unwrap().len() <= 13);
}
