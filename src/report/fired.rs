//! The alerts that fired during a run, with their labels and annotations, and what a
//! responder paged by one would miss (no runbook link, no summary). Reporters render
//! [`FiredAlert`]s with [`FiredAlert::line`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Annotations that point a responder at a runbook (`runbook_url` is the convention of the
/// Prometheus community's rule sets; `runbook` is seen too).
pub const RUNBOOK_KEYS: &[&str] = &["runbook_url", "runbook"];

/// One alert (one label set) that was firing at some point of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FiredAlert {
    /// `alertname`.
    pub name: String,
    /// Its other labels.
    pub labels: BTreeMap<String, String>,
    /// Its annotations (rendered, except when `annotations_from` is `rule`).
    pub annotations: BTreeMap<String, String>,
    /// Where the annotations were read: `prometheus` (the alert while active),
    /// `alertmanager`, `notification` (a webhook gauntlet received), or `rule` (the rule's
    /// templates: the alert had ended before the run asked), `none` when nothing had them.
    pub annotations_from: String,
    /// What a responder would miss, e.g. `no runbook_url`, `no summary`; empty when none.
    pub flags: Vec<String>,
}

impl FiredAlert {
    /// The flags for these annotations: a runbook link and a summary, each non-empty.
    pub fn flags_for(annotations: &BTreeMap<String, String>) -> Vec<String> {
        let has = |k: &str| annotations.get(k).is_some_and(|v| !v.trim().is_empty());
        let mut flags = Vec::new();
        if !RUNBOOK_KEYS.iter().any(|k| has(k)) {
            flags.push("no runbook_url".to_string());
        }
        if !has("summary") {
            flags.push("no summary".to_string());
        }
        flags
    }

    /// `HighErrorRate{service="orders"}`.
    pub fn title(&self) -> String {
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        format!("{}{{{}}}", self.name, labels.join(", "))
    }

    /// One line: the alert, its summary and runbook, and its flags.
    pub fn line(&self) -> String {
        let mut parts = Vec::new();
        if let Some(s) = self.annotations.get("summary").filter(|s| !s.is_empty()) {
            parts.push(format!("summary {s:?}"));
        }
        if let Some(r) = RUNBOOK_KEYS
            .iter()
            .find_map(|k| self.annotations.get(*k).filter(|v| !v.is_empty()))
        {
            parts.push(format!("runbook {}", crate::redact::url(r)));
        }
        if !self.flags.is_empty() {
            parts.push(format!("FLAGGED: {}", self.flags.join(", ")));
        }
        format!("{}: {}", self.title(), parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_name_what_a_responder_would_miss() {
        let mut a = FiredAlert {
            name: "HighErrorRate".into(),
            labels: [("service".to_string(), "orders".to_string())].into(),
            annotations: BTreeMap::new(),
            annotations_from: "prometheus".into(),
            flags: Vec::new(),
        };
        a.flags = FiredAlert::flags_for(&a.annotations);
        assert_eq!(a.flags, ["no runbook_url", "no summary"]);
        assert_eq!(
            a.line(),
            r#"HighErrorRate{service="orders"}: FLAGGED: no runbook_url, no summary"#
        );
        a.annotations
            .insert("summary".into(), "orders fails".into());
        a.annotations.insert(
            "runbook_url".into(),
            "https://runbooks.example/orders".into(),
        );
        a.flags = FiredAlert::flags_for(&a.annotations);
        assert!(a.flags.is_empty());
        assert_eq!(
            a.line(),
            r#"HighErrorRate{service="orders"}: summary "orders fails"; runbook https://runbooks.example/orders"#
        );
    }
}
