//! Grafana client against responses written from the Grafana HTTP API docs (Grafana cannot
//! run on the build machines; see fixtures/backends/README.md). Also checks that credentials
//! are sent but never shown.

mod observe_support;

use gauntlet::observe::grafana::{
    DsQuery, DsQueryRequest, GrafanaAuth, GrafanaClient, GrafanaError, Secret,
};
use observe_support::{FixtureServer, Route, fixture, http};

const TOKEN: &str = "glsa_gauntlet_fixture_token_0123456789";

async fn server() -> FixtureServer {
    FixtureServer::start(vec![
        Route::get("/grafana/api/health", fixture("grafana/health.json")),
        Route::get(
            "/grafana/api/dashboards/uid/gauntlet-svc",
            fixture("grafana/dashboard_by_uid.json"),
        ),
        Route::post("/grafana/api/ds/query", fixture("grafana/ds_query.json")),
    ])
    .await
}

fn bearer(srv: &FixtureServer) -> GrafanaClient {
    GrafanaClient::new(
        &format!("{}/grafana", srv.url()),
        http(),
        GrafanaAuth::Bearer(Secret::new(TOKEN)),
    )
    .expect("client")
}

#[tokio::test]
async fn health_and_dashboard_by_uid_under_a_path_prefix() {
    let srv = server().await;
    let client = bearer(&srv);
    let health = client.health().await.expect("health");
    assert_eq!(health.database, "ok");
    assert_eq!(health.version, "5.1.3");
    client.ready().await.expect("ready");

    let d = client.dashboard("gauntlet-svc").await.expect("dashboard");
    assert_eq!(d.meta.slug, "service-overview");
    assert_eq!(d.meta.url, "/d/gauntlet-svc/service-overview");
    assert_eq!(d.meta.folder_title, "Platform");
    assert!(d.meta.provisioned);
    assert_eq!(d.meta.version, 3);
    assert_eq!(d.dashboard.uid, "gauntlet-svc");
    assert_eq!(d.dashboard.title, "Service overview");
    let ids: Vec<i64> = d.dashboard.panels.iter().map(|p| p.id).collect();
    assert_eq!(ids, [2, 3, 5, 6, 7, 8]);
    assert_eq!(d.json["schemaVersion"], 39);
    let seen = srv.last("/grafana/api/dashboards/uid/gauntlet-svc");
    assert_eq!(
        seen.headers["authorization"],
        format!("Bearer {TOKEN}").as_str()
    );
}

#[tokio::test]
async fn ds_query_sends_queries_and_decodes_frames() {
    let srv = server().await;
    let client = bearer(&srv);
    let request = DsQueryRequest {
        queries: vec![
            DsQuery {
                ref_id: "A".into(),
                datasource_uid: "prom-uid".into(),
                expr: r#"sum by (route) (rate(http_requests_total{service=~"orders"}[1m0s]))"#
                    .into(),
                interval_ms: Some(15_000),
                max_data_points: Some(1000),
                instant: false,
            },
            DsQuery {
                ref_id: "B".into(),
                datasource_uid: "prom-uid".into(),
                expr: "absent_metric".into(),
                interval_ms: None,
                max_data_points: None,
                instant: true,
            },
        ],
        from: "now-5m".into(),
        to: "now".into(),
    };
    let response = client.ds_query(&request).await.expect("ds query");
    let a = &response.results["A"];
    assert_eq!(a.status, Some(200));
    assert!(a.error.is_none());
    let frame = &a.frames[0];
    assert_eq!(frame.ref_id, "A");
    assert_eq!(frame.row_count(), 3);
    assert_eq!(frame.fields[0].kind, "time");
    assert_eq!(frame.fields[0].values[0], 1_700_000_000_000_i64);
    let value = &frame.fields[1];
    assert_eq!(value.labels["route"], "/api/orders");
    let numbers = value.numbers();
    assert_eq!(numbers[0], Some(12.5));
    assert_eq!(numbers[1], None);
    assert!(numbers[2].expect("NaN entity").is_nan());
    assert_eq!(response.results["B"].frames[0].row_count(), 0);

    let seen = srv.last("/grafana/api/ds/query");
    let body: serde_json::Value = serde_json::from_slice(&seen.body).expect("json");
    assert_eq!(body["from"], "now-5m");
    assert_eq!(body["queries"][0]["refId"], "A");
    assert_eq!(body["queries"][0]["datasource"]["uid"], "prom-uid");
    assert_eq!(body["queries"][0]["intervalMs"], 15_000);
    assert_eq!(body["queries"][0]["range"], true);
    assert_eq!(body["queries"][1]["instant"], true);
    assert!(body["queries"][1].get("intervalMs").is_none());
}

#[tokio::test]
async fn failed_query_is_data_not_an_error() {
    let srv = FixtureServer::start(vec![
        Route::post("/api/ds/query", fixture("grafana/ds_query_error.json")).status(400),
    ])
    .await;
    let client = GrafanaClient::new(&srv.url(), http(), GrafanaAuth::None).expect("client");
    let request = DsQueryRequest {
        queries: vec![DsQuery {
            ref_id: "A".into(),
            datasource_uid: "prom-uid".into(),
            expr: "sum(rate(up[1m]".into(),
            interval_ms: None,
            max_data_points: None,
            instant: true,
        }],
        from: "now-1h".into(),
        to: "now".into(),
    };
    let response = client
        .ds_query(&request)
        .await
        .expect("per-query errors are data");
    let a = &response.results["A"];
    assert_eq!(a.status, Some(400));
    assert!(
        a.error
            .as_deref()
            .is_some_and(|e| e.contains("unclosed left parenthesis"))
    );
    assert!(a.frames.is_empty());
    assert!(
        !srv.last("/api/ds/query")
            .headers
            .contains_key("authorization")
    );
}

#[tokio::test]
async fn unauthorized_errors_never_contain_the_token() {
    let srv = FixtureServer::start(vec![
        Route::get("/grafana/api/health", fixture("grafana/unauthorized.json")).status(401),
    ])
    .await;
    let client = bearer(&srv);
    let err = client.health().await.expect_err("401");
    let mut shown = format!("{err} {err:?} {client:?}");
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        shown.push_str(&format!(" {cause} {cause:?}"));
        source = cause.source();
    }
    assert!(shown.contains("401"), "{shown}");
    assert!(!shown.contains(TOKEN), "token leaked: {shown}");
    assert!(!shown.contains("glsa_"), "token prefix leaked: {shown}");
    assert!(matches!(err, GrafanaError::Http(_)));
}

#[tokio::test]
async fn basic_auth_header_is_sent() {
    let srv = server().await;
    let client = GrafanaClient::new(
        &format!("{}/grafana", srv.url()),
        http(),
        GrafanaAuth::Basic {
            user: "admin".into(),
            password: Secret::new("hunter2"),
        },
    )
    .expect("client");
    client.health().await.expect("health");
    let seen = srv.last("/grafana/api/health");
    assert_eq!(seen.headers["authorization"], "Basic YWRtaW46aHVudGVyMg==");
    assert!(!format!("{client:?}").contains("YWRtaW46aHVudGVyMg"));
}
