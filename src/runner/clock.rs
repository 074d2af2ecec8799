//! The run's clock: milliseconds since the scenario started, the event channel, and the two
//! ways a run is asked to stop early — Ctrl-C, and the scenario's `timeout` cap. Every place
//! the run waits also waits on [`Clock::stopped`], so either stop is seen at once.

use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::report::RunEvent;

/// Why a run stopped before its timeline ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    /// Ctrl-C or SIGTERM.
    Interrupted,
    /// The scenario's `timeout` was reached.
    Timeout,
}

pub(super) struct Clock {
    pub start: Instant,
    pub events: Option<mpsc::UnboundedSender<RunEvent>>,
    /// The run's stop request (Ctrl-C).
    pub cancel: Option<watch::Receiver<bool>>,
    /// The scenario's `timeout`, counted from `start`.
    pub timeout: Duration,
}

impl Clock {
    pub fn ms(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.start).as_millis()).unwrap_or(u64::MAX)
    }

    pub fn now_ms(&self) -> u64 {
        self.ms(Instant::now())
    }

    pub fn emit(&self, event: RunEvent) {
        if let Some(tx) = &self.events {
            // A reporter that went away must not stop the run.
            let _ = tx.send(event);
        }
    }

    /// The instant the scenario's `timeout` is reached.
    pub fn cap(&self) -> Instant {
        self.start + self.timeout
    }

    /// Resolves when the run must stop: Ctrl-C, or the scenario's cap.
    pub async fn stopped(&self) -> Stop {
        let cancelled = async {
            match &self.cancel {
                Some(rx) => {
                    let mut rx = rx.clone();
                    // The sender going away is not a request to stop.
                    if rx.wait_for(|v| *v).await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = cancelled => Stop::Interrupted,
            () = tokio::time::sleep_until(self.cap()) => Stop::Timeout,
        }
    }
}
