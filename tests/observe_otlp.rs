//! The OTLP/HTTP tap: protobuf spans and JSON log records in, recorded observations out.

mod observe_support;

use std::time::Duration;

use gauntlet::observe::otlp::{OtlpTap, SpanStatus};
use observe_support::http;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;

fn string_attr(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn records_protobuf_spans_and_json_logs() {
    let tap = OtlpTap::start().await.expect("tap");
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![string_attr("service.name", "orders")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![0x5b; 16],
                    span_id: vec![0xc3; 8],
                    parent_span_id: vec![0xb2; 8],
                    name: "create order".into(),
                    attributes: vec![string_attr("db.system", "postgresql")],
                    status: Some(Status {
                        code: 2,
                        message: "db timeout".into(),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let response = http()
        .post(format!("{}/v1/traces", tap.endpoint()))
        .header("content-type", "application/x-protobuf")
        .body(request.encode_to_vec())
        .send()
        .await
        .expect("post traces");
    assert_eq!(response.status().as_u16(), 200);

    let logs = serde_json::json!({"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "orders"}}]},
        "scopeLogs": [{"logRecords": [{
            "timeUnixNano": "1795258229495390107",
            "severityNumber": 17,
            "severityText": "ERROR",
            "body": {"stringValue": "create order failed"},
            "traceId": "5b8efff798038103d269b633813fc60c",
            "spanId": "c3c3c3c3c3c3c3c3",
            "attributes": [{"key": "order.items", "value": {"intValue": "3"}}]
        }]}]
    }]});
    let response = http()
        .post(format!("{}/v1/logs", tap.endpoint()))
        .header("content-type", "application/json")
        .body(logs.to_string())
        .send()
        .await
        .expect("post logs");
    assert_eq!(response.status().as_u16(), 200);

    let spans = tap.spans();
    assert_eq!(spans.len(), 1);
    let span = &spans[0];
    assert_eq!(span.service_name, "orders");
    assert_eq!(span.trace_id, "5b".repeat(16));
    assert_eq!(span.span_id, "c3".repeat(8));
    assert_eq!(span.parent_span_id, "b2".repeat(8));
    assert_eq!(span.status, SpanStatus::Error);
    assert_eq!(span.attributes["db.system"], "postgresql");

    let records = tap.logs();
    assert_eq!(records.len(), 1);
    let log = &records[0];
    assert_eq!(log.service_name, "orders");
    assert_eq!(log.severity_text, "ERROR");
    assert_eq!(log.severity_number, 17);
    assert_eq!(log.body, "create order failed");
    assert_eq!(log.trace_id, "5b8efff798038103d269b633813fc60c");
    assert_eq!(log.attributes["order.items"], "3");
    assert!(log.received_at >= span.received_at);
}

#[tokio::test]
async fn garbage_and_gzip_are_refused_and_drop_frees_the_port() {
    let tap = OtlpTap::start().await.expect("tap");
    let garbage = http()
        .post(format!("{}/v1/traces", tap.endpoint()))
        .header("content-type", "application/x-protobuf")
        .body(vec![0xff, 0xff, 0xff])
        .send()
        .await
        .expect("post");
    assert_eq!(garbage.status().as_u16(), 400);
    let gzip = http()
        .post(format!("{}/v1/logs", tap.endpoint()))
        .header("content-encoding", "gzip")
        .body(vec![0x1f, 0x8b])
        .send()
        .await
        .expect("post");
    assert_eq!(gzip.status().as_u16(), 415);
    assert!(tap.spans().is_empty() && tap.logs().is_empty());
    let addr = tap.addr();
    drop(tap);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
