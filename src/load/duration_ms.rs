//! Serde helper: a `Duration` as integer milliseconds in JSON reports.

use serde::Serializer;
use std::time::Duration;

/// Serializes `d` as whole milliseconds.
pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
