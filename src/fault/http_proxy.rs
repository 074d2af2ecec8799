//! An HTTP fault proxy gauntlet puts in front of a service it does not own (the user's
//! service in `services.mode: external`, or any upstream the user's callers reach through
//! it). Callers send their requests to the proxy's listen address; it forwards each one to
//! the service on loopback, and while a fault is on it acts on a share of the requests:
//!
//! - **errors**: answers the fault's status itself (the request never reaches the service);
//! - **latency**: waits `fixed` + uniform `jitter` before forwarding;
//! - **abort**: forwards the request, then closes the connection without a response (the
//!   caller sees the connection drop; the service did the work).
//!
//! Unlike the TCP proxy in [`super::proxy`], it sees requests, so it can answer a status, and
//! it counts what passed through: a fault whose window saw no request did nothing, and the
//! run says so instead of crediting the stack with a reaction ([`ProxyWindow`]).
//!
//! Bounded: at most `max_connections` at once (more are closed at accept), request and
//! response bodies up to `max_body_bytes`, each upstream call within `request_timeout`.
//! Dropping the proxy stops the listener and every connection.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::guard::{FaultError, FaultGuard, FaultRegistry};
use crate::load::plan::is_loopback;

/// Proxy settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpProxyConfig {
    /// Where callers connect; port 0 lets the OS choose. Loopback only.
    pub listen: SocketAddr,
    /// The service requests are forwarded to. Loopback only.
    pub upstream: SocketAddr,
    /// Connections open at once; more are closed at accept.
    pub max_connections: usize,
    /// How long one forwarded request may take upstream (then 504).
    pub request_timeout: Duration,
    /// Largest request or response body forwarded (then 413 / 502).
    pub max_body_bytes: usize,
}

impl HttpProxyConfig {
    /// Defaults: 512 connections, 30 s per upstream call, 16 MiB bodies.
    pub fn new(listen: SocketAddr, upstream: SocketAddr) -> Self {
        HttpProxyConfig {
            listen,
            upstream,
            max_connections: 512,
            request_timeout: Duration::from_secs(30),
            max_body_bytes: 16 << 20,
        }
    }
}

/// One effect to switch on.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "effect", rename_all = "kebab-case")]
pub enum HttpEffect {
    /// Answer `status` to a `rate` share of requests (whose path starts with `route`).
    Errors {
        rate: f64,
        status: u16,
        route: Option<String>,
    },
    /// Delay a `rate` share of requests by `fixed` + uniform `jitter`.
    Latency {
        fixed: Duration,
        jitter: Duration,
        rate: f64,
    },
    /// Close the connection instead of answering, for a `rate` share of requests.
    Abort { rate: f64 },
}

impl HttpEffect {
    fn name(&self) -> &'static str {
        match self {
            HttpEffect::Errors { .. } => "http errors",
            HttpEffect::Latency { .. } => "latency",
            HttpEffect::Abort { .. } => "aborted responses",
        }
    }
}

/// The effects in force (all off by default).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
struct Effects {
    errors: Option<HttpEffect>,
    latency: Option<HttpEffect>,
    abort: Option<HttpEffect>,
}

impl Effects {
    fn slot(&mut self, effect: &HttpEffect) -> &mut Option<HttpEffect> {
        match effect {
            HttpEffect::Errors { .. } => &mut self.errors,
            HttpEffect::Latency { .. } => &mut self.latency,
            HttpEffect::Abort { .. } => &mut self.abort,
        }
    }
}

/// What passed through the proxy (since it started, or within a [`ProxyWindow`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpProxyCounters {
    /// Requests received from callers.
    pub requests: u64,
    /// Requests forwarded to the service.
    pub forwarded: u64,
    /// Requests answered with an injected status.
    pub injected_errors: u64,
    /// Requests held by the latency effect.
    pub delayed: u64,
    /// Time added by the latency effect, summed.
    pub added_delay_ms: u64,
    /// Responses dropped by the abort effect.
    pub aborted: u64,
    /// Upstream calls that failed (answered 502 or 504).
    pub upstream_failures: u64,
    /// Connections closed at accept because `max_connections` were open.
    pub rejected_connections: u64,
}

impl HttpProxyCounters {
    fn since(self, start: HttpProxyCounters) -> HttpProxyCounters {
        HttpProxyCounters {
            requests: self.requests.saturating_sub(start.requests),
            forwarded: self.forwarded.saturating_sub(start.forwarded),
            injected_errors: self.injected_errors.saturating_sub(start.injected_errors),
            delayed: self.delayed.saturating_sub(start.delayed),
            added_delay_ms: self.added_delay_ms.saturating_sub(start.added_delay_ms),
            aborted: self.aborted.saturating_sub(start.aborted),
            upstream_failures: self
                .upstream_failures
                .saturating_sub(start.upstream_failures),
            rejected_connections: self
                .rejected_connections
                .saturating_sub(start.rejected_connections),
        }
    }
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    forwarded: AtomicU64,
    injected_errors: AtomicU64,
    delayed: AtomicU64,
    added_delay_ms: AtomicU64,
    aborted: AtomicU64,
    upstream_failures: AtomicU64,
    rejected_connections: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> HttpProxyCounters {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        HttpProxyCounters {
            requests: get(&self.requests),
            forwarded: get(&self.forwarded),
            injected_errors: get(&self.injected_errors),
            delayed: get(&self.delayed),
            added_delay_ms: get(&self.added_delay_ms),
            aborted: get(&self.aborted),
            upstream_failures: get(&self.upstream_failures),
            rejected_connections: get(&self.rejected_connections),
        }
    }
}

fn bump(a: &AtomicU64) {
    a.fetch_add(1, Ordering::Relaxed);
}

struct State {
    config: HttpProxyConfig,
    effects: Mutex<Effects>,
    counters: Counters,
    client: reqwest::Client,
}

impl State {
    fn effects(&self) -> Effects {
        self.effects
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn modify(&self, f: impl FnOnce(&mut Effects)) {
        f(&mut self.effects.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

/// The running proxy. Dropping it stops it.
pub struct HttpFaultProxy {
    addr: SocketAddr,
    state: Arc<State>,
    accept: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for HttpFaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpFaultProxy")
            .field("addr", &self.addr)
            .field("upstream", &self.state.config.upstream)
            .field("effects", &self.state.effects())
            .finish()
    }
}

impl Drop for HttpFaultProxy {
    fn drop(&mut self) {
        // The accept task owns the connection tasks' JoinSet; aborting it drops them all.
        self.accept.abort();
    }
}

/// The error that makes hyper close a connection without writing a response.
#[derive(Debug, thiserror::Error)]
#[error("response aborted by the fault proxy")]
struct Aborted;

impl HttpFaultProxy {
    /// Binds `config.listen` and starts forwarding to `config.upstream`.
    pub async fn start(config: HttpProxyConfig) -> Result<HttpFaultProxy, FaultError> {
        for addr in [config.listen, config.upstream] {
            if !is_loopback(addr.ip()) {
                return Err(FaultError::NonLoopback { addr });
            }
        }
        let client = reqwest::Client::builder()
            .no_proxy()
            .http1_only()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.request_timeout)
            .build()
            .map_err(|e| FaultError::Proxy {
                what: "cannot build its http client".to_owned(),
                source: std::io::Error::other(e),
            })?;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| FaultError::Proxy {
                    what: format!("cannot bind {}", config.listen),
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| FaultError::Proxy {
            what: "has no local address".to_owned(),
            source,
        })?;
        let state = Arc::new(State {
            config,
            effects: Mutex::new(Effects::default()),
            counters: Counters::default(),
            client,
        });
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&state)));
        tracing::debug!(%addr, upstream = %state.config.upstream, "http fault proxy listening");
        Ok(HttpFaultProxy {
            addr,
            state,
            accept,
        })
    }

    /// Where callers connect.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where the proxy forwards to.
    pub fn upstream(&self) -> SocketAddr {
        self.state.config.upstream
    }

    /// Counters since the proxy started.
    pub fn counters(&self) -> HttpProxyCounters {
        self.state.counters.snapshot()
    }

    /// Switches `effect` on and returns its owner, which switches it off again, and the
    /// window that counts what passed through while it was on.
    pub fn inject(
        &self,
        registry: &FaultRegistry,
        effect: HttpEffect,
    ) -> (FaultGuard, ProxyWindow) {
        let window = ProxyWindow {
            state: Arc::clone(&self.state),
            start: self.state.counters.snapshot(),
            end: Arc::new(Mutex::new(None)),
            proxy: self.addr,
            upstream: self.upstream(),
        };
        self.state
            .modify(|e| *e.slot(&effect) = Some(effect.clone()));
        let state = Arc::clone(&self.state);
        let closing = window.clone();
        let description = format!(
            "{} on http proxy {} → {}",
            effect.name(),
            self.addr,
            self.upstream()
        );
        let guard = registry.register(description, move || {
            Box::pin(async move {
                state.modify(|e| *e.slot(&effect) = None);
                closing.close();
                Ok(())
            })
        });
        (guard, window)
    }
}

/// What passed through a proxy while one fault was on: from its injection to its rollback
/// (or until now while it is still on).
#[derive(Clone)]
pub struct ProxyWindow {
    state: Arc<State>,
    start: HttpProxyCounters,
    end: Arc<Mutex<Option<HttpProxyCounters>>>,
    pub proxy: SocketAddr,
    pub upstream: SocketAddr,
}

impl std::fmt::Debug for ProxyWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyWindow")
            .field("proxy", &self.proxy)
            .field("traffic", &self.traffic())
            .finish()
    }
}

impl ProxyWindow {
    fn close(&self) {
        let mut end = self.end.lock().unwrap_or_else(PoisonError::into_inner);
        if end.is_none() {
            *end = Some(self.state.counters.snapshot());
        }
    }

    /// Whether the fault has been rolled back.
    pub fn closed(&self) -> bool {
        self.end
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// The traffic within the window so far.
    pub fn traffic(&self) -> HttpProxyCounters {
        let end = *self.end.lock().unwrap_or_else(PoisonError::into_inner);
        end.unwrap_or_else(|| self.state.counters.snapshot())
            .since(self.start)
    }

    /// Why nothing the fault did can be credited, when no request passed through the proxy
    /// while it was on; `None` once one did.
    pub fn unexercised(&self, fault: &str) -> Option<String> {
        (self.traffic().requests == 0).then(|| {
            format!(
                "no request passed through the fault proxy {} (in front of {}) while fault {fault} was on{}: its callers do not go through the proxy, so the fault acted on nothing",
                self.proxy,
                self.upstream,
                if self.closed() { "" } else { " so far" }
            )
        })
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    let slots = Arc::new(Semaphore::new(state.config.max_connections));
    let mut conns = JoinSet::new();
    loop {
        let (stream, _peer) = match listener.accept().await {
            Ok(c) => c,
            Err(error) => {
                // E.g. EMFILE: back off instead of spinning.
                tracing::warn!(%error, "http fault proxy accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        while conns.try_join_next().is_some() {}
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            bump(&state.counters.rejected_connections);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let state = Arc::clone(&state);
        conns.spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let state = Arc::clone(&state);
                async move { handle(&state, req).await }
            });
            let served = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30))
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(error) = served {
                tracing::debug!(%error, "http fault proxy connection ended");
            }
            drop(slot);
        });
    }
}

type Answer = Result<Response<Full<Bytes>>, Aborted>;

async fn handle(state: &State, req: Request<Incoming>) -> Answer {
    bump(&state.counters.requests);
    let effects = state.effects();
    let abort = matches!(effects.abort, Some(HttpEffect::Abort { rate }) if chosen(rate));
    if let Some(HttpEffect::Latency {
        fixed,
        jitter,
        rate,
    }) = effects.latency
        && chosen(rate)
    {
        let extra = if jitter.is_zero() {
            Duration::ZERO
        } else {
            jitter.mul_f64(rand::rng().random::<f64>())
        };
        let delay = fixed + extra;
        bump(&state.counters.delayed);
        state.counters.added_delay_ms.fetch_add(
            u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        tokio::time::sleep(delay).await;
    }
    if let Some(HttpEffect::Errors {
        rate,
        status,
        route,
    }) = &effects.errors
        && route
            .as_deref()
            .is_none_or(|r| req.uri().path().starts_with(r))
        && chosen(*rate)
    {
        bump(&state.counters.injected_errors);
        let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return Ok(plain(
            status,
            format!("gauntlet fault proxy: injected {}\n", status.as_u16()),
        ));
    }
    let response = forward(state, req).await;
    if abort {
        bump(&state.counters.aborted);
        return Err(Aborted);
    }
    Ok(response)
}

/// True for a `rate` share of calls.
fn chosen(rate: f64) -> bool {
    rate >= 1.0 || rand::rng().random::<f64>() < rate
}

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus those the
/// client recomputes.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

fn copy_headers(from: &http::HeaderMap, to: &mut http::HeaderMap) {
    for (name, value) in from {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            to.append(name.clone(), value.clone());
        }
    }
}

async fn forward(state: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, state.config.max_body_bytes)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(error) => {
            return plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("gauntlet fault proxy: cannot read the request body: {error}\n"),
            );
        }
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", http::uri::PathAndQuery::as_str);
    let url = format!("http://{}{path}", state.config.upstream);
    let mut headers = http::HeaderMap::new();
    copy_headers(&parts.headers, &mut headers);
    let sent = state
        .client
        .request(parts.method, url)
        .headers(headers)
        .body(body)
        .send()
        .await;
    let upstream = match sent {
        Ok(r) => r,
        Err(error) => {
            bump(&state.counters.upstream_failures);
            let status = if error.is_timeout() {
                StatusCode::GATEWAY_TIMEOUT
            } else {
                StatusCode::BAD_GATEWAY
            };
            return plain(
                status,
                format!(
                    "gauntlet fault proxy: upstream {} failed: {}\n",
                    state.config.upstream,
                    crate::error_chain(&error)
                ),
            );
        }
    };
    let status = upstream.status();
    let mut out_headers = http::HeaderMap::new();
    copy_headers(upstream.headers(), &mut out_headers);
    let body = match read_limited(upstream, state.config.max_body_bytes).await {
        Ok(b) => b,
        Err(why) => {
            bump(&state.counters.upstream_failures);
            return plain(
                StatusCode::BAD_GATEWAY,
                format!("gauntlet fault proxy: upstream response: {why}\n"),
            );
        }
    };
    bump(&state.counters.forwarded);
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    *response.headers_mut() = out_headers;
    response
}

async fn read_limited(mut r: reqwest::Response, max: usize) -> Result<Bytes, String> {
    let mut buf = Vec::new();
    while let Some(chunk) = r.chunk().await.map_err(|e| crate::error_chain(&e))? {
        if buf.len() + chunk.len() > max {
            return Err(format!("body over {max} bytes"));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buf))
}

fn plain(status: StatusCode, text: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(text)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}
