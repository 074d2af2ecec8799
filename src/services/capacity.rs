//! `gauntlet bench capacity`: the sample fleet's knee on this machine. The open-model rate
//! doubles until a step breaks the objective (p95 from the planned send time under the
//! limit, errors under the limit), then bisects between the last good and the first bad
//! rate. It runs once with instrumentation off and once full (exporting to an in-process
//! sink that discards, or to a real collector), on the frontend → api-gateway → products
//! path, with the load generator in the same process: the knee is what one machine does
//! with gauntlet on it, which is how a scenario runs.

use std::fmt;
use std::time::Duration;

use tabled::{Table, Tabled};

use super::bench::{BenchError, drive, percentile};
use super::config::{FleetConfig, Instrumentation, LogOutput, ServiceName, TraceSampling};
use super::fleet::start_fleet;
use super::otlp_sink::{OtlpSink, SinkMode};

/// The seeds' throughput objective, printed next to the knee.
const SEEDS_TARGET_RPS: u32 = 10_000;

/// Find the highest open-model rate that keeps the objective.
#[derive(Debug, Clone, clap::Args)]
pub struct CapacityArgs {
    /// First rate tried, requests per second.
    #[arg(long, default_value_t = 100)]
    pub start: u32,

    /// Never try more than this rate.
    #[arg(long, default_value_t = 20_000)]
    pub max: u32,

    /// Measured duration of each step.
    #[arg(long, default_value = "4s", value_parser = humantime::parse_duration)]
    pub step: Duration,

    /// The objective's p95 limit (latency from the planned send time).
    #[arg(long, default_value = "500ms", value_parser = humantime::parse_duration)]
    pub p95: Duration,

    /// The objective's error limit, percent of requests sent.
    #[arg(long, default_value_t = 0.1)]
    pub max_errors_pct: f64,

    /// Bisection steps after the first failing rate.
    #[arg(long, default_value_t = 3)]
    pub bisect: u32,

    /// OTLP/HTTP base URL of a real collector for the instrumented run; default: an
    /// in-process sink that discards.
    #[arg(long)]
    pub otlp_endpoint: Option<String>,
}

/// One step of the search.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub instrumentation: Instrumentation,
    pub rate: u32,
    pub sent: u64,
    pub failed: u64,
    pub p95: Duration,
    pub achieved_rps: f64,
    pub ok: bool,
}

/// The knees, off and full, with every step tried.
#[derive(Debug, Clone, PartialEq)]
pub struct CapacityReport {
    pub steps: Vec<Step>,
    /// Highest passing rate per instrumentation (`None`: even the first rate failed).
    pub knee_off: Option<u32>,
    pub knee_full: Option<u32>,
    pub objective: String,
}

/// Runs the search for both instrumentation levels.
pub async fn capacity(args: &CapacityArgs) -> Result<CapacityReport, BenchError> {
    if args.start == 0 || args.max < args.start || args.step.is_zero() {
        return Err(BenchError::Invalid(
            "start must be positive, max at least start, step positive".to_owned(),
        ));
    }
    let sink = match &args.otlp_endpoint {
        Some(_) => None,
        None => Some(OtlpSink::start(SinkMode::Discard).await?),
    };
    let endpoint = args
        .otlp_endpoint
        .clone()
        .or_else(|| sink.as_ref().map(OtlpSink::endpoint));
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        .build()
        .map_err(BenchError::Client)?;
    let mut steps = Vec::new();
    let mut knees = Vec::new();
    for level in [Instrumentation::Off, Instrumentation::Full] {
        let fleet = start_fleet(FleetConfig {
            instrumentation: level,
            otlp_endpoint: endpoint.clone(),
            sampling: TraceSampling::ParentBasedAlwaysOn,
            log_output: LogOutput::Discard,
            ..FleetConfig::default()
        })
        .await?;
        let base = fleet.url(ServiceName::Frontend).to_owned();
        let try_rate = async |rate: u32| {
            // Unmeasured warm-up at the same rate: pools and batches reach steady state.
            drive(&client, &base, rate, Duration::from_secs(1)).await;
            let mut run = drive(&client, &base, rate, args.step).await;
            run.latencies.sort_unstable();
            let p95 = percentile(&run.latencies, 0.95);
            let errors_pct = if run.sent == 0 {
                100.0
            } else {
                run.failed as f64 / run.sent as f64 * 100.0
            };
            let step = Step {
                instrumentation: level,
                rate,
                sent: run.sent,
                failed: run.failed,
                p95,
                achieved_rps: run.latencies.len() as f64 / run.elapsed.as_secs_f64().max(1e-9),
                ok: p95 < args.p95 && errors_pct < args.max_errors_pct,
            };
            tracing::info!(
                ?level,
                rate,
                ok = step.ok,
                p95_ms = p95.as_millis() as u64,
                "capacity step"
            );
            step
        };
        let (mut good, mut bad) = (None::<u32>, None::<u32>);
        let mut rate = args.start;
        loop {
            let step = try_rate(rate).await;
            let ok = step.ok;
            steps.push(step);
            if ok {
                good = Some(rate);
                if rate >= args.max {
                    break;
                }
                rate = rate.saturating_mul(2).min(args.max);
            } else {
                bad = Some(rate);
                break;
            }
        }
        if let (Some(mut lo), Some(mut hi)) = (good, bad) {
            for _ in 0..args.bisect {
                let mid = lo + (hi - lo) / 2;
                if mid == lo {
                    break;
                }
                let step = try_rate(mid).await;
                if step.ok {
                    lo = mid;
                } else {
                    hi = mid;
                }
                steps.push(step);
            }
            good = Some(lo);
        }
        knees.push(good);
        fleet.shutdown().await;
    }
    if let Some(s) = sink {
        s.shutdown().await;
    }
    Ok(CapacityReport {
        steps,
        knee_off: knees[0],
        knee_full: knees[1],
        objective: format!(
            "p95 < {} and errors < {}%",
            humantime::format_duration(args.p95),
            args.max_errors_pct
        ),
    })
}

#[derive(Tabled)]
struct Row {
    instrumentation: String,
    #[tabled(rename = "rate /s")]
    rate: u32,
    #[tabled(rename = "achieved /s")]
    achieved: String,
    #[tabled(rename = "p95 ms")]
    p95: String,
    #[tabled(rename = "errors")]
    errors: String,
    objective: &'static str,
}

impl fmt::Display for CapacityReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows = self.steps.iter().map(|s| Row {
            instrumentation: format!("{:?}", s.instrumentation).to_lowercase(),
            rate: s.rate,
            achieved: format!("{:.0}", s.achieved_rps),
            p95: format!("{:.1}", s.p95.as_secs_f64() * 1000.0),
            errors: format!("{} / {}", s.failed, s.sent),
            objective: if s.ok { "kept" } else { "broken" },
        });
        writeln!(
            f,
            "capacity of the sample fleet on this machine (frontend → api-gateway → products, generator in the same process), objective {}",
            self.objective
        )?;
        writeln!(f, "{}", Table::new(rows))?;
        let show = |k: Option<u32>| {
            k.map_or_else(
                || "below the first rate".to_owned(),
                |k| format!("{k} req/s"),
            )
        };
        writeln!(
            f,
            "knee: instrumentation off {}, full {}; the seeds' objective is {SEEDS_TARGET_RPS} req/s",
            show(self.knee_off),
            show(self.knee_full)
        )?;
        if let Some(k) = self.knee_full.filter(|k| *k > 0) {
            writeln!(
                f,
                "at full instrumentation one machine like this one carries {:.1}% of it; `gauntlet run --workers N` (Kubernetes) spreads the generator, not the fleet: the fleet's own replicas must scale too",
                f64::from(k) / f64::from(SEEDS_TARGET_RPS) * 100.0
            )?;
        }
        Ok(())
    }
}

/// Runs `gauntlet bench capacity` and prints the table.
pub async fn run_capacity_cli(args: CapacityArgs) -> Result<(), BenchError> {
    let report = capacity(&args).await?;
    print!("{report}");
    Ok(())
}
