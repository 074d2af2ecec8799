//! Stacks gauntlet does not start: `provider: external` (URLs from the scenario) and
//! `provider: kubernetes` (Services discovered in the cluster and reached through the
//! port-forward API). Either way the runner only needs to know where each backend answers;
//! a backend that is not there makes the checks that need it skipped, with the reason.

use std::collections::BTreeMap;

use reqwest::Url;

use crate::cluster::{self, Component as KubeComponent, ForwardLimits, KubeFaults, PortForwards};
use crate::observe::WebhookSink;
use crate::observe::webhook::{KEEP_NOTIFICATIONS, WebhookToken};
use crate::report::{Component, ComponentKind};
use crate::scenario::Scenario;
use crate::stack::{LogStoreKind, StackUrls};

/// Where the runner reads from and writes to; only Prometheus is required.
#[derive(Debug, Clone)]
pub struct Backends {
    pub prometheus: Url,
    pub alertmanager: Option<Url>,
    pub jaeger_query: Option<Url>,
    pub log_store: Option<(Url, LogStoreKind)>,
    /// OTLP/HTTP base of the collector (services and the overhead benchmark export there).
    pub otlp_http: Option<Url>,
    pub grafana: Option<Url>,
}

impl From<&StackUrls> for Backends {
    fn from(urls: &StackUrls) -> Self {
        Backends {
            prometheus: urls.prometheus.clone(),
            alertmanager: Some(urls.alertmanager.clone()),
            jaeger_query: Some(urls.jaeger_query.clone()),
            log_store: Some((urls.log_store.clone(), urls.log_store_kind)),
            otlp_http: Some(urls.otlp_http.clone()),
            grafana: urls.grafana.clone(),
        }
    }
}

/// Attaching to a stack failed before anything ran.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error("stack.urls.{component}: {url:?} is not a valid URL: {reason}")]
    Url {
        component: String,
        /// Redacted (`crate::redact::url`).
        url: String,
        reason: String,
    },
    #[error("no Prometheus to observe: {0}")]
    NoPrometheus(String),
    #[error("{what} is not a valid Kubernetes name")]
    Name {
        what: String,
        #[source]
        source: cluster::api::InvalidName,
    },
    #[error("cannot accept Alertmanager webhooks on `stack.webhook-listen`")]
    WebhookToken(#[source] crate::observe::webhook::TokenError),
    #[error("cannot listen for Alertmanager webhooks on {addr}")]
    Webhook {
        addr: std::net::SocketAddr,
        #[source]
        source: crate::observe::ServeError,
    },
    #[error("cannot reach the Kubernetes API")]
    Connect(#[source] cluster::ApiError),
    #[error("cannot discover the observability stack in namespace {namespace}")]
    Discover {
        namespace: String,
        #[source]
        source: cluster::discover::DiscoverError,
    },
}

/// The webhook sink for `stack.webhook-listen`: an Alertmanager gauntlet does not configure
/// notifies it, so its owner must put the token from `GAUNTLET_WEBHOOK_TOKEN` in the receiver
/// URLs (`http://IP:PORT/hook/<token>/<receiver>`); requests without it are refused.
pub async fn webhook_sink(addr: std::net::SocketAddr) -> Result<WebhookSink, AttachError> {
    let token = WebhookToken::from_env().map_err(AttachError::WebhookToken)?;
    WebhookSink::bind_with(addr, token, KEEP_NOTIFICATIONS)
        .await
        .map_err(|source| AttachError::Webhook { addr, source })
}

/// Parses `stack.urls` (validated to be http(s) by `gauntlet check`).
fn scenario_urls(scenario: &Scenario) -> Result<BTreeMap<String, Url>, AttachError> {
    scenario
        .stack
        .urls
        .iter()
        .map(|(component, url)| {
            Url::parse(url)
                .map(|u| (component.clone(), u))
                .map_err(|e| AttachError::Url {
                    component: component.clone(),
                    // Credentials in the URL must not reach the error (and the report).
                    url: crate::redact::url(url),
                    reason: e.to_string(),
                })
        })
        .collect()
}

/// Fills the backends from `urls` keys (`prometheus`, `alertmanager`, `jaeger`, `collector`,
/// `log-store`/`loki`, `victorialogs`, `grafana`); keys already set by discovery are
/// overridden.
fn apply_urls(
    mut prometheus: Option<Url>,
    mut rest: Backends,
    urls: &BTreeMap<String, Url>,
) -> Result<Backends, AttachError> {
    for (component, url) in urls {
        let url = Some(url.clone());
        match component.as_str() {
            "prometheus" => prometheus = url,
            "alertmanager" => rest.alertmanager = url,
            "jaeger" => rest.jaeger_query = url,
            "collector" => rest.otlp_http = url,
            // The key names the query language: LogQL for Loki, LogsQL for VictoriaLogs.
            // `log-store` predates VictoriaLogs support and keeps meaning Loki.
            "log-store" | "loki" => rest.log_store = url.map(|u| (u, LogStoreKind::Loki)),
            "victorialogs" => rest.log_store = url.map(|u| (u, LogStoreKind::Victorialogs)),
            "grafana" => rest.grafana = url,
            _ => {}
        }
    }
    rest.prometheus = prometheus.ok_or_else(|| {
        AttachError::NoPrometheus(
            "give `stack.urls.prometheus`, or run Prometheus where it can be discovered".into(),
        )
    })?;
    Ok(rest)
}

fn placeholder() -> Url {
    Url::parse("http://127.0.0.1/").expect("a literal URL")
}

fn empty_backends() -> Backends {
    Backends {
        prometheus: placeholder(),
        alertmanager: None,
        jaeger_query: None,
        log_store: None,
        otlp_http: None,
        grafana: None,
    }
}

/// `provider: external`: the URLs in the scenario.
pub fn external(scenario: &Scenario) -> Result<(Backends, Vec<Component>), AttachError> {
    let backends = apply_urls(None, empty_backends(), &scenario_urls(scenario)?)?;
    let components = scenario
        .stack
        .urls
        .iter()
        .map(|(name, url)| Component {
            name: name.clone(),
            version: None,
            real: true,
            kind: ComponentKind::External,
            note: Some(format!("external at {}", crate::redact::url(url))),
        })
        .collect();
    Ok((backends, components))
}

/// A cluster the runner observes through port-forwards and injects faults into.
pub struct KubeStack {
    pub client: kube::Client,
    pub faults: KubeFaults,
    pub backends: Backends,
    pub components: Vec<Component>,
    /// Closed (listeners, connections and streams) when dropped.
    forwards: PortForwards,
}

impl std::fmt::Debug for KubeStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeStack")
            .field("backends", &self.backends)
            .field("forwards", &self.forwards.forwards().len())
            .finish_non_exhaustive()
    }
}

impl KubeStack {
    /// Connects with the scenario's kubeconfig context, discovers the observability Services
    /// in `observe-namespace` (default `namespace`) and port-forwards to each. `stack.urls`
    /// entries replace discovered components.
    pub async fn attach(scenario: &Scenario) -> Result<Self, AttachError> {
        let stack = &scenario.stack;
        let client = cluster::connect(stack.context.as_deref())
            .await
            .map_err(AttachError::Connect)?;
        let namespace = stack.namespace.clone().unwrap_or_default();
        let observe_ns = stack
            .observe_namespace
            .clone()
            .unwrap_or_else(|| namespace.clone());
        let observe = cluster::Name::parse("observe-namespace", &observe_ns).map_err(|source| {
            AttachError::Name {
                what: format!("observe-namespace {observe_ns:?}"),
                source,
            }
        })?;
        let (forwards, problems) =
            PortForwards::discover_and_start(&client, &observe, ForwardLimits::default())
                .await
                .map_err(|source| AttachError::Discover {
                    namespace: observe_ns.clone(),
                    source,
                })?;
        let urls = forwards.urls();
        let found = |c: KubeComponent| urls.get(&c).cloned();
        let discovered = Backends {
            prometheus: placeholder(),
            alertmanager: found(KubeComponent::Alertmanager),
            jaeger_query: found(KubeComponent::Jaeger),
            log_store: found(KubeComponent::Loki)
                .map(|u| (u, LogStoreKind::Loki))
                .or_else(|| {
                    found(KubeComponent::VictoriaLogs).map(|u| (u, LogStoreKind::Victorialogs))
                }),
            otlp_http: None,
            grafana: found(KubeComponent::Grafana),
        };
        let backends = apply_urls(
            found(KubeComponent::Prometheus),
            discovered,
            &scenario_urls(scenario)?,
        )
        .map_err(|e| match e {
            AttachError::NoPrometheus(_) => AttachError::NoPrometheus(format!(
                "no Prometheus Service found in namespace {observe_ns} (label app.kubernetes.io/name=prometheus, or a name containing prometheus){}",
                problems
                    .iter()
                    .find(|(c, _)| *c == KubeComponent::Prometheus)
                    .map(|(_, p)| format!(": {p}"))
                    .unwrap_or_default()
            )),
            other => other,
        })?;
        let mut components: Vec<Component> = forwards
            .forwards()
            .iter()
            .map(|f| Component {
                name: f.target.component.name().to_string(),
                version: None,
                real: true,
                kind: ComponentKind::External,
                note: Some(format!(
                    "Kubernetes service {observe_ns}/{} via port-forward to pod {} port {}",
                    f.target.service, f.target.pod, f.target.port
                )),
            })
            .collect();
        for (component, problem) in &problems {
            components.push(Component {
                name: component.name().to_string(),
                version: None,
                real: true,
                kind: ComponentKind::External,
                note: Some(format!("found but not reachable: {problem}")),
            });
        }
        let faults = KubeFaults::new(client.clone(), stack.namespace.clone());
        Ok(KubeStack {
            client,
            faults,
            backends,
            components,
            forwards,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("test url")
    }

    #[test]
    fn urls_fill_and_override_backends() {
        let urls: BTreeMap<String, Url> = [
            ("prometheus", "http://127.0.0.1:9090/"),
            ("jaeger", "http://127.0.0.1:16686/"),
            ("loki", "http://127.0.0.1:3100/"),
            ("collector", "http://127.0.0.1:4318/"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), url(v)))
        .collect();
        let discovered = Backends {
            alertmanager: Some(url("http://127.0.0.1:1/")),
            jaeger_query: Some(url("http://127.0.0.1:2/")),
            ..empty_backends()
        };
        let b = apply_urls(Some(url("http://127.0.0.1:3/")), discovered, &urls).expect("ok");
        assert_eq!(b.prometheus.as_str(), "http://127.0.0.1:9090/");
        assert_eq!(
            b.alertmanager.as_ref().map(Url::as_str),
            Some("http://127.0.0.1:1/")
        );
        assert_eq!(
            b.jaeger_query.as_ref().map(Url::as_str),
            Some("http://127.0.0.1:16686/")
        );
        assert_eq!(
            b.log_store.as_ref().map(|(u, k)| (u.as_str(), *k)),
            Some(("http://127.0.0.1:3100/", LogStoreKind::Loki))
        );
        assert_eq!(
            b.otlp_http.as_ref().map(Url::as_str),
            Some("http://127.0.0.1:4318/")
        );
        assert!(b.grafana.is_none());
    }

    #[test]
    fn victorialogs_key_selects_the_logsql_client() {
        let urls: BTreeMap<String, Url> = [
            ("prometheus", "http://127.0.0.1:9090/"),
            ("victorialogs", "http://127.0.0.1:9428/"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), url(v)))
        .collect();
        let b = apply_urls(None, empty_backends(), &urls).expect("ok");
        assert_eq!(
            b.log_store.as_ref().map(|(u, k)| (u.as_str(), *k)),
            Some(("http://127.0.0.1:9428/", LogStoreKind::Victorialogs))
        );
    }

    #[test]
    fn prometheus_is_required() {
        let err = apply_urls(None, empty_backends(), &BTreeMap::new()).expect_err("required");
        assert!(matches!(err, AttachError::NoPrometheus(_)), "{err}");
    }
}
