//! The floor of each expectation kind, as a sum of named parts.
//!
//! Alert detection = scrape interval + rule evaluation interval (the group's own `interval`
//! when it sets one) + `for` (or `stack.alert-for`); a notification adds Alertmanager's
//! `group_wait`. Resolution = scrape + evaluation + how long the rule's expression is
//! guaranteed to hold its result after the signal stops ([`resolve_hold`]) + the rule's
//! `keep_firing_for`; a resolved notification adds `group_interval`. Traces and logs need the
//! services' export interval plus the collector's flush. Where several rules share an alert
//! name, the quickest counts: a floor must never exceed what the stack can do.

use std::time::Duration;

use super::hold::resolve_hold;
use crate::scenario::model::{AlertState, Check, NotificationStatus, StackSpec};
use crate::scenario::references::{AlertRule, References};
use crate::scenario::values::show;

/// OpenSearch's default `index.refresh_interval`: spans Jaeger indexed become searchable at
/// the next refresh.
const OPENSEARCH_REFRESH: Duration = Duration::from_secs(1);

/// The floor for `check` and a human explanation of its parts.
pub fn timing_floor(
    check: &Check,
    stack: &StackSpec,
    export_interval: Duration,
    refs: &References,
) -> (Duration, String) {
    let scrape = part("scrape", stack.scrape_interval);
    let eval = part("evaluation", stack.evaluation_interval);
    let floor = match check {
        Check::Metric { .. } => Floor::of(vec![scrape]),
        Check::Alert { alert, state, .. } => match state {
            AlertState::Firing => alert_floor(alert, stack, refs, Transition::Fires),
            AlertState::Resolved => alert_floor(alert, stack, refs, Transition::Resolves),
            AlertState::Pending => alert_floor(alert, stack, refs, Transition::Evaluated),
            // Met at once when the alert never fired, so nothing more can be claimed.
            AlertState::Inactive => Floor::of(vec![scrape, eval]),
        },
        Check::Notification {
            receiver,
            alert,
            status,
            ..
        } => {
            // The routes that send to this receiver decide; the shortest is the floor.
            let (group_wait, group_interval) = stack
                .receiver_timings
                .get(receiver)
                .map_or((stack.group_wait, stack.group_interval), |t| {
                    (t.group_wait, t.group_interval)
                });
            let (transition, alertmanager) = match status {
                NotificationStatus::Firing => (Transition::Fires, part("group_wait", group_wait)),
                NotificationStatus::Resolved => {
                    (Transition::Resolves, part("group_interval", group_interval))
                }
            };
            let mut floor = match alert {
                Some(alert) => alert_floor(alert, stack, refs, transition),
                // Any alert: no rule to read, only the intervals (and the override).
                None => Floor::of(match transition {
                    Transition::Fires => vec![
                        scrape,
                        eval,
                        part("for", stack.alert_for.unwrap_or_default()),
                    ],
                    _ => vec![scrape, eval],
                }),
            };
            floor.parts.push(alertmanager);
            floor
        }
        Check::Trace { .. }
        | Check::Log { .. }
        | Check::Correlation { .. }
        | Check::Completeness { .. } => {
            let mut parts = vec![
                part("export", export_interval),
                part("collector flush", stack.telemetry_flush),
            ];
            let reads_traces = match check {
                Check::Trace { .. } => true,
                Check::Correlation { find_in, .. } => find_in.iter().any(|f| f == "traces"),
                _ => false,
            };
            // OpenSearch makes indexed spans searchable at its next refresh (every second).
            if reads_traces && stack.trace_store == crate::stack::TraceStore::Opensearch {
                parts.push(part("OpenSearch refresh", OPENSEARCH_REFRESH));
            }
            Floor::of(parts)
        }
        Check::DashboardHasData { .. } | Check::DashboardPanel { .. } => {
            Floor::of(vec![scrape, eval])
        }
        Check::NoAlerts { .. } => Floor::of(vec![]),
    };
    (floor.total(), floor.explain())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transition {
    Fires,
    Resolves,
    /// Pending: evaluated once, before `for` runs.
    Evaluated,
}

/// Named parts of a floor and notes on what was deliberately left out.
#[derive(Debug, Clone, Default)]
struct Floor {
    parts: Vec<(String, Duration)>,
    notes: Vec<String>,
}

impl Floor {
    fn of(parts: Vec<(String, Duration)>) -> Floor {
        Floor {
            parts,
            notes: Vec::new(),
        }
    }

    fn total(&self) -> Duration {
        self.parts.iter().map(|(_, d)| *d).sum()
    }

    fn explain(&self) -> String {
        if self.parts.is_empty() {
            return "holds for the whole window".to_string();
        }
        let mut text = self
            .parts
            .iter()
            .map(|(name, d)| format!("{name} {}", show(*d)))
            .collect::<Vec<_>>()
            .join(" + ");
        for note in &self.notes {
            text.push_str("; ");
            text.push_str(note);
        }
        text
    }
}

fn part(name: &str, d: Duration) -> (String, Duration) {
    (name.to_string(), d)
}

/// The quickest of the floors of the rules named `alert`.
fn alert_floor(alert: &str, stack: &StackSpec, refs: &References, transition: Transition) -> Floor {
    let rules = refs
        .alerts
        .get(alert)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if rules.is_empty() {
        // No rule file names it (a stack we do not run): the intervals alone.
        let unknown = AlertRule {
            for_: Duration::ZERO,
            keep_firing_for: Duration::ZERO,
            expr: String::new(),
            group_interval: None,
        };
        return rule_floor(&unknown, stack, refs, transition);
    }
    rules
        .iter()
        .map(|rule| rule_floor(rule, stack, refs, transition))
        .min_by_key(Floor::total)
        .unwrap_or_default()
}

fn rule_floor(
    rule: &AlertRule,
    stack: &StackSpec,
    refs: &References,
    transition: Transition,
) -> Floor {
    let evaluation = rule.group_interval.unwrap_or(stack.evaluation_interval);
    let mut floor = Floor::of(vec![
        part("scrape", stack.scrape_interval),
        part("evaluation", evaluation),
    ]);
    match transition {
        Transition::Fires => floor
            .parts
            .push(part("for", stack.alert_for.unwrap_or(rule.for_))),
        Transition::Resolves => {
            let hold = resolve_hold(
                &rule.expr,
                &refs.recorded,
                stack.scrape_interval,
                evaluation,
            );
            if !hold.delay.is_zero() {
                let name = match &hold.window {
                    Some(w) => format!("held in {w} window"),
                    None => "offset".to_string(),
                };
                floor.parts.push((name, hold.delay));
            }
            if !rule.keep_firing_for.is_zero() {
                floor
                    .parts
                    .push(part("keep_firing_for", rule.keep_firing_for));
            }
            floor.notes = hold.notes;
        }
        Transition::Evaluated => {}
    }
    floor
}
