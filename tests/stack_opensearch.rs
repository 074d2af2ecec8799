//! Stack tier: the native stack with `trace-store: opensearch`. OpenSearch starts as an owned
//! process, the sample services' spans go through the collector role into OpenSearch (proved
//! by asking OpenSearch's own `_search`), a trace check is met through Jaeger's query API,
//! reports name the backend "jaeger (opensearch)", and with OpenSearch killed the same check
//! can no longer ask and says why. Every process is gone after `stop()`. Skips with a reason
//! when a binary is missing (fails under `GAUNTLET_REQUIRE_STACK=1`).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use gauntlet::observe::{JaegerClient, PrometheusClient};
use gauntlet::runner::probes::{LogSource, Observers, backend, probe};
use gauntlet::scenario::Check;
use gauntlet::services::{FleetConfig, Instrumentation, LogOutput, ServiceName, start_fleet};
use gauntlet::stack::binaries::Binary;
use gauntlet::stack::native::NativeBinaries;
use gauntlet::stack::process::pid_exists;
use gauntlet::stack::{NativeStack, StackConfig, TraceStore, opensearch};
use gauntlet::verdict::Probe;
use serde_json::Value as Json;

/// Polls `probe` until it returns `Ok`, at most `timeout`; panics with the last observation.
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
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    panic!("{what}: not observed within {timeout:?}; last observed: {last}");
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client builds")
}

/// The services (`process.serviceName`) of the spans OpenSearch holds for `trace_id`.
async fn services_in_opensearch(
    http: &reqwest::Client,
    base: &reqwest::Url,
    trace_id: &str,
) -> Result<Vec<String>, String> {
    let url = base
        .join(&format!("{}/_search", opensearch::SPAN_INDICES))
        .expect("url");
    let body = serde_json::json!({
        "size": 100,
        "query": { "term": { "traceID": trace_id } },
    });
    let resp = http
        .post(url.clone())
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{url}: HTTP {status}: {text}"));
    }
    let v: Json = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
    let mut services: Vec<String> = v["hits"]["hits"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h["_source"]["process"]["serviceName"].as_str())
        .map(str::to_string)
        .collect();
    services.sort();
    services.dedup();
    Ok(services)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_land_in_opensearch_and_trace_checks_read_them_through_jaeger() {
    let Some(binaries) = gauntlet::testing::require("native stack", NativeBinaries::available())
    else {
        return;
    };
    if gauntlet::testing::require("OpenSearch", Binary::OpenSearch.find()).is_none() {
        return;
    }
    let config = StackConfig {
        trace_store: TraceStore::Opensearch,
        ..StackConfig::for_tests()
    };
    let started = Instant::now();
    let mut stack = NativeStack::start_with(&config, &binaries)
        .await
        .unwrap_or_else(|e| panic!("stack failed to start: {e}"));
    eprintln!(
        "{}\nstack with OpenSearch ready in {:?}",
        stack.describe(),
        started.elapsed()
    );
    let urls = stack.urls().clone();
    let store_url = urls
        .opensearch
        .clone()
        .expect("the stack reports OpenSearch");
    let store = stack
        .components()
        .iter()
        .find(|c| c.name == "trace-store")
        .expect("OpenSearch is listed among the components")
        .clone();
    assert!(store.real && store.version.contains("2.19.6"), "{store:?}");
    let opensearch_pid = store.pid.expect("gauntlet owns OpenSearch");
    if let Some(rss) = std::fs::read_to_string(format!("/proc/{opensearch_pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(str::to_string)
        })
    {
        eprintln!("OpenSearch {rss}");
    }
    let http = client();

    // Single node, 0 replicas: green.
    let health: Json = http
        .get(store_url.join("_cluster/health").expect("url"))
        .send()
        .await
        .expect("health answers")
        .json()
        .await
        .expect("json");
    assert_eq!(health["status"], "green", "{health}");

    // The sample services export to the stack's collector.
    let fleet = start_fleet(FleetConfig {
        otlp_endpoint: Some(urls.otlp_http.as_str().trim_end_matches('/').to_string()),
        instrumentation: Instrumentation::Full,
        log_output: LogOutput::Discard,
        export_interval: Duration::from_millis(200),
        ..FleetConfig::default()
    })
    .await
    .expect("fleet starts");
    let trace_id = format!("{:032x}", rand::random::<u128>() | 1);
    let traceparent = format!("00-{trace_id}-{:016x}-01", rand::random::<u64>() | 1);
    let reference = SystemTime::now();
    let resp = http
        .post(format!("{}/checkout", fleet.url(ServiceName::Frontend)))
        .header("traceparent", &traceparent)
        .json(&serde_json::json!({ "user_id": 7, "product_id": 3, "quantity": 1 }))
        .send()
        .await
        .expect("checkout answers");
    assert_eq!(resp.status(), 201);
    fleet.flush_telemetry().await;

    // OpenSearch itself holds the spans of every hop.
    let want = ["api-gateway", "frontend", "orders", "products", "users"];
    let services = eventually(
        "the checkout's spans in OpenSearch",
        Duration::from_secs(30),
        || async {
            let s = services_in_opensearch(&http, &store_url, &trace_id).await?;
            if want.iter().all(|w| s.iter().any(|have| have == w)) {
                Ok(s)
            } else {
                Err(format!("services with spans: {s:?}"))
            }
        },
    )
    .await;
    eprintln!("spans in OpenSearch from {services:?}");

    // A trace check, as the runner probes it, is met through Jaeger reading OpenSearch.
    let observers = Observers {
        prometheus: PrometheusClient::new(urls.prometheus.as_str(), http.clone()).expect("url"),
        alertmanager: None,
        jaeger: JaegerClient::new(urls.jaeger_query.as_str(), http.clone())
            .map_err(|e| e.to_string()),
        trace_backend: TraceStore::Opensearch.backend(),
        logs: LogSource::Unavailable("not under test".into()),
        sink: Err("not under test".into()),
        correlation_unavailable: None,
        log_services: Vec::new(),
        dashboards: BTreeMap::new(),
        scrape_interval: Duration::from_secs(1),
        failed_trace_ids: Arc::new(Mutex::new(Vec::new())),
        started_wall: reference,
        ledger: Arc::default(),
    };
    let check = Check::Trace {
        service: "orders".into(),
        operation: None,
        error: None,
        spans_from: vec!["frontend".into(), "api-gateway".into(), "orders".into()],
        tags: BTreeMap::new(),
    };
    assert_eq!(
        backend(&check, &observers),
        ("jaeger (opensearch)".to_string(), true)
    );
    let evidence = eventually("the trace check met", Duration::from_secs(20), || async {
        match probe(&check, &observers, reference).await {
            Probe::Met(e) => Ok(e),
            Probe::NotYet(s) => Err(format!("not yet: {s}")),
            Probe::CouldNotAsk(s) => Err(format!("could not ask: {s}")),
        }
    })
    .await;
    eprintln!("met: {evidence:?}");

    // Sabotage: OpenSearch killed. Jaeger cannot read spans any more, so the same check can
    // no longer be asked, and the reason says so; it is never met.
    let process = stack
        .process_mut(opensearch::PROCESS)
        .expect("OpenSearch is an owned process");
    process
        .signal(nix::sys::signal::Signal::SIGKILL)
        .expect("kill OpenSearch");
    let killed = Instant::now();
    while process.is_running() {
        assert!(
            killed.elapsed() < Duration::from_secs(10),
            "OpenSearch survived SIGKILL"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reason = eventually(
        "the trace check failing to ask",
        Duration::from_secs(20),
        || async {
            match probe(&check, &observers, reference).await {
                Probe::CouldNotAsk(reason) => Ok(reason),
                Probe::Met(e) => Err(format!("met without OpenSearch: {e:?}")),
                Probe::NotYet(s) => Err(format!("not yet: {s}")),
            }
        },
    )
    .await;
    eprintln!("with OpenSearch down: {reason}");
    assert!(
        reason.contains("500") || reason.to_lowercase().contains("opensearch"),
        "the reason names the failing backend: {reason}"
    );

    fleet.shutdown().await;
    let pids: Vec<u32> = stack.processes().iter().map(|p| p.pid()).collect();
    stack.stop().await;
    for pid in pids {
        assert!(!pid_exists(pid), "pid {pid} survived stop()");
    }
}
