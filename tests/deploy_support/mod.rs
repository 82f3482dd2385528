//! Helpers shared by the deploy tests (tests/deploy_*.rs): paths under deploy/, finding
//! promtool/prometheus (skip locally when missing, fail in CI), a child-process guard, a tiny
//! HTTP/1.0 client for loopback, and reading the Grafana dashboard's panel queries.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::Duration;

use serde_json::Value;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn deploy(rel: &str) -> PathBuf {
    repo().join("deploy").join(rel)
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// True when the suite runs in CI (`CI` set to anything but empty, `0` or `false`).
pub fn in_ci() -> bool {
    std::env::var("CI").map(|v| !v.is_empty() && v != "0" && v != "false").unwrap_or(false)
}

/// The path of `name` on PATH. Missing: `None` (the caller skips) on a developer machine, a panic
/// in CI, where scripts/test.sh installs it through scripts/install-prometheus.sh.
pub fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).map(|d| d.join(name)).find(|p| p.is_file()))
        .unwrap_or(None);
    if found.is_none() {
        let msg = format!("`{name}` is not installed (Debian package `prometheus`; run scripts/install-prometheus.sh)");
        if in_ci() {
            panic!("{msg}: required in CI");
        }
        skip_note(&format!("SKIPPED: {msg}"));
    }
    found
}

/// A line on the real stderr, shown even though the test harness captures `eprintln!` of
/// passing tests.
pub fn skip_note(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// Runs a command to completion; panics with its output unless it succeeds.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A free loopback port (bound, then released for the child to take).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral loopback port");
    listener.local_addr().expect("local address").port()
}

/// Kills the child (and reaps it) when dropped, also when the test panics.
pub struct ChildGuard {
    pub name: &'static str,
    pub child: Child,
    pub log: PathBuf,
}

impl ChildGuard {
    /// The last `max` bytes of the child's log, for failure messages.
    pub fn log_tail(&self, max: usize) -> String {
        let text = std::fs::read(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(max);
        format!("--- last of {} log ({})\n{}", self.name, self.log.display(), String::from_utf8_lossy(&text[start..]))
    }

    /// Panics with the log if the child has already exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited early with {status}\n{}", self.name, self.log_tail(4000));
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.0 GET on loopback: (status code, body). `None` when the connection fails.
pub fn http_get(port: u16, path_and_query: &str) -> Option<(u16, String)> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(15))).ok()?;
    stream.set_write_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!("GET {path_and_query} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nAccept: */*\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// Percent-encodes a query-string value.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The provisioned dashboard, parsed.
pub fn dashboard() -> Value {
    let path = deploy("grafana/dashboards/cxpulse.json");
    serde_json::from_str(&read(&path)).unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()))
}

/// Every panel that is not a row, including panels nested in collapsed rows.
pub fn panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for p in list.as_array().into_iter().flatten() {
            if p["type"] == "row" {
                walk(&p["panels"], out);
            } else {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// (panel title, refId, expr) of every panel target.
pub fn panel_queries(dashboard: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for p in panels(dashboard) {
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push((
                p["title"].as_str().unwrap_or("?").to_string(),
                t["refId"].as_str().unwrap_or("?").to_string(),
                t["expr"].as_str().unwrap_or("").to_string(),
            ));
        }
    }
    out
}

/// Replaces Grafana variables (`$name`, longest names first) by the given values.
pub fn substitute(expr: &str, values: &[(&str, &str)]) -> String {
    let mut pairs: Vec<_> = values.to_vec();
    pairs.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
    let mut s = expr.to_string();
    for (k, v) in pairs {
        s = s.replace(&format!("${{{k}}}"), v).replace(&format!("${k}"), v);
    }
    s
}

/// The alert names of a Prometheus rule file, in order (`- alert: Name` lines).
pub fn alert_names(rules: &str) -> Vec<String> {
    rules
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("- alert:"))
        .map(|n| n.trim().trim_matches('"').to_string())
        .collect()
}

/// Each alert's block of text in a rule file: from its `- alert:` line to the next rule.
pub fn alert_blocks(rules: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in rules.lines() {
        let trimmed = line.trim_start();
        if let Some(name) = trimmed.strip_prefix("- alert:") {
            out.push((name.trim().trim_matches('"').to_string(), String::new()));
        } else if trimmed.starts_with("- name:") || trimmed.starts_with("- record:") {
            out.push((String::new(), String::new()));
        }
        if let Some(last) = out.last_mut() {
            last.1.push_str(line);
            last.1.push('\n');
        }
    }
    out.retain(|(n, _)| !n.is_empty());
    out
}

/// The `cxpulse_*` metric names a PromQL expression reads (histogram series names are kept as
/// written, e.g. `cxpulse_event_processing_seconds_bucket`).
pub fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while let Some(pos) = expr[i..].find("cxpulse_") {
        let start = i + pos;
        let boundary = start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        // A name, not a label value or annotation text: not inside quotes.
        let quotes_before = expr[..start].matches('"').count();
        if boundary && quotes_before.is_multiple_of(2) {
            let name = expr[start..end].to_string();
            if !out.contains(&name) {
                out.push(name);
            }
        }
        i = end;
    }
    out
}

/// The `expr:` of an alert block (one line or a `|` block up to the next key at the same depth).
pub fn alert_expr(block: &str) -> String {
    let mut lines = block.lines().skip_while(|l| !l.trim_start().starts_with("expr:"));
    let Some(first) = lines.next() else { return String::new() };
    let indent = first.len() - first.trim_start().len();
    let inline = first.trim_start().trim_start_matches("expr:").trim();
    if inline != "|" && inline != ">" && !inline.is_empty() {
        return inline.to_string();
    }
    lines
        .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Dockerfile instructions with line continuations joined and comments dropped.
pub fn dockerfile_instructions() -> Vec<String> {
    let text = read(&deploy("Dockerfile"));
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
        } else {
            current.push_str(trimmed);
            out.push(std::mem::take(&mut current));
        }
    }
    out
}

/// The HEALTHCHECK's exec-form command.
pub fn healthcheck_command() -> Vec<String> {
    let line = dockerfile_instructions().into_iter().find(|i| i.starts_with("HEALTHCHECK")).expect("no HEALTHCHECK");
    let json = &line[line.find("CMD ").expect("HEALTHCHECK without CMD") + 4..];
    serde_json::from_str(json)
        .unwrap_or_else(|e| panic!("HEALTHCHECK CMD is not an exec-form JSON array ({e}): {json}"))
}
