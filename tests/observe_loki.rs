//! Loki client against responses written from the Loki HTTP API docs (Loki cannot run on
//! the build machines; see fixtures/backends/README.md).

mod observe_support;

use std::time::{Duration, UNIX_EPOCH};

use assert_matches::assert_matches;
use gauntlet::observe::loki::{Direction, LogQuery, LokiClient, LokiError, LokiResult};
use observe_support::{FixtureServer, Route, fixture, http};

fn window() -> LogQuery {
    let end = UNIX_EPOCH + Duration::from_secs(1_795_258_300);
    LogQuery::new(
        r#"{service_name="orders"} |= "error""#,
        end - Duration::from_secs(300),
        end,
    )
}

#[tokio::test]
async fn streams_decode_lines_timestamps_and_metadata() {
    let srv = FixtureServer::start(vec![
        Route::get(
            "/loki/api/v1/query_range",
            fixture("loki/query_range_streams.json"),
        ),
        Route::get("/ready", "ready\n".into()).text(),
    ])
    .await;
    let client = LokiClient::new(&srv.url(), http())
        .expect("client")
        .with_tenant("team-a")
        .expect("tenant");
    client.ready().await.expect("ready");
    let mut query = window();
    query.limit = Some(100);
    let result = client.query_range(&query).await.expect("query");
    let LokiResult::Streams(streams) = &result else {
        panic!("expected streams, got {result:?}");
    };
    assert_eq!(streams.len(), 2);
    assert_eq!(streams[0].labels["service_name"], "orders");
    assert_eq!(streams[0].labels["level"], "error");
    let first = &streams[0].entries[0];
    assert_eq!(first.timestamp_ns, 1_795_258_229_495_390_107);
    assert!(first.line.contains("db timeout"), "{}", first.line);
    assert!(
        first
            .line
            .contains(r#""trace_id":"5b8efff798038103d269b633813fc60c""#)
    );
    assert!(first.structured_metadata.is_empty());
    let gateway = &streams[1].entries[0];
    assert_eq!(gateway.line, "upstream orders answered 500");
    assert_eq!(
        gateway.structured_metadata["trace_id"],
        "5b8efff798038103d269b633813fc60c"
    );
    assert_eq!(result.entries().len(), 3);

    let seen = srv.last("/loki/api/v1/query_range");
    assert_eq!(
        seen.param("query"),
        Some(r#"{service_name="orders"} |= "error""#)
    );
    assert_eq!(seen.param("start"), Some("1795258000000000000"));
    assert_eq!(seen.param("end"), Some("1795258300000000000"));
    assert_eq!(seen.param("direction"), Some("backward"));
    assert_eq!(seen.param("limit"), Some("100"));
    assert_eq!(seen.headers["x-scope-orgid"], "team-a");
}

#[tokio::test]
async fn metric_query_returns_a_matrix() {
    let srv = FixtureServer::start(vec![Route::get(
        "/loki/api/v1/query_range",
        fixture("loki/query_range_matrix.json"),
    )])
    .await;
    let client = LokiClient::new(&srv.url(), http()).expect("client");
    let mut query = window();
    query.query = r#"sum by (service_name) (rate({service_name="orders"} |= "error" [1m]))"#.into();
    query.step = Some(Duration::from_secs(15));
    query.direction = Direction::Forward;
    let result = client.query_range(&query).await.expect("query");
    let LokiResult::Matrix(series) = result else {
        panic!("expected matrix");
    };
    assert_eq!(series[0].labels["service_name"], "orders");
    let values: Vec<f64> = series[0].samples.iter().map(|s| s.value).collect();
    assert_eq!(values, [0.0, 0.4, 1.2666666666666666]);
    let seen = srv.last("/loki/api/v1/query_range");
    assert_eq!(seen.param("step"), Some("15"));
    assert_eq!(seen.param("direction"), Some("forward"));
    assert!(!seen.headers.contains_key("x-scope-orgid"));
}

#[tokio::test]
async fn label_values_and_query_errors() {
    let srv = FixtureServer::start(vec![
        Route::get(
            "/loki/api/v1/label/service_name/values",
            fixture("loki/label_values.json"),
        ),
        Route::get("/loki/api/v1/query_range", fixture("loki/query_error.txt"))
            .status(400)
            .text(),
    ])
    .await;
    let client = LokiClient::new(&srv.url(), http()).expect("client");
    let end = UNIX_EPOCH + Duration::from_secs(1_795_258_300);
    let values = client
        .label_values("service_name", end - Duration::from_secs(3600), end)
        .await
        .expect("values");
    assert_eq!(values, ["api-gateway", "frontend", "orders"]);
    let err = client.query_range(&window()).await.expect_err("400");
    assert_matches!(&err, LokiError::Http(e) if e.status().map(|s| s.as_u16()) == Some(400));
    assert!(err.to_string().contains("syntax error"), "{err}");
}
