//! The load generator: an open-model scheduler (and a closed-model loop for benchmarks) on
//! tokio and [`super::engine`] (hyper), with a fresh W3C `traceparent` on every request.
//!
//! # Why not goose here
//! goose 0.19 is a closed-model generator: each `GooseUser` sends its next request only after
//! the previous one returned, and `throttle_requests` only caps the rate from above. When the
//! system under test slows down (exactly what a fault does) the users wait, fewer requests are
//! sent, and the slow period is under-sampled — coordinated omission. goose's
//! `--co-mitigation` back-fills statistics after the fact but still does not *send* the
//! requests the schedule asked for, so the services' metrics (which the alert rules read) see
//! less load than planned. In addition, `GooseAttack::execute` installs a process-wide ctrl-c
//! handler (`ctrlc`) that exits the process on the second ctrl-c, which would bypass the
//! runner's fault rollback, and its metrics are aggregated per request name with no per-request
//! trace id. So gauntlet schedules requests itself:
//!
//! - **Open model** ([`LoadModel::Open`]): arrival `k` is due at a precomputed offset from the
//!   start ([`ArrivalSchedule`], a constant rate or a linear ramp integrated exactly). The
//!   dispatcher sleeps until that instant and spawns the journey whether or not earlier ones
//!   have finished. Latency is measured from the *intended* send time, so any delay —
//!   server, network, or the generator itself falling behind — shows up in the numbers
//!   (coordinated-omission correction). In-flight requests are capped (`max_in_flight`); an
//!   arrival that finds no free slot waits for one and that wait is part of its latency.
//!   The plan's rate is in requests/s; journeys that send two requests (`browse`) are paced
//!   at `rate / mean requests per journey` so the request rate matches the plan. A journey's
//!   second request is intended to start when its first finished (it depends on it).
//! - **Closed model** ([`LoadModel::Closed`]): `connections` workers loop back to back, as
//!   wrk does; used to measure the generator's own ceiling. There is no schedule, so the
//!   intended time is the actual send time.
//!
//! Both stop at the plan's duration or its request cap, whichever comes first, or when the
//! caller's stop future completes; requests already in flight finish (bounded by the
//! per-request timeout). The library never prints: live progress is a [`LoadSample`] per
//! second on an optional channel (dropped, not awaited, if the receiver lags).

use super::engine::Engine;
pub use super::engine::EngineError;
use super::journey::Journey;
use super::plan::{ArrivalSchedule, LoadModel, LoadPlan, PlanError};
use super::record::{
    Collector, LoadReport, LoadSample, Outcome, RecordLimits, RequestRecord, SecondSampler,
};
use super::traceparent::TraceContext;
use rand::Rng;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Options besides the plan.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Receives one [`LoadSample`] per second while the run goes on.
    pub progress: Option<mpsc::Sender<LoadSample>>,
    /// Caps of the kept request records.
    pub limits: RecordLimits,
    /// Receives each failed request as it completes, so failures can be followed into
    /// traces and logs while the run goes on (bounded: a full channel drops the record).
    pub failures: Option<mpsc::Sender<RequestRecord>>,
    /// Receives every request the target answered (any HTTP status), so what the services
    /// were due to report can be counted against what the stores hold. Unbounded: a dropped
    /// record would count as telemetry never sent (the plan's request cap bounds it).
    pub answered: Option<mpsc::UnboundedSender<RequestRecord>>,
}

/// Why a load run could not happen (a run that happened, however badly, is a report).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("cannot set up the http client")]
    Client(#[from] EngineError),
}

/// Runs `plan` to completion (duration or request cap).
pub async fn run(plan: &LoadPlan, options: LoadOptions) -> Result<LoadReport, LoadError> {
    run_until(plan, options, std::future::pending()).await
}

/// Runs `plan` until it completes or `stop` resolves, then returns what was measured.
/// Dropping the returned future aborts every request task it started.
pub async fn run_until<F>(
    plan: &LoadPlan,
    options: LoadOptions,
    stop: F,
) -> Result<LoadReport, LoadError>
where
    F: Future<Output = ()> + Send,
{
    let problems = plan.validate();
    if !problems.is_empty() {
        return Err(PlanError::Invalid(problems).into());
    }
    plan.check_target().await?;

    let max_conns = match plan.model {
        LoadModel::Open { .. } => plan.max_in_flight,
        LoadModel::Closed { connections } => connections,
    };
    let engine = Engine::new(plan, max_conns).await?;
    let shared = Arc::new(Shared {
        engine,
        start: Instant::now(),
        collector: Mutex::new(Collector::new(options.limits)),
        issued: AtomicU64::new(0),
        max_requests: plan.max_requests,
        stopped: AtomicBool::new(false),
        picker: Picker::new(plan),
        failures: options.failures.clone(),
        answered: options.answered.clone(),
    });

    let mut tasks = JoinSet::new();
    let progress = options
        .progress
        .map(|tx| AbortOnDrop(tokio::spawn(report_progress(Arc::clone(&shared), tx))));
    let stop = std::pin::pin!(stop);

    match plan.model {
        LoadModel::Open { rate, ramp } => {
            let schedule = match ramp {
                Some(r) => ArrivalSchedule::ramp(r.from_rate, rate, r.over),
                None => ArrivalSchedule::constant(rate),
            }
            .scaled(1.0 / plan.mean_requests_per_journey());
            dispatch_open(&shared, &mut tasks, schedule, plan, stop).await;
        }
        LoadModel::Closed { connections } => {
            for _ in 0..connections {
                tasks.spawn(closed_worker(Arc::clone(&shared), plan.duration));
            }
            let deadline = shared.start + plan.duration;
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {}
                _ = stop => {}
                _ = drain(&mut tasks) => {}
            }
            shared.stopped.store(true, Ordering::Relaxed);
        }
    }

    // In-flight requests end by their own timeout; the bound here is a backstop.
    let grace = plan.timeout + Duration::from_secs(1);
    if tokio::time::timeout(grace, drain(&mut tasks))
        .await
        .is_err()
    {
        tracing::warn!(
            remaining = tasks.len(),
            "load tasks outlived their timeout; aborting them"
        );
        tasks.abort_all();
    }
    drop(progress);
    let elapsed = shared.start.elapsed();
    let collector = std::mem::replace(
        &mut *shared
            .collector
            .lock()
            .unwrap_or_else(PoisonError::into_inner),
        Collector::new(RecordLimits::default()),
    );
    Ok(collector.finish(elapsed))
}

async fn drain(tasks: &mut JoinSet<()>) {
    while let Some(res) = tasks.join_next().await {
        if let Err(e) = res
            && e.is_panic()
        {
            tracing::error!(error = %e, "load task panicked");
        }
    }
}

async fn dispatch_open<F: Future<Output = ()>>(
    shared: &Arc<Shared>,
    tasks: &mut JoinSet<()>,
    schedule: ArrivalSchedule,
    plan: &LoadPlan,
    mut stop: std::pin::Pin<&mut F>,
) {
    let slots = Arc::new(Semaphore::new(plan.max_in_flight));
    for k in 0u64.. {
        let Some(offset) = schedule.offset_of(k) else {
            break;
        };
        if offset >= plan.duration || shared.issued.load(Ordering::Relaxed) >= shared.max_requests {
            break;
        }
        let intended = shared.start + offset;
        if intended > Instant::now() {
            tokio::select! {
                _ = tokio::time::sleep_until(intended) => {}
                _ = stop.as_mut() => break,
            }
        }
        let slot = tokio::select! {
            s = Arc::clone(&slots).acquire_owned() => s,
            _ = stop.as_mut() => break,
        };
        let Ok(slot) = slot else { break };
        // Reap finished tasks so the set stays as small as what is in flight.
        while tasks.try_join_next().is_some() {}
        let journey = shared.picker.pick(&mut rand::rng());
        let shared = Arc::clone(shared);
        tasks.spawn(async move {
            run_journey(&shared, journey, intended).await;
            drop(slot);
        });
    }
}

async fn closed_worker(shared: Arc<Shared>, duration: Duration) {
    let deadline = shared.start + duration;
    while !shared.stopped.load(Ordering::Relaxed) && Instant::now() < deadline {
        let journey = shared.picker.pick(&mut rand::rng());
        if !run_journey(&shared, journey, Instant::now()).await {
            break;
        }
    }
}

/// Sends every step of one journey; false once the request cap is reached.
async fn run_journey(shared: &Shared, journey: Journey, first_intended: Instant) -> bool {
    let mut intended = first_intended;
    for step_no in 0.. {
        let Some(step) = journey.step(step_no, &mut rand::rng()) else {
            return true;
        };
        if shared.issued.fetch_add(1, Ordering::Relaxed) >= shared.max_requests {
            return false;
        }
        let ctx = TraceContext::random(&mut rand::rng());
        let route = step.route;
        let outcome = shared.engine.send(step, &ctx).await;
        let done = Instant::now();
        let record = RequestRecord {
            trace_id: ctx.trace_id,
            journey,
            route,
            start_offset: intended.saturating_duration_since(shared.start),
            latency: done.saturating_duration_since(intended),
            outcome,
        };
        if !record.outcome.is_success()
            && let Some(tx) = &shared.failures
        {
            // Never block the generator on a slow consumer.
            let _ = tx.try_send(record.clone());
        }
        if matches!(record.outcome, Outcome::Status(_))
            && let Some(tx) = &shared.answered
        {
            let _ = tx.send(record.clone());
        }
        shared
            .collector
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(record, &mut rand::rng());
        // The next step depends on this answer, so it is intended for now.
        intended = done;
    }
    true
}

async fn report_progress(shared: Arc<Shared>, tx: mpsc::Sender<LoadSample>) {
    let mut sampler = SecondSampler::new(shared.start);
    loop {
        let sample = sampler.next(&shared.collector).await;
        if let Err(mpsc::error::TrySendError::Closed(_)) = tx.try_send(sample) {
            return;
        }
    }
}

struct Shared {
    engine: Engine,
    start: Instant,
    collector: Mutex<Collector>,
    issued: AtomicU64,
    max_requests: u64,
    stopped: AtomicBool,
    picker: Picker,
    failures: Option<mpsc::Sender<RequestRecord>>,
    answered: Option<mpsc::UnboundedSender<RequestRecord>>,
}

/// Weighted random choice of a journey.
struct Picker {
    cumulative: Vec<(u64, Journey)>,
    total: u64,
}

impl Picker {
    fn new(plan: &LoadPlan) -> Picker {
        let mut total = 0u64;
        let cumulative = plan
            .journeys
            .iter()
            .filter(|j| j.weight > 0)
            .map(|j| {
                total += u64::from(j.weight);
                (total, j.journey)
            })
            .collect();
        Picker { cumulative, total }
    }

    fn pick<R: Rng + ?Sized>(&self, rng: &mut R) -> Journey {
        if self.total == 0 {
            return Journey::Health;
        }
        let x = rng.random_range(0..self.total);
        self.cumulative
            .iter()
            .find(|(upto, _)| x < *upto)
            .map_or(Journey::Health, |(_, j)| *j)
    }
}

/// Aborts a spawned task when dropped, so no task outlives the run that started it.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
