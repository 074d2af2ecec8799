//! The owner of every child process gauntlet starts (stack components and, through the runner,
//! sample services).
//!
//! Each child runs in its own process group (`setpgid(0, 0)` via
//! [`std::os::unix::process::CommandExt::process_group`]), so stopping it also stops whatever
//! it forked. Output goes to `<log_dir>/<name>.log` (stdout and stderr interleaved), which is
//! what readiness errors quote from. Stopping sends SIGTERM to the group (and SIGCONT, because
//! a group frozen by a SIGSTOP fault would never act on SIGTERM), waits a short grace period,
//! then sends SIGKILL to the group.
//!
//! A process-wide registry of live groups lets [`install_signal_cleanup`] (SIGINT/SIGTERM) and
//! the panic hook it installs kill everything before the process exits, since `Drop` does not
//! run on `std::process::exit` or on a signal's default action.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tokio::sync::watch;

/// Grace period between SIGTERM and SIGKILL for [`ManagedProcess::stop`].
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(3);
/// Grace period used from `Drop`, which blocks the dropping thread and so is kept short.
const DROP_GRACE: Duration = Duration::from_millis(500);

/// Starting, signalling or stopping a managed process failed.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("cannot create log file {path}")]
    LogFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start {name} ({program})")]
    Spawn {
        name: String,
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot send {signal} to {name} (pid {pid})")]
    Signal {
        name: String,
        pid: u32,
        signal: Signal,
        #[source]
        source: Errno,
    },
    #[error("cannot install the signal handler")]
    SignalHandler(#[source] std::io::Error),
}

/// What a process in the registry is known by.
#[derive(Debug, Clone)]
struct Entry {
    name: String,
}

fn registry() -> MutexGuard<'static, BTreeMap<i32, Entry>> {
    static REGISTRY: OnceLock<Mutex<BTreeMap<i32, Entry>>> = OnceLock::new();
    REGISTRY
        .get_or_init(Default::default)
        .lock()
        // A panic while holding this lock cannot leave the map inconsistent (single inserts and
        // removes), so keep using it: cleanup matters most exactly when something panicked.
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Process groups currently owned by this process, as `(pgid, name)`.
pub fn live_groups() -> Vec<(i32, String)> {
    registry()
        .iter()
        .map(|(pgid, e)| (*pgid, e.name.clone()))
        .collect()
}

type Pipes = (tokio::process::ChildStdin, tokio::process::ChildStdout);

/// A child process in its own process group, killed with its group on `stop()` or `Drop`.
#[derive(Debug)]
pub struct ManagedProcess {
    name: String,
    program: String,
    pid: u32,
    log_path: PathBuf,
    child: Option<tokio::process::Child>,
}

impl ManagedProcess {
    /// Spawns `command` as `name` in a new process group, with stdin closed and stdout/stderr
    /// appended to `<log_dir>/<name>.log`.
    pub fn spawn(
        name: &str,
        command: std::process::Command,
        log_dir: &Path,
    ) -> Result<Self, ProcessError> {
        Self::spawn_with(name, command, log_dir, false).map(|(p, _)| p)
    }

    /// [`spawn`](Self::spawn), but with stdin and stdout piped to the caller (stderr still
    /// goes to the log), for children that speak a line protocol.
    pub fn spawn_piped(
        name: &str,
        command: std::process::Command,
        log_dir: &Path,
    ) -> Result<
        (
            Self,
            tokio::process::ChildStdin,
            tokio::process::ChildStdout,
        ),
        ProcessError,
    > {
        let (process, pipes) = Self::spawn_with(name, command, log_dir, true)?;
        let (stdin, stdout) =
            pipes.expect("spawn_with(piped = true) returns the pipes it was asked for");
        Ok((process, stdin, stdout))
    }

    fn spawn_with(
        name: &str,
        mut command: std::process::Command,
        log_dir: &Path,
        piped: bool,
    ) -> Result<(Self, Option<Pipes>), ProcessError> {
        let log_path = log_dir.join(format!("{name}.log"));
        let log_err = |source| ProcessError::LogFile {
            path: log_path.clone(),
            source,
        };
        std::fs::create_dir_all(log_dir).map_err(log_err)?;
        let out = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(log_err)?;
        let err = out.try_clone().map_err(log_err)?;
        let program = command.get_program().to_string_lossy().into_owned();
        if piped {
            command.stdin(Stdio::piped()).stdout(Stdio::piped());
        } else {
            command.stdin(Stdio::null()).stdout(out);
        }
        command.stderr(err).process_group(0);
        let mut command = tokio::process::Command::from(command);
        // Our Drop kills the whole group; tokio's kill_on_drop would only kill the leader.
        command.kill_on_drop(false);
        let mut child = command.spawn().map_err(|source| ProcessError::Spawn {
            name: name.to_string(),
            program: program.clone(),
            source,
        })?;
        let pid = child
            .id()
            .expect("a child that was just spawned and not yet awaited has a pid");
        registry().insert(
            pid_i32(pid),
            Entry {
                name: name.to_string(),
            },
        );
        tracing::debug!(name, pid, %program, log = %log_path.display(), "started process");
        let pipes = match (piped, child.stdin.take(), child.stdout.take()) {
            (true, Some(stdin), Some(stdout)) => Some((stdin, stdout)),
            _ => None,
        };
        Ok((
            Self {
                name: name.to_string(),
                program,
                pid,
                log_path,
                child: Some(child),
            },
            pipes,
        ))
    }

    /// The name given at spawn (also the log file's stem).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The child's pid, which is also its process group id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Where stdout and stderr go.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The last `max_bytes` of the log, for error messages.
    pub fn log_tail(&self, max_bytes: u64) -> String {
        log_tail(&self.log_path, max_bytes)
    }

    /// Whether the child has not exited yet (a stopped child counts as running).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The exit status if the child has exited.
    pub fn try_exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Sends `signal` to the whole process group (SIGSTOP/SIGCONT for freeze faults, SIGKILL
    /// for crash faults).
    pub fn signal(&self, signal: Signal) -> Result<(), ProcessError> {
        killpg(Pid::from_raw(pid_i32(self.pid)), signal).map_err(|source| ProcessError::Signal {
            name: self.name.clone(),
            pid: self.pid,
            signal,
            source,
        })
    }

    /// Stops the group: SIGTERM (+SIGCONT), up to `DEFAULT_STOP_GRACE` for the leader to
    /// exit, then SIGKILL to the group. Idempotent.
    pub async fn stop(&mut self) {
        self.stop_with_grace(DEFAULT_STOP_GRACE).await;
    }

    /// [`stop`](Self::stop) with an explicit grace period.
    pub async fn stop_with_grace(&mut self, grace: Duration) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pgid = Pid::from_raw(pid_i32(self.pid));
        terminate_group(pgid);
        if tokio::time::timeout(grace, child.wait()).await.is_err() {
            tracing::warn!(name = %self.name, pid = self.pid, ?grace, "process ignored SIGTERM, killing it");
        }
        // Always SIGKILL the group: grandchildren may outlive a leader that exited on SIGTERM.
        let _ = killpg(pgid, Signal::SIGKILL);
        let _ = child.wait().await;
        registry().remove(&pid_i32(self.pid));
        tracing::debug!(name = %self.name, pid = self.pid, "stopped process");
    }

    /// Gives up ownership without stopping the child (for `stack up --detach`): it is removed
    /// from the registry and survives this process. Returns the pid (= pgid).
    pub fn detach(mut self) -> u32 {
        registry().remove(&pid_i32(self.pid));
        // Dropping a tokio Child without kill_on_drop leaves the process running.
        self.child.take();
        self.pid
    }

    /// The program that was started.
    pub fn program(&self) -> &str {
        &self.program
    }
}

impl Drop for ManagedProcess {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pgid = Pid::from_raw(pid_i32(self.pid));
        terminate_group(pgid);
        // Drop cannot await: poll briefly so well-behaved children get to flush and exit.
        let deadline = Instant::now() + DROP_GRACE;
        while Instant::now() < deadline {
            if !matches!(child.try_wait(), Ok(None)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = killpg(pgid, Signal::SIGKILL);
        // tokio reaps the dropped child in the background.
        registry().remove(&pid_i32(self.pid));
    }
}

fn pid_i32(pid: u32) -> i32 {
    i32::try_from(pid).expect("Linux pids fit in i32 (pid_max <= 2^22)")
}

fn terminate_group(pgid: Pid) {
    let _ = killpg(pgid, Signal::SIGTERM);
    // A frozen (SIGSTOP) group only acts on SIGTERM once continued.
    let _ = killpg(pgid, Signal::SIGCONT);
}

/// Whether a process with `pid` exists (`kill(pid, 0)` succeeds or fails with EPERM).
///
/// A zombie still counts; see [`process_state`] to tell them apart.
pub fn pid_exists(pid: u32) -> bool {
    match kill(Pid::from_raw(pid_i32(pid)), None) {
        Ok(()) => true,
        Err(e) => e == Errno::EPERM,
    }
}

/// The one-letter state of `pid` from `/proc/<pid>/stat` (`R`, `S`, `T`, `Z`, …).
pub fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: parse after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().next()?.chars().next()
}

/// The start time of `pid` in clock ticks since boot (`/proc/<pid>/stat` field 22), used to
/// check that a pid recorded in a state file still names the same process.
pub fn process_start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    // After the name: field 3 (state) is index 0, so field 22 is index 19.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Stops a process group that this process does not own (e.g. one recorded by `stack up
/// --detach`): SIGTERM + SIGCONT, wait up to `grace` for the leader to go, then SIGKILL.
pub async fn stop_foreign_group(pgid: u32, grace: Duration) {
    let pg = Pid::from_raw(pid_i32(pgid));
    terminate_group(pg);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && pid_exists(pgid) && process_state(pgid) != Some('Z') {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = killpg(pg, Signal::SIGKILL);
}

/// The last `max_bytes` of a log file (lossy UTF-8, starting at a line boundary when possible).
pub fn log_tail(path: &Path, max_bytes: u64) -> String {
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(max_bytes);
    if file.seek(SeekFrom::Start(start)).is_err() {
        return String::new();
    }
    let mut buf = Vec::new();
    let _ = file.take(max_bytes).read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    match (start > 0, text.find('\n')) {
        (true, Some(nl)) => text[nl + 1..].to_string(),
        _ => text,
    }
}

/// Cleanup that must also run when the process is killed on the forced path (a second
/// Ctrl-C, a panic on the main thread): what outlives its process groups (mounts, cgroups).
/// It runs once: whoever comes first (the owner's drop, or the exit path) runs it, and the
/// other waits for it to finish, so `exit` never cuts an owner's cleanup short.
struct ExitCleanup {
    done: Mutex<bool>,
    run: Box<dyn Fn() + Send + Sync>,
}

impl ExitCleanup {
    fn run_once(&self) {
        let mut done = self
            .done
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !*done {
            (self.run)();
            *done = true;
        }
    }
}

fn exit_cleanups() -> MutexGuard<'static, BTreeMap<u64, std::sync::Arc<ExitCleanup>>> {
    static CLEANUPS: OnceLock<Mutex<BTreeMap<u64, std::sync::Arc<ExitCleanup>>>> = OnceLock::new();
    CLEANUPS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A registered exit cleanup. [`run`](Self::run) it from the owner's `Drop`; dropping the
/// guard unregisters it.
pub struct ExitCleanupGuard {
    id: u64,
    cleanup: std::sync::Arc<ExitCleanup>,
}

impl std::fmt::Debug for ExitCleanupGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExitCleanupGuard")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl ExitCleanupGuard {
    /// Runs the cleanup now unless it ran already (or waits while the exit path runs it).
    pub fn run(&self) {
        self.cleanup.run_once();
    }
}

impl Drop for ExitCleanupGuard {
    fn drop(&mut self) {
        exit_cleanups().remove(&self.id);
    }
}

/// Registers `cleanup` to run from [`kill_all_registered`], after every process group is
/// killed, for as long as the guard lives.
pub fn register_exit_cleanup(cleanup: impl Fn() + Send + Sync + 'static) -> ExitCleanupGuard {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let id = NEXT.fetch_add(1, Ordering::SeqCst) as u64;
    let cleanup = std::sync::Arc::new(ExitCleanup {
        done: Mutex::new(false),
        run: Box::new(cleanup),
    });
    exit_cleanups().insert(id, cleanup.clone());
    ExitCleanupGuard { id, cleanup }
}

/// Kills every registered process group (SIGTERM + SIGCONT, a short pause, SIGKILL) without
/// waiting on an async runtime, so it can run from a panic hook or signal path; then runs the
/// registered exit cleanups.
pub fn kill_all_registered(grace: Duration) {
    kill_all_groups(grace);
    run_exit_cleanups();
}

fn run_exit_cleanups() {
    // Cloned out first: a cleanup must not run while holding the lock its guard's drop takes.
    // Newest first, as drops would run: what was set up last is undone first.
    let cleanups: Vec<std::sync::Arc<ExitCleanup>> =
        exit_cleanups().values().rev().cloned().collect();
    for cleanup in cleanups {
        cleanup.run_once();
    }
}

fn kill_all_groups(grace: Duration) {
    let groups: Vec<i32> = registry().keys().copied().collect();
    if groups.is_empty() {
        return;
    }
    for pgid in &groups {
        terminate_group(Pid::from_raw(*pgid));
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline
        && groups
            .iter()
            .any(|p| pid_exists(*p as u32) && process_state(*p as u32) != Some('Z'))
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut reg = registry();
    for pgid in groups {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        reg.remove(&pgid);
    }
}

static SHUTDOWN: OnceLock<watch::Sender<bool>> = OnceLock::new();
static GRACEFUL_LISTENERS: AtomicUsize = AtomicUsize::new(0);

fn shutdown_sender() -> &'static watch::Sender<bool> {
    SHUTDOWN.get_or_init(|| watch::channel(false).0)
}

/// A handle for code that wants to shut down gracefully on SIGINT/SIGTERM (e.g. `stack up`).
///
/// While one is alive, the first signal only wakes [`ShutdownListener::requested`]; a second
/// signal, or 15 s without the process exiting, falls back to killing every group and exiting.
#[derive(Debug)]
pub struct ShutdownListener {
    rx: watch::Receiver<bool>,
}

impl ShutdownListener {
    /// Registers a graceful listener. Call [`install_signal_cleanup`] too, or nothing sends.
    pub fn new() -> Self {
        GRACEFUL_LISTENERS.fetch_add(1, Ordering::SeqCst);
        Self {
            rx: shutdown_sender().subscribe(),
        }
    }

    /// Resolves once a shutdown signal has arrived.
    pub async fn requested(&mut self) {
        // An Err means the sender is gone, which cannot happen for a static; treat it as a request.
        let _ = self.rx.wait_for(|v| *v).await;
    }
}

impl Default for ShutdownListener {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for ShutdownListener {
    fn drop(&mut self) {
        GRACEFUL_LISTENERS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Installs (once) a SIGINT/SIGTERM handler and a panic hook that kill every registered
/// process group before the process exits. For binaries, not for test processes (a panicking
/// test would kill its siblings' processes). Must be called inside a tokio runtime.
///
/// Exit codes follow the shell convention: 130 after SIGINT, 143 after SIGTERM.
pub fn install_signal_cleanup() -> Result<(), ProcessError> {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    if INSTALLED.get().is_some() {
        return Ok(());
    }
    use tokio::signal::unix::{SignalKind, signal};
    let mut sigint = signal(SignalKind::interrupt()).map_err(ProcessError::SignalHandler)?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(ProcessError::SignalHandler)?;
    let _ = INSTALLED.set(());
    install_panic_cleanup();
    tokio::spawn(async move {
        let code = tokio::select! {
            _ = sigint.recv() => 130,
            _ = sigterm.recv() => 143,
        };
        if GRACEFUL_LISTENERS.load(Ordering::SeqCst) > 0 {
            tracing::info!("shutdown requested, stopping gracefully (signal again to force)");
            shutdown_sender().send_replace(true);
            let _ = tokio::time::timeout(Duration::from_secs(15), async {
                tokio::select! {
                    _ = sigint.recv() => {},
                    _ = sigterm.recv() => {},
                }
            })
            .await;
        }
        tracing::warn!("killing all started processes and exiting");
        tokio::task::spawn_blocking(|| kill_all_registered(Duration::from_millis(500)))
            .await
            .ok();
        std::process::exit(code);
    });
    Ok(())
}

/// Installs (once) a panic hook that kills every registered process group when the main
/// thread panics, then runs the previous hook. Panics on other threads (e.g. a tokio worker)
/// are left to the owners' `Drop`, since the process may well continue.
pub fn install_panic_cleanup() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    if INSTALLED.set(()).is_err() {
        return;
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() == Some("main") {
            kill_all_registered(Duration::from_millis(300));
        }
        previous(info);
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> std::process::Command {
        let mut c = std::process::Command::new("sh");
        c.arg("-c").arg(script);
        c
    }

    #[test]
    fn exit_cleanups_run_once_newest_first_and_not_after_their_owner_ran_them() {
        use std::sync::atomic::AtomicU32;
        static ORDER: Mutex<Vec<&str>> = Mutex::new(Vec::new());
        static RUNS: AtomicU32 = AtomicU32::new(0);
        let first = register_exit_cleanup(|| {
            ORDER.lock().expect("lock").push("first");
            RUNS.fetch_add(1, Ordering::SeqCst);
        });
        let second = register_exit_cleanup(|| {
            ORDER.lock().expect("lock").push("second");
            RUNS.fetch_add(1, Ordering::SeqCst);
        });
        let owned = register_exit_cleanup(|| {
            ORDER.lock().expect("lock").push("owned");
            RUNS.fetch_add(1, Ordering::SeqCst);
        });
        // The owner cleans up itself: the exit path must not run it again.
        owned.run();
        // Not kill_all_registered: it would kill other tests' process groups.
        run_exit_cleanups();
        run_exit_cleanups();
        assert_eq!(RUNS.load(Ordering::SeqCst), 3);
        // Other tests may register their own meanwhile; ours ran in reverse order.
        let order: Vec<&str> = ORDER.lock().expect("lock").clone();
        assert_eq!(order, ["owned", "second", "first"]);
        drop((first, second, owned));
        run_exit_cleanups();
        assert_eq!(RUNS.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn stop_kills_the_whole_group_and_unregisters() {
        let dir = tempfile::tempdir().expect("tempdir");
        // The shell forks a grandchild that ignores SIGTERM; only the group SIGKILL reaches it.
        let mut p = ManagedProcess::spawn(
            "grouptest",
            sh("trap '' TERM; sleep 300 & echo child=$!; wait"),
            dir.path(),
        )
        .expect("spawn");
        let pid = p.pid();
        assert!(live_groups().iter().any(|(g, _)| *g == pid as i32));
        let mut grandchild = None;
        for _ in 0..200 {
            if let Some(line) = p.log_tail(4096).lines().find(|l| l.starts_with("child=")) {
                grandchild = line["child=".len()..].trim().parse::<u32>().ok();
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let grandchild = grandchild.expect("grandchild pid printed to the log");
        assert!(p.is_running());
        p.stop_with_grace(Duration::from_millis(200)).await;
        assert!(!p.is_running());
        assert!(!live_groups().iter().any(|(g, _)| *g == pid as i32));
        assert!(!pid_exists(pid), "leader {pid} still exists");
        // The grandchild is reparented to init (or a subreaper) and reaped there; allow that.
        for _ in 0..100 {
            if !pid_exists(grandchild) || process_state(grandchild) == Some('Z') {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            !pid_exists(grandchild) || process_state(grandchild) == Some('Z'),
            "grandchild {grandchild} survived the group kill"
        );
    }

    #[tokio::test]
    async fn drop_kills_and_signal_freezes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut p =
            ManagedProcess::spawn("droptest", sh("exec sleep 300"), dir.path()).expect("spawn");
        let pid = p.pid();
        p.signal(Signal::SIGSTOP).expect("sigstop");
        let mut state = None;
        for _ in 0..100 {
            state = process_state(pid);
            if state == Some('T') {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(state, Some('T'), "SIGSTOP froze the process");
        assert!(p.is_running(), "a stopped process still counts as running");
        drop(p);
        for _ in 0..100 {
            if !pid_exists(pid) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(!pid_exists(pid), "dropped process {pid} still exists");
    }

    #[tokio::test]
    async fn spawn_failure_names_the_program() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = ManagedProcess::spawn(
            "missing",
            std::process::Command::new("/nonexistent/gauntlet-test-binary"),
            dir.path(),
        )
        .expect_err("missing binary");
        assert_eq!(
            err.to_string(),
            "cannot start missing (/nonexistent/gauntlet-test-binary)"
        );
    }

    #[test]
    fn log_tail_starts_at_a_line_boundary() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.log");
        std::fs::write(&path, "first line\nsecond line\nthird\n").expect("write");
        assert_eq!(log_tail(&path, 14), "third\n");
        assert_eq!(log_tail(&path, 1000), "first line\nsecond line\nthird\n");
        assert_eq!(log_tail(&dir.path().join("none"), 10), "");
    }

    #[test]
    fn start_ticks_identify_this_process() {
        let me = std::process::id();
        let a = process_start_ticks(me).expect("own start time");
        assert_eq!(process_start_ticks(me), Some(a));
        assert!(matches!(process_state(me), Some('R' | 'S')));
        assert_eq!(process_start_ticks(u32::MAX >> 1), None);
    }
}
