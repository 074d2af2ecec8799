//! Fault ownership: every injected fault is a [`FaultGuard`] registered in a
//! [`FaultRegistry`], and is rolled back exactly once — when its owner calls
//! [`FaultGuard::rollback`] at the fault's end, when the owner drops it (on error paths and
//! panics), or when [`FaultRegistry::rollback_all`] runs (e.g. from a ctrl-c handler).
//!
//! Rollback actions are futures (an HTTP `DELETE`, a `SIGCONT`, a proxy `clear`). `Drop`
//! cannot await, so a guard dropped while still active runs its rollback to completion on a
//! short-lived helper thread with its own runtime, bounded by [`DROP_ROLLBACK_TIMEOUT`]; that
//! works inside and outside a tokio runtime. Faults the services hold also carry a TTL, so
//! even a gauntlet killed with SIGKILL leaves nothing switched on for long.

use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Upper bound on a rollback run from `Drop` or from a blocking context.
pub const DROP_ROLLBACK_TIMEOUT: Duration = Duration::from_secs(10);

/// The future that undoes a fault.
pub type RollbackFuture = BoxFuture<'static, Result<(), FaultError>>;
type RollbackFn = Box<dyn FnOnce() -> RollbackFuture + Send>;

/// Why injecting or rolling back a fault failed.
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    #[error("fault admin api request {method} {url} failed")]
    Http {
        method: &'static str,
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("fault admin api {method} {url} answered {status}: {body}")]
    Status {
        method: &'static str,
        url: String,
        status: u16,
        body: String,
    },
    #[error("invalid fault admin url {url}: {reason}")]
    Url { url: String, reason: String },
    #[error("cannot send {signal} to {target}")]
    Signal {
        target: String,
        signal: &'static str,
        #[source]
        source: nix::errno::Errno,
    },
    #[error("refusing to signal {target}: {reason}")]
    Target {
        target: String,
        reason: &'static str,
    },
    #[error("restart after {target} was killed failed: {reason}")]
    Restart { target: String, reason: String },
    #[error("fault proxy {what}")]
    Proxy {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("refusing non-loopback upstream {addr}; allow it explicitly to proxy it")]
    NonLoopback { addr: std::net::SocketAddr },
    #[error("container {container}: {action} failed")]
    Container {
        container: String,
        action: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("rollback of {description} did not finish within {timeout:?}")]
    RollbackTimeout {
        description: String,
        timeout: Duration,
    },
    #[error("rollback of {description} could not run: {reason}")]
    RollbackThread { description: String, reason: String },
}

struct Entry {
    id: u64,
    description: String,
    action: Mutex<Option<RollbackFn>>,
}

impl Entry {
    fn take(&self) -> Option<RollbackFn> {
        self.action
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    active: BTreeMap<u64, Arc<Entry>>,
}

/// Every fault currently injected, so they can all be rolled back at once.
#[derive(Clone, Default)]
pub struct FaultRegistry {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for FaultRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultRegistry")
            .field("active", &self.active())
            .finish()
    }
}

impl FaultRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers an injected fault and returns its owner. `rollback` runs at most once.
    pub fn register<F>(&self, description: impl Into<String>, rollback: F) -> FaultGuard
    where
        F: FnOnce() -> RollbackFuture + Send + 'static,
    {
        let mut inner = self.lock();
        inner.next_id += 1;
        let entry = Arc::new(Entry {
            id: inner.next_id,
            description: description.into(),
            action: Mutex::new(Some(Box::new(rollback))),
        });
        inner.active.insert(entry.id, Arc::clone(&entry));
        tracing::info!(fault = %entry.description, id = entry.id, "fault injected");
        FaultGuard {
            entry,
            registry: self.clone(),
        }
    }

    /// Descriptions of the active faults, oldest first.
    pub fn active(&self) -> Vec<String> {
        self.lock()
            .active
            .values()
            .map(|e| e.description.clone())
            .collect()
    }

    /// Rolls back every active fault, newest first; returns the failures (empty = all clean).
    pub async fn rollback_all(&self) -> Vec<FaultError> {
        let entries: Vec<Arc<Entry>> = {
            let mut inner = self.lock();
            std::mem::take(&mut inner.active)
                .into_values()
                .rev()
                .collect()
        };
        let mut errors = Vec::new();
        for e in entries {
            if let Some(action) = e.take()
                && let Err(err) = run_logged(&e.description, action).await
            {
                errors.push(err);
            }
        }
        errors
    }

    /// [`Self::rollback_all`] from a synchronous context (a signal-handling thread, `Drop`);
    /// runs on a helper thread, each rollback bounded by [`DROP_ROLLBACK_TIMEOUT`].
    pub fn rollback_all_blocking(&self) -> Vec<FaultError> {
        let registry = self.clone();
        match block_on_helper("all active faults", async move {
            Ok(registry.rollback_all().await)
        }) {
            Ok(errors) => errors,
            Err(e) => vec![e],
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn forget(&self, id: u64) {
        self.lock().active.remove(&id);
    }
}

/// The owner of one injected fault. Roll it back with [`FaultGuard::rollback`]; dropping an
/// active guard rolls it back too (blocking, bounded).
#[must_use = "dropping a fault guard rolls the fault back immediately"]
pub struct FaultGuard {
    entry: Arc<Entry>,
    registry: FaultRegistry,
}

impl std::fmt::Debug for FaultGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultGuard")
            .field("id", &self.entry.id)
            .field("description", &self.entry.description)
            .field("active", &self.is_active())
            .finish()
    }
}

impl FaultGuard {
    /// Registry-unique id.
    pub fn id(&self) -> u64 {
        self.entry.id
    }

    /// What was injected, e.g. `pause pid 1234`.
    pub fn description(&self) -> &str {
        &self.entry.description
    }

    /// False once rolled back (by this guard or by the registry).
    pub fn is_active(&self) -> bool {
        self.entry
            .action
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// Rolls the fault back now. A no-op if the registry already did.
    pub async fn rollback(self) -> Result<(), FaultError> {
        self.registry.forget(self.entry.id);
        match self.entry.take() {
            Some(action) => run_logged(&self.entry.description, action).await,
            None => Ok(()),
        }
    }

    /// Keeps the fault for `d`, then rolls it back. Cancelling this future (e.g. the scenario
    /// is aborted) drops the guard, which rolls back too.
    pub async fn hold_for(self, d: Duration) -> Result<(), FaultError> {
        tokio::time::sleep(d).await;
        self.rollback().await
    }
}

impl Drop for FaultGuard {
    fn drop(&mut self) {
        self.registry.forget(self.entry.id);
        if let Some(action) = self.entry.take() {
            let description = self.entry.description.clone();
            tracing::warn!(fault = %description, "fault guard dropped while active; rolling back");
            let result = block_on_helper(&description, {
                let description = description.clone();
                async move { run_logged(&description, action).await }
            });
            if let Err(error) = result {
                tracing::error!(fault = %description, error = %error, "rollback on drop failed");
            }
        }
    }
}

async fn run_logged(description: &str, action: RollbackFn) -> Result<(), FaultError> {
    match tokio::time::timeout(DROP_ROLLBACK_TIMEOUT, action()).await {
        Ok(Ok(())) => {
            tracing::info!(fault = %description, "fault rolled back");
            Ok(())
        }
        Ok(Err(error)) => {
            tracing::error!(fault = %description, error = %error, "fault rollback failed");
            Err(error)
        }
        Err(_) => Err(FaultError::RollbackTimeout {
            description: description.to_owned(),
            timeout: DROP_ROLLBACK_TIMEOUT,
        }),
    }
}

/// Runs `fut` to completion on a fresh thread with its own current-thread runtime, so it
/// works from `Drop`, from inside a runtime (without blocking-in-async panics) and outside.
fn block_on_helper<T: Send + 'static>(
    description: &str,
    fut: impl std::future::Future<Output = Result<T, FaultError>> + Send + 'static,
) -> Result<T, FaultError> {
    let thread_error = |reason: String| FaultError::RollbackThread {
        description: description.to_owned(),
        reason,
    };
    let handle = std::thread::Builder::new()
        .name("fault-rollback".to_owned())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(rt.block_on(fut))
        })
        .map_err(|e| thread_error(e.to_string()))?;
    match handle.join() {
        Ok(Ok(result)) => result,
        Ok(Err(reason)) => Err(thread_error(reason)),
        Err(_) => Err(thread_error("rollback thread panicked".to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn counting(registry: &FaultRegistry, name: &str, count: &Arc<AtomicU32>) -> FaultGuard {
        let count = Arc::clone(count);
        registry.register(name, move || {
            Box::pin(async move {
                count.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
        })
    }

    #[tokio::test]
    async fn rollback_runs_once_whoever_triggers_it() {
        let reg = FaultRegistry::new();
        let n = Arc::new(AtomicU32::new(0));
        let a = counting(&reg, "a", &n);
        let b = counting(&reg, "b", &n);
        let c = counting(&reg, "c", &n);
        assert_eq!(reg.active(), ["a", "b", "c"]);

        a.rollback().await.expect("rollback a");
        assert_eq!(n.load(Ordering::SeqCst), 1);
        assert_eq!(reg.active(), ["b", "c"]);

        drop(b); // rolls back on drop
        assert_eq!(n.load(Ordering::SeqCst), 2);

        assert!(reg.rollback_all().await.is_empty());
        assert_eq!(n.load(Ordering::SeqCst), 3);
        assert!(!c.is_active());
        c.rollback().await.expect("second rollback is a no-op");
        assert_eq!(n.load(Ordering::SeqCst), 3);
        assert!(reg.active().is_empty());
    }

    #[test]
    fn blocking_rollback_all_works_outside_a_runtime() {
        let reg = FaultRegistry::new();
        let n = Arc::new(AtomicU32::new(0));
        let g1 = counting(&reg, "x", &n);
        let failing = reg.register("y", || {
            Box::pin(async {
                Err(FaultError::Target {
                    target: "pid 0".into(),
                    reason: "test",
                })
            })
        });
        let errors = reg.rollback_all_blocking();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].to_string(), "refusing to signal pid 0: test");
        assert_eq!(n.load(Ordering::SeqCst), 1);
        assert!(!g1.is_active() && !failing.is_active());
    }
}
