//! The `overhead:` expectation: what instrumentation costs, measured like a benchmark.
//!
//! Two fleets of service processes run side by side, instrumentation off (A) and full (B,
//! exporting to the run's real collector), under the same open-model rate on the 3-hop path.
//! Each round runs A, B and A again (A') in a rotating order, so drift hits every side; the
//! CPU time (user + system) of each fleet's processes per 1,000 successful requests is read
//! from `/proc/<pid>/stat`, which leaves out the load generator. The A/B cost per round and
//! the A/A difference per round (the noise floor) are each summarised by a bootstrap interval
//! over rounds. CPU passes only when the whole interval is under the budget, fails when the
//! whole interval is over it, and is *inconclusive* (missed) otherwise, or when the A/A noise
//! alone is wider than the budget. p99 and throughput budgets, when given, are compared as
//! point values over the same runs.

use std::path::Path;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::fleet::{Fleet, FleetSettings};
use super::run::RunError;
use crate::error_chain;
use crate::report::{
    CpuOverhead, ExpectationKind, ExpectationPhase, ExpectationResult, ExpectationStatus,
    OverheadLimits, OverheadResult,
};
use crate::scenario::{Instrumentation, OverheadSpec, Scenario, ServicesMode};
use crate::services::bench::{Raw, drive, percentile};
use crate::services::metrics::ProcStat;

/// Unmeasured load before each run: warms connection pools and the exporters' batches.
const WARMUP: Duration = Duration::from_secs(1);
/// Bootstrap resamples; the seed is fixed so a report can be recomputed from its rounds.
const RESAMPLES: usize = 2000;
const SEED: u64 = 0x6761_756e_746c_6574;
/// The two-sided interval reported: 90 %.
const INTERVAL: (f64, f64) = (0.05, 0.95);

/// What the budget lines say, for the expectation's description.
fn describe(spec: &OverheadSpec) -> String {
    let mut parts = Vec::new();
    if let Some(cpu) = spec.max_cpu_increase_pct {
        parts.push(format!("≤ {cpu}% CPU per request"));
    }
    if let Some(p99) = spec.max_latency_p99_increase_pct {
        parts.push(format!("≤ {p99}% p99"));
    }
    if let Some(t) = spec.max_throughput_drop_pct {
        parts.push(format!("≤ {t}% throughput"));
    }
    let level = match &spec.sampling {
        Some(s) => format!("instrumentation (traces sampled {s}) costs"),
        None => "instrumentation costs".to_string(),
    };
    format!("{level} {}", parts.join(" and "))
}

/// The overhead expectation before it is measured: missed, "not measured".
pub(super) fn placeholder(spec: &OverheadSpec) -> ExpectationResult {
    ExpectationResult {
        id: "overhead".into(),
        kind: ExpectationKind::Overhead,
        description: describe(spec),
        phase: ExpectationPhase::Faults,
        status: ExpectationStatus::Missed,
        time_to_detect_ms: None,
        deadline_ms: 0,
        floor_ms: None,
        last_observed: Some("not measured: the run stopped first".into()),
        backend: "service processes (/proc) exporting to the real collector".into(),
        backend_real: true,
        skipped_reason: None,
        observed_at_ms: None,
        time_source: None,
        resolution_ms: None,
    }
}

/// Where the measurement's fleets run.
pub(super) struct OverheadEnv<'a> {
    pub exe: &'a Path,
    pub log_dir: &'a Path,
    pub otlp_http: Option<&'a reqwest::Url>,
}

/// One mode's runs, merged, plus each run's CPU per 1,000 requests.
#[derive(Default)]
struct Side {
    latencies: Vec<Duration>,
    ok: u64,
    elapsed: Duration,
    cpu_per_1k: Vec<f64>,
    rss_bytes: Vec<u64>,
}

impl Side {
    fn add(&mut self, run: Raw, cpu_seconds: f64, rss: u64) {
        let ok = run.latencies.len() as u64;
        self.cpu_per_1k.push(if ok == 0 {
            f64::NAN
        } else {
            cpu_seconds / ok as f64 * 1000.0
        });
        self.rss_bytes.push(rss);
        self.ok += ok;
        self.elapsed += run.elapsed;
        self.latencies.extend(run.latencies);
    }

    fn p99_ms(&mut self) -> f64 {
        self.latencies.sort_unstable();
        percentile(&self.latencies, 0.99).as_secs_f64() * 1000.0
    }

    fn throughput(&self) -> f64 {
        if self.elapsed.is_zero() {
            0.0
        } else {
            self.ok as f64 / self.elapsed.as_secs_f64()
        }
    }
}

/// Instrumentation off vs full, measured; the verdict compares the costs with the budget.
pub(super) async fn measure_overhead(
    scenario: &Scenario,
    spec: &OverheadSpec,
    env: &OverheadEnv<'_>,
) -> Result<(ExpectationResult, Option<OverheadResult>), RunError> {
    let Some(otlp_http) = env.otlp_http else {
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
        .or(scenario
            .load
            .as_ref()
            .filter(|l| l.closed.is_none())
            .map(|l| l.rate))
        .unwrap_or(200.0)
        .round()
        .max(1.0) as u32;
    let duration = spec.duration.unwrap_or(Duration::from_secs(5));

    let off = fleet(scenario, spec, Instrumentation::Off, "off");
    let full = fleet(scenario, spec, Instrumentation::Full, "full");
    let otlp = otlp_http.as_str().trim_end_matches('/').to_string();
    let settings_a = FleetSettings {
        exe: env.exe,
        log_dir: env.log_dir,
        otlp_http: &otlp,
        deployment_id: &off.name,
    };
    let settings_b = FleetSettings {
        deployment_id: &full.name,
        ..settings_a
    };
    let fleet_a = Fleet::start(&off, &settings_a)
        .await
        .map_err(RunError::Services)?;
    let fleet_b = match Fleet::start(&full, &settings_b).await {
        Ok(f) => f,
        Err(e) => {
            fleet_a.stop().await;
            return Err(RunError::Services(e));
        }
    };
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        .build()
        .map_err(|e| RunError::Internal(format!("overhead client: {}", error_chain(&e))));
    let measured = match client {
        Ok(client) => rounds(&client, &fleet_a, &fleet_b, rate, duration, spec.rounds).await,
        Err(e) => Err(e),
    };
    fleet_a.stop().await;
    fleet_b.stop().await;
    let (mut a, mut a2, mut b) = measured?;

    let cpu = cpu_overhead(&a, &a2, &b, spec.max_cpu_increase_pct);
    // Latency and throughput compare A (both of its runs per round) with B.
    a.latencies.append(&mut a2.latencies);
    a.ok += a2.ok;
    a.elapsed += a2.elapsed;
    let (base_p99, inst_p99) = (a.p99_ms(), b.p99_ms());
    let (base_rps, inst_rps) = (a.throughput(), b.throughput());
    let p99_pct = (inst_p99 / base_p99 - 1.0) * 100.0;
    let tput_pct = (1.0 - inst_rps / base_rps) * 100.0;

    let mut problems = Vec::new();
    let mut inconclusive = None;
    if let (Some(budget), Some(cpu)) = (spec.max_cpu_increase_pct, &cpu) {
        match cpu.verdict.as_str() {
            "within" => {}
            "over" => problems.push(format!("CPU over the {budget}% budget")),
            _ => inconclusive = Some(cpu.reason.clone()),
        }
    }
    if spec.max_cpu_increase_pct.is_some() && cpu.is_none() {
        inconclusive = Some("no CPU figures could be read from /proc".to_string());
    }
    if let Some(max) = spec.max_latency_p99_increase_pct
        && (p99_pct.is_nan() || p99_pct > max)
    {
        problems.push(format!("p99 over the {max}% budget"));
    }
    if let Some(max) = spec.max_throughput_drop_pct
        && (tput_pct.is_nan() || tput_pct > max)
    {
        problems.push(format!("throughput over the {max}% budget"));
    }
    let status = if problems.is_empty() && inconclusive.is_none() {
        ExpectationStatus::Met
    } else {
        ExpectationStatus::Missed
    };
    let mut observed = Vec::new();
    if let Some(c) = &cpu {
        observed.push(format!(
            "CPU per request {:+.1}% [{:+.1}%, {:+.1}%] ({:.1} → {:.1} CPU-ms per request), A/A noise [{:+.1}%, {:+.1}%], RSS {:.0} → {:.0} MB",
            c.increase_pct,
            c.interval_pct[0],
            c.interval_pct[1],
            c.baseline_cpu_ms_per_request,
            c.instrumented_cpu_ms_per_request,
            c.noise_pct[0],
            c.noise_pct[1],
            c.baseline_rss_mb,
            c.instrumented_rss_mb
        ));
    }
    observed.push(format!(
        "p99 {p99_pct:+.1}% ({base_p99:.2} → {inst_p99:.2} ms), throughput drop {tput_pct:+.1}% ({base_rps:.0} → {inst_rps:.0} req/s)"
    ));
    let mut last = observed.join("; ");
    if let Some(why) = inconclusive {
        last = format!("inconclusive: {why}; {last}");
    }
    if !problems.is_empty() {
        last = format!("{}; {last}", problems.join(", "));
    }
    let expectation = ExpectationResult {
        status,
        last_observed: Some(last),
        ..placeholder(spec)
    };
    let result = OverheadResult {
        p99_increase_pct: p99_pct,
        throughput_drop_pct: tput_pct,
        limits: OverheadLimits {
            max_cpu_increase_pct: spec.max_cpu_increase_pct,
            max_p99_increase_pct: spec.max_latency_p99_increase_pct,
            max_throughput_drop_pct: spec.max_throughput_drop_pct,
        },
        status,
        baseline_p99_ms: Some(base_p99),
        instrumented_p99_ms: Some(inst_p99),
        baseline_rps: Some(base_rps),
        instrumented_rps: Some(inst_rps),
        cpu,
    };
    Ok((expectation, Some(result)))
}

/// The rounds: A, B and A' in an order that rotates each round.
async fn rounds(
    client: &reqwest::Client,
    fleet_a: &Fleet,
    fleet_b: &Fleet,
    rate: u32,
    duration: Duration,
    rounds: u32,
) -> Result<(Side, Side, Side), RunError> {
    let (mut a, mut a2, mut b) = (Side::default(), Side::default(), Side::default());
    const ORDERS: [[usize; 3]; 3] = [[0, 1, 2], [1, 2, 0], [2, 0, 1]];
    for round in 0..rounds as usize {
        for which in ORDERS[round % 3] {
            let fleet = if which == 1 { fleet_b } else { fleet_a };
            let base =
                fleet.urls().get("frontend").cloned().ok_or_else(|| {
                    RunError::Internal("the overhead fleet has no frontend".into())
                })?;
            let pids = fleet.pids();
            drive(client, &base, rate, WARMUP).await;
            let before = cpu_seconds(&pids);
            let run = drive(client, &base, rate, duration).await;
            let after = cpu_seconds(&pids);
            let rss = pids
                .iter()
                .filter_map(|p| ProcStat::read_pid(*p))
                .map(|s| s.rss_bytes)
                .sum();
            let side = match which {
                0 => &mut a,
                1 => &mut b,
                _ => &mut a2,
            };
            side.add(run, after - before, rss);
        }
    }
    Ok((a, a2, b))
}

fn cpu_seconds(pids: &[u32]) -> f64 {
    pids.iter()
        .filter_map(|p| ProcStat::read_pid(*p))
        .map(|s| s.cpu_seconds())
        .sum()
}

/// Per round: B against the mean of A and A' (the cost), A' against A (the noise).
fn cpu_overhead(a: &Side, a2: &Side, b: &Side, budget: Option<f64>) -> Option<CpuOverhead> {
    let rounds = a
        .cpu_per_1k
        .len()
        .min(a2.cpu_per_1k.len())
        .min(b.cpu_per_1k.len());
    let mut cost = Vec::new();
    let mut noise = Vec::new();
    for i in 0..rounds {
        let (x, x2, y) = (a.cpu_per_1k[i], a2.cpu_per_1k[i], b.cpu_per_1k[i]);
        if !(x > 0.0 && x2 > 0.0 && y.is_finite()) {
            continue;
        }
        cost.push((y / ((x + x2) / 2.0) - 1.0) * 100.0);
        noise.push((x2 / x - 1.0) * 100.0);
    }
    if cost.is_empty() {
        return None;
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let interval = bootstrap(&cost);
    let noise_interval = bootstrap(&noise);
    let (verdict, reason) = judge(interval, noise_interval, budget, cost.len());
    Some(CpuOverhead {
        increase_pct: mean(&cost),
        interval_pct: interval,
        noise_pct: noise_interval,
        rounds: cost.len() as u32,
        baseline_cpu_ms_per_request: mean(
            &finite(&a.cpu_per_1k)
                .chain(finite(&a2.cpu_per_1k))
                .collect::<Vec<_>>(),
        ),
        instrumented_cpu_ms_per_request: mean(&finite(&b.cpu_per_1k).collect::<Vec<_>>()),
        baseline_rss_mb: mean_u64(&a.rss_bytes) / 1_048_576.0,
        instrumented_rss_mb: mean_u64(&b.rss_bytes) / 1_048_576.0,
        verdict: verdict.to_string(),
        reason,
    })
}

fn finite(v: &[f64]) -> impl Iterator<Item = f64> + '_ {
    v.iter().copied().filter(|x| x.is_finite())
}

fn mean_u64(v: &[u64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<u64>() as f64 / v.len() as f64
    }
}

/// The scenario one side of the comparison runs: its own processes, no faults, the given
/// instrumentation, and for the instrumented side the sampling the check asks for.
fn fleet(scenario: &Scenario, spec: &OverheadSpec, level: Instrumentation, tag: &str) -> Scenario {
    let mut s = scenario.clone();
    s.name = format!("{}-overhead-{tag}", scenario.name);
    s.faults.clear();
    s.services.mode = ServicesMode::PerProcess;
    s.services.instrumentation = level;
    s.services.sampling = match level {
        Instrumentation::Full => spec.sampling.clone(),
        _ => None,
    };
    s
}

/// The bootstrap interval of the mean over `values` (resampling rounds with replacement).
fn bootstrap(values: &[f64]) -> [f64; 2] {
    let n = values.len();
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut means: Vec<f64> = (0..RESAMPLES)
        .map(|_| (0..n).map(|_| values[rng.random_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    let at = |q: f64| means[((q * (RESAMPLES - 1) as f64).round() as usize).min(RESAMPLES - 1)];
    [at(INTERVAL.0), at(INTERVAL.1)]
}

/// `within`, `over` or `inconclusive`, with why.
fn judge(
    cost: [f64; 2],
    noise: [f64; 2],
    budget: Option<f64>,
    rounds: usize,
) -> (&'static str, String) {
    let Some(budget) = budget else {
        return ("unchecked", "no CPU budget given".to_string());
    };
    let noise_width = noise[0].abs().max(noise[1].abs());
    if rounds < 3 {
        return (
            "inconclusive",
            format!("{rounds} usable round(s): an interval needs at least 3"),
        );
    }
    if noise_width > budget {
        // Noise this wide cannot vouch for "within", but a cost beyond budget plus noise is
        // still over.
        if cost[0] > budget + noise_width {
            return (
                "over",
                format!(
                    "the whole interval is over {budget}% by more than the A/A noise (±{noise_width:.1}%)"
                ),
            );
        }
        return (
            "inconclusive",
            format!(
                "the A/A noise (±{noise_width:.1}%) is wider than the {budget}% budget: this machine cannot resolve it"
            ),
        );
    }
    if cost[1] <= budget {
        ("within", format!("the whole interval is under {budget}%"))
    } else if cost[0] > budget {
        ("over", format!("the whole interval is over {budget}%"))
    } else {
        (
            "inconclusive",
            format!(
                "the interval [{:+.1}%, {:+.1}%] straddles the {budget}% budget",
                cost[0], cost[1]
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_instrumented_fleet_samples_as_asked() {
        let text = "name: o\nstack: { provider: native }\noverhead: { max-cpu-increase: 20%, sampling: ratio=0.1 }\n";
        let scenario = crate::scenario::validate_text(std::path::Path::new("o.yaml"), text)
            .expect("valid scenario");
        let spec = scenario.overhead.clone().expect("overhead section");
        let full = fleet(&scenario, &spec, Instrumentation::Full, "full");
        let off = fleet(&scenario, &spec, Instrumentation::Off, "off");
        assert_eq!(full.services.sampling.as_deref(), Some("ratio=0.1"));
        assert_eq!(off.services.sampling, None);
        assert!(describe(&spec).contains("traces sampled ratio=0.1"));
        let args = super::super::fleet::service_args("frontend", &full.services, "d");
        let at = args
            .iter()
            .position(|a| a == "--sampling")
            .expect("--sampling passed");
        assert_eq!(args[at + 1], "ratio=0.1");
        let args = super::super::fleet::service_args("frontend", &off.services, "d");
        assert!(!args.iter().any(|a| a == "--sampling"));
    }

    #[test]
    fn bootstrap_brackets_the_mean_and_collapses_on_constant_rounds() {
        let [lo, hi] = bootstrap(&[10.0, 12.0, 14.0, 16.0, 18.0]);
        assert!(lo < 14.0 && 14.0 < hi, "[{lo}, {hi}]");
        assert!(lo >= 10.0 && hi <= 18.0);
        assert_eq!(bootstrap(&[5.0, 5.0, 5.0]), [5.0, 5.0]);
    }

    #[test]
    fn the_whole_interval_decides_and_noise_wider_than_the_budget_is_inconclusive() {
        let quiet = [-2.0, 2.0];
        assert_eq!(judge([10.0, 20.0], quiet, Some(25.0), 5).0, "within");
        assert_eq!(judge([30.0, 40.0], quiet, Some(25.0), 5).0, "over");
        assert_eq!(judge([20.0, 30.0], quiet, Some(25.0), 5).0, "inconclusive");
        let (v, why) = judge([1.0, 2.0], [-30.0, 5.0], Some(25.0), 5);
        assert_eq!(v, "inconclusive");
        assert!(why.contains("A/A noise (±30.0%)"), "{why}");
        // Beyond budget plus noise is over, however noisy.
        assert_eq!(judge([29.0, 37.0], [-2.7, 1.9], Some(1.0), 5).0, "over");
        assert_eq!(
            judge([3.0, 37.0], [-2.7, 1.9], Some(1.0), 5).0,
            "inconclusive"
        );
        assert_eq!(judge([1.0, 2.0], quiet, Some(25.0), 2).0, "inconclusive");
        assert_eq!(judge([1.0, 2.0], quiet, None, 5).0, "unchecked");
    }

    #[test]
    fn cost_is_b_against_the_mean_of_both_a_runs_per_round() {
        let side = |v: &[f64]| Side {
            cpu_per_1k: v.to_vec(),
            rss_bytes: vec![1_048_576; v.len()],
            ..Side::default()
        };
        let a = side(&[100.0, 100.0, 100.0]);
        let a2 = side(&[100.0, 110.0, 90.0]);
        let b = side(&[120.0, 126.0, 114.0]);
        let c = cpu_overhead(&a, &a2, &b, Some(50.0)).expect("figures");
        assert_eq!(c.rounds, 3);
        assert!((c.increase_pct - 20.0).abs() < 1e-9, "{}", c.increase_pct);
        assert_eq!(c.verdict, "within");
        assert!((c.instrumented_cpu_ms_per_request - 120.0).abs() < 1e-9);
        assert!((c.baseline_rss_mb - 1.0).abs() < 1e-9);
    }
}
