//! Compressed timelines: copies of the rule files with every alerting rule's `for` replaced.
//!
//! A scenario's `stack.alert-for` lets a test run the user's real rules with a short `for`
//! (production values stay in the files). Only the `for` of alerting rules changes; the
//! expressions, labels and recording rules are untouched.

use std::path::{Path, PathBuf};
use std::time::Duration;

use yaml_serde::Value;

/// A rule file could not be rewritten.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("cannot read rule file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("rule file {path} is not valid YAML")]
    Parse {
        path: PathBuf,
        #[source]
        source: yaml_serde::Error,
    },
    #[error("cannot write rewritten rule file {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Writes a copy of each file into `out_dir` with every alerting rule's `for` set to
/// `alert_for`, and returns the copies' paths in the same order.
pub fn override_alert_for(
    files: &[PathBuf],
    alert_for: Duration,
    out_dir: &Path,
) -> Result<Vec<PathBuf>, RulesError> {
    let for_text = prometheus_duration(alert_for);
    let mut out = Vec::with_capacity(files.len());
    for (i, file) in files.iter().enumerate() {
        let text = std::fs::read_to_string(file).map_err(|source| RulesError::Read {
            path: file.clone(),
            source,
        })?;
        let mut doc: Value = yaml_serde::from_str(&text).map_err(|source| RulesError::Parse {
            path: file.clone(),
            source,
        })?;
        if let Some(groups) = doc.get_mut("groups").and_then(Value::as_sequence_mut) {
            for group in groups {
                let Some(rules) = group.get_mut("rules").and_then(Value::as_sequence_mut) else {
                    continue;
                };
                for rule in rules.iter_mut().filter(|r| r.get("alert").is_some()) {
                    if let Value::Mapping(m) = rule {
                        m.insert(Value::from("for"), Value::from(for_text.clone()));
                    }
                }
            }
        }
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Index prefix keeps same-named files from different folders apart.
        let path = out_dir.join(format!("{i:02}-{name}"));
        let rendered = yaml_serde::to_string(&doc).map_err(|source| RulesError::Parse {
            path: file.clone(),
            source,
        })?;
        std::fs::write(&path, rendered).map_err(|source| RulesError::Write {
            path: path.clone(),
            source,
        })?;
        out.push(path);
    }
    Ok(out)
}

/// Prometheus duration syntax: whole milliseconds, e.g. `2s`, `1500ms`.
pub fn prometheus_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_only_alerting_rules() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = dir.path().join("rules.yml");
        std::fs::write(
            &src,
            "groups:\n- name: g\n  rules:\n  - record: job:up:sum\n    expr: sum(up)\n  - alert: Down\n    expr: up == 0\n    for: 5m\n    labels: {severity: critical}\n  - alert: NoFor\n    expr: vector(1)\n",
        )
        .expect("write");
        let out = override_alert_for(&[src], Duration::from_secs(2), dir.path()).expect("rewrites");
        let doc: Value =
            yaml_serde::from_str(&std::fs::read_to_string(&out[0]).expect("read")).expect("yaml");
        let rules = doc["groups"][0]["rules"].as_sequence().expect("rules");
        assert!(
            rules[0].get("for").is_none(),
            "recording rules keep no `for`"
        );
        assert_eq!(rules[1]["for"].as_str(), Some("2s"));
        assert_eq!(rules[1]["labels"]["severity"].as_str(), Some("critical"));
        assert_eq!(rules[2]["for"].as_str(), Some("2s"));
        assert_eq!(prometheus_duration(Duration::from_millis(1500)), "1500ms");
    }
}
