//! Traced load: journeys against the sample services' frontend, sent on an open-model
//! schedule (or closed-model for benchmarks) with a fresh W3C `traceparent` on every request,
//! measured with coordinated-omission correction into mergeable, pure-data statistics.
//!
//! - [`plan`]: what to send, validation, the loopback guard and the arrival schedule
//! - [`journey`]: the fixed routes of each journey
//! - [`generator`]: the scheduler and request loop (why it is not goose: see there)
//! - [`engine`]: the HTTP client the generator sends with
//! - [`record`]: per-request records, aggregates, per-second series, live samples
//! - [`histogram`]: log-linear latency histogram with exact merge
//! - [`traceparent`]: W3C trace context ids
//! - [`bench`]: `gauntlet bench load`, the generator against wrk on the same endpoint
//! - [`cputime`]: the generator's own CPU time, for the benchmark
//! - [`closed`]: the closed-model engine (goose users with sessions), run in a child process

pub mod bench;
pub mod closed;
mod cputime;
mod duration_ms;
mod engine;
pub mod generator;
pub mod histogram;
pub mod journey;
pub mod plan;
pub mod record;
pub mod traceparent;

pub use generator::{LoadError, LoadOptions, run, run_until};
pub use histogram::Histogram;
pub use journey::Journey;
pub use plan::{JourneyWeight, LoadModel, LoadPlan, PlanError, PlanProblem, Ramp};
pub use record::{LoadReport, LoadSample, LoadSummary, Outcome, RequestRecord};
