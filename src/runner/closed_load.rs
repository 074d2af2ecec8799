//! Closed-model load (`load.model: closed`): `gauntlet closed-worker` as a child process in
//! its own process group (goose's Ctrl-C handler and global killswitch stay out of the
//! runner), fed its plan on stdin, read as JSON lines on stdout.
//!
//! Failed requests' trace ids and answered requests go where the open engine's go; samples
//! feed the same series. Stopping writes `stop` and waits for the child's `done` line; on
//! cancel, timeout or panic the task is dropped and [`ManagedProcess`] kills the group.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::completeness::SharedLedger;
use super::load::{FailedRequests, keep_failed};
use super::run::RunError;
use crate::load::closed::{ClosedEvent, ClosedPlan, ClosedReport};
use crate::load::{Journey, LoadSample};
use crate::report::{LoadEngine, LoadSummary};
use crate::scenario::{ClosedLoad, LoadSpec};
use crate::stack::process::ManagedProcess;

/// How long the child may take, after its run time or a stop, to send its report.
const REPORT_GRACE: Duration = Duration::from_secs(10);

/// Where the child runs from and logs to.
pub(super) struct ClosedChild {
    pub exe: PathBuf,
    pub log_dir: PathBuf,
}

/// Where the child's events go.
pub(super) struct Sinks {
    pub samples: mpsc::Sender<LoadSample>,
    pub failed: FailedRequests,
    pub ledger: SharedLedger,
    pub start_wall: SystemTime,
}

/// The plan the child runs.
pub(super) fn closed_plan(spec: &LoadSpec, closed: ClosedLoad, target: &str) -> ClosedPlan {
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    ClosedPlan {
        target: target.to_owned(),
        users: closed.users,
        think_min_ms: ms(closed.think_min),
        think_max_ms: ms(closed.think_max),
        journeys: spec
            .journeys
            .iter()
            .filter_map(|j| Journey::from_name(j))
            .collect(),
        duration_ms: ms(spec.duration),
        timeout_ms: ms(spec.timeout),
    }
}

/// Starts the child; the task ends with the run's load summary once `stop` fires (or the
/// sender is dropped) or the run time is over.
pub(super) fn spawn(
    plan: ClosedPlan,
    child: &ClosedChild,
    sinks: Sinks,
    stop: oneshot::Receiver<()>,
) -> Result<JoinHandle<Result<LoadSummary, String>>, RunError> {
    let mut command = std::process::Command::new(&child.exe);
    command.arg("closed-worker").current_dir(&child.log_dir);
    // Loopback load must never go through an environment proxy (goose's client reads them).
    for var in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ] {
        command.env_remove(var);
    }
    let (process, stdin, stdout) =
        ManagedProcess::spawn_piped("closed-load", command, &child.log_dir)
            .map_err(|e| RunError::Internal(crate::error_chain(&e)))?;
    Ok(tokio::spawn(drive(
        plan, process, stdin, stdout, sinks, stop,
    )))
}

async fn drive(
    plan: ClosedPlan,
    mut process: ManagedProcess,
    mut stdin: tokio::process::ChildStdin,
    stdout: tokio::process::ChildStdout,
    sinks: Sinks,
    mut stop: oneshot::Receiver<()>,
) -> Result<LoadSummary, String> {
    let line = serde_json::to_string(&plan).map_err(|e| e.to_string())? + "\n";
    stdin
        .write_all(line.as_bytes())
        .await
        .map_err(|e| format!("cannot send the plan to the closed-model worker: {e}"))?;
    let mut lines = BufReader::new(stdout).lines();
    let run_time = Duration::from_millis(plan.duration_ms);
    let mut deadline = tokio::time::Instant::now()
        + run_time
        + Duration::from_millis(plan.timeout_ms)
        + REPORT_GRACE;
    let mut stopping = false;
    let result = loop {
        tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(l)) => match serde_json::from_str::<ClosedEvent>(&l) {
                    Ok(ClosedEvent::Done { report }) => break Ok(summary(&plan, &report)),
                    Ok(ClosedEvent::Error { message }) => break Err(message),
                    Ok(event) => forward(event, &sinks),
                    Err(e) => tracing::warn!(error = %e, line = %l, "unreadable line from the closed-model worker"),
                },
                Ok(None) | Err(_) => {
                    break Err(format!(
                        "the closed-model worker ended without a report: {}",
                        process.log_tail(2_000)
                    ))
                }
            },
            _ = &mut stop, if !stopping => {
                stopping = true;
                // A closed stdin means stop as well, so a failed write needs no handling.
                let _ = stdin.write_all(b"stop\n").await;
                let _ = stdin.flush().await;
                deadline = deadline.min(
                    tokio::time::Instant::now()
                        + Duration::from_millis(plan.timeout_ms)
                        + REPORT_GRACE,
                );
            }
            _ = tokio::time::sleep_until(deadline) => {
                break Err(format!(
                    "the closed-model worker sent no report in time; killed it: {}",
                    process.log_tail(2_000)
                ));
            }
        }
    };
    process.stop().await;
    result
}

fn forward(event: ClosedEvent, sinks: &Sinks) {
    match event {
        ClosedEvent::Sample {
            elapsed_ms,
            requests_per_sec,
            error_rate,
            p95_us,
            total,
        } => {
            // Dropped, not awaited, if the reporter lags (as the open engine does).
            let _ = sinks.samples.try_send(LoadSample {
                elapsed: Duration::from_millis(elapsed_ms),
                requests_per_sec,
                error_rate,
                p95_us,
                total,
            });
        }
        ClosedEvent::Request {
            trace_id,
            start_offset_us,
            status,
            failed,
        } => {
            let at = sinks.start_wall + Duration::from_micros(start_offset_us);
            if failed {
                keep_failed(&sinks.failed, trace_id.clone(), at);
            }
            if status.is_some()
                && let Ok(id) = u128::from_str_radix(&trace_id, 16)
            {
                sinks
                    .ledger
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .record(id, at);
            }
        }
        ClosedEvent::Done { .. } | ClosedEvent::Error { .. } => {}
    }
}

fn summary(plan: &ClosedPlan, r: &ClosedReport) -> LoadSummary {
    let ms = |us: u64| us as f64 / 1000.0;
    let secs = r.elapsed_ms as f64 / 1000.0;
    LoadSummary {
        requests: r.total,
        failures: r.failed,
        throughput_rps: if secs > 0.0 {
            r.total as f64 / secs
        } else {
            0.0
        },
        p50_ms: ms(r.histogram.quantile(0.50)),
        p95_ms: ms(r.histogram.quantile(0.95)),
        p99_ms: ms(r.histogram.quantile(0.99)),
        max_ms: ms(r.histogram.max()),
        engine: LoadEngine::Goose,
        users: Some(plan.users),
        sessions: Some(r.sessions),
        cluster_workers: None,
    }
}
