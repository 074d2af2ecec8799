//! Wire types of the sample services' fault admin API (`/admin/faults`).
//!
//! Shared by the services (which obey them) and the fault layer (which sends them), so the
//! two cannot drift apart.
//!
//! - `GET /admin/faults` → [`ActiveFaults`]
//! - `POST /admin/faults` with a [`FaultRequest`] → 201 [`FaultCreated`], 400 on bad input
//! - `DELETE /admin/faults/{id}` → 204 (404 if unknown); `DELETE /admin/faults` clears all → 204

use serde::{Deserialize, Serialize};

/// A fault to switch on, with an optional time-to-live after which the service reverts it.
/// (`flatten` is used only on this internal wire type; serde cannot combine it with
/// `deny_unknown_fields`, and users never write it by hand.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRequest {
    #[serde(flatten)]
    pub hook: FaultHook,
    /// Auto-revert after this many milliseconds; `None` keeps it until deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_ms: Option<u64>,
}

/// What the service does wrong while the fault is active.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FaultHook {
    /// Answer a fraction of requests (optionally only on one route) with `status`.
    Errors {
        rate: f64,
        status: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        route: Option<String>,
    },
    /// Delay a fraction of requests by `fixed_ms` plus uniform jitter up to `jitter_ms`.
    Latency {
        fixed_ms: u64,
        #[serde(default)]
        jitter_ms: u64,
        #[serde(default = "one")]
        rate: f64,
    },
    /// Accept a fraction of requests but never answer them.
    Hang {
        #[serde(default = "one")]
        rate: f64,
    },
    /// Exit the process with `exit_code` right after acknowledging the request.
    Crash { exit_code: i32 },
    /// Keep `threads` threads busy spinning.
    CpuBurn { threads: u32 },
    /// Grow resident memory by `mb_per_sec` up to `max_mb`.
    MemoryGrowth { mb_per_sec: u32, max_mb: u32 },
    /// Make calls to the named downstream dependency fail with `status`.
    DependencyFailure {
        dependency: String,
        #[serde(default = "one")]
        rate: f64,
        status: u16,
    },
    /// The task-queue worker stops consuming (the queue backs up).
    QueueStall,
}

fn one() -> f64 {
    1.0
}

impl FaultHook {
    /// The `kind` label used on `gauntlet_fault_active{kind}`.
    pub fn kind(&self) -> &'static str {
        match self {
            FaultHook::Errors { .. } => "errors",
            FaultHook::Latency { .. } => "latency",
            FaultHook::Hang { .. } => "hang",
            FaultHook::Crash { .. } => "crash",
            FaultHook::CpuBurn { .. } => "cpu-burn",
            FaultHook::MemoryGrowth { .. } => "memory-growth",
            FaultHook::DependencyFailure { .. } => "dependency-failure",
            FaultHook::QueueStall => "queue-stall",
        }
    }
}

/// Answer to a successful `POST /admin/faults`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultCreated {
    pub id: String,
}

/// Answer to `GET /admin/faults`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActiveFaults {
    pub faults: Vec<ActiveFault>,
}

/// One active fault as the service reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActiveFault {
    pub id: String,
    #[serde(flatten)]
    pub hook: FaultHook,
    /// Milliseconds until it auto-reverts, if it has a TTL.
    #[serde(default)]
    pub expires_in_ms: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format_is_kebab_tagged() {
        let req = FaultRequest {
            hook: FaultHook::Errors {
                rate: 0.3,
                status: 500,
                route: None,
            },
            ttl_ms: Some(30_000),
        };
        let json = serde_json::to_string(&req).expect("serializes");
        assert_eq!(
            json,
            r#"{"kind":"errors","rate":0.3,"status":500,"ttl_ms":30000}"#
        );
        let back: FaultRequest = serde_json::from_str(r#"{"kind":"queue-stall"}"#).expect("parses");
        assert_eq!(back.hook.kind(), "queue-stall");
        assert_eq!(back.ttl_ms, None);
    }
}
