//! Jobs as local processes: one process per completion index (the container `command` with
//! `gauntlet` replaced by [`super::Spec::gauntlet_exe`]), its stdout and stderr lines as the
//! pod log, and the Job status a Job controller would report for them.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};

use super::{
    AbortOnDrop, MAX_JOB_PROCESSES, MAX_LOG_BYTES, MAX_LOG_LINE, Reply, Seen, State, lock,
    not_found, running_pod, status,
};

#[derive(Default)]
pub(super) struct WorkerOut {
    pub(super) log: Vec<u8>,
    pub(super) dropped_lines: u64,
    /// Exit code (`None` inside: killed by a signal), once stdout and stderr hit EOF and the
    /// process was reaped.
    pub(super) exit: Option<Option<i32>>,
}

pub(super) struct Worker {
    pub(super) index: i64,
    pub(super) pod: String,
    pub(super) out: Arc<Mutex<WorkerOut>>,
    /// Stopped by the fake (deadline, backoff limit); its process was killed.
    pub(super) killed: bool,
    pub(super) task: Option<AbortOnDrop>,
}

impl Worker {
    pub(super) fn phase(&self) -> &'static str {
        if self.killed {
            return "Failed";
        }
        match lock(&self.out).exit {
            None => "Running",
            Some(Some(0)) => "Succeeded",
            Some(_) => "Failed",
        }
    }
}

pub(super) struct JobState {
    pub(super) object: Value,
    pub(super) workers: Vec<Worker>,
    pub(super) completions: i64,
    pub(super) backoff_limit: i64,
    pub(super) deadline: Option<Duration>,
    pub(super) created: Instant,
    /// `(reason, message)` once the Job failed.
    pub(super) failed: Option<(String, String)>,
    pub(super) template_labels: BTreeMap<String, String>,
}

impl JobState {
    pub(super) fn counts(&self) -> (i64, i64, i64) {
        let (mut active, mut succeeded, mut failed) = (0, 0, 0);
        for w in &self.workers {
            match w.phase() {
                "Running" => active += 1,
                "Succeeded" => succeeded += 1,
                _ => failed += 1,
            }
        }
        (active, succeeded, failed)
    }

    /// What the Job controller would do now: fail on the deadline or the backoff limit
    /// (killing the remaining workers).
    pub(super) fn reconcile(&mut self) {
        if self.failed.is_some() {
            return;
        }
        let (active, succeeded, failed) = self.counts();
        if succeeded >= self.completions {
            return;
        }
        let verdict = if self
            .deadline
            .is_some_and(|d| self.created.elapsed() > d && active > 0)
        {
            Some((
                "DeadlineExceeded",
                "Job was active longer than specified deadline",
            ))
        } else if failed > self.backoff_limit {
            Some((
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            ))
        } else {
            None
        };
        if let Some((reason, message)) = verdict {
            for w in &mut self.workers {
                if w.phase() == "Running" {
                    w.task = None;
                    w.killed = true;
                }
            }
            self.failed = Some((reason.into(), message.into()));
        }
    }

    pub(super) fn status(&mut self) -> Value {
        self.reconcile();
        let (active, succeeded, failed) = self.counts();
        let mut conditions = Vec::new();
        if let Some((reason, message)) = &self.failed {
            conditions.push(
                json!({"type": "Failed", "status": "True", "reason": reason, "message": message}),
            );
        } else if succeeded >= self.completions {
            conditions.push(json!({"type": "Complete", "status": "True"}));
        }
        let mut status = json!({"succeeded": succeeded, "failed": failed, "ready": active});
        if active > 0 {
            status["active"] = json!(active);
        }
        if !conditions.is_empty() {
            status["conditions"] = Value::Array(conditions);
        }
        status
    }
}

pub(super) fn job_pod(ns: &str, job: &JobState, w: &Worker) -> Value {
    let mut labels = job.template_labels.clone();
    let job_name = job.object["metadata"]["name"].as_str().unwrap_or_default();
    labels.insert("batch.kubernetes.io/job-name".into(), job_name.into());
    labels.insert("job-name".into(), job_name.into());
    labels.insert(
        "batch.kubernetes.io/job-completion-index".into(),
        w.index.to_string(),
    );
    let container = job.object["spec"]["template"]["spec"]["containers"][0].clone();
    running_pod(ns, &w.pod, &labels, container, w.phase())
}

impl State {
    pub(super) fn pod_log(
        &mut self,
        ns: &str,
        pod: &str,
        query: &BTreeMap<String, String>,
    ) -> Reply {
        let found = self
            .jobs
            .iter()
            .filter(|((jns, _), _)| jns == ns)
            .flat_map(|(_, j)| j.workers.iter().map(move |w| (j, w)))
            .find(|(_, w)| w.pod == pod);
        let Some((job, worker)) = found else {
            return match self
                .pods(ns)
                .iter()
                .any(|(p, _)| p["metadata"]["name"] == pod)
            {
                true => Reply::Text(200, String::new()),
                false => not_found("pods", pod),
            };
        };
        let container = job.object["spec"]["template"]["spec"]["containers"][0]["name"]
            .as_str()
            .unwrap_or_default();
        if let Some(asked) = query.get("container")
            && asked != container
        {
            return status(
                400,
                "BadRequest",
                format!("container {asked} is not valid for pod {pod}"),
            );
        }
        let text = String::from_utf8_lossy(&lock(&worker.out).log).into_owned();
        let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
        if let Some(n) = query.get("tailLines").and_then(|n| n.parse::<usize>().ok()) {
            lines = lines.split_off(lines.len().saturating_sub(n));
        }
        let mut log = lines.concat();
        if let Some(limit) = query
            .get("limitBytes")
            .and_then(|n| n.parse::<usize>().ok())
            && log.len() > limit
        {
            let mut cut = limit;
            while !log.is_char_boundary(cut) {
                cut -= 1;
            }
            log.truncate(cut);
        }
        Reply::Text(200, log)
    }

    pub(super) fn create_job(&mut self, ns: &str, seen: &Seen) -> Reply {
        if !self.namespaces.contains_key(ns) {
            return not_found("namespaces", ns);
        }
        let mut object = seen.body.clone().unwrap_or(Value::Null);
        let Some(name) = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            return status(422, "Invalid", "metadata.name: Required value".to_owned());
        };
        let key = (ns.to_owned(), name.clone());
        if self.jobs.contains_key(&key) {
            return status(
                409,
                "AlreadyExists",
                format!("jobs.batch \"{name}\" already exists"),
            );
        }
        let spec = object["spec"].clone();
        let completions = spec["completions"].as_i64().unwrap_or(1);
        if !(1..=MAX_JOB_PROCESSES).contains(&completions) {
            return status(
                422,
                "Invalid",
                format!("the fake runs 1 to {MAX_JOB_PROCESSES} completions, not {completions}"),
            );
        }
        let indexed = spec["completionMode"] == "Indexed";
        let container = &spec["template"]["spec"]["containers"][0];
        let argv: Vec<String> = container["command"]
            .as_array()
            .into_iter()
            .chain(container["args"].as_array())
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        let env: Vec<(String, String)> = container["env"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| {
                Some((
                    e["name"].as_str()?.to_owned(),
                    e["value"].as_str()?.to_owned(),
                ))
            })
            .collect();
        let template_labels: BTreeMap<String, String> =
            serde_json::from_value(spec["template"]["metadata"]["labels"].clone())
                .unwrap_or_default();
        let uid = self.uid();
        object["metadata"]["uid"] = json!(uid);
        object["metadata"]["namespace"] = json!(ns);
        let mut workers = Vec::new();
        for index in 0..completions {
            let pod = format!("{name}-{index}-{}", &uid[uid.len() - 5..]);
            let out = Arc::new(Mutex::new(WorkerOut::default()));
            let mut worker = Worker {
                index,
                pod,
                out: Arc::clone(&out),
                killed: false,
                task: None,
            };
            match self.spawn_worker(&argv, &env, indexed.then_some(index), out) {
                Ok((pid, task)) => {
                    self.job_pids.push(pid);
                    worker.task = Some(task);
                }
                Err(reason) => {
                    let mut o = lock(&worker.out);
                    o.log = format!("fake cluster: cannot start the container: {reason}\n")
                        .into_bytes();
                    o.exit = Some(Some(128));
                }
            }
            workers.push(worker);
        }
        let job = JobState {
            object: object.clone(),
            workers,
            completions,
            backoff_limit: spec["backoffLimit"].as_i64().unwrap_or(6),
            deadline: spec["activeDeadlineSeconds"]
                .as_u64()
                .map(Duration::from_secs),
            created: Instant::now(),
            failed: None,
            template_labels,
        };
        self.jobs.insert(key, job);
        object["status"] = json!({});
        Reply::Json(201, object)
    }

    /// Starts one worker process (its own process group, killed when its task is dropped)
    /// and a task that collects its output lines and exit code.
    fn spawn_worker(
        &self,
        argv: &[String],
        env: &[(String, String)],
        index: Option<i64>,
        out: Arc<Mutex<WorkerOut>>,
    ) -> Result<(u32, AbortOnDrop), String> {
        let Some((program, args)) = argv.split_first() else {
            return Err("no command".to_owned());
        };
        if program != "gauntlet" {
            return Err(format!(
                "the fake runs only the gauntlet command, not {program:?}"
            ));
        }
        let exe = self
            .gauntlet_exe
            .as_ref()
            .ok_or("Spec::gauntlet_exe is not set")?;
        let mut cmd = tokio::process::Command::new(exe);
        cmd.args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        if let Some(i) = index {
            cmd.env("JOB_COMPLETION_INDEX", i.to_string());
        }
        let mut child = cmd.spawn().map_err(|e| format!("{}: {e}", exe.display()))?;
        let pid = child
            .id()
            .ok_or("the process exited before its id was read")?;
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let task = tokio::spawn(async move {
            let (o1, o2) = (Arc::clone(&out), Arc::clone(&out));
            tokio::join!(
                async move {
                    if let Some(s) = stdout {
                        collect_lines(s, &o1).await;
                    }
                },
                async move {
                    if let Some(s) = stderr {
                        collect_lines(s, &o2).await;
                    }
                }
            );
            let code = child.wait().await.ok().and_then(|s| s.code());
            lock(&out).exit = Some(code);
        });
        Ok((pid, AbortOnDrop(task)))
    }
}

/// Appends whole lines of `r` to the worker's log (interleaved like a kubelet's), bounded.
async fn collect_lines<R: AsyncRead + Unpin>(r: R, out: &Mutex<WorkerOut>) {
    let mut reader = BufReader::new(r);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut reader)
            .take(MAX_LOG_LINE)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let mut o = lock(out);
                if o.log.len() + line.len() < MAX_LOG_BYTES {
                    o.log.extend_from_slice(&line);
                    if !line.ends_with(b"\n") {
                        o.log.push(b'\n');
                    }
                } else {
                    o.dropped_lines += 1;
                }
            }
        }
    }
}
