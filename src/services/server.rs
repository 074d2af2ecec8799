//! What every service shares: its context (config, telemetry, metrics, faults, upstream
//! client), the per-request middleware (server span, faults, metrics, log) and the error
//! type handlers answer with.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use opentelemetry::Context;
use opentelemetry::trace::TraceContextExt;
use tokio::sync::watch;

use super::client::{Reply, Upstreams};
use super::config::{Instrumentation, ServiceName};
use super::faults::{Faults, HANG_MAX};
use super::metrics::Metrics;
use super::telemetry::{LogEntry, Telemetry};

/// Route label of requests no route matched (keeps label cardinality bounded).
pub(crate) const UNMATCHED_ROUTE: &str = "unmatched";

/// One business route: its template and the server span name `"{METHOD} {template}"`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RouteDef {
    pub method: &'static str,
    pub template: &'static str,
    pub span_name: &'static str,
}

/// `route_def!("GET" "/users/{id}")`: a [`RouteDef`] whose span name is `"GET /users/{id}"`.
macro_rules! route_def {
    ($method:literal $template:literal) => {
        $crate::services::server::RouteDef {
            method: $method,
            template: $template,
            span_name: concat!($method, " ", $template),
        }
    };
}
pub(crate) use route_def;

/// Everything a service's handlers and middleware need.
#[derive(Debug)]
pub(crate) struct ServiceCtx {
    pub name: ServiceName,
    pub level: Instrumentation,
    pub telemetry: Telemetry,
    pub metrics: Arc<Metrics>,
    pub faults: Faults,
    pub upstreams: Upstreams,
    pub routes: &'static [RouteDef],
    /// Becomes true when the service shuts down (releases hung requests).
    pub stopping: watch::Receiver<bool>,
    /// Next order id (orders only).
    pub order_seq: std::sync::atomic::AtomicU64,
    /// The task queue (worker only).
    pub queue: Option<tokio::sync::mpsc::Sender<super::worker::Task>>,
}

impl ServiceCtx {
    fn route(
        &self,
        method: &Method,
        matched: Option<&MatchedPath>,
    ) -> (&'static str, &'static str, &'static str) {
        let m = method_label(method);
        if let Some(p) = matched {
            if let Some(r) = self
                .routes
                .iter()
                .find(|r| r.template == p.as_str() && r.method == m)
            {
                return (m, r.template, r.span_name);
            }
            if let Some(r) = self.routes.iter().find(|r| r.template == p.as_str()) {
                // Matched path, other method (405): keep the template, generic span name.
                return (m, r.template, r.span_name);
            }
        }
        (m, UNMATCHED_ROUTE, "HTTP unmatched")
    }
}

impl ServiceCtx {
    /// Calls `path` on upstream `target` in a client span `span` under the request's trace
    /// context, with this service's telemetry and faults.
    pub(crate) async fn call(
        &self,
        cx: &RequestCx,
        target: ServiceName,
        method: reqwest::Method,
        span: &'static str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Reply, AppError> {
        self.upstreams
            .call(
                &self.telemetry,
                &self.faults,
                &cx.0,
                target,
                method,
                span,
                path,
                body,
            )
            .await
    }
}

/// Decodes a JSON request body; a body that does not decode is a 400 naming `what`.
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(
    body: &[u8],
    what: &str,
) -> Result<T, AppError> {
    serde_json::from_slice(body)
        .map_err(|e| AppError::new(StatusCode::BAD_REQUEST, format!("invalid {what}: {e}")))
}

/// Encodes a body for an upstream call; failing is this service's fault (500).
pub(crate) fn json_value<T: serde::Serialize>(value: T) -> Result<serde_json::Value, AppError> {
    serde_json::to_value(value)
        .map_err(|e| AppError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

/// `&'static` label for the request method (unknown methods share one label).
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// The trace context of the request being handled (empty when tracing is off).
#[derive(Debug, Clone)]
pub(crate) struct RequestCx(pub Context);

/// Why a response failed; the middleware puts it on the span and the log.
#[derive(Debug, Clone)]
struct FailureNote(String);

/// An error a handler answers with: status plus a JSON `{"error": …}` body.
#[derive(Debug)]
pub(crate) struct AppError {
    pub status: StatusCode,
    pub message: String,
}

impl AppError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut resp = (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response();
        resp.extensions_mut().insert(FailureNote(self.message));
        resp
    }
}

/// Middleware around business routes (not `/healthz`, `/metrics`, `/admin`): starts the
/// server span, applies faults, records metrics and logs the request.
pub(crate) async fn instrument(
    State(ctx): State<Arc<ServiceCtx>>,
    mut req: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let (method, route, span_name) = ctx.route(req.method(), req.extensions().get::<MatchedPath>());
    let cx = ctx
        .telemetry
        .server_span(req.headers(), span_name, method, route);
    req.extensions_mut().insert(RequestCx(cx.clone()));

    let verdict = ctx.faults.on_request(route, req.uri().path());
    let resp = if verdict.hang {
        hang(&ctx).await.into_response()
    } else {
        if !verdict.delay.is_zero() {
            tokio::time::sleep(verdict.delay).await;
        }
        match verdict.fail {
            None => next.run(req).await,
            Some(status) => {
                let code =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                AppError::new(code, format!("injected error ({status})")).into_response()
            }
        }
    };

    let status = resp.status().as_u16();
    let elapsed = start.elapsed();
    let note = resp.extensions().get::<FailureNote>().map(|n| n.0.as_str());
    let error = if status >= 500 {
        Some(note.unwrap_or("server error"))
    } else {
        None
    };
    if ctx.level.metrics() {
        let span = cx.span();
        let sc = span.span_context();
        let exemplar = (sc.is_valid() && sc.is_sampled()).then(|| sc.trace_id());
        ctx.metrics
            .record_request(method, route, status, elapsed, exemplar);
    }
    if ctx.telemetry.enabled() {
        ctx.telemetry.end_span(&cx, Some(status), error);
        ctx.telemetry.log(
            &LogEntry {
                route,
                method,
                status,
                latency: elapsed,
                msg: "request completed",
                error: note,
            },
            &cx,
        );
    }
    resp
}

/// Holds a request until the hang fault is reverted, the service stops, or [`HANG_MAX`].
async fn hang(ctx: &ServiceCtx) -> AppError {
    let mut changes = ctx.faults.changes();
    let mut stopping = ctx.stopping.clone();
    let faults = ctx.faults.clone();
    let released = async move {
        while faults.hang_active() {
            if changes.changed().await.is_err() {
                break;
            }
        }
    };
    tokio::select! {
        () = released => {}
        _ = stopping.wait_for(|s| *s) => {}
        () = tokio::time::sleep(HANG_MAX) => {}
    }
    AppError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "released from injected hang",
    )
}

/// Extractor shorthand for handlers.
pub(crate) type Cx = Extension<RequestCx>;
