//! Stack tier: brings the native stack up for real and asserts on real answers from
//! Prometheus, Alertmanager, Jaeger (collector → query) and VictoriaLogs, then checks every started
//! process is gone after `stop()`. Skips with a reason when a binary is missing (fails under
//! `GAUNTLET_REQUIRE_STACK=1`).

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::{get, post};
use gauntlet::stack::native::NativeBinaries;
use gauntlet::stack::process::pid_exists;
use gauntlet::stack::{NativeStack, StackConfig};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;
use reqwest::Url;
use serde_json::Value as Json;

const SERVICE: &str = "gauntlet-stack-test";

/// Polls `probe` until it returns `Some`, at most `timeout`; panics with the last observation.
async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let start = Instant::now();
    let mut last = String::from("not probed");
    while start.elapsed() < timeout {
        match probe().await {
            Ok(v) => return v,
            Err(seen) => last = seen,
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{what}: not observed within {timeout:?}; last observed: {last}");
}

async fn get_json(client: &reqwest::Client, url: Url) -> Result<Json, String> {
    let resp = client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = resp.status();
    let body = resp.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{url}: HTTP {status}: {body}"));
    }
    serde_json::from_str(&body).map_err(|e| format!("{url}: {e}: {body}"))
}

fn string_kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.to_string())),
        }),
        ..Default::default()
    }
}

fn resource() -> Option<Resource> {
    Some(Resource {
        attributes: vec![string_kv("service.name", SERVICE)],
        ..Default::default()
    })
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos() as u64
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A `/metrics` endpoint for Prometheus to scrape, and a webhook sink for Alertmanager.
async fn serve_test_endpoints() -> (String, Url, Arc<Mutex<Vec<Json>>>) {
    let notifications = Arc::new(Mutex::new(Vec::new()));
    let sink = notifications.clone();
    let app = Router::new()
        .route(
            "/metrics",
            get(|| async { "# TYPE gauntlet_test_ticks counter\ngauntlet_test_ticks 42\n" }),
        )
        .route(
            "/hook",
            post(move |body: String| {
                let sink = sink.clone();
                async move {
                    if let Ok(v) = serde_json::from_str(&body) {
                        sink.lock().expect("sink lock").push(v);
                    }
                    "ok"
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind test endpoint");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let hook = Url::parse(&format!("http://{addr}/hook")).expect("hook url");
    (addr.to_string(), hook, notifications)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_stack_serves_metrics_alerts_traces_and_logs_then_stops_cleanly() {
    let Some(binaries) = gauntlet::testing::require("native stack", NativeBinaries::available())
    else {
        return;
    };
    let (metrics_addr, hook, notifications) = serve_test_endpoints().await;
    let mut config = StackConfig::for_tests();
    config.scrape_targets = vec![("testsvc".to_string(), vec![metrics_addr.clone()])];
    config.webhook_receivers.insert("pager".to_string(), hook);
    let stack = NativeStack::start_with(&config, &binaries)
        .await
        .unwrap_or_else(|e| panic!("stack failed to start: {e}"));
    eprintln!("{}", stack.describe());
    assert!(
        stack.startup_time() < Duration::from_secs(30),
        "startup took {:?}",
        stack.startup_time()
    );
    let pids: Vec<u32> = stack.processes().iter().map(|p| p.pid()).collect();
    assert_eq!(pids.len(), 5, "five processes: {pids:?}");
    assert!(pids.iter().all(|p| pid_exists(*p)));
    let urls = stack.urls().clone();
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");

    // Prometheus scrapes the test service (a target given at start) ...
    let targets_url = urls.prometheus.join("api/v1/targets").expect("url");
    let up = eventually("testsvc target up", Duration::from_secs(20), || {
        let (client, url, addr) = (client.clone(), targets_url.clone(), metrics_addr.clone());
        async move {
            let v = get_json(&client, url).await?;
            let active = v["data"]["activeTargets"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            active
                .iter()
                .find(|t| {
                    t["labels"]["job"] == "testsvc" && t["labels"]["instance"] == addr.as_str()
                })
                .filter(|t| t["health"] == "up")
                .cloned()
                .ok_or_else(|| format!("targets: {active:?}"))
        }
    })
    .await;
    assert_eq!(up["scrapeUrl"], format!("http://{metrics_addr}/metrics"));

    // ... and the sample it exposes is queryable.
    let query_url = urls
        .prometheus
        .join("api/v1/query?query=gauntlet_test_ticks")
        .expect("url");
    let value = eventually(
        "gauntlet_test_ticks in Prometheus",
        Duration::from_secs(10),
        || {
            let (client, url) = (client.clone(), query_url.clone());
            async move {
                let v = get_json(&client, url).await?;
                v["data"]["result"][0]["value"][1]
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| v.to_string())
            }
        },
    )
    .await;
    assert_eq!(value, "42");

    // A job added after start (file_sd) whose target is down fires the smoke TargetDown alert,
    // which Alertmanager routes (severity critical → pager) to our webhook.
    let dead = gauntlet::stack::ports::allocate_port().expect("port");
    stack
        .set_targets("latejob", &[format!("127.0.0.1:{dead}")])
        .expect("set targets");
    let alerts_url = urls.alertmanager.join("api/v2/alerts").expect("url");
    let alert = eventually(
        "TargetDown for latejob in Alertmanager",
        Duration::from_secs(30),
        || {
            let (client, url) = (client.clone(), alerts_url.clone());
            async move {
                let v = get_json(&client, url).await?;
                v.as_array()
                    .and_then(|a| {
                        a.iter()
                            .find(|al| {
                                al["labels"]["alertname"] == "TargetDown"
                                    && al["labels"]["job"] == "latejob"
                            })
                            .cloned()
                    })
                    .ok_or_else(|| v.to_string())
            }
        },
    )
    .await;
    assert_eq!(alert["labels"]["severity"], "critical");
    let note = eventually(
        "pager webhook notification",
        Duration::from_secs(15),
        || {
            let notes = notifications.clone();
            async move {
                let n = notes.lock().expect("sink lock");
                n.iter()
                    .filter(|v| v["receiver"] == "pager")
                    .flat_map(|v| v["alerts"].as_array().cloned().unwrap_or_default())
                    .find(|a| a["labels"]["job"] == "latejob")
                    .ok_or_else(|| format!("{} notifications: {n:?}", n.len()))
            }
        },
    )
    .await;
    assert_eq!(note["status"], "firing");

    // Alertmanager's own status API answers.
    let status = get_json(
        &client,
        urls.alertmanager.join("api/v2/status").expect("url"),
    )
    .await
    .expect("alertmanager status");
    assert!(
        status["versionInfo"]["version"]
            .as_str()
            .is_some_and(|v| v.starts_with("0.")),
        "{status}"
    );
    assert_eq!(
        status["cluster"]["status"], "disabled",
        "gossip must be off: {status}"
    );

    // A trace sent to the collector over OTLP/HTTP protobuf is found in Jaeger query.
    let trace_id: [u8; 16] = rand::random();
    let span_id: [u8; 8] = rand::random();
    let now = now_nanos();
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: trace_id.to_vec(),
                    span_id: span_id.to_vec(),
                    name: "GET /stack-test".to_string(),
                    kind: 2,
                    start_time_unix_nano: now - 5_000_000,
                    end_time_unix_nano: now,
                    attributes: vec![string_kv("http.route", "/stack-test")],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let resp = client
        .post(urls.otlp_http.join("v1/traces").expect("url"))
        .header("content-type", "application/x-protobuf")
        .body(request.encode_to_vec())
        .send()
        .await
        .expect("post trace");
    assert!(
        resp.status().is_success(),
        "collector answered {}",
        resp.status()
    );
    let trace_url = urls
        .jaeger_query
        .join(&format!("api/traces/{}", hex(&trace_id)))
        .expect("url");
    let trace = eventually("trace in Jaeger query", Duration::from_secs(15), || {
        let (client, url) = (client.clone(), trace_url.clone());
        async move {
            let v = get_json(&client, url).await?;
            v["data"][0]["spans"][0]
                .as_object()
                .map(|_| v.clone())
                .ok_or_else(|| v.to_string())
        }
    })
    .await;
    assert_eq!(trace["data"][0]["traceID"], hex(&trace_id));
    assert_eq!(
        trace["data"][0]["spans"][0]["operationName"],
        "GET /stack-test"
    );
    assert_eq!(trace["data"][0]["spans"][0]["spanID"], hex(&span_id));

    // Span metrics for that span reach Prometheus through the collector's exporter.
    let spanmetrics_url = urls
        .prometheus
        .join(&format!(
            "api/v1/query?query=traces_span_metrics_calls_total{{service_name=\"{SERVICE}\"}}"
        ))
        .expect("url");
    let calls = eventually(
        "span metrics in Prometheus",
        Duration::from_secs(20),
        || {
            let (client, url) = (client.clone(), spanmetrics_url.clone());
            async move {
                let v = get_json(&client, url).await?;
                // The first flush may export the series before the span is counted.
                v["data"]["result"][0]["value"][1]
                    .as_str()
                    .filter(|c| *c != "0")
                    .map(str::to_string)
                    .ok_or_else(|| v.to_string())
            }
        },
    )
    .await;
    assert_eq!(calls, "1");

    // A log record sent to the collector is found in the log store with LogsQL.
    let marker = format!("stack-test-{}", hex(&rand::random::<[u8; 6]>()));
    let logs = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(),
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    time_unix_nano: now_nanos(),
                    observed_time_unix_nano: now_nanos(),
                    severity_number: 17,
                    severity_text: "ERROR".to_string(),
                    body: Some(AnyValue {
                        value: Some(Value::StringValue(format!("order failed {marker}"))),
                    }),
                    trace_id: trace_id.to_vec(),
                    span_id: span_id.to_vec(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let resp = client
        .post(urls.otlp_http.join("v1/logs").expect("url"))
        .header("content-type", "application/x-protobuf")
        .body(logs.encode_to_vec())
        .send()
        .await
        .expect("post logs");
    assert!(
        resp.status().is_success(),
        "collector answered {}",
        resp.status()
    );
    assert_eq!(
        urls.log_store_kind,
        gauntlet::stack::LogStoreKind::Victorialogs
    );
    let mut logsql = urls.log_store.join("select/logsql/query").expect("url");
    logsql
        .query_pairs_mut()
        .append_pair(
            "query",
            &format!("\"service.name\":=\"{SERVICE}\" _msg:\"{marker}\""),
        )
        .append_pair("limit", "10");
    let record = eventually(
        "log record in VictoriaLogs",
        Duration::from_secs(20),
        || {
            let (client, url) = (client.clone(), logsql.clone());
            async move {
                // JSON lines; one record is expected.
                let v = get_json(&client, url).await?;
                v.get("_msg")
                    .map(|_| v.clone())
                    .ok_or_else(|| v.to_string())
            }
        },
    )
    .await;
    assert_eq!(record["_msg"], format!("order failed {marker}"));
    assert_eq!(record["severity_text"], "ERROR");
    assert_eq!(record["trace_id"], hex(&trace_id));

    // Stop: every process we started is gone (kill(pid, 0) fails).
    let run_dir = stack.run_dir().to_path_buf();
    let stopping = std::time::Instant::now();
    stack.stop().await;
    // Every component exits on SIGTERM: a stop that lasts the whole grace means one of them
    // ignored it and was SIGKILLed (jaeger-query did, flushing its own traces to nowhere).
    let stopped_in = stopping.elapsed();
    assert!(
        stopped_in < gauntlet::stack::process::DEFAULT_STOP_GRACE,
        "stop took {stopped_in:?}: a component ignored SIGTERM (see the warnings above)"
    );
    for pid in pids {
        assert!(!pid_exists(pid), "pid {pid} survived stop()");
    }
    assert!(
        !run_dir.exists(),
        "run dir {} not deleted",
        run_dir.display()
    );
}

#[tokio::test]
async fn a_missing_template_is_named_in_the_error() {
    let Some(binaries) = gauntlet::testing::require("native stack", NativeBinaries::available())
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = StackConfig::for_tests();
    config.fixtures_dir = dir.path().to_path_buf();
    let err = NativeStack::start_with(&config, &binaries)
        .await
        .expect_err("no templates there");
    assert_eq!(
        err.to_string(),
        format!(
            "cannot read config template {}/prometheus/prometheus.yml.tmpl",
            dir.path().display()
        )
    );
}

#[tokio::test]
async fn a_component_that_dies_is_reported_with_its_log() {
    let Some(mut binaries) =
        gauntlet::testing::require("native stack", NativeBinaries::available())
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    // A fake Alertmanager that complains and exits: the error must name it and quote its log.
    let fake = dir.path().join("fake-alertmanager");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'fake alertmanager: bad config' >&2\nexit 3\n",
    )
    .expect("write");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    binaries.alertmanager = fake;
    let err = NativeStack::start_with(&StackConfig::for_tests(), &binaries)
        .await
        .expect_err("alertmanager dies");
    let text = err.to_string();
    assert!(
        text.starts_with("alertmanager exited before becoming ready (exit status: 3)"),
        "{text}"
    );
    assert!(text.contains("fake alertmanager: bad config"), "{text}");
}

/// `gauntlet bench startup` through its library function. Ignored by default (it starts the
/// stack five times); run with `cargo test --test stack_native -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "benchmark: starts the stack five times"]
async fn bench_startup_five_runs() {
    if gauntlet::testing::require("native stack", NativeBinaries::available()).is_none() {
        return;
    }
    let args = gauntlet::stack::cli::BenchStartupArgs {
        stack: gauntlet::stack::cli::NativeStackArgs {
            scrape_interval: Duration::from_secs(1),
            evaluation_interval: Duration::from_secs(1),
            rule_files: Vec::new(),
            webhooks: Vec::new(),
            fixtures_dir: None,
            log_dir: None,
            ready_timeout: Duration::from_secs(30),
        },
        runs: 5,
    };
    let mut out = Vec::new();
    let bench = gauntlet::stack::cli::bench_startup(&args, &mut out)
        .await
        .expect("bench");
    eprintln!("{}", String::from_utf8_lossy(&out));
    assert_eq!(bench.samples.len(), 5);
    assert!(bench.median() < Duration::from_secs(5), "{bench}");
}
