//! `gauntlet bench overhead`: what instrumentation costs. Two fleets run in this process,
//! one uninstrumented (A) and one instrumented (B, exporting to an in-process OTLP sink
//! that discards, or to a real collector). Both get the same open-model load on the 3-hop
//! path frontend → api-gateway → products: requests leave at planned times whatever the
//! responses, and latency counts from the planned time (no coordinated omission). Runs
//! alternate A B, B A, … so drift hits both; the table gives p50, p99, throughput and
//! CPU-seconds per 1,000 requests (from `/proc/self/stat`, so it includes the load
//! generator and the sink, which are identical in both modes).

use std::fmt;
use std::time::Duration;

use rand::Rng;
use tabled::{Table, Tabled};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::config::{FleetConfig, Instrumentation, LogOutput, ServiceName, TraceSampling};
use super::fleet::{RunningFleet, start_fleet};
use super::metrics::ProcStat;
use super::otlp_sink::{OtlpSink, SinkError, SinkMode};
use super::service::ServiceError;

/// Deadline of one benchmark request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Product ids cycled through.
const PRODUCTS: u64 = 100;

/// Measure what instrumentation costs on the frontend → api-gateway → products path.
#[derive(Debug, Clone, clap::Args)]
pub struct OverheadArgs {
    /// Requests per second, sent on a fixed schedule whatever the responses.
    #[arg(long, default_value_t = 300)]
    pub rate: u32,

    /// Measured duration of each run.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,

    /// Rounds; each runs the baseline and the instrumented fleet once (order alternates).
    #[arg(long, default_value_t = 2)]
    pub rounds: u32,

    /// Unmeasured load before each run (warms connection pools and caches).
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub warmup: Duration,

    /// OTLP/HTTP base URL of a real collector; default: an in-process sink that discards.
    #[arg(long)]
    pub otlp_endpoint: Option<String>,

    /// Trace sampling of the instrumented fleet (always-on, parent-ratio=R, ratio=R).
    #[arg(long, default_value = "always-on")]
    pub sampling: TraceSampling,

    /// Instrumentation level compared with `off`.
    #[arg(long, value_enum, default_value_t = Instrumentation::Full)]
    pub instrumented: Instrumentation,

    /// How often the instrumented fleet exports batched spans and logs.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub export_interval: Duration,
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct OverheadConfig {
    pub rate: u32,
    pub duration: Duration,
    pub rounds: u32,
    pub warmup: Duration,
    pub otlp_endpoint: Option<String>,
    pub sampling: TraceSampling,
    pub instrumented: Instrumentation,
    pub export_interval: Duration,
}

impl From<OverheadArgs> for OverheadConfig {
    fn from(a: OverheadArgs) -> Self {
        Self {
            rate: a.rate,
            duration: a.duration,
            rounds: a.rounds,
            warmup: a.warmup,
            otlp_endpoint: a.otlp_endpoint,
            sampling: a.sampling,
            instrumented: a.instrumented,
            export_interval: a.export_interval,
        }
    }
}

/// The benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("invalid benchmark settings: {0}")]
    Invalid(String),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("cannot start a fleet")]
    Fleet(#[from] ServiceError),
    #[error("cannot build the load client")]
    Client(#[source] reqwest::Error),
}

/// Results of one mode, all its runs merged.
#[derive(Debug, Clone, PartialEq)]
pub struct ModeStats {
    pub instrumentation: Instrumentation,
    pub sent: u64,
    pub ok: u64,
    pub failed: u64,
    pub p50: Duration,
    pub p99: Duration,
    /// Successful responses per second of run time.
    pub throughput: f64,
    /// CPU-seconds of this process per 1,000 successful requests.
    pub cpu_per_1k: f64,
}

/// The benchmark's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct OverheadReport {
    pub config_summary: String,
    pub baseline: ModeStats,
    pub instrumented: ModeStats,
    /// Export requests the sink received (traces, logs); `None` with a real collector.
    pub sink_requests: Option<(u64, u64)>,
}

impl OverheadReport {
    /// instrumented / baseline − 1 for p99, as a fraction.
    pub fn p99_cost(&self) -> f64 {
        ratio(
            self.instrumented.p99.as_secs_f64(),
            self.baseline.p99.as_secs_f64(),
        ) - 1.0
    }

    /// 1 − instrumented / baseline throughput, as a fraction.
    pub fn throughput_cost(&self) -> f64 {
        1.0 - ratio(self.instrumented.throughput, self.baseline.throughput)
    }

    pub fn cpu_cost(&self) -> f64 {
        ratio(self.instrumented.cpu_per_1k, self.baseline.cpu_per_1k) - 1.0
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { f64::NAN }
}

/// One measured run of [`drive`].
#[derive(Debug, Default)]
pub(crate) struct Raw {
    /// Latencies of the successful requests, from their planned send times.
    pub(crate) latencies: Vec<Duration>,
    pub(crate) sent: u64,
    pub(crate) failed: u64,
    pub(crate) elapsed: Duration,
    /// CPU of this whole process during the run.
    pub(crate) cpu_seconds: f64,
}

/// Runs the benchmark.
pub async fn overhead(cfg: OverheadConfig) -> Result<OverheadReport, BenchError> {
    if cfg.rate == 0 || cfg.rounds == 0 || cfg.duration.is_zero() {
        return Err(BenchError::Invalid(
            "rate, rounds and duration must be positive".to_owned(),
        ));
    }
    if cfg.instrumented == Instrumentation::Off {
        return Err(BenchError::Invalid(
            "the instrumented side must be metrics or full".to_owned(),
        ));
    }
    let sink = match &cfg.otlp_endpoint {
        Some(_) => None,
        None => Some(OtlpSink::start(SinkMode::Discard).await?),
    };
    let endpoint = cfg
        .otlp_endpoint
        .clone()
        .or_else(|| sink.as_ref().map(OtlpSink::endpoint));
    let fleet_a = start_fleet(FleetConfig {
        instrumentation: Instrumentation::Off,
        log_output: LogOutput::Off,
        ..FleetConfig::default()
    })
    .await?;
    let fleet_b = start_fleet(FleetConfig {
        instrumentation: cfg.instrumented,
        otlp_endpoint: endpoint,
        sampling: cfg.sampling,
        export_interval: cfg.export_interval,
        // Lines are formatted (that cost counts) but not printed over the table.
        log_output: LogOutput::Discard,
        ..FleetConfig::default()
    })
    .await?;
    let client = reqwest::Client::builder()
        .no_proxy()
        // The benchmark's load stays on the fleet it started, whatever a service answers.
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_TIMEOUT)
        .tcp_nodelay(true)
        .build()
        .map_err(BenchError::Client)?;

    let mut a = Raw::default();
    let mut b = Raw::default();
    for round in 0..cfg.rounds {
        let order: [(&RunningFleet, bool); 2] = if round % 2 == 0 {
            [(&fleet_a, false), (&fleet_b, true)]
        } else {
            [(&fleet_b, true), (&fleet_a, false)]
        };
        for (fleet, instrumented) in order {
            let base = fleet.url(ServiceName::Frontend);
            if !cfg.warmup.is_zero() {
                drive(&client, base, cfg.rate, cfg.warmup).await;
            }
            let run = drive(&client, base, cfg.rate, cfg.duration).await;
            tracing::info!(
                round,
                instrumented,
                sent = run.sent,
                failed = run.failed,
                "overhead run done"
            );
            let into = if instrumented { &mut b } else { &mut a };
            into.latencies.extend(run.latencies);
            into.sent += run.sent;
            into.failed += run.failed;
            into.elapsed += run.elapsed;
            into.cpu_seconds += run.cpu_seconds;
        }
    }
    fleet_b.flush_telemetry().await;
    let sink_requests = sink.as_ref().map(OtlpSink::requests);
    fleet_a.shutdown().await;
    fleet_b.shutdown().await;
    if let Some(s) = sink {
        s.shutdown().await;
    }
    Ok(OverheadReport {
        config_summary: format!(
            "{} req/s, {} round(s) × 2 × {}, warm-up {}, sampling {}, export every {}, OTLP → {}",
            cfg.rate,
            cfg.rounds,
            humantime::format_duration(cfg.duration),
            humantime::format_duration(cfg.warmup),
            cfg.sampling,
            humantime::format_duration(cfg.export_interval),
            cfg.otlp_endpoint
                .as_deref()
                .unwrap_or("in-process discarding sink"),
        ),
        baseline: stats(Instrumentation::Off, a),
        instrumented: stats(cfg.instrumented, b),
        sink_requests,
    })
}

fn stats(instrumentation: Instrumentation, mut raw: Raw) -> ModeStats {
    raw.latencies.sort_unstable();
    let ok = raw.latencies.len() as u64;
    ModeStats {
        instrumentation,
        sent: raw.sent,
        ok,
        failed: raw.failed,
        p50: percentile(&raw.latencies, 0.50),
        p99: percentile(&raw.latencies, 0.99),
        throughput: if raw.elapsed.is_zero() {
            0.0
        } else {
            ok as f64 / raw.elapsed.as_secs_f64()
        },
        cpu_per_1k: if ok == 0 {
            f64::NAN
        } else {
            raw.cpu_seconds / ok as f64 * 1000.0
        },
    }
}

/// Nearest-rank percentile of sorted values.
pub(crate) fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn traceparent() -> String {
    let mut rng = rand::rng();
    let trace: u128 = rng.random_range(1..=u128::MAX);
    let span: u64 = rng.random_range(1..=u64::MAX);
    format!("00-{trace:032x}-{span:016x}-01")
}

/// Sends `rate × duration` requests at planned times; successful latencies are measured
/// from each request's planned send time.
pub(crate) async fn drive(
    client: &reqwest::Client,
    base: &str,
    rate: u32,
    duration: Duration,
) -> Raw {
    let n = (f64::from(rate) * duration.as_secs_f64()).round() as u64;
    let interval = 1.0 / f64::from(rate);
    let cpu0 = ProcStat::read().map(|s| s.cpu_seconds()).unwrap_or(0.0);
    let t0 = Instant::now() + Duration::from_millis(5);
    let mut set: JoinSet<(Duration, bool)> = JoinSet::new();
    let mut raw = Raw {
        latencies: Vec::with_capacity(n as usize),
        ..Raw::default()
    };
    let collect = |r: Result<(Duration, bool), tokio::task::JoinError>, raw: &mut Raw| match r {
        Ok((lat, true)) => raw.latencies.push(lat),
        _ => raw.failed += 1,
    };
    for i in 0..n {
        let planned = t0 + Duration::from_secs_f64(interval * i as f64);
        tokio::time::sleep_until(planned).await;
        let url = format!("{base}/products/{}", i % PRODUCTS + 1);
        let req = client.get(url).header("traceparent", traceparent());
        set.spawn(async move {
            let ok = match req.send().await {
                Ok(resp) => {
                    let success = resp.status().is_success();
                    resp.bytes().await.is_ok() && success
                }
                Err(_) => false,
            };
            (planned.elapsed(), ok)
        });
        raw.sent += 1;
        while let Some(r) = set.try_join_next() {
            collect(r, &mut raw);
        }
    }
    while let Some(r) = set.join_next().await {
        collect(r, &mut raw);
    }
    raw.elapsed = t0.elapsed();
    let cpu1 = ProcStat::read().map(|s| s.cpu_seconds()).unwrap_or(0.0);
    raw.cpu_seconds = cpu1 - cpu0;
    raw
}

#[derive(Tabled)]
struct Row {
    #[tabled(rename = "instrumentation")]
    mode: String,
    #[tabled(rename = "ok / sent")]
    count: String,
    #[tabled(rename = "p50 ms")]
    p50: String,
    #[tabled(rename = "p99 ms")]
    p99: String,
    #[tabled(rename = "throughput /s")]
    throughput: String,
    #[tabled(rename = "CPU s / 1k req")]
    cpu: String,
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

fn mode_name(i: Instrumentation) -> &'static str {
    match i {
        Instrumentation::Off => "off (A)",
        Instrumentation::Metrics => "metrics (B)",
        Instrumentation::Full => "full (B)",
    }
}

impl fmt::Display for OverheadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let row = |s: &ModeStats| Row {
            mode: mode_name(s.instrumentation).to_owned(),
            count: format!("{} / {}", s.ok, s.sent),
            p50: ms(s.p50),
            p99: ms(s.p99),
            throughput: format!("{:.1}", s.throughput),
            cpu: format!("{:.4}", s.cpu_per_1k),
        };
        let b = &self.baseline;
        let i = &self.instrumented;
        let ratios = Row {
            mode: "B / A".to_owned(),
            count: String::new(),
            p50: format!("{:.3}", ratio(i.p50.as_secs_f64(), b.p50.as_secs_f64())),
            p99: format!("{:.3}", ratio(i.p99.as_secs_f64(), b.p99.as_secs_f64())),
            throughput: format!("{:.3}", ratio(i.throughput, b.throughput)),
            cpu: format!("{:.3}", ratio(i.cpu_per_1k, b.cpu_per_1k)),
        };
        writeln!(f, "overhead benchmark: {}", self.config_summary)?;
        writeln!(f, "{}", Table::new([row(b), row(i), ratios]))?;
        let verdict = |cost: f64| if cost <= 0.01 { "within" } else { "over" };
        writeln!(
            f,
            "p99 cost {:+.1}% ({} the 1% target), throughput cost {:+.1}% ({} the 1% target), CPU per request {:+.1}%",
            self.p99_cost() * 100.0,
            verdict(self.p99_cost()),
            self.throughput_cost() * 100.0,
            verdict(self.throughput_cost()),
            self.cpu_cost() * 100.0,
        )?;
        if let Some((t, l)) = self.sink_requests {
            writeln!(f, "sink received {t} trace and {l} log export requests")?;
        }
        Ok(())
    }
}

/// Runs `gauntlet bench overhead` and prints the table.
pub async fn run_overhead_cli(args: OverheadArgs) -> Result<(), BenchError> {
    let report = overhead(args.into()).await?;
    print!("{report}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 0.5), Duration::from_millis(50));
        assert_eq!(percentile(&v, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&v[..1], 0.99), Duration::from_millis(1));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }

    #[test]
    fn traceparents_are_well_formed() {
        let tp = traceparent();
        let parts: Vec<&str> = tp.split('-').collect();
        assert_eq!(parts.len(), 4);
        assert_eq!(
            (parts[0], parts[1].len(), parts[2].len(), parts[3]),
            ("00", 32, 16, "01")
        );
    }
}
