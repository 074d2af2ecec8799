//! The closed-model engine (`gauntlet closed-worker`, goose) against the real sample
//! services: users log in and keep their session cookie, every request carries its own
//! `traceparent` that the services continue, and a `stop` line ends the run with a report.

mod services_support;

use std::collections::HashSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use gauntlet::load::Journey;
use gauntlet::load::closed::{ClosedEvent, ClosedPlan, ClosedReport};
use gauntlet::services::{Instrumentation, ServiceName};
use services_support::{harness, metrics, sample};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

struct Run {
    report: ClosedReport,
    /// (trace id, HTTP status) of every request event.
    requests: Vec<(String, Option<u16>)>,
    samples: usize,
    took: Duration,
}

/// Runs the worker with `plan`; writes `stop` after `stop_after` if given.
async fn run_worker(plan: &ClosedPlan, stop_after: Option<Duration>) -> Run {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .arg("closed-worker")
        .current_dir(tempfile::tempdir().expect("tempdir").keep())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("closed-worker starts");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let line = serde_json::to_string(plan).expect("plan serializes") + "\n";
    stdin.write_all(line.as_bytes()).await.expect("plan sent");
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let started = Instant::now();
    let stop = async {
        match stop_after {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(stop);
    let (mut requests, mut samples, mut stopped) = (Vec::new(), 0, false);
    let bound = Duration::from_millis(plan.duration_ms) + Duration::from_secs(20);
    let report = tokio::time::timeout(bound, async {
        loop {
            tokio::select! {
                line = lines.next_line() => {
                    let line = line.expect("stdout reads").expect("a done line before EOF");
                    match serde_json::from_str::<ClosedEvent>(&line).expect("an event line") {
                        ClosedEvent::Request { trace_id, status, .. } => requests.push((trace_id, status)),
                        ClosedEvent::Sample { .. } => samples += 1,
                        ClosedEvent::Done { report } => return report,
                        ClosedEvent::Error { message } => panic!("worker error: {message}"),
                    }
                }
                _ = &mut stop, if !stopped => {
                    stdin.write_all(b"stop\n").await.expect("stop sent");
                    stopped = true;
                }
            }
        }
    })
    .await
    .expect("the worker reports within its run time + 20 s");
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("the worker exits after its report")
        .expect("worker exits");
    assert!(status.success(), "{status}");
    Run {
        report,
        requests,
        samples,
        took: started.elapsed(),
    }
}

fn plan(target: &str, users: u32, duration: Duration) -> ClosedPlan {
    ClosedPlan {
        target: target.to_owned(),
        users,
        think_min_ms: 20,
        think_max_ms: 60,
        journeys: vec![Journey::Browse, Journey::Account, Journey::Checkout],
        duration_ms: duration.as_millis() as u64,
        timeout_ms: 3_000,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_log_in_keep_their_cookie_and_every_request_is_traced() {
    let h = harness(Instrumentation::Full).await;
    let front = h.fleet.url(ServiceName::Frontend).to_owned();

    // Without the cookie the session route refuses: a 200 below can only come from a
    // client that kept the login's cookie.
    let anonymous = h.get(format!("{front}/account")).await;
    assert_eq!(anonymous.status().as_u16(), 401);

    let users = 4;
    let run = run_worker(&plan(&front, users, Duration::from_secs(3)), None).await;
    let r = &run.report;
    assert_eq!(r.sessions, u64::from(users), "every user logged in");
    assert!(r.total >= 20, "only {} requests in 3 s", r.total);
    assert_eq!(r.failed, 0, "{r:?}");
    assert_eq!(r.total, r.histogram.count());
    assert_eq!(r.goose_requests, r.total, "goose counted what we recorded");
    assert_eq!(run.requests.len() as u64, r.total);
    assert!(run.samples >= 2, "{} samples", run.samples);

    let text = metrics(&h.http, &front).await;
    let ok = |route: &str, status: &str| {
        sample(
            &text,
            &format!(
                "http_requests_total{{service=\"frontend\",method=\"GET\",route=\"{route}\",status=\"{status}\"}}"
            ),
        )
        .unwrap_or(0.0)
    };
    assert!(ok("/account", "200") > 0.0, "{text}");
    assert_eq!(
        ok("/account", "401"),
        1.0,
        "only the anonymous request was refused"
    );

    // Fresh trace ids, each continued by the frontend.
    let ids: HashSet<&str> = run.requests.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        ids.len(),
        run.requests.len(),
        "a fresh trace id per request"
    );
    for (trace_id, _) in run.requests.iter().take(5) {
        let spans = h.spans_of(trace_id, 1).await;
        assert!(spans.is_some(), "no span of trace {trace_id}");
    }
    h.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_line_ends_the_run_early_with_a_report() {
    let h = harness(Instrumentation::Metrics).await;
    let front = h.fleet.url(ServiceName::Frontend).to_owned();
    let run = run_worker(
        &plan(&front, 2, Duration::from_secs(60)),
        Some(Duration::from_secs(2)),
    )
    .await;
    assert!(
        run.took < Duration::from_secs(15),
        "stopped after {:?}",
        run.took
    );
    assert!(run.report.total > 0);
    assert_eq!(run.report.sessions, 2);
    h.fleet.shutdown().await;
}
