//! Distributed load against a mock API server (tower-test), for what a real server cannot
//! show: the exact requests of the Job lifecycle (the Job body, the pod-log query with its
//! bounds, the `DeleteOptions`), gauntlet's own timeout when the cluster never reports a
//! result, a refused create, dropping the run, and an unlabelled namespace getting no request;
//! plus the exact merge of workers' results and one real load worker against a loopback
//! frontend. The Job run by the real job controller, real workers, failures and the Job's
//! deadline are in `tests/kube_cluster.rs`.

mod cluster_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use clap::Parser;
use cluster_support::{FakeApi, Seen, echo, namespace, status};
use gauntlet::cluster::workers::{
    JobConfig, WorkerError, WorkerJourney, WorkerLine, WorkerPlan, WorkerReport, WorkerSummary,
    run_worker, write_line,
};
use gauntlet::cluster::{DistributedLoad, LoadWorkerArgs, Name, merge};
use gauntlet::fault::FaultRegistry;
use gauntlet::load::{Histogram, Journey, JourneyWeight, LoadPlan};
use gauntlet::verdict::Backoff;
use serde_json::{Value, json};

const JOB: &str = "gauntlet-load-test";
const JOBS: &str = "/apis/batch/v1/namespaces/shop/jobs";
const JOB_PATH: &str = "/apis/batch/v1/namespaces/shop/jobs/gauntlet-load-test";
const PODS: &str = "/api/v1/namespaces/shop/pods?labelSelector=batch.kubernetes.io%2Fjob-name%3Dgauntlet-load-test";

fn plan(duration: Duration) -> LoadPlan {
    LoadPlan::open(
        reqwest::Url::parse("http://frontend.shop.svc:8080/").expect("url"),
        vec![JourneyWeight {
            journey: Journey::Browse,
            weight: 1,
        }],
        100.0,
        duration,
    )
}

fn config(workers: u32) -> JobConfig {
    let mut c = JobConfig::new(
        Name::parse("namespace", "shop").expect("valid"),
        "registry.example/gauntlet:test",
        workers,
    );
    c.name = Some(Name::parse("job", JOB).expect("valid"));
    c.poll = Backoff {
        initial: Duration::from_millis(2),
        max: Duration::from_millis(5),
    };
    c.grace = Duration::from_secs(5);
    c
}

fn worker_line(worker: u32, values: &[u64], errors: u64) -> WorkerLine {
    let mut h = Histogram::new();
    for v in values {
        h.record(*v);
    }
    let total = values.len() as u64;
    WorkerLine {
        worker,
        report: WorkerReport {
            summary: WorkerSummary {
                total,
                success: total - errors,
                failed: errors,
                failures_by_status: [(500u16, errors)].into_iter().collect(),
                failures_by_error: Default::default(),
                by_journey: [(Journey::Browse, total)].into_iter().collect(),
                elapsed_ms: 2_000 + u64::from(worker) * 500,
            },
            histogram: h,
        },
    }
}

fn log_of(line: &WorkerLine) -> Value {
    let mut buf = Vec::new();
    write_line(&mut buf, line).expect("writes");
    Value::String(format!(
        "2026-01-01T00:00:00Z  INFO gauntlet: load worker starting\n{}",
        String::from_utf8(buf).expect("utf8")
    ))
}

fn job_status(status: Value) -> (u16, Value) {
    (
        200,
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": JOB}, "status": status}),
    )
}

fn pods(phases: &[(&str, &str)]) -> (u16, Value) {
    let items: Vec<Value> = phases
        .iter()
        .map(|(name, phase)| json!({"metadata": {"name": name, "labels": {"batch.kubernetes.io/job-name": JOB}}, "status": {"phase": phase}}))
        .collect();
    (
        200,
        json!({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": items}),
    )
}

fn log_path(pod: &str) -> String {
    format!(
        "/api/v1/namespaces/shop/pods/{pod}/log?container=worker&tailLines=50&limitBytes=8388608"
    )
}

fn delete_job() -> Seen {
    Seen::with(
        "DELETE",
        JOB_PATH,
        "application/json",
        json!({"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}),
    )
}

#[tokio::test]
async fn job_lifecycle_creates_polls_reads_logs_merges_and_deletes() {
    let lines = [
        worker_line(0, &[1_000, 2_000, 3_000, 40_000], 1),
        worker_line(1, &[500, 600, 700, 800, 900, 250_000], 2),
    ];
    let logs: Vec<Value> = lines.iter().map(log_of).collect();
    let polls = Arc::new(AtomicU32::new(0));
    let p = Arc::clone(&polls);
    let api = FakeApi::start(move |s| match (s.method.as_str(), s.path.as_str()) {
        ("GET", "/api/v1/namespaces/shop") => namespace("shop", true),
        ("POST", JOBS) => (201, s.body.clone().unwrap_or_default()),
        ("GET", JOB_PATH) => match p.fetch_add(1, Ordering::SeqCst) {
            0 => job_status(json!({})),
            1 => job_status(json!({"active": 2})),
            _ => job_status(
                json!({"succeeded": 2, "conditions": [{"type": "Complete", "status": "True"}]}),
            ),
        },
        ("GET", PODS) => pods(&[
            (&format!("{JOB}-1-xyz"), "Succeeded"),
            (&format!("{JOB}-0-abc"), "Succeeded"),
        ]),
        ("GET", p) if p.starts_with("/api/v1/namespaces/shop/pods/gauntlet-load-test-0") => {
            (200, logs[0].clone())
        }
        ("GET", p) if p.starts_with("/api/v1/namespaces/shop/pods/gauntlet-load-test-1") => {
            (200, logs[1].clone())
        }
        ("DELETE", JOB_PATH) => status(200, "Success"),
        _ => status(404, "NotFound"),
    });
    let registry = FaultRegistry::new();
    let report = DistributedLoad::new(api.client.clone(), config(2))
        .run(&registry, &plan(Duration::from_secs(30)))
        .await
        .expect("distributed run");

    let seen = api.seen();
    let order: Vec<(String, String)> = seen
        .iter()
        .map(|s| (s.method.clone(), s.path.clone()))
        .collect();
    let expected: Vec<(String, String)> = [
        ("GET", "/api/v1/namespaces/shop".to_owned()),
        ("POST", JOBS.to_owned()),
        ("GET", JOB_PATH.to_owned()),
        ("GET", JOB_PATH.to_owned()),
        ("GET", JOB_PATH.to_owned()),
        ("GET", PODS.to_owned()),
        ("GET", log_path("gauntlet-load-test-0-abc")),
        ("GET", log_path("gauntlet-load-test-1-xyz")),
        ("DELETE", JOB_PATH.to_owned()),
    ]
    .into_iter()
    .map(|(m, p)| (m.to_owned(), p))
    .collect();
    assert_eq!(order, expected);
    assert_eq!(seen.last(), Some(&delete_job()));

    // The created Job: the rendered template with 1/N of the rate in every worker's plan.
    let job = seen[1].body.as_ref().expect("job body");
    assert_eq!(seen[1].content_type.as_deref(), Some("application/json"));
    assert_eq!(job["metadata"]["name"], JOB);
    assert_eq!(
        job["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "gauntlet"
    );
    assert_eq!(job["spec"]["parallelism"], 2);
    assert_eq!(job["spec"]["completions"], 2);
    assert_eq!(job["spec"]["activeDeadlineSeconds"], 35);
    let command = &job["spec"]["template"]["spec"]["containers"][0]["command"];
    let worker_plan: WorkerPlan =
        serde_json::from_str(command[3].as_str().expect("plan arg")).expect("worker plan");
    assert_eq!(worker_plan.rate, 50.0);
    assert_eq!(worker_plan.target, "http://frontend.shop.svc:8080/");

    // The merge is exact and equals the pure merge of the two lines.
    assert_eq!(report.merged, merge(&lines, 2).expect("merges"));
    let s = &report.merged.summary;
    assert_eq!((s.total, s.failed), (10, 3));
    assert_eq!(s.max_us, 250_000);
    assert_eq!(s.elapsed, Duration::from_millis(2_500));
    assert!((s.throughput - 4.0).abs() < 1e-9);
    assert_eq!(report.per_worker, lines);
    assert_eq!(report.cleanup_error, None);
    assert!(registry.active().is_empty(), "the job is no longer owned");
}

#[tokio::test]
async fn a_job_that_never_finishes_times_out_and_is_deleted() {
    let api = FakeApi::start(move |s| match (s.method.as_str(), s.path.as_str()) {
        ("GET", "/api/v1/namespaces/shop") => namespace("shop", true),
        ("POST", JOBS) => (201, s.body.clone().unwrap_or_default()),
        ("GET", JOB_PATH) => job_status(json!({"active": 1})),
        ("DELETE", JOB_PATH) => status(200, "Success"),
        _ => status(404, "NotFound"),
    });
    let mut cfg = config(2);
    cfg.grace = Duration::ZERO;
    let err = DistributedLoad::new(api.client.clone(), cfg)
        .run(&FaultRegistry::new(), &plan(Duration::from_millis(60)))
        .await
        .expect_err("times out");
    assert!(
        err.to_string()
            .contains("job gauntlet-load-test did not finish within")
            && err
                .to_string()
                .contains("last seen: active 1, succeeded 0/2, failed 0"),
        "{err}"
    );
    let seen = api.seen();
    assert!(
        seen.iter()
            .filter(|s| s.path == JOB_PATH && s.method == "GET")
            .count()
            >= 2
    );
    assert_eq!(seen.last(), Some(&delete_job()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_running_distributed_load_deletes_the_job() {
    let api = FakeApi::start(move |s| match (s.method.as_str(), s.path.as_str()) {
        ("GET", "/api/v1/namespaces/shop") => namespace("shop", true),
        ("POST", JOBS) => (201, s.body.clone().unwrap_or_default()),
        ("GET", JOB_PATH) => job_status(json!({"active": 2})),
        ("DELETE", JOB_PATH) => status(200, "Success"),
        _ => status(404, "NotFound"),
    });
    let registry = FaultRegistry::new();
    let load = DistributedLoad::new(api.client.clone(), config(2));
    let long = plan(Duration::from_secs(600));
    let run = load.run(&registry, &long);
    // Cancel the run mid-poll (e.g. the scenario was aborted).
    let cancelled = tokio::time::timeout(Duration::from_millis(100), run).await;
    assert!(cancelled.is_err(), "still polling");
    assert!(registry.active().is_empty());
    assert_eq!(api.seen().last(), Some(&delete_job()));
}

#[tokio::test]
async fn an_unlabelled_namespace_gets_no_job() {
    let api = FakeApi::start(|_| namespace("shop", false));
    let err = DistributedLoad::new(api.client.clone(), config(2))
        .run(&FaultRegistry::new(), &plan(Duration::from_secs(30)))
        .await
        .expect_err("refused");
    assert!(
        err.to_string()
            .contains("refusing to act in namespace shop"),
        "{err}"
    );
    assert_eq!(api.seen(), [Seen::new("GET", "/api/v1/namespaces/shop")]);
}

#[tokio::test]
async fn a_refused_create_leaves_nothing_to_delete() {
    let api = FakeApi::start(|s| match s.method.as_str() {
        "GET" => namespace("shop", true),
        "POST" => status(403, "Forbidden"),
        _ => echo(s),
    });
    let err = DistributedLoad::new(api.client.clone(), config(1))
        .run(&FaultRegistry::new(), &plan(Duration::from_secs(30)))
        .await
        .expect_err("forbidden");
    assert!(
        matches!(err, WorkerError::Api(ref e) if e.status_code() == Some(403)),
        "{err}"
    );
    assert_eq!(
        api.mutating().len(),
        1,
        "only the refused POST: {:?}",
        api.mutating()
    );
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    worker: LoadWorkerArgs,
}

#[tokio::test]
async fn a_load_worker_runs_its_share_and_reports_one_mergeable_line() {
    let app = axum::Router::new().route("/healthz", axum::routing::get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let plan = WorkerPlan {
        target: format!("http://{addr}/"),
        journeys: vec![WorkerJourney {
            journey: Journey::Health,
            weight: 1,
        }],
        rate: 200.0,
        ramp: None,
        duration_ms: 500,
        max_requests: 40,
        timeout_ms: 2_000,
        max_in_flight: 16,
    };
    let json = serde_json::to_string(&plan).expect("serializes");
    let cli = Cli::try_parse_from(["load-worker", "--plan", &json, "--index", "3"]).expect("args");
    let line = run_worker(&cli.worker).await.expect("worker ran");
    server.abort();

    assert_eq!(line.worker, 3);
    let s = &line.report.summary;
    assert_eq!(s.total, 40, "capped by max_requests");
    assert_eq!(s.success, 40);
    assert_eq!(line.report.histogram.count(), 40);
    assert_eq!(s.by_journey.get(&Journey::Health), Some(&40));
    // What the worker prints is what the coordinator merges.
    let mut buf = Vec::new();
    write_line(&mut buf, &line).expect("writes");
    let parsed =
        gauntlet::cluster::workers::parse_worker_log(&String::from_utf8(buf).expect("utf8"))
            .expect("found")
            .expect("parses");
    let mut other = parsed.clone();
    other.worker = 0;
    let merged = merge(&[other, parsed], 4).expect_err("workers 1 and 2 are missing");
    assert_eq!(merged.to_string(), "no result from worker(s) 1, 2");
}
