//! End to end: `cxpulse run` (embedded demo broker fed by the simulator) on a free loopback port, a
//! real Prometheus (Debian `prometheus`) scraping it every second with deploy/prometheus's alert
//! rules loaded, then every Grafana panel query and template variable of the dashboard through
//! Prometheus' HTTP API: each must return data. Also: every rule evaluates without error, every
//! metric the rules and the dashboard read is exported, the probe endpoints answer, and the
//! Dockerfile's HEALTHCHECK command passes against the live service. Both processes are killed at
//! the end, also on panic. Skipped with a message when prometheus is missing, except in CI.

mod deploy_support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use deploy_support::{
    alert_blocks, alert_expr, dashboard, deploy, encode, free_port, healthcheck_command, http_get, metric_names,
    panel_queries, read, substitute, tool, ChildGuard,
};
use serde_json::Value;

/// Everything must be there within this long after start (the demo backfills 45 days of history
/// in its first 45 seconds).
const DEADLINE: Duration = Duration::from_secs(150);
/// Give up early when no further check has passed for this long.
const STALL: Duration = Duration::from_secs(45);
/// Pipeline alerts that must not even be pending against a healthy demo.
const QUIET_ALERTS: &[&str] =
    &["CxpulseTargetDown", "CxpulseAbsent", "CxpulseInvalidEventRatioHigh", "CxpulsePublishFailing"];

fn spawn(name: &'static str, cmd: &mut Command, log: std::path::PathBuf) -> ChildGuard {
    let out = File::create(&log).expect("create log file");
    let err = out.try_clone().expect("clone log file");
    let child =
        cmd.stdin(Stdio::null()).stdout(out).stderr(err).spawn().unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    ChildGuard { name, child, log }
}

/// GET a Prometheus API path; the parsed JSON on HTTP 200 with status success.
fn api(port: u16, path: &str) -> Result<Value, String> {
    let (status, body) = http_get(port, path).ok_or_else(|| format!("no answer to {path}"))?;
    let json: Value =
        serde_json::from_str(&body).map_err(|e| format!("{path}: HTTP {status}, not JSON ({e}): {body}"))?;
    if status != 200 || json["status"] != "success" {
        return Err(format!("{path}: HTTP {status}: {}", json["error"]));
    }
    Ok(json)
}

/// A query returns data: at least one series with a finite value.
fn query_has_data(port: u16, expr: &str) -> Result<usize, String> {
    let json = api(port, &format!("/api/v1/query?query={}", encode(expr)))?;
    let result = json["data"]["result"].as_array().cloned().unwrap_or_default();
    let finite = result
        .iter()
        .filter(|s| s["value"][1].as_str().and_then(|v| v.parse::<f64>().ok()).is_some_and(f64::is_finite))
        .count();
    if finite == 0 {
        return Err(format!("{} series, none with a finite value", result.len()));
    }
    Ok(finite)
}

/// One round of every check: (what, Ok or why not). Data that comes and goes (a latency quantile
/// is NaN while no event arrives) counts once it has been seen.
fn checks(
    prom: u16,
    cx: u16,
    values: &[(&str, &str)],
    dashboard: &Value,
    rule_metrics: &BTreeSet<String>,
) -> Vec<(String, Result<(), String>)> {
    let mut out = Vec::new();

    // Every panel query.
    let mut dashboard_metrics = BTreeSet::new();
    for (title, ref_id, expr) in panel_queries(dashboard) {
        let query = substitute(&expr, values);
        assert!(!query.contains('$'), "{title}/{ref_id}: unsubstituted variable in {query}");
        dashboard_metrics.extend(metric_names(&query));
        let result =
            query_has_data(prom, &query).map(|_| ()).map_err(|e| format!("{e}\n    {}", query.replace('\n', " ")));
        out.push((format!("panel {title:?} {ref_id}"), result));
    }

    // Every template variable: label_values(selector, label) must offer the value used above.
    for var in dashboard["templating"]["list"].as_array().unwrap() {
        let Some(q) = var["query"].as_str().and_then(|q| q.strip_prefix("label_values(")) else { continue };
        let q = substitute(q.trim_end_matches(')'), values);
        let (selector, label) = q.rsplit_once(',').expect("label_values(selector, label)");
        let label = label.trim();
        let name = var["name"].as_str().unwrap();
        let want = values.iter().find(|(k, _)| *k == name).map(|(_, v)| *v).unwrap();
        let result = match api(prom, &format!("/api/v1/label/{label}/values?match[]={}", encode(selector.trim()))) {
            Ok(json) if json["data"].as_array().is_some_and(|a| a.iter().any(|v| v == want)) => Ok(()),
            Ok(json) => Err(format!("{want:?} not among {}", json["data"])),
            Err(e) => Err(e),
        };
        out.push((format!("variable ${name}"), result));
    }

    // Every metric the rules or the dashboard read is exported.
    match api(prom, &format!("/api/v1/label/__name__/values?match[]={}", encode("{__name__=~\"cxpulse_.+\"}"))) {
        Ok(json) => {
            let exported: BTreeSet<String> =
                json["data"].as_array().unwrap().iter().filter_map(|v| v.as_str().map(str::to_string)).collect();
            for (reader, m) in rule_metrics
                .iter()
                .map(|m| ("alert rules", m))
                .chain(dashboard_metrics.iter().map(|m| ("dashboard", m)))
            {
                let result =
                    if exported.contains(m) { Ok(()) } else { Err("the service does not export it".to_string()) };
                out.push((format!("metric {m} read by the {reader}"), result));
            }
        }
        Err(e) => out.push(("metric names".to_string(), Err(e))),
    }

    // Every rule evaluated, without error.
    match api(prom, "/api/v1/rules") {
        Ok(json) => {
            for group in json["data"]["groups"].as_array().unwrap() {
                for rule in group["rules"].as_array().unwrap() {
                    let result = if rule["health"] == "ok" {
                        Ok(())
                    } else {
                        Err(format!("health {} {}", rule["health"], rule["lastError"]))
                    };
                    out.push((format!("rule {}", rule["name"].as_str().unwrap_or("?")), result));
                }
            }
        }
        Err(e) => out.push(("rules".to_string(), Err(e))),
    }

    // The probes the Deployment uses.
    for path in ["/healthz", "/readyz"] {
        let result = match http_get(cx, path) {
            Some((200, _)) => Ok(()),
            other => Err(format!("{other:?}")),
        };
        out.push((format!("cxpulse {path}"), result));
    }
    out
}

#[test]
fn dashboard_queries_and_alert_rules_work_against_prometheus_scraping_cxpulse() {
    let Some(prometheus) = tool("prometheus") else { return };
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();

    // cxpulse with its built-in defaults (embedded demo), only the listen address overridden.
    let cx_port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cxpulse"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("CXPULSE_")) {
        cmd.env_remove(k);
    }
    cmd.arg("run")
        .current_dir(dir.path())
        .env("CXPULSE_HTTP__LISTEN", format!("127.0.0.1:{cx_port}"))
        .env("NO_COLOR", "1");
    let mut cx = spawn("cxpulse", &mut cmd, dir.path().join("cxpulse.log"));
    while !matches!(http_get(cx_port, "/healthz"), Some((200, _))) {
        cx.assert_running();
        assert!(started.elapsed() < Duration::from_secs(30), "cxpulse /healthz did not answer\n{}", cx.log_tail(4000));
        std::thread::sleep(Duration::from_millis(200));
    }

    // Prometheus scraping it every second, with the deploy rules evaluated every second.
    let prom_port = free_port();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {rules:?}\n\
             scrape_configs:\n  - job_name: cxpulse\n    static_configs:\n      - targets: [\"127.0.0.1:{cx_port}\"]\n",
            rules = deploy("prometheus/cxpulse-rules.yml").to_str().unwrap()
        ),
    )
    .unwrap();
    let mut prom = spawn(
        "prometheus",
        Command::new(prometheus)
            .current_dir(dir.path())
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .arg("--storage.tsdb.retention.time=1h"),
        dir.path().join("prometheus.log"),
    );
    while !matches!(http_get(prom_port, "/-/ready"), Some((200, _))) {
        prom.assert_running();
        assert!(started.elapsed() < Duration::from_secs(60), "prometheus did not get ready\n{}", prom.log_tail(4000));
        std::thread::sleep(Duration::from_millis(200));
    }

    // The values Grafana would substitute.
    let instance = format!("127.0.0.1:{cx_port}");
    let values = [
        ("job", "cxpulse"),
        ("instance", instance.as_str()),
        ("dimension", "all"),
        ("segment", "all"),
        ("window", "7d"),
        ("__rate_interval", "30s"),
    ];
    let dashboard = dashboard();
    let rule_metrics: BTreeSet<String> = alert_blocks(&read(&deploy("prometheus/cxpulse-rules.yml")))
        .iter()
        .flat_map(|(_, b)| metric_names(&alert_expr(b)))
        .collect();

    // Each check must pass at least once; a rule must never be in error.
    let mut pending: BTreeMap<String, String> = BTreeMap::new();
    let mut passed: BTreeSet<String> = BTreeSet::new();
    let mut rule_errors: BTreeSet<String> = BTreeSet::new();
    let mut progress = Instant::now();
    loop {
        cx.assert_running();
        prom.assert_running();
        let before = passed.len();
        for (what, result) in checks(prom_port, cx_port, &values, &dashboard, &rule_metrics) {
            match result {
                Ok(()) => {
                    pending.remove(&what);
                    passed.insert(what);
                }
                Err(e) => {
                    if what.starts_with("rule ") && e.contains("\"err\"") {
                        rule_errors.insert(format!("{what}: {e}"));
                    }
                    if !passed.contains(&what) {
                        pending.insert(what, e);
                    }
                }
            }
        }
        if passed.len() > before {
            progress = Instant::now();
            eprintln!("{:>6.1?}: {} checks passed, {} pending", started.elapsed(), passed.len(), pending.len());
        }
        let stuck = progress.elapsed() > STALL;
        if (pending.is_empty() && !passed.is_empty())
            || !rule_errors.is_empty()
            || stuck
            || started.elapsed() > DEADLINE
        {
            break;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    assert!(
        rule_errors.is_empty(),
        "alert rules failed to evaluate on real data:\n  {}",
        rule_errors.into_iter().collect::<Vec<_>>().join("\n  ")
    );
    assert!(
        pending.is_empty(),
        "after {:?}, {} of {} checks never passed:\n  {}\n{}\n{}",
        started.elapsed(),
        pending.len(),
        pending.len() + passed.len(),
        pending.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join("\n  "),
        cx.log_tail(3000),
        prom.log_tail(3000)
    );
    eprintln!(
        "all {} checks (panels, variables, metrics, rules, probes) passed after {:?}",
        passed.len(),
        started.elapsed()
    );

    // A healthy demo trips none of the pipeline alerts, not even as pending.
    let alerts = api(prom_port, "/api/v1/alerts").unwrap();
    for alert in alerts["data"]["alerts"].as_array().unwrap() {
        let name = alert["labels"]["alertname"].as_str().unwrap_or_default();
        assert!(!QUIET_ALERTS.contains(&name), "{name} is {} against a healthy service: {alert}", alert["state"]);
    }

    // The image's HEALTHCHECK command, run here against the live service, then a closed port.
    let health = healthcheck_command();
    let check = |listen: &str| {
        Command::new(&health[0])
            .args(&health[1..])
            .env("CXPULSE_HTTP__LISTEN", listen)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run the HEALTHCHECK command")
    };
    assert!(check(&format!("0.0.0.0:{cx_port}")).success(), "HEALTHCHECK {health:?} fails against a live cxpulse");
    assert!(!check(&format!("0.0.0.0:{}", free_port())).success(), "HEALTHCHECK passes with nothing listening");
    eprintln!("done in {:?}", started.elapsed());
}
