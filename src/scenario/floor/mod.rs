//! Timing floors: the earliest a correct stack can react, from the scenario's own intervals
//! and from the alert rules' expressions.
//!
//! `timing.rs` adds up the parts per expectation kind (scrape, evaluation, `for`,
//! `group_wait`, …); `hold.rs` reads an alert rule's PromQL and says how long its result is
//! guaranteed to outlast the signal that caused it (range windows, offsets), which delays a
//! `resolved`. A deadline below its floor could be missed through timing alone, so the
//! validator rejects it, and reports print each time-to-detect next to its floor.

mod hold;
mod timing;

pub use hold::{Hold, resolve_hold};
pub use timing::timing_floor;
