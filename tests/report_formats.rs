//! Every report file format produced from one realistic run: results.json against the schema
//! (and a broken document rejected), junit.xml parsed back, report.md with its plot files,
//! report.html self-contained, escaped, and rendered by headless Chromium, and the
//! `gauntlet report` re-render path.

mod report_support;

use std::path::Path;
use std::time::Duration;

use gauntlet::report::{
    self, ExpectationStatus, ReportArgs, ReportFormat, RunResults, html, json, junit, markdown,
};
use report_support::realistic;

fn schema() -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/report.schema.json");
    let text = std::fs::read_to_string(&path).expect("schema file exists");
    serde_json::from_str(&text).expect("schema is JSON")
}

fn validation_errors(instance: &serde_json::Value) -> Vec<String> {
    let schema = schema();
    let validator = jsonschema::draft202012::new(&schema).expect("schema compiles");
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect()
}

#[test]
fn schema_is_a_valid_2020_12_schema() {
    let schema = schema();
    jsonschema::draft202012::meta::validate(&schema).expect("valid against the meta-schema");
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
}

#[test]
fn results_json_validates_against_the_schema() {
    let text = json::to_string(&realistic()).expect("serializable");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(validation_errors(&doc), Vec::<String>::new());
    // Realistic values really are in the document the schema accepted.
    assert_eq!(
        doc["scenarios"][0]["expectations"][2]["time_to_detect_ms"],
        8120
    );
    assert_eq!(doc["scenarios"][0]["status"], "missed");
}

#[test]
fn broken_results_are_rejected_by_the_schema() {
    let text = json::to_string(&realistic()).expect("serializable");
    let good: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    type Mutation = fn(&mut serde_json::Value);
    let cases: [(&str, Mutation); 6] = [
        ("unknown status", |d| {
            d["scenarios"][0]["status"] = "passed".into()
        }),
        ("negative time", |d| {
            d["scenarios"][0]["expectations"][1]["time_to_detect_ms"] = (-5).into()
        }),
        ("missing deadline", |d| {
            d["scenarios"][0]["expectations"][1]
                .as_object_mut()
                .expect("object")
                .remove("deadline_ms");
        }),
        ("future version", |d| d["format_version"] = 4.into()),
        ("bad timestamp", |d| d["started_at"] = "yesterday".into()),
        ("skipped without reason", |d| {
            d["scenarios"][0]["expectations"][7]["skipped_reason"] = serde_json::Value::Null
        }),
    ];
    for (what, mutate) in cases {
        let mut doc = good.clone();
        mutate(&mut doc);
        let errors = validation_errors(&doc);
        assert!(
            !errors.is_empty(),
            "{what}: the schema accepted a broken document"
        );
    }
}

#[test]
fn results_json_round_trips_through_write_all() {
    let dir = tempfile::tempdir().expect("temp dir");
    let results = realistic();
    let written = report::write_all(dir.path(), &results, &[ReportFormat::Json]).expect("written");
    assert_eq!(written, vec![dir.path().join("results.json")]);
    let back = json::read(&written[0]).expect("reads back");
    assert_eq!(back, results);
}

#[test]
fn junit_has_one_suite_per_scenario_and_failure_details() {
    let results = realistic();
    let xml = junit::to_string(&results).expect("serializes");
    let parsed = quick_junit::Report::deserialize_from_str(&xml).expect("junit parses back");
    assert_eq!(parsed.test_suites.len(), 3);
    let orders = &parsed.test_suites[0];
    assert_eq!(orders.name.as_str(), "orders-error-burst");
    assert_eq!(orders.tests, 10);
    assert_eq!(orders.failures, 1);
    assert_eq!(orders.errors, 0);
    assert_eq!(orders.skipped, 1);
    let missed = orders
        .test_cases
        .iter()
        .find(|c| c.name.as_str().starts_with("expect[5]"))
        .expect("the missed expectation is a testcase");
    match &missed.status {
        quick_junit::TestCaseStatus::NonSuccess {
            kind: quick_junit::NonSuccessKind::Failure,
            message,
            ..
        } => {
            let m = message.as_ref().expect("has a message").as_str();
            assert!(m.contains("0 exemplars with trace_id at 35.0s"), "{m}");
            assert!(m.contains("within 15s"), "{m}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    let alert = orders
        .test_cases
        .iter()
        .find(|c| c.name.as_str().starts_with("expect[1]"))
        .expect("alert testcase");
    assert_eq!(alert.time, Some(Duration::from_millis(8_120)));
    let skipped = orders
        .test_cases
        .iter()
        .find(|c| c.name.as_str().starts_with("expect[6]"))
        .expect("skipped testcase");
    match &skipped.status {
        quick_junit::TestCaseStatus::Skipped { message, .. } => assert!(
            message
                .as_ref()
                .expect("reason")
                .as_str()
                .contains("grafana is not installed")
        ),
        other => panic!("expected skipped, got {other:?}"),
    }
    // The skipped scenario has one skipped testcase carrying the reason.
    let kube = &parsed.test_suites[2];
    assert_eq!((kube.tests, kube.skipped), (1, 1));
    assert_eq!(parsed.tests, 10 + 4 + 1);
    assert_eq!((parsed.failures, parsed.skipped), (1, 2));
}

fn expected_table_rows(results: &RunResults) -> usize {
    results.scenarios.iter().map(|s| s.expectations.len()).sum()
}

#[test]
fn markdown_has_tables_and_images_that_exist() {
    let dir = tempfile::tempdir().expect("temp dir");
    let results = realistic();
    let written = markdown::write(dir.path(), &results).expect("written");
    let md = std::fs::read_to_string(dir.path().join("report.md")).expect("report.md");
    assert_eq!(written[0], dir.path().join("report.md"));
    for heading in [
        "## What was tested",
        "## Verdict per scenario",
        "### Alerts",
        "### Notifications",
        "### Instrumentation overhead — met",
    ] {
        assert!(md.contains(heading), "missing {heading}");
    }
    assert!(md.contains("| loki | unknown | recorded | **no (recorded)** |"));
    assert!(md.contains(
        "| orders-error-burst | `scenarios/orders-error-burst.yaml` | missed | 8 | 1 | 1 |"
    ));
    // Every expectation is a table row: rows start with "| <id> |".
    let rows = md
        .lines()
        .filter(|l| {
            l.starts_with("| expect\\[")
                || l.starts_with("| recover.expect\\[")
                || l.starts_with("| steady-state.expect\\[")
                || l.starts_with("| overhead |")
        })
        .count();
    assert_eq!(rows, expected_table_rows(&results));
    assert!(md.contains(r#"| expect\[1\] | alert HighErrorRate{service="orders"} firing | faults | met | 8.1s | 20s | 7s | 11.9s |"#), "{md}");
    // Image links point at files that exist and are SVG.
    let images: Vec<&str> = md
        .lines()
        .filter_map(|l| l.strip_prefix("!["))
        .filter_map(|l| l.split("](").nth(1))
        .map(|l| l.trim_end_matches(')'))
        .collect();
    assert_eq!(
        images.len(),
        4,
        "timeline + ttd for the two scenarios that ran"
    );
    for img in images {
        let path = dir.path().join(img);
        let svg = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{img}: {e}"));
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.ends_with("</svg>"));
        assert!(written.contains(&path));
    }
}

#[test]
fn html_is_self_contained_and_escapes_user_text() {
    let mut results = realistic();
    results.scenarios[0].expectations[1].description =
        "<script>alert('x')</script> & \"quotes\"".into();
    results.scenarios[0].faults[0].name = "<img src=x onerror=alert(1)>".into();
    let page = html::render(&results);
    assert!(
        !page.contains("<script"),
        "user text reached the page unescaped"
    );
    assert!(
        !page.contains("<img"),
        "user text reached the page unescaped"
    );
    assert!(
        page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;quotes&quot;")
    );
    // No external fetch: the only URL is the SVG namespace (and the CSP forbids loads);
    // a fired alert's runbook URL is shown as text, never loaded.
    let urls: Vec<&str> = page
        .match_indices("://")
        .map(|(i, _)| &page[i.saturating_sub(8)..(i + 30).min(page.len())])
        .filter(|u| !u.contains("http://www.w3.org/2000/svg"))
        .filter(|u| !u.contains("https://runbooks.example/"))
        .collect();
    assert_eq!(urls, Vec::<&str>::new());
    assert!(page.contains("default-src 'none'"));
    assert_eq!(page.matches("<svg ").count(), 4);
    assert!(page.contains("<h2>What was tested</h2>"));
}

#[test]
fn html_renders_in_headless_chromium() {
    let Some(chromium) = gauntlet::testing::require("chromium", gauntlet::testing::find_chromium())
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let written =
        report::write_all(dir.path(), &realistic(), &[ReportFormat::Html]).expect("written");
    let png = dir.path().join("report.png");
    gauntlet::testing::screenshot(&chromium, &written[0], &png, Duration::from_secs(120))
        .expect("chromium renders the report");
    let bytes = std::fs::read(&png).expect("screenshot written");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    // A blank page of this size compresses to a few KB; tables and plots make it far larger.
    assert!(
        bytes.len() > 60_000,
        "screenshot only {} bytes",
        bytes.len()
    );
    if let Ok(keep) = std::env::var("GAUNTLET_KEEP_SCREENSHOT") {
        // For a person to look at: the screenshot and the page itself.
        std::fs::copy(&png, &keep).expect("copy screenshot");
        std::fs::copy(&written[0], format!("{keep}.html")).expect("copy page");
    }
}

#[test]
fn rerender_and_cli_write_requested_formats() {
    let dir = tempfile::tempdir().expect("temp dir");
    let results = realistic();
    let all = report::write_all(dir.path(), &results, &ReportFormat::ALL).expect("written");
    let names: Vec<String> = all
        .iter()
        .map(|p| p.file_name().expect("file").to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "results.json",
            "junit.xml",
            "report.md",
            "report-01-orders-error-burst-timeline.svg",
            "report-01-orders-error-burst-ttd.svg",
            "report-02-checkout-latency-timeline.svg",
            "report-02-checkout-latency-ttd.svg",
            "report.html",
        ]
    );
    let out = tempfile::tempdir().expect("temp dir");
    let junit_path = report::rerender(&all[0], ReportFormat::Junit, out.path()).expect("rerender");
    assert_eq!(
        std::fs::read_to_string(&junit_path[0]).expect("junit"),
        std::fs::read_to_string(&all[1]).expect("junit"),
        "re-rendered junit equals the original"
    );
    report::run_report_cli(ReportArgs {
        results: all[0].clone(),
        format: vec![ReportFormat::Html],
        out_dir: Some(out.path().join("nested")),
        summary: false,
    })
    .expect("cli runs");
    let page = std::fs::read_to_string(out.path().join("nested/report.html")).expect("html");
    assert_eq!(page, std::fs::read_to_string(&all[7]).expect("html"));
    // A corrupted results file is an error naming the field.
    let bad = out.path().join("bad.json");
    let text = std::fs::read_to_string(&all[0]).expect("json").replacen(
        "\"status\": \"missed\"",
        "\"status\": \"flaky\"",
        1,
    );
    std::fs::write(&bad, text).expect("write");
    let err = report::rerender(&bad, ReportFormat::Md, out.path()).expect_err("invalid");
    assert!(err.to_string().contains("scenarios[0].status"), "{err}");
    assert_eq!(
        results.scenarios[0].expectations[6].status,
        ExpectationStatus::Missed
    );
}

#[test]
#[ignore = "writes the realistic report to GAUNTLET_REPORT_OUT for a person to look at"]
fn write_sample_report() {
    let out = std::env::var("GAUNTLET_REPORT_OUT").expect("GAUNTLET_REPORT_OUT");
    report::write_all(Path::new(&out), &realistic(), &ReportFormat::ALL).expect("written");
}

/// What gauntlet changed in the user's configuration is in every format, per scenario.
#[test]
fn config_notes_appear_in_every_format() {
    let results = realistic();
    let note = "receiver pager: pagerduty → gauntlet webhook sink";
    assert!(results.scenarios[0].config_notes.iter().any(|n| n == note));
    let md = markdown::render(&results).markdown;
    assert!(
        md.contains("### Configuration\n\n- alertmanager: alerts.yml"),
        "{md}"
    );
    assert!(md.contains(note), "{md}");
    let page = html::render(&results);
    assert!(page.contains(&format!("<li>{note}</li>")), "{page}");
    let xml = junit::to_string(&results).expect("junit");
    assert!(
        xml.contains(&format!(r#"<property name="config-note" value="{note}"/>"#)),
        "{xml}"
    );
    let json = serde_json::to_value(&results).expect("json");
    assert_eq!(json["scenarios"][0]["config_notes"][1], note);
}

#[test]
fn every_format_names_the_load_engine_and_a_closed_model_carries_its_caveat() {
    let mut results = realistic();
    let closed = results.scenarios[1]
        .load
        .as_mut()
        .expect("the fixture has load");
    closed.engine = report::LoadEngine::Goose;
    closed.users = Some(12);
    closed.sessions = Some(11);

    let text = json::to_string(&results).expect("serializable");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(validation_errors(&doc), Vec::<String>::new());
    assert_eq!(doc["scenarios"][0]["load"]["engine"], "open");
    assert_eq!(doc["scenarios"][1]["load"]["engine"], "goose");
    assert_eq!(doc["scenarios"][1]["load"]["users"], 12);
    assert_eq!(doc["scenarios"][1]["load"]["sessions"], 11);
    let mut bad = doc.clone();
    bad["scenarios"][1]["load"]["engine"] = "locust".into();
    assert!(
        !validation_errors(&bad).is_empty(),
        "unknown engine accepted"
    );

    let md = markdown::render(&results).markdown;
    let page = html::render(&results);
    for out in [&md, &page] {
        assert!(out.contains("Engine: gauntlet open model"), "{out}");
        assert!(
            out.contains("Engine: goose closed model (12 users, 11 logged in)"),
            "{out}"
        );
        assert!(out.contains("Coordinated omission"), "{out}");
        assert_eq!(
            out.matches("Coordinated omission").count(),
            1,
            "only the goose run"
        );
    }
}
