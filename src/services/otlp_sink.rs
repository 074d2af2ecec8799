//! A minimal in-process OTLP/HTTP receiver (`POST /v1/traces`, `POST /v1/logs`, protobuf or
//! JSON; spec: <https://opentelemetry.io/docs/specs/otlp/#otlphttp>). Tests keep what it
//! decodes and assert on it; the overhead benchmark runs it in discard mode, where it
//! answers without decoding.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

use crate::observe::server::{HttpServer, ServeError, loopback};

/// Most spans or log records kept; later ones are counted but dropped.
pub const MAX_KEPT: usize = 1_000_000;

/// Whether received data is decoded and kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkMode {
    Store,
    Discard,
}

/// The sink could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the otlp sink on {addr}")]
pub struct SinkError {
    pub addr: SocketAddr,
    #[source]
    pub source: std::io::Error,
}

impl From<ServeError> for SinkError {
    fn from(e: ServeError) -> Self {
        match e {
            ServeError::Bind { addr, source, .. } | ServeError::LocalAddr { addr, source, .. } => {
                SinkError { addr, source }
            }
        }
    }
}

/// One received span, flattened.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedSpan {
    pub service: String,
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    pub name: String,
    /// 1 internal, 2 server, 3 client, 4 producer, 5 consumer.
    pub kind: i32,
    /// 0 unset, 1 ok, 2 error.
    pub status_code: i32,
    pub status_message: String,
    pub attributes: BTreeMap<String, String>,
    pub resource: BTreeMap<String, String>,
    /// Names of span events (e.g. `exception`).
    pub events: Vec<String>,
}

/// One received log record, flattened.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedLog {
    pub service: String,
    pub trace_id: String,
    pub span_id: String,
    pub severity_text: String,
    pub severity_number: i32,
    pub body: String,
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
struct Store {
    spans: Vec<ReceivedSpan>,
    logs: Vec<ReceivedLog>,
    trace_requests: u64,
    log_requests: u64,
    bytes: u64,
}

#[derive(Debug)]
struct Shared {
    mode: SinkMode,
    store: Mutex<Store>,
}

/// A running sink; stops on [`OtlpSink::shutdown`] or drop.
#[derive(Debug)]
pub struct OtlpSink {
    server: HttpServer,
    shared: Arc<Shared>,
}

impl OtlpSink {
    /// Starts on `127.0.0.1` with a port from the OS.
    pub async fn start(mode: SinkMode) -> Result<Self, SinkError> {
        let shared = Arc::new(Shared {
            mode,
            store: Mutex::new(Store::default()),
        });
        let app = Router::new()
            .route("/v1/traces", post(traces))
            .route("/v1/logs", post(logs))
            .with_state(shared.clone());
        let server = HttpServer::start("the otlp sink", loopback(), app).await?;
        Ok(Self { server, shared })
    }

    /// The OTLP/HTTP base URL to give exporters, e.g. `http://127.0.0.1:43117`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.lock().spans.clone()
    }

    pub fn logs(&self) -> Vec<ReceivedLog> {
        self.lock().logs.clone()
    }

    /// Export requests received so far: (traces, logs).
    pub fn requests(&self) -> (u64, u64) {
        let s = self.lock();
        (s.trace_requests, s.log_requests)
    }

    /// Request body bytes received so far.
    pub fn bytes(&self) -> u64 {
        self.lock().bytes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.shared.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stops the server and waits (at most 2 s) for in-flight exports to finish.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

fn decode<T: Message + Default + serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, String> {
    if is_json(headers) {
        serde_json::from_slice(body).map_err(|e| e.to_string())
    } else {
        T::decode(body).map_err(|e| e.to_string())
    }
}

fn answer<T: Message + serde::Serialize>(headers: &HeaderMap, msg: &T) -> Response {
    if is_json(headers) {
        axum::Json(serde_json::to_value(msg).unwrap_or_default()).into_response()
    } else {
        (
            [(CONTENT_TYPE, "application/x-protobuf")],
            msg.encode_to_vec(),
        )
            .into_response()
    }
}

async fn traces(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let ok = ExportTraceServiceResponse::default();
    if shared.mode == SinkMode::Discard {
        let mut s = shared.store.lock().unwrap_or_else(|p| p.into_inner());
        s.trace_requests += 1;
        s.bytes += body.len() as u64;
        return answer(&headers, &ok);
    }
    let req: ExportTraceServiceRequest = match decode(&headers, &body) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    let mut out = Vec::new();
    for rs in req.resource_spans {
        let resource = attrs_of_resource(rs.resource.as_ref());
        let service = resource.get("service.name").cloned().unwrap_or_default();
        for ss in rs.scope_spans {
            for sp in ss.spans {
                let status = sp.status.unwrap_or_default();
                out.push(ReceivedSpan {
                    service: service.clone(),
                    trace_id: hex(&sp.trace_id),
                    span_id: hex(&sp.span_id),
                    parent_span_id: hex(&sp.parent_span_id),
                    name: sp.name,
                    kind: sp.kind,
                    status_code: status.code,
                    status_message: status.message,
                    attributes: attrs(&sp.attributes),
                    resource: resource.clone(),
                    events: sp.events.into_iter().map(|e| e.name).collect(),
                });
            }
        }
    }
    let mut s = shared.store.lock().unwrap_or_else(|p| p.into_inner());
    s.trace_requests += 1;
    s.bytes += body.len() as u64;
    let room = MAX_KEPT.saturating_sub(s.spans.len());
    s.spans.extend(out.into_iter().take(room));
    answer(&headers, &ok)
}

async fn logs(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let ok = ExportLogsServiceResponse::default();
    if shared.mode == SinkMode::Discard {
        let mut s = shared.store.lock().unwrap_or_else(|p| p.into_inner());
        s.log_requests += 1;
        s.bytes += body.len() as u64;
        return answer(&headers, &ok);
    }
    let req: ExportLogsServiceRequest = match decode(&headers, &body) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    let mut out = Vec::new();
    for rl in req.resource_logs {
        let resource = attrs_of_resource(rl.resource.as_ref());
        let service = resource.get("service.name").cloned().unwrap_or_default();
        for sl in rl.scope_logs {
            for r in sl.log_records {
                out.push(ReceivedLog {
                    service: service.clone(),
                    trace_id: hex(&r.trace_id),
                    span_id: hex(&r.span_id),
                    severity_text: r.severity_text,
                    severity_number: r.severity_number,
                    body: r.body.as_ref().map(value_text).unwrap_or_default(),
                    attributes: attrs(&r.attributes),
                });
            }
        }
    }
    let mut s = shared.store.lock().unwrap_or_else(|p| p.into_inner());
    s.log_requests += 1;
    s.bytes += body.len() as u64;
    let room = MAX_KEPT.saturating_sub(s.logs.len());
    s.logs.extend(out.into_iter().take(room));
    answer(&headers, &ok)
}

fn attrs_of_resource(r: Option<&Resource>) -> BTreeMap<String, String> {
    r.map(|r| attrs(&r.attributes)).unwrap_or_default()
}

fn attrs(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter()
        .map(|kv| {
            (
                kv.key.clone(),
                kv.value.as_ref().map(value_text).unwrap_or_default(),
            )
        })
        .collect()
}

/// A scalar attribute as text (ints and doubles in decimal); composites as debug text.
fn value_text(v: &AnyValue) -> String {
    match &v.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
