//! Finds the observability stack's Services in a namespace and port-forwards to them through
//! the Kubernetes API (no kubectl), so the observe clients can use plain loopback base URLs.
//!
//! - [`classify`] (pure) picks at most one Service per [`Component`]: by the well-known
//!   labels `app.kubernetes.io/name` or `app` (score 3), then by exact name (2), then by a
//!   name containing the component (1, skipping exporters, operators, headless and
//!   memberlist Services and the like), and on it the port with the component's well-known
//!   number (9090, 9093, 16686, 3100, 9428, 3000) or name.
//! - [`resolve`] lists the Service's pods, picks a running and ready one (what `kubectl
//!   port-forward svc/…` does) and resolves the port to the pod's container port.
//! - [`PortForwards`] binds one `127.0.0.1:0` listener per Service; each accepted connection
//!   opens its own `pods/portforward` WebSocket stream (`Api::<Pod>::portforward`). Connections
//!   per Service are capped, and every task (listener, connection, stream) is owned and
//!   aborted when the `PortForwards` is dropped.
//!
//! Discovery only reads and forwards, so it does not require the chaos opt-in label.
//! API: <https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/#get-connect-portforward-pod-v1-core>.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, Service, ServicePort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Api;
use kube::core::ObjectList;
use reqwest::Url;
use serde::Serialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::api::{ApiCall, ApiError, Name, Selector};

/// A backend gauntlet observes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Component {
    Prometheus,
    Alertmanager,
    Jaeger,
    Loki,
    VictoriaLogs,
    Grafana,
}

/// Words that mark a Service as a sidecar of a component rather than its API, when matching
/// by name only.
const NOT_THE_API: &[&str] = &[
    "exporter",
    "operator",
    "pushgateway",
    "adapter",
    "headless",
    "memberlist",
    "canary",
    "collector",
    "agent",
    "webhook",
    "discovery",
    "kube-state",
];

impl Component {
    /// Every component, in a stable order.
    pub const ALL: [Component; 6] = [
        Component::Prometheus,
        Component::Alertmanager,
        Component::Jaeger,
        Component::Loki,
        Component::VictoriaLogs,
        Component::Grafana,
    ];

    /// The kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            Component::Prometheus => "prometheus",
            Component::Alertmanager => "alertmanager",
            Component::Jaeger => "jaeger",
            Component::Loki => "loki",
            Component::VictoriaLogs => "victorialogs",
            Component::Grafana => "grafana",
        }
    }

    /// Values of `app.kubernetes.io/name` / `app` that identify the component.
    fn label_values(self) -> &'static [&'static str] {
        match self {
            Component::Prometheus => &["prometheus", "prometheus-server"],
            Component::Alertmanager => &["alertmanager"],
            Component::Jaeger => &["jaeger", "jaeger-query", "jaeger-all-in-one"],
            Component::Loki => &["loki"],
            Component::VictoriaLogs => &["victoria-logs", "victorialogs", "victoria-logs-single"],
            Component::Grafana => &["grafana"],
        }
    }

    /// Substrings of a Service name that identify the component.
    fn name_hints(self) -> &'static [&'static str] {
        match self {
            Component::VictoriaLogs => &["victoria-logs", "victorialogs", "vlogs"],
            other => std::slice::from_ref(&other.label_values()[0]),
        }
    }

    /// Well-known API port numbers and port names.
    fn ports(self) -> (&'static [i32], &'static [&'static str]) {
        match self {
            Component::Prometheus => (&[9090], &["web", "http-web", "http"]),
            Component::Alertmanager => (&[9093], &["web", "http-web", "http"]),
            Component::Jaeger => (&[16686], &["query", "http-query", "query-http"]),
            Component::Loki => (&[3100], &["http-metrics", "http"]),
            Component::VictoriaLogs => (&[9428], &["http"]),
            Component::Grafana => (&[3000, 80], &["http-web", "service", "http", "grafana"]),
        }
    }
}

/// Where a Service sends its traffic in the pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum TargetPort {
    Number(u16),
    Named(String),
}

/// A Service picked for a component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiscoveredService {
    pub component: Component,
    pub service: String,
    /// The Service's pod selector.
    pub selector: Selector,
    pub service_port: u16,
    pub target_port: TargetPort,
    /// 3 = by label, 2 = exact name, 1 = name contains the component.
    pub score: u8,
}

fn score(component: Component, svc: &Service) -> u8 {
    let labels = svc.metadata.labels.as_ref();
    let label_match = ["app.kubernetes.io/name", "app"].iter().any(|key| {
        labels
            .and_then(|l| l.get(*key))
            .is_some_and(|v| component.label_values().contains(&v.as_str()))
    });
    if label_match {
        return 3;
    }
    let name = svc.metadata.name.as_deref().unwrap_or_default();
    if component.label_values().contains(&name) {
        return 2;
    }
    let hinted = component.name_hints().iter().any(|h| name.contains(h));
    if hinted && !NOT_THE_API.iter().any(|w| name.contains(w)) {
        return 1;
    }
    0
}

fn pick_port(component: Component, ports: &[ServicePort]) -> Option<&ServicePort> {
    let (numbers, names) = component.ports();
    let target_number = |p: &ServicePort| match &p.target_port {
        Some(IntOrString::Int(n)) => Some(*n),
        _ => None,
    };
    ports
        .iter()
        .find(|p| {
            numbers.contains(&p.port) || target_number(p).is_some_and(|n| numbers.contains(&n))
        })
        .or_else(|| {
            ports
                .iter()
                .find(|p| p.name.as_deref().is_some_and(|n| names.contains(&n)))
        })
        .or_else(|| (ports.len() == 1).then(|| &ports[0]))
}

/// Picks at most one Service per component (pure). Services without a selector (nothing to
/// forward to) or without a usable port are skipped; ties go to the Service with a cluster
/// IP, then to the first name in order.
pub fn classify(services: &[Service]) -> Vec<DiscoveredService> {
    let mut found = Vec::new();
    for component in Component::ALL {
        let mut candidates: Vec<(u8, bool, &str, DiscoveredService)> = Vec::new();
        for svc in services {
            let s = score(component, svc);
            if s == 0 {
                continue;
            }
            let Some(spec) = &svc.spec else { continue };
            let Some(selector) = spec.selector.clone().filter(|s| !s.is_empty()) else {
                continue;
            };
            let ports = spec.ports.as_deref().unwrap_or_default();
            let Some(port) = pick_port(component, ports) else {
                continue;
            };
            let Ok(service_port) = u16::try_from(port.port) else {
                continue;
            };
            let target_port = match &port.target_port {
                None => TargetPort::Number(service_port),
                Some(IntOrString::Int(n)) => match u16::try_from(*n) {
                    Ok(n) => TargetPort::Number(n),
                    Err(_) => continue,
                },
                Some(IntOrString::String(name)) => TargetPort::Named(name.clone()),
            };
            let headless = spec.cluster_ip.as_deref() == Some("None");
            let name = svc.metadata.name.as_deref().unwrap_or_default();
            candidates.push((
                s,
                headless,
                name,
                DiscoveredService {
                    component,
                    service: name.to_owned(),
                    selector: Selector::from_labels(selector),
                    service_port,
                    target_port,
                    score: s,
                },
            ));
        }
        candidates.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(b.2)));
        if let Some((_, _, _, d)) = candidates.into_iter().next() {
            found.push(d);
        }
    }
    found
}

/// One Service reachable through a pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForwardTarget {
    pub component: Component,
    pub service: String,
    pub pod: Name,
    /// The container port in the pod.
    pub port: u16,
}

/// Why discovery or forwarding failed.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("service {service}: no running and ready pod matches {selector}")]
    NoReadyPod { service: String, selector: String },
    #[error("service {service}: no container port named {port} in pod {pod}")]
    NamedPort {
        service: String,
        pod: String,
        port: String,
    },
    #[error("cannot listen on 127.0.0.1 for {component:?}")]
    Listen {
        component: Component,
        #[source]
        source: std::io::Error,
    },
}

fn is_ready(pod: &Pod) -> bool {
    let Some(status) = &pod.status else {
        return false;
    };
    status.phase.as_deref() == Some("Running")
        && status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// Picks a ready pod of `d` (first by name) and resolves its target port (pure).
pub fn pick_pod(d: &DiscoveredService, pods: &[Pod]) -> Result<ForwardTarget, DiscoverError> {
    let mut ready: Vec<&Pod> = pods.iter().filter(|p| is_ready(p)).collect();
    ready.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let pod = ready
        .iter()
        .find_map(|p| {
            let name = Name::parse("pod", p.metadata.name.as_deref()?).ok()?;
            Some((name, *p))
        })
        .ok_or_else(|| DiscoverError::NoReadyPod {
            service: d.service.clone(),
            selector: d.selector.to_string(),
        })?;
    let port = match &d.target_port {
        TargetPort::Number(n) => *n,
        TargetPort::Named(port_name) => pod
            .1
            .spec
            .iter()
            .flat_map(|s| &s.containers)
            .flat_map(|c| c.ports.iter().flatten())
            .find(|p| p.name.as_deref() == Some(port_name))
            .and_then(|p| u16::try_from(p.container_port).ok())
            .ok_or_else(|| DiscoverError::NamedPort {
                service: d.service.clone(),
                pod: pod.0.to_string(),
                port: port_name.clone(),
            })?,
    };
    Ok(ForwardTarget {
        component: d.component,
        service: d.service.clone(),
        pod: pod.0,
        port,
    })
}

/// Lists the Services of `namespace` and classifies them.
pub async fn discover(
    client: &kube::Client,
    namespace: &Name,
) -> Result<Vec<DiscoveredService>, DiscoverError> {
    let services: ObjectList<Service> = ApiCall::list_services(namespace).send(client).await?;
    Ok(classify(&services.items))
}

/// Finds a ready pod behind `d`.
pub async fn resolve(
    client: &kube::Client,
    namespace: &Name,
    d: &DiscoveredService,
) -> Result<ForwardTarget, DiscoverError> {
    let pods: ObjectList<Pod> = ApiCall::list_pods(namespace, &d.selector.to_string())
        .send(client)
        .await?;
    pick_pod(d, &pods.items)
}

/// Bounds on forwarded connections.
#[derive(Debug, Clone, Copy)]
pub struct ForwardLimits {
    /// Connections forwarded at once per Service; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// Time to open one portforward stream.
    pub connect_timeout: Duration,
}

impl Default for ForwardLimits {
    fn default() -> Self {
        ForwardLimits {
            max_connections: 32,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// Aborts its task when dropped.
#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One forwarded Service.
#[derive(Debug)]
pub struct Forward {
    pub target: ForwardTarget,
    /// The local listener.
    pub local: SocketAddr,
    /// `http://127.0.0.1:<port>/`, for the observe clients.
    pub url: Url,
    _task: AbortOnDrop,
}

/// Local listeners forwarding to Services in the cluster; dropping it stops every listener,
/// connection and portforward stream.
#[derive(Debug, Default)]
pub struct PortForwards {
    forwards: Vec<Forward>,
}

impl PortForwards {
    /// Binds one `127.0.0.1:0` listener per target and starts forwarding.
    pub async fn start(
        client: &kube::Client,
        namespace: &Name,
        targets: Vec<ForwardTarget>,
        limits: ForwardLimits,
    ) -> Result<Self, DiscoverError> {
        let mut forwards = Vec::new();
        for target in targets {
            let listener =
                TcpListener::bind("127.0.0.1:0")
                    .await
                    .map_err(|source| DiscoverError::Listen {
                        component: target.component,
                        source,
                    })?;
            let local = listener
                .local_addr()
                .map_err(|source| DiscoverError::Listen {
                    component: target.component,
                    source,
                })?;
            let url =
                Url::parse(&format!("http://{local}/")).expect("a socket address is a valid host");
            let pods: Api<Pod> = Api::namespaced(client.clone(), namespace.as_str());
            tracing::info!(component = target.component.name(), service = %target.service, pod = %target.pod, port = target.port, %url, "port-forward started");
            let task = tokio::spawn(serve(listener, pods, target.clone(), limits));
            forwards.push(Forward {
                target,
                local,
                url,
                _task: AbortOnDrop(task),
            });
        }
        Ok(PortForwards { forwards })
    }

    /// Discovers the stack in `namespace`, resolves a ready pod for each component found, and
    /// forwards to them. Components whose pods cannot be resolved are returned apart.
    pub async fn discover_and_start(
        client: &kube::Client,
        namespace: &Name,
        limits: ForwardLimits,
    ) -> Result<(Self, Vec<(Component, DiscoverError)>), DiscoverError> {
        let mut targets = Vec::new();
        let mut problems = Vec::new();
        for d in discover(client, namespace).await? {
            match resolve(client, namespace, &d).await {
                Ok(t) => targets.push(t),
                Err(e) => {
                    tracing::warn!(component = d.component.name(), error = %e, "not forwarded");
                    problems.push((d.component, e));
                }
            }
        }
        Ok((
            Self::start(client, namespace, targets, limits).await?,
            problems,
        ))
    }

    /// The local base URL of a component.
    pub fn url(&self, component: Component) -> Option<&Url> {
        self.forwards
            .iter()
            .find(|f| f.target.component == component)
            .map(|f| &f.url)
    }

    /// Every component's local base URL.
    pub fn urls(&self) -> BTreeMap<Component, Url> {
        self.forwards
            .iter()
            .map(|f| (f.target.component, f.url.clone()))
            .collect()
    }

    /// The forwards.
    pub fn forwards(&self) -> &[Forward] {
        &self.forwards
    }
}

/// Accepts connections and forwards each through its own portforward stream.
async fn serve(
    listener: TcpListener,
    pods: Api<Pod>,
    target: ForwardTarget,
    limits: ForwardLimits,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        // Waiting for a permit before accepting leaves extra connections in the backlog.
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            return;
        };
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(error) => {
                tracing::warn!(%error, service = %target.service, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let pods = pods.clone();
        let target = target.clone();
        connections.spawn(async move {
            forward_one(&pods, &target, tcp, limits.connect_timeout).await;
            tracing::debug!(%peer, service = %target.service, "forwarded connection closed");
            drop(permit);
        });
    }
}

/// Owns a kube `Portforwarder` and aborts its background task when dropped.
struct StreamOwner(kube::api::Portforwarder);

impl Drop for StreamOwner {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn forward_one(
    pods: &Api<Pod>,
    target: &ForwardTarget,
    mut tcp: TcpStream,
    connect_timeout: Duration,
) {
    let opened = tokio::time::timeout(
        connect_timeout,
        pods.portforward(target.pod.as_str(), &[target.port]),
    )
    .await;
    let mut pf = match opened {
        Ok(Ok(pf)) => pf,
        Ok(Err(error)) => {
            tracing::warn!(%error, pod = %target.pod, port = target.port, "portforward failed");
            return;
        }
        Err(_) => {
            tracing::warn!(pod = %target.pod, port = target.port, timeout = ?connect_timeout, "portforward timed out");
            return;
        }
    };
    let (Some(mut upstream), Some(pod_error)) =
        (pf.take_stream(target.port), pf.take_error(target.port))
    else {
        return;
    };
    let _owner = StreamOwner(pf);
    tokio::select! {
        copied = tokio::io::copy_bidirectional(&mut tcp, &mut upstream) => {
            if let Err(error) = copied {
                tracing::debug!(%error, pod = %target.pod, "forwarded connection ended with an error");
            }
        }
        Some(message) = pod_error => {
            tracing::warn!(pod = %target.pod, port = target.port, %message, "pod reported a forwarding error");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(name: &str, labels: serde_json::Value, ports: serde_json::Value) -> Service {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": labels},
            "spec": {"selector": {"app": name}, "ports": ports, "clusterIP": "10.0.0.1"}
        }))
        .expect("service")
    }

    #[test]
    fn classify_prefers_labels_then_names_and_skips_sidecars() {
        let services = vec![
            svc(
                "prometheus-node-exporter",
                json!({"app.kubernetes.io/name": "prometheus-node-exporter"}),
                json!([{"port": 9100}]),
            ),
            svc(
                "kps-prometheus",
                json!({"app.kubernetes.io/name": "prometheus"}),
                json!([{"name": "http-web", "port": 9090, "targetPort": 9090}, {"name": "reloader", "port": 8080}]),
            ),
            svc("prometheus", json!({}), json!([{"port": 9090}])),
            svc(
                "alertmanager-main",
                json!({"app": "alertmanager"}),
                json!([{"name": "web", "port": 9093, "targetPort": "web"}]),
            ),
            svc("jaeger-collector", json!({}), json!([{"port": 14268}])),
            svc(
                "jaeger-query",
                json!({}),
                json!([{"name": "http-query", "port": 16686}, {"name": "grpc", "port": 16685}]),
            ),
            svc("loki-memberlist", json!({}), json!([{"port": 7946}])),
            svc(
                "victoria-logs-single-server",
                json!({}),
                json!([{"name": "http", "port": 9428}]),
            ),
            svc(
                "grafana",
                json!({"app.kubernetes.io/name": "grafana"}),
                json!([{"name": "service", "port": 80, "targetPort": 3000}]),
            ),
        ];
        let classified = classify(&services);
        let found: Vec<(Component, &str, u16, TargetPort, u8)> = classified
            .iter()
            .map(|d| {
                (
                    d.component,
                    d.service.as_str(),
                    d.service_port,
                    d.target_port.clone(),
                    d.score,
                )
            })
            .collect();
        assert_eq!(
            found,
            [
                (
                    Component::Prometheus,
                    "kps-prometheus",
                    9090,
                    TargetPort::Number(9090),
                    3
                ),
                (
                    Component::Alertmanager,
                    "alertmanager-main",
                    9093,
                    TargetPort::Named("web".into()),
                    3
                ),
                (
                    Component::Jaeger,
                    "jaeger-query",
                    16686,
                    TargetPort::Number(16686),
                    2
                ),
                (
                    Component::VictoriaLogs,
                    "victoria-logs-single-server",
                    9428,
                    TargetPort::Number(9428),
                    1
                ),
                (
                    Component::Grafana,
                    "grafana",
                    80,
                    TargetPort::Number(3000),
                    3
                ),
            ]
        );
        // No loki: only its memberlist Service exists.
        assert!(classified.iter().all(|d| d.component != Component::Loki));
    }

    #[test]
    fn services_without_selector_or_port_are_skipped() {
        let mut no_selector = svc("prometheus", json!({}), json!([{"port": 9090}]));
        if let Some(spec) = no_selector.spec.as_mut() {
            spec.selector = None;
        }
        let no_port = svc("loki", json!({}), json!([{"port": 1}, {"port": 2}]));
        assert!(classify(&[no_selector, no_port]).is_empty());
    }

    fn pod(name: &str, phase: &str, ready: bool) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "ports": [{"name": "web", "containerPort": 9093}]}]},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
        }))
        .expect("pod")
    }

    #[test]
    fn pick_pod_takes_a_ready_one_and_resolves_named_ports() {
        let d = classify(&[svc(
            "alertmanager",
            json!({}),
            json!([{"name": "web", "port": 9093, "targetPort": "web"}]),
        )])
        .pop()
        .expect("found");
        let t = pick_pod(
            &d,
            &[
                pod("am-2", "Running", false),
                pod("am-1", "Running", true),
                pod("am-0", "Pending", false),
            ],
        )
        .expect("ready pod");
        assert_eq!((t.pod.as_str(), t.port), ("am-1", 9093));
        let err = pick_pod(&d, &[pod("am-0", "Running", false)]).expect_err("none ready");
        assert_eq!(
            err.to_string(),
            "service alertmanager: no running and ready pod matches app=alertmanager"
        );
        let mut named = d.clone();
        named.target_port = TargetPort::Named("metrics".into());
        assert!(matches!(
            pick_pod(&named, &[pod("am-1", "Running", true)]),
            Err(DiscoverError::NamedPort { .. })
        ));
    }
}
