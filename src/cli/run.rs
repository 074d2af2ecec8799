//! `gauntlet run`: validate, run each scenario against a real stack, report.

use std::path::PathBuf;
use std::time::SystemTime;

use clap::Args;
use tokio::sync::mpsc;

use crate::exit_code;
use crate::report::{
    self, Environment, HostFacts, ReportFormat, RunEvent, RunResults, ScenarioResult,
    ScenarioStatus, TerminalReporter, TerminalStyle,
};
use crate::runner::{RunContext, run_scenario};
use crate::scenario;

/// `gauntlet run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario files or directories.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Where results.json, junit.xml, report.md, report.html and component logs are written.
    #[arg(long, default_value = "gauntlet-report")]
    pub report_dir: PathBuf,
    /// Run every scenario this many times (nightly flakiness summary).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub repeat: u32,
    /// Append this run to a JSONL history file and compare time-to-detect with the last runs.
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,
    /// Flag a time-to-detect as regressed above this factor of the rolling median.
    #[arg(long, default_value_t = 1.5)]
    pub regression_factor: f64,
    /// Print what each fault would do (for Kubernetes: the exact API calls) and run nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Kubernetes scenarios: run the load inside the cluster as a Job of N worker pods,
    /// then merge their results (other providers ignore it).
    #[arg(long, value_name = "N", requires = "worker_image",
          value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::cluster::workers::MAX_WORKERS)))]
    pub workers: Option<u32>,
    /// The load workers' image: `gauntlet` on its PATH, running as a non-root user.
    #[arg(long, value_name = "IMAGE", env = "GAUNTLET_WORKER_IMAGE")]
    pub worker_image: Option<String>,
    /// Run the worker pods with `hostNetwork: true`: for targets on the node's own loopback,
    /// as with `gauntlet cluster up --kubelet` (whose pods have no network of their own).
    #[arg(long, requires = "workers")]
    pub worker_host_network: bool,
    /// Exit 0 when nothing was missed even though some checks could not be evaluated
    /// (skipped, e.g. no trace store in an external stack). Without it such a run exits 5.
    #[arg(long)]
    pub accept_incomplete: bool,
    /// Run Prometheus VERSION (and its Alertmanager) instead of the scenarios'
    /// `stack.prometheus-version`: 2.42 (Debian's, with Alertmanager 0.25) or 3.16 (built by
    /// scripts/provision.sh, with Alertmanager 0.31).
    #[arg(long, value_name = "VERSION", conflicts_with = "matrix")]
    pub prometheus_version: Option<String>,
    /// Run every scenario against every provisioned Prometheus version and print their
    /// verdicts and times to detect side by side ("will my alerts still fire after the
    /// upgrade?"); also in report.md and report.html.
    #[arg(long)]
    pub matrix: bool,
}

/// Exit 0 when every expectation was met, 1 when any was missed (or a fault failed), 2 for
/// invalid scenarios and run-time configuration errors, 3 when the stack failed, 4 on
/// internal errors, 5 when checks were skipped (unless `--accept-incomplete`), 130 on Ctrl-C.
pub async fn run(args: RunArgs, no_progress: bool) -> i32 {
    if let Ok(found) = scenario::collect_all(&args.paths) {
        for skipped in &found.skipped {
            eprintln!("skipped {skipped}");
        }
    }
    let scenarios = match scenario::load_all(&args.paths) {
        Ok(s) => s,
        Err(problems) => {
            eprintln!("{problems}");
            return exit_code::INVALID_SCENARIO;
        }
    };
    let scenarios = match crate::runner::versions::plan(
        &scenarios,
        args.prometheus_version.as_deref(),
        args.matrix,
    ) {
        Ok((runs, warning)) => {
            if let Some(w) = warning {
                eprintln!("warning: {w}");
            }
            runs
        }
        Err(e) => {
            eprintln!("error: {e}");
            return exit_code::INVALID_SCENARIO;
        }
    };
    let workers = match (args.workers, &args.worker_image) {
        (Some(workers), Some(image)) => Some(crate::runner::WorkerSettings {
            workers,
            image: image.clone(),
            host_network: args.worker_host_network,
        }),
        _ => None,
    };
    if args.dry_run {
        return dry_run(&scenarios, workers.as_ref());
    }
    super::install_cleanup();
    // The first Ctrl-C/SIGTERM asks the run to roll back and stop (a second one, or 15 s,
    // kills everything): Kubernetes faults and Jobs outlive a killed process.
    let (cancel_tx, cancel_rx) = tokio::sync::watch::channel(false);
    let mut shutdown = crate::stack::process::ShutdownListener::new();
    let _shutdown_watch = tokio::spawn(async move {
        shutdown.requested().await;
        let _ = cancel_tx.send(true);
    });
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => return super::report_err(&e, exit_code::INTERNAL_ERROR),
    };
    if let Err(e) = std::fs::create_dir_all(&args.report_dir) {
        eprintln!("error: cannot create {}: {e}", args.report_dir.display());
        return exit_code::INTERNAL_ERROR;
    }

    let (tx, mut rx) = mpsc::unbounded_channel::<RunEvent>();
    let style = TerminalStyle::detect(no_progress);
    // The terminal reporter writes blocking I/O, so it lives on its own thread.
    let reporter = tokio::task::spawn_blocking(move || {
        let mut terminal = TerminalReporter::new(
            // Terminal lines quote errors and notes; credentials in URLs are masked.
            crate::redact::RedactingWriter(std::io::stdout()),
            style,
        );
        while let Some(event) = rx.blocking_recv() {
            if let Err(e) = terminal.handle(&event) {
                tracing::warn!(error = %e, "terminal output failed");
            }
        }
        terminal
    });

    let ctx = RunContext {
        exe,
        report_dir: args.report_dir.clone(),
        events: Some(tx.clone()),
        workers,
        cancel: Some(cancel_rx.clone()),
    };
    let mut runs = Vec::new();
    let mut stack_failed = false;
    // A scenario that passed `check` but asks for something only the run can refuse (e.g. a
    // load target that is not loopback): the input is wrong, not gauntlet.
    let mut invalid_input = false;
    let mut interrupted = false;
    for repetition in 1..=args.repeat {
        if interrupted {
            break;
        }
        let started = SystemTime::now();
        let mut results = RunResults::new(
            started,
            Environment {
                components: Vec::new(),
                host: HostFacts::detect(),
            },
        );
        for s in &scenarios {
            if *cancel_rx.borrow() {
                interrupted = true;
                break;
            }
            let numbered = (args.repeat > 1).then_some(repetition);
            match run_scenario(s, &ctx).await {
                Ok(mut run) => {
                    if results.environment.components.is_empty() {
                        results.environment.components = run.components;
                    } else {
                        add_other_versions(&mut results.environment.components, run.components);
                    }
                    run.result.repetition = numbered;
                    results.scenarios.push(run.result);
                }
                Err(e) => {
                    stack_failed |= e.exit_code() == exit_code::STACK_FAILED;
                    invalid_input |= e.exit_code() == exit_code::INVALID_SCENARIO;
                    interrupted |= matches!(e, crate::runner::RunError::Interrupted);
                    let chain = crate::runner::probes::error_chain(&e);
                    let _ = tx.send(RunEvent::Log {
                        level: report::LogLevel::Error,
                        message: format!("{}: {chain}", s.name),
                    });
                    let mut result = error_result(s, chain);
                    result.repetition = numbered;
                    results.scenarios.push(result);
                }
            }
        }
        results.finished_at = report::rfc3339(SystemTime::now());
        runs.push(results);
    }
    drop(tx);
    drop(ctx);
    let terminal = reporter.await;

    // The reports cover every repetition, each scenario result numbered.
    let Some(all) = combine(&runs) else {
        return exit_code::INTERNAL_ERROR;
    };
    if let Ok(mut terminal) = terminal
        && let Err(e) = terminal.finish(&all)
    {
        tracing::warn!(error = %e, "terminal summary failed");
    }
    let formats = [
        ReportFormat::Json,
        ReportFormat::Junit,
        ReportFormat::Md,
        ReportFormat::Html,
    ];
    match report::write_all(&args.report_dir, &all, &formats) {
        Ok(files) => {
            for f in files {
                println!("wrote {}", f.display());
            }
        }
        Err(e) => return super::report_err(&e, exit_code::INTERNAL_ERROR),
    }
    if runs.len() > 1 {
        println!(
            "{}",
            report::flaky::render_table(&report::flaky::analyze(&runs))
        );
    }
    if let Some(path) = &args.history {
        let mut previous = match report::history::load(path) {
            Ok(p) => p,
            Err(e) => return super::report_err(&e, exit_code::INTERNAL_ERROR),
        };
        let policy = report::history::RegressionPolicy {
            factor: args.regression_factor,
            ..Default::default()
        };
        // Every repetition is an entry of the history, compared with those before it.
        for run in &runs {
            let entry = report::history::summarize(run);
            println!(
                "{}",
                report::history::render_table(&report::history::compare(
                    &previous, &entry, &policy
                ))
            );
            if let Err(e) = report::history::append(path, &entry) {
                return super::report_err(&e, exit_code::INTERNAL_ERROR);
            }
            previous.push(entry);
        }
    }

    let any = |status: ScenarioStatus| {
        runs.iter()
            .flat_map(|r| &r.scenarios)
            .any(|s| s.status == status)
    };
    if interrupted {
        exit_code::INTERRUPTED
    } else if stack_failed {
        exit_code::STACK_FAILED
    } else if invalid_input {
        exit_code::INVALID_SCENARIO
    } else if any(ScenarioStatus::Error) {
        exit_code::INTERNAL_ERROR
    } else if any(ScenarioStatus::Missed) {
        exit_code::EXPECTATION_MISSED
    } else if any(ScenarioStatus::Incomplete) && !args.accept_incomplete {
        exit_code::INCOMPLETE
    } else {
        exit_code::OK
    }
}

/// A run against several Prometheus versions (`--matrix`, or scenarios that pin one) lists
/// every Prometheus and Alertmanager it used under "What was tested", not only the first.
fn add_other_versions(
    components: &mut Vec<crate::report::Component>,
    more: Vec<crate::report::Component>,
) {
    for c in more {
        let versioned = c.name == "prometheus" || c.name == "alertmanager";
        if versioned
            && !components
                .iter()
                .any(|k| k.name == c.name && k.version == c.version)
        {
            components.push(c);
        }
    }
}

/// One report for every repetition: the first run's environment and start, the last one's
/// end, and every scenario result (numbered when repeated).
fn combine(runs: &[RunResults]) -> Option<RunResults> {
    let (first, last) = (runs.first()?, runs.last()?);
    let mut all = first.clone();
    all.finished_at = last.finished_at.clone();
    all.scenarios = runs.iter().flat_map(|r| r.scenarios.clone()).collect();
    Some(all)
}

fn error_result(s: &scenario::Scenario, error: String) -> ScenarioResult {
    ScenarioResult {
        name: s.name.clone(),
        file: s.file.display().to_string(),
        repetition: None,
        status: ScenarioStatus::Error,
        duration_ms: 0,
        phases: Vec::new(),
        faults: Vec::new(),
        expectations: Vec::new(),
        load: None,
        timeseries: Vec::new(),
        overhead: None,
        skipped_reason: None,
        error: Some(error),
        config_notes: s.stack.config_notes.clone(),
        alerts_fired: Vec::new(),
        stack_versions: crate::runner::stack_versions_selected(s),
    }
}

/// Prints each scenario's fault plan; Kubernetes scenarios show the exact API calls, each
/// checked against the opt-in guard's rules before anything could be sent.
fn dry_run(
    scenarios: &[scenario::Scenario],
    workers: Option<&crate::runner::WorkerSettings>,
) -> i32 {
    let mut code = exit_code::OK;
    for s in scenarios {
        println!("scenario {} ({})", s.name, s.file.display());
        if s.stack.provider == scenario::Provider::Kubernetes {
            match crate::cluster::plan(s) {
                Ok(plan) => print!("{}", crate::cluster::render_plan(&plan)),
                Err(e) => code = super::report_err(&e, exit_code::INVALID_SCENARIO),
            }
            if let (Some(w), Some(load)) = (workers, &s.load) {
                println!(
                    "  load: a Job of {} worker pod(s) (image {}{}) in namespace {}, {:.1}/s each for {}, results merged; the Job is deleted afterwards",
                    w.workers,
                    w.image,
                    if w.host_network { ", host network" } else { "" },
                    s.stack.namespace.as_deref().unwrap_or_default(),
                    load.rate / f64::from(w.workers),
                    humantime::format_duration(load.duration)
                );
            }
            continue;
        }
        for f in &s.faults {
            let end = f
                .duration
                .map(|d| format!(", rolled back at {}", humantime::format_duration(f.at + d)))
                .unwrap_or_default();
            println!(
                "  at {}: {} {} on {}{end}",
                humantime::format_duration(f.at),
                f.name,
                f.action.kind(),
                f.target()
            );
        }
    }
    code
}
