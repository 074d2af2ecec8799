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
use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
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

thread_local! {
    /// Reused buffer for JSON log lines.
    static LINE: std::cell::RefCell<String> = std::cell::RefCell::new(String::with_capacity(512));
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
        let parent = self.propagator.extract(&HeaderExtractor(headers));
        let span = tracer
            .span_builder(Cow::Borrowed(name))
            .with_kind(SpanKind::Server)
            .with_attributes([
                KeyValue::new("http.request.method", method),
                KeyValue::new("http.route", route),
            ])
            .start_with_context(tracer, &parent);
        parent.with_span(span)
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
            .with_attributes([
                KeyValue::new("http.request.method", method),
                KeyValue::new("peer.service", peer),
                KeyValue::new("url.full", url),
            ])
            .start_with_context(tracer, parent);
        parent.with_span(span)
    }

    /// Writes `traceparent` for `cx` into outgoing headers.
    pub fn inject(&self, cx: &Context, headers: &mut HeaderMap) {
        if self.tracer.is_some() {
            self.propagator
                .inject_context(cx, &mut HeaderInjector(headers));
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
        use std::fmt::Write as _;
        out.clear();
        let micros = entry.latency.as_micros();
        let _ = write!(
            out,
            r#"{{"ts":"{}","level":"{}","service":"{}","route":"{}","method":"{}","status":{},"latency_ms":{}.{:03},"#,
            humantime::format_rfc3339_millis(SystemTime::now()),
            level.text(),
            self.service,
            entry.route,
            entry.method,
            entry.status,
            micros / 1000,
            micros % 1000,
        );
        if sc.is_valid() {
            out.push_str(r#""trace_id":""#);
            push_hex(out, &sc.trace_id().to_bytes());
            out.push_str(r#"","span_id":""#);
            push_hex(out, &sc.span_id().to_bytes());
            out.push_str(r#"","#);
        } else {
            out.push_str(r#""trace_id":null,"span_id":null,"#);
        }
        let _ = write!(out, r#""msg":"{}""#, entry.msg);
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

    #[test]
    fn json_line_is_valid_json_with_ids_and_escaped_error() {
        let mut cfg = ServiceConfig::new(
            super::super::config::ServiceName::ApiGateway,
            "127.0.0.1:0".parse().expect("addr"),
        );
        cfg.log_output = LogOutput::Discard;
        let t = Telemetry::new(&cfg).expect("no exporter to build");
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
