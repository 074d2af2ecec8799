//! Process faults by signal (via `nix`): kill with SIGKILL/SIGTERM, pause with SIGSTOP.
//!
//! Rollback of a pause is SIGCONT. A killed process cannot be un-killed, so the rollback of a
//! kill is an optional restart callback the caller (the runner, which owns the process)
//! supplies. Targets are a pid or a process group; pid 0/1, gauntlet itself and gauntlet's own
//! process group are refused.

use super::guard::{FaultError, FaultGuard, FaultRegistry};
use futures::future::BoxFuture;
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use std::fmt;

/// What to signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessTarget {
    /// One process.
    Pid(u32),
    /// Every process in the group (`killpg`).
    Group(u32),
}

impl fmt::Display for ProcessTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcessTarget::Pid(p) => write!(f, "pid {p}"),
            ProcessTarget::Group(g) => write!(f, "process group {g}"),
        }
    }
}

/// How to kill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillSignal {
    /// SIGKILL: no chance to clean up (a crash).
    Kill,
    /// SIGTERM: a graceful shutdown request.
    Term,
}

impl KillSignal {
    fn signal(self) -> Signal {
        match self {
            KillSignal::Kill => Signal::SIGKILL,
            KillSignal::Term => Signal::SIGTERM,
        }
    }
}

/// Restarts a killed process; called once when the kill fault is rolled back.
pub type RestartFn = Box<dyn FnOnce() -> BoxFuture<'static, Result<(), String>> + Send>;

fn raw(target: ProcessTarget) -> Result<i32, FaultError> {
    let refuse = |reason| FaultError::Target {
        target: target.to_string(),
        reason,
    };
    let (n, own) = match target {
        ProcessTarget::Pid(p) => (p, std::process::id()),
        ProcessTarget::Group(g) => (g, nix::unistd::getpgrp().as_raw().unsigned_abs()),
    };
    let n = i32::try_from(n).map_err(|_| refuse("id out of range"))?;
    if n <= 1 {
        return Err(refuse("ids 0 and 1 are never targets"));
    }
    if n.unsigned_abs() == own {
        return Err(refuse("that is gauntlet itself"));
    }
    Ok(n)
}

/// Sends `sig` to `target` once (no rollback).
pub fn send_signal(target: ProcessTarget, sig: Signal) -> Result<(), FaultError> {
    let n = raw(target)?;
    let res = match target {
        ProcessTarget::Pid(_) => signal::kill(Pid::from_raw(n), sig),
        ProcessTarget::Group(_) => signal::killpg(Pid::from_raw(n), sig),
    };
    res.map_err(|source| FaultError::Signal {
        target: target.to_string(),
        signal: sig.as_str(),
        source,
    })
}

/// Pauses `target` (SIGSTOP); the guard resumes it (SIGCONT). A process that exited meanwhile
/// counts as resumed.
pub fn pause(registry: &FaultRegistry, target: ProcessTarget) -> Result<FaultGuard, FaultError> {
    send_signal(target, Signal::SIGSTOP)?;
    Ok(registry.register(format!("pause {target}"), move || {
        Box::pin(async move {
            match send_signal(target, Signal::SIGCONT) {
                Err(FaultError::Signal {
                    source: nix::errno::Errno::ESRCH,
                    ..
                }) => Ok(()),
                other => other,
            }
        })
    }))
}

/// Kills `target` with `how`; the guard's rollback calls `restart` (if given).
pub fn kill(
    registry: &FaultRegistry,
    target: ProcessTarget,
    how: KillSignal,
    restart: Option<RestartFn>,
) -> Result<FaultGuard, FaultError> {
    send_signal(target, how.signal())?;
    Ok(
        registry.register(format!("{} {target}", how.signal().as_str()), move || {
            Box::pin(async move {
                match restart {
                    Some(restart) => restart().await.map_err(|reason| FaultError::Restart {
                        target: target.to_string(),
                        reason,
                    }),
                    None => Ok(()),
                }
            })
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_init_zero_and_self() {
        let reg = FaultRegistry::new();
        for t in [
            ProcessTarget::Pid(0),
            ProcessTarget::Pid(1),
            ProcessTarget::Pid(std::process::id()),
            ProcessTarget::Group(nix::unistd::getpgrp().as_raw().unsigned_abs()),
            ProcessTarget::Pid(u32::MAX),
        ] {
            let err = pause(&reg, t).expect_err("refused");
            assert!(matches!(err, FaultError::Target { .. }), "{t}: {err}");
        }
        assert!(reg.active().is_empty());
    }
}
