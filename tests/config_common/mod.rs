//! Shared by the `config_*` tests: where the stack fixtures live, how to find the Prometheus
//! tools, and the metric contract of the reference services that every rule and dashboard
//! query is held to.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of this module"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;

use promql_parser::parser::{Expr, LabelModifier, parse};
use promql_parser::util::{ExprVisitor, walk_expr};

/// The six reference services, in call order.
pub const SERVICES: [&str; 6] = [
    "frontend",
    "api-gateway",
    "users",
    "products",
    "orders",
    "worker",
];

/// `fixtures/stack` of this crate.
pub fn stack_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/stack")
}

/// The files with `extension` directly in `dir`, sorted.
pub fn files_in(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no *.{extension} in {}", dir.display());
    files
}

/// The first of `names` found on `PATH`, for `gauntlet::testing::require`.
pub fn find_tool(names: &[&str]) -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(format!("none of {names:?} is on PATH"))
}

/// Runs `program args…` and returns its output, failing the test if it cannot start.
pub fn run(program: &Path, args: &[&std::ffi::OsStr]) -> Output {
    std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", program.display()))
}

/// `command`'s status, stdout and stderr, for assertion messages.
pub fn describe(output: &Output) -> String {
    format!(
        "status: {}\n--- stdout\n{}--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Labels every scraped series carries besides its own (added by Prometheus).
const TARGET_LABELS: [&str; 2] = ["job", "instance"];

/// The metrics the reference services and the collector expose, with their own labels:
/// the contract the rules and dashboards are written against.
pub fn metric_contract() -> BTreeMap<&'static str, Vec<&'static str>> {
    let http = ["service", "method", "route"];
    let span = ["service_name", "span_name", "span_kind", "status_code"];
    let with = |base: &[&'static str], extra: &[&'static str]| -> Vec<&'static str> {
        base.iter().chain(extra).copied().collect()
    };
    BTreeMap::from([
        ("up", vec!["service"]),
        ("http_requests_total", with(&http, &["status"])),
        ("http_request_duration_seconds_bucket", with(&http, &["le"])),
        ("http_request_duration_seconds_count", http.to_vec()),
        ("http_request_duration_seconds_sum", http.to_vec()),
        ("orders_created_total", vec!["service"]),
        ("task_queue_size", vec!["service"]),
        ("workflow_steps_total", vec!["service", "status"]),
        (
            "task_processing_duration_seconds_bucket",
            vec!["service", "le"],
        ),
        ("task_processing_duration_seconds_count", vec!["service"]),
        ("task_processing_duration_seconds_sum", vec!["service"]),
        ("process_resident_memory_bytes", vec!["service"]),
        ("process_cpu_seconds_total", vec!["service"]),
        ("gauntlet_fault_active", vec!["service", "kind"]),
        ("traces_span_metrics_calls_total", span.to_vec()),
        (
            "traces_span_metrics_duration_milliseconds_bucket",
            with(&span, &["le"]),
        ),
    ])
}

/// A series selector found in a query: metric name and the label names it matches on.
#[derive(Debug)]
pub struct Selector {
    pub metric: Option<String>,
    pub labels: Vec<String>,
}

/// What a query selects and groups by.
#[derive(Debug, Default)]
pub struct QueryParts {
    pub selectors: Vec<Selector>,
    /// Label names of every `by (…)` clause.
    pub grouping: BTreeSet<String>,
}

impl ExprVisitor for QueryParts {
    type Error = std::convert::Infallible;

    fn pre_visit(&mut self, expr: &Expr) -> Result<bool, Self::Error> {
        let vs = match expr {
            Expr::VectorSelector(vs) => vs,
            Expr::MatrixSelector(ms) => &ms.vs,
            Expr::Aggregate(agg) => {
                if let Some(LabelModifier::Include(labels)) = &agg.modifier {
                    self.grouping.extend(labels.labels.iter().cloned());
                }
                return Ok(true);
            }
            _ => return Ok(true),
        };
        let matchers = vs
            .matchers
            .matchers
            .iter()
            .chain(vs.matchers.or_matchers.iter().flatten());
        self.selectors.push(Selector {
            metric: vs.name.clone(),
            labels: matchers.map(|m| m.name.clone()).collect(),
        });
        Ok(true)
    }
}

/// Parses `query` with promql-parser and returns what it selects and groups by.
pub fn query_parts(query: &str) -> Result<QueryParts, String> {
    let expr = parse(query)?;
    let mut parts = QueryParts::default();
    match walk_expr(&mut parts, &expr) {
        Ok(_) => Ok(parts),
        Err(never) => match never {},
    }
}

/// Every way `query` strays from the metric contract: unknown metrics, selectors without a
/// metric name, and label names the metric does not carry. `recorded` maps recording rule
/// names to the labels their series carry; `ALERTS` accepts any label.
pub fn contract_problems(
    query: &str,
    recorded: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<String> {
    let contract = metric_contract();
    let selectors = match query_parts(query) {
        Ok(parts) => parts.selectors,
        Err(e) => return vec![format!("does not parse: {e}")],
    };
    let mut problems = Vec::new();
    for selector in selectors {
        let Some(metric) = selector.metric else {
            problems.push("a selector without a metric name".to_string());
            continue;
        };
        if metric == "ALERTS" {
            continue;
        }
        let known: BTreeSet<&str> = if let Some(labels) = contract.get(metric.as_str()) {
            labels.iter().chain(TARGET_LABELS.iter()).copied().collect()
        } else if let Some(labels) = recorded.get(&metric) {
            labels.iter().map(String::as_str).collect()
        } else {
            problems.push(format!("unknown metric {metric}"));
            continue;
        };
        for label in &selector.labels {
            if label != "__name__" && !known.contains(label.as_str()) {
                problems.push(format!("{metric} has no label {label} (it has {known:?})"));
            }
        }
    }
    problems
}

/// A rule from a Prometheus rule file.
#[derive(Debug, Clone)]
pub struct Rule {
    pub file: String,
    pub group: String,
    pub alert: Option<String>,
    pub record: Option<String>,
    pub expr: String,
    pub for_: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// A YAML mapping of scalars as strings (labels, annotations); empty when absent.
pub fn string_map(value: Option<&yaml_serde::Value>) -> BTreeMap<String, String> {
    let Some(yaml_serde::Value::Mapping(map)) = value else {
        return BTreeMap::new();
    };
    map.iter()
        .map(|(k, v)| {
            let key = k.as_str().expect("string key").to_string();
            let value = match v {
                yaml_serde::Value::String(s) => s.clone(),
                other => yaml_serde::to_string(other)
                    .expect("scalar")
                    .trim()
                    .to_string(),
            };
            (key, value)
        })
        .collect()
}

/// Every rule of every file in `fixtures/stack/prometheus/rules`.
pub fn load_rules() -> Vec<Rule> {
    let mut rules = Vec::new();
    for path in files_in(&stack_dir().join("prometheus/rules"), "yml") {
        let file = path
            .file_name()
            .expect("file name")
            .to_string_lossy()
            .to_string();
        let text = std::fs::read_to_string(&path).expect("read rule file");
        let doc: yaml_serde::Value = yaml_serde::from_str(&text).expect("rule file is YAML");
        let groups = doc["groups"].as_sequence().expect("groups");
        for group in groups {
            let group_name = group["name"].as_str().expect("group name").to_string();
            for rule in group["rules"].as_sequence().expect("rules") {
                let text = |key: &str| rule.get(key).and_then(|v| v.as_str()).map(str::to_string);
                rules.push(Rule {
                    file: file.clone(),
                    group: group_name.clone(),
                    alert: text("alert"),
                    record: text("record"),
                    expr: text("expr").expect("every rule has an expr"),
                    for_: text("for"),
                    labels: string_map(rule.get("labels")),
                    annotations: string_map(rule.get("annotations")),
                });
            }
        }
    }
    rules
}

/// Recording rule name → labels of the series it records: its static labels plus the labels
/// its aggregations keep (`by (…)`). The fixtures aggregate every recorded series, so that
/// is the whole label set.
pub fn recorded_labels(rules: &[Rule]) -> BTreeMap<String, BTreeSet<String>> {
    let mut recorded: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for rule in rules {
        let Some(name) = &rule.record else { continue };
        let parts = query_parts(&rule.expr)
            .unwrap_or_else(|e| panic!("recording rule {name} does not parse: {e}"));
        let entry = recorded.entry(name.clone()).or_default();
        entry.extend(rule.labels.keys().cloned());
        entry.extend(parts.grouping);
    }
    recorded
}
