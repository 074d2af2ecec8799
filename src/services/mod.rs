//! Sample services: an instrumented microservice fleet (frontend → api-gateway → users /
//! products / orders → worker) with Prometheus metrics, OTLP traces and logs, JSON request
//! logs and fault hooks, plus the OTLP sink and the instrumentation overhead benchmark.
//!
//! Entry points: [`start`] (one service), [`start_fleet`] (all six in one process),
//! [`run_cli`] (`gauntlet services`), [`bench::run_overhead_cli`] (`gauntlet bench
//! overhead`).

pub mod bench;
pub mod capacity;
pub mod cli;
mod client;
pub mod config;
pub mod dialect;
mod faults;
mod fleet;
mod frontend;
mod gateway;
pub mod hooks;
mod listener;
pub mod metrics;
mod orders;
pub mod otlp_sink;
mod products;
mod server;
mod service;
pub mod shop;
mod telemetry;
mod users;
mod worker;

pub use bench::{
    BenchError, OverheadArgs, OverheadConfig, OverheadReport, overhead, run_overhead_cli,
};
pub use cli::{ServicesArgs, run_cli};
pub use config::{
    ConfigError, FleetConfig, Instrumentation, LogCapture, LogOutput, ServiceConfig, ServiceName,
    TraceSampling,
};
pub use dialect::Dialect;
pub use faults::InvalidFault;
pub use fleet::{RunningFleet, start_fleet};
pub use service::{RunningService, ServiceError, start};
pub use telemetry::TelemetryError;
