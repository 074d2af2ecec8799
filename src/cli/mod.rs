//! Command-line interface: clap definitions (doc comments are the help) and dispatch.
//!
//! `main.rs` only parses and exits; every subcommand returns an exit code from
//! [`crate::exit_code`].

mod check;

use std::path::PathBuf;

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
    Run(RunArgs),
    /// Validate scenario files without touching the network or Docker.
    Check(check::CheckArgs),
    /// List the scenarios in files or directories.
    List(check::ListArgs),
    /// Start or stop the observability stack on its own.
    #[command(subcommand)]
    Stack(StackCommand),
    /// Run the instrumented sample services.
    Services,
    /// Re-render reports from a saved results.json.
    Report,
    /// Show which backends are installed, their versions, and whether Docker answers.
    Doctor,
    /// Measure gauntlet itself (load generator, instrumentation overhead, stack start-up).
    Bench,
}

/// `gauntlet run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario files or directories.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Where results.json, junit.xml and the report are written.
    #[arg(long, default_value = "gauntlet-report")]
    pub report_dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum StackCommand {
    /// Start the stack and print its URLs.
    Up,
    /// Stop a stack started with `stack up --detach`.
    Down,
}

/// Runs the parsed command and returns the process exit code.
pub async fn run(cli: Cli) -> i32 {
    match cli.command {
        Command::Check(args) => check::check(&args),
        Command::List(args) => check::list(&args),
        Command::Run(_) => not_yet("run", "the engine (issue \"The engine\")"),
        Command::Stack(_) => not_yet("stack", "the stack providers"),
        Command::Services => not_yet("services", "the sample services"),
        Command::Report => not_yet("report", "the reporters"),
        Command::Doctor => not_yet("doctor", "the stack providers"),
        Command::Bench => not_yet("bench", "the benchmarks"),
    }
}

/// Subcommands whose capability has not landed say so and fail; they never pretend.
fn not_yet(command: &str, capability: &str) -> i32 {
    eprintln!("gauntlet {command}: not available in this build yet: it needs {capability}");
    exit_code::INTERNAL_ERROR
}
