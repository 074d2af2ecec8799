//! The overhead benchmark runs end to end on a small budget and reports real numbers.

use std::time::Duration;

use gauntlet::services::{Instrumentation, OverheadConfig, TraceSampling, overhead};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overhead_benchmark_reports_both_modes() {
    let report = overhead(OverheadConfig {
        rate: 50,
        duration: Duration::from_secs(1),
        rounds: 1,
        warmup: Duration::ZERO,
        otlp_endpoint: None,
        sampling: TraceSampling::ParentBasedAlwaysOn,
        instrumented: Instrumentation::Full,
        export_interval: Duration::from_millis(200),
    })
    .await
    .expect("benchmark runs");
    for m in [&report.baseline, &report.instrumented] {
        assert_eq!(m.sent, 50, "{m:?}");
        assert_eq!(m.ok, 50, "{m:?}");
        assert_eq!(m.failed, 0);
        assert!(m.p50 > Duration::ZERO && m.p50 <= m.p99, "{m:?}");
        assert!(m.throughput > 20.0 && m.throughput < 60.0, "{m:?}");
        assert!(m.cpu_per_1k > 0.0, "{m:?}");
    }
    assert_eq!(report.baseline.instrumentation, Instrumentation::Off);
    let (traces, logs) = report.sink_requests.expect("in-process sink");
    assert!(
        traces > 0 && logs > 0,
        "the instrumented fleet exported: {traces} {logs}"
    );
    let text = report.to_string();
    assert!(text.contains("| off (A)"), "{text}");
    assert!(text.contains("| full (B)"), "{text}");
    assert!(text.contains("| B / A"), "{text}");
    assert!(text.contains("p99 cost"), "{text}");

    let err = overhead(OverheadConfig {
        rate: 0,
        duration: Duration::from_secs(1),
        rounds: 1,
        warmup: Duration::ZERO,
        otlp_endpoint: None,
        sampling: TraceSampling::default(),
        instrumented: Instrumentation::Full,
        export_interval: Duration::from_millis(200),
    })
    .await
    .expect_err("zero rate is refused");
    assert_eq!(
        err.to_string(),
        "invalid benchmark settings: rate, rounds and duration must be positive"
    );
}
