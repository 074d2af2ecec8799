//! Starting one service: validate its configuration, build telemetry, bind, serve, and the
//! [`RunningService`] handle that owns it (graceful shutdown, crash signal, telemetry
//! flush).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::client::{Upstreams, http_client};
use super::config::{ConfigError, ServiceConfig, ServiceName};
use super::faults::{Faults, admin_router};
use super::listener::KillableListener;
use super::metrics::{Metrics, OPENMETRICS_CONTENT_TYPE};
use super::server::{RouteDef, ServiceCtx, instrument};
use super::telemetry::{Telemetry, TelemetryError};
use super::{frontend, gateway, orders, products, users, worker};

/// How long a graceful shutdown waits for in-flight requests before cutting connections.
const GRACE: Duration = Duration::from_secs(5);

/// Why a service could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen on {addr} for {service}")]
    Bind {
        service: ServiceName,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot set up telemetry for {service}")]
    Telemetry {
        service: ServiceName,
        #[source]
        source: TelemetryError,
    },
    #[error("cannot build the http client for {service}")]
    HttpClient {
        service: ServiceName,
        #[source]
        source: reqwest::Error,
    },
    #[error("invalid command line: {0}")]
    Usage(String),
    #[error("cannot install signal handlers")]
    Signal(#[source] std::io::Error),
    #[error("cannot write to stdout")]
    Output(#[source] std::io::Error),
}

/// A started service; stops (gracefully, then by cutting connections) on
/// [`RunningService::shutdown`] or on drop.
#[derive(Debug)]
pub struct RunningService {
    name: ServiceName,
    addr: SocketAddr,
    url: String,
    ctx: Arc<ServiceCtx>,
    stop: Arc<watch::Sender<bool>>,
    kill: Arc<watch::Sender<bool>>,
    server: Option<JoinHandle<()>>,
    background: Vec<JoinHandle<()>>,
    crash: watch::Receiver<Option<i32>>,
}

fn routes_of(name: ServiceName) -> (Router<Arc<ServiceCtx>>, &'static [RouteDef]) {
    match name {
        ServiceName::Frontend => (frontend::routes(), frontend::ROUTES),
        ServiceName::ApiGateway => (gateway::routes(), gateway::ROUTES),
        ServiceName::Users => (users::routes(), users::ROUTES),
        ServiceName::Products => (products::routes(), products::ROUTES),
        ServiceName::Orders => (orders::routes(), orders::ROUTES),
        ServiceName::Worker => (worker::routes(), worker::ROUTES),
    }
}

/// Starts one service and returns once it is listening.
pub async fn start(cfg: ServiceConfig) -> Result<RunningService, ServiceError> {
    let name = cfg.name;
    let upstreams = cfg.validate()?;
    let client = http_client(cfg.upstream_timeout).map_err(|source| ServiceError::HttpClient {
        service: name,
        source,
    })?;
    let tcp = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| ServiceError::Bind {
            service: name,
            addr: cfg.listen,
            source,
        })?;
    let addr = tcp.local_addr().map_err(|source| ServiceError::Bind {
        service: name,
        addr: cfg.listen,
        source,
    })?;
    let telemetry = Telemetry::new(&cfg).map_err(|source| ServiceError::Telemetry {
        service: name,
        source,
    })?;
    let metrics = Arc::new(Metrics::new(name, cfg.dialect));
    let faults = Faults::new(name, metrics.clone());
    let (stop, stopping) = watch::channel(false);
    let (kill, killed) = watch::channel(false);
    let (stop, kill) = (Arc::new(stop), Arc::new(kill));
    let (queue, queue_rx) = if name == ServiceName::Worker {
        let (tx, rx) = mpsc::channel(worker::QUEUE_CAPACITY);
        (Some(tx), Some(rx))
    } else {
        (None, None)
    };
    let (business, routes) = routes_of(name);
    let ctx = Arc::new(ServiceCtx {
        name,
        level: cfg.instrumentation,
        telemetry,
        metrics,
        faults: faults.clone(),
        upstreams: Upstreams::new(client, upstreams),
        routes,
        stopping: stopping.clone(),
        order_seq: AtomicU64::new(1),
        queue,
    });
    let app = business
        .layer(axum::middleware::from_fn_with_state(
            ctx.clone(),
            instrument,
        ))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .with_state(ctx.clone())
        .merge(admin_router(faults.clone()));

    let mut background = Vec::new();
    if let Some(rx) = queue_rx {
        background.push(tokio::spawn(worker::dispatch(ctx.clone(), rx)));
    }

    let listener = KillableListener::new(tcp, killed);
    let mut crash = faults.crash_signal();
    let mut graceful = stopping.clone();
    let (stop2, kill2) = (stop.clone(), kill.clone());
    let server = tokio::spawn(async move {
        let serve = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = graceful.wait_for(|s| *s).await;
            })
            .into_future();
        tokio::select! {
            r = serve => if let Err(error) = r {
                tracing::error!(%error, service = %name, "server failed");
            },
            _ = crash.wait_for(|c| c.is_some()) => {
                // Stop listening and cut every connection, as a dead process would.
                stop2.send_replace(true);
                kill2.send_replace(true);
                tracing::error!(service = %name, "service crashed by fault injection; no longer listening");
            }
        }
    });
    tracing::info!(service = %name, %addr, "service listening");
    Ok(RunningService {
        name,
        addr,
        url: format!("http://{addr}"),
        ctx,
        stop,
        kill,
        server: Some(server),
        background,
        crash: faults.crash_signal(),
    })
}

async fn healthz(State(ctx): State<Arc<ServiceCtx>>) -> Response {
    axum::Json(serde_json::json!({ "status": "ok", "service": ctx.name })).into_response()
}

async fn metrics_text(State(ctx): State<Arc<ServiceCtx>>) -> Response {
    match ctx.metrics.encode() {
        Ok(text) => ([(CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)], text).into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "cannot encode metrics").into_response(),
    }
}

impl RunningService {
    pub fn name(&self) -> ServiceName {
        self.name
    }

    /// The bound address (the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ip:port`, no trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The exit code of a crash fault that fired, if any.
    pub fn crash_code(&self) -> Option<i32> {
        *self.crash.borrow()
    }

    /// Waits until a crash fault fires and returns its exit code.
    pub async fn crashed(&self) -> i32 {
        let mut rx = self.crash.clone();
        match rx.wait_for(|c| c.is_some()).await {
            Ok(code) => code.unwrap_or(1),
            // The fault state lives as long as `self`; this branch cannot be reached while
            // `self` is borrowed, so wait forever like a service that never crashes.
            Err(_) => std::future::pending().await,
        }
    }

    /// Exports buffered spans and log records now.
    pub async fn flush_telemetry(&self) {
        self.ctx.telemetry.flush().await;
    }

    /// Stops accepting, lets in-flight requests finish (at most 5 s), reverts faults and
    /// flushes telemetry.
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        if let Some(mut server) = self.server.take()
            && tokio::time::timeout(GRACE, &mut server).await.is_err()
        {
            tracing::warn!(service = %self.name, "graceful shutdown timed out; cutting connections");
            self.kill.send_replace(true);
            if tokio::time::timeout(GRACE, &mut server).await.is_err() {
                server.abort();
            }
        }
        self.kill.send_replace(true);
        for t in self.background.drain(..) {
            t.abort();
        }
        self.ctx.faults.clear();
        self.ctx.telemetry.shutdown().await;
        tracing::info!(service = %self.name, "service stopped");
    }
}

impl Drop for RunningService {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        self.kill.send_replace(true);
        if let Some(s) = self.server.take() {
            s.abort();
        }
        for t in self.background.drain(..) {
            t.abort();
        }
        self.ctx.faults.clear();
        self.ctx.telemetry.shutdown_in_background();
    }
}
