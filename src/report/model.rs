//! The results model: what a run produced (`RunResults`, written as `results.json`) and the
//! live events the runner sends while it runs (`RunEvent`).
//!
//! Every reporter reads these types and nothing else. The JSON form is versioned by
//! [`FORMAT_VERSION`] and described by `fixtures/report.schema.json`; a field added or changed
//! in a way an older reader cannot accept bumps the version. Times inside a scenario are
//! milliseconds since that scenario started; run-level timestamps are RFC 3339 strings.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// Version of the `results.json` format written by this build.
pub const FORMAT_VERSION: u32 = 3;

/// Formats `t` as an RFC 3339 UTC timestamp with millisecond precision
/// (`2025-05-01T12:00:00.123Z`), the form `started_at`/`finished_at` use.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// Everything one `gauntlet run` produced: the top of `results.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunResults {
    /// Always [`FORMAT_VERSION`] when written by this build.
    pub format_version: u32,
    /// Version of gauntlet that produced the run.
    pub gauntlet_version: String,
    /// RFC 3339 timestamp (see [`rfc3339`]).
    pub started_at: String,
    /// RFC 3339 timestamp (see [`rfc3339`]).
    pub finished_at: String,
    /// What was tested: stack components and the host.
    pub environment: Environment,
    /// One entry per scenario run, in run order.
    pub scenarios: Vec<ScenarioResult>,
}

impl RunResults {
    /// A run with this build's version numbers and no scenarios yet.
    pub fn new(started_at: SystemTime, environment: Environment) -> Self {
        RunResults {
            format_version: FORMAT_VERSION,
            gauntlet_version: env!("CARGO_PKG_VERSION").to_owned(),
            started_at: rfc3339(started_at),
            finished_at: rfc3339(started_at),
            environment,
            scenarios: Vec::new(),
        }
    }

    /// Counts of scenarios by status.
    pub fn scenario_counts(&self) -> StatusCounts {
        let mut c = StatusCounts::default();
        for s in &self.scenarios {
            match s.status {
                ScenarioStatus::Met => c.met += 1,
                ScenarioStatus::Missed => c.missed += 1,
                ScenarioStatus::Incomplete => c.incomplete += 1,
                ScenarioStatus::Skipped => c.skipped += 1,
                ScenarioStatus::Error => c.error += 1,
            }
        }
        c
    }

    /// Counts of expectations (over all scenarios) by status.
    pub fn expectation_counts(&self) -> StatusCounts {
        let mut c = StatusCounts::default();
        for e in self.scenarios.iter().flat_map(|s| &s.expectations) {
            match e.status {
                ExpectationStatus::Met => c.met += 1,
                ExpectationStatus::Missed => c.missed += 1,
                ExpectationStatus::Skipped => c.skipped += 1,
            }
        }
        c
    }

    /// The run's overall verdict: `error` beats `missed` beats `incomplete` beats `met`; a run
    /// whose scenarios were all skipped (or that has none) is `skipped`.
    pub fn overall_status(&self) -> ScenarioStatus {
        let c = self.scenario_counts();
        if c.error > 0 {
            ScenarioStatus::Error
        } else if c.missed > 0 {
            ScenarioStatus::Missed
        } else if c.incomplete > 0 {
            ScenarioStatus::Incomplete
        } else if c.met > 0 {
            ScenarioStatus::Met
        } else {
            ScenarioStatus::Skipped
        }
    }
}

/// Number of items per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts {
    /// Met.
    pub met: usize,
    /// Missed.
    pub missed: usize,
    /// Incomplete: nothing missed, but some checks could not be evaluated (scenarios only).
    pub incomplete: usize,
    /// Skipped.
    pub skipped: usize,
    /// Harness error (scenarios only).
    pub error: usize,
}

impl StatusCounts {
    /// Sum of all counts.
    pub fn total(&self) -> usize {
        self.met + self.missed + self.incomplete + self.skipped + self.error
    }
}

/// What was tested: the stack's components and the host they ran on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// Stack components (Prometheus, Alertmanager, Jaeger, services, …).
    pub components: Vec<Component>,
    /// Facts about the machine.
    pub host: HostFacts,
}

/// One stack component and whether it was the real thing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    /// e.g. `prometheus`.
    pub name: String,
    /// Version reported by the component, when known.
    pub version: Option<String>,
    /// `false` when checks ran against recorded responses or a stand-in.
    pub real: bool,
    /// How the component was provided.
    pub kind: ComponentKind,
    /// Why it is recorded/skipped, or anything a reader should know.
    pub note: Option<String>,
}

/// How a component was provided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ComponentKind {
    /// A local process gauntlet started.
    Native,
    /// A container gauntlet started.
    Container,
    /// Already running elsewhere; gauntlet only talked to it.
    External,
    /// Recorded responses replayed from fixtures (not the real thing).
    Recorded,
    /// gauntlet's own OTLP tap / webhook sink.
    Tap,
}

impl ComponentKind {
    /// The kebab-case name used in JSON and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentKind::Native => "native",
            ComponentKind::Container => "container",
            ComponentKind::External => "external",
            ComponentKind::Recorded => "recorded",
            ComponentKind::Tap => "tap",
        }
    }
}

/// Facts about the machine the run used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostFacts {
    /// `std::env::consts::OS`, e.g. `linux`.
    pub os: String,
    /// `std::env::consts::ARCH`, e.g. `x86_64`.
    pub arch: String,
    /// Kernel release when known (Linux: `/proc/sys/kernel/osrelease`).
    pub kernel: Option<String>,
    /// Logical cores available to the process.
    pub cores: u32,
}

impl HostFacts {
    /// Reads the facts of the current machine (never fails: unknowns become `None`/1).
    pub fn detect() -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX))
            .unwrap_or(1);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        HostFacts {
            os: std::env::consts::OS.to_owned(),
            arch: std::env::consts::ARCH.to_owned(),
            kernel,
            cores,
        }
    }
}

/// Verdict of one scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScenarioStatus {
    /// Every expectation that ran was met.
    Met,
    /// At least one expectation was missed, or a fault failed to inject or roll back.
    Missed,
    /// Nothing was missed, but some expectations could not be evaluated (skipped, with their
    /// reasons): the run did not prove what the scenario asks.
    Incomplete,
    /// Not run (see `skipped_reason`).
    Skipped,
    /// The harness failed (see `error`); expectations may be incomplete.
    Error,
}

impl ScenarioStatus {
    /// The kebab-case name used in JSON and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ScenarioStatus::Met => "met",
            ScenarioStatus::Missed => "missed",
            ScenarioStatus::Incomplete => "incomplete",
            ScenarioStatus::Skipped => "skipped",
            ScenarioStatus::Error => "error",
        }
    }
}

/// Verdict of one expectation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExpectationStatus {
    /// Observed within the deadline.
    Met,
    /// Not observed within the deadline (`last_observed` says what was seen).
    Missed,
    /// Not evaluated (see `skipped_reason`).
    Skipped,
}

impl ExpectationStatus {
    /// The kebab-case name used in JSON and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ExpectationStatus::Met => "met",
            ExpectationStatus::Missed => "missed",
            ExpectationStatus::Skipped => "skipped",
        }
    }
}

/// The result of one scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioResult {
    /// Scenario name (from the YAML).
    pub name: String,
    /// Path of the scenario file as given by the user.
    pub file: String,
    /// Which run of `--repeat N` this is (1-based); `None` when the scenario ran once.
    pub repetition: Option<u32>,
    /// Verdict.
    pub status: ScenarioStatus,
    /// Wall time of the scenario.
    pub duration_ms: u64,
    /// Phases in the order they ran.
    pub phases: Vec<PhaseTiming>,
    /// Faults with their planned and actual times.
    pub faults: Vec<FaultRecord>,
    /// Every expectation, in scenario order.
    pub expectations: Vec<ExpectationResult>,
    /// Load totals, when load ran.
    pub load: Option<LoadSummary>,
    /// Load samples over time (typically one per second).
    pub timeseries: Vec<SeriesPoint>,
    /// Instrumentation overhead numbers, when the scenario asked for the check. Its verdict
    /// also appears in `expectations` as an expectation of kind `overhead`, so counts and
    /// JUnit see it once.
    pub overhead: Option<OverheadResult>,
    /// Why the scenario was skipped.
    pub skipped_reason: Option<String>,
    /// What failed in the harness (status `error`), with its cause chain.
    pub error: Option<String>,
    /// What gauntlet changed in the user's configuration to run it (receivers redirected to
    /// its webhook sink, timings replaced, …); no secret is ever written here.
    #[serde(default)]
    pub config_notes: Vec<String>,
    /// Every alert that fired during the run, with its labels and annotations, flagged when
    /// it has no runbook link or summary.
    #[serde(default)]
    pub alerts_fired: Vec<super::fired::FiredAlert>,
    /// The Prometheus and Alertmanager the scenario ran against (`None` when it never reached
    /// a stack and named no version).
    #[serde(default)]
    pub stack_versions: Option<StackVersions>,
}

/// Which Prometheus and Alertmanager answered a scenario's checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackVersions {
    /// The pairing gauntlet started (`2.42`: Debian's packages, `3.16`: the provisioned
    /// build): what `stack.prometheus-version`, `--prometheus-version` and `--matrix` name.
    /// `None` for a stack gauntlet attached to.
    pub selected: Option<String>,
    /// Prometheus's version as the component reports it (`2.42.0+ds`, `3.16.0`).
    pub prometheus: Option<String>,
    /// Alertmanager's version as the component reports it.
    pub alertmanager: Option<String>,
}

impl StackVersions {
    /// `Prometheus 3.16.0, Alertmanager 0.31.1` (unknown parts say so).
    pub fn describe(&self) -> String {
        let v = |x: &Option<String>| x.clone().unwrap_or_else(|| "version unknown".to_owned());
        format!(
            "Prometheus {}, Alertmanager {}",
            v(&self.prometheus),
            v(&self.alertmanager)
        )
    }
}

/// The `backend` of an expectation no backend could serve (skipped, with the reason).
pub const NO_BACKEND: &str = "none";

impl ExpectationResult {
    /// Answered by recorded responses or a stand-in (not when no backend answered at all).
    pub fn is_recorded(&self) -> bool {
        !self.backend_real && self.backend != NO_BACKEND
    }

    /// The backend as reports show it: `loki`, `loki (recorded)`, `none`.
    pub fn backend_label(&self) -> String {
        if self.is_recorded() {
            format!("{} (recorded)", self.backend)
        } else {
            self.backend.clone()
        }
    }

    /// What the reports show as observed: the skip reason for skipped expectations, else the
    /// last value seen.
    pub fn observed_text(&self) -> String {
        match self.status {
            ExpectationStatus::Skipped => format!(
                "skipped: {}",
                self.skipped_reason.as_deref().unwrap_or("no reason given")
            ),
            _ => self.last_observed.clone().unwrap_or_else(|| "-".to_owned()),
        }
    }
}

impl ScenarioResult {
    /// Derives the scenario verdict from its expectations and faults: `missed` if any
    /// expectation is missed or any fault failed to inject or roll back; otherwise
    /// `incomplete` if any expectation was skipped (it proved nothing); `met` if some were met;
    /// `skipped` when there was nothing to evaluate. `error` is never derived: the runner sets it.
    pub fn derive_status(
        expectations: &[ExpectationResult],
        faults: &[FaultRecord],
    ) -> ScenarioStatus {
        let any = |s: ExpectationStatus| expectations.iter().any(|e| e.status == s);
        if any(ExpectationStatus::Missed) || faults.iter().any(|f| f.error.is_some()) {
            ScenarioStatus::Missed
        } else if any(ExpectationStatus::Skipped) {
            ScenarioStatus::Incomplete
        } else if any(ExpectationStatus::Met) {
            ScenarioStatus::Met
        } else {
            ScenarioStatus::Skipped
        }
    }
}

/// When one phase ran (ms since scenario start).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseTiming {
    /// `steady-state`, `faults`, `recover` (or a runner-specific phase such as `stack-up`).
    pub name: String,
    /// Start, ms since scenario start.
    pub started_ms: u64,
    /// End, ms since scenario start.
    pub ended_ms: u64,
}

/// One fault: when it was planned, injected and rolled back (ms since scenario start).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRecord {
    /// Name of the fault (from the scenario, or derived from its kind and target).
    pub name: String,
    /// Fault kind as written in the scenario, e.g. `http-errors`.
    pub kind: String,
    /// What it hit, e.g. `service orders` or `127.0.0.1:9090`.
    pub target: String,
    /// When the timeline said to inject it.
    pub planned_at_ms: u64,
    /// When it was actually injected (`None`: never injected).
    pub injected_at_ms: Option<u64>,
    /// When it was rolled back (`None`: still active at the end, or never injected).
    pub rolled_back_at_ms: Option<u64>,
    /// Why injecting or rolling it back failed (the scenario is then missed).
    pub error: Option<String>,
    /// For a fault on an HTTP fault proxy: what passed through it while the fault was on.
    #[serde(default)]
    pub proxy: Option<crate::fault::HttpProxyCounters>,
}

/// Kind of signal an expectation checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExpectationKind {
    /// A PromQL expression becomes true.
    Metric,
    /// An alert reaches a state in Prometheus/Alertmanager.
    Alert,
    /// A notification arrives at a receiver webhook.
    Notification,
    /// A trace with the expected shape is queryable.
    Trace,
    /// A log line with the expected fields is queryable.
    Log,
    /// Dashboard panels have data.
    Dashboard,
    /// No alert fires (steady state).
    NoAlerts,
    /// Signals correlate (trace id in logs, exemplars, …).
    Correlation,
    /// The stores hold enough of what was sent over the run (telemetry loss).
    Completeness,
    /// Instrumentation overhead stays within limits.
    Overhead,
}

impl ExpectationKind {
    /// All kinds, in report order.
    pub const ALL: [ExpectationKind; 10] = [
        ExpectationKind::Metric,
        ExpectationKind::Alert,
        ExpectationKind::Notification,
        ExpectationKind::Trace,
        ExpectationKind::Log,
        ExpectationKind::Dashboard,
        ExpectationKind::NoAlerts,
        ExpectationKind::Correlation,
        ExpectationKind::Completeness,
        ExpectationKind::Overhead,
    ];

    /// The kebab-case name used in JSON and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ExpectationKind::Metric => "metric",
            ExpectationKind::Alert => "alert",
            ExpectationKind::Notification => "notification",
            ExpectationKind::Trace => "trace",
            ExpectationKind::Log => "log",
            ExpectationKind::Dashboard => "dashboard",
            ExpectationKind::NoAlerts => "no-alerts",
            ExpectationKind::Correlation => "correlation",
            ExpectationKind::Completeness => "completeness",
            ExpectationKind::Overhead => "overhead",
        }
    }

    /// Plural heading for the per-signal sections of the reports.
    pub fn heading(self) -> &'static str {
        match self {
            ExpectationKind::Metric => "Metrics",
            ExpectationKind::Alert => "Alerts",
            ExpectationKind::Notification => "Notifications",
            ExpectationKind::Trace => "Traces",
            ExpectationKind::Log => "Logs",
            ExpectationKind::Dashboard => "Dashboards",
            ExpectationKind::NoAlerts => "No alerts (steady state)",
            ExpectationKind::Correlation => "Correlation",
            ExpectationKind::Completeness => "Completeness (telemetry loss)",
            ExpectationKind::Overhead => "Overhead",
        }
    }
}

/// Scenario phase an expectation belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExpectationPhase {
    /// Load on, no faults.
    SteadyState,
    /// Faults active.
    Faults,
    /// Faults rolled back.
    Recover,
}

impl ExpectationPhase {
    /// The kebab-case name used in JSON and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ExpectationPhase::SteadyState => "steady-state",
            ExpectationPhase::Faults => "faults",
            ExpectationPhase::Recover => "recover",
        }
    }
}

/// The result of one expectation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectationResult {
    /// Stable id within the scenario, e.g. `expect[2]` or `recover.expect[0]`.
    pub id: String,
    /// Signal kind.
    pub kind: ExpectationKind,
    /// Human description, e.g. `alert HighErrorRate{service="orders"} firing`.
    pub description: String,
    /// Phase it belongs to.
    pub phase: ExpectationPhase,
    /// Verdict.
    pub status: ExpectationStatus,
    /// Time from the trigger (fault injection; rollback for `recover`) to the observation.
    pub time_to_detect_ms: Option<u64>,
    /// Deadline measured from the same trigger.
    pub deadline_ms: u64,
    /// Theoretical detection floor (scrape + evaluation + `for` + group_wait + delivery).
    pub floor_ms: Option<u64>,
    /// What was seen last (on a miss: the closest the system got), e.g. `0.7% at 12.3s`.
    pub last_observed: Option<String>,
    /// Backend queried, e.g. `prometheus`, `alertmanager`, `jaeger`, `loki (recorded)`.
    pub backend: String,
    /// `false` when the backend was recorded responses or a stand-in.
    pub backend_real: bool,
    /// Why it was skipped.
    pub skipped_reason: Option<String>,
    /// When the expectation was met, ms since scenario start (for plot markers).
    pub observed_at_ms: Option<u64>,
    /// Where `time_to_detect_ms` comes from: a backend's own timestamp (e.g. `webhook
    /// arrival`), or the probe's send or answer time.
    pub time_source: Option<String>,
    /// How precise `time_to_detect_ms` is: the reaction happened at most this long before it.
    pub resolution_ms: Option<u64>,
}

/// Load totals of one scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadSummary {
    /// Requests sent.
    pub requests: u64,
    /// Requests that failed (transport error or 5xx).
    pub failures: u64,
    /// Mean achieved rate.
    pub throughput_rps: f64,
    /// Latency percentiles.
    pub p50_ms: f64,
    /// Latency percentiles.
    pub p95_ms: f64,
    /// Latency percentiles.
    pub p99_ms: f64,
    /// Slowest request.
    pub max_ms: f64,
    /// Which engine sent the load (reports before it was recorded were all `open`).
    #[serde(default)]
    pub engine: LoadEngine,
    /// Closed model: concurrent users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<u32>,
    /// Closed model: users whose login succeeded (their session cookie was set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<u64>,
    /// Sent from inside a Kubernetes cluster by worker pods (`--workers`), not from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_workers: Option<ClusterWorkers>,
}

/// Where distributed load ran: the Job and its pods.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterWorkers {
    /// The Job's name (deleted after the run).
    pub job: String,
    pub workers: u32,
    pub image: String,
    /// The pods ran in the node's network namespace (`--worker-host-network`).
    pub host_network: bool,
}

/// The load engine of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoadEngine {
    /// gauntlet's open-model scheduler: arrivals at a rate, latency from the intended send.
    #[default]
    Open,
    /// goose users with sessions and think time (`load.model: closed`).
    Goose,
}

impl LoadSummary {
    /// One sentence naming the engine and, for the closed model, what its numbers miss; and
    /// where the load came from when cluster workers sent it.
    pub fn engine_note(&self) -> String {
        let engine = self.engine_sentence();
        match &self.cluster_workers {
            None => engine,
            Some(w) => format!(
                "{engine} Sent from inside the cluster by Job {}: {} worker pod(s) of image {}{}, \
                 their histograms merged exactly.",
                w.job,
                w.workers,
                w.image,
                if w.host_network {
                    " in the node's network"
                } else {
                    ""
                }
            ),
        }
    }

    fn engine_sentence(&self) -> String {
        match self.engine {
            LoadEngine::Open => "Engine: gauntlet open model (arrivals on a fixed schedule; \
                latency counted from the intended send time, so slowdowns are not hidden)."
                .into(),
            LoadEngine::Goose => format!(
                "Engine: goose closed model ({} users, {} logged in). Coordinated omission: \
                 a user sends its next request only after the last answer and its think time, \
                 so when the system slows fewer requests go out and latency percentiles \
                 under-report what an open arrival stream would see; use the open model \
                 (load.rate) to measure latency under a fixed load.",
                self.users.unwrap_or_default(),
                self.sessions.unwrap_or_default()
            ),
        }
    }
}

/// One load sample (ms since scenario start).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesPoint {
    /// Sample time, ms since scenario start.
    pub t_ms: u64,
    /// Requests per second over the sample window.
    pub rps: f64,
    /// Failed / total over the sample window, 0.0–1.0.
    pub error_rate: f64,
    /// p95 latency over the sample window.
    pub p95_ms: f64,
}

/// Instrumentation overhead: the same load with and without instrumentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverheadResult {
    /// p99 latency increase, percent (negative: faster).
    pub p99_increase_pct: f64,
    /// Throughput drop, percent (negative: more throughput).
    pub throughput_drop_pct: f64,
    /// Limits from the scenario.
    pub limits: OverheadLimits,
    /// Verdict.
    pub status: ExpectationStatus,
    /// p99 without instrumentation, when measured.
    pub baseline_p99_ms: Option<f64>,
    /// p99 with instrumentation, when measured.
    pub instrumented_p99_ms: Option<f64>,
    /// Throughput without instrumentation, when measured.
    pub baseline_rps: Option<f64>,
    /// Throughput with instrumentation, when measured.
    pub instrumented_rps: Option<f64>,
    /// CPU per request with its interval and noise floor (format 2 reports before this field
    /// have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuOverhead>,
}

/// Overhead limits, percent; a budget not given is not checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverheadLimits {
    /// `max-cpu-increase`.
    #[serde(default)]
    pub max_cpu_increase_pct: Option<f64>,
    /// `max-latency-p99-increase`.
    pub max_p99_increase_pct: Option<f64>,
    /// `max-throughput-drop`.
    pub max_throughput_drop_pct: Option<f64>,
}

/// CPU per request, instrumentation off vs full, with its bootstrap interval over rounds and
/// the A/A noise floor measured in the same run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpuOverhead {
    /// Mean per-round increase, percent.
    pub increase_pct: f64,
    /// 90 % bootstrap interval of the increase, percent.
    pub interval_pct: [f64; 2],
    /// 90 % bootstrap interval of off vs off (the noise floor), percent.
    pub noise_pct: [f64; 2],
    /// Rounds that gave figures.
    pub rounds: u32,
    /// CPU time (user + system) of the service processes per request, milliseconds.
    pub baseline_cpu_ms_per_request: f64,
    pub instrumented_cpu_ms_per_request: f64,
    /// Resident memory of all service processes together, MiB (mean over runs).
    pub baseline_rss_mb: f64,
    pub instrumented_rss_mb: f64,
    /// `within`, `over`, `inconclusive`, or `unchecked` (no CPU budget).
    pub verdict: String,
    /// Why, in words.
    pub reason: String,
}

/// Severity of a [`RunEvent::Log`] line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogLevel {
    /// Detail.
    Debug,
    /// Progress.
    Info,
    /// Something a user should look at.
    Warn,
    /// Something failed.
    Error,
}

impl LogLevel {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// What the runner reports while it runs. Scenarios run one after another: every event
/// between `ScenarioStarted` and `ScenarioFinished` belongs to that scenario, and its times
/// are ms since that scenario started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
#[expect(
    clippy::large_enum_variant,
    reason = "a handful of events per second on an unbounded channel; boxing the result would only add an allocation"
)]
pub enum RunEvent {
    /// A scenario begins.
    ScenarioStarted {
        /// Scenario name.
        name: String,
        /// Scenario file.
        file: String,
        /// Planned length (load duration), for the progress bar.
        planned_ms: Option<u64>,
        /// Number of expectations it will evaluate.
        expectations: usize,
    },
    /// A phase begins.
    PhaseStarted {
        /// Phase name.
        name: String,
        /// ms since scenario start.
        at_ms: u64,
    },
    /// A fault was injected.
    FaultInjected {
        /// Fault name.
        name: String,
        /// Fault kind.
        kind: String,
        /// What it hit.
        target: String,
        /// ms since scenario start.
        at_ms: u64,
    },
    /// A fault was rolled back.
    FaultRolledBack {
        /// Fault name.
        name: String,
        /// ms since scenario start.
        at_ms: u64,
    },
    /// A load sample.
    LoadSample(SeriesPoint),
    /// An expectation reached its verdict.
    ExpectationFinished(ExpectationResult),
    /// A scenario ended; its full result.
    ScenarioFinished(ScenarioResult),
    /// A message for the user.
    Log {
        /// Severity.
        level: LogLevel,
        /// Text.
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_note_says_when_cluster_workers_sent_the_load() {
        let mut load = LoadSummary {
            requests: 600,
            failures: 0,
            throughput_rps: 20.0,
            p50_ms: 1.0,
            p95_ms: 2.0,
            p99_ms: 3.0,
            max_ms: 4.0,
            engine: LoadEngine::Open,
            users: None,
            sessions: None,
            cluster_workers: None,
        };
        assert!(!load.engine_note().contains("cluster"));
        load.cluster_workers = Some(ClusterWorkers {
            job: "gauntlet-load-ab12".into(),
            workers: 2,
            image: "gauntlet.local/gauntlet:0123".into(),
            host_network: true,
        });
        let note = load.engine_note();
        assert!(note.starts_with("Engine: gauntlet open model"), "{note}");
        assert!(
            note.contains("Job gauntlet-load-ab12: 2 worker pod(s) of image gauntlet.local/gauntlet:0123 in the node's network"),
            "{note}"
        );
        let json = serde_json::to_value(&load).expect("json");
        assert_eq!(json["cluster_workers"]["workers"], 2);
    }

    #[test]
    fn rfc3339_is_utc_with_millis() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123);
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20.123Z");
    }

    #[test]
    fn derived_status_prefers_missed_then_incomplete() {
        let mk = |status| ExpectationResult {
            id: "expect[0]".into(),
            kind: ExpectationKind::Metric,
            description: "up".into(),
            phase: ExpectationPhase::Faults,
            status,
            time_to_detect_ms: None,
            deadline_ms: 1000,
            floor_ms: None,
            last_observed: None,
            backend: "prometheus".into(),
            backend_real: true,
            skipped_reason: None,
            observed_at_ms: None,
            time_source: None,
            resolution_ms: None,
        };
        let fault = |error: Option<&str>| FaultRecord {
            name: "burst".into(),
            kind: "http-errors".into(),
            target: "orders".into(),
            planned_at_ms: 0,
            injected_at_ms: None,
            rolled_back_at_ms: None,
            error: error.map(str::to_owned),
            proxy: None,
        };
        use ExpectationStatus as E;
        use ScenarioStatus as S;
        let cases: &[(&[ExpectationStatus], Option<&str>, ScenarioStatus)] = &[
            (&[E::Met, E::Missed], None, S::Missed),
            // A skip proves nothing: met + skipped is not a pass.
            (&[E::Met, E::Skipped], None, S::Incomplete),
            (&[E::Skipped], None, S::Incomplete),
            (&[E::Met], None, S::Met),
            (&[], None, S::Skipped),
            // A fault that could not be injected fails the scenario even if checks were met.
            (&[E::Met], Some("admin api down"), S::Missed),
        ];
        for (statuses, error, want) in cases {
            let e: Vec<_> = statuses.iter().map(|s| mk(*s)).collect();
            assert_eq!(
                ScenarioResult::derive_status(&e, &[fault(*error)]),
                *want,
                "{statuses:?} {error:?}"
            );
        }
    }

    #[test]
    fn only_stand_ins_are_labelled_recorded() {
        let mk = |backend: &str, real| ExpectationResult {
            id: "expect[0]".into(),
            kind: ExpectationKind::Notification,
            description: "pager".into(),
            phase: ExpectationPhase::Faults,
            status: ExpectationStatus::Skipped,
            time_to_detect_ms: None,
            deadline_ms: 1000,
            floor_ms: None,
            last_observed: None,
            backend: backend.into(),
            backend_real: real,
            skipped_reason: Some("no alertmanager".into()),
            observed_at_ms: None,
            time_source: None,
            resolution_ms: None,
        };
        assert_eq!(mk("loki", true).backend_label(), "loki");
        assert_eq!(mk("loki", false).backend_label(), "loki (recorded)");
        assert!(mk("loki", false).is_recorded());
        // Nothing answered: not a recording either.
        assert_eq!(mk(NO_BACKEND, false).backend_label(), "none");
        assert!(!mk(NO_BACKEND, false).is_recorded());
    }

    #[test]
    fn events_serialize_with_a_kebab_tag() {
        let ev = RunEvent::PhaseStarted {
            name: "faults".into(),
            at_ms: 20_000,
        };
        let json = serde_json::to_string(&ev).expect("serializable");
        assert_eq!(
            json,
            r#"{"event":"phase-started","name":"faults","at_ms":20000}"#
        );
    }

    #[test]
    fn newtype_events_round_trip() {
        let ev = RunEvent::LoadSample(SeriesPoint {
            t_ms: 1000,
            rps: 200.5,
            error_rate: 0.25,
            p95_ms: 12.0,
        });
        let json = serde_json::to_string(&ev).expect("serializable");
        assert!(
            json.starts_with(r#"{"event":"load-sample","t_ms":1000"#),
            "{json}"
        );
        let back: RunEvent = serde_json::from_str(&json).expect("parses back");
        assert_eq!(back, ev);
    }
}
