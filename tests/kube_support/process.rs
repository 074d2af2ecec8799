//! [`LocalProcess`]: a real local process standing for a workload's pods.

use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use super::{OnPodsDeleted, OnScale, lock};

/// A local process standing for a workload's pods: scale to 0 kills it, scale up starts it,
/// deleting the pods restarts it. Killed on drop.
pub struct LocalProcess {
    make: Box<dyn Fn() -> std::process::Command + Send + Sync>,
    child: Mutex<Option<std::process::Child>>,
    starts: AtomicU32,
}

impl LocalProcess {
    /// Starts the process `make` builds.
    pub fn start(make: impl Fn() -> std::process::Command + Send + Sync + 'static) -> Arc<Self> {
        let p = Arc::new(LocalProcess {
            make: Box::new(make),
            child: Mutex::new(None),
            starts: AtomicU32::new(0),
        });
        p.set_replicas(1);
        p
    }

    /// The running process' id.
    pub fn pid(&self) -> Option<u32> {
        lock(&self.child).as_ref().map(std::process::Child::id)
    }

    /// How many times the process was started.
    pub fn starts(&self) -> u32 {
        self.starts.load(Ordering::SeqCst)
    }

    /// 0 stops the process; more starts it unless it runs.
    pub fn set_replicas(&self, replicas: i32) {
        let mut child = lock(&self.child);
        if replicas <= 0 {
            if let Some(mut c) = child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        } else if child.is_none() {
            let mut cmd = (self.make)();
            cmd.stdin(Stdio::null());
            match cmd.spawn() {
                Ok(c) => {
                    self.starts.fetch_add(1, Ordering::SeqCst);
                    *child = Some(c);
                }
                Err(e) => eprintln!("fake cluster: cannot start local process: {e}"),
            }
        }
    }

    /// Kills and starts the process again.
    pub fn restart(&self) {
        self.set_replicas(0);
        self.set_replicas(1);
    }

    /// Callback for [`FakeWorkload::on_scale`].
    pub fn on_scale(self: &Arc<Self>) -> OnScale {
        let p = Arc::clone(self);
        Arc::new(move |n| p.set_replicas(n))
    }

    /// Callback for [`FakeWorkload::on_pods_deleted`].
    pub fn on_pods_deleted(self: &Arc<Self>) -> OnPodsDeleted {
        let p = Arc::clone(self);
        Arc::new(move || p.restart())
    }
}

impl Drop for LocalProcess {
    fn drop(&mut self) {
        self.set_replicas(0);
    }
}
