//! One probe per expectation kind: ask the backend (observe clients), then decide (pure
//! functions in `verdict::checks`). The runner drives these with the one polling primitive.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use crate::observe::dashboard::{Dashboard, RenderContext};
use crate::observe::jaeger::TraceQuery;
use crate::observe::loki::{LogQuery, LokiClient};
use crate::observe::{JaegerClient, PrometheusClient, WebhookSink};
use crate::scenario::{AlertState, Check};
use crate::verdict::checks::{self, LogLine, LogWanted, TraceWanted};
use crate::verdict::{Evidence, Probe, ProbeTime};

/// Where log records can be read back from.
pub enum LogSource {
    Loki(LokiClient),
    /// No log store in this stack; `log:` expectations are skipped with this reason.
    Unavailable(String),
}

/// Everything probes read from, for one scenario run.
pub struct Observers {
    pub prometheus: PrometheusClient,
    /// Alertmanager's API, when the stack has one (to explain missed notifications).
    pub alertmanager: Option<crate::observe::AlertmanagerClient>,
    /// `Err` says why there is no trace store (trace checks are skipped with it).
    pub jaeger: Result<JaegerClient, String>,
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

/// Which moment of a probe of `check` counts as its observation when the answer carries no
/// timestamp of its own: Prometheus evaluates a query when it arrives; a store look-up only
/// proves the data was there when it answers.
pub fn probe_time(check: &Check) -> ProbeTime {
    match check {
        Check::Trace { .. } | Check::Log { .. } | Check::Correlation { .. } => ProbeTime::Answered,
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
            match obs.prometheus.alerts().await {
                Ok(alerts) => checks::alert(&alerts, alert, labels, *state, fired, reference),
                Err(e) => Probe::CouldNotAsk(error_chain(&e)),
            }
        }
        Check::Notification {
            receiver,
            alert,
            labels,
            status,
        } => {
            let received = match &obs.sink {
                Ok(sink) => sink.notifications(),
                Err(why) => return Probe::CouldNotAsk(why.clone()),
            };
            checks::notification(
                &received,
                receiver,
                alert.as_deref(),
                labels,
                *status,
                reference,
            )
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

/// Whether the alert was firing at any evaluation since `since`, from Prometheus' own
/// `ALERTS` series (so a `resolved` check needs no memory of earlier probes). An error is the
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
    let now = SystemTime::now();
    // Milliseconds, rounded down: a sample from before `since` must not count.
    let window = now
        .duration_since(since)
        .unwrap_or_default()
        .as_millis()
        .max(1);
    let expr = format!(
        "max_over_time(ALERTS{{{}}}[{window}ms])",
        matchers.join(",")
    );
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

pub use crate::error_chain;
