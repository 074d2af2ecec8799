//! Stack providers: bring the observability stack up and take it down.
//!
//! - [`native`]: Prometheus, Alertmanager, Jaeger v2 (collector and query roles) and
//!   VictoriaLogs as child processes on OS-chosen loopback ports.
//! - [`compose`]: the same components as containers (local images, host network) from a
//!   compose file, through testcontainers.
//! - [`opensearch`]: `stack.trace-store`, Jaeger's span storage (memory, or OpenSearch).
//! - [`running`]: what every provider exposes once up (URLs, components).
//! - [`alertmanager`]: the user's Alertmanager config, run as written with its receivers
//!   redirected to gauntlet's webhook sink.
//! - [`process`]: the owner of every child process gauntlet starts (process groups, cleanup
//!   on drop, signals and panics).
//! - [`cli`]: `stack up` / `stack down`, `doctor`, `bench startup`.

pub mod alertmanager;
pub mod binaries;
pub mod cli;
pub mod compose;
pub mod config;
pub mod doctor;
pub mod native;
pub mod opensearch;
pub mod ports;
pub mod process;
pub mod running;
pub mod template;
pub mod versions;

pub use compose::ComposeStack;
pub use config::StackConfig;
pub use native::{ComponentFailure, NativeError, NativeStack};
pub use opensearch::TraceStore;
pub use process::{ManagedProcess, ProcessError, install_signal_cleanup};
pub use running::{ComponentInfo, LogStoreKind, StackUrls};
pub use versions::PrometheusVersion;
