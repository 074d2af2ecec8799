//! The webhook sink, fed the notification bodies Alertmanager 0.25 really sent
//! (fixtures/backends/alertmanager/webhook_*.json).

mod observe_support;

use std::time::{Duration, UNIX_EPOCH};

use gauntlet::observe::webhook::{NotificationStatus, WebhookSink};
use observe_support::{fixture, http};

async fn post(url: &str, body: String) -> u16 {
    http()
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("post")
        .status()
        .as_u16()
}

#[tokio::test]
async fn records_real_alertmanager_payloads_per_receiver() {
    let sink = WebhookSink::start().await.expect("sink");
    assert!(sink.addr().ip().is_loopback());
    assert_eq!(
        sink.url_for("pager"),
        format!("http://{}/hook/pager", sink.addr())
    );

    assert_eq!(
        post(
            &sink.url_for("pager"),
            fixture("alertmanager/webhook_pager_firing.json")
        )
        .await,
        200
    );
    assert_eq!(
        post(
            &sink.url_for("chat"),
            fixture("alertmanager/webhook_chat_firing.json")
        )
        .await,
        200
    );
    assert_eq!(
        post(
            &sink.url_for("pager"),
            fixture("alertmanager/webhook_pager_resolved.json")
        )
        .await,
        200
    );

    let all = sink.notifications();
    assert_eq!(all.len(), 3);
    assert!(all.windows(2).all(|w| w[0].received_at <= w[1].received_at));

    let pager = sink.notifications_for("pager");
    assert_eq!(pager.len(), 2);
    let firing = &pager[0].payload;
    assert_eq!(firing.version, "4");
    assert_eq!(firing.status, NotificationStatus::Firing);
    assert_eq!(firing.receiver, "pager");
    assert_eq!(firing.group_labels["alertname"], "ServiceDown");
    assert_eq!(firing.common_labels["severity"], "critical");
    assert_eq!(
        firing.group_key,
        r#"{}/{severity="critical"}:{alertname="ServiceDown", service="orders"}"#
    );
    let alert = &firing.alerts[0];
    assert_eq!(alert.name(), "ServiceDown");
    assert_eq!(alert.fingerprint, "5511c47a8af9c0ff");
    assert_eq!(alert.status, NotificationStatus::Firing);
    assert_eq!(alert.ends_at, None, "go zero time means unset");
    let started = alert
        .starts_at
        .expect("startsAt")
        .duration_since(UNIX_EPOCH)
        .expect("epoch");
    assert_eq!(started, Duration::from_millis(1_795_257_214_710));

    let resolved = &pager[1].payload;
    assert_eq!(resolved.status, NotificationStatus::Resolved);
    assert_eq!(resolved.alerts[0].status, NotificationStatus::Resolved);
    assert!(resolved.alerts[0].ends_at > resolved.alerts[0].starts_at);

    let chat = sink.notifications_for("chat");
    assert_eq!(chat.len(), 1);
    assert_eq!(chat[0].payload.alerts[0].name(), "AlwaysFiring");
    assert!(sink.rejected().is_empty());
}

#[tokio::test]
async fn undecodable_bodies_are_rejected_and_kept() {
    let sink = WebhookSink::start().await.expect("sink");
    assert_eq!(
        post(&sink.url_for("pager"), r#"{"hello":"world"}"#.into()).await,
        400
    );
    assert!(sink.notifications().is_empty());
    let rejected = sink.rejected();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].path_receiver, "pager");
    assert!(
        rejected[0].error.contains("/hook/pager"),
        "{}",
        rejected[0].error
    );
    assert!(rejected[0].body_excerpt.contains("hello"));
}

#[tokio::test]
async fn dropping_the_sink_closes_the_port() {
    let sink = WebhookSink::start().await.expect("sink");
    let url = sink.url_for("pager");
    assert_eq!(
        post(&url, fixture("alertmanager/webhook_pager_firing.json")).await,
        200
    );
    drop(sink);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let result = http().post(&url).body("{}").send().await;
    assert!(
        result.is_err(),
        "sink still answering after drop: {result:?}"
    );
}

#[tokio::test]
async fn graceful_shutdown_finishes() {
    let sink = WebhookSink::start().await.expect("sink");
    let addr = sink.addr();
    tokio::time::timeout(Duration::from_secs(3), sink.shutdown())
        .await
        .expect("shutdown in time");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
