//! `gauntlet bench load`: gauntlet's generator next to wrk on the same in-process endpoint.
//!
//! The quick test runs in every `cargo test`; the full measurement is
//! `cargo test --release --test load_bench -- --ignored --nocapture`.

use gauntlet::load::bench::{BenchLoadArgs, BenchRun, bench_load, wrk_available};
use std::path::PathBuf;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_runs_both_tools_alternating() {
    let args = BenchLoadArgs {
        duration: Duration::from_secs(1),
        connections: 4,
        rounds: 1,
        wrk: PathBuf::from("wrk"),
        cpu_rate: 500,
        cpu_duration: Duration::from_secs(1),
    };
    let wrk = gauntlet::testing::require("wrk", wrk_available(&args.wrk).await);
    let report = bench_load(&args).await.expect("bench");
    assert!(report.gauntlet_requests_per_sec > 100.0, "{report:?}");
    let cpu = report.generator_cpu.as_ref().expect("linux /proc");
    assert!(cpu.requests >= 400 && cpu.failed == 0, "{cpu:?}");
    assert!(cpu.cpu_ms > 0 && cpu.cpu_ms_per_1000 > 0.0, "{cpu:?}");
    match report.runs.as_slice() {
        [
            BenchRun::Wrk {
                requests_per_sec: w,
            },
            BenchRun::Gauntlet { failed, total, .. },
        ] => {
            assert!(wrk.is_some());
            assert!(*w > 100.0);
            assert_eq!(*failed, 0);
            assert!(*total > 100);
            let ratio = report.ratio.expect("ratio");
            assert!(ratio > 0.0 && ratio.is_finite());
            assert!(report.render().contains("ratio"));
        }
        [BenchRun::Gauntlet { failed, .. }] => {
            assert!(wrk.is_none(), "wrk present but did not run: {report:?}");
            assert_eq!(*failed, 0);
            assert!(report.wrk_skipped.is_some());
        }
        other => panic!("unexpected runs {other:?}"),
    }
}

/// The measurement quoted in reports (`--ignored`, release build).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "5 s × 2 tools × 3 rounds; run with --release --ignored --nocapture"]
async fn bench_full_measurement() {
    let args = BenchLoadArgs {
        rounds: 3,
        ..BenchLoadArgs::default()
    };
    let report = bench_load(&args).await.expect("bench");
    println!("{}", report.render());
}
