//! [`ProcessKubelet`]: runs a real local process for every Running pod whose container
//! command starts with `gauntlet`, as a kubelet would run its container.
//!
//! kwok moves the pod to Running (it has no containers to start); this watcher then starts
//! the container's command locally (`gauntlet` replaced by the test's binary, the container's
//! literal `env` values plus `JOB_COMPLETION_INDEX` from the pod's completion-index
//! annotation), writes its stdout and stderr in CRI log format to a file that a kwok `Logs`
//! object serves as the pod's log, and on exit patches `pods/status` to Succeeded or Failed
//! with the exit code, as a kubelet does. Deleting the pod kills the process. Not simulated:
//! container restarts (`restartPolicy: Always` pods whose process exits stay Running),
//! resource limits, probes, images, volumes and the container's security context.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::watcher;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::oneshot;

use super::{AbortOnDrop, lock, register_logs};

/// The annotation the Job controller sets on an Indexed Job's pods.
const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";

/// One process the kubelet started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub namespace: String,
    pub pod: String,
    pub pid: u32,
}

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    pub namespace: String,
    pub pod: String,
    /// `None` when it was killed because its pod was deleted.
    pub exit_code: Option<i32>,
}

#[derive(Default)]
struct State {
    /// Pod uids ever handled: a finished pod is never started again.
    known: HashSet<String>,
    /// Kill switches of running processes, by pod uid.
    running: HashMap<String, oneshot::Sender<()>>,
    started: Vec<Started>,
    ended: Vec<Ended>,
}

struct Inner {
    client: kube::Client,
    exe: PathBuf,
    log_dir: PathBuf,
    state: Mutex<State>,
    tasks: Mutex<tokio::task::JoinSet<()>>,
}

/// Watches every pod in the cluster; see the module header. Dropping it kills every process.
pub struct ProcessKubelet {
    inner: Arc<Inner>,
    _watch: AbortOnDrop,
}

impl Drop for ProcessKubelet {
    fn drop(&mut self) {
        // Each pod task owns its child with `kill_on_drop`: aborting the tasks kills them.
        lock(&self.inner.state).running.clear();
        lock(&self.inner.tasks).abort_all();
    }
}

impl ProcessKubelet {
    /// Starts watching; `exe` replaces `gauntlet` in container commands, logs go to `log_dir`.
    pub fn start(client: kube::Client, exe: &Path, log_dir: &Path) -> ProcessKubelet {
        std::fs::create_dir_all(log_dir).expect("log dir");
        let inner = Arc::new(Inner {
            client: client.clone(),
            exe: exe.to_path_buf(),
            log_dir: log_dir.to_path_buf(),
            state: Mutex::new(State::default()),
            tasks: Mutex::new(tokio::task::JoinSet::new()),
        });
        let watching = Arc::clone(&inner);
        let watch = tokio::spawn(async move {
            let pods: Api<Pod> = Api::all(client);
            let mut events = watcher(pods, watcher::Config::default()).boxed();
            while let Some(event) = events.next().await {
                match event {
                    Ok(watcher::Event::Apply(pod) | watcher::Event::InitApply(pod)) => {
                        on_pod(&watching, pod);
                    }
                    Ok(watcher::Event::Delete(pod)) => stop(&watching, &pod),
                    Ok(watcher::Event::Init | watcher::Event::InitDone) => {}
                    Err(e) => {
                        eprintln!("process kubelet: watch error (retrying): {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    }
                }
            }
        });
        ProcessKubelet {
            inner,
            _watch: AbortOnDrop(watch),
        }
    }

    /// Every process started so far, in order.
    pub fn started(&self) -> Vec<Started> {
        lock(&self.inner.state).started.clone()
    }

    /// Processes started for pods whose name starts with `prefix`.
    pub fn started_for(&self, prefix: &str) -> Vec<Started> {
        self.started()
            .into_iter()
            .filter(|s| s.pod.starts_with(prefix))
            .collect()
    }

    /// Every process that ended so far, in order.
    pub fn ended(&self) -> Vec<Ended> {
        lock(&self.inner.state).ended.clone()
    }

    /// Pids of the processes running now for pods whose name starts with `prefix`.
    pub fn running_pids(&self, prefix: &str) -> Vec<u32> {
        let s = lock(&self.inner.state);
        let ended: HashSet<(&str, &str)> = s
            .ended
            .iter()
            .map(|e| (e.namespace.as_str(), e.pod.as_str()))
            .collect();
        s.started
            .iter()
            .filter(|p| p.pod.starts_with(prefix))
            .filter(|p| !ended.contains(&(p.namespace.as_str(), p.pod.as_str())))
            .map(|p| p.pid)
            .collect()
    }
}

fn uid(pod: &Pod) -> Option<String> {
    pod.metadata.uid.clone()
}

fn stop(inner: &Inner, pod: &Pod) {
    let Some(uid) = uid(pod) else { return };
    if let Some(kill) = lock(&inner.state).running.remove(&uid) {
        let _ = kill.send(());
    }
}

fn on_pod(inner: &Arc<Inner>, pod: Pod) {
    if pod.metadata.deletion_timestamp.is_some() {
        return stop(inner, &pod);
    }
    let running = pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
    let Some(container) = pod
        .spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .cloned()
    else {
        return;
    };
    let command: Vec<String> = container
        .command
        .iter()
        .flatten()
        .chain(container.args.iter().flatten())
        .cloned()
        .collect();
    let (Some(uid), true, Some("gauntlet")) =
        (uid(&pod), running, command.first().map(String::as_str))
    else {
        return;
    };
    if !lock(&inner.state).known.insert(uid.clone()) {
        return;
    }
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let mut cmd = tokio::process::Command::new(&inner.exe);
    cmd.args(&command[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for var in container.env.iter().flatten() {
        if let Some(value) = &var.value {
            cmd.env(&var.name, value);
        }
    }
    if let Some(index) = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(COMPLETION_INDEX))
    {
        cmd.env("JOB_COMPLETION_INDEX", index);
    }
    let (kill_tx, kill_rx) = oneshot::channel();
    lock(&inner.state).running.insert(uid, kill_tx);
    let task_inner = Arc::clone(inner);
    lock(&inner.tasks).spawn(async move {
        let log = task_inner.log_dir.join(format!("{namespace}_{name}.log"));
        run_pod(
            &task_inner,
            &namespace,
            &name,
            &container.name,
            &container.image.unwrap_or_default(),
            cmd,
            &log,
            kill_rx,
        )
        .await;
    });
}

/// One CRI log line (`<RFC3339Nano> <stream> F <text>`), what kwok's log reader parses.
fn cri_line(stream: &str, text: &str) -> String {
    format!(
        "{} {stream} F {text}\n",
        humantime::format_rfc3339_nanos(SystemTime::now())
    )
}

#[allow(
    clippy::too_many_arguments,
    reason = "one call site, all of the pod's facts"
)]
async fn run_pod(
    inner: &Inner,
    namespace: &str,
    pod: &str,
    container: &str,
    image: &str,
    mut cmd: tokio::process::Command,
    log: &Path,
    kill: oneshot::Receiver<()>,
) {
    let file = tokio::fs::File::create(log).await.expect("pod log file");
    let writer = Arc::new(tokio::sync::Mutex::new(file));
    if let Err(e) = register_logs(&inner.client, namespace, pod, log).await {
        eprintln!("process kubelet: cannot register the log of {namespace}/{pod}: {e}");
    }
    let started_at = SystemTime::now();
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let line = cri_line(
                "stderr",
                &format!("process kubelet: cannot start {}: {e}", inner.exe.display()),
            );
            let _ = writer.lock().await.write_all(line.as_bytes()).await;
            lock(&inner.state).ended.push(Ended {
                namespace: namespace.into(),
                pod: pod.into(),
                exit_code: Some(128),
            });
            finish(inner, namespace, pod, container, image, 128, started_at).await;
            return;
        }
    };
    let pid = child.id().unwrap_or_default();
    lock(&inner.state).started.push(Started {
        namespace: namespace.into(),
        pod: pod.into(),
        pid,
    });
    let copy = |stream: &'static str,
                reader: Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>>| {
        let writer = Arc::clone(&writer);
        async move {
            let Some(reader) = reader else { return };
            let mut lines = BufReader::new(reader).lines();
            while let Ok(Some(text)) = lines.next_line().await {
                let _ = writer
                    .lock()
                    .await
                    .write_all(cri_line(stream, &text).as_bytes())
                    .await;
            }
        }
    };
    let out = copy("stdout", child.stdout.take().map(|r| Box::new(r) as Box<_>));
    let err = copy("stderr", child.stderr.take().map(|r| Box::new(r) as Box<_>));
    let copied = async { tokio::join!(out, err) };
    let status = tokio::select! {
        _ = kill => None,
        (status, _) = async { tokio::join!(child.wait(), copied) } => status.ok(),
    };
    let Some(status) = status else {
        let _ = child.kill().await;
        lock(&inner.state).ended.push(Ended {
            namespace: namespace.into(),
            pod: pod.into(),
            exit_code: None,
        });
        return;
    };
    let _ = writer.lock().await.flush().await;
    let code = status.code().unwrap_or(137);
    lock(&inner.state).running.retain(|_, tx| !tx.is_closed());
    lock(&inner.state).ended.push(Ended {
        namespace: namespace.into(),
        pod: pod.into(),
        exit_code: Some(code),
    });
    finish(inner, namespace, pod, container, image, code, started_at).await;
}

/// Patches `pods/status` the way a kubelet reports a terminated container of a
/// `restartPolicy: Never` pod.
async fn finish(
    inner: &Inner,
    namespace: &str,
    pod: &str,
    container: &str,
    image: &str,
    code: i32,
    started_at: SystemTime,
) {
    let now = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let started = humantime::format_rfc3339_seconds(started_at).to_string();
    let (phase, reason) = if code == 0 {
        ("Succeeded", "Completed")
    } else {
        ("Failed", "Error")
    };
    let not_ready = |kind: &str| json!({"type": kind, "status": "False", "lastTransitionTime": now, "reason": "PodCompleted"});
    let patch = json!({"status": {
        "phase": phase,
        "conditions": [
            {"type": "Initialized", "status": "True", "lastTransitionTime": started},
            not_ready("Ready"),
            not_ready("ContainersReady"),
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": started},
        ],
        "containerStatuses": [{
            "name": container, "image": image, "imageID": "", "ready": false,
            "restartCount": 0, "started": false,
            "state": {"terminated": {
                "exitCode": code, "reason": reason, "startedAt": started, "finishedAt": now
            }}
        }]
    }});
    let pods: Api<Pod> = Api::namespaced(inner.client.clone(), namespace);
    if let Err(e) = pods
        .patch_status(pod, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        // A pod deleted meanwhile (Job deadline, scale down) has no status to set.
        eprintln!("process kubelet: cannot set {namespace}/{pod} {phase}: {e}");
    }
}
