//! A notification check that was missed says what the stack's Alertmanager holds for the
//! alert (through `stack.urls.alertmanager` on a stack gauntlet does not run): here the alert
//! is inhibited, from responses recorded from Alertmanager 0.25. The probe itself reports
//! only what the sink saw; the explanation is asked once, at the miss.

mod observe_support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use gauntlet::observe::webhook::WebhookSink;
use gauntlet::observe::{AlertmanagerClient, PrometheusClient};
use gauntlet::runner::explain::explain;
use gauntlet::runner::probes::{LogSource, Observers, probe};
use gauntlet::scenario::{Check, NotificationStatus};
use gauntlet::verdict::Probe;
use observe_support::{FixtureServer, Route, fixture, http};

fn observers(alertmanager: Option<AlertmanagerClient>, sink: WebhookSink) -> Observers {
    Observers {
        prometheus: PrometheusClient::new("http://127.0.0.1:1/", http()).expect("client"),
        jaeger: Err("none".into()),
        trace_backend: "jaeger",
        logs: LogSource::Unavailable("none".into()),
        sink: Ok(Arc::new(sink)),
        alertmanager,
        correlation_unavailable: None,
        log_services: Vec::new(),
        dashboards: BTreeMap::new(),
        scrape_interval: Duration::from_secs(1),
        failed_trace_ids: Arc::new(Mutex::new(Vec::new())),
        started_wall: SystemTime::now(),
        ledger: Arc::default(),
    }
}

#[tokio::test]
async fn a_missing_notification_is_explained_by_alertmanager() {
    let srv = FixtureServer::start(vec![Route::get(
        "/api/v2/alerts",
        fixture("alertmanager/alerts.json"),
    )])
    .await;
    let am = AlertmanagerClient::new(&srv.url(), http()).expect("client");
    let obs = observers(Some(am), WebhookSink::start().await.expect("sink"));
    let check = Check::Notification {
        receiver: "pager".into(),
        alert: Some("HighErrorRate".into()),
        labels: BTreeMap::from([("service".to_string(), "orders".to_string())]),
        status: NotificationStatus::Firing,
    };
    assert_eq!(
        probe(&check, &obs, SystemTime::now()).await,
        Probe::NotYet("0 other notification(s) received since the reference time".into())
    );
    let why = explain(&check, &obs).await.expect("an explanation");
    assert_eq!(
        why,
        r#"HighErrorRate is inhibited by ServiceDown{instance="127.0.0.1:1", job="down", service="orders"}"#
    );
    // The check's labels narrow what Alertmanager is asked about.
    let filters: Vec<Vec<String>> = srv
        .seen()
        .iter()
        .map(|s| s.params("filter").into_iter().map(String::from).collect())
        .collect();
    assert_eq!(
        filters[0],
        [r#"alertname="HighErrorRate""#, r#"service="orders""#],
        "{filters:?}"
    );

    // No Alertmanager to ask: the miss says only what the sink saw.
    let obs = observers(None, WebhookSink::start().await.expect("sink"));
    assert_eq!(
        probe(&check, &obs, SystemTime::now()).await,
        Probe::NotYet("0 other notification(s) received since the reference time".into())
    );
    assert_eq!(explain(&check, &obs).await, None);
}
