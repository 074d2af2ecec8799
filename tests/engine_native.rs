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
