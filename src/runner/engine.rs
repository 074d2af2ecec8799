//! One scenario run: stack → services → warm-up → steady state → faults → recovery →
//! teardown. Emits [`RunEvent`]s; never prints. A missed expectation is data in the result;
//! `Err` means the harness itself (or the stack) failed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::attach::{AttachError, Backends, KubeStack};
use super::fleet::{Fleet, FleetError, FleetSettings};
use super::probes::{self, LogSource, Observers};
use super::rules::override_alert_for;
use crate::fault::container::{ContainerAction, ContainerFaults};
use crate::fault::{
    FaultGuard, FaultProxy, FaultRegistry, HooksClient, KillSignal as SignalHow, ProcessTarget,
    ProxyEffect,
};
use crate::load::{self, LoadOptions, LoadPlan};
use crate::observe::dashboard::Dashboard;
use crate::observe::loki::LokiClient;
use crate::observe::{JaegerClient, PrometheusClient, WebhookSink};
use crate::report::{
    Component, ComponentKind, ExpectationKind, ExpectationPhase, ExpectationResult,
    ExpectationStatus, FaultRecord, LoadSummary, OverheadLimits, OverheadResult, PhaseTiming,
    RunEvent, ScenarioResult, SeriesPoint,
};
use crate::scenario::{Check, Expectation, Fault, FaultAction, KillSignal, Provider, Scenario};
use crate::services::hooks::FaultHook;
use crate::stack::compose::ComposeStack;
use crate::stack::{LogStoreKind, NativeStack, StackConfig};
use crate::verdict::{Backoff, Probe, poll_until, watch_window};

/// How long every scrape target may take to report `up`.
const WARM_UP_TIMEOUT: Duration = Duration::from_secs(40);

/// The harness (not the stack under test) failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the stack failed to start")]
    Stack(#[source] crate::stack::NativeError),
    #[error("the compose stack failed to start")]
    Compose(#[source] Box<crate::stack::compose::ComposeError>),
    #[error("the sample services failed to start")]
    Services(#[source] FleetError),
    #[error("cannot attach to the stack")]
    Attach(#[source] AttachError),
    #[error("warm-up failed: {0}")]
    WarmUp(String),
    /// The scenario asks for something this run cannot do (found only at run time).
    #[error("{0}")]
    Config(String),
    /// Ctrl-C or SIGTERM: faults were rolled back and the stack stopped.
    #[error("interrupted; faults rolled back, stack stopped")]
    Interrupted,
    #[error("{0}")]
    Internal(String),
}

impl RunError {
    /// The documented exit code this failure maps to.
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::Stack(_)
            | RunError::Compose(_)
            | RunError::Services(_)
            | RunError::Attach(_)
            | RunError::WarmUp(_) => crate::exit_code::STACK_FAILED,
            RunError::Config(_) => crate::exit_code::INVALID_SCENARIO,
            RunError::Interrupted => crate::exit_code::INTERRUPTED,
            RunError::Internal(_) => crate::exit_code::INTERNAL_ERROR,
        }
    }
}

/// What a run needs besides the scenario.
#[derive(Debug, Clone)]
pub struct RunContext {
    /// The gauntlet binary, started once per service (`gauntlet services --only …`).
    pub exe: PathBuf,
    /// Where component logs are kept (`<dir>/logs/<scenario>/`).
    pub report_dir: PathBuf,
    pub events: Option<mpsc::UnboundedSender<RunEvent>>,
    /// Kubernetes scenarios: run the load as a Job of this many worker pods.
    pub workers: Option<WorkerSettings>,
    /// Becomes `true` on Ctrl-C/SIGTERM: the run rolls back its faults, stops and returns
    /// [`RunError::Interrupted`].
    pub cancel: Option<watch::Receiver<bool>>,
}

/// Ctrl-C during the run: roll back every fault (and delete the distributed load's Job) now,
/// before returning aborts the load task — otherwise the Job's guard would be dropped with the
/// task and roll back on a blocking helper thread instead.
async fn interrupt(
    registry: &FaultRegistry,
    expectations: &mut JoinSet<ExpectationResult>,
) -> Result<ScenarioResult, RunError> {
    expectations.abort_all();
    for e in registry.rollback_all().await {
        tracing::warn!(error = %probes::error_chain(&e), "fault rollback failed on interrupt");
    }
    Err(RunError::Interrupted)
}

fn is_cancelled(cancel: &Option<watch::Receiver<bool>>) -> bool {
    cancel.as_ref().is_some_and(|rx| *rx.borrow())
}

/// Resolves once `cancel` turns true; never when there is none.
async fn cancelled(cancel: &Option<watch::Receiver<bool>>) {
    match cancel {
        Some(rx) => {
            let mut rx = rx.clone();
            // The sender going away is not a request to stop.
            if rx.wait_for(|v| *v).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}

/// Aborts a spawned task when dropped, so an early return never leaves it running.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Distributed load for kubernetes scenarios (`gauntlet run --workers N`).
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub workers: u32,
    /// An image with `gauntlet` on its PATH.
    pub image: String,
}

/// The scenario's outcome plus the components it ran against.
pub struct ScenarioRun {
    pub result: ScenarioResult,
    pub components: Vec<Component>,
}

struct Clock {
    start: Instant,
    events: Option<mpsc::UnboundedSender<RunEvent>>,
    /// The run's stop request (Ctrl-C), checked wherever the run waits.
    cancel: Option<watch::Receiver<bool>>,
}

impl Clock {
    fn ms(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.start).as_millis()).unwrap_or(u64::MAX)
    }
    fn now_ms(&self) -> u64 {
        self.ms(Instant::now())
    }
    fn emit(&self, event: RunEvent) {
        if let Some(tx) = &self.events {
            // A reporter that went away must not stop the run.
            let _ = tx.send(event);
        }
    }
}

/// The stack of a run: started by gauntlet (native processes, compose containers) or
/// attached to (external URLs, a Kubernetes cluster through port-forwards).
enum StackHandle {
    Native(NativeStack),
    Compose(ComposeStack),
    External(Backends, Vec<Component>),
    Kubernetes(Box<KubeStack>),
}

impl StackHandle {
    fn backends(&self) -> Backends {
        match self {
            StackHandle::Native(s) => Backends::from(s.urls()),
            StackHandle::Compose(s) => Backends::from(s.urls()),
            StackHandle::External(b, _) => b.clone(),
            StackHandle::Kubernetes(k) => k.backends.clone(),
        }
    }
    /// Points the stack's Prometheus at a service's metrics endpoints.
    fn set_service_targets(&self, service: &str, targets: &[String]) -> Result<(), String> {
        let error = |e: crate::stack::NativeError| probes::error_chain(&e);
        match self {
            StackHandle::Native(s) => s.set_service_targets(service, targets).map_err(error),
            StackHandle::Compose(s) => s.set_service_targets(service, targets).map_err(error),
            StackHandle::External(..) | StackHandle::Kubernetes(_) => Err(format!(
                "cannot add scrape targets for {service} to a stack gauntlet does not run"
            )),
        }
    }
    fn log_store_proxy(&self) -> Option<&FaultProxy> {
        match self {
            StackHandle::Native(s) => s.log_store_proxy(),
            _ => None,
        }
    }
    /// Compose service name → container id.
    fn containers(&self) -> BTreeMap<String, String> {
        match self {
            StackHandle::Compose(s) => s.container_ids().into_iter().collect(),
            _ => BTreeMap::new(),
        }
    }
    fn kube(&self) -> Option<&KubeStack> {
        match self {
            StackHandle::Kubernetes(k) => Some(k),
            _ => None,
        }
    }
    /// Alertmanager notifies gauntlet's webhook in stacks gauntlet configures, and in others
    /// only where their owner points a receiver at `webhook-listen`.
    fn notifications_unavailable(&self, webhook_listen: bool) -> Option<String> {
        match self {
            StackHandle::Native(_) | StackHandle::Compose(_) => None,
            StackHandle::External(..) | StackHandle::Kubernetes(_) if webhook_listen => None,
            StackHandle::External(..) | StackHandle::Kubernetes(_) => Some(
                "a running stack's Alertmanager notifies its own receivers: set `stack.webhook-listen` and point a receiver at it".into(),
            ),
        }
    }
    async fn stop(self) {
        match self {
            StackHandle::Native(s) => s.stop().await,
            StackHandle::Compose(s) => s.stop().await,
            // Nothing was started; dropping the forwards closes them.
            StackHandle::External(..) | StackHandle::Kubernetes(_) => {}
        }
    }
}

/// What the stack itself offers faults to act on.
#[derive(Clone, Copy)]
struct StackTargets<'a> {
    /// The proxy between collector and log store, when interposed.
    log_store_proxy: Option<&'a FaultProxy>,
    /// Compose service name → container id.
    containers: &'a BTreeMap<String, String>,
    /// The cluster, for Kubernetes fault kinds.
    kube: Option<&'a KubeStack>,
    /// Services gauntlet added to Prometheus' scrape config (all must be up after warm-up).
    scraped_services: usize,
}

/// Injection times of faults, shared with expectation tasks that measure from them.
type Injections = BTreeMap<String, (Instant, SystemTime)>;

/// Runs one scenario end to end and always tears down what it started.
pub async fn run_scenario(scenario: &Scenario, ctx: &RunContext) -> Result<ScenarioRun, RunError> {
    let clock = Clock {
        start: Instant::now(),
        events: ctx.events.clone(),
        cancel: ctx.cancel.clone(),
    };
    let started_wall = SystemTime::now();
    let expectation_count = scenario.expect.len()
        + scenario.steady_state.as_ref().map_or(0, |w| w.expect.len())
        + scenario.recover.as_ref().map_or(0, |w| w.expect.len())
        + usize::from(scenario.overhead.is_some());
    clock.emit(RunEvent::ScenarioStarted {
        name: scenario.name.clone(),
        file: scenario.file.display().to_string(),
        planned_ms: scenario
            .load
            .as_ref()
            .map(|l| l.duration.as_millis() as u64),
        expectations: expectation_count,
    });
    let mut phases = Vec::new();
    let log_dir = ctx.report_dir.join("logs").join(sanitize(&scenario.name));
    let _ = std::fs::create_dir_all(&log_dir);

    // Stack.
    let phase_start = clock.now_ms();
    clock.emit(RunEvent::PhaseStarted {
        name: "stack".into(),
        at_ms: phase_start,
    });
    let sink = match scenario.stack.webhook_listen {
        Some(addr) => super::attach::webhook_sink(addr)
            .await
            .map_err(RunError::Attach)?,
        None => WebhookSink::start()
            .await
            .map_err(|e| RunError::Internal(probes::error_chain(&e)))?,
    };
    let sink = Arc::new(sink);
    let rules_dir = tempfile::tempdir()
        .map_err(|e| RunError::Internal(format!("cannot create a temp dir: {e}")))?;
    let rule_files = match scenario.stack.alert_for {
        Some(d) => override_alert_for(&scenario.stack.rule_files, d, rules_dir.path())
            .map_err(|e| RunError::Internal(probes::error_chain(&e)))?,
        None => scenario.stack.rule_files.clone(),
    };
    let mut receivers: Vec<String> = scenario.stack.receivers.clone();
    if receivers.is_empty() {
        receivers = vec!["pager".into(), "chat".into()];
    }
    let mut config = StackConfig {
        scrape_interval: scenario.stack.scrape_interval,
        evaluation_interval: scenario.stack.evaluation_interval,
        group_wait: scenario.stack.group_wait,
        group_interval: scenario.stack.group_interval,
        repeat_interval: scenario.stack.repeat_interval,
        telemetry_flush: scenario.stack.telemetry_flush,
        alertmanager_config: scenario.stack.alertmanager_config.clone(),
        route_overrides: scenario.stack.route_overrides,
        rule_files,
        interpose_log_store: scenario
            .faults
            .iter()
            .any(|f| f.target() == "collector->log-store"),
        log_dir: Some(log_dir.clone()),
        ..StackConfig::default()
    };
    for r in &receivers {
        if let Ok(url) = reqwest::Url::parse(&sink.url_for(r)) {
            config.webhook_receivers.insert(r.clone(), url);
        }
    }
    let stack = match (scenario.stack.provider, &scenario.stack.compose_file) {
        (Provider::Compose, Some(file)) => StackHandle::Compose(
            ComposeStack::start(&config, file)
                .await
                .map_err(|e| RunError::Compose(Box::new(e)))?,
        ),
        (Provider::External, _) => {
            let (backends, components) =
                super::attach::external(scenario).map_err(RunError::Attach)?;
            StackHandle::External(backends, components)
        }
        (Provider::Kubernetes, _) => StackHandle::Kubernetes(Box::new(
            KubeStack::attach(scenario)
                .await
                .map_err(RunError::Attach)?,
        )),
        _ => StackHandle::Native(NativeStack::start(&config).await.map_err(RunError::Stack)?),
    };
    phases.push(PhaseTiming {
        name: "stack".into(),
        started_ms: phase_start,
        ended_ms: clock.now_ms(),
    });
    let components = stack_components(&stack);

    // Everything after this point must tear the stack down, whatever happens.
    let outcome = run_with_stack(
        scenario,
        ctx,
        &clock,
        &stack,
        sink.clone(),
        &log_dir,
        started_wall,
        &mut phases,
    )
    .await;
    let teardown_start = clock.now_ms();
    clock.emit(RunEvent::PhaseStarted {
        name: "teardown".into(),
        at_ms: teardown_start,
    });
    stack.stop().await;
    if let Ok(sink) = Arc::try_unwrap(sink) {
        sink.shutdown().await;
    }
    phases.push(PhaseTiming {
        name: "teardown".into(),
        started_ms: teardown_start,
        ended_ms: clock.now_ms(),
    });
    let mut result = outcome?;
    result.phases = phases;
    result.duration_ms = clock.now_ms();
    clock.emit(RunEvent::ScenarioFinished(result.clone()));
    Ok(ScenarioRun { result, components })
}

#[expect(
    clippy::too_many_arguments,
    reason = "the phases share these; a struct would only rename them"
)]
async fn run_with_stack(
    scenario: &Scenario,
    ctx: &RunContext,
    clock: &Clock,
    stack: &StackHandle,
    sink: Arc<WebhookSink>,
    log_dir: &Path,
    started_wall: SystemTime,
    phases: &mut Vec<PhaseTiming>,
) -> Result<ScenarioResult, RunError> {
    let backends = stack.backends();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .no_proxy()
        .build()
        .map_err(|e| RunError::Internal(format!("http client: {e}")))?;

    // Services.
    let phase_start = clock.now_ms();
    clock.emit(RunEvent::PhaseStarted {
        name: "services".into(),
        at_ms: phase_start,
    });
    let settings = FleetSettings {
        exe: &ctx.exe,
        log_dir,
        otlp_http: backends
            .otlp_http
            .as_ref()
            .map_or("", |u| u.as_str().trim_end_matches('/')),
        deployment_id: &sanitize(&scenario.name),
    };
    let mut fleet = Fleet::start(scenario, &settings)
        .await
        .map_err(RunError::Services)?;
    // A stack gauntlet does not run scrapes what its owner configured.
    let scrape_targets = match stack {
        StackHandle::Native(_) | StackHandle::Compose(_) => fleet.scrape_targets(),
        StackHandle::External(..) | StackHandle::Kubernetes(_) => Vec::new(),
    };
    for (service, target) in &scrape_targets {
        if let Err(e) = stack.set_service_targets(service, std::slice::from_ref(target)) {
            fleet.stop().await;
            return Err(RunError::Internal(e));
        }
    }
    phases.push(PhaseTiming {
        name: "services".into(),
        started_ms: phase_start,
        ended_ms: clock.now_ms(),
    });

    let containers = stack.containers();
    // Faults and the distributed load's Job, rolled back below whatever the run returns.
    let registry = FaultRegistry::new();
    let sink = match stack.notifications_unavailable(scenario.stack.webhook_listen.is_some()) {
        None => Ok(sink),
        Some(why) => Err(why),
    };
    let result = run_with_services(
        scenario,
        ctx,
        StackTargets {
            log_store_proxy: stack.log_store_proxy(),
            containers: &containers,
            kube: stack.kube(),
            scraped_services: scrape_targets.len(),
        },
        clock,
        &backends,
        &http,
        &mut fleet,
        &registry,
        sink,
        started_wall,
        phases,
    )
    .await;
    for e in registry.rollback_all().await {
        tracing::warn!(error = %probes::error_chain(&e), "fault rollback failed at teardown");
    }
    fleet.stop().await;
    result
}

#[expect(
    clippy::too_many_arguments,
    reason = "the phases share these; a struct would only rename them"
)]
async fn run_with_services(
    scenario: &Scenario,
    ctx: &RunContext,
    targets: StackTargets<'_>,
    clock: &Clock,
    backends: &Backends,
    http: &reqwest::Client,
    fleet: &mut Fleet,
    registry: &FaultRegistry,
    sink: Result<Arc<WebhookSink>, String>,
    started_wall: SystemTime,
    phases: &mut Vec<PhaseTiming>,
) -> Result<ScenarioResult, RunError> {
    let prometheus = PrometheusClient::new(backends.prometheus.as_str(), http.clone())
        .map_err(|e| RunError::Internal(probes::error_chain(&e)))?;
    let jaeger = match &backends.jaeger_query {
        Some(url) => Ok(JaegerClient::new(url.as_str(), http.clone())
            .map_err(|e| RunError::Internal(probes::error_chain(&e)))?),
        None => Err("no Jaeger query API in this stack (give `stack.urls.jaeger`)".to_string()),
    };
    let logs = match &backends.log_store {
        Some((url, LogStoreKind::Loki)) => match LokiClient::new(url.as_str(), http.clone()) {
            Ok(c) => LogSource::Loki(c),
            Err(e) => LogSource::Unavailable(probes::error_chain(&e)),
        },
        Some((_, other)) => {
            LogSource::Unavailable(format!("log store {other} cannot be queried by the runner"))
        }
        None => LogSource::Unavailable(
            "no log store in this stack (give `stack.urls.loki`)".to_string(),
        ),
    };
    // In-cluster workers keep their failed requests' trace ids to themselves.
    let distributed = match (&ctx.workers, targets.kube) {
        (Some(w), Some(k)) => Some((w.clone(), k)),
        _ => None,
    };
    let mut dashboards = BTreeMap::new();
    for file in &scenario.stack.dashboards {
        if let Ok(text) = std::fs::read_to_string(file)
            && let Ok(d) = Dashboard::parse(&text)
        {
            if let Some(stem) = file.file_stem().and_then(|s| s.to_str()) {
                dashboards.insert(stem.to_string(), d.clone());
            }
            dashboards.insert(d.uid.clone(), d);
        }
    }
    let failed_trace_ids = Arc::new(Mutex::new(Vec::new()));
    let observers = Arc::new(Observers {
        prometheus,
        jaeger,
        logs,
        sink,
        alertmanager: probes::alertmanager_client(backends, http),
        correlation_unavailable: distributed.as_ref().map(|(w, _)| {
            format!(
                "the load ran in {} cluster worker(s), which do not report failed requests' trace ids",
                w.workers
            )
        }),
        log_services: scenario.services.names.clone(),
        dashboards,
        scrape_interval: scenario.stack.scrape_interval,
        failed_trace_ids: failed_trace_ids.clone(),
        started_wall,
    });

    // Warm-up: every service scraped and up, so start-up is never mistaken for a fault.
    let phase_start = clock.now_ms();
    clock.emit(RunEvent::PhaseStarted {
        name: "warm-up".into(),
        at_ms: phase_start,
    });
    let expected_up = targets.scraped_services;
    let warm_up = poll_until(Instant::now() + WARM_UP_TIMEOUT, Backoff::default(), || {
        let obs = observers.clone();
        async move {
            match obs
                .prometheus
                .query("count(up{service!=\"\"} == 1)", None)
                .await
            {
                Ok(r) => {
                    let n = r
                        .result
                        .as_vector()
                        .and_then(|v| v.first())
                        .map_or(0.0, |s| s.sample.value);
                    if n as usize >= expected_up {
                        Probe::Met(())
                    } else {
                        Probe::NotYet(format!("{n} of {expected_up} services up"))
                    }
                }
                Err(e) => Probe::Failed(probes::error_chain(&e)),
            }
        }
    });
    let up = tokio::select! {
        up = warm_up => up,
        // Nothing injected yet: the caller stops the services and the stack.
        () = cancelled(&clock.cancel) => return Err(RunError::Interrupted),
    };
    if up.met.is_none() {
        let seen = up
            .last_observed
            .map(|(s, _)| s)
            .or(up.last_failure)
            .unwrap_or_default();
        return Err(RunError::WarmUp(format!(
            "services not all up within {WARM_UP_TIMEOUT:?}: {seen}"
        )));
    }
    phases.push(PhaseTiming {
        name: "warm-up".into(),
        started_ms: phase_start,
        ended_ms: clock.now_ms(),
    });

    // Load.
    let (load_stop_tx, load_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (sample_tx, mut sample_rx) = mpsc::channel(64);
    // Owned by the load task when there is load; dropped otherwise so the forwarder ends.
    let mut sample_tx = Some(sample_tx);
    let load_task = match &scenario.load {
        Some(spec) => {
            let target = fleet.urls().get(&spec.target).cloned().ok_or_else(|| {
                RunError::Internal(format!("no URL for load target {}", spec.target))
            })?;
            let plan = load_plan(spec, &target)?;
            if let Some((workers, kube)) = &distributed {
                Some(spawn_distributed_load(
                    scenario, workers, kube, registry, plan,
                )?)
            } else {
                if let Err(e) =
                    load::plan::check_loopback(&plan.target, plan.allow_non_loopback).await
                {
                    let hint = if targets.kube.is_some() {
                        "; run the load inside the cluster with `--workers N --worker-image IMAGE`, or port-forward the service and give its 127.0.0.1 endpoint"
                    } else {
                        ""
                    };
                    return Err(RunError::Config(format!(
                        "load target {}: {}{hint}",
                        spec.target,
                        probes::error_chain(&e)
                    )));
                }
                let (failure_tx, mut failure_rx) = mpsc::channel::<load::RequestRecord>(1024);
                let ids = failed_trace_ids.clone();
                tokio::spawn(async move {
                    while let Some(r) = failure_rx.recv().await {
                        let mut ids = ids.lock().unwrap_or_else(PoisonError::into_inner);
                        // Keep the most recent failures only; correlation checks the newest.
                        if ids.len() >= 10_000 {
                            ids.drain(..5_000);
                        }
                        ids.push(r.trace_id.to_string());
                    }
                });
                let options = LoadOptions {
                    progress: sample_tx.take(),
                    failures: Some(failure_tx),
                    ..LoadOptions::default()
                };
                Some(tokio::spawn(async move {
                    // Stops on the signal, or when the sender is dropped by an early return.
                    load::run_until(&plan, options, async {
                        let _ = load_stop_rx.await;
                    })
                    .await
                    .map(|report| load_summary(&report.summary))
                    .map_err(|e| probes::error_chain(&e))
                }))
            }
        }
        None => None,
    };
    drop(sample_tx);
    let load_start = Instant::now();
    let series = Arc::new(Mutex::new(Vec::<SeriesPoint>::new()));
    let forwarder = {
        let series = series.clone();
        let events = clock.events.clone();
        let offset = clock.ms(load_start);
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

    let mut expectations: JoinSet<ExpectationResult> = JoinSet::new();
    let (inj_tx, inj_rx) = watch::channel(Injections::new());
    let first_fault = scenario
        .faults
        .iter()
        .min_by_key(|f| f.at)
        .map(|f| f.name.clone());

    // Steady state: window expectations over [load start, load start + for).
    if let Some(ss) = &scenario.steady_state {
        clock.emit(RunEvent::PhaseStarted {
            name: "steady-state".into(),
            at_ms: clock.ms(load_start),
        });
        for e in &ss.expect {
            spawn_expectation(
                &mut expectations,
                e,
                ExpectationPhase::SteadyState,
                observers.clone(),
                clock,
                Reference::At(load_start, SystemTime::now()),
                Some(load_start + ss.duration),
            );
        }
    }
    // Fault-phase expectations, each measured from its reference fault's actual injection.
    for e in &scenario.expect {
        let reference = match e.after.clone().or_else(|| first_fault.clone()) {
            Some(name) => Reference::Fault(name, inj_rx.clone()),
            None => Reference::At(load_start, SystemTime::now()),
        };
        spawn_expectation(
            &mut expectations,
            e,
            ExpectationPhase::Faults,
            observers.clone(),
            clock,
            reference,
            None,
        );
    }

    // The fault timeline runs here (rollbacks may need to restart processes in `fleet`).
    let phase_start = scenario
        .faults
        .iter()
        .map(|f| clock.ms(load_start + f.at))
        .min()
        .unwrap_or_else(|| clock.now_ms());
    let load_task = load_task.map(AbortOnDrop);
    let records = run_faults(
        scenario, clock, fleet, targets, registry, load_start, &inj_tx,
    )
    .await;
    if is_cancelled(&clock.cancel) {
        return interrupt(registry, &mut expectations).await;
    }
    let recover_start = Instant::now();
    if !scenario.faults.is_empty() {
        phases.push(PhaseTiming {
            name: "faults".into(),
            started_ms: phase_start,
            ended_ms: clock.now_ms(),
        });
    }

    // Recovery: measured from the moment the last fault was rolled back.
    if let Some(rec) = &scenario.recover {
        clock.emit(RunEvent::PhaseStarted {
            name: "recover".into(),
            at_ms: clock.ms(recover_start),
        });
        for e in &rec.expect {
            spawn_expectation(
                &mut expectations,
                e,
                ExpectationPhase::Recover,
                observers.clone(),
                clock,
                Reference::At(recover_start, SystemTime::now()),
                None,
            );
        }
    }

    let mut results = Vec::new();
    loop {
        let done = tokio::select! {
            done = expectations.join_next() => done,
            () = cancelled(&clock.cancel) => return interrupt(registry, &mut expectations).await,
        };
        let Some(done) = done else { break };
        match done {
            Ok(r) => results.push(r),
            Err(e) => {
                return Err(RunError::Internal(format!(
                    "an expectation task failed: {e}"
                )));
            }
        }
    }
    if scenario.recover.is_some() {
        phases.push(PhaseTiming {
            name: "recover".into(),
            started_ms: clock.ms(recover_start),
            ended_ms: clock.now_ms(),
        });
    }
    results.sort_by(|a, b| a.id.cmp(&b.id));

    // Stop the load and keep what it measured.
    let _ = load_stop_tx.send(());
    let load_summary = match load_task {
        Some(mut task) => match (&mut task.0).await {
            Ok(Ok(summary)) => Some(summary),
            Ok(Err(e)) => {
                return Err(RunError::Internal(format!("load failed: {e}")));
            }
            Err(e) => return Err(RunError::Internal(format!("load task failed: {e}"))),
        },
        None => None,
    };
    let _ = forwarder.await;
    let timeseries = series
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let overhead = match &scenario.overhead {
        Some(spec) => {
            clock.emit(RunEvent::PhaseStarted {
                name: "overhead".into(),
                at_ms: clock.now_ms(),
            });
            let (expectation, result) =
                measure_overhead(scenario, spec, backends.otlp_http.as_ref()).await?;
            clock.emit(RunEvent::ExpectationFinished(expectation.clone()));
            results.push(expectation);
            result
        }
        None => None,
    };
    Ok(ScenarioResult {
        name: scenario.name.clone(),
        file: scenario.file.display().to_string(),
        status: ScenarioResult::status_from_expectations(&results),
        duration_ms: 0,
        phases: Vec::new(),
        faults: records,
        expectations: results,
        load: load_summary,
        timeseries,
        overhead,
        skipped_reason: None,
        error: None,
        config_notes: scenario.stack.config_notes.clone(),
    })
}

/// Instrumentation off vs full, side by side at the same open-model rate, exporting to the
/// real collector; the verdict compares the costs with the scenario's budget.
async fn measure_overhead(
    scenario: &Scenario,
    spec: &crate::scenario::OverheadSpec,
    otlp_http: Option<&reqwest::Url>,
) -> Result<(ExpectationResult, Option<OverheadResult>), RunError> {
    let description = format!(
        "instrumentation costs ≤ {}% p99 and ≤ {}% throughput",
        spec.max_latency_p99_increase_pct, spec.max_throughput_drop_pct
    );
    let Some(otlp_http) = otlp_http else {
        let expectation = ExpectationResult {
            id: "overhead".into(),
            kind: ExpectationKind::Overhead,
            description,
            phase: ExpectationPhase::Faults,
            status: ExpectationStatus::Skipped,
            time_to_detect_ms: None,
            deadline_ms: 0,
            floor_ms: None,
            last_observed: None,
            backend: crate::report::NO_BACKEND.into(),
            backend_real: false,
            skipped_reason: Some(
                "no collector to export to: the overhead is measured with real exports (give `stack.urls.collector`)".into(),
            ),
            observed_at_ms: None,
        };
        return Ok((expectation, None));
    };
    let rate = spec
        .rate
        .or(scenario.load.as_ref().map(|l| l.rate))
        .unwrap_or(200.0);
    let duration = spec.duration.unwrap_or(Duration::from_secs(10));
    let cfg = crate::services::OverheadConfig {
        rate: rate.round().max(1.0) as u32,
        duration,
        rounds: 2,
        warmup: Duration::from_secs(2),
        otlp_endpoint: Some(otlp_http.as_str().trim_end_matches('/').to_string()),
        sampling: crate::services::TraceSampling::ParentBasedAlwaysOn,
        instrumented: crate::services::Instrumentation::Full,
        export_interval: scenario.services.export_interval,
    };
    let report = crate::services::overhead(cfg).await.map_err(|e| {
        RunError::Internal(format!("overhead benchmark: {}", probes::error_chain(&e)))
    })?;
    let p99_pct = report.p99_cost() * 100.0;
    let tput_pct = report.throughput_cost() * 100.0;
    let met =
        p99_pct <= spec.max_latency_p99_increase_pct && tput_pct <= spec.max_throughput_drop_pct;
    let status = if met {
        ExpectationStatus::Met
    } else {
        ExpectationStatus::Missed
    };
    let observed = format!(
        "p99 {:+.1}% ({:.2} → {:.2} ms), throughput −{:.1}% ({:.0} → {:.0} req/s)",
        p99_pct,
        report.baseline.p99.as_secs_f64() * 1000.0,
        report.instrumented.p99.as_secs_f64() * 1000.0,
        tput_pct,
        report.baseline.throughput,
        report.instrumented.throughput
    );
    let expectation = ExpectationResult {
        id: "overhead".into(),
        kind: ExpectationKind::Overhead,
        description,
        phase: ExpectationPhase::Faults,
        status,
        time_to_detect_ms: None,
        deadline_ms: 0,
        floor_ms: None,
        last_observed: Some(observed),
        backend: "services bench (real collector)".into(),
        backend_real: true,
        skipped_reason: None,
        observed_at_ms: None,
    };
    let result = OverheadResult {
        p99_increase_pct: p99_pct,
        throughput_drop_pct: tput_pct,
        limits: OverheadLimits {
            max_p99_increase_pct: spec.max_latency_p99_increase_pct,
            max_throughput_drop_pct: spec.max_throughput_drop_pct,
        },
        status,
        baseline_p99_ms: Some(report.baseline.p99.as_secs_f64() * 1000.0),
        instrumented_p99_ms: Some(report.instrumented.p99.as_secs_f64() * 1000.0),
        baseline_rps: Some(report.baseline.throughput),
        instrumented_rps: Some(report.instrumented.throughput),
    };
    Ok((expectation, Some(result)))
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
    let job = crate::cluster::DistributedLoad::new(
        kube.client.clone(),
        crate::cluster::JobConfig::new(namespace, workers.image.clone(), workers.workers),
    );
    let registry = registry.clone();
    Ok(tokio::spawn(async move {
        let report = job
            .run(&registry, &plan)
            .await
            .map_err(|e| probes::error_chain(&e))?;
        if let Some(e) = &report.cleanup_error {
            tracing::warn!(job = %report.job, error = %e, "the load Job could not be deleted");
        }
        Ok(load_summary(&report.merged.summary))
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

/// When an expectation's deadline clock starts.
enum Reference {
    At(Instant, SystemTime),
    /// The actual injection of the named fault.
    Fault(String, watch::Receiver<Injections>),
}

fn spawn_expectation(
    set: &mut JoinSet<ExpectationResult>,
    e: &Expectation,
    phase: ExpectationPhase,
    obs: Arc<Observers>,
    clock: &Clock,
    reference: Reference,
    window_end: Option<Instant>,
) {
    let e = e.clone();
    let start = clock.start;
    let events = clock.events.clone();
    set.spawn(async move {
        let result = evaluate(e, phase, obs, start, reference, window_end).await;
        if let Some(tx) = &events {
            let _ = tx.send(RunEvent::ExpectationFinished(result.clone()));
        }
        result
    });
}

/// Evaluates one expectation until it is met, missed or skipped.
async fn evaluate(
    e: Expectation,
    phase: ExpectationPhase,
    obs: Arc<Observers>,
    start: Instant,
    reference: Reference,
    window_end: Option<Instant>,
) -> ExpectationResult {
    let ms = |at: Instant| {
        u64::try_from(at.saturating_duration_since(start).as_millis()).unwrap_or(u64::MAX)
    };
    let (backend, real) = probes::backend(&e.check);
    let mut result = ExpectationResult {
        id: e.id.clone(),
        kind: kind_of(&e.check),
        description: describe(&e),
        phase,
        status: ExpectationStatus::Skipped,
        time_to_detect_ms: None,
        deadline_ms: e.within.map_or(0, |w| w.as_millis() as u64),
        floor_ms: Some(e.floor.as_millis() as u64),
        last_observed: None,
        backend: backend.to_string(),
        backend_real: real,
        skipped_reason: None,
        observed_at_ms: None,
    };
    if let Some(reason) = probes::unavailable(&e.check, &obs) {
        // Nothing was asked: no backend answered this one.
        result.backend = crate::report::NO_BACKEND.to_string();
        result.backend_real = false;
        result.skipped_reason = Some(reason);
        return result;
    }
    let (ref_instant, ref_wall) = match reference {
        Reference::At(i, w) => (i, w),
        Reference::Fault(name, mut rx) => {
            let got = rx
                .wait_for(|m| m.contains_key(&name))
                .await
                .ok()
                .and_then(|m| m.get(&name).copied());
            match got {
                Some(v) => v,
                None => {
                    result.skipped_reason = Some(format!("fault {name} was never injected"));
                    return result;
                }
            }
        }
    };
    if let Check::NoAlerts { .. } = &e.check {
        let until = window_end.unwrap_or(ref_instant);
        result.deadline_ms = until.saturating_duration_since(ref_instant).as_millis() as u64;
        let watched = watch_window(until, Duration::from_millis(500), || {
            probes::probe(&e.check, &obs, ref_wall)
        })
        .await;
        match watched {
            Ok(clean) => {
                result.status = ExpectationStatus::Met;
                result.last_observed = Some(format!("no alert fired in {clean} checks"));
            }
            Err((violation, at)) => {
                result.status = ExpectationStatus::Missed;
                result.last_observed = Some(violation);
                result.observed_at_ms = Some(ms(at));
            }
        }
        return result;
    }
    let within = e.within.unwrap_or_default();
    let outcome = poll_until(ref_instant + within, Backoff::default(), || {
        probes::probe(&e.check, &obs, ref_wall)
    })
    .await;
    match outcome.met {
        Some((evidence, at)) => {
            result.status = ExpectationStatus::Met;
            result.time_to_detect_ms =
                Some(at.saturating_duration_since(ref_instant).as_millis() as u64);
            result.observed_at_ms = Some(ms(at));
            result.last_observed = Some(evidence);
        }
        None => {
            result.status = ExpectationStatus::Missed;
            result.last_observed = match (outcome.last_observed, outcome.last_failure) {
                (Some((seen, at)), _) => {
                    result.observed_at_ms = Some(ms(at));
                    Some(format!(
                        "{seen} at {:.1}s",
                        at.saturating_duration_since(ref_instant).as_secs_f64()
                    ))
                }
                (None, Some(failure)) => Some(format!("backend error: {failure}")),
                (None, None) => None,
            };
        }
    }
    result
}

fn kind_of(check: &Check) -> ExpectationKind {
    match check {
        Check::Metric { .. } => ExpectationKind::Metric,
        Check::Alert { .. } => ExpectationKind::Alert,
        Check::Notification { .. } => ExpectationKind::Notification,
        Check::Trace { .. } => ExpectationKind::Trace,
        Check::Log { .. } => ExpectationKind::Log,
        Check::DashboardHasData { .. } | Check::DashboardPanel { .. } => ExpectationKind::Dashboard,
        Check::NoAlerts { .. } => ExpectationKind::NoAlerts,
        Check::Correlation { .. } => ExpectationKind::Correlation,
    }
}

fn describe(e: &Expectation) -> String {
    if let Some(name) = &e.name {
        return name.clone();
    }
    let labels = |l: &BTreeMap<String, String>| {
        if l.is_empty() {
            String::new()
        } else {
            format!(
                "{{{}}}",
                l.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            )
        }
    };
    match &e.check {
        Check::Metric { query } => query.clone(),
        Check::Alert {
            alert,
            labels: l,
            state,
        } => format!(
            "{alert}{} {}",
            labels(l),
            format!("{state:?}").to_lowercase()
        ),
        Check::Notification {
            receiver,
            alert,
            status,
            ..
        } => {
            format!(
                "{receiver} notified{} ({status:?})",
                alert
                    .as_ref()
                    .map(|a| format!(" of {a}"))
                    .unwrap_or_default()
            )
        }
        Check::Trace {
            service,
            error,
            spans_from,
            ..
        } => format!(
            "trace of {service}{}{}",
            if *error == Some(true) {
                " with error"
            } else {
                ""
            },
            if spans_from.is_empty() {
                String::new()
            } else {
                format!(" across {}", spans_from.join(" → "))
            }
        ),
        Check::Log {
            service,
            level,
            correlated_trace,
            ..
        } => format!(
            "{service} log{}{}",
            level
                .map(|l| format!(" at {l:?}").to_lowercase())
                .unwrap_or_default(),
            if *correlated_trace {
                " with trace id"
            } else {
                ""
            }
        ),
        Check::DashboardHasData { dashboard } => {
            format!("dashboard {dashboard}: every panel has data")
        }
        Check::DashboardPanel {
            dashboard,
            panel,
            above,
            below,
        } => format!(
            "dashboard {dashboard}: {panel}{}{}",
            above.map(|a| format!(" > {a}")).unwrap_or_default(),
            below.map(|b| format!(" < {b}")).unwrap_or_default()
        ),
        Check::NoAlerts { alerts } => match alerts {
            None => "no alert fires".into(),
            Some(names) => format!("none of {} fires", names.join(", ")),
        },
        Check::Correlation { find_in, .. } => format!(
            "failed requests' trace ids found in {}",
            find_in.join(" and ")
        ),
    }
}

/// A fault waiting to be rolled back.
struct Active {
    index: usize,
    guard: Option<FaultGuard>,
    restart: Option<String>,
}

/// Injects and rolls back every fault on the timeline; returns what happened to each.
async fn run_faults(
    scenario: &Scenario,
    clock: &Clock,
    fleet: &mut Fleet,
    targets: StackTargets<'_>,
    registry: &FaultRegistry,
    load_start: Instant,
    injections: &watch::Sender<Injections>,
) -> Vec<FaultRecord> {
    let mut records: Vec<FaultRecord> = scenario
        .faults
        .iter()
        .map(|f| FaultRecord {
            name: f.name.clone(),
            kind: f.action.kind().to_string(),
            target: f.target(),
            planned_at_ms: clock.ms(load_start + f.at),
            injected_at_ms: None,
            rolled_back_at_ms: None,
        })
        .collect();
    let mut order: Vec<usize> = (0..scenario.faults.len()).collect();
    order.sort_by_key(|i| scenario.faults[*i].at);
    let mut pending_rollbacks: Vec<(Instant, Active)> = Vec::new();
    let mut next = order.into_iter().peekable();
    loop {
        let next_inject = next.peek().map(|i| load_start + scenario.faults[*i].at);
        let next_rollback = pending_rollbacks.iter().map(|(t, _)| *t).min();
        let (at, inject) = match (next_inject, next_rollback) {
            (Some(i), Some(r)) if r < i => (r, false),
            (Some(i), _) => (i, true),
            (None, Some(r)) => (r, false),
            (None, None) => break,
        };
        tokio::select! {
            () = tokio::time::sleep_until(at) => {}
            () = cancelled(&clock.cancel) => {
                // Roll back now, while the runtime and every client are alive.
                for (_, active) in pending_rollbacks.drain(..) {
                    if let Some(g) = active.guard
                        && let Err(e) = g.rollback().await
                    {
                        tracing::warn!(error = %probes::error_chain(&e), "rollback on interrupt failed");
                    }
                }
                break;
            }
        }
        if inject && records.iter().all(|r| r.injected_at_ms.is_none()) {
            clock.emit(RunEvent::PhaseStarted {
                name: "faults".into(),
                at_ms: clock.now_ms(),
            });
        }
        if inject {
            let Some(index) = next.next() else { break };
            let fault = &scenario.faults[index];
            match inject_fault(fault, fleet, targets, registry).await {
                Ok((guard, restart)) => {
                    let now = Instant::now();
                    records[index].injected_at_ms = Some(clock.ms(now));
                    injections.send_modify(|m| {
                        m.insert(fault.name.clone(), (now, SystemTime::now()));
                    });
                    clock.emit(RunEvent::FaultInjected {
                        name: fault.name.clone(),
                        kind: fault.action.kind().to_string(),
                        target: fault.target(),
                        at_ms: clock.ms(now),
                    });
                    if let Some(d) = fault.duration {
                        pending_rollbacks.push((
                            now + d,
                            Active {
                                index,
                                guard,
                                restart,
                            },
                        ));
                    } else if let Some(g) = guard {
                        // Instantaneous faults keep nothing to roll back but their guard.
                        drop(g);
                    }
                }
                Err(e) => {
                    clock.emit(RunEvent::Log {
                        level: crate::report::LogLevel::Error,
                        message: format!("fault {} could not be injected: {e}", fault.name),
                    });
                }
            }
        } else {
            let pos = pending_rollbacks
                .iter()
                .enumerate()
                .min_by_key(|(_, (t, _))| *t)
                .map(|(i, _)| i)
                .unwrap_or_default();
            let (_, active) = pending_rollbacks.swap_remove(pos);
            let fault = &scenario.faults[active.index];
            if let Some(g) = active.guard
                && let Err(e) = g.rollback().await
            {
                clock.emit(RunEvent::Log {
                    level: crate::report::LogLevel::Error,
                    message: format!(
                        "fault {} rollback failed: {}",
                        fault.name,
                        probes::error_chain(&e)
                    ),
                });
            }
            if let Some(service) = active.restart
                && let Err(e) = fleet.restart(&service).await
            {
                clock.emit(RunEvent::Log {
                    level: crate::report::LogLevel::Error,
                    message: format!("restarting {service} failed: {}", probes::error_chain(&e)),
                });
            }
            let now = Instant::now();
            records[active.index].rolled_back_at_ms = Some(clock.ms(now));
            clock.emit(RunEvent::FaultRolledBack {
                name: fault.name.clone(),
                at_ms: clock.ms(now),
            });
        }
    }
    records
}

/// Injects one fault; returns its guard (if it has a rollback) and a service to restart at
/// rollback (kills and crashes).
async fn inject_fault(
    fault: &Fault,
    fleet: &Fleet,
    targets: StackTargets<'_>,
    registry: &FaultRegistry,
) -> Result<(Option<FaultGuard>, Option<String>), String> {
    let duration = fault.duration.unwrap_or(Duration::from_secs(3600));
    let link = |from: &str, to: &str| -> Result<&FaultProxy, String> {
        let proxy = if from == "collector" && to == "log-store" {
            targets.log_store_proxy
        } else {
            fleet.proxy(from, to)
        };
        proxy.ok_or_else(|| format!("no proxy on {from} -> {to}"))
    };
    let hook = |service: &str, hook: FaultHook| {
        inject_hook(fleet, registry, service.to_string(), hook, duration)
    };
    let guard = match &fault.action {
        FaultAction::HttpErrors {
            service,
            rate,
            status,
            route,
        } => {
            hook(
                service,
                FaultHook::Errors {
                    rate: *rate,
                    status: *status,
                    route: route.clone(),
                },
            )
            .await?
        }
        FaultAction::Latency {
            service,
            delay,
            jitter,
            rate,
        } => {
            hook(
                service,
                FaultHook::Latency {
                    fixed_ms: delay.as_millis() as u64,
                    jitter_ms: jitter.as_millis() as u64,
                    rate: *rate,
                },
            )
            .await?
        }
        FaultAction::Hang { service, rate } => {
            hook(service, FaultHook::Hang { rate: *rate }).await?
        }
        FaultAction::Crash { service, exit_code } => {
            let g = hook(
                service,
                FaultHook::Crash {
                    exit_code: *exit_code,
                },
            )
            .await?;
            return Ok((Some(g), fault.duration.map(|_| service.clone())));
        }
        FaultAction::CpuBurn { service, threads } => {
            hook(service, FaultHook::CpuBurn { threads: *threads }).await?
        }
        FaultAction::MemoryGrowth {
            service,
            mb_per_second,
            max_mb,
        } => {
            hook(
                service,
                FaultHook::MemoryGrowth {
                    mb_per_sec: *mb_per_second,
                    max_mb: *max_mb,
                },
            )
            .await?
        }
        FaultAction::DependencyFailure {
            service,
            dependency,
            rate,
            status,
        } => {
            hook(
                service,
                FaultHook::DependencyFailure {
                    dependency: dependency.clone(),
                    rate: *rate,
                    status: *status,
                },
            )
            .await?
        }
        FaultAction::QueueStall { service } => hook(service, FaultHook::QueueStall).await?,
        FaultAction::KillProcess { target, signal } => {
            let pid = fleet
                .pid(target)
                .ok_or_else(|| format!("{target} is not a process gauntlet runs"))?;
            let how = match signal {
                KillSignal::Kill => SignalHow::Kill,
                KillSignal::Term => SignalHow::Term,
            };
            let g = crate::fault::signal::kill(registry, ProcessTarget::Group(pid), how, None)
                .map_err(|e| probes::error_chain(&e))?;
            return Ok((Some(g), fault.duration.map(|_| target.clone())));
        }
        FaultAction::PauseProcess { target } => {
            let pid = fleet
                .pid(target)
                .ok_or_else(|| format!("{target} is not a process gauntlet runs"))?;
            crate::fault::signal::pause(registry, ProcessTarget::Group(pid))
                .map_err(|e| probes::error_chain(&e))?
        }
        FaultAction::NetworkDelay {
            from,
            to,
            delay,
            jitter,
        } => {
            let proxy = link(from, to)?;
            proxy.inject(
                registry,
                ProxyEffect::Delay(crate::fault::proxy::Delay {
                    fixed: *delay,
                    jitter: *jitter,
                }),
            )
        }
        FaultAction::NetworkBandwidth {
            from,
            to,
            bytes_per_second,
        } => {
            let proxy = link(from, to)?;
            proxy.inject(
                registry,
                ProxyEffect::Bandwidth {
                    bytes_per_sec: *bytes_per_second,
                },
            )
        }
        FaultAction::NetworkBlackhole { from, to } => {
            let proxy = link(from, to)?;
            proxy.inject(registry, ProxyEffect::Blackhole)
        }
        FaultAction::NetworkReset { from, to } => {
            let proxy = link(from, to)?;
            proxy.inject(registry, ProxyEffect::Reset)
        }
        FaultAction::ContainerStop { container }
        | FaultAction::ContainerPause { container }
        | FaultAction::ContainerKill { container } => {
            let id = targets
                .containers
                .get(container)
                .ok_or_else(|| format!("no container for compose service {container}"))?;
            let action = match &fault.action {
                FaultAction::ContainerStop { .. } => ContainerAction::Stop { grace_secs: 5 },
                FaultAction::ContainerPause { .. } => ContainerAction::Pause,
                _ => ContainerAction::Kill {
                    signal: "SIGKILL".into(),
                },
            };
            let docker = ContainerFaults::connect().map_err(|e| probes::error_chain(&e))?;
            docker
                .inject(registry, id, action)
                .await
                .map_err(|e| probes::error_chain(&e))?
        }
        FaultAction::PodKill { .. }
        | FaultAction::ScaleToZero { .. }
        | FaultAction::RolloutRestart { .. }
        | FaultAction::NetworkPartition { .. } => {
            let kube = targets.kube.ok_or_else(|| {
                format!(
                    "fault kind {} needs provider kubernetes",
                    fault.action.kind()
                )
            })?;
            let injection = kube
                .faults
                .inject(registry, fault)
                .await
                .map_err(|e| probes::error_chain(&e))?;
            tracing::info!(fault = %fault.name, calls = injection.calls.len(), deleted = ?injection.deleted_pods, "kubernetes fault injected");
            // pod-kill and rollout-restart have nothing to undo: controllers replace the pods.
            return Ok((injection.guard, None));
        }
    };
    Ok((Some(guard), None))
}

async fn inject_hook(
    fleet: &Fleet,
    registry: &FaultRegistry,
    service: String,
    hook: FaultHook,
    duration: Duration,
) -> Result<FaultGuard, String> {
    let url = fleet
        .urls()
        .get(&service)
        .cloned()
        .ok_or_else(|| format!("service {service} is not running"))?;
    let client = HooksClient::new(reqwest::Url::parse(&url).map_err(|e| e.to_string())?)
        .map_err(|e| probes::error_chain(&e))?;
    client
        .inject(registry, hook, duration)
        .await
        .map_err(|e| probes::error_chain(&e))
}

fn stack_components(stack: &StackHandle) -> Vec<Component> {
    let (kind, components) = match stack {
        StackHandle::Native(s) => (ComponentKind::Native, s.components()),
        StackHandle::Compose(s) => (ComponentKind::Container, s.components()),
        StackHandle::External(_, components) => return components.clone(),
        StackHandle::Kubernetes(k) => return k.components.clone(),
    };
    components
        .iter()
        .map(|c| Component {
            name: c.name.clone(),
            version: Some(c.version.clone()).filter(|v| !v.is_empty()),
            real: c.real,
            kind: if c.real { kind } else { ComponentKind::Tap },
            note: Some(c.implementation.clone()),
        })
        .collect()
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
