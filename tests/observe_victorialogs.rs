//! VictoriaLogs client against responses written from the VictoriaLogs querying docs
//! (VictoriaLogs is not obtainable on the build machines; see fixtures/backends/README.md).

mod observe_support;

use std::time::{Duration, UNIX_EPOCH};

use assert_matches::assert_matches;
use gauntlet::observe::victorialogs::{LogsQuery, VictoriaLogsClient, VictoriaLogsError};
use observe_support::{FixtureServer, Route, fixture, http};

#[tokio::test]
async fn json_lines_decode_into_records() {
    let srv = FixtureServer::start(vec![
        Route::get("/select/logsql/query", fixture("victorialogs/query.jsonl")).text(),
        Route::get("/health", fixture("victorialogs/health.txt")).text(),
    ])
    .await;
    let client = VictoriaLogsClient::new(&srv.url(), http())
        .expect("client")
        .with_tenant(3, 7);
    client.ready().await.expect("health");
    let end = UNIX_EPOCH + Duration::from_secs(1_795_258_300);
    let mut query = LogsQuery::new(r#"{service.name="orders"} severity:ERROR"#);
    query.start = Some(end - Duration::from_secs(300));
    query.end = Some(end);
    query.limit = Some(50);
    let records = client.query(&query).await.expect("query");
    assert_eq!(records.len(), 2);
    let failed = &records[0];
    assert_eq!(failed.msg, "create order failed: db timeout");
    assert_eq!(failed.field("severity"), Some("ERROR"));
    assert_eq!(
        failed.field("trace_id"),
        Some("5b8efff798038103d269b633813fc60c")
    );
    assert_eq!(failed.stream_labels()["service.name"], "orders");
    let at = failed
        .time
        .expect("_time")
        .duration_since(UNIX_EPOCH)
        .expect("epoch");
    assert_eq!(at.as_nanos(), 1_795_258_229_495_390_107);
    assert_eq!(records[1].field("severity"), Some("INFO"));
    assert_eq!(
        records[1]
            .time
            .expect("_time")
            .duration_since(UNIX_EPOCH)
            .expect("epoch")
            .as_millis(),
        1_795_258_228_120
    );

    let seen = srv.last("/select/logsql/query");
    assert_eq!(
        seen.param("query"),
        Some(r#"{service.name="orders"} severity:ERROR"#)
    );
    assert_eq!(seen.param("start"), Some("2026-11-21T10:46:40.000000000Z"));
    assert_eq!(seen.param("end"), Some("2026-11-21T10:51:40.000000000Z"));
    assert_eq!(seen.param("limit"), Some("50"));
    assert_eq!(seen.headers["accountid"], "3");
    assert_eq!(seen.headers["projectid"], "7");
}

#[tokio::test]
async fn query_errors_keep_the_message() {
    let srv = FixtureServer::start(vec![
        Route::get(
            "/select/logsql/query",
            fixture("victorialogs/query_error.txt"),
        )
        .status(400)
        .text(),
    ])
    .await;
    let client = VictoriaLogsClient::new(&srv.url(), http()).expect("client");
    let err = client
        .query(&LogsQuery::new("foo:"))
        .await
        .expect_err("400");
    assert_matches!(&err, VictoriaLogsError::Http(e) if e.status().map(|s| s.as_u16()) == Some(400));
    assert!(err.to_string().contains("missing filter"), "{err}");
}
