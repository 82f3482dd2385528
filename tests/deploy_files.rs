//! Static checks of the deployment files in deploy/: the Grafana dashboard is valid for provisioning
//! and follows its template variables, every alert rule carries severity, runbook and README entry,
//! the Kubernetes manifests hang together (probes, resources, ports, labels) and their ConfigMap's
//! TOML passes `cxpulse check-config`, the systemd unit is hardened and its env file names real
//! config keys, and the Dockerfile is multi-stage, non-root and health-checked. Needs no promtool.

mod deploy_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use deploy_support::{
    alert_blocks, alert_expr, dashboard, deploy, dockerfile_instructions, healthcheck_command, panel_queries, panels,
    read, repo,
};
use serde_json::Value;

/// Windowed segment gauges (SPEC §4): their queries must follow $dimension, $segment and $window.
const WINDOWED: &[&str] = &[
    "cxpulse_survey_responses",
    "cxpulse_nps_score",
    "cxpulse_csat_ratio",
    "cxpulse_ces_average",
    "cxpulse_interactions",
    "cxpulse_active_customers",
    "cxpulse_revenue",
    "cxpulse_average_order_value",
    "cxpulse_session_seconds_average",
    "cxpulse_resolution_seconds_average",
    "cxpulse_first_response_seconds_average",
    "cxpulse_churned_customers",
    "cxpulse_churn_ratio",
    "cxpulse_reengagement_messages",
    "cxpulse_reactivation_ratio",
    "cxpulse_reengagement_lift",
    "cxpulse_retention_ratio",
    "cxpulse_revenue_per_customer",
    "cxpulse_purchases_per_customer",
    "cxpulse_customer_lifetime_value",
];

fn cxpulse() -> &'static str {
    env!("CARGO_BIN_EXE_cxpulse")
}

fn metric_in(expr: &str, metric: &str) -> bool {
    deploy_support::metric_names(expr).iter().any(|m| m == metric)
}

// ------------------------------------------------------------------------------------- Grafana

#[test]
fn dashboard_is_valid_for_provisioning() {
    let d = dashboard();
    let uid = d["uid"].as_str().unwrap_or_default();
    assert!(!uid.is_empty() && uid.len() <= 40, "dashboard needs a uid of at most 40 characters: {uid:?}");
    assert!(d["title"].as_str().is_some_and(|t| !t.is_empty()), "dashboard needs a title");
    assert!(d["id"].is_null(), "a provisioned dashboard must not carry a database id");
    assert!(d.get("__inputs").is_none(), "__inputs is for manual import; provisioning uses the datasource variable");
    assert!(d["schemaVersion"].as_u64().is_some_and(|v| v >= 30), "schemaVersion");

    let vars = d["templating"]["list"].as_array().expect("templating.list");
    let var = |name: &str| vars.iter().find(|v| v["name"] == name).unwrap_or_else(|| panic!("no ${name} variable"));
    let ds = var("datasource");
    assert_eq!(ds["type"], "datasource");
    assert_eq!(ds["query"], "prometheus");
    for name in ["job", "instance", "dimension", "segment", "window"] {
        let v = var(name);
        assert_eq!(v["type"], "query", "${name}");
        assert_eq!(v["datasource"]["uid"], "${datasource}", "${name} must query through $datasource");
        assert!(v["query"].as_str().is_some_and(|q| q.starts_with("label_values(")), "${name} query");
    }

    let all = panels(&d);
    assert!(all.len() >= 20, "only {} panels", all.len());
    let mut ids = BTreeSet::new();
    for p in &all {
        let title = p["title"].as_str().unwrap_or_default();
        assert!(!title.is_empty(), "a panel without title: {p}");
        assert!(ids.insert(p["id"].as_u64().expect("panel id")), "duplicate panel id in {title}");
        assert!(p["gridPos"]["w"].as_u64().is_some() && p["gridPos"]["h"].as_u64().is_some(), "{title}: gridPos");
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{title}: panel datasource must be the variable");
        let targets = p["targets"].as_array().filter(|t| !t.is_empty()).unwrap_or_else(|| panic!("{title}: no target"));
        let mut refs = BTreeSet::new();
        for t in targets {
            assert_eq!(t["datasource"]["uid"], "${datasource}", "{title}: target datasource must be the variable");
            assert!(t["expr"].as_str().is_some_and(|e| !e.trim().is_empty()), "{title}: empty expr");
            assert!(refs.insert(t["refId"].as_str().expect("refId").to_string()), "{title}: duplicate refId");
        }
    }
}

#[test]
fn dashboard_has_no_hard_coded_instance_or_job() {
    let d = dashboard();
    let text = serde_json::to_string(&d).unwrap();
    for needle in ["127.0.0.1", "localhost", ":9898", "0.0.0.0"] {
        assert!(!text.contains(needle), "the dashboard hard-codes {needle:?}");
    }
    let variables = d["templating"]["list"].as_array().unwrap().iter().flat_map(|v| {
        ["query", "definition"].into_iter().filter_map(move |field| {
            let query = v[field].as_str().filter(|q| q.contains('('))?;
            Some((format!("variable {} {field}", v["name"]), String::new(), query.to_string()))
        })
    });
    for (title, _, expr) in panel_queries(&d).into_iter().chain(variables) {
        for label in ["instance", "job"] {
            for op in ["=\"", "=~\"", "!=\"", "!~\""] {
                let pattern = format!("{label}{op}");
                for (pos, _) in expr.match_indices(&pattern) {
                    let value = &expr[pos + pattern.len()..];
                    assert!(value.starts_with('$'), "{title}: {label} is matched against a fixed value in {expr}");
                }
            }
        }
        if !title.starts_with("variable ") {
            assert!(
                expr.contains("job=~\"$job\"") && expr.contains("instance=~\"$instance\""),
                "{title}: {expr} ignores $job/$instance"
            );
        }
    }
}

#[test]
fn dashboard_follows_its_segment_variables() {
    for (title, _, expr) in panel_queries(&dashboard()) {
        let windowed = WINDOWED.iter().any(|m| metric_in(&expr, m));
        if windowed {
            for needle in ["dimension=\"$dimension\"", "segment=~\"$segment\"", "window=\"$window\""] {
                assert!(expr.matches(needle).count() >= 1, "{title}: {expr} does not select {needle}");
            }
            // Every windowed selector of the expression, not only the first.
            for m in WINDOWED {
                for (pos, _) in expr.match_indices(&format!("{m}{{")) {
                    let selector = &expr[pos..pos + expr[pos..].find('}').unwrap()];
                    assert!(selector.contains("window=\"$window\""), "{title}: {selector} has no $window");
                }
            }
        }
        if metric_in(&expr, "cxpulse_customers") || metric_in(&expr, "cxpulse_rule_firing") {
            assert!(
                expr.contains("dimension=\"$dimension\"") && expr.contains("segment=~\"$segment\""),
                "{title}: {expr}"
            );
        }
    }
}

#[test]
fn dashboard_shows_the_segment_figures_and_the_pipeline() {
    let queries = panel_queries(&dashboard());
    let uses = |metric: &str| queries.iter().any(|(_, _, e)| metric_in(e, metric));
    let required = [
        // segment figures
        "cxpulse_nps_score",
        "cxpulse_csat_ratio",
        "cxpulse_ces_average",
        "cxpulse_active_customers",
        "cxpulse_churn_ratio",
        "cxpulse_revenue",
        "cxpulse_average_order_value",
        "cxpulse_resolution_seconds_average",
        "cxpulse_reengagement_lift",
        "cxpulse_customers",
        "cxpulse_retention_ratio",
        "cxpulse_revenue_per_customer",
        "cxpulse_purchases_per_customer",
        "cxpulse_customer_lifetime_value",
        "cxpulse_lifetime_revenue_average",
        // pipeline
        "cxpulse_events_total",
        "cxpulse_consumer_lag",
        "cxpulse_event_processing_seconds_bucket",
        "cxpulse_alerts_total",
        "cxpulse_tracked_customers",
    ];
    let missing: Vec<_> = required.iter().filter(|m| !uses(m)).collect();
    assert!(missing.is_empty(), "no panel shows {missing:?}");
    let latency: Vec<_> = queries.iter().filter(|(_, _, e)| e.contains("histogram_quantile(")).collect();
    assert!(latency.len() >= 3, "processing latency needs several quantiles: {latency:?}");
    let events = queries.iter().find(|(_, _, e)| metric_in(e, "cxpulse_events_total")).unwrap();
    assert!(events.2.contains("by (outcome)") && events.2.contains("rate("), "events/s by outcome: {}", events.2);
}

#[test]
fn grafana_provisioning_points_at_the_dashboard() {
    let providers = read(&deploy("grafana/provisioning/dashboards/cxpulse.yaml"));
    assert!(providers.contains("apiVersion: 1") && providers.contains("type: file"), "{providers}");
    assert!(providers.contains("path: /var/lib/grafana/dashboards/cxpulse"));
    let sources = read(&deploy("grafana/provisioning/datasources/cxpulse.yaml"));
    assert!(sources.contains("apiVersion: 1") && sources.contains("type: prometheus"), "{sources}");
}

// ----------------------------------------------------------------------------------- Prometheus

#[test]
fn every_alert_rule_has_severity_runbook_and_readme_entry() {
    let rules = read(&deploy("prometheus/cxpulse-rules.yml"));
    let readme = read(&deploy("README.md"));
    let headings: BTreeSet<&str> = readme.lines().filter_map(|l| l.strip_prefix("### ")).map(str::trim).collect();
    let blocks = alert_blocks(&rules);
    assert!(blocks.len() >= 10, "only {} alert rules", blocks.len());
    let mut names = BTreeSet::new();
    for (name, block) in &blocks {
        assert!(names.insert(name.clone()), "duplicate alert {name}");
        assert!(name.starts_with("Cxpulse"), "{name}: alert names start with Cxpulse");
        assert!(!alert_expr(block).is_empty(), "{name}: no expr");
        assert!(
            ["severity: critical", "severity: warning", "severity: info"].iter().any(|s| block.contains(s)),
            "{name}: needs a severity label"
        );
        for key in ["summary:", "description:"] {
            assert!(block.contains(key), "{name}: needs a {key} annotation");
        }
        let runbook = format!("runbook_url: \"deploy/README.md#{}\"", name.to_lowercase());
        assert!(block.contains(&runbook), "{name}: needs {runbook}");
        assert!(headings.contains(name.as_str()), "deploy/README.md has no runbook entry `### {name}`");
    }
    // Both kinds of alert the issue asks for.
    for needed in [
        "cxpulse_consumer_lag",
        "cxpulse_events_total",
        "cxpulse_stream_time_seconds",
        "cxpulse_publish_failures_total",
        "cxpulse_nps_score",
        "cxpulse_churn_ratio",
    ] {
        assert!(blocks.iter().any(|(_, b)| alert_expr(b).contains(needed)), "no alert rule on {needed}");
    }
    assert!(blocks.iter().any(|(_, b)| alert_expr(b).contains("up{")), "no target-down alert");
}

// ----------------------------------------------------------------------------------- Kubernetes

/// The YAML documents of a file, split on `---` lines.
fn documents(text: &str) -> Vec<String> {
    text.split("\n---").map(str::to_string).filter(|d| d.lines().any(|l| l.starts_with("kind:"))).collect()
}

/// The value of a top-level key (`kind: X`).
fn top(doc: &str, key: &str) -> Option<String> {
    doc.lines().find_map(|l| l.strip_prefix(&format!("{key}:"))).map(|v| v.trim().trim_matches('"').to_string())
}

/// The first `key:` value found after the first line containing `anchor` in `doc`.
fn after(doc: &str, anchor: &str, key: &str) -> Option<String> {
    let start = doc.find(anchor)?;
    doc[start..]
        .lines()
        .find_map(|l| l.trim_start().trim_start_matches("- ").strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().trim_matches('"').to_string())
}

/// The TOML held by the ConfigMap under `cxpulse.toml: |`, dedented.
fn configmap_toml() -> String {
    let text = read(&deploy("kubernetes/configmap.yaml"));
    let mut lines = text.lines().skip_while(|l| l.trim() != "cxpulse.toml: |");
    let key = lines.next().expect("configmap.yaml has no `cxpulse.toml: |` block");
    let key_indent = key.len() - key.trim_start().len();
    let body: Vec<&str> =
        lines.take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > key_indent).collect();
    let indent =
        body.iter().filter(|l| !l.trim().is_empty()).map(|l| l.len() - l.trim_start().len()).min().unwrap_or(0);
    body.iter().map(|l| if l.len() >= indent { &l[indent..] } else { "" }).collect::<Vec<_>>().join("\n") + "\n"
}

fn duration(s: &str) -> Duration {
    humantime::parse_duration(s).unwrap_or_else(|e| panic!("{s:?} is not a duration: {e}"))
}

fn check_config(file: &Path, env: &[(String, String)]) -> std::process::Output {
    Command::new(cxpulse())
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .arg("check-config")
        .arg(file)
        .output()
        .expect("run cxpulse check-config")
}

#[test]
fn kubernetes_configmap_toml_passes_check_config() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cxpulse.toml");
    let toml_text = configmap_toml();
    std::fs::write(&file, &toml_text).unwrap();
    let out = check_config(&file, &[]);
    assert!(
        out.status.success(),
        "the ConfigMap's cxpulse.toml is invalid:\n{}\n{}\n--- toml\n{toml_text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // And the check really looks at it: a typo is caught.
    std::fs::write(&file, toml_text.replace("[http]", "[htttp]")).unwrap();
    assert!(!check_config(&file, &[]).status.success(), "check-config accepted an unknown section");
}

#[test]
fn kubernetes_manifests_hang_together() {
    let dir = deploy("kubernetes");
    let mut by_kind: BTreeMap<String, String> = BTreeMap::new();
    let mut files = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        assert!(name.ends_with(".yaml"), "unexpected file {name} in deploy/kubernetes");
        let text = read(&path);
        assert!(!text.contains('\t'), "{name}: tabs are not valid YAML indentation");
        assert!(text.starts_with('#'), "{name}: needs a header comment");
        let docs = documents(&text);
        assert!(!docs.is_empty(), "{name}: no document with a kind");
        for doc in docs {
            let kind = top(&doc, "kind").unwrap();
            assert!(top(&doc, "apiVersion").is_some(), "{name}: {kind} without apiVersion");
            if kind != "Kustomization" {
                assert!(after(&doc, "metadata:", "name").is_some(), "{name}: {kind} without metadata.name");
                files.insert(name.clone());
            }
            by_kind.insert(kind, doc);
        }
    }
    for kind in ["ConfigMap", "Deployment", "Service", "ServiceMonitor", "Kustomization"] {
        assert!(by_kind.contains_key(kind), "deploy/kubernetes has no {kind}");
    }
    let kustomization = &by_kind["Kustomization"];
    for file in &files {
        assert!(kustomization.contains(&format!("- {file}")), "kustomization.yaml does not list {file}");
    }

    let deployment = &by_kind["Deployment"];
    assert_eq!(after(deployment, "livenessProbe:", "path").as_deref(), Some("/healthz"));
    assert_eq!(after(deployment, "readinessProbe:", "path").as_deref(), Some("/readyz"));
    for key in ["requests:", "limits:"] {
        let block = &deployment[deployment.find(key).unwrap_or_else(|| panic!("Deployment: no resources {key}"))..];
        assert!(
            after(block, key, "cpu").is_some() && after(block, key, "memory").is_some(),
            "resources {key} cpu+memory"
        );
    }
    for setting in ["runAsNonRoot: true", "readOnlyRootFilesystem: true", "allowPrivilegeEscalation: false"] {
        assert!(deployment.contains(setting), "Deployment: {setting}");
    }
    assert!(deployment.contains("/etc/cxpulse/cxpulse.toml") && deployment.contains("name: cxpulse-config"));

    // Ports: the TOML's listen port is the containerPort; it listens beyond loopback.
    let config: toml::Table = configmap_toml().parse().expect("ConfigMap TOML parses");
    let listen = config["http"]["listen"].as_str().expect("http.listen set in the ConfigMap");
    assert!(listen.starts_with("0.0.0.0:") || listen.starts_with("[::]:"), "pod must listen beyond loopback: {listen}");
    let port = listen.rsplit(':').next().unwrap();
    assert_eq!(after(deployment, "ports:", "containerPort").as_deref(), Some(port));
    assert_ne!(config["kafka"]["brokers"].as_str(), Some("embedded"), "the ConfigMap should name real brokers");

    // Graceful shutdown fits in the grace period.
    let grace: u64 =
        after(deployment, "spec:", "terminationGracePeriodSeconds").expect("grace period").parse().unwrap();
    let shutdown =
        config.get("service").and_then(|s| s.get("shutdown_timeout")).and_then(|v| v.as_str()).unwrap_or("30s");
    assert!(Duration::from_secs(grace) > duration(shutdown), "terminationGracePeriodSeconds {grace} <= {shutdown}");

    // Service -> ServiceMonitor: same port name, labels that select each other, job "cxpulse".
    let port_name = after(deployment, "ports:", "name").unwrap();
    let service = &by_kind["Service"];
    assert_eq!(after(service, "ports:", "name"), Some(port_name.clone()));
    assert!(service.contains("app.kubernetes.io/name: cxpulse"));
    let monitor = &by_kind["ServiceMonitor"];
    assert_eq!(after(monitor, "endpoints:", "port"), Some(port_name));
    assert_eq!(after(monitor, "endpoints:", "path").as_deref(), Some("/metrics"));
    assert_eq!(top(monitor, "apiVersion").as_deref(), Some("monitoring.coreos.com/v1"));
    assert_eq!(
        after(monitor, "spec:", "jobLabel").as_deref(),
        Some("app.kubernetes.io/name"),
        "job label must be cxpulse"
    );
}

// -------------------------------------------------------------------------------------- systemd

/// `[Section]` -> (key, value) lines of a unit file.
fn unit_entries(text: &str) -> BTreeMap<String, Vec<(String, String)>> {
    let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut section = String::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';')) {
        if line.starts_with('[') && line.ends_with(']') {
            section = line[1..line.len() - 1].to_string();
            continue;
        }
        let (k, v) = line.split_once('=').unwrap_or_else(|| panic!("not a key=value line: {line}"));
        assert!(!section.is_empty(), "{line} outside a section");
        out.entry(section.clone()).or_default().push((k.trim().to_string(), v.trim().to_string()));
    }
    out
}

#[test]
fn systemd_unit_is_hardened() {
    let text = read(&deploy("systemd/cxpulse.service"));
    let unit = unit_entries(&text);
    let service = &unit["Service"];
    let get = |k: &str| service.iter().filter(|(key, _)| key == k).map(|(_, v)| v.as_str()).collect::<Vec<_>>();
    let one = |k: &str| *get(k).first().unwrap_or_else(|| panic!("[Service] has no {k}="));
    let allowed_repeats = ["SystemCallFilter", "ExecStartPre", "Environment", "LoadCredential"];
    let mut seen = BTreeSet::new();
    for (k, _) in service {
        assert!(seen.insert(k.as_str()) || allowed_repeats.contains(&k.as_str()), "{k}= given twice");
    }

    assert!(one("ExecStart").contains("cxpulse run --config /etc/cxpulse/cxpulse.toml"), "ExecStart");
    assert!(one("EnvironmentFile").trim_start_matches('-').starts_with("/etc/cxpulse/"), "EnvironmentFile");
    assert!(one("DynamicUser") == "yes" || !get("User").is_empty(), "run as DynamicUser or a dedicated User");
    for (key, value) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectControlGroups", "yes"),
        ("RestrictSUIDSGID", "yes"),
        ("LockPersonality", "yes"),
        ("CapabilityBoundingSet", ""),
        ("Restart", "on-failure"),
        ("KillSignal", "SIGTERM"),
    ] {
        assert_eq!(one(key), value, "{key}=");
    }
    assert!(one("RestrictAddressFamilies").contains("AF_INET"), "RestrictAddressFamilies");
    assert!(get("SystemCallFilter").contains(&"@system-service"), "SystemCallFilter=@system-service");
    let defaults: toml::Table = read(&repo().join("config/default.toml")).parse().unwrap();
    let shutdown = defaults["service"]["shutdown_timeout"].as_str().unwrap_or("30s");
    assert!(duration(one("TimeoutStopSec")) > duration(shutdown), "TimeoutStopSec must exceed {shutdown}");
    assert!(unit["Install"].iter().any(|(k, v)| k == "WantedBy" && v == "multi-user.target"));
    assert!(unit["Unit"].iter().any(|(k, v)| k == "After" && v.contains("network-online.target")));

    // When this machine has systemd-analyze, let systemd itself read the unit (binary path swapped
    // for the test build, which must exist for `verify`).
    if let Ok(out) = Command::new("systemd-analyze").arg("--version").output() {
        if out.status.success() {
            let dir = tempfile::tempdir().unwrap();
            let env_file = dir.path().join("cxpulse.env");
            std::fs::copy(deploy("systemd/cxpulse.env"), &env_file).unwrap();
            let local = text
                .replace("/usr/local/bin/cxpulse", cxpulse())
                .replace("/etc/cxpulse/cxpulse.env", env_file.to_str().unwrap());
            let unit_path = dir.path().join("cxpulse.service");
            std::fs::write(&unit_path, local).unwrap();
            let out = Command::new("systemd-analyze").arg("verify").arg(&unit_path).output().unwrap();
            let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            let problems: Vec<_> = said.lines().filter(|l| l.contains("cxpulse.service")).collect();
            assert!(out.status.success() && problems.is_empty(), "systemd-analyze verify:\n{said}");
        }
    } else {
        deploy_support::skip_note("note: systemd-analyze not installed; the unit was checked by key only");
    }
}

#[test]
fn systemd_env_file_names_real_config_keys() {
    let text = read(&deploy("systemd/cxpulse.env"));
    assert!(text.starts_with('#'), "cxpulse.env needs a header comment");
    // Every setting, the commented examples included, must be a valid override.
    let mut env = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let setting = line.strip_prefix('#').unwrap_or(line);
        if let Some((k, v)) = setting.split_once('=') {
            if k.starts_with("CXPULSE_") && !k.contains(' ') {
                env.push((k.to_string(), v.to_string()));
            }
        }
    }
    assert!(env.iter().any(|(k, _)| k == "CXPULSE_KAFKA__BROKERS"), "cxpulse.env should show CXPULSE_KAFKA__BROKERS");
    assert!(env.len() >= 4, "{env:?}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cxpulse.toml");
    std::fs::write(&file, configmap_toml()).unwrap();
    let out = check_config(&file, &env);
    assert!(
        out.status.success(),
        "cxpulse.env holds an invalid override:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// --------------------------------------------------------------------------------------- Docker

#[test]
fn dockerfile_is_multi_stage_non_root_and_health_checked() {
    let instructions = dockerfile_instructions();
    let first =
        |word: &str| instructions.iter().filter(|i| i.starts_with(&format!("{word} "))).cloned().collect::<Vec<_>>();
    let froms = first("FROM");
    assert!(froms.len() >= 2, "multi-stage build expected: {froms:?}");
    assert!(froms[0].to_lowercase().contains(" as builder"), "first stage should be named builder: {}", froms[0]);
    let runtime = froms.last().unwrap();
    assert!(runtime.contains("slim") || runtime.contains("distroless"), "small runtime image expected: {runtime}");
    assert!(
        instructions.iter().any(|i| i.contains("cargo build --profile dist --locked")),
        "optimised build (the dist profile) with the lock file"
    );
    assert!(
        instructions.iter().any(|i| i.starts_with("COPY --from=builder")),
        "runtime copies the binary from the builder"
    );
    let user = first("USER");
    let user = user.last().expect("no USER: the image would run as root");
    let who = user.trim_start_matches("USER ").split(':').next().unwrap();
    assert!(who != "root" && who != "0", "runs as root: {user}");
    assert!(instructions.iter().any(|i| i.starts_with("EXPOSE 9898")), "EXPOSE the HTTP port");
    assert!(instructions.iter().any(|i| i.starts_with("ENTRYPOINT") && i.contains("cxpulse")));
    let health = healthcheck_command();
    assert!(health.join(" ").contains("/healthz"), "HEALTHCHECK must probe /healthz: {health:?}");
    // The runtime listens beyond loopback, so published ports and the health check reach it.
    assert!(instructions.iter().any(|i| i.contains("CXPULSE_HTTP__LISTEN=0.0.0.0:9898")));
    let ignore = read(&deploy("Dockerfile.dockerignore"));
    assert!(ignore.lines().any(|l| l.trim().trim_end_matches('/') == "target"), "keep target/ out of the context");
}

// ------------------------------------------------------------------------------------------ all

#[test]
fn deploy_files_start_with_a_header_comment() {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&deploy(""), &mut files);
    files.push(repo().join("scripts/install-prometheus.sh"));
    for path in files {
        let name = path.to_string_lossy();
        if name.ends_with(".json") || name.ends_with(".md") {
            continue; // JSON has no comments (the dashboard has a description); Markdown is prose
        }
        let text = read(&path);
        let first = text.lines().find(|l| !l.starts_with("#!") && !l.starts_with("# syntax=")).unwrap_or_default();
        assert!(first.starts_with('#') && first.len() > 10, "{name} should open with a comment saying what it is for");
    }
}

#[test]
fn readme_documents_deployment_and_sizing() {
    let readme = read(&deploy("README.md"));
    for section in
        ["## systemd", "## Kubernetes", "## Docker", "## Prometheus", "## Grafana", "## Runbook", "## Sizing"]
    {
        assert!(readme.lines().any(|l| l.starts_with(section)), "deploy/README.md has no `{section}` section");
    }
    let dashboard: Value = dashboard();
    assert!(readme.contains(dashboard["uid"].as_str().unwrap()), "README should name the dashboard uid");
}
