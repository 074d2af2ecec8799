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
use serde::Serialize;

use super::config::{LogOutput, ServiceConfig, TraceSampling};

/// Instrumentation scope name of every span and log record.
const SCOPE: &str = "gauntlet-services";
/// Longest a flush or shutdown of the exporters may take.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

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
        url: &str,
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
                KeyValue::new("url.full", url.to_owned()),
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
    /// record, both carrying the trace and span ids of `cx`.
    pub fn log(&self, entry: &LogEntry<'_>, cx: &Context) {
        if self.tracer.is_none() {
            return;
        }
        let sc = cx.span().span_context().clone();
        let (trace_id, span_id) = if sc.is_valid() {
            (
                Some(sc.trace_id().to_string()),
                Some(sc.span_id().to_string()),
            )
        } else {
            (None, None)
        };
        let level = entry.level();
        if !matches!(self.log_output, LogOutput::Off) {
            let line = JsonLine {
                ts: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
                level: level.text(),
                service: self.service,
                route: entry.route,
                method: entry.method,
                status: entry.status,
                latency_ms: entry.latency.as_secs_f64() * 1000.0,
                trace_id: trace_id.as_deref(),
                span_id: span_id.as_deref(),
                msg: entry.msg,
                error: entry.error,
            };
            match serde_json::to_string(&line) {
                Ok(text) => self.write_line(text),
                Err(error) => tracing::warn!(%error, "cannot serialize a request log line"),
            }
        }
        if let Some(logger) = &self.logger {
            let mut rec = logger.create_log_record();
            let now = SystemTime::now();
            rec.set_timestamp(now);
            rec.set_observed_timestamp(now);
            rec.set_severity_number(level.severity());
            rec.set_severity_text(level.text());
            rec.set_body(AnyValue::from(entry.msg.to_owned()));
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

    fn write_line(&self, line: String) {
        match &self.log_output {
            LogOutput::Stdout => {
                let mut out = std::io::stdout().lock();
                // A closed stdout must not take the service down.
                let _ = writeln!(out, "{line}");
            }
            LogOutput::Capture(c) => c.push(line),
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
    pub msg: &'a str,
    pub error: Option<&'a str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
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

#[derive(Serialize)]
struct JsonLine<'a> {
    ts: String,
    level: &'static str,
    service: &'static str,
    route: &'static str,
    method: &'static str,
    status: u16,
    latency_ms: f64,
    trace_id: Option<&'a str>,
    span_id: Option<&'a str>,
    msg: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}
