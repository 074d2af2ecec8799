//! Calls from one service to its upstreams: a client span per call, `traceparent`
//! injected into the request, dependency-failure faults applied before the network, and
//! upstream failures mapped to the status this service answers with.

use crate::error_chain;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use bytes::Bytes;
use http::HeaderMap;
use opentelemetry::Context;

use super::config::{ServiceName, ValidatedUpstreams};
use super::faults::Faults;
use super::server::AppError;
use super::telemetry::Telemetry;

/// The HTTP client and base URLs of one service's upstreams.
#[derive(Debug, Clone)]
pub(crate) struct Upstreams {
    client: reqwest::Client,
    base: Arc<BTreeMap<ServiceName, Replicas>>,
}

/// The replicas of one upstream, called in turn.
#[derive(Debug)]
struct Replicas {
    urls: Vec<String>,
    next: AtomicUsize,
}

impl Replicas {
    fn pick(&self) -> Option<&str> {
        if self.urls.is_empty() {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.urls.len();
        self.urls.get(i).map(String::as_str)
    }
}

/// A call that reached the upstream and got an answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub body: Bytes,
}

/// Builds the upstream client; fails only when TLS setup fails.
pub(crate) fn http_client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        // Loopback traffic must never go through a proxy from the environment, nor follow
        // an upstream's redirect off the loopback links gauntlet set up (and proxies).
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .pool_idle_timeout(Duration::from_secs(30))
        .tcp_nodelay(true)
        .build()
}

impl Upstreams {
    pub fn new(client: reqwest::Client, base: ValidatedUpstreams) -> Self {
        let base = base
            .0
            .into_iter()
            .map(|(name, urls)| {
                let replicas = Replicas {
                    urls,
                    next: AtomicUsize::new(0),
                };
                (name, replicas)
            })
            .collect();
        Self {
            client,
            base: Arc::new(base),
        }
    }

    /// Calls `method path` on `target`; `Err` is already the answer this service gives
    /// (502 for an upstream 5xx or transport error, 504 for a timeout, the upstream's own
    /// status for a 4xx).
    #[expect(
        clippy::too_many_arguments,
        reason = "one call site per service, all distinct"
    )]
    pub async fn call(
        &self,
        telemetry: &Telemetry,
        faults: &Faults,
        parent: &Context,
        target: ServiceName,
        method: reqwest::Method,
        span_name: &'static str,
        path: &str,
        json: Option<&serde_json::Value>,
    ) -> Result<Reply, AppError> {
        let base = self
            .base
            .get(&target)
            .and_then(Replicas::pick)
            .ok_or_else(|| {
                AppError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("no upstream {target} configured"),
                )
            })?;
        let url = format!("{base}{path}");
        let mut rb = self.client.request(method.clone(), &url);
        if let Some(body) = json {
            rb = rb.json(body);
        }
        let method_label = if method == reqwest::Method::POST {
            "POST"
        } else {
            "GET"
        };
        // The span takes the URL string; the request builder has already parsed it.
        let cx = telemetry.client_span(parent, span_name, method_label, target.as_str(), url);

        if let Some(status) = faults.dependency_failure(target) {
            let why = format!("injected dependency failure: {target} answered {status}");
            telemetry.end_span(&cx, Some(status), Some(&why));
            return Err(map_status(status, why));
        }

        let mut headers = HeaderMap::new();
        telemetry.inject(&cx, &mut headers);
        let rb = rb.headers(headers);
        let result = async {
            let resp = rb.send().await?;
            let status = resp.status();
            let body = resp.bytes().await?;
            Ok::<_, reqwest::Error>(Reply { status, body })
        }
        .await;
        match result {
            Ok(reply) if reply.status.is_success() => {
                telemetry.end_span(&cx, Some(reply.status.as_u16()), None);
                Ok(reply)
            }
            Ok(reply) => {
                let code = reply.status.as_u16();
                let why = format!(
                    "{target} answered {code}: {}",
                    upstream_message(&reply.body)
                );
                telemetry.end_span(&cx, Some(code), Some(&why));
                Err(map_status(code, why))
            }
            Err(e) => {
                let timeout = e.is_timeout();
                let why = format!("call to {target} failed: {}", error_chain(&e));
                telemetry.end_span(&cx, None, Some(&why));
                let status = if timeout {
                    StatusCode::GATEWAY_TIMEOUT
                } else {
                    StatusCode::BAD_GATEWAY
                };
                Err(AppError::new(status, why))
            }
        }
    }
}

fn map_status(code: u16, why: String) -> AppError {
    let status = match StatusCode::from_u16(code) {
        Ok(s) if s.is_client_error() => s,
        _ => StatusCode::BAD_GATEWAY,
    };
    AppError::new(status, why)
}

/// The `error` field of an upstream's JSON error body, or a short prefix of the body.
fn upstream_message(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    async fn serve(app: axum::Router) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        (addr, task)
    }

    #[test]
    fn replicas_are_called_in_turn() {
        let replicas = Replicas {
            urls: vec!["http://a".into(), "http://b".into(), "http://c".into()],
            next: AtomicUsize::new(0),
        };
        let picked: Vec<&str> = (0..7).filter_map(|_| replicas.pick()).collect();
        assert_eq!(
            picked,
            [
                "http://a", "http://b", "http://c", "http://a", "http://b", "http://c", "http://a"
            ]
        );
        let none = Replicas {
            urls: Vec::new(),
            next: AtomicUsize::new(0),
        };
        assert_eq!(none.pick(), None);
    }

    #[tokio::test]
    async fn upstream_redirects_are_answers_not_followed() {
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let (elsewhere, t1) = serve(axum::Router::new().fallback(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async { "followed" }
        }))
        .await;
        let location = format!("http://{elsewhere}/elsewhere");
        let (upstream, t2) = serve(axum::Router::new().fallback(move || {
            let location = location.clone();
            async move { (StatusCode::FOUND, [(http::header::LOCATION, location)]) }
        }))
        .await;
        let client = http_client(Duration::from_secs(5)).expect("client");
        let resp = client
            .get(format!("http://{upstream}/products"))
            .send()
            .await
            .expect("an answer");
        assert_eq!(resp.status(), StatusCode::FOUND);
        assert_eq!(hits.load(Ordering::SeqCst), 0, "the redirect was followed");
        t1.abort();
        t2.abort();
    }
}
