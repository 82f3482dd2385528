//! The status page in a real browser: `cxpulse run` (the binary) reads known events from a tansu
//! broker, and headless chromium (Debian's, driven by chromedriver over WebDriver) loads the page.
//! The NPS and active-customer figures shown for a segment must equal `/metrics`, a firing rule
//! must be shown as firing, and the browser console must stay free of errors. Screenshots of each
//! view are saved under `target/status-screenshots/` for people to look at.

mod status_support;
mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use status_support::{get_text, Driver, Session};
use support::*;

const SEGMENT_ROW: &str = r#"tr[data-dimension="plan"][data-segment="pro"]"#;

/// 100 customers: `pro`/`eu` ones mostly detractors (NPS -58.3), `free`/`us` ones promoters who buy.
fn known_events(now_ms: i64) -> Vec<Record> {
    let mut lines = Vec::new();
    let ts = |i: i64| now_ms - 120_000 + i * 100;
    for i in 0..60 {
        let id = format!("pro-{i:02}");
        let seg = r#"{"plan":"pro","region":"eu"}"#;
        let score = if i < 40 { 3 } else if i < 55 { 8 } else { 10 };
        lines.push(format!(r#"{{"type":"interaction","kind":"login","customer_id":"{id}","ts":{},"segments":{seg}}}"#, ts(i)));
        lines.push(format!(r#"{{"type":"survey","survey":"nps","score":{score},"customer_id":"{id}","ts":{}}}"#, ts(i) + 1));
    }
    for i in 0..40 {
        let id = format!("free-{i:02}");
        let seg = r#"{"plan":"free","region":"us"}"#;
        let amount = 10 + i;
        lines.push(format!(r#"{{"type":"interaction","kind":"purchase","amount":{amount},"customer_id":"{id}","ts":{},"segments":{seg}}}"#, ts(i)));
        lines.push(format!(r#"{{"type":"survey","survey":"nps","score":10,"customer_id":"{id}","ts":{}}}"#, ts(i) + 2));
        lines.push(format!(r#"{{"type":"survey","survey":"csat","score":{},"customer_id":"{id}","ts":{}}}"#, 3 + i % 3, ts(i) + 3));
    }
    lines.iter().map(|l| route_line(l.as_bytes())).collect()
}

const CONFIG: &str = r#"
[clock]
max_lag = "1s"
max_future_skew = "5m"

[status]
refresh = "1s"
recent_alerts = 50
counts_bucket = "1h"
counts_buckets = 24
customer_rows = false

[[windows]]
name = "10m"
size = "10m"
bucket = "10s"

[[windows]]
name = "24h"
size = "24h"
bucket = "1h"

[[windows]]
name = "7d"
size = "7d"
bucket = "1h"

[[rules]]
name = "low-nps-10m"
metric = "nps_score"
window = "10m"
below = 0.0
clear = 10.0
min_samples = 20

[[rules]]
name = "low-nps"
metric = "nps_score"
window = "7d"
below = 0.0
clear = 10.0
min_samples = 50
"#;

struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn artefacts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/status-screenshots")
}

/// Browser console entries at level SEVERE (errors), as text.
fn console_errors(session: &Session) -> Vec<String> {
    session
        .console()
        .into_iter()
        .filter(|e| e["level"].as_str() == Some("SEVERE"))
        .map(|e| e["message"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn series(metrics: &str, name: &str, labels: &str) -> f64 {
    let series = format!("{name}{{{labels}}}");
    metric(metrics, &series).unwrap_or_else(|| panic!("{series} missing from /metrics"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_the_figures_of_metrics_and_the_firing_rule_without_console_errors() {
    let broker = Tansu::start();
    create_default_topics(&broker.bootstrap(), 1).await;
    let now = chrono::Utc::now().timestamp_millis();
    let events = known_events(now);
    produce(&broker.bootstrap(), &events).await;

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), &broker.bootstrap(), "status-browser", port, CONFIG);
    std::fs::create_dir_all(artefacts()).unwrap();
    let log = std::fs::File::create(artefacts().join("cxpulse-run.log")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_cxpulse"))
        .args(["run", "--config", config.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start cxpulse run");
    let _service = Service(child);
    let addr = format!("127.0.0.1:{port}");

    let total = events.len() as u64;
    let metrics_text = || get_text(&addr, "/metrics").1;
    wait_until(Duration::from_secs(60), "every event processed and the rule firing", || {
        let text = metrics_text();
        let firing = r#"cxpulse_rule_firing{rule="low-nps-10m",dimension="plan",segment="pro"} 1"#;
        std::future::ready(events_seen(&text) == total && text.contains(firing))
    })
    .await;
    let text = metrics_text();
    let nps = series(&text, "cxpulse_nps_score", r#"dimension="plan",segment="pro",window="7d""#);
    let active = series(&text, "cxpulse_active_customers", r#"dimension="plan",segment="pro",window="7d""#);
    assert_eq!((nps * 100.0).round() / 100.0, -58.33, "the known events give NPS -58.33");
    assert_eq!(active, 60.0);

    let driver = Driver::start();
    let session = driver.session(1500, 1000);
    session.goto(&format!("http://{addr}/"));
    let cell = |metric: &str| {
        let script = format!(
            "var c = document.querySelector('{SEGMENT_ROW} td[data-metric=\"{metric}\"]');\
             return c ? {{ text: c.querySelector('.val').textContent, value: c.getAttribute('data-value'), class: c.className }} : null;"
        );
        session.wait_for(&format!("the {metric} cell of plan/pro"), &script, Duration::from_secs(20))
    };
    let nps_cell = cell("nps_score");
    let active_cell = cell("active_customers");
    assert_eq!(nps_cell["value"].as_str().unwrap().parse::<f64>().unwrap(), nps, "{nps_cell}");
    assert_eq!(nps_cell["text"], json!(format!("{nps:.1}")), "{nps_cell}");
    assert_eq!(active_cell["value"].as_str().unwrap().parse::<f64>().unwrap(), active, "{active_cell}");
    assert_eq!(active_cell["text"], json!("60"), "{active_cell}");
    let chips = session.run(
        &format!("return Array.from(document.querySelectorAll('{SEGMENT_ROW} .chip')).map(function (c) {{ return c.textContent; }});"),
        json!([]),
    );
    assert!(chips.as_array().unwrap().contains(&json!("low-nps-10m")), "the firing rule is listed on the row: {chips}");
    session.screenshot(&artefacts().join("overview.png"));

    // The rule's own window: its cell is coloured as firing.
    session.goto(&format!("http://{addr}/#/?window=10m"));
    let firing = session.wait_for(
        "the 10m NPS cell coloured as firing",
        &format!("var c = document.querySelector('{SEGMENT_ROW} td[data-metric=\"nps_score\"]'); return c && c.classList.contains('firing') && document.querySelector('.seg a.on').textContent === '10m';"),
        Duration::from_secs(20),
    );
    assert_eq!(firing, json!(true));
    let free_class = session.run(
        "var c = document.querySelector('tr[data-dimension=\"plan\"][data-segment=\"free\"] td[data-metric=\"nps_score\"]'); return c.className;",
        json!([]),
    );
    assert!(free_class.as_str().unwrap().contains("ok"), "a rule evaluated and not firing is shown as ok: {free_class}");
    session.screenshot(&artefacts().join("overview-10m.png"));

    // The segment view draws the rule's threshold on the NPS chart and marks it firing.
    session.goto(&format!("http://{addr}/#/segment/plan/pro?window=10m"));
    let chart = session.wait_for(
        "the segment view's NPS chart",
        "var c = document.querySelector('.chart[data-figure=\"nps_score\"]'); return c && c.querySelector('svg') ? { class: c.className, value: c.querySelector('.big').getAttribute('data-value'), svg: c.querySelector('svg').textContent } : null;",
        Duration::from_secs(20),
    );
    assert!(chart["class"].as_str().unwrap().contains("firing"), "{chart}");
    assert!(chart["svg"].as_str().unwrap().contains("low-nps-10m <"), "threshold drawn and labelled: {chart}");
    session.screenshot(&artefacts().join("segment.png"));

    // Alerts: the firing alert is listed; customer transitions are counts only.
    session.goto(&format!("http://{addr}/#/alerts"));
    session.wait_for(
        "the firing alert in the alerts view",
        "var r = document.querySelector('#segment-alerts tr[data-state=\"firing\"]'); return r ? r.textContent : null;",
        Duration::from_secs(20),
    );
    let page_text = session.run("return document.body.innerText;", json!([]));
    assert!(!page_text.as_str().unwrap().contains("pro-0"), "no customer id on the page");
    session.screenshot(&artefacts().join("alerts.png"));

    session.goto(&format!("http://{addr}/#/health"));
    let ready = session.wait_for(
        "the health view saying ready",
        "var r = document.querySelector('#readiness .v'); return r && r.textContent === 'ready' ? r.textContent : null;",
        Duration::from_secs(30),
    );
    assert_eq!(ready, json!("ready"));
    session.screenshot(&artefacts().join("health.png"));

    // It refreshes itself: the footer's update time changes without a reload.
    let marker = session.run("window.__kept = 42; return document.getElementById('foot').textContent;", json!([]));
    std::thread::sleep(Duration::from_millis(2500));
    let later = session.run("return [window.__kept, document.getElementById('foot').textContent];", json!([]));
    assert_eq!(later[0], json!(42), "no reload");
    assert_ne!(later[1], marker, "refreshed");

    let errors = console_errors(&session);
    assert!(errors.is_empty(), "browser console errors: {errors:?}");
    let api: Value = serde_json::from_str(&get_text(&addr, "/api/v1/alerts").1).unwrap();
    assert!(!api.to_string().contains("pro-0") && !api.to_string().contains("free-0"), "no customer ids: {api}");
}
