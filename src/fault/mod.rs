//! Fault injection with guaranteed rollback: every fault is owned by a [`FaultGuard`] that
//! undoes it at its end, on error and on drop, and a [`FaultRegistry`] can undo all active
//! faults at once (for signal handlers).
//!
//! - [`hooks`]: the sample services' admin API (errors, latency, hang, crash, …) with a TTL
//! - [`signal`]: process kill / SIGSTOP by pid or process group
//! - [`proxy`]: a TCP fault proxy (delay, bandwidth, stall, blackhole, reset)
//! - [`http_proxy`]: an HTTP fault proxy in front of a service gauntlet does not own (status
//!   codes, latency, aborted responses), counting what passed through
//! - [`container`]: docker stop / pause / kill through the Engine API
//! - [`guard`]: ownership, rollback and the registry
//! - [`inject`]: from a scenario's fault kind to its mechanism, with a typed error

pub mod container;
pub mod guard;
pub mod hooks;
pub mod http_proxy;
pub mod inject;
pub mod proxy;
pub mod signal;

pub use guard::{FaultError, FaultGuard, FaultRegistry};
pub use hooks::HooksClient;
pub use http_proxy::{HttpEffect, HttpFaultProxy, HttpProxyConfig, HttpProxyCounters, ProxyWindow};
pub use inject::{FaultTargets, InjectError, Injected, Restart, inject};
pub use proxy::{FaultProxy, ProxyConfig, ProxyEffect};
pub use signal::{KillSignal, ProcessTarget};
