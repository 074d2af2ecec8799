//! gauntlet: proves an observability stack reacts to failures before it is trusted.
//!
//! The modules follow the pipeline (see `ARCHITECTURE.md`):
//! scenario → stack → services → load → fault → observe → verdict → runner → report.

pub mod cli;
pub mod cluster;
mod error_chain;
pub mod exit_code;
pub mod fault;
pub mod load;
pub mod observe;
pub mod redact;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod services;
pub mod stack;
pub mod testing;
pub mod verdict;

pub use error_chain::error_chain;
