//! Pure decisions: does what a backend answered meet an expectation? Each function turns
//! typed observations into a [`Probe`] with a short description of what was seen, so a miss
//! can report its last observed value. No I/O here.

use std::collections::BTreeMap;
use std::time::SystemTime;

use super::decide::Evidence;
use super::poll::Probe;
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

fn at_or_after(t: Option<SystemTime>, reference: SystemTime) -> bool {
    t.is_some_and(|t| t >= reference)
}

fn show_time(t: Option<SystemTime>) -> String {
    t.map_or_else(
        || "an unknown time".to_string(),
        |t| humantime::format_rfc3339_millis(t).to_string(),
    )
}

/// `alert:` against Prometheus' `/api/v1/alerts`. Only a transition after `reference`
/// counts: `firing`/`pending` need an alert that became active (`activeAt`) at or after it;
/// `resolved` needs the alert to have been firing at or since the reference
/// (`fired_since_reference`, from Prometheus' `ALERTS` series) and to fire no more.
pub fn alert(
    alerts: &[prometheus::Alert],
    name: &str,
    labels: &BTreeMap<String, String>,
    state: AlertState,
    fired_since_reference: bool,
    reference: SystemTime,
) -> Probe<Evidence> {
    let matching: Vec<&prometheus::Alert> = alerts
        .iter()
        .filter(|a| a.name() == name && labels_match(&a.labels, labels))
        .collect();
    let seen = describe_alerts(&matching);
    let is = |a: &&&prometheus::Alert, s: prometheus::AlertState| a.state == s;
    let firing: Vec<&&prometheus::Alert> = matching
        .iter()
        .filter(|a| is(a, prometheus::AlertState::Firing))
        .collect();
    let new_since = |a: &&&prometheus::Alert| at_or_after(a.active_at, reference);
    match state {
        AlertState::Firing | AlertState::Pending => {
            let active: Vec<&&prometheus::Alert> = matching
                .iter()
                .filter(|a| {
                    is(a, prometheus::AlertState::Firing)
                        || (state == AlertState::Pending && is(a, prometheus::AlertState::Pending))
                })
                .collect();
            match active.iter().find(|a| new_since(a)) {
                Some(a) if state == AlertState::Pending => Probe::Met(Evidence::at(
                    seen,
                    a.active_at.unwrap_or(reference),
                    "alert activeAt",
                )),
                Some(_) => Probe::Met(Evidence::text(seen)),
                None => match active.first() {
                    Some(old) => Probe::NotYet(format!(
                        "{seen}; active since {}, before the reference time: not a reaction to it",
                        show_time(old.active_at)
                    )),
                    None => Probe::NotYet(seen),
                },
            }
        }
        AlertState::Resolved if !fired_since_reference => Probe::NotYet(format!(
            "{seen}; it was not firing at the reference time nor since, so it cannot resolve"
        )),
        AlertState::Resolved if firing.is_empty() => Probe::Met(Evidence::text(seen)),
        AlertState::Resolved => Probe::NotYet(seen),
        AlertState::Inactive if matching.is_empty() => Probe::Met(Evidence::text(seen)),
        AlertState::Inactive => Probe::NotYet(seen),
    }
}

/// `notification:` against what the webhook sink received. Only a transition after `since`
/// counts: a firing notification for an alert that started firing (`startsAt`) at or after
/// it, a resolved one for an alert that ended (`endsAt`) at or after it — a repeat of an
/// older alert is not a reaction. The evidence time is the webhook's arrival.
pub fn notification(
    received: &[Notification],
    receiver: &str,
    alert: Option<&str>,
    labels: &BTreeMap<String, String>,
    status: NotificationStatus,
    since: SystemTime,
) -> Probe<Evidence> {
    let want = match status {
        NotificationStatus::Firing => webhook::NotificationStatus::Firing,
        NotificationStatus::Resolved => webhook::NotificationStatus::Resolved,
    };
    let mut other = 0;
    let mut stale = 0;
    for n in received.iter().filter(|n| n.received_wall >= since) {
        let for_receiver = n.payload.receiver == receiver || n.path_receiver == receiver;
        let wanted: Vec<&webhook::WebhookAlert> = n
            .payload
            .alerts
            .iter()
            .filter(|a| {
                a.status == want
                    && alert.is_none_or(|name| a.name() == name)
                    && labels_match(&a.labels, labels)
            })
            .collect();
        let transition = |a: &&webhook::WebhookAlert| match status {
            NotificationStatus::Firing => at_or_after(a.starts_at, since),
            NotificationStatus::Resolved => at_or_after(a.ends_at, since),
        };
        if for_receiver && wanted.iter().any(transition) {
            return Probe::Met(Evidence::at(
                format!(
                    "received at {}",
                    humantime::format_rfc3339_millis(n.received_wall)
                ),
                n.received_wall,
                "webhook arrival",
            ));
        }
        if for_receiver && !wanted.is_empty() {
            stale += 1;
        } else {
            other += 1;
        }
    }
    let stale = if stale > 0 {
        format!("; {stale} for an alert that started before the reference time")
    } else {
        String::new()
    };
    Probe::NotYet(format!(
        "{other} other notification(s) received since the reference time{stale}"
    ))
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

/// `log:` against records from the log store: the matching records, newest last, or what
/// was seen instead. With `correlated_trace` only records carrying a trace id match; the
/// caller then looks the trace up in the trace store (a well-formed id proves nothing).
pub fn log_matches<'a>(
    lines: &'a [LogLine],
    wanted: &LogWanted<'_>,
) -> Result<Vec<&'a LogLine>, String> {
    let from_service: Vec<&LogLine> = lines
        .iter()
        .filter(|l| l.service == wanted.service)
        .collect();
    let hits: Vec<&LogLine> = from_service
        .iter()
        .copied()
        .filter(|l| {
            wanted.level.is_none_or(|lv| {
                l.level.eq_ignore_ascii_case(level_name(lv))
                    || (lv == crate::scenario::LogLevel::Warn
                        && l.level.eq_ignore_ascii_case("warning"))
            }) && wanted.contains.is_none_or(|c| l.body.contains(c))
                && (!wanted.correlated_trace || is_trace_id(&l.trace_id))
        })
        .collect();
    if !hits.is_empty() {
        return Ok(hits);
    }
    let levels: BTreeMap<&str, usize> = from_service.iter().fold(BTreeMap::new(), |mut m, l| {
        *m.entry(l.level.as_str()).or_default() += 1;
        m
    });
    Err(format!(
        "{} record(s) from {} by level {levels:?}",
        from_service.len(),
        wanted.service
    ))
}

/// 32 hex digits, not all zero.
pub fn is_trace_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) && id.bytes().any(|b| b != b'0')
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    const T0: u64 = 1_700_000_000;

    fn at(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(T0 + s)
    }

    fn rfc(s: u64) -> String {
        humantime::format_rfc3339(at(s)).to_string()
    }

    fn alert(state: &str, active: u64, service: &str) -> prometheus::Alert {
        serde_json::from_value(serde_json::json!({
            "labels": { "alertname": "HighErrorRate", "service": service },
            "annotations": {},
            "state": state,
            "activeAt": rfc(active),
            "value": "0.3",
        }))
        .expect("a valid alert")
    }

    fn labels(service: &str) -> BTreeMap<String, String> {
        BTreeMap::from([("service".to_string(), service.to_string())])
    }

    fn met(p: &Probe<Evidence>) -> bool {
        matches!(p, Probe::Met(_))
    }

    #[test]
    fn an_alert_counts_only_when_it_became_active_after_the_reference() {
        let reference = at(100);
        use AlertState as S;
        // (alerts, wanted state, fired since the reference) -> met
        let cases: Vec<(Vec<prometheus::Alert>, AlertState, bool, bool)> = vec![
            (vec![alert("firing", 101, "orders")], S::Firing, false, true),
            // Already firing before the fault: not a reaction to it.
            (vec![alert("firing", 90, "orders")], S::Firing, false, false),
            (
                vec![alert("pending", 101, "orders")],
                S::Firing,
                false,
                false,
            ),
            (
                vec![alert("pending", 101, "orders")],
                S::Pending,
                false,
                true,
            ),
            (
                vec![alert("pending", 99, "orders")],
                S::Pending,
                false,
                false,
            ),
            (vec![alert("firing", 101, "users")], S::Firing, false, false),
            (vec![], S::Resolved, true, true),
            // Never fired since the reference: cannot resolve.
            (vec![], S::Resolved, false, false),
            (
                vec![alert("firing", 101, "orders")],
                S::Resolved,
                true,
                false,
            ),
            (vec![], S::Inactive, false, true),
            (
                vec![alert("pending", 101, "orders")],
                S::Inactive,
                false,
                false,
            ),
        ];
        for (alerts, state, fired, want) in cases {
            let p = alert_probe(&alerts, state, fired, reference);
            assert_eq!(met(&p), want, "{state:?} fired={fired} {alerts:?}: {p:?}");
        }
        let p = alert_probe(
            &[alert("firing", 90, "orders")],
            S::Firing,
            false,
            reference,
        );
        let Probe::NotYet(why) = p else {
            panic!("{p:?}")
        };
        assert!(why.contains("before the reference time"), "{why}");
        // Pending carries Prometheus' own activeAt as the observation time.
        let p = alert_probe(
            &[alert("pending", 101, "orders")],
            S::Pending,
            false,
            reference,
        );
        let Probe::Met(e) = p else { panic!("{p:?}") };
        assert_eq!(e.backend_time.map(|t| t.at), Some(at(101)));
    }

    fn alert_probe(
        alerts: &[prometheus::Alert],
        state: AlertState,
        fired: bool,
        reference: SystemTime,
    ) -> Probe<Evidence> {
        super::alert(
            alerts,
            "HighErrorRate",
            &labels("orders"),
            state,
            fired,
            reference,
        )
    }

    fn notification(
        receiver: &str,
        status: &str,
        starts: u64,
        ends: Option<u64>,
        arrived: u64,
    ) -> Notification {
        let payload: webhook::WebhookPayload = serde_json::from_value(serde_json::json!({
            "version": "4",
            "status": status,
            "receiver": receiver,
            "alerts": [{
                "status": status,
                "labels": { "alertname": "HighErrorRate", "service": "orders" },
                "startsAt": rfc(starts),
                "endsAt": ends.map_or("0001-01-01T00:00:00Z".to_string(), rfc),
            }],
        }))
        .expect("a valid payload");
        Notification {
            path_receiver: receiver.to_string(),
            received_at: Instant::now(),
            received_wall: at(arrived),
            payload,
        }
    }

    #[test]
    fn a_notification_counts_only_for_a_transition_after_the_reference() {
        let since = at(100);
        use NotificationStatus as N;
        let cases = [
            (
                notification("pager", "firing", 102, None, 104),
                "pager",
                N::Firing,
                true,
            ),
            (
                notification("chat", "firing", 102, None, 104),
                "pager",
                N::Firing,
                false,
            ),
            // Arrived before the reference.
            (
                notification("pager", "firing", 95, None, 99),
                "pager",
                N::Firing,
                false,
            ),
            // A repeat of an alert that started firing before the fault.
            (
                notification("pager", "firing", 90, None, 104),
                "pager",
                N::Firing,
                false,
            ),
            (
                notification("pager", "resolved", 90, Some(103), 104),
                "pager",
                N::Resolved,
                true,
            ),
            (
                notification("pager", "resolved", 90, Some(99), 104),
                "pager",
                N::Resolved,
                false,
            ),
        ];
        for (n, receiver, status, want) in cases {
            let p = super::notification(
                std::slice::from_ref(&n),
                receiver,
                Some("HighErrorRate"),
                &labels("orders"),
                status,
                since,
            );
            assert_eq!(met(&p), want, "{receiver} {status:?} {n:?}: {p:?}");
            if let Probe::Met(e) = p {
                assert_eq!(e.backend_time.map(|t| t.at), Some(at(104)));
            }
        }
    }

    fn line(service: &str, level: &str, trace_id: &str) -> LogLine {
        LogLine {
            service: service.into(),
            level: level.into(),
            body: format!("{level} from {service}"),
            trace_id: trace_id.into(),
        }
    }

    #[test]
    fn log_matches_by_service_level_text_and_trace_id() {
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        let lines = vec![
            line("orders", "info", id),
            line("orders", "error", ""),
            line("users", "error", id),
        ];
        let wanted = |level, correlated| LogWanted {
            service: "orders",
            level,
            contains: None,
            correlated_trace: correlated,
        };
        use crate::scenario::LogLevel as L;
        assert_eq!(
            log_matches(&lines, &wanted(Some(L::Error), false)).map(|v| v.len()),
            Ok(1)
        );
        // The only error record carries no trace id.
        let miss = log_matches(&lines, &wanted(Some(L::Error), true)).expect_err("no match");
        assert!(miss.contains("2 record(s) from orders"), "{miss}");
        assert_eq!(
            log_matches(&lines, &wanted(None, true)).map(|v| v.len()),
            Ok(1)
        );
        assert!(log_matches(&lines, &wanted(Some(L::Warn), false)).is_err());
    }

    #[test]
    fn trace_ids_must_be_32_hex_digits_and_not_zero() {
        for (id, ok) in [
            ("4bf92f3577b34da6a3ce929d0e0e4736", true),
            ("00000000000000000000000000000000", false),
            ("4bf92f3577b34da6", false),
            ("zbf92f3577b34da6a3ce929d0e0e4736", false),
        ] {
            assert_eq!(is_trace_id(id), ok, "{id}");
        }
    }

    #[test]
    fn firing_alerts_sees_only_firing_ones_among_the_names() {
        let alerts = vec![alert("firing", 1, "orders"), alert("pending", 1, "users")];
        assert!(matches!(firing_alerts(&alerts, None), Probe::Met(_)));
        let names = vec!["ServiceDown".to_string()];
        assert!(matches!(
            firing_alerts(&alerts, Some(&names)),
            Probe::NotYet(_)
        ));
        assert!(matches!(firing_alerts(&[], None), Probe::NotYet(_)));
    }

    #[test]
    fn a_metric_holds_with_samples_or_a_nonzero_scalar() {
        let r = |v: serde_json::Value| -> QueryResult {
            serde_json::from_value(v).expect("a valid query result")
        };
        let cases = [
            (
                serde_json::json!({"resultType": "vector", "result": []}),
                false,
            ),
            (
                serde_json::json!({"resultType": "vector", "result": [{"metric": {}, "value": [1, "0.5"]}]}),
                true,
            ),
            (
                serde_json::json!({"resultType": "scalar", "result": [1, "0"]}),
                false,
            ),
            (
                serde_json::json!({"resultType": "scalar", "result": [1, "2"]}),
                true,
            ),
        ];
        for (v, want) in cases {
            let p = metric(&r(v.clone()));
            assert_eq!(matches!(p, Probe::Met(_)), want, "{v}: {p:?}");
        }
    }
}
