//! The fleet's telemetry, observed for real: a traced checkout must yield one trace over
//! frontend → api-gateway → users/products/orders → worker with correct parent links,
//! metric series with the right labels and counts (and exemplars), and JSON and OTLP logs
//! carrying the same trace id.

mod services_support;

use std::collections::BTreeMap;
use std::time::Duration;

use gauntlet::services::otlp_sink::ReceivedSpan;
use gauntlet::services::{Instrumentation, ServiceConfig, ServiceError, ServiceName, start};
use services_support::*;

const SERVER: i32 = 2;
const CLIENT: i32 = 3;

fn one<'a>(spans: &'a [ReceivedSpan], service: &str, name: &str, kind: i32) -> &'a ReceivedSpan {
    let found: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|s| s.service == service && s.name == name && s.kind == kind)
        .collect();
    assert_eq!(found.len(), 1, "{service} {name} kind {kind}: {found:#?}");
    found[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_is_one_trace_across_every_hop_with_metrics_and_logs() {
    let h = harness(Instrumentation::Full).await;
    let front = h.fleet.url(ServiceName::Frontend).to_owned();
    let (trace_id, parent_id, header) = traceparent();

    let resp = h
        .http
        .post(format!("{front}/checkout"))
        .header("traceparent", &header)
        .json(&serde_json::json!({ "user_id": 7, "product_id": 3, "quantity": 2 }))
        .send()
        .await
        .expect("checkout answers");
    assert_eq!(resp.status(), 201);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert!(body["order_id"].as_u64().is_some(), "{body}");
    assert_eq!(body["total_cents"], 2 * (100 + 3 * 37));

    // Other routes, so label sets differ: a 200, a 404 and an account page.
    for (path, want) in [
        ("/products/5", 200),
        ("/products/999", 404),
        ("/account/9", 200),
        ("/products", 200),
        ("/", 200),
    ] {
        let r = h.get(format!("{front}{path}")).await;
        assert_eq!(r.status(), want, "{path}");
    }

    // The worker processes the task asynchronously; wait for its span to be exported.
    let spans = poll(Duration::from_secs(10), || async {
        h.fleet.flush_telemetry().await;
        let spans: Vec<ReceivedSpan> = h
            .sink
            .spans()
            .into_iter()
            .filter(|s| s.trace_id == trace_id)
            .collect();
        spans
            .iter()
            .any(|s| s.name == "process task")
            .then_some(spans)
    })
    .await
    .expect("the worker's task span arrives");

    let fe = one(&spans, "frontend", "POST /checkout", SERVER);
    assert_eq!(
        fe.parent_span_id, parent_id,
        "frontend continues the caller's trace"
    );
    assert_eq!(fe.attributes["http.route"], "/checkout");
    assert_eq!(fe.attributes["http.response.status_code"], "201");
    assert_eq!(fe.resource["service.version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(fe.resource["deployment.id"], "test-deploy");
    let fe_out = one(&spans, "frontend", "POST api-gateway /api/checkout", CLIENT);
    assert_eq!(fe_out.parent_span_id, fe.span_id);
    let gw = one(&spans, "api-gateway", "POST /api/checkout", SERVER);
    assert_eq!(gw.parent_span_id, fe_out.span_id);
    let gw_users = one(&spans, "api-gateway", "GET users /users/{id}", CLIENT);
    let gw_products = one(&spans, "api-gateway", "GET products /products/{id}", CLIENT);
    let gw_orders = one(&spans, "api-gateway", "POST orders /orders", CLIENT);
    for c in [gw_users, gw_products, gw_orders] {
        assert_eq!(c.parent_span_id, gw.span_id);
    }
    assert_eq!(
        one(&spans, "users", "GET /users/{id}", SERVER).parent_span_id,
        gw_users.span_id
    );
    assert_eq!(
        one(&spans, "products", "GET /products/{id}", SERVER).parent_span_id,
        gw_products.span_id
    );
    let ord = one(&spans, "orders", "POST /orders", SERVER);
    assert_eq!(ord.parent_span_id, gw_orders.span_id);
    let ord_out = one(&spans, "orders", "POST worker /tasks", CLIENT);
    assert_eq!(ord_out.parent_span_id, ord.span_id);
    let wk = one(&spans, "worker", "POST /tasks", SERVER);
    assert_eq!(wk.parent_span_id, ord_out.span_id);
    let task = one(&spans, "worker", "process task", 1);
    assert_eq!(task.parent_span_id, wk.span_id);
    assert!(
        spans.iter().all(|s| s.status_code != 2),
        "no span failed: {spans:#?}"
    );
    assert_eq!(spans.len(), 12, "{spans:#?}");

    // Metrics: right labels, right counts, exemplar with the trace id.
    let fm = metrics(&h.http, &front).await;
    let checkout = "http_requests_total{service=\"frontend\",method=\"POST\",route=\"/checkout\",status=\"201\"}";
    assert_eq!(sample(&fm, checkout), Some(1.0), "{fm}");
    let line = fm
        .lines()
        .find(|l| l.starts_with(checkout))
        .expect("series");
    assert!(
        line.contains(&format!("# {{trace_id=\"{trace_id}\"}}")),
        "{line}"
    );
    assert_eq!(
        sample(
            &fm,
            "http_requests_total{service=\"frontend\",method=\"GET\",route=\"/products/{id}\",status=\"200\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &fm,
            "http_requests_total{service=\"frontend\",method=\"GET\",route=\"/products/{id}\",status=\"404\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &fm,
            "http_request_duration_seconds_count{service=\"frontend\",method=\"GET\",route=\"/products/{id}\"}"
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &fm,
            "http_request_duration_seconds_bucket{le=\"10.0\",service=\"frontend\",method=\"POST\",route=\"/checkout\"}"
        ),
        Some(1.0)
    );
    assert!(
        sample(&fm, "process_cpu_seconds_total").is_some_and(|v| v > 0.0),
        "{fm}"
    );
    assert!(
        sample(&fm, "process_resident_memory_bytes").is_some_and(|v| v > 1e6),
        "{fm}"
    );
    assert!(
        !fm.contains("/metrics\""),
        "infrastructure routes are not instrumented"
    );

    let gm = metrics(&h.http, h.fleet.url(ServiceName::ApiGateway)).await;
    assert_eq!(
        sample(
            &gm,
            "http_requests_total{service=\"api-gateway\",method=\"POST\",route=\"/api/checkout\",status=\"201\"}"
        ),
        Some(1.0),
        "{gm}"
    );
    let om = metrics(&h.http, h.fleet.url(ServiceName::Orders)).await;
    assert_eq!(sample(&om, "orders_created_total"), Some(1.0), "{om}");
    let worker = h.fleet.url(ServiceName::Worker).to_owned();
    let wm = poll(Duration::from_secs(5), || async {
        let t = metrics(&h.http, &worker).await;
        (sample(&t, "workflow_steps_total{status=\"success\"}") == Some(1.0)).then_some(t)
    })
    .await
    .expect("the workflow step is counted");
    assert_eq!(sample(&wm, "task_queue_size"), Some(0.0), "{wm}");
    assert_eq!(
        sample(&wm, "task_processing_duration_seconds_count"),
        Some(1.0),
        "{wm}"
    );
    assert_eq!(
        sample(&wm, "workflow_steps_total{status=\"failure\"}"),
        None,
        "{wm}"
    );

    // JSON logs: one line per request, each with its own service and this trace id.
    let lines: Vec<serde_json::Value> = h
        .logs
        .lines()
        .iter()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    let of_trace: BTreeMap<String, &serde_json::Value> = lines
        .iter()
        .filter(|l| l["trace_id"] == trace_id.as_str())
        .map(|l| {
            (
                format!(
                    "{} {}",
                    l["service"].as_str().unwrap_or("?"),
                    l["route"].as_str().unwrap_or("?")
                ),
                l,
            )
        })
        .collect();
    let keys: Vec<&str> = of_trace.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "api-gateway /api/checkout",
            "frontend /checkout",
            "orders /orders",
            "products /products/{id}",
            "users /users/{id}",
            "worker /tasks",
            "worker task",
        ]
    );
    let fl = of_trace["frontend /checkout"];
    assert_eq!(fl["level"], "info");
    assert_eq!(fl["method"], "POST");
    assert_eq!(fl["status"], 201);
    assert_eq!(fl["span_id"], fe.span_id.as_str());
    assert_eq!(fl["msg"], "request completed");
    assert!(fl["latency_ms"].as_f64().is_some_and(|v| v > 0.0));
    assert!(fl["ts"].as_str().is_some_and(|t| t.ends_with('Z')));
    let missing = lines
        .iter()
        .find(|l| l["service"] == "frontend" && l["status"] == 404)
        .expect("the 404 is logged");
    assert_eq!(missing["level"], "warn");

    // OTLP logs: same fields as attributes, trace context on the record.
    let otlp = h.sink.logs();
    let fe_log = otlp
        .iter()
        .find(|l| l.trace_id == trace_id && l.service == "frontend")
        .unwrap_or_else(|| panic!("frontend log record with the trace id: {otlp:#?}"));
    assert_eq!(fe_log.span_id, fe.span_id);
    assert_eq!(fe_log.severity_text, "info");
    assert_eq!(fe_log.body, "request completed");
    assert_eq!(fe_log.attributes["route"], "/checkout");
    assert_eq!(fe_log.attributes["status"], "201");
    assert_eq!(fe_log.attributes["method"], "POST");
    let services: std::collections::BTreeSet<&str> = otlp
        .iter()
        .filter(|l| l.trace_id == trace_id)
        .map(|l| l.service.as_str())
        .collect();
    assert_eq!(
        services.into_iter().collect::<Vec<_>>(),
        [
            "api-gateway",
            "frontend",
            "orders",
            "products",
            "users",
            "worker"
        ]
    );

    h.fleet.shutdown().await;
}

#[tokio::test]
async fn instrumentation_levels_gate_metrics_traces_and_logs() {
    for level in [Instrumentation::Off, Instrumentation::Metrics] {
        let h = harness(level).await;
        let front = h.fleet.url(ServiceName::Frontend).to_owned();
        let (_, _, header) = traceparent();
        let r = h.get_traced(format!("{front}/products/1"), &header).await;
        assert_eq!(r.status(), 200);
        h.fleet.flush_telemetry().await;
        let fm = metrics(&h.http, &front).await;
        let series = "http_requests_total{service=\"frontend\",method=\"GET\",route=\"/products/{id}\",status=\"200\"}";
        let want = (level == Instrumentation::Metrics).then_some(1.0);
        assert_eq!(sample(&fm, series), want, "{level:?}: {fm}");
        if level == Instrumentation::Metrics {
            let line = fm.lines().find(|l| l.starts_with(series)).expect("series");
            assert!(!line.contains('#'), "no exemplar without tracing: {line}");
        }
        // The fault gauge is control-plane state and exists at every level.
        assert_eq!(
            sample(&fm, "gauntlet_fault_active{kind=\"errors\"}"),
            Some(0.0)
        );
        assert!(h.sink.spans().is_empty(), "{level:?}");
        assert!(h.sink.logs().is_empty(), "{level:?}");
        assert!(h.logs.lines().is_empty(), "{level:?}");
        assert_eq!(h.sink.requests(), (0, 0));
        h.fleet.shutdown().await;
    }
}

#[tokio::test]
async fn start_rejects_a_service_without_its_upstreams() {
    let cfg = ServiceConfig::new(ServiceName::Orders, "127.0.0.1:0".parse().expect("addr"));
    let err = start(cfg).await.expect_err("missing worker");
    assert!(matches!(err, ServiceError::Config(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "invalid configuration of orders: missing upstream worker"
    );
}

#[tokio::test]
async fn a_single_service_reports_its_bound_address_and_health() {
    let mut cfg = ServiceConfig::new(ServiceName::Products, "127.0.0.1:0".parse().expect("addr"));
    cfg.instrumentation = Instrumentation::Metrics;
    let svc = start(cfg).await.expect("starts");
    assert_ne!(svc.addr().port(), 0);
    assert_eq!(svc.url(), format!("http://{}", svc.addr()));
    let http = client(Duration::from_secs(5));
    let health: serde_json::Value = http
        .get(format!("{}/healthz", svc.url()))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("json");
    assert_eq!(
        health,
        serde_json::json!({ "status": "ok", "service": "products" })
    );
    let url = svc.url().to_owned();
    svc.shutdown().await;
    assert!(
        http.get(format!("{url}/healthz")).send().await.is_err(),
        "stopped"
    );
}
