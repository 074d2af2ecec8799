//! Every file under `scenarios/` is its own test: it runs against the real native stack and
//! every expectation must be met. This is how `cargo test` runs a user's scenarios in CI.
//!
//! Scenarios run one at a time by default (`--test-threads N` to change): each starts a whole
//! stack, and timing on a 2-core machine is part of what is tested.

use std::path::PathBuf;

use gauntlet::report::ExpectationStatus;
use gauntlet::stack::native::NativeBinaries;
use libtest_mimic::{Arguments, Failed, Trial};

fn main() {
    let mut args = Arguments::from_args();
    if args.test_threads.is_none() {
        args.test_threads = Some(1);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let files = gauntlet::scenario::collect(&[root.join("scenarios")]).unwrap_or_default();
    let trials = files
        .into_iter()
        .map(|file| {
            let name = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            Trial::test(name, move || run(file))
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

fn run(file: PathBuf) -> Result<(), Failed> {
    if gauntlet::testing::require("native stack", NativeBinaries::available()).is_none() {
        return Ok(());
    }
    let report_dir = tempfile::tempdir().map_err(|e| Failed::from(e.to_string()))?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| Failed::from(e.to_string()))?;
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_gauntlet"));
    let run = runtime
        .block_on(gauntlet::testing::run_file(&file, &exe, report_dir.path()))
        .map_err(|e| Failed::from(format!("{e}: {e:?}")))?;
    let r = &run.result;
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
        // A detection faster than the physical floor means the clock or the check is wrong.
        if e.status == ExpectationStatus::Met
            && let (Some(ttd), Some(floor)) = (e.time_to_detect_ms, e.floor_ms)
            && e.kind != gauntlet::report::ExpectationKind::Metric
            && ttd + 1000 < floor
        {
            return Err(
                format!("{} detected in {ttd} ms, below its floor {floor} ms", e.id).into(),
            );
        }
    }
    std::panic::catch_unwind(|| gauntlet::testing::assert_all_met(r)).map_err(|p| {
        Failed::from(
            p.downcast_ref::<String>()
                .cloned()
                .unwrap_or_else(|| "scenario not met".into()),
        )
    })
}
