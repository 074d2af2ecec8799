//! Names a scenario may refer to, read from local config files: alert rules (and their
//! `for`), Alertmanager receivers, Grafana dashboards and their panels.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use yaml_serde::Value;

/// What the stack's config files define.
#[derive(Debug, Clone, Default)]
pub struct References {
    /// Alert name → `for` (zero when absent).
    pub alerts: BTreeMap<String, Duration>,
    pub receivers: Vec<String>,
    /// Receivers without integrations (Alertmanager sends them nothing).
    pub silent_receivers: Vec<String>,
    /// Dashboard uid (and file stem) → panel titles.
    pub dashboards: BTreeMap<String, BTreeSet<String>>,
}

/// gauntlet's own `fixtures/` folder: `$GAUNTLET_FIXTURES`, else the nearest `fixtures/`
/// holding `stack/` above `start`, else the one this crate was built from.
pub fn fixtures_dir(start: &Path) -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("GAUNTLET_FIXTURES") {
        return Some(PathBuf::from(dir));
    }
    let absolute = std::path::absolute(start).ok()?;
    for dir in absolute.ancestors() {
        let candidate = dir.join("fixtures");
        if candidate.join("stack").is_dir() {
            return Some(candidate);
        }
    }
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    built.is_dir().then_some(built)
}

/// The nearest `name` in `start` or one of its ancestors.
pub fn find_upwards(start: &Path, name: &str) -> Option<PathBuf> {
    let absolute = std::path::absolute(start).ok()?;
    absolute
        .ancestors()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Files directly in `dir` whose extension is one of `exts`, sorted.
pub fn files_with_ext(dir: &Path, exts: &[&str]) -> Result<Vec<PathBuf>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| exts.contains(&e))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Alerting rules (name → `for`) in Prometheus rule files.
pub fn alert_rules(files: &[PathBuf]) -> Result<BTreeMap<String, Duration>, String> {
    let mut alerts = BTreeMap::new();
    for file in files {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let doc: Value = yaml_serde::from_str(&text)
            .map_err(|e| format!("{}: not a rule file: {e}", file.display()))?;
        let groups = doc
            .get("groups")
            .and_then(Value::as_sequence)
            .cloned()
            .unwrap_or_default();
        for group in groups {
            for rule in group
                .get("rules")
                .and_then(Value::as_sequence)
                .cloned()
                .unwrap_or_default()
            {
                let Some(name) = rule.get("alert").and_then(Value::as_str) else {
                    continue;
                };
                let for_ = match rule.get("for").and_then(Value::as_str) {
                    Some(t) => parse_prometheus_duration(t).ok_or_else(|| {
                        format!("{}: alert {name}: invalid `for` {t:?}", file.display())
                    })?,
                    None => Duration::ZERO,
                };
                alerts.insert(name.to_string(), for_);
            }
        }
    }
    Ok(alerts)
}

/// Prometheus durations (`1m`, `1h30m`, `500ms`), which humantime mostly shares.
fn parse_prometheus_duration(t: &str) -> Option<Duration> {
    humantime::parse_duration(t).ok()
}

/// Receiver names in an Alertmanager config (template placeholders are blanked first).
pub fn receivers(file: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let blanked = blank_placeholders(&text);
    let doc: Value = yaml_serde::from_str(&blanked)
        .map_err(|e| format!("{}: not an Alertmanager config: {e}", file.display()))?;
    Ok(doc
        .get("receivers")
        .and_then(Value::as_sequence)
        .map(|rs| {
            rs.iter()
                .filter_map(|r| r.get("name").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default())
}

fn blank_placeholders(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        match rest[start..].find("}}") {
            Some(end) => {
                out.push('x');
                rest = &rest[start + end + 2..];
            }
            None => {
                rest = &rest[start..];
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Dashboard uid (and file stem) → panel titles, including panels nested in rows.
pub fn dashboards(files: &[PathBuf]) -> Result<BTreeMap<String, BTreeSet<String>>, String> {
    let mut out = BTreeMap::new();
    for file in files {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let doc: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a dashboard: {e}", file.display()))?;
        // Provisioned files hold the dashboard itself; API exports wrap it in `dashboard`.
        let dash = doc.get("dashboard").unwrap_or(&doc);
        let mut titles = BTreeSet::new();
        collect_panel_titles(dash, &mut titles);
        if let Some(uid) = dash.get("uid").and_then(serde_json::Value::as_str) {
            out.insert(uid.to_string(), titles.clone());
        }
        if let Some(stem) = file.file_stem().and_then(|s| s.to_str()) {
            out.insert(stem.to_string(), titles);
        }
    }
    Ok(out)
}

fn collect_panel_titles(node: &serde_json::Value, titles: &mut BTreeSet<String>) {
    for panel in node
        .get("panels")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(t) = panel.get("title").and_then(serde_json::Value::as_str)
            && panel.get("type").and_then(serde_json::Value::as_str) != Some("row")
        {
            titles.insert(t.to_string());
        }
        collect_panel_titles(panel, titles);
    }
}
