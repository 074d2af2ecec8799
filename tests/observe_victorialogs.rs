//! VictoriaLogs client: against responses recorded from VictoriaLogs v1.52.1 (see
//! fixtures/backends/README.md), and against the real binary, fed OTLP logs the way the
//! collector feeds it and read back the way the runner reads it.

mod observe_support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use assert_matches::assert_matches;
use gauntlet::observe::victorialogs::{LogsQuery, VictoriaLogsClient, VictoriaLogsError};
use gauntlet::stack::binaries::Binary;
use observe_support::{FixtureServer, RealProcess, Route, eventually, fixture, http};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord as OtlpLogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message as _;

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
    let end = UNIX_EPOCH + Duration::from_secs(1_796_470_300);
    let mut query = LogsQuery::new(r#""service.name":="orders""#);
    query.start = Some(end - Duration::from_secs(300));
    query.end = Some(end);
    query.limit = Some(50);
    let records = client.query(&query).await.expect("query");
    assert_eq!(records.len(), 2);
    let failed = &records[0];
    assert_eq!(failed.msg, "create order failed: db timeout");
    assert_eq!(failed.field("severity_text"), Some("ERROR"));
    assert_eq!(failed.field("severity_number"), Some("17"));
    assert_eq!(failed.field("service.name"), Some("orders"));
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
    assert_eq!(at.as_nanos(), 1_796_470_229_495_390_107);
    assert_eq!(records[1].field("severity_text"), Some("INFO"));
    assert_eq!(
        records[1]
            .time
            .expect("_time")
            .duration_since(UNIX_EPOCH)
            .expect("epoch")
            .as_millis(),
        1_796_470_228_120
    );

    let seen = srv.last("/select/logsql/query");
    assert_eq!(seen.param("query"), Some(r#""service.name":="orders""#));
    assert_eq!(seen.param("start"), Some("2026-12-05T11:26:40.000000000Z"));
    assert_eq!(seen.param("end"), Some("2026-12-05T11:31:40.000000000Z"));
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
    assert!(err.to_string().contains("expecting a filter"), "{err}");
}

/// A real VictoriaLogs on an OS-chosen port (it logs `started server at http://…`), with its
/// data in a temp dir; `None` (skipped) when the binary is missing, unless
/// `GAUNTLET_REQUIRE_STACK=1`.
fn start_real() -> Option<(RealProcess, String, tempfile::TempDir)> {
    let bin = gauntlet::testing::require("victoria-logs", Binary::VictoriaLogs.find())?;
    let data = tempfile::tempdir().expect("tempdir");
    let args = vec![
        format!("-storageDataPath={}", data.path().join("data").display()),
        "-httpListenAddr=127.0.0.1:0".to_string(),
    ];
    let (process, addr) = RealProcess::start(
        "victoria-logs",
        &bin,
        &args,
        "started server at",
        Duration::from_secs(20),
    );
    let addr = addr.unwrap_or_else(|| {
        panic!(
            "victoria-logs did not report its address:\n{}",
            process.log_tail()
        )
    });
    Some((process, format!("http://{addr}"), data))
}

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.to_string())),
        }),
        ..Default::default()
    }
}

/// One OTLP log record from `service`, shaped like the sample services' records.
fn otlp_record(service: &str, severity: (i32, &str), body: &str, trace: [u8; 16]) -> Vec<u8> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos() as u64;
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![text("service.name", service)],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: vec![OtlpLogRecord {
                    time_unix_nano: now,
                    observed_time_unix_nano: now,
                    severity_number: severity.0,
                    severity_text: severity.1.to_string(),
                    body: Some(AnyValue {
                        value: Some(Value::StringValue(body.to_string())),
                    }),
                    attributes: vec![text("http.route", "/orders")],
                    trace_id: trace.to_vec(),
                    span_id: vec![0xc3; 8],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

#[tokio::test]
async fn real_victorialogs_stores_otlp_logs_the_way_the_runner_reads_them() {
    let Some((process, base, _data)) = start_real() else {
        return;
    };
    let client = VictoriaLogsClient::new(&base, http()).expect("client");
    process.wait_ready(|| client.ready()).await;

    let trace = [0x5b; 16];
    let started = SystemTime::now() - Duration::from_secs(5);
    for (service, severity, body) in [
        ("orders", (17, "ERROR"), "create order failed: db timeout"),
        ("orders", (9, "INFO"), "order created"),
        ("users", (17, "ERROR"), "lookup failed"),
    ] {
        let resp = http()
            .post(format!("{base}/insert/opentelemetry/v1/logs"))
            .header("content-type", "application/x-protobuf")
            .body(otlp_record(service, severity, body, trace))
            .send()
            .await
            .expect("ingest");
        assert!(resp.status().is_success(), "ingest: HTTP {}", resp.status());
    }

    let mut query = LogsQuery::new(gauntlet::runner::probes::victorialogs_service_filter(
        "orders",
    ));
    query.start = Some(started);
    query.end = Some(SystemTime::now() + Duration::from_secs(5));
    query.limit = Some(100);
    let records = eventually(Duration::from_secs(20), || {
        let (client, query) = (client.clone(), query.clone());
        async move {
            let r = client.query(&query).await.ok()?;
            (r.len() >= 2).then_some(r)
        }
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "two orders records never became searchable:\n{}",
            process.log_tail()
        )
    });
    // Only `orders` records; `limit` keeps the newest but the answer's order is not
    // guaranteed, so sort by time (the error was sent first).
    let mut records = records;
    records.sort_by_key(|r| r.time);
    let lines: Vec<_> = records
        .iter()
        .map(gauntlet::runner::probes::victorialogs_line)
        .collect();
    assert_eq!(lines.len(), 2, "{records:?}");
    assert!(lines.iter().all(|l| l.service == "orders"), "{lines:?}");
    assert_eq!(lines[0].body, "create order failed: db timeout");
    assert_eq!(lines[0].level, "error");
    assert_eq!(lines[0].trace_id, "5b".repeat(16));
    assert_eq!(lines[1].body, "order created");
    assert_eq!(lines[1].level, "info");
    let failed = &records[0];
    assert_eq!(failed.stream_labels()["service.name"], "orders");
    assert_eq!(failed.field("span_id"), Some("c3c3c3c3c3c3c3c3"));
    assert_eq!(failed.field("http.route"), Some("/orders"));

    // A trace id finds its record across services, as the correlation check needs.
    let by_trace = LogsQuery::new(format!("trace_id:={}", "5b".repeat(16)));
    let found = eventually(Duration::from_secs(20), || {
        let (client, query) = (client.clone(), by_trace.clone());
        async move {
            let r = client.query(&query).await.ok()?;
            (r.len() == 3).then_some(r)
        }
    })
    .await;
    assert!(
        found.is_some(),
        "the three records never matched their trace id"
    );

    // A window that ended before the records were written finds nothing.
    let mut before = query.clone();
    before.start = Some(started - Duration::from_secs(60));
    before.end = Some(started);
    assert!(client.query(&before).await.expect("query").is_empty());
}
