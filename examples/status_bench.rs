//! Status page figures with 200 segments: the bytes a page load transfers (the page, the overview
//! document and the health document) and how long the API takes to answer, over real HTTP on
//! loopback and in-process. Prints medians; asserts nothing.
//!
//!   cargo run --release --example status_bench [RUNS]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cxpulse::config::{self, Config};
use cxpulse::detect::rules::RuleState;
use cxpulse::engine::Engine;
use cxpulse::event::Decoder;
use cxpulse::telemetry::http::{self, HealthSource};
use cxpulse::telemetry::http_security::HttpSecurity;
use cxpulse::telemetry::status::api::{self, Query};
use cxpulse::telemetry::status::{RecentAlerts, StatusSource};
use cxpulse::telemetry::Metrics;

const DAY: i64 = 86_400_000;
const START: i64 = 1_767_225_600_000; // 2026-01-01

/// Four dimensions whose values make 199 segments, plus `all/all`: 200.
const CONFIG: &str = r#"
[segments]
dimensions = ["plan", "region", "country", "channel"]
max_values = 100
"#;
const VALUES: [usize; 4] = [4, 6, 100, 89];

struct Bench {
    engine: Engine,
    metrics: Metrics,
    rules: Vec<RuleState>,
}

impl StatusSource for Bench {
    fn engine(&self) -> &Engine {
        &self.engine
    }
    fn rule_states(&self) -> Vec<RuleState> {
        self.rules.clone()
    }
    fn metrics(&self) -> &Metrics {
        &self.metrics
    }
    fn readiness(&self) -> Result<(), String> {
        Ok(())
    }
    fn wall_ms(&self) -> i64 {
        START + 30 * DAY
    }
    fn refresh_ms(&self) -> u64 {
        5000
    }
    fn mode(&self) -> &'static str {
        "live"
    }
}

struct Served(Arc<Bench>);

impl HealthSource for Served {
    fn metrics_text(&self) -> String {
        String::new()
    }
    fn readiness(&self) -> Result<(), String> {
        Ok(())
    }
    fn status(&self) -> Option<Arc<dyn StatusSource>> {
        Some(Arc::clone(&self.0) as Arc<dyn StatusSource>)
    }
}

/// 30 days of events for 20,000 customers spread over every segment.
fn build(config: &Config) -> Bench {
    let engine = Engine::new(config);
    let metrics = Metrics::new();
    metrics.keep_recent_alerts(Arc::new(RecentAlerts::new(&config.status)));
    let s = &engine.settings;
    let decoder = Decoder::new(s.max_event_bytes, s.dimensions.clone(), s.max_future_skew as u64);
    let mut partition = engine.partition(0);
    let mut rules = engine.rule_evaluator();
    let mut effects = Vec::new();
    let customers = 20_000i64;
    let mut lines = Vec::new();
    for step in 0..(customers * 8) {
        let c = step % customers;
        let ts = START + step * (30 * DAY / (customers * 8));
        let segs = format!(
            r#"{{"plan":"p{}","region":"r{}","country":"c{}","channel":"h{}"}}"#,
            c as usize % VALUES[0],
            c as usize % VALUES[1],
            c as usize % VALUES[2],
            c as usize % VALUES[3]
        );
        lines.push(match (step / customers) % 4 {
            0 => format!(r#"{{"type":"interaction","kind":"login","customer_id":"u{c}","ts":{ts},"segments":{segs}}}"#),
            1 => format!(
                r#"{{"type":"survey","survey":"nps","score":{},"customer_id":"u{c}","ts":{ts},"segments":{segs}}}"#,
                step % 11
            ),
            2 => format!(
                r#"{{"type":"interaction","kind":"purchase","amount":{},"customer_id":"u{c}","ts":{ts}}}"#,
                5 + step % 50
            ),
            _ => format!(
                r#"{{"type":"survey","survey":"csat","score":{},"customer_id":"u{c}","ts":{ts}}}"#,
                1 + step % 5
            ),
        });
    }
    for line in &lines {
        if let Ok(event) = decoder.decode(line.as_bytes(), None) {
            partition.apply(&event, &mut effects, &mut rules);
            for e in effects.drain(..) {
                metrics.effect_emitted(&e);
            }
        }
    }
    Bench { rules: rules.states(), engine, metrics }
}

fn get(addr: std::net::SocketAddr, path: &str) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).unwrap();
    out
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let runs: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(21);
    let dir = std::env::temp_dir().join("cxpulse-status-bench.toml");
    std::fs::write(&dir, CONFIG).unwrap();
    let config = config::load(Some(&dir), &[]).unwrap();
    let bench = Arc::new(build(&config));
    let segments = bench.engine.catalog.all_segments().len();

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let listener = runtime.block_on(http::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let security = Arc::new(HttpSecurity::from_config(&config.http).unwrap());
    runtime.spawn(http::serve(listener, Arc::new(Served(Arc::clone(&bench))), security, stop.clone()));
    std::thread::sleep(Duration::from_millis(200));

    let page = get(addr, "/");
    let overview = get(addr, "/api/v1/segments");
    let health = get(addr, "/api/v1/health");
    let segment = get(addr, "/api/v1/segments/plan/p1");
    let alerts = get(addr, "/api/v1/alerts");
    let load = page.len() + overview.len() + health.len();
    println!("segments:                       {segments}");
    println!("page (/):                       {:>9} bytes", page.len());
    println!("overview (/api/v1/segments):    {:>9} bytes", overview.len());
    println!("health (/api/v1/health):        {:>9} bytes", health.len());
    println!("page load (all three):          {:>9} bytes ({:.0} KB)", load, load as f64 / 1000.0);
    println!("one segment (7d):               {:>9} bytes", segment.len());
    println!("alerts:                         {:>9} bytes", alerts.len());

    for (path, name) in [
        ("/api/v1/segments", "overview over HTTP"),
        ("/api/v1/segments?window=30d", "overview 30d over HTTP"),
        ("/api/v1/segments/all/all", "one segment over HTTP"),
        ("/api/v1/health", "health over HTTP"),
    ] {
        let times: Vec<f64> = (0..runs)
            .map(|_| {
                let t = Instant::now();
                get(addr, path);
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        println!("{name:<31} median {:>7.2} ms (of {runs})", median(times));
    }
    let times: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            let doc = api::segments(bench.as_ref(), &Query::default()).unwrap();
            std::hint::black_box(doc.to_string());
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    println!("overview in-process             median {:>7.2} ms (of {runs})", median(times));
    stop.cancel();
}
