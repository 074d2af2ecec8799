//! observe stage: typed clients for every backend gauntlet reads observations from.
//!
//! One module per backend (STYLE.md rule 3). Each client holds a `base_url` and a shared
//! `reqwest::Client`, offers `ready()` and typed queries returning typed structs. Clients only
//! observe: deciding whether an observation meets an expectation is the `verdict` stage's job,
//! and polling until a deadline is the runner's single polling primitive.
//!
//! - [`prometheus`]: HTTP API v1 (queries, targets, rules, alerts, build info)
//! - [`alertmanager`]: API v2 (alerts, groups, status, silences)
//! - [`webhook`]: the Alertmanager webhook sink gauntlet listens on
//! - [`jaeger`]: Jaeger query HTTP API (and api/v3 by trace id)
//! - [`loki`]: Loki LogQL query API
//! - [`victorialogs`]: VictoriaLogs LogsQL query API
//! - [`grafana`]: Grafana HTTP API (dashboards, data source queries, health)
//! - [`dashboard`]: pure Grafana dashboard JSON model and template/macro interpolation
//! - [`otlp`]: a tiny OTLP/HTTP tap recording received spans and log records
//! - [`http`]: the HTTP plumbing and error type the clients share
//! - `server`: the owner of gauntlet's own small HTTP servers (tap, webhook sink, otlp sink)

pub mod alertmanager;
pub mod dashboard;
pub mod grafana;
pub mod http;
pub mod jaeger;
pub mod loki;
pub mod otlp;
pub mod prometheus;
pub(crate) mod server;
pub mod victorialogs;
pub mod webhook;

mod time;

pub use alertmanager::AlertmanagerClient;
pub use grafana::GrafanaClient;
pub use http::HttpError;
pub use jaeger::JaegerClient;
pub use loki::LokiClient;
pub use prometheus::PrometheusClient;
pub use server::ServeError;
pub use victorialogs::VictoriaLogsClient;
pub use webhook::WebhookSink;
