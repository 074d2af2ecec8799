//! Command-line interface: clap definitions (doc comments are the help) and dispatch.
//!
//! `main.rs` only parses and exits; every subcommand returns an exit code from
//! [`crate::exit_code`].

mod check;
mod run;

use std::io::Write as _;

use clap::{Args, Parser, Subcommand};

use crate::exit_code;

/// Proves an observability stack reacts to failures before it is trusted in production.
#[derive(Debug, Parser)]
#[command(name = "gauntlet", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand shares.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Never draw progress bars (they are drawn only on a terminal anyway).
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// Log filter for gauntlet's own diagnostics (tracing `EnvFilter` syntax).
    #[arg(long, global = true, env = "GAUNTLET_LOG", default_value = "warn")]
    pub log: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run scenarios end to end against a real stack.
    Run(run::RunArgs),
    /// Validate scenario files without touching the network or Docker.
    Check(check::CheckArgs),
    /// List the scenarios in files or directories.
    List(check::ListArgs),
    /// Start or stop the observability stack on its own.
    #[command(subcommand)]
    Stack(StackCommand),
    /// Run a local Kubernetes control plane (etcd, API server, controllers, scheduler, kwok).
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Run the instrumented sample services.
    Services(crate::services::ServicesArgs),
    /// Re-render reports from a saved results.json.
    Report(crate::report::ReportArgs),
    /// Show which backends are installed, their versions, and whether Docker answers.
    Doctor,
    /// Measure gauntlet itself.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// One distributed load worker (run by the Kubernetes Job `gauntlet run --workers` creates).
    #[command(hide = true)]
    LoadWorker(crate::cluster::LoadWorkerArgs),
    /// Closed-model (goose) load for `gauntlet run`: a plan on stdin, JSON lines on stdout.
    #[command(hide = true)]
    ClosedWorker,
    /// The pod sandbox of `gauntlet cluster up --kubelet` (its `pause` image): waits for
    /// SIGTERM or SIGINT, then exits 0.
    #[command(hide = true)]
    Pause,
}

#[derive(Debug, Subcommand)]
pub enum StackCommand {
    /// Start the native stack, print its URLs and keep it running until Ctrl-C (or --detach).
    Up(crate::stack::cli::StackUpArgs),
    /// Stop a stack started with `stack up --detach`.
    Down(crate::stack::cli::StackDownArgs),
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Start the control plane, print its kubeconfig and keep it running until Ctrl-C.
    Up(crate::cluster::local::cli::ClusterUpArgs),
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// gauntlet's load generator against wrk on the same endpoint, side by side.
    Load(crate::load::bench::BenchLoadArgs),
    /// Instrumentation off vs full through the 3-hop path at the same open-model rate.
    Overhead(crate::services::OverheadArgs),
    /// Time from start to all-ready for the native stack.
    Startup(crate::stack::cli::BenchStartupArgs),
    /// The sample fleet's knee: the highest open-model rate that keeps p95 and errors under
    /// their limits, instrumentation off and full.
    Capacity(crate::services::capacity::CapacityArgs),
}

/// Runs the parsed command and returns the process exit code.
pub async fn run(cli: Cli) -> i32 {
    match cli.command {
        Command::Check(args) => check::check(&args),
        Command::List(args) => check::list(&args),
        Command::Run(args) => run::run(args, cli.global.no_progress).await,
        Command::Stack(StackCommand::Up(args)) => {
            install_cleanup();
            report(
                crate::stack::cli::stack_up(&args, &mut std::io::stdout()).await,
                exit_code::STACK_FAILED,
            )
        }
        Command::Stack(StackCommand::Down(args)) => report(
            crate::stack::cli::stack_down(&args, &mut std::io::stdout()).await,
            exit_code::STACK_FAILED,
        ),
        Command::Cluster(ClusterCommand::Up(args)) => {
            install_cleanup();
            report(
                crate::cluster::local::cli::cluster_up(&args, &mut std::io::stdout()).await,
                exit_code::STACK_FAILED,
            )
        }
        Command::Services(args) => {
            install_cleanup();
            report(
                crate::services::run_cli(args).await,
                exit_code::STACK_FAILED,
            )
        }
        Command::Report(args) => report(
            crate::report::run_report_cli(args),
            exit_code::INTERNAL_ERROR,
        ),
        Command::Doctor => {
            let doctor = crate::stack::cli::doctor().await;
            print!("{doctor}");
            let _ = std::io::stdout().flush();
            if doctor.native_stack_ready() {
                exit_code::OK
            } else {
                exit_code::STACK_FAILED
            }
        }
        Command::LoadWorker(args) => match crate::cluster::run_load_worker(args).await {
            Ok(_) => exit_code::OK,
            Err(e) => report_err(&e, exit_code::INTERNAL_ERROR),
        },
        Command::ClosedWorker => match crate::load::closed::run_worker().await {
            0 => exit_code::OK,
            _ => exit_code::INTERNAL_ERROR,
        },
        Command::Pause => pause().await,
        Command::Bench(BenchCommand::Load(args)) => {
            match crate::load::bench::bench_load(&args).await {
                Ok(report) => {
                    println!("{}", report.render());
                    exit_code::OK
                }
                Err(e) => report_err(&e, exit_code::INTERNAL_ERROR),
            }
        }
        Command::Bench(BenchCommand::Overhead(args)) => {
            install_cleanup();
            report(
                crate::services::run_overhead_cli(args).await,
                exit_code::INTERNAL_ERROR,
            )
        }
        Command::Bench(BenchCommand::Capacity(args)) => {
            install_cleanup();
            report(
                crate::services::capacity::run_capacity_cli(args).await,
                exit_code::INTERNAL_ERROR,
            )
        }
        Command::Bench(BenchCommand::Startup(args)) => {
            install_cleanup();
            match crate::stack::cli::bench_startup(&args, &mut std::io::stdout()).await {
                // bench_startup has printed each run and the summary.
                Ok(_) => exit_code::OK,
                Err(e) => report_err(&e, exit_code::STACK_FAILED),
            }
        }
    }
}

/// Child processes die with gauntlet on Ctrl-C, SIGTERM and panics.
pub(crate) fn install_cleanup() {
    crate::stack::process::install_panic_cleanup();
    if let Err(e) = crate::stack::process::install_signal_cleanup() {
        tracing::warn!(error = %e, "cannot install the signal handler; children may outlive an interrupt");
    }
}

fn report<E: std::error::Error>(result: Result<(), E>, code: i32) -> i32 {
    match result {
        Ok(()) => exit_code::OK,
        Err(e) => report_err(&e, code),
    }
}

/// Prints the error with its whole cause chain.
pub(crate) fn report_err(e: &dyn std::error::Error, code: i32) -> i32 {
    eprintln!("error: {e}");
    let mut source = e.source();
    while let Some(s) = source {
        eprintln!("  caused by: {s}");
        source = s.source();
    }
    code
}

/// Holds a pod's namespaces open until the runtime stops it. As PID 1 of its pod, a signal
/// without a handler would be ignored, so both are handled.
async fn pause() -> i32 {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
            exit_code::OK
        }
        (Err(e), _) | (_, Err(e)) => report_err(&e, exit_code::INTERNAL_ERROR),
    }
}
