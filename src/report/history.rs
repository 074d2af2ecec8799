//! Nightly history: one summary line per run appended to a JSONL file, and a comparison of
//! the current run with a rolling baseline (median time-to-detect per expectation over the
//! last K runs) that flags regressions. Everything but [`append`]/[`load`] is pure.

use std::io::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tabled::builder::Builder;
use tabled::settings::Style;

use super::model::{ExpectationStatus, RunResults, ScenarioStatus};
use super::output::ReportError;
use super::text::fmt_opt_ms;

/// Version of the history line format.
pub const HISTORY_VERSION: u32 = 1;

/// One run, as kept in the history file (one JSON object per line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// [`HISTORY_VERSION`].
    pub history_version: u32,
    /// When the run started (RFC 3339).
    pub started_at: String,
    /// gauntlet version of the run.
    pub gauntlet_version: String,
    /// Per scenario.
    pub scenarios: Vec<HistoryScenario>,
}

/// One scenario of a run in the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryScenario {
    /// Scenario name.
    pub name: String,
    /// Verdict.
    pub status: ScenarioStatus,
    /// Per expectation.
    pub expectations: Vec<HistoryExpectation>,
}

/// One expectation of a run in the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryExpectation {
    /// Expectation id (`expect[2]`).
    pub id: String,
    /// Description, for display.
    pub description: String,
    /// Verdict.
    pub status: ExpectationStatus,
    /// Time to detect, when met.
    pub time_to_detect_ms: Option<u64>,
}

/// Reduces a run to its history line.
pub fn summarize(results: &RunResults) -> HistoryEntry {
    HistoryEntry {
        history_version: HISTORY_VERSION,
        started_at: results.started_at.clone(),
        gauntlet_version: results.gauntlet_version.clone(),
        scenarios: results
            .scenarios
            .iter()
            .map(|s| HistoryScenario {
                name: s.name.clone(),
                status: s.status,
                expectations: s
                    .expectations
                    .iter()
                    .map(|e| HistoryExpectation {
                        id: e.id.clone(),
                        description: e.description.clone(),
                        status: e.status,
                        time_to_detect_ms: e.time_to_detect_ms,
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// Appends `entry` as one line to the JSONL file at `path` (created if missing).
pub fn append(path: &Path, entry: &HistoryEntry) -> Result<(), ReportError> {
    let mut line = serde_json::to_string(entry).map_err(ReportError::Serialize)?;
    line.push('\n');
    let io_err = |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io_err)?;
    // One write call per line, so concurrent appenders do not interleave within a line.
    f.write_all(line.as_bytes()).map_err(io_err)
}

/// Parses history text (JSONL; blank lines ignored), oldest first.
pub fn parse(text: &str, origin: &Path) -> Result<Vec<HistoryEntry>, ReportError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|source| ReportError::History {
                path: origin.to_path_buf(),
                line: i + 1,
                source,
            })
        })
        .collect()
}

/// Reads the history file; a missing file is an empty history.
pub fn load(path: &Path) -> Result<Vec<HistoryEntry>, ReportError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text, path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(ReportError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// When a time-to-detect counts as regressed.
#[derive(Debug, Clone, PartialEq)]
pub struct RegressionPolicy {
    /// How many previous runs form the baseline (K).
    pub window: usize,
    /// Regressed when current > median × factor …
    pub factor: f64,
    /// … and current − median ≥ this (so 200 ms → 450 ms is not noise-flagged).
    pub min_increase_ms: u64,
    /// Fewer measured values than this in the window: no baseline.
    pub min_samples: usize,
}

impl Default for RegressionPolicy {
    fn default() -> Self {
        RegressionPolicy {
            window: 7,
            factor: 1.5,
            min_increase_ms: 1000,
            min_samples: 3,
        }
    }
}

/// How an expectation compares with its baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trend {
    /// Within the policy.
    Steady,
    /// Time-to-detect above the policy threshold.
    Regressed,
    /// Missed now, met at least once in the window.
    NewlyMissed,
    /// Missed now and in every evaluated run of the window.
    StillMissed,
    /// Not enough measured runs in the window.
    NoBaseline,
    /// Skipped now.
    Skipped,
}

impl Trend {
    /// Lowercase name for tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Trend::Steady => "steady",
            Trend::Regressed => "REGRESSED",
            Trend::NewlyMissed => "NEWLY MISSED",
            Trend::StillMissed => "still missed",
            Trend::NoBaseline => "no baseline",
            Trend::Skipped => "skipped",
        }
    }
}

/// One expectation of the current run against its baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Scenario name.
    pub scenario: String,
    /// Expectation id.
    pub id: String,
    /// Description.
    pub description: String,
    /// Current verdict.
    pub status: ExpectationStatus,
    /// Current time-to-detect.
    pub current_ms: Option<u64>,
    /// Median time-to-detect over the window (when there are enough samples).
    pub baseline_median_ms: Option<u64>,
    /// Measured values in the window.
    pub baseline_samples: usize,
    /// current / median.
    pub ratio: Option<f64>,
    /// The finding.
    pub trend: Trend,
}

impl Comparison {
    /// A finding a nightly job should fail or page on.
    pub fn is_regression(&self) -> bool {
        matches!(self.trend, Trend::Regressed | Trend::NewlyMissed)
    }
}

/// Median of `values` (mean of the middle two for an even count, rounded); `None` if empty.
pub(crate) fn median(values: &mut [u64]) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]).div_ceil(2)
    })
}

/// Compares `current` with the last `policy.window` entries of `previous` (oldest first),
/// per `(scenario, expectation id)`.
pub fn compare(
    previous: &[HistoryEntry],
    current: &HistoryEntry,
    policy: &RegressionPolicy,
) -> Vec<Comparison> {
    let window = &previous[previous.len().saturating_sub(policy.window)..];
    let mut out = Vec::new();
    for s in &current.scenarios {
        for e in &s.expectations {
            let past: Vec<&HistoryExpectation> = window
                .iter()
                .flat_map(|run| run.scenarios.iter().filter(|ps| ps.name == s.name))
                .flat_map(|ps| ps.expectations.iter().filter(|pe| pe.id == e.id))
                .collect();
            let mut measured: Vec<u64> = past
                .iter()
                .filter(|pe| pe.status == ExpectationStatus::Met)
                .filter_map(|pe| pe.time_to_detect_ms)
                .collect();
            let samples = measured.len();
            let baseline = if samples >= policy.min_samples.max(1) {
                median(&mut measured)
            } else {
                None
            };
            let ratio = match (e.time_to_detect_ms, baseline) {
                (Some(c), Some(b)) if b > 0 => Some(c as f64 / b as f64),
                _ => None,
            };
            let trend = match e.status {
                ExpectationStatus::Skipped => Trend::Skipped,
                ExpectationStatus::Missed => {
                    if past.iter().any(|pe| pe.status == ExpectationStatus::Met) {
                        Trend::NewlyMissed
                    } else {
                        Trend::StillMissed
                    }
                }
                ExpectationStatus::Met => match (e.time_to_detect_ms, baseline) {
                    (None, _) => Trend::Steady,
                    (Some(_), None) => Trend::NoBaseline,
                    (Some(c), Some(b)) => {
                        if c as f64 > b as f64 * policy.factor
                            && c.saturating_sub(b) >= policy.min_increase_ms
                        {
                            Trend::Regressed
                        } else {
                            Trend::Steady
                        }
                    }
                },
            };
            out.push(Comparison {
                scenario: s.name.clone(),
                id: e.id.clone(),
                description: e.description.clone(),
                status: e.status,
                current_ms: e.time_to_detect_ms,
                baseline_median_ms: baseline,
                baseline_samples: samples,
                ratio,
                trend,
            });
        }
    }
    out
}

/// A text table of comparisons for the nightly log.
pub fn render_table(comparisons: &[Comparison]) -> String {
    let mut b = Builder::default();
    b.push_record([
        "Scenario",
        "Expectation",
        "Status",
        "Time to detect",
        "Baseline median",
        "Samples",
        "Ratio",
        "Trend",
    ]);
    for c in comparisons {
        b.push_record([
            c.scenario.clone(),
            format!("{} {}", c.id, c.description),
            c.status.as_str().to_owned(),
            fmt_opt_ms(c.current_ms),
            fmt_opt_ms(c.baseline_median_ms),
            c.baseline_samples.to_string(),
            c.ratio
                .map_or_else(|| "-".to_owned(), |r| format!("{r:.2}x")),
            c.trend.as_str().to_owned(),
        ]);
    }
    let mut t = b.build();
    t.with(Style::rounded());
    t.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(values: &[(&str, ExpectationStatus, Option<u64>)]) -> HistoryEntry {
        HistoryEntry {
            history_version: HISTORY_VERSION,
            started_at: "2025-01-01T00:00:00.000Z".into(),
            gauntlet_version: "0.1.0".into(),
            scenarios: vec![HistoryScenario {
                name: "orders".into(),
                status: ScenarioStatus::Met,
                expectations: values
                    .iter()
                    .map(|(id, status, ttd)| HistoryExpectation {
                        id: (*id).into(),
                        description: "d".into(),
                        status: *status,
                        time_to_detect_ms: *ttd,
                    })
                    .collect(),
            }],
        }
    }

    use ExpectationStatus::{Met, Missed, Skipped};

    #[test]
    fn median_handles_odd_and_even() {
        assert_eq!(median(&mut [5, 1, 3]), Some(3));
        assert_eq!(median(&mut [4, 1, 3, 2]), Some(3)); // (2+3)/2 rounded up
        assert_eq!(median(&mut []), None);
    }

    #[test]
    fn flags_a_regression_against_the_rolling_median() {
        let prev: Vec<_> = [4000, 4200, 3900, 4100, 60_000]
            .iter()
            .map(|&t| entry(&[("expect[0]", Met, Some(t))]))
            .collect();
        let policy = RegressionPolicy::default();
        // Median of the window is 4100 (the 60 s outlier does not move it).
        let cur = entry(&[("expect[0]", Met, Some(6000))]);
        let c = &compare(&prev, &cur, &policy)[0];
        assert_eq!(c.baseline_median_ms, Some(4100));
        assert_eq!(c.baseline_samples, 5);
        assert_eq!(c.trend, Trend::Steady, "6.0s < 1.5 × 4.1s");
        let cur = entry(&[("expect[0]", Met, Some(6200))]);
        let c = &compare(&prev, &cur, &policy)[0];
        assert_eq!(c.trend, Trend::Regressed, "6.2s > 1.5 × 4.1s");
        assert!(c.is_regression());
        assert!((c.ratio.expect("has baseline") - 6200.0 / 4100.0).abs() < 1e-9);
    }

    #[test]
    fn window_keeps_only_the_last_k_runs() {
        let mut prev: Vec<_> = (0..10)
            .map(|_| entry(&[("expect[0]", Met, Some(1000))]))
            .collect();
        prev.extend((0..3).map(|_| entry(&[("expect[0]", Met, Some(10_000))])));
        let policy = RegressionPolicy {
            window: 3,
            ..RegressionPolicy::default()
        };
        let cur = entry(&[("expect[0]", Met, Some(10_500))]);
        let c = &compare(&prev, &cur, &policy)[0];
        assert_eq!(c.baseline_median_ms, Some(10_000));
        assert_eq!(c.trend, Trend::Steady);
    }

    #[test]
    fn small_absolute_increases_are_not_flagged() {
        let prev: Vec<_> = (0..5)
            .map(|_| entry(&[("expect[0]", Met, Some(200))]))
            .collect();
        let cur = entry(&[("expect[0]", Met, Some(900))]);
        let c = &compare(&prev, &cur, &RegressionPolicy::default())[0];
        assert_eq!(c.trend, Trend::Steady, "4.5x but only +700ms");
    }

    #[test]
    fn misses_and_missing_baselines() {
        let prev = vec![
            entry(&[("a", Met, Some(1000)), ("b", Missed, None)]),
            entry(&[("a", Met, Some(1000)), ("b", Missed, None)]),
        ];
        let cur = entry(&[
            ("a", Missed, None),
            ("b", Missed, None),
            ("c", Met, Some(5)),
            ("d", Skipped, None),
        ]);
        let trends: Vec<_> = compare(&prev, &cur, &RegressionPolicy::default())
            .into_iter()
            .map(|c| (c.id, c.trend))
            .collect();
        assert_eq!(
            trends,
            vec![
                ("a".to_owned(), Trend::NewlyMissed),
                ("b".to_owned(), Trend::StillMissed),
                ("c".to_owned(), Trend::NoBaseline),
                ("d".to_owned(), Trend::Skipped),
            ]
        );
    }

    #[test]
    fn append_then_load_round_trips_and_bad_lines_are_located() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("history.jsonl");
        assert!(load(&path).expect("missing is empty").is_empty());
        let a = entry(&[("expect[0]", Met, Some(1))]);
        let b = entry(&[("expect[0]", Missed, None)]);
        append(&path, &a).expect("append");
        append(&path, &b).expect("append");
        assert_eq!(load(&path).expect("loads"), vec![a, b]);
        let err = parse("\n{}\n", &path).expect_err("bad line");
        assert!(
            err.to_string()
                .ends_with("history.jsonl:2: invalid history entry"),
            "{err}"
        );
    }
}
