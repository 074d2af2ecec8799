//! The external provider: a stack someone else runs (a shared staging stack, a kind cluster,
//! a compose file started by hand). gauntlet only knows its URLs; it starts and stops nothing
//! and cannot change its scrape targets.

use reqwest::Url;

use super::running::{ComponentInfo, LogStoreKind, StackUrls, describe_components};

/// URLs of a stack gauntlet does not own.
#[derive(Debug, Clone)]
pub struct ExternalStack {
    urls: StackUrls,
    components: Vec<ComponentInfo>,
}

impl ExternalStack {
    /// Wraps the given URLs; versions are unknown until an observe client asks.
    pub fn new(urls: StackUrls) -> Self {
        let log_store = match urls.log_store_kind {
            LogStoreKind::Loki => "Grafana Loki",
            LogStoreKind::Victorialogs => "VictoriaLogs",
            LogStoreKind::OtlpTap => "gauntlet OTLP log tap",
        };
        let mut components = vec![
            info("prometheus", "Prometheus", &urls.prometheus),
            info("alertmanager", "Alertmanager", &urls.alertmanager),
            info("otel-collector", "OTLP/HTTP endpoint", &urls.otlp_http),
            info("jaeger-query", "Jaeger query API", &urls.jaeger_query),
            ComponentInfo {
                real: urls.log_store_kind != LogStoreKind::OtlpTap,
                ..info("log-store", log_store, &urls.log_store)
            },
        ];
        if let Some(grafana) = &urls.grafana {
            components.push(info("grafana", "Grafana", grafana));
        }
        Self { urls, components }
    }

    /// Where each component answers.
    pub fn urls(&self) -> &StackUrls {
        &self.urls
    }

    /// The components as configured.
    pub fn components(&self) -> &[ComponentInfo] {
        &self.components
    }

    /// Summary of the configured URLs.
    pub fn describe(&self) -> String {
        describe_components(
            "external stack (not started or stopped by gauntlet):",
            &self.components,
        )
    }
}

fn info(name: &str, implementation: &str, url: &Url) -> ComponentInfo {
    ComponentInfo {
        name: name.to_string(),
        implementation: implementation.to_string(),
        real: true,
        version: "unknown (external)".to_string(),
        url: url.clone(),
        pid: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::running::{RunningStack, StackError};

    fn urls() -> StackUrls {
        let u = |s: &str| Url::parse(s).expect("test url");
        StackUrls {
            prometheus: u("http://prom.example:9090/"),
            alertmanager: u("http://am.example:9093/"),
            jaeger_query: u("http://jaeger.example:16686/"),
            otlp_grpc: u("http://otel.example:4317/"),
            otlp_http: u("http://otel.example:4318/"),
            log_store: u("http://loki.example:3100/"),
            log_store_kind: LogStoreKind::Loki,
            grafana: None,
        }
    }

    #[tokio::test]
    async fn external_stack_has_no_lifecycle() {
        let stack = RunningStack::External(ExternalStack::new(urls()));
        assert_eq!(
            stack.urls().prometheus.as_str(),
            "http://prom.example:9090/"
        );
        assert!(stack.components().iter().all(|c| c.real && c.pid.is_none()));
        let err = stack
            .set_targets("orders", &["127.0.0.1:1".into()])
            .expect_err("external");
        assert!(matches!(err, StackError::Unsupported { .. }));
        assert!(stack.describe().starts_with("external stack"));
        assert!(stack.describe().contains("loki.example"));
        stack.stop().await;
    }

    #[test]
    fn urls_round_trip_through_yaml() {
        let text = "prometheus: http://p:9090/\nalertmanager: http://a:9093/\n\
                    jaeger-query: http://j:16686/\notlp-grpc: http://o:4317/\n\
                    otlp-http: http://o:4318/\nlog-store: http://l:9428/\n\
                    log-store-kind: victorialogs\n";
        let parsed: StackUrls = yaml_serde::from_str(text).expect("parses");
        assert_eq!(parsed.log_store_kind, LogStoreKind::Victorialogs);
        let stack = ExternalStack::new(parsed);
        assert!(stack.describe().contains("VictoriaLogs"));
    }
}
