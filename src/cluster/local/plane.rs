//! Starting, using and stopping the local control plane.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

use super::node::{self, NodeBinaries, NodeCleanup, NodeLayout};
use super::{LocalError, image, kwok, pki};
use crate::stack::ManagedProcess;
use crate::stack::binaries::find_executable;
use crate::stack::process::{pid_exists, process_state};
use crate::verdict::poll::{Backoff, Probe, poll_until};

/// The name of the one fake node kwok runs pods on.
pub const NODE_NAME: &str = "kwok-node-0";

/// The node's images, written in the run directory and imported into containerd.
const IMAGE_ARCHIVE: &str = "images.tar";

/// Bytes of a component's log quoted when it fails to start.
const LOG_TAIL_BYTES: u64 = 3000;

/// The controllers the plane runs: workloads, namespaces, ServiceAccounts and their tokens,
/// garbage collection, endpoints, and node lifecycle (it lifts the `not-ready` taint every new
/// node gets once kwok reports it Ready; kwok renews the node's Lease so it stays Ready).
/// Left out: taint eviction, cloud, volume and certificate controllers (nothing here uses
/// them).
const CONTROLLERS: &[&str] = &[
    "node-lifecycle-controller",
    "deployment-controller",
    "replicaset-controller",
    "statefulset-controller",
    "daemonset-controller",
    "job-controller",
    "cronjob-controller",
    "ttl-after-finished-controller",
    "replicationcontroller-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",
    "garbage-collector-controller",
    "pod-garbage-collector-controller",
    "endpoints-controller",
    "endpointslice-controller",
    "disruption-controller",
    "resourcequota-controller",
    "clusterrole-aggregation-controller",
];

/// Where each control-plane executable is (`$GAUNTLET_HOME/bin`, then `PATH`; an environment
/// variable per binary overrides both).
#[derive(Debug, Clone)]
pub struct KubeBinaries {
    pub etcd: PathBuf,
    pub kube_apiserver: PathBuf,
    pub kube_controller_manager: PathBuf,
    pub kube_scheduler: PathBuf,
    pub kwok: PathBuf,
}

impl KubeBinaries {
    /// Finds all five, or names every one that is missing and how to get it.
    pub fn find() -> Result<Self, LocalError> {
        let mut missing = Vec::new();
        let mut find = |name: &'static str, env: &str| {
            find_executable(&[name], Some(env), "").unwrap_or_else(|_| {
                missing.push(name);
                PathBuf::new()
            })
        };
        let found = KubeBinaries {
            etcd: find("etcd", "GAUNTLET_ETCD"),
            kube_apiserver: find("kube-apiserver", "GAUNTLET_KUBE_APISERVER"),
            kube_controller_manager: find(
                "kube-controller-manager",
                "GAUNTLET_KUBE_CONTROLLER_MANAGER",
            ),
            kube_scheduler: find("kube-scheduler", "GAUNTLET_KUBE_SCHEDULER"),
            kwok: find("kwok", "GAUNTLET_KWOK"),
        };
        if missing.is_empty() {
            return Ok(found);
        }
        Err(LocalError::MissingBinary(format!(
            "{} not found in {} or PATH (or GAUNTLET_ETCD, GAUNTLET_KUBE_APISERVER, …); run scripts/provision.sh, which builds the local Kubernetes control plane from tools/go",
            missing.join(", "),
            crate::stack::config::gauntlet_home().join("bin").display(),
        )))
    }
}

/// How to start the plane.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// Keep the run's files (certificates, kubeconfigs, logs, etcd data) here instead of a
    /// fresh temporary directory. Created if missing, refused if not empty; removed on stop
    /// either way.
    pub dir: Option<PathBuf>,
    /// More kwok configuration documents (YAML): `ClusterLogs`, `ClusterPortForward`, `Stage`.
    pub kwok_config: Vec<String>,
    /// Whether pods owned by a Job succeed right after they run (so Jobs complete).
    pub job_pods_complete: bool,
    /// kwok kinds read from the API instead of `kwok_config` (`Logs`, `ClusterLogs`,
    /// `PortForward`, `ClusterPortForward`): their CustomResourceDefinitions are created
    /// before kwok starts, so such objects can be added while the plane runs.
    pub kwok_crds: Vec<String>,
    /// Limit for the whole start, from etcd to the node being Ready.
    pub ready_timeout: Duration,
    /// Run a real node (containerd and a kubelet) instead of kwok's fake one, so pods run real
    /// containers; `None` keeps kwok.
    pub kubelet: Option<KubeletOptions>,
}

/// A real node: see [`super::node`] for what it needs and what it leaves out.
#[derive(Debug, Clone)]
pub struct KubeletOptions {
    /// The `gauntlet` binary the node's images are made of (`gauntlet.local/gauntlet:<tag>`
    /// for pods, `gauntlet.local/pause:<tag>` as the sandbox).
    pub gauntlet_binary: PathBuf,
}

impl Default for LocalOptions {
    fn default() -> Self {
        LocalOptions {
            dir: None,
            kwok_config: Vec::new(),
            job_pods_complete: true,
            kwok_crds: Vec::new(),
            ready_timeout: Duration::from_secs(180),
            kubelet: None,
        }
    }
}

/// How long the start took, from the first process spawned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StartupTimes {
    /// The API server answered `/readyz`.
    pub api_ready: Duration,
    /// The node was Ready and untainted (pods can run from here on).
    pub node_ready: Duration,
}

/// The node pods run on.
#[derive(Debug)]
enum Node {
    /// kwok's fake node: pods are marked Running, nothing runs.
    Kwok { port: u16 },
    /// containerd and a kubelet: pods run real containers. Cleanup runs when dropped, after
    /// the processes.
    Kubelet {
        cleanup: NodeCleanup,
        images: image::LocalImages,
        ctr: PathBuf,
        // Declared after `cleanup`: released once the node is cleaned up.
        _lock: node::NodeLock,
    },
}

/// The run directory, removed when dropped (after the processes, which are declared first),
/// and on the forced exit path (its certificates and keys must not outlive the run).
#[derive(Debug)]
struct RunDir {
    path: PathBuf,
    on_exit: crate::stack::process::ExitCleanupGuard,
}

impl RunDir {
    fn new(dir: PathBuf) -> Self {
        let on_exit = {
            let dir = dir.clone();
            crate::stack::process::register_exit_cleanup(move || remove_run_dir(&dir))
        };
        RunDir { path: dir, on_exit }
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        self.on_exit.run();
    }
}

/// Removes `dir`, unless something is still mounted under it: deleting through a mount
/// (a pod's volume) would delete what the mount shows, not the run's files.
fn remove_run_dir(dir: &Path) {
    let mounts = node::mounts_under(dir);
    if !mounts.is_empty() {
        tracing::warn!(dir = %dir.display(), ?mounts, "not removing the control plane's run directory: mounts remain under it");
        return;
    }
    if let Err(error) = std::fs::remove_dir_all(dir)
        && error.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(%error, dir = %dir.display(), "cannot remove the control plane's run directory");
    }
}

/// A running control plane. Stop it with [`stop`](Self::stop); dropping it also kills every
/// process group and removes the run directory.
#[derive(Debug)]
pub struct LocalControlPlane {
    // Declared before `dir`: fields drop in order, so processes die before their files go.
    processes: Vec<ManagedProcess>,
    // After `processes` (the kubelet and containerd die first), before `dir` (it unmounts
    // what is under the directory before the directory goes).
    node: Node,
    dir: RunDir,
    server: String,
    ca_cert: PathBuf,
    kubeconfig: PathBuf,
    startup: StartupTimes,
}

/// A component that is starting: what to poll and whose log to quote.
struct Starting<'a> {
    component: &'a str,
    processes: &'a [ManagedProcess],
}

impl LocalControlPlane {
    /// Finds the binaries and starts the plane; [`LocalError::MissingBinary`] when one is not
    /// installed.
    pub async fn start(options: &LocalOptions) -> Result<Self, LocalError> {
        let binaries = KubeBinaries::find()?;
        Self::start_with(&binaries, options).await
    }

    /// Starts etcd, the API server, the controller manager, the scheduler and kwok, creates the
    /// fake node and waits until it is Ready. On any failure everything started is stopped.
    pub async fn start_with(
        binaries: &KubeBinaries,
        options: &LocalOptions,
    ) -> Result<Self, LocalError> {
        let node_binaries = match &options.kubelet {
            Some(_) => Some(NodeBinaries::find()?),
            None => None,
        };
        let deadline = Instant::now() + options.ready_timeout;
        // A real node waits (within the same limit) for any other one to stop.
        let lock = match &options.kubelet {
            Some(_) => Some(node::NodeLock::acquire(deadline).await?),
            None => None,
        };
        let started = Instant::now();
        let dir = run_dir(options.dir.as_deref())?;
        let root = dir.path.clone();
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| LocalError::Io { path, source }
        };
        let pki_dir = root.join("pki");
        let logs = root.join("logs");
        for d in [&pki_dir, &logs] {
            std::fs::create_dir_all(d).map_err(io(d))?;
        }
        let pki = pki::make(&pki_dir)?;
        let admin = pki::client(&pki_dir, "admin", "gauntlet-admin", "system:masters")?;
        // The control plane's own components are cluster admins here (one identity each, so
        // audit and logs tell them apart); RBAC binds everyone else, which the tests prove.
        let kcm = pki::client(
            &pki_dir,
            "controller-manager",
            "system:kube-controller-manager",
            "system:masters",
        )?;
        let scheduler = pki::client(
            &pki_dir,
            "scheduler",
            "system:kube-scheduler",
            "system:masters",
        )?;
        let kwok_id = pki::client(
            &pki_dir,
            "kwok",
            &format!("system:node:{NODE_NAME}"),
            "system:masters",
        )?;
        let [
            etcd_port,
            peer_port,
            api_port,
            kcm_port,
            sched_port,
            kwok_port,
            kubelet_port,
            kubelet_healthz_port,
        ] = <[u16; 8]>::try_from(crate::stack::ports::allocate_ports(8)?)
            .expect("allocate_ports(8) returns eight ports");
        let server = format!("https://127.0.0.1:{api_port}");
        let kubeconfig = root.join("admin.kubeconfig");
        let mut component_configs = Vec::new();
        for (name, id) in [
            ("admin", &admin),
            ("controller-manager", &kcm),
            ("scheduler", &scheduler),
            ("kwok", &kwok_id),
        ] {
            let path = root.join(format!("{name}.kubeconfig"));
            pki::write_kubeconfig(&path, &server, &pki.ca_cert, pki::Credential::Cert(id))?;
            component_configs.push(path);
        }
        let (node, node_binaries) = match (&options.kubelet, node_binaries, lock) {
            (Some(kubelet), Some(binaries), Some(lock)) => {
                let images =
                    image::write_archive(&kubelet.gauntlet_binary, &root.join(IMAGE_ARCHIVE))?;
                let node = Node::Kubelet {
                    cleanup: NodeCleanup::new(NodeLayout::new(&root)),
                    images,
                    ctr: binaries.ctr.clone(),
                    _lock: lock,
                };
                (node, Some(binaries))
            }
            _ => (Node::Kwok { port: kwok_port }, None),
        };
        let kwok_config = root.join("kwok.yaml");
        pki::write_private(
            &kwok_config,
            &kwok::config(options.job_pods_complete, &options.kwok_config),
        )?;

        let mut plane = LocalControlPlane {
            processes: Vec::new(),
            dir,
            server: server.clone(),
            ca_cert: pki.ca_cert.clone(),
            kubeconfig,
            node,
            startup: StartupTimes {
                api_ready: Duration::ZERO,
                node_ready: Duration::ZERO,
            },
        };

        let etcd_url = format!("http://127.0.0.1:{etcd_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let mut etcd = std::process::Command::new(&binaries.etcd);
        etcd.arg("--name=gauntlet")
            .arg(format!("--data-dir={}", root.join("etcd").display()))
            .arg(format!("--listen-client-urls={etcd_url}"))
            .arg(format!("--advertise-client-urls={etcd_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=gauntlet={peer_url}"))
            // A throwaway store: durability across power loss buys nothing here.
            .arg("--unsafe-no-fsync")
            .arg("--log-level=warn");
        plane.spawn("etcd", etcd, &logs)?;
        // etcd speaks plain HTTP; the API server's `/readyz` is public
        // (system:public-info-viewer), so HTTPS trusting our CA will do. A kube client here
        // would log every refused connection as an error.
        let ca_pem = std::fs::read(&pki.ca_cert).map_err(io(&pki.ca_cert))?;
        let http = reqwest::Certificate::from_pem(&ca_pem)
            .and_then(|ca| {
                reqwest::Client::builder()
                    .no_proxy()
                    .timeout(Duration::from_secs(2))
                    .tls_certs_only([ca])
                    .build()
            })
            .map_err(LocalError::HttpClient)?;
        plane
            .wait_http("etcd", deadline, &http, format!("{etcd_url}/health"))
            .await?;

        let mut api = std::process::Command::new(&binaries.kube_apiserver);
        api.arg(format!("--etcd-servers={etcd_url}"))
            .arg("--bind-address=127.0.0.1")
            .arg("--advertise-address=127.0.0.1")
            .arg(format!("--secure-port={api_port}"))
            .arg(format!("--cert-dir={}", root.join("apiserver").display()))
            // One API server, no kube-proxy: nothing reads the kubernetes Service's endpoints.
            .arg("--endpoint-reconciler-type=none")
            .arg("--authorization-mode=Node,RBAC")
            // An allocation range only; nothing routes to it.
            .arg("--service-cluster-ip-range=10.96.0.0/16")
            .arg(format!("--client-ca-file={}", pki.ca_cert.display()))
            .arg(format!("--tls-cert-file={}", pki.serving_cert.display()))
            .arg(format!(
                "--tls-private-key-file={}",
                pki.serving_key.display()
            ))
            .arg(format!(
                "--service-account-key-file={}",
                pki.sa_pub.display()
            ))
            .arg(format!(
                "--service-account-signing-key-file={}",
                pki.sa_key.display()
            ))
            .arg("--service-account-issuer=https://kubernetes.default.svc.cluster.local")
            // Pod logs and port-forward go to kwok's server, whose certificate the CA signed.
            .arg(format!(
                "--kubelet-client-certificate={}",
                admin.cert.display()
            ))
            .arg(format!("--kubelet-client-key={}", admin.key.display()))
            .arg(format!(
                "--kubelet-certificate-authority={}",
                pki.ca_cert.display()
            ))
            // kwok's node has InternalIP 127.0.0.1; the real kubelet's is `localhost` by name
            // (its InternalIP is the machine's own address, where it does not listen).
            .arg(match plane.node {
                Node::Kwok { .. } => "--kubelet-preferred-address-types=InternalIP",
                Node::Kubelet { .. } => "--kubelet-preferred-address-types=Hostname,InternalIP",
            })
            .arg("--profiling=false");
        plane.spawn("kube-apiserver", api, &logs)?;
        plane
            .wait_http(
                "kube-apiserver",
                deadline,
                &http,
                format!("{server}/readyz"),
            )
            .await?;
        plane.startup.api_ready = started.elapsed();

        let common = |cmd: &mut std::process::Command, config: &Path, port: u16| {
            cmd.arg(format!("--kubeconfig={}", config.display()))
                .arg(format!("--authentication-kubeconfig={}", config.display()))
                .arg(format!("--authorization-kubeconfig={}", config.display()))
                .arg("--bind-address=127.0.0.1")
                .arg(format!("--secure-port={port}"))
                .arg("--leader-elect=false");
        };
        let mut kcm_cmd = std::process::Command::new(&binaries.kube_controller_manager);
        common(&mut kcm_cmd, &component_configs[1], kcm_port);
        kcm_cmd
            .arg(format!("--controllers={}", CONTROLLERS.join(",")))
            .arg(format!(
                "--service-account-private-key-file={}",
                pki.sa_key.display()
            ))
            .arg(format!("--root-ca-file={}", pki.ca_cert.display()))
            .arg(format!(
                "--cert-dir={}",
                root.join("controller-manager").display()
            ));
        plane.spawn("kube-controller-manager", kcm_cmd, &logs)?;
        let mut sched_cmd = std::process::Command::new(&binaries.kube_scheduler);
        common(&mut sched_cmd, &component_configs[2], sched_port);
        sched_cmd.arg(format!("--cert-dir={}", root.join("scheduler").display()));
        plane.spawn("kube-scheduler", sched_cmd, &logs)?;
        match node_binaries {
            Some(node_binaries) => {
                plane
                    .start_kubelet_node(
                        &node_binaries,
                        &pki,
                        &pki_dir,
                        node::KubeletPorts {
                            server: kubelet_port,
                            healthz: kubelet_healthz_port,
                        },
                        deadline,
                    )
                    .await?
            }
            None => {
                plane
                    .start_kwok_node(
                        binaries,
                        &component_configs[3],
                        &kwok_config,
                        &pki,
                        options,
                        deadline,
                    )
                    .await?
            }
        }
        plane.startup.node_ready = started.elapsed();
        tracing::info!(
            dir = %root.display(),
            server = %plane.server,
            node = plane.node_name(),
            api_ready = ?plane.startup.api_ready,
            node_ready = ?plane.startup.node_ready,
            "local control plane up"
        );
        Ok(plane)
    }

    /// Starts kwok, creates its fake node and waits until it is Ready.
    async fn start_kwok_node(
        &mut self,
        binaries: &KubeBinaries,
        kubeconfig: &Path,
        kwok_config: &Path,
        pki: &pki::Pki,
        options: &LocalOptions,
        deadline: Instant,
    ) -> Result<(), LocalError> {
        let Node::Kwok { port: kwok_port } = self.node else {
            return Ok(());
        };
        let logs = self.log_dir();
        let mut kwok_cmd = std::process::Command::new(&binaries.kwok);
        kwok_cmd
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            .arg(format!("--config={}", kwok_config.display()))
            .arg(format!(
                "--manage-nodes-with-annotation-selector={}={}",
                kwok::NODE_ANNOTATION.0,
                kwok::NODE_ANNOTATION.1
            ))
            .arg("--node-ip=127.0.0.1")
            .arg(format!("--node-port={kwok_port}"))
            .arg(format!("--server-address=127.0.0.1:{kwok_port}"))
            .arg(format!("--tls-cert-file={}", pki.serving_cert.display()))
            .arg(format!(
                "--tls-private-key-file={}",
                pki.serving_key.display()
            ))
            .arg("--cidr=10.244.0.0/16")
            .arg("--node-lease-duration-seconds=40");
        if !options.kwok_crds.is_empty() {
            self.install_kwok_crds(&options.kwok_crds, deadline).await?;
            kwok_cmd.arg(format!("--enable-crds={}", options.kwok_crds.join(",")));
        }
        self.spawn("kwok", kwok_cmd, &logs)?;

        let admin = self.admin_client().await?;
        let node = kwok::node(NODE_NAME);
        let create = http::Request::post("/api/v1/nodes")
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(&node).expect("a JSON value always serializes"))
            .expect("a POST with a static path is a valid request");
        admin
            .request::<serde_json::Value>(create)
            .await
            .map_err(|source| LocalError::Api {
                what: format!("cannot create the fake node {NODE_NAME}"),
                source: Box::new(source),
            })?;
        self.wait("kwok", deadline, || {
            let admin = admin.clone();
            async move { node_ready(&admin, NODE_NAME).await }
        })
        .await
    }

    /// Starts containerd, imports the images, starts the kubelet and waits until its node is
    /// Ready.
    async fn start_kubelet_node(
        &mut self,
        binaries: &NodeBinaries,
        pki: &pki::Pki,
        pki_dir: &Path,
        ports: node::KubeletPorts,
        deadline: Instant,
    ) -> Result<(), LocalError> {
        let Node::Kubelet {
            cleanup, images, ..
        } = &self.node
        else {
            return Ok(());
        };
        let (layout, images) = (cleanup.layout().clone(), images.clone());
        let logs = self.log_dir();
        let containerd_config = layout.prepare(&images.pause)?;
        let mut containerd = std::process::Command::new(&binaries.containerd);
        containerd
            .arg(format!("--config={}", containerd_config.display()))
            .arg("--log-level=warn");
        self.spawn("containerd", containerd, &logs)?;
        self.wait("containerd", deadline, || {
            let mut version = tokio::process::Command::from(layout.ctr(&binaries.ctr));
            version.arg("version");
            async move { run_ok(version).await }
        })
        .await?;
        let mut import = tokio::process::Command::from(layout.ctr(&binaries.ctr));
        import
            .args(["images", "import"])
            .arg(self.dir.path.join(IMAGE_ARCHIVE));
        run_ok(import)
            .await
            .map_err(|problem| LocalError::NotReady {
                component: "containerd".into(),
                problem: format!("cannot import the node's images: {problem}"),
                log: logs.join("containerd.log"),
                log_tail: crate::stack::process::log_tail(
                    &logs.join("containerd.log"),
                    LOG_TAIL_BYTES,
                ),
            })?;

        let identity = pki::client(
            pki_dir,
            "kubelet",
            &format!("system:node:{}", node::NODE_NAME),
            "system:nodes",
        )?;
        let kubeconfig = self.dir.path.join("kubelet.kubeconfig");
        pki::write_kubeconfig(
            &kubeconfig,
            &self.server,
            &pki.ca_cert,
            pki::Credential::Cert(&identity),
        )?;
        let config = layout.write_kubelet_config(
            ports,
            &pki.ca_cert,
            (&pki.serving_cert, &pki.serving_key),
        )?;
        let kubelet = layout.kubelet_command(&binaries.kubelet, &config, &kubeconfig);
        self.spawn("kubelet", kubelet, &logs)?;
        let admin = self.admin_client().await?;
        self.wait("kubelet", deadline, || {
            let admin = admin.clone();
            async move { node_ready(&admin, node::NODE_NAME).await }
        })
        .await
    }

    /// Creates the CustomResourceDefinitions of kwok `kinds` and waits until the API serves
    /// them (kwok exits at start when one is missing).
    async fn install_kwok_crds(
        &self,
        kinds: &[String],
        deadline: Instant,
    ) -> Result<(), LocalError> {
        let admin = self.admin_client().await?;
        let mut plurals = Vec::new();
        for kind in kinds {
            let (Some(crd), Some(plural)) = (kwok::crd(kind), kwok::crd_plural(kind)) else {
                return Err(LocalError::KwokKind(kind.clone()));
            };
            plurals.push(plural);
            let create =
                http::Request::post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(serde_json::to_vec(&crd).expect("a JSON value always serializes"))
                    .expect("a POST with a static path is a valid request");
            admin
                .request::<serde_json::Value>(create)
                .await
                .map_err(|source| LocalError::Api {
                    what: format!("cannot create the CustomResourceDefinition of kwok's {kind}"),
                    source: Box::new(source),
                })?;
        }
        self.wait("kube-apiserver", deadline, || {
            let admin = admin.clone();
            let plurals = plurals.clone();
            async move {
                let request = http::Request::get("/apis/kwok.x-k8s.io/v1alpha1")
                    .body(Vec::new())
                    .expect("a GET with a static path is a valid request");
                let list: serde_json::Value = admin
                    .request(request)
                    .await
                    .map_err(|e| crate::error_chain::error_chain(&e))?;
                let served: Vec<&str> = list["resources"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r["name"].as_str())
                    .collect();
                match plurals.iter().find(|p| !served.contains(p)) {
                    None => Ok(()),
                    Some(p) => Err(format!("kwok.x-k8s.io/v1alpha1 {p} not served yet")),
                }
            }
        })
        .await
    }

    fn spawn(
        &mut self,
        name: &str,
        command: std::process::Command,
        logs: &Path,
    ) -> Result<(), LocalError> {
        self.processes
            .push(ManagedProcess::spawn(name, command, logs)?);
        Ok(())
    }

    /// [`wait`](Self::wait) until `url` answers 2xx.
    async fn wait_http(
        &self,
        component: &str,
        deadline: Instant,
        client: &reqwest::Client,
        url: String,
    ) -> Result<(), LocalError> {
        self.wait(component, deadline, || {
            let client = client.clone();
            let url = url.clone();
            async move { http_ok(&client, &url).await }
        })
        .await
    }

    /// Polls `probe` until it answers `Ok`, any started process exits, or `deadline` passes;
    /// errors quote the log of the component that failed.
    async fn wait<F, Fut>(
        &self,
        component: &str,
        deadline: Instant,
        mut probe: F,
    ) -> Result<(), LocalError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<(), String>>,
    {
        let watched: Vec<(String, u32)> = self
            .processes
            .iter()
            .map(|p| (p.name().to_owned(), p.pid()))
            .collect();
        let outcome = poll_until(
            deadline,
            Backoff {
                initial: Duration::from_millis(50),
                max: Duration::from_millis(500),
            },
            || {
                let exited = watched
                    .iter()
                    .find(|(_, pid)| !pid_exists(*pid) || process_state(*pid) == Some('Z'))
                    .map(|(name, _)| name.clone());
                let answer = probe();
                async move {
                    // A dead component ends the wait at once, with its own log.
                    if let Some(name) = exited {
                        return Probe::Met(Err(name));
                    }
                    match answer.await {
                        Ok(()) => Probe::Met(Ok(())),
                        Err(last) => Probe::NotYet(last),
                    }
                }
            },
        )
        .await;
        let starting = Starting {
            component,
            processes: &self.processes,
        };
        match outcome.met.map(|seen| seen.evidence) {
            Some(Ok(())) => Ok(()),
            Some(Err(exited)) => Err(starting.failure(&exited, "exited while starting".into())),
            None => {
                let last = outcome
                    .last_observed
                    .map(|(what, _)| what)
                    .unwrap_or_else(|| "no answer".into());
                Err(starting.failure(component, format!("not ready in time (last: {last})")))
            }
        }
    }

    /// `https://127.0.0.1:<port>`: the API server.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The run directory (certificates, kubeconfigs, `logs/`, etcd's data).
    pub fn dir(&self) -> &Path {
        &self.dir.path
    }

    /// The components' logs, one `<name>.log` each.
    pub fn log_dir(&self) -> PathBuf {
        self.dir.path.join("logs")
    }

    /// The cluster CA's certificate (PEM), which signed the API server's certificate.
    pub fn ca_cert_path(&self) -> &Path {
        &self.ca_cert
    }

    /// A kubeconfig for a cluster admin (`system:masters`): `export KUBECONFIG=<this>`.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// The node's name: kwok's fake node, or `localhost` for the real kubelet.
    pub fn node_name(&self) -> &str {
        match self.node {
            Node::Kwok { .. } => NODE_NAME,
            Node::Kubelet { .. } => node::NODE_NAME,
        }
    }

    /// The port of kwok's kubelet endpoint (pod logs, port-forward), on 127.0.0.1; `None`
    /// with a real kubelet.
    pub fn kwok_port(&self) -> Option<u16> {
        match self.node {
            Node::Kwok { port } => Some(port),
            Node::Kubelet { .. } => None,
        }
    }

    /// With a real kubelet: the images imported into its containerd (`gauntlet` for pods,
    /// `pause` for sandboxes).
    pub fn images(&self) -> Option<&image::LocalImages> {
        match &self.node {
            Node::Kwok { .. } => None,
            Node::Kubelet { images, .. } => Some(images),
        }
    }

    /// With a real kubelet: its cgroup root (`gauntlet-<random>`) and the node's directory,
    /// for checks that nothing outlives the plane.
    pub fn node_layout(&self) -> Option<&NodeLayout> {
        match &self.node {
            Node::Kwok { .. } => None,
            Node::Kubelet { cleanup, .. } => Some(cleanup.layout()),
        }
    }

    /// How long the start took.
    pub fn startup(&self) -> StartupTimes {
        self.startup
    }

    /// `(name, pid)` of every component; each pid is also its process group.
    pub fn pids(&self) -> Vec<(String, u32)> {
        self.processes
            .iter()
            .map(|p| (p.name().to_owned(), p.pid()))
            .collect()
    }

    /// Resident memory of the components now (sum of `VmRSS`), in bytes.
    pub fn rss_bytes(&self) -> u64 {
        self.processes.iter().map(|p| rss_of(p.pid())).sum()
    }

    /// A client with the admin kubeconfig.
    pub async fn admin_client(&self) -> Result<kube::Client, LocalError> {
        client_from(&self.kubeconfig).await
    }

    /// Asks the API server for a token of ServiceAccount `namespace/name` (TokenRequest, one
    /// hour) and writes a kubeconfig that uses it, `sa-<namespace>-<name>.kubeconfig` in the
    /// run directory. The ServiceAccount must exist.
    pub async fn service_account_kubeconfig(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<PathBuf, LocalError> {
        let admin = self.admin_client().await?;
        let body = serde_json::json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": { "expirationSeconds": 3600 },
        });
        let ns = crate::cluster::Name::parse("namespace", namespace)?;
        let sa = crate::cluster::Name::parse("service account", name)?;
        let request = http::Request::post(format!(
            "/api/v1/namespaces/{ns}/serviceaccounts/{sa}/token"
        ))
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(&body).expect("a JSON value always serializes"))
        .expect("validated names make a valid path");
        let answer: serde_json::Value =
            admin
                .request(request)
                .await
                .map_err(|source| LocalError::Api {
                    what: format!("cannot get a token for service account {ns}/{sa}"),
                    source: Box::new(source),
                })?;
        let Some(token) = answer["status"]["token"].as_str().filter(|t| !t.is_empty()) else {
            return Err(LocalError::NoToken(format!("{ns}/{sa}")));
        };
        let path = self.dir.path.join(format!("sa-{ns}-{sa}.kubeconfig"));
        pki::write_kubeconfig(
            &path,
            &self.server,
            &self.ca_cert,
            pki::Credential::Token(token),
        )?;
        Ok(path)
    }

    /// A client authenticated as ServiceAccount `namespace/name` (see
    /// [`service_account_kubeconfig`](Self::service_account_kubeconfig)).
    pub async fn service_account_client(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<kube::Client, LocalError> {
        let path = self.service_account_kubeconfig(namespace, name).await?;
        client_from(&path).await
    }

    /// Stops every component (kwok and the controllers first, etcd last) and removes the run
    /// directory.
    pub async fn stop(mut self) {
        // The kubelet goes first (it would restart what is removed), then its containers go
        // through containerd, so the shims unmount and exit by themselves; `NodeCleanup`
        // forces whatever is left.
        if let Node::Kubelet { cleanup, ctr, .. } = &self.node {
            if let Some(i) = self.processes.iter().position(|p| p.name() == "kubelet") {
                self.processes.remove(i).stop().await;
            }
            node::remove_containers(cleanup.layout(), ctr).await;
        }
        while let Some(mut p) = self.processes.pop() {
            p.stop().await;
        }
        // `self` drops here: no processes left, and RunDir removes the directory.
    }
}

impl Starting<'_> {
    fn failure(&self, name: &str, problem: String) -> LocalError {
        let process = self
            .processes
            .iter()
            .find(|p| p.name() == name)
            .or_else(|| self.processes.iter().find(|p| p.name() == self.component));
        LocalError::NotReady {
            component: name.to_owned(),
            problem,
            log: process
                .map(|p| p.log_path().to_path_buf())
                .unwrap_or_default(),
            log_tail: process
                .map(|p| p.log_tail(LOG_TAIL_BYTES))
                .unwrap_or_default(),
        }
    }
}

fn run_dir(dir: Option<&Path>) -> Result<RunDir, LocalError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LocalError::Io { path, source }
    };
    match dir {
        Some(dir) => {
            if dir.exists() {
                let mut entries = std::fs::read_dir(dir).map_err(io(dir))?;
                if entries.next().is_some() {
                    return Err(LocalError::DirNotEmpty(dir.to_path_buf()));
                }
            }
            std::fs::create_dir_all(dir).map_err(io(dir))?;
            let dir = std::fs::canonicalize(dir).map_err(io(dir))?;
            Ok(RunDir::new(dir))
        }
        None => {
            let tmp = tempfile::Builder::new()
                .prefix("gauntlet-cluster-")
                .tempdir()
                .map_err(io(&std::env::temp_dir()))?;
            Ok(RunDir::new(tmp.keep()))
        }
    }
}

async fn client_from(kubeconfig: &Path) -> Result<kube::Client, LocalError> {
    let err = |source: Box<dyn std::error::Error + Send + Sync>| LocalError::Client {
        kubeconfig: kubeconfig.to_path_buf(),
        source,
    };
    let file = kube::config::Kubeconfig::read_from(kubeconfig).map_err(|e| err(Box::new(e)))?;
    let config =
        kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
            .await
            .map_err(|e| err(Box::new(e)))?;
    kube::Client::try_from(config).map_err(|e| err(Box::new(e)))
}

/// `Ok` when `command` exits 0, else its exit status and stderr.
async fn run_ok(mut command: tokio::process::Command) -> Result<(), String> {
    command.stdin(std::process::Stdio::null());
    match tokio::time::timeout(Duration::from_secs(60), command.output()).await {
        Ok(Ok(out)) if out.status.success() => Ok(()),
        Ok(Ok(out)) => Err(format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer in 60 s".into()),
    }
}

/// `Ok` when `url` answers 2xx, else what it answered.
async fn http_ok(client: &reqwest::Client, url: &str) -> Result<(), String> {
    match client.get(url).send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("HTTP {}", r.status())),
        Err(e) => Err(crate::error_chain::error_chain(&e)),
    }
}

/// Whether node `name` reports `Ready=True` and is no longer tainted not-ready.
async fn node_ready(admin: &kube::Client, name: &str) -> Result<(), String> {
    let request = http::Request::get(format!("/api/v1/nodes/{name}"))
        .body(Vec::new())
        .expect("a GET with a static path is a valid request");
    let node: serde_json::Value = admin
        .request(request)
        .await
        .map_err(|e| crate::error_chain::error_chain(&e))?;
    let ready = node["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready")
        .map(|c| c["status"].as_str().unwrap_or_default().to_owned());
    // The node lifecycle controller lifts the taint every new node gets; until then nothing
    // schedules.
    let tainted = node["spec"]["taints"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|t| t["key"] == "node.kubernetes.io/not-ready");
    match ready.as_deref() {
        Some("True") if tainted => Err(format!(
            "node {name} is Ready but still tainted node.kubernetes.io/not-ready"
        )),
        Some("True") => Ok(()),
        Some(other) => Err(format!("node {name} Ready={other}")),
        None => Err(format!("node {name} has no Ready condition yet")),
    }
}

/// `VmRSS` of `pid` in bytes (0 when it is gone).
fn rss_of(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}
