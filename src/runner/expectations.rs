//! Each expectation is its own task: wait for its reference (a fault's injection, a phase's
//! start), probe its backend with the one polling primitive, and let `verdict::decide` say
//! met or missed. Every expectation also has a placeholder result from the start, so a run
//! stopped by its cap reports what was still pending instead of losing it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::clock::Clock;
use super::probes::{self, Observers};
use super::timeline::{Injection, Injections};
use crate::report::{ExpectationKind, ExpectationPhase, ExpectationResult, ExpectationStatus};
use crate::scenario::{Check, Expectation, Scenario};
use crate::verdict::{self, Backoff, Decision, Probe, Reference, poll_until, watch_window};

/// How often a window (no-alerts) is probed.
const WINDOW_INTERVAL: Duration = Duration::from_millis(500);

/// When an expectation's deadline clock starts.
pub(super) enum Start {
    At(Reference),
    /// The named fault's injection (or its failure).
    Fault(String, watch::Receiver<Injections>),
}

/// The expectation's result before it is decided: missed, "still pending". Replaced by the
/// decided result when its task ends.
pub(super) fn placeholder(e: &Expectation, phase: ExpectationPhase) -> ExpectationResult {
    // Which backend answers is known once the observers exist; until then none did.
    let (backend, real) = (crate::report::NO_BACKEND.to_string(), false);
    ExpectationResult {
        id: e.id.clone(),
        kind: kind_of(&e.check),
        description: describe(e),
        phase,
        status: ExpectationStatus::Missed,
        time_to_detect_ms: None,
        deadline_ms: e.within.map_or(0, millis),
        floor_ms: Some(millis(e.floor)),
        last_observed: Some("not decided: the run stopped before it was".into()),
        backend: backend.to_string(),
        backend_real: real,
        skipped_reason: None,
        observed_at_ms: None,
        time_source: None,
        resolution_ms: None,
    }
}

/// Placeholders for every expectation of the scenario, by id.
pub(super) fn placeholders(scenario: &Scenario) -> BTreeMap<String, ExpectationResult> {
    let phases = [
        (
            ExpectationPhase::SteadyState,
            scenario.steady_state.as_ref().map(|w| &w.expect),
        ),
        (ExpectationPhase::Faults, Some(&scenario.expect)),
        (
            ExpectationPhase::Recover,
            scenario.recover.as_ref().map(|w| &w.expect),
        ),
    ];
    phases
        .into_iter()
        .flat_map(|(phase, list)| list.into_iter().flatten().map(move |e| (phase, e)))
        .map(|(phase, e)| (e.id.clone(), placeholder(e, phase)))
        .collect()
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub(super) fn spawn(
    set: &mut JoinSet<ExpectationResult>,
    e: &Expectation,
    phase: ExpectationPhase,
    obs: Arc<Observers>,
    clock: &Clock,
    start: Start,
    window_end: Option<Instant>,
) {
    let e = e.clone();
    let run_start = clock.start;
    let events = clock.events.clone();
    set.spawn(async move {
        let result = evaluate(e, phase, obs, run_start, start, window_end).await;
        if let Some(tx) = &events {
            let _ = tx.send(crate::report::RunEvent::ExpectationFinished(result.clone()));
        }
        result
    });
}

/// Evaluates one expectation until it is met, missed or skipped.
async fn evaluate(
    e: Expectation,
    phase: ExpectationPhase,
    obs: Arc<Observers>,
    run_start: Instant,
    start: Start,
    window_end: Option<Instant>,
) -> ExpectationResult {
    let mut result = placeholder(&e, phase);
    result.last_observed = None;
    (result.backend, result.backend_real) = probes::backend(&e.check, &obs);
    if let Some(reason) = probes::unavailable(&e.check, &obs) {
        // Nothing was asked: no backend answered this one.
        result.status = ExpectationStatus::Skipped;
        result.backend = crate::report::NO_BACKEND.to_string();
        result.backend_real = false;
        result.skipped_reason = Some(reason);
        return result;
    }
    let mut window = None;
    let reference = match start {
        Start::At(r) => r,
        Start::Fault(name, mut rx) => {
            let got = rx
                .wait_for(|m| m.contains_key(&name))
                .await
                .ok()
                .and_then(|m| m.get(&name).cloned());
            match got {
                Some(Injection::At(r)) => r,
                Some(Injection::Proxied(r, w)) => {
                    window = Some((name, w));
                    r
                }
                Some(Injection::Failed(why)) => {
                    result.last_observed =
                        Some(format!("fault {name} could not be injected: {why}"));
                    return result;
                }
                None => {
                    result.last_observed = Some(format!(
                        "fault {name} was never injected (the fault timeline ended first)"
                    ));
                    return result;
                }
            }
        }
    };
    let probe = || probes::probe(&e.check, &obs, reference.wall);
    let decision = if let Check::NoAlerts { .. } = &e.check {
        // `gauntlet check` allows no-alerts only in steady state, whose window it has.
        let Some(until) = window_end else {
            result.status = ExpectationStatus::Skipped;
            result.skipped_reason = Some("no-alerts has no window outside steady state".into());
            return result;
        };
        result.deadline_ms = millis(until.saturating_duration_since(reference.instant));
        let outcome = watch_window(until, WINDOW_INTERVAL, || async {
            match probe().await {
                Probe::Met(evidence) => Probe::Met(evidence.text),
                Probe::NotYet(s) => Probe::NotYet(s),
                Probe::CouldNotAsk(s) => Probe::CouldNotAsk(s),
            }
        })
        .await;
        verdict::decide::window(outcome, &reference)
    } else {
        let deadline = reference.instant + e.within.unwrap_or_default();
        let outcome = poll_until(deadline, Backoff::default(), probe).await;
        verdict::decide::by_deadline(outcome, &reference, deadline, probes::probe_time(&e.check))
    };
    let missed = decision.status == ExpectationStatus::Missed;
    apply(&mut result, decision, run_start);
    // A fault on an HTTP fault proxy that no request passed through did nothing: whatever
    // was observed was not its effect, and a miss is explained by it.
    if let Some((name, w)) = &window
        && let Some(why) = w.unexercised(name)
    {
        let seen = result.last_observed.take().unwrap_or_default();
        result.last_observed = Some(format!("{seen}; why: {why}"));
        if !missed {
            result.status = ExpectationStatus::Missed;
            result.time_to_detect_ms = None;
        }
        return result;
    }
    if missed && let Some(why) = super::explain::explain(&e.check, &obs).await {
        let seen = result.last_observed.take().unwrap_or_default();
        result.last_observed = Some(format!("{seen}; why: {why}"));
    }
    result
}

fn apply(result: &mut ExpectationResult, d: Decision, run_start: Instant) {
    let ms = |at: Instant| millis(at.saturating_duration_since(run_start));
    result.status = d.status;
    result.last_observed = Some(d.observed);
    result.observed_at_ms = d.observed_at.map(ms);
    result.time_to_detect_ms = d.time_to_detect.map(millis);
    result.resolution_ms = d.resolution.map(millis);
    result.time_source = d.time_source;
}

/// The reference of a phase that starts now.
pub(super) fn now() -> Reference {
    Reference {
        instant: Instant::now(),
        wall: SystemTime::now(),
    }
}

fn kind_of(check: &Check) -> ExpectationKind {
    match check {
        Check::Metric { .. } => ExpectationKind::Metric,
        Check::Alert { .. } => ExpectationKind::Alert,
        Check::Notification { .. } => ExpectationKind::Notification,
        Check::Trace { .. } => ExpectationKind::Trace,
        Check::Log { .. } => ExpectationKind::Log,
        Check::DashboardHasData { .. } | Check::DashboardPanel { .. } => ExpectationKind::Dashboard,
        Check::NoAlerts { .. } => ExpectationKind::NoAlerts,
        Check::Correlation { .. } => ExpectationKind::Correlation,
        Check::Completeness { .. } => ExpectationKind::Completeness,
    }
}

fn describe(e: &Expectation) -> String {
    if let Some(name) = &e.name {
        return name.clone();
    }
    let labels = |l: &BTreeMap<String, String>| {
        if l.is_empty() {
            String::new()
        } else {
            format!(
                "{{{}}}",
                l.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            )
        }
    };
    match &e.check {
        Check::Metric { query } => query.clone(),
        Check::Alert {
            alert,
            labels: l,
            state,
            require_annotations,
        } => {
            let required = if require_annotations.is_empty() {
                String::new()
            } else {
                format!(" with {}", require_annotations.join(", "))
            };
            format!(
                "{alert}{} {}{required}",
                labels(l),
                format!("{state:?}").to_lowercase()
            )
        }
        Check::Notification {
            receiver,
            alert,
            status,
            ..
        } => {
            format!(
                "{receiver} notified{} ({status:?})",
                alert
                    .as_ref()
                    .map(|a| format!(" of {a}"))
                    .unwrap_or_default()
            )
        }
        Check::Trace {
            service,
            error,
            spans_from,
            ..
        } => format!(
            "trace of {service}{}{}",
            if *error == Some(true) {
                " with error"
            } else {
                ""
            },
            if spans_from.is_empty() {
                String::new()
            } else {
                format!(" across {}", spans_from.join(" → "))
            }
        ),
        Check::Log {
            service,
            level,
            correlated_trace,
            ..
        } => format!(
            "{service} log{}{}",
            level
                .map(|l| format!(" at {l:?}").to_lowercase())
                .unwrap_or_default(),
            if *correlated_trace {
                " with trace id"
            } else {
                ""
            }
        ),
        Check::DashboardHasData { dashboard } => {
            format!("dashboard {dashboard}: every panel has data")
        }
        Check::DashboardPanel {
            dashboard,
            panel,
            above,
            below,
        } => format!(
            "dashboard {dashboard}: {panel}{}{}",
            above.map(|a| format!(" > {a}")).unwrap_or_default(),
            below.map(|b| format!(" < {b}")).unwrap_or_default()
        ),
        Check::NoAlerts { alerts } => match alerts {
            None => "no alert fires".into(),
            Some(names) => format!("none of {} fires", names.join(", ")),
        },
        Check::Correlation { find_in, .. } => format!(
            "failed requests' trace ids found in {}",
            find_in.join(" and ")
        ),
        Check::Completeness {
            traces,
            logs,
            metrics,
        } => {
            let parts: Vec<String> = [("traces", traces), ("logs", logs), ("metrics", metrics)]
                .into_iter()
                .filter_map(|(n, p)| p.map(|p| format!("{n} ≥ {p}%")))
                .collect();
            format!("telemetry stored of what was sent: {}", parts.join(", "))
        }
    }
}
