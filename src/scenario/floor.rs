//! Timing floors: the earliest a correct stack can react, from the scenario's own intervals.
//!
//! Alert detection floor = scrape interval + rule evaluation interval + `for`; a notification
//! adds Alertmanager's `group_wait` (the shortest among the user's routes to its receiver); traces and logs need the services' export interval plus
//! the collector's flush. A deadline below its floor can never be met, so the validator
//! rejects it, and reports print each time-to-detect next to its floor.

use std::time::Duration;

use super::model::{AlertState, Check, NotificationStatus, StackSpec};
use super::values::show;

/// The floor for `check` and a human explanation of its parts.
pub fn timing_floor(
    check: &Check,
    stack: &StackSpec,
    export_interval: Duration,
) -> (Duration, String) {
    let scrape = ("scrape", stack.scrape_interval);
    let eval = ("evaluation", stack.evaluation_interval);
    let alert_for = |alert: Option<&String>| -> Duration {
        stack
            .alert_for
            .or_else(|| alert.and_then(|a| stack.alert_rules.get(a).copied()))
            .unwrap_or_default()
    };
    let parts: Vec<(&str, Duration)> = match check {
        Check::Metric { .. } => vec![scrape],
        Check::Alert { alert, state, .. } => match state {
            AlertState::Firing => vec![scrape, eval, ("for", alert_for(Some(alert)))],
            AlertState::Pending | AlertState::Resolved | AlertState::Inactive => vec![scrape, eval],
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
            match status {
                NotificationStatus::Firing => vec![
                    scrape,
                    eval,
                    ("for", alert_for(alert.as_ref())),
                    ("group_wait", group_wait),
                ],
                NotificationStatus::Resolved => {
                    vec![scrape, eval, ("group_interval", group_interval)]
                }
            }
        }
        Check::Trace { .. } | Check::Log { .. } | Check::Correlation { .. } => {
            vec![
                ("export", export_interval),
                ("collector flush", stack.telemetry_flush),
            ]
        }
        Check::DashboardHasData { .. } | Check::DashboardPanel { .. } => vec![scrape, eval],
        Check::NoAlerts { .. } => vec![],
    };
    let total = parts.iter().map(|(_, d)| *d).sum();
    let explained = if parts.is_empty() {
        "holds for the whole window".to_string()
    } else {
        parts
            .iter()
            .map(|(name, d)| format!("{name} {}", show(*d)))
            .collect::<Vec<_>>()
            .join(" + ")
    };
    (total, explained)
}
