//! Names a scenario may refer to, read from local config files: alert rules (their `for`,
//! `keep_firing_for` and expression), recording rules, Alertmanager receivers, Grafana
//! dashboards with their panels and queries.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use yaml_serde::Value;

use crate::observe::dashboard::{Dashboard, RenderContext};

/// What the stack's config files define.
#[derive(Debug, Clone, Default)]
pub struct References {
    /// Alert name → every alerting rule of that name (a name may have several rules, e.g.
    /// one per burn-rate window pair).
    pub alerts: BTreeMap<String, Vec<AlertRule>>,
    /// Recording rule name → the expressions recorded under it.
    pub recorded: BTreeMap<String, Vec<String>>,
    pub receivers: Vec<String>,
    /// Receivers without integrations (Alertmanager sends them nothing).
    pub silent_receivers: Vec<String>,
    /// Dashboard uid (and file stem) → what the runner will evaluate in it.
    pub dashboards: BTreeMap<String, DashboardInfo>,
}

/// One alerting rule, as far as timing floors need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRule {
    /// `for` (zero when absent).
    pub for_: Duration,
    /// `keep_firing_for` (zero when absent).
    pub keep_firing_for: Duration,
    /// The PromQL expression as written.
    pub expr: String,
    /// The group's own `interval`, which replaces the global evaluation interval.
    pub group_interval: Option<Duration>,
}

/// A dashboard as the runner loads it: the same parser, the same rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardInfo {
    /// The file it was read from.
    pub file: PathBuf,
    /// Panel titles as written and as rendered (template variables substituted).
    pub titles: BTreeSet<String>,
    /// Rendered panel title → how many queries the runner evaluates for it. Panels without a
    /// visible target with an `expr` have no entry.
    pub queries: BTreeMap<String, usize>,
}

impl DashboardInfo {
    /// Every query the runner evaluates for `panels: all-have-data`.
    pub fn query_count(&self) -> usize {
        self.queries.values().sum()
    }
}

/// Rule names and what they define.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub alerts: BTreeMap<String, Vec<AlertRule>>,
    pub recorded: BTreeMap<String, Vec<String>>,
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

/// Alerting and recording rules in Prometheus rule files.
pub fn rules(files: &[PathBuf]) -> Result<Rules, String> {
    let mut out = Rules::default();
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
            let group_interval = match group.get("interval").and_then(Value::as_str) {
                Some(t) => Some(parse_prometheus_duration(t).ok_or_else(|| {
                    format!("{}: invalid group `interval` {t:?}", file.display())
                })?),
                None => None,
            };
            for rule in group
                .get("rules")
                .and_then(Value::as_sequence)
                .cloned()
                .unwrap_or_default()
            {
                let expr = rule
                    .get("expr")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                if let Some(name) = rule.get("record").and_then(Value::as_str) {
                    out.recorded.entry(name.to_string()).or_default().push(expr);
                    continue;
                }
                let Some(name) = rule.get("alert").and_then(Value::as_str) else {
                    continue;
                };
                let duration = |key: &str| -> Result<Duration, String> {
                    match rule.get(key).and_then(Value::as_str) {
                        Some(t) => parse_prometheus_duration(t).ok_or_else(|| {
                            format!("{}: alert {name}: invalid `{key}` {t:?}", file.display())
                        }),
                        None => Ok(Duration::ZERO),
                    }
                };
                let parsed = AlertRule {
                    for_: duration("for")?,
                    keep_firing_for: duration("keep_firing_for")?,
                    expr,
                    group_interval,
                };
                out.alerts.entry(name.to_string()).or_default().push(parsed);
            }
        }
    }
    Ok(out)
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

/// Reads one dashboard file with the parser and renderer the runner uses, so a file the
/// runner would drop (or a panel it would find no query for) is known before the run.
/// Returns the names it answers to (uid and file stem) and what it holds.
pub fn dashboard(file: &Path) -> Result<(Vec<String>, DashboardInfo), String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read: {e}"))?;
    let dashboard = Dashboard::parse(&text).map_err(|e| {
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            message.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        message
    })?;
    // Counts and titles do not depend on the time range or scrape interval, only on the
    // saved variable values, which the runner uses too.
    let queries = dashboard.panel_queries(&RenderContext::new(Duration::from_secs(60)));
    let mut titles: BTreeSet<String> = dashboard
        .panels
        .iter()
        .map(|p| p.title.clone())
        .filter(|t| !t.is_empty())
        .collect();
    let mut per_title = BTreeMap::new();
    for q in &queries {
        titles.insert(q.panel_title.clone());
        *per_title.entry(q.panel_title.clone()).or_insert(0) += 1;
    }
    let mut names = Vec::new();
    if !dashboard.uid.is_empty() {
        names.push(dashboard.uid.clone());
    }
    if let Some(stem) = file.file_stem().and_then(|s| s.to_str()) {
        names.push(stem.to_string());
    }
    Ok((
        names,
        DashboardInfo {
            file: file.to_path_buf(),
            titles,
            queries: per_title,
        },
    ))
}
