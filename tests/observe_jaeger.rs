//! Jaeger client against responses recorded from Jaeger v2 (fixtures/backends/jaeger), and
//! against the real binary when the lead's build exists.

mod observe_support;

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use assert_matches::assert_matches;
use gauntlet::observe::jaeger::{JaegerClient, JaegerError, RefType, TagValue, Trace, TraceQuery};
use observe_support::{
    FixtureServer, RealProcess, Route, binary, eventually, fixture, free_port, http,
};

const TRACE_ID: &str = "5b8efff798038103d269b633813fc60c";
const MISSING: &str = "00000000000000000000000000000001";

async fn server() -> FixtureServer {
    FixtureServer::start(vec![
        Route::get("/api/services", fixture("jaeger/services.json")),
        Route::get(
            "/api/services/orders/operations",
            fixture("jaeger/operations_orders.json"),
        ),
        Route::get(
            &format!("/api/traces/{TRACE_ID}"),
            fixture("jaeger/trace.json"),
        ),
        Route::get(
            &format!("/api/traces/{MISSING}"),
            fixture("jaeger/trace_not_found.json"),
        )
        .status(404),
        Route::get("/api/traces", fixture("jaeger/search_orders.json")),
        Route::get(
            &format!("/api/v3/traces/{TRACE_ID}"),
            fixture("jaeger/v3_trace.json"),
        ),
        Route::get(
            &format!("/api/v3/traces/{MISSING}"),
            fixture("jaeger/v3_trace_not_found.json"),
        )
        .status(404),
    ])
    .await
}

fn services(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The recorded trace: frontend → api-gateway → orders → orders (db), three spans failed.
fn assert_checkout_trace(trace: &Trace) {
    assert_eq!(trace.trace_id, TRACE_ID);
    assert_eq!(trace.spans.len(), 4);
    assert_eq!(
        trace.services(),
        services(&["frontend", "api-gateway", "orders"])
    );
    let tree = trace.span_tree();
    assert_eq!(tree.len(), 1, "one root");
    let root = &tree[0];
    assert_eq!(root.span.operation_name, "GET /checkout");
    assert_eq!(trace.service_of(root.span), Some("frontend"));
    assert_eq!(root.size(), 4);
    let gateway = &root.children[0];
    assert_eq!(gateway.span.span_id, "b2b2b2b2b2b2b2b2");
    assert_eq!(gateway.span.references[0].ref_type, RefType::ChildOf);
    assert_eq!(gateway.children[0].span.operation_name, "create order");
    let db = trace.span("d4d4d4d4d4d4d4d4").expect("db span");
    assert_eq!(
        trace.parent_of(db).map(|p| p.span_id.as_str()),
        Some("c3c3c3c3c3c3c3c3")
    );
    assert_eq!(
        trace.service_path(db),
        ["frontend", "api-gateway", "orders"]
    );
    assert!(trace.has_error());
    let failed: Vec<&str> = trace
        .error_spans()
        .iter()
        .map(|s| s.span_id.as_str())
        .collect();
    assert_eq!(failed.len(), 3);
    assert!(!failed.contains(&"d4d4d4d4d4d4d4d4"));
    assert_eq!(
        db.tag("db.system"),
        Some(&TagValue::String("postgresql".into()))
    );
    assert_eq!(db.elapsed(), Duration::from_millis(60));
    assert_eq!(root.span.elapsed(), Duration::from_millis(120));
}

#[tokio::test]
async fn services_operations_and_trace_by_id() {
    let srv = server().await;
    let client = JaegerClient::new(&srv.url(), http()).expect("client");
    client.ready().await.expect("ready");
    assert_eq!(
        client.services().await.expect("services"),
        ["frontend", "api-gateway", "orders"]
    );
    let mut operations = client.operations("orders").await.expect("ops");
    operations.sort(); // upstream order is unspecified
    assert_eq!(operations, ["SELECT orders", "create order"]);
    let trace = client.trace(TRACE_ID).await.expect("trace").expect("found");
    assert_checkout_trace(&trace);
    let root = trace.roots()[0];
    assert_eq!(
        root.tag("http.response.status_code"),
        Some(&TagValue::Int64(500))
    );
    assert_eq!(
        root.tag("otel.status_description"),
        Some(&TagValue::String("upstream failed".into()))
    );
    assert_eq!(root.start_time, 1_795_258_229_405_390);
    assert!(
        client
            .trace(MISSING)
            .await
            .expect("404 is not an error")
            .is_none()
    );
}

#[tokio::test]
async fn search_sends_filters_and_decodes_traces() {
    let srv = server().await;
    let client = JaegerClient::new(&srv.url(), http()).expect("client");
    let end = UNIX_EPOCH + Duration::from_secs(1_795_258_300);
    let mut query = TraceQuery::service("orders");
    query.operation = Some("create order".into());
    query.tags.insert("db.system".into(), "postgresql".into());
    query.start = Some(end - Duration::from_secs(3600));
    query.end = Some(end);
    query.limit = Some(20);
    query.min_duration = Some(Duration::from_millis(50));
    let traces = client.find_traces(&query).await.expect("search");
    assert_eq!(traces.len(), 1);
    assert_checkout_trace(&traces[0]);
    let seen = srv.last("/api/traces");
    assert_eq!(seen.param("service"), Some("orders"));
    assert_eq!(seen.param("operation"), Some("create order"));
    assert_eq!(seen.param("tags"), Some(r#"{"db.system":"postgresql"}"#));
    assert_eq!(seen.param("start"), Some("1795254700000000"));
    assert_eq!(seen.param("end"), Some("1795258300000000"));
    assert_eq!(seen.param("limit"), Some("20"));
    assert_eq!(seen.param("minDuration"), Some("50000us"));
}

/// Recorded fact about Jaeger v2's memory store: span status is not a searchable tag, so a
/// search for `error=true` finds nothing and error traces must be filtered client-side.
#[tokio::test]
async fn error_tag_search_finds_nothing_in_jaeger_v2() {
    let srv = FixtureServer::start(vec![Route::get(
        "/api/traces",
        fixture("jaeger/search_orders_error_tag.json"),
    )])
    .await;
    let client = JaegerClient::new(&srv.url(), http()).expect("client");
    let mut query = TraceQuery::service("orders");
    query.tags.insert("error".into(), "true".into());
    assert!(client.find_traces(&query).await.expect("search").is_empty());
}

#[tokio::test]
async fn bad_parameter_is_an_api_error() {
    let srv = FixtureServer::start(vec![
        Route::get("/api/traces", fixture("jaeger/search_bad_param.json")).status(400),
    ])
    .await;
    let client = JaegerClient::new(&srv.url(), http()).expect("client");
    let err = client
        .find_traces(&TraceQuery::service("orders"))
        .await
        .expect_err("400");
    assert_matches!(&err, JaegerError::Api { status, .. } if status.as_u16() == 400);
    assert!(
        err.to_string().contains("unable to parse param 'start'"),
        "{err}"
    );
}

#[tokio::test]
async fn api_v3_trace_converts_to_the_same_model() {
    let srv = server().await;
    let client = JaegerClient::new(&srv.url(), http()).expect("client");
    let trace = client.trace_v3(TRACE_ID).await.expect("v3").expect("found");
    assert_checkout_trace(&trace);
    let root = trace.roots()[0];
    assert_eq!(
        root.tag("span.kind"),
        Some(&TagValue::String("server".into()))
    );
    assert_eq!(
        root.tag("otel.status_code"),
        Some(&TagValue::String("ERROR".into()))
    );
    assert!(
        client
            .trace_v3(MISSING)
            .await
            .expect("404 is not an error")
            .is_none()
    );
}

/// Real Jaeger v2 (memory storage): OTLP/HTTP in, both query APIs out.
#[tokio::test]
async fn real_jaeger_stores_and_serves_an_otlp_trace() {
    let Some(bin) =
        gauntlet::testing::require("jaeger", binary(&["jaeger"], &["/tmp/gotools/bin/jaeger"]))
    else {
        return;
    };
    let (query_port, grpc_port, otlp_port) = (free_port(), free_port(), free_port());
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!(
        "service:\n  extensions: [jaeger_storage, jaeger_query]\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [jaeger_storage_exporter]\n  telemetry:\n    metrics:\n      level: none\nextensions:\n  jaeger_query:\n    storage:\n      traces: mem\n    http:\n      endpoint: 127.0.0.1:{query_port}\n    grpc:\n      endpoint: 127.0.0.1:{grpc_port}\n  jaeger_storage:\n    backends:\n      mem:\n        memory:\n          max_traces: 1000\nreceivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:{otlp_port}\nexporters:\n  jaeger_storage_exporter:\n    trace_storage: mem\n"
    );
    let config_path = dir.path().join("jaeger.yaml");
    std::fs::write(&config_path, config).expect("config");
    let args = vec![
        "--config".to_string(),
        format!("file:{}", config_path.display()),
    ];
    let (process, _) = RealProcess::start(
        "jaeger",
        &bin,
        &args,
        "Everything is ready",
        Duration::from_secs(20),
    );
    let client =
        JaegerClient::new(&format!("http://127.0.0.1:{query_port}"), http()).expect("client");
    process.wait_ready(|| client.ready()).await;

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("epoch")
        .as_nanos();
    let span = |id: &str, parent: Option<&str>, name: &str, offset_ms: u128, error: bool| {
        let mut s = serde_json::json!({
            "traceId": TRACE_ID, "spanId": id, "name": name, "kind": 2,
            "startTimeUnixNano": (now + offset_ms * 1_000_000).to_string(),
            "endTimeUnixNano": (now + (offset_ms + 10) * 1_000_000).to_string(),
        });
        if let Some(p) = parent {
            s["parentSpanId"] = p.into();
        }
        if error {
            s["status"] = serde_json::json!({"code": 2});
        }
        s
    };
    let resource = |service: &str, spans: Vec<serde_json::Value>| {
        serde_json::json!({
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
            "scopeSpans": [{"spans": spans}],
        })
    };
    let body = serde_json::json!({"resourceSpans": [
        resource("frontend", vec![span("a1a1a1a1a1a1a1a1", None, "GET /checkout", 0, false)]),
        resource("orders", vec![span("c3c3c3c3c3c3c3c3", Some("a1a1a1a1a1a1a1a1"), "create order", 2, true)]),
    ]});
    let posted = std::time::Instant::now();
    let response = http()
        .post(format!("http://127.0.0.1:{otlp_port}/v1/traces"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("otlp post");
    assert!(response.status().is_success(), "{}", response.status());

    let trace = eventually(Duration::from_secs(15), || async {
        client.trace(TRACE_ID).await.ok().flatten()
    })
    .await
    .unwrap_or_else(|| panic!("trace never stored:\n{}", process.log_tail()));
    eprintln!(
        "measured: otlp post -> trace queryable in jaeger {:?} (200 ms polling)",
        posted.elapsed()
    );
    assert_eq!(trace.spans.len(), 2);
    assert_eq!(trace.services(), services(&["frontend", "orders"]));
    let child = trace.span("c3c3c3c3c3c3c3c3").expect("child");
    assert_eq!(trace.service_path(child), ["frontend", "orders"]);
    assert!(child.is_error());
    assert!(!trace.roots()[0].is_error());
    let v3 = client.trace_v3(TRACE_ID).await.expect("v3").expect("found");
    assert_eq!(v3.spans.len(), 2);
    assert_eq!(v3.error_spans().len(), 1);
    let services_now = client.services().await.expect("services");
    assert!(
        services_now.contains(&"orders".to_string()),
        "{services_now:?}"
    );
}
