//! For the status page tests: a tiny W3C WebDriver client (chromedriver driving headless
//! chromium) over a hand-written HTTP/1.1 client, so no browser-automation crate is needed.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

/// One HTTP request on a fresh connection: (status, body).
pub fn http(method: &str, host: &str, path: &str, body: Option<&Value>) -> std::io::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    if body.is_some() {
        request += &format!("Content-Type: application/json\r\nContent-Length: {}\r\n", payload.len());
    }
    request += "\r\n";
    stream.write_all(request.as_bytes())?;
    stream.write_all(payload.as_bytes())?;
    // Read until the body is complete: some servers keep the connection open regardless.
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        if let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
            let body = &raw[split + 4..];
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            let done = match length {
                Some(n) => body.len() >= n,
                None if head.contains("transfer-encoding: chunked") => body.ends_with(b"0\r\n\r\n"),
                None => false,
            };
            if done {
                break;
            }
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| bad("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head.get(9..12).and_then(|s| s.parse().ok()).ok_or_else(|| bad("no status"))?;
    let mut body = raw[split + 4..].to_vec();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body)?;
    }
    Ok((status, body))
}

fn bad(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string())
}

fn dechunk(mut data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").ok_or_else(|| bad("chunk size"))?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| bad("chunk size"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(data.get(..size).ok_or_else(|| bad("short chunk"))?);
        data = data.get(size + 2..).unwrap_or_default();
    }
}

/// A `GET` against the service: (status, body text), or (0, "") while it does not answer.
pub fn get_text(addr: &str, path: &str) -> (u16, String) {
    match http("GET", addr, path, None) {
        Ok((status, body)) => (status, String::from_utf8_lossy(&body).into_owned()),
        Err(_) => (0, String::new()),
    }
}

/// chromedriver on a free port; killed on drop.
pub struct Driver {
    child: Child,
    pub addr: String,
}

impl Driver {
    pub fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let binary = which("chromedriver")
            .expect("chromedriver is not installed: run scripts/install-test-deps.sh (Debian chromium-driver)");
        let log = std::env::temp_dir().join(format!("cxpulse-chromedriver-{port}.log"));
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen; see {}", log.display());
            std::thread::sleep(Duration::from_millis(100));
        }
        Driver { child, addr }
    }

    /// A headless chromium session with browser console logging on.
    pub fn session(&self, width: u32, height: u32) -> Session {
        let chromium = which("chromium").expect("chromium is not installed: run scripts/install-test-deps.sh");
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": { "browser": "ALL" },
            "goog:chromeOptions": {
                "binary": chromium.display().to_string(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         format!("--window-size={width},{height}"), "--hide-scrollbars"],
            }
        }}});
        let v = self.call("POST", "/session", Some(&caps));
        let id = v["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {v}")).to_string();
        Session { driver_addr: self.addr.clone(), id }
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        call(&self.addr, method, path, body)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn call(addr: &str, method: &str, path: &str, body: Option<&Value>) -> Value {
    let (status, body) = http(method, addr, path, body).expect("webdriver request");
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    assert!(status == 200, "webdriver {method} {path}: {status} {v}");
    v["value"].clone()
}

pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

pub struct Session {
    driver_addr: String,
    id: String,
}

impl Session {
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        call(&self.driver_addr, method, &format!("/session/{}{path}", self.id), body)
    }

    pub fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(&json!({ "url": url })));
    }

    /// Runs `script` (a function body; `arguments` available) and returns its value.
    pub fn run(&self, script: &str, args: Value) -> Value {
        self.call("POST", "/execute/sync", Some(&json!({ "script": script, "args": args })))
    }

    /// Polls `script` until it returns something other than null/false.
    pub fn wait_for(&self, what: &str, script: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.run(script, json!([]));
            if !(v.is_null() || v == Value::Bool(false)) {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn screenshot(&self, path: &Path) {
        let b64 = self.call("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD.decode(b64.as_str().expect("base64 screenshot")).unwrap();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }

    /// Browser console entries since the last call (chromedriver's log endpoint).
    pub fn console(&self) -> Vec<Value> {
        match self.call("POST", "/se/log", Some(&json!({ "type": "browser" }))) {
            Value::Array(entries) => entries,
            other => panic!("unexpected log answer: {other}"),
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = http("DELETE", &self.driver_addr, &format!("/session/{}", self.id), None);
    }
}
