//! What load to send: target, journey mix, arrival model and bounds — plus the pure
//! validation and the loopback guard that run before a single request leaves.

use super::journey::Journey;
use reqwest::Url;
use serde::Serialize;
use std::net::IpAddr;
use std::time::Duration;

/// One journey of the mix and its relative weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct JourneyWeight {
    pub journey: Journey,
    pub weight: u32,
}

/// A linear rate ramp at the start of an open-model run: the arrival rate goes from
/// `from_rate` to the plan's target rate over `over`, then stays there.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Ramp {
    pub from_rate: f64,
    #[serde(with = "super::duration_ms")]
    pub over: Duration,
}

/// How requests arrive.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "model", rename_all = "kebab-case")]
pub enum LoadModel {
    /// Open model: requests start on a schedule (`rate` requests/s, after an optional ramp)
    /// whether or not earlier ones have finished; latency counts from the scheduled time.
    Open { rate: f64, ramp: Option<Ramp> },
    /// Closed model: `connections` simulated users each send the next request as soon as the
    /// previous one finished (max throughput; used by the benchmark).
    Closed { connections: usize },
}

/// A load plan. Bounded by both `duration` and `max_requests`, whichever comes first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadPlan {
    /// Base URL of the frontend, e.g. `http://127.0.0.1:8080`.
    pub target: Url,
    pub journeys: Vec<JourneyWeight>,
    pub model: LoadModel,
    #[serde(with = "super::duration_ms")]
    pub duration: Duration,
    pub max_requests: u64,
    /// Per-request timeout (a timed-out request is a failure with error kind `timeout`).
    #[serde(with = "super::duration_ms")]
    pub timeout: Duration,
    /// Allow targets outside 127.0.0.0/8 and ::1. Off unless the user explicitly asks.
    pub allow_non_loopback: bool,
    /// Cap on requests in flight at once (open model); further arrivals wait for a slot and
    /// their wait counts in their latency.
    pub max_in_flight: usize,
}

impl LoadPlan {
    /// An open-model plan with defaults: constant `rate`, 10 s timeout, 4096 in flight.
    pub fn open(target: Url, journeys: Vec<JourneyWeight>, rate: f64, duration: Duration) -> Self {
        LoadPlan {
            target,
            journeys,
            model: LoadModel::Open { rate, ramp: None },
            duration,
            max_requests: u64::MAX,
            timeout: Duration::from_secs(10),
            allow_non_loopback: false,
            max_in_flight: 4096,
        }
    }

    /// Every problem with the plan that can be found without the network.
    pub fn validate(&self) -> Vec<PlanProblem> {
        let mut problems = Vec::new();
        if !matches!(self.target.scheme(), "http" | "https") {
            problems.push(PlanProblem::Scheme(self.target.scheme().to_owned()));
        }
        if self.target.host_str().is_none() {
            problems.push(PlanProblem::NoHost);
        }
        if self.journeys.is_empty() {
            problems.push(PlanProblem::NoJourneys);
        } else if self.journeys.iter().all(|j| j.weight == 0) {
            problems.push(PlanProblem::ZeroWeights);
        }
        match self.model {
            LoadModel::Open { rate, ramp } => {
                if !(rate.is_finite() && rate > 0.0) {
                    problems.push(PlanProblem::Rate(rate));
                }
                if let Some(r) = ramp {
                    if !(r.from_rate.is_finite() && r.from_rate >= 0.0) {
                        problems.push(PlanProblem::Rate(r.from_rate));
                    }
                    if r.over.is_zero() {
                        problems.push(PlanProblem::ZeroRamp);
                    }
                }
            }
            LoadModel::Closed { connections } => {
                if connections == 0 {
                    problems.push(PlanProblem::ZeroConnections);
                }
            }
        }
        if self.duration.is_zero() {
            problems.push(PlanProblem::ZeroDuration);
        }
        if self.max_requests == 0 {
            problems.push(PlanProblem::ZeroMaxRequests);
        }
        if self.timeout.is_zero() {
            problems.push(PlanProblem::ZeroTimeout);
        }
        if self.max_in_flight == 0 {
            problems.push(PlanProblem::ZeroInFlight);
        }
        problems
    }

    /// Mean number of requests one journey arrival sends, weighted by the mix.
    pub fn mean_requests_per_journey(&self) -> f64 {
        let total: u64 = self.journeys.iter().map(|j| u64::from(j.weight)).sum();
        if total == 0 {
            return 1.0;
        }
        let reqs: u64 = self
            .journeys
            .iter()
            .map(|j| u64::from(j.weight) * j.journey.request_count() as u64)
            .sum();
        reqs as f64 / total as f64
    }

    /// Resolves the target host and refuses it unless every address is loopback
    /// (127.0.0.0/8, ::1) or `allow_non_loopback` is set.
    pub async fn check_target(&self) -> Result<(), PlanError> {
        check_loopback(&self.target, self.allow_non_loopback).await
    }
}

/// Refuses `url` unless its host resolves only to loopback addresses (or `allow` is set).
pub async fn check_loopback(url: &Url, allow: bool) -> Result<(), PlanError> {
    if allow {
        return Ok(());
    }
    let host = url.host_str().unwrap_or_default();
    let addrs: Vec<IpAddr> = resolve(url).await?.iter().map(|a| a.ip()).collect();
    if addrs.is_empty() || addrs.iter().any(|ip| !is_loopback(*ip)) {
        return Err(PlanError::NonLoopbackTarget {
            host: host.to_owned(),
            addrs,
        });
    }
    Ok(())
}

/// Every socket address `url`'s host and port resolve to.
pub(crate) async fn resolve(url: &Url) -> Result<Vec<std::net::SocketAddr>, PlanError> {
    let host = url
        .host_str()
        .ok_or(PlanError::Invalid(vec![PlanProblem::NoHost]))?;
    let port = url.port_or_known_default().unwrap_or(80);
    // Url keeps IPv6 hosts in brackets; lookup_host wants them bare.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    Ok(tokio::net::lookup_host((bare, port))
        .await
        .map_err(|source| PlanError::Resolve {
            host: host.to_owned(),
            source,
        })?
        .collect())
}

/// 127.0.0.0/8, ::1, or an IPv4-mapped loopback.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// One thing wrong with a plan.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanProblem {
    #[error("target scheme {0:?} is not http or https")]
    Scheme(String),
    #[error("target url has no host")]
    NoHost,
    #[error("no journeys in the load mix")]
    NoJourneys,
    #[error("every journey weight is 0")]
    ZeroWeights,
    #[error("rate {0} is not a positive finite number of requests per second")]
    Rate(f64),
    #[error("ramp duration is 0")]
    ZeroRamp,
    #[error("closed model needs at least one connection")]
    ZeroConnections,
    #[error("duration is 0")]
    ZeroDuration,
    #[error("max requests is 0")]
    ZeroMaxRequests,
    #[error("request timeout is 0")]
    ZeroTimeout,
    #[error("max in-flight requests is 0")]
    ZeroInFlight,
}

/// Why a plan may not run.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("invalid load plan: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<PlanProblem>),
    #[error(
        "refusing to send load to {host} ({addrs:?}): not a loopback address; \
         gauntlet sends local load only to 127.0.0.0/8 and ::1"
    )]
    NonLoopbackTarget { host: String, addrs: Vec<IpAddr> },
    #[error("cannot resolve target host {host}")]
    Resolve {
        host: String,
        #[source]
        source: std::io::Error,
    },
}

/// The open-model schedule: when the `k`-th arrival (0-based) is due, as an offset from the
/// start, for a rate that ramps linearly from `from` to `to` over `ramp` and then stays at
/// `to`. Arrivals are evenly spaced along the cumulative rate curve (deterministic, so runs
/// are comparable; the cumulative count is integrated exactly, not stepped).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArrivalSchedule {
    from: f64,
    to: f64,
    ramp_secs: f64,
}

impl ArrivalSchedule {
    /// A constant rate (arrivals/s, > 0).
    pub fn constant(rate: f64) -> Self {
        ArrivalSchedule {
            from: rate,
            to: rate,
            ramp_secs: 0.0,
        }
    }

    /// A linear ramp from `from` to `to` over `over`, then `to`.
    pub fn ramp(from: f64, to: f64, over: Duration) -> Self {
        ArrivalSchedule {
            from,
            to,
            ramp_secs: over.as_secs_f64(),
        }
    }

    /// Scales both rates (e.g. requests/s → journeys/s).
    pub fn scaled(self, factor: f64) -> Self {
        ArrivalSchedule {
            from: self.from * factor,
            to: self.to * factor,
            ..self
        }
    }

    /// Instantaneous rate at `t` seconds.
    pub fn rate_at(&self, t: f64) -> f64 {
        if t >= self.ramp_secs || self.ramp_secs == 0.0 {
            self.to
        } else {
            self.from + (self.to - self.from) * t / self.ramp_secs
        }
    }

    /// Offset of the `k`-th arrival, or `None` if it never comes (zero rate forever).
    pub fn offset_of(&self, k: u64) -> Option<Duration> {
        let k = k as f64;
        let t_ramp = self.ramp_secs;
        let in_ramp = (self.from + self.to) / 2.0 * t_ramp;
        let secs = if t_ramp > 0.0 && k < in_ramp {
            // Cumulative arrivals in the ramp: N(t) = from·t + a·t², a = (to−from)/(2·T).
            let a = (self.to - self.from) / (2.0 * t_ramp);
            let b = self.from;
            if a.abs() < 1e-12 {
                k / b
            } else {
                (-b + (b * b + 4.0 * a * k).max(0.0).sqrt()) / (2.0 * a)
            }
        } else {
            if self.to <= 0.0 {
                return None;
            }
            t_ramp + (k - in_ramp.max(0.0)) / self.to
        };
        // Checked: a tiny rate puts later arrivals past what a Duration holds (the plain
        // conversion panics there); such an arrival never comes within any run.
        Duration::try_from_secs_f64(secs).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> LoadPlan {
        LoadPlan::open(
            Url::parse("http://127.0.0.1:9/").expect("url"),
            vec![JourneyWeight {
                journey: Journey::Browse,
                weight: 1,
            }],
            10.0,
            Duration::from_secs(1),
        )
    }

    #[test]
    fn validate_lists_every_problem() {
        let mut p = plan();
        p.journeys.clear();
        p.model = LoadModel::Open {
            rate: -1.0,
            ramp: Some(Ramp {
                from_rate: f64::NAN,
                over: Duration::ZERO,
            }),
        };
        p.duration = Duration::ZERO;
        p.max_requests = 0;
        let problems = p.validate();
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "no journeys in the load mix",
                "rate -1 is not a positive finite number of requests per second",
                "rate NaN is not a positive finite number of requests per second",
                "ramp duration is 0",
                "duration is 0",
                "max requests is 0",
            ]
        );
        assert!(plan().validate().is_empty());
    }

    #[test]
    fn mean_requests_per_journey_follows_weights() {
        let mut p = plan();
        p.journeys = vec![
            JourneyWeight {
                journey: Journey::Browse,
                weight: 1,
            },
            JourneyWeight {
                journey: Journey::Health,
                weight: 3,
            },
        ];
        assert!((p.mean_requests_per_journey() - 1.25).abs() < 1e-12);
    }

    #[test]
    fn constant_schedule_is_evenly_spaced() {
        let s = ArrivalSchedule::constant(100.0);
        assert_eq!(s.offset_of(0), Some(Duration::ZERO));
        let t = s.offset_of(250).expect("due").as_secs_f64();
        assert!((t - 2.5).abs() < 1e-9);
    }

    #[test]
    fn ramp_schedule_integrates_the_rate() {
        // 0 → 100/s over 10 s: 500 arrivals in the ramp, then 100/s.
        let s = ArrivalSchedule::ramp(0.0, 100.0, Duration::from_secs(10));
        let at = |k| s.offset_of(k).expect("due").as_secs_f64();
        // N(t) = 5 t² → the 125th arrival at t = 5 s.
        assert!((at(125) - 5.0).abs() < 1e-6, "{}", at(125));
        assert!((at(500) - 10.0).abs() < 1e-6);
        assert!((at(600) - 11.0).abs() < 1e-6);
        // Down-ramps work too: 100 → 10 over 2 s = 110 arrivals in the ramp.
        let d = ArrivalSchedule::ramp(100.0, 10.0, Duration::from_secs(2));
        assert!((d.offset_of(110).expect("due").as_secs_f64() - 2.0).abs() < 1e-6);
        assert!(d.offset_of(50).expect("due") < Duration::from_secs(1));
        assert_eq!(s.rate_at(5.0), 50.0);
        assert_eq!(s.rate_at(50.0), 100.0);
    }

    #[test]
    fn arrivals_beyond_any_duration_never_come_instead_of_panicking() {
        // 1e-20/s: the second arrival is 1e20 s away, past u64 seconds.
        let s = ArrivalSchedule::constant(1e-20);
        assert_eq!(s.offset_of(0), Some(Duration::ZERO));
        assert_eq!(s.offset_of(1), None);
        let r = ArrivalSchedule::ramp(0.0, 1e-20, Duration::from_secs(10));
        assert_eq!(r.offset_of(1), None);
        assert_eq!(
            ArrivalSchedule::constant(f64::MIN_POSITIVE).offset_of(5),
            None
        );
    }

    #[tokio::test]
    async fn loopback_guard_refuses_other_hosts() {
        for ok in [
            "http://127.0.0.1:1/",
            "http://127.3.2.1:1/",
            "http://[::1]:1/",
            "http://localhost:1/",
        ] {
            let url = Url::parse(ok).expect("url");
            check_loopback(&url, false)
                .await
                .unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        let url = Url::parse("http://192.0.2.7:80/").expect("url");
        let err = check_loopback(&url, false).await.expect_err("refused");
        assert!(matches!(err, PlanError::NonLoopbackTarget { .. }), "{err}");
        assert!(err.to_string().contains("not a loopback address"));
        // No scenario or CLI setting lifts the guard, so the message names none.
        assert!(!err.to_string().contains("allow-non-loopback"), "{err}");
        // The explicit flag lets it through without sending anything.
        check_loopback(&url, true)
            .await
            .expect("allowed on purpose");
    }
}
