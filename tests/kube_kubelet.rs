//! The local control plane with a real node (`LocalOptions::kubelet`): Debian's containerd
//! and runc with a kubelet from the same Kubernetes module, instead of kwok. Pods are real
//! containers of the image made from this test's `gauntlet` binary; their limits are real
//! cgroups; their logs come from the kubelet through the API server. Pods without
//! `hostNetwork` fail with the reason (there is no pod network here). Stopping or dropping the
//! plane leaves no process, mount or cgroup behind.
//!
//! Skipped with the reason when the binaries are not provisioned or this is not root on
//! cgroup v1; a failure under `GAUNTLET_REQUIRE_STACK=1`.

mod kube_real;

use std::path::{Path, PathBuf};
use std::time::Duration;

use gauntlet::cluster::{KubeletOptions, LocalControlPlane, LocalOptions};
use kube_real::{SETTLE, assert_node_gone, create, eventually, get};
use serde_json::{Value, json};

async fn start() -> Option<LocalControlPlane> {
    let options = LocalOptions {
        kubelet: Some(KubeletOptions {
            gauntlet_binary: PathBuf::from(env!("CARGO_BIN_EXE_gauntlet")),
        }),
        ..LocalOptions::default()
    };
    let plane = gauntlet::testing::local_control_plane(&options).await?;
    eprintln!(
        "control plane with a real kubelet up: {:?}",
        plane.startup()
    );
    Some(plane)
}

/// A pod in `default` running `command` in the plane's image, with a 64 MiB memory limit.
fn pod(plane: &LocalControlPlane, name: &str, host_network: bool, command: &[&str]) -> Value {
    let image = &plane.images().expect("a real node has images").gauntlet;
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "hostNetwork": host_network,
            "restartPolicy": "Never",
            "automountServiceAccountToken": false,
            "terminationGracePeriodSeconds": 1,
            "securityContext": {"runAsNonRoot": true, "runAsUser": 65532},
            "containers": [{"name": "main", "image": image, "command": command,
                "resources": {"requests": {"cpu": "50m", "memory": "32Mi"},
                              "limits": {"memory": "64Mi"}}}]
        }
    })
}

async fn pod_status(admin: &kube::Client, name: &str) -> Value {
    get(admin, &format!("/api/v1/namespaces/default/pods/{name}"))
        .await
        .unwrap_or_else(|| panic!("pod {name} exists"))
}

/// The uid of pod `name` in `default`, once it is Running.
async fn running_uid(admin: &kube::Client, name: &str) -> String {
    eventually(&format!("pod {name} runs"), SETTLE, || async {
        let p = pod_status(admin, name).await;
        (p["status"]["phase"] == "Running")
            .then(|| p["metadata"]["uid"].as_str().unwrap_or_default().to_owned())
    })
    .await
}

/// The host pids of pod `sleeper`'s containers, once it runs.
async fn sleeper_pids(plane: &LocalControlPlane, admin: &kube::Client) -> Vec<u32> {
    let uid = running_uid(admin, "sleeper").await;
    eventually("the sleeper's processes", SETTLE, || async {
        let pids = container_pids(plane, &uid);
        (!pids.is_empty()).then_some(pids)
    })
    .await
}

/// The host pids in pod `uid`'s cgroups (`pod<uid>` under the node's cgroup root).
fn container_pids(plane: &LocalControlPlane, uid: &str) -> Vec<u32> {
    let layout = plane.node_layout().expect("a real node");
    let root = Path::new("/sys/fs/cgroup/pids").join(&layout.cgroup_root);
    let mut pids = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        let name = dir.to_string_lossy().into_owned();
        if name.contains(&format!("pod{uid}"))
            && let Ok(text) = std::fs::read_to_string(dir.join("cgroup.procs"))
        {
            pids.extend(text.lines().filter_map(|l| l.parse::<u32>().ok()));
        }
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(entry.path());
            }
        }
    }
    pids
}

/// Every one of `pids` is dead (gone or a zombie) within 5 s: a SIGKILLed container whose
/// shim was killed too is reaped by init a moment later.
async fn assert_dead(pids: &[u32]) {
    let dead = kube_real::eventually_or_none(Duration::from_secs(5), || async {
        pids.iter()
            .all(|p| !kube_real::process_alive(*p))
            .then_some(())
    })
    .await;
    assert!(
        dead.is_some(),
        "container processes outlived the plane: {pids:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_are_real_containers_with_cgroup_limits_and_logs_and_stop_leaves_nothing() {
    let Some(plane) = start().await else {
        return;
    };
    let admin = plane.admin_client().await.expect("admin client");
    create(
        &admin,
        "/api/v1/namespaces/default/pods",
        pod(&plane, "version", true, &["gauntlet", "--version"]),
    )
    .await;
    create(
        &admin,
        "/api/v1/namespaces/default/pods",
        pod(&plane, "sleeper", true, &["gauntlet", "pause"]),
    )
    .await;
    create(
        &admin,
        "/api/v1/namespaces/default/pods",
        pod(&plane, "own-network", false, &["gauntlet", "pause"]),
    )
    .await;

    // The binary ran in a container and its output is the pod's log, read from the kubelet.
    eventually("pod version succeeded", SETTLE, || async {
        let p = pod_status(&admin, "version").await;
        (p["status"]["phase"] == "Succeeded").then_some(())
    })
    .await;
    let p = pod_status(&admin, "version").await;
    let state = &p["status"]["containerStatuses"][0];
    assert!(
        state["containerID"]
            .as_str()
            .is_some_and(|id| id.starts_with("containerd://")),
        "{state:#}"
    );
    assert_eq!(state["state"]["terminated"]["exitCode"], 0, "{state:#}");
    let log = kube::Api::<k8s_openapi::api::core::v1::Pod>::namespaced(admin.clone(), "default")
        .logs("version", &Default::default())
        .await
        .expect("the pod's log through the API server");
    assert_eq!(
        log.trim(),
        format!("gauntlet {}", env!("CARGO_PKG_VERSION"))
    );

    // A running container is a process on this machine, as user 65532, under a memory cgroup
    // with the pod's limit.
    let pids = sleeper_pids(&plane, &admin).await;
    let commands: Vec<String> = pids
        .iter()
        .filter_map(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).ok())
        .map(|c| {
            String::from_utf8_lossy(&c)
                .replace('\0', " ")
                .trim()
                .to_owned()
        })
        .collect();
    assert!(
        commands.iter().any(|c| c == "gauntlet pause"),
        "{commands:?}"
    );
    let limits: Vec<String> = pids
        .iter()
        .filter_map(|pid| {
            let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
            let memory = cgroup
                .lines()
                .find_map(|l| l.split_once(":memory:").map(|(_, path)| path.to_owned()))?;
            std::fs::read_to_string(format!(
                "/sys/fs/cgroup/memory{memory}/memory.limit_in_bytes"
            ))
            .ok()
            .map(|v| v.trim().to_owned())
        })
        .collect();
    assert!(
        limits.iter().any(|l| l == &(64 * 1024 * 1024).to_string()),
        "{limits:?}"
    );

    // There is no pod network: a pod without hostNetwork never runs, and says why.
    let reason = eventually("own-network's sandbox fails", SETTLE, || async {
        let events = get(&admin, "/api/v1/namespaces/default/events").await?;
        events["items"]
            .as_array()?
            .iter()
            .filter(|e| e["involvedObject"]["name"] == "own-network")
            .filter_map(|e| e["message"].as_str())
            .find(|m| m.contains("gauntlet-pods-need-hostnetwork"))
            .map(str::to_owned)
    })
    .await;
    eprintln!("own-network: {reason}");
    assert_ne!(
        pod_status(&admin, "own-network").await["status"]["phase"],
        "Running"
    );

    let layout = plane.node_layout().expect("a real node").clone();
    plane.stop().await;
    assert_node_gone(&layout);
    assert_dead(&pids).await;
}

/// A plane dropped without `stop` (a panicking test, an error path) still kills its
/// containers and removes their mounts and cgroups.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_plane_with_a_running_container_leaves_nothing() {
    let Some(plane) = start().await else {
        return;
    };
    let admin = plane.admin_client().await.expect("admin client");
    create(
        &admin,
        "/api/v1/namespaces/default/pods",
        pod(&plane, "sleeper", true, &["gauntlet", "pause"]),
    )
    .await;
    let pids = sleeper_pids(&plane, &admin).await;
    let layout = plane.node_layout().expect("a real node").clone();
    assert!(!gauntlet::cluster::local::node::mounts_under(&layout.dir).is_empty());
    drop(plane);
    assert_node_gone(&layout);
    assert_dead(&pids).await;
}

/// `gauntlet cluster up --kubelet` as a user runs it: it prints the image it imported, a pod
/// of that image runs, and Ctrl-C twice in a row (the forced path, where nothing is dropped)
/// still leaves no container, mount or cgroup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_up_with_a_kubelet_runs_its_image_and_a_forced_ctrl_c_leaves_nothing() {
    let binaries = gauntlet::cluster::KubeBinaries::find()
        .and_then(|_| gauntlet::cluster::local::node::NodeBinaries::find())
        .map_err(|e| e.to_string());
    if gauntlet::testing::require("a real kubelet node", binaries).is_none() {
        return;
    }
    let scratch = tempfile::tempdir().expect("tempdir");
    let dir = scratch.path().join("cluster");
    let (mut child, rx, printed) = kube_real::cluster_up(&["--kubelet"], &dir);
    let image = printed
        .iter()
        .find_map(|l| l.trim().strip_prefix("image"))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the image line")
        .to_owned();
    assert!(
        image.starts_with("gauntlet.local/gauntlet:"),
        "{printed:#?}"
    );
    let dir = dir.canonicalize().expect("dir exists");
    let kubeconfig = dir.join("admin.kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(&kubeconfig).expect("kubeconfig parses"),
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .expect("kubeconfig loads");
    let admin = kube::Client::try_from(config).expect("client");
    create(
        &admin,
        "/api/v1/namespaces/default/pods",
        json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "sleeper"},
            "spec": {"hostNetwork": true, "automountServiceAccountToken": false,
                "containers": [{"name": "main", "image": image, "command": ["gauntlet", "pause"]}]}
        }),
    )
    .await;
    let uid = running_uid(&admin, "sleeper").await;
    // The container's process, and from its cgroup the node's cgroup root.
    let (pid, cgroup_root) = eventually("the sleeper's process", SETTLE, || async {
        std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
            let pid = e.file_name().to_str()?.parse::<u32>().ok()?;
            let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
            let memory = cgroup.lines().find_map(|l| l.split_once(":memory:"))?.1;
            if !memory.contains(&format!("pod{uid}")) {
                return None;
            }
            let root = memory.trim_start_matches('/').split('/').next()?.to_owned();
            Some((pid, root))
        })
    })
    .await;
    assert!(cgroup_root.starts_with("gauntlet-"), "{cgroup_root}");

    let pid_of_gauntlet = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid fits"));
    nix::sys::signal::kill(pid_of_gauntlet, nix::sys::signal::Signal::SIGINT).expect("signal");
    // The second Ctrl-C lands while the graceful stop runs: the forced path starts, and
    // whichever of the two finishes first ends the process (130 forced, 0 graceful). The
    // node's cleanup runs once either way: the forced path waits for a cleanup under way.
    let stopping = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("cluster up says it is stopping");
    assert_eq!(stopping, "stopping the control plane");
    nix::sys::signal::kill(pid_of_gauntlet, nix::sys::signal::Signal::SIGINT).expect("signal");
    let status = child.wait().expect("wait");
    eprintln!("cluster up after two Ctrl-C: {status}");
    assert!(matches!(status.code(), Some(0 | 130)), "{status}");
    let layout = gauntlet::cluster::local::node::NodeLayout {
        dir: dir.join("node"),
        cgroup_root,
        containerd_socket: dir.join("node/containerd/containerd.sock"),
    };
    // Either way: nothing running, mounted or grouped, and the run directory (with its keys)
    // is gone.
    assert_node_gone(&layout);
    assert!(!dir.exists(), "{}", dir.display());
    assert_dead(&[pid]).await;
}
