//! The verdict of one expectation, decided from what polling observed. Pure: no I/O, no
//! clock reads. The rules, in one place:
//! - **met** only when a backend answered with the reaction, observed no later than the
//!   deadline. The observation instant is the backend's own timestamp where the evidence
//!   carries one, otherwise the probe's send time (queries evaluated at the moment they
//!   arrive) or its answer time (store look-ups, whose data may arrive while they run);
//! - **missed** otherwise, with the last thing seen or the reason nothing could be seen;
//! - a **window** (no-alerts) is met only when every probe in it was answered and none saw
//!   the forbidden thing: a window in which the backend could not be asked is not clean.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::poll::{PollOutcome, WindowOutcome};
use crate::report::ExpectationStatus;

/// What a probe that met returns: a description and, where the backend has one, its own
/// timestamp of the reaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    pub text: String,
    pub backend_time: Option<BackendTime>,
}

impl Evidence {
    pub fn text(text: impl Into<String>) -> Self {
        Evidence {
            text: text.into(),
            backend_time: None,
        }
    }

    pub fn at(text: impl Into<String>, at: SystemTime, what: &'static str) -> Self {
        Evidence {
            text: text.into(),
            backend_time: Some(BackendTime { at, what }),
        }
    }
}

/// A backend's own timestamp of a reaction (webhook arrival, alert `activeAt`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackendTime {
    pub at: SystemTime,
    /// What the timestamp is, for reports: `webhook arrival`.
    pub what: &'static str,
}

/// Which moment of a probe counts as its observation when the evidence has no timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeTime {
    /// Queries evaluated when they arrive (Prometheus): the state held when it was sent.
    Sent,
    /// Look-ups in a store that fills while they run (traces, logs): only the answer proves
    /// the data was there.
    Answered,
}

/// The moment a deadline counts from, on both clocks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reference {
    pub instant: Instant,
    pub wall: SystemTime,
}

impl Reference {
    /// `wall` on the monotonic clock, through this anchor.
    pub fn instant_of(&self, wall: SystemTime) -> Instant {
        match wall.duration_since(self.wall) {
            Ok(after) => self.instant + after,
            Err(before) => self
                .instant
                .checked_sub(before.duration())
                .unwrap_or(self.instant),
        }
    }
}

/// A decided verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub status: ExpectationStatus,
    /// The evidence when met; otherwise the last thing seen, or why nothing could be seen.
    pub observed: String,
    pub observed_at: Option<Instant>,
    pub time_to_detect: Option<Duration>,
    /// The reaction happened at most this long before `observed_at`.
    pub resolution: Option<Duration>,
    /// Where `observed_at` comes from.
    pub time_source: Option<String>,
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// Decides a deadline expectation: met when the reaction was observed by `deadline`.
pub fn by_deadline(
    outcome: PollOutcome<Evidence>,
    reference: &Reference,
    deadline: Instant,
    probe_time: ProbeTime,
) -> Decision {
    let since = |at: Instant| at.saturating_duration_since(reference.instant);
    let Some(seen) = outcome.met else {
        let observed = match (outcome.last_observed, outcome.last_failure) {
            (Some((seen, at)), Some((why, failed))) if failed > at => format!(
                "{seen} at {}; then the backend could not be asked: {why}",
                secs(since(at))
            ),
            (Some((seen, at)), _) => format!("{seen} at {}", secs(since(at))),
            (None, Some((why, _))) => format!("the backend could not be asked: {why}"),
            (None, None) => "nothing observed".to_string(),
        };
        return Decision {
            status: ExpectationStatus::Missed,
            observed,
            observed_at: None,
            time_to_detect: None,
            resolution: None,
            time_source: None,
        };
    };
    let (observed_at, resolution, source) = match seen.evidence.backend_time {
        Some(t) => (
            reference.instant_of(t.at),
            Duration::ZERO,
            t.what.to_string(),
        ),
        None => {
            let (at, what) = match probe_time {
                ProbeTime::Sent => (seen.sent, "probe sent"),
                ProbeTime::Answered => (seen.answered, "probe answered"),
            };
            let before = seen.previous_sent.unwrap_or(reference.instant);
            (at, at.saturating_duration_since(before), what.to_string())
        }
    };
    let ttd = since(observed_at);
    if observed_at > deadline {
        return Decision {
            status: ExpectationStatus::Missed,
            observed: format!(
                "{}, but observed at {} ({source}), after the {} deadline",
                seen.evidence.text,
                secs(ttd),
                secs(since(deadline))
            ),
            observed_at: Some(observed_at),
            time_to_detect: None,
            resolution: Some(resolution),
            time_source: Some(source),
        };
    }
    Decision {
        status: ExpectationStatus::Met,
        observed: seen.evidence.text,
        observed_at: Some(observed_at),
        time_to_detect: Some(ttd),
        resolution: Some(resolution),
        time_source: Some(source),
    }
}

/// Decides a window expectation (no-alerts): met only when every probe was answered and
/// none saw a violation.
pub fn window(outcome: WindowOutcome<String>, reference: &Reference) -> Decision {
    let since = |at: Instant| at.saturating_duration_since(reference.instant);
    let mut decision = Decision {
        status: ExpectationStatus::Missed,
        observed: String::new(),
        observed_at: None,
        time_to_detect: None,
        resolution: None,
        time_source: None,
    };
    if let Some((violation, at)) = outcome.violation {
        decision.observed = format!("{violation} at {}", secs(since(at)));
        decision.observed_at = Some(at);
    } else if outcome.could_not_ask > 0 {
        let (why, at) = match outcome.last_failure {
            Some((why, at)) => (why, Some(at)),
            None => (String::new(), None),
        };
        decision.observed = format!(
            "not watched throughout: the backend could not be asked in {} of {} checks (last at {}: {why})",
            outcome.could_not_ask,
            outcome.probes,
            secs(since(at.unwrap_or(reference.instant)))
        );
    } else {
        decision.status = ExpectationStatus::Met;
        decision.observed = format!("no alert fired in {} checks", outcome.probes);
    }
    decision
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::poll::Seen;

    fn reference() -> Reference {
        Reference {
            instant: Instant::now(),
            wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000),
        }
    }

    fn met(
        r: &Reference,
        sent_s: f64,
        answered_s: f64,
        backend: Option<f64>,
    ) -> PollOutcome<Evidence> {
        let at = |s: f64| r.instant + Duration::from_secs_f64(s);
        PollOutcome {
            met: Some(Seen {
                evidence: Evidence {
                    text: "seen".into(),
                    backend_time: backend.map(|s| BackendTime {
                        at: r.wall + Duration::from_secs_f64(s),
                        what: "webhook arrival",
                    }),
                },
                sent: at(sent_s),
                answered: at(answered_s),
                previous_sent: Some(at(sent_s - 0.5)),
            }),
            last_observed: None,
            last_failure: None,
            attempts: 3,
        }
    }

    #[test]
    fn met_means_observed_by_the_deadline() {
        let r = reference();
        let deadline = r.instant + Duration::from_secs(10);
        // (sent, answered, backend timestamp, probe time) -> status, ttd ms
        let cases = [
            (
                (4.0, 4.1, None, ProbeTime::Sent),
                ExpectationStatus::Met,
                Some(4000),
            ),
            (
                (4.0, 4.1, None, ProbeTime::Answered),
                ExpectationStatus::Met,
                Some(4100),
            ),
            // The last probe starts at the deadline but a slow look-up answers after it.
            (
                (10.0, 13.0, None, ProbeTime::Answered),
                ExpectationStatus::Missed,
                None,
            ),
            (
                (10.0, 13.0, None, ProbeTime::Sent),
                ExpectationStatus::Met,
                Some(10_000),
            ),
            // The backend's own timestamp wins over the probe's times.
            (
                (9.0, 9.1, Some(7.25), ProbeTime::Sent),
                ExpectationStatus::Met,
                Some(7250),
            ),
            (
                (11.0, 11.1, Some(10.5), ProbeTime::Sent),
                ExpectationStatus::Missed,
                None,
            ),
        ];
        for ((sent, answered, backend, how), status, ttd) in cases {
            let d = by_deadline(met(&r, sent, answered, backend), &r, deadline, how);
            assert_eq!(
                d.status, status,
                "{sent} {answered} {backend:?} {how:?}: {d:?}"
            );
            assert_eq!(
                d.time_to_detect.map(|t| t.as_millis() as u64),
                ttd,
                "{sent} {answered} {backend:?} {how:?}"
            );
            if status == ExpectationStatus::Missed {
                assert!(
                    d.observed.contains("after the 10.0s deadline"),
                    "{}",
                    d.observed
                );
            }
        }
    }

    #[test]
    fn resolution_is_the_gap_since_the_previous_probe_or_zero_for_backend_time() {
        let r = reference();
        let deadline = r.instant + Duration::from_secs(10);
        let d = by_deadline(met(&r, 4.0, 4.1, None), &r, deadline, ProbeTime::Sent);
        assert_eq!(d.resolution, Some(Duration::from_millis(500)));
        assert_eq!(d.time_source.as_deref(), Some("probe sent"));
        let d = by_deadline(met(&r, 4.0, 4.1, Some(3.0)), &r, deadline, ProbeTime::Sent);
        assert_eq!(d.resolution, Some(Duration::ZERO));
        assert_eq!(d.time_source.as_deref(), Some("webhook arrival"));
    }

    #[test]
    fn a_miss_says_what_was_seen_and_when_the_backend_went_away() {
        let r = reference();
        let at = |s: f64| r.instant + Duration::from_secs_f64(s);
        let outcome = |observed: Option<f64>, failed: Option<f64>| PollOutcome::<Evidence> {
            met: None,
            last_observed: observed.map(|s| ("0 series".to_string(), at(s))),
            last_failure: failed.map(|s| ("connection refused".to_string(), at(s))),
            attempts: 5,
        };
        let cases = [
            ((Some(3.0), None), "0 series at 3.0s"),
            (
                (Some(3.0), Some(4.0)),
                "0 series at 3.0s; then the backend could not be asked: connection refused",
            ),
            ((Some(3.0), Some(2.0)), "0 series at 3.0s"),
            (
                (None, Some(2.0)),
                "the backend could not be asked: connection refused",
            ),
            ((None, None), "nothing observed"),
        ];
        for ((observed, failed), want) in cases {
            let d = by_deadline(outcome(observed, failed), &r, at(5.0), ProbeTime::Sent);
            assert_eq!(d.status, ExpectationStatus::Missed);
            assert_eq!(d.observed, want);
        }
    }

    #[test]
    fn a_window_is_clean_only_when_every_probe_was_answered() {
        let r = reference();
        let at = |s: f64| r.instant + Duration::from_secs_f64(s);
        let cases = [
            (
                (20, 0, None),
                ExpectationStatus::Met,
                "no alert fired in 20 checks",
            ),
            (
                (20, 3, None),
                ExpectationStatus::Missed,
                "not watched throughout: the backend could not be asked in 3 of 20 checks",
            ),
            (
                (8, 0, Some(4.0)),
                ExpectationStatus::Missed,
                "firing: HighErrorRate at 4.0s",
            ),
        ];
        for ((probes, could_not_ask, violation), status, want) in cases {
            let outcome = WindowOutcome {
                probes,
                could_not_ask,
                last_failure: (could_not_ask > 0)
                    .then(|| ("connection refused".to_string(), at(6.0))),
                violation: violation.map(|s| ("firing: HighErrorRate".to_string(), at(s))),
            };
            let d = window(outcome, &r);
            assert_eq!(d.status, status);
            assert!(d.observed.starts_with(want), "{}", d.observed);
        }
    }

    #[test]
    fn wall_times_map_onto_the_monotonic_clock() {
        let r = reference();
        assert_eq!(
            r.instant_of(r.wall + Duration::from_millis(1500)),
            r.instant + Duration::from_millis(1500)
        );
        assert_eq!(r.instant_of(r.wall), r.instant);
    }
}
