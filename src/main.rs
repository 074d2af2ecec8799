use clap::Parser;

use gauntlet::cli::{self, Cli};
use gauntlet::exit_code;

fn main() {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.global.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Colour only for a person at a terminal who has not asked for none.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Log fields quote URLs and errors; credentials in them are masked.
        .with_writer(gauntlet::redact::stderr)
        .with_ansi(ansi)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gauntlet: cannot start the async runtime: {e}");
            std::process::exit(exit_code::INTERNAL_ERROR);
        }
    };
    let code = runtime.block_on(cli::run(cli));
    std::process::exit(code);
}
