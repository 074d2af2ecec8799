//! Verdicts: the polling primitive and the pure evaluation of observations against
//! expectations and deadlines.

pub mod checks;
pub mod poll;

pub use poll::{Backoff, PollOutcome, Probe, poll_until, watch_window};
