//! The pre-release report's content without its format: the tables both `report.md` and
//! `report.html` show (components, verdict per scenario, load, faults, expectations per kind,
//! overhead) as rows of [`Cell`]s holding unescaped text and saying what they are, plus the
//! lines around them (totals, host, recorded backends). `markdown` and `html` only decide how
//! a table and each kind of cell look, so the two reports cannot drift apart.

use super::model::{
    ExpectationKind, ExpectationStatus, FaultRecord, LoadSummary, OverheadResult, RunResults,
    ScenarioResult, ScenarioStatus,
};
use super::text::{fmt_ms, fmt_num, fmt_opt_ms, fmt_pct};

/// A column of a report table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Column {
    /// Header text (plain, needs no escaping).
    pub title: &'static str,
    /// Numbers and durations: right-aligned.
    pub numeric: bool,
    /// CSS class the HTML report styles the column's cells with, when not numeric.
    pub class: Option<&'static str>,
}

const fn col(title: &'static str) -> Column {
    Column {
        title,
        numeric: false,
        class: None,
    }
}

const fn num(title: &'static str) -> Column {
    Column {
        title,
        numeric: true,
        class: None,
    }
}

const fn styled(title: &'static str, class: &'static str) -> Column {
    Column {
        title,
        numeric: false,
        class: Some(class),
    }
}

/// One cell; text is unescaped, the renderer escapes it for its format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cell {
    /// User text or a formatted value.
    Text(String),
    /// A scenario name, linked to the scenario's section where the format has links.
    Scenario(String),
    /// A file path, set as code.
    Path(String),
    /// An expectation id, set as code where the format styles ids.
    Id(String),
    /// A status word; `alert` marks one a reader must not miss (a missed expectation).
    Status {
        /// `met`, `missed`, …
        word: &'static str,
        /// Emphasize it.
        alert: bool,
    },
    /// Whether a component was the real thing (else recorded responses).
    Real(bool),
    /// The backend an expectation asked, marked when its responses were recorded.
    Backend {
        /// Backend name.
        name: String,
        /// A live backend, not recorded responses.
        real: bool,
    },
}

impl Cell {
    fn text(s: impl Into<String>) -> Self {
        Cell::Text(s.into())
    }
}

/// A table: its columns and rows of one cell per column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Table {
    /// Columns, left to right.
    pub columns: &'static [Column],
    /// Rows, each as long as `columns`.
    pub rows: Vec<Vec<Cell>>,
}

const COMPONENTS: &[Column] = &[
    col("Component"),
    col("Version"),
    col("Provided as"),
    col("Real"),
    col("Note"),
];

/// "What was tested": one row per component.
pub(crate) fn components(results: &RunResults) -> Table {
    let rows = results
        .environment
        .components
        .iter()
        .map(|c| {
            vec![
                Cell::text(&c.name),
                Cell::text(c.version.as_deref().unwrap_or("unknown")),
                Cell::text(c.kind.as_str()),
                Cell::Real(c.real),
                Cell::text(c.note.as_deref().unwrap_or("")),
            ]
        })
        .collect();
    Table {
        columns: COMPONENTS,
        rows,
    }
}

const SCENARIOS: &[Column] = &[
    col("Scenario"),
    col("File"),
    col("Status"),
    num("Met"),
    num("Missed"),
    num("Skipped"),
    num("Duration"),
    col("Reason"),
];

/// "Verdict per scenario": one row per scenario with its expectation counts.
pub(crate) fn scenarios(results: &RunResults) -> Table {
    let rows = results
        .scenarios
        .iter()
        .map(|s| {
            let n = |st| {
                let count = s.expectations.iter().filter(|e| e.status == st).count();
                Cell::Text(count.to_string())
            };
            vec![
                Cell::Scenario(s.name.clone()),
                Cell::Path(s.file.clone()),
                Cell::Status {
                    word: s.status.as_str(),
                    alert: false,
                },
                n(ExpectationStatus::Met),
                n(ExpectationStatus::Missed),
                n(ExpectationStatus::Skipped),
                Cell::Text(fmt_ms(s.duration_ms)),
                Cell::text(scenario_reason(s)),
            ]
        })
        .collect();
    Table {
        columns: SCENARIOS,
        rows,
    }
}

const LOAD: &[Column] = &[
    num("Requests"),
    num("Failures"),
    num("Throughput"),
    num("p50"),
    num("p95"),
    num("p99"),
    num("max"),
];

/// The load totals of a scenario, one row.
pub(crate) fn load(l: &LoadSummary) -> Table {
    let ms = |v: f64| Cell::Text(format!("{} ms", fmt_num(v, 1)));
    Table {
        columns: LOAD,
        rows: vec![vec![
            Cell::Text(l.requests.to_string()),
            Cell::Text(l.failures.to_string()),
            Cell::Text(format!("{} req/s", fmt_num(l.throughput_rps, 1))),
            ms(l.p50_ms),
            ms(l.p95_ms),
            ms(l.p99_ms),
            ms(l.max_ms),
        ]],
    }
}

const FAULTS: &[Column] = &[
    col("Fault"),
    col("Kind"),
    col("Target"),
    num("Planned"),
    num("Injected"),
    num("Rolled back"),
];

/// The faults of a scenario with when they were planned, injected and rolled back; `None`
/// when there were none.
pub(crate) fn faults(faults: &[FaultRecord]) -> Option<Table> {
    if faults.is_empty() {
        return None;
    }
    let rows = faults
        .iter()
        .map(|f| {
            vec![
                Cell::text(&f.name),
                Cell::text(&f.kind),
                Cell::text(&f.target),
                Cell::Text(fmt_ms(f.planned_at_ms)),
                Cell::Text(f.injected_at_ms.map_or_else(|| "never".to_owned(), fmt_ms)),
                Cell::Text(f.rolled_back_at_ms.map_or_else(|| "-".to_owned(), fmt_ms)),
            ]
        })
        .collect();
    Some(Table {
        columns: FAULTS,
        rows,
    })
}

const EXPECTATIONS: &[Column] = &[
    styled("Id", "id"),
    styled("Expectation", "desc"),
    col("Phase"),
    col("Status"),
    num("Time to detect"),
    num("Deadline"),
    num("Floor"),
    num("Headroom"),
    styled("Last observed", "obs"),
    col("Backend"),
];

/// One table per expectation kind the scenario has, in [`ExpectationKind::ALL`] order.
pub(crate) fn expectations(s: &ScenarioResult) -> Vec<(ExpectationKind, Table)> {
    ExpectationKind::ALL
        .into_iter()
        .filter_map(|kind| {
            let rows: Vec<Vec<Cell>> = s
                .expectations
                .iter()
                .filter(|e| e.kind == kind)
                .map(|e| {
                    vec![
                        Cell::Id(e.id.clone()),
                        Cell::text(&e.description),
                        Cell::text(e.phase.as_str()),
                        Cell::Status {
                            word: e.status.as_str(),
                            alert: e.status == ExpectationStatus::Missed,
                        },
                        Cell::Text(fmt_opt_ms(e.time_to_detect_ms)),
                        Cell::Text(fmt_ms(e.deadline_ms)),
                        Cell::Text(fmt_opt_ms(e.floor_ms)),
                        Cell::Text(headroom(e.deadline_ms, e.time_to_detect_ms)),
                        Cell::Text(e.observed_text()),
                        Cell::Backend {
                            name: e.backend.clone(),
                            real: !e.is_recorded(),
                        },
                    ]
                })
                .collect();
            (!rows.is_empty()).then_some((
                kind,
                Table {
                    columns: EXPECTATIONS,
                    rows,
                },
            ))
        })
        .collect()
}

const OVERHEAD: &[Column] = &[
    col("Measure"),
    num("Without"),
    num("With"),
    num("Change"),
    num("Limit"),
];

/// The overhead check: CPU per request (with its interval and the A/A noise floor), p99
/// latency increase and throughput drop, each against its limit ("-": not checked).
pub(crate) fn overhead(ov: &OverheadResult) -> Table {
    let with_unit = |v: Option<f64>, prec: usize, unit: &str| {
        Cell::Text(v.map_or_else(
            || "-".to_owned(),
            |v| format!("{} {unit}", fmt_num(v, prec)),
        ))
    };
    let limit = |v: Option<f64>| Cell::Text(v.map_or_else(|| "-".to_owned(), fmt_pct));
    let mut rows = Vec::new();
    if let Some(cpu) = &ov.cpu {
        rows.push(vec![
            Cell::text("CPU per request"),
            with_unit(Some(cpu.baseline_cpu_ms_per_request), 3, "ms"),
            with_unit(Some(cpu.instrumented_cpu_ms_per_request), 3, "ms"),
            Cell::Text(format!(
                "{} [{}, {}] {}",
                fmt_pct(cpu.increase_pct),
                fmt_pct(cpu.interval_pct[0]),
                fmt_pct(cpu.interval_pct[1]),
                cpu.verdict
            )),
            limit(ov.limits.max_cpu_increase_pct),
        ]);
        rows.push(vec![
            Cell::text("A/A noise (off vs off)"),
            Cell::text("-"),
            Cell::text("-"),
            Cell::Text(format!(
                "[{}, {}]",
                fmt_pct(cpu.noise_pct[0]),
                fmt_pct(cpu.noise_pct[1])
            )),
            Cell::text("-"),
        ]);
        rows.push(vec![
            Cell::text("RSS, all services"),
            with_unit(Some(cpu.baseline_rss_mb), 0, "MiB"),
            with_unit(Some(cpu.instrumented_rss_mb), 0, "MiB"),
            Cell::Text(fmt_pct(
                (cpu.instrumented_rss_mb / cpu.baseline_rss_mb - 1.0) * 100.0,
            )),
            Cell::text("-"),
        ]);
    }
    rows.push(vec![
        Cell::text("p99 latency increase"),
        with_unit(ov.baseline_p99_ms, 2, "ms"),
        with_unit(ov.instrumented_p99_ms, 2, "ms"),
        Cell::Text(fmt_pct(ov.p99_increase_pct)),
        limit(ov.limits.max_p99_increase_pct),
    ]);
    rows.push(vec![
        Cell::text("throughput drop"),
        with_unit(ov.baseline_rps, 1, "req/s"),
        with_unit(ov.instrumented_rps, 1, "req/s"),
        Cell::Text(fmt_pct(ov.throughput_drop_pct)),
        limit(ov.limits.max_throughput_drop_pct),
    ]);
    Table {
        columns: OVERHEAD,
        rows,
    }
}

/// Why a skipped or errored scenario did not pass; empty otherwise.
pub(crate) fn scenario_reason(s: &ScenarioResult) -> &str {
    match s.status {
        ScenarioStatus::Skipped => s.skipped_reason.as_deref().unwrap_or(""),
        ScenarioStatus::Error => s.error.as_deref().unwrap_or(""),
        _ => "",
    }
}

/// One-line totals, e.g. `2 scenarios (1 met, 1 missed); 12 expectations (9 met, …)`.
pub(crate) fn totals_line(results: &RunResults) -> String {
    let sc = results.scenario_counts();
    let ec = results.expectation_counts();
    format!(
        "{} scenarios ({} met, {} missed, {} skipped, {} error); {} expectations ({} met, {} missed, {} skipped)",
        sc.total(),
        sc.met,
        sc.missed,
        sc.skipped,
        sc.error,
        ec.total(),
        ec.met,
        ec.missed,
        ec.skipped
    )
}

/// The run line under the title: version, start and end, host; `escape` is applied to every
/// piece of text that came from outside.
pub(crate) fn run_line(results: &RunResults, escape: fn(&str) -> String) -> String {
    let host = &results.environment.host;
    format!(
        "gauntlet {} · started {} · finished {} · host {} {} ({} cores{})",
        escape(&results.gauntlet_version),
        escape(&results.started_at),
        escape(&results.finished_at),
        escape(&host.os),
        escape(&host.arch),
        host.cores,
        host.kernel
            .as_deref()
            .map_or_else(String::new, |k| format!(", kernel {}", escape(k))),
    )
}

/// Backends that expectations used in recorded (not real) form, deduplicated.
pub(crate) fn recorded_backends(results: &RunResults) -> Vec<String> {
    let mut v: Vec<String> = results
        .scenarios
        .iter()
        .flat_map(|s| &s.expectations)
        .filter(|e| e.is_recorded())
        .map(|e| e.backend.clone())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Headroom left before the deadline, e.g. `15.8s`, or `-` when not detected.
pub(crate) fn headroom(deadline_ms: u64, ttd_ms: Option<u64>) -> String {
    match ttd_ms {
        Some(t) if t <= deadline_ms => fmt_ms(deadline_ms - t),
        Some(t) => format!("-{}", fmt_ms(t - deadline_ms)),
        None => "-".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headroom_is_signed_and_dash_when_undetected() {
        assert_eq!(headroom(30_000, Some(14_200)), "15.8s");
        assert_eq!(headroom(10_000, Some(12_000)), "-2s");
        assert_eq!(headroom(10_000, None), "-");
    }

    #[test]
    fn every_row_has_one_cell_per_column() {
        let ov = OverheadResult {
            p99_increase_pct: 3.0,
            throughput_drop_pct: -1.0,
            limits: super::super::model::OverheadLimits {
                max_cpu_increase_pct: None,
                max_p99_increase_pct: Some(10.0),
                max_throughput_drop_pct: None,
            },
            status: ExpectationStatus::Met,
            baseline_p99_ms: Some(12.5),
            instrumented_p99_ms: None,
            baseline_rps: Some(200.0),
            instrumented_rps: Some(198.04),
            cpu: None,
        };
        let t = overhead(&ov);
        assert!(t.rows.iter().all(|r| r.len() == t.columns.len()));
        assert_eq!(t.rows[0][1], Cell::text("12.5 ms"));
        assert_eq!(t.rows[0][2], Cell::text("-"));
        assert_eq!(t.rows[1][2], Cell::text("198 req/s"));
        // A budget not given is not checked.
        assert_eq!(t.rows[1][4], Cell::text("-"));
        assert!(faults(&[]).is_none());
    }
}
