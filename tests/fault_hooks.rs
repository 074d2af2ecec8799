//! The fault admin API client against an in-test server implementing the same API
//! (`services::hooks` wire types) and recording every call.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use gauntlet::fault::{FaultError, FaultRegistry, HooksClient};
use gauntlet::services::hooks::{ActiveFault, ActiveFaults, FaultCreated, FaultHook, FaultRequest};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct Admin {
    calls: Vec<String>,
    next: u64,
    active: Vec<ActiveFault>,
    last_ttl: Option<u64>,
}

type Shared = Arc<Mutex<Admin>>;

async fn create(
    State(s): State<Shared>,
    Json(req): Json<FaultRequest>,
) -> Result<(StatusCode, Json<FaultCreated>), (StatusCode, String)> {
    let mut a = s.lock().expect("admin");
    a.calls.push(format!("POST {}", req.hook.kind()));
    if let FaultHook::Errors { rate, .. } = req.hook
        && !(0.0..=1.0).contains(&rate)
    {
        return Err((StatusCode::BAD_REQUEST, "rate must be within 0..=1".into()));
    }
    a.next += 1;
    let id = format!("f{}", a.next);
    a.last_ttl = req.ttl_ms;
    a.active.push(ActiveFault {
        id: id.clone(),
        hook: req.hook,
        expires_in_ms: req.ttl_ms,
    });
    Ok((StatusCode::CREATED, Json(FaultCreated { id })))
}

async fn list(State(s): State<Shared>) -> Json<ActiveFaults> {
    let mut a = s.lock().expect("admin");
    a.calls.push("GET".into());
    Json(ActiveFaults {
        faults: a.active.clone(),
    })
}

async fn remove(State(s): State<Shared>, Path(id): Path<String>) -> StatusCode {
    let mut a = s.lock().expect("admin");
    a.calls.push(format!("DELETE {id}"));
    let before = a.active.len();
    a.active.retain(|f| f.id != id);
    if a.active.len() < before {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

async fn clear(State(s): State<Shared>) -> StatusCode {
    let mut a = s.lock().expect("admin");
    a.calls.push("DELETE all".into());
    a.active.clear();
    StatusCode::NO_CONTENT
}

struct Service {
    client: HooksClient,
    admin: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Service {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Service {
    fn calls(&self) -> Vec<String> {
        self.admin.lock().expect("admin").calls.clone()
    }
    fn active_ids(&self) -> Vec<String> {
        self.admin
            .lock()
            .expect("admin")
            .active
            .iter()
            .map(|f| f.id.clone())
            .collect()
    }
}

async fn service() -> Service {
    let admin: Shared = Arc::default();
    let app = Router::new()
        .route("/admin/faults", get(list).post(create).delete(clear))
        .route("/admin/faults/{id}", delete(remove))
        .with_state(Arc::clone(&admin));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    Service {
        client: HooksClient::new(url.parse().expect("url")).expect("client"),
        admin,
        task,
    }
}

fn errors() -> FaultHook {
    FaultHook::Errors {
        rate: 0.3,
        status: 500,
        route: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inject_posts_with_ttl_and_rollback_deletes() {
    let svc = service().await;
    let reg = FaultRegistry::new();
    let guard = svc
        .client
        .inject(&reg, errors(), Duration::from_secs(2))
        .await
        .expect("inject");
    assert_eq!(
        svc.admin.lock().expect("admin").last_ttl,
        Some(12_000),
        "duration + 10 s margin"
    );
    assert_eq!(svc.active_ids(), ["f1"]);
    let active = svc.client.active().await.expect("list");
    assert_eq!(active.faults.len(), 1);
    assert_eq!(active.faults[0].hook, errors());
    assert_eq!(reg.active().len(), 1);

    guard.rollback().await.expect("rollback");
    assert!(svc.active_ids().is_empty());
    assert_eq!(svc.calls(), ["POST errors", "GET", "DELETE f1"]);
    assert!(reg.active().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_and_registry_roll_back_too() {
    let svc = service().await;
    let reg = FaultRegistry::new();
    let client = svc.client.clone().with_ttl_margin(Duration::from_secs(1));
    let g1 = client
        .inject(&reg, FaultHook::QueueStall, Duration::from_secs(5))
        .await
        .expect("inject");
    assert_eq!(svc.admin.lock().expect("admin").last_ttl, Some(6_000));
    drop(g1); // rollback on drop (e.g. an error path)
    assert!(svc.active_ids().is_empty());
    assert!(svc.calls().contains(&"DELETE f1".to_owned()));

    let _g2 = client
        .inject(
            &reg,
            FaultHook::Latency {
                fixed_ms: 100,
                jitter_ms: 10,
                rate: 1.0,
            },
            Duration::from_secs(5),
        )
        .await
        .expect("inject");
    let _g3 = client
        .inject(&reg, errors(), Duration::from_secs(5))
        .await
        .expect("inject");
    assert_eq!(svc.active_ids(), ["f2", "f3"]);
    let failures = reg.rollback_all().await;
    assert!(failures.is_empty(), "{failures:?}");
    assert!(svc.active_ids().is_empty());
    // Newest first.
    let calls = svc.calls();
    assert_eq!(calls[calls.len() - 2..], ["DELETE f3", "DELETE f2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_faults_roll_back_cleanly_and_errors_are_typed() {
    let svc = service().await;
    let reg = FaultRegistry::new();
    let guard = svc
        .client
        .inject(&reg, errors(), Duration::from_secs(1))
        .await
        .expect("inject");
    // The service's TTL reverted it already: rollback's DELETE gets 404, which is fine.
    svc.admin.lock().expect("admin").active.clear();
    guard.rollback().await.expect("404 counts as rolled back");
    assert!(!svc.client.remove("nope").await.expect("delete"));

    let err = svc
        .client
        .inject(
            &reg,
            FaultHook::Errors {
                rate: 3.0,
                status: 500,
                route: None,
            },
            Duration::from_secs(1),
        )
        .await
        .expect_err("rejected");
    match err {
        FaultError::Status {
            status, ref body, ..
        } => {
            assert_eq!(status, 400);
            assert!(body.contains("rate"), "{body}");
        }
        other => panic!("unexpected {other}"),
    }
    assert!(reg.active().is_empty());

    // A crash has nothing to revert (the process is gone): no DELETE.
    let crash = svc
        .client
        .inject(
            &reg,
            FaultHook::Crash { exit_code: 3 },
            Duration::from_secs(1),
        )
        .await
        .expect("inject");
    let before = svc.calls().len();
    crash.rollback().await.expect("rollback");
    assert_eq!(svc.calls().len(), before);

    svc.client.clear().await.expect("clear");
    assert_eq!(svc.calls().last().map(String::as_str), Some("DELETE all"));

    // An unreachable service is an http error, not a panic.
    let dead = HooksClient::new("http://127.0.0.1:1".parse().expect("url")).expect("client");
    let err = dead
        .inject(&reg, errors(), Duration::from_secs(1))
        .await
        .expect_err("unreachable");
    assert!(
        matches!(err, FaultError::Http { method: "POST", .. }),
        "{err}"
    );
}
