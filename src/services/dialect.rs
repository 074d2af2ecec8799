//! Telemetry dialects: the names the services' HTTP metrics are exposed under, so that rules
//! and dashboards written against someone else's conventions run unchanged.
//!
//! - `gauntlet`: `http_requests_total{service,method,route,status}` and
//!   `http_request_duration_seconds{service,method,route}` (what the shipped rules and
//!   dashboards select).
//! - `prometheus-client`: the conventions of the Prometheus client libraries' HTTP
//!   middlewares, `http_requests_total{method,endpoint,status}` and
//!   `http_request_duration_seconds{method,endpoint,code}`; the status on the histogram is
//!   what SLO generators such as Sloth select (`code=~"(5..|429)"`).
//! - `otel-semconv`: the OpenTelemetry HTTP semantic conventions as they reach Prometheus
//!   (<https://opentelemetry.io/docs/specs/semconv/http/http-metrics/>):
//!   `http_server_request_duration_seconds{http_request_method,http_route,http_response_status_code}`,
//!   with the specification's advisory buckets and no separate counter (the histogram's
//!   `_count` is the request count).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Dialect {
    #[default]
    Gauntlet,
    PrometheusClient,
    OtelSemconv,
}

impl Dialect {
    pub const ALL: [Dialect; 3] = [
        Dialect::Gauntlet,
        Dialect::PrometheusClient,
        Dialect::OtelSemconv,
    ];

    /// The kebab-case name (scenario files and the `--dialect` flag).
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Gauntlet => "gauntlet",
            Dialect::PrometheusClient => "prometheus-client",
            Dialect::OtelSemconv => "otel-semconv",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == text)
    }
}

impl std::fmt::Display for Dialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
