//! The run's load: the open-model generator on loopback (or a Job of cluster workers, or the
//! closed-model goose child of `closed_load.rs`), its live samples for the reports, and the
//! failed requests' trace ids (with their send times) that correlation checks follow.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::attach::KubeStack;
use super::clock::Clock;
use super::closed_load::{self, ClosedChild};
use super::run::{RunError, WorkerSettings};
use crate::error_chain;
use crate::fault::FaultRegistry;
use crate::load::{self, LoadOptions, LoadPlan};
use crate::report::{LoadSummary, RunEvent, SeriesPoint};
use crate::scenario::Scenario;

/// Failed requests kept for correlation, newest last.
pub(super) type FailedRequests = Arc<Mutex<Vec<(String, SystemTime)>>>;

/// Keeps one failed request's trace id, dropping the oldest half past 10,000: correlation
/// checks the newest.
pub(super) fn keep_failed(failed: &FailedRequests, trace_id: String, at: SystemTime) {
    let mut ids = failed.lock().unwrap_or_else(PoisonError::into_inner);
    if ids.len() >= 10_000 {
        ids.drain(..5_000);
    }
    ids.push((trace_id, at));
}

/// Aborts a spawned task when dropped, so an early return never leaves it running.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Load that is running (or none, for scenarios without load).
pub(super) struct LoadRun {
    task: Option<AbortOnDrop<Result<LoadSummary, String>>>,
    stop: Option<oneshot::Sender<()>>,
    forwarder: JoinHandle<()>,
    series: Arc<Mutex<Vec<SeriesPoint>>>,
    /// When the load started: fault times count from here.
    pub start: Instant,
}

impl LoadRun {
    /// Starts the scenario's load against `target_url` (the load target's URL).
    #[expect(
        clippy::too_many_arguments,
        reason = "one call site; each is a different piece of the run the load feeds"
    )]
    pub async fn start(
        scenario: &Scenario,
        target_url: Option<&str>,
        distributed: Option<(&WorkerSettings, &KubeStack)>,
        registry: &FaultRegistry,
        clock: &Clock,
        failed: FailedRequests,
        ledger: super::completeness::SharedLedger,
        closed_child: &ClosedChild,
    ) -> Result<LoadRun, RunError> {
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let (sample_tx, mut sample_rx) = mpsc::channel(64);
        // Owned by the load task when there is load; dropped otherwise so the forwarder ends.
        let mut sample_tx = Some(sample_tx);
        let start_wall = SystemTime::now();
        let closed = scenario.load.as_ref().and_then(|l| l.closed);
        let task = match (&scenario.load, closed) {
            (Some(spec), Some(closed)) => {
                let target = target_url.ok_or_else(|| {
                    RunError::Internal(format!("no URL for load target {}", spec.target))
                })?;
                if distributed.is_some() {
                    return Err(RunError::Config(
                            "`load.model: closed` runs goose on this machine; drop `--workers` (cluster workers run the open model)".into(),
                        ));
                }
                let plan = closed_load::closed_plan(spec, closed, target);
                let url = reqwest::Url::parse(target)
                    .map_err(|e| RunError::Internal(format!("load target {target}: {e}")))?;
                check_loopback_target(scenario, spec, &url, false).await?;
                ledger
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .load_start = Some(start_wall);
                let sinks = closed_load::Sinks {
                    samples: sample_tx
                        .take()
                        .ok_or_else(|| RunError::Internal("load samples already taken".into()))?,
                    failed,
                    ledger,
                    start_wall,
                };
                Some(closed_load::spawn(plan, closed_child, sinks, stop_rx)?)
            }
            (Some(spec), None) => {
                let target = target_url.ok_or_else(|| {
                    RunError::Internal(format!("no URL for load target {}", spec.target))
                })?;
                let plan = load_plan(spec, target)?;
                if let Some((workers, kube)) = distributed {
                    Some(spawn_distributed_load(
                        scenario, workers, kube, registry, plan,
                    )?)
                } else {
                    check_loopback_target(scenario, spec, &plan.target, plan.allow_non_loopback)
                        .await?;
                    let (failure_tx, mut failure_rx) = mpsc::channel::<load::RequestRecord>(1024);
                    tokio::spawn(async move {
                        while let Some(r) = failure_rx.recv().await {
                            keep_failed(
                                &failed,
                                r.trace_id.to_string(),
                                start_wall + r.start_offset,
                            );
                        }
                    });
                    let (answered_tx, mut answered_rx) =
                        mpsc::unbounded_channel::<load::RequestRecord>();
                    ledger
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .load_start = Some(start_wall);
                    tokio::spawn(async move {
                        while let Some(r) = answered_rx.recv().await {
                            ledger
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .record(r.trace_id.0, start_wall + r.start_offset);
                        }
                    });
                    let options = LoadOptions {
                        progress: sample_tx.take(),
                        failures: Some(failure_tx),
                        answered: Some(answered_tx),
                        ..LoadOptions::default()
                    };
                    Some(tokio::spawn(async move {
                        // Stops on the signal, or when the sender is dropped by an early return.
                        load::run_until(&plan, options, async {
                            let _ = stop_rx.await;
                        })
                        .await
                        .map(|report| load_summary(&report.summary))
                        .map_err(|e| error_chain(&e))
                    }))
                }
            }
            (None, _) => None,
        };
        drop(sample_tx);
        let start = Instant::now();
        let series = Arc::new(Mutex::new(Vec::<SeriesPoint>::new()));
        let forwarder = {
            let series = series.clone();
            let events = clock.events.clone();
            let offset = clock.ms(start);
            tokio::spawn(async move {
                while let Some(s) = sample_rx.recv().await {
                    let point = SeriesPoint {
                        t_ms: offset + s.elapsed.as_millis() as u64,
                        rps: s.requests_per_sec,
                        error_rate: s.error_rate,
                        p95_ms: s.p95_us as f64 / 1000.0,
                    };
                    if let Some(tx) = &events {
                        let _ = tx.send(RunEvent::LoadSample(point.clone()));
                    }
                    series
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(point);
                }
            })
        };
        Ok(LoadRun {
            task: task.map(AbortOnDrop),
            stop: Some(stop_tx),
            forwarder,
            series,
            start,
        })
    }

    /// Stops the load and returns what it measured.
    pub async fn finish(mut self) -> Result<(Option<LoadSummary>, Vec<SeriesPoint>), RunError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let summary = match self.task.take() {
            Some(mut task) => match (&mut task.0).await {
                Ok(Ok(summary)) => Some(summary),
                Ok(Err(e)) => return Err(RunError::Internal(format!("load failed: {e}"))),
                Err(e) => return Err(RunError::Internal(format!("load task failed: {e}"))),
            },
            None => None,
        };
        let _ = (&mut self.forwarder).await;
        let series = self
            .series
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        Ok((summary, series))
    }
}

/// Load goes only to loopback unless the plan allows otherwise; the error says how to reach
/// a service elsewhere.
async fn check_loopback_target(
    scenario: &Scenario,
    spec: &crate::scenario::LoadSpec,
    target: &reqwest::Url,
    allow_non_loopback: bool,
) -> Result<(), RunError> {
    let Err(e) = load::plan::check_loopback(target, allow_non_loopback).await else {
        return Ok(());
    };
    let hint = if scenario.stack.provider == crate::scenario::Provider::Kubernetes {
        "; run the load inside the cluster with `--workers N --worker-image IMAGE`, or port-forward the service and give its 127.0.0.1 endpoint"
    } else {
        "; give the service's 127.0.0.1 endpoint (a port-forward or tunnel)"
    };
    Err(RunError::Config(format!(
        "load target {}: {}{hint}",
        spec.target,
        error_chain(&e)
    )))
}

fn load_summary(s: &load::LoadSummary) -> LoadSummary {
    LoadSummary {
        requests: s.total,
        failures: s.failed,
        throughput_rps: s.throughput,
        p50_ms: s.p50_us as f64 / 1000.0,
        p95_ms: s.p95_us as f64 / 1000.0,
        p99_ms: s.p99_us as f64 / 1000.0,
        max_ms: s.max_us as f64 / 1000.0,
        engine: crate::report::LoadEngine::Open,
        users: None,
        sessions: None,
        cluster_workers: None,
    }
}

/// Runs the load as a Kubernetes Job of worker pods; the Job is registered in `registry`, so
/// it is deleted at the end of the run whatever happens. Workers run the whole plan (there is
/// no early stop) and report once, so there are no live samples.
fn spawn_distributed_load(
    scenario: &Scenario,
    workers: &WorkerSettings,
    kube: &KubeStack,
    registry: &FaultRegistry,
    plan: LoadPlan,
) -> Result<tokio::task::JoinHandle<Result<LoadSummary, String>>, RunError> {
    let namespace = scenario.stack.namespace.as_deref().unwrap_or_default();
    let namespace = crate::cluster::Name::parse("namespace", namespace)
        .map_err(|e| RunError::Config(format!("stack.namespace: {e}")))?;
    let mut config =
        crate::cluster::JobConfig::new(namespace, workers.image.clone(), workers.workers);
    config.host_network = workers.host_network;
    let (image, host_network, count) =
        (workers.image.clone(), workers.host_network, workers.workers);
    let job = crate::cluster::DistributedLoad::new(kube.client.clone(), config);
    let registry = registry.clone();
    Ok(tokio::spawn(async move {
        let report = job
            .run(&registry, &plan)
            .await
            .map_err(|e| error_chain(&e))?;
        if let Some(e) = &report.cleanup_error {
            tracing::warn!(job = %report.job, error = %e, "the load Job could not be deleted");
        }
        Ok(LoadSummary {
            cluster_workers: Some(crate::report::ClusterWorkers {
                job: report.job.clone(),
                workers: count,
                image,
                host_network,
            }),
            ..load_summary(&report.merged.summary)
        })
    }))
}

fn load_plan(spec: &crate::scenario::LoadSpec, target: &str) -> Result<LoadPlan, RunError> {
    let url = reqwest::Url::parse(target)
        .map_err(|e| RunError::Internal(format!("load target {target}: {e}")))?;
    let journeys = spec
        .journeys
        .iter()
        .filter_map(|j| load::Journey::ALL.into_iter().find(|x| x.name() == j))
        .map(|journey| load::JourneyWeight { journey, weight: 1 })
        .collect();
    let mut plan = LoadPlan::open(url, journeys, spec.rate, spec.duration);
    plan.max_requests = spec.max_requests;
    plan.timeout = spec.timeout;
    if let (Some(ramp), load::LoadModel::Open { rate, .. }) = (spec.ramp, plan.model) {
        plan.model = load::LoadModel::Open {
            rate,
            ramp: Some(load::Ramp {
                from_rate: 0.0,
                over: ramp,
            }),
        };
    }
    Ok(plan)
}
