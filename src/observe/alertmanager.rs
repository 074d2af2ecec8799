//! Alertmanager client: API v2 (alerts with filters, alert groups, status, silences) and the
//! `/-/ready` probe.
//!
//! Upstream API: <https://prometheus.io/docs/alerting/latest/clients/> and the OpenAPI spec
//! <https://github.com/prometheus/alertmanager/blob/main/api/v2/openapi.yaml>.

use std::collections::BTreeMap;
use std::time::SystemTime;

use reqwest::{Method, Url};
use serde::{Deserialize, Serialize};

use super::http::{self, HttpError};
use super::time::opt_rfc3339;

/// A label set, sorted by name.
pub type Labels = BTreeMap<String, String>;

/// Failure talking to Alertmanager.
#[derive(Debug, thiserror::Error)]
pub enum AlertmanagerError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("cannot encode the silence for {endpoint}")]
    Encode {
        endpoint: String,
        #[source]
        source: serde_json::Error,
    },
}

/// Client for one Alertmanager.
#[derive(Debug, Clone)]
pub struct AlertmanagerClient {
    api: http::Api,
}

/// Query parameters of `/api/v2/alerts` and `/api/v2/alerts/groups`.
///
/// `None` leaves a flag at Alertmanager's default (true for all three).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertFilter {
    /// Label matchers, e.g. `alertname="HighErrorRate"` or `service=~"orders|users"`.
    pub matchers: Vec<String>,
    pub active: Option<bool>,
    pub silenced: Option<bool>,
    pub inhibited: Option<bool>,
    pub unprocessed: Option<bool>,
    /// Regex the receiver name must match.
    pub receiver: Option<String>,
}

impl AlertFilter {
    /// Only alerts that are neither silenced nor inhibited.
    pub fn active_only() -> Self {
        AlertFilter {
            active: Some(true),
            silenced: Some(false),
            inhibited: Some(false),
            ..AlertFilter::default()
        }
    }

    /// Adds a label matcher.
    pub fn matcher(mut self, matcher: impl Into<String>) -> Self {
        self.matchers.push(matcher.into());
        self
    }

    fn params(&self) -> Vec<(&'static str, String)> {
        let mut params: Vec<(&'static str, String)> = self
            .matchers
            .iter()
            .map(|m| ("filter", m.clone()))
            .collect();
        let flags = [
            ("active", self.active),
            ("silenced", self.silenced),
            ("inhibited", self.inhibited),
            ("unprocessed", self.unprocessed),
        ];
        for (name, value) in flags {
            if let Some(v) = value {
                params.push((name, v.to_string()));
            }
        }
        if let Some(receiver) = &self.receiver {
            params.push(("receiver", receiver.clone()));
        }
        params
    }
}

/// Processing state of an alert inside Alertmanager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Unprocessed,
    Active,
    /// Silenced or inhibited.
    Suppressed,
}

/// Why an alert is (not) suppressed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertStatus {
    pub state: AlertState,
    /// Ids of the silences muting the alert.
    #[serde(default)]
    pub silenced_by: Vec<String>,
    /// Fingerprints of the alerts inhibiting this one.
    #[serde(default)]
    pub inhibited_by: Vec<String>,
}

/// A receiver reference.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Receiver {
    pub name: String,
}

/// An alert as Alertmanager holds it (`GettableAlert`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    #[serde(default)]
    pub labels: Labels,
    #[serde(default)]
    pub annotations: Labels,
    #[serde(default, deserialize_with = "opt_rfc3339")]
    pub starts_at: Option<SystemTime>,
    #[serde(default, deserialize_with = "opt_rfc3339")]
    pub ends_at: Option<SystemTime>,
    #[serde(default, deserialize_with = "opt_rfc3339")]
    pub updated_at: Option<SystemTime>,
    pub fingerprint: String,
    #[serde(default)]
    pub receivers: Vec<Receiver>,
    pub status: AlertStatus,
    #[serde(rename = "generatorURL", default)]
    pub generator_url: String,
}

impl Alert {
    /// The `alertname` label.
    pub fn name(&self) -> &str {
        self.labels.get("alertname").map_or("", String::as_str)
    }
}

/// An alert group (`/api/v2/alerts/groups`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AlertGroup {
    /// The group-by labels.
    #[serde(default)]
    pub labels: Labels,
    pub receiver: Receiver,
    #[serde(default)]
    pub alerts: Vec<Alert>,
}

/// A silence matcher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Matcher {
    pub name: String,
    pub value: String,
    #[serde(default)]
    pub is_regex: bool,
    /// False for negative matchers (`!=`, `!~`).
    #[serde(default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

impl Matcher {
    /// `name="value"`.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Matcher {
            name: name.into(),
            value: value.into(),
            is_regex: false,
            is_equal: true,
        }
    }
}

/// Lifecycle state of a silence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    Expired,
    Active,
    Pending,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
struct SilenceStatus {
    state: SilenceState,
}

/// A silence (`GettableSilence`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<Matcher>,
    #[serde(default, deserialize_with = "opt_rfc3339")]
    pub starts_at: Option<SystemTime>,
    #[serde(default, deserialize_with = "opt_rfc3339")]
    pub ends_at: Option<SystemTime>,
    #[serde(default, deserialize_with = "opt_rfc3339")]
    pub updated_at: Option<SystemTime>,
    #[serde(default)]
    pub created_by: String,
    #[serde(default)]
    pub comment: String,
    #[serde(rename = "status", deserialize_with = "de_silence_state")]
    pub state: SilenceState,
}

fn de_silence_state<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SilenceState, D::Error> {
    Ok(SilenceStatus::deserialize(d)?.state)
}

/// A silence to create (`PostableSilence` without an id).
#[derive(Debug, Clone, PartialEq)]
pub struct NewSilence {
    pub matchers: Vec<Matcher>,
    pub starts_at: SystemTime,
    pub ends_at: SystemTime,
    pub created_by: String,
    pub comment: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PostableSilence<'a> {
    matchers: &'a [Matcher],
    starts_at: String,
    ends_at: String,
    created_by: &'a str,
    comment: &'a str,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SilenceCreated {
    #[serde(rename = "silenceID")]
    silence_id: String,
}

/// Build information (`versionInfo` of `/api/v2/status`): the same fields Prometheus reports
/// at `/api/v1/status/buildinfo`, both from prometheus/common's `version` package.
pub type VersionInfo = super::prometheus::BuildInfo;

/// Cluster membership (`cluster` of `/api/v2/status`); `status` is `disabled` when
/// Alertmanager runs with `--cluster.listen-address=`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ClusterStatus {
    pub status: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub peers: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
struct AlertmanagerConfig {
    original: String,
}

/// `/api/v2/status`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub version_info: VersionInfo,
    #[serde(default, deserialize_with = "opt_rfc3339")]
    pub uptime: Option<SystemTime>,
    pub cluster: ClusterStatus,
    /// The loaded configuration as YAML (upstream `config.original`).
    #[serde(rename = "config", deserialize_with = "de_config")]
    pub config_yaml: String,
}

fn de_config<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(AlertmanagerConfig::deserialize(d)?.original)
}

impl AlertmanagerClient {
    /// A client for the Alertmanager at `base_url` (e.g. `http://127.0.0.1:9093`).
    pub fn new(base_url: &str, http: reqwest::Client) -> Result<Self, AlertmanagerError> {
        Ok(AlertmanagerClient {
            api: http::Api::new(base_url, http)?,
        })
    }

    pub fn base_url(&self) -> &Url {
        self.api.base_url()
    }

    /// `GET /-/ready`.
    pub async fn ready(&self) -> Result<(), AlertmanagerError> {
        self.api.send(Method::GET, &["-", "ready"]).await?;
        Ok(())
    }

    /// `GET /api/v2/status`.
    pub async fn status(&self) -> Result<Status, AlertmanagerError> {
        self.get(&["api", "v2", "status"], &[]).await
    }

    /// `GET /api/v2/alerts` with `filter`.
    pub async fn alerts(&self, filter: &AlertFilter) -> Result<Vec<Alert>, AlertmanagerError> {
        self.get(&["api", "v2", "alerts"], &filter.params()).await
    }

    /// `GET /api/v2/alerts/groups` with `filter`.
    pub async fn alert_groups(
        &self,
        filter: &AlertFilter,
    ) -> Result<Vec<AlertGroup>, AlertmanagerError> {
        self.get(&["api", "v2", "alerts", "groups"], &filter.params())
            .await
    }

    /// `GET /api/v2/silences`.
    pub async fn silences(&self) -> Result<Vec<Silence>, AlertmanagerError> {
        self.get(&["api", "v2", "silences"], &[]).await
    }

    /// `POST /api/v2/silences`; returns the new silence's id.
    pub async fn create_silence(&self, silence: &NewSilence) -> Result<String, AlertmanagerError> {
        let (request, endpoint) = self
            .api
            .request(Method::POST, &["api", "v2", "silences"], &[]);
        let body = PostableSilence {
            matchers: &silence.matchers,
            starts_at: humantime::format_rfc3339_millis(silence.starts_at).to_string(),
            ends_at: humantime::format_rfc3339_millis(silence.ends_at).to_string(),
            created_by: &silence.created_by,
            comment: &silence.comment,
        };
        let json = serde_json::to_vec(&body).map_err(|source| AlertmanagerError::Encode {
            endpoint: endpoint.clone(),
            source,
        })?;
        let request = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(json);
        let created: SilenceCreated = http::get_json(request, &endpoint).await?;
        Ok(created.silence_id)
    }

    /// `DELETE /api/v2/silence/{id}` (expires the silence).
    pub async fn delete_silence(&self, id: &str) -> Result<(), AlertmanagerError> {
        self.api
            .send(Method::DELETE, &["api", "v2", "silence", id])
            .await?;
        Ok(())
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        segments: &[&str],
        params: &[(&str, String)],
    ) -> Result<T, AlertmanagerError> {
        Ok(self.api.get_json(segments, params).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_params_carry_matchers_and_flags() {
        let filter = AlertFilter::active_only().matcher(r#"alertname="ServiceDown""#);
        let params = filter.params();
        assert_eq!(
            params,
            vec![
                ("filter", r#"alertname="ServiceDown""#.to_string()),
                ("active", "true".to_string()),
                ("silenced", "false".to_string()),
                ("inhibited", "false".to_string()),
            ]
        );
        assert!(AlertFilter::default().params().is_empty());
    }
}
