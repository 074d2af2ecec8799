//! Alertmanager client against responses recorded from Alertmanager 0.25
//! (fixtures/backends/alertmanager), and against the real binary with gauntlet's webhook sink
//! as the receiver.

mod observe_support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gauntlet::observe::alertmanager::{
    AlertFilter, AlertState, AlertmanagerClient, Matcher, NewSilence, SilenceState,
};
use gauntlet::observe::webhook::{NotificationStatus, WebhookSink};
use observe_support::{FixtureServer, RealProcess, Route, binary, eventually, fixture, http};

const SERVICE_DOWN_FP: &str = "5511c47a8af9c0ff";

/// A fixture server answering `routes` and a client pointed at it.
async fn served(routes: Vec<Route>) -> (FixtureServer, AlertmanagerClient) {
    let srv = FixtureServer::start(routes).await;
    let client = AlertmanagerClient::new(&srv.url(), http()).expect("client");
    (srv, client)
}

#[tokio::test]
async fn alerts_show_inhibition_and_receivers() {
    let (srv, client) = served(vec![Route::get(
        "/api/v2/alerts",
        fixture("alertmanager/alerts.json"),
    )])
    .await;
    let alerts = client
        .alerts(&AlertFilter::default())
        .await
        .expect("alerts");
    assert_eq!(alerts.len(), 3);
    let by_name = |n: &str| {
        alerts
            .iter()
            .find(|a| a.name() == n)
            .unwrap_or_else(|| panic!("{n}"))
    };
    let down = by_name("ServiceDown");
    assert_eq!(down.fingerprint, SERVICE_DOWN_FP);
    assert_eq!(down.status.state, AlertState::Active);
    assert_eq!(down.receivers[0].name, "pager");
    let high = by_name("HighErrorRate");
    assert_eq!(high.status.state, AlertState::Suppressed);
    assert_eq!(high.status.inhibited_by, [SERVICE_DOWN_FP]);
    assert!(high.status.silenced_by.is_empty());
    assert_eq!(high.receivers[0].name, "chat");
    assert!(high.starts_at.is_some() && high.ends_at > high.starts_at);
    assert!(srv.last("/api/v2/alerts").query.is_empty());
}

#[tokio::test]
async fn filter_reaches_the_query_string() {
    let (srv, client) = served(vec![Route::get(
        "/api/v2/alerts",
        fixture("alertmanager/alerts_filtered.json"),
    )])
    .await;
    let filter = AlertFilter::active_only().matcher(r#"alertname="ServiceDown""#);
    let alerts = client.alerts(&filter).await.expect("alerts");
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].labels["instance"], "127.0.0.1:1");
    let seen = srv.last("/api/v2/alerts");
    assert_eq!(seen.params("filter"), [r#"alertname="ServiceDown""#]);
    assert_eq!(seen.param("active"), Some("true"));
    assert_eq!(seen.param("silenced"), Some("false"));
    assert_eq!(seen.param("inhibited"), Some("false"));
}

#[tokio::test]
async fn silenced_alert_names_its_silence() {
    let (_srv, client) = served(vec![
        Route::get(
            "/api/v2/alerts",
            fixture("alertmanager/alerts_with_silence.json"),
        ),
        Route::get("/api/v2/silences", fixture("alertmanager/silences.json")),
    ])
    .await;
    let alerts = client
        .alerts(&AlertFilter::default())
        .await
        .expect("alerts");
    let always = alerts
        .iter()
        .find(|a| a.name() == "AlwaysFiring")
        .expect("AlwaysFiring");
    assert_eq!(always.status.state, AlertState::Suppressed);
    let silences = client.silences().await.expect("silences");
    assert_eq!(silences.len(), 1);
    assert_eq!(always.status.silenced_by, [silences[0].id.clone()]);
    assert_eq!(silences[0].state, SilenceState::Active);
    assert_eq!(
        silences[0].matchers,
        [Matcher::equal("alertname", "AlwaysFiring")]
    );
    assert_eq!(silences[0].created_by, "gauntlet");
    let (start, end) = (
        silences[0].starts_at.expect("start"),
        silences[0].ends_at.expect("end"),
    );
    let hour = end.duration_since(start).expect("ordered");
    assert!(
        hour > Duration::from_secs(3590) && hour <= Duration::from_secs(3600),
        "{hour:?}"
    );
}

#[tokio::test]
async fn groups_and_status() {
    let (_srv, client) = served(vec![
        Route::get(
            "/api/v2/alerts/groups",
            fixture("alertmanager/alert_groups.json"),
        ),
        Route::get("/api/v2/status", fixture("alertmanager/status.json")),
        Route::get("/-/ready", "OK".into()).text(),
    ])
    .await;
    let groups = client
        .alert_groups(&AlertFilter::default())
        .await
        .expect("groups");
    let pager = groups
        .iter()
        .find(|g| g.receiver.name == "pager")
        .expect("pager group");
    assert_eq!(pager.labels["alertname"], "ServiceDown");
    assert_eq!(pager.labels["service"], "orders");
    assert_eq!(pager.alerts.len(), 1);
    let status = client.status().await.expect("status");
    assert_eq!(status.version_info.version, "0.25.0");
    assert_eq!(status.cluster.status, "disabled");
    assert!(
        status.config_yaml.contains("receiver: pager"),
        "{}",
        status.config_yaml
    );
    assert!(status.uptime.is_some());
    client.ready().await.expect("ready");
}

#[tokio::test]
async fn create_and_delete_silence_requests() {
    let id = "f74cb738-be63-4f0a-a484-f5f56dea0c41";
    let (srv, client) = served(vec![
        Route::post(
            "/api/v2/silences",
            fixture("alertmanager/silence_created.json"),
        ),
        Route::delete(&format!("/api/v2/silence/{id}")),
    ])
    .await;
    let start = UNIX_EPOCH + Duration::from_secs(1_795_257_293);
    let created = client
        .create_silence(&NewSilence {
            matchers: vec![Matcher::equal("alertname", "AlwaysFiring")],
            starts_at: start,
            ends_at: start + Duration::from_secs(3600),
            created_by: "gauntlet".into(),
            comment: "silence test".into(),
        })
        .await
        .expect("created");
    assert_eq!(created, id);
    let body: serde_json::Value =
        serde_json::from_slice(&srv.last("/api/v2/silences").body).expect("json body");
    assert_eq!(body["startsAt"], "2026-11-21T10:34:53.000Z");
    assert_eq!(body["endsAt"], "2026-11-21T11:34:53.000Z");
    assert_eq!(body["matchers"][0]["name"], "alertname");
    assert_eq!(body["matchers"][0]["isEqual"], true);
    client.delete_silence(id).await.expect("deleted");
    assert_eq!(srv.last(&format!("/api/v2/silence/{id}")).method, "DELETE");
}

#[tokio::test]
async fn unknown_silence_delete_keeps_alertmanager_message() {
    let (_srv, client) = served(vec![Route::delete("/api/v2/silence/nope").status(500)]).await;
    let err = client.delete_silence("nope").await.expect_err("500");
    assert!(err.to_string().contains("/api/v2/silence/nope"), "{err}");
    assert!(err.to_string().contains("500"), "{err}");
}

/// Real Alertmanager routing an alert to gauntlet's webhook sink; silence round trip.
#[tokio::test]
async fn real_alertmanager_notifies_the_webhook_sink() {
    let Some(bin) = gauntlet::testing::require(
        "alertmanager",
        binary(
            &["prometheus-alertmanager", "alertmanager"],
            &["/usr/bin/prometheus-alertmanager"],
        ),
    ) else {
        return;
    };
    let sink = WebhookSink::start().await.expect("sink");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!(
        "route:\n  receiver: chat\n  group_by: [alertname]\n  group_wait: 100ms\n  group_interval: 1s\n  repeat_interval: 1h\n  routes:\n    - matchers: ['severity=\"critical\"']\n      receiver: pager\nreceivers:\n  - name: pager\n    webhook_configs: [{{url: '{}', send_resolved: true}}]\n  - name: chat\n    webhook_configs: [{{url: '{}'}}]\n",
        sink.url_for("pager"),
        sink.url_for("chat")
    );
    std::fs::write(dir.path().join("am.yml"), config).expect("config");
    let args = vec![
        format!("--config.file={}", dir.path().join("am.yml").display()),
        format!("--storage.path={}", dir.path().join("data").display()),
        "--web.listen-address=127.0.0.1:0".to_string(),
        "--cluster.listen-address=".to_string(),
    ];
    let (process, addr) = RealProcess::start_listening("alertmanager", &bin, &args);
    let client = AlertmanagerClient::new(&format!("http://{addr}"), http()).expect("client");
    process.wait_ready(|| client.ready()).await;
    assert_eq!(
        client.status().await.expect("status").version_info.version,
        "0.25.0"
    );

    let posted_at = SystemTime::now();
    let alert = serde_json::json!([{
        "labels": {"alertname": "ServiceDown", "service": "orders", "severity": "critical"},
        "annotations": {"summary": "orders is down"},
        "startsAt": humantime::format_rfc3339_millis(posted_at).to_string(),
    }]);
    let response = http()
        .post(format!("http://{addr}/api/v2/alerts"))
        .header("content-type", "application/json")
        .body(alert.to_string())
        .send()
        .await
        .expect("post alert");
    assert!(response.status().is_success(), "{}", response.status());

    let notification = eventually(Duration::from_secs(15), || async {
        sink.notifications_for("pager").into_iter().next()
    })
    .await
    .unwrap_or_else(|| panic!("no notification reached the sink:\n{}", process.log_tail()));
    assert_eq!(notification.payload.receiver, "pager");
    assert_eq!(notification.payload.status, NotificationStatus::Firing);
    assert_eq!(notification.payload.alerts[0].name(), "ServiceDown");
    assert_eq!(
        notification.payload.common_annotations["summary"],
        "orders is down"
    );
    assert!(notification.payload.alerts[0].ends_at.is_none());
    assert!(notification.received_wall >= posted_at);
    // group_wait is 100 ms; the rest is Alertmanager's dispatch and delivery.
    let latency = notification
        .received_wall
        .duration_since(posted_at)
        .expect("after post");
    eprintln!("measured: alert posted -> webhook sink {latency:?} (group_wait 100ms)");
    assert!(sink.notifications_for("chat").is_empty());

    let alerts = client
        .alerts(&AlertFilter::default().matcher(r#"service="orders""#))
        .await
        .expect("alerts");
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].status.state, AlertState::Active);

    let id = client
        .create_silence(&NewSilence {
            matchers: vec![Matcher::equal("alertname", "ServiceDown")],
            starts_at: SystemTime::now(),
            ends_at: SystemTime::now() + Duration::from_secs(600),
            created_by: "gauntlet".into(),
            comment: "observe test".into(),
        })
        .await
        .expect("silence");
    let silenced = eventually(Duration::from_secs(10), || async {
        let alerts = client.alerts(&AlertFilter::default()).await.ok()?;
        alerts
            .into_iter()
            .find(|a| a.status.silenced_by.contains(&id))
    })
    .await;
    assert!(silenced.is_some(), "silence {id} never applied");
    client.delete_silence(&id).await.expect("delete");
    let silences = client.silences().await.expect("silences");
    let expired = silences
        .iter()
        .find(|s| s.id == id)
        .expect("silence kept as expired");
    assert_eq!(expired.state, SilenceState::Expired);
}
