//! VictoriaLogs client: LogsQL queries (`/select/logsql/query`, answered as JSON lines, one
//! log entry per line with `_msg`, `_time`, `_stream`, `_stream_id` and the other fields) and
//! the `/health` probe.
//!
//! Upstream API: <https://docs.victoriametrics.com/victorialogs/querying/#http-api>.
//! VictoriaLogs is the native and compose stacks' log store; the decoding is tested against
//! answers recorded from v1.52.1 and against the real binary (`tests/observe_victorialogs.rs`).
//! Every field value is a string in VictoriaLogs; non-string JSON values are kept as their
//! JSON text.

use std::collections::BTreeMap;
use std::time::SystemTime;

use reqwest::Url;
use reqwest::header::HeaderValue;

use super::http::{self, HttpError};
use super::time::parse_rfc3339;

/// Failure talking to VictoriaLogs.
#[derive(Debug, thiserror::Error)]
pub enum VictoriaLogsError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("{endpoint} line {line}: {reason}")]
    Record {
        endpoint: String,
        line: usize,
        reason: String,
    },
}

/// Client for one VictoriaLogs (optionally one tenant).
#[derive(Debug, Clone)]
pub struct VictoriaLogsClient {
    base_url: Url,
    http: reqwest::Client,
    tenant: Option<(HeaderValue, HeaderValue)>,
}

/// One log entry.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    /// `_msg`.
    pub msg: String,
    /// `_time`; `None` when absent (e.g. a `fields` pipe dropped it).
    pub time: Option<SystemTime>,
    /// `_stream`, e.g. `{service="orders"}`.
    pub stream: String,
    /// `_stream_id`.
    pub stream_id: String,
    /// Every other field.
    pub fields: BTreeMap<String, String>,
}

impl LogRecord {
    /// A field by name, including `_msg` and `_stream`.
    pub fn field(&self, name: &str) -> Option<&str> {
        match name {
            "_msg" => Some(&self.msg),
            "_stream" => Some(&self.stream),
            "_stream_id" => Some(&self.stream_id),
            _ => self.fields.get(name).map(String::as_str),
        }
    }

    /// The `_stream` labels parsed into a map (`{a="1",b="x"}` → a=1, b=x).
    pub fn stream_labels(&self) -> BTreeMap<String, String> {
        parse_stream(&self.stream)
    }
}

/// Parses a `_stream` value; malformed parts are skipped.
pub fn parse_stream(stream: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let inner = stream.trim().trim_start_matches('{').trim_end_matches('}');
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if name.is_empty() {
            break;
        }
        if chars.next() != Some('"') {
            break;
        }
        let mut value = String::new();
        let mut closed = false;
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(escaped) = chars.next() {
                        value.push(escaped);
                    }
                }
                '"' => {
                    closed = true;
                    break;
                }
                c => value.push(c),
            }
        }
        if !closed {
            break;
        }
        labels.insert(name.trim().to_string(), value);
    }
    labels
}

/// Parameters of `/select/logsql/query`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogsQuery {
    pub query: String,
    pub start: Option<SystemTime>,
    pub end: Option<SystemTime>,
    pub limit: Option<u32>,
}

impl LogsQuery {
    pub fn new(query: impl Into<String>) -> Self {
        LogsQuery {
            query: query.into(),
            start: None,
            end: None,
            limit: None,
        }
    }
}

impl VictoriaLogsClient {
    /// A client for the VictoriaLogs at `base_url` (e.g. `http://127.0.0.1:9428`).
    pub fn new(base_url: &str, http: reqwest::Client) -> Result<Self, VictoriaLogsError> {
        Ok(VictoriaLogsClient {
            base_url: http::parse_base_url(base_url)?,
            http,
            tenant: None,
        })
    }

    /// Queries tenant `account_id:project_id` (`AccountID`/`ProjectID` headers).
    pub fn with_tenant(mut self, account_id: u32, project_id: u32) -> Self {
        self.tenant = Some((HeaderValue::from(account_id), HeaderValue::from(project_id)));
        self
    }

    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// `GET /health`.
    pub async fn ready(&self) -> Result<(), VictoriaLogsError> {
        let segments = ["health"];
        let url = http::endpoint_url(&self.base_url, &segments);
        http::send(self.request(url), &http::endpoint_label(&segments)).await?;
        Ok(())
    }

    /// `GET /select/logsql/query`.
    pub async fn query(&self, query: &LogsQuery) -> Result<Vec<LogRecord>, VictoriaLogsError> {
        let segments = ["select", "logsql", "query"];
        let endpoint = http::endpoint_label(&segments);
        let mut params = vec![("query", query.query.clone())];
        if let Some(start) = query.start {
            params.push(("start", humantime::format_rfc3339_nanos(start).to_string()));
        }
        if let Some(end) = query.end {
            params.push(("end", humantime::format_rfc3339_nanos(end).to_string()));
        }
        if let Some(limit) = query.limit {
            params.push(("limit", limit.to_string()));
        }
        let url = http::with_query(http::endpoint_url(&self.base_url, &segments), &params);
        let body = http::send(self.request(url), &endpoint).await?;
        parse_json_lines(&endpoint, &body)
    }

    fn request(&self, url: Url) -> reqwest::RequestBuilder {
        let request = self.http.get(url);
        match &self.tenant {
            Some((account, project)) => request
                .header("AccountID", account.clone())
                .header("ProjectID", project.clone()),
            None => request,
        }
    }
}

/// Decodes a JSON-lines answer into records; blank lines are skipped.
pub fn parse_json_lines(endpoint: &str, body: &[u8]) -> Result<Vec<LogRecord>, VictoriaLogsError> {
    let mut records = Vec::new();
    for (index, line) in body.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let fail = |reason: String| VictoriaLogsError::Record {
            endpoint: endpoint.to_string(),
            line: index + 1,
            reason,
        };
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(line).map_err(|e| fail(e.to_string()))?;
        let mut record = LogRecord {
            msg: String::new(),
            time: None,
            stream: String::new(),
            stream_id: String::new(),
            fields: BTreeMap::new(),
        };
        for (key, value) in object {
            let text = match value {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            match key.as_str() {
                "_msg" => record.msg = text,
                "_stream" => record.stream = text,
                "_stream_id" => record.stream_id = text,
                "_time" => record.time = parse_rfc3339(&text).map_err(fail)?,
                _ => {
                    record.fields.insert(key, text);
                }
            }
        }
        records.push(record);
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_labels_parse_with_escapes() {
        let labels = parse_stream(r#"{service="orders",msg="a \"quoted\" word"}"#);
        assert_eq!(labels["service"], "orders");
        assert_eq!(labels["msg"], r#"a "quoted" word"#);
        assert!(parse_stream("{}").is_empty());
        assert_eq!(parse_stream(r#"{a="1", b="2"}"#).len(), 2);
    }

    #[test]
    fn bad_line_is_named() {
        let err = parse_json_lines("/select/logsql/query", b"{\"_msg\":\"ok\"}\nnot json\n")
            .expect_err("bad");
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
