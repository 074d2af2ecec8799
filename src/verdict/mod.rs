//! Verdicts: the polling primitive (`poll`), the pure checks that turn one backend answer
//! into met / not yet / could not ask (`checks`), and the pure decision of an expectation
//! from everything polling saw, against its reference and deadline (`decide`), and the
//! reading of the backends' answers that explains a miss (`explain`), and the alerts that
//! fired with their runbook annotations (`runbooks`).

pub mod checks;
pub mod decide;
pub mod explain;
pub mod poll;
pub mod runbooks;

pub use decide::{BackendTime, Decision, Evidence, ProbeTime, Reference};
pub use poll::{Backoff, PollOutcome, Probe, Seen, WindowOutcome, poll_until, watch_window};
