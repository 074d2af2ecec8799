//! Kubernetes tests against a real control plane: the [`LocalControlPlane`] (real etcd,
//! kube-apiserver with RBAC, kube-controller-manager, kube-scheduler, and kwok standing in
//! for the kubelet of one fake node), `deploy/rbac.yaml` applied as written, and gauntlet
//! talking to it as the `gauntlet` ServiceAccount with a real token.
//!
//! Real: every API request and its answer (admission, validation, RBAC, 404/409 Status),
//! the Deployment, ReplicaSet and Job controllers that recreate, scale and restart pods and
//! run Jobs (completions, `activeDeadlineSeconds`), the scheduler, and the apiserver's
//! `pods/log` and `pods/portforward` protocols proxied to the node.
//!
//! [`Cluster::start_real_kubelet`] replaces kwok and the process kubelet with a real node
//! (containerd and a kubelet; `gauntlet::cluster::local::node`): pods are real containers
//! of the image made from this test's `gauntlet` binary, in the host's network namespace,
//! and a port-forward reaches the pod's port through the kubelet and containerd.
//!
//! Simulated with kwok ([`Cluster::start`]), and only this:
//! - kwok runs no containers: it marks scheduled pods Running and Ready with a fake IP.
//! - [`ProcessKubelet`] runs the container's command as a local process for each Running pod
//!   whose command starts with `gauntlet`, writes its output as the pod's log (CRI format,
//!   served by kwok through a kwok `Logs` object), marks the pod Succeeded or Failed on exit
//!   (a `pods/status` patch, as a kubelet does) and kills it when the pod is deleted.
//! - A pod's port-forward reaches a local address named in a kwok `PortForward` object
//!   ([`Cluster::observed_service`]), not a container.
//! - No CNI: NetworkPolicies are stored and validated but not enforced.
//!
//! Without the control plane's binaries the tests report "skipped" with the reason, and fail
//! under `GAUNTLET_REQUIRE_STACK=1`. One control plane per test (about 630 MiB): run these
//! test binaries with `--test-threads=1`.

#![allow(dead_code, reason = "each test crate uses a different subset")]

mod kubelet;

#[allow(unused_imports, reason = "each test crate uses a different subset")]
pub use kubelet::{Ended, ProcessKubelet, Started};

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use gauntlet::cluster::{KubeletOptions, LocalControlPlane, LocalOptions};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};

/// The opt-in label gauntlet requires on namespaces, workloads and pods.
pub const OPT_IN: (&str, &str) = ("gauntlet.io/chaos", "enabled");

/// How long the control plane gets to act (create pods, run a rollout) before a wait fails.
pub const SETTLE: Duration = Duration::from_secs(60);

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
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether process `pid` is alive (exists and is not a zombie), from `/proc`.
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X')),
        Err(_) => false,
    }
}

/// Polls `probe` every 100 ms until it returns `Some`, or panics naming `what` after
/// `within`.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    match eventually_or_none(within, probe).await {
        Some(v) => v,
        None => panic!("not within {within:?}: {what}"),
    }
}

/// [`eventually`] that answers `None` instead of panicking.
pub async fn eventually_or_none<T, F, Fut>(within: Duration, mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = probe().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends one raw API request as the client's user; `Err` carries the API's Status.
pub async fn send(
    client: &kube::Client,
    method: http::Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, kube::Error> {
    let mut request = http::Request::builder().method(method).uri(path);
    let bytes = match body {
        Some(b) => {
            request = request.header(http::header::CONTENT_TYPE, "application/json");
            serde_json::to_vec(b).expect("json")
        }
        None => Vec::new(),
    };
    client
        .request::<Value>(request.body(bytes).expect("request"))
        .await
}

/// `POST path body` as the client's user, panicking on any error.
pub async fn create(client: &kube::Client, path: &str, body: Value) -> Value {
    send(client, http::Method::POST, path, Some(&body))
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}\n{body:#}"))
}

/// `GET path`, `None` on 404.
pub async fn get(client: &kube::Client, path: &str) -> Option<Value> {
    match send(client, http::Method::GET, path, None).await {
        Ok(v) => Some(v),
        Err(kube::Error::Api(s)) if s.code == 404 => None,
        Err(e) => panic!("GET {path}: {e}"),
    }
}

/// Serves `log` as every container's log of pod `namespace/pod` (a kwok `Logs` object).
pub async fn register_logs(
    client: &kube::Client,
    namespace: &str,
    pod: &str,
    log: &Path,
) -> Result<(), kube::Error> {
    let body = json!({
        "apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Logs",
        "metadata": {"name": pod, "namespace": namespace},
        "spec": {"logs": [{"logsFile": log, "follow": false}]}
    });
    let path = format!("/apis/kwok.x-k8s.io/v1alpha1/namespaces/{namespace}/logs");
    send(client, http::Method::POST, &path, Some(&body))
        .await
        .map(drop)
}

/// The API path of the REST collection a manifest of `kind` in `namespace` belongs to.
fn collection(kind: &str, namespace: Option<&str>) -> String {
    let (prefix, plural) = match kind {
        "Namespace" => ("/api/v1", "namespaces"),
        "ServiceAccount" => ("/api/v1", "serviceaccounts"),
        "Role" => ("/apis/rbac.authorization.k8s.io/v1", "roles"),
        "RoleBinding" => ("/apis/rbac.authorization.k8s.io/v1", "rolebindings"),
        "ClusterRole" => ("/apis/rbac.authorization.k8s.io/v1", "clusterroles"),
        "ClusterRoleBinding" => ("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings"),
        other => panic!("no collection for kind {other}"),
    };
    match namespace {
        Some(ns) => format!("{prefix}/namespaces/{ns}/{plural}"),
        None => format!("{prefix}/{plural}"),
    }
}

/// A running control plane, the process kubelet on it, and gauntlet's least-privilege
/// client. Dropping it kills the processes and stops the plane.
pub struct Cluster {
    // Field order is drop order: the kubelet's processes first, then the plane.
    /// `None` with a real kubelet.
    kubelet: Option<ProcessKubelet>,
    admin: kube::Client,
    gauntlet: kube::Client,
    gauntlet_kubeconfig: PathBuf,
    plane: LocalControlPlane,
    pub dir: tempfile::TempDir,
}

impl Cluster {
    /// The plane with `deploy/rbac.yaml` applied, namespaces `shop` (opted in) and
    /// `monitoring`, and a process kubelet running this test's `gauntlet` binary; `None`
    /// (skipped, with the reason) when the binaries are missing.
    pub async fn start() -> Option<Cluster> {
        Self::start_with_exe(Path::new(env!("CARGO_BIN_EXE_gauntlet"))).await
    }

    /// [`start`](Self::start) with `exe` standing for `gauntlet` in container commands.
    pub async fn start_with_exe(exe: &Path) -> Option<Cluster> {
        let options = LocalOptions {
            // The process kubelet ends Job pods when their process exits.
            job_pods_complete: false,
            kwok_crds: vec!["Logs".into(), "PortForward".into()],
            ..LocalOptions::default()
        };
        let plane = gauntlet::testing::local_control_plane(&options).await?;
        let dir = tempfile::tempdir().expect("tempdir");
        let admin = plane.admin_client().await.expect("admin client");
        let kubelet = Some(ProcessKubelet::start(
            admin.clone(),
            exe,
            &dir.path().join("pod-logs"),
        ));
        Some(Self::set_up(plane, dir, kubelet).await)
    }

    /// The plane with a real node (containerd and a kubelet) instead of kwok, otherwise as
    /// [`start`](Self::start); `None` (skipped, with the reason) when the node's binaries
    /// are missing or this is not root on cgroup v1.
    pub async fn start_real_kubelet() -> Option<Cluster> {
        let options = LocalOptions {
            kubelet: Some(KubeletOptions {
                gauntlet_binary: PathBuf::from(env!("CARGO_BIN_EXE_gauntlet")),
            }),
            ..LocalOptions::default()
        };
        let plane = gauntlet::testing::local_control_plane(&options).await?;
        let dir = tempfile::tempdir().expect("tempdir");
        Some(Self::set_up(plane, dir, None).await)
    }

    async fn set_up(
        plane: LocalControlPlane,
        dir: tempfile::TempDir,
        kubelet: Option<ProcessKubelet>,
    ) -> Cluster {
        eprintln!("control plane up: {:?}", plane.startup());
        let admin = plane.admin_client().await.expect("admin client");
        let mut cluster = Cluster {
            kubelet,
            admin: admin.clone(),
            gauntlet: admin,
            gauntlet_kubeconfig: PathBuf::new(),
            plane,
            dir,
        };
        cluster.namespace("gauntlet", &labels(&[])).await;
        cluster.namespace("shop", &opted_in(&[])).await;
        cluster.namespace("monitoring", &labels(&[])).await;
        cluster.apply_rbac().await;
        let (client, kubeconfig) = cluster.service_account_client().await;
        cluster.gauntlet = client;
        cluster.gauntlet_kubeconfig = kubeconfig;
        cluster
    }

    /// The plane (its node's layout, images, directory).
    pub fn plane(&self) -> &LocalControlPlane {
        &self.plane
    }

    /// Stops the plane as a user's Ctrl-C would (`LocalControlPlane::stop`).
    pub async fn stop(self) {
        let Cluster { kubelet, plane, .. } = self;
        drop(kubelet);
        plane.stop().await;
    }

    /// With a real kubelet: the image pods run (`gauntlet` on its PATH).
    fn real_image(&self) -> Option<String> {
        self.plane.images().map(|i| i.gauntlet.clone())
    }

    /// Cluster-admin, for setting the scene and reading the outcome.
    pub fn admin(&self) -> kube::Client {
        self.admin.clone()
    }

    /// The `gauntlet` ServiceAccount's client: what gauntlet runs as.
    pub fn gauntlet(&self) -> kube::Client {
        self.gauntlet.clone()
    }

    /// A kubeconfig (context `gauntlet-local`) with the `gauntlet` ServiceAccount's token.
    pub fn gauntlet_kubeconfig(&self) -> &Path {
        &self.gauntlet_kubeconfig
    }

    /// The process kubelet (kwok clusters only).
    pub fn kubelet(&self) -> &ProcessKubelet {
        self.kubelet
            .as_ref()
            .expect("a kwok cluster: a real kubelet runs no process kubelet")
    }

    /// Creates namespace `name` with `labels` and waits for its `default` ServiceAccount
    /// (pods are refused until it exists).
    pub async fn namespace(&self, name: &str, labels: &BTreeMap<String, String>) {
        create(
            &self.admin,
            "/api/v1/namespaces",
            json!({"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": name, "labels": labels}}),
        )
        .await;
        let sa = format!("/api/v1/namespaces/{name}/serviceaccounts/default");
        eventually(&format!("{sa} exists"), SETTLE, || async {
            get(&self.admin, &sa).await
        })
        .await;
    }

    /// Applies every document of `deploy/rbac.yaml` as written.
    async fn apply_rbac(&self) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/rbac.yaml");
        let text = std::fs::read_to_string(&path).expect("deploy/rbac.yaml");
        for doc in text.split("\n---") {
            let value: Value = yaml_serde::from_str(doc).expect("rbac.yaml document parses");
            if value.is_null() {
                continue;
            }
            let kind = value["kind"].as_str().expect("kind");
            let ns = value["metadata"]["namespace"].as_str();
            create(&self.admin, &collection(kind, ns), value.clone()).await;
        }
    }

    /// A token for `gauntlet/gauntlet` (TokenRequest), its client and kubeconfig.
    async fn service_account_client(&self) -> (kube::Client, PathBuf) {
        let path = self
            .plane
            .service_account_kubeconfig("gauntlet", "gauntlet")
            .await
            .expect("a token for gauntlet/gauntlet");
        let client = self
            .plane
            .service_account_client("gauntlet", "gauntlet")
            .await
            .expect("a client for gauntlet/gauntlet");
        (client, path)
    }

    /// A Deployment `name` in `namespace` whose pods (labelled `pod_labels`, selected by
    /// `app=<name>`) run `command`.
    pub async fn deployment(
        &self,
        namespace: &str,
        name: &str,
        replicas: i32,
        labels: &BTreeMap<String, String>,
        pod_labels: &BTreeMap<String, String>,
        command: &[String],
    ) {
        // A real node runs the command in a container of the plane's image, in the host's
        // network (so its port is on this machine's loopback, as with the process kubelet).
        let (image, host_network) = match self.real_image() {
            Some(image) => (image, true),
            None => ("gauntlet:test".to_owned(), false),
        };
        create(
            &self.admin,
            &format!("/apis/apps/v1/namespaces/{namespace}/deployments"),
            json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": name, "labels": labels},
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {
                        "metadata": {"labels": pod_labels},
                        "spec": {
                            "automountServiceAccountToken": false,
                            "terminationGracePeriodSeconds": 1,
                            "hostNetwork": host_network,
                            "containers": [{"name": "main", "image": image, "command": command}]
                        }
                    }
                }
            }),
        )
        .await;
    }

    /// The pods matching `selector` in `namespace` that are Running and not being deleted,
    /// once there are exactly `n`; sorted by name.
    pub async fn running_pods(&self, namespace: &str, selector: &str, n: usize) -> Vec<Pod> {
        let pods: Api<Pod> = Api::namespaced(self.admin.clone(), namespace);
        let params = ListParams::default().labels(selector);
        let found = eventually_or_none(SETTLE, || async {
            let list = pods.list(&params).await.ok()?;
            let mut running: Vec<Pod> = list
                .items
                .into_iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
                .collect();
            running.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
            (running.len() == n).then_some(running)
        })
        .await;
        match found {
            Some(pods) => pods,
            None => {
                let all = pods.list(&ListParams::default()).await.map(|l| {
                    l.items
                        .iter()
                        .map(|p| {
                            format!(
                                "{:?} {:?} node={:?}",
                                p.metadata.name,
                                p.status.as_ref().and_then(|s| s.phase.clone()),
                                p.spec.as_ref().and_then(|s| s.node_name.clone())
                            )
                        })
                        .collect::<Vec<_>>()
                });
                let events = get(
                    &self.admin,
                    &format!("/api/v1/namespaces/{namespace}/events"),
                )
                .await;
                let events: Vec<String> = events
                    .iter()
                    .flat_map(|e| e["items"].as_array().cloned().unwrap_or_default())
                    .map(|e| {
                        format!(
                            "{} {} {}",
                            e["involvedObject"]["name"], e["reason"], e["message"]
                        )
                    })
                    .collect();
                panic!(
                    "not {n} running pods {selector} in {namespace} within {SETTLE:?}: pods {all:?}\nevents {events:#?}"
                )
            }
        }
    }

    /// All pods matching `selector` in `namespace`, whatever their phase, sorted by name.
    pub async fn pods(&self, namespace: &str, selector: &str) -> Vec<Pod> {
        let pods: Api<Pod> = Api::namespaced(self.admin.clone(), namespace);
        let mut items = pods
            .list(&ListParams::default().labels(selector))
            .await
            .expect("list pods")
            .items;
        items.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        items
    }

    /// The native stack's Prometheus, Alertmanager, Jaeger and VictoriaLogs as Services in
    /// `monitoring`, each pod's port-forward reaching the real backend.
    pub async fn observe_stack(&self, urls: &gauntlet::stack::StackUrls) {
        for (service, port, url) in [
            ("prometheus", 9090, &urls.prometheus),
            ("alertmanager", 9093, &urls.alertmanager),
            ("jaeger", 16686, &urls.jaeger_query),
            ("victoria-logs", 9428, &urls.log_store),
        ] {
            let host = url.host_str().expect("host");
            let port_of = url.port_or_known_default().expect("port");
            let backend = format!("{host}:{port_of}").parse().expect("socket address");
            self.observed_service("monitoring", service, port, backend)
                .await;
        }
    }

    /// A Service `name` in `namespace` (port `port`, named `http`, selecting
    /// `app.kubernetes.io/name=<name>`) with one pod `<name>-0` whose port-forward reaches
    /// `backend`; returns once the pod is Running and Ready. With kwok, a kwok `PortForward`
    /// object sends the pod's port to `backend`. On a real node the pod is a real container
    /// (`gauntlet pause`) in the host's network whose port `http` is the backend's own, so a
    /// port-forward through the kubelet and containerd reaches it; the Service's `targetPort`
    /// names that port.
    pub async fn observed_service(
        &self,
        namespace: &str,
        name: &str,
        port: u16,
        backend: SocketAddr,
    ) {
        let selector = labels(&[("app.kubernetes.io/name", name)]);
        let pod = format!("{name}-0");
        let real_image = self.real_image();
        let (target_port, container) = match &real_image {
            Some(image) => {
                assert!(
                    backend.ip().is_loopback(),
                    "{backend}: pods share the host's loopback"
                );
                (
                    json!("http"),
                    json!({"name": name, "image": image, "command": ["gauntlet", "pause"],
                        "ports": [{"containerPort": backend.port(), "name": "http"}]}),
                )
            }
            None => {
                create(
                    &self.admin,
                    &format!("/apis/kwok.x-k8s.io/v1alpha1/namespaces/{namespace}/portforwards"),
                    json!({
                        "apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "PortForward",
                        "metadata": {"name": pod, "namespace": namespace},
                        "spec": {"forwards": [{"ports": [port],
                            "target": {"port": backend.port(), "address": backend.ip().to_string()}}]}
                    }),
                )
                .await;
                (
                    json!(port),
                    json!({"name": name, "image": format!("{name}:test"),
                        "ports": [{"containerPort": port, "name": "http"}]}),
                )
            }
        };
        create(
            &self.admin,
            &format!("/api/v1/namespaces/{namespace}/services"),
            json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": name, "labels": selector},
                "spec": {"selector": selector, "ports": [
                    {"name": "http", "port": port, "targetPort": target_port}
                ]}
            }),
        )
        .await;
        create(
            &self.admin,
            &format!("/api/v1/namespaces/{namespace}/pods"),
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod, "labels": selector},
                "spec": {
                    "automountServiceAccountToken": false,
                    "hostNetwork": real_image.is_some(),
                    "terminationGracePeriodSeconds": 1,
                    "containers": [container]
                }
            }),
        )
        .await;
        let selector = format!("app.kubernetes.io/name={name}");
        self.running_pods(namespace, &selector, 1).await;
    }
}

/// Nothing of a real node is left: no process started by its containerd, no mount under its
/// directory, no cgroup under its cgroup root in any hierarchy, no directory.
#[track_caller]
pub fn assert_node_gone(layout: &gauntlet::cluster::local::node::NodeLayout) {
    use gauntlet::cluster::local::node;
    assert_eq!(node::mounts_under(&layout.dir), Vec::<PathBuf>::new());
    let cgroups: Vec<PathBuf> = std::fs::read_dir("/sys/fs/cgroup")
        .expect("cgroup hierarchies")
        .flatten()
        .map(|h| h.path().join(&layout.cgroup_root))
        .filter(|d| d.exists())
        .collect();
    assert_eq!(cgroups, Vec::<PathBuf>::new());
    // containerd and the kubelet name files in the node's directory, the shims its socket.
    let dir = layout.dir.to_string_lossy().into_owned();
    let processes: Vec<String> = std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&dir))
        .collect();
    assert_eq!(processes, Vec::<String>::new());
    assert!(!layout.dir.exists(), "{}", layout.dir.display());
}

/// Starts `gauntlet cluster up <args> --dir <dir>` and waits (up to 180 s) until it prints
/// `running;`: the child, the receiver of its later stdout lines, and the lines so far.
pub fn cluster_up(
    args: &[&str],
    dir: &Path,
) -> (
    std::process::Child,
    std::sync::mpsc::Receiver<String>,
    Vec<String>,
) {
    use std::io::BufRead as _;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .args(["cluster", "up"])
        .args(args)
        .arg("--dir")
        .arg(dir)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gauntlet cluster up starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut printed: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(180);
    while !printed.iter().any(|l| l.starts_with("running;")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => printed.push(line),
            Err(e) => {
                let _ = child.kill();
                panic!("cluster up did not say running ({e}): {printed:#?}");
            }
        }
    }
    (child, rx, printed)
}
