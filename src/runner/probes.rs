//! One probe per expectation kind: ask the backend (observe clients), then decide (pure
//! functions in `verdict::checks`). The runner drives these with the one polling primitive.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use crate::observe::alertmanager::AlertFilter;
use crate::observe::dashboard::{Dashboard, RenderContext};
use crate::observe::jaeger::TraceQuery;
use crate::observe::loki::{LogQuery, LokiClient};
use crate::observe::{AlertmanagerClient, JaegerClient, PrometheusClient, WebhookSink};
use crate::scenario::{AlertState, Check};
use crate::verdict::Probe;
use crate::verdict::checks::{self, LogLine, LogWanted, TraceWanted};

/// Where log records can be read back from.
pub enum LogSource {
    Loki(LokiClient),
    /// No log store in this stack; `log:` expectations are skipped with this reason.
    Unavailable(String),
}

/// Everything probes read from, for one scenario run.
pub struct Observers {
    pub prometheus: PrometheusClient,
    /// `Err` says why there is no trace store (trace checks are skipped with it).
    pub jaeger: Result<JaegerClient, String>,
    pub logs: LogSource,
    /// `Err` says why Alertmanager's notifications cannot reach gauntlet.
    pub sink: Result<Arc<WebhookSink>, String>,
    /// The stack's Alertmanager (its API, `stack.urls.alertmanager` on a stack gauntlet does
    /// not run): a missing notification is explained with what it holds.
    pub alertmanager: Option<AlertmanagerClient>,
    /// Set when failed requests' trace ids are not collected (correlation is skipped).
    pub correlation_unavailable: Option<String>,
    /// Services whose logs correlation searches.
    pub log_services: Vec<String>,
    /// Dashboard uid or file stem → parsed dashboard.
    pub dashboards: BTreeMap<String, Dashboard>,
    pub scrape_interval: Duration,
    /// Trace ids of failed load requests, newest last (fed live by the load task).
    pub failed_trace_ids: Arc<Mutex<Vec<String>>>,
    /// When the scenario started (wall clock), for query windows.
    pub started_wall: SystemTime,
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
pub fn backend(check: &Check) -> (&'static str, bool) {
    match check {
        Check::Metric { .. } | Check::Alert { .. } | Check::NoAlerts { .. } => ("prometheus", true),
        Check::DashboardHasData { .. } | Check::DashboardPanel { .. } => {
            ("prometheus (dashboard queries)", true)
        }
        // A check that cannot run is reported with no backend by the caller (`unavailable`).
        Check::Notification { .. } => ("alertmanager webhook", true),
        Check::Trace { .. } => ("jaeger", true),
        Check::Log { .. } => ("loki", true),
        Check::Correlation { find_in, .. } => {
            match (
                find_in.iter().any(|f| f == "traces"),
                find_in.iter().any(|f| f == "logs"),
            ) {
                (true, true) => ("jaeger and loki", true),
                (true, false) => ("jaeger", true),
                _ => ("loki", true),
            }
        }
    }
}

/// Probes `check` once. `reference` is when the deadline clock started (wall clock).
pub async fn probe(check: &Check, obs: &Observers, reference: SystemTime) -> Probe<String> {
    match check {
        Check::Metric { query } => match obs.prometheus.query(query, None).await {
            Ok(r) => checks::metric(&r.result),
            Err(e) => Probe::Failed(error_chain(&e)),
        },
        Check::Alert {
            alert,
            labels,
            state,
        } => {
            let was_firing = match state {
                AlertState::Resolved => {
                    alert_fired_since(obs, alert, labels, obs.started_wall).await
                }
                _ => false,
            };
            match obs.prometheus.alerts().await {
                Ok(alerts) => checks::alert(&alerts, alert, labels, *state, was_firing),
                Err(e) => Probe::Failed(error_chain(&e)),
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
                Err(why) => return Probe::Failed(why.clone()),
            };
            match checks::notification(
                &sink.notifications(),
                receiver,
                alert.as_deref(),
                labels,
                *status,
                reference,
            ) {
                Probe::Met(at) => Probe::Met(format!(
                    "received at {}",
                    humantime::format_rfc3339_millis(at)
                )),
                Probe::NotYet(s) => {
                    let mut seen = with_sink_counts(s, sink);
                    if let Some(am) = &obs.alertmanager {
                        seen.push_str("; ");
                        seen.push_str(&alertmanager_view(am, alert.as_deref(), labels).await);
                    }
                    Probe::NotYet(seen)
                }
                Probe::Failed(s) => Probe::Failed(s),
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
                Err(why) => return Probe::Failed(why.clone()),
            };
            match jaeger.find_traces(&query).await {
                Ok(traces) => checks::trace(
                    &traces,
                    &TraceWanted {
                        service,
                        operation: operation.as_deref(),
                        error: *error,
                        spans_from,
                        tags,
                    },
                ),
                Err(e) => Probe::Failed(error_chain(&e)),
            }
        }
        Check::Log {
            service,
            level,
            contains,
            correlated_trace,
        } => match log_lines(obs, service, reference).await {
            Ok(lines) => checks::log(
                &lines,
                &LogWanted {
                    service,
                    level: *level,
                    contains: contains.as_deref(),
                    correlated_trace: *correlated_trace,
                },
            ),
            Err(e) => Probe::Failed(e),
        },
        Check::Correlation {
            find_in,
            min_requests,
        } => correlation(obs, find_in, *min_requests, reference).await,
        Check::DashboardHasData { dashboard } => dashboard_has_data(obs, dashboard).await,
        Check::DashboardPanel {
            dashboard,
            panel,
            above,
            below,
        } => dashboard_panel(obs, dashboard, panel, *above, *below).await,
        // Window checks are driven by `watch_window`, with `firing_alerts` as the probe.
        Check::NoAlerts { alerts } => match obs.prometheus.alerts().await {
            Ok(all) => checks::firing_alerts(&all, alerts.as_deref()),
            Err(e) => Probe::Failed(error_chain(&e)),
        },
    }
}

/// Whether the alert was firing at any evaluation since `since`, from Prometheus' own
/// `ALERTS` series (so a `resolved` check needs no memory of earlier probes).
async fn alert_fired_since(
    obs: &Observers,
    alert: &str,
    labels: &BTreeMap<String, String>,
    since: SystemTime,
) -> bool {
    let mut matchers = vec![
        format!("alertname=\"{}\"", escape(alert)),
        "alertstate=\"firing\"".to_string(),
    ];
    matchers.extend(labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))));
    let window = SystemTime::now()
        .duration_since(since)
        .unwrap_or_default()
        .as_secs()
        .max(1);
    let expr = format!("max_over_time(ALERTS{{{}}}[{window}s])", matchers.join(","));
    matches!(obs.prometheus.query(&expr, None).await, Ok(r) if !r.result.is_empty())
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"")
}

async fn log_lines(
    obs: &Observers,
    service: &str,
    since: SystemTime,
) -> Result<Vec<LogLine>, String> {
    let LogSource::Loki(loki) = &obs.logs else {
        return Err("no log store".into());
    };
    let mut query = LogQuery::new(
        format!("{{service_name=\"{}\"}}", escape(service)),
        since,
        SystemTime::now() + Duration::from_secs(1),
    );
    query.limit = Some(1000);
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

async fn correlation(
    obs: &Observers,
    find_in: &[String],
    min_requests: u32,
    reference: SystemTime,
) -> Probe<String> {
    let ids: Vec<String> = obs
        .failed_trace_ids
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    if ids.is_empty() {
        return Probe::NotYet("no failed request yet".into());
    }
    let want_traces = find_in.iter().any(|f| f == "traces");
    let want_logs = find_in.iter().any(|f| f == "logs");
    let log_ids: Vec<String> = if want_logs {
        let mut all = Vec::new();
        for service in &obs.log_services {
            match log_lines(obs, service, reference).await {
                Ok(lines) => all.extend(lines.into_iter().map(|l| l.trace_id)),
                Err(e) => return Probe::Failed(e),
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
                Ok(jaeger) => matches!(jaeger.trace(id).await, Ok(Some(_))),
                Err(_) => false,
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

fn render_context(obs: &Observers) -> RenderContext {
    let elapsed = SystemTime::now()
        .duration_since(obs.started_wall)
        .unwrap_or_default();
    let mut ctx = RenderContext::new(elapsed.max(Duration::from_secs(60)));
    ctx.scrape_interval = obs.scrape_interval;
    ctx
}

async fn dashboard_has_data(obs: &Observers, uid: &str) -> Probe<String> {
    let Some(dashboard) = obs.dashboards.get(uid) else {
        return Probe::Failed(format!("dashboard {uid:?} not loaded"));
    };
    let queries = dashboard.panel_queries(&render_context(obs));
    let mut empty = Vec::new();
    for q in &queries {
        match obs.prometheus.query(&q.expr, None).await {
            Ok(r) if !r.result.is_empty() => {}
            Ok(_) => empty.push(format!("{} ({})", q.panel_title, q.ref_id)),
            Err(e) => {
                return Probe::Failed(format!("panel {}: {}", q.panel_title, error_chain(&e)));
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
        return Probe::Failed(format!("dashboard {uid:?} not loaded"));
    };
    let queries: Vec<_> = dashboard
        .panel_queries(&render_context(obs))
        .into_iter()
        .filter(|q| q.panel_title == title)
        .collect();
    if queries.is_empty() {
        return Probe::Failed(format!("panel {title:?} has no queries"));
    }
    let mut values = Vec::new();
    for q in &queries {
        match obs.prometheus.query(&q.expr, None).await {
            Ok(r) => {
                if let Some(samples) = r.result.as_vector() {
                    values.extend(samples.iter().map(|s| s.sample.value));
                }
            }
            Err(e) => return Probe::Failed(error_chain(&e)),
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

/// What Alertmanager holds for the alert a notification check waits for.
async fn alertmanager_view(
    am: &AlertmanagerClient,
    alert: Option<&str>,
    labels: &BTreeMap<String, String>,
) -> String {
    let mut filter = AlertFilter::default();
    if let Some(name) = alert {
        filter = filter.matcher(format!("alertname={name:?}"));
    }
    match am.alerts(&filter).await {
        Ok(held) => checks::explain_notification(&held, alert, labels),
        Err(e) => format!("alertmanager could not be asked: {}", error_chain(&e)),
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

/// The error and its causes on one line: "a: caused by b: caused by c".
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
