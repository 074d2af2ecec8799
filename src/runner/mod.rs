//! The runner: phases of a scenario run (stack → services → warm-up → steady state → faults
//! → recovery → teardown), emitting events for the reporters.

pub mod rules;
