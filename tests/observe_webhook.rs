//! The webhook sink, fed the notification bodies Alertmanager 0.25 really sent
//! (fixtures/backends/alertmanager/webhook_*.json).

mod observe_support;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gauntlet::observe::webhook::{NotificationStatus, WebhookSink, WebhookToken};
use gauntlet::scenario::NotificationStatus as Wanted;
use gauntlet::verdict::Probe;
use gauntlet::verdict::checks;
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
    let url = sink.url_for("pager");
    let prefix = format!("http://{}/hook/", sink.addr());
    let token = url
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix("/pager"))
        .unwrap_or_else(|| panic!("{url}"));
    assert_eq!(token.len(), 32, "a random 128-bit token in the path: {url}");

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
        rejected[0].error.contains("/hook/…/pager"),
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

/// A forged notification (right payload, no token or a wrong one) is refused, counted and
/// never satisfies a notification check; the same body with the token does.
#[tokio::test]
async fn forged_notifications_without_the_token_satisfy_nothing() {
    let sink = WebhookSink::start().await.expect("sink");
    let since = SystemTime::now() - Duration::from_secs(3600 * 24 * 365 * 10);
    let body = fixture("alertmanager/webhook_pager_firing.json");
    let base = format!("http://{}", sink.addr());
    let wrong = WebhookToken::random();
    let forged = [
        format!("{base}/hook/pager"),
        format!("{base}/hook/{}/pager", wrong.expose()),
        format!("{base}/hook//pager"),
        format!("{base}/pager"),
    ];
    for url in &forged {
        assert_eq!(post(url, body.clone()).await, 403, "{url}");
    }
    assert_eq!(sink.refused(), forged.len() as u64);
    assert!(sink.notifications().is_empty() && sink.rejected().is_empty());
    let check = |sink: &WebhookSink| {
        checks::notification(
            &sink.notifications(),
            "pager",
            Some("ServiceDown"),
            &BTreeMap::new(),
            Wanted::Firing,
            since,
        )
    };
    assert!(matches!(check(&sink), Probe::NotYet(_)));

    assert_eq!(post(&sink.url_for("pager"), body).await, 200);
    assert!(matches!(check(&sink), Probe::Met(_)));
    assert_eq!(sink.refused(), forged.len() as u64);
}

/// The sink keeps the newest notifications only and counts what it dropped.
#[tokio::test]
async fn the_sink_keeps_a_bounded_number_of_notifications() {
    let addr = "127.0.0.1:0".parse().expect("addr");
    let sink = WebhookSink::bind_with(addr, WebhookToken::random(), 3)
        .await
        .expect("sink");
    for file in [
        "webhook_pager_firing",
        "webhook_chat_firing",
        "webhook_pager_resolved",
        "webhook_pager_firing",
        "webhook_chat_firing",
    ] {
        let receiver = if file.contains("chat") {
            "chat"
        } else {
            "pager"
        };
        let body = fixture(&format!("alertmanager/{file}.json"));
        assert_eq!(post(&sink.url_for(receiver), body).await, 200);
    }
    let kept = sink.notifications();
    assert_eq!(kept.len(), 3);
    assert_eq!(sink.dropped(), 2);
    // The newest survive, in arrival order.
    assert_eq!(kept[0].payload.status, NotificationStatus::Resolved);
    assert_eq!(kept[2].path_receiver, "chat");
}
