//! The sabotage suite: the catalogue of what gauntlet catches. Each case breaks the stack the
//! way users break theirs (`scenarios/sabotage/README.md` lists them) and runs it against the
//! real native stack. Every case must end **missed, never met, never hung**, with a
//! last-observed value that tells the user what was wrong.
//!
//! Cases run one at a time (`--test-threads N` to change): each starts a whole stack.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gauntlet::report::{ExpectationStatus, ScenarioResult, ScenarioStatus};
use gauntlet::stack::native::NativeBinaries;
use libtest_mimic::{Arguments, Failed, Trial};

/// What a case must end with: per expectation id, its status and words its last observed
/// value must contain (any one of them); per missed expectation, every phrase its
/// explanation (after "why:") must contain, so the cause is named and not only the symptom;
/// alerts the report must list as fired, with a flag each.
struct Case {
    file: &'static str,
    expect: &'static [(&'static str, ExpectationStatus, &'static [&'static str])],
    why: &'static [(&'static str, &'static [&'static str])],
    fired: &'static [(&'static str, &'static str)],
}

const CASES: &[Case] = &[
    Case {
        file: "rule-on-missing-metric.yaml",
        expect: &[
            // The fault is real: the metric moves...
            ("expect[0]", ExpectationStatus::Met, &[]),
            // ...but a rule on a series that does not exist never fires.
            (
                "expect[1]",
                ExpectationStatus::Missed,
                &["no matching alert"],
            ),
        ],
        why: &[(
            "expect[1]",
            &[
                "rule HighErrorRate",
                "no series named http_request_total",
                "did you mean http_requests_total?",
            ],
        )],
        fired: &[],
    },
    Case {
        file: "deadline-too-short.yaml",
        expect: &[(
            "expect[0]",
            ExpectationStatus::Missed,
            &["no matching alert", "pending", "after the"],
        )],
        why: &[],
        fired: &[],
    },
    Case {
        file: "prometheus-down-in-steady-state.yaml",
        expect: &[(
            "steady-state.expect[0]",
            ExpectationStatus::Missed,
            &["not watched throughout"],
        )],
        why: &[],
        fired: &[],
    },
    Case {
        file: "collector-drops-spans.yaml",
        expect: &[(
            "expect[0]",
            ExpectationStatus::Missed,
            &["no traces for service orders", "error state differs"],
        )],
        why: &[],
        fired: &[],
    },
    Case {
        file: "collector-outage-loses-spans.yaml",
        // Missed with the loss measured, naming the outage that caused it.
        expect: &[(
            "recover.expect[0]",
            ExpectationStatus::Missed,
            &["of spans (fault window)"],
        )],
        why: &[],
        fired: &[],
    },
    Case {
        file: "dashboard-misspelled-metric.yaml",
        expect: &[
            ("expect[0]", ExpectationStatus::Missed, &["Error ratio (A)"]),
            (
                "expect[1]",
                ExpectationStatus::Missed,
                &["Error ratio: no data"],
            ),
        ],
        why: &[
            (
                "expect[0]",
                &[
                    "panel Error ratio (A)",
                    "no series named http_request_total",
                    "did you mean http_requests_total?",
                ],
            ),
            (
                "expect[1]",
                &[
                    "panel Error ratio (A)",
                    "no series named http_request_total",
                ],
            ),
        ],
        fired: &[],
    },
    Case {
        file: "page-routed-to-wrong-receiver.yaml",
        expect: &[
            // The alert fires and Alertmanager delivers it, to the root receiver...
            ("expect[0]", ExpectationStatus::Met, &[]),
            ("expect[1]", ExpectationStatus::Met, &[]),
            // ...so the page never comes, and the miss says where the alert went.
            (
                "expect[2]",
                ExpectationStatus::Missed,
                &["routed to chat, not pager"],
            ),
        ],
        why: &[("expect[2]", &["HighErrorRate is routed to chat, not pager"])],
        fired: &[],
    },
    Case {
        file: "inhibition-swallows-page.yaml",
        expect: &[
            ("expect[0]", ExpectationStatus::Met, &[]),
            ("expect[1]", ExpectationStatus::Met, &[]),
            (
                "expect[2]",
                ExpectationStatus::Missed,
                &[r#"inhibited by ServiceDown{service="worker"}"#],
            ),
        ],
        why: &[(
            "expect[2]",
            &[r#"HighErrorRate is inhibited by ServiceDown{service="worker"}"#],
        )],
        fired: &[],
    },
    Case {
        file: BYPASS_FILE,
        expect: &[
            (
                "expect[0]",
                ExpectationStatus::Missed,
                &["no request passed through the fault proxy"],
            ),
            // Observed, and still not credited to a fault that acted on nothing.
            (
                "expect[1]",
                ExpectationStatus::Missed,
                &["no request passed through the fault proxy"],
            ),
        ],
        why: &[],
        fired: &[],
    },
    Case {
        file: "slo-rules-without-dialect.yaml",
        expect: &[
            // The burst is real: orders answers 5xx under job `myservice`...
            ("expect[0]", ExpectationStatus::Met, &[]),
            // ...but in the default dialect the histogram has no `code`: the SLI selects
            // nothing, and the miss names the selector in the recording rule.
            (
                "expect[1]",
                ExpectationStatus::Missed,
                &["http_request_duration_seconds_count has no label code"],
            ),
        ],
        why: &[(
            "expect[1]",
            &[
                "rule MyServiceHighErrorRate",
                "the recording rule slo:sli_error:ratio_rate5m records nothing",
                "http_request_duration_seconds_count has no label code",
            ],
        )],
        fired: &[],
    },
    Case {
        file: "trace-store-down.yaml",
        expect: &[(
            "expect[0]",
            ExpectationStatus::Missed,
            // Jaeger's client first reports the refused connection, then the node as dead.
            &["connection refused", "no Elasticsearch node available"],
        )],
        why: &[],
        fired: &[],
    },
    Case {
        file: "overhead-expensive-instrumentation.yaml",
        expect: &[(
            "overhead",
            ExpectationStatus::Missed,
            &["CPU over the 50% budget"],
        )],
        why: &[],
        fired: &[],
    },
    Case {
        file: "alert-without-runbook.yaml",
        expect: &[
            // The alert fires...
            ("expect[0]", ExpectationStatus::Met, &[]),
            // ...but not with what the scenario requires of a page.
            (
                "expect[1]",
                ExpectationStatus::Missed,
                &["firing without annotation runbook_url"],
            ),
        ],
        why: &[(
            "expect[1]",
            &["rule HighErrorRate has no annotation runbook_url"],
        )],
        fired: &[(
            r#"HighErrorRate{service="orders", severity="critical"}"#,
            "no runbook_url",
        )],
    },
];

fn main() {
    let mut args = Arguments::from_args();
    if args.test_threads.is_none() {
        args.test_threads = Some(1);
    }
    let mut trials: Vec<Trial> = CASES
        .iter()
        .map(|case| {
            let name = case.file.trim_end_matches(".yaml").to_string();
            Trial::test(name, move || run_case(case))
        })
        .collect();
    trials.push(Trial::test(
        "fault-cannot-be-injected",
        fault_cannot_be_injected,
    ));
    trials.push(Trial::test(
        "dashboard-wrong-datasource",
        dashboard_wrong_datasource,
    ));
    trials.push(Trial::test("every-file-has-a-case", every_file_has_a_case));
    libtest_mimic::run(&args, trials).exit();
}

fn sabotage_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/sabotage")
}

/// A sabotage file nobody wrote a case for would be a check never seen to fail.
fn every_file_has_a_case() -> Result<(), Failed> {
    let files = gauntlet::scenario::collect(&[sabotage_dir()]).map_err(|e| e.to_string())?;
    if files.is_empty() {
        return Err("no sabotage scenarios found".into());
    }
    for f in files {
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned());
        if !CASES.iter().any(|c| Some(c.file) == name.as_deref()) {
            return Err(format!("{} has no case in tests/sabotage.rs", f.display()).into());
        }
    }
    Ok(())
}

/// Runs `file` and returns its result, checking it ended within its own timeout.
fn run(file: &Path) -> Result<Option<ScenarioResult>, Failed> {
    if gauntlet::testing::require("native stack", NativeBinaries::available()).is_none() {
        return Ok(None);
    }
    let scenario = gauntlet::scenario::load(file).map_err(|e| Failed::from(e.to_string()))?;
    if scenario.stack.trace_store == gauntlet::stack::TraceStore::Opensearch
        && gauntlet::testing::require(
            "OpenSearch",
            gauntlet::stack::binaries::Binary::OpenSearch.find(),
        )
        .is_none()
    {
        return Ok(None);
    }
    let report_dir = tempfile::tempdir().map_err(|e| Failed::from(e.to_string()))?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| Failed::from(e.to_string()))?;
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_gauntlet"));
    let started = Instant::now();
    let run = runtime
        .block_on(gauntlet::testing::run_file(file, &exe, report_dir.path()))
        .map_err(|e| Failed::from(format!("{e}: {e:?}")))?;
    // Never hung: the cap plus a teardown margin.
    let limit = scenario.timeout + Duration::from_secs(30);
    if started.elapsed() > limit {
        return Err(format!("the run took {:?}, over {limit:?}", started.elapsed()).into());
    }
    for e in &run.result.expectations {
        eprintln!(
            "  {:<7} {} {} ttd={:?}ms last={}",
            e.status.as_str(),
            e.id,
            e.description,
            e.time_to_detect_ms,
            e.last_observed.as_deref().unwrap_or("-")
        );
    }
    Ok(Some(run.result))
}

/// The user's service in the bypass case, at the port its file names.
const BYPASS_FILE: &str = "callers-bypass-the-fault-proxy.yaml";
const BYPASS_SHOP: &str = "127.0.0.1:39471";

fn run_case(case: &Case) -> Result<(), Failed> {
    if case.file == BYPASS_FILE {
        if gauntlet::testing::require("native stack", NativeBinaries::available()).is_none() {
            return Ok(());
        }
        foreign_service_at(BYPASS_SHOP)?;
    }
    let Some(result) = run(&sabotage_dir().join(case.file))? else {
        return Ok(());
    };
    check(&result, case.expect)?;
    if case.file == BYPASS_FILE {
        // The proxy was in place and counted nothing.
        let proxy = result.faults[0].proxy.ok_or("no proxy numbers")?;
        if proxy.requests != 0 {
            return Err(format!("the proxy saw traffic: {proxy:?}").into());
        }
    }
    for (id, phrases) in case.why {
        let seen = result
            .expectations
            .iter()
            .find(|e| e.id == *id)
            .and_then(|e| e.last_observed.as_deref())
            .unwrap_or_default();
        let why = seen
            .split_once("; why: ")
            .map(|(_, why)| why)
            .ok_or_else(|| format!("{id}: no explanation in {seen:?}"))?;
        for phrase in *phrases {
            if !why.contains(phrase) {
                return Err(
                    format!("{id}: the explanation {why:?} does not say {phrase:?}").into(),
                );
            }
        }
    }
    for (title, flag) in case.fired {
        let listed: Vec<String> = result
            .alerts_fired
            .iter()
            .map(|a| format!("{} [{}]", a.title(), a.flags.join(", ")))
            .collect();
        if !result
            .alerts_fired
            .iter()
            .any(|a| a.title() == *title && a.flags.iter().any(|f| f == flag))
        {
            return Err(format!("no fired alert {title} flagged {flag:?} in {listed:?}").into());
        }
    }
    Ok(())
}

/// A dashboard whose panel names a datasource the stack does not provision would show "No
/// data" in Grafana while its query returns data in Prometheus. gauntlet refuses it before
/// anything starts (exit 2), naming the file, the panel and the datasource; it never runs
/// it to a pass. No stack needed: the refusal comes first.
fn dashboard_wrong_datasource() -> Result<(), Failed> {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/invalid/dashboard-wrong-datasource.yaml");
    let reports = tempfile::tempdir().map_err(|e| e.to_string())?;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .arg("run")
        .arg(&file)
        .current_dir(reports.path())
        .output()
        .map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() != Some(2) {
        return Err(format!("exit {:?}, not 2: {stderr}", out.status.code()).into());
    }
    for phrase in [
        "dashboards/wrong-datasource.json",
        "panel \"Error ratio\"",
        "datasource uid \"prometheus-prod\" is not provisioned",
    ] {
        if !stderr.contains(phrase) {
            return Err(format!("{stderr:?} does not say {phrase:?}").into());
        }
    }
    Ok(())
}

fn check(
    result: &ScenarioResult,
    expect: &[(&str, ExpectationStatus, &[&str])],
) -> Result<(), Failed> {
    if result.status != ScenarioStatus::Missed {
        return Err(format!("scenario {}: {:?}, not missed", result.name, result.status).into());
    }
    for (id, status, words) in expect {
        let e = result
            .expectations
            .iter()
            .find(|e| e.id == *id)
            .ok_or_else(|| format!("no expectation {id}"))?;
        let seen = e.last_observed.as_deref().unwrap_or_default();
        if e.status != *status {
            return Err(format!(
                "{id}: {:?} (wanted {status:?}); last observed: {seen}",
                e.status
            )
            .into());
        }
        if !words.is_empty() && !words.iter().any(|w| seen.contains(w)) {
            return Err(format!("{id}: last observed {seen:?} names none of {words:?}").into());
        }
    }
    Ok(())
}

/// A stand-in for a user's service gauntlet does not own: answers 200 to everything but
/// its (missing) fault admin API. Serves until the test process ends.
fn foreign_service() -> Result<u16, Failed> {
    foreign_service_at("127.0.0.1:0")
}

/// [`foreign_service`] on a given address.
fn foreign_service_at(addr: &str) -> Result<u16, Failed> {
    let listener = TcpListener::bind(addr).map_err(|e| format!("cannot bind {addr}: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(&stream);
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            // Drain the headers; bodies are ignored (the connection closes after the answer).
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let status = if request_line.contains("/admin/") {
                "404 Not Found"
            } else {
                "200 OK"
            };
            let _ = (&stream).write_all(
                format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .as_bytes(),
            );
        }
    });
    Ok(port)
}

/// An error burst aimed at a service that has no fault admin API: the injection fails, the
/// expectation measured from it is missed with the injection's error, the fault record
/// carries it, and the run ends instead of waiting for the fault.
fn fault_cannot_be_injected() -> Result<(), Failed> {
    if gauntlet::testing::require("native stack", NativeBinaries::available()).is_none() {
        return Ok(());
    }
    let port = foreign_service()?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let file = dir.path().join("fault-cannot-be-injected.yaml");
    std::fs::write(
        &file,
        format!(
            "name: sabotage-fault-cannot-be-injected\n\
             stack: {{ provider: native, scrape-interval: 1s, evaluation-interval: 1s }}\n\
             services: {{ mode: external, endpoints: {{ frontend: http://127.0.0.1:{port} }} }}\n\
             load: {{ rate: 10/s, duration: 12s, journeys: [health] }}\n\
             faults:\n  - {{ name: frontend-errors, at: 2s, for: 5s, kind: http-errors, service: frontend, rate: 0.5, status: 500 }}\n\
             expect:\n  - {{ metric: 'up{{service=\"frontend\"}} == 1', within: 8s }}\n"
        ),
    )
    .map_err(|e| e.to_string())?;
    let Some(result) = run(&file)? else {
        return Ok(());
    };
    check(
        &result,
        &[(
            "expect[0]",
            ExpectationStatus::Missed,
            &["could not be injected"],
        )],
    )?;
    let fault = &result.faults[0];
    match &fault.error {
        Some(e) if e.contains("not injected") && fault.injected_at_ms.is_none() => Ok(()),
        other => Err(format!(
            "fault record: error {other:?}, injected {:?}",
            fault.injected_at_ms
        )
        .into()),
    }
}
