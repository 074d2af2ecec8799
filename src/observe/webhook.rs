//! The Alertmanager webhook sink: an HTTP server gauntlet listens on so that notification
//! latency and payload can be measured.
//!
//! Alertmanager's `webhook_configs` receivers POST to `/hook/{token}/{receiver}` (one path per
//! receiver); each notification is recorded with its arrival time (monotonic `Instant` for
//! latency, `SystemTime` for reports) and the decoded payload (version 4). Bodies that do not
//! decode are kept as [`Rejected`] so a misconfigured receiver is visible, and answered 400.
//! Upstream payload: <https://prometheus.io/docs/alerting/latest/configuration/#webhook_config>.
//!
//! **The token.** A notification check is only worth something if nobody but the stack's
//! Alertmanager can satisfy it. On a non-loopback `webhook-listen` anyone on the network can
//! POST a well-formed payload, so every receiver path carries a per-run secret
//! ([`WebhookToken`]): a request to any other path, or with another token, is refused (403),
//! counted ([`WebhookSink::refused`]) and never recorded. The token never appears in errors,
//! logs or reports.
//!
//! **Bounded.** The sink keeps the last [`KEEP_NOTIFICATIONS`] notifications and
//! [`KEEP_REJECTED`] rejected bodies, counting what it dropped, so a flood cannot grow it
//! without bound.
//!
//! The sink never waits: the verdict layer polls [`WebhookSink::notifications`].

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use bytes::Bytes;
use rand::Rng as _;
use serde::Deserialize;

use super::http::{self, excerpt};
use super::server::{HttpServer, ServeError, loopback};
use super::time::opt_rfc3339;

/// A label set, sorted by name.
pub type Labels = BTreeMap<String, String>;

/// The sink could not start.
pub type WebhookError = ServeError;

/// How many notifications the sink keeps (the newest); older ones are dropped and counted.
/// A scenario sees a few per alert group; this is far above any real run.
pub const KEEP_NOTIFICATIONS: usize = 1000;
/// How many undecodable bodies the sink keeps (the newest).
pub const KEEP_REJECTED: usize = 50;

/// Environment variable holding the token of a sink that an Alertmanager gauntlet does not
/// configure must use (`stack.webhook-listen`): its owner puts the same value in the receiver
/// URL `http://IP:PORT/hook/<token>/<receiver>`.
pub const WEBHOOK_TOKEN_ENV: &str = "GAUNTLET_WEBHOOK_TOKEN";
/// Shortest token accepted from the environment (128 bits of hex).
pub const MIN_TOKEN_LEN: usize = 32;

/// The per-run secret in every receiver path. `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookToken(String);

/// A token given by the user is not usable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error(
        "{WEBHOOK_TOKEN_ENV} is not set: a stack gauntlet does not configure must send the run's token in its receiver URLs (http://IP:PORT/hook/<token>/<receiver>)"
    )]
    Missing,
    #[error(
        "{WEBHOOK_TOKEN_ENV} must be at least {MIN_TOKEN_LEN} characters of A-Z, a-z, 0-9, '-' or '_' (it is {len} characters long; the value is not shown)"
    )]
    Invalid { len: usize },
}

impl WebhookToken {
    /// 128 random bits as 32 hex digits (`rand`'s thread RNG is a CSPRNG seeded by the OS).
    pub fn random() -> Self {
        let bits: u128 = rand::rng().random();
        WebhookToken(format!("{bits:032x}"))
    }

    /// A token chosen by the user: long enough and safe in a URL path segment as written.
    pub fn parse(value: &str) -> Result<Self, TokenError> {
        let ok = value.len() >= MIN_TOKEN_LEN
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(WebhookToken(value.to_string()))
        } else {
            Err(TokenError::Invalid { len: value.len() })
        }
    }

    /// The token in [`WEBHOOK_TOKEN_ENV`].
    pub fn from_env() -> Result<Self, TokenError> {
        match std::env::var(WEBHOOK_TOKEN_ENV) {
            Ok(v) if !v.is_empty() => Self::parse(&v),
            _ => Err(TokenError::Missing),
        }
    }

    /// The value, for building the receiver URLs gauntlet renders itself.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares in time independent of where the first difference is, so response timing
    /// does not reveal a prefix of the token.
    fn matches(&self, candidate: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), candidate.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl std::fmt::Debug for WebhookToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookToken(***)")
    }
}

impl std::fmt::Display for WebhookToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

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

struct Recorded {
    token: WebhookToken,
    keep: usize,
    notifications: Mutex<VecDeque<Notification>>,
    rejected: Mutex<VecDeque<Rejected>>,
    /// Notifications pushed out by newer ones.
    dropped: AtomicU64,
    /// Requests without the token (another path, or another token).
    refused: AtomicU64,
}

/// Appends `item`, dropping the oldest beyond `keep`; true when one was dropped.
fn push_bounded<T>(list: &mut VecDeque<T>, item: T, keep: usize) -> bool {
    list.push_back(item);
    if list.len() > keep {
        list.pop_front();
        true
    } else {
        false
    }
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
    /// Starts the sink on `127.0.0.1` with a port chosen by the OS and a random token.
    pub async fn start() -> Result<Self, WebhookError> {
        Self::bind(loopback()).await
    }

    /// Starts the sink on `addr` with a random token.
    pub async fn bind(addr: SocketAddr) -> Result<Self, WebhookError> {
        Self::bind_with(addr, WebhookToken::random(), KEEP_NOTIFICATIONS).await
    }

    /// Starts the sink on `addr`, accepting only `/hook/{token}/{receiver}` and keeping the
    /// newest `keep` notifications (at least one).
    pub async fn bind_with(
        addr: SocketAddr,
        token: WebhookToken,
        keep: usize,
    ) -> Result<Self, WebhookError> {
        let recorded = Arc::new(Recorded {
            token,
            keep: keep.max(1),
            notifications: Mutex::new(VecDeque::new()),
            rejected: Mutex::new(VecDeque::new()),
            dropped: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        });
        let app = Router::new()
            .route("/hook/{token}/{receiver}", post(receive))
            .fallback(refuse)
            .with_state(Arc::clone(&recorded));
        let server = HttpServer::start("the webhook sink", addr, app).await?;
        Ok(WebhookSink { server, recorded })
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The URL to put in a receiver's `webhook_configs[].url` (it holds the token: give it
    /// only to the Alertmanager config gauntlet renders, never to a log or report).
    pub fn url_for(&self, receiver: &str) -> String {
        let base = reqwest::Url::parse(&format!("http://{}/", self.addr()))
            .expect("a socket address always forms a valid http url");
        http::endpoint_url(&base, &["hook", self.recorded.token.expose(), receiver]).to_string()
    }

    /// The newest notifications (at most the sink's `keep`), in arrival order.
    pub fn notifications(&self) -> Vec<Notification> {
        lock(&self.recorded.notifications).iter().cloned().collect()
    }

    /// Notifications that arrived on `/hook/{token}/{receiver}`.
    pub fn notifications_for(&self, receiver: &str) -> Vec<Notification> {
        lock(&self.recorded.notifications)
            .iter()
            .filter(|n| n.path_receiver == receiver)
            .cloned()
            .collect()
    }

    /// POSTs with the token whose body did not decode as a webhook payload (the newest).
    pub fn rejected(&self) -> Vec<Rejected> {
        lock(&self.recorded.rejected).iter().cloned().collect()
    }

    /// Notifications dropped because newer ones filled the sink.
    pub fn dropped(&self) -> u64 {
        self.recorded.dropped.load(Ordering::Relaxed)
    }

    /// Requests refused because they did not carry the run's token.
    pub fn refused(&self) -> u64 {
        self.recorded.refused.load(Ordering::Relaxed)
    }

    /// Stops the server and waits (at most 2 s) for it to finish.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

/// Anything but `POST /hook/{token}/{receiver}`: not recorded, counted.
async fn refuse(State(recorded): State<Arc<Recorded>>) -> StatusCode {
    note_refused(&recorded);
    StatusCode::FORBIDDEN
}

fn note_refused(recorded: &Recorded) {
    let before = recorded.refused.fetch_add(1, Ordering::Relaxed);
    // Once, not per request: a flood must not flood the log too.
    if before == 0 {
        tracing::warn!(
            "the webhook sink refused a request without this run's token (not recorded; counted)"
        );
    }
}

async fn receive(
    State(recorded): State<Arc<Recorded>>,
    Path((token, receiver)): Path<(String, String)>,
    body: Bytes,
) -> StatusCode {
    if !recorded.token.matches(&token) {
        note_refused(&recorded);
        return StatusCode::FORBIDDEN;
    }
    let received_at = Instant::now();
    let received_wall = SystemTime::now();
    // The endpoint label names the receiver, never the token.
    match http::decode::<WebhookPayload>(&format!("/hook/…/{receiver}"), &body) {
        Ok(payload) => {
            tracing::debug!(
                receiver = %receiver,
                status = ?payload.status,
                alerts = payload.alerts.len(),
                "webhook notification received"
            );
            let notification = Notification {
                path_receiver: receiver,
                received_at,
                received_wall,
                payload,
            };
            if push_bounded(
                &mut lock(&recorded.notifications),
                notification,
                recorded.keep,
            ) {
                recorded.dropped.fetch_add(1, Ordering::Relaxed);
            }
            StatusCode::OK
        }
        Err(error) => {
            tracing::warn!(receiver = %receiver, %error, "webhook body is not an alertmanager payload");
            let rejected = Rejected {
                path_receiver: receiver,
                received_at,
                received_wall,
                error: error.to_string(),
                body_excerpt: excerpt(&body),
            };
            push_bounded(&mut lock(&recorded.rejected), rejected, KEEP_REJECTED);
            StatusCode::BAD_REQUEST
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_hidden_and_checked() {
        let a = WebhookToken::random();
        assert_eq!(a.expose().len(), 32);
        assert_ne!(a, WebhookToken::random());
        assert_eq!(format!("{a} {a:?}"), "*** WebhookToken(***)");
        assert!(a.matches(a.expose()));
        assert!(!a.matches(&a.expose()[1..]));
        assert!(!a.matches(""));
        assert_eq!(
            WebhookToken::parse("short"),
            Err(TokenError::Invalid { len: 5 })
        );
        assert!(WebhookToken::parse(&"a/".repeat(20)).is_err());
        assert!(WebhookToken::parse(&"ab-_".repeat(8)).is_ok());
    }

    #[test]
    fn bounded_lists_drop_the_oldest() {
        let mut list = VecDeque::new();
        assert!(!push_bounded(&mut list, 1, 2));
        assert!(!push_bounded(&mut list, 2, 2));
        assert!(push_bounded(&mut list, 3, 2));
        assert_eq!(list, [2, 3]);
    }
}
