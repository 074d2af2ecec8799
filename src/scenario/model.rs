//! The validated scenario: the only form the runner accepts.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

/// The six sample services of the reference fleet, in call order.
pub const BUILTIN_SERVICES: &[&str] = &[
    "frontend",
    "api-gateway",
    "users",
    "products",
    "orders",
    "worker",
];

/// Which built-in services each one calls (they must run together).
pub const SERVICE_DEPENDENCIES: &[(&str, &[&str])] = &[
    ("frontend", &["api-gateway"]),
    ("api-gateway", &["users", "products", "orders"]),
    ("orders", &["worker"]),
];

/// Stack components a fault or link may name besides services.
pub const STACK_COMPONENTS: &[&str] = &[
    "prometheus",
    "alertmanager",
    "collector",
    "jaeger",
    "log-store",
    // OpenSearch, when `stack.trace-store: opensearch` runs it.
    "trace-store",
];

/// Further `stack.urls` keys: backends gauntlet only observes. `loki` and `victorialogs` name
/// the kind of log store (`log-store` is taken to be Loki, as before VictoriaLogs existed).
pub const URL_ONLY_COMPONENTS: &[&str] = &["loki", "victorialogs"];

/// Load journeys the sample frontend serves.
pub const JOURNEYS: &[&str] = &["browse", "checkout", "account", "health"];

/// A scenario that passed validation.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    pub name: String,
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub file: PathBuf,
    pub stack: StackSpec,
    pub services: ServicesSpec,
    pub load: Option<LoadSpec>,
    pub steady_state: Option<Window>,
    pub faults: Vec<Fault>,
    pub expect: Vec<Expectation>,
    pub recover: Option<Window>,
    pub overhead: Option<OverheadSpec>,
    /// Hard cap on the whole run.
    #[serde(with = "humantime_serde_compat")]
    pub timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Provider {
    Native,
    Compose,
    External,
    Kubernetes,
}

impl Provider {
    pub const NAMES: &'static [&'static str] = &["native", "compose", "external", "kubernetes"];

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "native" => Provider::Native,
            "compose" => Provider::Compose,
            "external" => Provider::External,
            "kubernetes" => Provider::Kubernetes,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StackSpec {
    pub provider: Provider,
    #[serde(with = "humantime_serde_compat")]
    pub scrape_interval: Duration,
    #[serde(with = "humantime_serde_compat")]
    pub evaluation_interval: Duration,
    /// Alertmanager route timings in effect: the scenario's when set, else the root route's
    /// of the user's config, else Alertmanager's defaults.
    #[serde(with = "humantime_serde_compat")]
    pub group_wait: Duration,
    #[serde(with = "humantime_serde_compat")]
    pub group_interval: Duration,
    #[serde(with = "humantime_serde_compat")]
    pub repeat_interval: Duration,
    /// The timings the scenario set explicitly; they replace the values of the user's route
    /// tree (`crate::stack::alertmanager`).
    pub route_overrides: crate::stack::alertmanager::RouteTimings,
    /// Per receiver, the shortest timings of the routes that send to it, from the user's
    /// Alertmanager config (empty with gauntlet's template, whose timings are the ones
    /// above): notification floors use them.
    pub receiver_timings: BTreeMap<String, crate::stack::alertmanager::Timings>,
    /// What gauntlet changes in the user's configuration for this run (receivers redirected
    /// to its webhook sink, …), shown in `gauntlet check` and in every report.
    pub config_notes: Vec<String>,
    #[serde(with = "humantime_serde_compat::option")]
    pub alert_for: Option<Duration>,
    #[serde(with = "humantime_serde_compat")]
    pub telemetry_flush: Duration,
    /// Where Jaeger keeps spans (`memory`, or `opensearch` in the native stack).
    pub trace_store: crate::stack::TraceStore,
    pub rule_files: Vec<PathBuf>,
    /// The user's Alertmanager config, run as written with its receivers redirected to the
    /// webhook sink; `None` runs gauntlet's template.
    pub alertmanager_config: Option<PathBuf>,
    pub dashboards: Vec<PathBuf>,
    pub compose_file: Option<PathBuf>,
    pub urls: BTreeMap<String, String>,
    pub namespace: Option<String>,
    /// Where Prometheus, Alertmanager, Jaeger, the log store and Grafana are discovered
    /// (kubernetes; `namespace` when not given).
    pub observe_namespace: Option<String>,
    pub context: Option<String>,
    /// Where gauntlet receives the webhooks of an Alertmanager it does not configure
    /// (external, kubernetes); notification checks are skipped without it.
    pub webhook_listen: Option<std::net::SocketAddr>,
    /// Alert name → `for` from the rule files (before any `alert_for` override); the
    /// shortest where several rules share a name.
    pub alert_rules: BTreeMap<String, Duration>,
    /// Receiver names from the Alertmanager config.
    pub receivers: Vec<String>,
    /// The Prometheus (and Alertmanager) a stack gauntlet starts runs: the scenario's
    /// `prometheus-version`, else Debian's 2.42; `gauntlet run --prometheus-version` and
    /// `--matrix` replace it.
    pub prometheus_version: crate::stack::PrometheusVersion,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServicesMode {
    PerProcess,
    InProcess,
    External,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Instrumentation {
    Off,
    Metrics,
    Full,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServicesSpec {
    pub mode: ServicesMode,
    pub instrumentation: Instrumentation,
    /// Services to run (all six by default).
    pub names: Vec<String>,
    pub endpoints: BTreeMap<String, String>,
    #[serde(with = "humantime_serde_compat")]
    pub export_interval: Duration,
    /// Trace sampling of the sample services, as their `--sampling` takes it; `None` is their
    /// default (every trace). Set by the overhead check for its instrumented fleet.
    pub sampling: Option<String>,
    /// HTTP fault proxies in front of services gauntlet does not own (external mode), by
    /// service name: load goes to `listen`, the proxy forwards to `upstream`, and the
    /// service's HTTP faults act there. A name without an endpoint is an upstream only its
    /// callers reach (it is not scraped).
    pub fault_proxies: BTreeMap<String, FaultProxySpec>,
    /// The names the sample services' HTTP metrics are exposed under.
    pub dialect: crate::services::Dialect,
    /// Service → `job` label, where it is not the service name.
    pub jobs: BTreeMap<String, String>,
    /// Service → process count, where it is more than one.
    pub replicas: BTreeMap<String, u32>,
    pub relabel_configs: Vec<super::relabel::RelabelConfig>,
    pub metric_relabel_configs: Vec<super::relabel::RelabelConfig>,
}

impl ServicesSpec {
    /// The `job` label of a service's targets.
    pub fn job_of<'a>(&'a self, service: &'a str) -> &'a str {
        self.jobs.get(service).map_or(service, String::as_str)
    }

    /// How many processes run a service.
    pub fn replicas_of(&self, service: &str) -> u32 {
        self.replicas.get(service).copied().unwrap_or(1)
    }
}

/// One HTTP fault proxy, as validated (both addresses on loopback).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FaultProxySpec {
    /// Port 0: the OS chooses.
    pub listen: std::net::SocketAddr,
    pub upstream: std::net::SocketAddr,
}

/// Fault kinds the HTTP fault proxy injects.
pub const PROXY_FAULT_KINDS: &[&str] = &["http-errors", "latency", "http-abort"];

#[derive(Debug, Clone, Serialize)]
pub struct LoadSpec {
    /// Arrivals per second (open model; 0 for the closed model).
    pub rate: f64,
    /// `Some` for `model: closed`: goose users with sessions instead of an arrival rate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed: Option<ClosedLoad>,
    #[serde(with = "humantime_serde_compat")]
    pub duration: Duration,
    #[serde(with = "humantime_serde_compat::option")]
    pub ramp: Option<Duration>,
    pub journeys: Vec<String>,
    pub max_requests: u64,
    #[serde(with = "humantime_serde_compat")]
    pub timeout: Duration,
    pub target: String,
}

/// `load.model: closed`: `users` goose users, each logging in once, then running the
/// journeys in turn with `think-time` after each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ClosedLoad {
    pub users: u32,
    #[serde(with = "humantime_serde_compat")]
    pub think_min: Duration,
    #[serde(with = "humantime_serde_compat")]
    pub think_max: Duration,
}

/// A timed window with expectations (steady state, recovery).
#[derive(Debug, Clone, Serialize)]
pub struct Window {
    #[serde(with = "humantime_serde_compat")]
    pub duration: Duration,
    pub expect: Vec<Expectation>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Fault {
    pub name: String,
    #[serde(with = "humantime_serde_compat")]
    pub at: Duration,
    /// `None`: instantaneous, never rolled back (e.g. a kill without restart).
    #[serde(with = "humantime_serde_compat::option")]
    pub duration: Option<Duration>,
    pub action: FaultAction,
    /// One replica of the target service (1-based); `None`: every replica.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica: Option<u32>,
}

impl Fault {
    /// The thing the fault acts on, for overlap checks and reports (`orders#2`: one replica).
    pub fn target(&self) -> String {
        match self.replica {
            Some(r) => format!("{}#{r}", self.action.target()),
            None => self.action.target(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FaultAction {
    HttpErrors {
        service: String,
        rate: f64,
        status: u16,
        route: Option<String>,
    },
    Latency {
        service: String,
        #[serde(with = "humantime_serde_compat")]
        delay: Duration,
        #[serde(with = "humantime_serde_compat")]
        jitter: Duration,
        rate: f64,
    },
    Hang {
        service: String,
        rate: f64,
    },
    /// Through the HTTP fault proxy: the connection closes instead of the response.
    HttpAbort {
        service: String,
        rate: f64,
    },
    Crash {
        service: String,
        exit_code: i32,
    },
    CpuBurn {
        service: String,
        threads: u32,
    },
    MemoryGrowth {
        service: String,
        mb_per_second: u32,
        max_mb: u32,
    },
    DependencyFailure {
        service: String,
        dependency: String,
        rate: f64,
        status: u16,
    },
    QueueStall {
        service: String,
    },
    KillProcess {
        target: String,
        signal: KillSignal,
    },
    PauseProcess {
        target: String,
    },
    ContainerStop {
        container: String,
    },
    ContainerPause {
        container: String,
    },
    ContainerKill {
        container: String,
    },
    NetworkDelay {
        from: String,
        to: String,
        #[serde(with = "humantime_serde_compat")]
        delay: Duration,
        #[serde(with = "humantime_serde_compat")]
        jitter: Duration,
    },
    NetworkBandwidth {
        from: String,
        to: String,
        bytes_per_second: u64,
    },
    NetworkBlackhole {
        from: String,
        to: String,
    },
    NetworkReset {
        from: String,
        to: String,
    },
    PodKill {
        selector: String,
        namespace: Option<String>,
    },
    ScaleToZero {
        workload: String,
        namespace: Option<String>,
    },
    RolloutRestart {
        workload: String,
        namespace: Option<String>,
    },
    NetworkPartition {
        selector: String,
        namespace: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KillSignal {
    Kill,
    Term,
}

impl FaultAction {
    pub fn kind(&self) -> &'static str {
        match self {
            FaultAction::HttpErrors { .. } => "http-errors",
            FaultAction::Latency { .. } => "latency",
            FaultAction::Hang { .. } => "hang",
            FaultAction::HttpAbort { .. } => "http-abort",
            FaultAction::Crash { .. } => "crash",
            FaultAction::CpuBurn { .. } => "cpu-burn",
            FaultAction::MemoryGrowth { .. } => "memory-growth",
            FaultAction::DependencyFailure { .. } => "dependency-failure",
            FaultAction::QueueStall { .. } => "queue-stall",
            FaultAction::KillProcess { .. } => "kill-process",
            FaultAction::PauseProcess { .. } => "pause-process",
            FaultAction::ContainerStop { .. } => "container-stop",
            FaultAction::ContainerPause { .. } => "container-pause",
            FaultAction::ContainerKill { .. } => "container-kill",
            FaultAction::NetworkDelay { .. } => "network-delay",
            FaultAction::NetworkBandwidth { .. } => "network-bandwidth",
            FaultAction::NetworkBlackhole { .. } => "network-blackhole",
            FaultAction::NetworkReset { .. } => "network-reset",
            FaultAction::PodKill { .. } => "pod-kill",
            FaultAction::ScaleToZero { .. } => "scale-to-zero",
            FaultAction::RolloutRestart { .. } => "rollout-restart",
            FaultAction::NetworkPartition { .. } => "network-partition",
        }
    }

    pub fn target(&self) -> String {
        match self {
            FaultAction::HttpErrors { service, .. }
            | FaultAction::Latency { service, .. }
            | FaultAction::Hang { service, .. }
            | FaultAction::HttpAbort { service, .. }
            | FaultAction::Crash { service, .. }
            | FaultAction::CpuBurn { service, .. }
            | FaultAction::MemoryGrowth { service, .. }
            | FaultAction::DependencyFailure { service, .. }
            | FaultAction::QueueStall { service } => service.clone(),
            FaultAction::KillProcess { target, .. } | FaultAction::PauseProcess { target } => {
                target.clone()
            }
            FaultAction::ContainerStop { container }
            | FaultAction::ContainerPause { container }
            | FaultAction::ContainerKill { container } => container.clone(),
            FaultAction::NetworkDelay { from, to, .. }
            | FaultAction::NetworkBandwidth { from, to, .. }
            | FaultAction::NetworkBlackhole { from, to }
            | FaultAction::NetworkReset { from, to } => format!("{from}->{to}"),
            FaultAction::PodKill { selector, .. }
            | FaultAction::NetworkPartition { selector, .. } => selector.clone(),
            FaultAction::ScaleToZero { workload, .. }
            | FaultAction::RolloutRestart { workload, .. } => workload.clone(),
        }
    }

    /// Faults that take the whole process (or container) away: nothing else can be injected
    /// into that target while they are active.
    pub fn is_exclusive(&self) -> bool {
        matches!(
            self,
            FaultAction::Crash { .. }
                | FaultAction::KillProcess { .. }
                | FaultAction::PauseProcess { .. }
                | FaultAction::ContainerStop { .. }
                | FaultAction::ContainerPause { .. }
                | FaultAction::ContainerKill { .. }
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Expectation {
    /// Stable id for reports: `expect[2]`, `steady-state.expect[0]`, `recover.expect[1]`.
    pub id: String,
    pub name: Option<String>,
    /// `None` for window expectations (no-alerts), which hold for the whole window.
    #[serde(with = "humantime_serde_compat::option")]
    pub within: Option<Duration>,
    /// The fault the deadline is measured from; `None`: from the start of the phase.
    pub after: Option<String>,
    /// The earliest the stack can possibly react, from the scenario's own intervals.
    #[serde(with = "humantime_serde_compat")]
    pub floor: Duration,
    /// How the floor was computed, e.g. "scrape 1s + evaluation 1s + for 2s".
    pub floor_explained: String,
    pub check: Check,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlertState {
    Firing,
    Pending,
    Resolved,
    Inactive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotificationStatus {
    Firing,
    Resolved,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Check {
    /// The PromQL query returns at least one sample.
    Metric {
        query: String,
    },
    Alert {
        alert: String,
        labels: BTreeMap<String, String>,
        state: AlertState,
        /// Annotations the firing alert must carry with a value (`runbook_url`, `summary`).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        require_annotations: Vec<String>,
    },
    Notification {
        receiver: String,
        alert: Option<String>,
        labels: BTreeMap<String, String>,
        status: NotificationStatus,
    },
    Trace {
        service: String,
        operation: Option<String>,
        error: Option<bool>,
        spans_from: Vec<String>,
        tags: BTreeMap<String, String>,
    },
    Log {
        service: String,
        level: Option<LogLevel>,
        contains: Option<String>,
        correlated_trace: bool,
    },
    DashboardHasData {
        dashboard: String,
    },
    DashboardPanel {
        dashboard: String,
        panel: String,
        above: Option<f64>,
        below: Option<f64>,
    },
    NoAlerts {
        alerts: Option<Vec<String>>,
    },
    Correlation {
        find_in: Vec<String>,
        min_requests: u32,
    },
    /// What the stores hold of what was sent over the run, in percent: spans and log lines of
    /// the load target per answered request, stored scrapes per scrape due. `None`: not
    /// checked.
    Completeness {
        traces: Option<f64>,
        logs: Option<f64>,
        metrics: Option<f64>,
    },
}

impl Check {
    pub fn kind(&self) -> &'static str {
        match self {
            Check::Metric { .. } => "metric",
            Check::Alert { .. } => "alert",
            Check::Notification { .. } => "notification",
            Check::Trace { .. } => "trace",
            Check::Log { .. } => "log",
            Check::DashboardHasData { .. } | Check::DashboardPanel { .. } => "dashboard",
            Check::NoAlerts { .. } => "no-alerts",
            Check::Correlation { .. } => "correlation",
            Check::Completeness { .. } => "completeness",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct OverheadSpec {
    /// Percents, e.g. 1.0 for "1%"; a budget not given is not checked.
    pub max_cpu_increase_pct: Option<f64>,
    pub max_latency_p99_increase_pct: Option<f64>,
    pub max_throughput_drop_pct: Option<f64>,
    /// A/B/A' rounds (at least 3, for an interval).
    pub rounds: u32,
    pub rate: Option<f64>,
    #[serde(with = "humantime_serde_compat::option")]
    pub duration: Option<Duration>,
    /// Trace sampling of the instrumented fleet, as the services' `--sampling` takes it
    /// (validated); `None` samples every trace.
    pub sampling: Option<String>,
}

/// Serializes durations as humantime strings ("1m 30s") in JSON output.
mod humantime_serde_compat {
    use std::time::Duration;

    use serde::Serializer;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub mod option {
        use std::time::Duration;

        use serde::Serializer;

        pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => super::serialize(d, s),
                None => s.serialize_none(),
            }
        }
    }
}
