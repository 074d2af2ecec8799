//! The Alertmanager webhook sink: an HTTP server gauntlet listens on so that notification
//! latency and payload can be measured.
//!
//! Alertmanager's `webhook_configs` receivers POST to `/hook/{receiver}` (one path per
//! receiver); each notification is recorded with its arrival time (monotonic `Instant` for
//! latency, `SystemTime` for reports) and the decoded payload (version 4). Bodies that do not
//! decode are kept as [`Rejected`] so a misconfigured receiver is visible, and answered 400.
//! Upstream payload: <https://prometheus.io/docs/alerting/latest/configuration/#webhook_config>.
//!
//! The sink never waits: the verdict layer polls [`WebhookSink::notifications`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use bytes::Bytes;
use serde::Deserialize;

use super::http::{self, excerpt};
use super::server::{HttpServer, ServeError, loopback};
use super::time::opt_rfc3339;

/// A label set, sorted by name.
pub type Labels = BTreeMap<String, String>;

/// The sink could not start.
pub type WebhookError = ServeError;

/// `firing` or `resolved`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationStatus {
    Firing,
    Resolved,
}

/// One alert inside a webhook notification.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAlert {
    pub status: NotificationStatus,
    #[serde(default)]
    pub labels: Labels,
    #[serde(default)]
    pub annotations: Labels,
    #[serde(default, deserialize_with = "opt_rfc3339")]
    pub starts_at: Option<SystemTime>,
    /// `None` while firing (Alertmanager sends Go's zero time).
    #[serde(default, deserialize_with = "opt_rfc3339")]
    pub ends_at: Option<SystemTime>,
    #[serde(rename = "generatorURL", default)]
    pub generator_url: String,
    #[serde(default)]
    pub fingerprint: String,
}

impl WebhookAlert {
    /// The `alertname` label.
    pub fn name(&self) -> &str {
        self.labels.get("alertname").map_or("", String::as_str)
    }
}

/// The Alertmanager webhook payload (version 4).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookPayload {
    pub version: String,
    #[serde(default)]
    pub group_key: String,
    #[serde(default)]
    pub truncated_alerts: u64,
    pub status: NotificationStatus,
    pub receiver: String,
    #[serde(default)]
    pub group_labels: Labels,
    #[serde(default)]
    pub common_labels: Labels,
    #[serde(default)]
    pub common_annotations: Labels,
    #[serde(rename = "externalURL", default)]
    pub external_url: String,
    #[serde(default)]
    pub alerts: Vec<WebhookAlert>,
}

/// A notification as received.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The `{receiver}` path segment it arrived on.
    pub path_receiver: String,
    /// Monotonic arrival time, for latencies against other `Instant`s.
    pub received_at: Instant,
    /// Wall-clock arrival time, for reports and comparison with alert timestamps.
    pub received_wall: SystemTime,
    pub payload: WebhookPayload,
}

/// A POST whose body was not a webhook payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub path_receiver: String,
    pub received_at: Instant,
    pub received_wall: SystemTime,
    pub error: String,
    pub body_excerpt: String,
}

#[derive(Default)]
struct Recorded {
    notifications: Mutex<Vec<Notification>>,
    rejected: Mutex<Vec<Rejected>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave a Vec half-pushed; keep recording.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The running sink; dropping it stops the server.
pub struct WebhookSink {
    server: HttpServer,
    recorded: Arc<Recorded>,
}

impl std::fmt::Debug for WebhookSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSink")
            .field("addr", &self.addr())
            .finish_non_exhaustive()
    }
}

impl WebhookSink {
    /// Starts the sink on `127.0.0.1` with a port chosen by the OS.
    pub async fn start() -> Result<Self, WebhookError> {
        Self::bind(loopback()).await
    }

    /// Starts the sink on `addr`.
    pub async fn bind(addr: SocketAddr) -> Result<Self, WebhookError> {
        let recorded = Arc::new(Recorded::default());
        let app = Router::new()
            .route("/hook/{receiver}", post(receive))
            .with_state(Arc::clone(&recorded));
        let server = HttpServer::start("the webhook sink", addr, app).await?;
        Ok(WebhookSink { server, recorded })
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The URL to put in a receiver's `webhook_configs[].url`.
    pub fn url_for(&self, receiver: &str) -> String {
        let base = reqwest::Url::parse(&format!("http://{}/", self.addr()))
            .expect("a socket address always forms a valid http url");
        http::endpoint_url(&base, &["hook", receiver]).to_string()
    }

    /// Every notification received so far, in arrival order.
    pub fn notifications(&self) -> Vec<Notification> {
        lock(&self.recorded.notifications).clone()
    }

    /// Notifications that arrived on `/hook/{receiver}`.
    pub fn notifications_for(&self, receiver: &str) -> Vec<Notification> {
        lock(&self.recorded.notifications)
            .iter()
            .filter(|n| n.path_receiver == receiver)
            .cloned()
            .collect()
    }

    /// POSTs that did not decode as a webhook payload.
    pub fn rejected(&self) -> Vec<Rejected> {
        lock(&self.recorded.rejected).clone()
    }

    /// Stops the server and waits (at most 2 s) for it to finish.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

async fn receive(
    State(recorded): State<Arc<Recorded>>,
    Path(receiver): Path<String>,
    body: Bytes,
) -> StatusCode {
    let received_at = Instant::now();
    let received_wall = SystemTime::now();
    match http::decode::<WebhookPayload>(&format!("/hook/{receiver}"), &body) {
        Ok(payload) => {
            tracing::debug!(
                receiver = %receiver,
                status = ?payload.status,
                alerts = payload.alerts.len(),
                "webhook notification received"
            );
            lock(&recorded.notifications).push(Notification {
                path_receiver: receiver,
                received_at,
                received_wall,
                payload,
            });
            StatusCode::OK
        }
        Err(error) => {
            tracing::warn!(receiver = %receiver, %error, "webhook body is not an alertmanager payload");
            lock(&recorded.rejected).push(Rejected {
                path_receiver: receiver,
                received_at,
                received_wall,
                error: error.to_string(),
                body_excerpt: excerpt(&body),
            });
            StatusCode::BAD_REQUEST
        }
    }
}
