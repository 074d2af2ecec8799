//! Loki client: LogQL range queries (`/loki/api/v1/query_range`: log streams, or a matrix for
//! metric queries), label values and the `/ready` probe.
//!
//! Upstream API: <https://grafana.com/docs/loki/latest/reference/loki-http-api/>.
//! This client serves users' own Loki (external and kubernetes stacks). Loki is AGPL, so the
//! project neither builds nor runs it; the decoding is tested against fixtures written from
//! those docs (see `fixtures/backends/README.md`).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use reqwest::Url;
use serde::Deserialize;

use super::http::{self, HttpError};
use super::prometheus::{InstantSample, Series};
use super::time::unix_nanos;

/// A label set, sorted by name.
pub type Labels = BTreeMap<String, String>;

/// Failure talking to Loki.
#[derive(Debug, thiserror::Error)]
pub enum LokiError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("loki answered {endpoint} with status {status:?}")]
    Api { endpoint: String, status: String },
    #[error("invalid tenant id for the X-Scope-OrgID header")]
    InvalidTenant,
}

/// Client for one Loki (optionally one tenant).
#[derive(Debug, Clone)]
pub struct LokiClient {
    base_url: Url,
    http: reqwest::Client,
    tenant: Option<reqwest::header::HeaderValue>,
}

/// One log line of a stream.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "Vec<serde_json::Value>")]
pub struct LogEntry {
    /// Nanoseconds since the Unix epoch.
    pub timestamp_ns: u128,
    pub line: String,
    /// Structured metadata, when Loki sends the categorized third element.
    pub structured_metadata: Labels,
}

impl TryFrom<Vec<serde_json::Value>> for LogEntry {
    type Error = String;

    fn try_from(values: Vec<serde_json::Value>) -> Result<Self, Self::Error> {
        let (ts, line) = match (values.first(), values.get(1)) {
            (Some(serde_json::Value::String(ts)), Some(serde_json::Value::String(line))) => {
                (ts, line)
            }
            _ => return Err(format!("expected [\"<ns>\", \"<line>\"], got {values:?}")),
        };
        let timestamp_ns = ts
            .parse()
            .map_err(|_| format!("invalid nanosecond timestamp {ts:?}"))?;
        let mut structured_metadata = Labels::new();
        if let Some(serde_json::Value::Object(extra)) = values.get(2)
            && let Some(serde_json::Value::Object(meta)) = extra.get("structuredMetadata")
        {
            for (k, v) in meta {
                if let serde_json::Value::String(s) = v {
                    structured_metadata.insert(k.clone(), s.clone());
                }
            }
        }
        Ok(LogEntry {
            timestamp_ns,
            line: line.clone(),
            structured_metadata,
        })
    }
}

/// A log stream: its labels and entries.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LogStream {
    #[serde(rename = "stream", default)]
    pub labels: Labels,
    #[serde(rename = "values", default)]
    pub entries: Vec<LogEntry>,
}

/// The `data` of a query answer, by `resultType`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
pub enum LokiResult {
    Streams(Vec<LogStream>),
    Matrix(Vec<Series>),
    Vector(Vec<InstantSample>),
}

impl LokiResult {
    /// Every log entry of a streams result with its stream labels.
    pub fn entries(&self) -> Vec<(&Labels, &LogEntry)> {
        match self {
            LokiResult::Streams(streams) => streams
                .iter()
                .flat_map(|s| s.entries.iter().map(move |e| (&s.labels, e)))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Order of returned log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    Forward,
    #[default]
    Backward,
}

/// Parameters of `/loki/api/v1/query_range`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogQuery {
    pub query: String,
    pub start: SystemTime,
    pub end: SystemTime,
    pub limit: Option<u32>,
    pub direction: Direction,
    /// Resolution of metric queries.
    pub step: Option<Duration>,
}

impl LogQuery {
    /// `query` over `[start, end]`, newest first.
    pub fn new(query: impl Into<String>, start: SystemTime, end: SystemTime) -> Self {
        LogQuery {
            query: query.into(),
            start,
            end,
            limit: None,
            direction: Direction::Backward,
            step: None,
        }
    }
}

#[derive(Deserialize)]
struct Envelope<T> {
    status: String,
    data: T,
}

impl LokiClient {
    /// A client for the Loki at `base_url` (e.g. `http://127.0.0.1:3100`).
    pub fn new(base_url: &str, http: reqwest::Client) -> Result<Self, LokiError> {
        Ok(LokiClient {
            base_url: http::parse_base_url(base_url)?,
            http,
            tenant: None,
        })
    }

    /// Sends `X-Scope-OrgID: tenant` (multi-tenant Loki).
    pub fn with_tenant(mut self, tenant: &str) -> Result<Self, LokiError> {
        let value =
            reqwest::header::HeaderValue::from_str(tenant).map_err(|_| LokiError::InvalidTenant)?;
        self.tenant = Some(value);
        Ok(self)
    }

    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// `GET /ready`.
    pub async fn ready(&self) -> Result<(), LokiError> {
        let segments = ["ready"];
        let url = http::endpoint_url(&self.base_url, &segments);
        http::send(self.request(url), &http::endpoint_label(&segments)).await?;
        Ok(())
    }

    /// `GET /loki/api/v1/query_range`.
    pub async fn query_range(&self, query: &LogQuery) -> Result<LokiResult, LokiError> {
        let mut params = vec![
            ("query", query.query.clone()),
            ("start", unix_nanos(query.start).to_string()),
            ("end", unix_nanos(query.end).to_string()),
            (
                "direction",
                match query.direction {
                    Direction::Forward => "forward",
                    Direction::Backward => "backward",
                }
                .to_string(),
            ),
        ];
        if let Some(limit) = query.limit {
            params.push(("limit", limit.to_string()));
        }
        if let Some(step) = query.step {
            params.push(("step", format!("{}", step.as_secs_f64())));
        }
        self.get(&["loki", "api", "v1", "query_range"], &params)
            .await
    }

    /// `GET /loki/api/v1/label/{name}/values` over `[start, end]`.
    pub async fn label_values(
        &self,
        name: &str,
        start: SystemTime,
        end: SystemTime,
    ) -> Result<Vec<String>, LokiError> {
        let params = [
            ("start", unix_nanos(start).to_string()),
            ("end", unix_nanos(end).to_string()),
        ];
        let values: Option<Vec<String>> = self
            .get(&["loki", "api", "v1", "label", name, "values"], &params)
            .await?;
        Ok(values.unwrap_or_default())
    }

    fn request(&self, url: Url) -> reqwest::RequestBuilder {
        let request = self.http.get(url);
        match &self.tenant {
            Some(tenant) => request.header("X-Scope-OrgID", tenant.clone()),
            None => request,
        }
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        segments: &[&str],
        params: &[(&str, String)],
    ) -> Result<T, LokiError> {
        let endpoint = http::endpoint_label(segments);
        let url = http::with_query(http::endpoint_url(&self.base_url, segments), params);
        let envelope: Envelope<T> = http::get_json(self.request(url), &endpoint).await?;
        if envelope.status != "success" {
            return Err(LokiError::Api {
                endpoint,
                status: envelope.status,
            });
        }
        Ok(envelope.data)
    }
}
