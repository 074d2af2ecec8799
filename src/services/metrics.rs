//! Prometheus metrics of one service, served on `/metrics` in the OpenMetrics text format
//! (so exemplars carrying `trace_id` are allowed) with the `prometheus-client` crate
//! (<https://docs.rs/prometheus-client>).
//!
//! Label values on the hot path are `&'static str` and integers, so recording a request
//! allocates nothing unless an exemplar is attached.

use std::fmt::Write as _;
use std::time::Duration;

use opentelemetry::trace::TraceId;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::exemplar::{CounterWithExemplar, HistogramWithExemplars};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use super::config::ServiceName;
use super::dialect::Dialect;

/// Content type of `/metrics` (OpenMetrics is what carries exemplars).
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Request duration buckets: 5 ms … 10 s.
pub const DURATION_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Task processing buckets: 1 ms … 10 s.
const TASK_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    pub service: &'static str,
    pub method: &'static str,
    pub route: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct DurationLabels {
    pub service: &'static str,
    pub method: &'static str,
    pub route: &'static str,
}

/// `prometheus-client` dialect: the client libraries' HTTP middleware labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ClientRequestLabels {
    pub method: &'static str,
    pub endpoint: &'static str,
    pub status: u16,
}

/// `prometheus-client` dialect: the histogram carries the status as `code`, as SLO
/// generators expect.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ClientDurationLabels {
    pub method: &'static str,
    pub endpoint: &'static str,
    pub code: u16,
}

/// `otel-semconv` dialect: the HTTP server attributes, dots made underscores by the
/// Prometheus translation.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct SemconvLabels {
    pub http_request_method: &'static str,
    pub http_route: &'static str,
    pub http_response_status_code: u16,
}

/// The OpenTelemetry specification's advisory buckets for `http.server.request.duration`.
const SEMCONV_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Exemplar label: the trace id as 32 lowercase hex digits, formatted only at scrape time.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TraceExemplar {
    pub trace_id: TraceIdLabel,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub(crate) struct TraceIdLabel(pub TraceId);

impl EncodeLabelValue for TraceIdLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        write!(encoder, "{}", self.0)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct StatusLabel {
    pub status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct KindLabel {
    pub kind: &'static str,
}

type ExemplarHistogram = HistogramWithExemplars<TraceExemplar>;

fn duration_histogram() -> ExemplarHistogram {
    HistogramWithExemplars::new(DURATION_BUCKETS.into_iter())
}

fn semconv_histogram() -> ExemplarHistogram {
    HistogramWithExemplars::new(SEMCONV_BUCKETS.into_iter())
}

type HistogramFamily<L> = Family<L, ExemplarHistogram, fn() -> ExemplarHistogram>;

/// The HTTP request metrics in the chosen dialect.
#[derive(Debug)]
pub(crate) enum HttpMetrics {
    Gauntlet {
        requests: Family<RequestLabels, CounterWithExemplar<TraceExemplar>>,
        duration: HistogramFamily<DurationLabels>,
    },
    PrometheusClient {
        requests: Family<ClientRequestLabels, CounterWithExemplar<TraceExemplar>>,
        duration: HistogramFamily<ClientDurationLabels>,
    },
    OtelSemconv {
        duration: HistogramFamily<SemconvLabels>,
    },
}

impl HttpMetrics {
    fn register(dialect: Dialect, registry: &mut Registry) -> Self {
        match dialect {
            Dialect::Gauntlet => {
                let requests = Family::default();
                registry.register(
                    "http_requests",
                    "HTTP requests served, by route template and status",
                    requests.clone(),
                );
                let duration: HistogramFamily<DurationLabels> =
                    Family::new_with_constructor(duration_histogram);
                registry.register_with_unit(
                    "http_request_duration",
                    "HTTP request latency, by route template",
                    Unit::Seconds,
                    duration.clone(),
                );
                HttpMetrics::Gauntlet { requests, duration }
            }
            Dialect::PrometheusClient => {
                let requests = Family::default();
                registry.register(
                    "http_requests",
                    "HTTP requests served, by endpoint and status",
                    requests.clone(),
                );
                let duration: HistogramFamily<ClientDurationLabels> =
                    Family::new_with_constructor(duration_histogram);
                registry.register_with_unit(
                    "http_request_duration",
                    "HTTP request latency, by endpoint and status code",
                    Unit::Seconds,
                    duration.clone(),
                );
                HttpMetrics::PrometheusClient { requests, duration }
            }
            Dialect::OtelSemconv => {
                let duration: HistogramFamily<SemconvLabels> =
                    Family::new_with_constructor(semconv_histogram);
                registry.register_with_unit(
                    "http_server_request_duration",
                    "Duration of HTTP server requests",
                    Unit::Seconds,
                    duration.clone(),
                );
                HttpMetrics::OtelSemconv { duration }
            }
        }
    }
}

fn task_histogram() -> Histogram {
    Histogram::new(TASK_BUCKETS)
}

/// Every metric one service records.
#[derive(Debug)]
pub(crate) struct Metrics {
    pub service: &'static str,
    registry: Registry,
    pub http: HttpMetrics,
    pub orders_created: Counter,
    pub task_queue_size: Gauge,
    pub workflow_steps: Family<StatusLabel, Counter>,
    pub task_duration: Histogram,
    pub fault_active: Family<KindLabel, Gauge>,
}

/// Every fault kind, so `gauntlet_fault_active{kind}` exists at 0 before any fault.
pub(crate) const FAULT_KINDS: [&str; 8] = [
    "errors",
    "latency",
    "hang",
    "crash",
    "cpu-burn",
    "memory-growth",
    "dependency-failure",
    "queue-stall",
];

impl Metrics {
    pub fn new(service: ServiceName, dialect: Dialect) -> Self {
        let mut registry = Registry::default();
        let http = HttpMetrics::register(dialect, &mut registry);
        let orders_created = Counter::default();
        let task_queue_size = Gauge::default();
        let workflow_steps = Family::<StatusLabel, Counter>::default();
        let task_duration = task_histogram();
        match service {
            ServiceName::Orders => {
                registry.register("orders_created", "Orders created", orders_created.clone());
            }
            ServiceName::Worker => {
                registry.register(
                    "task_queue_size",
                    "Tasks waiting in the worker queue",
                    task_queue_size.clone(),
                );
                registry.register(
                    "workflow_steps",
                    "Workflow steps processed, by outcome",
                    workflow_steps.clone(),
                );
                registry.register_with_unit(
                    "task_processing_duration",
                    "Time to process one task",
                    Unit::Seconds,
                    task_duration.clone(),
                );
            }
            _ => {}
        }
        let fault_active = Family::<KindLabel, Gauge>::default();
        for kind in FAULT_KINDS {
            fault_active.get_or_create(&KindLabel { kind }).set(0);
        }
        registry.register(
            "gauntlet_fault_active",
            "1 while an injected fault of this kind is active",
            fault_active.clone(),
        );
        registry.register_collector(Box::new(ProcessCollector));
        Self {
            service: service.as_str(),
            registry,
            http,
            orders_created,
            task_queue_size,
            workflow_steps,
            task_duration,
            fault_active,
        }
    }

    /// Records one served request; `exemplar` is the trace id of a sampled span.
    pub fn record_request(
        &self,
        method: &'static str,
        route: &'static str,
        status: u16,
        elapsed: Duration,
        exemplar: Option<TraceId>,
    ) {
        let ex = exemplar.map(|t| TraceExemplar {
            trace_id: TraceIdLabel(t),
        });
        let secs = elapsed.as_secs_f64();
        match &self.http {
            HttpMetrics::Gauntlet { requests, duration } => {
                let service = self.service;
                requests
                    .get_or_create(&RequestLabels {
                        service,
                        method,
                        route,
                        status,
                    })
                    .inc_by(1, ex.clone(), None);
                duration
                    .get_or_create(&DurationLabels {
                        service,
                        method,
                        route,
                    })
                    .observe(secs, ex, None);
            }
            HttpMetrics::PrometheusClient { requests, duration } => {
                requests
                    .get_or_create(&ClientRequestLabels {
                        method,
                        endpoint: route,
                        status,
                    })
                    .inc_by(1, ex.clone(), None);
                duration
                    .get_or_create(&ClientDurationLabels {
                        method,
                        endpoint: route,
                        code: status,
                    })
                    .observe(secs, ex, None);
            }
            HttpMetrics::OtelSemconv { duration } => {
                duration
                    .get_or_create(&SemconvLabels {
                        http_request_method: method,
                        http_route: route,
                        http_response_status_code: status,
                    })
                    .observe(secs, ex, None);
            }
        }
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::with_capacity(8 * 1024);
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// `process_cpu_seconds_total` and `process_resident_memory_bytes` from `/proc/self`, read
/// at scrape time. In the all-in-one process every service reports the same process.
#[derive(Debug)]
struct ProcessCollector;

impl prometheus_client::collector::Collector for ProcessCollector {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        let Some(stat) = ProcStat::read() else {
            return Ok(());
        };
        let cpu = ConstCounter::new(stat.cpu_seconds());
        let e = encoder.encode_descriptor(
            "process_cpu_seconds",
            "User and system CPU time spent by the process in seconds",
            None,
            cpu.metric_type(),
        )?;
        cpu.encode(e)?;
        let rss = ConstGauge::new(stat.rss_bytes as i64);
        let e = encoder.encode_descriptor(
            "process_resident_memory_bytes",
            "Resident memory of the process",
            None,
            rss.metric_type(),
        )?;
        rss.encode(e)?;
        Ok(())
    }
}

/// The fields of `/proc/self/stat` gauntlet uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcStat {
    /// utime + stime in clock ticks.
    pub cpu_ticks: u64,
    pub rss_bytes: u64,
}

/// Linux reports /proc times in USER_HZ, which is 100 on every architecture Rust supports.
const TICKS_PER_SECOND: f64 = 100.0;
const PAGE_SIZE: u64 = 4096;

impl ProcStat {
    /// Reads `/proc/self/stat`; `None` where procfs is missing.
    pub fn read() -> Option<Self> {
        let text = std::fs::read_to_string("/proc/self/stat").ok()?;
        Self::parse(&text)
    }

    /// Reads `/proc/<pid>/stat` (all of that process's threads); `None` when it is gone.
    pub fn read_pid(pid: u32) -> Option<Self> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        Self::parse(&text)
    }

    /// Parses one `/proc/<pid>/stat` line (the command may contain spaces and parentheses,
    /// so fields are counted after the last `)`).
    pub fn parse(text: &str) -> Option<Self> {
        let rest = &text[text.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // After the command: state is field 3 (index 0 here); utime 14, stime 15, rss 24.
        let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
        Some(Self {
            cpu_ticks: field(14)? + field(15)?,
            rss_bytes: field(24)? * PAGE_SIZE,
        })
    }

    pub fn cpu_seconds(&self) -> f64 {
        self.cpu_ticks as f64 / TICKS_PER_SECOND
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_parses_fields_after_the_command() {
        let line =
            "1234 (my (odd) cmd) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 4 0 100 123456 300 rest";
        let s = ProcStat::parse(line).expect("parses");
        assert_eq!(s.cpu_ticks, 300);
        assert_eq!(s.cpu_seconds(), 3.0);
        assert_eq!(s.rss_bytes, 300 * 4096);
        assert!(ProcStat::read().is_some_and(|s| s.rss_bytes > 0));
    }

    #[test]
    fn encodes_openmetrics_with_exemplar_and_fault_gauges() {
        let m = Metrics::new(ServiceName::Orders, Dialect::Gauntlet);
        let trace = TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").expect("hex");
        m.record_request(
            "GET",
            "/orders/{id}",
            200,
            Duration::from_millis(7),
            Some(trace),
        );
        m.orders_created.inc();
        let text = m.encode().expect("encodes");
        assert!(text.contains(
            "http_requests_total{service=\"orders\",method=\"GET\",route=\"/orders/{id}\",status=\"200\"} 1 # {trace_id=\"0af7651916cd43dd8448eb211c80319c\"} 1.0"
        ), "{text}");
        assert!(text.contains("http_request_duration_seconds_bucket{le=\"0.01\",service=\"orders\",method=\"GET\",route=\"/orders/{id}\"} 1 # {trace_id=\"0af7651916cd43dd8448eb211c80319c\"} 0.007"), "{text}");
        assert!(text.contains("orders_created_total 1"), "{text}");
        assert!(
            text.contains("gauntlet_fault_active{kind=\"queue-stall\"} 0"),
            "{text}"
        );
        assert!(text.contains("process_cpu_seconds_total "), "{text}");
        assert!(text.contains("process_resident_memory_bytes "), "{text}");
        assert!(!text.contains("task_queue_size"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn dialects_rename_the_http_metrics_and_their_labels() {
        let text = |dialect| {
            let m = Metrics::new(ServiceName::Orders, dialect);
            m.record_request("POST", "/orders", 503, Duration::from_millis(30), None);
            m.encode().expect("encodes")
        };
        let client = text(Dialect::PrometheusClient);
        assert!(
            client.contains(
                "http_requests_total{method=\"POST\",endpoint=\"/orders\",status=\"503\"} 1"
            ),
            "{client}"
        );
        assert!(
            client.contains(
                "http_request_duration_seconds_count{method=\"POST\",endpoint=\"/orders\",code=\"503\"} 1"
            ),
            "{client}"
        );
        assert!(!client.contains("route="), "{client}");
        let otel = text(Dialect::OtelSemconv);
        assert!(
            otel.contains(
                "http_server_request_duration_seconds_count{http_request_method=\"POST\",http_route=\"/orders\",http_response_status_code=\"503\"} 1"
            ),
            "{otel}"
        );
        assert!(otel.contains("le=\"0.075\""), "{otel}");
        assert!(!otel.contains("http_requests_total"), "{otel}");
    }
}
