//! The one polling primitive: probe until a condition holds or a deadline passes, with
//! capped backoff, keeping what was last seen so a miss can say "last observed 0.7 % at 12.3 s".
//!
//! Nothing else in gauntlet sleeps ad hoc while waiting for the stack.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// What one probe saw: the three answers. Only `Met` ever counts.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe<T> {
    /// The condition holds; carries the evidence.
    Met(T),
    /// The backend answered and the condition does not hold (yet); carries what was seen
    /// ("0 series", "state=pending").
    NotYet(String),
    /// The backend could not be asked (unreachable, error answer): nothing was observed.
    /// Retried like `NotYet`, but never counted as a clean observation.
    CouldNotAsk(String),
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

/// The probe that met a condition, with its timing.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen<T> {
    pub evidence: T,
    /// When the probe that met was sent.
    pub sent: Instant,
    /// When its answer arrived.
    pub answered: Instant,
    /// When the probe before it (which did not meet) was sent: the reaction happened after.
    pub previous_sent: Option<Instant>,
}

/// Result of polling until a deadline.
#[derive(Debug, Clone, PartialEq)]
pub struct PollOutcome<T> {
    /// The probe that met the condition, if one did before polling stopped.
    pub met: Option<Seen<T>>,
    /// What the last probe that did not meet saw, with when it saw it.
    pub last_observed: Option<(String, Instant)>,
    /// The last probe that could not ask, with when (kept apart so "backend down" is not
    /// hidden).
    pub last_failure: Option<(String, Instant)>,
    pub attempts: u32,
}

/// Probes until it returns [`Probe::Met`] or `deadline` passes. A probe is always made at
/// least once, and once more right at the deadline so a late but in-time reaction counts.
/// Whether a met probe was in time is the verdict's to decide (`verdict::decide`), from its
/// send or answer time or the backend's own timestamp.
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
    let mut previous_sent = None;
    loop {
        let sent = Instant::now();
        let seen = probe().await;
        let now = Instant::now();
        outcome.attempts += 1;
        match seen {
            Probe::Met(evidence) => {
                outcome.met = Some(Seen {
                    evidence,
                    sent,
                    answered: now,
                    previous_sent,
                });
                return outcome;
            }
            Probe::NotYet(what) => outcome.last_observed = Some((what, now)),
            Probe::CouldNotAsk(why) => outcome.last_failure = Some((why, now)),
        }
        previous_sent = Some(sent);
        if now >= deadline {
            return outcome;
        }
        let next = (now + wait).min(deadline);
        tokio::time::sleep_until(next).await;
        wait = wait.mul_f64(1.5).min(backoff.max);
    }
}

/// What watching a window saw.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowOutcome<T> {
    /// Probes made, clean or not.
    pub probes: u32,
    /// Probes that could not ask the backend: the window was not watched then.
    pub could_not_ask: u32,
    /// The last of those, with when.
    pub last_failure: Option<(String, Instant)>,
    /// The first violation (`Probe::Met` means "the forbidden thing happened"); watching
    /// stops there.
    pub violation: Option<(T, Instant)>,
}

/// Probes throughout a window, until it ends or the first violation.
pub async fn watch_window<T, F, Fut>(
    until: Instant,
    interval: Duration,
    mut probe: F,
) -> WindowOutcome<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Probe<T>>,
{
    let mut outcome = WindowOutcome {
        probes: 0,
        could_not_ask: 0,
        last_failure: None,
        violation: None,
    };
    loop {
        let seen = probe().await;
        let now = Instant::now();
        outcome.probes += 1;
        match seen {
            Probe::Met(violation) => {
                outcome.violation = Some((violation, now));
                return outcome;
            }
            Probe::NotYet(_) => {}
            Probe::CouldNotAsk(why) => {
                outcome.could_not_ask += 1;
                outcome.last_failure = Some((why, now));
            }
        }
        if now >= until {
            return outcome;
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
        let seen = out.met.expect("met before the deadline");
        let elapsed = seen.sent - start;
        assert!(seen.previous_sent.is_some_and(|p| p < seen.sent));
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
            || async { Probe::CouldNotAsk("connection refused".into()) },
        )
        .await;
        assert_eq!(
            out.last_failure.map(|(why, _)| why).as_deref(),
            Some("connection refused")
        );
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
        assert_eq!((clean.probes, clean.could_not_ask), (5, 0));
        assert!(clean.violation.is_none());
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
        let (what, at) = violated.violation.expect("an alert fired");
        assert_eq!(what, "HighErrorRate firing");
        assert!(at - start > Duration::from_secs(4));
    }

    #[tokio::test(start_paused = true)]
    async fn a_window_that_could_not_ask_is_counted_not_clean() {
        let start = Instant::now();
        let out = watch_window::<(), _, _>(
            start + Duration::from_secs(2),
            Duration::from_millis(500),
            || async { Probe::CouldNotAsk("connection refused".into()) },
        )
        .await;
        assert_eq!((out.probes, out.could_not_ask), (5, 5));
        assert!(out.violation.is_none());
        assert_eq!(
            out.last_failure.map(|(why, _)| why).as_deref(),
            Some("connection refused")
        );
    }
}
