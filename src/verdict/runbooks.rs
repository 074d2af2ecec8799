//! Runbooks and summaries: which alerts fired during a run, with the annotations a responder
//! would read, and whether an alert carries the annotations a scenario requires. Pure: the
//! runner gathers the backends' answers (`runner::runbooks`), these functions read them.

use std::collections::BTreeMap;

use crate::observe::alertmanager;
use crate::observe::prometheus::{self, AlertingRule};
use crate::observe::webhook::WebhookAlert;
use crate::report::FiredAlert;

type Labels = BTreeMap<String, String>;

/// Where annotations may be read, best first: the alert while Prometheus still holds it,
/// Alertmanager's copy, a notification gauntlet received, the rule's templates.
pub struct Sources<'a> {
    pub prometheus: &'a [prometheus::Alert],
    pub alertmanager: &'a [alertmanager::Alert],
    pub notified: &'a [WebhookAlert],
    pub rules: &'a [AlertingRule],
}

/// One [`FiredAlert`] per label set that `ALERTS{alertstate="firing"}` had during the run
/// (`fired`: each series' labels), with its annotations from the best source that has them.
pub fn fired_alerts(fired: &[Labels], sources: &Sources<'_>) -> Vec<FiredAlert> {
    let mut out: Vec<FiredAlert> = Vec::new();
    for series in fired {
        let labels: Labels = series
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "__name__" | "alertstate"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let Some(name) = labels.get("alertname").cloned() else {
            continue;
        };
        // Sent copies may carry more labels (external labels), never fewer.
        let same = |other: &Labels| labels.iter().all(|(k, v)| other.get(k) == Some(v));
        let (annotations, from) =
            if let Some(a) = sources.prometheus.iter().find(|a| same(&a.labels)) {
                (a.annotations.clone(), "prometheus")
            } else if let Some(a) = sources.alertmanager.iter().find(|a| same(&a.labels)) {
                (a.annotations.clone(), "alertmanager")
            } else if let Some(a) = sources.notified.iter().rev().find(|a| same(&a.labels)) {
                (a.annotations.clone(), "notification")
            } else if let Some(r) = sources
                .rules
                .iter()
                .find(|r| r.name == name && r.labels.iter().all(|(k, v)| labels.get(k) == Some(v)))
            {
                (r.annotations.clone(), "rule")
            } else {
                (Labels::new(), "none")
            };
        let mut rest = labels;
        rest.remove("alertname");
        let alert = FiredAlert {
            flags: FiredAlert::flags_for(&annotations),
            name,
            labels: rest,
            annotations,
            annotations_from: from.to_string(),
        };
        if !out.contains(&alert) {
            out.push(alert);
        }
    }
    out.sort_by(|a, b| (&a.name, &a.labels).cmp(&(&b.name, &b.labels)));
    out
}

/// Why none of `firing` (the alerts that met an expectation) carries every `required`
/// annotation with a value; `None` when one does.
pub fn missing_annotations(firing: &[&prometheus::Alert], required: &[String]) -> Option<String> {
    if required.is_empty() {
        return None;
    }
    let mut why = Vec::new();
    for a in firing {
        let missing: Vec<&str> = required
            .iter()
            .filter(|k| a.annotations.get(*k).is_none_or(|v| v.trim().is_empty()))
            .map(String::as_str)
            .collect();
        if missing.is_empty() {
            return None;
        }
        let labels: Vec<String> = a
            .labels
            .iter()
            .filter(|(k, _)| k.as_str() != "alertname")
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        let has: Vec<&str> = a.annotations.keys().map(String::as_str).collect();
        why.push(format!(
            "{}{{{}}} is firing without annotation {} (it has: {})",
            a.name(),
            labels.join(", "),
            missing.join(", "),
            if has.is_empty() {
                "none".to_string()
            } else {
                has.join(", ")
            }
        ));
    }
    (!why.is_empty()).then(|| why.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn prom_alert(l: Labels, a: Labels) -> prometheus::Alert {
        prometheus::Alert {
            labels: l,
            annotations: a,
            state: prometheus::AlertState::Firing,
            active_at: None,
            value: 1.0,
            keep_firing_since: None,
        }
    }

    #[test]
    fn missing_annotations_are_named() {
        let a = prom_alert(
            labels(&[("alertname", "HighErrorRate"), ("service", "orders")]),
            labels(&[("summary", "orders fails"), ("runbook_url", " ")]),
        );
        let required = vec!["runbook_url".to_string(), "summary".to_string()];
        assert_eq!(
            missing_annotations(&[&a], &required).as_deref(),
            Some(
                r#"HighErrorRate{service="orders"} is firing without annotation runbook_url (it has: runbook_url, summary)"#
            )
        );
        let b = prom_alert(
            labels(&[("alertname", "HighErrorRate"), ("service", "users")]),
            labels(&[("summary", "s"), ("runbook_url", "https://r")]),
        );
        assert_eq!(missing_annotations(&[&a, &b], &required), None);
        assert_eq!(missing_annotations(&[&a], &[]), None);
    }

    #[test]
    fn annotations_come_from_the_best_source_that_has_the_alert() {
        let fired = vec![
            labels(&[
                ("__name__", "ALERTS"),
                ("alertname", "HighErrorRate"),
                ("alertstate", "firing"),
                ("service", "orders"),
            ]),
            labels(&[("alertname", "ServiceDown"), ("service", "worker")]),
            labels(&[("alertname", "Gone"), ("service", "x")]),
        ];
        let active = [prom_alert(
            labels(&[("alertname", "HighErrorRate"), ("service", "orders")]),
            labels(&[("summary", "orders fails"), ("runbook_url", "https://r/1")]),
        )];
        let notified: Vec<WebhookAlert> = serde_json::from_value(serde_json::json!([{
            "status": "resolved",
            "labels": { "alertname": "ServiceDown", "service": "worker", "cluster": "ci" },
            "annotations": { "summary": "worker is down" },
            "startsAt": "2026-01-01T00:00:00Z",
            "endsAt": "2026-01-01T00:01:00Z",
            "generatorURL": "",
            "fingerprint": "f"
        }]))
        .expect("webhook alert");
        let got = fired_alerts(
            &fired,
            &Sources {
                prometheus: &active,
                alertmanager: &[],
                notified: &notified,
                rules: &[],
            },
        );
        let shown: Vec<(String, &str, Vec<String>)> = got
            .iter()
            .map(|a| (a.title(), a.annotations_from.as_str(), a.flags.clone()))
            .collect();
        assert_eq!(
            shown,
            [
                (
                    r#"Gone{service="x"}"#.to_string(),
                    "none",
                    vec!["no runbook_url".to_string(), "no summary".to_string()]
                ),
                (
                    r#"HighErrorRate{service="orders"}"#.to_string(),
                    "prometheus",
                    vec![]
                ),
                (
                    r#"ServiceDown{service="worker"}"#.to_string(),
                    "notification",
                    vec!["no runbook_url".to_string()]
                ),
            ]
        );
    }
}
