//! The task-queue worker: `POST /tasks` enqueues a task (202, or 503 when the queue is
//! full); a dispatcher consumes the queue with a few concurrent processors, each taking a
//! small random time. Exposes `task_queue_size`, `workflow_steps_total{status}` and
//! `task_processing_duration_seconds`.
//!
//! Faults: `queue-stall` stops consumption (the queue backs up); an `errors` fault with
//! `route: "task"` fails task processing (not HTTP requests); an `errors` fault without a
//! route fails both.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use bytes::Bytes;
use opentelemetry::Context;
use rand::Rng;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use super::metrics::StatusLabel;
use super::server::{AppError, Cx, RouteDef, ServiceCtx, json_body, route_def};
use super::shop::TaskRequest;
use super::telemetry::LogEntry;

pub(crate) const ROUTES: &[RouteDef] = &[route_def!("POST" "/tasks")];

/// Most tasks waiting; beyond it `POST /tasks` answers 503.
pub(crate) const QUEUE_CAPACITY: usize = 10_000;
/// Tasks processed at once.
const PROCESSORS: usize = 4;
/// Processing time range of one task, in milliseconds.
const WORK_MS: std::ops::RangeInclusive<u64> = 1..=10;

/// A queued task and the trace it continues.
#[derive(Debug)]
pub(crate) struct Task {
    order_id: u64,
    cx: Context,
}

pub(crate) fn routes() -> Router<Arc<ServiceCtx>> {
    Router::new().route("/tasks", post(enqueue))
}

async fn enqueue(
    State(ctx): State<Arc<ServiceCtx>>,
    axum::Extension(cx): Cx,
    body: Bytes,
) -> Result<(StatusCode, Json<serde_json::Value>), AppError> {
    let req: TaskRequest = json_body(&body, "task")?;
    let Some(queue) = &ctx.queue else {
        return Err(AppError::new(StatusCode::INTERNAL_SERVER_ERROR, "no queue"));
    };
    queue
        .try_send(Task {
            order_id: req.order_id,
            cx: cx.0,
        })
        .map_err(|_| AppError::new(StatusCode::SERVICE_UNAVAILABLE, "task queue is full"))?;
    if ctx.level.metrics() {
        ctx.metrics.task_queue_size.inc();
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "queued": req.order_id })),
    ))
}

/// Consumes the queue until the service stops.
pub(crate) async fn dispatch(ctx: Arc<ServiceCtx>, mut rx: mpsc::Receiver<Task>) {
    let permits = Arc::new(Semaphore::new(PROCESSORS));
    let mut running = JoinSet::new();
    let mut changes = ctx.faults.changes();
    let mut stopping = ctx.stopping.clone();
    loop {
        while running.try_join_next().is_some() {}
        if *stopping.borrow() {
            break;
        }
        if ctx.faults.queue_stalled() {
            tokio::select! {
                r = changes.changed() => if r.is_err() { break },
                _ = stopping.wait_for(|s| *s) => break,
            }
            continue;
        }
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let task = tokio::select! {
            t = rx.recv() => t,
            // A stall switched on while idle must stop the next dequeue.
            r = changes.changed() => { if r.is_err() { break } continue; }
            _ = stopping.wait_for(|s| *s) => break,
        };
        let Some(task) = task else { break };
        if ctx.level.metrics() {
            ctx.metrics.task_queue_size.dec();
        }
        let ctx2 = ctx.clone();
        running.spawn(async move {
            process(&ctx2, task).await;
            drop(permit);
        });
    }
}

async fn process(ctx: &ServiceCtx, task: Task) {
    let start = Instant::now();
    let cx = ctx.telemetry.internal_span(&task.cx, "process task");
    let work = rand::rng().random_range(WORK_MS);
    tokio::time::sleep(Duration::from_millis(work)).await;
    let failed = ctx.faults.task_fails();
    let elapsed = start.elapsed();
    if ctx.level.metrics() {
        let status = if failed { "failure" } else { "success" };
        ctx.metrics
            .workflow_steps
            .get_or_create(&StatusLabel { status })
            .inc();
        ctx.metrics.task_duration.observe(elapsed.as_secs_f64());
    }
    if ctx.telemetry.enabled() {
        let why = failed.then(|| format!("injected task failure (order {})", task.order_id));
        ctx.telemetry.end_span(&cx, None, why.as_deref());
        ctx.telemetry.log(
            &LogEntry {
                route: "task",
                method: "PROCESS",
                status: if failed { 500 } else { 200 },
                latency: elapsed,
                msg: if failed {
                    "task failed"
                } else {
                    "task processed"
                },
                error: why.as_deref(),
            },
            &cx,
        );
    }
}
