//! A real node for the local control plane: Debian's containerd (with runc) and a kubelet
//! built from the same Kubernetes module, so pods run real containers.
//!
//! Everything is the run's own: containerd's root, state and socket live in the run
//! directory (beside any system containerd or Docker), the kubelet's root, certificates and
//! pod logs too, and pods' cgroups sit under a cgroup root named for the run
//! (`/gauntlet-<random>`), so two planes never touch each other's pods. [`NodeCleanup`]
//! undoes what outlives the processes: container processes, containerd's shims (they leave
//! containerd's process group on purpose), the overlay and tmpfs mounts, the cgroups and
//! the `/var/log/containers` links.
//!
//! Limits of this machine, by design here: pods must use `hostNetwork` (Debian ships no CNI
//! plugin that gives pods a network of their own, and the load targets live on the host's
//! loopback), so NetworkPolicies are not enforced; images come from archives gauntlet writes
//! ([`super::image`]), not from a registry.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::LocalError;
use super::pki;

/// The node's name: the kubelet registers as `localhost`, which is also the address the API
/// server dials for logs, exec and port-forward (a loopback `--node-ip` is refused).
pub const NODE_NAME: &str = "localhost";

/// The cgroup v1 hierarchies pods get cgroups in (whatever of these the machine mounts), and
/// the hybrid layout's cgroup v2 mount, where the kubelet makes its tree too.
const HIERARCHIES: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "pids",
    "blkio",
    "devices",
    "freezer",
    "hugetlb",
    "net_cls",
    "net_prio",
    "perf_event",
    "systemd",
    "unified",
];

/// Where cgroup v1 hierarchies are mounted.
const CGROUP_FS: &str = "/sys/fs/cgroup";

/// The node's files and the names cleanup needs.
#[derive(Debug, Clone)]
pub struct NodeLayout {
    /// `<run dir>/node`.
    pub dir: PathBuf,
    /// `gauntlet-<random>`, under every hierarchy's root.
    pub cgroup_root: String,
    pub containerd_socket: PathBuf,
}

impl NodeLayout {
    /// Names the node's directories under `run_dir` (created by [`prepare`](Self::prepare)).
    pub fn new(run_dir: &Path) -> Self {
        use rand::Rng as _;
        let suffix: String = rand::rng()
            .sample_iter(rand::distr::Alphanumeric)
            .take(10)
            .map(|c| char::from(c).to_ascii_lowercase())
            .collect();
        let dir = run_dir.join("node");
        NodeLayout {
            containerd_socket: dir.join("containerd/containerd.sock"),
            dir,
            cgroup_root: format!("gauntlet-{suffix}"),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// Creates the directories, the cgroup root in every hierarchy, and the configuration of
    /// containerd (with `sandbox_image`) and its network. Checks first that this machine can
    /// run a node at all.
    pub fn prepare(&self, sandbox_image: &str) -> Result<PathBuf, LocalError> {
        for d in [
            "containerd",
            "containerd/root",
            "containerd/state",
            "containerd/opt",
            "runc",
            "net.d",
            "cni-bin",
            "kubelet",
            "pod-logs",
            "certs",
        ] {
            let path = self.path(d);
            std::fs::create_dir_all(&path).map_err(io(&path))?;
        }
        self.make_cgroup_root()?;
        let socket = self.containerd_socket.display();
        let config = format!(
            r#"# containerd for one gauntlet control plane: its own root, state and socket.
version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{socket}"

[ttrpc]
  address = "{socket}.ttrpc"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{opt}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{sandbox_image}"
  # The VM lacks CAP_SYS_RESOURCE: the sandbox's oom_score_adj -998 would fail, so scores
  # are kept at or above containerd's own.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        # runc's state stays in the run directory too.
        Root = "{runc_root}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni_bin}"
    conf_dir = "{net_d}"
"#,
            root = self.path("containerd/root").display(),
            state = self.path("containerd/state").display(),
            opt = self.path("containerd/opt").display(),
            cni_bin = self.path("cni-bin").display(),
            net_d = self.path("net.d").display(),
            runc_root = self.path("runc").display(),
        );
        let config_path = self.path("containerd/config.toml");
        pki::write_private(&config_path, &config)?;
        // containerd reports its network ready once a CNI configuration loads; the plugin it
        // names does not exist, so a pod without `hostNetwork` fails at sandbox creation with
        // "failed to find plugin", instead of the whole node staying NotReady.
        let net = serde_json::json!({
            "cniVersion": "1.0.0",
            "name": "gauntlet-host-network-only",
            "plugins": [{ "type": "gauntlet-pods-need-hostnetwork" }],
        });
        let net_path = self.path("net.d/10-gauntlet.conflist");
        pki::write_private(&net_path, &net.to_string())?;
        Ok(config_path)
    }

    /// The kubelet's configuration file.
    pub fn write_kubelet_config(
        &self,
        ports: KubeletPorts,
        client_ca: &Path,
        serving: (&Path, &Path),
    ) -> Result<PathBuf, LocalError> {
        let config = serde_json::json!({
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": "127.0.0.1",
            "port": ports.server,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": ports.healthz,
            // Only holders of a certificate from the run's CA (the API server, the admin)
            // reach the kubelet, and all of them may.
            "authentication": {
                "anonymous": { "enabled": false },
                "webhook": { "enabled": false },
                "x509": { "clientCAFile": client_ca },
            },
            "authorization": { "mode": "AlwaysAllow" },
            "tlsCertFile": serving.0,
            "tlsPrivateKeyFile": serving.1,
            "containerRuntimeEndpoint": format!("unix://{}", self.containerd_socket.display()),
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": format!("/{}", self.cgroup_root),
            // This VM runs cgroup v1, which kubelet 1.35+ refuses unless told otherwise.
            "failCgroupV1": false,
            "failSwapOn": false,
            "podLogsDir": self.path("pod-logs"),
            "registerNode": true,
            // The node shares a disk with everything else: evict only when it is really
            // full, and never collect the images gauntlet imported (no registry to pull from).
            "evictionHard": {
                "memory.available": "100Mi",
                "nodefs.available": "1%",
                "imagefs.available": "1%",
                "nodefs.inodesFree": "1%",
            },
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            // The kubelet would otherwise add KUBE-FIREWALL and canary chains to the host's
            // iptables, which outlive it; nothing here needs them (no kube-proxy).
            "makeIPTablesUtilChains": false,
            "nodeStatusUpdateFrequency": "2s",
            "syncFrequency": "5s",
            "serializeImagePulls": false,
        });
        let path = self.path("kubelet-config.json");
        pki::write_private(&path, &config.to_string())?;
        Ok(path)
    }

    /// The kubelet command line.
    pub fn kubelet_command(
        &self,
        kubelet: &Path,
        config: &Path,
        kubeconfig: &Path,
    ) -> std::process::Command {
        let mut cmd = std::process::Command::new(kubelet);
        cmd.arg(format!("--config={}", config.display()))
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            .arg(format!("--hostname-override={NODE_NAME}"))
            .arg(format!("--root-dir={}", self.path("kubelet").display()))
            .arg(format!("--cert-dir={}", self.path("certs").display()));
        cmd
    }

    /// `ctr` for this containerd, in the namespace the CRI plugin uses.
    pub fn ctr(&self, ctr: &Path) -> Command {
        let mut cmd = Command::new(ctr);
        cmd.arg("--address")
            .arg(&self.containerd_socket)
            .arg("--namespace")
            .arg("k8s.io");
        cmd
    }

    fn make_cgroup_root(&self) -> Result<(), LocalError> {
        for hierarchy in mounted_hierarchies() {
            let dir = Path::new(CGROUP_FS).join(hierarchy).join(&self.cgroup_root);
            std::fs::create_dir_all(&dir).map_err(io(&dir))?;
            if hierarchy == "cpuset" {
                // A new cpuset starts with no CPUs and no memory nodes: nothing could join it.
                for file in ["cpuset.cpus", "cpuset.mems"] {
                    let parent = Path::new(CGROUP_FS).join("cpuset").join(file);
                    let value = std::fs::read_to_string(&parent).map_err(io(&parent))?;
                    let child = dir.join(file);
                    std::fs::write(&child, value.trim()).map_err(io(&child))?;
                }
            }
        }
        Ok(())
    }
}

/// Where the node's executables are: the kubelet from `$GAUNTLET_HOME/bin` (built by
/// `scripts/provision.sh`), containerd, its runc shim and `ctr` from Debian's containerd.
#[derive(Debug, Clone)]
pub struct NodeBinaries {
    pub kubelet: PathBuf,
    pub containerd: PathBuf,
    pub ctr: PathBuf,
}

impl NodeBinaries {
    /// Finds them all, or names every one that is missing and how to get it; also refuses a
    /// machine that cannot run a node (not root, no cgroup v1).
    pub fn find() -> Result<Self, LocalError> {
        use crate::stack::binaries::find_executable;
        check_host()?;
        let mut missing = Vec::new();
        let mut find = |name: &'static str, env: Option<&str>| {
            find_executable(&[name], env, "").unwrap_or_else(|_| {
                missing.push(name);
                PathBuf::new()
            })
        };
        let found = NodeBinaries {
            kubelet: find("kubelet", Some("GAUNTLET_KUBELET")),
            containerd: find("containerd", Some("GAUNTLET_CONTAINERD")),
            ctr: find("ctr", None),
        };
        // containerd starts these by name from PATH.
        find("containerd-shim-runc-v2", None);
        find("runc", None);
        if missing.is_empty() {
            return Ok(found);
        }
        Err(LocalError::MissingBinary(format!(
            "{} not found in {} or PATH; run scripts/provision.sh (the kubelet is built from tools/go/kubernetes; containerd and runc come with Debian's docker.io)",
            missing.join(", "),
            crate::stack::config::gauntlet_home().join("bin").display(),
        )))
    }
}

/// The kubelet's device-plugin socket and checkpoint: fixed paths, not under `--root-dir`, so
/// only one kubelet can run on a machine at a time ([`NodeLock`]).
const DEVICE_PLUGINS: &str = "/var/lib/kubelet/device-plugins";

/// The machine-wide lock a real node holds while it lives: the kubelet's device-plugin
/// socket has a fixed path, so a second kubelet would fail to start.
#[derive(Debug)]
pub struct NodeLock(
    #[allow(dead_code, reason = "held for its flock")] nix::fcntl::Flock<std::fs::File>,
);

impl NodeLock {
    /// Waits until no other real node (in this or another process) runs, up to `deadline`.
    pub async fn acquire(deadline: tokio::time::Instant) -> Result<Self, LocalError> {
        let path = std::env::temp_dir().join("gauntlet-kubelet-node.lock");
        loop {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(io(&path))?;
            match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
                Ok(lock) => return Ok(NodeLock(lock)),
                Err((_, nix::errno::Errno::EWOULDBLOCK))
                    if tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err((_, errno)) => {
                    return Err(LocalError::NotReady {
                        component: "kubelet".into(),
                        problem: format!(
                            "another real kubelet node holds {} ({errno}); one runs at a time (its device-plugin socket has a fixed path)",
                            path.display()
                        ),
                        log: PathBuf::new(),
                        log_tail: String::new(),
                    });
                }
            }
        }
    }
}

/// The kubelet's ports on 127.0.0.1.
#[derive(Debug, Clone, Copy)]
pub struct KubeletPorts {
    pub server: u16,
    pub healthz: u16,
}

/// Refuses early, with the reason, on a machine that cannot run a node: not root, or not
/// cgroup v1 with the memory controller.
fn check_host() -> Result<(), LocalError> {
    let uid = nix::unistd::Uid::effective();
    if !uid.is_root() {
        return Err(LocalError::MissingBinary(
            "a real kubelet needs root (it mounts volumes and creates cgroups)".into(),
        ));
    }
    if !Path::new(CGROUP_FS).join("memory").is_dir() {
        return Err(LocalError::MissingBinary(format!(
            "a real kubelet here expects cgroup v1 hierarchies under {CGROUP_FS} (memory not found)"
        )));
    }
    Ok(())
}

fn mounted_hierarchies() -> Vec<&'static str> {
    HIERARCHIES
        .iter()
        .copied()
        .filter(|h| Path::new(CGROUP_FS).join(h).is_dir())
        .collect()
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LocalError + use<> {
    let path = path.to_path_buf();
    move |source| LocalError::Io { path, source }
}

/// Kills and removes every container through containerd (the kubelet must be stopped), so
/// the shims unmount the root filesystems and exit by themselves. Best effort, within 20 s:
/// [`cleanup`] forces whatever is left.
pub async fn remove_containers(layout: &NodeLayout, ctr: &Path) {
    let run = |args: Vec<String>| {
        let mut cmd = tokio::process::Command::from(layout.ctr(ctr));
        cmd.args(args).stdin(std::process::Stdio::null());
        async move {
            match tokio::time::timeout(Duration::from_secs(10), cmd.output()).await {
                Ok(Ok(out)) if out.status.success() => {
                    Some(String::from_utf8_lossy(&out.stdout).into_owned())
                }
                _ => None,
            }
        }
    };
    let removal = async {
        let tasks = run(vec!["tasks".into(), "ls".into(), "-q".into()])
            .await
            .unwrap_or_default();
        for id in tasks.split_whitespace() {
            run(vec![
                "tasks".into(),
                "kill".into(),
                "-s".into(),
                "SIGKILL".into(),
                "-a".into(),
                id.into(),
            ])
            .await;
        }
        for id in tasks.split_whitespace() {
            run(vec![
                "tasks".into(),
                "delete".into(),
                "-f".into(),
                id.into(),
            ])
            .await;
        }
        let containers = run(vec!["containers".into(), "ls".into(), "-q".into()])
            .await
            .unwrap_or_default();
        for id in containers.split_whitespace() {
            run(vec!["containers".into(), "delete".into(), id.into()]).await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(20), removal)
        .await
        .is_err()
    {
        tracing::warn!(dir = %layout.dir.display(), "containerd did not remove the containers in 20 s; forcing");
    }
}

/// Undoes, when dropped, what a node leaves behind once its processes are gone. Declared
/// after the plane's processes, so the kubelet and containerd are dead first. Also registered
/// to run on the forced exit path (`kill_all_registered`), where nothing is dropped.
#[derive(Debug)]
pub struct NodeCleanup {
    layout: NodeLayout,
    on_exit: crate::stack::process::ExitCleanupGuard,
}

impl NodeCleanup {
    pub fn new(layout: NodeLayout) -> Self {
        let on_exit = {
            let layout = layout.clone();
            crate::stack::process::register_exit_cleanup(move || {
                let report = cleanup(&layout);
                if !report.is_clean() {
                    tracing::warn!(?report, "the node's cleanup left something behind");
                }
            })
        };
        NodeCleanup { layout, on_exit }
    }

    pub fn layout(&self) -> &NodeLayout {
        &self.layout
    }
}

impl Drop for NodeCleanup {
    fn drop(&mut self) {
        self.on_exit.run();
    }
}

/// What [`cleanup`] could not remove (empty when all is gone).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CleanupReport {
    pub processes_left: Vec<u32>,
    pub mounts_left: Vec<PathBuf>,
    pub cgroups_left: Vec<PathBuf>,
}

impl CleanupReport {
    pub fn is_clean(&self) -> bool {
        self.processes_left.is_empty()
            && self.mounts_left.is_empty()
            && self.cgroups_left.is_empty()
    }
}

/// Kills the pods' processes (through their cgroups) and containerd's shims, unmounts
/// everything under the node's directory, removes its cgroups and log links. Idempotent.
pub fn cleanup(layout: &NodeLayout) -> CleanupReport {
    let hierarchies = mounted_hierarchies();
    let roots: Vec<PathBuf> = hierarchies
        .iter()
        .map(|h| Path::new(CGROUP_FS).join(h).join(&layout.cgroup_root))
        .filter(|d| d.is_dir())
        .collect();
    // A frozen process only dies once thawed.
    for root in &roots {
        if root.starts_with(Path::new(CGROUP_FS).join("freezer")) {
            for dir in cgroup_dirs(root) {
                let _ = std::fs::write(dir.join("freezer.state"), "THAWED");
            }
        }
    }
    let socket = layout.containerd_socket.to_string_lossy().into_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut left;
    loop {
        left = cgroup_processes(&roots);
        left.extend(clients_of(&socket));
        left.sort_unstable();
        left.dedup();
        if left.is_empty() || std::time::Instant::now() >= deadline {
            break;
        }
        for pid in &left {
            if let Ok(pid) = i32::try_from(*pid) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for _ in 0..3 {
        let mounts = mounts_under(&layout.dir);
        if mounts.is_empty() {
            break;
        }
        // Deepest first: a mount inside another must go before it.
        for mount in mounts.iter().rev() {
            let _ = nix::mount::umount2(mount, nix::mount::MntFlags::MNT_DETACH);
        }
    }
    let mut cgroups_left = Vec::new();
    for root in &roots {
        for dir in cgroup_dirs(root).iter().rev() {
            if std::fs::remove_dir(dir).is_err() && dir.exists() {
                cgroups_left.push(dir.clone());
            }
        }
    }
    remove_log_links(&layout.dir);
    // What the kubelet leaves at its fixed paths; the directories only if now empty (a
    // kubelet of the machine's own would keep files there).
    for file in ["kubelet.sock", "kubelet_internal_checkpoint"] {
        let _ = std::fs::remove_file(Path::new(DEVICE_PLUGINS).join(file));
    }
    let _ = std::fs::remove_dir(DEVICE_PLUGINS);
    let _ = std::fs::remove_dir("/var/lib/kubelet");
    CleanupReport {
        processes_left: left,
        mounts_left: mounts_under(&layout.dir),
        cgroups_left,
    }
}

/// `root` and every cgroup below it, parents before children.
fn cgroup_dirs(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(entry.path());
                }
            }
        }
        out.push(dir);
    }
    // Depth order: sorting by component count keeps every parent ahead of its children.
    out.sort_by_key(|d| d.components().count());
    out
}

/// Every pid in the cgroups under `roots`.
fn cgroup_processes(roots: &[PathBuf]) -> Vec<u32> {
    let mut pids = Vec::new();
    for root in roots {
        for dir in cgroup_dirs(root) {
            if let Ok(text) = std::fs::read_to_string(dir.join("cgroup.procs")) {
                pids.extend(text.lines().filter_map(|l| l.trim().parse::<u32>().ok()));
            }
        }
    }
    pids
}

/// Processes that talk to the containerd at `socket` (their command line names it): its
/// shims, and a `ctr` of [`remove_containers`] cut short by a forced exit.
fn clients_of(socket: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let own = std::process::id();
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != own)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
                cmdline
                    .split(|b| *b == 0)
                    .any(|arg| arg == socket.as_bytes())
            })
        })
        .collect()
}

/// Mount points at or below `dir`, shallowest first (from `/proc/self/mountinfo`).
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut mounts: Vec<PathBuf> = text
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| PathBuf::from(unescape_mountinfo(field)))
        .filter(|m| m.starts_with(dir))
        .collect();
    mounts.sort_by_key(|m| m.components().count());
    mounts.dedup();
    mounts
}

/// mountinfo writes space, tab, newline and backslash as `\NNN` octal.
fn unescape_mountinfo(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let code =
                (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(code);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The kubelet links every container's log into `/var/log/containers` (a fixed path); the
/// links that point into `dir` go.
fn remove_log_links(dir: &Path) {
    let Ok(entries) = std::fs::read_dir("/var/log/containers") else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if std::fs::read_link(&path).is_ok_and(|target| target.starts_with(dir)) {
            let _ = std::fs::remove_file(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_decoded() {
        assert_eq!(unescape_mountinfo(r"/tmp/a\040b"), "/tmp/a b");
        assert_eq!(unescape_mountinfo(r"/tmp/plain"), "/tmp/plain");
        assert_eq!(unescape_mountinfo(r"/tmp/x\"), r"/tmp/x\");
    }

    #[test]
    fn cgroup_dirs_lists_parents_before_children() {
        let dir = tempfile::tempdir().expect("tempdir");
        let deep = dir.path().join("a/b/c");
        std::fs::create_dir_all(&deep).expect("dirs");
        std::fs::create_dir_all(dir.path().join("d")).expect("dirs");
        let dirs = cgroup_dirs(dir.path());
        assert_eq!(dirs.len(), 5, "{dirs:?}");
        let pos = |p: &Path| dirs.iter().position(|d| d == p).expect("listed");
        assert!(pos(dir.path()) < pos(&dir.path().join("a")));
        assert!(pos(&dir.path().join("a/b")) < pos(&deep));
    }
}
