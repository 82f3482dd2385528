//! The Prometheus files in deploy/prometheus/, checked by promtool itself: the alert rules
//! (`promtool check rules`), their unit tests on synthetic series (`promtool test rules`; every
//! alert must have a case where it fires and one where it stays quiet) and the scrape config
//! (`promtool check config`). Skipped with a message when promtool is missing, except in CI.

mod deploy_support;

use std::collections::BTreeMap;
use std::process::Command;

use deploy_support::{alert_names, deploy, read, run_ok, tool};

#[test]
fn alert_rules_pass_promtool_check() {
    let Some(promtool) = tool("promtool") else { return };
    let out = run_ok(Command::new(promtool).arg("check").arg("rules").arg(deploy("prometheus/cxpulse-rules.yml")));
    let text = String::from_utf8_lossy(&out.stdout);
    let alerts = alert_names(&read(&deploy("prometheus/cxpulse-rules.yml")));
    assert!(text.contains(&format!("SUCCESS: {} rules found", alerts.len())), "{text}");
}

#[test]
fn scrape_config_passes_promtool_check() {
    let Some(promtool) = tool("promtool") else { return };
    // Also loads the rule file the config names, relative to the config.
    run_ok(Command::new(promtool).arg("check").arg("config").arg(deploy("prometheus/prometheus.yml")));
}

#[test]
fn every_alert_rule_has_passing_unit_tests_that_fire_and_stay_quiet() {
    let rules = read(&deploy("prometheus/cxpulse-rules.yml"));
    let tests = read(&deploy("prometheus/cxpulse-rules.test.yml"));

    // Which alerts have a firing case (exp_alerts lists alerts) and a quiet one (exp_alerts: []).
    let mut cases: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in tests.lines() {
        let l = line.trim_start().trim_start_matches("- ");
        if let Some(name) = l.strip_prefix("alertname:") {
            current = Some(name.trim().trim_matches('"').to_string());
        } else if let Some(rest) = l.strip_prefix("exp_alerts:") {
            let name = current.take().expect("exp_alerts without alertname");
            let entry = cases.entry(name).or_default();
            if rest.trim() == "[]" {
                entry.1 += 1;
            } else {
                entry.0 += 1;
            }
        }
    }
    let mut missing = Vec::new();
    for alert in alert_names(&rules) {
        let (fires, quiet) = cases.get(&alert).copied().unwrap_or_default();
        if fires == 0 {
            missing.push(format!("{alert}: no case where it fires"));
        }
        if quiet == 0 {
            missing.push(format!("{alert}: no case where it stays quiet"));
        }
    }
    for name in cases.keys() {
        if !alert_names(&rules).contains(name) {
            missing.push(format!("{name}: tested but not a rule"));
        }
    }
    assert!(missing.is_empty(), "cxpulse-rules.test.yml does not cover every alert:\n{}", missing.join("\n"));

    let Some(promtool) = tool("promtool") else { return };
    let out = run_ok(
        Command::new(promtool).current_dir(deploy("prometheus")).arg("test").arg("rules").arg("cxpulse-rules.test.yml"),
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("SUCCESS"));
}
