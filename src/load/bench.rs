//! `gauntlet bench load`: how fast is the generator next to wrk
//! (<https://github.com/wg/wrk>) on the same trivial endpoint, in the same run?
//!
//! A trivial axum endpoint runs on its own thread and runtime (so it does not take worker
//! threads from the generator), on `127.0.0.1:0`. Rounds alternate wrk and gauntlet's
//! closed-model generator (traceparent on, same connection count, same duration), so drift in
//! a shared machine's load hits both. Then the generator runs open-model at a fixed rate while
//! its own CPU time is measured ([`super::cputime`]), the cost every other process on the
//! machine pays for the load. The report is data; [`BenchReport::render`] is the text
//! the CLI prints.

use super::cputime::{CpuReading, ENDPOINT_THREAD};
use super::generator::{self, LoadError, LoadOptions};
use super::journey::Journey;
use super::plan::{JourneyWeight, LoadModel, LoadPlan};
use serde::Serialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Options of `gauntlet bench load`.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct BenchLoadArgs {
    /// Length of each measurement (wrk's -d), e.g. `5s`.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Concurrent connections for both wrk (-c) and gauntlet (closed-model workers).
    #[arg(long, default_value_t = 16)]
    pub connections: usize,
    /// How many (wrk, gauntlet) pairs to run, alternating.
    #[arg(long, default_value_t = 2)]
    pub rounds: u32,
    /// The wrk binary.
    #[arg(long, default_value = "wrk")]
    pub wrk: PathBuf,
    /// Fixed open-model rate (requests/s) at which the generator's own CPU time is measured.
    #[arg(long, default_value_t = 2_000)]
    pub cpu_rate: u32,
    /// Length of the CPU measurement at `--cpu-rate`; `0s` skips it.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub cpu_duration: Duration,
}

impl Default for BenchLoadArgs {
    fn default() -> Self {
        BenchLoadArgs {
            duration: Duration::from_secs(5),
            connections: 16,
            rounds: 2,
            wrk: PathBuf::from("wrk"),
            cpu_rate: 2_000,
            cpu_duration: Duration::from_secs(10),
        }
    }
}

/// One measurement.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "tool", rename_all = "kebab-case")]
pub enum BenchRun {
    Wrk {
        requests_per_sec: f64,
    },
    Gauntlet {
        requests_per_sec: f64,
        total: u64,
        failed: u64,
        p99_us: u64,
    },
}

/// The generator's own CPU time (user + system) during an open-model run at a fixed rate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GeneratorCpu {
    pub rate: u32,
    #[serde(rename = "duration_ms", with = "super::duration_ms")]
    pub duration: Duration,
    /// Requests completed in the run.
    pub requests: u64,
    pub failed: u64,
    /// CPU time of every thread of the process but the endpoint's, milliseconds.
    pub cpu_ms: u64,
    /// `cpu_ms` per 1,000 completed requests.
    pub cpu_ms_per_1000: f64,
}

/// The benchmark's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchReport {
    pub endpoint: String,
    /// The wrk command line used (with the endpoint).
    pub wrk_command: String,
    /// In the order they ran.
    pub runs: Vec<BenchRun>,
    /// Mean of the wrk runs; `None` when wrk was skipped.
    pub wrk_requests_per_sec: Option<f64>,
    pub gauntlet_requests_per_sec: f64,
    /// gauntlet ÷ wrk.
    pub ratio: Option<f64>,
    /// Why wrk did not run, if it did not.
    pub wrk_skipped: Option<String>,
    /// The generator's CPU cost at a fixed rate; `Err` says why it was not measured.
    pub generator_cpu: Result<GeneratorCpu, String>,
}

impl BenchReport {
    /// Human-readable lines for the terminal.
    pub fn render(&self) -> String {
        let mut out = format!("endpoint: {}\n", self.endpoint);
        for r in &self.runs {
            match r {
                BenchRun::Wrk { requests_per_sec } => {
                    out += &format!("wrk       {requests_per_sec:>12.1} req/s\n");
                }
                BenchRun::Gauntlet {
                    requests_per_sec,
                    total,
                    failed,
                    p99_us,
                } => {
                    out += &format!(
                        "gauntlet  {requests_per_sec:>12.1} req/s  ({total} requests, {failed} failed, p99 {p99_us} µs)\n"
                    );
                }
            }
        }
        match (self.wrk_requests_per_sec, self.ratio) {
            (Some(w), Some(ratio)) => {
                out += &format!(
                    "mean: wrk {w:.1} req/s, gauntlet {:.1} req/s, ratio {ratio:.2}x ({})\n",
                    self.gauntlet_requests_per_sec, self.wrk_command
                );
            }
            _ => {
                out += &format!(
                    "mean: gauntlet {:.1} req/s; wrk skipped: {}\n",
                    self.gauntlet_requests_per_sec,
                    self.wrk_skipped.as_deref().unwrap_or("unknown reason")
                );
            }
        }
        match &self.generator_cpu {
            Ok(c) => {
                out += &format!(
                    "generator cpu at {} req/s open model for {:?}: {} ms for {} requests \
                     ({} failed) = {:.1} ms per 1,000 requests\n",
                    c.rate, c.duration, c.cpu_ms, c.requests, c.failed, c.cpu_ms_per_1000
                );
            }
            Err(why) => out += &format!("generator cpu: skipped: {why}\n"),
        }
        out
    }
}

/// Why the benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("cannot start the benchmark endpoint")]
    Server(#[source] std::io::Error),
    #[error("the generator failed")]
    Load(#[from] LoadError),
    #[error("wrk failed: {0}")]
    Wrk(String),
    #[error("bench needs at least one round and one connection")]
    Args,
}

/// Runs the benchmark.
pub async fn bench_load(args: &BenchLoadArgs) -> Result<BenchReport, BenchError> {
    if args.rounds == 0 || args.connections == 0 || args.duration.is_zero() {
        return Err(BenchError::Args);
    }
    let server = BenchServer::start().map_err(BenchError::Server)?;
    let url = format!("http://{}/healthz", server.addr);
    let secs = args.duration.as_secs().max(1);
    let wrk_args = vec![
        "-t1".to_owned(),
        format!("-c{}", args.connections),
        format!("-d{secs}s"),
        "--latency".to_owned(),
        url.clone(),
    ];
    let wrk_command = format!("{} {}", args.wrk.display(), wrk_args.join(" "));
    let mut wrk_skipped = wrk_available(&args.wrk).await.err();

    let plan = LoadPlan {
        target: reqwest::Url::parse(&format!("http://{}", server.addr)).map_err(|e| {
            BenchError::Server(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        })?,
        journeys: vec![JourneyWeight {
            journey: Journey::Health,
            weight: 1,
        }],
        model: LoadModel::Closed {
            connections: args.connections,
        },
        duration: Duration::from_secs(secs),
        max_requests: u64::MAX,
        timeout: Duration::from_secs(5),
        allow_non_loopback: false,
        max_in_flight: args.connections,
    };

    let mut runs = Vec::new();
    for _ in 0..args.rounds {
        if wrk_skipped.is_none() {
            let rps = run_wrk(&args.wrk, &wrk_args, args.duration).await?;
            runs.push(BenchRun::Wrk {
                requests_per_sec: rps,
            });
        }
        let report = generator::run(&plan, LoadOptions::default()).await?;
        let s = &report.summary;
        runs.push(BenchRun::Gauntlet {
            requests_per_sec: s.throughput,
            total: s.total,
            failed: s.failed,
            p99_us: s.p99_us,
        });
    }
    let mean = |want_wrk: bool| {
        let v: Vec<f64> = runs
            .iter()
            .filter_map(|r| match (r, want_wrk) {
                (BenchRun::Wrk { requests_per_sec }, true)
                | (
                    BenchRun::Gauntlet {
                        requests_per_sec, ..
                    },
                    false,
                ) => Some(*requests_per_sec),
                _ => None,
            })
            .collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    let generator_cpu = measure_generator_cpu(args, &plan).await?;
    let wrk_mean = mean(true);
    let gauntlet_mean = mean(false).unwrap_or(0.0);
    if wrk_mean.is_none() && wrk_skipped.is_none() {
        wrk_skipped = Some("no wrk run completed".to_owned());
    }
    Ok(BenchReport {
        endpoint: url,
        wrk_command,
        ratio: wrk_mean.filter(|w| *w > 0.0).map(|w| gauntlet_mean / w),
        wrk_requests_per_sec: wrk_mean,
        gauntlet_requests_per_sec: gauntlet_mean,
        runs,
        wrk_skipped,
        generator_cpu,
    })
}

/// Runs the generator open-model at `args.cpu_rate` and measures its own CPU time.
async fn measure_generator_cpu(
    args: &BenchLoadArgs,
    closed: &LoadPlan,
) -> Result<Result<GeneratorCpu, String>, BenchError> {
    if args.cpu_duration.is_zero() {
        return Ok(Err("--cpu-duration is 0".to_owned()));
    }
    let plan = LoadPlan {
        model: LoadModel::Open {
            rate: f64::from(args.cpu_rate),
            ramp: None,
        },
        duration: args.cpu_duration,
        max_in_flight: 4_096,
        ..closed.clone()
    };
    let before = match CpuReading::now() {
        Ok(r) => r,
        Err(why) => return Ok(Err(why)),
    };
    let report = generator::run(&plan, LoadOptions::default()).await?;
    let after = match CpuReading::now() {
        Ok(r) => r,
        Err(why) => return Ok(Err(why)),
    };
    let cpu = after.generator_since(&before);
    let requests = report.summary.total;
    let cpu_ms = u64::try_from(cpu.as_millis()).unwrap_or(u64::MAX);
    Ok(Ok(GeneratorCpu {
        rate: args.cpu_rate,
        duration: args.cpu_duration,
        requests,
        failed: report.summary.failed,
        cpu_ms,
        cpu_ms_per_1000: if requests == 0 {
            0.0
        } else {
            cpu_ms as f64 * 1_000.0 / requests as f64
        },
    }))
}

/// `Ok` if `wrk -v` runs; the error is the skip reason.
pub async fn wrk_available(wrk: &std::path::Path) -> Result<(), String> {
    let out = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::process::Command::new(wrk)
            .arg("-v")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| format!("{} -v did not answer within 5 s", wrk.display()))?
    .map_err(|e| format!("cannot run {}: {e}", wrk.display()))?;
    // `wrk -v` prints its version and exits 1; any output that names wrk will do.
    let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    if text.contains("wrk") {
        Ok(())
    } else {
        Err(format!(
            "{} -v does not look like wrk: {text:?}",
            wrk.display()
        ))
    }
}

async fn run_wrk(
    wrk: &std::path::Path,
    args: &[String],
    duration: Duration,
) -> Result<f64, BenchError> {
    let out = tokio::time::timeout(
        duration + Duration::from_secs(15),
        tokio::process::Command::new(wrk)
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| BenchError::Wrk("did not finish in time".to_owned()))?
    .map_err(|e| BenchError::Wrk(e.to_string()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(BenchError::Wrk(format!(
            "exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    parse_wrk_rps(&stdout)
        .ok_or_else(|| BenchError::Wrk(format!("no Requests/sec line in: {stdout}")))
}

/// Reads `Requests/sec:` from wrk's output.
pub fn parse_wrk_rps(output: &str) -> Option<f64> {
    output
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
}

/// The trivial endpoint, on its own thread and runtime; stopped and joined on drop.
struct BenchServer {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BenchServer {
    fn start() -> std::io::Result<BenchServer> {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(ENDPOINT_THREAD)
            .enable_all()
            .build()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(ENDPOINT_THREAD.to_owned())
            .spawn(move || {
                rt.block_on(async move {
                    let app = axum::Router::new()
                        .route("/healthz", axum::routing::get(|| async { "ok" }));
                    let listener = match tokio::net::TcpListener::from_std(std_listener) {
                        Ok(l) => l,
                        Err(error) => {
                            tracing::error!(%error, "bench endpoint cannot listen");
                            return;
                        }
                    };
                    // Not graceful on purpose: idle keep-alive connections would hold a
                    // graceful shutdown open; the runtime's shutdown cancels them.
                    tokio::select! {
                        served = async { axum::serve(listener, app).await } => {
                            if let Err(error) = served {
                                tracing::error!(%error, "bench endpoint failed");
                            }
                        }
                        _ = rx => {}
                    }
                });
                rt.shutdown_timeout(Duration::from_secs(1));
            })?;
        Ok(BenchServer {
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }
}

impl Drop for BenchServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_wrk_output() {
        let out = "Running 5s test @ http://127.0.0.1:1/healthz\n  1 threads and 16 connections\n\
                   Requests/sec:  41234.56\nTransfer/sec:      4.12MB\n";
        assert_eq!(parse_wrk_rps(out), Some(41_234.56));
        assert_eq!(parse_wrk_rps("nothing"), None);
    }
}
