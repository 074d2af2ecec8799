//! Every miss explained: at the moment an expectation is missed, gauntlet asks the real
//! backends why — is the rule loaded and healthy (Prometheus `/api/v1/rules`), which selector
//! of the expression matches nothing and what exists instead (label APIs), did Alertmanager
//! route the alert elsewhere, inhibit or silence it (`/api/v2/alerts`), which dashboard panel
//! is empty and why. `verdict::explain` reads the answers; this module only asks.

use std::time::Duration;

use super::probes::{Observers, render_context};
use crate::observe::alertmanager::{AlertFilter, AlertState};
use crate::observe::prometheus::{Rule, RuleGroup, RuleHealth};
use crate::scenario::Check;
use crate::verdict::explain::{self, Selector, SelectorFinding};

/// How long the backends may take to explain one miss.
const EXPLAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Why `check` was missed, as far as the backends can tell (`None`: nothing to add).
pub async fn explain(check: &Check, obs: &Observers) -> Option<String> {
    tokio::time::timeout(EXPLAIN_TIMEOUT, ask(check, obs))
        .await
        .ok()
        .flatten()
}

async fn ask(check: &Check, obs: &Observers) -> Option<String> {
    match check {
        Check::Metric { query } => expression(obs, query).await,
        Check::Alert {
            alert,
            labels,
            require_annotations,
            ..
        } => alert_rule(obs, alert, labels, require_annotations).await,
        Check::Notification {
            receiver,
            alert,
            labels,
            ..
        } => notification(obs, receiver, alert.as_deref(), labels).await,
        Check::DashboardHasData { dashboard } => panels(obs, dashboard, None).await,
        Check::DashboardPanel {
            dashboard, panel, ..
        } => panels(obs, dashboard, Some(panel)).await,
        Check::Trace { .. }
        | Check::Log { .. }
        | Check::NoAlerts { .. }
        | Check::Correlation { .. }
        | Check::Completeness { .. } => None,
    }
}

/// The rule behind an alert: missing, unhealthy, without a required annotation, active only
/// for other label values, or an expression that selects nothing.
async fn alert_rule(
    obs: &Observers,
    name: &str,
    labels: &std::collections::BTreeMap<String, String>,
    required: &[String],
) -> Option<String> {
    let groups: Vec<RuleGroup> = obs.prometheus.rules().await.ok()?;
    let rules: Vec<_> = groups.iter().flat_map(|g| g.alerting_rules()).collect();
    let Some(rule) = rules.iter().find(|r| r.name == name) else {
        let names: Vec<&str> = rules.iter().map(|r| r.name.as_str()).collect();
        let hint = explain::closest(name, names.iter().copied())
            .map(|c| format!("; did you mean {c}?"))
            .unwrap_or_default();
        return Some(format!(
            "Prometheus has no alerting rule named {name} ({} loaded){hint}",
            names.len()
        ));
    };
    if rule.health == RuleHealth::Err {
        return Some(format!(
            "rule {name} is unhealthy: {}",
            rule.last_error.as_deref().unwrap_or("no error given")
        ));
    }
    let lacking: Vec<&str> = required
        .iter()
        .filter(|k| rule.annotations.get(*k).is_none_or(|v| v.trim().is_empty()))
        .map(String::as_str)
        .collect();
    if !lacking.is_empty() {
        return Some(format!(
            "rule {name} has no annotation {} (add it to the rule's `annotations`)",
            lacking.join(", ")
        ));
    }
    // Every rule of that name: burn-rate alerts often share one.
    let active: Vec<_> = rules
        .iter()
        .filter(|r| r.name == name)
        .flat_map(|r| r.alerts.iter())
        .collect();
    if let Some(why) = explain::other_label_sets(name, labels, &active) {
        return Some(why);
    }
    match expression(obs, &rule.query).await {
        Some(why) => Some(format!("rule {name}: {why}")),
        None => Some(format!(
            "rule {name} is loaded and healthy, and its expression selects data; the alert is {} now",
            format!("{:?}", rule.state).to_lowercase()
        )),
    }
}

/// How many recording rules deep an empty recorded series is followed to its cause.
const RECORDED_DEPTH: usize = 3;

/// The first selector of `expr` that matches nothing, explained; `None` when every selector
/// has series.
async fn expression(obs: &Observers, expr: &str) -> Option<String> {
    expression_at(obs, expr, 0).await
}

/// [`expression`], following a recorded series that does not exist into the expression of
/// the rule that records it (an SLO alert on `slo:sli_error:ratio_rate5m` is empty because
/// of the raw selector in that rule).
fn expression_at<'a>(
    obs: &'a Observers,
    expr: &'a str,
    depth: usize,
) -> futures::future::BoxFuture<'a, Option<String>> {
    Box::pin(async move {
        let selectors = explain::selectors(expr)?;
        let names = obs.prometheus.label_values("__name__", None).await.ok()?;
        for s in &selectors {
            let Some(finding) = selector(obs, s, &names).await else {
                continue;
            };
            if depth < RECORDED_DEPTH
                && matches!(finding, SelectorFinding::NoSuchMetric { .. })
                && let Some(metric) = s.metric.as_deref()
                && let Some(query) = recording_rule(obs, metric).await
                && let Some(why) = expression_at(obs, &query, depth + 1).await
            {
                return Some(format!(
                    "selector {} matches nothing: the recording rule {metric} records nothing, because its {why}",
                    s.promql()
                ));
            }
            return Some(explain::describe_finding(s, &finding));
        }
        None
    })
}

/// The expression of the recording rule that records `metric`, if one is loaded.
async fn recording_rule(obs: &Observers, metric: &str) -> Option<String> {
    let groups: Vec<RuleGroup> = obs.prometheus.rules().await.ok()?;
    groups
        .iter()
        .flat_map(|g| g.rules.iter())
        .find_map(|r| match r {
            Rule::Recording(rec) if rec.name == metric => Some(rec.query.clone()),
            _ => None,
        })
}

async fn selector(obs: &Observers, s: &Selector, names: &[String]) -> Option<SelectorFinding> {
    let metric = s.metric.as_deref()?;
    if !names.iter().any(|n| n == metric) {
        return Some(SelectorFinding::NoSuchMetric {
            closest: explain::closest(metric, names.iter().map(String::as_str)),
        });
    }
    // Add the matchers one at a time: the first after which nothing is left is the culprit.
    for i in 0..s.matchers.len() {
        let partial = s.with_matchers(&s.matchers[..=i]);
        let r = obs
            .prometheus
            .query(&format!("count({partial})"), None)
            .await
            .ok()?;
        if r.result.is_empty() {
            let matcher = s.matchers[i].clone();
            let values = obs
                .prometheus
                .label_values(&matcher.0, Some(metric))
                .await
                .unwrap_or_default();
            let closest_label = if values.is_empty() {
                let labels = obs.prometheus.label_names(metric).await.unwrap_or_default();
                explain::closest(&matcher.0, labels.iter().map(String::as_str))
            } else {
                None
            };
            return Some(SelectorFinding::MatcherMatchesNothing {
                matcher,
                values,
                closest_label,
            });
        }
    }
    None
}

/// What Alertmanager did with the alert: never received, inhibited, silenced, or routed to
/// other receivers.
async fn notification(
    obs: &Observers,
    receiver: &str,
    alert: Option<&str>,
    labels: &std::collections::BTreeMap<String, String>,
) -> Option<String> {
    let am = obs.alertmanager.as_ref()?;
    // The same alert for another service is not this check's concern.
    let matchers = alert
        .map(|a| ("alertname", a))
        .into_iter()
        .chain(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    let filter = AlertFilter {
        matchers,
        ..AlertFilter::default()
    };
    let alerts = am.alerts(&filter).await.ok()?;
    let what = alert.unwrap_or("any alert");
    if alerts.is_empty() {
        return Some(format!(
            "Alertmanager holds no {what}: it did not fire in Prometheus, or Prometheus does not send to this Alertmanager"
        ));
    }
    let mut why = Vec::new();
    // Alertmanager applied the filter; a proxy in front of it may not have.
    let wanted = |a: &&crate::observe::alertmanager::Alert| {
        alert.is_none_or(|name| a.name() == name)
            && labels.iter().all(|(k, v)| a.labels.get(k) == Some(v))
    };
    for a in alerts.iter().filter(wanted) {
        let receivers: Vec<&str> = a.receivers.iter().map(|r| r.name.as_str()).collect();
        if a.status.state == AlertState::Suppressed {
            if !a.status.inhibited_by.is_empty() {
                why.push(format!(
                    "{} is inhibited by {}",
                    a.name(),
                    inhibitors(am, &a.status.inhibited_by).await
                ));
            }
            if !a.status.silenced_by.is_empty() {
                why.push(format!(
                    "{} is silenced by {}",
                    a.name(),
                    a.status.silenced_by.join(", ")
                ));
            }
        } else if !receivers.contains(&receiver) {
            why.push(format!(
                "{} is routed to {}, not {receiver}",
                a.name(),
                receivers.join(", ")
            ));
        }
    }
    why.dedup();
    (!why.is_empty()).then(|| why.join("; "))
}

/// The alerts behind inhibiting fingerprints, named with their labels (`ServiceDown{service="worker"}`);
/// a fingerprint Alertmanager no longer holds stays a fingerprint.
async fn inhibitors(am: &crate::observe::AlertmanagerClient, fingerprints: &[String]) -> String {
    let all = am.alerts(&AlertFilter::default()).await.unwrap_or_default();
    let named: Vec<String> = fingerprints
        .iter()
        .map(|f| match all.iter().find(|a| &a.fingerprint == f) {
            Some(a) => {
                let labels: Vec<String> = a
                    .labels
                    .iter()
                    // gauntlet's own run label and the routing label say nothing here.
                    .filter(|(k, _)| {
                        !matches!(k.as_str(), "alertname" | "severity" | "gauntlet_run")
                    })
                    .map(|(k, v)| format!("{k}={v:?}"))
                    .collect();
                format!("{}{{{}}}", a.name(), labels.join(", "))
            }
            None => format!("alert {f}"),
        })
        .collect();
    named.join(", ")
}

/// Empty panels of a dashboard, each with why its query selects nothing.
async fn panels(obs: &Observers, uid: &str, title: Option<&str>) -> Option<String> {
    let dashboard = obs.dashboards.get(uid)?;
    let queries = dashboard.panel_queries(&render_context(obs));
    for q in queries
        .iter()
        .filter(|q| title.is_none_or(|t| q.panel_title == t))
    {
        if let Some(why) = expression(obs, &q.expr).await {
            return Some(format!("panel {} ({}): {why}", q.panel_title, q.ref_id));
        }
    }
    None
}
