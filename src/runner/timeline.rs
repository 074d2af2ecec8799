//! The fault timeline: inject each fault at `load start + at`, record the instant it took
//! effect (every expectation measured from it waits for that record), and roll it back at its
//! end. A fault that cannot be injected is recorded with its reason, and the expectations
//! that wait for it are missed with that reason: the run never waits for a fault that will
//! not come.

use std::collections::BTreeMap;
use std::time::SystemTime;

use tokio::sync::watch;
use tokio::time::Instant;

use super::clock::{Clock, Stop};
use super::fleet::Fleet;
use super::stack::{RunTargets, StackHandle};
use crate::error_chain;
use crate::fault::{FaultGuard, FaultRegistry, Injected, ProxyWindow, Restart};
use crate::report::{FaultRecord, LogLevel, RunEvent};
use crate::scenario::Scenario;
use crate::verdict::Reference;

/// What happened to a fault an expectation measures from.
#[derive(Debug, Clone)]
pub(super) enum Injection {
    /// It took effect at this reference.
    At(Reference),
    /// It took effect at this reference on an HTTP fault proxy, which counts what passed
    /// through while it was on.
    Proxied(Reference, ProxyWindow),
    /// It could not be injected: why.
    Failed(String),
}

/// Injections by fault name, shared with the expectation tasks that measure from them.
pub(super) type Injections = BTreeMap<String, Injection>;

/// What the timeline leaves behind.
pub(super) struct Timeline {
    pub records: Vec<FaultRecord>,
    /// Set when Ctrl-C or the scenario's cap ended the timeline early.
    pub stopped: Option<Stop>,
    /// Guards of faults without `for`: they stay on until the run ends.
    pub held: Vec<FaultGuard>,
}

/// A fault waiting to be rolled back.
struct Active {
    index: usize,
    guards: Vec<FaultGuard>,
    restarts: Vec<Restart>,
    window: Option<ProxyWindow>,
}

/// Injects and rolls back every fault on the timeline.
pub(super) async fn run_faults(
    scenario: &Scenario,
    clock: &Clock,
    fleet: &mut Fleet,
    stack: &StackHandle,
    registry: &FaultRegistry,
    load_start: Instant,
    injections: &watch::Sender<Injections>,
) -> Timeline {
    let mut records: Vec<FaultRecord> = scenario
        .faults
        .iter()
        .map(|f| FaultRecord {
            name: f.name.clone(),
            kind: f.action.kind().to_string(),
            target: f.target(),
            planned_at_ms: clock.ms(load_start + f.at),
            injected_at_ms: None,
            rolled_back_at_ms: None,
            error: None,
            proxy: None,
        })
        .collect();
    let mut order: Vec<usize> = (0..scenario.faults.len()).collect();
    order.sort_by_key(|i| scenario.faults[*i].at);
    let mut pending: Vec<(Instant, Active)> = Vec::new();
    let mut held = Vec::new();
    let mut next = order.into_iter().peekable();
    let mut stopped = None;
    loop {
        let next_inject = next.peek().map(|i| load_start + scenario.faults[*i].at);
        let next_rollback = pending.iter().map(|(t, _)| *t).min();
        let (at, inject) = match (next_inject, next_rollback) {
            (Some(i), Some(r)) if r < i => (r, false),
            (Some(i), _) => (i, true),
            (None, Some(r)) => (r, false),
            (None, None) => break,
        };
        tokio::select! {
            () = tokio::time::sleep_until(at) => {}
            stop = clock.stopped() => {
                stopped = Some(stop);
                break;
            }
        }
        if inject {
            let Some(index) = next.next() else { break };
            if records.iter().all(|r| r.injected_at_ms.is_none()) {
                clock.emit(RunEvent::PhaseStarted {
                    name: "faults".into(),
                    at_ms: clock.now_ms(),
                });
            }
            let fault = &scenario.faults[index];
            let targets = RunTargets {
                fleet: &*fleet,
                stack,
            };
            let call_start = (Instant::now(), SystemTime::now());
            match crate::fault::inject(fault, &targets, registry).await {
                Ok(Injected {
                    guards,
                    restarts,
                    effective_at_call_start,
                    window,
                }) => {
                    // The fault has taken effect once its mechanism returned (a signal sent,
                    // a hook switched on, a proxy effect set, an API call answered), or, for
                    // a call that blocks while the fault already acts, when it started.
                    let (now, wall) = if effective_at_call_start {
                        call_start
                    } else {
                        (Instant::now(), SystemTime::now())
                    };
                    let reference = Reference { instant: now, wall };
                    records[index].injected_at_ms = Some(clock.ms(now));
                    let injection = match &window {
                        Some(w) => Injection::Proxied(reference, w.clone()),
                        None => Injection::At(reference),
                    };
                    injections.send_modify(|m| {
                        m.insert(fault.name.clone(), injection);
                    });
                    clock.emit(RunEvent::FaultInjected {
                        name: fault.name.clone(),
                        kind: fault.action.kind().to_string(),
                        target: fault.target(),
                        at_ms: clock.ms(now),
                    });
                    match fault.duration {
                        Some(d) => pending.push((
                            now + d,
                            Active {
                                index,
                                guards,
                                restarts,
                                window,
                            },
                        )),
                        None => held.extend(guards),
                    }
                }
                Err(e) => {
                    let why = error_chain(&e);
                    clock.emit(RunEvent::Log {
                        level: LogLevel::Error,
                        message: format!("fault {} could not be injected: {why}", fault.name),
                    });
                    records[index].error = Some(format!("not injected: {why}"));
                    injections.send_modify(|m| {
                        m.insert(fault.name.clone(), Injection::Failed(why));
                    });
                }
            }
        } else {
            let pos = pending
                .iter()
                .enumerate()
                .min_by_key(|(_, (t, _))| *t)
                .map(|(i, _)| i)
                .unwrap_or_default();
            let (_, active) = pending.swap_remove(pos);
            roll_back(scenario, clock, fleet, stack, active, &mut records).await;
        }
    }
    if let Some(stop) = stopped {
        // Roll back now, while the runtime and every client are alive.
        for (_, active) in pending.drain(..) {
            roll_back(scenario, clock, fleet, stack, active, &mut records).await;
        }
        if stop == Stop::Timeout {
            for index in next {
                records[index].error =
                    Some("not injected: the scenario timeout was reached first".into());
            }
        }
    }
    Timeline {
        records,
        stopped,
        held,
    }
}

/// Rolls one fault back and starts again what it killed; failures are recorded (they fail
/// the scenario: the stack may not be as the scenario left it).
async fn roll_back(
    scenario: &Scenario,
    clock: &Clock,
    fleet: &mut Fleet,
    stack: &StackHandle,
    active: Active,
    records: &mut [FaultRecord],
) {
    let fault = &scenario.faults[active.index];
    let mut problems = Vec::new();
    for g in active.guards {
        if let Err(e) = g.rollback().await {
            problems.push(format!("rollback failed: {}", error_chain(&e)));
        }
    }
    for restart in &active.restarts {
        let restarted = match restart {
            Restart::Service(service) => fleet
                .restart(service)
                .await
                .map_err(|e| format!("restarting {service} failed: {}", error_chain(&e))),
            Restart::StackComponent(component) => stack
                .restart_component(component)
                .await
                .map_err(|e| format!("restarting {component} failed: {e}")),
        };
        if let Err(e) = restarted {
            problems.push(e);
        }
    }
    let now = Instant::now();
    for p in &problems {
        clock.emit(RunEvent::Log {
            level: LogLevel::Error,
            message: format!("fault {}: {p}", fault.name),
        });
    }
    let record = &mut records[active.index];
    if let Some(w) = &active.window {
        let t = w.traffic();
        record.proxy = Some(t);
        clock.emit(RunEvent::Log {
            level: LogLevel::Info,
            message: format!(
                "fault {} on the http fault proxy {}: {} requests while on ({} answered an injected status, {} delayed by {} ms in all, {} aborted, {} forwarded)",
                fault.name, w.proxy, t.requests, t.injected_errors, t.delayed, t.added_delay_ms, t.aborted, t.forwarded
            ),
        });
    }
    if !problems.is_empty() {
        record.error = Some(problems.join("; "));
    }
    record.rolled_back_at_ms = Some(clock.ms(now));
    clock.emit(RunEvent::FaultRolledBack {
        name: fault.name.clone(),
        at_ms: clock.ms(now),
    });
}
