//! `completeness:` — telemetry loss, measured. What the run sent is counted against what each
//! store holds:
//! - traces: requests the load target answered (any HTTP status, so its server span was due)
//!   against the traces in Jaeger with a span of the load target, matched by trace id;
//! - logs: the same requests against the load target's log records in the log store with
//!   that trace id (every sample service logs one `request completed` line per request);
//! - metrics: scrapes due (window / scrape interval, per service) against successful scrapes
//!   Prometheus stored (`sum_over_time(up{service=…}[window])`).
//!
//! Requests are attributed to a phase by their send time: before the faults, each fault's
//! window (injection to rollback), after the faults. Requests sent in the last `lag` (service
//! export + collector flush + margin) are not counted yet: their telemetry cannot have arrived.
//! The verdict is met only when every threshold is reached on answers from the backends.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use super::probes::{LogSource, Observers, error_chain, victorialogs_service_filter};
use crate::observe::jaeger::TraceQuery;
use crate::observe::victorialogs::LogsQuery;
use crate::verdict::Probe;

/// At most this many sent requests are kept (the run's load plan bounds it far lower).
const MAX_SENT: usize = 1_000_000;

/// A fault's window, wall clock.
#[derive(Debug, Clone)]
pub struct FaultSpan {
    pub name: String,
    /// `kill-process collector`.
    pub what: String,
    pub from: SystemTime,
    pub to: SystemTime,
}

/// What the run sent, filled while it runs.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Trace ids (as numbers: Jaeger may drop leading zeros) of answered requests, with
    /// their send times, in send order.
    pub sent: Vec<(u128, SystemTime)>,
    pub load_start: Option<SystemTime>,
    /// The service the load hits (its spans and logs are counted).
    pub target: Option<String>,
    /// Services whose scrapes are counted.
    pub services: Vec<String>,
    pub faults: Vec<FaultSpan>,
    /// How long telemetry may take to arrive (requests this recent are not counted yet).
    pub lag: Duration,
    pub scrape_interval: Duration,
}

pub type SharedLedger = Arc<Mutex<Ledger>>;

impl Ledger {
    pub fn record(&mut self, trace_id: u128, sent: SystemTime) {
        if self.sent.len() < MAX_SENT {
            self.sent.push((trace_id, sent));
        }
    }
}

/// The thresholds, in percent.
#[derive(Debug, Clone, Copy)]
pub struct Wanted {
    pub traces: Option<f64>,
    pub logs: Option<f64>,
    pub metrics: Option<f64>,
}

/// One phase's counts.
#[derive(Debug, Clone, Default, PartialEq)]
struct Counts {
    sent: u64,
    traces: u64,
    logs: u64,
    scrapes_due: u64,
    scrapes_stored: u64,
}

fn pct(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| 100.0 * part.min(whole) as f64 / whole as f64)
}

struct Phase {
    label: String,
    from: SystemTime,
    to: SystemTime,
    /// Outside every fault (before or after), or one fault's window.
    outside_faults: bool,
}

fn phases(l: &Ledger, start: SystemTime, cutoff: SystemTime) -> Vec<Phase> {
    let mut out = Vec::new();
    let first = l.faults.iter().map(|f| f.from).min();
    let last = l.faults.iter().map(|f| f.to).max();
    match (first, last) {
        (Some(first), Some(last)) => {
            out.push(Phase {
                label: "before the faults".into(),
                from: start,
                to: first.min(cutoff),
                outside_faults: true,
            });
            for f in &l.faults {
                out.push(Phase {
                    label: format!("during {} ({})", f.name, f.what),
                    from: f.from,
                    to: f.to.min(cutoff),
                    outside_faults: false,
                });
            }
            out.push(Phase {
                label: AFTER.into(),
                from: last,
                to: cutoff,
                outside_faults: true,
            });
        }
        _ => out.push(Phase {
            label: "whole run".into(),
            from: start,
            to: cutoff,
            outside_faults: true,
        }),
    }
    out.retain(|p| p.to > p.from);
    out
}

/// Probes completeness once: counts everything again from the backends.
pub async fn probe(obs: &Observers, wanted: Wanted) -> Probe<String> {
    let (sent, start, target, services, faults_ledger, lag, interval) = {
        let l = obs.ledger.lock().unwrap_or_else(PoisonError::into_inner);
        (
            l.sent.clone(),
            l.load_start,
            l.target.clone(),
            l.services.clone(),
            Ledger {
                faults: l.faults.clone(),
                ..Ledger::default()
            },
            l.lag,
            l.scrape_interval,
        )
    };
    let (Some(start), Some(target)) = (start, target) else {
        return Probe::NotYet("no load ran, so nothing was sent to count".into());
    };
    let now = SystemTime::now();
    let cutoff = now.checked_sub(lag).unwrap_or(start);
    let counted: Vec<(u128, SystemTime)> = sent
        .into_iter()
        .filter(|(_, t)| *t >= start && *t <= cutoff)
        .collect();
    if counted.is_empty() {
        return Probe::NotYet(format!(
            "no request answered by {target} older than {lag:?} yet, so nothing to count"
        ));
    }
    let phases = phases(&faults_ledger, start, cutoff);
    // Room for every counted request plus the load's own extra traces.
    let limit = u32::try_from(counted.len() * 2 + 100).unwrap_or(u32::MAX);
    let window = (start - Duration::from_secs(1), now + Duration::from_secs(1));

    let in_traces = match wanted.traces {
        None => None,
        Some(_) => match stored_trace_ids(obs, &target, window, limit).await {
            Ok(ids) => Some(ids),
            Err(e) => return Probe::CouldNotAsk(e),
        },
    };
    let in_logs = match wanted.logs {
        None => None,
        Some(_) => match logged_trace_ids(obs, &target, window, limit).await {
            Ok(ids) => Some(ids),
            Err(e) => return Probe::CouldNotAsk(e),
        },
    };
    let count = |from: SystemTime, to: SystemTime| {
        let mut c = Counts::default();
        for (id, _) in counted.iter().filter(|(_, t)| *t >= from && *t < to) {
            c.sent += 1;
            c.traces += u64::from(in_traces.as_ref().is_some_and(|s| s.contains(id)));
            c.logs += u64::from(in_logs.as_ref().is_some_and(|s| s.contains(id)));
        }
        c
    };
    let mut total = count(start, cutoff + Duration::from_nanos(1));
    let mut by_phase: Vec<(&Phase, Counts)> =
        phases.iter().map(|p| (p, count(p.from, p.to))).collect();
    if wanted.metrics.is_some() {
        match scrapes(obs, &services, interval, start, cutoff).await {
            Ok((due, stored)) => (total.scrapes_due, total.scrapes_stored) = (due, stored),
            Err(e) => return Probe::CouldNotAsk(e),
        }
        for (p, c) in &mut by_phase {
            match scrapes(obs, &services, interval, p.from, p.to).await {
                Ok((due, stored)) => (c.scrapes_due, c.scrapes_stored) = (due, stored),
                Err(e) => return Probe::CouldNotAsk(e),
            }
        }
    }
    let text = describe(&target, &wanted, &total, &by_phase, obs.logs.backend());
    let reached = |c: &Counts| {
        let ok = |want: Option<f64>, got: Option<f64>| match want {
            None => true,
            Some(w) => got.is_some_and(|g| g + 1e-9 >= w),
        };
        ok(wanted.traces, pct(c.traces, c.sent))
            && ok(wanted.logs, pct(c.logs, c.sent))
            && ok(wanted.metrics, pct(c.scrapes_stored, c.scrapes_due))
    };
    // Ingest has caught up once what was sent after the last rollback is stored at the
    // promised level too; before any of it can have arrived, nothing is decided.
    if !faults_ledger.faults.is_empty() {
        let after = by_phase
            .iter()
            .find(|(p, _)| p.label == AFTER)
            .map(|(_, c)| c);
        match after {
            Some(c) if c.sent > 0 => {
                if !reached(c) {
                    return Probe::NotYet(format!(
                        "{text}; not caught up: what was sent after the last rollback is not stored at the promised level yet"
                    ));
                }
            }
            _ => {
                return Probe::NotYet(format!(
                    "{text}; waiting for the telemetry of requests sent after the last rollback ({lag:?} to arrive)"
                ));
            }
        }
    }
    if reached(&total) {
        Probe::Met(text)
    } else {
        Probe::NotYet(text)
    }
}

/// The phase after the last fault's rollback.
const AFTER: &str = "after the faults";

fn describe(
    target: &str,
    wanted: &Wanted,
    total: &Counts,
    by_phase: &[(&Phase, Counts)],
    log_backend: &str,
) -> String {
    let show = |p: Option<f64>| p.map_or("n/a".to_string(), |p| format!("{p:.1}%"));
    let lost = |part: u64, whole: u64| pct(part, whole).map(|p| 100.0 - p);
    let mut s = String::new();
    let mut parts = Vec::new();
    if wanted.traces.is_some() {
        parts.push(format!(
            "traces {} ({} of {} requests answered by {target} have its span in jaeger)",
            show(pct(total.traces, total.sent)),
            total.traces,
            total.sent
        ));
    }
    if wanted.logs.is_some() {
        parts.push(format!(
            "logs {} ({} of {} have {target}'s log line in {log_backend})",
            show(pct(total.logs, total.sent)),
            total.logs,
            total.sent
        ));
    }
    if wanted.metrics.is_some() {
        parts.push(format!(
            "metrics {} ({} of {} scrapes due stored)",
            show(pct(total.scrapes_stored, total.scrapes_due)),
            total.scrapes_stored,
            total.scrapes_due
        ));
    }
    s.push_str(&parts.join(", "));
    for (p, c) in by_phase {
        let mut lost_parts = Vec::new();
        if wanted.traces.is_some() {
            lost_parts.push(format!("{} of spans", show(lost(c.traces, c.sent))));
        }
        if wanted.logs.is_some() {
            lost_parts.push(format!("{} of logs", show(lost(c.logs, c.sent))));
        }
        if wanted.metrics.is_some() {
            lost_parts.push(format!(
                "{} of scrapes",
                show(lost(c.scrapes_stored, c.scrapes_due))
            ));
        }
        let _ = write!(
            s,
            "; {}: {} requests, lost {}",
            p.label,
            c.sent,
            lost_parts.join(", ")
        );
        if !p.outside_faults {
            // The loss a fault caused is what the report's reader looks for.
            let _ = write!(s, " (fault window)");
        }
    }
    s
}

fn parse_id(hex: &str) -> Option<u128> {
    u128::from_str_radix(hex.trim(), 16).ok()
}

/// Trace ids in Jaeger with a span of `service` in the window.
async fn stored_trace_ids(
    obs: &Observers,
    service: &str,
    (from, to): (SystemTime, SystemTime),
    limit: u32,
) -> Result<BTreeSet<u128>, String> {
    let jaeger = obs.jaeger.as_ref().map_err(Clone::clone)?;
    let mut query = TraceQuery::service(service);
    query.start = Some(from);
    query.end = Some(to);
    query.limit = Some(limit);
    let traces = jaeger
        .find_traces(&query)
        .await
        .map_err(|e| error_chain(&e))?;
    Ok(traces
        .iter()
        .filter(|t| {
            t.spans.iter().any(|s| {
                t.processes
                    .get(&s.process_id)
                    .is_some_and(|p| p.service_name == service)
            })
        })
        .filter_map(|t| parse_id(&t.trace_id))
        .collect())
}

/// Trace ids of `service`'s log records in the window.
async fn logged_trace_ids(
    obs: &Observers,
    service: &str,
    (from, to): (SystemTime, SystemTime),
    limit: u32,
) -> Result<BTreeSet<u128>, String> {
    let LogSource::VictoriaLogs(vl) = &obs.logs else {
        return Err(format!(
            "log completeness is counted in VictoriaLogs only; the log store here is {}",
            obs.logs.backend()
        ));
    };
    // Only the trace id is needed: keep the answer small.
    let mut query = LogsQuery::new(format!(
        "{} | fields trace_id",
        victorialogs_service_filter(service)
    ));
    query.start = Some(from);
    query.end = Some(to);
    query.limit = Some(limit);
    let records = vl.query(&query).await.map_err(|e| error_chain(&e))?;
    Ok(records
        .iter()
        .filter_map(|r| r.field("trace_id").and_then(parse_id))
        .collect())
}

/// Scrapes due and stored over `[from, to]` for every service: the window is cut to whole
/// scrape intervals, so a steady target stores exactly one sample per interval in it.
async fn scrapes(
    obs: &Observers,
    services: &[String],
    interval: Duration,
    from: SystemTime,
    to: SystemTime,
) -> Result<(u64, u64), String> {
    let span = to.duration_since(from).unwrap_or_default();
    let step = interval.as_millis().max(1);
    let due_each = u64::try_from(span.as_millis() / step).unwrap_or(u64::MAX);
    if due_each == 0 || services.is_empty() {
        return Ok((0, 0));
    }
    let window_ms = u128::from(due_each) * step;
    let names: Vec<String> = services.iter().map(|s| regex_escape(s)).collect();
    let expr = format!(
        "sum by (service) (sum_over_time(up{{service=~\"{}\"}}[{window_ms}ms]))",
        names.join("|")
    );
    let answer = obs
        .prometheus
        .query(&expr, Some(to))
        .await
        .map_err(|e| error_chain(&e))?;
    let mut stored: BTreeMap<String, u64> = BTreeMap::new();
    for s in answer.result.as_vector().unwrap_or_default().iter() {
        let service = s.labels.get("service").cloned().unwrap_or_default();
        // Capped per service: an extra sample at the window's edge is not extra telemetry.
        let n = (s.sample.value.max(0.0).round() as u64).min(due_each);
        stored.insert(service, n);
    }
    let due = due_each * services.len() as u64;
    Ok((due, stored.values().sum()))
}

/// Escapes a service name for a PromQL regex inside a double-quoted string.
fn regex_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push_str("\\\\");
        }
        if c == '"' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + s)
    }

    #[test]
    fn phases_split_the_run_at_each_fault() {
        let l = Ledger {
            faults: vec![FaultSpan {
                name: "collector-gone".into(),
                what: "kill-process collector".into(),
                from: at(10),
                to: at(20),
            }],
            ..Ledger::default()
        };
        let p = phases(&l, at(0), at(30));
        let labels: Vec<_> = p.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "before the faults",
                "during collector-gone (kill-process collector)",
                "after the faults"
            ]
        );
        // A cutoff inside the fault shortens it and drops the empty after-phase.
        let p = phases(&l, at(0), at(15));
        assert_eq!(p.len(), 2);
        assert_eq!(p[1].to, at(15));
    }

    #[test]
    fn the_text_gives_totals_and_the_loss_of_each_phase() {
        let l = Ledger {
            faults: vec![FaultSpan {
                name: "logs-gone".into(),
                what: "network-blackhole collector->log-store".into(),
                from: at(10),
                to: at(20),
            }],
            ..Ledger::default()
        };
        let p = phases(&l, at(0), at(30));
        let wanted = Wanted {
            traces: Some(99.0),
            logs: Some(50.0),
            metrics: None,
        };
        let c = |sent, traces, logs| Counts {
            sent,
            traces,
            logs,
            ..Counts::default()
        };
        let by: Vec<_> = vec![
            (&p[0], c(100, 100, 100)),
            (&p[1], c(100, 100, 0)),
            (&p[2], c(100, 100, 100)),
        ];
        let text = describe("frontend", &wanted, &c(300, 300, 200), &by, "victorialogs");
        assert_eq!(
            text,
            "traces 100.0% (300 of 300 requests answered by frontend have its span in jaeger), \
             logs 66.7% (200 of 300 have frontend's log line in victorialogs); \
             before the faults: 100 requests, lost 0.0% of spans, 0.0% of logs; \
             during logs-gone (network-blackhole collector->log-store): 100 requests, lost 0.0% of spans, 100.0% of logs (fault window); \
             after the faults: 100 requests, lost 0.0% of spans, 0.0% of logs"
        );
        assert_eq!(pct(5, 0), None);
        assert_eq!(pct(7, 5), Some(100.0));
    }

    #[test]
    fn ids_parse_with_or_without_leading_zeros_and_names_are_escaped() {
        assert_eq!(
            parse_id("00000000000000000af7651916cd43dd"),
            parse_id("af7651916cd43dd")
        );
        assert_eq!(parse_id("zz"), None);
        assert_eq!(regex_escape("api-gateway"), "api-gateway");
        assert_eq!(regex_escape("a.b"), "a\\\\.b");
    }
}
