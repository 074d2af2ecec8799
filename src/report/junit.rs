//! `junit.xml` for CI test tabs, built with quick-junit
//! (<https://docs.rs/quick-junit/0.8>): one `<testsuite>` per scenario, one `<testcase>` per
//! expectation. A missed expectation is a `<failure>` carrying the last value seen and the
//! deadline; a skipped one is `<skipped>` with the reason; a testcase's `time` is its
//! time-to-detect. A harness error adds an `<error>` testcase named `scenario`.

use std::path::Path;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::model::{ExpectationResult, ExpectationStatus, RunResults, ScenarioStatus};
use super::output::ReportError;
use super::text::{fmt_ms, fmt_opt_ms};

/// File name used inside a report directory.
pub const JUNIT_FILE: &str = "junit.xml";

/// Builds the quick-junit report for `results`.
pub fn build(results: &RunResults) -> Report {
    let mut report = Report::new("gauntlet");
    let mut total = Duration::ZERO;
    for scenario in &results.scenarios {
        let mut suite = TestSuite::new(scenario.name.as_str());
        let duration = Duration::from_millis(scenario.duration_ms);
        total += duration;
        suite.set_time(duration);
        suite.add_property(Property::new("file", scenario.file.as_str()));
        suite.add_property(Property::new("status", scenario.status.as_str()));
        for note in &scenario.config_notes {
            suite.add_property(Property::new("config-note", note.as_str()));
        }
        for e in &scenario.expectations {
            suite.add_test_case(test_case(&scenario.name, e));
        }
        match scenario.status {
            ScenarioStatus::Error => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                status.set_message(
                    scenario
                        .error
                        .as_deref()
                        .unwrap_or("the harness failed without a message"),
                );
                status.set_type("harness-error");
                let mut case = TestCase::new("scenario", status);
                case.set_classname(scenario.name.as_str());
                suite.add_test_case(case);
            }
            ScenarioStatus::Skipped if scenario.expectations.is_empty() => {
                let mut status = TestCaseStatus::skipped();
                status.set_message(
                    scenario
                        .skipped_reason
                        .as_deref()
                        .unwrap_or("skipped without a reason"),
                );
                let mut case = TestCase::new("scenario", status);
                case.set_classname(scenario.name.as_str());
                suite.add_test_case(case);
            }
            _ => {}
        }
        report.add_test_suite(suite);
    }
    report.set_time(total);
    report
}

fn test_case(scenario: &str, e: &ExpectationResult) -> TestCase {
    let status = match e.status {
        ExpectationStatus::Met => TestCaseStatus::success(),
        ExpectationStatus::Missed => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(format!(
                "not observed within {}; last observed: {}",
                fmt_ms(e.deadline_ms),
                e.last_observed.as_deref().unwrap_or("nothing")
            ));
            s.set_type(format!("{}-missed", e.kind.as_str()));
            s.set_description(format!(
                "expectation: {}\nphase: {}\ndeadline: {}\nfloor: {}\nlast observed: {}\nbackend: {}",
                e.description,
                e.phase.as_str(),
                fmt_ms(e.deadline_ms),
                fmt_opt_ms(e.floor_ms),
                e.last_observed.as_deref().unwrap_or("nothing"),
                e.backend_label(),
            ));
            s
        }
        ExpectationStatus::Skipped => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(
                e.skipped_reason
                    .as_deref()
                    .unwrap_or("skipped without a reason"),
            );
            s
        }
    };
    let mut case = TestCase::new(format!("{}: {}", e.id, e.description), status);
    case.set_classname(scenario);
    if let Some(ttd) = e.time_to_detect_ms {
        case.set_time(Duration::from_millis(ttd));
    }
    case.add_property(Property::new("kind", e.kind.as_str()));
    case.add_property(Property::new("phase", e.phase.as_str()));
    case.add_property(Property::new("deadline_ms", e.deadline_ms.to_string()));
    if let Some(floor) = e.floor_ms {
        case.add_property(Property::new("floor_ms", floor.to_string()));
    }
    case.add_property(Property::new("backend", e.backend.as_str()));
    case.add_property(Property::new("backend_real", e.backend_real.to_string()));
    case
}

/// Serializes the JUnit XML of `results`.
pub fn to_string(results: &RunResults) -> Result<String, ReportError> {
    build(results).to_string().map_err(ReportError::Junit)
}

/// Writes `junit.xml` for `results` to `path`.
pub fn write(path: &Path, results: &RunResults) -> Result<(), ReportError> {
    let xml = to_string(results)?;
    super::output::write_file(path, xml.as_bytes())
}
