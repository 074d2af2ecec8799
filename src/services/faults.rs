//! Fault state of one service and its admin API (`/admin/faults`, wire types in
//! [`super::hooks`]): which faults are active, their TTL auto-revert, and the side effects
//! that run beside requests (CPU burn threads, memory growth, crash).
//!
//! The request path reads an immutable snapshot behind an atomic "anything active?" flag,
//! so a service without faults pays one relaxed load per request.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use rand::Rng;
use tokio::sync::watch;

use super::config::ServiceName;
use super::hooks::{ActiveFault, ActiveFaults, FaultCreated, FaultHook, FaultRequest};
use super::metrics::{KindLabel, Metrics};

/// Longest a hung request is held, so nothing hangs forever.
pub const HANG_MAX: Duration = Duration::from_secs(600);
/// Longest CPU burn threads spin without a revert.
const CPU_BURN_MAX: Duration = Duration::from_secs(600);
const MAX_BURN_THREADS: u32 = 64;
const MAX_MEMORY_MB: u32 = 16 * 1024;
const MAX_MEMORY_RATE: u32 = 1024;
/// Pause between the crash acknowledgement and the crash, so the 201 reaches the caller.
const CRASH_DELAY: Duration = Duration::from_millis(50);

/// The parts of the active faults the request path needs, precomputed.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    errors: Vec<(f64, u16, Option<String>)>,
    latency: Vec<(f64, u64, u64)>,
    hang: Option<f64>,
    dependency: Vec<(ServiceName, f64, u16)>,
    pub queue_stall: bool,
}

/// What the request path must do to this request: hang, or wait `delay` then answer
/// `fail` (or run normally).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Verdict {
    pub hang: bool,
    pub delay: Duration,
    pub fail: Option<u16>,
}

impl Snapshot {
    fn errors_on(&self, route: &str, path: &str) -> Option<u16> {
        let mut rng = rand::rng();
        self.errors.iter().find_map(|(rate, status, only)| {
            let applies = only.as_deref().is_none_or(|r| r == route || r == path);
            (applies && rng.random_bool(*rate)).then_some(*status)
        })
    }
}

struct Entry {
    hook: FaultHook,
    expires_at: Option<Instant>,
    /// Dropping the entry reverts its side effects (TTL timer, burn threads, memory).
    _guard: RevertGuard,
}

#[derive(Default)]
struct RevertGuard {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    stop: Option<Arc<AtomicBool>>,
}

impl Drop for RevertGuard {
    fn drop(&mut self) {
        if let Some(stop) = &self.stop {
            stop.store(true, Ordering::Relaxed);
        }
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Shared fault state of one service.
#[derive(Clone)]
pub(crate) struct Faults {
    inner: Arc<Inner>,
}

struct Inner {
    service: ServiceName,
    any: AtomicBool,
    next_id: AtomicU64,
    entries: Mutex<BTreeMap<String, Entry>>,
    snapshot: RwLock<Arc<Snapshot>>,
    /// Bumped on every change; hung requests and the stalled worker wait on it.
    version: watch::Sender<u64>,
    /// Set to the exit code once a crash fault fires.
    crash: watch::Sender<Option<i32>>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faults")
            .field("service", &self.inner.service)
            .finish_non_exhaustive()
    }
}

/// A rejected fault request (answered with 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fault for {service}: {reason}")]
pub struct InvalidFault {
    pub service: ServiceName,
    pub reason: String,
}

impl Faults {
    pub fn new(service: ServiceName, metrics: Arc<Metrics>) -> Self {
        Self {
            inner: Arc::new(Inner {
                service,
                any: AtomicBool::new(false),
                next_id: AtomicU64::new(1),
                entries: Mutex::new(BTreeMap::new()),
                snapshot: RwLock::new(Arc::new(Snapshot::default())),
                version: watch::Sender::new(0),
                crash: watch::Sender::new(None),
                metrics,
            }),
        }
    }

    /// The current snapshot, or `None` when no fault is active (the fast path).
    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        if !self.inner.any.load(Ordering::Relaxed) {
            return None;
        }
        Some(
            self.inner
                .snapshot
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }

    /// What to do to an incoming request on `route` (template) / `path` (raw).
    pub fn on_request(&self, route: &str, path: &str) -> Verdict {
        let Some(s) = self.snapshot() else {
            return Verdict::default();
        };
        let mut rng = rand::rng();
        let hang = s.hang.is_some_and(|rate| rng.random_bool(rate));
        let mut delay: u64 = 0;
        for &(rate, fixed, jitter) in &s.latency {
            if rng.random_bool(rate) {
                delay += fixed
                    + if jitter > 0 {
                        rng.random_range(0..=jitter)
                    } else {
                        0
                    };
            }
        }
        Verdict {
            hang,
            delay: Duration::from_millis(delay),
            fail: s.errors_on(route, path),
        }
    }

    /// Whether a task on the worker fails (an `errors` fault on route `task`, or on no
    /// route).
    pub fn task_fails(&self) -> bool {
        self.snapshot()
            .is_some_and(|s| s.errors_on("task", "task").is_some())
    }

    /// The status a call to `upstream` fails with, if a dependency fault hits it.
    pub fn dependency_failure(&self, upstream: ServiceName) -> Option<u16> {
        let s = self.snapshot()?;
        let mut rng = rand::rng();
        s.dependency
            .iter()
            .find(|(dep, rate, _)| *dep == upstream && rng.random_bool(*rate))
            .map(|(_, _, status)| *status)
    }

    pub fn queue_stalled(&self) -> bool {
        self.snapshot().is_some_and(|s| s.queue_stall)
    }

    pub fn hang_active(&self) -> bool {
        self.snapshot().is_some_and(|s| s.hang.is_some())
    }

    /// A receiver that changes whenever a fault is added or removed.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.inner.version.subscribe()
    }

    /// A receiver that holds the exit code once a crash fault fires.
    pub fn crash_signal(&self) -> watch::Receiver<Option<i32>> {
        self.inner.crash.subscribe()
    }

    fn validate(&self, hook: &FaultHook) -> Result<(), InvalidFault> {
        let bad = |reason: String| {
            Err(InvalidFault {
                service: self.inner.service,
                reason,
            })
        };
        let rate_ok = |r: f64| (0.0..=1.0).contains(&r);
        match hook {
            FaultHook::Errors { rate, status, .. }
            | FaultHook::DependencyFailure { rate, status, .. }
                if !rate_ok(*rate) || !(400..=599).contains(status) =>
            {
                bad(format!(
                    "rate must be in 0..=1 and status in 400..=599 (got {rate}, {status})"
                ))
            }
            FaultHook::Latency {
                rate,
                fixed_ms,
                jitter_ms,
            } if !rate_ok(*rate)
                || fixed_ms.saturating_add(*jitter_ms) > HANG_MAX.as_millis() as u64 =>
            {
                bad(format!(
                    "rate must be in 0..=1 and fixed+jitter at most {} ms",
                    HANG_MAX.as_millis()
                ))
            }
            FaultHook::Hang { rate } if !rate_ok(*rate) => {
                bad(format!("rate {rate} is outside 0..=1"))
            }
            FaultHook::Crash { exit_code } if !(0..=255).contains(exit_code) => {
                bad(format!("exit code {exit_code} is outside 0..=255"))
            }
            FaultHook::CpuBurn { threads } if *threads == 0 || *threads > MAX_BURN_THREADS => bad(
                format!("threads must be 1..={MAX_BURN_THREADS} (got {threads})"),
            ),
            FaultHook::MemoryGrowth { mb_per_sec, max_mb }
                if *mb_per_sec == 0
                    || *mb_per_sec > MAX_MEMORY_RATE
                    || *max_mb == 0
                    || *max_mb > MAX_MEMORY_MB =>
            {
                bad(format!(
                    "mb_per_sec must be 1..={MAX_MEMORY_RATE} and max_mb 1..={MAX_MEMORY_MB}"
                ))
            }
            FaultHook::DependencyFailure { dependency, .. } => {
                match dependency.parse::<ServiceName>() {
                    Ok(d) if self.inner.service.required_upstreams().contains(&d) => Ok(()),
                    Ok(d) => bad(format!("{} does not call {d}", self.inner.service)),
                    Err(e) => bad(e.to_string()),
                }
            }
            FaultHook::QueueStall if self.inner.service != ServiceName::Worker => {
                bad("queue-stall applies to the worker only".to_owned())
            }
            _ => Ok(()),
        }
    }

    /// Activates a fault; returns its id.
    pub fn add(&self, req: FaultRequest) -> Result<String, InvalidFault> {
        self.validate(&req.hook)?;
        let id = format!(
            "{}-{}",
            req.hook.kind(),
            self.inner.next_id.fetch_add(1, Ordering::Relaxed)
        );
        let mut guard = RevertGuard::default();
        match &req.hook {
            FaultHook::CpuBurn { threads } => guard.stop = Some(start_cpu_burn(*threads)),
            FaultHook::MemoryGrowth { mb_per_sec, max_mb } => {
                guard
                    .tasks
                    .push(tokio::spawn(grow_memory(*mb_per_sec, *max_mb)));
            }
            FaultHook::Crash { exit_code } => {
                let crash = self.inner.crash.clone();
                let code = *exit_code;
                let service = self.inner.service;
                // Detached on purpose: the crash must fire even though the entry is kept.
                tokio::spawn(async move {
                    tokio::time::sleep(CRASH_DELAY).await;
                    tracing::error!(%service, exit_code = code, "crash fault fired");
                    crash.send_replace(Some(code));
                });
            }
            _ => {}
        }
        if let Some(ttl) = req.ttl_ms.map(Duration::from_millis) {
            let me = self.clone();
            let id2 = id.clone();
            guard.tasks.push(tokio::spawn(async move {
                tokio::time::sleep(ttl).await;
                // Dropping the entry aborts this very task too; harmless, nothing follows.
                if me.remove(&id2) {
                    tracing::info!(service = %me.inner.service, id = id2, "fault expired");
                }
            }));
        }
        let entry = Entry {
            expires_at: req
                .ttl_ms
                .map(|ms| Instant::now() + Duration::from_millis(ms)),
            hook: req.hook,
            _guard: guard,
        };
        tracing::info!(service = %self.inner.service, id, kind = entry.hook.kind(), "fault on");
        let mut entries = self.lock();
        entries.insert(id.clone(), entry);
        self.publish(&entries);
        Ok(id)
    }

    /// Reverts one fault; false when the id is unknown.
    pub fn remove(&self, id: &str) -> bool {
        let removed = {
            let mut entries = self.lock();
            let e = entries.remove(id);
            if e.is_some() {
                self.publish(&entries);
            }
            e
        };
        // Dropped outside the lock: the guard aborts tasks and stops threads.
        removed.is_some()
    }

    /// Reverts every fault.
    pub fn clear(&self) {
        let old = {
            let mut entries = self.lock();
            let old = std::mem::take(&mut *entries);
            self.publish(&entries);
            old
        };
        drop(old);
    }

    pub fn list(&self) -> ActiveFaults {
        let now = Instant::now();
        let entries = self.lock();
        ActiveFaults {
            faults: entries
                .iter()
                .map(|(id, e)| ActiveFault {
                    id: id.clone(),
                    hook: e.hook.clone(),
                    expires_in_ms: e
                        .expires_at
                        .map(|t| t.saturating_duration_since(now).as_millis() as u64),
                })
                .collect(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        self.inner.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Rebuilds the snapshot and the `gauntlet_fault_active` gauges from `entries`.
    fn publish(&self, entries: &BTreeMap<String, Entry>) {
        let mut s = Snapshot::default();
        let mut active: BTreeMap<&'static str, bool> = BTreeMap::new();
        for e in entries.values() {
            active.insert(e.hook.kind(), true);
            match &e.hook {
                FaultHook::Errors {
                    rate,
                    status,
                    route,
                } => {
                    s.errors.push((*rate, *status, route.clone()));
                }
                FaultHook::Latency {
                    fixed_ms,
                    jitter_ms,
                    rate,
                } => {
                    s.latency.push((*rate, *fixed_ms, *jitter_ms));
                }
                FaultHook::Hang { rate } => s.hang = Some(s.hang.unwrap_or(0.0).max(*rate)),
                FaultHook::DependencyFailure {
                    dependency,
                    rate,
                    status,
                } => {
                    if let Ok(d) = dependency.parse() {
                        s.dependency.push((d, *rate, *status));
                    }
                }
                FaultHook::QueueStall => s.queue_stall = true,
                FaultHook::Crash { .. }
                | FaultHook::CpuBurn { .. }
                | FaultHook::MemoryGrowth { .. } => {}
            }
        }
        for kind in super::metrics::FAULT_KINDS {
            let on = active.get(kind).copied().unwrap_or(false);
            self.inner
                .metrics
                .fault_active
                .get_or_create(&KindLabel { kind })
                .set(i64::from(on));
        }
        *self
            .inner
            .snapshot
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(s);
        self.inner.any.store(!entries.is_empty(), Ordering::Relaxed);
        self.inner.version.send_modify(|v| *v += 1);
    }
}

/// Spins `threads` threads until the returned flag is set (or [`CPU_BURN_MAX`] passes).
fn start_cpu_burn(threads: u32) -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    for i in 0..threads {
        let stop = stop.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("cpu-burn-{i}"))
            .spawn(move || {
                let start = Instant::now();
                let mut x: u64 = 1;
                while !stop.load(Ordering::Relaxed) && start.elapsed() < CPU_BURN_MAX {
                    for _ in 0..100_000 {
                        x = std::hint::black_box(
                            x.wrapping_mul(6364136223846793005).wrapping_add(1),
                        );
                    }
                }
            });
        if let Err(error) = spawned {
            tracing::warn!(%error, "cannot start a cpu burn thread");
        }
    }
    stop
}

/// Allocates and touches `mb_per_sec` MiB per second until `max_mb`; the memory lives in
/// this task, so aborting it (the revert) frees it.
async fn grow_memory(mb_per_sec: u32, max_mb: u32) {
    const TICK: Duration = Duration::from_millis(100);
    let chunk = (mb_per_sec as usize * 1024 * 1024 / 10).max(4096);
    let limit = max_mb as usize * 1024 * 1024;
    let mut held: Vec<Vec<u8>> = Vec::new();
    let mut total = 0usize;
    let mut tick = tokio::time::interval(TICK);
    while total < limit {
        tick.tick().await;
        let n = chunk.min(limit - total);
        // Non-zero fill touches every page, so RSS really grows.
        held.push(vec![0xA5u8; n]);
        total += n;
    }
    std::future::pending::<()>().await;
    drop(held);
}

/// Admin routes; never instrumented, never faulted.
pub(crate) fn admin_router(faults: Faults) -> Router {
    Router::new()
        .route("/admin/faults", get(list).post(create).delete(clear))
        .route("/admin/faults/{id}", delete(remove))
        .with_state(faults)
}

async fn list(State(f): State<Faults>) -> Json<ActiveFaults> {
    Json(f.list())
}

async fn create(State(f): State<Faults>, body: axum::body::Bytes) -> Response {
    let req: FaultRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad_request(format!("invalid fault request: {e}")),
    };
    match f.add(req) {
        Ok(id) => (StatusCode::CREATED, Json(FaultCreated { id })).into_response(),
        Err(e) => bad_request(e.to_string()),
    }
}

async fn remove(State(f): State<Faults>, Path(id): Path<String>) -> StatusCode {
    if f.remove(&id) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

async fn clear(State(f): State<Faults>) -> StatusCode {
    f.clear();
    StatusCode::NO_CONTENT
}

fn bad_request(msg: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(serde_json::json!({ "error": msg })),
    )
        .into_response()
}
