//! The generator's HTTP client: sends one journey step and says what came back.
//!
//! `http` targets (the normal case: the sample services on loopback) use hyper's HTTP/1.1
//! connection API (<https://docs.rs/hyper/1/hyper/client/conn/http1/>) with a small pool of
//! keep-alive connections kept here. Profiling `gauntlet bench load` showed most of the
//! generator's per-request CPU in reqwest's layers above hyper (URL handling, header maps,
//! its pool and boxed futures); this path builds each request directly in origin form to
//! an address resolved once. `https` targets (only reachable with `allow_non_loopback` or a
//! TLS loopback service) keep reqwest, which brings TLS and certificate verification.

use super::journey::{Step, StepMethod};
use super::plan::{LoadPlan, PlanError, PlanProblem, resolve};
use super::record::{ErrorKind, Outcome};
use super::traceparent::{TRACEPARENT, TraceContext};

/// Parsed once rather than per request.
const TRACEPARENT_HEADER: HeaderName = HeaderName::from_static(TRACEPARENT);
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST};
use http::{HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Why the client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot build the https client")]
    Client(#[source] reqwest::Error),
    #[error(transparent)]
    Plan(#[from] PlanError),
}

/// Sends requests to one target.
pub(crate) struct Engine {
    kind: Kind,
    timeout: Duration,
}

enum Kind {
    Plain(Plain),
    Tls {
        client: reqwest::Client,
        base: String,
    },
}

/// Plain HTTP/1.1 with keep-alive connections reused across requests.
struct Plain {
    addrs: Vec<SocketAddr>,
    /// Path prefix of the target URL (without a trailing `/`), usually empty.
    prefix: String,
    host: HeaderValue,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
    max_idle: usize,
}

impl Engine {
    /// A client for `plan.target` keeping up to `max_conns` idle connections.
    pub(crate) async fn new(plan: &LoadPlan, max_conns: usize) -> Result<Engine, EngineError> {
        let kind = if plan.target.scheme() == "http" {
            Kind::Plain(Plain::new(plan, max_conns).await?)
        } else {
            let client = reqwest::Client::builder()
                // Never route the generator's traffic through an environment proxy.
                .no_proxy()
                // Nor follow redirects: the loopback guard checked the target only, and a
                // redirect could send the load anywhere. A 3xx is recorded as the answer it is.
                .redirect(reqwest::redirect::Policy::none())
                .tcp_nodelay(true)
                .pool_max_idle_per_host(max_conns)
                .connect_timeout(plan.timeout)
                .build()
                .map_err(EngineError::Client)?;
            Kind::Tls {
                client,
                base: plan.target.as_str().trim_end_matches('/').to_owned(),
            }
        };
        Ok(Engine {
            kind,
            timeout: plan.timeout,
        })
    }

    /// Sends `step` with `ctx` as its `traceparent` and reads the whole answer, within the
    /// plan's timeout (connecting included).
    pub(crate) async fn send(&self, step: Step, ctx: &TraceContext) -> Outcome {
        match &self.kind {
            Kind::Plain(p) => match tokio::time::timeout(self.timeout, p.send(step, ctx)).await {
                Ok(Ok(status)) => Outcome::Status(status),
                Ok(Err(kind)) => Outcome::Error(kind),
                Err(_) => Outcome::Error(ErrorKind::Timeout),
            },
            Kind::Tls { client, base } => {
                let url = format!("{base}{}", step.path);
                let rb = match step.method {
                    StepMethod::Get => client.get(url),
                    StepMethod::Post => client
                        .post(url)
                        .header(CONTENT_TYPE, "application/json")
                        .body(step.json_body.unwrap_or_default()),
                };
                let sent = rb
                    .header(TRACEPARENT, ctx.header_value())
                    .timeout(self.timeout)
                    .send()
                    .await;
                outcome_of(sent).await
            }
        }
    }
}

impl Plain {
    async fn new(plan: &LoadPlan, max_idle: usize) -> Result<Plain, PlanError> {
        let url = &plan.target;
        let host = url
            .host_str()
            .ok_or(PlanError::Invalid(vec![PlanProblem::NoHost]))?;
        let addrs = resolve(url).await?;
        let authority = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        };
        let host = HeaderValue::from_str(&authority)
            .map_err(|_| PlanError::Invalid(vec![PlanProblem::NoHost]))?;
        Ok(Plain {
            addrs,
            prefix: url.path().trim_end_matches('/').to_owned(),
            host,
            idle: Mutex::new(Vec::with_capacity(max_idle)),
            max_idle,
        })
    }

    async fn send(&self, step: Step, ctx: &TraceContext) -> Result<u16, ErrorKind> {
        let path = if self.prefix.is_empty() {
            step.path
        } else {
            format!("{}{}", self.prefix, step.path)
        };
        let uri = Uri::try_from(path).map_err(|_| ErrorKind::Request)?;
        let (method, body) = match step.method {
            StepMethod::Get => (Method::GET, Bytes::new()),
            StepMethod::Post => (
                Method::POST,
                Bytes::from(step.json_body.unwrap_or_default()),
            ),
        };
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = method;
        *req.uri_mut() = uri;
        let headers = req.headers_mut();
        headers.insert(HOST, self.host.clone());
        headers.insert(TRACEPARENT_HEADER, ctx.header());
        if step.method == StepMethod::Post {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }

        let mut conn = self.checkout().await?;
        let resp = conn
            .send_request(req)
            .await
            .map_err(|_| ErrorKind::Transport)?;
        let status = resp.status().as_u16();
        // Read the body: latency ends when the response is complete, and only then can the
        // connection carry the next request.
        let mut body = resp.into_body();
        while let Some(frame) = body.frame().await {
            frame.map_err(|_| ErrorKind::Transport)?;
        }
        self.checkin(conn);
        Ok(status)
    }

    /// An idle connection ready for a request, or a new one.
    async fn checkout(&self) -> Result<SendRequest<Full<Bytes>>, ErrorKind> {
        loop {
            let idle = self
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop();
            let Some(mut conn) = idle else { break };
            // A connection the server closed answers `ready` with an error: drop it.
            if conn.ready().await.is_ok() {
                return Ok(conn);
            }
        }
        self.connect().await
    }

    fn checkin(&self, conn: SendRequest<Full<Bytes>>) {
        if conn.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < self.max_idle {
            idle.push(conn);
        }
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, ErrorKind> {
        let mut stream = None;
        for addr in &self.addrs {
            if let Ok(s) = tokio::net::TcpStream::connect(addr).await {
                stream = Some(s);
                break;
            }
        }
        let stream = stream.ok_or(ErrorKind::Connect)?;
        stream.set_nodelay(true).map_err(|_| ErrorKind::Connect)?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|_| ErrorKind::Connect)?;
        // The connection task ends when the server closes it or when its last sender is
        // dropped (the pool drops them with the engine at the end of the run).
        tokio::spawn(async move {
            if let Err(error) = conn.await {
                tracing::debug!(%error, "load connection ended");
            }
        });
        Ok(sender)
    }
}

/// The outcome of a request sent with reqwest (the `https` path here, and goose's requests).
/// The body is read: latency ends when the response is complete, and the connection goes
/// back to the pool.
pub(super) async fn outcome_of(sent: Result<reqwest::Response, reqwest::Error>) -> Outcome {
    match sent {
        Ok(resp) => {
            let status = resp.status().as_u16();
            match resp.bytes().await {
                Ok(_) => Outcome::Status(status),
                Err(e) => Outcome::Error(ErrorKind::of(&e)),
            }
        }
        Err(e) => Outcome::Error(ErrorKind::of(&e)),
    }
}
