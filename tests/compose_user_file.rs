//! The top-level `docker-compose.test.yml` (official images, host network) mounts configs from
//! `fixtures/compose/`. Those configs are the same templates the native stack renders, with
//! fixed loopback ports; this test re-renders them and fails on any drift.
//! `GAUNTLET_BLESS=1 cargo test --test compose_user_file` rewrites them after a template change.

use std::collections::BTreeMap;
use std::path::PathBuf;

use gauntlet::stack::template::render;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// (template under fixtures/stack, output under fixtures/compose, variables).
fn configs() -> Vec<(&'static str, &'static str, BTreeMap<&'static str, String>)> {
    let v =
        |pairs: &[(&'static str, &str)]| pairs.iter().map(|(k, v)| (*k, v.to_string())).collect();
    vec![
        (
            "prometheus/prometheus.yml.tmpl",
            "prometheus.yml",
            v(&[
                ("scrape_interval", "15s"),
                ("scrape_timeout", "10s"),
                ("evaluation_interval", "15s"),
                ("run_id", "compose"),
                ("alertmanager_address", "127.0.0.1:9093"),
                ("rule_files", "[\"/etc/gauntlet/rules/*.yml\"]"),
                ("targets_dir", "/etc/gauntlet/targets"),
                ("relabel_configs", "[]"),
                ("metric_relabel_configs", "[]"),
                // The compose file's image is Prometheus 2.x, which has no such setting.
                (
                    "scrape_protocol_fallback",
                    "# fallback_scrape_protocol: Prometheus 3 only",
                ),
            ]),
        ),
        (
            "alertmanager/alertmanager.yml.tmpl",
            "alertmanager.yml",
            v(&[
                ("group_wait", "30s"),
                ("group_interval", "5m"),
                ("repeat_interval", "4h"),
                // A webhook receiver on 127.0.0.1:9099 (one path per receiver);
                // point these at your own receivers otherwise.
                ("pager_webhook_url", "http://127.0.0.1:9099/hook/pager"),
                ("chat_webhook_url", "http://127.0.0.1:9099/hook/chat"),
            ]),
        ),
        (
            "jaeger/query.yaml.tmpl",
            "jaeger-query.yaml",
            v(&[
                ("telemetry_port", "18888"),
                ("health_port", "13133"),
                ("query_http_port", "16686"),
                ("query_grpc_port", "16685"),
                ("otlp_grpc_port", "14317"),
                ("trace_backend", r#"{"memory":{"max_traces":100000}}"#),
            ]),
        ),
        (
            "jaeger/collector.yaml.tmpl",
            "otel-collector.yaml",
            v(&[
                ("telemetry_port", "8888"),
                ("health_port", "13134"),
                ("otlp_grpc_port", "4317"),
                ("otlp_http_port", "4318"),
                ("query_otlp_grpc_port", "14317"),
                ("metrics_port", "8889"),
                ("batch_timeout", "200ms"),
                ("spanmetrics_flush_interval", "15s"),
                ("collector_extensions", r#"["healthcheckv2"]"#),
                ("trace_exporters", r#"["otlp/jaeger","spanmetrics"]"#),
                ("trace_backend", r#"{"memory":{"max_traces":100000}}"#),
                (
                    "logs_endpoint",
                    "http://127.0.0.1:9428/insert/opentelemetry/v1/logs",
                ),
            ]),
        ),
    ]
}

#[test]
fn compose_configs_are_the_rendered_templates() {
    let bless = std::env::var("GAUNTLET_BLESS").is_ok_and(|v| v == "1");
    for (template, out, vars) in configs() {
        let text = std::fs::read_to_string(root().join("fixtures/stack").join(template))
            .expect("template");
        let rendered = render(template, &text, &vars).expect("every placeholder has a value");
        let path = root().join("fixtures/compose").join(out);
        if bless {
            std::fs::write(&path, &rendered).expect("write");
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            committed,
            rendered,
            "{} drifted from {template}; rerun with GAUNTLET_BLESS=1",
            path.display()
        );
    }
}

#[test]
fn compose_file_mounts_only_existing_paths_and_uses_host_networking() {
    let text =
        std::fs::read_to_string(root().join("docker-compose.test.yml")).expect("compose file");
    let doc: yaml_serde::Value = yaml_serde::from_str(&text).expect("valid YAML");
    let services = doc["services"].as_mapping().expect("services");
    assert!(services.len() >= 7, "stack plus sample services");
    for (name, svc) in services {
        let name = name.as_str().unwrap_or_default();
        assert_eq!(
            svc["network_mode"].as_str(),
            Some("host"),
            "{name} uses the host network"
        );
        for volume in svc["volumes"].as_sequence().into_iter().flatten() {
            let source = volume
                .as_str()
                .and_then(|v| v.split(':').next())
                .unwrap_or_default();
            if source.starts_with("./") {
                assert!(
                    root().join(source).exists(),
                    "{name} mounts {source}, which does not exist"
                );
            }
        }
    }
    for image in [
        "prom/prometheus",
        "prom/alertmanager",
        "jaegertracing/jaeger",
        "victoriametrics/victoria-logs",
        "otel/opentelemetry-collector-contrib",
    ] {
        assert!(text.contains(image), "{image} is referenced");
    }
    // Loki, Grafana and Tempo are AGPL: the project runs none of them.
    for image in ["grafana/loki", "grafana/grafana", "grafana/tempo"] {
        assert!(
            !text.contains(image),
            "{image} must not be part of the stack"
        );
    }
}
