//! Development entry point for the sample services until the lead wires them into the
//! `gauntlet` binary:
//!
//! ```text
//! cargo run --example services -- services [--only orders --upstream worker=URL ...]
//! cargo run --release --example services -- bench-overhead [--rate 300 --duration 10s]
//! ```

use std::process::ExitCode;

use clap::Parser;
use gauntlet::services::{OverheadArgs, ServicesArgs, run_cli, run_overhead_cli};

#[derive(Parser)]
enum Cmd {
    /// Run the sample services.
    Services(ServicesArgs),
    /// Measure instrumentation overhead.
    BenchOverhead(OverheadArgs),
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        out.push_str(&format!("\n  caused by: {s}"));
        src = s.source();
    }
    out
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let result = match Cmd::parse() {
        Cmd::Services(a) => run_cli(a).await.map_err(|e| chain(&e)),
        Cmd::BenchOverhead(a) => run_overhead_cli(a).await.map_err(|e| chain(&e)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(4)
        }
    }
}
