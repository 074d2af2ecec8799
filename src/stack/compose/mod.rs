//! The compose provider: the stack's services from a compose file (our own parser of the
//! subset we support), run as local-image containers on the host network through
//! testcontainers, with a Docker daemon gauntlet starts when none answers.

pub mod docker;
pub mod file;
pub mod provider;

pub use file::{ComposeFile, ComposeFileError};
pub use provider::{ComposeError, ComposeStack};
