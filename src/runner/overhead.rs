//! The `overhead:` expectation: instrumentation off vs full at the same open-model rate,
//! exporting to the real collector, compared with the scenario's budget.

use std::time::Duration;

use super::run::RunError;
use crate::error_chain;
use crate::report::{
    ExpectationKind, ExpectationPhase, ExpectationResult, ExpectationStatus, OverheadLimits,
    OverheadResult,
};
use crate::scenario::Scenario;

/// The overhead expectation before it is measured: missed, "not measured".
pub(super) fn placeholder(spec: &crate::scenario::OverheadSpec) -> ExpectationResult {
    ExpectationResult {
        id: "overhead".into(),
        kind: ExpectationKind::Overhead,
        description: format!(
            "instrumentation costs ≤ {}% p99 and ≤ {}% throughput",
            spec.max_latency_p99_increase_pct, spec.max_throughput_drop_pct
        ),
        phase: ExpectationPhase::Faults,
        status: ExpectationStatus::Missed,
        time_to_detect_ms: None,
        deadline_ms: 0,
        floor_ms: None,
        last_observed: Some("not measured: the run stopped first".into()),
        backend: "services bench (real collector)".into(),
        backend_real: true,
        skipped_reason: None,
        observed_at_ms: None,
        time_source: None,
        resolution_ms: None,
    }
}

/// Instrumentation off vs full, side by side at the same open-model rate, exporting to the
/// real collector; the verdict compares the costs with the scenario's budget.
pub(super) async fn measure_overhead(
    scenario: &Scenario,
    spec: &crate::scenario::OverheadSpec,
    otlp_http: Option<&reqwest::Url>,
) -> Result<(ExpectationResult, Option<OverheadResult>), RunError> {
    let Some(otlp_http) = otlp_http else {
        let expectation = ExpectationResult {
            status: ExpectationStatus::Skipped,
            last_observed: None,
            backend: crate::report::NO_BACKEND.into(),
            backend_real: false,
            skipped_reason: Some(
                "no collector to export to: the overhead is measured with real exports (give `stack.urls.collector`)".into(),
            ),
            ..placeholder(spec)
        };
        return Ok((expectation, None));
    };
    let rate = spec
        .rate
        .or(scenario.load.as_ref().map(|l| l.rate))
        .unwrap_or(200.0);
    let duration = spec.duration.unwrap_or(Duration::from_secs(10));
    let cfg = crate::services::OverheadConfig {
        rate: rate.round().max(1.0) as u32,
        duration,
        rounds: 2,
        warmup: Duration::from_secs(2),
        otlp_endpoint: Some(otlp_http.as_str().trim_end_matches('/').to_string()),
        sampling: crate::services::TraceSampling::ParentBasedAlwaysOn,
        instrumented: crate::services::Instrumentation::Full,
        export_interval: scenario.services.export_interval,
    };
    let report = crate::services::overhead(cfg)
        .await
        .map_err(|e| RunError::Internal(format!("overhead benchmark: {}", error_chain(&e))))?;
    let p99_pct = report.p99_cost() * 100.0;
    let tput_pct = report.throughput_cost() * 100.0;
    let met =
        p99_pct <= spec.max_latency_p99_increase_pct && tput_pct <= spec.max_throughput_drop_pct;
    let status = if met {
        ExpectationStatus::Met
    } else {
        ExpectationStatus::Missed
    };
    let observed = format!(
        "p99 {:+.1}% ({:.2} → {:.2} ms), throughput −{:.1}% ({:.0} → {:.0} req/s)",
        p99_pct,
        report.baseline.p99.as_secs_f64() * 1000.0,
        report.instrumented.p99.as_secs_f64() * 1000.0,
        tput_pct,
        report.baseline.throughput,
        report.instrumented.throughput
    );
    let expectation = ExpectationResult {
        status,
        last_observed: Some(observed),
        ..placeholder(spec)
    };
    let result = OverheadResult {
        p99_increase_pct: p99_pct,
        throughput_drop_pct: tput_pct,
        limits: OverheadLimits {
            max_p99_increase_pct: spec.max_latency_p99_increase_pct,
            max_throughput_drop_pct: spec.max_throughput_drop_pct,
        },
        status,
        baseline_p99_ms: Some(report.baseline.p99.as_secs_f64() * 1000.0),
        instrumented_p99_ms: Some(report.instrumented.p99.as_secs_f64() * 1000.0),
        baseline_rps: Some(report.baseline.throughput),
        instrumented_rps: Some(report.instrumented.throughput),
    };
    Ok((expectation, Some(result)))
}
