//! The HTTP surface protected (issue 11): HTTPS with a certificate made in the test, basic auth
//! with bcrypt hashes, and the request limits, checked with a real TLS client (OpenSSL, verifying
//! the certificate chain and the host name).

mod tls_support;

use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use cxpulse::config::load_text;
use cxpulse::telemetry::http::{bind, serve, HealthSource};
use cxpulse::telemetry::http_security::HttpSecurity;
use openssl::ssl::{SslConnector, SslMethod};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_openssl::SslStream;
use tokio_util::sync::CancellationToken;

struct Fixed;

impl HealthSource for Fixed {
    fn metrics_text(&self) -> String {
        "cxpulse_up 1\n".into()
    }
    fn readiness(&self) -> Result<(), String> {
        Ok(())
    }
}

/// Starts the endpoints with `http_toml` (the `[http]` table's keys, `listen` aside).
async fn start(http_toml: &str) -> (SocketAddr, CancellationToken, tokio::task::JoinHandle<()>) {
    let toml = format!("[http]\nlisten = \"127.0.0.1:0\"\n{http_toml}");
    let config = load_text(Some((&toml, "test.toml")), &[]).expect("valid config");
    let security = Arc::new(HttpSecurity::from_config(&config.http).expect("tls material loads"));
    let listener = bind(&config.http.listen).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let task = tokio::spawn({
        let stop = stop.clone();
        async move { serve(listener, Arc::new(Fixed), security, stop).await.unwrap() }
    });
    (addr, stop, task)
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, request: &str) -> Option<(u16, String)> {
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await.ok()?.ok()?;
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response.get(9..12)?.parse().ok()?;
    Some((status, response))
}

fn request(path: &str, auth: Option<(&str, &str)>) -> String {
    let auth = auth
        .map(|(u, p)| {
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
            format!("Authorization: Basic {token}\r\n")
        })
        .unwrap_or_default();
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n")
}

/// HTTPS GET, trusting only `ca` and checking that the certificate is for `localhost`.
async fn https_get(
    addr: SocketAddr,
    ca: &Path,
    path: &str,
    auth: Option<(&str, &str)>,
) -> Result<(u16, String), String> {
    let mut connector = SslConnector::builder(SslMethod::tls_client()).map_err(|e| e.to_string())?;
    connector.set_ca_file(ca).map_err(|e| e.to_string())?;
    let ssl = connector.build().configure().and_then(|c| c.into_ssl("localhost")).map_err(|e| e.to_string())?;
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let mut tls = SslStream::new(ssl, tcp).map_err(|e| e.to_string())?;
    Pin::new(&mut tls).connect().await.map_err(|e| format!("handshake: {e}"))?;
    exchange(tls, &request(path, auth)).await.ok_or_else(|| "no HTTP answer".into())
}

async fn http_get(addr: SocketAddr, raw_request: &str) -> Option<(u16, String)> {
    exchange(TcpStream::connect(addr).await.ok()?, raw_request).await
}

#[tokio::test]
async fn https_with_basic_auth_protects_every_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let pki = tls_support::make_pki(dir.path());
    let hash = bcrypt::hash("s3cret", 6).unwrap();
    let (addr, stop, task) = start(&format!(
        "[http.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n[http.basic_auth_users]\nprometheus = \"{hash}\"\n",
        pki.cert_file.display(),
        pki.key_file.display()
    ))
    .await;

    let (status, body) = https_get(addr, &pki.ca_file, "/metrics", Some(("prometheus", "s3cret"))).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("cxpulse_up 1"));
    // Twice: the second check is served from the remembered success.
    assert_eq!(https_get(addr, &pki.ca_file, "/readyz", Some(("prometheus", "s3cret"))).await.unwrap().0, 200);

    for path in ["/metrics", "/healthz", "/readyz", "/nope"] {
        let (status, response) = https_get(addr, &pki.ca_file, path, None).await.unwrap();
        assert_eq!(status, 401, "{path}: {response}");
        assert!(response.to_ascii_lowercase().contains("www-authenticate: basic"), "{response}");
        assert!(!response.contains("cxpulse_up"));
    }
    for (user, password) in [("prometheus", "wrong"), ("nobody", "s3cret"), ("", "")] {
        let (status, _) = https_get(addr, &pki.ca_file, "/metrics", Some((user, password))).await.unwrap();
        assert_eq!(status, 401, "{user}:{password}");
    }

    // Plain HTTP on the TLS port gets no HTTP answer.
    assert!(http_get(addr, &request("/metrics", Some(("prometheus", "s3cret")))).await.is_none());
    // A client that does not trust the certificate refuses it.
    let other = tempfile::tempdir().unwrap();
    let stranger = tls_support::make_pki(other.path());
    let refused = https_get(addr, &stranger.ca_file, "/metrics", None).await.unwrap_err();
    assert!(refused.contains("handshake"), "{refused}");

    stop.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn tls_material_that_does_not_load_is_a_clear_error() {
    let toml = "[http]\nlisten = \"127.0.0.1:0\"\n[http.tls]\ncert_file = \"/nonexistent/c.pem\"\nkey_file = \"/nonexistent/k.pem\"\n";
    let config = load_text(Some((toml, "t.toml")), &[]).unwrap();
    let error = HttpSecurity::from_config(&config.http).err().expect("missing files refused").to_string();
    assert!(error.contains("http.tls") && error.contains("/nonexistent/c.pem"), "{error}");
    // And check-config refuses a password that is not a bcrypt hash.
    let toml = "[http.basic_auth_users]\nprometheus = \"plain-text\"\n";
    let problems = load_text(Some((toml, "t.toml")), &[]).unwrap_err().to_string();
    assert!(problems.contains("http.basic_auth_users.prometheus: not a bcrypt hash"), "{problems}");
}

#[tokio::test]
async fn request_limits_hold() {
    let (addr, stop, task) = start("max_connections = 1\nrequest_timeout = \"1s\"\nmax_request_bytes = 8192\n").await;

    // Oversized headers are refused, not buffered.
    let big = format!("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\nConnection: close\r\n\r\n", "a".repeat(20_000));
    let answer = http_get(addr, &big).await;
    assert!(answer.as_ref().is_none_or(|(status, _)| *status == 431), "{answer:?}");

    // One connection at a time: an idle one holds the only permit...
    let idle = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut waiting = TcpStream::connect(addr).await.unwrap();
    waiting.write_all(request("/healthz", None).as_bytes()).await.unwrap();
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(300), waiting.read(&mut buf)).await;
    assert!(early.is_err(), "served while the only permit was taken");
    // ...until the server drops it for not sending its request within the timeout.
    let mut idle = idle;
    let closed =
        tokio::time::timeout(Duration::from_secs(5), idle.read(&mut buf)).await.expect("idle connection closed");
    assert!(matches!(closed, Ok(0) | Err(_)) || String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 408"));
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), waiting.read_to_end(&mut response)).await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&response).starts_with("HTTP/1.1 200"), "{}", String::from_utf8_lossy(&response));

    stop.cancel();
    task.await.unwrap();
}
