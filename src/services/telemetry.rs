//! Traces and logs of one service: an OpenTelemetry SDK tracer and logger per service (each
//! with its own `service.name` resource, so the all-in-one process still reports six
//! services), OTLP/HTTP protobuf export to `{endpoint}/v1/traces` and `{endpoint}/v1/logs`
//! (<https://opentelemetry.io/docs/specs/otlp/#otlphttp>), W3C TraceContext propagation
//! (<https://www.w3.org/TR/trace-context/>), and the one-JSON-line-per-request log.
//!
//! No global provider or subscriber is installed: the library must not hijack its host's.

use std::borrow::Cow;
use std::io::Write as _;
use std::time::{Duration, SystemTime};

use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};
use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_http::HeaderExtractor;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::{BatchLogProcessor, SdkLogger, SdkLoggerProvider};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider};

use super::config::{LogOutput, ServiceConfig, TraceSampling};

/// Instrumentation scope name of every span and log record.
const SCOPE: &str = "gauntlet-services";
/// Longest a flush or shutdown of the exporters may take.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// The W3C TraceContext headers (<https://www.w3.org/TR/trace-context/#header-name>).
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

thread_local! {
    /// Reused buffer for JSON log lines.
    static LINE: std::cell::RefCell<String> = std::cell::RefCell::new(String::with_capacity(512));
    /// `YYYY-MM-DDTHH:MM:SS` of the last second a line was stamped in, and that second.
    static STAMP: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((u64::MAX, String::new())) };
}

/// Building an exporter failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the otlp {signal} exporter for {endpoint}")]
pub struct TelemetryError {
    pub signal: &'static str,
    pub endpoint: String,
    #[source]
    pub source: opentelemetry_otlp::ExporterBuildError,
}

/// Tracer, logger and JSON log output of one service.
#[derive(Debug)]
pub(crate) struct Telemetry {
    service: &'static str,
    tracer: Option<SdkTracer>,
    tracer_provider: Option<SdkTracerProvider>,
    logger: Option<SdkLogger>,
    logger_provider: Option<SdkLoggerProvider>,
    propagator: TraceContextPropagator,
    log_output: LogOutput,
}

fn sampler(s: TraceSampling) -> Sampler {
    match s {
        TraceSampling::ParentBasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        TraceSampling::ParentBasedRatio(r) => {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(r)))
        }
        TraceSampling::TraceIdRatio(r) => Sampler::TraceIdRatioBased(r),
    }
}

impl Telemetry {
    /// Builds the pipelines the instrumentation level asks for. Must run inside a Tokio
    /// runtime only for the exporters' client construction, which the OTLP crate moves to
    /// its own thread.
    pub fn new(cfg: &ServiceConfig) -> Result<Self, TelemetryError> {
        let service = cfg.name.as_str();
        let mut t = Self {
            service,
            tracer: None,
            tracer_provider: None,
            logger: None,
            logger_provider: None,
            propagator: TraceContextPropagator::new(),
            log_output: LogOutput::Off,
        };
        if !cfg.instrumentation.traces() {
            return Ok(t);
        }
        t.log_output = cfg.log_output.clone();
        let resource = Resource::builder_empty()
            .with_attributes([
                KeyValue::new("service.name", service),
                KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
                KeyValue::new("deployment.id", cfg.deployment_id.clone()),
            ])
            .build();
        let mut tp = SdkTracerProvider::builder()
            .with_resource(resource.clone())
            .with_sampler(sampler(cfg.sampling));
        if let Some(base) = &cfg.otlp_endpoint {
            let endpoint = format!("{}/v1/traces", base.trim_end_matches('/'));
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(endpoint.clone())
                .with_timeout(FLUSH_TIMEOUT)
                .build()
                .map_err(|source| TelemetryError {
                    signal: "traces",
                    endpoint,
                    source,
                })?;
            let batch = opentelemetry_sdk::trace::BatchConfigBuilder::default()
                .with_scheduled_delay(cfg.export_interval)
                .with_max_queue_size(8192)
                .with_max_export_batch_size(1024)
                .build();
            tp = tp.with_span_processor(
                BatchSpanProcessor::builder(exporter)
                    .with_batch_config(batch)
                    .build(),
            );
        }
        let tp = tp.build();
        t.tracer = Some(tp.tracer(SCOPE));
        t.tracer_provider = Some(tp);

        if let Some(base) = &cfg.otlp_endpoint {
            let endpoint = format!("{}/v1/logs", base.trim_end_matches('/'));
            let exporter = opentelemetry_otlp::LogExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(endpoint.clone())
                .with_timeout(FLUSH_TIMEOUT)
                .build()
                .map_err(|source| TelemetryError {
                    signal: "logs",
                    endpoint,
                    source,
                })?;
            let batch = opentelemetry_sdk::logs::BatchConfigBuilder::default()
                .with_scheduled_delay(cfg.export_interval)
                .with_max_queue_size(8192)
                .with_max_export_batch_size(1024)
                .build();
            let lp = SdkLoggerProvider::builder()
                .with_resource(resource)
                .with_log_processor(
                    BatchLogProcessor::builder(exporter)
                        .with_batch_config(batch)
                        .build(),
                )
                .build();
            t.logger = Some(lp.logger(SCOPE));
            t.logger_provider = Some(lp);
        }
        Ok(t)
    }

    pub fn enabled(&self) -> bool {
        self.tracer.is_some()
    }

    /// Starts the server span of a request, continuing the caller's trace from its
    /// `traceparent` header. Returns an empty context when tracing is off.
    pub fn server_span(
        &self,
        headers: &HeaderMap,
        name: &'static str,
        method: &'static str,
        route: &'static str,
    ) -> Context {
        let Some(tracer) = &self.tracer else {
            return Context::new();
        };
        let parent = self.extract(headers);
        let span = tracer
            .span_builder(Cow::Borrowed(name))
            .with_kind(SpanKind::Server)
            .with_attributes(with_status_room([
                KeyValue::new("http.request.method", method),
                KeyValue::new("http.route", route),
            ]))
            .start_with_context(tracer, &parent);
        parent.with_span(span)
    }

    /// The caller's trace context. The common `traceparent` (version 00, lowercase, no
    /// `tracestate`) is parsed here without the propagator's allocations; anything else goes
    /// to the SDK's W3C propagator, so both agree on every input.
    fn extract(&self, headers: &HeaderMap) -> Context {
        if !headers.contains_key(TRACESTATE)
            && let Some(sc) = headers
                .get(TRACEPARENT)
                .and_then(|v| parse_traceparent_v00(v.as_bytes()))
        {
            return Context::current().with_remote_span_context(sc);
        }
        self.propagator.extract(&HeaderExtractor(headers))
    }

    /// Starts an internal span (e.g. task processing) under `parent`.
    pub fn internal_span(&self, parent: &Context, name: &'static str) -> Context {
        let Some(tracer) = &self.tracer else {
            return Context::new();
        };
        let span = tracer
            .span_builder(Cow::Borrowed(name))
            .with_kind(SpanKind::Internal)
            .start_with_context(tracer, parent);
        parent.with_span(span)
    }

    /// Starts the client span of a call to an upstream.
    pub fn client_span(
        &self,
        parent: &Context,
        name: &'static str,
        method: &'static str,
        peer: &'static str,
        url: String,
    ) -> Context {
        let Some(tracer) = &self.tracer else {
            return Context::new();
        };
        let span = tracer
            .span_builder(Cow::Borrowed(name))
            .with_kind(SpanKind::Client)
            .with_attributes(with_status_room([
                KeyValue::new("http.request.method", method),
                KeyValue::new("peer.service", peer),
                KeyValue::new("url.full", url),
            ]))
            .start_with_context(tracer, parent);
        parent.with_span(span)
    }

    /// Writes `traceparent` (and `tracestate`, when the trace carries one) for `cx` into
    /// outgoing headers, as the W3C TraceContext propagator does but without its
    /// per-call string formatting and header-name allocations, and without sending an
    /// empty `tracestate` (the recommendation allows leaving it out).
    pub fn inject(&self, cx: &Context, headers: &mut HeaderMap) {
        if self.tracer.is_none() {
            return;
        }
        let span = cx.span();
        let sc = span.span_context();
        if !sc.is_valid() {
            return;
        }
        headers.insert(TRACEPARENT, traceparent_value(sc));
        let state = sc.trace_state().header();
        if !state.is_empty()
            && let Ok(v) = HeaderValue::from_str(&state)
        {
            headers.insert(TRACESTATE, v);
        }
    }

    /// Ends the span in `cx` with its outcome: an HTTP status and, on failure, why.
    pub fn end_span(&self, cx: &Context, status: Option<u16>, error: Option<&str>) {
        if self.tracer.is_none() {
            return;
        }
        let span = cx.span();
        if let Some(code) = status {
            span.set_attribute(KeyValue::new("http.response.status_code", i64::from(code)));
        }
        if let Some(why) = error {
            span.record_error(&SpanFailure(why));
            span.set_status(Status::error(why.to_owned()));
        }
        span.end();
    }

    /// Emits the request's log: one JSON line (to the configured output) and one OTLP log
    /// record, both carrying the trace and span ids of `cx`. The line is formatted into a
    /// reused per-thread buffer and the record borrows static strings, so the hot path
    /// allocates only for error messages.
    pub fn log(&self, entry: &LogEntry<'_>, cx: &Context) {
        if self.tracer.is_none() {
            return;
        }
        let span = cx.span();
        let sc = span.span_context();
        let level = entry.level();
        if !matches!(self.log_output, LogOutput::Off) {
            LINE.with_borrow_mut(|line| {
                self.format_line(line, entry, level, sc);
                self.write_line(line);
            });
        }
        if let Some(logger) = &self.logger {
            let mut rec = logger.create_log_record();
            let now = SystemTime::now();
            rec.set_timestamp(now);
            rec.set_observed_timestamp(now);
            rec.set_severity_number(level.severity());
            rec.set_severity_text(level.text());
            rec.set_body(AnyValue::from(entry.msg));
            rec.add_attribute("service", self.service);
            rec.add_attribute("route", entry.route);
            rec.add_attribute("method", entry.method);
            rec.add_attribute("status", i64::from(entry.status));
            rec.add_attribute("latency_ms", entry.latency.as_secs_f64() * 1000.0);
            if let Some(e) = entry.error {
                rec.add_attribute("error", e.to_owned());
            }
            if sc.is_valid() {
                rec.set_trace_context(sc.trace_id(), sc.span_id(), Some(sc.trace_flags()));
            }
            logger.emit(rec);
        }
    }

    /// Writes the JSON line. Every field but `error` is a static string from this crate
    /// (service names, route templates, methods, messages) or a number, none needing
    /// escapes; `error` goes through serde_json.
    fn format_line(
        &self,
        out: &mut String,
        entry: &LogEntry<'_>,
        level: Level,
        sc: &opentelemetry::trace::SpanContext,
    ) {
        out.clear();
        out.push_str(r#"{"ts":""#);
        push_timestamp(out, SystemTime::now());
        out.push_str(r#"","level":""#);
        out.push_str(level.text());
        out.push_str(r#"","service":""#);
        out.push_str(self.service);
        out.push_str(r#"","route":""#);
        out.push_str(entry.route);
        out.push_str(r#"","method":""#);
        out.push_str(entry.method);
        out.push_str(r#"","status":"#);
        push_uint(out, u64::from(entry.status));
        out.push_str(r#","latency_ms":"#);
        let micros = u64::try_from(entry.latency.as_micros()).unwrap_or(u64::MAX);
        push_uint(out, micros / 1000);
        out.push('.');
        push_3_digits(out, micros % 1000);
        out.push(',');
        if sc.is_valid() {
            out.push_str(r#""trace_id":""#);
            push_hex(out, &sc.trace_id().to_bytes());
            out.push_str(r#"","span_id":""#);
            push_hex(out, &sc.span_id().to_bytes());
            out.push_str(r#"","#);
        } else {
            out.push_str(r#""trace_id":null,"span_id":null,"#);
        }
        out.push_str(r#""msg":""#);
        out.push_str(entry.msg);
        out.push('"');
        if let Some(e) = entry.error {
            out.push_str(r#","error":"#);
            out.push_str(&serde_json::Value::from(e).to_string());
        }
        out.push('}');
    }

    fn write_line(&self, line: &str) {
        match &self.log_output {
            LogOutput::Stdout => {
                let mut out = std::io::stdout().lock();
                // A closed stdout must not take the service down.
                let _ = out.write_all(line.as_bytes());
                let _ = out.write_all(b"\n");
            }
            LogOutput::Capture(c) => c.push(line.to_owned()),
            LogOutput::Discard | LogOutput::Off => {}
        }
    }

    /// Exports everything buffered so far (blocking work runs off the async threads).
    pub async fn flush(&self) {
        let tp = self.tracer_provider.clone();
        let lp = self.logger_provider.clone();
        let service = self.service;
        let joined = tokio::task::spawn_blocking(move || {
            if let Some(tp) = tp
                && let Err(error) = tp.force_flush()
            {
                tracing::warn!(%error, service, "span flush failed");
            }
            if let Some(lp) = lp
                && let Err(error) = lp.force_flush()
            {
                tracing::warn!(%error, service, "log flush failed");
            }
        })
        .await;
        if let Err(error) = joined {
            tracing::warn!(%error, service, "flush task failed");
        }
    }

    /// Flushes and stops the exporters. Idempotent.
    pub async fn shutdown(&self) {
        let providers = self.take_providers();
        let service = self.service;
        if let Err(error) = tokio::task::spawn_blocking(move || providers.shutdown(service)).await {
            tracing::warn!(%error, service, "telemetry shutdown task failed");
        }
    }

    /// For `Drop`: shut down off the async threads when a runtime is there, else inline.
    pub fn shutdown_in_background(&self) {
        let providers = self.take_providers();
        let service = self.service;
        match tokio::runtime::Handle::try_current() {
            Ok(h) => {
                h.spawn_blocking(move || providers.shutdown(service));
            }
            Err(_) => providers.shutdown(service),
        }
    }

    fn take_providers(&self) -> Providers {
        Providers {
            tp: self.tracer_provider.clone(),
            lp: self.logger_provider.clone(),
        }
    }
}

struct Providers {
    tp: Option<SdkTracerProvider>,
    lp: Option<SdkLoggerProvider>,
}

impl Providers {
    fn shutdown(self, service: &'static str) {
        // Shutting down twice reports an error we do not care about.
        if let Some(tp) = self.tp {
            let _ = tp.shutdown_with_timeout(FLUSH_TIMEOUT);
        }
        if let Some(lp) = self.lp {
            let _ = lp.shutdown_with_timeout(FLUSH_TIMEOUT);
        }
        tracing::debug!(service, "telemetry shut down");
    }
}

/// Writes `t` as RFC 3339 UTC with milliseconds, as `humantime::format_rfc3339_millis`
/// does; the calendar part is formatted once per second per thread.
fn push_timestamp(out: &mut String, t: SystemTime) {
    use std::fmt::Write as _;
    let since = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    STAMP.with_borrow_mut(|(cached, text)| {
        if *cached != secs {
            text.clear();
            let whole = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
            let _ = write!(text, "{}", humantime::format_rfc3339_seconds(whole));
            // Drop the zone letter: the milliseconds go before it.
            text.pop();
            *cached = secs;
        }
        out.push_str(text);
    });
    out.push('.');
    push_3_digits(out, u64::from(since.subsec_millis()));
    out.push('Z');
}

/// Decimal digits of `n`, without the formatting machinery.
fn push_uint(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        out.push(char::from(b));
    }
}

/// `n` (below 1000) as exactly three digits.
fn push_3_digits(out: &mut String, n: u64) {
    let n = n % 1000;
    for d in [n / 100, n / 10 % 10, n % 10] {
        out.push(char::from(b'0' + d as u8));
    }
}

/// The span context of a `traceparent` in its common form: version `00`, lowercase hex,
/// valid ids. `None` for anything else (which the SDK's propagator then decides on).
fn parse_traceparent_v00(b: &[u8]) -> Option<opentelemetry::trace::SpanContext> {
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    if b.len() != 55 || &b[..3] != b"00-" || b[35] != b'-' || b[52] != b'-' {
        return None;
    }
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    fn bytes<const N: usize>(hex: &[u8]) -> Option<[u8; N]> {
        let mut out = [0u8; N];
        for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
            *o = (nibble(pair[0])? << 4) | nibble(pair[1])?;
        }
        Some(out)
    }
    let trace: [u8; 16] = bytes(&b[3..35])?;
    let span: [u8; 8] = bytes(&b[36..52])?;
    let [flags]: [u8; 1] = bytes(&b[53..55])?;
    let sc = SpanContext::new(
        TraceId::from_bytes(trace),
        SpanId::from_bytes(span),
        TraceFlags::new(flags) & TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    sc.is_valid().then_some(sc)
}

/// A span's start attributes with room for the `http.response.status_code` [`end_span`]
/// adds, so ending the span does not grow the vector (the SDK keeps the builder's vector).
///
/// [`end_span`]: Telemetry::end_span
fn with_status_room<const N: usize>(kvs: [KeyValue; N]) -> Vec<KeyValue> {
    let mut v = Vec::with_capacity(N + 1);
    v.extend(kvs);
    v
}

/// `00-{trace id}-{span id}-{flags}`, the version-00 `traceparent` (only the sampled flag is
/// defined, so only that one is sent).
fn traceparent_value(sc: &opentelemetry::trace::SpanContext) -> HeaderValue {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 55];
    buf[..3].copy_from_slice(b"00-");
    for (i, b) in sc.trace_id().to_bytes().iter().enumerate() {
        buf[3 + 2 * i] = DIGITS[usize::from(b >> 4)];
        buf[4 + 2 * i] = DIGITS[usize::from(b & 0xf)];
    }
    buf[35] = b'-';
    for (i, b) in sc.span_id().to_bytes().iter().enumerate() {
        buf[36 + 2 * i] = DIGITS[usize::from(b >> 4)];
        buf[37 + 2 * i] = DIGITS[usize::from(b & 0xf)];
    }
    buf[52] = b'-';
    buf[53] = b'0';
    buf[54] = if sc.is_sampled() { b'1' } else { b'0' };
    HeaderValue::from_bytes(&buf).expect("hex digits and dashes are valid header bytes")
}

/// Lowercase hex without the formatting machinery (ids are written on every request).
fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
}

/// The error recorded on a failed span (`exception` event) and as its status.
#[derive(Debug)]
struct SpanFailure<'a>(&'a str);

impl std::fmt::Display for SpanFailure<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for SpanFailure<'_> {}

/// One request (or task) outcome to log.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LogEntry<'a> {
    pub route: &'static str,
    pub method: &'static str,
    pub status: u16,
    pub latency: Duration,
    pub msg: &'static str,
    pub error: Option<&'a str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    fn text(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }

    fn severity(self) -> Severity {
        match self {
            Level::Info => Severity::Info,
            Level::Warn => Severity::Warn,
            Level::Error => Severity::Error,
        }
    }
}

impl LogEntry<'_> {
    fn level(&self) -> Level {
        match self.status {
            500.. => Level::Error,
            400.. => Level::Warn,
            _ => Level::Info,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

    /// Full instrumentation without an exporter, lines formatted but discarded.
    fn tracing_only(name: super::super::config::ServiceName) -> Telemetry {
        let mut cfg = ServiceConfig::new(name, "127.0.0.1:0".parse().expect("addr"));
        cfg.log_output = LogOutput::Discard;
        Telemetry::new(&cfg).expect("no exporter to build")
    }

    /// The hand-written `traceparent` is the one the SDK's propagator writes, and an empty
    /// `tracestate` is left out.
    #[test]
    fn traceparent_matches_the_propagator() {
        let t = tracing_only(super::super::config::ServiceName::Frontend);
        for (flags, state) in [
            (TraceFlags::SAMPLED, TraceState::default()),
            (TraceFlags::default(), TraceState::default()),
            (
                TraceFlags::SAMPLED,
                TraceState::from_key_value([("vendor", "x1")]).expect("valid"),
            ),
        ] {
            let sc = SpanContext::new(
                TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").expect("hex"),
                SpanId::from_hex("00f067aa0ba902b7").expect("hex"),
                flags,
                true,
                state,
            );
            let cx = Context::new().with_remote_span_context(sc);
            let mut ours = HeaderMap::new();
            t.inject(&cx, &mut ours);
            let mut sdk = HeaderMap::new();
            TraceContextPropagator::new()
                .inject_context(&cx, &mut opentelemetry_http::HeaderInjector(&mut sdk));
            assert_eq!(ours.get("traceparent"), sdk.get("traceparent"));
            let sdk_state = sdk.get("tracestate").filter(|v| !v.is_empty());
            assert_eq!(ours.get("tracestate"), sdk_state);
        }
        let mut none = HeaderMap::new();
        t.inject(&Context::new(), &mut none);
        assert!(none.is_empty());
    }

    /// The fast `traceparent` path and the SDK's propagator agree on every input.
    #[test]
    fn extract_matches_the_propagator() {
        let t = tracing_only(super::super::config::ServiceName::Products);
        let cases: [(&str, Option<&str>); 11] = [
            (
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                None,
            ),
            (
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
                None,
            ),
            (
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03",
                None,
            ),
            (
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                Some("a=1"),
            ),
            (
                "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
                None,
            ),
            (
                "00-00000000000000000000000000000000-b7ad6b7169203331-01",
                None,
            ),
            (
                "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
                None,
            ),
            (
                "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                None,
            ),
            (
                " 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                None,
            ),
            (
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0g",
                None,
            ),
            ("garbage", None),
        ];
        for (traceparent, tracestate) in cases {
            let mut h = HeaderMap::new();
            h.insert(
                "traceparent",
                HeaderValue::from_str(traceparent).expect("ascii"),
            );
            if let Some(s) = tracestate {
                h.insert("tracestate", HeaderValue::from_str(s).expect("ascii"));
            }
            let ours = t.extract(&h);
            let sdk = TraceContextPropagator::new().extract(&HeaderExtractor(&h));
            assert_eq!(
                ours.span().span_context(),
                sdk.span().span_context(),
                "{traceparent}"
            );
        }
    }

    #[test]
    fn timestamps_match_humantime() {
        let base = SystemTime::UNIX_EPOCH + Duration::from_millis(1_796_523_450_123);
        for t in [
            base,
            base + Duration::from_millis(1),
            base + Duration::from_millis(877),
            base + Duration::from_millis(1_000),
            base + Duration::from_secs(86_400 * 400) + Duration::from_micros(999_999),
        ] {
            let mut ours = String::new();
            push_timestamp(&mut ours, t);
            assert_eq!(ours, humantime::format_rfc3339_millis(t).to_string());
        }
        for n in [0, 7, 10, 999, 1_000, 65_535, u64::MAX] {
            let mut s = String::new();
            push_uint(&mut s, n);
            assert_eq!(s, n.to_string());
        }
    }

    #[test]
    fn json_line_is_valid_json_with_ids_and_escaped_error() {
        let t = tracing_only(super::super::config::ServiceName::ApiGateway);
        let sc = SpanContext::new(
            TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").expect("hex"),
            SpanId::from_hex("b7ad6b7169203331").expect("hex"),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        let entry = LogEntry {
            route: "/api/products/{id}",
            method: "GET",
            status: 502,
            latency: Duration::from_micros(12_345),
            msg: "request completed",
            error: Some("users answered \"500\"\n"),
        };
        let mut line = String::new();
        t.format_line(&mut line, &entry, entry.level(), &sc);
        let v: serde_json::Value = serde_json::from_str(&line).expect("valid json");
        assert_eq!(v["service"], "api-gateway");
        assert_eq!(v["level"], "error");
        assert_eq!(v["route"], "/api/products/{id}");
        assert_eq!(v["status"], 502);
        assert_eq!(v["latency_ms"], 12.345);
        assert_eq!(v["trace_id"], "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(v["span_id"], "b7ad6b7169203331");
        assert_eq!(v["error"], "users answered \"500\"\n");
        let mut line = String::new();
        t.format_line(
            &mut line,
            &LogEntry {
                error: None,
                status: 200,
                ..entry
            },
            Level::Info,
            &SpanContext::empty_context(),
        );
        let v: serde_json::Value = serde_json::from_str(&line).expect("valid json");
        assert_eq!(v["trace_id"], serde_json::Value::Null);
        assert_eq!(v["latency_ms"], 12.345);
        assert!(v.get("error").is_none());
    }
}
