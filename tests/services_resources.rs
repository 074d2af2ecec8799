//! CPU burn and memory growth faults, measured on this process (`/proc/self/stat`). One
//! test only, so nothing else in this binary disturbs the process-wide numbers.

mod services_support;

use std::time::Duration;

use gauntlet::services::metrics::ProcStat;
use gauntlet::services::{Instrumentation, ServiceName};
use serde_json::json;
use services_support::*;

fn stat() -> ProcStat {
    ProcStat::read().expect("procfs is mounted")
}

/// CPU-seconds used by this process's `cpu-burn-*` threads, and how many there are. Read
/// per thread so other load on a shared machine does not blur the measurement.
fn burn_threads() -> (usize, f64) {
    let mut n = 0;
    let mut secs = 0.0;
    for entry in std::fs::read_dir("/proc/self/task")
        .expect("procfs")
        .flatten()
    {
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if comm.starts_with("cpu-burn-") {
            n += 1;
            let text = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            secs += ProcStat::parse(&text).map_or(0.0, |s| s.cpu_seconds());
        }
    }
    (n, secs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_burn_and_memory_growth_use_resources_then_give_them_back() {
    let h = harness(Instrumentation::Metrics).await;
    let products = h.fleet.url(ServiceName::Products).to_owned();
    let window = Duration::from_millis(1000);

    assert_eq!(burn_threads().0, 0);
    let cpu0 = stat().cpu_seconds();
    add_fault(
        &h.http,
        &products,
        json!({ "kind": "cpu-burn", "threads": 2, "ttl_ms": 2500 }),
    )
    .await;
    assert_eq!(fault_gauge(&h.http, &products, "cpu-burn").await, Some(1.0));
    tokio::time::sleep(window).await;
    let (threads, burnt) = burn_threads();
    assert_eq!(threads, 2);
    assert!(
        burnt > 0.2,
        "the burn threads spin: {burnt:.2} CPU-s in {window:?}"
    );
    assert!(
        stat().cpu_seconds() - cpu0 >= burnt,
        "process CPU includes them"
    );
    wait_gauge(&h.http, &products, "cpu-burn", 0.0, Duration::from_secs(5)).await;
    let stopped = poll(Duration::from_secs(2), || async {
        (burn_threads().0 == 0).then_some(())
    })
    .await;
    assert!(
        stopped.is_some(),
        "burn threads exit on revert: {:?}",
        burn_threads()
    );

    let base = stat().rss_bytes as f64 / 1e6;
    let id = add_fault(
        &h.http,
        &products,
        json!({ "kind": "memory-growth", "mb_per_sec": 200, "max_mb": 300 }),
    )
    .await;
    let grown = poll(Duration::from_secs(5), || async {
        let rss = stat().rss_bytes as f64 / 1e6;
        (rss > base + 250.0).then_some(rss)
    })
    .await;
    assert!(
        grown.is_some(),
        "rss grew by 250 MB from {base:.0} MB; now {:.0} MB",
        stat().rss_bytes as f64 / 1e6
    );
    let pm = metrics(&h.http, &products).await;
    assert!(
        sample(&pm, "process_resident_memory_bytes").is_some_and(|v| v / 1e6 > base + 250.0),
        "the metric shows it too"
    );
    let del = h.delete(format!("{products}/admin/faults/{id}")).await;
    assert_eq!(del.status(), 204);
    let freed = poll(Duration::from_secs(3), || async {
        let rss = stat().rss_bytes as f64 / 1e6;
        (rss < base + 50.0).then_some(rss)
    })
    .await;
    assert!(
        freed.is_some(),
        "memory freed on revert; base {base:.0} MB, now {:.0} MB",
        stat().rss_bytes as f64 / 1e6
    );
    h.fleet.shutdown().await;
}
