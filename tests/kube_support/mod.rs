//! A fake Kubernetes API server whose effects are real local ones, for end-to-end tests of
//! Kubernetes mode (`src/cluster/`): a plain HTTP/1.1 server on `127.0.0.1:0` that a real
//! `kube::Client` (or a `gauntlet` subprocess through [`FakeCluster::write_kubeconfig`])
//! talks to.
//!
//! - Namespaces, Services, Deployments/StatefulSets and their pods come from a [`Spec`]; every
//!   request is recorded as [`Seen`] (method, path with query, content type, JSON body).
//! - `pods/portforward` WebSocket upgrades (`v4.channel.k8s.io`) on a Service's pod are
//!   bridged over TCP to that Service's local `backend`, one TCP connection per stream.
//! - Scale PATCHes, pod deletions and rollout restarts call the workload's callbacks, which
//!   can stop and start real processes ([`LocalProcess`], in [`process`]).
//! - Jobs ([`jobs`]) run their container `command` as local processes (`gauntlet` replaced by
//!   [`Spec::gauntlet_exe`]), one per completion index with `JOB_COMPLETION_INDEX`; their
//!   stdout and stderr lines are the pod logs; the Job status follows the processes.
//!
//! Answers mimic the API server's: `metav1.Status` bodies for errors (404 NotFound, 409
//! AlreadyExists, 422 Invalid, 415), 201 on create, list kinds with `items`. Dropping the
//! [`FakeCluster`] stops the server, every connection and forward, and kills every process it
//! spawned. API reference: <https://kubernetes.io/docs/reference/kubernetes-api/>.
//!
//! The server and the callbacks run on the test's tokio runtime: a test that runs a
//! `gauntlet` subprocess against the fake must wait for it with `tokio::process` (or use a
//! multi-thread runtime), never a blocking `std::process` wait, or the fake cannot answer.
//!
//! The server ([`server`]) is hand-rolled (request head + `Content-Length` body, keep-alive) rather than
//! axum because the portforward upgrade needs the raw socket, which axum hands out only with
//! its `ws` feature.

#![allow(dead_code, reason = "each test crate uses a different subset")]

mod jobs;
mod process;
mod server;

#[allow(unused_imports, reason = "each test crate uses a different subset")]
pub use process::LocalProcess;
#[allow(unused_imports, reason = "each test crate uses a different subset")]
pub use server::bridge_portforward;

/// The tower-test mock and its builders, included here so a test crate that uses both fakes
/// declares `kube_support` only.
#[path = "../cluster_support/mod.rs"]
pub mod cluster_support;

pub use cluster_support::Seen;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use jobs::{JobState, job_pod};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// The opt-in label gauntlet requires on namespaces, workloads and pods.
pub const OPT_IN: (&str, &str) = ("gauntlet.io/chaos", "enabled");

/// Upper bounds that keep every loop and buffer finite.
const MAX_HEAD_BYTES: usize = 64 * 1024;
const MAX_HEADERS: usize = 100;
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
const MAX_REQUESTS_PER_CONNECTION: usize = 100_000;
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
const MAX_LOG_BYTES: usize = 16 * 1024 * 1024;
const MAX_LOG_LINE: u64 = 1024 * 1024;
const MAX_JOB_PROCESSES: i64 = 32;

/// What the fake cluster holds at start.
#[derive(Default)]
pub struct Spec {
    /// Namespace name and labels (opt in with [`OPT_IN`]).
    pub namespaces: Vec<(String, BTreeMap<String, String>)>,
    pub services: Vec<FakeService>,
    pub workloads: Vec<FakeWorkload>,
    /// For Jobs: the local gauntlet binary that replaces the image's `gauntlet` command.
    pub gauntlet_exe: Option<PathBuf>,
}

/// A Service with one ready pod whose port-forward reaches `backend`.
#[derive(Debug, Clone)]
pub struct FakeService {
    pub namespace: String,
    pub name: String,
    /// The Service's labels, also its selector and its pod's labels.
    pub labels: BTreeMap<String, String>,
    /// The Service port.
    pub port: u16,
    pub port_name: Option<String>,
    /// The container port (the Service's numeric `targetPort`, the portforward port).
    pub target_port: u16,
    /// Where that pod's port-forward connects.
    pub backend: SocketAddr,
}

impl FakeService {
    /// The name of the Service's single pod.
    pub fn pod_name(&self) -> String {
        format!("{}-fake-0", self.name)
    }
}

/// `on_scale` argument: the new replica count.
pub type OnScale = Arc<dyn Fn(i32) + Send + Sync>;
/// Called when the workload's pods are deleted (pod-kill) or restarted (rollout restart).
pub type OnPodsDeleted = Arc<dyn Fn() + Send + Sync>;

/// A Deployment or StatefulSet with `replicas` Running pods labelled `pod_labels`.
/// The callbacks run on the server's task, outside its lock: they must not block for long.
#[derive(Clone)]
pub struct FakeWorkload {
    pub namespace: String,
    /// `"deployment"` or `"statefulset"`.
    pub kind: String,
    pub name: String,
    /// The workload's own labels (opt in with [`OPT_IN`]).
    pub labels: BTreeMap<String, String>,
    /// Labels of its pods (pod-kill also needs [`OPT_IN`] here).
    pub pod_labels: BTreeMap<String, String>,
    pub replicas: i32,
    /// Called with the new replica count on a scale PATCH.
    pub on_scale: OnScale,
    /// Called on pod deletion (pod-kill) and rollout restart.
    pub on_pods_deleted: OnPodsDeleted,
}

impl FakeWorkload {
    /// A workload whose callbacks do nothing.
    pub fn new(namespace: &str, kind: &str, name: &str, replicas: i32) -> Self {
        FakeWorkload {
            namespace: namespace.into(),
            kind: kind.into(),
            name: name.into(),
            labels: BTreeMap::new(),
            pod_labels: labels(&[("app", name)]),
            replicas,
            on_scale: Arc::new(|_| {}),
            on_pods_deleted: Arc::new(|| {}),
        }
    }

    fn resource(&self) -> &'static str {
        if self.kind == "statefulset" {
            "statefulsets"
        } else {
            "deployments"
        }
    }

    fn api_kind(&self) -> &'static str {
        if self.kind == "statefulset" {
            "StatefulSet"
        } else {
            "Deployment"
        }
    }
}

/// `[(k, v)]` as a label map.
pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// `labels` plus the opt-in label.
pub fn opted_in(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut l = labels(pairs);
    l.insert(OPT_IN.0.into(), OPT_IN.1.into());
    l
}

/// Aborts its task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A fake API server; dropping it stops the server, every connection and port-forward, and
/// kills every process it spawned.
pub struct FakeCluster {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    _server: AbortOnDrop,
}

impl Drop for FakeCluster {
    fn drop(&mut self) {
        // Connection tasks hold the state until their abort lands; kill the processes and
        // release the callbacks now.
        let (jobs, workloads) = {
            let mut s = lock(&self.state);
            (
                std::mem::take(&mut s.jobs),
                std::mem::take(&mut s.workloads),
            )
        };
        drop(jobs);
        drop(workloads);
    }
}

impl FakeCluster {
    /// Binds `127.0.0.1:0` and serves `spec`.
    pub async fn start(spec: Spec) -> FakeCluster {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(Mutex::new(State::new(spec)));
        let shared = Arc::clone(&state);
        let server = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                while connections.try_join_next().is_some() {}
                let Ok((tcp, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                connections.spawn(server::serve_connection(tcp, Arc::clone(&shared)));
            }
        });
        FakeCluster {
            addr,
            state,
            _server: AbortOnDrop(server),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Writes `dir/kubeconfig` with one context `fake` (server [`url`](Self::url), no
    /// auth, namespace `default`) and returns its path.
    pub fn write_kubeconfig(&self, dir: &Path) -> PathBuf {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\n\
             users:\n- name: fake\n  user: {{}}\ncontexts:\n- name: fake\n  context:\n    \
             cluster: fake\n    user: fake\n    namespace: default\ncurrent-context: fake\n",
            self.url()
        );
        std::fs::write(&path, text).expect("write kubeconfig");
        path
    }

    /// A client for this server.
    pub fn client(&self) -> kube::Client {
        let config = kube::Config::new(self.url().parse().expect("a url is a uri"));
        kube::Client::try_from(config).expect("client")
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Seen> {
        lock(&self.state).seen.clone()
    }

    /// Requests other than GET.
    pub fn mutating(&self) -> Vec<Seen> {
        self.requests()
            .into_iter()
            .filter(Seen::is_mutating)
            .collect()
    }

    /// Names of the NetworkPolicies that exist now (`namespace/name`).
    pub fn network_policies(&self) -> Vec<String> {
        lock(&self.state)
            .policies
            .keys()
            .map(|(ns, n)| format!("{ns}/{n}"))
            .collect()
    }

    /// Names of the Jobs that exist now (`namespace/name`).
    pub fn jobs(&self) -> Vec<String> {
        lock(&self.state)
            .jobs
            .keys()
            .map(|(ns, n)| format!("{ns}/{n}"))
            .collect()
    }

    /// A workload's replica count (`name` without the kind).
    pub fn replicas(&self, namespace: &str, name: &str) -> Option<i32> {
        lock(&self.state)
            .workloads
            .iter()
            .find(|w| w.spec.namespace == namespace && w.spec.name == name)
            .map(|w| w.replicas)
    }

    /// Process ids of every Job worker ever spawned, in spawn order.
    pub fn job_pids(&self) -> Vec<u32> {
        lock(&self.state).job_pids.clone()
    }
}

/// Whether process `pid` is alive (exists and is not a zombie), from `/proc`.
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X')),
        Err(_) => false,
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

// ---------------------------------------------------------------------------------------
// Cluster state

struct WorkloadState {
    spec: FakeWorkload,
    replicas: i32,
    /// Bumped when the pods are replaced, so Deployment pod names change like real ones.
    generation: u32,
    restarted_at: Option<String>,
}

impl WorkloadState {
    fn pod_names(&self) -> Vec<String> {
        (0..self.replicas.max(0))
            .map(|i| {
                if self.spec.kind == "statefulset" {
                    format!("{}-{i}", self.spec.name)
                } else {
                    format!("{}-g{}-{i}", self.spec.name, self.generation)
                }
            })
            .collect()
    }
}

struct State {
    namespaces: BTreeMap<String, BTreeMap<String, String>>,
    services: Vec<FakeService>,
    workloads: Vec<WorkloadState>,
    policies: BTreeMap<(String, String), Value>,
    jobs: BTreeMap<(String, String), JobState>,
    gauntlet_exe: Option<PathBuf>,
    seen: Vec<Seen>,
    job_pids: Vec<u32>,
    counter: u64,
}

impl State {
    fn new(spec: Spec) -> Self {
        State {
            namespaces: spec.namespaces.into_iter().collect(),
            services: spec.services,
            workloads: spec
                .workloads
                .into_iter()
                .map(|w| WorkloadState {
                    replicas: w.replicas,
                    spec: w,
                    generation: 1,
                    restarted_at: None,
                })
                .collect(),
            policies: BTreeMap::new(),
            jobs: BTreeMap::new(),
            gauntlet_exe: spec.gauntlet_exe,
            seen: Vec::new(),
            job_pids: Vec::new(),
            counter: 0,
        }
    }

    fn uid(&mut self) -> String {
        self.counter += 1;
        format!("00000000-0000-4000-8000-{:012x}", self.counter)
    }
}

// ---------------------------------------------------------------------------------------
// Answers

enum Reply {
    Json(u16, Value),
    Text(u16, String),
}

/// Side effects run after the state lock is released.
enum Effect {
    Scale(OnScale, i32),
    PodsDeleted(OnPodsDeleted),
}

fn status(code: u16, reason: &str, message: String) -> Reply {
    Reply::Json(
        code,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": message, "reason": reason, "code": code}),
    )
}

fn not_found(resource: &str, name: &str) -> Reply {
    status(404, "NotFound", format!("{resource} \"{name}\" not found"))
}

fn success(kind: &str, name: &str) -> Reply {
    Reply::Json(
        200,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
               "details": {"name": name, "kind": kind}}),
    )
}

fn list(kind: &str, api_version: &str, items: Vec<Value>) -> Reply {
    Reply::Json(
        200,
        json!({"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": "1"}, "items": items}),
    )
}

/// Percent-decoding of a form-encoded query value (`+` is a space).
fn decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |c: u8| char::from(c).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push(u8::try_from(h * 16 + l).expect("two hex digits fit a byte"));
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_params(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// An equality-based label selector; `None` for forms the fake does not support.
fn parse_selector(text: &str) -> Option<BTreeMap<String, String>> {
    let mut terms = BTreeMap::new();
    for term in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        if term.contains("!=") {
            return None;
        }
        let (k, v) = term.split_once("==").or_else(|| term.split_once('='))?;
        terms.insert(k.trim().to_owned(), v.trim().to_owned());
    }
    Some(terms)
}

fn matches(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn running_pod(
    ns: &str,
    name: &str,
    labels: &BTreeMap<String, String>,
    container: Value,
    phase: &str,
) -> Value {
    let ready = if phase == "Running" { "True" } else { "False" };
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"containers": [container]},
        "status": {"phase": phase, "podIP": "127.0.0.1", "hostIP": "127.0.0.1",
                   "conditions": [{"type": "Ready", "status": ready}, {"type": "ContainersReady", "status": ready}]}
    })
}

fn service_pod(s: &FakeService) -> Value {
    let mut port = json!({"containerPort": s.target_port, "protocol": "TCP"});
    if let Some(n) = &s.port_name {
        port["name"] = json!(n);
    }
    running_pod(
        &s.namespace,
        &s.pod_name(),
        &s.labels,
        json!({"name": s.name, "image": "fake", "ports": [port]}),
        "Running",
    )
}

fn service_object(s: &FakeService, index: usize) -> Value {
    let mut port = json!({"port": s.port, "targetPort": s.target_port, "protocol": "TCP"});
    if let Some(n) = &s.port_name {
        port["name"] = json!(n);
    }
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": s.name, "namespace": s.namespace, "labels": s.labels},
        "spec": {"selector": s.labels, "ports": [port], "type": "ClusterIP",
                 "clusterIP": format!("10.96.0.{}", index + 10)}
    })
}

fn workload_object(w: &WorkloadState) -> Value {
    let mut template_meta = json!({"labels": w.spec.pod_labels});
    if let Some(stamp) = &w.restarted_at {
        template_meta["annotations"] = json!({"kubectl.kubernetes.io/restartedAt": stamp});
    }
    json!({
        "apiVersion": "apps/v1", "kind": w.spec.api_kind(),
        "metadata": {"name": w.spec.name, "namespace": w.spec.namespace, "labels": w.spec.labels,
                     "generation": w.generation},
        "spec": {"replicas": w.replicas, "selector": {"matchLabels": w.spec.pod_labels},
                 "template": {"metadata": template_meta,
                              "spec": {"containers": [{"name": w.spec.name, "image": "fake"}]}}},
        "status": {"replicas": w.replicas, "readyReplicas": w.replicas, "availableReplicas": w.replicas}
    })
}

fn scale_object(w: &WorkloadState) -> Value {
    json!({
        "apiVersion": "autoscaling/v1", "kind": "Scale",
        "metadata": {"name": w.spec.name, "namespace": w.spec.namespace},
        "spec": {"replicas": w.replicas},
        "status": {"replicas": w.replicas}
    })
}

impl State {
    /// Every pod in `ns`: Service pods, workload pods, Job pods.
    fn pods(&mut self, ns: &str) -> Vec<(Value, Option<usize>)> {
        let mut pods: Vec<(Value, Option<usize>)> = self
            .services
            .iter()
            .filter(|s| s.namespace == ns)
            .map(|s| (service_pod(s), None))
            .collect();
        for (i, w) in self.workloads.iter().enumerate() {
            if w.spec.namespace != ns {
                continue;
            }
            let container = json!({"name": w.spec.name, "image": "fake"});
            for name in w.pod_names() {
                pods.push((
                    running_pod(ns, &name, &w.spec.pod_labels, container.clone(), "Running"),
                    Some(i),
                ));
            }
        }
        for ((jns, _), job) in self.jobs.iter_mut() {
            if jns != ns {
                continue;
            }
            job.reconcile();
            for w in &job.workers {
                pods.push((job_pod(ns, job, w), None));
            }
        }
        pods
    }

    fn handle(
        &mut self,
        seen: &Seen,
        query: &BTreeMap<String, String>,
        effects: &mut Vec<Effect>,
    ) -> Reply {
        let path = seen.path.split('?').next().unwrap_or_default();
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let method = seen.method.as_str();
        let ns_exists = |s: &Self, ns: &str| s.namespaces.contains_key(ns);
        match segments.as_slice() {
            ["api", "v1", "namespaces", ns] if method == "GET" => match self.namespaces.get(*ns) {
                Some(l) => {
                    let mut l = l.clone();
                    l.insert("kubernetes.io/metadata.name".into(), (*ns).into());
                    Reply::Json(
                        200,
                        json!({"apiVersion": "v1", "kind": "Namespace",
                               "metadata": {"name": ns, "labels": l}, "status": {"phase": "Active"}}),
                    )
                }
                None => not_found("namespaces", ns),
            },
            ["api", "v1", "namespaces", ns, "services"] if method == "GET" => {
                let items = self
                    .services
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.namespace == *ns)
                    .map(|(i, s)| service_object(s, i))
                    .collect();
                list("ServiceList", "v1", items)
            }
            ["api", "v1", "namespaces", ns, "pods"] if method == "GET" || method == "DELETE" => {
                let Some(selector) =
                    parse_selector(query.get("labelSelector").map_or("", String::as_str))
                else {
                    return status(400, "BadRequest", "unsupported label selector".to_owned());
                };
                let pods = self.pods(ns);
                let selected = pods.into_iter().filter(|(p, _)| {
                    let labels: BTreeMap<String, String> =
                        serde_json::from_value(p["metadata"]["labels"].clone()).unwrap_or_default();
                    matches(&selector, &labels)
                });
                if method == "GET" {
                    return list("PodList", "v1", selected.map(|(p, _)| p).collect());
                }
                // Delete collection: only workload pods go (their controller "recreates"
                // them under new names); Service and Job pods stay.
                let mut deleted = Vec::new();
                let mut touched = Vec::new();
                for (p, owner) in selected {
                    if let Some(i) = owner {
                        deleted.push(p);
                        if !touched.contains(&i) {
                            touched.push(i);
                        }
                    }
                }
                for i in touched {
                    let w = &mut self.workloads[i];
                    w.generation += 1;
                    effects.push(Effect::PodsDeleted(Arc::clone(&w.spec.on_pods_deleted)));
                }
                list("PodList", "v1", deleted)
            }
            ["api", "v1", "namespaces", ns, "pods", pod] if method == "GET" => self
                .pods(ns)
                .into_iter()
                .find(|(p, _)| p["metadata"]["name"] == *pod)
                .map_or_else(|| not_found("pods", pod), |(p, _)| Reply::Json(200, p)),
            ["api", "v1", "namespaces", ns, "pods", pod, "log"] if method == "GET" => {
                self.pod_log(ns, pod, query)
            }
            [
                "apis",
                "apps",
                "v1",
                "namespaces",
                ns,
                resource,
                name,
                rest @ ..,
            ] if rest.len() <= 1 && (*resource == "deployments" || *resource == "statefulsets") => {
                let Some(w) = self.workloads.iter_mut().find(|w| {
                    w.spec.namespace == *ns
                        && w.spec.name == *name
                        && w.spec.resource() == *resource
                }) else {
                    return not_found(&format!("{resource}.apps"), name);
                };
                let scale = rest == ["scale"];
                if !rest.is_empty() && !scale {
                    return not_found(&format!("{resource}.apps"), name);
                }
                match method {
                    "GET" if scale => Reply::Json(200, scale_object(w)),
                    "GET" => Reply::Json(200, workload_object(w)),
                    "PATCH" => {
                        if seen.content_type.as_deref() != Some("application/merge-patch+json") {
                            return status(
                                415,
                                "UnsupportedMediaType",
                                "the fake accepts only merge patches".to_owned(),
                            );
                        }
                        let body = seen.body.clone().unwrap_or(Value::Null);
                        let replicas = body.pointer("/spec/replicas");
                        if scale && replicas.and_then(Value::as_i64).is_none() {
                            return status(
                                422,
                                "Invalid",
                                "spec.replicas must be an integer".to_owned(),
                            );
                        }
                        if let Some(n) = replicas.and_then(Value::as_i64) {
                            let n = i32::try_from(n).unwrap_or(i32::MAX).max(0);
                            w.replicas = n;
                            effects.push(Effect::Scale(Arc::clone(&w.spec.on_scale), n));
                        }
                        if let Some(stamp) = body
                            .pointer("/spec/template/metadata/annotations")
                            .and_then(|a| a.get("kubectl.kubernetes.io/restartedAt"))
                            .and_then(Value::as_str)
                        {
                            w.restarted_at = Some(stamp.to_owned());
                            w.generation += 1;
                            effects.push(Effect::PodsDeleted(Arc::clone(&w.spec.on_pods_deleted)));
                        }
                        Reply::Json(
                            200,
                            if scale {
                                scale_object(w)
                            } else {
                                workload_object(w)
                            },
                        )
                    }
                    _ => status(405, "MethodNotAllowed", format!("{method} not allowed")),
                }
            }
            [
                "apis",
                "networking.k8s.io",
                "v1",
                "namespaces",
                ns,
                "networkpolicies",
            ] if method == "POST" => {
                if !ns_exists(self, ns) {
                    return not_found("namespaces", ns);
                }
                let mut body = seen.body.clone().unwrap_or(Value::Null);
                let Some(name) = body.pointer("/metadata/name").and_then(Value::as_str) else {
                    return status(422, "Invalid", "metadata.name: Required value".to_owned());
                };
                let key = ((*ns).to_owned(), name.to_owned());
                if self.policies.contains_key(&key) {
                    return status(
                        409,
                        "AlreadyExists",
                        format!("networkpolicies.networking.k8s.io \"{name}\" already exists"),
                    );
                }
                body["metadata"]["uid"] = json!(self.uid());
                body["metadata"]["namespace"] = json!(ns);
                self.policies.insert(key, body.clone());
                Reply::Json(201, body)
            }
            [
                "apis",
                "networking.k8s.io",
                "v1",
                "namespaces",
                ns,
                "networkpolicies",
                name,
            ] => {
                let key = ((*ns).to_owned(), (*name).to_owned());
                match method {
                    "GET" => self.policies.get(&key).map_or_else(
                        || not_found("networkpolicies.networking.k8s.io", name),
                        |p| Reply::Json(200, p.clone()),
                    ),
                    "DELETE" => match self.policies.remove(&key) {
                        Some(_) => success("networkpolicies", name),
                        None => not_found("networkpolicies.networking.k8s.io", name),
                    },
                    _ => status(405, "MethodNotAllowed", format!("{method} not allowed")),
                }
            }
            ["apis", "batch", "v1", "namespaces", ns, "jobs"] if method == "POST" => {
                self.create_job(ns, seen)
            }
            ["apis", "batch", "v1", "namespaces", ns, "jobs", name] => {
                let key = ((*ns).to_owned(), (*name).to_owned());
                match method {
                    "GET" => match self.jobs.get_mut(&key) {
                        Some(job) => {
                            let mut object = job.object.clone();
                            object["status"] = job.status();
                            Reply::Json(200, object)
                        }
                        None => not_found("jobs.batch", name),
                    },
                    // Dropping the Job aborts its workers' tasks, which kills the processes.
                    "DELETE" => match self.jobs.remove(&key) {
                        Some(_) => success("jobs", name),
                        None => not_found("jobs.batch", name),
                    },
                    _ => status(405, "MethodNotAllowed", format!("{method} not allowed")),
                }
            }
            _ => status(
                404,
                "NotFound",
                format!("the server could not find the requested resource ({method} {path})"),
            ),
        }
    }
}
