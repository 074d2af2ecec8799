//! Sabotage tests (STYLE.md rule 25): the real native stack is broken on purpose and the
//! check that depends on the broken part must end **missed**, never met. A check that has
//! never been seen to fail is not yet a check.

use std::path::PathBuf;
use std::process::Command;

use gauntlet::report::{ExpectationKind, ExpectationStatus, RunResults};
use gauntlet::stack::native::NativeBinaries;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The collector's log export is blackholed (`collector -> log-store`) while `users` fails:
/// the `log:` check misses with what VictoriaLogs last held, while the trace check on the
/// same failures is met.
#[test]
fn log_check_misses_when_the_collector_cannot_reach_the_log_store() {
    if gauntlet::testing::require("native stack", NativeBinaries::available()).is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .args(["run", "--no-progress", "--report-dir"])
        .arg(dir.path())
        .arg(root().join("fixtures/engine/sabotage-log-export.yaml"))
        .current_dir(root())
        .output()
        .expect("runs gauntlet");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a missed expectation exits 1\n{stdout}\n{stderr}"
    );
    let text = std::fs::read_to_string(dir.path().join("results.json")).expect("results.json");
    let results: RunResults = serde_json::from_str(&text).expect("results.json parses");
    let scenario = &results.scenarios[0];
    assert!(scenario.error.is_none(), "{:?}", scenario.error);

    let log = scenario
        .expectations
        .iter()
        .find(|e| e.kind == ExpectationKind::Log)
        .expect("the log expectation");
    assert_eq!(log.status, ExpectationStatus::Missed, "{log:?}");
    assert_eq!(log.backend, "victorialogs", "{log:?}");
    assert!(log.backend_real, "{log:?}");
    assert!(log.time_to_detect_ms.is_none(), "{log:?}");
    // The miss says what the log store held since the errors began: nothing from users.
    let last = log
        .last_observed
        .as_deref()
        .expect("a miss records what it saw");
    assert!(last.starts_with("0 record(s) from users"), "{last}");

    let trace = scenario
        .expectations
        .iter()
        .find(|e| e.kind == ExpectationKind::Trace)
        .expect("the trace expectation");
    assert_eq!(trace.status, ExpectationStatus::Met, "{trace:?}");
}
