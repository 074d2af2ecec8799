//! The fake Kubernetes API server of `tests/kube_support` against the real library, with
//! real effects: a kubeconfig-built client, scale-to-zero stopping and restarting a local
//! process, pod-kill / rollout-restart / network-partition, Service discovery with a real
//! port-forward to a local Prometheus-like backend, and distributed load running real
//! `gauntlet load-worker` processes against a local HTTP target.

mod kube_support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gauntlet::cluster::workers::{JobConfig, WorkerJourney, WorkerPlan, render_job};
use gauntlet::cluster::{
    ApiCall, Component, DistributedLoad, ForwardLimits, KubeFaultError, KubeFaults, Name,
    PortForwards, Refusal, WorkerError,
};
use gauntlet::fault::FaultRegistry;
use gauntlet::load::{Journey, JourneyWeight, LoadPlan};
use gauntlet::observe::PrometheusClient;
use gauntlet::observe::prometheus::QueryResult;
use gauntlet::scenario::{Fault, FaultAction};
use gauntlet::verdict::Backoff;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Namespace;
use kube_support::{
    FakeCluster, FakeService, FakeWorkload, LocalProcess, Seen, Spec, labels, opted_in,
    process_alive,
};
use serde_json::json;
use tokio::net::TcpListener;

const MERGE_PATCH: &str = "application/merge-patch+json";

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

/// A `sleep` standing for a workload's pods.
fn sleeper() -> Arc<LocalProcess> {
    LocalProcess::start(|| {
        let mut c = std::process::Command::new("sleep");
        c.arg("60");
        c
    })
}

/// An axum server on `127.0.0.1:0`, stopped when the handle drops.
struct Server {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(app: axum::Router) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Server { addr, task }
}

#[tokio::test]
async fn a_kubeconfig_for_the_fake_yields_a_working_client() {
    let fake = FakeCluster::start(Spec {
        namespaces: vec![("shop".into(), opted_in(&[]))],
        ..Spec::default()
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = fake.write_kubeconfig(dir.path());
    // What `Config::infer` does with KUBECONFIG set (the env cannot be set in-process).
    let kubeconfig = kube::config::Kubeconfig::read_from(&path).expect("parses");
    let options = kube::config::KubeConfigOptions {
        context: Some("fake".into()),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .expect("config");
    assert_eq!(config.cluster_url.to_string(), format!("{}/", fake.url()));
    assert_eq!(config.default_namespace, "default");
    let client = kube::Client::try_from(config).expect("client");

    let ns: Namespace = ApiCall::get_namespace(&name("namespace", "shop"))
        .send(&client)
        .await
        .expect("namespace");
    let labels = ns.metadata.labels.expect("labels");
    assert_eq!(
        labels.get("gauntlet.io/chaos").map(String::as_str),
        Some("enabled")
    );
    let missing = ApiCall::get_namespace(&name("namespace", "nope"))
        .send::<Namespace>(&client)
        .await
        .expect_err("missing");
    assert_eq!(missing.status_code(), Some(404));
    // Anything the fake does not serve is a recorded 404 Status, as from a real server.
    let unknown = client
        .request::<serde_json::Value>(
            http::Request::get("/apis/example.com/v1/widgets")
                .body(Vec::new())
                .expect("request"),
        )
        .await
        .expect_err("not served");
    let kube::Error::Api(status) = unknown else {
        panic!("not a Status: {unknown}");
    };
    assert_eq!((status.code, status.reason.as_str()), (404, "NotFound"));
    assert_eq!(
        fake.requests(),
        [
            Seen::new("GET", "/api/v1/namespaces/shop"),
            Seen::new("GET", "/api/v1/namespaces/nope"),
            Seen::new("GET", "/apis/example.com/v1/widgets"),
        ]
    );
}

#[tokio::test]
async fn scale_to_zero_stops_the_local_process_and_the_rollback_restarts_it() {
    let users = sleeper();
    let scales = Arc::new(Mutex::new(Vec::new()));
    let mut deployment = FakeWorkload::new("shop", "deployment", "users", 1);
    deployment.labels = opted_in(&[("app", "users")]);
    deployment.on_scale = {
        let (users, scales) = (Arc::clone(&users), Arc::clone(&scales));
        Arc::new(move |n| {
            scales.lock().expect("lock").push(n);
            users.set_replicas(n);
        })
    };
    let legacy = FakeWorkload::new("shop", "deployment", "legacy", 2);
    let fake = FakeCluster::start(Spec {
        namespaces: vec![("shop".into(), opted_in(&[]))],
        workloads: vec![deployment, legacy],
        ..Spec::default()
    })
    .await;
    let faults = KubeFaults::new(fake.client(), Some("shop".into()));
    let registry = FaultRegistry::new();
    let first_pid = users.pid().expect("running");
    assert!(process_alive(first_pid));

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
    assert_eq!(*scales.lock().expect("lock"), [0]);
    assert_eq!(fake.replicas("shop", "users"), Some(0));
    assert_eq!(users.pid(), None);
    assert!(!process_alive(first_pid), "scale to 0 killed the process");

    injection
        .guard
        .expect("scale-to-zero is undone")
        .rollback()
        .await
        .expect("rolled back");
    assert_eq!(*scales.lock().expect("lock"), [0, 1]);
    assert_eq!(fake.replicas("shop", "users"), Some(1));
    let second_pid = users.pid().expect("restarted");
    assert_ne!(second_pid, first_pid);
    assert!(process_alive(second_pid));
    assert_eq!(users.starts(), 2);

    let scale = "/apis/apps/v1/namespaces/shop/deployments/users/scale";
    assert_eq!(
        fake.requests(),
        [
            Seen::new("GET", "/api/v1/namespaces/shop"),
            Seen::new("GET", "/apis/apps/v1/namespaces/shop/deployments/users"),
            Seen::with(
                "PATCH",
                scale,
                MERGE_PATCH,
                json!({"spec": {"replicas": 0}})
            ),
            Seen::with(
                "PATCH",
                scale,
                MERGE_PATCH,
                json!({"spec": {"replicas": 1}})
            ),
        ]
    );

    // An unlabelled deployment is refused after read-only GETs.
    let before = fake.requests().len();
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
    assert_eq!(
        fake.requests()[before..],
        [
            Seen::new("GET", "/api/v1/namespaces/shop"),
            Seen::new("GET", "/apis/apps/v1/namespaces/shop/deployments/legacy"),
        ]
    );
    assert_eq!(fake.mutating().len(), 2, "only the users scale PATCHes");
    assert_eq!(fake.replicas("shop", "legacy"), Some(2));
    assert_eq!(*scales.lock().expect("lock"), [0, 1]);
}

#[tokio::test]
async fn pod_kill_and_rollout_restart_restart_the_process_and_partitions_are_policies() {
    let orders = sleeper();
    let mut deployment = FakeWorkload::new("shop", "deployment", "orders", 2);
    deployment.labels = opted_in(&[("app", "orders")]);
    deployment.pod_labels = opted_in(&[("app", "orders")]);
    deployment.on_pods_deleted = orders.on_pods_deleted();
    deployment.on_scale = orders.on_scale();
    let fake = FakeCluster::start(Spec {
        namespaces: vec![("shop".into(), opted_in(&[]))],
        workloads: vec![deployment],
        ..Spec::default()
    })
    .await;
    let faults = KubeFaults::new(fake.client(), Some("shop".into()));
    let registry = FaultRegistry::new();
    let pid0 = orders.pid().expect("running");

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
    assert_eq!(kill.deleted_pods, ["orders-g1-0", "orders-g1-1"]);
    assert!(kill.guard.is_none());
    let pid1 = orders.pid().expect("restarted");
    assert_ne!(pid1, pid0);
    assert!(!process_alive(pid0) && process_alive(pid1));
    assert_eq!(
        fake.mutating(),
        [Seen::new(
            "DELETE",
            "/api/v1/namespaces/shop/pods?labelSelector=app%3Dorders%2Cgauntlet.io%2Fchaos%3Denabled"
        )]
    );

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
    let pid2 = orders.pid().expect("restarted again");
    assert!(pid2 != pid1 && process_alive(pid2) && !process_alive(pid1));
    assert_eq!(orders.starts(), 3);
    let patch = fake.mutating().pop().expect("patch");
    assert_eq!(
        (patch.method.as_str(), patch.path.as_str()),
        ("PATCH", "/apis/apps/v1/namespaces/shop/deployments/orders")
    );
    assert!(
        patch
            .body
            .as_ref()
            .and_then(|b| b.pointer("/spec/template/metadata/annotations"))
            .and_then(|a| a.get("kubectl.kubernetes.io/restartedAt"))
            .is_some(),
        "{patch:?}"
    );

    // A partition is a NetworkPolicy while the guard lives; a leftover one is a 409.
    let partition = FaultAction::NetworkPartition {
        selector: "app=orders".into(),
        namespace: None,
    };
    let cut = faults
        .inject(&registry, &fault("cut-orders", partition.clone()))
        .await
        .expect("partitioned");
    assert_eq!(
        fake.network_policies(),
        ["shop/gauntlet-partition-cut-orders"]
    );
    let again = faults
        .inject(&registry, &fault("cut-orders", partition))
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
    assert!(fake.network_policies().is_empty());
    let last = fake.mutating().pop().expect("delete");
    assert_eq!(
        last,
        Seen::new(
            "DELETE",
            "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/gauntlet-partition-cut-orders"
        )
    );
    assert_eq!(orders.starts(), 3, "a partition does not touch the process");
}

#[tokio::test]
async fn discovered_prometheus_answers_through_a_real_port_forward() {
    let prometheus = serve(axum::Router::new().route(
        "/api/v1/query",
        axum::routing::get(|| async {
            axum::Json(json!({"status": "success", "data": {"resultType": "vector", "result": [
                {"metric": {"__name__": "up", "job": "orders"}, "value": [1_700_000_000.0, "42"]}
            ]}}))
        }),
    ))
    .await;
    let fake = FakeCluster::start(Spec {
        namespaces: vec![("monitoring".into(), BTreeMap::new())],
        services: vec![FakeService {
            namespace: "monitoring".into(),
            name: "prometheus".into(),
            labels: labels(&[("app.kubernetes.io/name", "prometheus")]),
            port: 9090,
            port_name: Some("web".into()),
            target_port: 9090,
            backend: prometheus.addr,
        }],
        ..Spec::default()
    })
    .await;
    let (forwards, problems) = PortForwards::discover_and_start(
        &fake.client(),
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
    assert_eq!(
        forwards.forwards()[0].target.pod.as_str(),
        "prometheus-fake-0"
    );

    // No connection reuse: each query opens its own portforward stream.
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .build()
        .expect("http");
    let client = PrometheusClient::new(url.as_str(), http).expect("client");
    for _ in 0..2 {
        let answer = client.query("up", None).await.expect("query");
        let QueryResult::Vector(samples) = answer.result else {
            panic!("not a vector: {:?}", answer.result);
        };
        assert_eq!(samples.len(), 1);
        assert_eq!(samples[0].sample.value, 42.0);
        assert_eq!(
            samples[0].labels.get("job").map(String::as_str),
            Some("orders")
        );
    }
    let pf = "/api/v1/namespaces/monitoring/pods/prometheus-fake-0/portforward?&ports=9090";
    assert_eq!(
        fake.requests(),
        [
            Seen::new("GET", "/api/v1/namespaces/monitoring/services"),
            Seen::new(
                "GET",
                "/api/v1/namespaces/monitoring/pods?labelSelector=app.kubernetes.io%2Fname%3Dprometheus"
            ),
            Seen::new("GET", pf),
            Seen::new("GET", pf),
        ]
    );
}

#[tokio::test]
async fn distributed_load_runs_real_workers_merges_exactly_and_deletes_the_job() {
    let hits = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&hits);
    let target = serve(axum::Router::new().route(
        "/healthz",
        axum::routing::get(move || {
            let counter = Arc::clone(&counter);
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                "ok"
            }
        }),
    ))
    .await;
    let fake = FakeCluster::start(Spec {
        namespaces: vec![("shop".into(), opted_in(&[]))],
        gauntlet_exe: Some(env!("CARGO_BIN_EXE_gauntlet").into()),
        ..Spec::default()
    })
    .await;
    let mut config = JobConfig::new(name("namespace", "shop"), "gauntlet:test", 2);
    config.name = Some(name("job", "gauntlet-load-fake"));
    config.poll = Backoff {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(200),
    };
    config.grace = Duration::from_secs(15);
    let plan = LoadPlan::open(
        reqwest::Url::parse(&format!("http://{}/", target.addr)).expect("url"),
        vec![JourneyWeight {
            journey: Journey::Health,
            weight: 1,
        }],
        40.0,
        Duration::from_secs(2),
    );
    let registry = FaultRegistry::new();
    let started = Instant::now();
    let report = DistributedLoad::new(fake.client(), config)
        .run(&registry, &plan)
        .await
        .expect("distributed load");
    let took = started.elapsed();

    let merged = &report.merged.summary;
    assert_eq!(report.merged.workers, 2);
    assert_eq!(
        report
            .per_worker
            .iter()
            .map(|l| l.worker)
            .collect::<Vec<_>>(),
        [0, 1]
    );
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
    assert_eq!(merged.total, hits.load(Ordering::SeqCst));
    assert_eq!(merged.failed, 0, "{merged:?}");
    // 40/s for 2 s split over two workers: about 80 requests (wide bounds for a busy host).
    assert!((40..=120).contains(&merged.total), "{}", merged.total);
    assert_eq!(report.cleanup_error, None);
    assert!(fake.jobs().is_empty(), "{:?}", fake.jobs());
    let pids = fake.job_pids();
    assert_eq!(pids.len(), 2);
    assert!(pids.iter().all(|p| !process_alive(*p)), "{pids:?}");

    let requests = fake.requests();
    let jobs = "/apis/batch/v1/namespaces/shop/jobs";
    let job = format!("{jobs}/gauntlet-load-fake");
    assert_eq!(requests[0], Seen::new("GET", "/api/v1/namespaces/shop"));
    assert_eq!(
        (requests[1].method.as_str(), requests[1].path.as_str()),
        ("POST", jobs)
    );
    assert_eq!(
        requests.last(),
        Some(&Seen::with(
            "DELETE",
            &job,
            "application/json",
            json!({"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"})
        ))
    );
    let logs: Vec<&str> = requests
        .iter()
        .filter(|s| s.path.contains("/log?"))
        .map(|s| s.path.as_str())
        .collect();
    assert_eq!(logs.len(), 2, "{logs:?}");
    assert!(
        logs[0].starts_with("/api/v1/namespaces/shop/pods/gauntlet-load-fake-0-")
            && logs[0].ends_with("/log?container=worker&tailLines=50&limitBytes=8388608"),
        "{logs:?}"
    );
    eprintln!(
        "distributed load: {} requests from 2 real workers in {took:?}",
        merged.total
    );
}

#[tokio::test]
async fn workers_that_cannot_start_fail_the_job_with_their_log_and_the_job_is_deleted() {
    // No gauntlet_exe: each pod fails at once, its log saying why.
    let fake = FakeCluster::start(Spec {
        namespaces: vec![("shop".into(), opted_in(&[]))],
        ..Spec::default()
    })
    .await;
    let mut config = JobConfig::new(name("namespace", "shop"), "gauntlet:test", 2);
    config.name = Some(name("job", "gauntlet-load-broken"));
    config.poll = Backoff {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(50),
    };
    let plan = LoadPlan::open(
        reqwest::Url::parse("http://127.0.0.1:9/").expect("url"),
        vec![JourneyWeight {
            journey: Journey::Health,
            weight: 1,
        }],
        10.0,
        Duration::from_secs(1),
    );
    let err = DistributedLoad::new(fake.client(), config)
        .run(&FaultRegistry::new(), &plan)
        .await
        .expect_err("workers failed");
    let WorkerError::WorkersFailed { job, failures } = &err else {
        panic!("unexpected error: {err}");
    };
    assert_eq!(job, "gauntlet-load-broken");
    assert_eq!(failures.len(), 2, "{failures:?}");
    for f in failures {
        assert_eq!(f.phase, "Failed");
        assert_eq!(
            f.reason,
            "no result line; log ends with: fake cluster: cannot start the container: \
             Spec::gauntlet_exe is not set"
        );
    }
    assert!(fake.jobs().is_empty());
    assert!(fake.job_pids().is_empty());
}

#[tokio::test]
async fn dropping_the_fake_kills_running_workers() {
    let fake = FakeCluster::start(Spec {
        namespaces: vec![("shop".into(), opted_in(&[]))],
        gauntlet_exe: Some(env!("CARGO_BIN_EXE_gauntlet").into()),
        ..Spec::default()
    })
    .await;
    let ns = name("namespace", "shop");
    let job_name = name("job", "gauntlet-load-long");
    // A 60 s worker plan against a port nobody listens on.
    let plan = WorkerPlan {
        target: "http://127.0.0.1:9/".into(),
        journeys: vec![WorkerJourney {
            journey: Journey::Health,
            weight: 1,
        }],
        rate: 1.0,
        ramp: None,
        duration_ms: 60_000,
        max_requests: u64::MAX,
        timeout_ms: 1_000,
        max_in_flight: 4,
    };
    let job = render_job(
        &JobConfig::new(ns.clone(), "gauntlet:test", 2),
        &job_name,
        &plan,
        Duration::from_secs(90),
    )
    .expect("renders");
    let created: serde_json::Value = ApiCall::create_job(&ns, job)
        .send(&fake.client())
        .await
        .expect("created");
    assert_eq!(created["metadata"]["name"], "gauntlet-load-long");
    let pids = fake.job_pids();
    assert_eq!(pids.len(), 2);
    assert!(pids.iter().all(|p| process_alive(*p)), "{pids:?}");
    let job: Job = ApiCall::get_job(&ns, &job_name)
        .send(&fake.client())
        .await
        .expect("job");
    assert_eq!(job.status.and_then(|s| s.active), Some(2));

    drop(fake);
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|p| process_alive(*p)) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        pids.iter().all(|p| !process_alive(*p)),
        "workers outlived the fake: {pids:?}"
    );
}
