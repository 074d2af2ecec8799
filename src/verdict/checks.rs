//! Pure decisions: does what a backend answered meet an expectation? Each function turns
//! typed observations into a [`Probe`] with a short description of what was seen, so a miss
//! can report its last observed value. No I/O here.

use std::collections::BTreeMap;
use std::time::SystemTime;

use super::poll::Probe;
use crate::observe::alertmanager;
use crate::observe::jaeger::Trace;
use crate::observe::prometheus::{self, QueryResult};
use crate::observe::webhook::{self, Notification};
use crate::scenario::{AlertState, NotificationStatus};

/// `metric:` holds when the query returns at least one sample.
pub fn metric(result: &QueryResult) -> Probe<String> {
    match result {
        QueryResult::Vector(samples) if !samples.is_empty() => Probe::Met(format!(
            "{} series, first value {}",
            samples.len(),
            samples[0].sample.value
        )),
        QueryResult::Matrix(series) if !series.is_empty() => {
            Probe::Met(format!("{} series", series.len()))
        }
        QueryResult::Scalar(s) if s.value != 0.0 && !s.value.is_nan() => {
            Probe::Met(format!("scalar {}", s.value))
        }
        QueryResult::Scalar(s) => Probe::NotYet(format!("scalar {}", s.value)),
        _ => Probe::NotYet("empty result".into()),
    }
}

fn labels_match(have: &BTreeMap<String, String>, want: &BTreeMap<String, String>) -> bool {
    want.iter().all(|(k, v)| have.get(k) == Some(v))
}

/// The matching alerts' states, for "last observed" descriptions.
fn describe_alerts(matching: &[&prometheus::Alert]) -> String {
    if matching.is_empty() {
        return "no matching alert".into();
    }
    let states: Vec<String> = matching
        .iter()
        .map(|a| format!("{:?} (value {})", a.state, a.value).to_lowercase())
        .collect();
    states.join(", ")
}

/// `alert:` against Prometheus' `/api/v1/alerts`. `was_firing` says whether the alert fired
/// earlier in this run: `resolved` means it fired and now does not.
pub fn alert(
    alerts: &[prometheus::Alert],
    name: &str,
    labels: &BTreeMap<String, String>,
    state: AlertState,
    was_firing: bool,
) -> Probe<String> {
    let matching: Vec<&prometheus::Alert> = alerts
        .iter()
        .filter(|a| a.name() == name && labels_match(&a.labels, labels))
        .collect();
    let firing = matching
        .iter()
        .any(|a| a.state == prometheus::AlertState::Firing);
    let pending = matching
        .iter()
        .any(|a| a.state == prometheus::AlertState::Pending);
    let seen = describe_alerts(&matching);
    let met = match state {
        AlertState::Firing => firing,
        AlertState::Pending => pending || firing,
        AlertState::Resolved => was_firing && !firing,
        AlertState::Inactive => matching.is_empty(),
    };
    if met {
        Probe::Met(seen)
    } else if state == AlertState::Resolved && !was_firing {
        Probe::NotYet(format!(
            "{seen}; it never fired in this run, so it cannot resolve"
        ))
    } else {
        Probe::NotYet(seen)
    }
}

/// `notification:` against what the webhook sink received since `since`.
pub fn notification(
    received: &[Notification],
    receiver: &str,
    alert: Option<&str>,
    labels: &BTreeMap<String, String>,
    status: NotificationStatus,
    since: SystemTime,
) -> Probe<SystemTime> {
    let want = match status {
        NotificationStatus::Firing => webhook::NotificationStatus::Firing,
        NotificationStatus::Resolved => webhook::NotificationStatus::Resolved,
    };
    let mut other = 0;
    for n in received.iter().filter(|n| n.received_wall >= since) {
        let for_receiver = n.payload.receiver == receiver || n.path_receiver == receiver;
        let alert_ok = n.payload.alerts.iter().any(|a| {
            a.status == want
                && alert.is_none_or(|name| a.name() == name)
                && labels_match(&a.labels, labels)
        });
        if for_receiver && alert_ok {
            return Probe::Met(n.received_wall);
        }
        other += 1;
    }
    Probe::NotYet(format!(
        "{other} other notification(s) received since the reference time"
    ))
}

/// Why a notification has not arrived, as Alertmanager sees it: each alert it holds that
/// the expectation names (`alert`, `labels`), with its state and the receivers its routes
/// chose. A miss then says "suppressed (inhibited by 1 alert) → chat" instead of nothing.
pub fn explain_notification(
    held: &[alertmanager::Alert],
    alert: Option<&str>,
    labels: &BTreeMap<String, String>,
) -> String {
    const SHOWN: usize = 3;
    let matching: Vec<&alertmanager::Alert> = held
        .iter()
        .filter(|a| alert.is_none_or(|name| a.name() == name) && labels_match(&a.labels, labels))
        .collect();
    if matching.is_empty() {
        return format!(
            "alertmanager holds no {} alert",
            alert.unwrap_or("matching")
        );
    }
    let mut parts: Vec<String> = matching
        .iter()
        .take(SHOWN)
        .map(|a| {
            let state = match a.status.state {
                alertmanager::AlertState::Active => "active".to_string(),
                alertmanager::AlertState::Unprocessed => "unprocessed".to_string(),
                alertmanager::AlertState::Suppressed => {
                    let mut why = Vec::new();
                    if !a.status.inhibited_by.is_empty() {
                        why.push(format!(
                            "inhibited by {} alert(s)",
                            a.status.inhibited_by.len()
                        ));
                    }
                    if !a.status.silenced_by.is_empty() {
                        why.push(format!("silenced by {}", a.status.silenced_by.join(", ")));
                    }
                    format!("suppressed ({})", why.join(", "))
                }
            };
            let receivers: Vec<&str> = a.receivers.iter().map(|r| r.name.as_str()).collect();
            format!(
                "{}{} {state} → {}",
                a.name(),
                label_text(&a.labels),
                receivers.join(", ")
            )
        })
        .collect();
    if matching.len() > SHOWN {
        parts.push(format!("{} more", matching.len() - SHOWN));
    }
    format!("alertmanager: {}", parts.join("; "))
}

/// `{service="orders"}`: the labels besides `alertname`.
fn label_text(labels: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = labels
        .iter()
        .filter(|(k, _)| *k != "alertname")
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    format!("{{{}}}", inner.join(", "))
}

/// What a `trace:` expectation asks of a trace.
#[derive(Debug, Clone)]
pub struct TraceWanted<'a> {
    pub service: &'a str,
    pub operation: Option<&'a str>,
    pub error: Option<bool>,
    pub spans_from: &'a [String],
    pub tags: &'a BTreeMap<String, String>,
}

/// `trace:` against traces found in the trace store; met by the first trace that has spans
/// from every wanted service, the error state and the tags.
pub fn trace(traces: &[Trace], wanted: &TraceWanted<'_>) -> Probe<String> {
    let mut best: Option<(usize, String)> = None;
    for t in traces {
        let services = t.services();
        let missing: Vec<&String> = wanted
            .spans_from
            .iter()
            .filter(|s| !services.contains(*s))
            .collect();
        let error_ok = wanted.error.is_none_or(|e| t.has_error() == e);
        let op_ok = wanted
            .operation
            .is_none_or(|op| t.spans.iter().any(|s| s.operation_name == op));
        let tags_ok = wanted.tags.iter().all(|(k, v)| {
            t.spans
                .iter()
                .any(|s| s.tag(k).is_some_and(|tv| tv.as_text() == *v))
        });
        let has_service = services.contains(wanted.service);
        if missing.is_empty() && error_ok && op_ok && tags_ok && has_service {
            return Probe::Met(t.trace_id.clone());
        }
        let score = wanted.spans_from.len() - missing.len();
        let seen = format!(
            "trace {} has {} span(s) from [{}]{}",
            t.trace_id,
            t.spans.len(),
            services.iter().cloned().collect::<Vec<_>>().join(", "),
            if error_ok {
                ""
            } else {
                ", error state differs"
            }
        );
        if best.as_ref().is_none_or(|(s, _)| score > *s) {
            best = Some((score, seen));
        }
    }
    match best {
        Some((_, seen)) => Probe::NotYet(format!("{} trace(s); closest: {seen}", traces.len())),
        None => Probe::NotYet(format!("no traces for service {}", wanted.service)),
    }
}

/// Firing alerts in `alerts` among `names` (all when `None`); `Met` is the violation of a
/// `no-alerts` window.
pub fn firing_alerts(alerts: &[prometheus::Alert], names: Option<&[String]>) -> Probe<String> {
    let firing: Vec<String> = alerts
        .iter()
        .filter(|a| a.state == prometheus::AlertState::Firing)
        .filter(|a| names.is_none_or(|n| n.iter().any(|x| x == a.name())))
        .map(|a| {
            let service = a
                .labels
                .get("service")
                .map(|s| format!("{{service={s}}}"))
                .unwrap_or_default();
            format!("{}{service}", a.name())
        })
        .collect();
    if firing.is_empty() {
        Probe::NotYet("no alert firing".into())
    } else {
        Probe::Met(format!("firing: {}", firing.join(", ")))
    }
}

/// One log record as any log store returns it, reduced to what `log:` expectations test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub service: String,
    /// Lower-case level name (`error`, `warn`, `info`, `debug`).
    pub level: String,
    pub body: String,
    /// Lower-case hex trace id; empty when the record carries none.
    pub trace_id: String,
}

/// What a `log:` expectation asks of a record.
#[derive(Debug, Clone, Copy)]
pub struct LogWanted<'a> {
    pub service: &'a str,
    pub level: Option<crate::scenario::LogLevel>,
    pub contains: Option<&'a str>,
    pub correlated_trace: bool,
}

fn level_name(level: crate::scenario::LogLevel) -> &'static str {
    match level {
        crate::scenario::LogLevel::Debug => "debug",
        crate::scenario::LogLevel::Info => "info",
        crate::scenario::LogLevel::Warn => "warn",
        crate::scenario::LogLevel::Error => "error",
    }
}

/// `log:` against records from the log store; met by the first matching record (its trace id
/// is the evidence when correlation is asked for).
pub fn log(lines: &[LogLine], wanted: &LogWanted<'_>) -> Probe<String> {
    let from_service: Vec<&LogLine> = lines
        .iter()
        .filter(|l| l.service == wanted.service)
        .collect();
    let hit = from_service.iter().find(|l| {
        wanted.level.is_none_or(|lv| {
            l.level.eq_ignore_ascii_case(level_name(lv))
                || (lv == crate::scenario::LogLevel::Warn
                    && l.level.eq_ignore_ascii_case("warning"))
        }) && wanted.contains.is_none_or(|c| l.body.contains(c))
            && (!wanted.correlated_trace || is_trace_id(&l.trace_id))
    });
    match hit {
        Some(l) if wanted.correlated_trace => Probe::Met(format!("trace_id {}", l.trace_id)),
        Some(l) => Probe::Met(l.body.chars().take(120).collect()),
        None => {
            let levels: BTreeMap<&str, usize> =
                from_service.iter().fold(BTreeMap::new(), |mut m, l| {
                    *m.entry(l.level.as_str()).or_default() += 1;
                    m
                });
            Probe::NotYet(format!(
                "{} record(s) from {} by level {levels:?}",
                from_service.len(),
                wanted.service
            ))
        }
    }
}

/// 32 hex digits, not all zero.
pub fn is_trace_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) && id.bytes().any(|b| b != b'0')
}
