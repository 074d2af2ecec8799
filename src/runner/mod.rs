//! The runner: phases of a scenario run (stack → services → warm-up → steady state → faults
//! → recovery → teardown), emitting events for the reporters.

pub mod attach;
pub mod engine;
pub mod fleet;
pub mod probes;
pub mod rules;

pub use engine::{RunContext, RunError, ScenarioRun, WorkerSettings, run_scenario};
