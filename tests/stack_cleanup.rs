//! Process cleanup: a SIGINT to a gauntlet process kills every process group it started, and
//! `stack up` / `stack down` leave nothing behind.
//!
//! The signal tests re-run this test binary as a child ("helper mode", selected by an
//! environment variable) so a real signal can hit a real process without killing the test
//! runner itself.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gauntlet::stack::cli::{
    NativeStackArgs, StackDownArgs, StackUpArgs, read_state, stack_down, stack_up,
};
use gauntlet::stack::native::NativeBinaries;
use gauntlet::stack::process::{ManagedProcess, install_signal_cleanup, pid_exists, process_state};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const HELPER_ENV: &str = "GAUNTLET_CLEANUP_HELPER";
const STATE_ENV: &str = "GAUNTLET_CLEANUP_STATE_DIR";

/// Gone, or a zombie waiting for init to reap it (it no longer runs anything).
fn gone(pid: u32) -> bool {
    !pid_exists(pid) || process_state(pid) == Some('Z')
}

async fn wait_gone(pids: &[u32], timeout: Duration) -> Vec<u32> {
    let start = Instant::now();
    loop {
        let alive: Vec<u32> = pids.iter().copied().filter(|p| !gone(*p)).collect();
        if alive.is_empty() || start.elapsed() > timeout {
            return alive;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn stack_args(state_dir: &Path, detach: bool) -> StackUpArgs {
    StackUpArgs {
        stack: NativeStackArgs {
            scrape_interval: Duration::from_secs(1),
            evaluation_interval: Duration::from_secs(1),
            rule_files: Vec::new(),
            webhooks: Vec::new(),
            fixtures_dir: None,
            log_dir: None,
            ready_timeout: Duration::from_secs(30),
        },
        detach,
        state_dir: Some(state_dir.to_path_buf()),
    }
}

/// Not a test on its own: the body of the helper child process. Without the environment
/// variable it returns at once.
#[tokio::test]
async fn cleanup_helper_entry() {
    let Ok(mode) = std::env::var(HELPER_ENV) else {
        return;
    };
    match mode.as_str() {
        "groups" => {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut pids = Vec::new();
            for name in ["child-a", "child-b"] {
                let mut cmd = Command::new("sh");
                // A grandchild in the same group, and a leader that ignores SIGTERM.
                cmd.arg("-c")
                    .arg("trap '' TERM; sleep 300 & echo grandchild=$!; wait");
                let p = ManagedProcess::spawn(name, cmd, dir.path()).expect("spawn");
                pids.push(p.pid());
                std::mem::forget(p); // only the signal handler may clean these up
            }
            install_signal_cleanup().expect("install");
            // Grandchild pids, read from the logs.
            for name in ["child-a", "child-b"] {
                let log = dir.path().join(format!("{name}.log"));
                for _ in 0..200 {
                    let text = std::fs::read_to_string(&log).unwrap_or_default();
                    if let Some(gc) = text.trim().strip_prefix("grandchild=") {
                        pids.push(gc.parse().expect("pid"));
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            let list: Vec<String> = pids.iter().map(u32::to_string).collect();
            println!("PIDS {}", list.join(" "));
            tokio::time::sleep(Duration::from_secs(60)).await;
            panic!("helper was not signalled within 60 s");
        }
        "stack-up" => {
            let state_dir = std::env::var(STATE_ENV).expect("state dir env");
            let mut out = std::io::stdout();
            stack_up(&stack_args(Path::new(&state_dir), false), &mut out)
                .await
                .expect("stack up");
            println!("STACK UP RETURNED");
        }
        other => panic!("unknown helper mode {other}"),
    }
}

fn spawn_helper(mode: &str, state_dir: Option<&Path>) -> std::process::Child {
    let exe = std::env::current_exe().expect("test binary path");
    let mut cmd = Command::new(exe);
    cmd.args([
        "--exact",
        "cleanup_helper_entry",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(HELPER_ENV, mode)
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    if let Some(dir) = state_dir {
        cmd.env(STATE_ENV, dir);
    }
    cmd.spawn().expect("spawn helper")
}

fn wait_child(
    child: &mut std::process::Child,
    timeout: Duration,
) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    None
}

#[tokio::test]
async fn sigint_kills_every_registered_group_and_exits_130() {
    let mut child = spawn_helper("groups", None);
    let stdout = child.stdout.take().expect("piped stdout");
    let pids = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            // libtest prints "test cleanup_helper_entry ... " before the helper's own output.
            .find_map(|l| l.split_once("PIDS ").map(|(_, pids)| pids.to_string()))
    })
    .await
    .expect("reader")
    .expect("helper printed its pids");
    let pids: Vec<u32> = pids
        .split_whitespace()
        .map(|p| p.parse().expect("pid"))
        .collect();
    assert_eq!(pids.len(), 4, "two leaders and two grandchildren: {pids:?}");
    assert!(
        pids.iter().all(|p| !gone(*p)),
        "all running before the signal"
    );

    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).expect("sigint");
    let status = wait_child(&mut child, Duration::from_secs(10)).expect("helper exited");
    assert_eq!(
        status.code(),
        Some(130),
        "exit status after SIGINT: {status}"
    );
    let alive = wait_gone(&pids, Duration::from_secs(5)).await;
    assert!(alive.is_empty(), "survived SIGINT cleanup: {alive:?}");
}

#[tokio::test]
async fn sigint_to_stack_up_stops_the_stack_and_removes_the_state_file() {
    if gauntlet::testing::require("native stack", NativeBinaries::available()).is_none() {
        return;
    }
    let state = tempfile::tempdir().expect("tempdir");
    let mut child = spawn_helper("stack-up", Some(state.path()));
    let stdout = child.stdout.take().expect("piped stdout");
    let reader = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    let start = Instant::now();
    let recorded = loop {
        if let Some(s) = read_state(Some(state.path())).expect("state file readable") {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "stack up wrote no state file"
        );
        if let Ok(Some(status)) = child.try_wait() {
            panic!("stack up exited early: {status}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(recorded.owner_pid, Some(child.id()));
    let pids: Vec<u32> = recorded.processes.iter().map(|p| p.pid).collect();
    assert_eq!(pids.len(), 5);
    assert!(pids.iter().all(|p| !gone(*p)));

    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).expect("sigint");
    let status = wait_child(&mut child, Duration::from_secs(20)).expect("stack up exited");
    assert!(status.success(), "graceful stop exits 0, got {status}");
    let lines = reader.await.expect("reader");
    assert!(lines.iter().any(|l| l == "stopped"), "{lines:?}");
    let alive = wait_gone(&pids, Duration::from_secs(5)).await;
    assert!(alive.is_empty(), "survived stack up's shutdown: {alive:?}");
    assert_eq!(read_state(Some(state.path())).expect("readable"), None);
    assert!(!recorded.run_dir.exists(), "run dir left behind");
}

#[tokio::test]
async fn detached_stack_is_stopped_by_stack_down() {
    if gauntlet::testing::require("native stack", NativeBinaries::available()).is_none() {
        return;
    }
    let state = tempfile::tempdir().expect("tempdir");
    let mut out = Vec::new();
    stack_up(&stack_args(state.path(), true), &mut out)
        .await
        .expect("stack up --detach");
    let text = String::from_utf8(out).expect("utf8");
    assert!(text.contains("detached"), "{text}");
    let recorded = read_state(Some(state.path()))
        .expect("readable")
        .expect("state written");
    assert_eq!(recorded.owner_pid, None);
    let pids: Vec<u32> = recorded.processes.iter().map(|p| p.pid).collect();
    assert!(
        pids.iter().all(|p| !gone(*p)),
        "detached processes keep running"
    );
    // The detached Prometheus really answers.
    let ready = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
        .get(recorded.urls.prometheus.join("-/ready").expect("url"))
        .send()
        .await
        .expect("prometheus answers");
    assert!(ready.status().is_success());

    // A second `stack up` refuses while this one is live.
    let err = stack_up(&stack_args(state.path(), true), &mut Vec::new())
        .await
        .expect_err("already up");
    assert!(
        err.to_string().starts_with("a stack is already up"),
        "{err}"
    );

    let mut out = Vec::new();
    let down = StackDownArgs {
        state_dir: Some(state.path().to_path_buf()),
        grace: Duration::from_secs(3),
    };
    stack_down(&down, &mut out).await.expect("stack down");
    let alive = wait_gone(&pids, Duration::from_secs(5)).await;
    assert!(alive.is_empty(), "survived stack down: {alive:?}");
    assert_eq!(read_state(Some(state.path())).expect("readable"), None);
    assert!(!recorded.run_dir.exists(), "run dir left behind");
}
