//! Helpers for tests that need real backends, and (later) the public API for running a
//! scenario from a user's own `#[tokio::test]`.
//!
//! A test whose backend is missing reports *skipped with the reason*; when
//! `GAUNTLET_REQUIRE_STACK=1` (CI) the same situation fails the test instead.

/// Environment variable that turns a missing backend into a test failure.
pub const REQUIRE_STACK_ENV: &str = "GAUNTLET_REQUIRE_STACK";

/// Whether missing backends must fail tests (`GAUNTLET_REQUIRE_STACK=1`).
pub fn stack_required() -> bool {
    std::env::var(REQUIRE_STACK_ENV).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// Returns `Some(value)` when the backend is available; otherwise prints a `SKIPPED` line with
/// the reason and returns `None`, or panics (fails the test) under `GAUNTLET_REQUIRE_STACK=1`.
///
/// ```no_run
/// # fn find() -> Result<std::path::PathBuf, String> { Err("not installed".into()) }
/// let Some(bin) = gauntlet::testing::require("prometheus", find()) else { return };
/// ```
#[track_caller]
pub fn require<T>(what: &str, availability: Result<T, String>) -> Option<T> {
    match availability {
        Ok(v) => Some(v),
        Err(reason) if stack_required() => {
            panic!("{what} is required ({REQUIRE_STACK_ENV}=1) but unavailable: {reason}")
        }
        Err(reason) => {
            eprintln!("SKIPPED: {what} unavailable: {reason}");
            None
        }
    }
}
