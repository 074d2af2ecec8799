//! The load generator against an in-test HTTP server that records what it receives.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use gauntlet::load::plan::{JourneyWeight, LoadModel, LoadPlan, PlanError, Ramp};
use gauntlet::load::record::{ErrorKind, Outcome};
use gauntlet::load::{Journey, LoadError, LoadOptions, run};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    traceparent: String,
    body: String,
}

#[derive(Clone, Default)]
struct Behaviour {
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Serialize requests and take this long each (a server with capacity 1/latency).
    serial: Option<Duration>,
    lock: Arc<tokio::sync::Mutex<()>>,
    /// Never answer these paths.
    hang: Option<&'static str>,
}

async fn handler(
    State(b): State<Behaviour>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    let path = uri.path().to_owned();
    b.seen.lock().expect("seen").push(Seen {
        method: method.clone(),
        path: path.clone(),
        traceparent: headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        body: body.clone(),
    });
    if b.hang.is_some_and(|h| path.starts_with(h)) {
        std::future::pending::<()>().await;
    }
    if let Some(d) = b.serial {
        let _g = b.lock.lock().await;
        tokio::time::sleep(d).await;
    }
    if path.starts_with("/account/") {
        return (StatusCode::SERVICE_UNAVAILABLE, "down".into());
    }
    if path == "/checkout" {
        let ok = serde_json::from_str::<serde_json::Value>(&body).is_ok_and(|v| {
            v["user_id"].is_u64() && v["product_id"].is_u64() && v["quantity"].is_u64()
        });
        if !ok
            || headers
                .get("content-type")
                .is_none_or(|c| c != "application/json")
        {
            return (StatusCode::UNPROCESSABLE_ENTITY, "bad body".into());
        }
    }
    (StatusCode::OK, "ok".into())
}

struct Server {
    addr: SocketAddr,
    behaviour: Behaviour,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn server(behaviour: Behaviour) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = Router::new()
        .fallback(handler)
        .with_state(behaviour.clone());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    Server {
        addr,
        behaviour,
        task,
    }
}

fn plan(addr: SocketAddr, journeys: &[(Journey, u32)], rate: f64, duration: Duration) -> LoadPlan {
    LoadPlan::open(
        format!("http://{addr}").parse().expect("url"),
        journeys
            .iter()
            .map(|(journey, weight)| JourneyWeight {
                journey: *journey,
                weight: *weight,
            })
            .collect(),
        rate,
        duration,
    )
}

fn parse_traceparent(h: &str) -> Option<(String, String)> {
    let p: Vec<&str> = h.split('-').collect();
    let hex = |s: &str, n| s.len() == n && s.chars().all(|c| c.is_ascii_hexdigit());
    (p.len() == 4 && p[0] == "00" && hex(p[1], 32) && hex(p[2], 16) && p[3] == "01")
        .then(|| (p[1].to_owned(), p[2].to_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_model_sends_the_planned_rate_with_a_fresh_traceparent_each() {
    let s = server(Behaviour::default()).await;
    let journeys = [
        (Journey::Browse, 1),
        (Journey::Checkout, 1),
        (Journey::Account, 1),
        (Journey::Health, 1),
    ];
    let report = run(
        &plan(s.addr, &journeys, 200.0, Duration::from_secs(1)),
        LoadOptions::default(),
    )
    .await
    .expect("run");
    let sum = &report.summary;
    // 200 req/s for 1 s = 160 journeys (browse sends 2 of the mean 1.25 requests); which
    // journey each is, is random, so the request count varies by a few.
    assert!((175..=225).contains(&sum.total), "total {}", sum.total);
    let seen = s.behaviour.seen.lock().expect("seen").clone();
    assert_eq!(
        seen.len() as u64,
        sum.total,
        "server saw every request once"
    );

    let ids: Vec<(String, String)> = seen
        .iter()
        .map(|r| {
            parse_traceparent(&r.traceparent)
                .unwrap_or_else(|| panic!("bad traceparent {:?}", r.traceparent))
        })
        .collect();
    let unique: HashSet<&String> = ids.iter().map(|(t, _)| t).collect();
    assert_eq!(unique.len(), ids.len(), "a fresh trace id per request");

    // account answers 503: every failure is kept, with the trace id the server saw.
    let failures = *sum.failures_by_status.get(&503).expect("503s");
    assert!(failures > 10, "{failures}");
    assert_eq!(sum.failed, failures, "{sum:?}");
    assert_eq!(report.failed.len() as u64, failures);
    for f in &report.failed {
        assert_eq!(f.route, "/account/{id}");
        assert_eq!(f.outcome, Outcome::Status(503));
        assert!(
            unique.contains(&f.trace_id.to_string()),
            "failed trace id reached the server"
        );
    }
    assert!(!report.sampled_ok.is_empty());

    // Journey shapes: browse lists then fetches one product; checkout bodies validate.
    assert!(seen.iter().any(|r| r.path == "/products"));
    assert!(seen.iter().any(|r| r.path.starts_with("/products/")));
    assert_eq!(
        seen.iter().filter(|r| r.path == "/products").count(),
        seen.iter()
            .filter(|r| r.path.starts_with("/products/"))
            .count()
    );
    let checkouts: Vec<&Seen> = seen.iter().filter(|r| r.path == "/checkout").collect();
    assert!(
        checkouts
            .iter()
            .all(|r| r.method == Method::POST && r.body.contains("\"quantity\""))
    );
    assert!(
        !sum.failures_by_status.contains_key(&422),
        "checkout bodies valid"
    );
    assert!(sum.p50_us > 0 && sum.p50_us <= sum.p99_us && sum.p99_us <= sum.max_us);
    assert_eq!(
        report.series.iter().map(|s| s.requests).sum::<u64>(),
        sum.total
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_counts_from_the_intended_send_time() {
    // The server handles one request at a time, 50 ms each (20 req/s); we offer 50 req/s for
    // 1 s. An open model keeps sending on schedule, so the queue grows and later requests wait
    // up to ~1.5 s more; a closed-model (coordinated-omission) view would report ~50 ms.
    let s = server(Behaviour {
        serial: Some(Duration::from_millis(50)),
        ..Behaviour::default()
    })
    .await;
    let report = run(
        &plan(
            s.addr,
            &[(Journey::Health, 1)],
            50.0,
            Duration::from_secs(1),
        ),
        LoadOptions::default(),
    )
    .await
    .expect("run");
    let sum = &report.summary;
    assert_eq!(sum.total, 50);
    assert_eq!(sum.success, 50);
    assert!(
        sum.p50_us >= 600_000,
        "p50 {} µs must include queueing",
        sum.p50_us
    );
    assert!(sum.max_us >= 1_300_000, "max {} µs", sum.max_us);

    // Same server, closed model with one connection: service time only.
    let mut closed = plan(
        s.addr,
        &[(Journey::Health, 1)],
        1.0,
        Duration::from_millis(500),
    );
    closed.model = LoadModel::Closed { connections: 1 };
    let c = run(&closed, LoadOptions::default())
        .await
        .expect("closed run");
    assert!(
        c.summary.p50_us < 200_000,
        "closed p50 {}",
        c.summary.p50_us
    );
    assert!(
        c.summary.total >= 5 && c.summary.total <= 11,
        "{}",
        c.summary.total
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounded_by_request_count_and_duration() {
    let s = server(Behaviour::default()).await;
    let mut p = plan(
        s.addr,
        &[(Journey::Browse, 1)],
        1_000.0,
        Duration::from_secs(30),
    );
    p.max_requests = 37;
    let started = std::time::Instant::now();
    let report = run(&p, LoadOptions::default()).await.expect("run");
    assert_eq!(report.summary.total, 37);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(s.behaviour.seen.lock().expect("seen").len(), 37);

    let mut closed = plan(
        s.addr,
        &[(Journey::Health, 1)],
        1.0,
        Duration::from_millis(300),
    );
    closed.model = LoadModel::Closed { connections: 4 };
    let started = std::time::Instant::now();
    let report = run(&closed, LoadOptions::default())
        .await
        .expect("closed run");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert!(report.summary.total > 20, "{}", report.summary.total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ramp_integrates_the_rate_and_progress_is_reported() {
    let s = server(Behaviour::default()).await;
    let mut p = plan(
        s.addr,
        &[(Journey::Health, 1)],
        200.0,
        Duration::from_millis(2_500),
    );
    // 0 → 200/s over 1 s (100 requests), then 200/s for 1.5 s (300 requests).
    p.model = LoadModel::Open {
        rate: 200.0,
        ramp: Some(Ramp {
            from_rate: 0.0,
            over: Duration::from_secs(1),
        }),
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let report = run(
        &p,
        LoadOptions {
            progress: Some(tx),
            ..LoadOptions::default()
        },
    )
    .await
    .expect("run");
    assert!(
        (395..=401).contains(&report.summary.total),
        "{}",
        report.summary.total
    );
    let per_second: Vec<u64> = report.series.iter().map(|s| s.requests).collect();
    assert_eq!(per_second.len(), 3, "{per_second:?}");
    assert!((95..=105).contains(&per_second[0]), "{per_second:?}");
    assert!((195..=205).contains(&per_second[1]), "{per_second:?}");

    let mut samples = Vec::new();
    while let Ok(s) = rx.try_recv() {
        samples.push(s);
    }
    assert!(samples.len() >= 2, "{samples:?}");
    assert!(
        (80.0..=130.0).contains(&samples[0].requests_per_sec),
        "{samples:?}"
    );
    assert!(
        (160.0..=240.0).contains(&samples[1].requests_per_sec),
        "{samples:?}"
    );
    assert_eq!(samples[1].error_rate, 0.0);
    assert!(samples[1].p95_us > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_and_refused_connections_are_failures_with_a_kind() {
    let s = server(Behaviour {
        hang: Some("/healthz"),
        ..Behaviour::default()
    })
    .await;
    let mut p = plan(
        s.addr,
        &[(Journey::Health, 1)],
        20.0,
        Duration::from_millis(200),
    );
    p.timeout = Duration::from_millis(200);
    let report = run(&p, LoadOptions::default()).await.expect("run");
    assert_eq!(report.summary.total, 4);
    assert_eq!(
        report.summary.failures_by_error.get(&ErrorKind::Timeout),
        Some(&4)
    );
    assert!(
        report
            .failed
            .iter()
            .all(|r| r.latency >= Duration::from_millis(200)),
        "latency includes the timeout"
    );

    // Nothing listens on a just-closed port: connect errors.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let report = run(
        &plan(
            port,
            &[(Journey::Health, 1)],
            20.0,
            Duration::from_millis(100),
        ),
        LoadOptions::default(),
    )
    .await
    .expect("run");
    assert_eq!(
        report.summary.failures_by_error.get(&ErrorKind::Connect),
        Some(&2)
    );
}

#[tokio::test]
async fn refuses_non_loopback_targets_and_invalid_plans() {
    let p = LoadPlan::open(
        "http://192.0.2.10:8080".parse().expect("url"),
        vec![JourneyWeight {
            journey: Journey::Health,
            weight: 1,
        }],
        10.0,
        Duration::from_secs(1),
    );
    let err = run(&p, LoadOptions::default()).await.expect_err("refused");
    assert!(
        matches!(err, LoadError::Plan(PlanError::NonLoopbackTarget { ref host, .. }) if host == "192.0.2.10"),
        "{err}"
    );
    let mut bad = p.clone();
    bad.journeys.clear();
    let err = run(&bad, LoadOptions::default())
        .await
        .expect_err("invalid");
    assert_eq!(
        err.to_string(),
        "invalid load plan: no journeys in the load mix"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_recorded_as_answers_and_never_followed() {
    // Where a followed redirect would land (off-host in real life; another listener here).
    let elsewhere = server(Behaviour::default()).await;
    let location = format!("http://{}/elsewhere", elsewhere.addr);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = Router::new().fallback(move || {
        let location = location.clone();
        async move {
            (
                StatusCode::FOUND,
                [(axum::http::header::LOCATION, location)],
                "moved",
            )
        }
    });
    let redirecting = tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });

    let report = run(
        &plan(
            addr,
            &[(Journey::Health, 1)],
            50.0,
            Duration::from_millis(400),
        ),
        LoadOptions::default(),
    )
    .await
    .expect("run");
    redirecting.abort();
    let sum = &report.summary;
    assert!(sum.total > 0, "{sum:?}");
    assert!(
        elsewhere.behaviour.seen.lock().expect("seen").is_empty(),
        "the generator followed a redirect off its checked target"
    );
    // A 3xx is the target's answer: counted, with its status, not as a failure.
    assert_eq!(sum.failed, 0, "{sum:?}");
    assert!(!report.sampled_ok.is_empty());
    assert!(
        report
            .sampled_ok
            .iter()
            .all(|r| r.outcome == Outcome::Status(302)),
        "{:?}",
        report.sampled_ok
    );
}
