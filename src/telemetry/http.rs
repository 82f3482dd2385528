//! The HTTP endpoint: `/metrics` (Prometheus text), `/healthz` (the process is alive) and
//! `/readyz` (ready to be relied on; the body says why not). What they report comes from a
//! [`HealthSource`], so this file knows nothing about Kafka or the engine.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::http_security::HttpSecurity;

/// What the endpoints report.
pub trait HealthSource: Send + Sync + 'static {
    /// The whole Prometheus text exposition. May take a while: called on the blocking pool.
    fn metrics_text(&self) -> String;
    /// `Ok` when ready, else the reason.
    fn readiness(&self) -> Result<(), String>;
    /// The status page and its API (`/`, `/api/v1/`), when there is an engine behind this source.
    fn status(&self) -> Option<Arc<dyn super::status::StatusSource>> {
        None
    }
}

#[derive(Debug, Error)]
pub enum HttpError {
    #[error("cannot listen on {listen}: {source}")]
    Bind {
        listen: String,
        #[source]
        source: std::io::Error,
    },
    #[error("http server failed: {0}")]
    Serve(#[source] std::io::Error),
}

impl HttpError {
    pub fn code(&self) -> &'static str {
        match self {
            HttpError::Bind { .. } => "bind",
            HttpError::Serve(_) => "serve",
        }
    }
}

pub async fn bind(listen: &str) -> Result<TcpListener, HttpError> {
    TcpListener::bind(listen).await.map_err(|source| HttpError::Bind { listen: listen.to_string(), source })
}

/// Serves until `shutdown`, with the TLS, authentication and limits of `security`.
pub async fn serve(
    listener: TcpListener,
    source: Arc<dyn HealthSource>,
    security: Arc<HttpSecurity>,
    shutdown: CancellationToken,
) -> Result<(), HttpError> {
    let status = source.status().map(super::status::routes);
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(source)
        .merge(status.unwrap_or_default());
    super::http_security::serve(listener, app, security, shutdown).await.map_err(HttpError::Serve)
}

async fn metrics(State(source): State<Arc<dyn HealthSource>>) -> Response {
    match tokio::task::spawn_blocking(move || source.metrics_text()).await {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "metrics rendering failed\n").into_response(),
    }
}

async fn readyz(State(source): State<Arc<dyn HealthSource>>) -> Response {
    match source.readiness() {
        Ok(()) => (StatusCode::OK, "ready\n".to_string()).into_response(),
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {reason}\n")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    struct Fixed(Result<(), String>);

    impl HealthSource for Fixed {
        fn metrics_text(&self) -> String {
            "cxpulse_up 1\n".into()
        }
        fn readiness(&self) -> Result<(), String> {
            self.0.clone()
        }
    }

    async fn get(addr: std::net::SocketAddr, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }

    #[tokio::test]
    async fn endpoints_answer() {
        let listener = bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let server = tokio::spawn(serve(
            listener,
            Arc::new(Fixed(Err("no partitions assigned".into()))),
            Arc::new(HttpSecurity::open()),
            stop.clone(),
        ));
        let metrics = get(addr, "/metrics").await;
        assert!(metrics.starts_with("HTTP/1.1 200") && metrics.contains("cxpulse_up 1"), "{metrics}");
        assert!(get(addr, "/healthz").await.starts_with("HTTP/1.1 200"));
        let ready = get(addr, "/readyz").await;
        assert!(ready.starts_with("HTTP/1.1 503") && ready.contains("no partitions assigned"), "{ready}");
        assert!(get(addr, "/nope").await.starts_with("HTTP/1.1 404"));
        stop.cancel();
        server.await.unwrap().unwrap();
    }
}
