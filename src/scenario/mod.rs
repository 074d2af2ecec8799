//! Scenario files: YAML → raw serde structs → pure validation → [`Scenario`] model.

pub mod diagnostic;
pub mod source;
