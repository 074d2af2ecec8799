//! Prometheus 3.16 / Alertmanager 0.31 beside Debian's 2.42 / 0.25, for real: the shipped
//! rule files pass the 3.16 promtool (check and unit tests), the native stack starts with the
//! provisioned 3.16 build and says so, every target it scrapes is up (including one that
//! sends no `Content-Type`, which 3.x scrapes only because of `fallback_scrape_protocol`),
//! and a representative subset of the shipped scenarios is met on 3.16. The whole matrix
//! (every scenario on both versions) is `.ci/nightly`.
//!
//! The scenarios on 3.16 and why these: `error-burst` (a rate alert fires, pages, resolves;
//! traces, logs and correlation through the same stack), `service-down` (`up == 0` after a
//! kill, page, resolve), `latency-spike` (`histogram_quantile` over classic buckets, whose `le`
//! labels 3.x normalizes), `slo-fast-burn` (recording rules over `le="0.5"` buckets and the
//! multi-window burn rate, plus the SLO dashboard). Together they exercise every rule family
//! the shipped rules use; the rest reuse the same rules with other faults.
//!
//! Runs one stack at a time (a lock): timing on a 2-core machine is part of what is tested.

mod config_common;

use std::ffi::OsStr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use config_common::{describe, files_in, run, stack_dir};
use gauntlet::stack::native::NativeBinaries;
use gauntlet::stack::versions::Tool;
use gauntlet::stack::{NativeStack, PrometheusVersion, StackConfig};
use gauntlet::testing::require;

/// One real stack at a time in this binary.
static STACK: Mutex<()> = Mutex::new(());

fn three() -> Option<NativeBinaries> {
    require(
        "Prometheus 3.16 and Alertmanager 0.31 (scripts/provision.sh builds them)",
        NativeBinaries::find_for(PrometheusVersion::V3_16).map_err(|e| e.to_string()),
    )
}

fn tool(t: Tool) -> Option<PathBuf> {
    require("a Prometheus 3.16 tool", PrometheusVersion::V3_16.find(t))
}

/// The shipped rules load in 3.16 and their unit tests pass there too, except one value that
/// the left-open windows of 3.x change (a finding, pinned here and listed in the README): 5 s
/// after the last error, the 10s window of `HighErrorRate` holds 50 errors among 150
/// requests in 2.42 (33.33 %) but 40 among 130 in 3.16 (30.77 %). The alert still fires and
/// clears at the same evaluations; only the share quoted in its annotations differs.
#[test]
fn shipped_rules_pass_the_3_16_promtool_except_the_pinned_window_difference() {
    let Some(promtool) = tool(Tool::Promtool) else {
        return;
    };
    let rules = files_in(&stack_dir().join("prometheus/rules"), "yml");
    let args: Vec<&OsStr> = [OsStr::new("check"), OsStr::new("rules")]
        .into_iter()
        .chain(rules.iter().map(|f| f.as_os_str()))
        .collect();
    let output = run(&promtool, &args);
    assert!(
        output.status.success(),
        "promtool 3.16 check rules failed\n{}",
        describe(&output)
    );

    for test in files_in(&stack_dir().join("prometheus/tests"), "yml") {
        let output = run(
            &promtool,
            &[OsStr::new("test"), OsStr::new("rules"), test.as_os_str()],
        );
        let text = describe(&output);
        let name = test
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name != "services_fast_test.yml" {
            assert!(
                output.status.success(),
                "promtool 3.16 test rules {name}\n{text}"
            );
            continue;
        }
        assert!(
            !output.status.success(),
            "the 3.16 window difference is gone?\n{text}"
        );
        assert_eq!(text.matches("FAILED:").count(), 1, "{text}");
        for expected in [
            "name: HighErrorRate fires and clears on the 10s window",
            "time: 3m5s",
            "(now 33.33%)",
            "(now 30.77%)",
        ] {
            assert!(text.contains(expected), "{expected:?} not in\n{text}");
        }
    }
}

#[test]
fn the_3_16_tools_print_their_release() {
    for (t, expected) in [
        (Tool::Prometheus, "prometheus, version 3.16.0 "),
        (Tool::Promtool, "promtool, version 3.16.0 "),
        (Tool::Alertmanager, "alertmanager, version 0.31.1 "),
        (Tool::Amtool, "amtool, version 0.31.1 "),
    ] {
        let Some(path) = tool(t) else { return };
        let output = run(&path, &[OsStr::new("--version")]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(text.starts_with(expected), "{}: {text}", path.display());
    }
}

#[test]
fn the_shipped_alertmanager_template_passes_amtool_0_31() {
    let Some(amtool) = tool(Tool::Amtool) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let text =
        gauntlet::stack::native::alertmanager_config(&StackConfig::for_tests()).expect("renders");
    let file = dir.path().join("alertmanager.yml");
    std::fs::write(&file, text).expect("write");
    let output = run(&amtool, &[OsStr::new("check-config"), file.as_os_str()]);
    assert!(output.status.success(), "{}", describe(&output));
}

/// A `/metrics` that sends no `Content-Type` at all.
async fn serve_untyped_metrics() -> String {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(|| async {
            let mut r = axum::response::Response::new(axum::body::Body::from(
                "# TYPE untyped_ticks counter\nuntyped_ticks_total 7\n",
            ));
            r.headers_mut().remove(axum::http::header::CONTENT_TYPE);
            r
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr.to_string()
}

#[test]
fn the_3_16_stack_starts_names_its_versions_and_scrapes_every_target() {
    let Some(binaries) = three() else { return };
    let _one = STACK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(stack_on_3_16(binaries));
}

async fn stack_on_3_16(binaries: NativeBinaries) {
    let untyped = serve_untyped_metrics().await;
    let mut config = StackConfig::for_tests();
    config.prometheus_version = PrometheusVersion::V3_16;
    config.scrape_targets = vec![("untyped".to_string(), vec![untyped.clone()])];
    let stack = NativeStack::start_with(&config, &binaries)
        .await
        .unwrap_or_else(|e| panic!("the 3.16 stack failed to start: {e}"));
    eprintln!("{}", stack.describe());
    let version = |name: &str| {
        stack
            .components()
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.version.clone())
    };
    assert_eq!(version("prometheus").as_deref(), Some("3.16.0"));
    assert_eq!(version("alertmanager").as_deref(), Some("0.31.1"));

    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let prom = stack.urls().prometheus.clone();
    let info: serde_json::Value = client
        .get(prom.join("api/v1/status/buildinfo").expect("url"))
        .send()
        .await
        .expect("buildinfo")
        .json()
        .await
        .expect("json");
    assert_eq!(info["data"]["version"], "3.16.0", "{info}");

    // Every target, the stack's own and the untyped one, is scraped and up.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last: String;
    let all_up = loop {
        let v: serde_json::Value = match client
            .get(prom.join("api/v1/targets").expect("url"))
            .send()
            .await
        {
            Ok(r) => r.json().await.unwrap_or_default(),
            Err(e) => serde_json::json!({ "error": e.to_string() }),
        };
        let active = v["data"]["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let down: Vec<String> = active
            .iter()
            .filter(|t| t["health"] != "up")
            .map(|t| format!("{} {}: {}", t["labels"]["job"], t["health"], t["lastError"]))
            .collect();
        let jobs: Vec<&str> = active
            .iter()
            .filter_map(|t| t["labels"]["job"].as_str())
            .collect();
        last = format!("jobs {jobs:?}, not up: {down:?}");
        if down.is_empty() && jobs.contains(&"untyped") && jobs.len() >= 7 {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    stack.stop().await;
    assert!(all_up, "not every target is up on 3.16: {last}");
}

/// Runs a shipped scenario on 3.16; every expectation must be met.
fn scenario_on_3_16(name: &str) {
    if three().is_none() {
        return;
    }
    let _one = STACK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(format!("{name}.yaml"));
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_gauntlet"));
    let report_dir = tempfile::tempdir().expect("tempdir");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let run = runtime
        .block_on(gauntlet::testing::run_file_with_version(
            &file,
            PrometheusVersion::V3_16,
            &exe,
            report_dir.path(),
        ))
        .unwrap_or_else(|e| panic!("{name} on 3.16 did not run: {e}: {e:?}"));
    let r = &run.result;
    let versions = r
        .stack_versions
        .as_ref()
        .expect("the report names the versions");
    assert_eq!(versions.selected.as_deref(), Some("3.16"));
    assert_eq!(versions.prometheus.as_deref(), Some("3.16.0"));
    assert_eq!(versions.alertmanager.as_deref(), Some("0.31.1"));
    for e in &r.expectations {
        eprintln!(
            "  {:<7} {} {} ttd={:?}ms deadline={}ms last={}",
            e.status.as_str(),
            e.id,
            e.description,
            e.time_to_detect_ms,
            e.deadline_ms,
            e.last_observed.as_deref().unwrap_or("-")
        );
    }
    assert!(!r.expectations.is_empty(), "{name} decided nothing");
    gauntlet::testing::assert_all_met(r);
}

#[test]
fn error_burst_is_met_on_3_16() {
    scenario_on_3_16("error-burst");
}

#[test]
fn service_down_is_met_on_3_16() {
    scenario_on_3_16("service-down");
}

#[test]
fn latency_spike_is_met_on_3_16() {
    scenario_on_3_16("latency-spike");
}

#[test]
fn slo_fast_burn_is_met_on_3_16() {
    scenario_on_3_16("slo-fast-burn");
}

/// `gauntlet <args>` with no provisioned tools at all: an empty `$GAUNTLET_HOME` and a `PATH`
/// without any Prometheus.
fn gauntlet_without_tools(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    let empty_bin = dir.join("bin");
    std::fs::create_dir_all(&empty_bin).expect("mkdir");
    std::process::Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .args(args)
        .current_dir(dir)
        .env("GAUNTLET_HOME", dir)
        .env("PATH", &empty_bin)
        .env_remove("GAUNTLET_PROMETHEUS")
        .env_remove("GAUNTLET_ALERTMANAGER")
        .output()
        .expect("runs gauntlet")
}

#[test]
fn check_refuses_a_version_that_is_not_provisioned_naming_file_line_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("three.yaml");
    std::fs::write(
        &file,
        "name: three\nstack:\n  prometheus-version: \"3.16\"\nload: { rate: 10/s, duration: 30s }\n",
    )
    .expect("write");
    let out = gauntlet_without_tools(&["check", "three.yaml"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let home_bin = dir.path().join("bin");
    let expected = format!(
        "three.yaml:3:23: stack.prometheus-version: Prometheus 3.16 (with Alertmanager 0.31) is not provisioned here: \
         prometheus-3.16 not found in {} or PATH; run scripts/provision.sh",
        home_bin.display()
    );
    assert!(stderr.contains(&expected), "{stderr}\nexpected: {expected}");
}

#[test]
fn run_refuses_unknown_and_unprovisioned_versions_before_starting_anything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("plain.yaml");
    std::fs::write(&file, "name: plain\nload: { rate: 10/s, duration: 30s }\n").expect("write");
    let out = gauntlet_without_tools(
        &["run", "plain.yaml", "--prometheus-version", "2.53"],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--prometheus-version \"2.53\": unknown version (known: 2.42, 3.16)"),
        "{stderr}"
    );
    let out = gauntlet_without_tools(
        &["run", "plain.yaml", "--prometheus-version", "3.16"],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("Prometheus 3.16 (with Alertmanager 0.31) is not provisioned here"),
        "{stderr}"
    );
    let out = gauntlet_without_tools(&["run", "plain.yaml", "--matrix"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--matrix: no Prometheus version is provisioned here"),
        "{stderr}"
    );
}

/// The range-vector change of Prometheus 3, measured with each version's own promtool: a
/// window `[5s]` evaluated at 10s holds the samples at 5s..10s in 2.42 (closed on the left)
/// and 6s..10s in 3.16 (left-open). An expression over a window therefore loses an old
/// sample one scrape interval sooner in 3.x: alerts on windows clear about one interval
/// earlier, which the version matrix shows as a shorter time to `resolved`.
#[test]
fn range_windows_lose_their_left_edge_sample_in_3_16() {
    let cases = [(PrometheusVersion::V2_42, 6), (PrometheusVersion::V3_16, 5)];
    for (version, samples_in_window) in cases {
        let Some(promtool) = require(
            &format!("promtool of Prometheus {version}"),
            version.find(Tool::Promtool),
        ) else {
            continue;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("rules.yml"), "groups: []\n").expect("write");
        let test = format!(
            "rule_files: [rules.yml]\nevaluation_interval: 1s\ntests:\n  - interval: 1s\n    input_series:\n      - series: ticks\n        values: '0+1x20'\n    promql_expr_test:\n      - expr: count_over_time(ticks[5s])\n        eval_time: 10s\n        exp_samples:\n          - labels: '{{}}'\n            value: {samples_in_window}\n"
        );
        let file = dir.path().join("window_test.yml");
        std::fs::write(&file, test).expect("write");
        let output = run(
            &promtool,
            &[OsStr::new("test"), OsStr::new("rules"), file.as_os_str()],
        );
        assert!(
            output.status.success(),
            "Prometheus {version}: a [5s] window at 10s should hold {samples_in_window} samples\n{}",
            describe(&output)
        );
    }
}

/// A rule 2.42 accepts and 3.16 refuses (`holt_winters` was renamed in 3.0): `gauntlet run`
/// on 3.16 stops before starting the stack, with promtool's words, and exits 2.
#[test]
fn a_rule_3_16_refuses_stops_the_run_with_promtools_message() {
    let Some(promtool_3) = tool(Tool::Promtool) else {
        return;
    };
    let Some(promtool_2) = require(
        "promtool of Prometheus 2.42",
        PrometheusVersion::V2_42.find(Tool::Promtool),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("rules")).expect("mkdir");
    let rule = dir.path().join("rules/smoothing.yml");
    std::fs::write(
        &rule,
        "groups:\n  - name: smoothing\n    rules:\n      - record: job:requests:smoothed\n        expr: holt_winters(sum by (job) (rate(http_requests_total[1m]))[10m:1m], 0.5, 0.5)\n",
    )
    .expect("write");
    let check = |promtool: &PathBuf| {
        run(
            promtool,
            &[OsStr::new("check"), OsStr::new("rules"), rule.as_os_str()],
        )
    };
    let two = check(&promtool_2);
    assert!(two.status.success(), "2.42 accepts it: {}", describe(&two));
    assert!(!check(&promtool_3).status.success(), "3.16 refuses it");

    std::fs::write(
        dir.path().join("smoothing.yaml"),
        "name: smoothing\nstack: { rules: [rules/] }\nload: { rate: 5/s, duration: 10s }\n",
    )
    .expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .args([
            "run",
            "smoothing.yaml",
            "--prometheus-version",
            "3.16",
            "--no-progress",
            "--report-dir",
            "out",
        ])
        .current_dir(dir.path())
        .output()
        .expect("runs gauntlet");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("Prometheus 3.16's promtool")
            && text.contains("unknown function with name \"holt_winters\""),
        "{text}"
    );
    assert!(!text.contains("phase services"), "nothing ran: {text}");
}
