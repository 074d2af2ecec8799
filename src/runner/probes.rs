//! One probe per expectation kind: ask the backend (observe clients), then decide (pure
//! functions in `verdict::checks`). The runner drives these with the one polling primitive.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use reqwest::Url;

use crate::observe::dashboard::{Dashboard, RenderContext};
use crate::observe::jaeger::TraceQuery;
use crate::observe::loki::{LogQuery, LokiClient};
use crate::observe::victorialogs::{LogRecord, LogsQuery, VictoriaLogsClient};
use crate::observe::{AlertmanagerClient, JaegerClient, PrometheusClient, WebhookSink};
use crate::scenario::{AlertState, Check};
use crate::stack::LogStoreKind;
use crate::verdict::checks::{self, LogLine, LogWanted, TraceWanted};
use crate::verdict::{Evidence, Probe, ProbeTime};

/// At most this many records are read per query (the newest ones); a probe window holds a
/// few seconds of one service's logs, far fewer at the scenarios' rates.
const LOG_QUERY_LIMIT: u32 = 1000;

/// Where log records can be read back from.
pub enum LogSource {
    /// A user's Loki (LogQL); gauntlet never runs Loki itself (AGPL).
    Loki(LokiClient),
    /// VictoriaLogs (LogsQL): the native and compose stacks' log store, or a user's.
    VictoriaLogs(VictoriaLogsClient),
    /// No log store in this stack; `log:` expectations are skipped with this reason.
    Unavailable(String),
}

impl LogSource {
    /// The client for the stack's log store (its URL and kind), or why there is none.
    pub fn connect(store: Option<&(Url, LogStoreKind)>, http: &reqwest::Client) -> Self {
        let unavailable = |e: &dyn std::error::Error| LogSource::Unavailable(error_chain(e));
        match store {
            Some((url, LogStoreKind::Loki)) => LokiClient::new(url.as_str(), http.clone())
                .map_or_else(|e| unavailable(&e), LogSource::Loki),
            Some((url, LogStoreKind::Victorialogs)) => {
                VictoriaLogsClient::new(url.as_str(), http.clone())
                    .map_or_else(|e| unavailable(&e), LogSource::VictoriaLogs)
            }
            Some((_, LogStoreKind::OtlpTap)) => LogSource::Unavailable(
                "the log store is gauntlet's OTLP tap, which cannot be queried".to_string(),
            ),
            None => LogSource::Unavailable(
                "no log store in this stack (give `stack.urls.victorialogs` or `stack.urls.loki`)"
                    .to_string(),
            ),
        }
    }

    /// The backend reports name for log checks.
    pub fn backend(&self) -> &'static str {
        match self {
            LogSource::Loki(_) => "loki",
            LogSource::VictoriaLogs(_) => "victorialogs",
            LogSource::Unavailable(_) => crate::report::NO_BACKEND,
        }
    }
}

/// Everything probes read from, for one scenario run.
pub struct Observers {
    pub prometheus: PrometheusClient,
    /// Alertmanager's API, when the stack has one (to explain missed notifications).
    pub alertmanager: Option<AlertmanagerClient>,
    /// `Err` says why there is no trace store (trace checks are skipped with it).
    pub jaeger: Result<JaegerClient, String>,
    /// How reports name the trace backend: `jaeger`, or `jaeger (opensearch)` when Jaeger
    /// reads spans from OpenSearch (`stack.trace-store`).
    pub trace_backend: &'static str,
    pub logs: LogSource,
    /// `Err` says why Alertmanager's notifications cannot reach gauntlet.
    pub sink: Result<Arc<WebhookSink>, String>,
    /// Set when failed requests' trace ids are not collected (correlation is skipped).
    pub correlation_unavailable: Option<String>,
    /// Services whose logs correlation searches.
    pub log_services: Vec<String>,
    /// Dashboard uid or file stem → parsed dashboard.
    pub dashboards: BTreeMap<String, Dashboard>,
    pub scrape_interval: Duration,
    /// Trace ids of failed load requests with their send times, newest last (fed live by
    /// the load task).
    pub failed_trace_ids: Arc<Mutex<Vec<(String, SystemTime)>>>,
    /// When the scenario started (wall clock), for query windows.
    pub started_wall: SystemTime,
    /// What the run sent, for `completeness` (fed live by the load task and the timeline).
    pub ledger: super::completeness::SharedLedger,
}

/// Why an expectation cannot be evaluated in this stack (reported as skipped).
pub fn unavailable(check: &Check, obs: &Observers) -> Option<String> {
    let wants = |find_in: &[String], store: &str| find_in.iter().any(|f| f == store);
    match (check, &obs.logs) {
        (Check::Log { .. }, LogSource::Unavailable(why)) => Some(why.clone()),
        (Check::Correlation { .. }, _) if obs.correlation_unavailable.is_some() => {
            obs.correlation_unavailable.clone()
        }
        (Check::Correlation { find_in, .. }, LogSource::Unavailable(why))
            if wants(find_in, "logs") =>
        {
            Some(why.clone())
        }
        (Check::Correlation { find_in, .. }, _) if wants(find_in, "traces") => {
            obs.jaeger.as_ref().err().cloned()
        }
        (Check::Trace { .. }, _) => obs.jaeger.as_ref().err().cloned(),
        (Check::Completeness { .. }, _) if obs.correlation_unavailable.is_some() => {
            obs.correlation_unavailable.clone()
        }
        (Check::Completeness { traces, logs, .. }, _) => {
            if traces.is_some()
                && let Err(why) = &obs.jaeger
            {
                return Some(why.clone());
            }
            match &obs.logs {
                LogSource::VictoriaLogs(_) => None,
                _ if logs.is_none() => None,
                LogSource::Unavailable(why) => Some(why.clone()),
                other => Some(format!(
                    "log completeness is counted in VictoriaLogs only; the log store here is {}",
                    other.backend()
                )),
            }
        }
        (Check::Notification { .. }, _) => obs.sink.as_ref().err().cloned(),
        (Check::DashboardHasData { dashboard } | Check::DashboardPanel { dashboard, .. }, _)
            if !obs.dashboards.contains_key(dashboard) =>
        {
            Some(format!(
                "dashboard {dashboard:?} was not found in the scenario's dashboard files"
            ))
        }
        _ => None,
    }
}

/// Which backend answers a check, and whether it is the real thing.
pub fn backend(check: &Check, obs: &Observers) -> (String, bool) {
    let logs = obs.logs.backend();
    let (name, real) = match check {
        Check::Metric { .. } | Check::Alert { .. } | Check::NoAlerts { .. } => ("prometheus", true),
        Check::DashboardHasData { .. } | Check::DashboardPanel { .. } => {
            ("prometheus (dashboard queries)", true)
        }
        // A check that cannot run is reported with no backend by the caller (`unavailable`).
        Check::Notification { .. } => ("alertmanager webhook", true),
        Check::Trace { .. } => (obs.trace_backend, true),
        Check::Log { .. } => (logs, true),
        Check::Correlation { find_in, .. } => {
            match (
                find_in.iter().any(|f| f == "traces"),
                find_in.iter().any(|f| f == "logs"),
            ) {
                (true, true) => return (format!("{} and {logs}", obs.trace_backend), true),
                (true, false) => (obs.trace_backend, true),
                _ => (logs, true),
            }
        }
        Check::Completeness {
            traces,
            logs: l,
            metrics,
        } => {
            let mut names = Vec::new();
            if traces.is_some() {
                names.push("jaeger");
            }
            if l.is_some() {
                names.push(logs);
            }
            if metrics.is_some() {
                names.push("prometheus");
            }
            return (names.join(" and "), true);
        }
    };
    (name.to_string(), real)
}

/// Which moment of a probe of `check` counts as its observation when the answer carries no
/// timestamp of its own: Prometheus evaluates a query when it arrives; a store look-up only
/// proves the data was there when it answers.
pub fn probe_time(check: &Check) -> ProbeTime {
    match check {
        Check::Trace { .. }
        | Check::Log { .. }
        | Check::Correlation { .. }
        | Check::Completeness { .. } => ProbeTime::Answered,
        _ => ProbeTime::Sent,
    }
}

fn text(p: Probe<String>) -> Probe<Evidence> {
    match p {
        Probe::Met(t) => Probe::Met(Evidence::text(t)),
        Probe::NotYet(s) => Probe::NotYet(s),
        Probe::CouldNotAsk(s) => Probe::CouldNotAsk(s),
    }
}

/// Probes `check` once. `reference` is when the deadline clock started (wall clock): only
/// what happened after it counts.
pub async fn probe(check: &Check, obs: &Observers, reference: SystemTime) -> Probe<Evidence> {
    match check {
        // Evaluated at the send time, so the observation time is exact.
        Check::Metric { query } => match obs.prometheus.query(query, Some(SystemTime::now())).await
        {
            Ok(r) => text(checks::metric(&r.result)),
            Err(e) => Probe::CouldNotAsk(error_chain(&e)),
        },
        Check::Alert {
            alert,
            labels,
            state,
            require_annotations,
        } => {
            let fired = match state {
                AlertState::Resolved => {
                    match alert_fired_since(obs, alert, labels, reference).await {
                        Ok(fired) => fired,
                        Err(why) => return Probe::CouldNotAsk(why),
                    }
                }
                _ => false,
            };
            use crate::observe::prometheus::AlertState as PromAlertState;
            match obs.prometheus.alerts().await {
                Ok(alerts) => {
                    match checks::alert(&alerts, alert, labels, *state, fired, reference) {
                        // Met only when an alert that met it also carries what a responder needs.
                        Probe::Met(evidence) if !require_annotations.is_empty() => {
                            let active: Vec<_> = alerts
                                .iter()
                                .filter(|a| {
                                    a.name() == alert
                                        && labels.iter().all(|(k, v)| a.labels.get(k) == Some(v))
                                        && (a.state == PromAlertState::Firing
                                            || (*state == AlertState::Pending
                                                && a.state == PromAlertState::Pending))
                                        && a.active_at.is_some_and(|t| t >= reference)
                                })
                                .collect();
                            match crate::verdict::runbooks::missing_annotations(
                                &active,
                                require_annotations,
                            ) {
                                None => Probe::Met(evidence),
                                Some(why) => Probe::NotYet(why),
                            }
                        }
                        other => other,
                    }
                }
                Err(e) => Probe::CouldNotAsk(error_chain(&e)),
            }
        }
        Check::Notification {
            receiver,
            alert,
            labels,
            status,
        } => {
            let sink = match &obs.sink {
                Ok(sink) => sink,
                Err(why) => return Probe::CouldNotAsk(why.clone()),
            };
            match checks::notification(
                &sink.notifications(),
                receiver,
                alert.as_deref(),
                labels,
                *status,
                reference,
            ) {
                Probe::NotYet(s) => Probe::NotYet(with_sink_counts(s, sink)),
                other => other,
            }
        }
        Check::Trace {
            service,
            operation,
            error,
            spans_from,
            tags,
        } => {
            let mut query = TraceQuery::service(service.clone());
            query.operation = operation.clone();
            // Jaeger v2's memory store cannot search by error status; `checks::trace`
            // filters on it instead.
            // Only traces that began after the reference count as a reaction to it.
            query.start = Some(reference);
            query.limit = Some(100);
            let jaeger = match &obs.jaeger {
                Ok(j) => j,
                Err(why) => return Probe::CouldNotAsk(why.clone()),
            };
            match jaeger.find_traces(&query).await {
                Ok(traces) => text(checks::trace(
                    &traces,
                    &TraceWanted {
                        service,
                        operation: operation.as_deref(),
                        error: *error,
                        spans_from,
                        tags,
                    },
                )),
                Err(e) => Probe::CouldNotAsk(error_chain(&e)),
            }
        }
        Check::Log {
            service,
            level,
            contains,
            correlated_trace,
        } => {
            let wanted = LogWanted {
                service,
                level: *level,
                contains: contains.as_deref(),
                correlated_trace: *correlated_trace,
            };
            log(obs, &wanted, reference).await
        }
        Check::Correlation {
            find_in,
            min_requests,
        } => text(correlation(obs, find_in, *min_requests, reference).await),
        Check::Completeness {
            traces,
            logs,
            metrics,
        } => text(
            super::completeness::probe(
                obs,
                super::completeness::Wanted {
                    traces: *traces,
                    logs: *logs,
                    metrics: *metrics,
                },
            )
            .await,
        ),
        Check::DashboardHasData { dashboard } => text(dashboard_has_data(obs, dashboard).await),
        Check::DashboardPanel {
            dashboard,
            panel,
            above,
            below,
        } => text(dashboard_panel(obs, dashboard, panel, *above, *below).await),
        // Window checks are driven by `watch_window`, with `firing_alerts` as the probe.
        Check::NoAlerts { alerts } => match obs.prometheus.alerts().await {
            Ok(all) => text(checks::firing_alerts(&all, alerts.as_deref())),
            Err(e) => Probe::CouldNotAsk(error_chain(&e)),
        },
    }
}

/// Whether the alert was firing at `since` or at any evaluation after it, from Prometheus'
/// own `ALERTS` series (so a `resolved` check needs no memory of earlier probes). Firing *at*
/// the reference counts: a recovery can end the alert at the first evaluation after it. An
/// alert that stopped before the reference did not resolve in reaction to it. An error is the
/// error it is, not "never fired".
async fn alert_fired_since(
    obs: &Observers,
    alert: &str,
    labels: &BTreeMap<String, String>,
    since: SystemTime,
) -> Result<bool, String> {
    let mut matchers = vec![
        format!("alertname=\"{}\"", escape(alert)),
        "alertstate=\"firing\"".to_string(),
    ];
    matchers.extend(labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))));
    let selector = format!("ALERTS{{{}}}", matchers.join(","));
    // Rule groups write stale markers for alerts that stop, so an instant query at the
    // reference sees only an alert still firing then.
    match obs.prometheus.query(&selector, Some(since)).await {
        Ok(r) if !r.result.is_empty() => return Ok(true),
        Ok(_) => {}
        Err(e) => return Err(error_chain(&e)),
    }
    let now = SystemTime::now();
    // Milliseconds, rounded down: a sample from before `since` must not count.
    let window = now
        .duration_since(since)
        .unwrap_or_default()
        .as_millis()
        .max(1);
    let expr = format!("max_over_time({selector}[{window}ms])");
    match obs.prometheus.query(&expr, Some(now)).await {
        Ok(r) => Ok(!r.result.is_empty()),
        Err(e) => Err(error_chain(&e)),
    }
}

/// `log:` — matching records from the log store; with `correlated-trace`, a matching record
/// whose trace is really in the trace store (a well-formed id alone proves nothing).
async fn log(obs: &Observers, wanted: &LogWanted<'_>, reference: SystemTime) -> Probe<Evidence> {
    let lines = match log_lines(obs, wanted.service, reference).await {
        Ok(lines) => lines,
        Err(e) => return Probe::CouldNotAsk(e),
    };
    let hits = match checks::log_matches(&lines, wanted) {
        Ok(hits) => hits,
        Err(seen) => return Probe::NotYet(seen),
    };
    if !wanted.correlated_trace {
        return Probe::Met(Evidence::text(
            hits[0].body.chars().take(120).collect::<String>(),
        ));
    }
    let jaeger = match &obs.jaeger {
        Ok(j) => j,
        Err(why) => return Probe::CouldNotAsk(why.clone()),
    };
    let mut looked_up = 0;
    // The newest few records: each look-up is a request to the trace store.
    for line in hits.iter().rev().take(10) {
        looked_up += 1;
        match jaeger.trace(&line.trace_id).await {
            Ok(Some(_)) => {
                return Probe::Met(Evidence::text(format!(
                    "trace_id {} found in the trace store",
                    line.trace_id
                )));
            }
            Ok(None) => {}
            Err(e) => return Probe::CouldNotAsk(error_chain(&e)),
        }
    }
    Probe::NotYet(format!(
        "{} matching record(s) with a trace id; none of the {looked_up} newest traces is in the trace store",
        hits.len()
    ))
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"")
}

async fn log_lines(
    obs: &Observers,
    service: &str,
    since: SystemTime,
) -> Result<Vec<LogLine>, String> {
    // A second past now, so a record stamped by a clock slightly ahead still counts.
    let until = SystemTime::now() + Duration::from_secs(1);
    match &obs.logs {
        LogSource::Loki(loki) => loki_lines(loki, service, since, until).await,
        LogSource::VictoriaLogs(vl) => victorialogs_lines(vl, service, since, until).await,
        LogSource::Unavailable(why) => Err(why.clone()),
    }
}

/// Loki, fed through its OTLP endpoint: `service.name` becomes the stream label
/// `service_name`; severity and trace id are structured metadata.
async fn loki_lines(
    loki: &LokiClient,
    service: &str,
    since: SystemTime,
    until: SystemTime,
) -> Result<Vec<LogLine>, String> {
    let mut query = LogQuery::new(
        format!("{{service_name=\"{}\"}}", escape(service)),
        since,
        until,
    );
    query.limit = Some(LOG_QUERY_LIMIT);
    let result = loki
        .query_range(&query)
        .await
        .map_err(|e| error_chain(&e))?;
    Ok(result
        .entries()
        .into_iter()
        .map(|(labels, entry)| {
            let field = |k: &str| {
                entry
                    .structured_metadata
                    .get(k)
                    .or_else(|| labels.get(k))
                    .cloned()
                    .unwrap_or_default()
            };
            let level = [
                field("severity_text"),
                field("level"),
                field("detected_level"),
            ]
            .into_iter()
            .find(|l| !l.is_empty())
            .unwrap_or_default()
            .to_lowercase();
            LogLine {
                service: field("service_name"),
                level,
                body: entry.line.clone(),
                trace_id: field("trace_id").to_lowercase(),
            }
        })
        .collect())
}

/// VictoriaLogs, fed through `/insert/opentelemetry/v1/logs`: resource attributes keep their
/// OTLP names (`service.name`, also the stream fields), the body is `_msg`, and the record's
/// severity, trace id and span id are the fields `severity_text`, `severity_number`,
/// `trace_id` and `span_id` (as VictoriaLogs v1.52.1 stores them; see
/// `fixtures/backends/victorialogs/query.jsonl`).
async fn victorialogs_lines(
    vl: &VictoriaLogsClient,
    service: &str,
    since: SystemTime,
    until: SystemTime,
) -> Result<Vec<LogLine>, String> {
    let mut query = LogsQuery::new(victorialogs_service_filter(service));
    query.start = Some(since);
    query.end = Some(until);
    query.limit = Some(LOG_QUERY_LIMIT);
    let records = vl.query(&query).await.map_err(|e| error_chain(&e))?;
    Ok(records.iter().map(victorialogs_line).collect())
}

/// LogsQL exact match on the OTLP service name. The value is a JSON string literal, which is
/// also a valid LogsQL quoted string (Go-style escapes), so any service name is safe.
pub fn victorialogs_service_filter(service: &str) -> String {
    let quoted = serde_json::Value::String(service.to_string()).to_string();
    format!("\"service.name\":={quoted}")
}

/// One VictoriaLogs record as the verdict sees it.
pub fn victorialogs_line(record: &LogRecord) -> LogLine {
    let field = |k: &str| record.field(k).unwrap_or_default().to_string();
    let service = match record.field("service.name") {
        Some(s) => s.to_string(),
        None => record
            .stream_labels()
            .remove("service.name")
            .unwrap_or_default(),
    };
    // Records sent with only a severity number (no text) are still classified; `level` and
    // `severity` cover logs ingested through VictoriaLogs' JSON and Loki-push endpoints.
    let level = [field("severity_text"), field("level"), field("severity")]
        .into_iter()
        .find(|l| !l.is_empty())
        .or_else(|| {
            let number = record.field("severity_number")?.parse().ok()?;
            severity_name(number).map(str::to_string)
        })
        .unwrap_or_default()
        .to_lowercase();
    LogLine {
        service,
        level,
        body: record.msg.clone(),
        trace_id: field("trace_id").to_lowercase(),
    }
}

/// The level an OTLP `SeverityNumber` stands for (ranges of four: TRACE 1-4 … FATAL 21-24).
fn severity_name(number: u8) -> Option<&'static str> {
    match number {
        1..=4 => Some("trace"),
        5..=8 => Some("debug"),
        9..=12 => Some("info"),
        13..=16 => Some("warn"),
        17..=20 => Some("error"),
        21..=24 => Some("fatal"),
        _ => None,
    }
}

async fn correlation(
    obs: &Observers,
    find_in: &[String],
    min_requests: u32,
    reference: SystemTime,
) -> Probe<String> {
    if find_in.is_empty() {
        // Refused by `gauntlet check`; never met by default.
        return Probe::NotYet("correlation names no store to search: nothing to check".into());
    }
    // Only requests sent after the reference are a reaction to it.
    let ids: Vec<String> = obs
        .failed_trace_ids
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter(|(_, sent)| *sent >= reference)
        .map(|(id, _)| id.clone())
        .collect();
    if ids.is_empty() {
        return Probe::NotYet("no failed request since the reference time yet".into());
    }
    let want_traces = find_in.iter().any(|f| f == "traces");
    let want_logs = find_in.iter().any(|f| f == "logs");
    let log_ids: Vec<String> = if want_logs {
        let mut all = Vec::new();
        for service in &obs.log_services {
            match log_lines(obs, service, reference).await {
                Ok(lines) => all.extend(lines.into_iter().map(|l| l.trace_id)),
                Err(e) => return Probe::CouldNotAsk(e),
            }
        }
        all
    } else {
        Vec::new()
    };
    let mut found = 0u32;
    let mut checked = 0u32;
    // Newest failures last; check the most recent few so each probe stays cheap.
    for id in ids.iter().rev().take(20) {
        checked += 1;
        let in_traces = !want_traces
            || match &obs.jaeger {
                Ok(jaeger) => match jaeger.trace(id).await {
                    Ok(found) => found.is_some(),
                    Err(e) => return Probe::CouldNotAsk(error_chain(&e)),
                },
                Err(why) => return Probe::CouldNotAsk(why.clone()),
            };
        let in_logs = !want_logs || log_ids.iter().any(|l| l == id);
        if in_traces && in_logs {
            found += 1;
            if found >= min_requests {
                return Probe::Met(format!(
                    "{found} failed request(s) found in {}",
                    find_in.join(" and ")
                ));
            }
        }
    }
    Probe::NotYet(format!(
        "{found} of {checked} recent failed request(s) found in {}",
        find_in.join(" and ")
    ))
}

pub(super) fn render_context(obs: &Observers) -> RenderContext {
    let elapsed = SystemTime::now()
        .duration_since(obs.started_wall)
        .unwrap_or_default();
    let mut ctx = RenderContext::new(elapsed.max(Duration::from_secs(60)));
    ctx.scrape_interval = obs.scrape_interval;
    ctx
}

async fn dashboard_has_data(obs: &Observers, uid: &str) -> Probe<String> {
    let Some(dashboard) = obs.dashboards.get(uid) else {
        return Probe::CouldNotAsk(format!("dashboard {uid:?} not loaded"));
    };
    let queries = dashboard.panel_queries(&render_context(obs));
    if queries.is_empty() {
        // Refused by `gauntlet check`; a dashboard without queries shows nothing.
        return Probe::NotYet(format!(
            "dashboard {uid:?} has no panel queries: nothing to check"
        ));
    }
    let mut empty = Vec::new();
    for q in &queries {
        match obs.prometheus.query(&q.expr, None).await {
            Ok(r) if !r.result.is_empty() => {}
            Ok(_) => empty.push(format!("{} ({})", q.panel_title, q.ref_id)),
            Err(e) => {
                return Probe::CouldNotAsk(format!("panel {}: {}", q.panel_title, error_chain(&e)));
            }
        }
    }
    if empty.is_empty() {
        Probe::Met(format!("all {} panel queries returned data", queries.len()))
    } else {
        Probe::NotYet(format!(
            "{} of {} panel queries empty: {}",
            empty.len(),
            queries.len(),
            empty.join(", ")
        ))
    }
}

async fn dashboard_panel(
    obs: &Observers,
    uid: &str,
    title: &str,
    above: Option<f64>,
    below: Option<f64>,
) -> Probe<String> {
    let Some(dashboard) = obs.dashboards.get(uid) else {
        return Probe::CouldNotAsk(format!("dashboard {uid:?} not loaded"));
    };
    let queries: Vec<_> = dashboard
        .panel_queries(&render_context(obs))
        .into_iter()
        .filter(|q| q.panel_title == title)
        .collect();
    if queries.is_empty() {
        return Probe::CouldNotAsk(format!("panel {title:?} has no queries"));
    }
    let mut values = Vec::new();
    for q in &queries {
        match obs.prometheus.query(&q.expr, None).await {
            Ok(r) => {
                if let Some(samples) = r.result.as_vector() {
                    values.extend(samples.iter().map(|s| s.sample.value));
                }
            }
            Err(e) => return Probe::CouldNotAsk(error_chain(&e)),
        }
    }
    let crossed = values
        .iter()
        .find(|v| above.is_some_and(|a| **v > a) || below.is_some_and(|b| **v < b));
    match crossed {
        Some(v) => Probe::Met(format!("{title} = {v}")),
        None if values.is_empty() => Probe::NotYet(format!("{title}: no data")),
        None => {
            let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            Probe::NotYet(format!("{title}: max {max}"))
        }
    }
}

/// The Alertmanager client for the run's backends, when the stack has one.
pub fn alertmanager_client(
    backends: &super::attach::Backends,
    http: &reqwest::Client,
) -> Option<AlertmanagerClient> {
    let url = backends.alertmanager.as_ref()?;
    match AlertmanagerClient::new(url.as_str(), http.clone()) {
        Ok(client) => Some(client),
        Err(e) => {
            tracing::warn!(error = %error_chain(&e), "no Alertmanager client: missed notifications are not explained");
            None
        }
    }
}

/// `seen` plus what the sink refused (no token: forged or misconfigured senders) and dropped
/// (older than the newest it keeps), so a miss says whether notifications went astray.
fn with_sink_counts(mut seen: String, sink: &WebhookSink) -> String {
    let refused = sink.refused();
    if refused > 0 {
        seen.push_str(&format!(
            "; {refused} request(s) without this run's token refused"
        ));
    }
    let dropped = sink.dropped();
    if dropped > 0 {
        seen.push_str(&format!("; {dropped} older notification(s) dropped"));
    }
    seen
}

pub use crate::error_chain;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::victorialogs::parse_json_lines;

    /// Recorded from VictoriaLogs v1.52.1 fed OTLP protobuf (fixtures/backends/README.md).
    const RECORDED: &[u8] = include_bytes!("../../fixtures/backends/victorialogs/query.jsonl");

    #[test]
    fn victorialogs_otlp_records_map_to_log_lines() {
        let records = parse_json_lines("/select/logsql/query", RECORDED).expect("recorded");
        let lines: Vec<LogLine> = records.iter().map(victorialogs_line).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].service, "orders");
        assert_eq!(lines[0].level, "error");
        assert_eq!(lines[0].body, "create order failed: db timeout");
        assert_eq!(lines[0].trace_id, "5b8efff798038103d269b633813fc60c");
        assert_eq!(lines[1].level, "info");
    }

    #[test]
    fn victorialogs_level_falls_back_to_the_severity_number_and_service_to_the_stream() {
        let body = br#"{"_msg":"boom","_stream":"{service.name=\"users\"}","severity_number":"18","trace_id":"0AF7651916CD43DD8448EB211C80319C"}"#;
        let records = parse_json_lines("q", body).expect("parses");
        let line = victorialogs_line(&records[0]);
        assert_eq!(line.service, "users");
        assert_eq!(line.level, "error");
        assert_eq!(line.trace_id, "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(severity_name(13), Some("warn"));
        assert_eq!(severity_name(0), None);
    }

    #[test]
    fn victorialogs_service_filter_quotes_the_name() {
        assert_eq!(
            victorialogs_service_filter("orders"),
            r#""service.name":="orders""#
        );
        assert_eq!(
            victorialogs_service_filter(r#"a"b\c"#),
            r#""service.name":="a\"b\\c""#
        );
    }

    #[test]
    fn reports_name_the_log_store_that_answers() {
        let http = reqwest::Client::new();
        let observers = |kind: LogStoreKind| Observers {
            prometheus: PrometheusClient::new("http://127.0.0.1:1/", http.clone()).expect("url"),
            alertmanager: None,
            jaeger: Err("no jaeger".into()),
            trace_backend: crate::stack::TraceStore::Memory.backend(),
            logs: LogSource::connect(
                Some(&(Url::parse("http://127.0.0.1:2/").expect("url"), kind)),
                &http,
            ),
            sink: Err("no sink".into()),
            correlation_unavailable: None,
            log_services: Vec::new(),
            dashboards: BTreeMap::new(),
            scrape_interval: Duration::from_secs(1),
            failed_trace_ids: Arc::default(),
            started_wall: SystemTime::now(),
            ledger: Arc::default(),
        };
        let log = Check::Log {
            service: "orders".into(),
            level: None,
            contains: None,
            correlated_trace: false,
        };
        let both = Check::Correlation {
            find_in: vec!["traces".into(), "logs".into()],
            min_requests: 1,
        };
        let vl = observers(LogStoreKind::Victorialogs);
        assert_eq!(backend(&log, &vl), ("victorialogs".to_string(), true));
        assert_eq!(backend(&both, &vl).0, "jaeger and victorialogs");
        let loki = observers(LogStoreKind::Loki);
        assert_eq!(backend(&log, &loki).0, "loki");
        assert_eq!(backend(&both, &loki).0, "jaeger and loki");
        // Jaeger reading spans from OpenSearch is named so.
        let on_opensearch = Observers {
            trace_backend: crate::stack::TraceStore::Opensearch.backend(),
            ..observers(LogStoreKind::Victorialogs)
        };
        let trace = Check::Trace {
            service: "orders".into(),
            error: None,
            spans_from: Vec::new(),
            operation: None,
            tags: BTreeMap::new(),
        };
        assert_eq!(backend(&trace, &vl).0, "jaeger");
        assert_eq!(backend(&trace, &on_opensearch).0, "jaeger (opensearch)");
        assert_eq!(
            backend(&both, &on_opensearch).0,
            "jaeger (opensearch) and victorialogs"
        );
    }

    #[test]
    fn the_log_source_follows_the_store_kind_and_names_its_backend() {
        let http = reqwest::Client::new();
        let url = |s: &str| Url::parse(s).expect("url");
        let vl = (url("http://127.0.0.1:9428/"), LogStoreKind::Victorialogs);
        let loki = (url("http://127.0.0.1:3100/"), LogStoreKind::Loki);
        let tap = (url("http://127.0.0.1:4318/"), LogStoreKind::OtlpTap);
        assert_eq!(
            LogSource::connect(Some(&vl), &http).backend(),
            "victorialogs"
        );
        assert_eq!(LogSource::connect(Some(&loki), &http).backend(), "loki");
        for none in [
            LogSource::connect(Some(&tap), &http),
            LogSource::connect(None, &http),
        ] {
            assert_eq!(none.backend(), "none");
            assert!(matches!(none, LogSource::Unavailable(_)));
        }
    }
}
