//! Documented process exit codes (README "Exit codes").

/// Every expectation was met (or the command succeeded).
pub const OK: i32 = 0;
/// At least one expectation was missed; reports were still written.
pub const EXPECTATION_MISSED: i32 = 1;
/// A scenario file (or other user input) is invalid.
pub const INVALID_SCENARIO: i32 = 2;
/// The stack (or the sample services) failed to start.
pub const STACK_FAILED: i32 = 3;
/// gauntlet itself failed, or the command is not available yet.
pub const INTERNAL_ERROR: i32 = 4;
/// Nothing was missed, but some expectations could not be evaluated (skipped, with their
/// reasons), so the run did not prove what the scenario asks. `--accept-incomplete` turns
/// this into 0.
pub const INCOMPLETE: i32 = 5;
/// Stopped by Ctrl-C or SIGTERM after rolling back faults and writing the reports (the shell
/// convention for SIGINT).
pub const INTERRUPTED: i32 = 130;
