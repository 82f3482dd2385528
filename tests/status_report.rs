//! `cxpulse replay --report FILE.html`: a golden test of the figures in the report. The binary
//! replays a small hand-written file; the report's embedded documents must give exactly the
//! figures in `tests/status_golden/report_figures.txt` (regenerate with `UPDATE_GOLDEN=1`), and
//! every one must equal the `--metrics-out` exposition of the same run.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The figures pinned by the golden file (analytics figures added later are not part of it).
const PINNED: [&str; 7] =
    ["nps_score", "csat_ratio", "ces_average", "active_customers", "churn_ratio", "revenue", "reengagement_lift"];

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/status_golden")
}

/// The JSON embedded in the report page.
fn embedded(html: &str) -> Value {
    let open = r#"<script id="cxpulse-data" type="application/json">"#;
    let start = html.find(open).expect("data block") + open.len();
    let end = start + html[start..].find("</script>").expect("end of data block");
    serde_json::from_str(&html[start..end]).expect("report data is JSON")
}

fn metric_value(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn replay(dir: &Path) -> (String, String) {
    let report = dir.join("report.html");
    let metrics = dir.join("metrics.prom");
    let output = Command::new(env!("CARGO_BIN_EXE_cxpulse"))
        .args(["replay", "--input"])
        .arg(golden_dir().join("events.jsonl"))
        .arg("--config")
        .arg(golden_dir().join("config.toml"))
        .args(["--as-of", "2026-03-04T00:00:00Z", "--report"])
        .arg(&report)
        .arg("--metrics-out")
        .arg(&metrics)
        .output()
        .expect("run cxpulse replay");
    assert!(output.status.success(), "replay failed: {}", String::from_utf8_lossy(&output.stderr));
    (std::fs::read_to_string(report).unwrap(), std::fs::read_to_string(metrics).unwrap())
}

#[test]
fn report_figures_match_the_golden_file_and_the_exposition() {
    let dir = tempfile::tempdir().unwrap();
    let (html, exposition) = replay(dir.path());
    assert!(!html.contains("http://") && !html.contains("https://"), "self-contained");
    let data = embedded(&html);
    assert_eq!(data["mode"], "report");
    assert_eq!(data["default_window"], "7d");
    let mut lines = Vec::new();
    let mut checked = 0;
    for (window, doc) in data["overview"].as_object().unwrap() {
        assert_eq!(doc["at"], "2026-03-04T00:00:00Z", "at the final clock");
        for dim in doc["dimensions"].as_array().unwrap() {
            for seg in dim["segments"].as_array().unwrap() {
                let (d, s) = (dim["name"].as_str().unwrap(), seg["segment"].as_str().unwrap());
                let c = &seg["customers"];
                lines.push(format!("{window} {d}/{s} customers {} {} {}", c["active"], c["inactive"], c["churned"]));
                for name in PINNED {
                    let f = &seg["figures"][name];
                    let series = format!("cxpulse_{name}{{dimension=\"{d}\",segment=\"{s}\",window=\"{window}\"}}");
                    // serde_json's default float parser may be one ULP off; the text itself is exact.
                    let (shown, exported) = (f["value"].as_f64(), metric_value(&exposition, &series));
                    let same = match (shown, exported) {
                        (Some(a), Some(b)) => (a - b).abs() <= 1e-12 * a.abs().max(1.0),
                        (a, b) => a == b,
                    };
                    assert!(same, "{series}: report {shown:?}, exposition {exported:?}");
                    checked += 1;
                    if f.is_null() {
                        continue;
                    }
                    let rules: Vec<String> = f["rules"]
                        .as_array()
                        .map(|r| {
                            r.iter()
                                .map(|r| format!("{}:{}", r["rule"].as_str().unwrap(), r["state"].as_str().unwrap()))
                                .collect()
                        })
                        .unwrap_or_default();
                    lines.push(format!(
                        "{window} {d}/{s} {name} {} n={} spark={} {}",
                        f["value"],
                        f["samples"],
                        f["spark"],
                        rules.join(",")
                    ));
                }
            }
        }
    }
    assert!(checked > 100, "{checked}");
    for alert in data["alerts"]["recent"].as_array().unwrap() {
        lines.push(format!(
            "alert {} {} {}/{} {} value={}",
            alert["at"].as_str().unwrap(),
            alert["rule"].as_str().unwrap(),
            alert["dimension"].as_str().unwrap(),
            alert["segment"].as_str().unwrap(),
            alert["state"].as_str().unwrap(),
            alert["value"]
        ));
    }
    lines.push(format!("counts {}", data["alerts"]["counts"]["totals"]));
    let text = lines.join("\n") + "\n";
    let golden = golden_dir().join("report_figures.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &text).unwrap();
    }
    let expected = std::fs::read_to_string(&golden).expect("golden file (UPDATE_GOLDEN=1 writes it)");
    if text != expected {
        let diff: Vec<String> = expected
            .lines()
            .zip(text.lines())
            .filter(|(a, b)| a != b)
            .take(10)
            .map(|(a, b)| format!("- {a}\n+ {b}"))
            .collect();
        panic!("report figures differ from {}:\n{}", golden.display(), diff.join("\n"));
    }
    assert!(!html.contains("\"c0") && !html.contains("\"c2"), "no customer id in the report");
}

#[test]
fn the_same_input_gives_the_same_report() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    assert_eq!(replay(a.path()).0, replay(b.path()).0);
}
