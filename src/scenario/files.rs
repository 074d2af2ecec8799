//! Finding and reading scenario files: a file, or every `*.yaml`/`*.yml` in a directory.
//!
//! Scenarios often sit beside the configs they test (rule files, an Alertmanager config, a
//! Grafana datasource file), so a directory's YAML files that are plainly another format are
//! skipped with the reason ([`not_a_scenario`]) instead of failing as broken scenarios. A file
//! named on the command line is always read as a scenario.

use std::path::{Path, PathBuf};

use super::diagnostic::{Diagnostic, Diagnostics};
use super::model::Scenario;
use super::source::Position;
use super::validate::validate_text;

/// A directory's YAML file that is not a scenario, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub file: PathBuf,
    pub reason: String,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {}, not a scenario",
            self.file.display(),
            self.reason
        )
    }
}

/// Scenario files found under some paths, and the YAML files skipped as other formats.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Collected {
    pub files: Vec<PathBuf>,
    pub skipped: Vec<Skipped>,
}

/// Expands files and directories (not recursive) into a sorted list of scenario files.
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Diagnostics> {
    collect_all(paths).map(|c| c.files)
}

/// Like [`collect`], also returning the directory files skipped as other formats.
pub fn collect_all(paths: &[PathBuf]) -> Result<Collected, Diagnostics> {
    let mut out = Collected::default();
    let mut problems = Vec::new();
    for path in paths {
        if path.is_dir() {
            match super::references::files_with_ext(path, &["yaml", "yml"]) {
                Ok(found) if found.is_empty() => problems.push(file_problem(
                    path,
                    "directory holds no .yaml or .yml scenario files",
                )),
                Ok(found) => {
                    let before = out.files.len();
                    for file in found {
                        // Unreadable files stay in: loading them reports why.
                        let text = std::fs::read_to_string(&file).unwrap_or_default();
                        match not_a_scenario(&text) {
                            Some(reason) => out.skipped.push(Skipped { file, reason }),
                            None => out.files.push(file),
                        }
                    }
                    if out.files.len() == before {
                        problems.push(file_problem(
                            path,
                            "directory holds no scenario files (every YAML file in it is another format)",
                        ));
                    }
                }
                Err(e) => problems.push(file_problem(path, e)),
            }
        } else if path.is_file() {
            out.files.push(path.clone());
        } else {
            problems.push(file_problem(path, "no such file or directory"));
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(Diagnostics(problems))
    }
}

/// Top-level keys that only scenarios use. `name` and `services` are left out: compose files
/// have them too.
const SCENARIO_ONLY_KEYS: &[&str] = &[
    "description",
    "tags",
    "stack",
    "load",
    "steady-state",
    "faults",
    "expect",
    "recover",
    "overhead",
    "timeout",
];

/// Top-level keys that mark another format, with the format's name.
const FOREIGN_KEYS: &[(&str, &str)] = &[
    ("groups", "Prometheus rule file (top-level `groups`)"),
    ("route", "Alertmanager config (top-level `route`)"),
    (
        "inhibit_rules",
        "Alertmanager config (top-level `inhibit_rules`)",
    ),
    (
        "datasources",
        "Grafana datasource provisioning (top-level `datasources`)",
    ),
    (
        "providers",
        "Grafana dashboard provisioning (top-level `providers`)",
    ),
    (
        "scrape_configs",
        "Prometheus config (top-level `scrape_configs`)",
    ),
    ("rule_files", "Prometheus config (top-level `rule_files`)"),
    (
        "exporters",
        "OpenTelemetry Collector config (top-level `exporters`)",
    ),
    ("kind", "Kubernetes manifest (top-level `kind`)"),
    (
        "receivers",
        "Alertmanager or Collector config (top-level `receivers`)",
    ),
    ("volumes", "compose file (top-level `volumes`)"),
    ("networks", "compose file (top-level `networks`)"),
    ("version", "compose file (top-level `version`)"),
];

/// Why a directory's YAML `text` is not a scenario: its top level is a mapping with a key
/// of another known format and none of the keys only scenarios have. `None` when it is, or
/// may be, a scenario (text that is not YAML, or a mapping of unknown keys, is validated as
/// one so its problems are reported).
pub fn not_a_scenario(text: &str) -> Option<String> {
    let doc: yaml_serde::Value = yaml_serde::from_str(text).ok()?;
    let map = doc.as_mapping()?;
    let keys: Vec<&str> = map.keys().filter_map(|k| k.as_str()).collect();
    if keys.iter().any(|k| SCENARIO_ONLY_KEYS.contains(k)) {
        return None;
    }
    FOREIGN_KEYS
        .iter()
        .find(|(key, _)| keys.contains(key))
        .map(|(_, what)| (*what).to_string())
}

/// Reads and validates one file.
pub fn load(path: &Path) -> Result<Scenario, Diagnostics> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Diagnostics(vec![file_problem(path, format!("cannot read: {e}"))]))?;
    validate_text(path, &text)
}

/// Loads every scenario under `paths`; on failure returns every problem in every file.
pub fn load_all(paths: &[PathBuf]) -> Result<Vec<Scenario>, Diagnostics> {
    let files = collect(paths)?;
    let mut scenarios = Vec::new();
    let mut problems = Vec::new();
    for file in files {
        match load(&file) {
            Ok(s) => scenarios.push(s),
            Err(d) => problems.extend(d.0),
        }
    }
    if problems.is_empty() {
        Ok(scenarios)
    } else {
        Err(Diagnostics(problems))
    }
}

fn file_problem(path: &Path, message: impl Into<String>) -> Diagnostic {
    Diagnostic {
        file: path.to_path_buf(),
        position: Position { line: 1, column: 1 },
        field: String::new(),
        message: message.into(),
        hint: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_formats_are_told_apart_from_scenarios() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                "groups:\n  - name: x\n    rules: []\n",
                Some("Prometheus rule file"),
            ),
            (
                "route: { receiver: x }\nreceivers: [{ name: x }]\n",
                Some("Alertmanager config"),
            ),
            (
                "apiVersion: 1\ndatasources: [{ name: P, type: prometheus }]\n",
                Some("Grafana datasource"),
            ),
            (
                "version: '3'\nservices: { a: { image: x } }\n",
                Some("compose file"),
            ),
            // A scenario, valid or not, is never skipped.
            ("name: x\nexpect: []\n", None),
            ("name: x\nexpect: []\ngroups: []\n", None),
            ("nmae: x\nstack: {}\n", None),
            // Unknown keys only, or not YAML: validated as a scenario so the problem shows.
            ("nmae: x\n", None),
            ("name: [unclosed\n", None),
            ("- a\n- b\n", None),
        ];
        for (text, want) in cases {
            let got = not_a_scenario(text);
            match want {
                Some(w) => assert!(
                    got.as_deref().is_some_and(|g| g.starts_with(w)),
                    "{text:?}: {got:?}, wanted {w}"
                ),
                None => assert_eq!(got, None, "{text:?}"),
            }
        }
    }

    #[test]
    fn a_folder_skips_other_formats_but_not_broken_scenarios() {
        let dir = tempfile::tempdir().expect("temp dir");
        let write = |name: &str, text: &str| {
            std::fs::write(dir.path().join(name), text).expect("write");
        };
        write("rules.yml", "groups: []\n");
        write(
            "alertmanager.yml",
            "route: { receiver: x }\nreceivers: [{ name: x }]\n",
        );
        write("broken.yaml", "name: x\nexpect: 3\n");
        let c = collect_all(&[dir.path().to_path_buf()]).expect("collects");
        assert_eq!(c.files, [dir.path().join("broken.yaml")]);
        let skipped: Vec<String> = c.skipped.iter().map(ToString::to_string).collect();
        assert_eq!(
            skipped,
            [
                format!(
                    "{}: Alertmanager config (top-level `route`), not a scenario",
                    dir.path().join("alertmanager.yml").display()
                ),
                format!(
                    "{}: Prometheus rule file (top-level `groups`), not a scenario",
                    dir.path().join("rules.yml").display()
                ),
            ]
        );
        // A rule file named on the command line is read as a scenario (and fails as one).
        let named = collect_all(&[dir.path().join("rules.yml")]).expect("collects");
        assert_eq!(named.files.len(), 1);
        // A folder of configs only holds no scenario.
        std::fs::remove_file(dir.path().join("broken.yaml")).expect("remove");
        assert!(collect_all(&[dir.path().to_path_buf()]).is_err());
    }
}
