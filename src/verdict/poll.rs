//! The one polling primitive: probe until a condition holds or a deadline passes, with
//! capped backoff, keeping what was last seen so a miss can say "last observed 0.7 % at 12.3 s".
//!
//! Nothing else in gauntlet sleeps ad hoc while waiting for the stack.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// What one probe saw.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe<T> {
    /// The condition holds; carries the evidence.
    Met(T),
    /// Not yet; carries a human description of what was seen ("0 series", "state=pending").
    NotYet(String),
    /// The probe itself failed (backend unreachable); retried like NotYet but reported apart.
    Failed(String),
}

/// How often to probe: starts at `initial`, multiplies by 1.5, never above `max`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(500),
        }
    }
}

/// Result of polling until a deadline.
#[derive(Debug, Clone, PartialEq)]
pub struct PollOutcome<T> {
    /// The evidence and when it was first seen, if the condition was met in time.
    pub met: Option<(T, Instant)>,
    /// What the last probe that did not meet saw, with when it saw it.
    pub last_observed: Option<(String, Instant)>,
    /// The last probe failure, if any (kept apart so "backend down" is not hidden).
    pub last_failure: Option<String>,
    pub attempts: u32,
}

/// Probes until it returns [`Probe::Met`] or `deadline` passes. A probe is always made at
/// least once, and once more right at the deadline so a late but in-time reaction counts.
pub async fn poll_until<T, F, Fut>(
    deadline: Instant,
    backoff: Backoff,
    mut probe: F,
) -> PollOutcome<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Probe<T>>,
{
    let mut outcome = PollOutcome {
        met: None,
        last_observed: None,
        last_failure: None,
        attempts: 0,
    };
    let mut wait = backoff.initial;
    loop {
        let seen = probe().await;
        let now = Instant::now();
        outcome.attempts += 1;
        match seen {
            Probe::Met(evidence) => {
                outcome.met = Some((evidence, now));
                return outcome;
            }
            Probe::NotYet(what) => outcome.last_observed = Some((what, now)),
            Probe::Failed(why) => outcome.last_failure = Some(why),
        }
        if now >= deadline {
            return outcome;
        }
        let next = (now + wait).min(deadline);
        tokio::time::sleep_until(next).await;
        wait = wait.mul_f64(1.5).min(backoff.max);
    }
}

/// Probes throughout a window; returns the first violation seen (`Probe::Met` means "the
/// forbidden thing happened"), or the number of clean probes when none was.
pub async fn watch_window<T, F, Fut>(
    until: Instant,
    interval: Duration,
    mut probe: F,
) -> Result<u32, (T, Instant)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Probe<T>>,
{
    let mut clean = 0;
    loop {
        if let Probe::Met(violation) = probe().await {
            return Err((violation, Instant::now()));
        }
        clean += 1;
        let now = Instant::now();
        if now >= until {
            return Ok(clean);
        }
        tokio::time::sleep_until((now + interval).min(until)).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn meets_when_the_condition_turns_true_and_records_when() {
        let start = Instant::now();
        let calls = Arc::new(AtomicU32::new(0));
        let c = calls.clone();
        let out = poll_until(
            start + Duration::from_secs(10),
            Backoff::default(),
            move || {
                let n = c.fetch_add(1, Ordering::SeqCst);
                async move {
                    if Instant::now() - start >= Duration::from_secs(2) {
                        Probe::Met(n)
                    } else {
                        Probe::NotYet(format!("value {n}"))
                    }
                }
            },
        )
        .await;
        let (_, at) = out.met.expect("met before the deadline");
        let elapsed = at - start;
        // Capped backoff (500 ms) bounds how late the reaction is noticed.
        assert!(
            elapsed >= Duration::from_secs(2) && elapsed <= Duration::from_millis(2500),
            "{elapsed:?}"
        );
        assert!(
            out.last_observed
                .expect("saw not-yet first")
                .0
                .starts_with("value ")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_miss_keeps_the_last_value_seen_and_probes_at_the_deadline() {
        let start = Instant::now();
        let deadline = start + Duration::from_secs(3);
        let out = poll_until::<(), _, _>(deadline, Backoff::default(), || async {
            Probe::NotYet(format!(
                "error rate 0.7% at {:.1}s",
                (Instant::now() - start).as_secs_f64()
            ))
        })
        .await;
        assert!(out.met.is_none());
        let (last, at) = out.last_observed.expect("observed");
        assert_eq!(at, deadline, "the final probe happens at the deadline");
        assert_eq!(last, "error rate 0.7% at 3.0s");
        assert!(out.attempts >= 7, "{} attempts", out.attempts);
    }

    #[tokio::test(start_paused = true)]
    async fn failures_are_reported_apart() {
        let start = Instant::now();
        let out = poll_until::<(), _, _>(
            start + Duration::from_secs(1),
            Backoff::default(),
            || async { Probe::Failed("connection refused".into()) },
        )
        .await;
        assert_eq!(out.last_failure.as_deref(), Some("connection refused"));
        assert!(out.last_observed.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn window_reports_the_first_violation() {
        let start = Instant::now();
        let clean = watch_window::<(), _, _>(
            start + Duration::from_secs(2),
            Duration::from_millis(500),
            || async { Probe::NotYet("no alerts".into()) },
        )
        .await;
        assert_eq!(clean, Ok(5));
        let violated = watch_window(
            start + Duration::from_secs(10),
            Duration::from_millis(500),
            || async {
                if Instant::now() - start > Duration::from_secs(4) {
                    Probe::Met("HighErrorRate firing")
                } else {
                    Probe::NotYet("quiet".into())
                }
            },
        )
        .await;
        let (what, at) = violated.expect_err("an alert fired");
        assert_eq!(what, "HighErrorRate firing");
        assert!(at - start > Duration::from_secs(4));
    }
}
