//! Raw serde structs: exactly what a user may write in a scenario file, nothing checked yet.
//!
//! Every struct denies unknown fields and uses kebab-case. Durations, rates and percentages
//! stay strings here so the validator can report each bad one with its position instead of
//! stopping at the first. Faults and expectations are flat structs (no `flatten`, no
//! `untagged`): the validator turns them into tagged enums and says precisely which field a
//! kind lacks or does not use.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

/// The top-level keys a scenario may have (for the "unknown field" hint).
pub const TOP_LEVEL_KEYS: &[&str] = &[
    "name",
    "description",
    "tags",
    "stack",
    "services",
    "load",
    "steady-state",
    "faults",
    "expect",
    "recover",
    "overhead",
    "timeout",
];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawStack {
    pub provider: Option<String>,
    pub scrape_interval: Option<String>,
    pub evaluation_interval: Option<String>,
    pub group_wait: Option<String>,
    pub group_interval: Option<String>,
    pub repeat_interval: Option<String>,
    /// Overrides every alerting rule's `for` (compressed test timelines).
    pub alert_for: Option<String>,
    /// Rule files or directories, relative to the scenario file.
    pub rules: Option<Vec<String>>,
    pub alertmanager_config: Option<String>,
    /// Grafana dashboard JSON files or directories.
    pub dashboards: Option<Vec<String>>,
    /// The user's Grafana datasource provisioning file (or folder): the datasources
    /// dashboards may use.
    pub grafana_datasources: Option<String>,
    pub compose_file: Option<String>,
    /// external / kubernetes: component name → URL.
    pub urls: Option<BTreeMap<String, String>>,
    pub namespace: Option<String>,
    /// kubernetes: where the observability stack runs (default: `namespace`).
    pub observe_namespace: Option<String>,
    /// external / kubernetes: where gauntlet listens for Alertmanager's webhooks.
    pub webhook_listen: Option<String>,
    pub context: Option<String>,
    /// How long the collector batches telemetry before exporting.
    pub telemetry_flush: Option<String>,
    /// Which Prometheus to run (`"2.42"`, `"3.16"`); its Alertmanager follows.
    pub prometheus_version: Option<VersionText>,
    /// Where Jaeger keeps spans: `memory` (default) or `opensearch` (native provider).
    pub trace_store: Option<String>,
}

/// A version as written: `"3.16"`, or the number `3.16` YAML reads from an unquoted value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionText(pub String);

impl<'de> Deserialize<'de> for VersionText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct VersionVisitor;
        impl Visitor<'_> for VersionVisitor {
            type Value = VersionText;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a version such as \"3.16\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<VersionText, E> {
                Ok(VersionText(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<VersionText, E> {
                Ok(VersionText(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<VersionText, E> {
                Ok(VersionText(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<VersionText, E> {
                Ok(VersionText(v.to_string()))
            }
        }
        deserializer.deserialize_any(VersionVisitor)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawServices {
    pub mode: Option<String>,
    pub instrumentation: Option<String>,
    pub only: Option<Vec<String>>,
    /// external mode: service name → base URL.
    pub endpoints: Option<BTreeMap<String, String>>,
    /// How often services export batched spans and logs.
    pub export_interval: Option<String>,
    /// The names the sample services' HTTP metrics are exposed under.
    pub dialect: Option<String>,
    /// Service → the `job` label its targets carry (default: the service name).
    pub jobs: Option<BTreeMap<String, String>>,
    /// Service → how many processes run it (default 1).
    pub replicas: Option<BTreeMap<String, u32>>,
    /// Prometheus `relabel_configs` of the services' scrape config, as written.
    #[serde(alias = "relabel_configs")]
    pub relabel_configs: Option<Vec<super::relabel::RelabelConfig>>,
    /// Prometheus `metric_relabel_configs` of the services' scrape config, as written.
    #[serde(alias = "metric_relabel_configs")]
    pub metric_relabel_configs: Option<Vec<super::relabel::RelabelConfig>>,
    /// external mode: service name → the HTTP fault proxy gauntlet runs in front of it.
    pub fault_proxy: Option<BTreeMap<String, RawFaultProxy>>,
}

/// `services.fault-proxy.NAME`: where callers reach the proxy, and the service behind it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawFaultProxy {
    /// `host:port` on loopback; port 0 lets the OS choose (only gauntlet's load can use it).
    pub listen: Option<String>,
    /// `host:port` of the service on loopback (default: the service's endpoint).
    pub upstream: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawLoad {
    /// `open` (default: arrivals at `rate`) or `closed` (`users` with `think-time`).
    pub model: Option<String>,
    pub users: Option<u64>,
    pub think_time: Option<String>,
    pub rate: Option<String>,
    pub duration: Option<String>,
    pub ramp: Option<String>,
    pub journeys: Option<Vec<String>>,
    pub max_requests: Option<u64>,
    pub timeout: Option<String>,
    pub target: Option<String>,
}

/// `steady-state:` and `recover:` windows.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawWindowHead {
    #[serde(rename = "for")]
    pub for_: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawFault {
    pub name: Option<String>,
    pub at: Option<String>,
    #[serde(rename = "for")]
    pub for_: Option<String>,
    pub kind: Option<String>,
    pub service: Option<String>,
    pub target: Option<String>,
    pub rate: Option<f64>,
    pub status: Option<u16>,
    pub route: Option<String>,
    pub delay: Option<String>,
    pub jitter: Option<String>,
    pub exit_code: Option<i32>,
    pub threads: Option<u32>,
    pub mb_per_second: Option<u32>,
    pub max_mb: Option<u32>,
    pub dependency: Option<String>,
    pub signal: Option<String>,
    pub container: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub bytes_per_second: Option<u64>,
    pub selector: Option<String>,
    pub namespace: Option<String>,
    pub workload: Option<String>,
    /// One replica of the service (1-based); without it the fault hits every replica.
    pub replica: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawExpectation {
    pub name: Option<String>,
    pub within: Option<String>,
    /// Name of the fault the deadline is measured from (default: the first fault).
    pub after: Option<String>,
    pub metric: Option<String>,
    pub alert: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
    pub state: Option<String>,
    /// Annotations a firing alert must carry with a value (`[runbook_url, summary]`).
    pub require_annotations: Option<Vec<String>>,
    pub notification: Option<String>,
    pub status: Option<String>,
    pub trace: Option<RawTrace>,
    pub log: Option<RawLog>,
    pub dashboard: Option<String>,
    pub panels: Option<String>,
    pub panel: Option<String>,
    pub above: Option<f64>,
    pub below: Option<f64>,
    pub no_alerts: Option<AlertNames>,
    pub correlation: Option<RawCorrelation>,
    pub completeness: Option<RawCompleteness>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawTrace {
    pub service: Option<String>,
    pub operation: Option<String>,
    pub error: Option<bool>,
    pub spans_from: Option<Vec<String>>,
    pub tags: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawLog {
    pub service: Option<String>,
    pub level: Option<String>,
    pub contains: Option<String>,
    pub correlated_trace: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawCorrelation {
    /// Where a failed request's trace id must be found: `traces`, `logs`.
    pub find_in: Option<Vec<String>>,
    pub min_requests: Option<u32>,
}

/// `completeness: { traces: 99%, logs: 99%, metrics: 99.9% }`: the share of what was sent
/// that each store must hold (recover only).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawCompleteness {
    pub traces: Option<String>,
    pub logs: Option<String>,
    pub metrics: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawOverhead {
    pub max_cpu_increase: Option<String>,
    pub max_latency_p99_increase: Option<String>,
    pub max_throughput_drop: Option<String>,
    pub rate: Option<String>,
    pub duration: Option<String>,
    pub rounds: Option<u32>,
    /// Trace sampling of the instrumented fleet (`always-on`, `ratio=R`, `parent-ratio=R`).
    pub sampling: Option<String>,
}

/// `no-alerts: any` or `no-alerts: [HighErrorRate, ServiceDown]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertNames {
    Any,
    Named(Vec<String>),
}

impl<'de> Deserialize<'de> for AlertNames {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NamesVisitor;
        impl<'de> Visitor<'de> for NamesVisitor {
            type Value = AlertNames;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("`any` or a list of alert names")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<AlertNames, E> {
                if v == "any" {
                    Ok(AlertNames::Any)
                } else {
                    Ok(AlertNames::Named(vec![v.to_string()]))
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<AlertNames, A::Error> {
                let mut names = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    names.push(name);
                }
                Ok(AlertNames::Named(names))
            }
        }
        deserializer.deserialize_any(NamesVisitor)
    }
}
