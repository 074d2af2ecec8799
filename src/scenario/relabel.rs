//! Prometheus relabelling rules as a scenario writes them (`services.relabel-configs`,
//! `services.metric-relabel-configs`), in Prometheus's own syntax
//! (<https://prometheus.io/docs/prometheus/latest/configuration/configuration/#relabel_config>).
//!
//! They are rendered into the sample services' scrape config as written; validation here
//! refuses what Prometheus would refuse at start-up, so `gauntlet check` catches it first.

use serde::{Deserialize, Serialize};

/// One `relabel_config`, field for field.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RelabelConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_labels: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separator: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modulus: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

/// The actions Prometheus 2.42 and later know.
pub const ACTIONS: &[&str] = &[
    "replace",
    "keep",
    "drop",
    "keepequal",
    "dropequal",
    "hashmod",
    "labelmap",
    "labeldrop",
    "labelkeep",
    "lowercase",
    "uppercase",
];

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl RelabelConfig {
    /// Every problem Prometheus would refuse this rule for, as (field, message).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let action = self.action.as_deref().unwrap_or("replace");
        if !ACTIONS.contains(&action) {
            out.push((
                "action",
                format!(
                    "unknown relabel action {action:?} (known: {})",
                    ACTIONS.join(", ")
                ),
            ));
            return out;
        }
        if let Some(re) = &self.regex
            && let Err(e) = regex::Regex::new(&format!("^(?:{re})$"))
        {
            // The parser's message ends with the reason; its first lines draw the pattern.
            let text = e.to_string();
            let why = text.lines().last().unwrap_or_default().trim();
            let why = why.strip_prefix("error: ").unwrap_or(why);
            out.push(("regex", format!("invalid regex {re:?}: {why}")));
        }
        for l in self.source_labels.iter().flatten() {
            if !is_label_name(l) {
                out.push(("source_labels", format!("{l:?} is not a valid label name")));
            }
        }
        let target = self.target_label.as_deref();
        let needs_target = matches!(
            action,
            "replace" | "hashmod" | "keepequal" | "dropequal" | "lowercase" | "uppercase"
        );
        if needs_target && target.is_none_or(str::is_empty) {
            out.push((
                "target_label",
                format!("action {action} needs `target_label`"),
            ));
        }
        // `replace` may build the target from capture groups; the others take a plain name.
        if let Some(t) = target
            && action != "replace"
            && !t.is_empty()
            && !is_label_name(t)
        {
            out.push(("target_label", format!("{t:?} is not a valid label name")));
        }
        if action == "hashmod" && self.modulus.unwrap_or(0) == 0 {
            out.push(("modulus", "action hashmod needs a `modulus` above 0".into()));
        }
        if matches!(action, "labeldrop" | "labelkeep")
            && (self.source_labels.is_some()
                || target.is_some()
                || self.modulus.is_some()
                || self.separator.is_some()
                || self.replacement.is_some())
        {
            out.push((
                "action",
                format!("action {action} takes only `regex` (Prometheus refuses the other fields)"),
            ));
        }
        if matches!(action, "keepequal" | "dropequal")
            && (self.regex.is_some() || self.modulus.is_some() || self.replacement.is_some())
        {
            out.push((
                "action",
                format!(
                    "action {action} takes only `source_labels`, `separator` and `target_label`"
                ),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(yaml: &str) -> RelabelConfig {
        yaml_serde::from_str(yaml).expect("parses")
    }

    #[test]
    fn refuses_what_prometheus_refuses() {
        let cases = [
            ("{source_labels: [code], target_label: status}", vec![]),
            ("{action: labeldrop, regex: exported_.*}", vec![]),
            (
                "{action: rename}",
                vec![
                    "unknown relabel action \"rename\" (known: replace, keep, drop, keepequal, dropequal, hashmod, labelmap, labeldrop, labelkeep, lowercase, uppercase)",
                ],
            ),
            (
                "{action: keep, regex: '(5..'}",
                vec!["invalid regex \"(5..\""],
            ),
            (
                "{source_labels: [x]}",
                vec!["action replace needs `target_label`"],
            ),
            (
                "{action: hashmod, target_label: shard, source_labels: [instance]}",
                vec!["action hashmod needs a `modulus` above 0"],
            ),
            (
                "{action: labeldrop, regex: x, target_label: y}",
                vec!["action labeldrop takes only `regex`"],
            ),
            (
                "{source_labels: [1bad], target_label: x}",
                vec!["\"1bad\" is not a valid label name"],
            ),
        ];
        for (yaml, want) in cases {
            let got = rule(yaml).problems();
            assert_eq!(got.len(), want.len(), "{yaml}: {got:?}");
            for (g, w) in got.iter().zip(want) {
                assert!(g.1.starts_with(w), "{yaml}: {g:?} vs {w}");
            }
        }
        let err = yaml_serde::from_str::<RelabelConfig>("{sourcelabels: [x]}")
            .expect_err("unknown field");
        assert!(
            err.to_string().contains("unknown field `sourcelabels`"),
            "{err}"
        );
    }
}
