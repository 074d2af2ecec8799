//! The alerting configuration gauntlet ships in `fixtures/stack/`: the Prometheus rule files
//! (`promtool check rules`, `promtool test rules`, and their contract with the services'
//! metrics) and the Alertmanager template (`amtool check-config`, `amtool config routes
//! test`, and a live Alertmanager that must route, inhibit, silence and resolve).
//!
//! promtool: https://prometheus.io/docs/prometheus/latest/configuration/unit_testing_rules/
//! Alertmanager API v2: https://github.com/prometheus/alertmanager/blob/main/api/v2/openapi.yaml

mod config_common;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use config_common::{
    contract_problems, describe, files_in, find_tool, load_rules, recorded_labels, run, stack_dir,
};
use gauntlet::testing::require;
use serde_json::{Value, json};

/// The alerts the seeds describe (and scenarios name); each must exist.
const SEED_ALERTS: [&str; 10] = [
    "HighErrorRate",
    "HighLatency",
    "ServiceDown",
    "WorkflowFailureRate",
    "TaskQueueBacklog",
    "HighMemory",
    "SLOAvailabilityFastBurn",
    "SLOAvailabilitySlowBurn",
    "SLOLatencyFastBurn",
    "SLOLatencySlowBurn",
];

/// SLO windows: the alerts' long and short windows, plus 30d for the error budget.
const SLO_WINDOWS: [&str; 8] = ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"];

fn promtool() -> Option<PathBuf> {
    require("promtool", find_tool(&["promtool"]))
}

fn amtool() -> Option<PathBuf> {
    require("amtool", find_tool(&["amtool"]))
}

fn rule_files() -> Vec<PathBuf> {
    files_in(&stack_dir().join("prometheus/rules"), "yml")
}

fn rule_test_files() -> Vec<PathBuf> {
    files_in(&stack_dir().join("prometheus/tests"), "yml")
}

fn os_args<'a>(fixed: &[&'a str], paths: &'a [PathBuf]) -> Vec<&'a OsStr> {
    fixed
        .iter()
        .map(|a| OsStr::new(*a))
        .chain(paths.iter().map(|p| p.as_os_str()))
        .collect()
}

#[test]
fn rule_files_pass_promtool_check() {
    let Some(promtool) = promtool() else { return };
    let files = rule_files();
    let output = run(&promtool, &os_args(&["check", "rules"], &files));
    let text = describe(&output);
    assert!(
        output.status.success(),
        "promtool check rules failed\n{text}"
    );
    // promtool's own count of rules per file must match what the YAML holds, so a group it
    // silently skipped would show.
    let rules = load_rules();
    let stdout = String::from_utf8_lossy(&output.stdout);
    for file in &files {
        let name = file.file_name().expect("file name").to_string_lossy();
        let count = rules.iter().filter(|r| r.file == name).count();
        let expected = format!(
            "Checking {}\n  SUCCESS: {count} rules found",
            file.display()
        );
        assert!(stdout.contains(&expected), "expected {expected:?}\n{text}");
    }
    println!("{stdout}");
}

#[test]
fn rule_unit_tests_pass_promtool_test() {
    let Some(promtool) = promtool() else { return };
    let files = rule_test_files();
    let output = run(&promtool, &os_args(&["test", "rules"], &files));
    let text = describe(&output);
    assert!(
        output.status.success(),
        "promtool test rules failed\n{text}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout.matches("  SUCCESS").count(),
        files.len(),
        "one SUCCESS per test file\n{text}"
    );
    println!("{stdout}");
}

#[test]
fn every_alert_is_labelled_annotated_and_explicit_about_for() {
    let rules = load_rules();
    let recorded = recorded_labels(&rules);
    let mut problems = Vec::new();
    for rule in rules.iter().filter(|r| r.alert.is_some()) {
        let name = rule.alert.as_deref().expect("filtered on alert");
        let mut problem = |what: String| problems.push(format!("{}: {name}: {what}", rule.file));
        match rule.for_.as_deref() {
            None => problem("no explicit `for` (gauntlet overrides it in fast tests)".into()),
            Some(d) if humantime::parse_duration(d).is_err() => problem(format!("bad for {d:?}")),
            Some(_) => {}
        }
        match rule.labels.get("severity").map(String::as_str) {
            Some("critical" | "warning") => {}
            other => problem(format!("severity {other:?}, want critical or warning")),
        }
        for key in ["summary", "description", "runbook_url"] {
            if rule
                .annotations
                .get(key)
                .is_none_or(|v| v.trim().is_empty())
            {
                problem(format!("no {key} annotation"));
            }
        }
        if !rule
            .annotations
            .get("runbook_url")
            .is_some_and(|u| u.starts_with("https://"))
        {
            problem("runbook_url is not an https URL".into());
        }
        // Alertmanager groups and inhibits by `service`: the expression must keep it, by
        // aggregating `by (service)` or by reading recorded series that carry it.
        let parts = config_common::query_parts(&rule.expr).expect("alert expression parses");
        let keeps_service = if parts.grouping.is_empty() {
            parts.selectors.iter().any(|s| {
                s.metric
                    .as_ref()
                    .and_then(|m| recorded.get(m))
                    .is_some_and(|l| l.contains("service"))
            })
        } else {
            parts.grouping.contains("service")
        };
        if !keeps_service {
            problem("expression does not keep the `service` label".into());
        }
    }
    let names: BTreeSet<&str> = rules.iter().filter_map(|r| r.alert.as_deref()).collect();
    for seed in SEED_ALERTS {
        if !names.contains(seed) {
            problems.push(format!("alert {seed} is missing"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn slo_recording_rules_cover_both_slos_and_every_window() {
    let rules = load_rules();
    let mut have: BTreeSet<(String, String)> = BTreeSet::new();
    for rule in rules.iter().filter(|r| r.record.is_some()) {
        let name = rule.record.as_deref().expect("filtered on record");
        assert_eq!(
            name.split(':').count(),
            3,
            "{name} is not level:metric:operations"
        );
        let slo = rule
            .labels
            .get("slo")
            .unwrap_or_else(|| panic!("{name} has no slo label"));
        assert!(
            have.insert((name.to_string(), slo.clone())),
            "{name}{{slo={slo}}} twice"
        );
    }
    for slo in ["availability", "latency"] {
        assert!(have.contains(&("slo:objective:ratio".to_string(), slo.to_string())));
        for window in SLO_WINDOWS {
            let name = format!("slo:sli_error:ratio_rate{window}");
            assert!(
                have.contains(&(name.clone(), slo.to_string())),
                "missing {name}{{slo={slo}}}"
            );
        }
    }
    assert_eq!(
        have.len(),
        2 * (1 + SLO_WINDOWS.len()),
        "unexpected recording rules: {have:?}"
    );
}

#[test]
fn rule_expressions_use_only_the_services_metric_contract() {
    let rules = load_rules();
    let recorded = recorded_labels(&rules);
    let problems: Vec<String> = rules
        .iter()
        .flat_map(|rule| {
            let name = rule
                .alert
                .clone()
                .or(rule.record.clone())
                .expect("alert or record");
            contract_problems(&rule.expr, &recorded)
                .into_iter()
                .map(move |p| format!("{}: {name}: {p}", rule.file))
        })
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Each alerting rule needs a unit test where it fires (expected labels include the rule's
/// own, so rules sharing a name are told apart, plus `service`; every annotation spelled
/// out) and one where its alert stays silent; each recording rule needs a unit test of its
/// value.
#[test]
fn every_rule_has_unit_tests_that_fire_and_stay_silent() {
    let rules = load_rules();
    let mut fires: Vec<(String, BTreeMap<String, String>)> = Vec::new();
    let mut silent: BTreeSet<String> = BTreeSet::new();
    let mut exprs = String::new();
    let mut problems = Vec::new();
    for path in rule_test_files() {
        let text = std::fs::read_to_string(&path).expect("read test file");
        let doc: yaml_serde::Value = yaml_serde::from_str(&text).expect("test file is YAML");
        for test in doc["tests"].as_sequence().expect("tests") {
            for case in test
                .get("alert_rule_test")
                .and_then(|v| v.as_sequence())
                .into_iter()
                .flatten()
            {
                let alert = case["alertname"].as_str().expect("alertname").to_string();
                let expected = case["exp_alerts"].as_sequence().expect("exp_alerts");
                if expected.is_empty() {
                    silent.insert(alert.clone());
                }
                for exp in expected {
                    fires.push((
                        alert.clone(),
                        config_common::string_map(exp.get("exp_labels")),
                    ));
                    for label in ["service", "severity"] {
                        if exp["exp_labels"].get(label).is_none() {
                            problems.push(format!(
                                "{}: {alert}: no {label} in exp_labels",
                                path.display()
                            ));
                        }
                    }
                    let annotations = exp.get("exp_annotations").and_then(|a| a.as_mapping());
                    if annotations.is_none_or(|a| a.len() < 3) {
                        problems.push(format!(
                            "{}: {alert}: exp_annotations incomplete",
                            path.display()
                        ));
                    }
                }
            }
            for case in test
                .get("promql_expr_test")
                .and_then(|v| v.as_sequence())
                .into_iter()
                .flatten()
            {
                exprs.push_str(case["expr"].as_str().expect("expr"));
                exprs.push('\n');
            }
        }
    }
    for rule in &rules {
        if let Some(alert) = &rule.alert {
            let fired = fires.iter().any(|(name, labels)| {
                name == alert && rule.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
            });
            if !fired {
                problems.push(format!(
                    "{alert} {:?}: no unit test where it fires",
                    rule.labels
                ));
            }
            if !silent.contains(alert) {
                problems.push(format!("{alert}: no unit test where it stays silent"));
            }
        }
        if let Some(record) = &rule.record {
            // Exact name: `slo:sli_error:ratio_rate3d` must not be covered by `…rate30d`.
            let tested = exprs
                .split(|c: char| !(c.is_alphanumeric() || c == ':' || c == '_'))
                .any(|w| w == record);
            if !tested {
                problems.push(format!("{record}: no promql_expr_test reads it"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Alertmanager

const AM_PLACEHOLDERS: [&str; 5] = [
    "group_wait",
    "group_interval",
    "repeat_interval",
    "pager_webhook_url",
    "chat_webhook_url",
];

fn am_template() -> String {
    std::fs::read_to_string(stack_dir().join("alertmanager/alertmanager.yml.tmpl"))
        .expect("read alertmanager template")
}

fn render_am(group_wait: &str, group_interval: &str, sink: &str) -> String {
    let vars = BTreeMap::from([
        ("group_wait", group_wait.to_string()),
        ("group_interval", group_interval.to_string()),
        ("repeat_interval", "1h".to_string()),
        ("pager_webhook_url", format!("{sink}/pager")),
        ("chat_webhook_url", format!("{sink}/chat")),
    ]);
    gauntlet::stack::template::render("alertmanager.yml.tmpl", &am_template(), &vars)
        .expect("template renders")
}

#[test]
fn alertmanager_template_has_exactly_the_documented_placeholders() {
    let template = am_template();
    let mut found = BTreeSet::new();
    let mut rest = template.as_str();
    while let Some(start) = rest.find("{{") {
        let end = rest[start..].find("}}").expect("closed placeholder") + start;
        found.insert(rest[start + 2..end].trim().to_string());
        rest = &rest[end + 2..];
    }
    let expected: BTreeSet<String> = AM_PLACEHOLDERS.iter().map(|s| s.to_string()).collect();
    assert_eq!(found, expected);
    // A missing value is an error, never an empty string in the config.
    let partial = BTreeMap::from([("group_wait", "1s".to_string())]);
    let err = gauntlet::stack::template::render("alertmanager.yml.tmpl", &template, &partial)
        .expect_err("unrendered placeholders are rejected");
    assert!(err.to_string().contains("unknown placeholder"), "{err}");
}

#[test]
fn rendered_alertmanager_config_passes_amtool_and_routes_by_severity() {
    let Some(amtool) = amtool() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("alertmanager.yml");
    std::fs::write(&config, render_am("30s", "5m", "http://127.0.0.1:9")).expect("write config");

    let output = run(&amtool, &[OsStr::new("check-config"), config.as_os_str()]);
    let text = describe(&output);
    assert!(
        output.status.success(),
        "amtool check-config failed\n{text}"
    );
    assert!(
        text.contains("SUCCESS")
            && text.contains("1 inhibit rules")
            && text.contains("2 receivers"),
        "{text}"
    );

    let config_flag = format!("--config.file={}", config.display());
    let cases: [(&[&str], &str); 5] = [
        (
            &[
                "severity=critical",
                "alertname=HighErrorRate",
                "service=orders",
            ],
            "pager",
        ),
        (
            &[
                "severity=critical",
                "alertname=ErrorBudgetBurn",
                "slo=availability",
            ],
            "pager",
        ),
        (
            &[
                "severity=warning",
                "alertname=HighLatency",
                "service=orders",
            ],
            "chat",
        ),
        (
            &[
                "severity=warning",
                "alertname=TaskQueueBacklog",
                "service=worker",
            ],
            "chat",
        ),
        // No severity: the default route, so nothing is dropped on the floor.
        (&["alertname=Watchdog"], "chat"),
    ];
    for (labels, receiver) in cases {
        let mut args = vec!["config", "routes", "test", config_flag.as_str()];
        let verify = format!("--verify.receivers={receiver}");
        args.push(&verify);
        args.extend_from_slice(labels);
        let output = run(&amtool, &args.iter().map(OsStr::new).collect::<Vec<_>>());
        let text = describe(&output);
        assert!(
            output.status.success(),
            "{labels:?} should route to {receiver}\n{text}"
        );
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim(),
            receiver,
            "{labels:?}\n{text}"
        );
    }
}

/// A webhook notification as Alertmanager posts it (payload version 4), with its receiver.
#[derive(Debug, Clone)]
struct Notification {
    receiver: String,
    status: String,
    alertname: String,
    service: String,
    alert_statuses: Vec<String>,
    severities: Vec<String>,
    at: Instant,
}

type Inbox = Arc<Mutex<Vec<Notification>>>;

/// The webhook receivers: `POST /{receiver}` records the notification. The server task is
/// aborted on drop.
struct WebhookSink {
    url: String,
    inbox: Inbox,
    task: tokio::task::JoinHandle<()>,
}

impl WebhookSink {
    async fn start() -> Self {
        use axum::extract::{Json, Path as UrlPath, State};
        let inbox: Inbox = Arc::default();
        let app = axum::Router::new()
            .route(
                "/{receiver}",
                axum::routing::post(
                    |State(inbox): State<Inbox>,
                     UrlPath(receiver): UrlPath<String>,
                     Json(body): Json<Value>| async move {
                        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
                        let alerts = body["alerts"].as_array().cloned().unwrap_or_default();
                        inbox.lock().expect("inbox lock").push(Notification {
                            receiver,
                            status: text(&body["status"]),
                            alertname: text(&body["groupLabels"]["alertname"]),
                            service: text(&body["groupLabels"]["service"]),
                            alert_statuses: alerts.iter().map(|a| text(&a["status"])).collect(),
                            severities: alerts
                                .iter()
                                .map(|a| text(&a["labels"]["severity"]))
                                .collect(),
                            at: Instant::now(),
                        });
                    },
                ),
            )
            .with_state(inbox.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind webhook sink");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("webhook sink serves");
        });
        Self { url, inbox, task }
    }

    fn received(&self) -> Vec<Notification> {
        self.inbox.lock().expect("inbox lock").clone()
    }
}

impl Drop for WebhookSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A live Alertmanager on a loopback port; killed on drop (`kill_on_drop`).
struct Alertmanager {
    url: String,
    _child: tokio::process::Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    async fn start(binary: &Path, config: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let config_path = dir.path().join("alertmanager.yml");
        std::fs::write(&config_path, config).expect("write config");
        // The OS picks a free port; Alertmanager cannot report the port it bound to itself.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let log = dir.path().join("alertmanager.log");
        let log_file = std::fs::File::create(&log).expect("log file");
        let child = tokio::process::Command::new(binary)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            // Empty: no HA cluster listener, which would otherwise bind a fixed port (9094).
            .arg("--cluster.listen-address=")
            .stdout(std::process::Stdio::null())
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .expect("start alertmanager");
        let am = Self {
            url: format!("http://127.0.0.1:{port}"),
            _child: child,
            log,
            _dir: dir,
        };
        let client = reqwest::Client::new();
        let ready = wait_for(Duration::from_secs(15), || {
            let client = client.clone();
            let url = format!("{}/-/ready", am.url);
            async move {
                client
                    .get(url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }
        })
        .await;
        assert!(ready, "alertmanager not ready within 15s\n{}", am.log());
        am
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Polls `check` every 100 ms until it holds or `limit` passes; returns whether it held.
async fn wait_for<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn alert(name: &str, service: &str, severity: &str) -> Value {
    json!({
        "labels": { "alertname": name, "service": service, "severity": severity },
        "annotations": { "summary": format!("{service}: {name}") },
        "generatorURL": "http://127.0.0.1/gauntlet-test",
    })
}

fn resolved(mut alert: Value) -> Value {
    alert["endsAt"] = json!(humantime::format_rfc3339_millis(SystemTime::now()).to_string());
    alert
}

async fn post(client: &reqwest::Client, url: String, body: Value) -> Value {
    let response = client
        .post(&url)
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = response.status();
    let text = response.text().await.expect("response body");
    assert!(status.is_success(), "POST {url}: {status}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// The state Alertmanager reports for the alert `name` of `service`.
async fn alert_status(
    client: &reqwest::Client,
    am: &Alertmanager,
    name: &str,
    service: &str,
) -> Value {
    let alerts: Value = client
        .get(format!("{}/api/v2/alerts", am.url))
        .send()
        .await
        .expect("GET /api/v2/alerts")
        .json()
        .await
        .expect("alerts JSON");
    alerts
        .as_array()
        .expect("alert list")
        .iter()
        .find(|a| a["labels"]["alertname"] == name && a["labels"]["service"] == service)
        .unwrap_or_else(|| panic!("alertmanager does not know {name}/{service}: {alerts}"))["status"]
        .clone()
}

fn has(
    received: &[Notification],
    receiver: &str,
    alertname: &str,
    service: &str,
    status: &str,
) -> bool {
    received.iter().any(|n| {
        n.receiver == receiver
            && n.alertname == alertname
            && n.service == service
            && n.status == status
    })
}

#[tokio::test]
async fn live_alertmanager_routes_inhibits_silences_and_resolves() {
    let Some(binary) = require(
        "alertmanager",
        find_tool(&["prometheus-alertmanager", "alertmanager"]),
    ) else {
        return;
    };
    let sink = WebhookSink::start().await;
    // Compressed timings, as in gauntlet's fast scenarios.
    let am = Alertmanager::start(&binary, &render_am("1s", "1s", &sink.url)).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let api = |path: &str| format!("{}/api/v2/{path}", am.url);

    // A silence for one warning alert, made the way gauntlet's silence client does.
    let now = SystemTime::now();
    let silence = post(
        &client,
        api("silences"),
        json!({
            "matchers": [
                { "name": "alertname", "value": "WorkflowFailureRate", "isRegex": false, "isEqual": true },
                { "name": "service", "value": "worker", "isRegex": false, "isEqual": true },
            ],
            "startsAt": humantime::format_rfc3339_millis(now).to_string(),
            "endsAt": humantime::format_rfc3339_millis(now + Duration::from_secs(600)).to_string(),
            "createdBy": "gauntlet config test",
            "comment": "silence test",
        }),
    )
    .await;
    let silence_id = silence["silenceID"]
        .as_str()
        .expect("silenceID")
        .to_string();

    // The inhibiting alert first, so it is known when the others' groups are flushed.
    let posted = Instant::now();
    post(
        &client,
        api("alerts"),
        json!([alert("ServiceDown", "orders", "critical")]),
    )
    .await;
    post(
        &client,
        api("alerts"),
        json!([
            alert("HighErrorRate", "orders", "critical"),
            alert("HighLatency", "orders", "warning"),
            alert("HighErrorRate", "users", "critical"),
            alert("TaskQueueBacklog", "worker", "warning"),
            alert("WorkflowFailureRate", "worker", "warning"),
        ]),
    )
    .await;

    let delivered = wait_for(Duration::from_secs(15), || {
        let got = sink.received();
        async move {
            has(&got, "pager", "ServiceDown", "orders", "firing")
                && has(&got, "pager", "HighErrorRate", "users", "firing")
                && has(&got, "chat", "TaskQueueBacklog", "worker", "firing")
        }
    })
    .await;
    assert!(
        delivered,
        "expected notifications missing: {:#?}\n{}",
        sink.received(),
        am.log()
    );
    let first = sink
        .received()
        .iter()
        .map(|n| n.at)
        .min()
        .expect("a notification");
    println!(
        "first notification {:?} after the alerts were posted (group_wait 1s)",
        first - posted
    );

    // Suppressed alerts say why.
    for (name, service, reason) in [
        ("HighErrorRate", "orders", "inhibitedBy"),
        ("HighLatency", "orders", "inhibitedBy"),
        ("WorkflowFailureRate", "worker", "silencedBy"),
    ] {
        let status = alert_status(&client, &am, name, service).await;
        assert_eq!(status["state"], "suppressed", "{name}/{service}: {status}");
        let by = status[reason].as_array().expect(reason);
        assert_eq!(by.len(), 1, "{name}/{service}: {status}");
        if reason == "silencedBy" {
            assert_eq!(by[0], silence_id.as_str(), "{status}");
        }
    }
    assert_eq!(
        alert_status(&client, &am, "HighErrorRate", "users").await["state"],
        "active"
    );

    // Two more group intervals: suppressed alerts must still not have been sent, and every
    // notification went to the receiver of its severity.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = sink.received();
    for (name, service) in [
        ("HighErrorRate", "orders"),
        ("HighLatency", "orders"),
        ("WorkflowFailureRate", "worker"),
    ] {
        assert!(
            !got.iter()
                .any(|n| n.alertname == name && n.service == service),
            "{name}/{service} was suppressed but notified: {got:#?}"
        );
    }
    for n in &got {
        let want = if n.receiver == "pager" {
            "critical"
        } else {
            "warning"
        };
        assert!(
            n.severities.iter().all(|s| s == want),
            "{n:?} reached the wrong receiver"
        );
    }

    // Resolution reaches the receiver (send_resolved), and resolving ServiceDown lifts the
    // inhibition: the pager now hears about the orders errors.
    post(
        &client,
        api("alerts"),
        json!([
            resolved(alert("TaskQueueBacklog", "worker", "warning")),
            resolved(alert("ServiceDown", "orders", "critical")),
        ]),
    )
    .await;
    let followed = wait_for(Duration::from_secs(15), || {
        let got = sink.received();
        async move {
            has(&got, "chat", "TaskQueueBacklog", "worker", "resolved")
                && has(&got, "pager", "ServiceDown", "orders", "resolved")
                && has(&got, "pager", "HighErrorRate", "orders", "firing")
                && has(&got, "chat", "HighLatency", "orders", "firing")
        }
    })
    .await;
    let got = sink.received();
    assert!(
        followed,
        "resolutions or lifted inhibition missing: {got:#?}\n{}",
        am.log()
    );
    let resolution = got
        .iter()
        .find(|n| n.alertname == "TaskQueueBacklog" && n.status == "resolved")
        .expect("resolution");
    assert_eq!(resolution.alert_statuses, ["resolved"], "{resolution:?}");
    assert!(
        !got.iter()
            .any(|n| n.alertname == "HighLatency" && n.service == "orders" && n.receiver != "chat"),
        "{got:#?}"
    );
}
