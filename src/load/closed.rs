//! The closed-model engine (`load.model: closed`): goose users with sessions, run inside
//! `gauntlet closed-worker`, a child process that speaks JSON lines.
//!
//! Each of `users` goose users first logs in (`POST /login`; its own cookie store keeps the
//! `gauntlet_session` cookie the frontend sets), then runs the plan's journeys again and
//! again, pausing for the think time after each, until the run time ends or the parent says
//! stop. A logged-in user checks out as itself and its `account` journey is `GET /account`,
//! which the frontend answers only with the session cookie. Every request carries a fresh
//! W3C `traceparent`; latency is measured here, from send to the end of the body, into the
//! same [`Collector`] the open engine uses (histogram, per-second series, failed trace ids).
//!
//! # Coordinated omission
//! A closed model sends a user's next request only after the previous answer and the think
//! time. When the system slows, users wait, fewer requests go out, and the slow period is
//! under-sampled; latency counts from the actual send, so percentiles under-report what an
//! open arrival stream would have seen. Reports say so beside the numbers.
//!
//! # Why a child process
//! goose keeps process-wide state: `execute()` installs a Ctrl-C handler (`ctrlc`) that exits
//! the process on the second Ctrl-C, and its killswitch is a global. Run in its own process
//! group, the child never sees the terminal's Ctrl-C, so the parent alone decides: it rolls
//! faults back, then stops (a `stop` line or closed stdin → goose's killswitch, a graceful
//! end with a report) or kills the child's group.
//!
//! Protocol: the parent writes the [`ClosedPlan`] as one JSON line on stdin, then `stop` (or
//! closes stdin) to end early. The child writes [`ClosedEvent`] lines on stdout: samples
//! and requests while it runs, then one `done` (or `error`); goose's own prints go to stderr.

use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use goose::config::GooseConfiguration;
use goose::prelude::*;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::histogram::Histogram;
use super::journey::{Journey, StepMethod};
use super::record::{Collector, LoadReport, Outcome, RecordLimits, RequestRecord, SecondSampler};
use super::traceparent::{TRACEPARENT, TraceContext};

/// What the child runs (the parent writes it as the first stdin line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClosedPlan {
    /// Base URL of the frontend (loopback; the parent checked it).
    pub target: String,
    /// Concurrent users, each with its own session and cookie store.
    pub users: u32,
    /// Think time after each journey: uniformly between these, milliseconds.
    pub think_min_ms: u64,
    pub think_max_ms: u64,
    /// The journeys each user runs in turn after logging in.
    pub journeys: Vec<Journey>,
    pub duration_ms: u64,
    /// Per-request timeout.
    pub timeout_ms: u64,
}

/// One line the child writes, `{"<event>": {...}}` (externally tagged: an internal tag
/// would make serde buffer the histogram, whose u128 sum the buffer cannot hold).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClosedEvent {
    /// Once a second: the requests completed in that second.
    Sample {
        elapsed_ms: u64,
        requests_per_sec: f64,
        error_rate: f64,
        p95_us: u64,
        total: u64,
    },
    /// One request as it completed.
    Request {
        trace_id: String,
        start_offset_us: u64,
        /// HTTP status, if the request was answered.
        status: Option<u16>,
        failed: bool,
    },
    /// The run ended: aggregates that merge exactly, and what goose itself counted.
    Done { report: ClosedReport },
    /// The run could not happen.
    Error { message: String },
}

/// The result of a closed-model run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClosedReport {
    pub total: u64,
    pub success: u64,
    pub failed: u64,
    pub elapsed_ms: u64,
    /// Latency histogram, microseconds (send to end of body).
    pub histogram: Histogram,
    /// Users that logged in successfully (their session cookie was set).
    pub sessions: u64,
    /// Requests goose's own metrics counted (a cross-check of `total`).
    pub goose_requests: u64,
}

/// Why the closed-model run could not happen.
#[derive(Debug, thiserror::Error)]
pub enum ClosedError {
    #[error("goose refused the load test")]
    Goose(#[source] Box<GooseError>),
    #[error("the closed-model plan is invalid: {0}")]
    Plan(String),
}

impl From<GooseError> for ClosedError {
    fn from(e: GooseError) -> Self {
        ClosedError::Goose(Box::new(e))
    }
}

/// The user's session, kept by goose per user.
#[derive(Debug, Clone)]
struct Session {
    user_id: u64,
}

/// State shared by every goose user of one run.
struct Engine {
    start: Instant,
    timeout: Duration,
    collector: Mutex<Collector>,
    sessions: AtomicU64,
    stop: AtomicBool,
    events: mpsc::UnboundedSender<ClosedEvent>,
}

impl Engine {
    /// Asks goose to end the run gracefully (its users finish their current request).
    fn request_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        goose::trigger_killswitch("stop requested by gauntlet");
    }

    /// Sends one request of `journey` with a fresh `traceparent` and records it.
    async fn send(
        &self,
        user: &mut GooseUser,
        journey: Journey,
        method: StepMethod,
        route: &'static str,
        path: &str,
        body: Option<String>,
    ) -> Result<Outcome, Box<TransactionError>> {
        if self.stop.load(Ordering::SeqCst) {
            // goose resets its killswitch when a run starts: a stop that came earlier is
            // repeated here.
            goose::trigger_killswitch("stop requested by gauntlet");
        }
        let ctx = TraceContext::random(&mut rand::rng());
        let (goose_method, rb) = match method {
            StepMethod::Get => (
                GooseMethod::Get,
                user.get_request_builder(&GooseMethod::Get, path)?,
            ),
            StepMethod::Post => (
                GooseMethod::Post,
                user.get_request_builder(&GooseMethod::Post, path)?
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(body.unwrap_or_default()),
            ),
        };
        let rb = rb
            .header(TRACEPARENT, ctx.header_value())
            .timeout(self.timeout);
        let request = GooseRequest::builder()
            .method(goose_method)
            .name(route)
            .set_request_builder(rb)
            .build();
        let sent = Instant::now();
        let response = user.request(request).await?;
        let outcome = super::engine::outcome_of(response.response).await;
        let done = Instant::now();
        let record = RequestRecord {
            trace_id: ctx.trace_id,
            journey,
            route,
            start_offset: sent.saturating_duration_since(self.start),
            latency: done.saturating_duration_since(sent),
            outcome,
        };
        let _ = self.events.send(ClosedEvent::Request {
            trace_id: record.trace_id.to_string(),
            start_offset_us: micros(record.start_offset),
            status: match outcome {
                Outcome::Status(s) => Some(s),
                Outcome::Error(_) => None,
            },
            failed: !outcome.is_success(),
        });
        self.collector
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(record, &mut rand::rng());
        Ok(outcome)
    }

    /// `POST /login` as a random user; a success starts the session.
    async fn login(&self, user: &mut GooseUser) -> TransactionResult {
        // The generator is not Send: it must not live across an await.
        let Some(step) = Journey::Login.step(0, &mut rand::rng()) else {
            return Ok(());
        };
        let user_id = step
            .json_body
            .as_deref()
            .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
            .and_then(|v| v["user_id"].as_u64())
            .unwrap_or(1);
        let outcome = self
            .send(
                user,
                Journey::Login,
                step.method,
                step.route,
                &step.path,
                step.json_body,
            )
            .await?;
        if outcome.is_success() {
            user.set_session_data(Session { user_id });
            self.sessions.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Every step of `journey`, as the logged-in user where the journey has a user.
    async fn journey(&self, user: &mut GooseUser, journey: Journey) -> TransactionResult {
        let session_user = user.get_session_data::<Session>().map(|s| s.user_id);
        for step_no in 0.. {
            let Some(step) = journey.step(step_no, &mut rand::rng()) else {
                break;
            };
            let (route, path, body) = match journey {
                // The session's own account: only the cookie says whose it is.
                Journey::Account => ("/account", "/account".to_owned(), None),
                Journey::Checkout => {
                    let body = step.json_body.map(|b| match session_user {
                        Some(id) => as_user(&b, id),
                        None => b,
                    });
                    (step.route, step.path, body)
                }
                _ => (step.route, step.path, step.json_body),
            };
            let outcome = self
                .send(user, journey, step.method, route, &path, body)
                .await?;
            if !outcome.is_success() {
                // A failed step ends the journey, as a user would give up.
                break;
            }
        }
        Ok(())
    }
}

/// A checkout body with `user_id` replaced by the session's user.
fn as_user(body: &str, user_id: u64) -> String {
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(mut v) => {
            v["user_id"] = serde_json::json!(user_id);
            v.to_string()
        }
        Err(_) => body.to_owned(),
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// A handle that stops a running [`run`] gracefully.
#[derive(Clone)]
pub struct StopHandle(Arc<Engine>);

impl StopHandle {
    pub fn stop(&self) {
        self.0.request_stop();
    }
}

/// Runs `plan` with goose; events go to `events` while it runs. `on_start` receives the
/// handle that stops the run early. Call it only in a process of its own (see the module
/// docs): goose installs a process-wide Ctrl-C handler.
pub async fn run(
    plan: &ClosedPlan,
    events: mpsc::UnboundedSender<ClosedEvent>,
    on_start: impl FnOnce(StopHandle),
) -> Result<(LoadReport, ClosedReport), ClosedError> {
    if plan.users == 0 {
        return Err(ClosedError::Plan("users must be at least 1".into()));
    }
    if plan.journeys.is_empty() {
        return Err(ClosedError::Plan("no journeys".into()));
    }
    if plan.think_min_ms > plan.think_max_ms {
        return Err(ClosedError::Plan(format!(
            "think time {} ms is above its maximum {} ms",
            plan.think_min_ms, plan.think_max_ms
        )));
    }
    let engine = Arc::new(Engine {
        start: Instant::now(),
        timeout: Duration::from_millis(plan.timeout_ms.max(1)),
        collector: Mutex::new(Collector::new(RecordLimits::default())),
        sessions: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        events: events.clone(),
    });
    on_start(StopHandle(engine.clone()));

    let mut scenario = Scenario::new("session").set_wait_time(
        Duration::from_millis(plan.think_min_ms),
        Duration::from_millis(plan.think_max_ms),
    )?;
    let e = engine.clone();
    let login: TransactionFunction = Arc::new(move |user| {
        let e = e.clone();
        Box::pin(async move { e.login(user).await })
    });
    scenario =
        scenario.register_transaction(Transaction::new(login).set_name("login").set_on_start());
    for journey in plan.journeys.iter().copied() {
        let e = engine.clone();
        let f: TransactionFunction = Arc::new(move |user| {
            let e = e.clone();
            Box::pin(async move { e.journey(user, journey).await })
        });
        scenario = scenario.register_transaction(Transaction::new(f).set_name(journey.name()));
    }
    // goose counts whole seconds; the parent stops the run at the planned instant anyway.
    let run_secs = usize::try_from(plan.duration_ms.div_ceil(1000).max(1)).unwrap_or(usize::MAX);
    let users = usize::try_from(plan.users).unwrap_or(usize::MAX);
    let timeout_secs = format!("{}", plan.timeout_ms.max(1) as f64 / 1000.0);
    let attack = GooseAttack::initialize_with_config(GooseConfiguration::default())?
        .register_scenario(scenario)
        .set_default(GooseDefault::Host, plan.target.as_str())?
        .set_default(GooseDefault::Users, users)?
        // Every user starts within the first second: the think time spreads them out.
        .set_default(GooseDefault::IncreaseRate, users.to_string().as_str())?
        .set_default(GooseDefault::RunTime, run_secs)?
        .set_default(GooseDefault::Timeout, timeout_secs.as_str())?
        .set_default(GooseDefault::NoResetMetrics, true)?
        .set_default(GooseDefault::NoPrintMetrics, true)?
        .set_default(GooseDefault::NoErrorSummary, true)?
        .set_default(GooseDefault::NoTelnet, true)?
        .set_default(GooseDefault::Quiet, 1usize)?;

    let ticker = tokio::spawn(report_progress(engine.clone()));
    let metrics = attack.execute().await;
    ticker.abort();
    let metrics = metrics?;
    let elapsed = engine.start.elapsed();
    let collector = std::mem::replace(
        &mut *engine
            .collector
            .lock()
            .unwrap_or_else(PoisonError::into_inner),
        Collector::new(RecordLimits::default()),
    );
    let report = collector.finish(elapsed);
    let goose_requests = metrics
        .requests
        .values()
        .map(|r| (r.success_count + r.fail_count) as u64)
        .sum();
    let closed = ClosedReport {
        total: report.summary.total,
        success: report.summary.success,
        failed: report.summary.failed,
        elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        histogram: report.histogram.clone(),
        sessions: engine.sessions.load(Ordering::Relaxed),
        goose_requests,
    };
    Ok((report, closed))
}

async fn report_progress(engine: Arc<Engine>) {
    let mut sampler = SecondSampler::new(engine.start);
    loop {
        let sample = sampler.next(&engine.collector).await;
        let _ = engine.events.send(ClosedEvent::Sample {
            elapsed_ms: u64::try_from(sample.elapsed.as_millis()).unwrap_or(u64::MAX),
            requests_per_sec: sample.requests_per_sec,
            error_rate: sample.error_rate,
            p95_us: sample.p95_us,
            total: sample.total,
        });
    }
}

/// `gauntlet closed-worker`: reads the plan from stdin, runs it, writes events to stdout.
/// Returns the process exit code (0 done, 1 the run could not happen).
pub async fn run_worker() -> i32 {
    let mut out = match protocol_out() {
        Ok(out) => out,
        Err(e) => {
            eprintln!("closed-worker: cannot set up its output: {e}");
            return 1;
        }
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<ClosedEvent>();
    let writer = tokio::task::spawn_blocking(move || {
        while let Some(event) = rx.blocking_recv() {
            let Ok(line) = serde_json::to_string(&event) else {
                continue;
            };
            // The parent gone means nobody reads: stop writing, the run ends on its own.
            if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
                return;
            }
            // The last line: senders may outlive it (the stdin watcher holds the engine).
            if matches!(event, ClosedEvent::Done { .. } | ClosedEvent::Error { .. }) {
                return;
            }
        }
    });
    let code = match read_plan() {
        Ok(plan) => {
            let result = run(&plan, tx.clone(), |handle| {
                // Further stdin lines: `stop`, or EOF (the parent closed it or died).
                std::thread::spawn(move || {
                    let stdin = std::io::stdin();
                    for line in stdin.lock().lines() {
                        match line {
                            Ok(l) if l.trim() == "stop" => break,
                            Ok(_) => {}
                            Err(_) => break,
                        }
                    }
                    handle.stop();
                });
            })
            .await;
            match result {
                Ok((_, report)) => {
                    let _ = tx.send(ClosedEvent::Done { report });
                    0
                }
                Err(e) => {
                    let _ = tx.send(ClosedEvent::Error {
                        message: crate::error_chain(&e),
                    });
                    1
                }
            }
        }
        Err(message) => {
            let _ = tx.send(ClosedEvent::Error { message });
            1
        }
    };
    drop(tx);
    let _ = writer.await;
    code
}

/// The protocol's stream: the original stdout. goose prints to stdout itself (`println!`),
/// so fd 1 then points at stderr (the child's log) and only event lines reach the parent.
fn protocol_out() -> nix::Result<std::fs::File> {
    let out = nix::unistd::dup(std::io::stdout())?;
    nix::unistd::dup2_stdout(std::io::stderr())?;
    Ok(std::fs::File::from(out))
}

fn read_plan() -> Result<ClosedPlan, String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the plan from stdin: {e}"))?;
    serde_json::from_str(&line).map_err(|e| format!("the plan on stdin is not valid: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkout_goes_out_as_the_session_user() {
        let body = r#"{"user_id":7,"product_id":3,"quantity":2}"#;
        let v: serde_json::Value = serde_json::from_str(&as_user(body, 42)).expect("json");
        assert_eq!(v["user_id"], 42);
        assert_eq!(v["product_id"], 3);
    }

    #[test]
    fn events_round_trip_as_tagged_lines() {
        let e = ClosedEvent::Request {
            trace_id: "0af7651916cd43dd8448eb211c80319c".into(),
            start_offset_us: 12,
            status: Some(500),
            failed: true,
        };
        let line = serde_json::to_string(&e).expect("serializes");
        assert!(line.starts_with(r#"{"request":{"trace_id""#), "{line}");
        assert_eq!(
            serde_json::from_str::<ClosedEvent>(&line).expect("parses"),
            e
        );
    }
}
