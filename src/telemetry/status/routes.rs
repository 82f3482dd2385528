//! The status page and its API over HTTP. Documents are computed on the blocking pool (a merge of
//! every segment's buckets takes a few milliseconds) and never cached: each request reads the
//! engine's current state.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::Value;

use super::api::{self, ApiError, Query};
use super::page;
use super::StatusSource;

type Source = Arc<dyn StatusSource + 'static>;

/// `/`, `/api/v1`, `/api/v1/segments`, `/api/v1/segments/{dimension}/{segment}`,
/// `/api/v1/alerts`, `/api/v1/health`.
pub fn routes(source: Source) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/api/v1", get(endpoints))
        .route("/api/v1/segments", get(segments))
        .route("/api/v1/segments/{dimension}/{segment}", get(segment))
        .route("/api/v1/alerts", get(alerts))
        .route("/api/v1/health", get(health))
        .with_state(source)
}

async fn index() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], page::live_page())
        .into_response()
}

async fn endpoints() -> Response {
    json_response(Ok(serde_json::json!({
        "endpoints": [
            "/api/v1/segments?window=7d[&metrics=nps_score,revenue][&points=30]",
            "/api/v1/segments/{dimension}/{segment}?window=7d[&points=84]",
            "/api/v1/alerts",
            "/api/v1/health",
        ]
    })))
}

async fn segments(State(source): State<Source>, RawQuery(query): RawQuery) -> Response {
    blocking(move || api::segments(source.as_ref(), &Query::parse(query.as_deref())?)).await
}

async fn segment(
    State(source): State<Source>,
    Path((dimension, segment)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    blocking(move || api::segment(source.as_ref(), &dimension, &segment, &Query::parse(query.as_deref())?)).await
}

async fn alerts(State(source): State<Source>) -> Response {
    blocking(move || Ok(api::alerts(source.as_ref()))).await
}

async fn health(State(source): State<Source>) -> Response {
    blocking(move || Ok(api::health(source.as_ref()))).await
}

async fn blocking(f: impl FnOnce() -> Result<Value, ApiError> + Send + 'static) -> Response {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => json_response(result),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "status rendering failed\n").into_response(),
    }
}

fn json_response(result: Result<Value, ApiError>) -> Response {
    let (status, body) = match result {
        Ok(v) => (StatusCode::OK, v),
        Err(e) => (StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST), e.to_json()),
    };
    let headers = [(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store")];
    (status, headers, body.to_string()).into_response()
}
