//! Every file under `scenarios/` is its own test: it runs against the real native stack and
//! every expectation must be met. This is how `cargo test` runs a user's scenarios in CI.
//!
//! Scenarios run one at a time by default (`--test-threads N` to change): each starts a whole
//! stack, and timing on a 2-core machine is part of what is tested.
//!
//! `GAUNTLET_SCENARIOS=ci` (set by `.ci/run`) runs only [`CI_SUBSET`] and lists the others as
//! ignored, so a cold CI run stays inside its time budget; `.ci/nightly` runs every scenario
//! (on both Prometheus versions). Unset or `all`: every scenario.

use std::path::PathBuf;

use gauntlet::report::ExpectationStatus;
use gauntlet::stack::binaries::Binary;
use gauntlet::stack::native::NativeBinaries;
use libtest_mimic::{Arguments, Failed, Trial};

/// The scenarios CI runs: one per check family and fault mechanism. The rest run nightly;
/// `error-burst`, `service-down`, `latency-spike` and `slo-fast-burn` also run in CI on
/// Prometheus 3.16 (`tests/prometheus_versions.rs`).
const CI_SUBSET: &[&str] = &[
    "smoke",               // the quick start: metric, alert, page, resolve, trace, log, dashboard
    "overhead",            // CPU per request with its A/A noise floor (#16's CI promise)
    "closed-sessions",     // goose users with sessions, in a child process
    "telemetry-loss",      // completeness per fault window: collector killed, log store cut
    "opensearch-traces",   // Jaeger with OpenSearch as its span store
    "network-partition",   // the TCP fault proxy between services
    "hang",                // SIGSTOP / SIGCONT of a service process
    "replica-errors-otel", // replicas, per-replica faults, the otel-semconv dialect
    "slo-sloth",           // public Sloth-generated SLO rules, unchanged
    "dashboard-reacts",    // dashboard panels queried as Grafana would
];

/// Which scenarios this run takes: `Some(list)` for a subset, `None` for all.
fn selected() -> Result<Option<&'static [&'static str]>, String> {
    match std::env::var("GAUNTLET_SCENARIOS").as_deref() {
        Err(_) | Ok("all") | Ok("") => Ok(None),
        Ok("ci") => Ok(Some(CI_SUBSET)),
        Ok(other) => Err(format!(
            "GAUNTLET_SCENARIOS={other:?}: use `ci` (the CI subset) or `all`"
        )),
    }
}

fn main() {
    let mut args = Arguments::from_args();
    if args.test_threads.is_none() {
        args.test_threads = Some(1);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // A folder that cannot be listed must fail the run, not become zero tests and a pass.
    let files = match gauntlet::testing::scenario_files(&root.join("scenarios")) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("error: {e}");
            // What a failing libtest run exits with.
            std::process::exit(101);
        }
    };
    let subset = match selected() {
        Ok(subset) => subset,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(101);
        }
    };
    let stems: Vec<String> = files
        .iter()
        .map(|f| {
            f.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    if let Some(subset) = subset {
        // A renamed or deleted scenario must not shrink CI silently.
        let missing: Vec<&&str> = subset
            .iter()
            .filter(|n| !stems.iter().any(|s| s == *n))
            .collect();
        if !missing.is_empty() {
            eprintln!("error: the CI subset names scenarios that do not exist: {missing:?}");
            std::process::exit(101);
        }
        let nightly: Vec<&str> = stems
            .iter()
            .map(String::as_str)
            .filter(|s| !subset.contains(s))
            .collect();
        eprintln!(
            "GAUNTLET_SCENARIOS=ci: {} of {} scenarios run; nightly only (ignored here): {}",
            subset.len(),
            stems.len(),
            nightly.join(", ")
        );
    }
    let trials = files
        .into_iter()
        .zip(stems)
        .map(|(file, name)| {
            let ignored = subset.is_some_and(|s| !s.contains(&name.as_str()));
            Trial::test(name, move || run(file)).with_ignored_flag(ignored)
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

fn run(file: PathBuf) -> Result<(), Failed> {
    if gauntlet::testing::require("native stack", NativeBinaries::available()).is_none() {
        return Ok(());
    }
    // A scenario keeping spans in OpenSearch also needs the provisioned launcher.
    let wanted = gauntlet::scenario::load(&file).map_err(|e| Failed::from(e.to_string()))?;
    if wanted.stack.trace_store == gauntlet::stack::TraceStore::Opensearch
        && gauntlet::testing::require("OpenSearch", Binary::OpenSearch.find()).is_none()
    {
        return Ok(());
    }
    let report_dir = tempfile::tempdir().map_err(|e| Failed::from(e.to_string()))?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| Failed::from(e.to_string()))?;
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_gauntlet"));
    let run = runtime
        .block_on(gauntlet::testing::run_file(&file, &exe, report_dir.path()))
        .map_err(|e| Failed::from(format!("{e}: {e:?}")))?;
    let r = &run.result;
    let scenario = gauntlet::scenario::load(&file).map_err(|e| Failed::from(e.to_string()))?;
    let alert_for_ms = scenario.stack.alert_for.map_or(0, |d| d.as_millis() as u64);
    for e in &r.expectations {
        eprintln!(
            "  {:<7} {} {} ttd={:?}ms deadline={}ms floor={:?}ms last={}",
            format!("{:?}", e.status).to_lowercase(),
            e.id,
            e.description,
            e.time_to_detect_ms,
            e.deadline_ms,
            e.floor_ms,
            e.last_observed.as_deref().unwrap_or("-")
        );
        // The floor sums the intervals a reaction may wait through; a lucky alignment beats it
        // by up to one scrape and one evaluation, but `for` is a hard lower bound, checked here
        // for alerts: nothing fires sooner than its (compressed) `for`.
        if e.status == ExpectationStatus::Met
            && e.kind == gauntlet::report::ExpectationKind::Alert
            && e.description.ends_with(" firing")
            && let Some(ttd) = e.time_to_detect_ms
            && ttd < alert_for_ms
        {
            return Err(format!(
                "{} fired after {ttd} ms, before its `for` of {alert_for_ms} ms",
                e.id
            )
            .into());
        }
    }
    if let Some(closed) = scenario.load.as_ref().and_then(|l| l.closed) {
        closed_model_named(r, closed.users)?;
    }
    std::panic::catch_unwind(|| gauntlet::testing::assert_all_met(r)).map_err(|p| {
        Failed::from(
            p.downcast_ref::<String>()
                .cloned()
                .unwrap_or_else(|| "scenario not met".into()),
        )
    })
}

/// A closed-model run's report names goose as its engine, with its users and sessions, and
/// carries the coordinated-omission note (what Markdown and HTML print under the load table).
fn closed_model_named(r: &gauntlet::report::ScenarioResult, users: u32) -> Result<(), Failed> {
    let load = r
        .load
        .as_ref()
        .ok_or("a closed-model run reported no load")?;
    eprintln!(
        "  load engine {:?}: {} requests, {} failed, {} users, {:?} sessions, p95 {} ms",
        load.engine, load.requests, load.failures, users, load.sessions, load.p95_ms
    );
    let json = serde_json::to_value(load).map_err(|e| Failed::from(e.to_string()))?;
    let note = load.engine_note();
    if json["engine"] != "goose"
        || load.users != Some(users)
        || load.sessions.is_none_or(|s| s == 0)
        || load.requests == 0
        || !note.contains("goose closed model")
        || !note.contains("Coordinated omission")
    {
        return Err(
            format!("the report does not name the closed-model engine: {json} / {note}").into(),
        );
    }
    Ok(())
}
