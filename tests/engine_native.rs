//! The engine against the real native stack, through the CLI as users run it: a missed
//! expectation is reported with its last value and exit code 1, and every report format is
//! produced from that real run and checked.

use std::path::{Path, PathBuf};
use std::process::Command;

use gauntlet::report::{ExpectationStatus, RunResults, ScenarioStatus};
use gauntlet::stack::native::NativeBinaries;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn gauntlet_run(scenario: &Path, report_dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .args(["run", "--no-progress", "--report-dir"])
        .arg(report_dir)
        .arg(scenario)
        .current_dir(root())
        .output()
        .expect("runs gauntlet")
}

#[test]
fn impossible_deadline_is_missed_with_last_value_and_every_report_is_written() {
    if gauntlet::testing::require("native stack", NativeBinaries::available()).is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let out = gauntlet_run(
        &root().join("fixtures/engine/impossible-deadline.yaml"),
        dir.path(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a missed expectation exits 1\n{stdout}\n{stderr}"
    );

    // results.json: the miss carries the last value seen, the met one its time-to-detect.
    let results_path = dir.path().join("results.json");
    let text = std::fs::read_to_string(&results_path).expect("results.json written");
    let results: RunResults = serde_json::from_str(&text).expect("results.json parses");
    let scenario = &results.scenarios[0];
    assert_eq!(scenario.status, ScenarioStatus::Missed);
    let missed = &scenario.expectations[0];
    assert_eq!(missed.status, ExpectationStatus::Missed, "{missed:?}");
    let last = missed
        .last_observed
        .as_deref()
        .expect("a miss records what it last saw");
    assert!(last.contains("empty result"), "{last}");
    assert_eq!(missed.deadline_ms, 3000);
    let met = &scenario.expectations[1];
    assert_eq!(met.status, ExpectationStatus::Met, "{met:?}");
    let ttd = met
        .time_to_detect_ms
        .expect("met expectations have a time-to-detect");
    assert!(ttd <= 8000, "{ttd}");
    assert!(
        results
            .environment
            .components
            .iter()
            .any(|c| c.name.contains("prometheus") && c.real)
    );
    let load = scenario.load.as_ref().expect("load summary");
    assert!(load.requests > 50 && load.failures > 0, "{load:?}");
    assert!(!scenario.timeseries.is_empty());

    // The JSON validates against the published schema.
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("fixtures/report.schema.json")).expect("schema"),
    )
    .expect("schema parses");
    let instance: serde_json::Value = serde_json::from_str(&text).expect("json");
    let validator = jsonschema::validator_for(&schema).expect("valid schema");
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");

    // JUnit: one testcase per expectation, the miss as a failure with its last value.
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).expect("junit.xml");
    let report = quick_junit::Report::deserialize_from_str(&junit).expect("junit parses");
    assert_eq!(report.tests, 2);
    assert_eq!(report.failures, 1);
    assert!(junit.contains("empty result"));

    // Markdown: tables and image links to SVGs that exist.
    let md = std::fs::read_to_string(dir.path().join("report.md")).expect("report.md");
    assert!(md.contains("| "), "tables");
    let images: Vec<&str> = md
        .split("](")
        .skip(1)
        .filter_map(|s| s.split(')').next())
        .filter(|s| s.ends_with(".svg"))
        .collect();
    assert!(!images.is_empty(), "image references");
    for img in images {
        assert!(dir.path().join(img).is_file(), "{img} exists");
    }
    let html = std::fs::read_to_string(dir.path().join("report.html")).expect("report.html");
    assert!(html.contains("<svg") && html.contains("impossible-deadline"));

    // The real run's HTML report renders in a real browser.
    if let Some(chromium) =
        gauntlet::testing::require("chromium", gauntlet::testing::find_chromium())
    {
        let png = dir.path().join("report.png");
        gauntlet::testing::screenshot(
            &chromium,
            &dir.path().join("report.html"),
            &png,
            std::time::Duration::from_secs(120),
        )
        .expect("chromium renders the report");
        let bytes = std::fs::read(&png).expect("screenshot written");
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        assert!(
            bytes.len() > 30_000,
            "screenshot only {} bytes",
            bytes.len()
        );
    }
}

/// The scenario's `timeout` caps the run: an expectation that would wait ten minutes is cut
/// at the cap and reported missed as still pending; the reports are
/// written and the exit code is 1.
#[test]
fn the_timeout_caps_the_run_and_reports_what_was_pending() {
    if gauntlet::testing::require("native stack", NativeBinaries::available()).is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = dir.path().join("capped.yaml");
    std::fs::write(
        &scenario,
        "name: capped\n\
         stack: { provider: native, scrape-interval: 1s, evaluation-interval: 1s }\n\
         services: { instrumentation: metrics }\n\
         load: { rate: 5/s, duration: 8s, journeys: [browse] }\n\
         faults:\n  - { name: errors, at: 1s, for: 5s, kind: http-errors, service: products, rate: 0.5 }\n\
         expect:\n  - { metric: 'sum(rate(http_requests_total{status=\"599\"}[10s])) > 0', within: 10m }\n\
         timeout: 20s\n",
    )
    .expect("scenario");
    let started = std::time::Instant::now();
    let out = gauntlet_run(&scenario, &dir.path().join("report"));
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    // Stack start-up and teardown come on top of the 20 s cap.
    assert!(elapsed < std::time::Duration::from_secs(60), "{elapsed:?}");
    let text = std::fs::read_to_string(dir.path().join("report/results.json")).expect("results");
    let results: RunResults = serde_json::from_str(&text).expect("parses");
    let s = &results.scenarios[0];
    assert_eq!(s.status, ScenarioStatus::Missed);
    let e = &s.expectations[0];
    assert_eq!(e.status, ExpectationStatus::Missed);
    assert!(
        e.last_observed
            .as_deref()
            .is_some_and(|l| l.contains("still pending when the scenario timeout (20s)")),
        "{e:?}"
    );
    let fault = &s.faults[0];
    assert!(
        fault.rolled_back_at_ms.is_some() && fault.error.is_none(),
        "{fault:?}"
    );
}

/// `--repeat N` reports every repetition, numbered, not only the last one.
#[test]
fn repeated_runs_are_all_in_the_report() {
    if gauntlet::testing::require("native stack", NativeBinaries::available()).is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = dir.path().join("twice.yaml");
    std::fs::write(
        &scenario,
        "name: twice\n\
         stack: { provider: native, scrape-interval: 1s, evaluation-interval: 1s }\n\
         services: { instrumentation: metrics, only: [products] }\n\
         load: { rate: 5/s, duration: 3s, journeys: [health], target: products }\n\
         expect:\n  - { metric: 'up{service=\"products\"} == 1', within: 5s }\n",
    )
    .expect("scenario");
    let report = dir.path().join("report");
    let out = Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .args(["run", "--no-progress", "--repeat", "2", "--report-dir"])
        .arg(&report)
        .arg(&scenario)
        .current_dir(root())
        .output()
        .expect("runs gauntlet");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let text = std::fs::read_to_string(report.join("results.json")).expect("results");
    let results: RunResults = serde_json::from_str(&text).expect("parses");
    let reps: Vec<Option<u32>> = results.scenarios.iter().map(|s| s.repetition).collect();
    assert_eq!(reps, [Some(1), Some(2)]);
    let junit = std::fs::read_to_string(report.join("junit.xml")).expect("junit.xml");
    let junit = quick_junit::Report::deserialize_from_str(&junit).expect("junit parses");
    assert_eq!(
        junit.tests, 2,
        "one testcase per expectation per repetition"
    );
}
