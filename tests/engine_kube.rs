//! `gauntlet run` on a `provider: kubernetes` scenario, end to end, as users run it (the CLI,
//! a kubeconfig with the `gauntlet` ServiceAccount's token, `deploy/rbac.yaml` applied),
//! against a real control plane (`tests/kube_real`): Services in `monitoring` whose pods
//! port-forward, through the real apiserver, to a real native Prometheus, Alertmanager, Jaeger
//! and VictoriaLogs; `deployment/users` in `shop` whose pod the process kubelet runs as a real
//! `gauntlet services --only users` process, so scale-to-zero really stops it and the
//! rollback's new pod really starts it again; load Jobs whose pods run real `gauntlet
//! load-worker` processes.
//!
//! What is simulated (kwok pods, the process kubelet, NetworkPolicy not enforced) is listed in
//! `tests/kube_real/mod.rs`; what only a user's own cluster shows, in `deploy/README.md`. The
//! last test runs on a real node instead (containerd and a kubelet): users, the Services' pods
//! and the load workers are containers. Run with `--test-threads=1` (one control plane per
//! test).

mod kube_real;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gauntlet::report::{ExpectationStatus, RunResults, ScenarioResult, ScenarioStatus};
use gauntlet::stack::native::NativeBinaries;
use gauntlet::stack::{NativeStack, StackConfig};
use kube_real::{Cluster, SETTLE, eventually, get, opted_in, process_alive};
use serde_json::json;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_gauntlet"))
}

/// The real stack: scrape and evaluate every second, the shipped rules with `for: 2s`.
async fn start_stack(dir: &Path) -> (NativeStack, PathBuf) {
    let rules_dir = dir.join("rules");
    std::fs::create_dir_all(&rules_dir).expect("rules dir");
    let rules = gauntlet::runner::rules::override_alert_for(
        &[root().join("fixtures/stack/prometheus/rules/services.yml")],
        Duration::from_secs(2),
        &rules_dir,
    )
    .expect("rules");
    let config = StackConfig {
        rule_files: rules.clone(),
        log_dir: Some(dir.join("stack-logs")),
        ..StackConfig::for_tests()
    };
    let stack = NativeStack::start(&config).await.expect("native stack");
    (stack, rules[0].clone())
}

/// The real stack, a control plane with the observability Services and `deployment/users`
/// (its pod a real users service on a fixed port, scraped by the stack).
struct Rig {
    stack: NativeStack,
    cluster: Cluster,
    rules: PathBuf,
    port: u16,
}

impl Rig {
    /// `None` (skipped, with the reason) when the native stack's or the control plane's
    /// binaries are missing.
    async fn start() -> Option<Rig> {
        gauntlet::testing::require("native stack", NativeBinaries::available())?;
        Some(Self::with(Cluster::start().await?).await)
    }

    /// [`start`](Self::start) on a real node: `deployment/users`' pod and the Services'
    /// pods are containers run by a real kubelet; port-forwards go through it.
    async fn start_real_kubelet() -> Option<Rig> {
        gauntlet::testing::require("native stack", NativeBinaries::available())?;
        Some(Self::with(Cluster::start_real_kubelet().await?).await)
    }

    async fn with(cluster: Cluster) -> Rig {
        let (stack, rules) = start_stack(cluster.dir.path()).await;
        let urls = stack.urls().clone();
        cluster.observe_stack(&urls).await;
        // Fixed for the run: the rollback's new pod must come back on the same address.
        let port = gauntlet::stack::ports::allocate_port().expect("a free port");
        let otlp = urls.otlp_http.as_str().trim_end_matches('/').to_string();
        let command: Vec<String> = [
            "gauntlet",
            "services",
            "--no-progress",
            "--only",
            "users",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--otlp-endpoint",
            &otlp,
            "--no-json-logs",
        ]
        .map(String::from)
        .to_vec();
        let users = opted_in(&[("app", "users")]);
        cluster
            .deployment("shop", "users", 1, &users, &users, &command)
            .await;
        stack
            .set_service_targets("users", &[format!("127.0.0.1:{port}")])
            .expect("scrape target");
        cluster.running_pods("shop", "app=users", 1).await;
        wait_up(port).await;
        Rig {
            stack,
            cluster,
            rules,
            port,
        }
    }

    fn kubeconfig(&self) -> &Path {
        self.cluster.gauntlet_kubeconfig()
    }

    /// Writes a kubernetes scenario for this rig: the common `stack` and `services`, then
    /// `rest` (load, faults, expectations).
    fn scenario(&self, name: &str, rest: &str) -> PathBuf {
        let path = self.cluster.dir.path().join(format!("{name}.yaml"));
        let text = format!(
            "name: {name}\n\
             stack: {{ provider: kubernetes, context: gauntlet-local, namespace: shop, observe-namespace: monitoring,\n\
             \x20 scrape-interval: 1s, evaluation-interval: 1s, group-wait: 1s, rules: [{rules}] }}\n\
             services: {{ endpoints: {{ users: \"http://127.0.0.1:{port}\" }} }}\n{rest}",
            rules = self.rules.display(),
            port = self.port,
        );
        std::fs::write(&path, text).expect("scenario");
        path
    }

    async fn replicas(&self) -> serde_json::Value {
        let d = get(
            &self.cluster.admin(),
            "/apis/apps/v1/namespaces/shop/deployments/users",
        )
        .await
        .expect("deployment");
        d["spec"]["replicas"].clone()
    }
}

/// Waits (bounded) until the users service answers.
async fn wait_up(port: u16) {
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("users did not come up on {port}");
}

fn gauntlet_run(
    scenario: &Path,
    report_dir: &Path,
    kubeconfig: &Path,
    extra: &[&str],
) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(exe());
    c.args(["run", "--no-progress", "--report-dir"])
        .arg(report_dir)
        .args(extra)
        .arg(scenario)
        .env("KUBECONFIG", kubeconfig)
        .env_remove("GAUNTLET_WORKER_IMAGE")
        .current_dir(root())
        .kill_on_drop(true);
    c
}

/// Runs `command`, asserts its exit code (showing its output otherwise) and reads the run's
/// results.
async fn run_expecting(
    mut command: tokio::process::Command,
    report_dir: &Path,
    code: i32,
) -> RunResults {
    let out = command.output().await.expect("runs gauntlet");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stdout}\n{stderr}");
    results(report_dir)
}

fn results(report_dir: &Path) -> RunResults {
    let text = std::fs::read_to_string(report_dir.join("results.json")).expect("results.json");
    serde_json::from_str(&text).expect("results.json parses")
}

/// The expectation whose description contains `needle` was skipped, with `reason` in its
/// reason.
#[track_caller]
fn assert_skipped_because(s: &ScenarioResult, needle: &str, reason: &str) {
    let e = s
        .expectations
        .iter()
        .find(|e| e.description.contains(needle))
        .unwrap_or_else(|| panic!("no expectation {needle:?}: {:#?}", s.expectations));
    assert_eq!(e.status, ExpectationStatus::Skipped, "{e:?}");
    assert!(
        e.skipped_reason
            .as_deref()
            .is_some_and(|r| r.contains(reason)),
        "{e:?}"
    );
    assert_eq!(e.backend, gauntlet::report::NO_BACKEND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_to_zero_through_the_api_fires_and_resolves_service_down_seen_through_port_forwards()
{
    let Some(rig) = Rig::start().await else {
        return;
    };
    let scenario = rig.scenario(
        "kube-scale-users",
        r#"load: { rate: 20/s, duration: 40s, target: users, journeys: [health] }
faults:
  - { name: users-down, at: 3s, for: 10s, kind: scale-to-zero, workload: deployment/users }
expect:
  - { alert: ServiceDown, labels: { service: users }, state: firing, after: users-down, within: 20s }
  - { notification: pager, alert: ServiceDown, within: 20s }
  - { trace: { service: users }, within: 20s }
recover:
  expect:
    - { alert: ServiceDown, labels: { service: users }, state: resolved, within: 30s }
"#,
    );
    // `health` requests are not traced; a second client calls the traced route meanwhile.
    let port = rig.port;
    let traced = tokio::spawn(async move {
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        for i in 0..450u32 {
            let _ = client
                .get(format!("http://127.0.0.1:{port}/users/{}", i % 50 + 1))
                .timeout(Duration::from_secs(1))
                .send()
                .await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let report_dir = rig.cluster.dir.path().join("report");
    // The notification check is skipped (the cluster's Alertmanager notifies its own
    // receivers): nothing missed, but not everything proven, so the run is incomplete (5).
    let results = run_expecting(
        gauntlet_run(&scenario, &report_dir, rig.kubeconfig(), &[]),
        &report_dir,
        5,
    )
    .await;
    traced.abort();
    let s = &results.scenarios[0];
    assert_eq!(s.status, ScenarioStatus::Incomplete, "{s:#?}");
    let by_desc = |needle: &str| {
        s.expectations
            .iter()
            .find(|e| e.description.contains(needle))
            .unwrap_or_else(|| panic!("no expectation {needle:?} in {:#?}", s.expectations))
    };
    let firing = by_desc("firing");
    assert_eq!(firing.status, ExpectationStatus::Met, "{firing:?}");
    assert_eq!(firing.backend, "prometheus");
    let ttd = firing.time_to_detect_ms.expect("time to detect");
    // `for: 2s` after the first failed scrape: never before the rule's own `for`.
    assert!((2000..20_000).contains(&ttd), "{ttd}");
    let resolved = by_desc("resolved");
    assert_eq!(resolved.status, ExpectationStatus::Met, "{resolved:?}");
    let trace = s
        .expectations
        .iter()
        .find(|e| e.backend == "jaeger")
        .expect("trace expectation");
    assert_eq!(trace.status, ExpectationStatus::Met, "{trace:?}");
    // The cluster's Alertmanager does not notify gauntlet: skipped, with the reason.
    assert_skipped_because(s, "pager", "notifies its own receivers");

    // The fault went through the API as the ServiceAccount: the deployment is back at 1
    // replica, its pod was replaced, and the users process was killed and started again.
    assert_eq!(rig.replicas().await, json!(1));
    let users = rig.cluster.kubelet().started_for("users-");
    assert_eq!(
        users.len(),
        2,
        "killed by the scale to 0, started by the rollback: {users:?}"
    );
    assert_ne!(users[0].pod, users[1].pod, "a new pod");
    assert!(!process_alive(users[0].pid) && process_alive(users[1].pid));
    // Nothing addressed the stack directly: Prometheus was read through port-forwards.
    let prometheus = results
        .environment
        .components
        .iter()
        .find(|c| c.name == "prometheus")
        .expect("prometheus component");
    assert!(
        prometheus
            .note
            .as_deref()
            .is_some_and(|n| n.contains("port-forward")),
        "{prometheus:?}"
    );
    let load = s.load.as_ref().expect("load summary");
    assert!(load.requests > 100, "{load:?}");
    rig.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_rolls_back_kube_faults_and_deletes_the_load_job_before_exiting() {
    let Some(rig) = Rig::start().await else {
        return;
    };
    let scenario = rig.scenario(
        "kube-interrupt",
        r#"load: { rate: 10/s, duration: 120s, target: users, journeys: [health] }
faults:
  - { name: cut-users, at: 1s, for: 100s, kind: network-partition, selector: app=users }
  - { name: users-down, at: 2s, for: 100s, kind: scale-to-zero, workload: deployment/users }
expect:
  - { alert: ServiceDown, labels: { service: users }, state: firing, after: users-down, within: 90s }
"#,
    );
    let report_dir = rig.cluster.dir.path().join("report");
    let child = gauntlet_run(
        &scenario,
        &report_dir,
        rig.kubeconfig(),
        &[
            "--workers",
            "2",
            "--worker-image",
            "example.org/gauntlet:test",
        ],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .expect("spawns gauntlet");

    // Interrupt once both faults are in and the load Job's workers run.
    let admin = rig.cluster.admin();
    let policy =
        "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/gauntlet-partition-cut-users";
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let injected = get(&admin, policy).await.is_some()
            && rig.replicas().await == json!(0)
            && rig.cluster.kubelet().running_pids("gauntlet-load-").len() == 2;
        if injected {
            break;
        }
        if Instant::now() > deadline {
            let out = child.wait_with_output().await.expect("output");
            panic!(
                "faults never injected: {:?}\n{}\n{}",
                rig.cluster.kubelet().started(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let worker_pids = rig.cluster.kubelet().running_pids("gauntlet-load-");
    let pid = nix::unistd::Pid::from_raw(child.id().expect("pid") as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("SIGINT");
    let interrupted_at = Instant::now();
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("gauntlet exits after one Ctrl-C")
        .expect("output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(interrupted_at.elapsed() < Duration::from_secs(15));

    // Everything it did in the cluster is undone.
    assert_eq!(get(&admin, policy).await, None);
    assert_eq!(rig.replicas().await, json!(1));
    let jobs = get(&admin, "/apis/batch/v1/namespaces/shop/jobs")
        .await
        .expect("jobs");
    assert_eq!(jobs["items"], json!([]), "{jobs:#}");
    eventually("the workers killed", SETTLE, || async {
        (!worker_pids.iter().any(|p| process_alive(*p))).then_some(())
    })
    .await;
    rig.cluster.running_pods("shop", "app=users", 1).await;
    // The report says what happened.
    let results = results(&report_dir);
    let s = &results.scenarios[0];
    assert_eq!(s.status, ScenarioStatus::Error);
    assert!(
        s.error
            .as_deref()
            .is_some_and(|e| e.contains("interrupted")),
        "{s:?}"
    );
    rig.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_run_the_load_in_a_job_and_their_merged_results_are_the_runs_load() {
    let Some(rig) = Rig::start().await else {
        return;
    };
    let scenario = rig.scenario(
        "kube-workers",
        r#"load: { rate: 20/s, duration: 5s, target: users, journeys: [health] }
expect:
  - { metric: 'up{service="users"} == 1', within: 10s }
  - { correlation: { find-in: [traces] }, within: 10s }
"#,
    );
    let report_dir = rig.cluster.dir.path().join("report");
    let run = gauntlet_run(
        &scenario,
        &report_dir,
        rig.kubeconfig(),
        &[
            "--workers",
            "2",
            "--worker-image",
            "example.org/gauntlet:test",
            // Correlation is skipped with workers; the user accepts that here.
            "--accept-incomplete",
        ],
    );
    let results = run_expecting(run, &report_dir, 0).await;
    let s = &results.scenarios[0];
    assert_eq!(s.status, ScenarioStatus::Incomplete, "{s:#?}");
    // Two workers at 10/s for 5 s: the merged count is the run's load.
    let load = s.load.as_ref().expect("merged load");
    assert!((60..=140).contains(&load.requests), "{load:?}");
    assert_eq!(load.failures, 0, "{load:?}");
    assert_skipped_because(s, "trace", "2 cluster worker(s)");
    // The Job's two pods ran real workers (indexes 0 and 1), which exited 0; the Job is gone.
    let workers = rig.cluster.kubelet().started_for("gauntlet-load-");
    assert_eq!(workers.len(), 2, "{workers:?}");
    let ended = rig.cluster.kubelet().ended();
    assert!(
        workers.iter().all(|w| ended
            .iter()
            .any(|e| e.pod == w.pod && e.exit_code == Some(0))),
        "{ended:?}"
    );
    let jobs = get(&rig.cluster.admin(), "/apis/batch/v1/namespaces/shop/jobs")
        .await
        .expect("jobs");
    assert_eq!(jobs["items"], json!([]), "{jobs:#}");
    rig.stack.stop().await;
}

/// The container id (`containerd://…`) of a pod's first container, once it has one.
fn container_id(pod: &serde_json::Value) -> Option<String> {
    pod["status"]["containerStatuses"][0]["containerID"]
        .as_str()
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
}

/// What the watcher saw of one worker pod.
#[derive(Debug, Clone, Default)]
struct WorkerPodSeen {
    container: Option<String>,
    host_network: bool,
    exit_code: Option<i64>,
}

/// On a real node (containerd and a kubelet, no kwok): `deployment/users` and the load
/// Job's two workers are containers of the image made from this gauntlet binary, and the
/// observability Services are reached by port-forwards through the kubelet. Scaling users to
/// zero stops its container, so the workers' requests really fail and the real ServiceDown
/// alert fires; the rollback's new container brings it back and the alert resolves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_real_kubelet_worker_containers_load_users_while_its_scale_to_zero_fires_service_down()
{
    let Some(rig) = Rig::start_real_kubelet().await else {
        return;
    };
    let admin = rig.cluster.admin();
    let image = rig
        .cluster
        .plane()
        .images()
        .expect("a real node has images")
        .gauntlet
        .clone();
    let users_pods = "/api/v1/namespaces/shop/pods?labelSelector=app%3Dusers";
    let before = get(&admin, users_pods).await.expect("users pods");
    let first_users = container_id(&before["items"][0]).expect("users runs in a container");
    assert!(first_users.starts_with("containerd://"), "{first_users}");

    let scenario = rig.scenario(
        "kubelet-workers",
        r#"load: { rate: 20/s, duration: 30s, target: users, journeys: [health] }
faults:
  - { name: users-down, at: 5s, for: 10s, kind: scale-to-zero, workload: deployment/users }
expect:
  - { alert: ServiceDown, labels: { service: users }, state: firing, after: users-down, within: 20s }
recover:
  expect:
    - { alert: ServiceDown, labels: { service: users }, state: resolved, within: 30s }
"#,
    );
    // The Job is deleted at the end of the run: watch its pods while it lives.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::<
        String,
        WorkerPodSeen,
    >::new()));
    let watcher = {
        let (admin, seen) = (admin.clone(), seen.clone());
        tokio::spawn(async move {
            let path = "/api/v1/namespaces/shop/pods?labelSelector=app.kubernetes.io%2Fname%3Dgauntlet-load-worker";
            for _ in 0..600 {
                if let Some(list) = get(&admin, path).await {
                    for pod in list["items"].as_array().into_iter().flatten() {
                        let name = pod["metadata"]["name"].as_str().unwrap_or_default();
                        let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                        let entry = seen.entry(name.to_owned()).or_default();
                        entry.host_network = pod["spec"]["hostNetwork"] == true;
                        if let Some(id) = container_id(pod) {
                            entry.container = Some(id);
                        }
                        if let Some(code) =
                            pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"]
                                .as_i64()
                        {
                            entry.exit_code = Some(code);
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let report_dir = rig.cluster.dir.path().join("report");
    let run = gauntlet_run(
        &scenario,
        &report_dir,
        rig.kubeconfig(),
        &[
            "--workers",
            "2",
            "--worker-image",
            &image,
            "--worker-host-network",
        ],
    );
    let results = run_expecting(run, &report_dir, 0).await;
    watcher.abort();
    let s = &results.scenarios[0];
    assert_eq!(s.status, ScenarioStatus::Met, "{s:#?}");
    for e in &s.expectations {
        assert_eq!(e.status, ExpectationStatus::Met, "{e:?}");
        assert_eq!(e.backend, "prometheus", "{e:?}");
    }
    // The workers' merged load: 20/s for 30 s, and the requests sent while users had no
    // container failed.
    let load = s.load.as_ref().expect("merged load");
    assert!((450..=700).contains(&load.requests), "{load:?}");
    // The reports say where the load came from.
    let workers = load
        .cluster_workers
        .as_ref()
        .expect("cluster workers recorded");
    assert_eq!(
        (workers.workers, workers.host_network),
        (2, true),
        "{workers:?}"
    );
    assert_eq!(workers.image, image);
    let markdown = std::fs::read_to_string(report_dir.join("report.md")).expect("report.md");
    assert!(
        markdown.contains(&format!(
            "Sent from inside the cluster by Job {}",
            workers.job
        )),
        "{markdown}"
    );
    assert!(
        load.failures > 20 && load.failures < load.requests / 2,
        "{load:?}"
    );
    // Both workers were containers in the host's network and exited 0.
    let seen = seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
    eprintln!(
        "real kubelet: startup {:?}; load {load:?}; workers {seen:#?}; detection {:?} ms",
        rig.cluster.plane().startup(),
        s.expectations[0].time_to_detect_ms
    );
    assert_eq!(seen.len(), 2, "{seen:#?}");
    for (pod, w) in &seen {
        assert!(w.host_network, "{pod}: {w:?}");
        assert!(
            w.container
                .as_deref()
                .is_some_and(|c| c.starts_with("containerd://")),
            "{pod}: {w:?}"
        );
        assert_eq!(w.exit_code, Some(0), "{pod}: {w:?}");
    }
    let jobs = get(&admin, "/apis/batch/v1/namespaces/shop/jobs")
        .await
        .expect("jobs");
    assert_eq!(jobs["items"], json!([]), "{jobs:#}");
    // The rollback's pod is a new container, serving again.
    let after = rig.cluster.running_pods("shop", "app=users", 1).await;
    let after = serde_json::to_value(&after[0]).expect("pod json");
    let second_users = container_id(&after).expect("a container");
    assert_ne!(first_users, second_users);
    wait_up(rig.port).await;

    // Stopping the plane removes every container, mount and cgroup it made.
    let Rig { stack, cluster, .. } = rig;
    stack.stop().await;
    let layout = cluster.plane().node_layout().expect("a real node").clone();
    cluster.stop().await;
    kube_real::assert_node_gone(&layout);
}
