//! Kubernetes mode against a real control plane (`tests/kube_real`: real apiserver with
//! RBAC and `deploy/rbac.yaml`, real controllers and scheduler, kwok nodes, a process kubelet
//! running real `gauntlet` processes for pods). gauntlet acts as the `gauntlet`
//! ServiceAccount; the test reads the outcome as cluster-admin.
//!
//! - every fault kind and its rollback: pod-kill (the ReplicaSet recreates pods, their
//!   processes restart), scale-to-zero (replicas 0, processes killed, then restored),
//!   rollout-restart (a new ReplicaSet and pods), network-partition (a NetworkPolicy created,
//!   refused when it exists, deleted on rollback, on a dropped guard, on `rollback_all`, and a
//!   vanished one counts as rolled back);
//! - the opt-in guard with real labels: unlabelled namespace, workload or pods are refused and
//!   nothing in the cluster changes;
//! - discovery of the observability Services and the apiserver's port-forward protocol to a
//!   real native Prometheus, Alertmanager, Jaeger and VictoriaLogs;
//! - the load Job: created, run by the job controller, real `load-worker` processes, logs
//!   read back and merged exactly, the Job deleted; a worker that cannot start; a hung worker
//!   stopped by the Job's deadline.
//!
//! What is simulated (kwok pods, the process kubelet, NetworkPolicy not enforced) is listed in
//! `tests/kube_real/mod.rs`. Run with `--test-threads=1` (one control plane per test).

mod kube_real;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gauntlet::cluster::{
    Component, DistributedLoad, ForwardLimits, JobConfig, KubeFaultError, KubeFaults, Name,
    PortForwards, Refusal, WorkerError,
};
use gauntlet::fault::FaultRegistry;
use gauntlet::load::{Journey, JourneyWeight, LoadPlan};
use gauntlet::observe::PrometheusClient;
use gauntlet::observe::prometheus::QueryResult;
use gauntlet::scenario::{Fault, FaultAction};
use gauntlet::stack::native::NativeBinaries;
use gauntlet::stack::{NativeStack, StackConfig};
use gauntlet::verdict::Backoff;
use kube_real::{Cluster, SETTLE, eventually, get, labels, opted_in, process_alive};
use serde_json::Value;
use tokio::net::TcpListener;

fn name(what: &'static str, n: &str) -> Name {
    Name::parse(what, n).expect("valid name")
}

fn fault(fault_name: &str, action: FaultAction) -> Fault {
    Fault {
        name: fault_name.into(),
        at: Duration::ZERO,
        duration: Some(Duration::from_secs(1)),
        action,
        replica: None,
    }
}

/// A long-running `gauntlet` process for a workload's pods: the users service on a port
/// the OS picks.
fn service_command() -> Vec<String> {
    [
        "gauntlet",
        "services",
        "--no-progress",
        "--only",
        "users",
        "--no-json-logs",
    ]
    .map(String::from)
    .to_vec()
}

fn pod_names(pods: &[k8s_openapi::api::core::v1::Pod]) -> Vec<String> {
    pods.iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect()
}

async fn deployment(cluster: &Cluster, ns: &str, n: &str) -> Value {
    get(
        &cluster.admin(),
        &format!("/apis/apps/v1/namespaces/{ns}/deployments/{n}"),
    )
    .await
    .expect("deployment exists")
}

/// What only a change to the object's spec moves (status updates by controllers do not).
fn generation(v: &Value) -> (i64, Value) {
    (
        v["metadata"]["generation"].as_i64().expect("generation"),
        v["spec"].clone(),
    )
}

/// Waits until every process started for pods named `prefix*` other than `alive` has ended
/// and `n` are running; returns the running pids.
async fn processes(cluster: &Cluster, prefix: &str, n: usize) -> Vec<u32> {
    eventually(&format!("{n} processes for {prefix}*"), SETTLE, || async {
        let pids = cluster.kubelet().running_pids(prefix);
        (pids.len() == n && pids.iter().all(|p| process_alive(*p))).then_some(pids)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_to_zero_stops_the_pods_processes_and_the_rollback_brings_new_ones() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    cluster
        .deployment(
            "shop",
            "users",
            1,
            &opted_in(&[("app", "users")]),
            &labels(&[("app", "users")]),
            &service_command(),
        )
        .await;
    cluster
        .deployment(
            "shop",
            "legacy",
            2,
            &labels(&[("app", "legacy")]),
            &labels(&[("app", "legacy")]),
            &service_command(),
        )
        .await;
    let before = cluster.running_pods("shop", "app=users", 1).await;
    let first = processes(&cluster, "users-", 1).await;
    let faults = KubeFaults::new(cluster.gauntlet(), Some("shop".into()));
    let registry = FaultRegistry::new();

    let injection = faults
        .inject(
            &registry,
            &fault(
                "users-down",
                FaultAction::ScaleToZero {
                    workload: "deployment/users".into(),
                    namespace: None,
                },
            ),
        )
        .await
        .expect("injected");
    assert_eq!(injection.previous_replicas, Some(1));
    assert_eq!(
        deployment(&cluster, "shop", "users").await["spec"]["replicas"],
        0
    );
    // The ReplicaSet controller deletes the pod, kwok removes it, the kubelet kills it.
    eventually("users pods gone", SETTLE, || async {
        cluster
            .pods("shop", "app=users")
            .await
            .is_empty()
            .then_some(())
    })
    .await;
    processes(&cluster, "users-", 0).await;
    assert!(!process_alive(first[0]), "scale to 0 killed the process");

    injection
        .guard
        .expect("scale-to-zero is undone")
        .rollback()
        .await
        .expect("rolled back");
    assert_eq!(
        deployment(&cluster, "shop", "users").await["spec"]["replicas"],
        1
    );
    let after = cluster.running_pods("shop", "app=users", 1).await;
    assert_ne!(pod_names(&after), pod_names(&before), "a new pod");
    let second = processes(&cluster, "users-", 1).await;
    assert_ne!(second, first);
    assert_eq!(cluster.kubelet().started_for("users-").len(), 2);

    // An unlabelled deployment is refused, and the cluster does not change.
    let legacy = deployment(&cluster, "shop", "legacy").await;
    let err = faults
        .inject(
            &registry,
            &fault(
                "legacy-down",
                FaultAction::ScaleToZero {
                    workload: "deployment/legacy".into(),
                    namespace: None,
                },
            ),
        )
        .await
        .expect_err("refused");
    assert_eq!(
        err.refusal(),
        Some(&Refusal::Workload {
            namespace: "shop".into(),
            workload: "deployment/legacy".into()
        })
    );
    let unchanged = deployment(&cluster, "shop", "legacy").await;
    assert_eq!(generation(&unchanged), generation(&legacy));
    assert_eq!(unchanged["spec"]["replicas"], 2);
    processes(&cluster, "legacy-", 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_kill_and_rollout_restart_replace_pods_and_processes() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let pod_labels = opted_in(&[("app", "orders")]);
    cluster
        .deployment(
            "shop",
            "orders",
            2,
            &pod_labels,
            &pod_labels,
            &service_command(),
        )
        .await;
    let first = pod_names(&cluster.running_pods("shop", "app=orders", 2).await);
    let first_pids = processes(&cluster, "orders-", 2).await;
    let faults = KubeFaults::new(cluster.gauntlet(), Some("shop".into()));
    let registry = FaultRegistry::new();

    let kill = faults
        .inject(
            &registry,
            &fault(
                "kill-orders",
                FaultAction::PodKill {
                    selector: "app=orders".into(),
                    namespace: None,
                },
            ),
        )
        .await
        .expect("pods deleted");
    assert_eq!(kill.deleted_pods, first);
    assert!(kill.guard.is_none());
    let second = eventually("the ReplicaSet replaced both pods", SETTLE, || async {
        let now = pod_names(&cluster.pods("shop", "app=orders").await);
        (now.len() == 2 && now.iter().all(|p| !first.contains(p))).then_some(now)
    })
    .await;
    cluster.running_pods("shop", "app=orders", 2).await;
    let second_pids = processes(&cluster, "orders-", 2).await;
    assert!(first_pids.iter().all(|p| !process_alive(*p)));
    assert!(second_pids.iter().all(|p| !first_pids.contains(p)));

    faults
        .inject(
            &registry,
            &fault(
                "restart-orders",
                FaultAction::RolloutRestart {
                    workload: "deployment/orders".into(),
                    namespace: None,
                },
            ),
        )
        .await
        .expect("restarted");
    let stamped = deployment(&cluster, "shop", "orders").await;
    assert!(
        stamped
            .pointer("/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt")
            .is_some(),
        "{stamped:#}"
    );
    let replica_sets = get(
        &cluster.admin(),
        "/apis/apps/v1/namespaces/shop/replicasets?labelSelector=app%3Dorders",
    )
    .await
    .expect("replicasets");
    assert_eq!(
        replica_sets["items"].as_array().map(Vec::len),
        Some(2),
        "the restart made a second ReplicaSet"
    );
    eventually("the rollout replaced both pods", SETTLE, || async {
        let now = pod_names(&cluster.pods("shop", "app=orders").await);
        (now.len() == 2 && now.iter().all(|p| !second.contains(p))).then_some(())
    })
    .await;
    let third_pids = processes(&cluster, "orders-", 2).await;
    assert!(second_pids.iter().all(|p| !process_alive(*p)));
    assert!(third_pids.iter().all(|p| !second_pids.contains(p)));

    // Pods without the opt-in label: refused, none deleted.
    cluster
        .deployment(
            "shop",
            "legacy",
            1,
            &opted_in(&[("app", "legacy")]),
            &labels(&[("app", "legacy")]),
            &service_command(),
        )
        .await;
    let legacy = pod_names(&cluster.running_pods("shop", "app=legacy", 1).await);
    let err = faults
        .inject(
            &registry,
            &fault(
                "kill-legacy",
                FaultAction::PodKill {
                    selector: "app=legacy".into(),
                    namespace: None,
                },
            ),
        )
        .await
        .expect_err("refused");
    assert!(matches!(err.refusal(), Some(Refusal::Pods { .. })), "{err}");
    assert_eq!(pod_names(&cluster.pods("shop", "app=legacy").await), legacy);

    // A namespace without the opt-in label: refused, the workload unchanged.
    cluster.namespace("other", &labels(&[])).await;
    cluster
        .deployment(
            "other",
            "users",
            1,
            &opted_in(&[("app", "users")]),
            &opted_in(&[("app", "users")]),
            &service_command(),
        )
        .await;
    let other = deployment(&cluster, "other", "users").await;
    let err = faults
        .inject(
            &registry,
            &fault(
                "other-down",
                FaultAction::ScaleToZero {
                    workload: "deployment/users".into(),
                    namespace: Some("other".into()),
                },
            ),
        )
        .await
        .expect_err("refused");
    assert!(
        matches!(err.refusal(), Some(Refusal::Namespace { .. })),
        "{err}"
    );
    assert_eq!(
        generation(&deployment(&cluster, "other", "users").await),
        generation(&other)
    );
}

const POLICY: &str =
    "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/gauntlet-partition-cut-orders";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_is_a_network_policy_until_every_kind_of_rollback() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let pod_labels = opted_in(&[("app", "orders")]);
    cluster
        .deployment(
            "shop",
            "orders",
            1,
            &pod_labels,
            &pod_labels,
            &service_command(),
        )
        .await;
    cluster.running_pods("shop", "app=orders", 1).await;
    let faults = KubeFaults::new(cluster.gauntlet(), Some("shop".into()));
    let registry = FaultRegistry::new();
    let partition = fault(
        "cut-orders",
        FaultAction::NetworkPartition {
            selector: "app=orders".into(),
            namespace: None,
        },
    );
    let admin = cluster.admin();

    let cut = faults
        .inject(&registry, &partition)
        .await
        .expect("partitioned");
    let policy = get(&admin, POLICY).await.expect("the policy exists");
    assert_eq!(
        policy["spec"]["podSelector"]["matchLabels"]["app"], "orders",
        "{policy:#}"
    );
    let again = faults
        .inject(&registry, &partition)
        .await
        .expect_err("already exists");
    assert!(
        matches!(&again, KubeFaultError::PolicyExists { name, .. } if name == "gauntlet-partition-cut-orders"),
        "{again}"
    );
    cut.guard
        .expect("partition is undone")
        .rollback()
        .await
        .expect("rolled back");
    assert_eq!(get(&admin, POLICY).await, None);

    // A dropped guard rolls back.
    let cut = faults.inject(&registry, &partition).await.expect("again");
    assert!(get(&admin, POLICY).await.is_some());
    drop(cut.guard);
    assert_eq!(get(&admin, POLICY).await, None);

    // So does rollback_all (what ctrl-c runs), after which the guard has nothing to do.
    let cut = faults.inject(&registry, &partition).await.expect("again");
    assert!(registry.rollback_all().await.is_empty());
    assert_eq!(get(&admin, POLICY).await, None);
    cut.guard.expect("guard").rollback().await.expect("no-op");

    // Someone deleted the policy meanwhile: 404 counts as rolled back.
    let cut = faults.inject(&registry, &partition).await.expect("again");
    kube_real::send(&admin, http::Method::DELETE, POLICY, None)
        .await
        .expect("deleted by hand");
    cut.guard
        .expect("guard")
        .rollback()
        .await
        .expect("already gone is rolled back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovered_observability_answers_through_the_apiservers_port_forward() {
    let Some(_) = gauntlet::testing::require("native stack", NativeBinaries::available()) else {
        return;
    };
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let stack = NativeStack::start(&StackConfig::for_tests())
        .await
        .expect("native stack");
    let urls = stack.urls().clone();
    cluster.observe_stack(&urls).await;
    let (forwards, problems) = PortForwards::discover_and_start(
        &cluster.gauntlet(),
        &name("namespace", "monitoring"),
        ForwardLimits::default(),
    )
    .await
    .expect("discovered");
    assert!(problems.is_empty(), "{problems:?}");
    let url = forwards
        .url(Component::Prometheus)
        .expect("prometheus forwarded")
        .clone();
    assert_ne!(url, urls.prometheus, "a local forward, not the backend");
    // No connection reuse: each query opens its own portforward stream.
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .build()
        .expect("http");
    let client = PrometheusClient::new(url.as_str(), http.clone()).expect("client");
    for _ in 0..2 {
        let answer = client.query("vector(42)", None).await.expect("query");
        let QueryResult::Vector(samples) = answer.result else {
            panic!("not a vector: {:?}", answer.result);
        };
        assert_eq!(samples.len(), 1, "{samples:?}");
        assert_eq!(samples[0].sample.value, 42.0);
    }
    for component in [Component::Alertmanager, Component::Jaeger] {
        let url = forwards.url(component).expect("forwarded");
        let status = http
            .get(url.clone())
            .send()
            .await
            .expect("answers")
            .status();
        assert!(
            status.is_success() || status.is_redirection(),
            "{component:?} {status}"
        );
    }
    drop(forwards);
    stack.stop().await;
}

/// An axum server on `127.0.0.1:0` counting `/healthz` hits, stopped when dropped.
struct Target {
    addr: SocketAddr,
    hits: Arc<AtomicU64>,
    _task: kube_real::AbortOnDrop,
}

async fn target() -> Target {
    let hits = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&hits);
    let app = axum::Router::new().route(
        "/healthz",
        axum::routing::get(move || {
            let counter = Arc::clone(&counter);
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                "ok"
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Target {
        addr,
        hits,
        _task: kube_real::AbortOnDrop(task),
    }
}

fn job_config(job: &str, workers: u32) -> JobConfig {
    let mut config = JobConfig::new(name("namespace", "shop"), "gauntlet:test", workers);
    config.name = Some(name("job", job));
    config.poll = Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_millis(500),
    };
    config.grace = Duration::from_secs(30);
    config
}

fn health_plan(target: SocketAddr, rate: f64, duration: Duration) -> LoadPlan {
    LoadPlan::open(
        reqwest::Url::parse(&format!("http://{target}/")).expect("url"),
        vec![JourneyWeight {
            journey: Journey::Health,
            weight: 1,
        }],
        rate,
        duration,
    )
}

async fn job_gone(cluster: &Cluster, job: &str) {
    let path = format!("/apis/batch/v1/namespaces/shop/jobs/{job}");
    eventually(&format!("job {job} deleted"), SETTLE, || async {
        get(&cluster.admin(), &path).await.is_none().then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_load_runs_real_workers_in_a_real_job_merges_exactly_and_deletes_it() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let target = target().await;
    let started = Instant::now();
    let report = DistributedLoad::new(cluster.gauntlet(), job_config("gauntlet-load-real", 2))
        .run(
            &FaultRegistry::new(),
            &health_plan(target.addr, 40.0, Duration::from_secs(2)),
        )
        .await
        .expect("distributed load");
    let took = started.elapsed();

    let merged = &report.merged.summary;
    assert_eq!(report.merged.workers, 2);
    let workers: Vec<u32> = report.per_worker.iter().map(|l| l.worker).collect();
    assert_eq!(workers, [0, 1], "each pod got its own completion index");
    assert!(
        report.per_worker.iter().all(|l| l.report.summary.total > 0),
        "{:?}",
        report.per_worker
    );
    assert_eq!(
        merged.total,
        report
            .per_worker
            .iter()
            .map(|l| l.report.summary.total)
            .sum::<u64>()
    );
    // Every request a worker recorded reached the target and vice versa.
    assert_eq!(merged.total, target.hits.load(Ordering::SeqCst));
    assert_eq!(merged.failed, 0, "{merged:?}");
    assert!((40..=120).contains(&merged.total), "{}", merged.total);
    assert_eq!(report.cleanup_error, None);
    job_gone(&cluster, "gauntlet-load-real").await;
    let workers = cluster.kubelet().started_for("gauntlet-load-real-");
    assert_eq!(workers.len(), 2, "{workers:?}");
    let ended = cluster.kubelet().ended();
    assert!(
        workers.iter().all(|w| ended
            .iter()
            .any(|e| e.pod == w.pod && e.exit_code == Some(0))),
        "{ended:?}"
    );
    eprintln!(
        "distributed load: {} requests from 2 real workers in {took:?}",
        merged.total
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_that_cannot_start_fail_the_job_with_their_log_and_the_job_is_deleted() {
    let missing = std::path::Path::new("/nonexistent/gauntlet");
    let Some(cluster) = Cluster::start_with_exe(missing).await else {
        return;
    };
    let mut config = job_config("gauntlet-load-broken", 2);
    config.grace = Duration::from_secs(20);
    let err = DistributedLoad::new(cluster.gauntlet(), config)
        .run(
            &FaultRegistry::new(),
            &health_plan(
                "127.0.0.1:9".parse().expect("addr"),
                10.0,
                Duration::from_secs(1),
            ),
        )
        .await
        .expect_err("workers failed");
    let WorkerError::WorkersFailed { job, failures } = &err else {
        panic!("unexpected error: {err}");
    };
    assert_eq!(job, "gauntlet-load-broken");
    // backoffLimit 0: the first failed pod fails the Job; the job controller then deletes the
    // other, so one or two pods are left to report.
    assert!(!failures.is_empty(), "{failures:?}");
    let failed: Vec<_> = failures.iter().filter(|f| f.phase == "Failed").collect();
    assert!(!failed.is_empty(), "{failures:?}");
    for f in failed {
        assert!(
            f.reason.starts_with(
                "no result line; log ends with: process kubelet: cannot start /nonexistent/gauntlet"
            ),
            "{f:?}"
        );
    }
    job_gone(&cluster, "gauntlet-load-broken").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_worker_is_stopped_by_the_jobs_deadline_and_the_job_is_deleted() {
    // A worker that never finishes: its "container" sleeps.
    let dir = tempfile::tempdir().expect("tempdir");
    let hang = dir.path().join("hang");
    std::fs::write(&hang, "#!/bin/sh\nexec sleep 600\n").expect("script");
    let executable = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755);
    std::fs::set_permissions(&hang, executable).expect("chmod");
    let Some(cluster) = Cluster::start_with_exe(&hang).await else {
        return;
    };
    let mut config = job_config("gauntlet-load-hung", 1);
    config.grace = Duration::from_secs(2);
    // What the job controller says, read while the Job still exists.
    let seen = Arc::new(Mutex::new(None::<String>));
    let watch = {
        let (admin, seen) = (cluster.admin(), Arc::clone(&seen));
        kube_real::AbortOnDrop(tokio::spawn(async move {
            loop {
                let job = get(
                    &admin,
                    "/apis/batch/v1/namespaces/shop/jobs/gauntlet-load-hung",
                )
                .await;
                let failed = job.as_ref().and_then(|j| {
                    j["status"]["conditions"].as_array()?.iter().find_map(|c| {
                        // FailureTarget comes first, Failed once the pods are gone.
                        ((c["type"] == "Failed" || c["type"] == "FailureTarget")
                            && c["status"] == "True")
                            .then(|| c["reason"].as_str().unwrap_or_default().to_owned())
                    })
                });
                if let Some(reason) = failed {
                    *kube_real::lock(&seen) = Some(reason);
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }))
    };
    let started = Instant::now();
    let err = DistributedLoad::new(cluster.gauntlet(), config)
        .run(
            &FaultRegistry::new(),
            &health_plan(
                "127.0.0.1:9".parse().expect("addr"),
                1.0,
                Duration::from_secs(1),
            ),
        )
        .await
        .expect_err("deadline exceeded");
    let took = started.elapsed();
    drop(watch);
    assert!(
        matches!(err, WorkerError::WorkersFailed { .. }),
        "unexpected error: {err}"
    );
    assert_eq!(
        kube_real::lock(&seen).as_deref(),
        Some("DeadlineExceeded"),
        "{err}"
    );
    // activeDeadlineSeconds is 3 (1 s of load + 2 s grace); gauntlet waits a margin past it.
    assert!(took < Duration::from_secs(40), "{took:?}");
    job_gone(&cluster, "gauntlet-load-hung").await;
    let hung = cluster.kubelet().started_for("gauntlet-load-hung-");
    assert_eq!(hung.len(), 1, "{hung:?}");
    eventually("the hung worker killed", SETTLE, || async {
        (!process_alive(hung[0].pid)).then_some(())
    })
    .await;
}
