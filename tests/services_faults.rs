//! Every fault hook changes the service's behaviour while active, shows on
//! `gauntlet_fault_active{kind}`, and reverts (after its TTL or on delete). Admin, health
//! and metrics routes are never affected.

mod services_support;

use std::time::{Duration, Instant};

use gauntlet::services::hooks::ActiveFaults;
use gauntlet::services::{Instrumentation, ServiceName};
use serde_json::json;
use services_support::*;

#[tokio::test]
async fn errors_fault_fails_its_route_marks_spans_and_logs_then_expires() {
    let h = harness(Instrumentation::Full).await;
    let front = h.fleet.url(ServiceName::Frontend).to_owned();
    let products = h.fleet.url(ServiceName::Products).to_owned();
    wait_gauge(&h.http, &products, "errors", 0.0, Duration::ZERO).await;
    add_fault(
        &h.http,
        &products,
        json!({ "kind": "errors", "rate": 1.0, "status": 503, "route": "/products/{id}", "ttl_ms": 1500 }),
    )
    .await;
    let added = Instant::now();
    assert_eq!(fault_gauge(&h.http, &products, "errors").await, Some(1.0));

    let direct = h.get(format!("{products}/products/4")).await;
    assert_eq!(direct.status(), 503);
    let (trace_id, _, header) = traceparent();
    let via = h.get_traced(format!("{front}/products/4"), &header).await;
    assert_eq!(via.status(), 502, "the gateway maps an upstream 5xx to 502");
    let list = h.get(format!("{products}/products")).await;
    assert_eq!(list.status(), 200, "other routes are untouched");

    let pm = metrics(&h.http, &products).await;
    assert_eq!(
        sample(
            &pm,
            "http_requests_total{service=\"products\",method=\"GET\",route=\"/products/{id}\",status=\"503\"}"
        ),
        Some(2.0),
        "{pm}"
    );

    // The failed hop is an error span with a recorded exception; the log line is error level.
    let spans = h
        .spans_of(&trace_id, 5)
        .await
        .expect("spans of the failed request arrive");
    let failed = spans
        .iter()
        .find(|s| s.service == "products" && s.kind == 2)
        .expect("products server span");
    assert_eq!(failed.status_code, 2, "{failed:#?}");
    assert_eq!(failed.status_message, "injected error (503)");
    assert_eq!(failed.events, ["exception"]);
    let fe = spans
        .iter()
        .find(|s| s.service == "frontend" && s.kind == 2)
        .expect("frontend span");
    assert_eq!(fe.status_code, 2);
    assert_eq!(fe.attributes["http.response.status_code"], "502");
    let line = h
        .logs
        .lines()
        .into_iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(&l).expect("json"))
        .find(|l| l["trace_id"] == trace_id.as_str() && l["service"] == "products")
        .expect("products logged the request");
    assert_eq!(line["level"], "error");
    assert_eq!(line["status"], 503);
    assert_eq!(line["error"], "injected error (503)");
    let otlp = h
        .sink
        .logs()
        .into_iter()
        .find(|l| l.trace_id == trace_id && l.service == "products")
        .expect("otlp log record");
    assert_eq!(otlp.severity_text, "error");

    wait_gauge(&h.http, &products, "errors", 0.0, Duration::from_secs(5)).await;
    assert!(
        added.elapsed() >= Duration::from_millis(1400),
        "reverted by its TTL, not before"
    );
    let after = h.get(format!("{front}/products/4")).await;
    assert_eq!(after.status(), 200);
    h.fleet.shutdown().await;
}

#[tokio::test]
async fn latency_fault_delays_requests_until_deleted() {
    let h = harness(Instrumentation::Metrics).await;
    let users = h.fleet.url(ServiceName::Users).to_owned();
    let id = add_fault(
        &h.http,
        &users,
        json!({ "kind": "latency", "fixed_ms": 400, "jitter_ms": 100 }),
    )
    .await;
    let listed: ActiveFaults = h
        .get(format!("{users}/admin/faults"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(listed.faults.len(), 1);
    assert_eq!(listed.faults[0].id, id);
    assert_eq!(listed.faults[0].expires_in_ms, None);

    let t = Instant::now();
    let r = h.get(format!("{users}/users/1")).await;
    let slow = t.elapsed();
    assert_eq!(r.status(), 200);
    assert!(slow >= Duration::from_millis(400), "{slow:?}");
    assert!(slow < Duration::from_millis(2000), "{slow:?}");
    let um = metrics(&h.http, &users).await;
    assert_eq!(
        sample(
            &um,
            "http_request_duration_seconds_bucket{le=\"0.25\",service=\"users\",method=\"GET\",route=\"/users/{id}\"}"
        ),
        Some(0.0),
        "the histogram saw the delay: {um}"
    );
    assert_eq!(fault_gauge(&h.http, &users, "latency").await, Some(1.0));

    let del = h.delete(format!("{users}/admin/faults/{id}")).await;
    assert_eq!(del.status(), 204);
    let again = h.delete(format!("{users}/admin/faults/{id}")).await;
    assert_eq!(again.status(), 404);
    assert_eq!(fault_gauge(&h.http, &users, "latency").await, Some(0.0));
    let t = Instant::now();
    let r = h.get(format!("{users}/users/1")).await;
    assert_eq!(r.status(), 200);
    assert!(
        t.elapsed() < Duration::from_millis(400),
        "{:?}",
        t.elapsed()
    );
    h.fleet.shutdown().await;
}

#[tokio::test]
async fn hang_fault_never_answers_until_reverted() {
    let h = harness(Instrumentation::Metrics).await;
    let orders = h.fleet.url(ServiceName::Orders).to_owned();
    let front = h.fleet.url(ServiceName::Frontend).to_owned();
    add_fault(&h.http, &orders, json!({ "kind": "hang", "ttl_ms": 2500 })).await;
    wait_gauge(&h.http, &orders, "hang", 1.0, Duration::ZERO).await;

    let impatient = client(Duration::from_millis(500));
    let order = json!({ "user_id": 1, "product_id": 1, "quantity": 1, "unit_price_cents": 100 });
    let err = impatient
        .post(format!("{orders}/orders"))
        .json(&order)
        .send()
        .await
        .expect_err("a hung request times out client-side");
    assert!(err.is_timeout(), "{err:?}");

    // A patient caller is released when the TTL reverts the hang.
    let t = Instant::now();
    let released = h
        .http
        .post(format!("{orders}/orders"))
        .json(&order)
        .send()
        .await
        .expect("released");
    assert_eq!(released.status(), 503);
    assert!(
        t.elapsed() >= Duration::from_millis(1000),
        "{:?}",
        t.elapsed()
    );
    wait_gauge(&h.http, &orders, "hang", 0.0, Duration::from_secs(2)).await;

    let ok = h
        .post_json(
            format!("{front}/checkout"),
            &json!({ "user_id": 1, "product_id": 1, "quantity": 1 }),
        )
        .await;
    assert_eq!(ok.status(), 201);
    h.fleet.shutdown().await;
}

#[tokio::test]
async fn hung_requests_make_the_gateway_time_out() {
    let h = harness(Instrumentation::Metrics).await;
    let users = h.fleet.url(ServiceName::Users).to_owned();
    let front = h.fleet.url(ServiceName::Frontend).to_owned();
    add_fault(&h.http, &users, json!({ "kind": "hang", "ttl_ms": 10_000 })).await;
    let t = Instant::now();
    let r = h.get(format!("{front}/account/1")).await;
    // The gateway's upstream deadline (3 s in the harness) turns the hang into a 504.
    assert_eq!(r.status(), 504);
    assert!(t.elapsed() >= Duration::from_secs(3), "{:?}", t.elapsed());
    // Shutdown releases hung requests instead of waiting for the TTL.
    let t = Instant::now();
    h.fleet.shutdown().await;
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[tokio::test]
async fn crash_fault_stops_only_that_service() {
    let h = harness(Instrumentation::Metrics).await;
    let users = h.fleet.url(ServiceName::Users).to_owned();
    let front = h.fleet.url(ServiceName::Frontend).to_owned();
    assert_eq!(h.fleet.service(ServiceName::Users).crash_code(), None);
    add_fault(&h.http, &users, json!({ "kind": "crash", "exit_code": 3 })).await;
    let code = tokio::time::timeout(
        Duration::from_secs(5),
        h.fleet.service(ServiceName::Users).crashed(),
    )
    .await
    .expect("crashes promptly");
    assert_eq!(code, 3);
    assert_eq!(h.fleet.service(ServiceName::Users).crash_code(), Some(3));
    let gone = poll(Duration::from_secs(3), || async {
        h.http
            .get(format!("{users}/healthz"))
            .send()
            .await
            .is_err()
            .then_some(())
    })
    .await;
    assert!(gone.is_some(), "users stopped listening");
    let r = h.get(format!("{front}/account/1")).await;
    assert_eq!(r.status(), 502, "callers see the dead upstream");
    let p = h.get(format!("{front}/products/1")).await;
    assert_eq!(p.status(), 200, "other services keep running");
    h.fleet.shutdown().await;
}

#[tokio::test]
async fn dependency_failure_fails_calls_to_one_upstream_only() {
    let h = harness(Instrumentation::Full).await;
    let gw = h.fleet.url(ServiceName::ApiGateway).to_owned();
    let front = h.fleet.url(ServiceName::Frontend).to_owned();
    add_fault(
        &h.http,
        &gw,
        json!({ "kind": "dependency-failure", "dependency": "products", "status": 503, "ttl_ms": 1500 }),
    )
    .await;
    assert_eq!(
        fault_gauge(&h.http, &gw, "dependency-failure").await,
        Some(1.0)
    );
    let (trace_id, _, header) = traceparent();
    let r = h.get_traced(format!("{front}/products/2"), &header).await;
    assert_eq!(r.status(), 502);
    let u = h.get(format!("{front}/account/2")).await;
    assert_eq!(u.status(), 200, "users is still reachable");
    let spans = h.spans_of(&trace_id, 4).await.expect("spans arrive");
    let call = spans
        .iter()
        .find(|s| s.service == "api-gateway" && s.kind == 3)
        .expect("client span");
    assert_eq!(call.status_code, 2);
    assert_eq!(call.attributes["http.response.status_code"], "503");
    assert!(
        spans.iter().all(|s| s.service != "products"),
        "products was never called"
    );
    wait_gauge(
        &h.http,
        &gw,
        "dependency-failure",
        0.0,
        Duration::from_secs(5),
    )
    .await;
    let r = h.get(format!("{front}/products/2")).await;
    assert_eq!(r.status(), 200);
    h.fleet.shutdown().await;
}

#[tokio::test]
async fn queue_stall_backs_up_the_worker_then_drains() {
    let h = harness(Instrumentation::Metrics).await;
    let worker = h.fleet.url(ServiceName::Worker).to_owned();
    let front = h.fleet.url(ServiceName::Frontend).to_owned();
    add_fault(
        &h.http,
        &worker,
        json!({ "kind": "queue-stall", "ttl_ms": 2000 }),
    )
    .await;
    for i in 1..=3u64 {
        let r = h
            .post_json(
                format!("{front}/checkout"),
                &json!({ "user_id": i, "product_id": i, "quantity": 1 }),
            )
            .await;
        assert_eq!(r.status(), 201, "orders are still accepted");
    }
    let wm = metrics(&h.http, &worker).await;
    assert_eq!(sample(&wm, "task_queue_size"), Some(3.0), "{wm}");
    assert_eq!(
        sample(&wm, "workflow_steps_total{status=\"success\"}"),
        None,
        "{wm}"
    );
    assert_eq!(
        sample(&wm, "gauntlet_fault_active{kind=\"queue-stall\"}"),
        Some(1.0)
    );
    let drained = poll(Duration::from_secs(5), || async {
        let t = metrics(&h.http, &worker).await;
        (sample(&t, "workflow_steps_total{status=\"success\"}") == Some(3.0)).then_some(t)
    })
    .await
    .expect("the queue drains after the stall expires");
    assert_eq!(sample(&drained, "task_queue_size"), Some(0.0));
    assert_eq!(
        sample(&drained, "gauntlet_fault_active{kind=\"queue-stall\"}"),
        Some(0.0)
    );
    h.fleet.shutdown().await;
}

#[tokio::test]
async fn task_errors_count_as_workflow_failures() {
    let h = harness(Instrumentation::Metrics).await;
    let worker = h.fleet.url(ServiceName::Worker).to_owned();
    let front = h.fleet.url(ServiceName::Frontend).to_owned();
    add_fault(
        &h.http,
        &worker,
        json!({ "kind": "errors", "rate": 1.0, "status": 500, "route": "task" }),
    )
    .await;
    let r = h
        .post_json(
            format!("{front}/checkout"),
            &json!({ "user_id": 1, "product_id": 1, "quantity": 1 }),
        )
        .await;
    assert_eq!(r.status(), 201, "enqueueing still works");
    let failed = poll(Duration::from_secs(5), || async {
        let t = metrics(&h.http, &worker).await;
        sample(&t, "workflow_steps_total{status=\"failure\"}")
    })
    .await;
    assert_eq!(failed, Some(1.0));
    h.fleet.shutdown().await;
}

#[tokio::test]
async fn admin_health_and_metrics_routes_ignore_faults() {
    let h = harness(Instrumentation::Metrics).await;
    let users = h.fleet.url(ServiceName::Users).to_owned();
    add_fault(
        &h.http,
        &users,
        json!({ "kind": "errors", "rate": 1.0, "status": 500 }),
    )
    .await;
    add_fault(
        &h.http,
        &users,
        json!({ "kind": "latency", "fixed_ms": 2000 }),
    )
    .await;
    let quick = client(Duration::from_millis(1000));
    for path in ["/healthz", "/metrics", "/admin/faults"] {
        let r = quick
            .get(format!("{users}{path}"))
            .send()
            .await
            .expect("answers fast");
        assert_eq!(r.status(), 200, "{path}");
    }
    let r = quick.get(format!("{users}/users/1")).send().await;
    assert!(
        r.is_err_and(|e| e.is_timeout()),
        "business routes are delayed"
    );
    let r = h.delete(format!("{users}/admin/faults")).await;
    assert_eq!(r.status(), 204);
    let r = quick
        .get(format!("{users}/users/1"))
        .send()
        .await
        .expect("answers");
    assert_eq!(r.status(), 200);
    h.fleet.shutdown().await;
}

#[tokio::test]
async fn invalid_fault_requests_are_rejected_with_reasons() {
    let h = harness(Instrumentation::Off).await;
    let orders = h.fleet.url(ServiceName::Orders).to_owned();
    for (body, reason) in [
        (
            json!({ "kind": "errors", "rate": 2.0, "status": 500 }),
            "rate must be in 0..=1",
        ),
        (
            json!({ "kind": "queue-stall" }),
            "queue-stall applies to the worker only",
        ),
        (
            json!({ "kind": "dependency-failure", "dependency": "users", "status": 503 }),
            "orders does not call users",
        ),
        (
            json!({ "kind": "cpu-burn", "threads": 0 }),
            "threads must be 1..=64",
        ),
        (json!({ "kind": "teleport" }), "invalid fault request"),
    ] {
        let r = h.post_json(format!("{orders}/admin/faults"), &body).await;
        assert_eq!(r.status(), 400, "{body}");
        let text = r.text().await.expect("body");
        assert!(text.contains(reason), "{body}: {text}");
    }
    h.fleet.shutdown().await;
}
