//! Scenario files: YAML → raw serde structs → pure validation → [`Scenario`] model.
//!
//! `gauntlet check` runs this module alone: no network, no Docker.

pub mod datasources;
pub mod diagnostic;
pub mod fault_kinds;
pub mod files;
pub mod floor;
pub mod model;
pub mod raw;
pub mod references;
pub mod relabel;
pub mod source;
pub mod validate;
pub mod values;

pub use diagnostic::{Diagnostic, Diagnostics};
pub use files::{Collected, Skipped, collect, collect_all, load, load_all};
pub use model::*;
pub use validate::validate_text;
