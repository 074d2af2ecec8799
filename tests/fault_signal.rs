//! Process faults on a real child process (`sleep 30`).

use gauntlet::fault::FaultRegistry;
use gauntlet::fault::signal::{KillSignal, ProcessTarget, RestartFn, kill, pause};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Owns the child: kills and reaps it on drop.
struct Sleeper(Child);

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sleeper(own_group: bool) -> Sleeper {
    let mut cmd = Command::new("sleep");
    cmd.arg("30");
    if own_group {
        cmd.process_group(0);
    }
    Sleeper(cmd.spawn().expect("spawn sleep"))
}

/// The state letter in /proc/<pid>/stat (R, S, T, Z, …).
fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

fn wait_for_state(pid: u32, want: impl Fn(char) -> bool) -> Option<char> {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let s = state(pid);
        if s.is_some_and(&want) || Instant::now() > deadline {
            return s;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[tokio::test]
async fn pause_stops_and_rollback_continues() {
    let child = sleeper(false);
    let pid = child.0.id();
    let reg = FaultRegistry::new();
    let guard = pause(&reg, ProcessTarget::Pid(pid)).expect("pause");
    assert_eq!(wait_for_state(pid, |c| c == 'T'), Some('T'));
    assert_eq!(reg.active(), [format!("pause pid {pid}")]);
    guard.rollback().await.expect("resume");
    let s = wait_for_state(pid, |c| c != 'T');
    assert!(s.is_some_and(|c| c != 'T'), "still stopped: {s:?}");

    // Dropping the guard resumes too.
    let guard = pause(&reg, ProcessTarget::Pid(pid)).expect("pause again");
    assert_eq!(wait_for_state(pid, |c| c == 'T'), Some('T'));
    drop(guard);
    assert!(wait_for_state(pid, |c| c != 'T').is_some_and(|c| c != 'T'));
}

#[tokio::test]
async fn pause_a_process_group_and_roll_back_from_the_registry() {
    let child = sleeper(true);
    let pid = child.0.id();
    let reg = FaultRegistry::new();
    let _guard = pause(&reg, ProcessTarget::Group(pid)).expect("pause group");
    assert_eq!(wait_for_state(pid, |c| c == 'T'), Some('T'));
    assert!(reg.rollback_all_blocking().is_empty());
    assert!(wait_for_state(pid, |c| c != 'T').is_some_and(|c| c != 'T'));
}

#[tokio::test]
async fn kill_terminates_and_rollback_restarts() {
    let mut child = sleeper(false);
    let pid = child.0.id();
    let reg = FaultRegistry::new();
    let restarted = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&restarted);
    let restart: RestartFn = Box::new(move || {
        Box::pin(async move {
            flag.store(true, Ordering::SeqCst);
            Ok(())
        })
    });
    let guard = kill(
        &reg,
        ProcessTarget::Pid(pid),
        KillSignal::Kill,
        Some(restart),
    )
    .expect("kill");
    let deadline = Instant::now() + Duration::from_secs(3);
    let status = loop {
        if let Some(s) = child.0.try_wait().expect("try_wait") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "child still running after SIGKILL"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.signal(), Some(9));
    assert!(!restarted.load(Ordering::SeqCst));
    guard.rollback().await.expect("restart");
    assert!(restarted.load(Ordering::SeqCst));

    // SIGTERM, and a failing restart is reported.
    let mut other = sleeper(false);
    let restart: RestartFn = Box::new(|| Box::pin(async { Err("binary vanished".to_owned()) }));
    let guard = kill(
        &reg,
        ProcessTarget::Pid(other.0.id()),
        KillSignal::Term,
        Some(restart),
    )
    .expect("term");
    let status = other.0.wait().expect("wait");
    assert_eq!(status.signal(), Some(15));
    let err = guard.rollback().await.expect_err("restart fails");
    assert!(err.to_string().contains("binary vanished"), "{err}");

    // Signalling a process that is gone is a typed error.
    let err = pause(&reg, ProcessTarget::Pid(pid)).expect_err("gone");
    assert!(
        err.to_string()
            .starts_with(&format!("cannot send SIGSTOP to pid {pid}")),
        "{err}"
    );
}
