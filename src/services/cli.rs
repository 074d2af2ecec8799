//! `gauntlet services`: run the whole fleet in this process (prints `name url` per
//! service), or one service with `--only` (prints `READY name url` once listening), until
//! SIGINT or SIGTERM.
//!
//! A crash fault in `--only` mode ends the process with the fault's exit code, without
//! flushing telemetry, as a real crash would.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use super::config::{
    FleetConfig, Instrumentation, LogOutput, ServiceConfig, ServiceName, TraceSampling,
};
use super::dialect::Dialect;
use super::fleet::start_fleet;
use super::service::{ServiceError, start};

/// Run the instrumented sample services (frontend, api-gateway, users, products, orders,
/// worker).
#[derive(Debug, Clone, clap::Args)]
pub struct ServicesArgs {
    /// Run only this service (one per process) and print `READY <name> <url>` once it
    /// listens; without it the whole fleet runs here and prints `<name> <url>` per service.
    #[arg(long, value_enum)]
    pub only: Option<ServiceName>,

    /// Address to listen on. With --only any port works (0: the OS picks); for the whole
    /// fleet only the IP is used and every port comes from the OS.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,

    /// An upstream of the --only service as NAME=URL (repeatable), e.g.
    /// `worker=http://127.0.0.1:9000`; replicas as NAME=URL,URL,... (called round-robin).
    #[arg(long = "upstream", value_name = "NAME=URL", value_parser = parse_upstream)]
    pub upstreams: Vec<(ServiceName, String)>,

    /// OTLP/HTTP base URL for traces and logs, e.g. http://127.0.0.1:4318 (`/v1/traces` and
    /// `/v1/logs` are appended). Without it nothing is exported.
    #[arg(long)]
    pub otlp_endpoint: Option<String>,

    /// How much telemetry to produce.
    #[arg(long, value_enum, default_value_t = Instrumentation::Full)]
    pub instrumentation: Instrumentation,

    /// Value of the `deployment.id` resource attribute.
    #[arg(long, default_value = "local")]
    pub deployment_id: String,

    /// Trace sampling: always-on (follow the caller, sample every root), parent-ratio=R
    /// (follow the caller, sample roots with probability R) or ratio=R (by trace id only).
    #[arg(long, default_value = "always-on")]
    pub sampling: TraceSampling,

    /// Do not print one JSON line per request on stdout.
    #[arg(long)]
    pub no_json_logs: bool,

    /// Deadline of each call to an upstream.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub upstream_timeout: Duration,

    /// How often spans and log records are exported.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub export_interval: Duration,

    /// The names the HTTP metrics are exposed under.
    #[arg(long, value_enum, default_value_t = Dialect::Gauntlet)]
    pub dialect: Dialect,
}

fn parse_upstream(text: &str) -> Result<(ServiceName, String), String> {
    let (name, url) = text
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=URL, got {text:?}"))?;
    let name = name.parse::<ServiceName>().map_err(|e| e.to_string())?;
    Ok((name, url.to_owned()))
}

/// Runs `gauntlet services` until SIGINT or SIGTERM, then shuts down cleanly (telemetry
/// flushed).
pub async fn run_cli(args: ServicesArgs) -> Result<(), ServiceError> {
    let log_output = if args.no_json_logs {
        LogOutput::Off
    } else {
        LogOutput::Stdout
    };
    // Installed before starting so a signal during start-up is not lost.
    let mut signals = Signals::new()?;
    match args.only {
        Some(name) => {
            let mut cfg = ServiceConfig::new(name, args.listen);
            cfg.upstreams = args.upstreams.into_iter().collect::<BTreeMap<_, _>>();
            cfg.otlp_endpoint = args.otlp_endpoint;
            cfg.instrumentation = args.instrumentation;
            cfg.deployment_id = args.deployment_id;
            cfg.sampling = args.sampling;
            cfg.log_output = log_output;
            cfg.upstream_timeout = args.upstream_timeout;
            cfg.export_interval = args.export_interval;
            cfg.dialect = args.dialect;
            let svc = start(cfg).await?;
            print_line(&format!("READY {} {}", svc.name(), svc.url()))?;
            tokio::select! {
                sig = signals.recv() => {
                    tracing::info!(signal = sig, service = %name, "stopping");
                    svc.shutdown().await;
                    Ok(())
                }
                code = svc.crashed() => {
                    let _ = std::io::stdout().flush();
                    eprintln!("CRASHED {name} exit code {code} (injected crash fault)");
                    // The fault asks for a dead process: no cleanup, no flush.
                    std::process::exit(code);
                }
            }
        }
        None => {
            if !args.upstreams.is_empty() {
                return Err(ServiceError::Usage(
                    "--upstream applies only with --only (the fleet wires itself)".to_owned(),
                ));
            }
            if args.listen.port() != 0 {
                return Err(ServiceError::Usage(
                    "the fleet picks its own ports: use --listen IP:0 without --only".to_owned(),
                ));
            }
            let fleet = start_fleet(FleetConfig {
                host: args.listen.ip(),
                otlp_endpoint: args.otlp_endpoint,
                instrumentation: args.instrumentation,
                deployment_id: args.deployment_id,
                sampling: args.sampling,
                log_output,
                upstream_timeout: args.upstream_timeout,
                export_interval: args.export_interval,
                dialect: args.dialect,
            })
            .await?;
            let lines: Vec<String> = fleet
                .urls()
                .into_iter()
                .map(|(n, u)| format!("{n} {u}"))
                .collect();
            print_line(&lines.join("\n"))?;
            // A crash fault stops one service; say so, keep the others running.
            let crashes = futures::future::join_all(fleet.services().map(|s| async move {
                let code = s.crashed().await;
                eprintln!(
                    "CRASHED {} exit code {code} (injected crash fault)",
                    s.name()
                );
            }));
            let report_crashes = async {
                crashes.await;
                std::future::pending::<&'static str>().await
            };
            let sig = tokio::select! {
                sig = signals.recv() => sig,
                never = report_crashes => never,
            };
            tracing::info!(signal = sig, "stopping the fleet");
            fleet.shutdown().await;
            Ok(())
        }
    }
}

fn print_line(text: &str) -> Result<(), ServiceError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(ServiceError::Output)
}

/// SIGINT and SIGTERM.
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Self, ServiceError> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            int: signal(SignalKind::interrupt()).map_err(ServiceError::Signal)?,
            term: signal(SignalKind::terminate()).map_err(ServiceError::Signal)?,
        })
    }

    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "SIGINT",
            _ = self.term.recv() => "SIGTERM",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ServicesArgs,
    }

    #[test]
    fn parses_a_single_service_command_line() {
        let cli = Cli::try_parse_from([
            "x",
            "--only",
            "orders",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "worker=http://127.0.0.1:9000",
            "--otlp-endpoint",
            "http://127.0.0.1:4318",
            "--instrumentation",
            "metrics",
            "--sampling",
            "parent-ratio=0.25",
        ])
        .expect("parses");
        assert_eq!(cli.args.only, Some(ServiceName::Orders));
        assert_eq!(
            cli.args.upstreams,
            vec![(ServiceName::Worker, "http://127.0.0.1:9000".to_owned())]
        );
        assert_eq!(cli.args.instrumentation, Instrumentation::Metrics);
        assert_eq!(cli.args.sampling, TraceSampling::ParentBasedRatio(0.25));
        let err = Cli::try_parse_from(["x", "--upstream", "cart=http://x"])
            .err()
            .expect("unknown service is rejected")
            .to_string();
        assert!(err.contains("unknown service \"cart\""), "{err}");
        let ok = Cli::try_parse_from(["x", "--only", "api-gateway"]).expect("kebab-case");
        assert_eq!(ok.args.only, Some(ServiceName::ApiGateway));
    }
}
