//! HTTP plumbing shared by the observe clients: base URL validation, endpoint URLs built from
//! percent-encoded path segments, a status check that keeps a body excerpt, and JSON decoding
//! that names the endpoint and the JSON path that failed.
//!
//! Errors name the *endpoint* (the path, e.g. `/api/v1/query`), never the full URL, so base
//! URLs carrying credentials (`http://user:pass@host`) cannot leak into logs or reports;
//! `reqwest` errors are stored with their URL stripped for the same reason. A base URL that
//! must be shown goes through [`crate::redact::url`].

use std::time::Duration;

use bytes::Bytes;
use reqwest::{RequestBuilder, StatusCode, Url};
use serde::de::DeserializeOwned;

/// How many characters of a response body an error keeps.
pub const BODY_EXCERPT_CHARS: usize = 512;

/// Request timeout of [`default_client`]: observation queries are small and a slow answer
/// should surface as an error the poller can report, not hang a deadline.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Transport-level failure of an observe client.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("invalid base url {url:?}: {reason}")]
    InvalidBaseUrl { url: String, reason: String },
    #[error("cannot build the http client")]
    Client {
        #[source]
        source: reqwest::Error,
    },
    #[error("request to {endpoint} failed")]
    Request {
        endpoint: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{endpoint} answered http {status}: {body}")]
    Status {
        endpoint: String,
        status: StatusCode,
        body: String,
    },
    #[error("cannot decode the {endpoint} response at `{path}`; body starts: {body}")]
    Decode {
        endpoint: String,
        /// JSON path of the value that failed, e.g. `data.result[0].value`.
        path: String,
        body: String,
        #[source]
        source: serde_json::Error,
    },
}

impl HttpError {
    /// The HTTP status, when the backend answered with a non-success status.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            HttpError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A `reqwest::Client` with the timeouts gauntlet uses for observation queries.
pub fn default_client() -> Result<reqwest::Client, HttpError> {
    reqwest::Client::builder()
        .timeout(DEFAULT_TIMEOUT)
        .connect_timeout(Duration::from_secs(2))
        .build()
        .map_err(|source| HttpError::Client { source })
}

/// Parses and checks a backend base URL (`http` or `https`, no query or fragment).
pub fn parse_base_url(raw: &str) -> Result<Url, HttpError> {
    let invalid = |reason: String| HttpError::InvalidBaseUrl {
        url: crate::redact::url(raw),
        reason,
    };
    let url = Url::parse(raw).map_err(|e| invalid(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!(
            "scheme {:?} is not http or https",
            url.scheme()
        )));
    }
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(invalid("no host".to_string()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("a base url takes no query or fragment".to_string()));
    }
    Ok(url)
}

/// A backend's HTTP API: its checked base URL and the shared client. Endpoints are given as
/// path segments; errors name the endpoint (`/api/v2/alerts`), never the URL.
#[derive(Debug, Clone)]
pub struct Api {
    base_url: Url,
    http: reqwest::Client,
}

impl Api {
    /// The API at `base_url` (checked by [`parse_base_url`]).
    pub fn new(base_url: &str, http: reqwest::Client) -> Result<Self, HttpError> {
        Ok(Api {
            base_url: parse_base_url(base_url)?,
            http,
        })
    }

    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// A `method` request to `segments` with query `params`, and the endpoint label.
    pub(crate) fn request(
        &self,
        method: reqwest::Method,
        segments: &[&str],
        params: &[(&str, String)],
    ) -> (RequestBuilder, String) {
        let url = with_query(endpoint_url(&self.base_url, segments), params);
        (self.http.request(method, url), endpoint_label(segments))
    }

    /// [`send`]s a `method` request without query or body; the body of a 2xx answer.
    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        segments: &[&str],
    ) -> Result<Bytes, HttpError> {
        let (request, endpoint) = self.request(method, segments, &[]);
        send(request, &endpoint).await
    }

    /// `GET` with query `params`, status checked, JSON body decoded.
    pub(crate) async fn get_json<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        params: &[(&str, String)],
    ) -> Result<T, HttpError> {
        let (request, endpoint) = self.request(reqwest::Method::GET, segments, params);
        get_json(request, &endpoint).await
    }
}

/// `base` with `segments` appended to its path, each segment percent-encoded.
///
/// A base path prefix is kept (`http://h/grafana` + `api/health` → `/grafana/api/health`).
pub fn endpoint_url(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    // Cannot fail: parse_base_url rejected cannot-be-a-base URLs.
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

/// `url` with `params` appended as query pairs (form-urlencoded).
pub fn with_query<K: AsRef<str>, V: AsRef<str>>(mut url: Url, params: &[(K, V)]) -> Url {
    if !params.is_empty() {
        let mut pairs = url.query_pairs_mut();
        for (k, v) in params {
            pairs.append_pair(k.as_ref(), v.as_ref());
        }
    }
    url
}

/// The endpoint label used in errors and logs: `/` + the segments.
pub fn endpoint_label(segments: &[&str]) -> String {
    let mut label = String::new();
    for segment in segments {
        label.push('/');
        label.push_str(segment);
    }
    label
}

/// The first [`BODY_EXCERPT_CHARS`] characters of `body`, lossily decoded, with a marker
/// when cut.
pub fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim();
    match trimmed.char_indices().nth(BODY_EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &trimmed[..cut]),
        None => trimmed.to_string(),
    }
}

/// Sends `request` and returns status and body without judging the status.
pub(crate) async fn send_raw(
    request: RequestBuilder,
    endpoint: &str,
) -> Result<(StatusCode, Bytes), HttpError> {
    let request_error = |source: reqwest::Error| HttpError::Request {
        endpoint: endpoint.to_string(),
        source: source.without_url(),
    };
    let response = request.send().await.map_err(request_error)?;
    let status = response.status();
    let body = response.bytes().await.map_err(request_error)?;
    Ok((status, body))
}

/// Sends `request`; a non-2xx status becomes [`HttpError::Status`] with a body excerpt.
pub(crate) async fn send(request: RequestBuilder, endpoint: &str) -> Result<Bytes, HttpError> {
    let (status, body) = send_raw(request, endpoint).await?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(status_error(endpoint, status, &body))
    }
}

pub(crate) fn status_error(endpoint: &str, status: StatusCode, body: &[u8]) -> HttpError {
    HttpError::Status {
        endpoint: endpoint.to_string(),
        status,
        body: excerpt(body),
    }
}

/// Decodes a JSON body; the error names the endpoint and the JSON path that failed.
pub fn decode<T: DeserializeOwned>(endpoint: &str, body: &[u8]) -> Result<T, HttpError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| HttpError::Decode {
        endpoint: endpoint.to_string(),
        path: e.path().to_string(),
        body: excerpt(body),
        source: e.into_inner(),
    })
}

/// Sends `request`, checks the status, decodes the JSON body.
pub(crate) async fn get_json<T: DeserializeOwned>(
    request: RequestBuilder,
    endpoint: &str,
) -> Result<T, HttpError> {
    let body = send(request, endpoint).await?;
    decode(endpoint, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_url_keeps_prefix_and_encodes_segments() {
        let base = parse_base_url("http://127.0.0.1:3000/grafana/").expect("valid");
        let url = endpoint_url(&base, &["api", "services", "a b/c", "operations"]);
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:3000/grafana/api/services/a%20b%2Fc/operations"
        );
        let base = parse_base_url("http://127.0.0.1:9090").expect("valid");
        assert_eq!(
            endpoint_url(&base, &["api", "v1", "query"]).as_str(),
            "http://127.0.0.1:9090/api/v1/query"
        );
    }

    #[test]
    fn base_url_errors_never_show_credentials() {
        let err = parse_base_url("ftp://admin:hunter2@host").expect_err("ftp rejected");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let err = parse_base_url("http://admin:hunter2@[::1").expect_err("unparsable");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(parse_base_url("http://h:1/?q=1").is_err());
    }

    #[test]
    fn excerpt_cuts_on_char_boundary() {
        let long = "é".repeat(BODY_EXCERPT_CHARS + 10);
        let cut = excerpt(long.as_bytes());
        assert_eq!(cut.chars().count(), BODY_EXCERPT_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(excerpt(b"  short \n"), "short");
    }

    #[test]
    fn decode_names_endpoint_and_path() {
        #[derive(serde::Deserialize, Debug)]
        struct Outer {
            #[expect(dead_code, reason = "decoded only to fail")]
            data: Vec<u32>,
        }
        let err = decode::<Outer>("/api/x", br#"{"data":[1,"two"]}"#).expect_err("bad");
        let text = err.to_string();
        assert!(text.contains("/api/x"), "{text}");
        assert!(text.contains("data[1]"), "{text}");
    }
}
