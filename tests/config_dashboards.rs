//! The Grafana configuration gauntlet ships in `fixtures/stack/grafana/`: the dashboards
//! (structure, the PromQL of every panel once Grafana's macros are substituted, and data from
//! series shaped like the services' metric contract) and the datasource provisioning.
//!
//! Dashboard JSON model: https://grafana.com/docs/grafana/latest/dashboards/build-dashboards/view-dashboard-json-model/
//! Provisioning: https://grafana.com/docs/grafana/latest/administration/provisioning/

mod config_common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use config_common::{
    SERVICES, contract_problems, describe, find_tool, load_rules, recorded_labels, run, stack_dir,
};
use gauntlet::testing::require;
use serde_json::{Value, json};

/// The dashboards gauntlet ships; any other JSON file in the folder is checked the same way.
const SHIPPED: [&str; 2] = ["service-overview", "slo"];

/// (file stem, dashboard) of every `grafana/dashboards/*.json`.
fn dashboards() -> Vec<(String, Value)> {
    let dir = stack_dir().join("grafana/dashboards");
    let all: Vec<(String, Value)> = config_common::files_in(&dir, "json")
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            let dashboard =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let stem = path
                .file_stem()
                .expect("file stem")
                .to_string_lossy()
                .to_string();
            (stem, dashboard)
        })
        .collect();
    for uid in SHIPPED {
        assert!(
            all.iter().any(|(stem, _)| stem == uid),
            "dashboards/{uid}.json is missing"
        );
    }
    all
}

/// Every panel, including those nested in collapsed rows.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        out.push(panel);
        out.extend(panel["panels"].as_array().into_iter().flatten());
    }
    out
}

/// (panel title, PromQL expressions) of every panel that queries.
fn panel_queries(dashboard: &Value) -> Vec<(String, Vec<String>)> {
    panels(dashboard)
        .into_iter()
        .filter(|p| p["type"] != "row")
        .map(|p| {
            let exprs = p["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["expr"].as_str().map(str::to_string))
                .collect();
            (p["title"].as_str().unwrap_or("untitled").to_string(), exprs)
        })
        .collect()
}

/// What Grafana sends Prometheus for a range query of `service` at a 15 s scrape interval.
fn substitute(expr: &str, service: &str) -> String {
    expr.replace("${__rate_interval}", "1m")
        .replace("$__rate_interval", "1m")
        .replace("${__interval}", "15s")
        .replace("$__interval", "15s")
        .replace("${__range}", "15m")
        .replace("$__range", "15m")
        .replace("${service}", service)
        .replace("$service", service)
}

fn provisioned_datasources() -> Value {
    let path = stack_dir().join("grafana/datasources.yml");
    let text = std::fs::read_to_string(&path).expect("read datasources.yml");
    let yaml: yaml_serde::Value = yaml_serde::from_str(&text).expect("datasources.yml is YAML");
    serde_json::to_value(yaml).expect("YAML as JSON")
}

#[test]
fn dashboards_have_their_uid_the_service_variable_and_provisioned_datasources() {
    let datasources = provisioned_datasources();
    let uids: BTreeSet<&str> = datasources["datasources"]
        .as_array()
        .expect("datasources")
        .iter()
        .filter(|d| d["type"] == "prometheus")
        .filter_map(|d| d["uid"].as_str())
        .collect();
    let mut problems = Vec::new();
    let mut seen_uids = BTreeSet::new();
    for (file, d) in dashboards() {
        let mut problem = |what: String| problems.push(format!("{file}.json: {what}"));
        // The file is named after its uid, so a dashboard is found by either.
        if d["uid"] != file.as_str() {
            problem(format!("uid is {}", d["uid"]));
        }
        if !seen_uids.insert(d["uid"].to_string()) {
            problem(format!("uid {} twice", d["uid"]));
        }
        if !d["schemaVersion"]
            .as_u64()
            .is_some_and(|v| (36..=41).contains(&v))
        {
            problem(format!("schemaVersion {}", d["schemaVersion"]));
        }
        let vars = d["templating"]["list"].as_array().expect("templating.list");
        match vars.iter().find(|v| v["name"] == "service") {
            None => problem("no $service variable".into()),
            Some(var) => {
                let options: Vec<&str> = var["options"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|o| o["value"].as_str())
                    .collect();
                if options != SERVICES {
                    problem(format!("$service options {options:?}, want {SERVICES:?}"));
                }
                if !var["current"]["value"]
                    .as_str()
                    .is_some_and(|v| SERVICES.contains(&v))
                {
                    problem(format!("$service current {}", var["current"]));
                }
            }
        }
        let mut ids = BTreeSet::new();
        for panel in panels(&d) {
            let title = panel["title"].as_str().unwrap_or("untitled");
            if !ids.insert(panel["id"].as_u64().expect("panel id")) {
                problem(format!("panel {title}: duplicate id {}", panel["id"]));
            }
            let grid = &panel["gridPos"];
            let (x, w) = (
                grid["x"].as_u64().unwrap_or(99),
                grid["w"].as_u64().unwrap_or(99),
            );
            if x + w > 24 || grid["h"].as_u64().is_none_or(|h| h == 0) {
                problem(format!(
                    "panel {title}: gridPos {grid} outside the 24 columns"
                ));
            }
            if panel["type"] == "row" {
                continue;
            }
            let targets = panel["targets"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            if targets.is_empty() {
                problem(format!("panel {title}: no queries"));
            }
            let mut ref_ids = BTreeSet::new();
            for target in targets {
                if !ref_ids.insert(target["refId"].as_str().unwrap_or_default()) {
                    problem(format!(
                        "panel {title}: duplicate refId {}",
                        target["refId"]
                    ));
                }
                if target["expr"].as_str().is_none_or(|e| e.trim().is_empty()) {
                    problem(format!(
                        "panel {title}: target {} has no expr",
                        target["refId"]
                    ));
                }
                let ds = if target["datasource"].is_object() {
                    &target["datasource"]
                } else {
                    &panel["datasource"]
                };
                if !ds["uid"].as_str().is_some_and(|u| uids.contains(u)) {
                    problem(format!(
                        "panel {title}: datasource {ds} is not a provisioned Prometheus"
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_panel_query_parses_and_follows_the_metric_contract_after_substitution() {
    let recorded = recorded_labels(&load_rules());
    let mut problems = BTreeSet::new();
    let mut checked = 0;
    for (uid, d) in dashboards() {
        for (title, exprs) in panel_queries(&d) {
            for expr in &exprs {
                for service in SERVICES {
                    let query = substitute(expr, service);
                    checked += 1;
                    if query.contains('$') {
                        problems.insert(format!("{uid}: {title}: unknown macro left in {query}"));
                        continue;
                    }
                    if let Err(e) = promql_parser::parser::parse(&query) {
                        problems.insert(format!("{uid}: {title}: {query}: {e}"));
                        continue;
                    }
                    for p in contract_problems(&query, &recorded) {
                        problems.insert(format!("{uid}: {title}: {query}: {p}"));
                    }
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{}",
        problems.into_iter().collect::<Vec<_>>().join("\n")
    );
    // 36 panel queries × 6 services: a shrinking count means panels were lost.
    assert!(
        checked >= 36 * SERVICES.len(),
        "only {checked} queries checked"
    );
    println!(
        "{checked} dashboard queries parsed ({} panel queries × {} services)",
        checked / SERVICES.len(),
        SERVICES.len()
    );
}

/// Series shaped like a healthy steady state of the reference services (no 5xx, no slow
/// requests, one worker with a queue), sampled every 15 s for 15 minutes.
fn steady_state_series() -> Vec<Value> {
    let mut series = Vec::new();
    let mut add = |selector: String, values: &str| {
        series.push(json!({ "series": selector, "values": values }))
    };
    for (i, service) in SERVICES.iter().enumerate() {
        let target = format!(
            r#"job="services",instance="127.0.0.1:{}",service="{service}""#,
            4001 + i
        );
        let http = format!(r#"{target},method="GET",route="/api/{service}""#);
        add(format!("up{{{target}}}"), "1x60");
        add(
            format!(r#"http_requests_total{{{http},status="200"}}"#),
            "0+20x60",
        );
        for le in [
            "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0",
            "+Inf",
        ] {
            add(
                format!(r#"http_request_duration_seconds_bucket{{{http},le="{le}"}}"#),
                "0+20x60",
            );
        }
        add(
            format!("http_request_duration_seconds_count{{{http}}}"),
            "0+20x60",
        );
        add(
            format!("http_request_duration_seconds_sum{{{http}}}"),
            "0+0.1x60",
        );
        add(
            format!("process_resident_memory_bytes{{{target}}}"),
            "52428800x60",
        );
        add(format!("process_cpu_seconds_total{{{target}}}"), "0+0.5x60");
        add(
            format!("gauntlet_fault_active{{{target},kind=\"http-errors\"}}"),
            "0x60",
        );
        add(
            format!(
                r#"traces_span_metrics_calls_total{{job="otel-collector",instance="127.0.0.1:8889",service_name="{service}",span_name="GET /api/{service}",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_UNSET"}}"#
            ),
            "0+20x60",
        );
    }
    let worker = r#"job="services",instance="127.0.0.1:4006",service="worker""#;
    add(format!("task_queue_size{{{worker}}}"), "3x60");
    add(
        format!(r#"workflow_steps_total{{{worker},status="success"}}"#),
        "0+5x60",
    );
    add(
        format!("task_processing_duration_seconds_sum{{{worker}}}"),
        "0+0.25x60",
    );
    add(
        format!("task_processing_duration_seconds_count{{{worker}}}"),
        "0+5x60",
    );
    add(
        r#"orders_created_total{job="services",instance="127.0.0.1:4005",service="orders"}"#
            .to_string(),
        "0+2x60",
    );
    series
}

/// Runs promtool over a unit test in which `absent(<a panel's queries or-ed>)` must be empty
/// for every panel and service: a panel with no data at all makes it fail (promtool prints
/// the query).
fn promtool_panels_have_data(
    promtool: &std::path::Path,
    panels: &[Vec<String>],
) -> std::process::Output {
    // A set: panels that do not filter by $service give the same query for every service.
    let mut queries = BTreeSet::new();
    for exprs in panels {
        for service in SERVICES {
            let any = exprs
                .iter()
                .map(|e| format!("({})", substitute(e, service)))
                .collect::<Vec<_>>()
                .join(" or ");
            queries.insert(format!("absent({any})"));
        }
    }
    let cases: Vec<Value> = queries
        .iter()
        .map(|q| json!({ "expr": q, "eval_time": "10m", "exp_samples": [] }))
        .collect();
    let rule_files: Vec<String> =
        config_common::files_in(&stack_dir().join("prometheus/rules"), "yml")
            .iter()
            .map(|p| p.display().to_string())
            .collect();
    let test = json!({
        "rule_files": rule_files,
        "evaluation_interval": "15s",
        "tests": [{
            "name": "every dashboard panel has data in a steady state",
            "interval": "15s",
            "input_series": steady_state_series(),
            "promql_expr_test": cases,
        }],
    });
    let dir = tempfile::tempdir().expect("tempdir");
    // JSON is YAML, which is what promtool reads.
    let file: PathBuf = dir.path().join("panels_test.yml");
    std::fs::write(
        &file,
        serde_json::to_string_pretty(&test).expect("serialize"),
    )
    .expect("write test");
    run(
        promtool,
        &[
            std::ffi::OsStr::new("test"),
            std::ffi::OsStr::new("rules"),
            file.as_os_str(),
        ],
    )
}

#[test]
fn every_panel_has_data_for_every_service_in_a_steady_state() {
    let Some(promtool) = require("promtool", find_tool(&["promtool"])) else {
        return;
    };
    let panels: Vec<Vec<String>> = dashboards()
        .iter()
        .flat_map(|(_, d)| panel_queries(d).into_iter().map(|(_, exprs)| exprs))
        .collect();
    let output = promtool_panels_have_data(&promtool, &panels);
    assert!(
        output.status.success(),
        "a panel is empty (absent(...) returned 1)\n{}",
        describe(&output)
    );

    // The check itself can fail: a panel querying a label the metric lacks is empty.
    let broken = vec![vec![
        r#"sum(rate(http_requests_total{service_name="$service"}[$__rate_interval]))"#.to_string(),
    ]];
    let output = promtool_panels_have_data(&promtool, &broken);
    assert!(
        !output.status.success(),
        "an empty panel went unnoticed\n{}",
        describe(&output)
    );
}

#[test]
fn datasources_provision_prometheus_jaeger_and_loki() {
    let ds = provisioned_datasources();
    assert_eq!(ds["apiVersion"], 1);
    let list = ds["datasources"].as_array().expect("datasources");
    let types: Vec<&str> = list.iter().filter_map(|d| d["type"].as_str()).collect();
    assert_eq!(types, ["prometheus", "jaeger", "loki"]);
    let uids: BTreeSet<&str> = list.iter().filter_map(|d| d["uid"].as_str()).collect();
    assert_eq!(uids.len(), list.len(), "uids must be unique: {uids:?}");
    let defaults: Vec<&str> = list
        .iter()
        .filter(|d| d["isDefault"] == true)
        .filter_map(|d| d["uid"].as_str())
        .collect();
    assert_eq!(defaults, ["prometheus"]);
    for d in list {
        let url = d["url"].as_str().expect("url");
        assert!(
            url.starts_with("${GAUNTLET_") && url.ends_with("_URL}"),
            "{url} is not set from the environment"
        );
    }
    // Cross-links point at datasources that exist.
    let prometheus = &list[0];
    let links = [
        &prometheus["jsonData"]["exemplarTraceIdDestinations"][0]["datasourceUid"],
        &list[1]["jsonData"]["tracesToLogsV2"]["datasourceUid"],
        &list[2]["jsonData"]["derivedFields"][0]["datasourceUid"],
    ];
    for link in links {
        assert!(
            link.as_str().is_some_and(|u| uids.contains(u)),
            "dangling datasource link {link}"
        );
    }
    // `$$` escapes Grafana's env expansion, so the derived field keeps its ${__value.raw}.
    assert_eq!(
        list[2]["jsonData"]["derivedFields"][0]["url"],
        "$${__value.raw}"
    );

    let path = stack_dir().join("grafana/dashboards.yml");
    let provider: yaml_serde::Value =
        yaml_serde::from_str(&std::fs::read_to_string(path).expect("read dashboards.yml"))
            .expect("YAML");
    assert_eq!(
        provider["providers"][0]["options"]["path"].as_str(),
        Some("${GAUNTLET_DASHBOARDS_DIR}")
    );
}

/// A scenario in a temporary folder using `dashboard` (and `datasources`, a Grafana
/// provisioning file, as `stack.grafana-datasources`): its diagnostics, or "" when valid.
fn check_with(dashboard: &Value, datasources: Option<&str>) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("board.json"), dashboard.to_string()).expect("write");
    let mut stack = "dashboards: [board.json]".to_string();
    if let Some(text) = datasources {
        std::fs::write(dir.path().join("datasources.yaml"), text).expect("write");
        stack.push_str(", grafana-datasources: datasources.yaml");
    }
    let file = dir.path().join("s.yaml");
    std::fs::write(
        &file,
        format!("name: ds\nstack: {{ {stack} }}\nload: {{ rate: 10/s, duration: 30s }}\n"),
    )
    .expect("write");
    match gauntlet::scenario::load(&file) {
        Ok(_) => String::new(),
        Err(e) => e
            .to_string()
            .replace(&format!("{}/", dir.path().display()), ""),
    }
}

/// The datasource shapes public dashboards use: a name as a string, `{type, uid}`, a
/// datasource variable, an export input (`${DS_PROMETHEUS}` with `__inputs`), Grafana's
/// built-ins, none at all. None of them may be refused against gauntlet's own datasources.
fn public_shapes() -> Value {
    let panel = |title: &str, ds: Value| {
        json!({ "type": "timeseries", "title": title, "datasource": ds,
                "targets": [{ "refId": "A", "expr": "sum(rate(http_requests_total[1m]))", "datasource": ds }] })
    };
    json!({
        "__inputs": [{ "name": "DS_PROMETHEUS", "label": "Prometheus", "type": "datasource", "pluginId": "prometheus", "pluginName": "Prometheus" }],
        "annotations": { "list": [{ "builtIn": 1, "datasource": "-- Grafana --", "name": "Annotations & Alerts" }] },
        "uid": "public-shapes",
        "panels": [
            panel("by name", json!("Prometheus")),
            panel("by uid", json!({ "type": "prometheus", "uid": "prometheus" })),
            panel("by variable", json!({ "type": "prometheus", "uid": "${datasource}" })),
            panel("by legacy variable", json!("$datasource")),
            panel("by import input", json!("${DS_PROMETHEUS}")),
            panel("default", Value::Null),
            { "type": "timeseries", "title": "mixed", "datasource": { "type": "datasource", "uid": "-- Mixed --" },
              "targets": [{ "refId": "A", "expr": "up", "datasource": { "type": "prometheus", "uid": "${DS_PROMETHEUS}" } }] },
        ],
        "templating": { "list": [
            { "name": "datasource", "type": "datasource", "query": "prometheus", "current": { "text": "Prometheus (prod)", "value": "prod-uid" } },
            { "name": "service", "type": "query", "datasource": { "type": "prometheus", "uid": "${datasource}" }, "query": "label_values(up, service)" },
        ]},
    })
}

#[test]
fn public_datasource_shapes_are_accepted() {
    assert_eq!(check_with(&public_shapes(), None), "");
}

#[test]
fn a_datasource_nobody_provisions_is_refused_naming_file_panel_and_datasource() {
    let board = json!({
        "uid": "orders",
        "panels": [{ "type": "stat", "title": "Error ratio",
                     "datasource": { "type": "prometheus", "uid": "prometheus-prod" },
                     "targets": [{ "refId": "A", "expr": "up" }] }],
    });
    assert_eq!(
        check_with(&board, None),
        "s.yaml:2:23: stack.dashboards[0]: dashboard board.json: panel \"Error ratio\": datasource uid \"prometheus-prod\" is not provisioned (known: Prometheus (uid prometheus, prometheus), Jaeger (uid jaeger, jaeger), Loki (uid loki, loki)); did you mean \"prometheus\"?\n  hint: these are the datasources gauntlet provisions for its own stack; list your Grafana's datasource provisioning file in `stack.grafana-datasources`, or fix the reference"
    );
    // The user's own Grafana has it: with their provisioning file the dashboard is fine...
    let theirs = "apiVersion: 1\ndatasources:\n  - { name: Prometheus (prod), type: prometheus, uid: prometheus-prod, url: http://prometheus:9090 }\n";
    assert_eq!(check_with(&board, Some(theirs)), "");
    // ...and the file is what is checked against, not gauntlet's own datasources.
    let other =
        "apiVersion: 1\ndatasources:\n  - { name: Thanos, type: prometheus, uid: thanos }\n";
    let refused = check_with(&board, Some(other));
    assert!(
        refused.contains("datasource uid \"prometheus-prod\" is not provisioned (known: Thanos (uid thanos, prometheus))")
            && refused.contains("hint: the datasources come from datasources.yaml"),
        "{refused}"
    );
    // Variables and import inputs stand for any Prometheus datasource, Thanos included; the
    // literal name and uid are not Thanos.
    let refused = check_with(&public_shapes(), Some(other));
    let panels: Vec<&str> = refused
        .lines()
        .filter_map(|l| l.split(": panel ").nth(1))
        .collect();
    assert_eq!(
        panels,
        [
            "\"by name\": datasource name \"Prometheus\" is not provisioned (known: Thanos (uid thanos, prometheus))",
            "\"by uid\": datasource uid \"prometheus\" is not provisioned (known: Thanos (uid thanos, prometheus))",
        ],
        "{refused}"
    );
}

#[test]
fn a_datasource_file_that_is_not_one_is_refused() {
    let refused = check_with(&public_shapes(), Some("groups: []\n"));
    assert!(
        refused.starts_with("s.yaml:2:57: stack.grafana-datasources: datasources.yaml: not a Grafana datasource provisioning file: no `datasources:` list"),
        "{refused}"
    );
}

/// `fixtures/public/opentelemetry-demo/`: four dashboards and the datasource provisioning
/// folder of the Grafana they were made for, vendored unchanged.
fn otel_demo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/public/opentelemetry-demo")
}

/// Diagnostics of a scenario using the demo's `dashboards` (and its datasources folder).
fn check_public(dashboards: &[&str], with_datasources: bool) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = otel_demo();
    let list: Vec<String> = dashboards
        .iter()
        .map(|d| format!("{}/dashboards/{d}.json", demo.display()))
        .collect();
    let mut stack = format!("dashboards: [{}]", list.join(", "));
    if with_datasources {
        stack.push_str(&format!(
            ", grafana-datasources: {}/datasources",
            demo.display()
        ));
    }
    let file = dir.path().join("s.yaml");
    std::fs::write(
        &file,
        format!("name: demo\nstack: {{ {stack} }}\nload: {{ rate: 10/s, duration: 30s }}\n"),
    )
    .expect("write");
    match gauntlet::scenario::load(&file) {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

/// Real dashboards with their own Grafana's datasources: uids, datasource variables of three
/// plugin types (`${prometheus_datasource}`, `${jaeger_datasource}`,
/// `${opensearch_datasource}`), `${DS_PROMETHEUS}` as a datasource variable, `{uid:
/// "$datasource"}` without a type, and targets under a non-mixed panel that name a uid the
/// demo's Grafana does not have (Grafana runs them against the panel's datasource). Nothing
/// may be refused.
#[test]
fn public_dashboards_pass_with_their_own_grafanas_datasources() {
    let all = [
        "spanmetrics-dashboard",
        "apm-dashboard",
        "postgresql-dashboard",
        "linux-dashboard",
    ];
    assert_eq!(check_public(&all, true), "");
}

/// The same dashboards against gauntlet's own datasources: the issue's case. The spanmetrics
/// dashboard points at uid `webstore-metrics`, which no Grafana of gauntlet's stack has:
/// refused, naming it in each panel and variable (it used to pass and show "No data" in
/// Grafana); its 23 references are one problem per panel, not per target.
#[test]
fn a_public_dashboard_against_gauntlets_datasources_names_the_missing_uid() {
    let refused = check_public(&["spanmetrics-dashboard"], false);
    let lines: Vec<&str> = refused
        .lines()
        .filter(|l| !l.starts_with("  hint"))
        .collect();
    assert!(!lines.is_empty());
    for line in &lines {
        assert!(
            (line.contains("spanmetrics-dashboard.json: panel \"")
                || line.contains("spanmetrics-dashboard.json: variable \""))
                && line.contains(
                    "datasource uid \"webstore-metrics\" is not provisioned (known: Prometheus (uid prometheus, prometheus)"
                ),
            "{line}"
        );
    }
    // Datasource variables stand for any datasource of their type: gauntlet has Prometheus
    // and Jaeger, not OpenSearch.
    let refused = check_public(&["apm-dashboard"], false);
    assert!(
        refused.contains(
            "variable \"opensearch_datasource\": lists datasources of type \"grafana-opensearch-datasource\", and none is provisioned"
        ),
        "{refused}"
    );
    assert!(
        !refused.contains("variable \"prometheus_datasource\""),
        "{refused}"
    );
}
