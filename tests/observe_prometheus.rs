//! Prometheus client against responses recorded from Prometheus 2.42 (fixtures/backends/
//! prometheus), and against the real binary when installed.

mod observe_support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use assert_matches::assert_matches;
use gauntlet::observe::prometheus::{
    AlertState, PrometheusClient, PrometheusError, QueryResult, RangeQuery, Rule, RuleHealth,
    TargetHealth,
};
use observe_support::{FixtureServer, RealProcess, Route, binary, eventually, fixture, http};

async fn server() -> FixtureServer {
    FixtureServer::start(vec![
        Route::get("/api/v1/targets", fixture("prometheus/targets.json")),
        Route::get("/api/v1/rules", fixture("prometheus/rules.json")),
        Route::get("/api/v1/alerts", fixture("prometheus/alerts.json")),
        Route::get(
            "/api/v1/status/buildinfo",
            fixture("prometheus/buildinfo.json"),
        ),
        Route::get(
            "/api/v1/query_range",
            fixture("prometheus/query_range.json"),
        ),
        Route::get("/-/ready", "Prometheus Server is Ready.\n".into()).text(),
    ])
    .await
}

async fn query_fixture(
    file: &str,
    status: u16,
) -> (
    FixtureServer,
    Result<gauntlet::observe::prometheus::QueryResponse, PrometheusError>,
) {
    let srv = FixtureServer::start(vec![
        Route::get("/api/v1/query", fixture(file)).status(status),
    ])
    .await;
    let client = PrometheusClient::new(&srv.url(), http()).expect("client");
    let at = UNIX_EPOCH + Duration::from_millis(1_795_257_234_215);
    let answer = client.query("up", Some(at)).await;
    (srv, answer)
}

#[tokio::test]
async fn instant_vector_decodes_labels_and_values() {
    let (srv, answer) = query_fixture("prometheus/query_vector.json", 200).await;
    let result = answer.expect("query").result;
    let vector = result.as_vector().expect("vector");
    assert_eq!(vector.len(), 3);
    let by_job = |job: &str| {
        vector
            .iter()
            .find(|s| s.labels.get("job").map(String::as_str) == Some(job))
            .unwrap_or_else(|| panic!("no {job}"))
    };
    assert_eq!(by_job("down").sample.value, 0.0);
    assert_eq!(by_job("down").labels["instance"], "127.0.0.1:1");
    assert_eq!(by_job("prometheus").sample.value, 1.0);
    assert_eq!(by_job("prometheus").labels["team"], "observe");
    let seen = srv.last("/api/v1/query");
    assert_eq!(seen.param("query"), Some("up"));
    assert_eq!(seen.param("time"), Some("1795257234.215"));
}

#[tokio::test]
async fn special_float_strings_become_f64() {
    let (_srv, answer) = query_fixture("prometheus/query_special_floats.json", 200).await;
    let result = answer.expect("query").result;
    let vector = result.as_vector().expect("vector");
    let value = |k: &str| {
        vector
            .iter()
            .find(|s| s.labels["k"] == k)
            .expect(k)
            .sample
            .value
    };
    assert!(value("nan").is_nan());
    assert_eq!(value("inf"), f64::INFINITY);
    assert_eq!(value("neg_inf"), f64::NEG_INFINITY);
    assert_eq!(vector[0].sample.timestamp, 1_795_257_234.215);
}

#[tokio::test]
async fn scalar_string_and_matrix_results() {
    let (_s, answer) = query_fixture("prometheus/query_scalar.json", 200).await;
    assert_eq!(
        answer
            .expect("scalar")
            .result
            .as_scalar()
            .expect("scalar")
            .value,
        2.0
    );

    let (_s, answer) = query_fixture("prometheus/query_string.json", 200).await;
    assert_matches!(answer.expect("string").result, QueryResult::String(s) if s.value == "hello");

    let (_s, answer) = query_fixture("prometheus/query_matrix.json", 200).await;
    let result = answer.expect("matrix").result;
    let series = &result.as_matrix().expect("matrix")[0];
    assert_eq!(series.labels["job"], "prometheus");
    assert_eq!(series.samples.len(), 5, "{series:?}");
    assert!(series.samples.iter().all(|s| s.value == 1.0));
    assert_eq!(series.samples[0].timestamp, 1_795_257_230.016);
    // Scrapes 1 s apart, give or take scheduling jitter.
    assert!(
        series
            .samples
            .windows(2)
            .all(|w| (w[1].timestamp - w[0].timestamp - 1.0).abs() < 0.05)
    );
}

#[tokio::test]
async fn bad_query_is_an_api_error_with_prometheus_message() {
    let (_s, answer) = query_fixture("prometheus/query_error.json", 400).await;
    let err = answer.expect_err("400");
    assert_matches!(&err, PrometheusError::Api { error_type, status, .. } if error_type == "bad_data" && status.as_u16() == 400);
    assert!(
        err.to_string().contains("unclosed left parenthesis"),
        "{err}"
    );
}

#[tokio::test]
async fn range_query_sends_bounds_and_decodes_matrix() {
    let srv = server().await;
    let client = PrometheusClient::new(&srv.url(), http()).expect("client");
    let end = UNIX_EPOCH + Duration::from_secs(1_795_257_234);
    let range = RangeQuery {
        start: end - Duration::from_secs(5),
        end,
        step: Duration::from_secs(1),
    };
    let result = client
        .query_range("sum by (job) (up)", range)
        .await
        .expect("range")
        .result;
    let matrix = result.as_matrix().expect("matrix");
    let jobs: Vec<&str> = matrix.iter().map(|s| s.labels["job"].as_str()).collect();
    assert_eq!(jobs, ["alertmanager", "down", "prometheus"]);
    let down = &matrix[1];
    assert!(!down.samples.is_empty() && down.samples.iter().all(|s| s.value == 0.0));
    let seen = srv.last("/api/v1/query_range");
    assert_eq!(seen.param("start"), Some("1795257229.000"));
    assert_eq!(seen.param("end"), Some("1795257234.000"));
    assert_eq!(seen.param("step"), Some("1"));
}

#[tokio::test]
async fn targets_report_health_and_last_error() {
    let srv = server().await;
    let client = PrometheusClient::new(&srv.url(), http()).expect("client");
    let targets = client.targets().await.expect("targets");
    assert_eq!(targets.active.len(), 3);
    let down = targets
        .active
        .iter()
        .find(|t| t.labels["job"] == "down")
        .expect("down target");
    assert_eq!(down.health, TargetHealth::Down);
    assert!(
        down.last_error.contains("connection refused"),
        "{}",
        down.last_error
    );
    assert_eq!(down.scrape_url, "http://127.0.0.1:1/metrics");
    assert!(down.last_scrape.is_some());
    let prom = targets
        .active
        .iter()
        .find(|t| t.labels["job"] == "prometheus")
        .expect("self");
    assert_eq!(prom.health, TargetHealth::Up);
    assert!(prom.last_error.is_empty());
    assert_eq!(
        gauntlet::observe::prometheus::parse_duration(&prom.scrape_interval),
        Some(Duration::from_secs(1))
    );
}

#[tokio::test]
async fn rules_carry_state_for_and_health() {
    let srv = server().await;
    let client = PrometheusClient::new(&srv.url(), http()).expect("client");
    let groups = client.rules().await.expect("rules");
    assert_eq!(groups.len(), 1);
    let group = &groups[0];
    assert_eq!(group.name, "gauntlet-fixture");
    assert_eq!(group.interval, Duration::from_secs(1));
    assert_eq!(group.rules.len(), 6);
    let alerting = |name: &str| {
        group
            .alerting_rules()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    assert_eq!(alerting("ServiceDown").for_duration, Duration::from_secs(2));
    assert_eq!(alerting("ServiceDown").state, AlertState::Firing);
    assert_eq!(
        alerting("ServiceDown").alerts[0].labels["instance"],
        "127.0.0.1:1"
    );
    assert_eq!(
        alerting("PendingForever").for_duration,
        Duration::from_secs(600)
    );
    assert_eq!(alerting("PendingForever").state, AlertState::Pending);
    assert_eq!(alerting("NeverFires").state, AlertState::Inactive);
    assert!(alerting("NeverFires").alerts.is_empty());
    assert_matches!(&group.rules[0], Rule::Recording(r) if r.name == "job:up:sum" && r.health == RuleHealth::Ok);
    assert!(group.rules.iter().all(|r| r.last_error().is_none()));
}

#[tokio::test]
async fn alerts_and_build_info() {
    let srv = server().await;
    let client = PrometheusClient::new(&srv.url(), http()).expect("client");
    let alerts = client.alerts().await.expect("alerts");
    let names: Vec<&str> = alerts.iter().map(|a| a.name()).collect();
    assert_eq!(
        names,
        [
            "AlwaysFiring",
            "ServiceDown",
            "HighErrorRate",
            "PendingForever"
        ]
    );
    let high = &alerts[2];
    assert_eq!(high.value, 0.42);
    assert_eq!(high.annotations["summary"], "error rate 0.42");
    assert_eq!(alerts[3].state, AlertState::Pending);
    let active_at = alerts[1].active_at.expect("active_at");
    assert_eq!(
        active_at
            .duration_since(UNIX_EPOCH)
            .expect("epoch")
            .as_secs(),
        1_795_257_212
    );
    let info = client.build_info().await.expect("buildinfo");
    assert_eq!(info.version, "2.42.0+ds");
    assert_eq!(info.go_version, "go1.19.8");
    client.ready().await.expect("ready");
}

#[tokio::test]
async fn not_ready_is_an_http_status_error() {
    let srv = FixtureServer::start(vec![
        Route::get("/-/ready", "Service Unavailable".into())
            .status(503)
            .text(),
    ])
    .await;
    let client = PrometheusClient::new(&srv.url(), http()).expect("client");
    let err = client.ready().await.expect_err("503");
    assert_matches!(&err, PrometheusError::Http(e) if e.status().map(|s| s.as_u16()) == Some(503));
    assert!(err.to_string().contains("Service Unavailable"), "{err}");
}

/// Starts the real Prometheus with a rule that always fires and checks the client against it.
#[tokio::test]
async fn real_prometheus_ready_query_and_alert() {
    let Some(bin) = gauntlet::testing::require(
        "prometheus",
        binary(&["prometheus"], &["/usr/bin/prometheus"]),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: t\n    interval: 1s\n    rules:\n      - alert: AlwaysFiring\n        expr: vector(1)\n        labels: {severity: warning}\n",
    )
    .expect("rules");
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nrule_files: ['{}']\n",
            dir.path().join("rules.yml").display()
        ),
    )
    .expect("config");
    let args = vec![
        format!(
            "--config.file={}",
            dir.path().join("prometheus.yml").display()
        ),
        format!("--storage.tsdb.path={}", dir.path().join("data").display()),
        "--web.listen-address=127.0.0.1:0".to_string(),
    ];
    let (process, addr) = RealProcess::start_listening("prometheus", &bin, &args);
    let client = PrometheusClient::new(&format!("http://{addr}"), http()).expect("client");

    process.wait_ready(|| client.ready()).await;
    let answer = client
        .query("vector(42) * 2", Some(SystemTime::now()))
        .await
        .expect("query");
    let vector = answer.result.as_vector().expect("vector").to_vec();
    assert_eq!(vector.len(), 1);
    assert_eq!(vector[0].sample.value, 84.0);
    assert!(
        client
            .build_info()
            .await
            .expect("buildinfo")
            .version
            .starts_with("2.")
    );
    let firing = eventually(Duration::from_secs(15), || async {
        let alerts = client.alerts().await.ok()?;
        alerts
            .into_iter()
            .find(|a| a.name() == "AlwaysFiring" && a.state == AlertState::Firing)
    })
    .await;
    let firing =
        firing.unwrap_or_else(|| panic!("AlwaysFiring never fired:\n{}", process.log_tail()));
    assert_eq!(firing.labels["severity"], "warning");
    assert_eq!(firing.value, 1.0);
}
