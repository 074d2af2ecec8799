//! The native provider: Prometheus, Alertmanager, Jaeger v2 (twice: collector role and query
//! role) and the log store as child processes of gauntlet, on loopback ports the OS chose.
//!
//! Configs are rendered from `fixtures/stack/` templates into a per-run temp dir. Readiness:
//! Prometheus and Alertmanager `GET /-/ready`
//! (<https://prometheus.io/docs/prometheus/latest/management_api/>), Jaeger's `healthcheckv2`
//! extension `GET /status` plus `GET /api/services` on the query role
//! (<https://www.jaegertracing.io/docs/latest/apis/>), VictoriaLogs `GET /health`
//! (<https://docs.victoriametrics.com/victorialogs/>). VictoriaLogs takes no config file: its
//! few settings are command-line flags (see `fixtures/stack/logstore/README.md`), and the
//! collector sends it OTLP logs at `/insert/opentelemetry/v1/logs`.
//!
//! Scrape targets live in Prometheus `file_sd_configs` files (one JSON file per job in the
//! run's `targets/` dir), so [`NativeStack::set_targets`] can add services after the stack is
//! up; Prometheus watches the directory.

use crate::error_chain;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::Url;

use super::alertmanager::{ConfigProblems, UserConfig};
use super::binaries::{Binary, version_of};
use super::config::{StackConfig, go_duration};
use super::opensearch::{self, TraceStore};
use super::ports::{PortError, allocate_ports};
use super::process::{ManagedProcess, ProcessError};
use super::running::{ComponentInfo, LogStoreKind, StackUrls, describe_components};
use super::template::{TemplateError, render};
use super::versions::{PrometheusVersion, Tool};

/// The subdirectory of `targets/` the services' scrape config reads.
const SERVICES_TARGETS: &str = "services";
/// How many times a start is retried when a component lost the race for a port.
const START_ATTEMPTS: usize = 3;
/// How much of a component's log goes into an error.
const LOG_TAIL_BYTES: u64 = 2048;
/// URL given to template receivers the caller did not provide: nothing listens on the
/// discard port, so notifications fail visibly in Alertmanager's log.
const UNUSED_RECEIVER_BASE: &str = "http://127.0.0.1:9/gauntlet-no-receiver/";
/// Receivers the Alertmanager template refers to.
const TEMPLATE_RECEIVERS: [&str; 2] = ["pager", "chat"];
/// How long a stack component restarted after a kill fault may take to be ready again
/// (Prometheus replays its WAL).
const RESTART_READY_TIMEOUT: Duration = Duration::from_secs(30);
/// The least OpenSearch is given to become ready: a JVM that loads Lucene and the cluster
/// state takes about 12 s on an idle machine and several times that on a loaded one.
const OPENSEARCH_READY_TIMEOUT: Duration = Duration::from_secs(120);

/// Starting or driving the native stack failed.
#[derive(Debug, thiserror::Error)]
pub enum NativeError {
    #[error("{component} is not installed: {reason}")]
    BinaryMissing {
        component: &'static str,
        reason: String,
    },
    #[error("cannot read config template {path}")]
    Fixture {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("the Alertmanager config {path} cannot run")]
    AlertmanagerConfig {
        path: PathBuf,
        source: ConfigProblems,
    },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create the run directory")]
    RunDir(#[source] std::io::Error),
    #[error(transparent)]
    Ports(#[from] PortError),
    #[error("cannot start the proxy between the collector and the log store: {0}")]
    LogStoreProxy(String),
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error("rule file {path} cannot be used")]
    RuleFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Exited(Box<ComponentFailure>),
    #[error("{0}")]
    NotReady(Box<ComponentFailure>),
    #[error("invalid job name {job:?}: use letters, digits, '-' and '_'")]
    InvalidJob { job: String },
    #[error("invalid scrape target {target:?} for job {job}: expected host:port")]
    InvalidTarget { job: String, target: String },
    #[error("cannot build the HTTP client")]
    HttpClient(#[source] reqwest::Error),
    #[error("{0} is not a component of this stack")]
    UnknownComponent(String),
    #[error("`stack.trace-store: {store}` runs only in the native stack, not with {provider}")]
    TraceStoreUnsupported {
        store: TraceStore,
        provider: &'static str,
    },
}

impl NativeError {
    fn lost_port_race(&self) -> bool {
        matches!(self, NativeError::Exited(f) if f.log_tail.contains("address already in use"))
    }
}

/// A component that died or never became ready, with the end of its log.
#[derive(Debug)]
pub struct ComponentFailure {
    /// `prometheus`, `alertmanager`, `otel-collector`, `jaeger-query`, `victoria-logs`.
    pub component: String,
    /// What went wrong (exit status, or the readiness URL and its last answer).
    pub problem: String,
    /// The component's log file.
    pub log: PathBuf,
    /// The last lines of that log.
    pub log_tail: String,
}

impl std::fmt::Display for ComponentFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}; log {}, last lines:\n{}",
            self.component,
            self.problem,
            self.log.display(),
            self.log_tail
        )
    }
}

/// Ports of one native stack, all on 127.0.0.1.
#[derive(Debug, Clone, Copy)]
struct Ports {
    prometheus: u16,
    alertmanager: u16,
    query_http: u16,
    query_grpc: u16,
    query_otlp_grpc: u16,
    query_health: u16,
    query_telemetry: u16,
    collector_otlp_grpc: u16,
    collector_otlp_http: u16,
    collector_health: u16,
    collector_telemetry: u16,
    collector_metrics: u16,
    log_store_http: u16,
    opensearch_http: u16,
    opensearch_transport: u16,
}

impl Ports {
    const COUNT: usize = 15;

    fn allocate() -> Result<Self, PortError> {
        let p = allocate_ports(Self::COUNT)?;
        Ok(Self {
            prometheus: p[0],
            alertmanager: p[1],
            query_http: p[2],
            query_grpc: p[3],
            query_otlp_grpc: p[4],
            query_health: p[5],
            query_telemetry: p[6],
            collector_otlp_grpc: p[7],
            collector_otlp_http: p[8],
            collector_health: p[9],
            collector_telemetry: p[10],
            collector_metrics: p[11],
            log_store_http: p[12],
            opensearch_http: p[13],
            opensearch_transport: p[14],
        })
    }
}

fn loopback_url(port: u16) -> Url {
    Url::parse(&format!("http://127.0.0.1:{port}/"))
        .expect("a loopback URL with a numeric port always parses")
}

/// The executables a native stack needs.
#[derive(Debug, Clone)]
pub struct NativeBinaries {
    pub prometheus: PathBuf,
    pub alertmanager: PathBuf,
    pub jaeger: PathBuf,
    pub victoria_logs: PathBuf,
    /// The OpenSearch launcher, when provisioned (only `stack.trace-store: opensearch` needs it).
    pub opensearch: Option<PathBuf>,
}

impl NativeBinaries {
    /// Finds every binary (Prometheus and Alertmanager of the default version) or names the
    /// first missing one.
    pub fn find() -> Result<Self, NativeError> {
        Self::find_for(PrometheusVersion::DEFAULT)
    }

    /// Like [`find`](Self::find), with the Prometheus and Alertmanager of `version`.
    pub fn find_for(version: PrometheusVersion) -> Result<Self, NativeError> {
        let find = |b: Binary| {
            let found = match b {
                Binary::Prometheus => version.find(Tool::Prometheus),
                Binary::Alertmanager => version.find(Tool::Alertmanager),
                Binary::Jaeger | Binary::VictoriaLogs | Binary::OpenSearch => b.find(),
            };
            found.map_err(|reason| NativeError::BinaryMissing {
                component: b.name(),
                reason,
            })
        };
        Ok(Self {
            prometheus: find(Binary::Prometheus)?,
            alertmanager: find(Binary::Alertmanager)?,
            jaeger: find(Binary::Jaeger)?,
            victoria_logs: find(Binary::VictoriaLogs)?,
            opensearch: Binary::OpenSearch.find().ok(),
        })
    }

    /// The OpenSearch launcher, or why it cannot be used.
    fn opensearch(&self) -> Result<PathBuf, NativeError> {
        match &self.opensearch {
            Some(path) => Ok(path.clone()),
            None => Err(NativeError::BinaryMissing {
                component: Binary::OpenSearch.name(),
                reason: Binary::OpenSearch.find().err().unwrap_or_default(),
            }),
        }
    }

    /// The version of each binary (cached per path).
    pub async fn versions(&self) -> BTreeMap<Binary, String> {
        let mut v = BTreeMap::new();
        for b in Binary::ALL {
            v.insert(b, version_of(b, self.path(b)).await);
        }
        if let Some(path) = &self.opensearch {
            v.insert(
                Binary::OpenSearch,
                version_of(Binary::OpenSearch, path).await,
            );
        }
        v
    }

    /// The path of one binary.
    pub fn path(&self, binary: Binary) -> &Path {
        match binary {
            Binary::Prometheus => &self.prometheus,
            Binary::Alertmanager => &self.alertmanager,
            Binary::Jaeger => &self.jaeger,
            Binary::VictoriaLogs => &self.victoria_logs,
            // Not provisioned: a path that does not exist, so using it fails visibly.
            Binary::OpenSearch => self
                .opensearch
                .as_deref()
                .unwrap_or(Path::new("opensearch-launcher (not provisioned)")),
        }
    }

    /// Like [`find`](Self::find) but as the `Result<_, String>` that
    /// `gauntlet::testing::require` takes.
    pub fn available() -> Result<Self, String> {
        Self::find().map_err(|e| e.to_string())
    }
}

/// Whether `launch` (a process name: `prometheus`, `otel-collector`, `jaeger-query`, the log
/// store's) runs the stack component scenarios call `component` (`prometheus`,
/// `alertmanager`, `collector`, `jaeger`, `log-store`, `trace-store`).
pub(crate) fn is_component_launch(component: &str, launch: &str) -> bool {
    const NOT_LOG_STORE: [&str; 5] = [
        "prometheus",
        "alertmanager",
        "otel-collector",
        "jaeger-query",
        opensearch::PROCESS,
    ];
    match component {
        "collector" => launch == "otel-collector",
        "jaeger" => launch == "jaeger-query",
        "trace-store" => launch == opensearch::PROCESS,
        // Whichever log store this stack runs: the one launch that is none of the others.
        "log-store" => !NOT_LOG_STORE.contains(&launch),
        other => launch == other,
    }
}

/// One process to start and how to know it is ready.
#[derive(Debug, Clone)]
pub(crate) struct Launch {
    /// Process/log name: `victoria-logs`, `jaeger-query`, `otel-collector`, `alertmanager`, `prometheus`.
    pub(crate) component: &'static str,
    pub(crate) path: PathBuf,
    pub(crate) args: Vec<OsString>,
    /// URLs that answer 200 once the component is ready.
    pub(crate) ready: Vec<Url>,
}

/// A stack rendered into its run dir but not started (shared by the native and compose
/// providers).
pub(crate) struct Prepared {
    pub(crate) run_dir: tempfile::TempDir,
    pub(crate) run_path: PathBuf,
    pub(crate) log_dir: PathBuf,
    pub(crate) targets_dir: PathBuf,
    pub(crate) urls: StackUrls,
    pub(crate) launches: Vec<Launch>,
    /// Where the collector sends logs when the log store is interposed: (listen, upstream).
    pub(crate) log_store_link: Option<(u16, u16)>,
}

/// Creates the run dir, allocates every port, writes the initial scrape targets and renders
/// every config.
pub(crate) fn prepare(
    config: &StackConfig,
    binaries: &NativeBinaries,
) -> Result<Prepared, NativeError> {
    let run_dir = tempfile::Builder::new()
        .prefix("gauntlet-stack-")
        .tempdir()
        .map_err(NativeError::RunDir)?;
    let run_path = run_dir.path().to_path_buf();
    let log_dir = config
        .log_dir
        .clone()
        .unwrap_or_else(|| run_path.join("logs"));
    let targets_dir = run_path.join("targets");
    let service_targets_dir = targets_dir.join(SERVICES_TARGETS);
    for dir in [&log_dir, &targets_dir, &service_targets_dir] {
        std::fs::create_dir_all(dir).map_err(|source| NativeError::Write {
            path: dir.clone(),
            source,
        })?;
    }
    let ports = Ports::allocate()?;
    let run_id = run_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let urls = StackUrls {
        prometheus: loopback_url(ports.prometheus),
        alertmanager: loopback_url(ports.alertmanager),
        jaeger_query: loopback_url(ports.query_http),
        otlp_grpc: loopback_url(ports.collector_otlp_grpc),
        otlp_http: loopback_url(ports.collector_otlp_http),
        log_store: loopback_url(ports.log_store_http),
        log_store_kind: LogStoreKind::Victorialogs,
        grafana: None,
        opensearch: (config.trace_store == TraceStore::Opensearch)
            .then(|| loopback_url(ports.opensearch_http)),
    };
    // Initial scrape targets: the stack's own components, then the caller's.
    let own_targets = [
        ("prometheus", ports.prometheus),
        ("alertmanager", ports.alertmanager),
        ("otel-collector", ports.collector_telemetry),
        ("otel-collector-exporter", ports.collector_metrics),
        ("jaeger-query", ports.query_telemetry),
        ("victoria-logs", ports.log_store_http),
    ];
    for (job, port) in own_targets {
        write_targets(&targets_dir, job, &[format!("127.0.0.1:{port}")])?;
    }
    for (job, targets) in &config.scrape_targets {
        write_targets(&targets_dir, job, targets)?;
    }
    let log_store_link = if config.interpose_log_store {
        let listen = super::ports::allocate_port()?;
        Some((listen, ports.log_store_http))
    } else {
        None
    };
    let logs_port = log_store_link.map_or(ports.log_store_http, |(listen, _)| listen);
    let launches = render_all(
        config,
        binaries,
        &ports,
        logs_port,
        &run_path,
        &targets_dir,
        &run_id,
    )?;
    Ok(Prepared {
        run_dir,
        run_path,
        log_dir,
        targets_dir,
        urls,
        launches,
        log_store_link,
    })
}

/// The component list for `describe()`; `how` is appended to each implementation
/// (e.g. " in a container").
pub(crate) fn component_infos(
    urls: &StackUrls,
    versions: &BTreeMap<Binary, String>,
    how: &str,
    pid: impl Fn(&str) -> Option<u32>,
) -> Vec<ComponentInfo> {
    let query_role = match urls.opensearch {
        Some(_) => "Jaeger v2 (OpenSearch storage, query API)",
        None => "Jaeger v2 (memory storage, query API)",
    };
    let version = |b: Binary| versions.get(&b).cloned().unwrap_or_default();
    let info =
        |name: &str, implementation: &str, b: Binary, url: &Url, process: &str| ComponentInfo {
            name: name.to_string(),
            implementation: format!("{implementation}{how}"),
            real: true,
            version: version(b),
            url: url.clone(),
            pid: pid(process),
        };
    let mut infos = vec![
        info(
            "prometheus",
            "Prometheus",
            Binary::Prometheus,
            &urls.prometheus,
            "prometheus",
        ),
        info(
            "alertmanager",
            "Alertmanager",
            Binary::Alertmanager,
            &urls.alertmanager,
            "alertmanager",
        ),
        info(
            "otel-collector",
            "Jaeger v2 binary in the OpenTelemetry Collector role",
            Binary::Jaeger,
            &urls.otlp_http,
            "otel-collector",
        ),
        info(
            "jaeger-query",
            query_role,
            Binary::Jaeger,
            &urls.jaeger_query,
            "jaeger-query",
        ),
        info(
            "log-store",
            "VictoriaLogs (single node, local storage)",
            Binary::VictoriaLogs,
            &urls.log_store,
            "victoria-logs",
        ),
    ];
    if let Some(url) = &urls.opensearch {
        infos.push(info(
            "trace-store",
            "OpenSearch (embedded single node, Jaeger's span storage)",
            Binary::OpenSearch,
            url,
            opensearch::PROCESS,
        ));
    }
    infos
}

/// The native stack: owns its processes (killed on `stop()` or `Drop`) and its run dir.
#[derive(Debug)]
pub struct NativeStack {
    // Field order matters: processes are killed (dropped) before the run dir is deleted.
    processes: Vec<ManagedProcess>,
    /// How each component was started, to start it again after a kill fault.
    launches: Vec<Launch>,
    /// Components started again after a kill fault, by process name (they replace the
    /// dead process in `processes`; killed on drop like every other).
    restarted: std::sync::Mutex<BTreeMap<String, ManagedProcess>>,
    log_store_proxy: Option<crate::fault::FaultProxy>,
    run_dir: Option<tempfile::TempDir>,
    run_path: PathBuf,
    log_dir: PathBuf,
    targets_dir: PathBuf,
    urls: StackUrls,
    components: Vec<ComponentInfo>,
    startup: Duration,
}

impl NativeStack {
    /// Starts every component and waits until all are ready (each within
    /// `config.ready_timeout`). Retries the whole start when a component lost a port race.
    pub async fn start(config: &StackConfig) -> Result<Self, NativeError> {
        let binaries = NativeBinaries::find_for(config.prometheus_version)?;
        Self::start_with(config, &binaries).await
    }

    /// [`start`](Self::start) with explicit binaries.
    pub async fn start_with(
        config: &StackConfig,
        binaries: &NativeBinaries,
    ) -> Result<Self, NativeError> {
        let mut attempt = 1;
        loop {
            match Self::start_once(config, binaries).await {
                Err(e) if e.lost_port_race() && attempt < START_ATTEMPTS => {
                    tracing::warn!(error = %e, attempt, "a stack component lost a port race, retrying");
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn start_once(
        config: &StackConfig,
        binaries: &NativeBinaries,
    ) -> Result<Self, NativeError> {
        let started = Instant::now();
        let Prepared {
            run_dir,
            run_path,
            log_dir,
            targets_dir,
            urls,
            launches,
            log_store_link,
        } = prepare(config, binaries)?;
        // The proxy must listen before the collector starts exporting logs to it.
        let log_store_proxy = match log_store_link {
            Some((listen, upstream)) => {
                let mut proxy = crate::fault::ProxyConfig::new(std::net::SocketAddr::from((
                    [127, 0, 0, 1],
                    upstream,
                )));
                proxy.listen = std::net::SocketAddr::from(([127, 0, 0, 1], listen));
                Some(
                    crate::fault::FaultProxy::start(proxy)
                        .await
                        .map_err(|e| NativeError::LogStoreProxy(e.to_string()))?,
                )
            }
            None => None,
        };

        let mut processes = Vec::with_capacity(launches.len());
        let spawn = |l: &Launch| {
            let mut cmd = std::process::Command::new(&l.path);
            cmd.args(&l.args).current_dir(&run_path);
            ManagedProcess::spawn(l.component, cmd, &log_dir)
        };
        // Jaeger checks its OpenSearch backend when it starts and exits if it does not
        // answer, so both Jaeger roles start only once OpenSearch is ready; the rest starts
        // meanwhile.
        let is_jaeger = |l: &&Launch| matches!(l.component, "jaeger-query" | "otel-collector");
        let store = launches.iter().find(|l| l.component == opensearch::PROCESS);
        for l in launches.iter().filter(|l| store.is_none() || !is_jaeger(l)) {
            processes.push(spawn(l)?);
        }
        if let Some(store) = store {
            wait_ready(
                &mut processes,
                std::slice::from_ref(store),
                config.ready_timeout.max(OPENSEARCH_READY_TIMEOUT),
            )
            .await?;
            for l in launches.iter().filter(is_jaeger) {
                processes.push(spawn(l)?);
            }
        }

        let (ready, versions) = tokio::join!(
            wait_ready(&mut processes, &launches, config.ready_timeout),
            binaries.versions()
        );
        ready?;

        let pid = |name: &str| {
            processes
                .iter()
                .find(|p| p.name() == name)
                .map(ManagedProcess::pid)
        };
        let components = component_infos(&urls, &versions, "", pid);
        let startup = started.elapsed();
        tracing::info!(?startup, run_dir = %run_path.display(), "native stack ready");
        Ok(Self {
            processes,
            log_store_proxy,
            run_dir: Some(run_dir),
            run_path,
            log_dir,
            targets_dir,
            urls,
            components,
            startup,
            launches,
            restarted: std::sync::Mutex::default(),
        })
    }

    /// Where each component answers.
    pub fn urls(&self) -> &StackUrls {
        &self.urls
    }

    /// The components, their versions and pids.
    pub fn components(&self) -> &[ComponentInfo] {
        &self.components
    }

    /// Time from `start()` to every component ready.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// The per-run directory with rendered configs and data.
    pub fn run_dir(&self) -> &Path {
        &self.run_path
    }

    /// Where component logs are.
    pub fn log_dir(&self) -> &Path {
        &self.log_dir
    }

    /// The proxy between the collector and the log store, when the config asked for one.
    pub fn log_store_proxy(&self) -> Option<&crate::fault::FaultProxy> {
        self.log_store_proxy.as_ref()
    }

    /// The owned processes (for pids, and for SIGSTOP/SIGKILL faults on stack components).
    pub fn processes(&self) -> &[ManagedProcess] {
        &self.processes
    }

    /// A component's process by name (`prometheus`, `alertmanager`, `otel-collector`,
    /// `jaeger-query`, `victoria-logs`).
    pub fn process_mut(&mut self, name: &str) -> Option<&mut ManagedProcess> {
        self.processes.iter_mut().find(|p| p.name() == name)
    }

    /// What runs, and whether each part is the real thing.
    pub fn describe(&self) -> String {
        describe_components(
            &format!(
                "native stack (run dir {}, logs {}, ready in {:.2?}):",
                self.run_path.display(),
                self.log_dir.display(),
                self.startup
            ),
            &self.components,
        )
    }

    /// Replaces the scrape targets of `job` (`host:port` each; empty removes the job).
    /// Prometheus picks the change up within about a second (file_sd watches the dir).
    pub fn set_targets(&self, job: &str, targets: &[String]) -> Result<(), NativeError> {
        write_targets(&self.targets_dir, job, targets)
    }

    /// Like [`set_targets`](Self::set_targets) for a sample service: the targets also carry
    /// `service=<name>`, which the alert rules and dashboards select on.
    pub fn set_service_targets(
        &self,
        service: &str,
        targets: &[String],
    ) -> Result<(), NativeError> {
        self.set_service_job_targets(service, service, targets)
    }

    /// [`set_service_targets`](Self::set_service_targets) with the `job` label the user
    /// picked (one per service, or one for the fleet), in the services' scrape config.
    pub fn set_service_job_targets(
        &self,
        service: &str,
        job: &str,
        targets: &[String],
    ) -> Result<(), NativeError> {
        write_service_targets(&self.targets_dir, service, job, targets)
    }

    /// Stops every component (SIGTERM, grace, SIGKILL, per process group, concurrently) and
    /// deletes the run dir.
    /// The process name of a stack component as scenarios name it.
    fn process_name(&self, component: &str) -> Option<&'static str> {
        self.launches
            .iter()
            .map(|l| l.component)
            .find(|launch| is_component_launch(component, launch))
    }

    /// The current pid of a stack component (after a restart, the new process's).
    pub fn component_pid(&self, component: &str) -> Option<u32> {
        let name = self.process_name(component)?;
        let restarted = self
            .restarted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(name)
            .map(ManagedProcess::pid);
        restarted.or_else(|| {
            self.processes
                .iter()
                .find(|p| p.name() == name)
                .map(ManagedProcess::pid)
        })
    }

    /// Starts a stack component again, as it was first started (same ports, config and data
    /// dir), and waits until it is ready: the rollback of a kill fault.
    pub async fn restart_component(&self, component: &str) -> Result<(), NativeError> {
        let launch = self
            .process_name(component)
            .and_then(|name| self.launches.iter().find(|l| l.component == name))
            .cloned()
            .ok_or_else(|| NativeError::UnknownComponent(component.to_string()))?;
        let mut cmd = std::process::Command::new(&launch.path);
        cmd.args(&launch.args).current_dir(&self.run_path);
        let mut process = [ManagedProcess::spawn(launch.component, cmd, &self.log_dir)?];
        let timeout = if launch.component == opensearch::PROCESS {
            OPENSEARCH_READY_TIMEOUT
        } else {
            RESTART_READY_TIMEOUT
        };
        wait_ready(&mut process, std::slice::from_ref(&launch), timeout).await?;
        let [process] = process;
        // The process it replaces (if restarted before) is dead: dropping it reaps it.
        self.restarted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(launch.component.to_string(), process);
        Ok(())
    }

    pub async fn stop(mut self) {
        let restarted = std::mem::take(
            self.restarted
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for (_, mut p) in restarted {
            p.stop().await;
        }
        futures::future::join_all(self.processes.iter_mut().map(|p| p.stop())).await;
        if let Some(dir) = self.run_dir.take()
            && let Err(error) = dir.close()
        {
            tracing::warn!(%error, "cannot delete the stack run dir");
        }
    }

    /// Leaves everything running and gives up ownership (for `stack up --detach`): returns
    /// the run dir (kept on disk) and `(name, pid)` of each process.
    pub fn detach(mut self) -> (PathBuf, Vec<(String, u32)>) {
        let run_path = match self.run_dir.take() {
            Some(dir) => dir.keep(),
            None => self.run_path.clone(),
        };
        let procs = std::mem::take(&mut self.processes)
            .into_iter()
            .map(|p| (p.name().to_string(), p.detach()))
            .collect();
        (run_path, procs)
    }
}

/// Writes `<dir>/<job>.json` for Prometheus file_sd atomically (temp file + rename).
pub(crate) fn write_targets(dir: &Path, job: &str, targets: &[String]) -> Result<(), NativeError> {
    write_labelled_targets(dir, job, targets, false)
}

/// Writes `<dir>/services/<service>.json`: the targets of a service under test, labelled
/// `job=<job>` and `service=<service>`, for the services' own scrape config.
pub(crate) fn write_service_targets(
    dir: &Path,
    service: &str,
    job: &str,
    targets: &[String],
) -> Result<(), NativeError> {
    let labels = serde_json::json!({ "job": job, "service": service });
    write_file_sd(&dir.join(SERVICES_TARGETS), service, targets, labels)
}

/// [`write_targets`], optionally adding `service=<job>` (the label the rules and dashboards
/// group sample services by).
pub(crate) fn write_labelled_targets(
    dir: &Path,
    job: &str,
    targets: &[String],
    service_label: bool,
) -> Result<(), NativeError> {
    let labels = if service_label {
        serde_json::json!({ "job": job, "service": job })
    } else {
        serde_json::json!({ "job": job })
    };
    write_file_sd(dir, job, targets, labels)
}

/// Writes `<dir>/<name>.json` atomically (a checked name, `host:port` targets); no targets
/// removes it.
fn write_file_sd(
    dir: &Path,
    name: &str,
    targets: &[String],
    labels: serde_json::Value,
) -> Result<(), NativeError> {
    let valid_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid_name {
        return Err(NativeError::InvalidJob {
            job: name.to_string(),
        });
    }
    for t in targets {
        let ok = t
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !ok {
            return Err(NativeError::InvalidTarget {
                job: name.to_string(),
                target: t.clone(),
            });
        }
    }
    let path = dir.join(format!("{name}.json"));
    if targets.is_empty() {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(NativeError::Write { path, source: e })
            }
            _ => Ok(()),
        };
    }
    let body = serde_json::json!([{ "targets": targets, "labels": labels }]);
    // The temp name does not match the `*.json` glob, so Prometheus never reads a partial file.
    let tmp = dir.join(format!(".{name}.json.tmp"));
    std::fs::write(&tmp, body.to_string()).map_err(|source| NativeError::Write {
        path: tmp.clone(),
        source,
    })?;
    std::fs::rename(&tmp, &path).map_err(|source| NativeError::Write { path, source })
}

fn read_template(fixtures: &Path, rel: &str) -> Result<(String, String), NativeError> {
    let path = fixtures.join(rel);
    let text = std::fs::read_to_string(&path).map_err(|source| NativeError::Fixture {
        path: path.clone(),
        source,
    })?;
    Ok((path.display().to_string(), text))
}

fn write_config(path: PathBuf, text: &str) -> Result<PathBuf, NativeError> {
    std::fs::write(&path, text).map_err(|source| NativeError::Write {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

fn dir_in(run: &Path, name: &str) -> Result<PathBuf, NativeError> {
    let path = run.join(name);
    std::fs::create_dir_all(&path).map_err(|source| NativeError::Write {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// The Alertmanager config a stack started with `config` runs (native and compose): the
/// user's file with its receivers pointed at `config.webhook_receivers`
/// ([`super::alertmanager`]), else gauntlet's template with the timings and the `pager`/`chat`
/// URLs filled in.
pub fn alertmanager_config(config: &StackConfig) -> Result<String, NativeError> {
    let fx = &config.fixtures_dir;
    if let Some(path) = &config.alertmanager_config {
        let text = std::fs::read_to_string(path).map_err(|source| NativeError::Fixture {
            path: path.clone(),
            source,
        })?;
        let invalid = |source| NativeError::AlertmanagerConfig {
            path: path.clone(),
            source,
        };
        let user = UserConfig::parse(&text).map_err(invalid)?;
        let source = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        return user
            .render(&config.webhook_receivers, &config.route_overrides, &source)
            .map_err(invalid);
    }
    let mut vars = BTreeMap::from([
        ("group_wait", go_duration(config.group_wait)),
        ("group_interval", go_duration(config.group_interval)),
        ("repeat_interval", go_duration(config.repeat_interval)),
    ]);
    for (name, url) in &config.webhook_receivers {
        if TEMPLATE_RECEIVERS.contains(&name.as_str()) {
            vars.insert(
                if name == "pager" {
                    "pager_webhook_url"
                } else {
                    "chat_webhook_url"
                },
                url.to_string(),
            );
        }
    }
    vars.entry("pager_webhook_url")
        .or_insert_with(|| format!("{UNUSED_RECEIVER_BASE}pager"));
    vars.entry("chat_webhook_url")
        .or_insert_with(|| format!("{UNUSED_RECEIVER_BASE}chat"));
    let (name, text) = read_template(fx, "alertmanager/alertmanager.yml.tmpl")?;
    Ok(render(&name, &text, &vars)?)
}

/// Renders every config into the run dir and returns what to start.
fn render_all(
    config: &StackConfig,
    binaries: &NativeBinaries,
    ports: &Ports,
    logs_port: u16,
    run: &Path,
    targets_dir: &Path,
    run_id: &str,
) -> Result<Vec<Launch>, NativeError> {
    let fx = &config.fixtures_dir;
    let p = |port: u16| port.to_string();

    // Prometheus.
    // Rule files are copied into the run dir so every path Prometheus reads is under it
    // (the compose provider mounts only the run dir into containers).
    let rules_dir = dir_in(run, "rules")?;
    let mut rule_files = Vec::new();
    for (i, f) in config.rule_files.iter().enumerate() {
        let file_name = f.file_name().map(|n| n.to_string_lossy().into_owned());
        let dest = rules_dir.join(format!("{i:02}-{}", file_name.unwrap_or_default()));
        std::fs::copy(f, &dest).map_err(|source| NativeError::RuleFile {
            path: f.clone(),
            source,
        })?;
        rule_files.push(dest.display().to_string());
    }
    let scrape_timeout = config.scrape_interval.min(Duration::from_secs(10));
    let vars = BTreeMap::from([
        ("scrape_interval", go_duration(config.scrape_interval)),
        ("scrape_timeout", go_duration(scrape_timeout)),
        (
            "evaluation_interval",
            go_duration(config.evaluation_interval),
        ),
        ("run_id", run_id.to_string()),
        (
            "alertmanager_address",
            format!("127.0.0.1:{}", ports.alertmanager),
        ),
        // JSON is valid YAML and quotes paths safely.
        ("rule_files", serde_json::json!(rule_files).to_string()),
        ("targets_dir", targets_dir.display().to_string()),
        // JSON is valid YAML: the user's relabel rules as written, quoted safely.
        (
            "relabel_configs",
            serde_json::Value::from(config.service_relabel_configs.clone()).to_string(),
        ),
        (
            "metric_relabel_configs",
            serde_json::Value::from(config.service_metric_relabel_configs.clone()).to_string(),
        ),
        (
            "scrape_protocol_fallback",
            scrape_protocol_fallback(config.prometheus_version),
        ),
    ]);
    let (name, text) = read_template(fx, "prometheus/prometheus.yml.tmpl")?;
    let prom_cfg = write_config(run.join("prometheus.yml"), &render(&name, &text, &vars)?)?;
    let prom_data = dir_in(run, "prometheus-data")?;

    // Alertmanager: the user's config as written (receivers redirected), else the template.
    let am_text = alertmanager_config(config)?;
    let am_cfg = write_config(run.join("alertmanager.yml"), &am_text)?;
    let am_data = dir_in(run, "alertmanager-data")?;

    // Jaeger, query role (and the collector role when it writes to OpenSearch itself).
    let trace_backend = config
        .trace_store
        .jaeger_backend(config.max_traces, ports.opensearch_http);
    let (collector_extensions, trace_exporters) = config.trace_store.collector_wiring();
    let vars = BTreeMap::from([
        ("telemetry_port", p(ports.query_telemetry)),
        ("health_port", p(ports.query_health)),
        ("query_http_port", p(ports.query_http)),
        ("query_grpc_port", p(ports.query_grpc)),
        ("otlp_grpc_port", p(ports.query_otlp_grpc)),
        ("trace_backend", trace_backend.clone()),
    ]);
    let (name, text) = read_template(fx, "jaeger/query.yaml.tmpl")?;
    let query_cfg = write_config(run.join("jaeger-query.yaml"), &render(&name, &text, &vars)?)?;

    // Jaeger, collector role.
    let vars = BTreeMap::from([
        ("telemetry_port", p(ports.collector_telemetry)),
        ("health_port", p(ports.collector_health)),
        ("otlp_grpc_port", p(ports.collector_otlp_grpc)),
        ("otlp_http_port", p(ports.collector_otlp_http)),
        ("query_otlp_grpc_port", p(ports.query_otlp_grpc)),
        ("metrics_port", p(ports.collector_metrics)),
        ("batch_timeout", go_duration(config.telemetry_flush)),
        (
            "spanmetrics_flush_interval",
            go_duration(config.scrape_interval),
        ),
        ("collector_extensions", collector_extensions),
        ("trace_exporters", trace_exporters),
        ("trace_backend", trace_backend),
        (
            "logs_endpoint",
            format!("http://127.0.0.1:{logs_port}/insert/opentelemetry/v1/logs"),
        ),
    ]);
    let (name, text) = read_template(fx, "jaeger/collector.yaml.tmpl")?;
    let collector_cfg = write_config(
        run.join("otel-collector.yaml"),
        &render(&name, &text, &vars)?,
    )?;

    // VictoriaLogs: flags only, no config file.
    let log_store_data = dir_in(run, "victoria-logs-data")?;

    let arg = |prefix: &str, value: &Path| {
        let mut s = OsString::from(prefix);
        s.push(value.as_os_str());
        s
    };
    let url = |port: u16, path: &str| {
        loopback_url(port)
            .join(path)
            .expect("a relative path joins onto a loopback base URL")
    };
    let mut launches = Vec::new();
    if config.trace_store == TraceStore::Opensearch {
        // Data, logs and the node's config dir all go under the run dir.
        let home = dir_in(run, "opensearch")?;
        launches.push(Launch {
            component: opensearch::PROCESS,
            path: binaries.opensearch()?,
            args: vec![
                "--home".into(),
                home.into_os_string(),
                "--http-port".into(),
                p(ports.opensearch_http).into(),
                "--transport-port".into(),
                p(ports.opensearch_transport).into(),
            ],
            ready: opensearch::READY_PATHS
                .iter()
                .map(|path| url(ports.opensearch_http, path))
                .collect(),
        });
    }
    launches.extend([
        Launch {
            component: "victoria-logs",
            path: binaries.victoria_logs.clone(),
            args: vec![
                arg("-storageDataPath=", &log_store_data),
                format!("-httpListenAddr=127.0.0.1:{}", ports.log_store_http).into(),
            ],
            ready: vec![url(ports.log_store_http, "health")],
        },
        Launch {
            component: "jaeger-query",
            path: binaries.jaeger.clone(),
            args: vec![arg("--config=", &query_cfg)],
            ready: vec![
                url(ports.query_health, "status"),
                url(ports.query_http, "api/services"),
            ],
        },
        Launch {
            component: "otel-collector",
            path: binaries.jaeger.clone(),
            args: vec![arg("--config=", &collector_cfg)],
            ready: vec![url(ports.collector_health, "status")],
        },
        Launch {
            component: "alertmanager",
            path: binaries.alertmanager.clone(),
            args: vec![
                arg("--config.file=", &am_cfg),
                arg("--storage.path=", &am_data),
                format!("--web.listen-address=127.0.0.1:{}", ports.alertmanager).into(),
                // Links in notifications point at the loopback address, not the hostname.
                format!(
                    "--web.external-url=http://127.0.0.1:{}/",
                    ports.alertmanager
                )
                .into(),
                // Empty disables gossip clustering (it would bind 9094 on all interfaces).
                "--cluster.listen-address=".into(),
            ],
            ready: vec![url(ports.alertmanager, "-/ready")],
        },
        Launch {
            component: "prometheus",
            path: binaries.prometheus.clone(),
            args: vec![
                arg("--config.file=", &prom_cfg),
                arg("--storage.tsdb.path=", &prom_data),
                format!("--web.listen-address=127.0.0.1:{}", ports.prometheus).into(),
                format!("--web.external-url=http://127.0.0.1:{}/", ports.prometheus).into(),
                "--web.enable-lifecycle".into(),
                "--web.enable-remote-write-receiver".into(),
            ],
            ready: vec![url(ports.prometheus, "-/ready")],
        },
    ]);
    Ok(launches)
}

/// The scrape config line that tells Prometheus 3 which format to assume when a target's
/// `Content-Type` names none it knows (2.x assumed the text format and has no such setting,
/// so it gets nothing). Reports say the line was added (`crate::stack::versions`).
fn scrape_protocol_fallback(version: PrometheusVersion) -> String {
    if version.needs_fallback_scrape_protocol() {
        "fallback_scrape_protocol: PrometheusText0.0.4".to_string()
    } else {
        // A YAML comment keeps the rendered file valid and says why the line is absent.
        "# fallback_scrape_protocol: Prometheus 3 only".to_string()
    }
}

/// Polls every launch's readiness URLs until all answer 200, a process exits, or the
/// timeout passes. Errors name the component and quote the tail of its log.
async fn wait_ready(
    processes: &mut [ManagedProcess],
    launches: &[Launch],
    timeout: Duration,
) -> Result<(), NativeError> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(NativeError::HttpClient)?;
    let started = Instant::now();
    // (launch index, url, last observation)
    let mut pending: Vec<(usize, Url, String)> = launches
        .iter()
        .enumerate()
        .flat_map(|(i, l)| {
            l.ready
                .iter()
                .map(move |u| (i, u.clone(), "no answer yet".to_string()))
        })
        .collect();
    let mut delay = Duration::from_millis(20);
    loop {
        let answers = futures::future::join_all(pending.iter().map(|(_, url, _)| {
            let client = client.clone();
            let url = url.clone();
            async move {
                match client.get(url).send().await {
                    Ok(r) if r.status().is_success() => None,
                    Ok(r) => Some(format!("HTTP {}", r.status())),
                    Err(e) => Some(error_chain(&e)),
                }
            }
        }))
        .await;
        let mut still = Vec::with_capacity(pending.len());
        for ((i, url, _), answer) in pending.into_iter().zip(answers) {
            if let Some(last) = answer {
                still.push((i, url, last));
            }
        }
        pending = still;
        if pending.is_empty() {
            tracing::debug!(elapsed = ?started.elapsed(), "all stack components ready");
            return Ok(());
        }
        for (i, _, _) in &pending {
            let launch = &launches[*i];
            let process = processes
                .iter_mut()
                .find(|p| p.name() == launch.component)
                .expect("every launch has a process with its component name");
            if let Some(status) = process.try_exit_status() {
                return Err(NativeError::Exited(Box::new(ComponentFailure {
                    component: launch.component.to_string(),
                    problem: format!("exited before becoming ready ({status})"),
                    log: process.log_path().to_path_buf(),
                    log_tail: process.log_tail(LOG_TAIL_BYTES),
                })));
            }
        }
        if started.elapsed() >= timeout {
            let (i, url, last) = pending
                .into_iter()
                .next()
                .expect("pending is not empty here");
            let launch = &launches[i];
            let process = processes
                .iter()
                .find(|p| p.name() == launch.component)
                .expect("every launch has a process with its component name");
            return Err(NativeError::NotReady(Box::new(ComponentFailure {
                component: launch.component.to_string(),
                problem: format!(
                    "not ready after {:.1?} at {url} (last answer: {last})",
                    started.elapsed()
                ),
                log: process.log_path().to_path_buf(),
                log_tail: process.log_tail(LOG_TAIL_BYTES),
            })));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(200));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Binaries for rendering tests: nothing is started.
    fn fake_binaries() -> NativeBinaries {
        let fake = PathBuf::from("/bin/true");
        NativeBinaries {
            prometheus: fake.clone(),
            alertmanager: fake.clone(),
            jaeger: fake.clone(),
            victoria_logs: fake,
            opensearch: None,
        }
    }

    #[test]
    fn targets_files_are_written_validated_and_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_targets(dir.path(), "orders", &["127.0.0.1:8080".into()]).expect("write");
        let text = std::fs::read_to_string(dir.path().join("orders.json")).expect("read");
        assert_eq!(
            text,
            r#"[{"labels":{"job":"orders"},"targets":["127.0.0.1:8080"]}]"#
        );
        assert!(matches!(
            write_targets(dir.path(), "../x", &[]),
            Err(NativeError::InvalidJob { .. })
        ));
        let err = write_targets(dir.path(), "orders", &["nohost".into()]).expect_err("bad target");
        assert_eq!(
            err.to_string(),
            "invalid scrape target \"nohost\" for job orders: expected host:port"
        );
        write_targets(dir.path(), "orders", &[]).expect("remove");
        assert!(!dir.path().join("orders.json").exists());
    }

    #[test]
    fn service_targets_carry_the_job_the_user_picked() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join(SERVICES_TARGETS)).expect("mkdir");
        let replicas = ["127.0.0.1:8081".to_string(), "127.0.0.1:8082".to_string()];
        write_service_targets(dir.path(), "orders", "myservice", &replicas).expect("write");
        let text = std::fs::read_to_string(dir.path().join("services/orders.json")).expect("read");
        assert_eq!(
            text,
            r#"[{"labels":{"job":"myservice","service":"orders"},"targets":["127.0.0.1:8081","127.0.0.1:8082"]}]"#
        );
    }

    /// The scenario's relabel rules reach the services' scrape config as written, and
    /// Prometheus's own checker accepts the result.
    #[test]
    fn relabel_rules_are_rendered_as_written_and_promtool_accepts_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rule = |yaml: &str| -> serde_json::Value { yaml_serde::from_str(yaml).expect("yaml") };
        let config = StackConfig {
            service_relabel_configs: vec![rule(
                "{source_labels: [service], regex: 'orders', target_label: team, replacement: shop}",
            )],
            service_metric_relabel_configs: vec![
                rule("{source_labels: [status], target_label: code}"),
                rule("{action: labeldrop, regex: 'exported_.*'}"),
            ],
            ..StackConfig::for_tests()
        };
        let binaries = fake_binaries();
        let ports = Ports::allocate().expect("ports");
        let targets = dir.path().join("targets");
        render_all(
            &config,
            &binaries,
            &ports,
            ports.log_store_http,
            dir.path(),
            &targets,
            "t",
        )
        .expect("renders");
        let path = dir.path().join("prometheus.yml");
        let text = std::fs::read_to_string(&path).expect("read");
        let doc: yaml_serde::Value = yaml_serde::from_str(&text).expect("yaml");
        let jobs = doc["scrape_configs"].as_sequence().expect("scrape configs");
        let services = jobs
            .iter()
            .find(|j| j["job_name"].as_str() == Some("gauntlet-services"))
            .expect("the services' scrape config");
        assert_eq!(
            services["relabel_configs"][0]["target_label"].as_str(),
            Some("team")
        );
        assert_eq!(
            services["metric_relabel_configs"][1]["action"].as_str(),
            Some("labeldrop")
        );
        let own = jobs
            .iter()
            .find(|j| j["job_name"].as_str() == Some("gauntlet"))
            .expect("the stack's scrape config");
        assert!(own.get("metric_relabel_configs").is_none(), "{text}");
        let promtool = std::process::Command::new("promtool")
            .args(["check", "config"])
            .arg(&path)
            .output()
            .map_err(|e| format!("promtool: {e}"));
        let Some(out) = crate::testing::require("promtool", promtool) else {
            return;
        };
        assert!(
            out.status.success(),
            "promtool refused the rendered config: {}{}\n{text}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `stack.telemetry-flush` is the batch timeout the collector runs with (compose renders
    /// through the same `render_all`).
    #[test]
    fn the_collector_batches_for_the_scenarios_telemetry_flush() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = StackConfig {
            telemetry_flush: Duration::from_millis(750),
            ..StackConfig::for_tests()
        };
        let binaries = fake_binaries();
        let ports = Ports::allocate().expect("ports");
        let targets = dir.path().join("targets");
        render_all(
            &config,
            &binaries,
            &ports,
            ports.log_store_http,
            dir.path(),
            &targets,
            "t",
        )
        .expect("renders");
        let text = std::fs::read_to_string(dir.path().join("otel-collector.yaml")).expect("read");
        let doc: yaml_serde::Value = yaml_serde::from_str(&text).expect("yaml");
        assert_eq!(
            doc["processors"]["batch"]["timeout"].as_str(),
            Some("750ms"),
            "{text}"
        );
    }

    #[test]
    fn every_template_renders_with_the_values_native_supplies() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = StackConfig::for_tests();
        let binaries = fake_binaries();
        let ports = Ports::allocate().expect("ports");
        let targets = dir.path().join("targets");
        let launches = render_all(
            &config,
            &binaries,
            &ports,
            ports.log_store_http,
            dir.path(),
            &targets,
            "t",
        )
        .expect("renders");
        assert_eq!(launches.len(), 5);
        let prom = std::fs::read_to_string(dir.path().join("prometheus.yml")).expect("read");
        assert!(prom.contains("scrape_interval: 1s"), "{prom}");
        assert!(prom.contains("smoke.yml"), "{prom}");
        let collector =
            std::fs::read_to_string(dir.path().join("otel-collector.yaml")).expect("read");
        assert!(collector.contains("timeout: 200ms"), "{collector}");
        let am = std::fs::read_to_string(dir.path().join("alertmanager.yml")).expect("read");
        assert!(
            am.contains("http://127.0.0.1:9/gauntlet-no-receiver/pager"),
            "{am}"
        );
        for f in ["jaeger-query.yaml", "otel-collector.yaml"] {
            let text = std::fs::read_to_string(dir.path().join(f)).expect("read");
            assert!(!text.contains("0.0.0.0"), "{f} binds all interfaces");
            assert!(!text.contains("{{"), "{f} has an unrendered placeholder");
        }
        let collector =
            std::fs::read_to_string(dir.path().join("otel-collector.yaml")).expect("read");
        let endpoint = format!(
            "logs_endpoint: http://127.0.0.1:{}/insert/opentelemetry/v1/logs",
            ports.log_store_http
        );
        assert!(collector.contains(&endpoint), "{collector}");
        let store = launches
            .iter()
            .find(|l| l.component == "victoria-logs")
            .expect("the log store is launched");
        let listen = format!("-httpListenAddr=127.0.0.1:{}", ports.log_store_http);
        assert!(store.args.iter().any(|a| *a == *listen), "{:?}", store.args);
        assert!(
            store
                .args
                .iter()
                .any(|a| a.to_string_lossy().starts_with("-storageDataPath=")),
            "{:?}",
            store.args
        );
    }
}
