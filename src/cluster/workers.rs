//! Distributed load: N load workers as one Kubernetes Job, their results merged exactly.
//!
//! The coordinator ([`DistributedLoad::run`]) splits a [`LoadPlan`] into a [`WorkerPlan`]
//! with 1/N of the rate, creates the Job from `deploy/load-worker-job.yaml` (Indexed,
//! parallelism = completions = N, `backoffLimit: 0`, labelled
//! `app.kubernetes.io/managed-by: gauntlet`), polls it until it completes or fails, reads
//! each pod's log through the API, and deletes the Job with `propagationPolicy: Background`
//! — on success, on failure, and (through the [`FaultRegistry`] it registers the Job in) on
//! drop or ctrl-c.
//!
//! Each worker (`gauntlet load-worker`, [`run_load_worker`]) runs the plan with the normal
//! generator and prints one line `{"worker": i, "report": {"summary": …, "histogram": …}}`.
//! [`merge`] is pure: histograms merge bucket-wise ([`Histogram::merge`], exact), counts and
//! per-status/per-kind/per-journey maps add, elapsed is the slowest worker's, throughput is
//! recomputed from the merged count and that elapsed, and percentiles come from the merged
//! histogram — so they equal the percentiles of the union of all samples.
//!
//! Job API: <https://kubernetes.io/docs/concepts/workloads/controllers/job/>.

use crate::error_chain;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::core::ObjectList;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::api::{ApiCall, ApiError, Name};
use super::guard::{self, GuardError};
use crate::fault::{FaultGuard, FaultRegistry};
use crate::load::record::ErrorKind;
use crate::load::{
    Histogram, Journey, JourneyWeight, LoadModel, LoadOptions, LoadPlan, LoadReport, LoadSummary,
    Ramp,
};
use crate::stack::template::{self, TemplateError};
use crate::verdict::{Backoff, Probe, poll_until};

/// The Job template users can read in `deploy/`.
pub const JOB_TEMPLATE: &str = include_str!("../../deploy/load-worker-job.yaml");
/// Name of the worker container in the template.
pub const WORKER_CONTAINER: &str = "worker";
/// Upper bound on workers per Job.
pub const MAX_WORKERS: u32 = 200;

/// How long past the Job's own deadline its status is still polled.
const DEADLINE_MARGIN: Duration = Duration::from_secs(10);
/// The label Kubernetes puts on a Job's pods.
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";

/// One worker's share of the load, as JSON on its command line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerPlan {
    /// Base URL of the frontend as seen from inside the cluster.
    pub target: String,
    pub journeys: Vec<WorkerJourney>,
    /// Requests per second for this worker.
    pub rate: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ramp: Option<WorkerRamp>,
    pub duration_ms: u64,
    pub max_requests: u64,
    pub timeout_ms: u64,
    pub max_in_flight: usize,
}

/// A journey and its weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerJourney {
    pub journey: Journey,
    pub weight: u32,
}

/// A worker's ramp: from `from_rate` over `over_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerRamp {
    pub from_rate: f64,
    pub over_ms: u64,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl WorkerPlan {
    /// Each of `workers` workers' share of `plan` (open model only): rate and ramp divided
    /// by N, the request cap divided rounding up, everything else as is.
    pub fn split(plan: &LoadPlan, workers: u32) -> Result<Self, WorkerError> {
        let LoadModel::Open { rate, ramp } = plan.model else {
            return Err(WorkerError::ClosedModel);
        };
        if workers == 0 || workers > MAX_WORKERS {
            return Err(WorkerError::WorkerCount { workers });
        }
        let n = f64::from(workers);
        Ok(WorkerPlan {
            target: plan.target.to_string(),
            journeys: plan
                .journeys
                .iter()
                .map(|j| WorkerJourney {
                    journey: j.journey,
                    weight: j.weight,
                })
                .collect(),
            rate: rate / n,
            ramp: ramp.map(|r| WorkerRamp {
                from_rate: r.from_rate / n,
                over_ms: millis(r.over),
            }),
            duration_ms: millis(plan.duration),
            max_requests: if plan.max_requests == u64::MAX {
                u64::MAX
            } else {
                plan.max_requests.div_ceil(u64::from(workers))
            },
            timeout_ms: millis(plan.timeout),
            max_in_flight: plan.max_in_flight,
        })
    }

    /// The plan the worker's generator runs. Workers run inside the cluster and load a
    /// Service address by design, so the loopback guard is lifted; the namespace opt-in
    /// checked by the coordinator is the gate.
    pub fn to_load_plan(&self) -> Result<LoadPlan, WorkerError> {
        let target = reqwest::Url::parse(&self.target).map_err(|e| WorkerError::Target {
            target: self.target.clone(),
            reason: e.to_string(),
        })?;
        let plan = LoadPlan {
            target,
            journeys: self
                .journeys
                .iter()
                .map(|j| JourneyWeight {
                    journey: j.journey,
                    weight: j.weight,
                })
                .collect(),
            model: LoadModel::Open {
                rate: self.rate,
                ramp: self.ramp.map(|r| Ramp {
                    from_rate: r.from_rate,
                    over: Duration::from_millis(r.over_ms),
                }),
            },
            duration: Duration::from_millis(self.duration_ms),
            max_requests: self.max_requests,
            timeout: Duration::from_millis(self.timeout_ms),
            allow_non_loopback: true,
            max_in_flight: self.max_in_flight,
        };
        let problems = plan.validate();
        if problems.is_empty() {
            Ok(plan)
        } else {
            Err(WorkerError::InvalidPlan(
                problems.iter().map(ToString::to_string).collect(),
            ))
        }
    }
}

/// What a worker reports: the aggregates that merge exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerReport {
    pub summary: WorkerSummary,
    /// Latency histogram, microseconds.
    pub histogram: Histogram,
}

/// The additive part of a [`LoadSummary`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerSummary {
    pub total: u64,
    pub success: u64,
    pub failed: u64,
    #[serde(default)]
    pub failures_by_status: BTreeMap<u16, u64>,
    /// Keyed by [`ErrorKind::name`].
    #[serde(default)]
    pub failures_by_error: BTreeMap<String, u64>,
    #[serde(default)]
    pub by_journey: BTreeMap<Journey, u64>,
    pub elapsed_ms: u64,
}

impl WorkerReport {
    /// The mergeable part of a finished run.
    pub fn from_report(report: &LoadReport) -> Self {
        let s = &report.summary;
        WorkerReport {
            summary: WorkerSummary {
                total: s.total,
                success: s.success,
                failed: s.failed,
                failures_by_status: s.failures_by_status.clone(),
                failures_by_error: s
                    .failures_by_error
                    .iter()
                    .map(|(k, v)| (k.name().to_owned(), *v))
                    .collect(),
                by_journey: s.by_journey.clone(),
                elapsed_ms: millis(s.elapsed),
            },
            histogram: report.histogram.clone(),
        }
    }
}

/// The line a worker prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerLine {
    pub worker: u32,
    pub report: WorkerReport,
}

/// Why worker results cannot be merged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error("no worker results to merge")]
    Empty,
    #[error("worker {worker} reported twice")]
    Duplicate { worker: u32 },
    #[error("no result from worker(s) {}", fmt_list(.workers))]
    Missing { workers: Vec<u32> },
    #[error("worker {worker} reported an inconsistent result: {reason}")]
    Inconsistent { worker: u32, reason: String },
    #[error("worker {worker} reported unknown error kind {kind:?}")]
    UnknownErrorKind { worker: u32, kind: String },
}

fn fmt_list(v: &[u32]) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Several workers' results as one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MergedLoad {
    pub summary: LoadSummary,
    pub histogram: Histogram,
    pub workers: u32,
}

fn error_kind(name: &str) -> Option<ErrorKind> {
    [
        ErrorKind::Timeout,
        ErrorKind::Connect,
        ErrorKind::Transport,
        ErrorKind::Request,
    ]
    .into_iter()
    .find(|k| k.name() == name)
}

/// Merges worker results exactly (pure). `expected` workers must each report once, with
/// indices `0..expected`.
pub fn merge(lines: &[WorkerLine], expected: u32) -> Result<MergedLoad, MergeError> {
    if lines.is_empty() {
        return Err(MergeError::Empty);
    }
    let mut seen = BTreeSet::new();
    for l in lines {
        if !seen.insert(l.worker) {
            return Err(MergeError::Duplicate { worker: l.worker });
        }
    }
    let missing: Vec<u32> = (0..expected).filter(|i| !seen.contains(i)).collect();
    if !missing.is_empty() {
        return Err(MergeError::Missing { workers: missing });
    }
    if let Some(extra) = seen.iter().find(|w| **w >= expected) {
        return Err(MergeError::Inconsistent {
            worker: *extra,
            reason: format!("index beyond the {expected} workers of the job"),
        });
    }

    let mut histogram = Histogram::new();
    let (mut total, mut success, mut failed) = (0u64, 0u64, 0u64);
    let mut failures_by_status = BTreeMap::new();
    let mut failures_by_error = BTreeMap::new();
    let mut by_journey = BTreeMap::new();
    let mut elapsed = Duration::ZERO;
    for l in lines {
        let s = &l.report.summary;
        let inconsistent = |reason: String| MergeError::Inconsistent {
            worker: l.worker,
            reason,
        };
        if s.total != l.report.histogram.count() {
            return Err(inconsistent(format!(
                "total {} but the histogram holds {}",
                s.total,
                l.report.histogram.count()
            )));
        }
        if s.success.checked_add(s.failed) != Some(s.total) {
            return Err(inconsistent(format!(
                "success {} + failed {} is not total {}",
                s.success, s.failed, s.total
            )));
        }
        histogram.merge(&l.report.histogram);
        total += s.total;
        success += s.success;
        failed += s.failed;
        for (status, n) in &s.failures_by_status {
            *failures_by_status.entry(*status).or_insert(0) += n;
        }
        for (kind, n) in &s.failures_by_error {
            let k = error_kind(kind).ok_or_else(|| MergeError::UnknownErrorKind {
                worker: l.worker,
                kind: kind.clone(),
            })?;
            *failures_by_error.entry(k).or_insert(0) += n;
        }
        for (journey, n) in &s.by_journey {
            *by_journey.entry(*journey).or_insert(0) += n;
        }
        elapsed = elapsed.max(Duration::from_millis(s.elapsed_ms));
    }
    let secs = elapsed.as_secs_f64();
    let summary = LoadSummary {
        total,
        success,
        failed,
        failures_by_status,
        failures_by_error,
        by_journey,
        // All workers run at once: the wall time is the slowest worker's.
        throughput: if secs > 0.0 { total as f64 / secs } else { 0.0 },
        elapsed,
        p50_us: histogram.quantile(0.50),
        p90_us: histogram.quantile(0.90),
        p95_us: histogram.quantile(0.95),
        p99_us: histogram.quantile(0.99),
        max_us: histogram.max(),
        mean_us: histogram.mean(),
    };
    Ok(MergedLoad {
        summary,
        histogram,
        workers: expected,
    })
}

/// The last `{"worker": …}` line in a pod log, if any.
pub fn parse_worker_log(log: &str) -> Option<Result<WorkerLine, serde_json::Error>> {
    log.lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with("{\"worker\""))
        .map(serde_json::from_str)
}

/// Why distributed load (or a worker) failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("distributed load needs an open-model plan (a rate)")]
    ClosedModel,
    #[error("{workers} workers: need between 1 and {MAX_WORKERS}")]
    WorkerCount { workers: u32 },
    #[error("invalid worker plan: {}", .0.join("; "))]
    InvalidPlan(Vec<String>),
    #[error("worker target {target:?} is not a url: {reason}")]
    Target { target: String, reason: String },
    #[error("worker image {image:?} is not usable: {reason}")]
    Image { image: String, reason: &'static str },
    #[error(transparent)]
    Guard(#[from] GuardError),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("cannot render the load-worker job template")]
    Template(#[from] TemplateError),
    #[error("the rendered load-worker job is not a valid Job")]
    JobManifest(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("job {job} did not finish within {waited:?}{}", last.as_deref().map(|l| format!(" (last seen: {l})")).unwrap_or_default())]
    Timeout {
        job: String,
        waited: Duration,
        last: Option<String>,
    },
    #[error("job {job}: {} worker(s) failed: {}", failures.len(), failures.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    WorkersFailed {
        job: String,
        failures: Vec<WorkerFailure>,
    },
    #[error(transparent)]
    Merge(#[from] MergeError),
    #[error("the --plan argument is not a worker plan")]
    PlanJson(#[source] serde_json::Error),
    #[error("load run failed")]
    Load(#[from] crate::load::LoadError),
    #[error("cannot write the worker result")]
    Output(#[source] std::io::Error),
}

/// One worker pod that produced no usable result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkerFailure {
    pub pod: String,
    pub phase: String,
    pub reason: String,
}

impl std::fmt::Display for WorkerFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pod {} ({}): {}", self.pod, self.phase, self.reason)
    }
}

/// How the Job is made and watched.
#[derive(Debug, Clone)]
pub struct JobConfig {
    /// Must carry `gauntlet.io/chaos=enabled`.
    pub namespace: Name,
    /// Image with `gauntlet` on its PATH.
    pub image: String,
    pub workers: u32,
    /// Job name; `gauntlet-load-<random>` when `None`.
    pub name: Option<Name>,
    /// How often the Job's status is read.
    pub poll: Backoff,
    /// Time beyond the plan's duration for scheduling, image pulls and shutdown.
    pub grace: Duration,
    /// Log lines read from the end of each pod's log.
    pub log_tail_lines: u32,
    /// Upper bound on bytes read from one pod's log.
    pub log_limit_bytes: u64,
    /// `hostNetwork: true` on the pods: the workers share the node's network namespace, so
    /// they reach targets on its loopback (and need no pod network).
    pub host_network: bool,
}

impl JobConfig {
    /// Defaults: poll every 1–5 s, 2 min grace, the last 50 log lines up to 8 MiB.
    pub fn new(namespace: Name, image: impl Into<String>, workers: u32) -> Self {
        JobConfig {
            namespace,
            image: image.into(),
            workers,
            name: None,
            poll: Backoff {
                initial: Duration::from_secs(1),
                max: Duration::from_secs(5),
            },
            grace: Duration::from_secs(120),
            log_tail_lines: 50,
            log_limit_bytes: 8 * 1024 * 1024,
            host_network: false,
        }
    }
}

/// Renders the Job for `plan` from [`JOB_TEMPLATE`] (checked to parse as a `batch/v1` Job).
pub fn render_job(
    config: &JobConfig,
    name: &Name,
    plan: &WorkerPlan,
    deadline: Duration,
) -> Result<serde_json::Value, WorkerError> {
    if config.image.is_empty()
        || config
            .image
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(WorkerError::Image {
            image: config.image.clone(),
            reason: "empty or contains whitespace",
        });
    }
    let json_string = |s: &str| serde_json::Value::String(s.to_owned()).to_string();
    let plan_json =
        serde_json::to_string(plan).map_err(|e| WorkerError::JobManifest(Box::new(e)))?;
    let vars: BTreeMap<&str, String> = [
        ("name", name.to_string()),
        ("namespace", config.namespace.to_string()),
        ("workers", config.workers.to_string()),
        ("deadline_seconds", deadline.as_secs().max(1).to_string()),
        ("image", json_string(&config.image)),
        ("host_network", config.host_network.to_string()),
        ("plan", json_string(&plan_json)),
    ]
    .into_iter()
    .collect();
    let yaml = template::render("deploy/load-worker-job.yaml", JOB_TEMPLATE, &vars)?;
    let value: serde_json::Value =
        yaml_serde::from_str(&yaml).map_err(|e| WorkerError::JobManifest(Box::new(e)))?;
    // Typed check: a template edit that breaks the Job shape fails here, not in the cluster.
    serde_json::from_value::<Job>(value.clone())
        .map_err(|e| WorkerError::JobManifest(Box::new(e)))?;
    Ok(value)
}

/// A finished distributed run.
#[derive(Debug, Clone, Serialize)]
pub struct DistributedReport {
    pub job: String,
    pub merged: MergedLoad,
    /// Each worker's own result, by index.
    pub per_worker: Vec<WorkerLine>,
    /// Set when the Job could not be deleted afterwards.
    pub cleanup_error: Option<String>,
}

/// Runs load as a Kubernetes Job of N workers.
#[derive(Clone)]
pub struct DistributedLoad {
    client: kube::Client,
    config: JobConfig,
}

impl std::fmt::Debug for DistributedLoad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DistributedLoad")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

enum JobState {
    Complete,
    Failed(String),
}

impl DistributedLoad {
    pub fn new(client: kube::Client, config: JobConfig) -> Self {
        DistributedLoad { client, config }
    }

    /// Creates the Job, waits for it, merges the workers' results, and deletes the Job
    /// whatever happened. The Job is registered in `registry` while it exists, so
    /// `rollback_all` (ctrl-c) or dropping this future deletes it too.
    pub async fn run(
        &self,
        registry: &FaultRegistry,
        plan: &LoadPlan,
    ) -> Result<DistributedReport, WorkerError> {
        let cfg = &self.config;
        let worker_plan = WorkerPlan::split(plan, cfg.workers)?;
        worker_plan.to_load_plan()?;
        let name = match &cfg.name {
            Some(n) => n.clone(),
            None => Name::parse(
                "job",
                &format!("gauntlet-load-{:08x}", rand::random::<u32>()),
            )
            .expect("lowercase hex name"),
        };
        let deadline = plan.duration + cfg.grace;
        let job = render_job(cfg, &name, &worker_plan, deadline)?;
        guard::require_namespace(&self.client, &cfg.namespace).await?;
        ApiCall::create_job(&cfg.namespace, job)
            .send::<serde_json::Value>(&self.client)
            .await?;
        let owner = self.register_delete(registry, &name);
        tracing::info!(job = %name, namespace = %cfg.namespace, workers = cfg.workers, "load job created");

        let result = self.wait_and_collect(&name, deadline).await;
        let cleanup_error = owner.rollback().await.err().map(|e| error_chain(&e));
        if let Some(e) = &cleanup_error {
            tracing::error!(job = %name, error = %e, "load job could not be deleted");
        }
        let (merged, per_worker) = result?;
        Ok(DistributedReport {
            job: name.to_string(),
            merged,
            per_worker,
            cleanup_error,
        })
    }

    fn register_delete(&self, registry: &FaultRegistry, name: &Name) -> FaultGuard {
        let client = self.client.clone();
        let call = ApiCall::delete_job(&self.config.namespace, name);
        let what = format!("load job {}/{name}", self.config.namespace);
        registry.register(what.clone(), move || {
            Box::pin(async move {
                match call.send::<serde_json::Value>(&client).await {
                    Ok(_) => Ok(()),
                    Err(e) if e.status_code() == Some(404) => Ok(()),
                    Err(e) => Err(super::faults::rollback_error(&what, e)),
                }
            })
        })
    }

    async fn wait_and_collect(
        &self,
        name: &Name,
        deadline: Duration,
    ) -> Result<(MergedLoad, Vec<WorkerLine>), WorkerError> {
        let cfg = &self.config;
        let started = Instant::now();
        let get = ApiCall::get_job(&cfg.namespace, name);
        let workers = i32::try_from(cfg.workers).unwrap_or(i32::MAX);
        // A little past the Job's activeDeadlineSeconds, so the cluster's own verdict
        // (DeadlineExceeded, with its reason) is what gets reported.
        let outcome = poll_until(started + deadline + DEADLINE_MARGIN, cfg.poll, || async {
            match get.send::<Job>(&self.client).await {
                Err(e) => Probe::CouldNotAsk(error_chain(&e)),
                Ok(job) => job_state(&job, workers),
            }
        })
        .await;
        let state = match outcome.met {
            Some(seen) => seen.evidence,
            None => {
                return Err(WorkerError::Timeout {
                    job: name.to_string(),
                    waited: started.elapsed(),
                    last: outcome
                        .last_observed
                        .map(|(s, _)| s)
                        .or(outcome.last_failure.map(|(s, _)| s)),
                });
            }
        };

        let selector = format!("{JOB_NAME_LABEL}={name}");
        let pods: ObjectList<Pod> = ApiCall::list_pods(&cfg.namespace, &selector)
            .send(&self.client)
            .await?;
        let mut pods: Vec<Pod> = pods.items;
        pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        let mut lines = Vec::new();
        let mut failures = Vec::new();
        for pod in &pods {
            let pod_name = pod.metadata.name.clone().unwrap_or_default();
            let phase = pod
                .status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_else(|| "Unknown".to_owned());
            let fail = |reason: String| WorkerFailure {
                pod: pod_name.clone(),
                phase: phase.clone(),
                reason,
            };
            let Ok(pod_ref) = Name::parse("pod", &pod_name) else {
                failures.push(fail("invalid pod name".to_owned()));
                continue;
            };
            let log = ApiCall::pod_log(
                &cfg.namespace,
                &pod_ref,
                WORKER_CONTAINER,
                cfg.log_tail_lines,
                cfg.log_limit_bytes,
            )
            .send_text(&self.client)
            .await;
            match log {
                Err(e) => failures.push(fail(format!("cannot read its log: {}", error_chain(&e)))),
                Ok(text) => match parse_worker_log(&text) {
                    Some(Ok(line)) if phase == "Succeeded" => lines.push(line),
                    Some(Ok(_)) => {
                        failures.push(fail("reported a result but did not succeed".to_owned()))
                    }
                    Some(Err(e)) => failures.push(fail(format!("unreadable result line: {e}"))),
                    None => failures.push(fail(match last_line(&text) {
                        Some(l) => format!("no result line; log ends with: {l}"),
                        None => "no result line; the log is empty".to_owned(),
                    })),
                },
            }
        }
        if let JobState::Failed(reason) = &state
            && failures.is_empty()
        {
            failures.push(WorkerFailure {
                pod: "-".to_owned(),
                phase: "Failed".to_owned(),
                reason: reason.clone(),
            });
        }
        if !failures.is_empty() {
            return Err(WorkerError::WorkersFailed {
                job: name.to_string(),
                failures,
            });
        }
        lines.sort_by_key(|l| l.worker);
        let merged = merge(&lines, cfg.workers)?;
        Ok((merged, lines))
    }
}

fn job_state(job: &Job, workers: i32) -> Probe<JobState> {
    let Some(status) = &job.status else {
        return Probe::NotYet("no status yet".to_owned());
    };
    let condition = |kind: &str| {
        status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == kind && c.status == "True")
    };
    let (active, succeeded, failed) = (
        status.active.unwrap_or(0),
        status.succeeded.unwrap_or(0),
        status.failed.unwrap_or(0),
    );
    if let Some(c) = condition("Failed") {
        let reason = [c.reason.as_deref(), c.message.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(": ");
        return Probe::Met(JobState::Failed(if reason.is_empty() {
            "job failed".to_owned()
        } else {
            reason
        }));
    }
    if failed > 0 {
        return Probe::Met(JobState::Failed(format!("{failed} pod(s) failed")));
    }
    if condition("Complete").is_some() || succeeded >= workers {
        return Probe::Met(JobState::Complete);
    }
    Probe::NotYet(format!(
        "active {active}, succeeded {succeeded}/{workers}, failed {failed}"
    ))
}

fn last_line(text: &str) -> Option<String> {
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| l.chars().take(300).collect())
}

/// `gauntlet load-worker`: one worker of a distributed load Job (hidden subcommand).
#[derive(Debug, Clone, clap::Args)]
pub struct LoadWorkerArgs {
    /// The worker's load plan as JSON (written into the Job by the coordinator).
    #[arg(long)]
    pub plan: String,
    /// This worker's index; Kubernetes sets JOB_COMPLETION_INDEX for Indexed Jobs.
    #[arg(long, env = "JOB_COMPLETION_INDEX")]
    pub index: u32,
}

/// Runs one worker's plan and prints its result line to stdout.
pub async fn run_load_worker(args: LoadWorkerArgs) -> Result<WorkerLine, WorkerError> {
    let line = run_worker(&args).await?;
    let mut out = std::io::stdout().lock();
    write_line(&mut out, &line)?;
    Ok(line)
}

/// Runs one worker's plan and returns its result (no output).
pub async fn run_worker(args: &LoadWorkerArgs) -> Result<WorkerLine, WorkerError> {
    let plan: WorkerPlan = serde_json::from_str(&args.plan).map_err(WorkerError::PlanJson)?;
    let load_plan = plan.to_load_plan()?;
    tracing::info!(worker = args.index, target = %load_plan.target, rate = plan.rate, "load worker starting");
    let report = crate::load::run(&load_plan, LoadOptions::default()).await?;
    Ok(WorkerLine {
        worker: args.index,
        report: WorkerReport::from_report(&report),
    })
}

/// Writes `line` as one JSON line.
pub fn write_line(out: &mut dyn Write, line: &WorkerLine) -> Result<(), WorkerError> {
    let text = serde_json::to_string(line).map_err(|e| WorkerError::Output(e.into()))?;
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(WorkerError::Output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::JourneyWeight;

    /// Deterministic pseudo-random latencies (xorshift), in µs.
    fn samples(seed: u64, n: usize, scale: u64) -> Vec<u64> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x % scale + 100
            })
            .collect()
    }

    fn report(worker: u32, values: &[u64], failed_every: usize, elapsed_ms: u64) -> WorkerLine {
        let mut h = Histogram::new();
        let mut failures_by_status = BTreeMap::new();
        let mut failed = 0;
        for (i, v) in values.iter().enumerate() {
            h.record(*v);
            if failed_every > 0 && i % failed_every == 0 {
                failed += 1;
                *failures_by_status.entry(503u16).or_insert(0u64) += 1;
            }
        }
        let total = values.len() as u64;
        WorkerLine {
            worker,
            report: WorkerReport {
                summary: WorkerSummary {
                    total,
                    success: total - failed,
                    failed,
                    failures_by_status,
                    failures_by_error: BTreeMap::from([("timeout".to_owned(), 0)]),
                    by_journey: BTreeMap::from([(Journey::Browse, total)]),
                    elapsed_ms,
                },
                histogram: h,
            },
        }
    }

    #[test]
    fn merged_percentiles_equal_the_percentiles_of_the_union() {
        // Three workers with very different latency distributions.
        let parts = [
            samples(1, 7_000, 2_000),
            samples(2, 3_000, 250_000),
            samples(3, 11_000, 40_000),
        ];
        let lines: Vec<WorkerLine> = parts
            .iter()
            .enumerate()
            .map(|(i, v)| report(i as u32, v, 10, 10_000 + i as u64 * 150))
            .collect();
        let merged = merge(&lines, 3).expect("merges");

        let mut union = Histogram::new();
        for v in parts.iter().flatten() {
            union.record(*v);
        }
        assert_eq!(
            merged.histogram, union,
            "bucket-wise merge is the union's histogram"
        );
        let s = &merged.summary;
        assert_eq!(s.total, 21_000);
        for (q, got) in [
            (0.50, s.p50_us),
            (0.90, s.p90_us),
            (0.95, s.p95_us),
            (0.99, s.p99_us),
        ] {
            assert_eq!(got, union.quantile(q), "q{q}");
        }
        assert_eq!(s.max_us, *parts.iter().flatten().max().expect("samples"));
        // And within one bucket (1/128) of the true percentile of the sorted union.
        let mut sorted: Vec<u64> = parts.iter().flatten().copied().collect();
        sorted.sort_unstable();
        let true_p99 = sorted[(0.99 * sorted.len() as f64).ceil() as usize - 1];
        assert!(s.p99_us >= true_p99 && s.p99_us - true_p99 <= true_p99 / 128 + 1);
        let exact_mean = parts.iter().flatten().sum::<u64>() as f64 / 21_000.0;
        assert_eq!(s.mean_us, exact_mean);
        // Failures: every 10th of each worker.
        assert_eq!(s.failed, 700 + 300 + 1_100);
        assert_eq!(s.success + s.failed, s.total);
        assert_eq!(s.failures_by_status.get(&503), Some(&2_100));
        assert_eq!(s.failures_by_error.get(&ErrorKind::Timeout), Some(&0));
        assert_eq!(s.by_journey.get(&Journey::Browse), Some(&21_000));
        // Throughput: merged count over the slowest worker's elapsed (10.3 s).
        assert_eq!(s.elapsed, Duration::from_millis(10_300));
        assert!(
            (s.throughput - 21_000.0 / 10.3).abs() < 1e-9,
            "{}",
            s.throughput
        );
        // Order does not matter.
        let mut reversed = lines.clone();
        reversed.reverse();
        assert_eq!(merge(&reversed, 3).expect("merges"), merged);
    }

    #[test]
    fn merge_refuses_missing_duplicate_and_inconsistent_results() {
        let a = report(0, &[1, 2, 3], 0, 1_000);
        let b = report(1, &[4, 5], 0, 1_000);
        assert_eq!(merge(&[], 2), Err(MergeError::Empty));
        assert_eq!(
            merge(std::slice::from_ref(&a), 3),
            Err(MergeError::Missing {
                workers: vec![1, 2]
            })
        );
        assert_eq!(
            merge(&[a.clone(), a.clone()], 1),
            Err(MergeError::Duplicate { worker: 0 })
        );
        assert!(matches!(
            merge(&[a.clone(), b.clone()], 1),
            Err(MergeError::Inconsistent { worker: 1, .. })
        ));
        let mut lying = b.clone();
        lying.report.summary.total = 99;
        assert_eq!(
            merge(&[a.clone(), lying], 2)
                .expect_err("inconsistent")
                .to_string(),
            "worker 1 reported an inconsistent result: total 99 but the histogram holds 2"
        );
        let mut odd = b;
        odd.report
            .summary
            .failures_by_error
            .insert("gremlins".into(), 1);
        assert_eq!(
            merge(&[a, odd], 2),
            Err(MergeError::UnknownErrorKind {
                worker: 1,
                kind: "gremlins".into()
            })
        );
    }

    #[test]
    fn worker_lines_round_trip_and_are_found_in_noisy_logs() {
        let line = report(4, &[10, 20, 3_000_000], 2, 1_234);
        let mut buf = Vec::new();
        write_line(&mut buf, &line).expect("writes");
        let text = String::from_utf8(buf).expect("utf8");
        assert!(
            text.starts_with("{\"worker\":4,\"report\":{\"summary\":{\"total\":3,"),
            "{text}"
        );
        assert_eq!(text.matches('\n').count(), 1);
        let log = format!("2026-01-01T00:00:00Z INFO load worker starting\n{text}\n");
        let parsed = parse_worker_log(&log).expect("found").expect("parses");
        assert_eq!(parsed, line);
        assert!(parse_worker_log("just noise\n").is_none());
        assert!(
            parse_worker_log("{\"worker\": 1, \"rep")
                .expect("found")
                .is_err()
        );
    }

    #[test]
    fn plans_split_evenly_and_come_back_as_load_plans() {
        let mut plan = LoadPlan::open(
            reqwest::Url::parse("http://frontend.shop.svc:8080/").expect("url"),
            vec![JourneyWeight {
                journey: Journey::Checkout,
                weight: 3,
            }],
            300.0,
            Duration::from_secs(60),
        );
        plan.max_requests = 1_000;
        plan.model = LoadModel::Open {
            rate: 300.0,
            ramp: Some(Ramp {
                from_rate: 30.0,
                over: Duration::from_secs(10),
            }),
        };
        let w = WorkerPlan::split(&plan, 3).expect("splits");
        assert_eq!(w.rate, 100.0);
        assert_eq!(
            w.ramp,
            Some(WorkerRamp {
                from_rate: 10.0,
                over_ms: 10_000
            })
        );
        assert_eq!(w.max_requests, 334);
        let json = serde_json::to_string(&w).expect("serializes");
        let back: WorkerPlan = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, w);
        let lp = back.to_load_plan().expect("valid");
        assert_eq!(lp.target.as_str(), "http://frontend.shop.svc:8080/");
        assert!(lp.allow_non_loopback);
        assert_eq!(lp.duration, Duration::from_secs(60));

        assert!(matches!(
            WorkerPlan::split(&plan, 0),
            Err(WorkerError::WorkerCount { workers: 0 })
        ));
        plan.model = LoadModel::Closed { connections: 2 };
        assert!(matches!(
            WorkerPlan::split(&plan, 2),
            Err(WorkerError::ClosedModel)
        ));
        assert!(serde_json::from_str::<WorkerPlan>("{\"target\":1}").is_err());
    }

    #[test]
    fn the_job_template_renders_into_a_valid_indexed_job() {
        let ns = Name::parse("namespace", "shop").expect("valid");
        let cfg = JobConfig::new(ns, "registry.example/gauntlet:0.1", 4);
        let name = Name::parse("job", "gauntlet-load-test").expect("valid");
        let plan = WorkerPlan {
            target: "http://frontend:8080/".into(),
            journeys: vec![WorkerJourney {
                journey: Journey::Browse,
                weight: 1,
            }],
            rate: 25.0,
            ramp: None,
            duration_ms: 30_000,
            max_requests: u64::MAX,
            timeout_ms: 10_000,
            max_in_flight: 64,
        };
        let job = render_job(&cfg, &name, &plan, Duration::from_secs(150)).expect("renders");
        let typed: Job = serde_json::from_value(job.clone()).expect("a Job");
        let pod_spec = |job: &serde_json::Value| job["spec"]["template"]["spec"].clone();
        assert_eq!(pod_spec(&job)["hostNetwork"], false);
        let host = JobConfig {
            host_network: true,
            ..cfg.clone()
        };
        let host_job = render_job(&host, &name, &plan, Duration::from_secs(150)).expect("renders");
        assert_eq!(pod_spec(&host_job)["hostNetwork"], true);
        let spec = typed.spec.expect("spec");
        assert_eq!(spec.parallelism, Some(4));
        assert_eq!(spec.completions, Some(4));
        assert_eq!(spec.completion_mode.as_deref(), Some("Indexed"));
        assert_eq!(spec.backoff_limit, Some(0));
        assert_eq!(spec.active_deadline_seconds, Some(150));
        assert_eq!(
            job["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "gauntlet"
        );
        let container = &job["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["name"], WORKER_CONTAINER);
        assert_eq!(container["image"], "registry.example/gauntlet:0.1");
        let command: Vec<&str> = container["command"]
            .as_array()
            .expect("command")
            .iter()
            .map(|v| v.as_str().expect("string"))
            .collect();
        assert_eq!(&command[..3], ["gauntlet", "load-worker", "--plan"]);
        let back: WorkerPlan = serde_json::from_str(command[3]).expect("the plan survives YAML");
        assert_eq!(back, plan);

        let bad = JobConfig::new(Name::parse("namespace", "shop").expect("valid"), "a b", 1);
        assert!(matches!(
            render_job(&bad, &name, &plan, Duration::from_secs(1)),
            Err(WorkerError::Image { .. })
        ));
    }
}
