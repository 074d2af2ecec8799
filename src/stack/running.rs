//! What every stack provider exposes once it is up: where each component answers
//! ([`StackUrls`]) and what runs there ([`ComponentInfo`]). Everything downstream (runner,
//! observe clients) needs only these; a stack someone else runs is attached by URL in
//! `runner::attach`.

use std::fmt;

use reqwest::Url;
use serde::{Deserialize, Serialize};

/// Which kind of log store is behind [`StackUrls::log_store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogStoreKind {
    /// Grafana Loki (users' own stacks only: Loki is AGPL, gauntlet never runs it): OTLP at
    /// `/otlp/v1/logs`, LogQL at `/loki/api/v1/query_range`.
    Loki,
    /// VictoriaLogs, the native and compose stacks' log store: OTLP at
    /// `/insert/opentelemetry/v1/logs`, LogsQL at `/select/logsql/query`.
    Victorialogs,
    /// Not a real log store: gauntlet's in-memory OTLP log tap.
    OtlpTap,
}

impl fmt::Display for LogStoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogStoreKind::Loki => "loki",
            LogStoreKind::Victorialogs => "victorialogs",
            LogStoreKind::OtlpTap => "otlp-tap",
        })
    }
}

/// Where each part of the stack answers. All URLs are bases without a trailing path
/// (`http://127.0.0.1:9090/`); clients append the API paths.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct StackUrls {
    /// Prometheus HTTP API.
    pub prometheus: Url,
    /// Alertmanager HTTP API (v2).
    pub alertmanager: Url,
    /// Jaeger query HTTP API (`/api/traces/{id}`, `/api/services`, `/api/v3/…`).
    pub jaeger_query: Url,
    /// OTLP/gRPC endpoint of the collector (for tonic exporters).
    pub otlp_grpc: Url,
    /// OTLP/HTTP base of the collector (append `/v1/traces`, `/v1/logs`, `/v1/metrics`).
    pub otlp_http: Url,
    /// Log store base URL.
    pub log_store: Url,
    /// What the log store is (decides which client queries it).
    pub log_store_kind: LogStoreKind,
    /// Grafana, when there is one (external stacks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grafana: Option<Url>,
    /// OpenSearch holding Jaeger's spans (`stack.trace-store: opensearch`, native stack).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opensearch: Option<Url>,
}

/// One component of a running stack, for `describe()` and reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentInfo {
    /// `prometheus`, `alertmanager`, `jaeger-query`, `otel-collector`, `log-store`.
    pub name: String,
    /// What actually runs (`Prometheus`, `Jaeger v2 (collector role)`, `VictoriaLogs`, …).
    pub implementation: String,
    /// Whether this is the real backend a user would run (false for stand-ins like the tap).
    pub real: bool,
    /// Version as reported by the binary or provisioning stamp.
    pub version: String,
    /// Main URL.
    pub url: Url,
    /// Process id when gauntlet owns the process.
    pub pid: Option<u32>,
}

/// Renders component lines shared by both providers.
pub(crate) fn describe_components(header: &str, components: &[ComponentInfo]) -> String {
    let width = components.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut out = format!("{header}\n");
    for c in components {
        let real = if c.real {
            "real".to_string()
        } else {
            "NOT REAL (stand-in)".to_string()
        };
        let pid = c.pid.map(|p| format!(" pid {p}")).unwrap_or_default();
        out.push_str(&format!(
            "  {:width$}  {} {} [{}] {}{}\n",
            c.name,
            c.implementation,
            c.version,
            real,
            crate::redact::url(c.url.as_str()),
            pid
        ));
    }
    out
}
