//! `stack.trace-store`: where Jaeger keeps spans in the native stack.
//!
//! - `memory` (default): the query role's in-memory store; the collector role forwards OTLP
//!   to it.
//! - `opensearch`: an embedded single-node OpenSearch 2.19.6 (Apache-2.0), started by
//!   gauntlet's own launcher (`tools/java/opensearch-launcher`, built by
//!   `scripts/provision.sh`) on loopback ports gauntlet chose, data in the run dir. The
//!   collector role writes spans to it through Jaeger v2's `jaeger_storage` extension
//!   (`opensearch` backend) and the query role reads them back from it, so trace checks still
//!   go through Jaeger's query API (<https://www.jaegertracing.io/docs/latest/apis/>), now
//!   answered from OpenSearch (<https://opensearch.org/docs/latest/api-reference/>).
//!
//! Logs stay in VictoriaLogs: no maintained shipper from the collector to OpenSearch can be
//! had here (see the README's "OpenSearch for span storage").

use serde::Serialize;

/// Readiness answers of the launcher: the index template it installs after the node started
/// (0 replicas for every index, so a single node stays green), and green health.
pub(crate) const READY_PATHS: [&str; 2] = [
    "_template/gauntlet-zero-replicas",
    "_cluster/health?wait_for_status=green&timeout=1s",
];

/// Jaeger's index prefix (`gauntlet-jaeger-span-YYYY-MM-DD`, …).
pub const INDEX_PREFIX: &str = "gauntlet";

/// The indices holding Jaeger's spans (for `_search` against OpenSearch itself).
pub const SPAN_INDICES: &str = "gauntlet-jaeger-span-*";

/// The process (and log) name of OpenSearch in the native stack.
pub const PROCESS: &str = "opensearch";

/// Where Jaeger keeps spans (`stack.trace-store`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TraceStore {
    /// Jaeger's in-memory store in the query role.
    #[default]
    Memory,
    /// OpenSearch, written by the collector role and read by the query role.
    Opensearch,
}

impl TraceStore {
    pub const NAMES: &'static [&'static str] = &["memory", "opensearch"];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "memory" => Some(TraceStore::Memory),
            "opensearch" => Some(TraceStore::Opensearch),
            _ => None,
        }
    }

    /// What reports name as the backend of trace checks.
    pub fn backend(self) -> &'static str {
        match self {
            TraceStore::Memory => "jaeger",
            TraceStore::Opensearch => "jaeger (opensearch)",
        }
    }

    /// The `jaeger_storage` backend both Jaeger roles use, as a YAML flow mapping (JSON).
    /// `opensearch_port` is OpenSearch's HTTP port; ignored for `memory`.
    pub(crate) fn jaeger_backend(self, max_traces: u32, opensearch_port: u16) -> String {
        let value = match self {
            TraceStore::Memory => serde_json::json!({ "memory": { "max_traces": max_traces } }),
            TraceStore::Opensearch => {
                // One shard, no replicas: a single node could never place a replica, and
                // health would stay yellow.
                let index = serde_json::json!({ "shards": 1, "replicas": 0 });
                serde_json::json!({ "opensearch": {
                    "server_urls": [format!("http://127.0.0.1:{opensearch_port}")],
                    "indices": {
                        "index_prefix": INDEX_PREFIX,
                        "spans": index,
                        "services": index,
                        "dependencies": index,
                        "sampling": index,
                    },
                    // Spans leave the collector this often; OpenSearch makes them
                    // searchable at its next refresh (1 s).
                    "bulk_processing": { "flush_interval": "200ms" },
                }})
            }
        };
        value.to_string()
    }

    /// The collector role's `service.extensions` and traces `exporters` (YAML flow lists):
    /// it forwards OTLP to the query role's memory store, or writes to OpenSearch itself.
    pub(crate) fn collector_wiring(self) -> (String, String) {
        let (extensions, exporter) = match self {
            TraceStore::Memory => (vec!["healthcheckv2"], "otlp/jaeger"),
            TraceStore::Opensearch => (
                vec!["healthcheckv2", "jaeger_storage"],
                "jaeger_storage_exporter",
            ),
        };
        (
            serde_json::json!(extensions).to_string(),
            serde_json::json!([exporter, "spanmetrics"]).to_string(),
        )
    }
}

impl std::fmt::Display for TraceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TraceStore::Memory => "memory",
            TraceStore::Opensearch => "opensearch",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_print_back() {
        for name in TraceStore::NAMES {
            let store = TraceStore::parse(name).expect("a listed name parses");
            assert_eq!(store.to_string(), *name);
        }
        assert_eq!(TraceStore::parse("elasticsearch"), None);
        assert_eq!(TraceStore::default(), TraceStore::Memory);
    }

    #[test]
    fn the_opensearch_backend_points_at_loopback_with_no_replicas() {
        let text = TraceStore::Opensearch.jaeger_backend(10, 19200);
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(
            v["opensearch"]["server_urls"][0].as_str(),
            Some("http://127.0.0.1:19200")
        );
        for kind in ["spans", "services", "dependencies", "sampling"] {
            assert_eq!(v["opensearch"]["indices"][kind]["replicas"], 0, "{text}");
        }
        let memory = TraceStore::Memory.jaeger_backend(10, 19200);
        assert_eq!(memory, r#"{"memory":{"max_traces":10}}"#);
        assert_eq!(
            TraceStore::Opensearch.collector_wiring().1,
            r#"["jaeger_storage_exporter","spanmetrics"]"#
        );
    }
}
