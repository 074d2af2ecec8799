//! Jaeger client: the query service's HTTP API (`/api/services`, `/api/services/{s}/operations`,
//! `/api/traces`, `/api/traces/{id}`) and the api/v3 trace lookup (`/api/v3/traces/{id}`,
//! OTLP JSON), both decoded into one typed [`Trace`] model with helpers for service sets,
//! parent links and error spans.
//!
//! Upstream API: <https://www.jaegertracing.io/docs/latest/architecture/apis/> (the `/api/*`
//! endpoints are the UI's internal JSON API; api/v3 is the stable one).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;

use super::http::{self, HttpError};
use super::time::unix_micros;

/// Failure talking to Jaeger.
#[derive(Debug, thiserror::Error)]
pub enum JaegerError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("jaeger answered {endpoint} with http {status}: {errors}")]
    Api {
        endpoint: String,
        status: StatusCode,
        errors: String,
    },
    #[error("cannot encode the tag filter for {endpoint}")]
    Encode {
        endpoint: String,
        #[source]
        source: serde_json::Error,
    },
}

/// Client for one Jaeger query service.
#[derive(Debug, Clone)]
pub struct JaegerClient {
    api: http::Api,
}

/// A typed tag value (Jaeger `type` + `value`).
#[derive(Debug, Clone, PartialEq)]
pub enum TagValue {
    String(String),
    Bool(bool),
    Int64(i64),
    Float64(f64),
    /// Base64 as Jaeger sends it.
    Binary(String),
}

impl TagValue {
    /// The value as text (`true`, `42`, …), for comparisons with scenario strings.
    pub fn as_text(&self) -> String {
        match self {
            TagValue::String(s) | TagValue::Binary(s) => s.clone(),
            TagValue::Bool(b) => b.to_string(),
            TagValue::Int64(i) => i.to_string(),
            TagValue::Float64(f) => f.to_string(),
        }
    }
}

/// A span or process tag.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawKeyValue")]
pub struct KeyValue {
    pub key: String,
    pub value: TagValue,
}

#[derive(Deserialize)]
struct RawKeyValue {
    key: String,
    #[serde(rename = "type", default)]
    kind: String,
    value: serde_json::Value,
}

impl TryFrom<RawKeyValue> for KeyValue {
    type Error = String;

    fn try_from(raw: RawKeyValue) -> Result<Self, Self::Error> {
        use serde_json::Value as J;
        let bad = || {
            format!(
                "tag {:?} of type {:?} has value {}",
                raw.key, raw.kind, raw.value
            )
        };
        let value = match (raw.kind.as_str(), &raw.value) {
            ("string" | "", J::String(s)) => TagValue::String(s.clone()),
            ("bool", J::Bool(b)) => TagValue::Bool(*b),
            ("bool", J::String(s)) => TagValue::Bool(s == "true"),
            ("int64", J::Number(n)) => TagValue::Int64(n.as_i64().ok_or_else(bad)?),
            ("int64", J::String(s)) => TagValue::Int64(s.parse().map_err(|_| bad())?),
            ("float64", J::Number(n)) => TagValue::Float64(n.as_f64().ok_or_else(bad)?),
            ("float64", J::String(s)) => TagValue::Float64(s.parse().map_err(|_| bad())?),
            ("binary", J::String(s)) => TagValue::Binary(s.clone()),
            _ => return Err(bad()),
        };
        Ok(KeyValue {
            key: raw.key,
            value,
        })
    }
}

/// Kind of a span reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum RefType {
    #[serde(rename = "CHILD_OF")]
    ChildOf,
    #[serde(rename = "FOLLOWS_FROM")]
    FollowsFrom,
}

/// A link to another span.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reference {
    pub ref_type: RefType,
    #[serde(rename = "traceID")]
    pub trace_id: String,
    #[serde(rename = "spanID")]
    pub span_id: String,
}

/// A span log (event).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Log {
    /// Microseconds since the Unix epoch.
    pub timestamp: u64,
    #[serde(default)]
    pub fields: Vec<KeyValue>,
}

/// A span.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Span {
    #[serde(rename = "traceID")]
    pub trace_id: String,
    #[serde(rename = "spanID")]
    pub span_id: String,
    pub operation_name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub references: Vec<Reference>,
    /// Microseconds since the Unix epoch.
    pub start_time: u64,
    /// Microseconds.
    pub duration: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags: Vec<KeyValue>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub logs: Vec<Log>,
    #[serde(rename = "processID", default)]
    pub process_id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub warnings: Vec<String>,
    #[serde(default)]
    pub flags: u32,
}

impl Span {
    /// The tag named `key`, if any.
    pub fn tag(&self, key: &str) -> Option<&TagValue> {
        self.tags.iter().find(|t| t.key == key).map(|t| &t.value)
    }

    /// The parent span id: the first `CHILD_OF` reference, else the first reference.
    pub fn parent_span_id(&self) -> Option<&str> {
        self.references
            .iter()
            .find(|r| r.ref_type == RefType::ChildOf)
            .or_else(|| self.references.first())
            .map(|r| r.span_id.as_str())
    }

    /// Whether the span is marked failed: tag `error=true` or `otel.status_code=ERROR`.
    pub fn is_error(&self) -> bool {
        let error_tag = matches!(self.tag("error"), Some(TagValue::Bool(true)))
            || matches!(self.tag("error"), Some(TagValue::String(s)) if s == "true");
        let otel_error =
            matches!(self.tag("otel.status_code"), Some(TagValue::String(s)) if s == "ERROR");
        error_tag || otel_error
    }

    pub fn start(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_micros(self.start_time)
    }

    pub fn elapsed(&self) -> Duration {
        Duration::from_micros(self.duration)
    }
}

/// The process (service) that emitted spans.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Process {
    pub service_name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags: Vec<KeyValue>,
}

/// A trace: spans plus the processes they reference by `processID`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Trace {
    #[serde(rename = "traceID")]
    pub trace_id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub spans: Vec<Span>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub processes: BTreeMap<String, Process>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub warnings: Vec<String>,
}

/// A span with its children, as built by [`Trace::span_tree`].
#[derive(Debug, Clone, PartialEq)]
pub struct SpanNode<'a> {
    pub span: &'a Span,
    pub children: Vec<SpanNode<'a>>,
}

impl SpanNode<'_> {
    /// Number of spans in this subtree.
    pub fn size(&self) -> usize {
        1 + self.children.iter().map(SpanNode::size).sum::<usize>()
    }
}

impl Trace {
    /// The span with `span_id`.
    pub fn span(&self, span_id: &str) -> Option<&Span> {
        self.spans.iter().find(|s| s.span_id == span_id)
    }

    /// The service that emitted `span`.
    pub fn service_of(&self, span: &Span) -> Option<&str> {
        self.processes
            .get(&span.process_id)
            .map(|p| p.service_name.as_str())
    }

    /// Every service with at least one span in the trace.
    pub fn services(&self) -> BTreeSet<String> {
        self.spans
            .iter()
            .filter_map(|s| self.service_of(s))
            .map(str::to_string)
            .collect()
    }

    /// The parent of `span` when it is part of this trace.
    pub fn parent_of(&self, span: &Span) -> Option<&Span> {
        span.parent_span_id().and_then(|id| self.span(id))
    }

    /// Direct children of the span `span_id`.
    pub fn children_of(&self, span_id: &str) -> Vec<&Span> {
        self.spans
            .iter()
            .filter(|s| s.parent_span_id() == Some(span_id))
            .collect()
    }

    /// Spans whose parent is absent from the trace (normally exactly one).
    pub fn roots(&self) -> Vec<&Span> {
        self.spans
            .iter()
            .filter(|s| self.parent_of(s).is_none_or(|p| p.span_id == s.span_id))
            .collect()
    }

    /// The spans arranged by parent links, one tree per root. A span in a reference cycle
    /// (malformed input) is left out rather than looping.
    pub fn span_tree(&self) -> Vec<SpanNode<'_>> {
        let mut children: HashMap<&str, Vec<&Span>> = HashMap::new();
        for span in &self.spans {
            if let Some(parent) = self.parent_of(span)
                && parent.span_id != span.span_id
            {
                children
                    .entry(parent.span_id.as_str())
                    .or_default()
                    .push(span);
            }
        }
        let mut seen = HashSet::new();
        self.roots()
            .into_iter()
            .map(|root| build_node(root, &children, &mut seen))
            .collect()
    }

    /// Services from the root down to `span` (inclusive), consecutive duplicates merged:
    /// `[frontend, api-gateway, orders]`.
    pub fn service_path(&self, span: &Span) -> Vec<String> {
        let mut chain = vec![span];
        let mut current = span;
        // Bounded by the span count so a reference cycle cannot loop.
        for _ in 0..self.spans.len() {
            match self.parent_of(current) {
                Some(parent) if parent.span_id != current.span_id => {
                    chain.push(parent);
                    current = parent;
                }
                _ => break,
            }
        }
        let mut path: Vec<String> = Vec::new();
        for s in chain.iter().rev() {
            let service = self.service_of(s).unwrap_or("").to_string();
            if path.last() != Some(&service) {
                path.push(service);
            }
        }
        path
    }

    /// Whether any span is marked failed.
    pub fn has_error(&self) -> bool {
        self.spans.iter().any(Span::is_error)
    }

    /// The spans marked failed.
    pub fn error_spans(&self) -> Vec<&Span> {
        self.spans.iter().filter(|s| s.is_error()).collect()
    }
}

fn build_node<'a>(
    span: &'a Span,
    children: &HashMap<&str, Vec<&'a Span>>,
    seen: &mut HashSet<&'a str>,
) -> SpanNode<'a> {
    seen.insert(span.span_id.as_str());
    let mut node = SpanNode {
        span,
        children: Vec::new(),
    };
    for child in children.get(span.span_id.as_str()).into_iter().flatten() {
        if !seen.contains(child.span_id.as_str()) {
            node.children.push(build_node(child, children, seen));
        }
    }
    node.children.sort_by_key(|c| c.span.start_time);
    node
}

/// Search parameters of `/api/traces`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceQuery {
    pub service: String,
    pub operation: Option<String>,
    /// Tag filters, e.g. `error=true`; sent as the JSON `tags` parameter.
    pub tags: BTreeMap<String, String>,
    pub start: Option<SystemTime>,
    pub end: Option<SystemTime>,
    pub limit: Option<u32>,
    pub min_duration: Option<Duration>,
    pub max_duration: Option<Duration>,
}

impl TraceQuery {
    /// Traces with a span from `service`.
    pub fn service(service: impl Into<String>) -> Self {
        TraceQuery {
            service: service.into(),
            ..TraceQuery::default()
        }
    }
}

#[derive(Deserialize)]
struct Structured<T> {
    data: Option<T>,
    #[serde(default, deserialize_with = "null_as_default")]
    errors: Vec<StructuredError>,
}

#[derive(Deserialize)]
struct StructuredError {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    msg: String,
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

impl JaegerClient {
    /// A client for the Jaeger query service at `base_url` (e.g. `http://127.0.0.1:16686`).
    pub fn new(base_url: &str, http: reqwest::Client) -> Result<Self, JaegerError> {
        Ok(JaegerClient {
            api: http::Api::new(base_url, http)?,
        })
    }

    pub fn base_url(&self) -> &Url {
        self.api.base_url()
    }

    /// Ready when `/api/services` answers (the query API has no readiness endpoint of its
    /// own; Jaeger v2's health check lives on another port).
    pub async fn ready(&self) -> Result<(), JaegerError> {
        self.services().await.map(|_| ())
    }

    /// `GET /api/services`.
    pub async fn services(&self) -> Result<Vec<String>, JaegerError> {
        let data: Option<Vec<String>> = self.get(&["api", "services"], &[]).await?;
        Ok(data.unwrap_or_default())
    }

    /// `GET /api/services/{service}/operations`.
    pub async fn operations(&self, service: &str) -> Result<Vec<String>, JaegerError> {
        let data: Option<Vec<String>> = self
            .get(&["api", "services", service, "operations"], &[])
            .await?;
        Ok(data.unwrap_or_default())
    }

    /// `GET /api/traces` with `query`.
    pub async fn find_traces(&self, query: &TraceQuery) -> Result<Vec<Trace>, JaegerError> {
        let segments = ["api", "traces"];
        let mut params = vec![("service", query.service.clone())];
        if let Some(op) = &query.operation {
            params.push(("operation", op.clone()));
        }
        if !query.tags.is_empty() {
            let tags =
                serde_json::to_string(&query.tags).map_err(|source| JaegerError::Encode {
                    endpoint: http::endpoint_label(&segments),
                    source,
                })?;
            params.push(("tags", tags));
        }
        if let Some(start) = query.start {
            params.push(("start", unix_micros(start).to_string()));
        }
        if let Some(end) = query.end {
            params.push(("end", unix_micros(end).to_string()));
        }
        if let Some(limit) = query.limit {
            params.push(("limit", limit.to_string()));
        }
        if let Some(d) = query.min_duration {
            params.push(("minDuration", format!("{}us", d.as_micros())));
        }
        if let Some(d) = query.max_duration {
            params.push(("maxDuration", format!("{}us", d.as_micros())));
        }
        let data: Option<Vec<Trace>> = self.get(&segments, &params).await?;
        Ok(data.unwrap_or_default())
    }

    /// `GET /api/traces/{trace_id}`; `None` when Jaeger does not know the trace.
    pub async fn trace(&self, trace_id: &str) -> Result<Option<Trace>, JaegerError> {
        match self
            .get::<Vec<Trace>>(&["api", "traces", trace_id], &[])
            .await
        {
            Ok(data) => Ok(data.and_then(|traces| traces.into_iter().next())),
            Err(JaegerError::Api { status, .. }) if status == StatusCode::NOT_FOUND => Ok(None),
            Err(JaegerError::Http(e)) if e.status() == Some(StatusCode::NOT_FOUND) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET /api/v3/traces/{trace_id}` (OTLP JSON), converted to the same [`Trace`] model:
    /// resource `service.name` becomes the process, the parent span id a `CHILD_OF`
    /// reference, the span status the `otel.status_code` tag (and `error=true` on ERROR).
    pub async fn trace_v3(&self, trace_id: &str) -> Result<Option<Trace>, JaegerError> {
        let (request, endpoint) =
            self.api
                .request(Method::GET, &["api", "v3", "traces", trace_id], &[]);
        let (status, body) = http::send_raw(request, &endpoint).await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(http::status_error(&endpoint, status, &body).into());
        }
        let answer: otlp_json::Answer = http::decode(&endpoint, &body)?;
        Ok(otlp_json::into_trace(answer.result, trace_id))
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        segments: &[&str],
        params: &[(&str, String)],
    ) -> Result<Option<T>, JaegerError> {
        let (request, endpoint) = self.api.request(Method::GET, segments, params);
        let (status, body) = http::send_raw(request, &endpoint).await?;
        let answer: Structured<T> = if status.is_success() {
            http::decode(&endpoint, &body)?
        } else {
            // Errors (400 bad parameter, 404 trace not found) come in the same envelope.
            match serde_json::from_slice::<Structured<serde_json::Value>>(&body) {
                Ok(Structured { errors, .. }) if !errors.is_empty() => {
                    Structured { data: None, errors }
                }
                _ => return Err(http::status_error(&endpoint, status, &body).into()),
            }
        };
        if !answer.errors.is_empty() {
            let errors = answer
                .errors
                .iter()
                .map(|e| format!("{} {}", e.code, e.msg))
                .collect::<Vec<_>>()
                .join("; ");
            return Err(JaegerError::Api {
                endpoint,
                status,
                errors,
            });
        }
        Ok(answer.data)
    }
}

/// The OTLP JSON shape of api/v3 (`{"result": {"resourceSpans": [...]}}`). Enum fields and
/// 64-bit integers are accepted both as numbers and as strings, since encoders differ.
mod otlp_json {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::{KeyValue, Process, RefType, Reference, Span, TagValue, Trace};

    #[derive(Deserialize)]
    pub(super) struct Answer {
        pub(super) result: TracesData,
    }

    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct TracesData {
        #[serde(default)]
        resource_spans: Vec<ResourceSpans>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct ResourceSpans {
        #[serde(default)]
        resource: Resource,
        #[serde(default)]
        scope_spans: Vec<ScopeSpans>,
    }

    #[derive(Deserialize, Default)]
    struct Resource {
        #[serde(default)]
        attributes: Vec<Attribute>,
    }

    #[derive(Deserialize)]
    struct ScopeSpans {
        #[serde(default)]
        spans: Vec<OtlpSpan>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct OtlpSpan {
        trace_id: String,
        span_id: String,
        #[serde(default)]
        parent_span_id: String,
        name: String,
        #[serde(default)]
        kind: Option<serde_json::Value>,
        #[serde(default)]
        start_time_unix_nano: Option<serde_json::Value>,
        #[serde(default)]
        end_time_unix_nano: Option<serde_json::Value>,
        #[serde(default)]
        attributes: Vec<Attribute>,
        #[serde(default)]
        status: Option<Status>,
    }

    #[derive(Deserialize)]
    struct Status {
        #[serde(default)]
        code: Option<serde_json::Value>,
        #[serde(default)]
        message: String,
    }

    #[derive(Deserialize)]
    struct Attribute {
        key: String,
        #[serde(default)]
        value: AnyValue,
    }

    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct AnyValue {
        string_value: Option<String>,
        bool_value: Option<bool>,
        int_value: Option<serde_json::Value>,
        double_value: Option<f64>,
        bytes_value: Option<String>,
    }

    fn as_u64(v: &serde_json::Value) -> Option<u64> {
        match v {
            serde_json::Value::Number(n) => n.as_u64(),
            serde_json::Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }

    fn to_tag(a: &Attribute) -> Option<KeyValue> {
        let v = &a.value;
        let value = if let Some(s) = &v.string_value {
            TagValue::String(s.clone())
        } else if let Some(b) = v.bool_value {
            TagValue::Bool(b)
        } else if let Some(i) = &v.int_value {
            match i {
                serde_json::Value::Number(n) => TagValue::Int64(n.as_i64()?),
                serde_json::Value::String(s) => TagValue::Int64(s.parse().ok()?),
                _ => return None,
            }
        } else if let Some(d) = v.double_value {
            TagValue::Float64(d)
        } else if let Some(b) = &v.bytes_value {
            TagValue::Binary(b.clone())
        } else {
            return None;
        };
        Some(KeyValue {
            key: a.key.clone(),
            value,
        })
    }

    /// OTLP status code names (`STATUS_CODE_ERROR`) or numbers (2) → Jaeger's `ERROR`.
    fn status_name(code: &serde_json::Value) -> Option<&'static str> {
        match code {
            serde_json::Value::Number(n) => match n.as_u64()? {
                1 => Some("OK"),
                2 => Some("ERROR"),
                _ => None,
            },
            serde_json::Value::String(s) => match s.as_str() {
                "STATUS_CODE_OK" | "OK" => Some("OK"),
                "STATUS_CODE_ERROR" | "ERROR" => Some("ERROR"),
                _ => None,
            },
            _ => None,
        }
    }

    fn kind_name(kind: &serde_json::Value) -> Option<&'static str> {
        let n = match kind {
            serde_json::Value::Number(n) => n.as_u64()?,
            serde_json::Value::String(s) => match s.as_str() {
                "SPAN_KIND_INTERNAL" => 1,
                "SPAN_KIND_SERVER" => 2,
                "SPAN_KIND_CLIENT" => 3,
                "SPAN_KIND_PRODUCER" => 4,
                "SPAN_KIND_CONSUMER" => 5,
                _ => return None,
            },
            _ => return None,
        };
        match n {
            1 => Some("internal"),
            2 => Some("server"),
            3 => Some("client"),
            4 => Some("producer"),
            5 => Some("consumer"),
            _ => None,
        }
    }

    pub(super) fn into_trace(data: TracesData, requested_id: &str) -> Option<Trace> {
        let mut trace = Trace {
            trace_id: requested_id.to_string(),
            spans: Vec::new(),
            processes: BTreeMap::new(),
            warnings: Vec::new(),
        };
        for (index, rs) in data.resource_spans.iter().enumerate() {
            let process_id = format!("p{}", index + 1);
            let tags: Vec<KeyValue> = rs.resource.attributes.iter().filter_map(to_tag).collect();
            let service_name = tags
                .iter()
                .find(|t| t.key == "service.name")
                .map(|t| t.value.as_text())
                .unwrap_or_default();
            trace
                .processes
                .insert(process_id.clone(), Process { service_name, tags });
            for span in rs.scope_spans.iter().flat_map(|s| &s.spans) {
                let start_ns = span
                    .start_time_unix_nano
                    .as_ref()
                    .and_then(as_u64)
                    .unwrap_or(0);
                let end_ns = span
                    .end_time_unix_nano
                    .as_ref()
                    .and_then(as_u64)
                    .unwrap_or(start_ns);
                let mut tags: Vec<KeyValue> = span.attributes.iter().filter_map(to_tag).collect();
                if let Some(kind) = span.kind.as_ref().and_then(kind_name) {
                    tags.push(KeyValue {
                        key: "span.kind".into(),
                        value: TagValue::String(kind.into()),
                    });
                }
                if let Some(status) = &span.status
                    && let Some(name) = status.code.as_ref().and_then(status_name)
                {
                    tags.push(KeyValue {
                        key: "otel.status_code".into(),
                        value: TagValue::String(name.into()),
                    });
                    if name == "ERROR" {
                        tags.push(KeyValue {
                            key: "error".into(),
                            value: TagValue::Bool(true),
                        });
                        if !status.message.is_empty() {
                            tags.push(KeyValue {
                                key: "otel.status_description".into(),
                                value: TagValue::String(status.message.clone()),
                            });
                        }
                    }
                }
                let references = if span.parent_span_id.is_empty() {
                    Vec::new()
                } else {
                    vec![Reference {
                        ref_type: RefType::ChildOf,
                        trace_id: span.trace_id.clone(),
                        span_id: span.parent_span_id.clone(),
                    }]
                };
                trace.trace_id = span.trace_id.clone();
                trace.spans.push(Span {
                    trace_id: span.trace_id.clone(),
                    span_id: span.span_id.clone(),
                    operation_name: span.name.clone(),
                    references,
                    start_time: start_ns / 1_000,
                    duration: end_ns.saturating_sub(start_ns) / 1_000,
                    tags,
                    logs: Vec::new(),
                    process_id: process_id.clone(),
                    warnings: Vec::new(),
                    flags: 0,
                });
            }
        }
        (!trace.spans.is_empty()).then_some(trace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(id: &str, parent: Option<&str>, process: &str, tags: Vec<KeyValue>) -> Span {
        Span {
            trace_id: "t".into(),
            span_id: id.into(),
            operation_name: format!("op-{id}"),
            references: parent
                .map(|p| {
                    vec![Reference {
                        ref_type: RefType::ChildOf,
                        trace_id: "t".into(),
                        span_id: p.into(),
                    }]
                })
                .unwrap_or_default(),
            start_time: 0,
            duration: 1,
            tags,
            logs: vec![],
            process_id: process.into(),
            warnings: vec![],
            flags: 1,
        }
    }

    #[test]
    fn tree_survives_cycles_and_self_references() {
        let trace = Trace {
            trace_id: "t".into(),
            spans: vec![
                span("a", None, "p1", vec![]),
                span("b", Some("a"), "p1", vec![]),
                span("c", Some("d"), "p1", vec![]),
                span("d", Some("c"), "p1", vec![]),
                span("e", Some("e"), "p1", vec![]),
            ],
            processes: BTreeMap::new(),
            warnings: vec![],
        };
        let tree = trace.span_tree();
        let roots: Vec<&str> = tree.iter().map(|n| n.span.span_id.as_str()).collect();
        assert_eq!(roots, ["a", "e"]);
        assert_eq!(tree[0].size(), 2);
        let c = trace.span("c").expect("c");
        assert_eq!(trace.service_path(c).len(), 1);
    }

    #[test]
    fn error_detection_reads_both_conventions() {
        let s = span(
            "a",
            None,
            "p",
            vec![KeyValue {
                key: "otel.status_code".into(),
                value: TagValue::String("ERROR".into()),
            }],
        );
        assert!(s.is_error());
        let s = span(
            "a",
            None,
            "p",
            vec![KeyValue {
                key: "error".into(),
                value: TagValue::Bool(false),
            }],
        );
        assert!(!s.is_error());
    }

    #[test]
    fn tag_values_decode_by_type() {
        let kv: KeyValue =
            serde_json::from_str(r#"{"key":"http.status_code","type":"int64","value":500}"#)
                .expect("int");
        assert_eq!(kv.value, TagValue::Int64(500));
        let bad = serde_json::from_str::<KeyValue>(r#"{"key":"x","type":"int64","value":"many"}"#);
        assert!(bad.is_err());
    }
}
