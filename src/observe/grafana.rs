//! Grafana client: dashboards by uid (`/api/dashboards/uid/{uid}`), data source queries
//! (`/api/ds/query`, answered as data frames) and `/api/health`.
//!
//! Upstream API: <https://grafana.com/docs/grafana/latest/developers/http_api/> (dashboard,
//! data source and health pages). Authentication is an optional bearer token (service account)
//! or basic auth; credentials live in [`Secret`], which never prints, and request headers are
//! marked sensitive so they stay out of `reqwest`'s debug output too.
//! Grafana cannot run on the build machines: decoding is tested against fixtures written from
//! the docs (see `fixtures/backends/README.md`).

use std::collections::BTreeMap;

use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{RequestBuilder, Url};
use serde::{Deserialize, Serialize};

use super::dashboard::{Dashboard, DashboardError};
use super::http::{self, HttpError};

/// A label set, sorted by name.
pub type Labels = BTreeMap<String, String>;

/// A credential. `Debug` and `Display` print `***`; only [`Secret::expose`] reveals it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value, for building the one header that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// How the client authenticates.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum GrafanaAuth {
    #[default]
    None,
    /// `Authorization: Bearer <token>` (service account token or API key).
    Bearer(Secret),
    Basic {
        user: String,
        password: Secret,
    },
}

/// Failure talking to Grafana.
#[derive(Debug, thiserror::Error)]
pub enum GrafanaError {
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The credential contains bytes a header cannot carry (the value is not shown).
    #[error("the grafana credential cannot be sent as an http header")]
    InvalidCredential,
    #[error("cannot encode the {endpoint} request")]
    Encode {
        endpoint: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("dashboard {uid} is not a valid dashboard model")]
    Dashboard {
        uid: String,
        #[source]
        source: DashboardError,
    },
}

/// Client for one Grafana.
#[derive(Debug, Clone)]
pub struct GrafanaClient {
    base_url: Url,
    http: reqwest::Client,
    authorization: Option<SensitiveHeader>,
}

/// A header value that is marked sensitive and never printed.
#[derive(Clone)]
struct SensitiveHeader(HeaderValue);

impl std::fmt::Debug for SensitiveHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// `/api/health`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Health {
    #[serde(default)]
    pub commit: String,
    /// `ok` when Grafana reaches its database.
    pub database: String,
    #[serde(default)]
    pub version: String,
}

/// The `meta` part of `/api/dashboards/uid/{uid}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DashboardMeta {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub slug: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub version: i64,
    #[serde(default)]
    pub created: String,
    #[serde(default)]
    pub updated: String,
    #[serde(default)]
    pub folder_uid: String,
    #[serde(default)]
    pub folder_title: String,
    #[serde(default)]
    pub provisioned: bool,
}

/// A dashboard as served: the raw JSON model, its parsed form, and its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct DashboardWithMeta {
    pub json: serde_json::Value,
    pub dashboard: Dashboard,
    pub meta: DashboardMeta,
}

#[derive(Deserialize)]
struct RawDashboardWithMeta {
    dashboard: serde_json::Value,
    meta: DashboardMeta,
}

/// One query for `/api/ds/query` (Prometheus/Loki style, `expr`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsQuery {
    pub ref_id: String,
    pub datasource_uid: String,
    pub expr: String,
    pub interval_ms: Option<u64>,
    pub max_data_points: Option<u64>,
    /// Instant instead of range query.
    pub instant: bool,
}

/// A `/api/ds/query` request over a Grafana time range (`now-5m` … `now`, or epoch ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsQueryRequest {
    pub queries: Vec<DsQuery>,
    pub from: String,
    pub to: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireRequest<'a> {
    queries: Vec<WireQuery<'a>>,
    from: &'a str,
    to: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireQuery<'a> {
    ref_id: &'a str,
    datasource: WireDatasource<'a>,
    expr: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    interval_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_data_points: Option<u64>,
    instant: bool,
    range: bool,
}

#[derive(Serialize)]
struct WireDatasource<'a> {
    uid: &'a str,
}

/// A data frame field with its column of values.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    /// Frame field type: `time`, `number`, `string`, `boolean`, …
    pub kind: String,
    pub labels: Labels,
    /// The column as JSON (numbers, strings, `null`).
    pub values: Vec<serde_json::Value>,
    /// Positions whose value JSON cannot carry (Grafana's `entities`: NaN, ±Inf).
    pub special: BTreeMap<usize, f64>,
}

impl Field {
    /// The column as numbers: `None` for null or non-numbers, NaN/±Inf restored.
    pub fn numbers(&self) -> Vec<Option<f64>> {
        self.values
            .iter()
            .enumerate()
            .map(|(i, v)| self.special.get(&i).copied().or_else(|| v.as_f64()))
            .collect()
    }
}

/// A data frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub name: String,
    pub ref_id: String,
    pub fields: Vec<Field>,
}

impl Frame {
    /// Rows in the frame (the longest column).
    pub fn row_count(&self) -> usize {
        self.fields
            .iter()
            .map(|f| f.values.len())
            .max()
            .unwrap_or(0)
    }
}

/// The answer for one `refId`.
#[derive(Debug, Clone, PartialEq)]
pub struct DsResult {
    pub status: Option<u16>,
    pub error: Option<String>,
    pub frames: Vec<Frame>,
}

/// `/api/ds/query` answer by `refId`. Per-query failures are data here (`error`), since
/// Grafana reports them inside a 400/207 body next to successful queries.
#[derive(Debug, Clone, PartialEq)]
pub struct DsQueryResponse {
    pub results: BTreeMap<String, DsResult>,
}

mod wire {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    #[derive(Deserialize)]
    pub(super) struct Response {
        #[serde(default)]
        pub(super) results: BTreeMap<String, Result>,
    }

    #[derive(Deserialize)]
    pub(super) struct Result {
        #[serde(default)]
        pub(super) status: Option<u16>,
        #[serde(default)]
        pub(super) error: Option<String>,
        #[serde(default)]
        pub(super) frames: Vec<Frame>,
    }

    #[derive(Deserialize)]
    pub(super) struct Frame {
        pub(super) schema: Schema,
        #[serde(default)]
        pub(super) data: Option<Data>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct Schema {
        #[serde(default)]
        pub(super) name: String,
        #[serde(default)]
        pub(super) ref_id: String,
        #[serde(default)]
        pub(super) fields: Vec<Field>,
    }

    #[derive(Deserialize)]
    pub(super) struct Field {
        #[serde(default)]
        pub(super) name: String,
        #[serde(rename = "type", default)]
        pub(super) kind: String,
        #[serde(default)]
        pub(super) labels: Option<BTreeMap<String, String>>,
    }

    #[derive(Deserialize)]
    pub(super) struct Data {
        #[serde(default)]
        pub(super) values: Vec<Vec<serde_json::Value>>,
        #[serde(default)]
        pub(super) entities: Vec<Option<Entities>>,
    }

    #[derive(Deserialize, Default)]
    pub(super) struct Entities {
        #[serde(rename = "NaN", default)]
        pub(super) nan: Vec<usize>,
        #[serde(rename = "Inf", default)]
        pub(super) inf: Vec<usize>,
        #[serde(rename = "NegInf", default)]
        pub(super) neg_inf: Vec<usize>,
    }
}

fn from_wire(response: wire::Response) -> DsQueryResponse {
    let results = response
        .results
        .into_iter()
        .map(|(ref_id, result)| {
            let frames = result
                .frames
                .into_iter()
                .map(|frame| {
                    let (mut values, mut entities) = frame
                        .data
                        .map(|d| (d.values, d.entities))
                        .unwrap_or_default();
                    let fields = frame
                        .schema
                        .fields
                        .into_iter()
                        .enumerate()
                        .map(|(i, f)| {
                            let mut special = BTreeMap::new();
                            if let Some(Some(e)) = entities.get_mut(i).map(Option::take) {
                                special.extend(e.nan.iter().map(|&p| (p, f64::NAN)));
                                special.extend(e.inf.iter().map(|&p| (p, f64::INFINITY)));
                                special.extend(e.neg_inf.iter().map(|&p| (p, f64::NEG_INFINITY)));
                            }
                            Field {
                                name: f.name,
                                kind: f.kind,
                                labels: f.labels.unwrap_or_default(),
                                values: values.get_mut(i).map(std::mem::take).unwrap_or_default(),
                                special,
                            }
                        })
                        .collect();
                    Frame {
                        name: frame.schema.name,
                        ref_id: frame.schema.ref_id,
                        fields,
                    }
                })
                .collect();
            (
                ref_id,
                DsResult {
                    status: result.status,
                    error: result.error,
                    frames,
                },
            )
        })
        .collect();
    DsQueryResponse { results }
}

impl GrafanaClient {
    /// A client for the Grafana at `base_url` (e.g. `http://127.0.0.1:3000`).
    pub fn new(
        base_url: &str,
        http: reqwest::Client,
        auth: GrafanaAuth,
    ) -> Result<Self, GrafanaError> {
        let authorization = match auth {
            GrafanaAuth::None => None,
            GrafanaAuth::Bearer(token) => Some(format!("Bearer {}", token.expose())),
            GrafanaAuth::Basic { user, password } => {
                let raw = format!("{user}:{}", password.expose());
                Some(format!("Basic {}", base64_encode(raw.as_bytes())))
            }
        };
        let authorization = match authorization {
            Some(value) => {
                let mut header =
                    HeaderValue::from_str(&value).map_err(|_| GrafanaError::InvalidCredential)?;
                header.set_sensitive(true);
                Some(SensitiveHeader(header))
            }
            None => None,
        };
        Ok(GrafanaClient {
            base_url: http::parse_base_url(base_url)?,
            http,
            authorization,
        })
    }

    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// Ready when `/api/health` answers 200 (Grafana reached its database).
    pub async fn ready(&self) -> Result<(), GrafanaError> {
        self.health().await.map(|_| ())
    }

    /// `GET /api/health`.
    pub async fn health(&self) -> Result<Health, GrafanaError> {
        let segments = ["api", "health"];
        let url = http::endpoint_url(&self.base_url, &segments);
        Ok(http::get_json(
            self.authorized(self.http.get(url)),
            &http::endpoint_label(&segments),
        )
        .await?)
    }

    /// `GET /api/dashboards/uid/{uid}`, parsed into the dashboard model.
    pub async fn dashboard(&self, uid: &str) -> Result<DashboardWithMeta, GrafanaError> {
        let segments = ["api", "dashboards", "uid", uid];
        let url = http::endpoint_url(&self.base_url, &segments);
        let raw: RawDashboardWithMeta = http::get_json(
            self.authorized(self.http.get(url)),
            &http::endpoint_label(&segments),
        )
        .await?;
        let dashboard =
            Dashboard::from_json(&raw.dashboard).map_err(|source| GrafanaError::Dashboard {
                uid: uid.to_string(),
                source,
            })?;
        Ok(DashboardWithMeta {
            json: raw.dashboard,
            dashboard,
            meta: raw.meta,
        })
    }

    /// `POST /api/ds/query`.
    pub async fn ds_query(
        &self,
        request: &DsQueryRequest,
    ) -> Result<DsQueryResponse, GrafanaError> {
        let segments = ["api", "ds", "query"];
        let endpoint = http::endpoint_label(&segments);
        let wire = WireRequest {
            queries: request
                .queries
                .iter()
                .map(|q| WireQuery {
                    ref_id: &q.ref_id,
                    datasource: WireDatasource {
                        uid: &q.datasource_uid,
                    },
                    expr: &q.expr,
                    interval_ms: q.interval_ms,
                    max_data_points: q.max_data_points,
                    instant: q.instant,
                    range: !q.instant,
                })
                .collect(),
            from: &request.from,
            to: &request.to,
        };
        let body = serde_json::to_vec(&wire).map_err(|source| GrafanaError::Encode {
            endpoint: endpoint.clone(),
            source,
        })?;
        let post = self
            .http
            .post(http::endpoint_url(&self.base_url, &segments))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        let (status, body) = http::send_raw(self.authorized(post), &endpoint).await?;
        if status.is_success() {
            let response: wire::Response = http::decode(&endpoint, &body)?;
            return Ok(from_wire(response));
        }
        // Failed queries come back as 400/207 with per-refId errors; keep those as data.
        match serde_json::from_slice::<wire::Response>(&body) {
            Ok(response) if !response.results.is_empty() => Ok(from_wire(response)),
            _ => Err(http::status_error(&endpoint, status, &body).into()),
        }
    }

    fn authorized(&self, request: RequestBuilder) -> RequestBuilder {
        match &self.authorization {
            Some(SensitiveHeader(value)) => request.header(AUTHORIZATION, value.clone()),
            None => request,
        }
    }
}

/// Standard base64 with padding (RFC 4648), for the basic-auth header.
fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(super::base64_encode(input.as_bytes()), expected);
        }
        assert_eq!(
            super::base64_encode(b"admin:hunter2"),
            "YWRtaW46aHVudGVyMg=="
        );
    }

    use super::*;

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("glsa_topsecret");
        assert_eq!(format!("{secret}"), "***");
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        let client = GrafanaClient::new(
            "http://127.0.0.1:3000",
            reqwest::Client::new(),
            GrafanaAuth::Basic {
                user: "admin".into(),
                password: Secret::new("hunter2"),
            },
        )
        .expect("client");
        let shown = format!("{client:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("aHVudGVy"),
            "{shown}"
        );
        let auth = GrafanaAuth::Bearer(secret);
        assert!(!format!("{auth:?}").contains("topsecret"));
    }

    #[test]
    fn credential_with_newline_is_rejected_without_echo() {
        let err = GrafanaClient::new(
            "http://127.0.0.1:3000",
            reqwest::Client::new(),
            GrafanaAuth::Bearer(Secret::new("bad\ntoken")),
        )
        .expect_err("invalid header");
        assert!(!err.to_string().contains("token"), "{err}");
    }
}
