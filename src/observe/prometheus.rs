//! Prometheus client: the HTTP API v1 (instant and range queries, targets, rules, alerts,
//! build info) and the `/-/ready` probe.
//!
//! Upstream API: <https://prometheus.io/docs/prometheus/latest/querying/api/>.
//! Sample values arrive as strings so that `NaN`, `+Inf` and `-Inf` survive JSON; they are
//! decoded into `f64` here. Native-histogram samples (`histogram` instead of `value`) are not
//! supported and fail decoding with the JSON path named.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use reqwest::{StatusCode, Url};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::http::{self, HttpError};
use super::time::{opt_rfc3339, unix_seconds};

/// A label set (`{job="api", instance="…"}`), sorted by name.
pub type Labels = BTreeMap<String, String>;

/// Failure talking to Prometheus.
#[derive(Debug, thiserror::Error)]
pub enum PrometheusError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("prometheus rejected {endpoint} (http {status}, {error_type}): {error}")]
    Api {
        endpoint: String,
        status: StatusCode,
        error_type: String,
        error: String,
    },
    #[error("{endpoint} answered success without a data field")]
    MissingData { endpoint: String },
}

/// Client for one Prometheus server.
#[derive(Debug, Clone)]
pub struct PrometheusClient {
    api: http::Api,
}

/// One sample: Unix timestamp in seconds and the value (NaN and ±Inf included).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(try_from = "(f64, String)")]
pub struct Sample {
    pub timestamp: f64,
    pub value: f64,
}

impl TryFrom<(f64, String)> for Sample {
    type Error = String;

    fn try_from((timestamp, value): (f64, String)) -> Result<Self, Self::Error> {
        Ok(Sample {
            timestamp,
            value: parse_sample_value(&value)?,
        })
    }
}

/// Parses a Prometheus sample value string: decimal, `NaN`, `+Inf`, `-Inf`.
pub fn parse_sample_value(text: &str) -> Result<f64, String> {
    // Rust's float parser accepts "NaN", "+Inf", "-Inf" case-insensitively.
    text.parse::<f64>()
        .map_err(|_| format!("invalid sample value {text:?}"))
}

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct InstantSample {
    #[serde(rename = "metric", default)]
    pub labels: Labels,
    #[serde(rename = "value")]
    pub sample: Sample,
}

/// One series of a range vector (matrix).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Series {
    #[serde(rename = "metric", default)]
    pub labels: Labels,
    #[serde(rename = "values", default)]
    pub samples: Vec<Sample>,
}

/// The `data` of a query answer, by `resultType`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
pub enum QueryResult {
    Vector(Vec<InstantSample>),
    Matrix(Vec<Series>),
    Scalar(Sample),
    String(StringSample),
}

/// A `string` result: timestamp and the literal.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(from = "(f64, String)")]
pub struct StringSample {
    pub timestamp: f64,
    pub value: String,
}

impl From<(f64, String)> for StringSample {
    fn from((timestamp, value): (f64, String)) -> Self {
        StringSample { timestamp, value }
    }
}

impl QueryResult {
    /// The upstream `resultType` name.
    pub fn result_type(&self) -> &'static str {
        match self {
            QueryResult::Vector(_) => "vector",
            QueryResult::Matrix(_) => "matrix",
            QueryResult::Scalar(_) => "scalar",
            QueryResult::String(_) => "string",
        }
    }

    /// Number of series (vector, matrix) or 1 (scalar, string).
    pub fn len(&self) -> usize {
        match self {
            QueryResult::Vector(v) => v.len(),
            QueryResult::Matrix(m) => m.len(),
            QueryResult::Scalar(_) | QueryResult::String(_) => 1,
        }
    }

    /// True when a vector or matrix holds no series.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn as_vector(&self) -> Option<&[InstantSample]> {
        match self {
            QueryResult::Vector(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_matrix(&self) -> Option<&[Series]> {
        match self {
            QueryResult::Matrix(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_scalar(&self) -> Option<Sample> {
        match self {
            QueryResult::Scalar(s) => Some(*s),
            _ => None,
        }
    }
}

/// A query answer: the result plus any warnings Prometheus attached.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResponse {
    pub result: QueryResult,
    pub warnings: Vec<String>,
}

/// Parameters of a range query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RangeQuery {
    pub start: SystemTime,
    pub end: SystemTime,
    pub step: Duration,
}

/// Health of a scrape target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetHealth {
    Up,
    Down,
    #[serde(other)]
    Unknown,
}

/// An active scrape target (`/api/v1/targets` → `activeTargets`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveTarget {
    #[serde(default)]
    pub discovered_labels: Labels,
    #[serde(default)]
    pub labels: Labels,
    #[serde(default)]
    pub scrape_pool: String,
    pub scrape_url: String,
    #[serde(default)]
    pub global_url: String,
    /// Empty when the last scrape succeeded.
    #[serde(default)]
    pub last_error: String,
    /// `None` when never scraped.
    #[serde(default, deserialize_with = "opt_rfc3339")]
    pub last_scrape: Option<SystemTime>,
    /// Seconds the last scrape took.
    #[serde(default)]
    pub last_scrape_duration: f64,
    pub health: TargetHealth,
    /// Prometheus duration string, e.g. `15s`; see [`parse_duration`].
    #[serde(default)]
    pub scrape_interval: String,
    #[serde(default)]
    pub scrape_timeout: String,
}

/// A target dropped by relabelling.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DroppedTarget {
    #[serde(default)]
    pub discovered_labels: Labels,
}

/// The `/api/v1/targets` answer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Targets {
    #[serde(rename = "activeTargets", default)]
    pub active: Vec<ActiveTarget>,
    #[serde(rename = "droppedTargets", default)]
    pub dropped: Vec<DroppedTarget>,
}

/// State of an alert or an alerting rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Inactive,
    Pending,
    Firing,
}

/// An active alert (from `/api/v1/alerts` or inside an alerting rule).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    #[serde(default)]
    pub labels: Labels,
    #[serde(default)]
    pub annotations: Labels,
    pub state: AlertState,
    /// When the alert's expression first returned this series (pending start).
    #[serde(default, deserialize_with = "opt_rfc3339")]
    pub active_at: Option<SystemTime>,
    /// The expression's value at the last evaluation.
    #[serde(deserialize_with = "de_sample_value")]
    pub value: f64,
    #[serde(default, deserialize_with = "opt_rfc3339")]
    pub keep_firing_since: Option<SystemTime>,
}

impl Alert {
    /// The `alertname` label.
    pub fn name(&self) -> &str {
        self.labels.get("alertname").map_or("", String::as_str)
    }
}

/// Health of a rule's last evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleHealth {
    Ok,
    Err,
    #[serde(other)]
    Unknown,
}

/// An alerting rule with its current alerts.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertingRule {
    pub name: String,
    pub query: String,
    /// The rule's `for` (upstream field `duration`, seconds).
    #[serde(rename = "duration", default, deserialize_with = "de_seconds")]
    pub for_duration: Duration,
    #[serde(default, deserialize_with = "de_seconds")]
    pub keep_firing_for: Duration,
    #[serde(default)]
    pub labels: Labels,
    #[serde(default)]
    pub annotations: Labels,
    #[serde(default)]
    pub alerts: Vec<Alert>,
    /// The most advanced state of the rule's alerts.
    pub state: AlertState,
    pub health: RuleHealth,
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub evaluation_time: f64,
    #[serde(default, deserialize_with = "opt_rfc3339")]
    pub last_evaluation: Option<SystemTime>,
}

/// A recording rule.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingRule {
    pub name: String,
    pub query: String,
    #[serde(default)]
    pub labels: Labels,
    pub health: RuleHealth,
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub evaluation_time: f64,
    #[serde(default, deserialize_with = "opt_rfc3339")]
    pub last_evaluation: Option<SystemTime>,
}

/// A rule, by its `type`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Rule {
    Alerting(AlertingRule),
    Recording(RecordingRule),
}

impl Rule {
    pub fn name(&self) -> &str {
        match self {
            Rule::Alerting(r) => &r.name,
            Rule::Recording(r) => &r.name,
        }
    }

    pub fn health(&self) -> RuleHealth {
        match self {
            Rule::Alerting(r) => r.health,
            Rule::Recording(r) => r.health,
        }
    }

    pub fn last_error(&self) -> Option<&str> {
        match self {
            Rule::Alerting(r) => r.last_error.as_deref(),
            Rule::Recording(r) => r.last_error.as_deref(),
        }
        .filter(|e| !e.is_empty())
    }
}

/// A rule group as loaded from a rule file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleGroup {
    pub name: String,
    pub file: String,
    /// Evaluation interval (upstream: seconds).
    #[serde(default, deserialize_with = "de_seconds")]
    pub interval: Duration,
    #[serde(default)]
    pub rules: Vec<Rule>,
    #[serde(default)]
    pub evaluation_time: f64,
    #[serde(default, deserialize_with = "opt_rfc3339")]
    pub last_evaluation: Option<SystemTime>,
}

impl RuleGroup {
    /// The group's alerting rules.
    pub fn alerting_rules(&self) -> impl Iterator<Item = &AlertingRule> {
        self.rules.iter().filter_map(|r| match r {
            Rule::Alerting(a) => Some(a),
            Rule::Recording(_) => None,
        })
    }
}

/// `/api/v1/status/buildinfo` (also Alertmanager's `versionInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildInfo {
    pub version: String,
    #[serde(default)]
    pub revision: String,
    #[serde(default)]
    pub branch: String,
    #[serde(default)]
    pub build_user: String,
    #[serde(default)]
    pub build_date: String,
    #[serde(default)]
    pub go_version: String,
}

#[derive(Deserialize)]
struct Envelope<T> {
    status: String,
    data: Option<T>,
    #[serde(rename = "errorType", default)]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

#[derive(Deserialize)]
struct RulesData {
    groups: Vec<RuleGroup>,
}

#[derive(Deserialize)]
struct AlertsData {
    alerts: Vec<Alert>,
}

impl PrometheusClient {
    /// A client for the Prometheus at `base_url` (e.g. `http://127.0.0.1:9090`).
    pub fn new(base_url: &str, http: reqwest::Client) -> Result<Self, PrometheusError> {
        Ok(PrometheusClient {
            api: http::Api::new(base_url, http)?,
        })
    }

    pub fn base_url(&self) -> &Url {
        self.api.base_url()
    }

    /// `GET /-/ready`: Ok once Prometheus serves queries (503 while starting).
    pub async fn ready(&self) -> Result<(), PrometheusError> {
        self.api.send(reqwest::Method::GET, &["-", "ready"]).await?;
        Ok(())
    }

    /// Instant query at `at` (Prometheus' "now" when `None`).
    pub async fn query(
        &self,
        expr: &str,
        at: Option<SystemTime>,
    ) -> Result<QueryResponse, PrometheusError> {
        let mut params = vec![("query", expr.to_string())];
        if let Some(at) = at {
            params.push(("time", format_seconds(at)));
        }
        let (result, warnings) = self
            .get::<QueryResult>(&["api", "v1", "query"], &params)
            .await?;
        Ok(QueryResponse { result, warnings })
    }

    /// Range query; the result is a matrix.
    pub async fn query_range(
        &self,
        expr: &str,
        range: RangeQuery,
    ) -> Result<QueryResponse, PrometheusError> {
        let params = [
            ("query", expr.to_string()),
            ("start", format_seconds(range.start)),
            ("end", format_seconds(range.end)),
            ("step", format!("{}", range.step.as_secs_f64())),
        ];
        let (result, warnings) = self
            .get::<QueryResult>(&["api", "v1", "query_range"], &params)
            .await?;
        Ok(QueryResponse { result, warnings })
    }

    /// `GET /api/v1/targets`.
    pub async fn targets(&self) -> Result<Targets, PrometheusError> {
        Ok(self.get(&["api", "v1", "targets"], &[]).await?.0)
    }

    /// `GET /api/v1/rules`: every rule group with rule health and alert states.
    pub async fn rules(&self) -> Result<Vec<RuleGroup>, PrometheusError> {
        let (data, _) = self.get::<RulesData>(&["api", "v1", "rules"], &[]).await?;
        Ok(data.groups)
    }

    /// `GET /api/v1/alerts`: pending and firing alerts.
    pub async fn alerts(&self) -> Result<Vec<Alert>, PrometheusError> {
        let (data, _) = self
            .get::<AlertsData>(&["api", "v1", "alerts"], &[])
            .await?;
        Ok(data.alerts)
    }

    /// `GET /api/v1/label/{label}/values`, limited to the series `matches` selects (all
    /// series when `None`). `__name__` lists metric names.
    pub async fn label_values(
        &self,
        label: &str,
        matches: Option<&str>,
    ) -> Result<Vec<String>, PrometheusError> {
        let params: Vec<(&str, String)> = matches
            .map(|m| vec![("match[]", m.to_string())])
            .unwrap_or_default();
        Ok(self
            .get(&["api", "v1", "label", label, "values"], &params)
            .await?
            .0)
    }

    /// `GET /api/v1/labels`: label names of the series `matches` selects.
    pub async fn label_names(&self, matches: &str) -> Result<Vec<String>, PrometheusError> {
        Ok(self
            .get(
                &["api", "v1", "labels"],
                &[("match[]", matches.to_string())],
            )
            .await?
            .0)
    }

    /// `GET /api/v1/status/buildinfo`.
    pub async fn build_info(&self) -> Result<BuildInfo, PrometheusError> {
        Ok(self
            .get(&["api", "v1", "status", "buildinfo"], &[])
            .await?
            .0)
    }

    async fn get<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        params: &[(&str, String)],
    ) -> Result<(T, Vec<String>), PrometheusError> {
        let (request, endpoint) = self.api.request(reqwest::Method::GET, segments, params);
        let (status, body) = http::send_raw(request, &endpoint).await?;
        if !status.is_success() {
            // Prometheus explains 400/422/503 in its JSON envelope; anything else is raw.
            return Err(
                match serde_json::from_slice::<Envelope<serde_json::Value>>(&body) {
                    Ok(Envelope {
                        error_type: Some(error_type),
                        error: Some(error),
                        ..
                    }) => PrometheusError::Api {
                        endpoint,
                        status,
                        error_type,
                        error,
                    },
                    _ => http::status_error(&endpoint, status, &body).into(),
                },
            );
        }
        let envelope: Envelope<T> = http::decode(&endpoint, &body)?;
        if envelope.status != "success" {
            return Err(PrometheusError::Api {
                endpoint,
                status,
                error_type: envelope.error_type.unwrap_or_default(),
                error: envelope
                    .error
                    .unwrap_or_else(|| format!("status {:?}", envelope.status)),
            });
        }
        if !envelope.warnings.is_empty() {
            tracing::debug!(endpoint, warnings = ?envelope.warnings, "prometheus answered with warnings");
        }
        match envelope.data {
            Some(data) => Ok((data, envelope.warnings)),
            None => Err(PrometheusError::MissingData { endpoint }),
        }
    }
}

fn format_seconds(t: SystemTime) -> String {
    format!("{:.3}", unix_seconds(t))
}

fn de_sample_value<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let text = String::deserialize(d)?;
    parse_sample_value(&text).map_err(serde::de::Error::custom)
}

fn de_seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let secs = f64::deserialize(d)?;
    Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
}

/// Parses a Prometheus duration (`1h30m`, `15s`, `500ms`, `1d`, `2w`, `1y`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit_ms: u64 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            "y" => 365 * 86_400_000,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total = total.checked_add(Duration::from_millis(n.checked_mul(unit_ms)?))?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_values_include_special_floats() {
        assert!(parse_sample_value("NaN").expect("nan").is_nan());
        assert_eq!(parse_sample_value("+Inf"), Ok(f64::INFINITY));
        assert_eq!(parse_sample_value("-Inf"), Ok(f64::NEG_INFINITY));
        assert_eq!(parse_sample_value("4.2e-01"), Ok(0.42));
        assert!(parse_sample_value("lots").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15s"), Some(Duration::from_secs(15)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1d"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(parse_duration("m"), None);
    }

    #[test]
    fn decodes_result_types() {
        let v: QueryResult = serde_json::from_str(
            r#"{"resultType":"vector","result":[{"metric":{"job":"a"},"value":[1.5,"NaN"]}]}"#,
        )
        .expect("vector");
        let s = &v.as_vector().expect("is vector")[0];
        assert_eq!(s.labels["job"], "a");
        assert!(s.sample.value.is_nan());
        let m: QueryResult = serde_json::from_str(
            r#"{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"],[2,"+Inf"]]}]}"#,
        )
        .expect("matrix");
        assert_eq!(
            m.as_matrix().expect("matrix")[0].samples[1].value,
            f64::INFINITY
        );
        let bad =
            serde_json::from_str::<QueryResult>(r#"{"resultType":"scalar","result":[1,"x"]}"#);
        assert!(bad.is_err());
    }
}
