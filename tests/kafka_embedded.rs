//! The default configuration runs the whole pipeline on the embedded broker fed by the simulator:
//! segment figures and customer alerts show up on /metrics within a minute, and it shuts down
//! cleanly. (Smaller and faster than the default demo, same code path.)

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use cxpulse::config::{Config, DurationMs};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_config_fills_metrics_from_the_embedded_demo() {
    let mut config = Config::builtin().unwrap();
    assert_eq!(config.kafka.brokers, "embedded", "the built-in default is the embedded demo");
    let port = free_port();
    config.http.listen = format!("127.0.0.1:{port}");
    config.embedded.customers = 400;
    config.embedded.backfill_for = DurationMs(15_000);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let service = tokio::spawn(cxpulse::service::run(config, shutdown.clone()));
    let http = SocketAddr::from(([127, 0, 0, 1], port));
    let metrics = || async move { http_get(http, "/metrics").await.map(|r| r.1).unwrap_or_default() };

    wait_until(Duration::from_secs(60), "segment figures and inactivity alerts", || async {
        let text = metrics().await;
        let inactive = metric(&text, r#"cxpulse_alerts_total{kind="customer_inactive"}"#).unwrap_or(0.0);
        text.contains(r#"cxpulse_active_customers{dimension="plan""#) && inactive > 0.0
    })
    .await;
    let ready = http_get(http, "/readyz").await.map(|r| r.0);
    assert_eq!(ready, Some(200), "ready once caught up with the demo stream");
    assert!(metric(&metrics().await, "cxpulse_tracked_customers").unwrap_or(0.0) > 0.0);

    shutdown.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(40), service).await;
    stopped.expect("stops in time").expect("task").expect("clean shutdown");
}
