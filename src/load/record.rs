//! Load results as pure data: per-request records (bounded), the latency histogram,
//! per-second series, and the summary a report or a verdict reads.
//!
//! Every failed request is kept (up to a cap) with its trace id so it can be followed into
//! traces and logs; successful ones are reservoir-sampled. Latencies are microseconds counted
//! from the *intended* send time (coordinated-omission corrected, see [`super::generator`]).

use super::histogram::Histogram;
use super::journey::Journey;
use super::traceparent::TraceId;
use rand::Rng;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Why a request produced no HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// No answer within the per-request timeout.
    Timeout,
    /// The TCP connection could not be established (refused, unreachable).
    Connect,
    /// The connection broke while sending or receiving (reset, EOF mid-response).
    Transport,
    /// The generator could not build the request.
    Request,
}

impl ErrorKind {
    /// Classifies a reqwest error by its typed predicates (never by message text).
    pub fn of(e: &reqwest::Error) -> ErrorKind {
        if e.is_timeout() {
            ErrorKind::Timeout
        } else if e.is_connect() {
            ErrorKind::Connect
        } else if e.is_builder() {
            ErrorKind::Request
        } else {
            ErrorKind::Transport
        }
    }

    /// The kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connect => "connect",
            ErrorKind::Transport => "transport",
            ErrorKind::Request => "request",
        }
    }
}

/// What came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "value")]
pub enum Outcome {
    Status(u16),
    Error(ErrorKind),
}

impl Outcome {
    /// 2xx and 3xx count as success.
    pub fn is_success(self) -> bool {
        matches!(self, Outcome::Status(s) if s < 400)
    }
}

/// One request as sent and answered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestRecord {
    /// W3C trace id sent in `traceparent` (search Jaeger and the logs for it).
    pub trace_id: TraceId,
    pub journey: Journey,
    /// Route template, e.g. `/products/{id}`.
    pub route: &'static str,
    /// Intended send time, from the start of the run.
    #[serde(rename = "start_offset_us", serialize_with = "micros")]
    pub start_offset: Duration,
    /// From the intended send time to the end of the response body (or the error).
    #[serde(rename = "latency_us", serialize_with = "micros")]
    pub latency: Duration,
    pub outcome: Outcome,
}

fn micros<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Caps of the kept request records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RecordLimits {
    /// Failed requests kept (the first ones; later ones are only counted).
    pub max_failed: usize,
    /// Successful requests kept (a uniform reservoir sample).
    pub max_sampled_ok: usize,
}

impl Default for RecordLimits {
    fn default() -> Self {
        RecordLimits {
            max_failed: 10_000,
            max_sampled_ok: 1_000,
        }
    }
}

/// Statistics of one second of the run (bucketed by intended start time).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SecondStats {
    /// Second index from the start.
    pub second: u64,
    pub requests: u64,
    pub errors: u64,
    pub p95_us: u64,
    #[serde(skip)]
    pub(crate) histogram: Histogram,
}

/// Live progress, sent once per second on the optional channel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadSample {
    /// Time since the start of the run.
    #[serde(rename = "elapsed_ms", with = "super::duration_ms")]
    pub elapsed: Duration,
    /// Requests completed in the last second.
    pub requests_per_sec: f64,
    /// Failed fraction of those (0.0..=1.0).
    pub error_rate: f64,
    /// p95 latency of those, microseconds.
    pub p95_us: u64,
    /// Requests completed so far.
    pub total: u64,
}

/// One [`LoadSample`] a second from the start of a run: what the collector recorded since the
/// previous one. Both engines report their live series through it.
pub(crate) struct SecondSampler {
    tick: tokio::time::Interval,
    start: tokio::time::Instant,
    last_at: tokio::time::Instant,
}

impl SecondSampler {
    pub(crate) fn new(start: tokio::time::Instant) -> Self {
        let mut tick =
            tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        Self {
            tick,
            start,
            last_at: start,
        }
    }

    /// Waits for the next second, then takes the collector's window.
    pub(crate) async fn next(&mut self, collector: &std::sync::Mutex<Collector>) -> LoadSample {
        let now = self.tick.tick().await;
        let (window, total) = {
            let mut c = collector
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            (c.take_window(), c.total())
        };
        let secs = now
            .saturating_duration_since(self.last_at)
            .as_secs_f64()
            .max(1e-3);
        self.last_at = now;
        LoadSample {
            elapsed: now.saturating_duration_since(self.start),
            requests_per_sec: window.requests as f64 / secs,
            error_rate: if window.requests == 0 {
                0.0
            } else {
                window.errors as f64 / window.requests as f64
            },
            p95_us: window.histogram.quantile(0.95),
            total,
        }
    }
}

/// Whole-run aggregates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadSummary {
    pub total: u64,
    pub success: u64,
    pub failed: u64,
    /// Failures with an HTTP status (4xx/5xx), by status.
    pub failures_by_status: BTreeMap<u16, u64>,
    /// Failures without a status, by kind.
    pub failures_by_error: BTreeMap<ErrorKind, u64>,
    /// Requests per journey.
    pub by_journey: BTreeMap<Journey, u64>,
    /// Completed requests per second of wall time.
    pub throughput: f64,
    #[serde(rename = "elapsed_ms", with = "super::duration_ms")]
    pub elapsed: Duration,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p95_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
}

/// Everything a load run produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadReport {
    pub summary: LoadSummary,
    /// Per-second series for plots.
    pub series: Vec<SecondStats>,
    /// Latency histogram (microseconds); merge these across workers.
    pub histogram: Histogram,
    /// Kept failed requests (all, up to the cap), in completion order.
    pub failed: Vec<RequestRecord>,
    /// Sampled successful requests.
    pub sampled_ok: Vec<RequestRecord>,
    /// Failed requests beyond the cap (counted, not kept).
    pub failed_not_kept: u64,
}

/// Accumulates results while a run is going. Cheap per request: one histogram bucket, one
/// per-second bucket, and occasionally a record.
#[derive(Debug)]
pub struct Collector {
    limits: RecordLimits,
    histogram: Histogram,
    success: u64,
    failures_by_status: BTreeMap<u16, u64>,
    failures_by_error: BTreeMap<ErrorKind, u64>,
    by_journey: BTreeMap<Journey, u64>,
    series: Vec<SecondStats>,
    failed: Vec<RequestRecord>,
    failed_not_kept: u64,
    sampled_ok: Vec<RequestRecord>,
    ok_seen: u64,
    window: Window,
}

/// Requests completed since the last [`Collector::take_window`] (live progress).
#[derive(Debug, Clone, Default)]
pub struct Window {
    pub requests: u64,
    pub errors: u64,
    pub histogram: Histogram,
}

impl Collector {
    /// An empty collector.
    pub fn new(limits: RecordLimits) -> Self {
        Collector {
            limits,
            histogram: Histogram::new(),
            success: 0,
            failures_by_status: BTreeMap::new(),
            failures_by_error: BTreeMap::new(),
            by_journey: BTreeMap::new(),
            series: Vec::new(),
            failed: Vec::new(),
            failed_not_kept: 0,
            sampled_ok: Vec::new(),
            ok_seen: 0,
            window: Window::default(),
        }
    }

    /// Adds one finished request.
    pub fn record<R: Rng + ?Sized>(&mut self, rec: RequestRecord, rng: &mut R) {
        let us = u64::try_from(rec.latency.as_micros()).unwrap_or(u64::MAX);
        self.histogram.record(us);
        *self.by_journey.entry(rec.journey).or_default() += 1;
        self.window.requests += 1;
        self.window.histogram.record(us);
        if !rec.outcome.is_success() {
            self.window.errors += 1;
        }
        let second = rec.start_offset.as_secs();
        let idx = usize::try_from(second).unwrap_or(usize::MAX);
        // Series are bounded by the run duration; a corrupt offset must not allocate forever.
        if idx < 1_000_000 {
            if self.series.len() <= idx {
                let from = self.series.len() as u64;
                self.series.extend((from..=second).map(|s| SecondStats {
                    second: s,
                    ..SecondStats::default()
                }));
            }
            let bucket = &mut self.series[idx];
            bucket.requests += 1;
            bucket.histogram.record(us);
            if !rec.outcome.is_success() {
                bucket.errors += 1;
            }
        }
        match rec.outcome {
            o if o.is_success() => {
                self.success += 1;
                self.ok_seen += 1;
                // Reservoir sampling (Algorithm R): each success is kept with equal chance.
                if self.sampled_ok.len() < self.limits.max_sampled_ok {
                    self.sampled_ok.push(rec);
                } else if self.limits.max_sampled_ok > 0 {
                    let j = rng.random_range(0..self.ok_seen);
                    if let Ok(j) = usize::try_from(j)
                        && j < self.limits.max_sampled_ok
                    {
                        self.sampled_ok[j] = rec;
                    }
                }
                return;
            }
            Outcome::Status(s) => *self.failures_by_status.entry(s).or_default() += 1,
            Outcome::Error(k) => *self.failures_by_error.entry(k).or_default() += 1,
        }
        if self.failed.len() < self.limits.max_failed {
            self.failed.push(rec);
        } else {
            self.failed_not_kept += 1;
        }
    }

    /// Requests recorded so far.
    pub fn total(&self) -> u64 {
        self.histogram.count()
    }

    /// Takes the requests completed since the previous call.
    pub fn take_window(&mut self) -> Window {
        std::mem::take(&mut self.window)
    }

    /// Stats of one second so far (for live progress).
    pub fn second(&self, second: u64) -> Option<&SecondStats> {
        usize::try_from(second)
            .ok()
            .and_then(|i| self.series.get(i))
    }

    /// Final aggregates; `elapsed` is the run's wall time.
    pub fn finish(mut self, elapsed: Duration) -> LoadReport {
        for s in &mut self.series {
            s.p95_us = s.histogram.quantile(0.95);
        }
        let total = self.histogram.count();
        let h = &self.histogram;
        let secs = elapsed.as_secs_f64();
        let summary = LoadSummary {
            total,
            success: self.success,
            failed: total - self.success,
            failures_by_status: self.failures_by_status,
            failures_by_error: self.failures_by_error,
            by_journey: self.by_journey,
            throughput: if secs > 0.0 { total as f64 / secs } else { 0.0 },
            elapsed,
            p50_us: h.quantile(0.50),
            p90_us: h.quantile(0.90),
            p95_us: h.quantile(0.95),
            p99_us: h.quantile(0.99),
            max_us: h.max(),
            mean_us: h.mean(),
        };
        LoadReport {
            summary,
            series: self.series,
            histogram: self.histogram,
            failed: self.failed,
            sampled_ok: self.sampled_ok,
            failed_not_kept: self.failed_not_kept,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: u64, outcome: Outcome) -> RequestRecord {
        RequestRecord {
            trace_id: TraceId(u128::from(i) + 1),
            journey: Journey::Health,
            route: "/healthz",
            start_offset: Duration::from_millis(i * 10),
            latency: Duration::from_micros(1_000 + i),
            outcome,
        }
    }

    #[test]
    fn keeps_failures_samples_successes_and_buckets_seconds() {
        let mut rng = rand::rng();
        let mut c = Collector::new(RecordLimits {
            max_failed: 3,
            max_sampled_ok: 5,
        });
        for i in 0..250u64 {
            let outcome = match i % 50 {
                0 => Outcome::Status(503),
                1 => Outcome::Error(ErrorKind::Timeout),
                _ => Outcome::Status(200),
            };
            c.record(rec(i, outcome), &mut rng);
        }
        let r = c.finish(Duration::from_millis(2_500));
        assert_eq!(r.summary.total, 250);
        assert_eq!(r.summary.success, 240);
        assert_eq!(r.summary.failed, 10);
        assert_eq!(r.summary.failures_by_status.get(&503), Some(&5));
        assert_eq!(
            r.summary.failures_by_error.get(&ErrorKind::Timeout),
            Some(&5)
        );
        assert_eq!(r.failed.len(), 3);
        assert_eq!(r.failed_not_kept, 7);
        assert_eq!(r.failed[0].trace_id, TraceId(1));
        assert_eq!(r.sampled_ok.len(), 5);
        assert!(r.sampled_ok.iter().all(|s| s.outcome.is_success()));
        assert!((r.summary.throughput - 100.0).abs() < 1e-9);
        // 10 ms apart → 100 per second, 25 seconds' worth in 3 buckets (0,1,2).
        assert_eq!(r.series.len(), 3);
        assert_eq!(r.series[0].requests, 100);
        assert_eq!(r.series[2].requests, 50);
        assert_eq!(r.series[0].errors, 4);
        assert!(
            r.series[0].p95_us >= 1_090 && r.series[0].p95_us <= 1_110,
            "{}",
            r.series[0].p95_us
        );
        assert_eq!(r.summary.max_us, 1_249);
        let json = serde_json::to_value(&r.failed[0]).expect("serializes");
        assert_eq!(json["trace_id"], "00000000000000000000000000000001");
        assert_eq!(
            json["outcome"],
            serde_json::json!({"kind": "status", "value": 503})
        );
        assert_eq!(json["latency_us"], 1_000);
    }
}
