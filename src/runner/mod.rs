//! The runner: phases of a scenario run (stack → services → warm-up → steady state → faults
//! → recovery → teardown), emitting events for the reporters.
//!
//! - `run`: one run from start to teardown, under the scenario's `timeout` cap
//! - `clock`: time since the start, events, and the stop requests (Ctrl-C, the cap)
//! - `stack`: the stack as the runner sees it, and what faults can act on
//! - `fleet`: the sample services, one process each, with fault proxies on named links
//! - `load`: the run's load and the failed requests' trace ids
//! - `timeline`: faults injected and rolled back on schedule (`fault::inject` does each)
//! - `expectations`: one task per expectation; `probes` asks the backends, and
//!   `verdict::decide` says met or missed
//! - `explain`: at a miss, asks the backends why (rules, selectors, Alertmanager's view)
//! - `overhead`: the instrumentation overhead expectation
//! - `completeness`: telemetry loss, what the run sent against what each store holds
//! - `runbooks`: at the end, the alerts that fired with their annotations
//! - `attach`: stacks gauntlet does not start; `rules`: rule files with `for` overridden;
//!   `promtool`: the rule files checked by the promtool of the Prometheus version that runs
//! - `versions`: which Prometheus/Alertmanager each run uses (`--prometheus-version`, `--matrix`)

pub mod attach;
mod clock;
mod closed_load;
pub mod completeness;
mod expectations;
pub mod explain;
pub mod fleet;
mod load;
mod overhead;
pub mod probes;
mod promtool;
pub mod rules;
mod run;
mod runbooks;
mod stack;
mod timeline;
pub mod versions;

pub use run::{
    RunContext, RunError, ScenarioRun, WorkerSettings, run_scenario, stack_versions_selected,
};
