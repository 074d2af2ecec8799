//! CLI-facing stack commands: `stack up` (foreground until Ctrl-C, or `--detach`),
//! `stack down`, `doctor` and `bench startup`. clap `Args` structs live here; `crate::cli`
//! wires them into subcommands. These functions write human output to the given writer.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Url;
use serde::{Deserialize, Serialize};

use super::config::{StackConfig, gauntlet_home};
use super::native::{NativeError, NativeStack};
use super::process::{
    ProcessError, ShutdownListener, install_signal_cleanup, pid_exists, process_start_ticks,
    stop_foreign_group,
};
use super::running::StackUrls;

/// Version of the `stack up` state file format.
const STATE_FORMAT_VERSION: u32 = 1;
const STATE_FILE: &str = "stack.json";

/// A stack command failed.
#[derive(Debug, thiserror::Error)]
pub enum StackCliError {
    #[error("the native stack failed to start")]
    Start(#[source] NativeError),
    #[error("cannot access the state file {path}")]
    State {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("state file {path} is not valid")]
    StateParse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("a stack is already up (state file {path}); run `gauntlet stack down` first")]
    AlreadyUp { path: PathBuf },
    #[error("no stack is up (no state file {path})")]
    NotUp { path: PathBuf },
    #[error("cannot write output")]
    Output(#[source] std::io::Error),
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error("--runs must be at least 1")]
    NoRuns,
}

fn parse_receiver(s: &str) -> Result<(String, Url), String> {
    let (name, url) = s
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=URL, got {s:?}"))?;
    let url = Url::parse(url).map_err(|e| format!("invalid URL {url:?}: {e}"))?;
    Ok((name.to_string(), url))
}

/// Options shared by commands that start a native stack.
#[derive(Debug, Clone, clap::Args)]
pub struct NativeStackArgs {
    /// Prometheus scrape interval.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub scrape_interval: Duration,
    /// Prometheus rule evaluation interval.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub evaluation_interval: Duration,
    /// Prometheus rule file (repeatable); default: the fixtures' smoke rules.
    #[arg(long = "rules", value_name = "FILE")]
    pub rule_files: Vec<PathBuf>,
    /// Alertmanager webhook receiver as NAME=URL (repeatable; the routing uses `pager`, `chat`).
    #[arg(long = "webhook", value_name = "NAME=URL", value_parser = parse_receiver)]
    pub webhooks: Vec<(String, Url)>,
    /// Directory with the config templates (default: `fixtures/stack`).
    #[arg(long, value_name = "DIR")]
    pub fixtures_dir: Option<PathBuf>,
    /// Keep component logs here (default: inside the run dir, deleted on stop).
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    /// How long each component may take to become ready.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub ready_timeout: Duration,
}

impl NativeStackArgs {
    /// The stack config these flags describe.
    pub fn to_config(&self) -> StackConfig {
        let mut c = StackConfig::for_tests();
        c.scrape_interval = self.scrape_interval;
        c.evaluation_interval = self.evaluation_interval;
        if let Some(dir) = &self.fixtures_dir {
            c.fixtures_dir = dir.clone();
        }
        // A stack started on its own carries the shipped alert and SLO rules.
        c.rule_files = crate::scenario::references::files_with_ext(
            &c.fixtures_dir.join("prometheus/rules"),
            &["yml", "yaml"],
        )
        .unwrap_or_default();
        if !self.rule_files.is_empty() {
            c.rule_files = self.rule_files.clone();
        }
        c.webhook_receivers = self.webhooks.iter().cloned().collect::<BTreeMap<_, _>>();
        c.log_dir = self.log_dir.clone();
        c.ready_timeout = self.ready_timeout;
        c
    }
}

/// `gauntlet stack up`: start the native stack and keep it running.
#[derive(Debug, Clone, clap::Args)]
pub struct StackUpArgs {
    #[command(flatten)]
    pub stack: NativeStackArgs,
    /// Leave the stack running and return; `gauntlet stack down` stops it.
    #[arg(long)]
    pub detach: bool,
    /// Where the state file goes (default: `$GAUNTLET_HOME/state`).
    #[arg(long, value_name = "DIR", env = "GAUNTLET_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
}

/// `gauntlet stack down`: stop a stack started by `stack up`.
#[derive(Debug, Clone, clap::Args)]
pub struct StackDownArgs {
    /// Where the state file is (default: `$GAUNTLET_HOME/state`).
    #[arg(long, value_name = "DIR", env = "GAUNTLET_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Seconds each process gets between SIGTERM and SIGKILL.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub grace: Duration,
}

/// `gauntlet bench startup`: how long the native stack takes to become ready.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchStartupArgs {
    #[command(flatten)]
    pub stack: NativeStackArgs,
    /// How many start/stop cycles to time.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
}

/// One process recorded in the state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateProcess {
    pub name: String,
    /// Pid, which is also the process group id.
    pub pid: u32,
    /// Start time in clock ticks, so a reused pid is never signalled.
    pub start_ticks: Option<u64>,
}

/// What `stack up` leaves on disk for `stack down` (and for users: the URLs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackState {
    pub format_version: u32,
    /// The `gauntlet stack up` process (foreground mode) or `None` when detached.
    pub owner_pid: Option<u32>,
    pub run_dir: PathBuf,
    pub log_dir: PathBuf,
    pub urls: StackUrls,
    pub processes: Vec<StateProcess>,
}

fn state_path(dir: Option<&Path>) -> PathBuf {
    dir.map(Path::to_path_buf)
        .unwrap_or_else(|| gauntlet_home().join("state"))
        .join(STATE_FILE)
}

/// Reads the state file, `None` when there is none.
pub fn read_state(state_dir: Option<&Path>) -> Result<Option<StackState>, StackCliError> {
    let path = state_path(state_dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(StackCliError::State { path, source }),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|source| StackCliError::StateParse { path, source })
}

fn write_state(path: &Path, state: &StackState) -> Result<(), StackCliError> {
    let err = |source| StackCliError::State {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(err)?;
    }
    let text = serde_json::to_string_pretty(state).expect("the state struct always serializes");
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// Whether a recorded process is still the one we started (same pid *and* start time).
fn still_ours(p: &StateProcess) -> bool {
    pid_exists(p.pid) && (p.start_ticks.is_none() || process_start_ticks(p.pid) == p.start_ticks)
}

fn state_is_live(state: &StackState) -> bool {
    state.owner_pid.is_some_and(pid_exists) || state.processes.iter().any(still_ours)
}

/// `stack up`: starts the native stack, writes the state file, prints the URLs; then either
/// returns (`--detach`, processes left running) or waits for SIGINT/SIGTERM and stops it.
pub async fn stack_up(args: &StackUpArgs, out: &mut dyn Write) -> Result<(), StackCliError> {
    let path = state_path(args.state_dir.as_deref());
    if let Some(state) = read_state(args.state_dir.as_deref())? {
        if state_is_live(&state) {
            return Err(StackCliError::AlreadyUp { path });
        }
        tracing::info!(path = %path.display(), "replacing a stale state file");
    }
    install_signal_cleanup()?;
    // Registered before starting, so a Ctrl-C during startup also ends in a graceful stop.
    let mut shutdown = ShutdownListener::new();
    let config = args.stack.to_config();
    let stack = tokio::select! {
        r = NativeStack::start(&config) => r.map_err(StackCliError::Start)?,
        _ = shutdown.requested() => return Ok(()),
    };
    let processes = stack
        .processes()
        .iter()
        .map(|p| StateProcess {
            name: p.name().to_string(),
            pid: p.pid(),
            start_ticks: process_start_ticks(p.pid()),
        })
        .collect();
    let mut state = StackState {
        format_version: STATE_FORMAT_VERSION,
        owner_pid: (!args.detach).then(std::process::id),
        run_dir: stack.run_dir().to_path_buf(),
        log_dir: stack.log_dir().to_path_buf(),
        urls: stack.urls().clone(),
        processes,
    };
    let print = |out: &mut dyn Write, text: &str| {
        out.write_all(text.as_bytes())
            .map_err(StackCliError::Output)
    };
    print(out, &stack.describe())?;
    print(
        out,
        &format!(
            "\nOTEL_EXPORTER_OTLP_ENDPOINT={}\nstate file: {}\n",
            stack.urls().otlp_http.as_str().trim_end_matches('/'),
            path.display()
        ),
    )?;
    if args.detach {
        let (run_dir, _) = stack.detach();
        state.run_dir = run_dir;
        write_state(&path, &state)?;
        print(out, "detached; stop it with `gauntlet stack down`\n")?;
        return Ok(());
    }
    write_state(&path, &state)?;
    print(out, "running; press Ctrl-C to stop\n")?;
    out.flush().map_err(StackCliError::Output)?;
    shutdown.requested().await;
    print(out, "stopping the stack\n")?;
    stack.stop().await;
    if let Err(source) = std::fs::remove_file(&path)
        && source.kind() != std::io::ErrorKind::NotFound
    {
        return Err(StackCliError::State { path, source });
    }
    print(out, "stopped\n")?;
    Ok(())
}

/// `stack down`: stops the stack recorded in the state file. A foreground `stack up` is asked
/// to stop itself (SIGTERM); detached processes are stopped by process group. Pids whose start
/// time no longer matches are left alone (the pid was reused).
pub async fn stack_down(args: &StackDownArgs, out: &mut dyn Write) -> Result<(), StackCliError> {
    let path = state_path(args.state_dir.as_deref());
    let Some(state) = read_state(args.state_dir.as_deref())? else {
        return Err(StackCliError::NotUp { path });
    };
    let print = |out: &mut dyn Write, text: String| {
        out.write_all(text.as_bytes())
            .map_err(StackCliError::Output)
    };
    if let Some(owner) = state.owner_pid.filter(|p| pid_exists(*p)) {
        print(out, format!("asking stack up (pid {owner}) to stop\n"))?;
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(owner).unwrap_or(i32::MAX)),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = std::time::Instant::now() + args.grace + Duration::from_secs(5);
        while std::time::Instant::now() < deadline && pid_exists(owner) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    for p in &state.processes {
        if still_ours(p) {
            print(out, format!("stopping {} (pid {})\n", p.name, p.pid))?;
            stop_foreign_group(p.pid, args.grace).await;
        }
    }
    // Only ever delete a run dir that gauntlet created under the temp dir.
    let ours = state.run_dir.starts_with(std::env::temp_dir())
        && state
            .run_dir
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("gauntlet-stack-"));
    if ours
        && state.run_dir.exists()
        && let Err(error) = std::fs::remove_dir_all(&state.run_dir)
    {
        tracing::warn!(%error, dir = %state.run_dir.display(), "cannot delete the run dir");
    }
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(StackCliError::State { path, source: e });
        }
        _ => {}
    }
    print(out, "stack is down\n".to_string())?;
    Ok(())
}

/// One line of `gauntlet doctor`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, tabled::Tabled)]
pub struct DoctorRow {
    /// What was checked.
    pub component: String,
    /// Whether it is usable (a fixtures-only backend is: that is all it is meant to be).
    #[tabled(display = "yes_no")]
    pub ok: bool,
    /// How it exists here: run by gauntlet, built in, missing, or fixtures only (never run).
    pub here: String,
    /// Reported version, or empty.
    pub version: String,
    /// The component's licence (SPDX id) for stack components, empty for tools; every stack
    /// component gauntlet runs must be permissively licensed (no AGPL).
    pub licence: String,
    /// What it does for gauntlet.
    pub role: String,
    /// Where it was found, or why not.
    pub detail: String,
}

fn yes_no(b: &bool) -> String {
    if *b { "yes" } else { "NO" }.to_string()
}

/// What is installed and reachable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DoctorReport {
    pub rows: Vec<DoctorRow>,
}

impl DoctorReport {
    /// Whether everything the native stack needs is there.
    pub fn native_stack_ready(&self) -> bool {
        super::doctor::COMPONENTS
            .iter()
            .filter(|c| c.required)
            .all(|c| self.rows.iter().any(|r| r.component == c.name && r.ok))
    }
}

impl std::fmt::Display for DoctorReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut table = tabled::Table::new(&self.rows);
        table.with(tabled::settings::Style::psql());
        writeln!(f, "{table}")
    }
}

async fn command_output(program: &str, args: &[&str], timeout: Duration) -> Result<String, String> {
    let run = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(timeout, run).await {
        Err(_) => Err(format!("no answer within {timeout:?}")),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(o)) if o.status.success() => {
            Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
        }
        Ok(Ok(o)) => Err(String::from_utf8_lossy(&o.stderr)
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("failed")
            .trim()
            .to_string()),
    }
}

/// `gauntlet doctor`: every component of [`super::doctor::COMPONENTS`] (real here or only
/// tested against fixtures, version, licence, path), the tools provisioning uses, and whether a
/// Docker daemon answers (`docker version`, 3 s timeout).
pub async fn doctor() -> DoctorReport {
    use super::doctor::{COMPONENTS, Presence};
    let mut rows = Vec::new();
    for c in COMPONENTS {
        let presence = c.presence().await;
        let (version, detail) = match &presence {
            Presence::Real { path, version } => (version.clone(), path.clone()),
            Presence::Builtin { version } => (version.clone(), "this executable".to_string()),
            Presence::Missing(why) => (String::new(), why.clone()),
            Presence::FixturesOnly(dir) => (
                String::new(),
                format!("a user's instance is observed by URL; its client is tested against {dir}"),
            ),
        };
        rows.push(DoctorRow {
            component: c.name.to_string(),
            ok: presence.ok(),
            here: presence.here().to_string(),
            version,
            licence: c.licence.to_string(),
            role: c.role.to_string(),
            detail,
        });
    }
    let short = Duration::from_secs(3);
    let go = command_output("go", &["env", "GOVERSION"], short).await;
    rows.push(DoctorRow {
        component: "go".into(),
        ok: go.is_ok(),
        here: tool_here(go.is_ok()),
        role: "builds jaeger, victoria-logs".into(),
        version: go.clone().unwrap_or_default(),
        licence: String::new(),
        detail: go
            .err()
            .unwrap_or_else(|| "toolchain for scripts/provision.sh".into()),
    });
    // `docker version` fails as a whole when the daemon is down; `--version` is client-only.
    let client = command_output("docker", &["--version"], short).await;
    let server = command_output(
        "docker",
        &["version", "--format", "{{.Server.Version}}"],
        short,
    )
    .await;
    rows.push(DoctorRow {
        component: "docker cli".into(),
        ok: client.is_ok() || server.is_ok(),
        here: tool_here(client.is_ok() || server.is_ok()),
        role: "compose provider".into(),
        version: client.clone().unwrap_or_default(),
        licence: String::new(),
        detail: client.err().unwrap_or_default(),
    });
    rows.push(DoctorRow {
        component: "docker daemon".into(),
        ok: server.is_ok(),
        here: tool_here(server.is_ok()),
        role: "compose provider".into(),
        version: server.clone().unwrap_or_default(),
        licence: String::new(),
        detail: server
            .err()
            .map(|e| format!("not answering: {e}"))
            .unwrap_or_else(|| "answers".into()),
    });
    DoctorReport { rows }
}

fn tool_here(ok: bool) -> String {
    if ok { "real (tool)" } else { "missing" }.to_string()
}

/// Startup times of the native stack over several runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StartupBench {
    pub samples: Vec<Duration>,
    /// Per run: how long `stop` took (SIGTERM until every process group is gone).
    pub teardowns: Vec<Duration>,
    /// Per run: each component's resident memory (KiB) once ready, from `/proc/PID/status`.
    pub rss_kib: Vec<Vec<(String, u64)>>,
}

impl StartupBench {
    fn sorted(&self) -> Vec<Duration> {
        let mut s = self.samples.clone();
        s.sort();
        s
    }
    pub fn min(&self) -> Duration {
        self.sorted().first().copied().unwrap_or_default()
    }
    pub fn max(&self) -> Duration {
        self.sorted().last().copied().unwrap_or_default()
    }
    /// The middle sample (mean of the two middle ones for an even count).
    pub fn median(&self) -> Duration {
        let s = self.sorted();
        match s.len() {
            0 => Duration::ZERO,
            n if n % 2 == 1 => s[n / 2],
            n => (s[n / 2 - 1] + s[n / 2]) / 2,
        }
    }
}

impl std::fmt::Display for StartupBench {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "native stack startup over {} runs: min {:.2?}, median {:.2?}, max {:.2?} (target < 5s)",
            self.samples.len(),
            self.min(),
            self.median(),
            self.max()
        )?;
        if let Some(max) = self.teardowns.iter().max() {
            write!(f, "; teardown max {max:.2?}")?;
        }
        Ok(())
    }
}

/// Resident memory of a process in KiB (`VmRSS` in `/proc/PID/status`), if it is alive.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// `gauntlet bench startup`: starts and stops the native stack `runs` times, timing start →
/// all components ready, and prints each run and the summary.
pub async fn bench_startup(
    args: &BenchStartupArgs,
    out: &mut dyn Write,
) -> Result<StartupBench, StackCliError> {
    if args.runs == 0 {
        return Err(StackCliError::NoRuns);
    }
    let config = args.stack.to_config();
    let mut samples = Vec::with_capacity(args.runs);
    let mut teardowns = Vec::with_capacity(args.runs);
    let mut rss = Vec::with_capacity(args.runs);
    for run in 1..=args.runs {
        let stack = NativeStack::start(&config)
            .await
            .map_err(StackCliError::Start)?;
        let t = stack.startup_time();
        let memory: Vec<(String, u64)> = stack
            .processes()
            .iter()
            .filter_map(|p| Some((p.name().to_string(), rss_kib(p.pid())?)))
            .collect();
        let stopping = std::time::Instant::now();
        stack.stop().await;
        let down = stopping.elapsed();
        let shown: Vec<String> = memory
            .iter()
            .map(|(n, kib)| format!("{n} {:.1} MiB", *kib as f64 / 1024.0))
            .collect();
        writeln!(
            out,
            "run {run}: ready in {t:.2?}, stopped in {down:.2?}; RSS when ready: {}",
            shown.join(", ")
        )
        .map_err(StackCliError::Output)?;
        samples.push(t);
        teardowns.push(down);
        rss.push(memory);
    }
    let bench = StartupBench {
        samples,
        teardowns,
        rss_kib: rss,
    };
    writeln!(out, "{bench}").map_err(StackCliError::Output)?;
    Ok(bench)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::binaries::Binary;

    #[test]
    fn bench_statistics() {
        let ms = Duration::from_millis;
        let b = StartupBench {
            samples: vec![ms(300), ms(100), ms(200), ms(400)],
            teardowns: vec![ms(50), ms(60), ms(40), ms(55)],
            rss_kib: Vec::new(),
        };
        assert_eq!((b.min(), b.median(), b.max()), (ms(100), ms(250), ms(400)));
        assert_eq!(
            b.to_string(),
            "native stack startup over 4 runs: min 100.00ms, median 250.00ms, max 400.00ms (target < 5s); teardown max 60.00ms"
        );
        assert!(rss_kib(std::process::id()).is_some_and(|k| k > 0));
        assert_eq!(rss_kib(u32::MAX), None);
    }

    #[test]
    fn receivers_parse_as_name_equals_url() {
        let (name, url) = parse_receiver("pager=http://127.0.0.1:1/hook").expect("parses");
        assert_eq!(
            (name.as_str(), url.as_str()),
            ("pager", "http://127.0.0.1:1/hook")
        );
        assert_eq!(
            parse_receiver("pager").expect_err("no ="),
            "expected NAME=URL, got \"pager\""
        );
    }

    #[test]
    fn stale_state_is_not_live_and_round_trips() {
        let dir = tempfile::tempdir().expect("tempdir");
        let u = |p: u16| Url::parse(&format!("http://127.0.0.1:{p}/")).expect("url");
        let state = StackState {
            format_version: STATE_FORMAT_VERSION,
            owner_pid: None,
            run_dir: dir.path().join("run"),
            log_dir: dir.path().join("logs"),
            urls: StackUrls {
                prometheus: u(1),
                alertmanager: u(2),
                jaeger_query: u(3),
                otlp_grpc: u(4),
                otlp_http: u(5),
                log_store: u(6),
                log_store_kind: super::super::running::LogStoreKind::Victorialogs,
                grafana: None,
                opensearch: None,
            },
            // This process, but with a start time that cannot match: a reused pid.
            processes: vec![StateProcess {
                name: "prometheus".into(),
                pid: std::process::id(),
                start_ticks: Some(u64::MAX),
            }],
        };
        assert!(!state_is_live(&state));
        write_state(&state_path(Some(dir.path())), &state).expect("write");
        assert_eq!(read_state(Some(dir.path())).expect("read"), Some(state));
    }

    #[tokio::test]
    async fn doctor_reports_every_binary_and_the_docker_daemon() {
        let report = doctor().await;
        for b in Binary::ALL {
            let row = report
                .rows
                .iter()
                .find(|r| r.component == b.name())
                .unwrap_or_else(|| panic!("no row for {}", b.name()));
            // Found binaries carry their path and a version; missing ones say where we looked.
            assert_eq!(row.ok, b.find().is_ok(), "{row:?}");
            assert_eq!(
                row.here,
                if row.ok {
                    "real (run by gauntlet)"
                } else {
                    "missing"
                }
            );
            assert_eq!(row.licence, "Apache-2.0", "{row:?}");
            if row.ok {
                assert!(
                    !row.version.is_empty() && Path::new(&row.detail).is_file(),
                    "{row:?}"
                );
            } else {
                assert!(row.detail.contains("not found"), "{row:?}");
            }
        }
        for agpl in ["loki", "grafana"] {
            let row = report
                .rows
                .iter()
                .find(|r| r.component == agpl)
                .unwrap_or_else(|| panic!("no row for {agpl}"));
            assert!(row.ok && row.licence.starts_with("AGPL"), "{row:?}");
            assert_eq!(row.here, "fixtures only (AGPL: never built or run)");
            assert!(row.detail.contains("fixtures/backends/"), "{row:?}");
        }
        let daemon = report
            .rows
            .iter()
            .find(|r| r.component == "docker daemon")
            .expect("docker daemon row");
        assert_eq!(daemon.ok, daemon.detail == "answers", "{daemon:?}");
        let table = report.to_string();
        eprintln!("{table}");
        assert!(
            table.contains("component")
                && table.contains("licence")
                && table.contains("victoria-logs")
                && table.contains("docker daemon"),
            "{table}"
        );
    }

    #[tokio::test]
    async fn down_without_state_says_so() {
        let dir = tempfile::tempdir().expect("tempdir");
        let args = StackDownArgs {
            state_dir: Some(dir.path().to_path_buf()),
            grace: Duration::from_secs(1),
        };
        let err = stack_down(&args, &mut Vec::new())
            .await
            .expect_err("nothing up");
        assert!(err.to_string().starts_with("no stack is up"), "{err}");
    }
}
