//! The status page in a real browser: `cxpulse run` (the binary) runs its embedded demo (an
//! in-process Kafka-protocol broker fed by the seeded simulator, so a known event stream through
//! the real consumer path), and headless chromium (Debian's, driven by chromedriver over
//! WebDriver) loads the page.
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

/// The built-in demo (embedded broker fed by the seeded simulator: a known event stream) with a
/// rule that fires wherever there is an NPS response and one that never fires.
fn config(port: u16) -> String {
    format!(
        r#"
[kafka]
brokers = "embedded"

[http]
listen = "127.0.0.1:{port}"

[embedded]
partitions = 2
customers = 300
seed = 7
backfill = "20d"
backfill_for = "8s"

[status]
refresh = "1s"
recent_alerts = 50
counts_bucket = "1d"
counts_buckets = 20
customer_rows = false

[[rules]]
name = "demo-low-nps"
metric = "nps_score"
window = "7d"
below = 101.0
min_samples = 1

[[rules]]
name = "demo-never"
metric = "nps_score"
window = "7d"
below = -101.0
min_samples = 1
"#
    )
}

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

fn series(metrics: &str, name: &str, labels: &str) -> Option<f64> {
    metric(metrics, &format!("{name}{{{labels}}}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_the_figures_of_metrics_and_the_firing_rule_without_console_errors() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config_file = dir.path().join("status-browser.toml");
    std::fs::write(&config_file, config(port)).unwrap();
    std::fs::create_dir_all(artefacts()).unwrap();
    let log = std::fs::File::create(artefacts().join("cxpulse-run.log")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_cxpulse"))
        .args(["run", "--config", config_file.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start cxpulse run");
    let _service = Service(child);
    let addr = format!("127.0.0.1:{port}");
    let metrics_text = || get_text(&addr, "/metrics").1;

    // The plan segment with the most 7d NPS responses among those whose NPS rule fires. A rule
    // keeps firing while its window has fewer than `min_samples` responses (it resolves only on a
    // value that crosses `clear`), so a firing segment may have no NPS figure at all.
    let mut segment = String::new();
    wait_until(Duration::from_secs(90), "a plan segment with NPS responses and its NPS rule firing", || {
        let text = metrics_text();
        let responses = |name: &str| {
            metric(
                &text,
                &format!(r#"cxpulse_survey_responses{{dimension="plan",segment="{name}",window="7d",survey="nps"}}"#),
            )
            .unwrap_or(0.0)
        };
        let best = text
            .lines()
            .filter_map(|l| {
                let rest = l.strip_prefix(r#"cxpulse_rule_firing{rule="demo-low-nps",dimension="plan",segment=""#)?;
                let (name, value) = rest.split_once('"')?;
                value.ends_with(" 1").then(|| name.to_string())
            })
            .map(|name| (responses(&name), name))
            .filter(|(n, _)| *n > 0.0)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        if let Some((_, name)) = best {
            segment = name;
        }
        std::future::ready(!segment.is_empty())
    })
    .await;
    let row = format!(r#"tr[data-dimension="plan"][data-segment="{segment}"]"#);
    let labels = format!(r#"dimension="plan",segment="{segment}",window="7d""#);

    let driver = Driver::start();
    let session = driver.session(1500, 1000);
    session.goto(&format!("http://{addr}/"));
    let cell = |metric: &str| {
        let script = format!(
            "var c = document.querySelector('{row} td[data-metric=\"{metric}\"]');\
             return c && c.getAttribute('data-value') ? {{ text: c.querySelector('.val').textContent, value: c.getAttribute('data-value'), class: c.className }} : null;"
        );
        session.wait_for(&format!("the {metric} cell of plan/{segment}"), &script, Duration::from_secs(20))
    };
    // The demo keeps streaming: compare the page with /metrics until a quiet moment lets both
    // show the same state (the page refreshes every second).
    let deadline = Instant::now() + Duration::from_secs(60);
    let (nps_cell, active_cell, nps, active) = loop {
        let before = metrics_text();
        let (nps_cell, active_cell) = (cell("nps_score"), cell("active_customers"));
        let after = metrics_text();
        // A figure may be briefly absent while the window slides past the segment's responses.
        let nps = series(&after, "cxpulse_nps_score", &labels);
        let active = series(&after, "cxpulse_active_customers", &labels);
        let shown = |c: &Value| c["value"].as_str().unwrap().parse::<f64>().ok();
        let steady = nps.is_some()
            && active.is_some()
            && series(&before, "cxpulse_nps_score", &labels) == nps
            && series(&before, "cxpulse_active_customers", &labels) == active;
        if steady && shown(&nps_cell) == nps && shown(&active_cell) == active {
            break (nps_cell, active_cell, nps.unwrap(), active.unwrap());
        }
        assert!(
            Instant::now() < deadline,
            "page never matched /metrics: {nps_cell} {active_cell} vs {nps:?} {active:?}"
        );
        std::thread::sleep(Duration::from_millis(700));
    };
    assert_eq!(nps_cell["text"], json!(format!("{nps:.1}")), "{nps_cell}");
    assert_eq!(active_cell["text"].as_str().unwrap().replace(',', "").parse::<f64>().unwrap(), active, "{active_cell}");
    assert!(nps_cell["class"].as_str().unwrap().contains("firing"), "the firing rule colours the cell: {nps_cell}");
    let chips = session.run(
        &format!("return Array.from(document.querySelectorAll('{row} .chip')).map(function (c) {{ return c.textContent; }});"),
        json!([]),
    );
    assert!(
        chips.as_array().unwrap().contains(&json!("demo-low-nps")),
        "the firing rule is listed on the row: {chips}"
    );
    session.screenshot(&artefacts().join("overview.png"));

    // The segment view draws the rule's threshold on the NPS chart and marks it firing.
    session.goto(&format!("http://{addr}/#/segment/plan/{segment}?window=7d"));
    let chart = session.wait_for(
        "the segment view's NPS chart",
        "var c = document.querySelector('.chart[data-figure=\"nps_score\"]'); return c && c.querySelector('svg') ? { class: c.className, value: c.querySelector('.big').getAttribute('data-value'), svg: c.querySelector('svg').textContent } : null;",
        Duration::from_secs(20),
    );
    assert!(chart["class"].as_str().unwrap().contains("firing"), "{chart}");
    assert!(chart["svg"].as_str().unwrap().contains("demo-low-nps <"), "threshold drawn and labelled: {chart}");
    session.screenshot(&artefacts().join("segment.png"));

    // Alerts: the firing alert is listed; customer transitions are counts only.
    session.goto(&format!("http://{addr}/#/alerts"));
    session.wait_for(
        "the firing alert in the alerts view",
        "var r = document.querySelector('#segment-alerts tr[data-state=\"firing\"]'); return r ? r.textContent : null;",
        Duration::from_secs(20),
    );
    let page_text = session.run("return document.body.innerText;", json!([]));
    assert!(!page_text.as_str().unwrap().contains("c-0"), "no customer id on the page");
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
    assert!(!api.to_string().contains("\"c-0"), "no customer ids: {api}");
}
