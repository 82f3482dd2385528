//! Protection of everything served over HTTP: optional TLS, optional basic auth with bcrypt
//! hashes (configured like Prometheus exporters' `web-config.yml`), and request limits.
//!
//! Why the limits hold: connections are accepted only while one of `http.max_connections` permits
//! is free (the rest wait in the kernel's backlog), a connection must finish its TLS handshake and
//! deliver its request headers within `http.request_timeout`, and hyper refuses a request whose
//! line and headers exceed `http.max_request_bytes`. No endpoint reads a request body. So a slow
//! or hostile client holds at most one permit for at most the timeout, and a bounded buffer.
//!
//! Basic auth checks every request before any route runs. bcrypt is slow on purpose, so a
//! successful check is remembered (by SHA-256 of user, password and hash, never the password)
//! and repeated scrapes cost a hash lookup; an unknown user is checked against a configured hash
//! (and refused whatever the result) so timing does not tell which users exist.

use std::collections::{BTreeMap, HashSet};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use openssl::ssl::{Ssl, SslAcceptor, SslFiletype, SslMethod};
use sha2::{Digest, Sha256};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_openssl::SslStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::HttpConfig;

/// hyper's smallest read buffer: a smaller `max_request_bytes` would be refused by hyper itself.
pub const MIN_REQUEST_BYTES: usize = 8192;
/// Remembered successful logins; the set is cleared when full (then bcrypt runs again once).
const VERIFIED_CACHE: usize = 256;

#[derive(Debug, Error)]
pub enum HttpSecurityError {
    #[error("http.tls: cannot load {what} from {path}: {source}")]
    Tls {
        what: &'static str,
        path: String,
        #[source]
        source: openssl::error::ErrorStack,
    },
}

impl HttpSecurityError {
    pub fn code(&self) -> &'static str {
        match self {
            HttpSecurityError::Tls { .. } => "tls",
        }
    }
}

/// Whether `hash` looks like a bcrypt hash (`$2a$`, `$2b$`, `$2x$` or `$2y$`, cost 04–31, 60 chars).
pub fn is_bcrypt_hash(hash: &str) -> bool {
    let b = hash.as_bytes();
    b.len() == 60
        && hash.starts_with("$2")
        && matches!(b[2], b'a' | b'b' | b'x' | b'y')
        && b[3] == b'$'
        && b[6] == b'$'
        && hash[4..6].parse::<u32>().is_ok_and(|cost| (4..=31).contains(&cost))
}

/// What protects the HTTP surface, resolved from `[http]`.
pub struct HttpSecurity {
    tls: Option<SslAcceptor>,
    users: BTreeMap<String, String>,
    max_connections: usize,
    request_timeout: Duration,
    max_request_bytes: usize,
    verified: Mutex<HashSet<[u8; 32]>>,
}

impl HttpSecurity {
    /// Loads the certificate and key when TLS is configured.
    pub fn from_config(http: &HttpConfig) -> Result<Self, HttpSecurityError> {
        let tls = match &http.tls {
            None => None,
            Some(tls) => Some(acceptor(&tls.cert_file, &tls.key_file)?),
        };
        Ok(HttpSecurity {
            tls,
            users: http.basic_auth_users.clone(),
            max_connections: http.max_connections.max(1),
            request_timeout: Duration::from_millis(http.request_timeout.0.max(1)),
            max_request_bytes: http.max_request_bytes.max(MIN_REQUEST_BYTES),
            verified: Mutex::new(HashSet::new()),
        })
    }

    /// Plain HTTP, no authentication, default limits (tests and tools).
    pub fn open() -> Self {
        HttpSecurity {
            tls: None,
            users: BTreeMap::new(),
            max_connections: 64,
            request_timeout: Duration::from_secs(10),
            max_request_bytes: 16384,
            verified: Mutex::new(HashSet::new()),
        }
    }

    /// `https` or `http`, for log lines.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// Whether the password matches the user's bcrypt hash.
    async fn verify(self: &Arc<Self>, user: String, password: String) -> bool {
        let known = self.users.get(&user).cloned();
        // An unknown user is checked against another user's hash: same cost, and never accepted.
        let Some(hash) = known.clone().or_else(|| self.users.values().next().cloned()) else {
            return false;
        };
        let fingerprint: [u8; 32] = Sha256::new()
            .chain_update(user.as_bytes())
            .chain_update([0])
            .chain_update(password.as_bytes())
            .chain_update([0])
            .chain_update(hash.as_bytes())
            .finalize()
            .into();
        if known.is_some() && self.cache().contains(&fingerprint) {
            return true;
        }
        let checked = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false)).await;
        let ok = known.is_some() && checked.unwrap_or(false);
        if ok {
            let mut cache = self.cache();
            if cache.len() >= VERIFIED_CACHE {
                cache.clear();
            }
            cache.insert(fingerprint);
        }
        ok
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashSet<[u8; 32]>> {
        self.verified.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn acceptor(cert_file: &str, key_file: &str) -> Result<SslAcceptor, HttpSecurityError> {
    fn err(what: &'static str, path: &str) -> impl FnOnce(openssl::error::ErrorStack) -> HttpSecurityError {
        let path = path.to_string();
        move |source| HttpSecurityError::Tls { what, path, source }
    }
    let mut builder =
        SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).map_err(err("the TLS defaults", cert_file))?;
    builder.set_certificate_chain_file(cert_file).map_err(err("the certificate", cert_file))?;
    builder.set_private_key_file(key_file, SslFiletype::PEM).map_err(err("the private key", key_file))?;
    builder.check_private_key().map_err(err("a key matching the certificate", key_file))?;
    Ok(builder.build())
}

/// The user and password of a `Basic` authorization header.
fn credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

async fn basic_auth(State(security): State<Arc<HttpSecurity>>, request: Request, next: Next) -> Response {
    let allowed = match credentials(request.headers()) {
        Some((user, password)) => security.verify(user, password).await,
        None => false,
    };
    if allowed {
        next.run(request).await
    } else {
        (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Basic realm=\"cxpulse\"")], "unauthorized\n")
            .into_response()
    }
}

/// Serves `app` on `listener` with `security` until `shutdown`, then lets open requests finish
/// for at most the request timeout.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    security: Arc<HttpSecurity>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app =
        if security.users.is_empty() { app } else { app.layer(from_fn_with_state(Arc::clone(&security), basic_auth)) };
    let permits = Arc::new(Semaphore::new(security.max_connections));
    let connections = TaskTracker::new();
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            permit = Arc::clone(&permits).acquire_owned() => permit.map_err(std::io::Error::other)?,
        };
        let stream = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors and the like: not fatal, try again shortly.
                    tracing::warn!(%error, "http accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let (app, security, stop) = (app.clone(), Arc::clone(&security), shutdown.clone());
        connections.spawn(async move {
            let _permit = permit;
            connection(stream, app, &security, stop).await;
        });
    }
    connections.close();
    let _ = tokio::time::timeout(security.request_timeout, connections.wait()).await;
    Ok(())
}

async fn connection(stream: TcpStream, app: Router, security: &HttpSecurity, stop: CancellationToken) {
    let Some(acceptor) = &security.tls else {
        return http1(stream, app, security, stop).await;
    };
    let Ok(mut tls) = Ssl::new(acceptor.context()).and_then(|ssl| SslStream::new(ssl, stream)) else {
        return;
    };
    match tokio::time::timeout(security.request_timeout, Pin::new(&mut tls).accept()).await {
        Ok(Ok(())) => http1(tls, app, security, stop).await,
        Ok(Err(error)) => tracing::debug!(%error, "tls handshake failed"),
        Err(_) => tracing::debug!("tls handshake timed out"),
    }
}

async fn http1<S>(io: S, app: Router, security: &HttpSecurity, stop: CancellationToken)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(security.request_timeout)
        .max_buf_size(security.max_request_bytes);
    let conn = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(app));
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%error, "http connection ended with an error");
            }
        }
        _ = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(security.request_timeout, conn).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_bcrypt_hashes() {
        let hash = bcrypt::hash("secret", 4).unwrap();
        assert!(is_bcrypt_hash(&hash), "{hash}");
        assert!(!is_bcrypt_hash("secret"));
        assert!(!is_bcrypt_hash(&hash.replacen("$2b$04$", "$2b$99$", 1)));
        assert!(!is_bcrypt_hash(&hash[..59]));
    }

    #[test]
    fn parses_basic_credentials() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, "Basic dXNlcjpwYTpzcw==".parse().unwrap());
        assert_eq!(credentials(&headers), Some(("user".into(), "pa:ss".into())));
        headers.insert(header::AUTHORIZATION, "Bearer dXNlcjpwYTpzcw==".parse().unwrap());
        assert_eq!(credentials(&headers), None);
        headers.insert(header::AUTHORIZATION, "Basic %%%".parse().unwrap());
        assert_eq!(credentials(&headers), None);
    }

    #[tokio::test]
    async fn verifies_and_remembers_only_successes() {
        let mut security = HttpSecurity::open();
        security.users.insert("prom".into(), bcrypt::hash("right", 4).unwrap());
        let security = Arc::new(security);
        assert!(!security.verify("prom".into(), "wrong".into()).await);
        assert!(!security.verify("nobody".into(), "right".into()).await);
        assert!(security.cache().is_empty());
        assert!(security.verify("prom".into(), "right".into()).await);
        assert_eq!(security.cache().len(), 1);
        assert!(security.verify("prom".into(), "right".into()).await);
    }
}
