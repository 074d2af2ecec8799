//! One scenario run: stack → services → warm-up → steady state → faults → recovery →
//! teardown. Emits [`RunEvent`]s; never prints. A missed expectation is data in the result;
//! `Err` means the harness itself (or the stack) failed.
//!
//! The scenario's `timeout` caps the whole run: when it is reached, every fault is rolled
//! back, the stack is stopped, and the result marks what was still pending as missed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::attach::{AttachError, Backends, KubeStack};
use super::clock::{Clock, Stop};
use super::expectations::{self, Start};
use super::fleet::{Fleet, FleetError, FleetSettings};
use super::load::LoadRun;
use super::probes::{LogSource, Observers};
use super::promtool::RuleCheck;
use super::rules::override_alert_for;
use super::stack::StackHandle;
use super::timeline::{Injections, run_faults};
use crate::error_chain;
use crate::fault::FaultRegistry;
use crate::observe::dashboard::Dashboard;
use crate::observe::{JaegerClient, PrometheusClient, WebhookSink};
use crate::report::{
    Component, ExpectationPhase, ExpectationResult, LogLevel, PhaseTiming, RunEvent,
    ScenarioResult, StackVersions,
};
use crate::scenario::{Provider, Scenario};
use crate::stack::compose::ComposeStack;
use crate::stack::{NativeStack, StackConfig};
use crate::verdict::{Backoff, Probe, poll_until};

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
            // What the user must fix in their input, not a stack that failed.
            RunError::Attach(
                AttachError::WebhookToken(_) | AttachError::Url { .. } | AttachError::Name { .. },
            )
            | RunError::Config(_) => crate::exit_code::INVALID_SCENARIO,
            RunError::Stack(_)
            | RunError::Compose(_)
            | RunError::Services(_)
            | RunError::Attach(_)
            | RunError::WarmUp(_) => crate::exit_code::STACK_FAILED,
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

/// Distributed load for kubernetes scenarios (`gauntlet run --workers N`).
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub workers: u32,
    /// An image with `gauntlet` on its PATH.
    pub image: String,
    /// Run the worker pods in the node's network namespace (`hostNetwork`).
    pub host_network: bool,
}

/// The scenario's outcome plus the components it ran against.
pub struct ScenarioRun {
    pub result: ScenarioResult,
    pub components: Vec<Component>,
}

/// Runs one scenario end to end and always tears down what it started.
pub async fn run_scenario(scenario: &Scenario, ctx: &RunContext) -> Result<ScenarioRun, RunError> {
    let clock = Clock {
        start: Instant::now(),
        events: ctx.events.clone(),
        cancel: ctx.cancel.clone(),
        timeout: scenario.timeout,
    };
    let started_wall = SystemTime::now();
    let placeholders = expectations::placeholders(scenario);
    clock.emit(RunEvent::ScenarioStarted {
        name: scenario.name.clone(),
        file: scenario.file.display().to_string(),
        planned_ms: scenario
            .load
            .as_ref()
            .map(|l| l.duration.as_millis() as u64),
        expectations: placeholders.len() + usize::from(scenario.overhead.is_some()),
    });
    if matches!(
        scenario.stack.provider,
        Provider::Native | Provider::Compose
    ) {
        // A matrix runs the same scenario once per version: say which one this is.
        let v = scenario.stack.prometheus_version;
        clock.emit(RunEvent::Log {
            level: LogLevel::Info,
            message: format!(
                "stack: Prometheus {v} with Alertmanager {}",
                v.alertmanager()
            ),
        });
    }
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
            .map_err(|e| RunError::Internal(error_chain(&e)))?,
    };
    let sink = Arc::new(sink);
    let rules_dir = tempfile::tempdir()
        .map_err(|e| RunError::Internal(format!("cannot create a temp dir: {e}")))?;
    let config = stack_config(scenario, &sink, rules_dir.path(), &log_dir)?;
    if matches!(
        scenario.stack.provider,
        Provider::Native | Provider::Compose
    ) {
        let version = config.prometheus_version;
        match super::promtool::check_rules(version, &config.rule_files).await {
            Ok(RuleCheck::Passed { .. }) => {}
            Ok(RuleCheck::NoPromtool(why)) => clock.emit(RunEvent::Log {
                level: LogLevel::Warn,
                message: format!(
                    "the rule files were not checked with promtool {version} ({why}); Prometheus checks them when it starts"
                ),
            }),
            Err(refused) => return Err(RunError::Config(refused)),
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
    let components = stack.components();

    // Everything after this point must tear the stack down, whatever happens.
    let run = Run {
        scenario,
        ctx,
        clock: &clock,
        stack: &stack,
        started_wall,
    };
    let outcome = run
        .with_stack(sink.clone(), &log_dir, &mut phases, placeholders)
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
    result.stack_versions = Some(stack_versions(scenario, &components));
    result.duration_ms = clock.now_ms();
    clock.emit(RunEvent::ScenarioFinished(result.clone()));
    Ok(ScenarioRun { result, components })
}

/// The Prometheus and Alertmanager versions the components reported, and the pairing
/// gauntlet chose when it started the stack.
fn stack_versions(scenario: &Scenario, components: &[Component]) -> StackVersions {
    let version = |name: &str| {
        components
            .iter()
            .find(|c| c.name == name)
            .and_then(|c| c.version.clone())
    };
    StackVersions {
        selected: selected_version(scenario),
        prometheus: version("prometheus"),
        alertmanager: version("alertmanager"),
    }
}

/// The pairing a stack gauntlet starts runs (`None` for one it attaches to).
fn selected_version(scenario: &Scenario) -> Option<String> {
    matches!(
        scenario.stack.provider,
        Provider::Native | Provider::Compose
    )
    .then(|| scenario.stack.prometheus_version.as_str().to_string())
}

/// The versions of a scenario that never reached its stack: only the pairing it asked for.
pub fn stack_versions_selected(scenario: &Scenario) -> Option<StackVersions> {
    selected_version(scenario).map(|selected| StackVersions {
        selected: Some(selected),
        prometheus: None,
        alertmanager: None,
    })
}

/// The stack's settings from the scenario: intervals, the rule files (with `for`
/// overridden), the receivers redirected to gauntlet's webhook sink.
fn stack_config(
    scenario: &Scenario,
    sink: &WebhookSink,
    rules_dir: &Path,
    log_dir: &Path,
) -> Result<StackConfig, RunError> {
    let rule_files = match scenario.stack.alert_for {
        Some(d) => override_alert_for(&scenario.stack.rule_files, d, rules_dir)
            .map_err(|e| RunError::Internal(error_chain(&e)))?,
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
        log_dir: Some(log_dir.to_path_buf()),
        service_relabel_configs: relabel_values(&scenario.services.relabel_configs),
        service_metric_relabel_configs: relabel_values(&scenario.services.metric_relabel_configs),
        prometheus_version: scenario.stack.prometheus_version,
        trace_store: scenario.stack.trace_store,
        ..StackConfig::default()
    };
    for r in &receivers {
        if let Ok(url) = reqwest::Url::parse(&sink.url_for(r)) {
            config.webhook_receivers.insert(r.clone(), url);
        }
    }
    Ok(config)
}

/// The scenario's relabel rules as the JSON objects the stack renders.
fn relabel_values(rules: &[crate::scenario::relabel::RelabelConfig]) -> Vec<serde_json::Value> {
    rules
        .iter()
        .filter_map(|r| serde_json::to_value(r).ok())
        .collect()
}

/// What every phase of one run shares.
struct Run<'a> {
    scenario: &'a Scenario,
    ctx: &'a RunContext,
    clock: &'a Clock,
    stack: &'a StackHandle,
    started_wall: SystemTime,
}

/// What `with_stack` started for the phases: torn down by it whatever they return.
struct Started<'s> {
    fleet: &'s mut Fleet,
    registry: &'s FaultRegistry,
    observers: Arc<Observers>,
    backends: &'s Backends,
    /// Scrape targets that must answer before the warm-up ends.
    expected_up: usize,
}

impl Run<'_> {
    /// Starts the services, runs the phases, and stops the services and rolls back every
    /// fault whatever the phases return.
    async fn with_stack(
        &self,
        sink: Arc<WebhookSink>,
        log_dir: &Path,
        phases: &mut Vec<PhaseTiming>,
        placeholders: BTreeMap<String, ExpectationResult>,
    ) -> Result<ScenarioResult, RunError> {
        let backends = self.stack.backends();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| RunError::Internal(format!("http client: {e}")))?;

        // Services.
        let phase_start = self.clock.now_ms();
        self.clock.emit(RunEvent::PhaseStarted {
            name: "services".into(),
            at_ms: phase_start,
        });
        let settings = FleetSettings {
            exe: &self.ctx.exe,
            log_dir,
            otlp_http: backends
                .otlp_http
                .as_ref()
                .map_or("", |u| u.as_str().trim_end_matches('/')),
            deployment_id: &sanitize(&self.scenario.name),
        };
        let mut fleet = Fleet::start(self.scenario, &settings)
            .await
            .map_err(RunError::Services)?;
        // A stack gauntlet does not run scrapes what its owner configured.
        let scrape_targets = if self.stack.is_owned() {
            fleet.scrape_targets()
        } else {
            Vec::new()
        };
        for (service, targets) in &scrape_targets {
            let job = self.scenario.services.job_of(service);
            if let Err(e) = self.stack.set_service_targets(service, job, targets) {
                fleet.stop().await;
                return Err(RunError::Internal(e));
            }
        }
        phases.push(PhaseTiming {
            name: "services".into(),
            started_ms: phase_start,
            ended_ms: self.clock.now_ms(),
        });

        // Faults and the distributed load's Job, rolled back below whatever the run returns.
        let registry = FaultRegistry::new();
        let sink = match self
            .stack
            .notifications_unavailable(self.scenario.stack.webhook_listen.is_some())
        {
            None => Ok(sink),
            Some(why) => Err(why),
        };
        let observers = self.observers(&backends, &http, sink)?;
        let result = self
            .phases(
                Started {
                    fleet: &mut fleet,
                    registry: &registry,
                    observers,
                    backends: &backends,
                    // One target per replica.
                    expected_up: scrape_targets.iter().map(|(_, t)| t.len()).sum(),
                },
                phases,
                placeholders,
            )
            .await;
        for e in registry.rollback_all().await {
            tracing::warn!(error = %error_chain(&e), "fault rollback failed at teardown");
        }
        fleet.stop().await;
        result
    }

    fn observers(
        &self,
        backends: &Backends,
        http: &reqwest::Client,
        sink: Result<Arc<WebhookSink>, String>,
    ) -> Result<Arc<Observers>, RunError> {
        let scenario = self.scenario;
        let prometheus = PrometheusClient::new(backends.prometheus.as_str(), http.clone())
            .map_err(|e| RunError::Internal(error_chain(&e)))?;
        let jaeger = match &backends.jaeger_query {
            Some(url) => Ok(JaegerClient::new(url.as_str(), http.clone())
                .map_err(|e| RunError::Internal(error_chain(&e)))?),
            None => Err("no Jaeger query API in this stack (give `stack.urls.jaeger`)".to_string()),
        };
        let logs = LogSource::connect(backends.log_store.as_ref(), http);
        // A dashboard that does not parse is the error it is, not a skipped check.
        let mut dashboards = BTreeMap::new();
        for file in &scenario.stack.dashboards {
            let text = std::fs::read_to_string(file)
                .map_err(|e| RunError::Config(format!("dashboard {}: {e}", file.display())))?;
            let d = Dashboard::parse(&text).map_err(|e| {
                RunError::Config(format!("dashboard {}: {}", file.display(), error_chain(&e)))
            })?;
            if let Some(stem) = file.file_stem().and_then(|s| s.to_str()) {
                dashboards.insert(stem.to_string(), d.clone());
            }
            dashboards.insert(d.uid.clone(), d);
        }
        let alertmanager = super::probes::alertmanager_client(backends, http);
        Ok(Arc::new(Observers {
            prometheus,
            alertmanager,
            jaeger,
            trace_backend: scenario.stack.trace_store.backend(),
            logs,
            sink,
            correlation_unavailable: self.distributed().map(|(w, _)| {
                format!(
                    "the load ran in {} cluster worker(s), which do not report failed requests' trace ids",
                    w.workers
                )
            }),
            log_services: scenario.services.names.clone(),
            dashboards,
            scrape_interval: scenario.stack.scrape_interval,
            failed_trace_ids: Arc::new(Mutex::new(Vec::new())),
            started_wall: self.started_wall,
            ledger: Arc::new(Mutex::new(super::completeness::Ledger {
                target: scenario.load.as_ref().map(|l| l.target.clone()),
                services: scenario.services.names.clone(),
                // Telemetry of a request waits for the service's export and the collector's
                // flush; the margin covers the request itself and the store's ingestion.
                lag: scenario.services.export_interval
                    + scenario.stack.telemetry_flush
                    + Duration::from_secs(2),
                scrape_interval: scenario.stack.scrape_interval,
                ..Default::default()
            })),
        }))
    }

    /// In-cluster workers, when the scenario's load runs as a Job.
    fn distributed(&self) -> Option<(&WorkerSettings, &KubeStack)> {
        match (&self.ctx.workers, self.stack.kube()) {
            (Some(w), Some(k)) => Some((w, k)),
            _ => None,
        }
    }

    /// Warm-up: every service scraped and up, so start-up is never mistaken for a fault.
    /// `Ok(None)` when a stop request came first.
    async fn warm_up(
        &self,
        observers: &Observers,
        expected_up: usize,
    ) -> Result<Option<Stop>, RunError> {
        let warm_up = poll_until(
            Instant::now() + WARM_UP_TIMEOUT,
            Backoff::default(),
            || async {
                match observers
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
                    Err(e) => Probe::CouldNotAsk(error_chain(&e)),
                }
            },
        );
        let up = tokio::select! {
            up = warm_up => up,
            stop = self.clock.stopped() => return Ok(Some(stop)),
        };
        if up.met.is_none() {
            let seen = up
                .last_observed
                .or(up.last_failure)
                .map(|(s, _)| s)
                .unwrap_or_default();
            return Err(RunError::WarmUp(format!(
                "services not all up within {WARM_UP_TIMEOUT:?}: {seen}"
            )));
        }
        Ok(None)
    }

    async fn phases(
        &self,
        started: Started<'_>,
        phases: &mut Vec<PhaseTiming>,
        mut placeholders: BTreeMap<String, ExpectationResult>,
    ) -> Result<ScenarioResult, RunError> {
        let Started {
            fleet,
            registry,
            observers,
            backends,
            expected_up,
        } = started;
        let (scenario, clock) = (self.scenario, self.clock);
        let phase_start = clock.now_ms();
        clock.emit(RunEvent::PhaseStarted {
            name: "warm-up".into(),
            at_ms: phase_start,
        });
        match self.warm_up(&observers, expected_up).await? {
            Some(Stop::Interrupted) => return Err(RunError::Interrupted),
            Some(Stop::Timeout) => {
                return Ok(self.timed_out(placeholders, Vec::new(), Vec::new(), None, Vec::new()));
            }
            None => {}
        }
        phases.push(PhaseTiming {
            name: "warm-up".into(),
            started_ms: phase_start,
            ended_ms: clock.now_ms(),
        });

        let target_url = scenario
            .load
            .as_ref()
            .and_then(|l| fleet.load_url(&l.target));
        let load = LoadRun::start(
            scenario,
            target_url.as_deref(),
            self.distributed(),
            registry,
            clock,
            observers.failed_trace_ids.clone(),
            observers.ledger.clone(),
            &super::closed_load::ClosedChild {
                exe: self.ctx.exe.clone(),
                log_dir: self
                    .ctx
                    .report_dir
                    .join("logs")
                    .join(sanitize(&scenario.name)),
            },
        )
        .await?;
        let load_start = load.start;

        let mut tasks: JoinSet<ExpectationResult> = JoinSet::new();
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
                expectations::spawn(
                    &mut tasks,
                    e,
                    ExpectationPhase::SteadyState,
                    observers.clone(),
                    clock,
                    Start::At(expectations::now()),
                    Some(load_start + ss.duration),
                );
            }
        }
        // Fault-phase expectations, each measured from its reference fault's injection.
        for e in &scenario.expect {
            let start = match e.after.clone().or_else(|| first_fault.clone()) {
                Some(name) => Start::Fault(name, inj_rx.clone()),
                None => Start::At(expectations::now()),
            };
            expectations::spawn(
                &mut tasks,
                e,
                ExpectationPhase::Faults,
                observers.clone(),
                clock,
                start,
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
        let timeline = run_faults(
            scenario, clock, fleet, self.stack, registry, load_start, &inj_tx,
        )
        .await;
        // Expectations still waiting for a fault that never came learn it now.
        drop(inj_tx);
        if !scenario.faults.is_empty() {
            phases.push(PhaseTiming {
                name: "faults".into(),
                started_ms: phase_start,
                ended_ms: clock.now_ms(),
            });
        }
        let mut stopped = timeline.stopped;

        // Recovery: measured from the moment the last fault was rolled back.
        let recover_start = expectations::now();
        record_fault_windows(
            &observers,
            scenario,
            &timeline.records,
            clock,
            &recover_start,
        );
        if stopped.is_none()
            && let Some(rec) = &scenario.recover
        {
            clock.emit(RunEvent::PhaseStarted {
                name: "recover".into(),
                at_ms: clock.ms(recover_start.instant),
            });
            for e in &rec.expect {
                expectations::spawn(
                    &mut tasks,
                    e,
                    ExpectationPhase::Recover,
                    observers.clone(),
                    clock,
                    Start::At(recover_start),
                    None,
                );
            }
        }

        let mut results = Vec::new();
        while stopped.is_none() {
            let done = tokio::select! {
                done = tasks.join_next() => done,
                stop = clock.stopped() => {
                    stopped = Some(stop);
                    break;
                }
            };
            let Some(done) = done else { break };
            let r =
                done.map_err(|e| RunError::Internal(format!("an expectation task failed: {e}")))?;
            placeholders.remove(&r.id);
            results.push(r);
        }
        tasks.abort_all();
        // Faults without `for` stay on until here.
        for g in timeline.held {
            if let Err(e) = g.rollback().await {
                tracing::warn!(error = %error_chain(&e), "fault rollback failed");
            }
        }
        match stopped {
            Some(Stop::Interrupted) => {
                for e in registry.rollback_all().await {
                    tracing::warn!(error = %error_chain(&e), "fault rollback failed on interrupt");
                }
                return Err(RunError::Interrupted);
            }
            Some(Stop::Timeout) => {
                for e in registry.rollback_all().await {
                    tracing::warn!(error = %error_chain(&e), "fault rollback failed at the timeout");
                }
                let (load, timeseries) = load.finish().await?;
                return Ok(self.timed_out(
                    placeholders,
                    results,
                    timeline.records,
                    load,
                    timeseries,
                ));
            }
            None => {}
        }
        if scenario.recover.is_some() {
            phases.push(PhaseTiming {
                name: "recover".into(),
                started_ms: clock.ms(recover_start.instant),
                ended_ms: clock.now_ms(),
            });
        }

        let alerts_fired = self.alerts_fired(&observers).await;
        let (load_summary, timeseries) = load.finish().await?;
        let overhead = match &scenario.overhead {
            Some(spec) => {
                clock.emit(RunEvent::PhaseStarted {
                    name: "overhead".into(),
                    at_ms: clock.now_ms(),
                });
                let log_dir = self
                    .ctx
                    .report_dir
                    .join("logs")
                    .join(sanitize(&self.scenario.name));
                let env = super::overhead::OverheadEnv {
                    exe: &self.ctx.exe,
                    log_dir: &log_dir,
                    otlp_http: backends.otlp_http.as_ref(),
                };
                let (expectation, result) =
                    super::overhead::measure_overhead(scenario, spec, &env).await?;
                clock.emit(RunEvent::ExpectationFinished(expectation.clone()));
                results.push(expectation);
                result
            }
            None => None,
        };
        let mut result = self.result(
            results,
            timeline.records,
            load_summary,
            timeseries,
            overhead,
        );
        result.alerts_fired = alerts_fired;
        Ok(result)
    }

    /// The alerts that fired during the run; a failure to list them is said in the log, so an
    /// empty list is never mistaken for "nothing fired".
    async fn alerts_fired(&self, observers: &Observers) -> Vec<crate::report::FiredAlert> {
        match super::runbooks::fired_alerts(observers).await {
            Ok(alerts) => alerts,
            Err(why) => {
                self.clock.emit(RunEvent::Log {
                    level: LogLevel::Warn,
                    message: format!("the alerts that fired could not be listed: {why}"),
                });
                Vec::new()
            }
        }
    }

    fn result(
        &self,
        mut expectations: Vec<ExpectationResult>,
        faults: Vec<crate::report::FaultRecord>,
        load: Option<crate::report::LoadSummary>,
        timeseries: Vec<crate::report::SeriesPoint>,
        overhead: Option<crate::report::OverheadResult>,
    ) -> ScenarioResult {
        expectations.sort_by(|a, b| a.id.cmp(&b.id));
        ScenarioResult {
            name: self.scenario.name.clone(),
            file: self.scenario.file.display().to_string(),
            repetition: None,
            status: ScenarioResult::derive_status(&expectations, &faults),
            duration_ms: 0,
            phases: Vec::new(),
            faults,
            expectations,
            load,
            timeseries,
            overhead,
            skipped_reason: None,
            error: None,
            config_notes: self.scenario.stack.config_notes.clone(),
            alerts_fired: Vec::new(),
            stack_versions: None,
        }
    }

    /// The result of a run its `timeout` stopped: what was decided stands, what was still
    /// pending is missed with that reason.
    fn timed_out(
        &self,
        pending: BTreeMap<String, ExpectationResult>,
        mut decided: Vec<ExpectationResult>,
        faults: Vec<crate::report::FaultRecord>,
        load: Option<crate::report::LoadSummary>,
        timeseries: Vec<crate::report::SeriesPoint>,
    ) -> ScenarioResult {
        let cap = humantime::format_duration(self.scenario.timeout);
        self.clock.emit(RunEvent::Log {
            level: LogLevel::Error,
            message: format!(
                "{}: the scenario timeout ({cap}) was reached: faults rolled back, {} pending expectation(s) missed",
                self.scenario.name,
                pending.len()
            ),
        });
        for (_, mut e) in pending {
            e.last_observed = Some(format!(
                "still pending when the scenario timeout ({cap}) was reached"
            ));
            decided.push(e);
        }
        if let Some(spec) = &self.scenario.overhead {
            let mut e = super::overhead::placeholder(spec);
            e.last_observed = Some(format!(
                "not measured: the scenario timeout ({cap}) was reached first"
            ));
            decided.push(e);
        }
        let mut result = self.result(decided, faults, load, timeseries, None);
        // Whatever was decided, a run cut short did not prove the whole scenario.
        result.status = crate::report::ScenarioStatus::Missed;
        result
    }
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

/// The faults' windows on the wall clock, for `completeness` to attribute losses to them.
fn record_fault_windows(
    observers: &Observers,
    scenario: &Scenario,
    records: &[crate::report::FaultRecord],
    clock: &Clock,
    now: &crate::verdict::Reference,
) {
    let now_ms = clock.ms(now.instant);
    let wall = |ms: u64| now.wall - Duration::from_millis(now_ms.saturating_sub(ms));
    let spans = records
        .iter()
        .filter_map(|r| {
            let from = r.injected_at_ms?;
            let fault = scenario.faults.iter().find(|f| f.name == r.name)?;
            Some(super::completeness::FaultSpan {
                name: r.name.clone(),
                what: format!("{} {}", fault.action.kind(), fault.target()),
                from: wall(from),
                to: wall(r.rolled_back_at_ms.unwrap_or(now_ms)),
            })
        })
        .collect();
    observers
        .ledger
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .faults = spans;
}
