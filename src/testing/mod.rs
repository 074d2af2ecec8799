//! Helpers for tests that need real backends, and (later) the public API for running a
//! scenario from a user's own `#[tokio::test]`.
//!
//! A test whose backend is missing reports *skipped with the reason*; when
//! `GAUNTLET_REQUIRE_STACK=1` (CI) the same situation fails the test instead.

/// Environment variable that turns a missing backend into a test failure.
pub const REQUIRE_STACK_ENV: &str = "GAUNTLET_REQUIRE_STACK";

/// Whether missing backends must fail tests (`GAUNTLET_REQUIRE_STACK=1`).
pub fn stack_required() -> bool {
    std::env::var(REQUIRE_STACK_ENV).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// Returns `Some(value)` when the backend is available; otherwise prints a `SKIPPED` line with
/// the reason and returns `None`, or panics (fails the test) under `GAUNTLET_REQUIRE_STACK=1`.
///
/// ```no_run
/// # fn find() -> Result<std::path::PathBuf, String> { Err("not installed".into()) }
/// let Some(bin) = gauntlet::testing::require("prometheus", find()) else { return };
/// ```
#[track_caller]
pub fn require<T>(what: &str, availability: Result<T, String>) -> Option<T> {
    match availability {
        Ok(v) => Some(v),
        Err(reason) if stack_required() => {
            panic!("{what} is required ({REQUIRE_STACK_ENV}=1) but unavailable: {reason}")
        }
        Err(reason) => {
            eprintln!("SKIPPED: {what} unavailable: {reason}");
            None
        }
    }
}

use std::path::{Path, PathBuf};

/// Starts the local Kubernetes control plane (`cluster::local`) for a test. Missing binaries
/// give `None` after a `SKIPPED` line (a failure under `GAUNTLET_REQUIRE_STACK=1`); any other
/// start error fails the test with the component's log, since the binaries are there and
/// should work.
pub async fn local_control_plane(
    options: &crate::cluster::LocalOptions,
) -> Option<crate::cluster::LocalControlPlane> {
    let binaries = require(
        "local kubernetes control plane",
        crate::cluster::KubeBinaries::find().map_err(|e| e.to_string()),
    )?;
    if options.kubelet.is_some() {
        require(
            "a real kubelet node",
            crate::cluster::local::node::NodeBinaries::find().map_err(|e| e.to_string()),
        )?;
    }
    match crate::cluster::LocalControlPlane::start_with(&binaries, options).await {
        Ok(plane) => Some(plane),
        Err(e) => panic!(
            "the local control plane did not start: {}",
            crate::error_chain::error_chain(&e)
        ),
    }
}

use crate::report::{ExpectationStatus, ScenarioResult};
use crate::runner::{RunContext, ScenarioRun};

/// Running a scenario from a test failed before any verdict (invalid file, stack down).
#[derive(Debug, thiserror::Error)]
pub enum TestingError {
    #[error("invalid scenario:\n{0}")]
    Invalid(crate::scenario::Diagnostics),
    #[error("the scenario could not run")]
    Run(#[source] crate::runner::RunError),
    #[error("cannot find the gauntlet binary (set GAUNTLET_BIN or put `gauntlet` on PATH)")]
    NoBinary,
    #[error("cannot list the scenarios in {dir}:\n{problems}")]
    Listing {
        dir: PathBuf,
        problems: crate::scenario::Diagnostics,
    },
}

/// Every scenario file directly in `dir` (`*.yaml`, `*.yml`), sorted, for a harness that runs
/// each as its own test. A directory that is missing, unreadable, not a directory or holds no
/// scenario is an error: a harness that made it zero tests would pass having tested nothing.
pub fn scenario_files(dir: &Path) -> Result<Vec<PathBuf>, TestingError> {
    let listing = |message: String| TestingError::Listing {
        dir: dir.to_path_buf(),
        problems: crate::scenario::Diagnostics(vec![crate::scenario::Diagnostic {
            file: dir.to_path_buf(),
            position: crate::scenario::source::Position { line: 1, column: 1 },
            field: String::new(),
            message,
            hint: None,
        }]),
    };
    if !dir.is_dir() {
        return Err(listing("not a directory (or missing)".to_string()));
    }
    let files = crate::scenario::collect(&[dir.to_path_buf()]).map_err(|problems| {
        TestingError::Listing {
            dir: dir.to_path_buf(),
            problems,
        }
    })?;
    if files.is_empty() {
        // `collect` already refuses an empty directory; this keeps the promise if it changes.
        return Err(listing("holds no .yaml or .yml scenario files".to_string()));
    }
    Ok(files)
}

/// The gauntlet binary that per-process services are started from: `$GAUNTLET_BIN`, else
/// `gauntlet` on `PATH`.
pub fn gauntlet_exe() -> Result<PathBuf, TestingError> {
    if let Some(bin) = std::env::var_os("GAUNTLET_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let path = std::env::var_os("PATH").ok_or(TestingError::NoBinary)?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("gauntlet"))
        .find(|p| p.is_file())
        .ok_or(TestingError::NoBinary)
}

/// Runs one scenario file against a real native stack, from a user's own `#[tokio::test]`:
///
/// ```no_run
/// # async fn t() {
/// let exe = gauntlet::testing::gauntlet_exe().expect("gauntlet installed");
/// let run = gauntlet::testing::run_file("scenarios/smoke.yaml", &exe, "target/gauntlet".as_ref())
///     .await
///     .expect("scenario ran");
/// gauntlet::testing::assert_all_met(&run.result);
/// # }
/// ```
pub async fn run_file(
    path: impl AsRef<Path>,
    exe: &Path,
    report_dir: &Path,
) -> Result<ScenarioRun, TestingError> {
    let scenario = crate::scenario::load(path.as_ref()).map_err(TestingError::Invalid)?;
    run_scenario(&scenario, exe, report_dir).await
}

/// [`run_file`] against another Prometheus/Alertmanager pairing than the file names (what
/// `gauntlet run --prometheus-version` does).
pub async fn run_file_with_version(
    path: impl AsRef<Path>,
    version: crate::stack::PrometheusVersion,
    exe: &Path,
    report_dir: &Path,
) -> Result<ScenarioRun, TestingError> {
    let scenario = crate::scenario::load(path.as_ref()).map_err(TestingError::Invalid)?;
    let scenario = crate::runner::versions::with_version(&scenario, version);
    run_scenario(&scenario, exe, report_dir).await
}

async fn run_scenario(
    scenario: &crate::scenario::Scenario,
    exe: &Path,
    report_dir: &Path,
) -> Result<ScenarioRun, TestingError> {
    let ctx = RunContext {
        exe: exe.to_path_buf(),
        report_dir: report_dir.to_path_buf(),
        events: None,
        workers: None,
        cancel: None,
    };
    crate::runner::run_scenario(scenario, &ctx)
        .await
        .map_err(TestingError::Run)
}

/// Panics with every missed or skipped expectation (and its last observed value) unless all
/// were met.
#[track_caller]
pub fn assert_all_met(result: &ScenarioResult) {
    let problems: Vec<String> = result
        .expectations
        .iter()
        .filter(|e| e.status != ExpectationStatus::Met)
        .map(|e| {
            format!(
                "  {} {} [{}]: {:?}; last observed: {}; deadline {} ms, floor {:?} ms{}",
                e.id,
                e.description,
                e.backend,
                e.status,
                e.last_observed.as_deref().unwrap_or("-"),
                e.deadline_ms,
                e.floor_ms,
                e.skipped_reason
                    .as_deref()
                    .map(|r| format!("; skipped: {r}"))
                    .unwrap_or_default()
            )
        })
        .collect();
    assert!(
        problems.is_empty() && result.error.is_none() && !result.expectations.is_empty(),
        "scenario {} was not fully met (error: {:?}):\n{}",
        result.name,
        result.error,
        problems.join("\n")
    );
}

/// A Chromium (or Chrome) binary on `PATH`, for tests that render reports.
pub fn find_chromium() -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|p| p.is_file())
        .ok_or_else(|| "no chromium on PATH (apt-get install chromium)".into())
}

/// Renders `html` in headless Chromium into the PNG `png` (1280×2000), bounded by `limit`.
/// Flags keep Chromium off the network and out of the user's profile.
pub fn screenshot(
    chromium: &Path,
    html: &Path,
    png: &Path,
    limit: std::time::Duration,
) -> Result<(), String> {
    let profile = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut child = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1280,2000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("chromium does not start: {e}"))?;
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return if status.success() {
                Ok(())
            } else {
                Err(format!("chromium exited with {status}"))
            };
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("chromium did not finish within {limit:?}"));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_scenarios_fails_loudly_instead_of_finding_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("missing");
        let err = scenario_files(&missing).expect_err("a missing directory is an error");
        assert!(err.to_string().contains("not a directory"), "{err}");

        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).expect("mkdir");
        std::fs::write(empty.join("notes.txt"), "not a scenario").expect("write");
        let err = scenario_files(&empty).expect_err("no scenario files is an error");
        assert!(err.to_string().contains("no .yaml or .yml"), "{err}");

        let file = empty.join("notes.txt");
        assert!(scenario_files(&file).is_err(), "a file is not a directory");

        std::fs::write(empty.join("a.yaml"), "name: a").expect("write");
        assert_eq!(
            scenario_files(&empty).expect("one scenario"),
            [empty.join("a.yaml")]
        );
    }
}
