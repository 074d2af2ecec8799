//! A small OTLP/HTTP tap: an axum server accepting `POST /v1/traces` and `POST /v1/logs`
//! (protobuf, or OTLP JSON when the content type says `json`) that records every received
//! span and log record with its arrival time, so a test can see what services exported
//! before anything reaches a collector.
//!
//! Upstream protocol: <https://opentelemetry.io/docs/specs/otlp/#otlphttp>. Deliberately
//! independent of `services::otlp_sink` (the stack's sink); this one only observes.
//! Compressed bodies (`Content-Encoding: gzip`) are refused with 415.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;

use super::server::{HttpServer, ServeError, loopback};

/// The tap could not start.
pub type OtlpTapError = ServeError;

/// OTLP span status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanStatus {
    Unset,
    Ok,
    Error,
}

/// A span as received.
#[derive(Debug, Clone, PartialEq)]
pub struct TappedSpan {
    pub received_at: Instant,
    pub received_wall: SystemTime,
    /// Resource attribute `service.name`.
    pub service_name: String,
    /// Lower-case hex.
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    pub name: String,
    pub status: SpanStatus,
    pub attributes: BTreeMap<String, String>,
}

/// A log record as received.
#[derive(Debug, Clone, PartialEq)]
pub struct TappedLog {
    pub received_at: Instant,
    pub received_wall: SystemTime,
    pub service_name: String,
    pub severity_text: String,
    pub severity_number: i32,
    /// The body rendered as text.
    pub body: String,
    /// Lower-case hex; empty when the record is not correlated with a span.
    pub trace_id: String,
    pub span_id: String,
    pub attributes: BTreeMap<String, String>,
}

#[derive(Default)]
struct Recorded {
    spans: Mutex<Vec<TappedSpan>>,
    logs: Mutex<Vec<TappedLog>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The running tap; dropping it stops the server.
pub struct OtlpTap {
    server: HttpServer,
    recorded: Arc<Recorded>,
}

impl std::fmt::Debug for OtlpTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpTap")
            .field("addr", &self.addr())
            .finish_non_exhaustive()
    }
}

impl OtlpTap {
    /// Starts the tap on `127.0.0.1` with a port chosen by the OS.
    pub async fn start() -> Result<Self, OtlpTapError> {
        let recorded = Arc::new(Recorded::default());
        let app = Router::new()
            .route("/v1/traces", post(receive_traces))
            .route("/v1/logs", post(receive_logs))
            .with_state(Arc::clone(&recorded));
        let server = HttpServer::start("the otlp tap", loopback(), app).await?;
        Ok(OtlpTap { server, recorded })
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The OTLP/HTTP base endpoint (`http://127.0.0.1:port`); exporters append `/v1/…`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// Every span received so far, in arrival order.
    pub fn spans(&self) -> Vec<TappedSpan> {
        lock(&self.recorded.spans).clone()
    }

    /// Every log record received so far, in arrival order.
    pub fn logs(&self) -> Vec<TappedLog> {
        lock(&self.recorded.logs).clone()
    }
}

enum Encoding {
    Protobuf,
    Json,
}

fn encoding(headers: &HeaderMap) -> Result<Encoding, StatusCode> {
    if headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes() != b"identity")
    {
        return Err(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/x-protobuf");
    if content_type.contains("json") {
        Ok(Encoding::Json)
    } else {
        Ok(Encoding::Protobuf)
    }
}

fn decode<T: Message + Default + serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, StatusCode> {
    match encoding(headers)? {
        Encoding::Protobuf => T::decode(body).map_err(|_| StatusCode::BAD_REQUEST),
        Encoding::Json => serde_json::from_slice(body).map_err(|_| StatusCode::BAD_REQUEST),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An attribute value as text (arrays and maps as compact JSON-ish text).
fn value_text(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        None => String::new(),
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BytesValue(b)) => hex(b),
        Some(any_value::Value::ArrayValue(a)) => {
            let items: Vec<String> = a.values.iter().map(|v| value_text(Some(v))).collect();
            format!("[{}]", items.join(","))
        }
        Some(any_value::Value::KvlistValue(kv)) => {
            let items: Vec<String> = kv
                .values
                .iter()
                .map(|p| format!("{}={}", p.key, value_text(p.value.as_ref())))
                .collect();
            format!("{{{}}}", items.join(","))
        }
        // Kinds added by newer protos (e.g. string-table references) carry no inline text.
        Some(_) => String::new(),
    }
}

fn attributes(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), value_text(kv.value.as_ref())))
        .collect()
}

fn service_name(resource_attributes: &[KeyValue]) -> String {
    resource_attributes
        .iter()
        .find(|kv| kv.key == "service.name")
        .map(|kv| value_text(kv.value.as_ref()))
        .unwrap_or_default()
}

async fn receive_traces(
    State(recorded): State<Arc<Recorded>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let (received_at, received_wall) = (Instant::now(), SystemTime::now());
    let request: ExportTraceServiceRequest = match decode(&headers, &body) {
        Ok(r) => r,
        Err(status) => return status,
    };
    let mut spans = Vec::new();
    for rs in &request.resource_spans {
        let service = service_name(rs.resource.as_ref().map_or(&[][..], |r| &r.attributes));
        for span in rs.scope_spans.iter().flat_map(|s| &s.spans) {
            let status = match span.status.as_ref().map_or(0, |s| s.code) {
                1 => SpanStatus::Ok,
                2 => SpanStatus::Error,
                _ => SpanStatus::Unset,
            };
            spans.push(TappedSpan {
                received_at,
                received_wall,
                service_name: service.clone(),
                trace_id: hex(&span.trace_id),
                span_id: hex(&span.span_id),
                parent_span_id: hex(&span.parent_span_id),
                name: span.name.clone(),
                status,
                attributes: attributes(&span.attributes),
            });
        }
    }
    tracing::debug!(spans = spans.len(), "otlp tap received spans");
    lock(&recorded.spans).extend(spans);
    StatusCode::OK
}

async fn receive_logs(
    State(recorded): State<Arc<Recorded>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let (received_at, received_wall) = (Instant::now(), SystemTime::now());
    let request: ExportLogsServiceRequest = match decode(&headers, &body) {
        Ok(r) => r,
        Err(status) => return status,
    };
    let mut logs = Vec::new();
    for rl in &request.resource_logs {
        let service = service_name(rl.resource.as_ref().map_or(&[][..], |r| &r.attributes));
        for record in rl.scope_logs.iter().flat_map(|s| &s.log_records) {
            logs.push(TappedLog {
                received_at,
                received_wall,
                service_name: service.clone(),
                severity_text: record.severity_text.clone(),
                severity_number: record.severity_number,
                body: value_text(record.body.as_ref()),
                trace_id: hex(&record.trace_id),
                span_id: hex(&record.span_id),
                attributes: attributes(&record.attributes),
            });
        }
    }
    tracing::debug!(records = logs.len(), "otlp tap received log records");
    lock(&recorded.logs).extend(logs);
    StatusCode::OK
}
