//! "Test your own service", against the real native stack: the shipped worked example
//! `examples/your-service.yaml`, run with its ports pointed at two tiny HTTP services this
//! test starts itself (gauntlet starts neither). `shop` counts its requests by status in its
//! own `/metrics` (Prometheus text, client-library conventions) and calls `payments` through
//! the HTTP fault proxy gauntlet interposes. The faults act on the proxy; shop's own metrics,
//! the user's alert rules and the page must react, and every fault is undone.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::{any, get};
use gauntlet::report::ScenarioResult;
use gauntlet::stack::native::NativeBinaries;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What the user's service counts about itself.
#[derive(Default)]
struct Numbers {
    by_code: BTreeMap<u16, u64>,
    /// (upstream failure reason) → count: `status` (an error answer), `connection` (no answer).
    failures: BTreeMap<&'static str, u64>,
    duration_sum: f64,
    duration_count: u64,
}

#[derive(Clone)]
struct Shop {
    payments: String,
    client: reqwest::Client,
    numbers: Arc<Mutex<Numbers>>,
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// Every request but `/metrics` charges a payment; shop answers 502 when payments fails.
async fn shop_request(State(shop): State<Shop>) -> (axum::http::StatusCode, &'static str) {
    let started = Instant::now();
    let answer = shop
        .client
        .post(format!("{}/charge", shop.payments))
        .send()
        .await;
    let failure = match answer {
        Ok(r) if r.status().is_success() => None,
        Ok(_) => Some("status"),
        Err(_) => Some("connection"),
    };
    let code = if failure.is_some() { 502 } else { 200 };
    let mut n = shop.numbers.lock().expect("numbers");
    *n.by_code.entry(code).or_default() += 1;
    if let Some(reason) = failure {
        *n.failures.entry(reason).or_default() += 1;
    }
    n.duration_sum += started.elapsed().as_secs_f64();
    n.duration_count += 1;
    let status = axum::http::StatusCode::from_u16(code).expect("valid status");
    (
        status,
        if failure.is_some() {
            "payment failed\n"
        } else {
            "ok\n"
        },
    )
}

async fn shop_metrics(State(shop): State<Shop>) -> String {
    let n = shop.numbers.lock().expect("numbers");
    let mut out = String::from("# TYPE http_requests_total counter\n");
    for (code, count) in &n.by_code {
        out.push_str(&format!("http_requests_total{{code=\"{code}\"}} {count}\n"));
    }
    out.push_str("# TYPE upstream_request_failures_total counter\n");
    for reason in ["status", "connection"] {
        let count = n.failures.get(reason).copied().unwrap_or(0);
        out.push_str(&format!(
            "upstream_request_failures_total{{upstream=\"payments\",reason=\"{reason}\"}} {count}\n"
        ));
    }
    out.push_str(&format!(
        "# TYPE http_request_duration_seconds summary\nhttp_request_duration_seconds_sum {}\nhttp_request_duration_seconds_count {}\n",
        n.duration_sum, n.duration_count
    ));
    out
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `payments`: answers every request, counting them.
async fn start_payments() -> (SocketAddr, Arc<Mutex<u64>>) {
    let payments_hits = Arc::new(Mutex::new(0u64));
    let hits = Arc::clone(&payments_hits);
    let addr = serve(Router::new().fallback(any(move || {
        let hits = Arc::clone(&hits);
        async move {
            *hits.lock().expect("hits") += 1;
            "charged\n"
        }
    })))
    .await;
    (addr, payments_hits)
}

/// `shop`: the user's service, calling payments at `payments_url`.
async fn start_shop(payments_url: String) -> (SocketAddr, Arc<Mutex<Numbers>>) {
    let shop = Shop {
        payments: payments_url,
        client: reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("client"),
        numbers: Arc::default(),
    };
    let numbers = Arc::clone(&shop.numbers);
    let addr = serve(
        Router::new()
            .route("/metrics", get(shop_metrics))
            .fallback(shop_request)
            .with_state(shop),
    )
    .await;
    (addr, numbers)
}

fn fault<'a>(result: &'a ScenarioResult, name: &str) -> &'a gauntlet::report::FaultRecord {
    result
        .faults
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no fault {name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn your_own_service_fails_through_the_fault_proxy_and_its_own_alert_fires_and_resolves() {
    if gauntlet::testing::require("native stack", NativeBinaries::available()).is_none() {
        return;
    }
    let (payments, payments_hits) = start_payments().await;
    // The proxy's listen port, known before the run as a user's would be.
    let proxy_port = free_port();
    let (shop_addr, numbers) = start_shop(format!("http://127.0.0.1:{proxy_port}")).await;

    // The shipped worked example, with its ports replaced by this test's.
    let example =
        std::fs::read_to_string(root().join("examples/your-service.yaml")).expect("worked example");
    let rules = root().join("examples/your-service/rules.yml");
    let text = example
        .replace("127.0.0.1:8080", &shop_addr.to_string())
        .replace("127.0.0.1:8091", &format!("127.0.0.1:{proxy_port}"))
        .replace("127.0.0.1:8090", &payments.to_string())
        .replace("your-service/rules.yml", &rules.display().to_string());
    assert_ne!(
        text, example,
        "the example names the ports this test replaces"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("your-service.yaml");
    std::fs::write(&file, text).expect("scenario");
    let run = gauntlet::testing::run_file(
        &file,
        &PathBuf::from(env!("CARGO_BIN_EXE_gauntlet")),
        &dir.path().join("report"),
    )
    .await
    .expect("runs");
    let result = &run.result;
    for e in &result.expectations {
        eprintln!(
            "{:<7} {} {} ttd={:?}ms last={}",
            e.status.as_str(),
            e.id,
            e.description,
            e.time_to_detect_ms,
            e.last_observed.as_deref().unwrap_or("-")
        );
    }
    gauntlet::testing::assert_all_met(result);
    for f in &result.faults {
        eprintln!("fault {}: proxy {:?}", f.name, f.proxy);
    }

    // What the proxy saw while each fault was on.
    let slow = fault(result, "slow-payments").proxy.expect("proxy numbers");
    assert!(
        slow.requests > 0 && slow.delayed == slow.requests,
        "{slow:?}"
    );
    assert!(slow.added_delay_ms >= 400 * slow.delayed, "{slow:?}");
    let aborted = fault(result, "dropped-responses")
        .proxy
        .expect("proxy numbers");
    assert!(aborted.aborted > 0, "{aborted:?}");
    let errors = fault(result, "failing-payments")
        .proxy
        .expect("proxy numbers");
    assert!(
        errors.injected_errors > 0 && errors.injected_errors < errors.requests,
        "rate 0.6 of the requests: {errors:?}"
    );
    for f in &result.faults {
        assert!(f.error.is_none() && f.rolled_back_at_ms.is_some(), "{f:?}");
    }

    // The records with their proxy numbers are what the report schema describes.
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("fixtures/report.schema.json")).expect("schema"),
    )
    .expect("schema is JSON");
    let fault_schema = serde_json::json!({
        "$schema": schema["$schema"],
        "$defs": schema["$defs"],
        "$ref": "#/$defs/fault",
    });
    let validator = jsonschema::draft202012::new(&fault_schema).expect("schema compiles");
    for f in &result.faults {
        let doc = serde_json::to_value(f).expect("serializable");
        let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{doc}: {errors:?}");
    }

    // What the service saw: its dependency failed in both ways, and it answered 502.
    {
        let n = numbers.lock().expect("numbers");
        assert!(n.failures.get("status").copied().unwrap_or(0) >= errors.injected_errors);
        assert!(n.failures.get("connection").copied().unwrap_or(0) >= aborted.aborted);
        assert!(n.by_code.get(&502).copied().unwrap_or(0) > 0);
    }
    // Aborted responses were forwarded first: payments did the work.
    assert!(aborted.forwarded >= aborted.aborted, "{aborted:?}");
    assert!(*payments_hits.lock().expect("hits") >= aborted.forwarded);

    // The proxy is gone with the run: nothing gauntlet started is left listening.
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", proxy_port))
            .await
            .is_err(),
        "the fault proxy still listens after the run"
    );
}

/// The proxy in front of the user's service itself: the load goes through it, the scrape
/// does not, and the injected 500s are answered by the proxy, so the service sees its
/// traffic stop while its callers see the errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_proxy_in_front_of_your_service_takes_the_load_and_answers_the_errors() {
    if gauntlet::testing::require("native stack", NativeBinaries::available()).is_none() {
        return;
    }
    let (payments, _) = start_payments().await;
    let (shop_addr, numbers) = start_shop(format!("http://{payments}")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("front-proxy.yaml");
    std::fs::write(
        &file,
        format!(
            r#"name: your-service-front-proxy
stack: {{ provider: native, scrape-interval: 1s, evaluation-interval: 1s, rules: ["{rules}"] }}
services:
  mode: external
  endpoints: {{ shop: "http://{shop_addr}" }}
  fault-proxy: {{ shop: {{ listen: "127.0.0.1:0" }} }}
load: {{ rate: 20/s, duration: 14s, journeys: [health], target: shop }}
faults:
  - {{ name: front-errors, at: 3s, for: 6s, kind: http-errors, service: shop, rate: 1.0, status: 500 }}
expect:
  # The service's own numbers: its traffic stops (the scrape still reaches it).
  - {{ metric: 'sum(rate(http_requests_total{{service="shop"}}[2s])) == 0 and on() up{{service="shop"}} == 1', within: 6s }}
"#,
            rules = root().join("examples/your-service/rules.yml").display(),
        ),
    )
    .expect("scenario");
    let run = gauntlet::testing::run_file(
        &file,
        &PathBuf::from(env!("CARGO_BIN_EXE_gauntlet")),
        &dir.path().join("report"),
    )
    .await
    .expect("runs");
    let result = &run.result;
    for e in &result.expectations {
        eprintln!(
            "{:<7} {} ttd={:?}ms last={}",
            e.status.as_str(),
            e.id,
            e.time_to_detect_ms,
            e.last_observed.as_deref().unwrap_or("-")
        );
    }
    gauntlet::testing::assert_all_met(result);
    let front = fault(result, "front-errors").proxy.expect("proxy numbers");
    assert!(
        front.requests > 0 && front.injected_errors == front.requests && front.forwarded == 0,
        "{front:?}"
    );
    // The load went through the proxy: its failures are the proxy's answers, and the service
    // answered only the rest.
    let load = result.load.as_ref().expect("load summary");
    assert!(load.failures >= front.injected_errors, "{load:?} {front:?}");
    let served: u64 = numbers.lock().expect("numbers").by_code.values().sum();
    assert!(
        served > 0 && served + front.injected_errors <= load.requests,
        "{served} {load:?}"
    );
}
