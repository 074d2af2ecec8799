//! The version matrix of `gauntlet run --matrix`: every scenario that ran against more than
//! one Prometheus/Alertmanager pairing, one row per expectation, the verdict and
//! time-to-detect of each version side by side, and a column saying what differs. This is
//! the answer to "will my alerts still fire after the upgrade?".
//!
//! Pure: it reads [`RunResults`] only, so `gauntlet report` renders it again from a saved
//! `results.json`. Scenarios are matched by file and name, expectations by id; with
//! `--repeat`, the first run of each version counts.

use std::collections::BTreeMap;

use super::model::{ExpectationStatus, RunResults, ScenarioResult};
use super::table::{Cell, Column, Table};
use super::text::{fmt_ms, fmt_opt_ms};
use crate::stack::PrometheusVersion;

/// The sentence above the matrix in the reports.
pub const INTRO: &str = "Each scenario ran once per Prometheus/Alertmanager pairing (gauntlet run --matrix). \
A different verdict, or a time to detect more than 1.5 s and 20 % apart, is listed under Differs: \
that is what would change for these alerts after the upgrade.";

/// Two times to detect closer than this are the same reaction: scrape and evaluation
/// alignment alone move a detection by up to about one interval each between runs (at 1 s
/// intervals the shipped scenarios' times differed between the versions by up to 1.5 s, in
/// both directions).
const SAME_TIME_MS: u64 = 1_500;
/// ... or closer than this share of the smaller one.
const SAME_TIME_SHARE: f64 = 0.2;

/// One expectation (or one scenario that produced none) across versions.
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixRow {
    /// Scenario name.
    pub scenario: String,
    /// `expect[0] alert HighErrorRate firing`, or `-` for a scenario without results.
    pub expectation: String,
    /// Per version in [`PrometheusVersion::ALL`] order: the verdict word and time to detect,
    /// `None` when the scenario did not run against that version.
    pub cells: Vec<Option<(String, Option<u64>)>>,
    /// What differs between the versions (empty when nothing does).
    pub differs: String,
}

fn selected(s: &ScenarioResult) -> Option<PrometheusVersion> {
    s.stack_versions
        .as_ref()
        .and_then(|v| v.selected.as_deref())
        .and_then(PrometheusVersion::parse)
}

/// Scenarios (by file and name, in run order) that ran against at least two versions, each
/// with its first result per version.
fn groups(results: &RunResults) -> Vec<BTreeMap<PrometheusVersion, &ScenarioResult>> {
    let mut order: Vec<(&str, &str)> = Vec::new();
    let mut by_key: BTreeMap<(&str, &str), BTreeMap<PrometheusVersion, &ScenarioResult>> =
        BTreeMap::new();
    for s in &results.scenarios {
        let Some(version) = selected(s) else { continue };
        let key = (s.file.as_str(), s.name.as_str());
        if !by_key.contains_key(&key) {
            order.push(key);
        }
        by_key.entry(key).or_default().entry(version).or_insert(s);
    }
    order
        .into_iter()
        .filter_map(|k| by_key.remove(&k))
        .filter(|g| g.len() > 1)
        .collect()
}

/// Whether the run compared versions (a matrix section is worth showing).
pub fn applies(results: &RunResults) -> bool {
    !groups(results).is_empty()
}

/// The matrix rows of a run (empty when no scenario ran against two versions).
pub fn rows(results: &RunResults) -> Vec<MatrixRow> {
    let mut rows = Vec::new();
    for group in groups(results) {
        let Some(first) = group.values().next() else {
            continue;
        };
        // Expectation ids in the order of the first version that has them.
        let mut ids: Vec<(&str, &str)> = Vec::new();
        for s in group.values() {
            for e in &s.expectations {
                if !ids.iter().any(|(id, _)| *id == e.id) {
                    ids.push((&e.id, &e.description));
                }
            }
        }
        if ids.is_empty() {
            let cells = PrometheusVersion::ALL
                .iter()
                .map(|v| group.get(v).map(|s| (s.status.as_str().to_owned(), None)))
                .collect();
            rows.push(finish(first.name.clone(), "-".to_owned(), cells));
            continue;
        }
        for (id, description) in ids {
            let cells = PrometheusVersion::ALL
                .iter()
                .map(|v| {
                    group.get(v).map(|s| {
                        match s.expectations.iter().find(|e| e.id == id) {
                            Some(e) => (e.status.as_str().to_owned(), e.time_to_detect_ms),
                            // The run stopped before this expectation was decided.
                            None => (s.status.as_str().to_owned(), None),
                        }
                    })
                })
                .collect();
            rows.push(finish(
                first.name.clone(),
                format!("{id} {description}"),
                cells,
            ));
        }
    }
    rows
}

fn finish(
    scenario: String,
    expectation: String,
    cells: Vec<Option<(String, Option<u64>)>>,
) -> MatrixRow {
    let differs = difference(&cells);
    MatrixRow {
        scenario,
        expectation,
        cells,
        differs,
    }
}

/// What differs across the versions that ran: the verdict, else a time to detect further
/// apart than run-to-run alignment explains.
fn difference(cells: &[Option<(String, Option<u64>)>]) -> String {
    let ran: Vec<(PrometheusVersion, &(String, Option<u64>))> = PrometheusVersion::ALL
        .into_iter()
        .zip(cells)
        .filter_map(|(v, c)| c.as_ref().map(|c| (v, c)))
        .collect();
    let mut notes = Vec::new();
    let not_run: Vec<&str> = PrometheusVersion::ALL
        .into_iter()
        .zip(cells)
        .filter(|(_, c)| c.is_none())
        .map(|(v, _)| v.as_str())
        .collect();
    if !not_run.is_empty() {
        notes.push(format!("not run on {}", not_run.join(", ")));
    }
    let Some((base_version, (base_status, base_ttd))) = ran.first().copied() else {
        return notes.join("; ");
    };
    for (v, (status, ttd)) in ran.iter().skip(1).copied() {
        if status != base_status {
            notes.push(format!(
                "verdict: {base_status} on {base_version}, {status} on {v}"
            ));
        } else if status == ExpectationStatus::Met.as_str()
            && let (Some(a), Some(b)) = (*base_ttd, *ttd)
        {
            let delta = b.abs_diff(a);
            let smaller = a.min(b) as f64;
            if delta > SAME_TIME_MS && delta as f64 > SAME_TIME_SHARE * smaller {
                let sign = if b > a { "+" } else { "−" };
                notes.push(format!("time to detect {sign}{} on {v}", fmt_ms(delta)));
            }
        }
    }
    notes.join("; ")
}

/// Columns of the matrix table: one verdict and one time column per known version.
const COLUMNS: &[Column] = &[
    text("Scenario"),
    text("Expectation"),
    text("Prometheus 2.42"),
    number("Time to detect (2.42)"),
    text("Prometheus 3.16"),
    number("Time to detect (3.16)"),
    text("Differs"),
];

const fn text(title: &'static str) -> Column {
    Column {
        title,
        numeric: false,
        class: None,
    }
}

const fn number(title: &'static str) -> Column {
    Column {
        title,
        numeric: true,
        class: None,
    }
}

/// The matrix as a report table (Markdown and HTML).
pub(crate) fn table(results: &RunResults) -> Table {
    debug_assert_eq!(PrometheusVersion::ALL.len() * 2 + 3, COLUMNS.len());
    let rows = rows(results)
        .into_iter()
        .map(|r| {
            let mut row = vec![Cell::Scenario(r.scenario), Cell::Text(r.expectation)];
            for c in &r.cells {
                match c {
                    Some((word, ttd)) => {
                        row.push(Cell::Status {
                            word: status_word(word),
                            alert: word != "met",
                        });
                        row.push(Cell::Text(fmt_opt_ms(*ttd)));
                    }
                    None => {
                        row.push(Cell::Text("not run".to_owned()));
                        row.push(Cell::Text("-".to_owned()));
                    }
                }
            }
            row.push(Cell::Text(r.differs));
            row
        })
        .collect();
    Table {
        columns: COLUMNS,
        rows,
    }
}

/// The static word for a status name (cells hold `&'static str`).
fn status_word(word: &str) -> &'static str {
    const WORDS: [&str; 6] = ["met", "missed", "skipped", "incomplete", "error", "unknown"];
    WORDS.into_iter().find(|w| *w == word).unwrap_or("unknown")
}

/// The matrix as a terminal table (`tabled`, no colour so widths stay right).
pub fn render_terminal(results: &RunResults) -> String {
    let mut b = tabled::builder::Builder::default();
    b.push_record(COLUMNS.iter().map(|c| c.title.to_owned()));
    for r in rows(results) {
        let mut record = vec![r.scenario, r.expectation];
        for c in &r.cells {
            match c {
                Some((word, ttd)) => {
                    record.push(word.clone());
                    record.push(fmt_opt_ms(*ttd));
                }
                None => {
                    record.push("not run".to_owned());
                    record.push("-".to_owned());
                }
            }
        }
        record.push(if r.differs.is_empty() {
            "-".to_owned()
        } else {
            r.differs
        });
        b.push_record(record);
    }
    let mut table = b.build();
    table.with(tabled::settings::Style::rounded());
    table.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::{
        Environment, ExpectationKind, ExpectationPhase, ExpectationResult, HostFacts,
        ScenarioStatus, StackVersions,
    };

    fn expectation(id: &str, status: ExpectationStatus, ttd: Option<u64>) -> ExpectationResult {
        ExpectationResult {
            id: id.into(),
            kind: ExpectationKind::Alert,
            description: "alert HighErrorRate firing".into(),
            phase: ExpectationPhase::Faults,
            status,
            time_to_detect_ms: ttd,
            deadline_ms: 20_000,
            floor_ms: None,
            last_observed: None,
            backend: "prometheus".into(),
            backend_real: true,
            skipped_reason: None,
            observed_at_ms: None,
            time_source: None,
            resolution_ms: None,
        }
    }

    fn scenario(version: &str, expectations: Vec<ExpectationResult>) -> ScenarioResult {
        ScenarioResult {
            name: "error-burst".into(),
            file: "scenarios/error-burst.yaml".into(),
            repetition: None,
            status: ScenarioResult::derive_status(&expectations, &[]),
            duration_ms: 1,
            phases: vec![],
            faults: vec![],
            expectations,
            load: None,
            timeseries: vec![],
            overhead: None,
            skipped_reason: None,
            error: None,
            config_notes: vec![],
            alerts_fired: Vec::new(),
            stack_versions: Some(StackVersions {
                selected: Some(version.into()),
                prometheus: None,
                alertmanager: None,
            }),
        }
    }

    fn run(scenarios: Vec<ScenarioResult>) -> RunResults {
        let mut r = RunResults::new(
            std::time::SystemTime::UNIX_EPOCH,
            Environment {
                components: vec![],
                host: HostFacts::detect(),
            },
        );
        r.scenarios = scenarios;
        r
    }

    #[test]
    fn versions_side_by_side_with_what_differs() {
        use ExpectationStatus::{Met, Missed};
        let results = run(vec![
            scenario(
                "2.42",
                vec![
                    expectation("expect[0]", Met, Some(6_000)),
                    expectation("expect[1]", Met, Some(9_000)),
                    expectation("recover.expect[0]", Met, Some(12_000)),
                ],
            ),
            scenario(
                "3.16",
                vec![
                    expectation("expect[0]", Met, Some(6_400)),
                    expectation("expect[1]", Missed, None),
                    expectation("recover.expect[0]", Met, Some(9_500)),
                ],
            ),
        ]);
        assert!(applies(&results));
        let rows = rows(&results);
        let differs: Vec<&str> = rows.iter().map(|r| r.differs.as_str()).collect();
        assert_eq!(
            differs,
            [
                "",
                "verdict: met on 2.42, missed on 3.16",
                "time to detect −2.5s on 3.16"
            ]
        );
        assert_eq!(rows[1].cells[1], Some(("missed".to_owned(), None)));
        let text = render_terminal(&results);
        assert!(text.contains("Prometheus 3.16"), "{text}");
        assert!(
            text.contains("verdict: met on 2.42, missed on 3.16"),
            "{text}"
        );
    }

    #[test]
    fn one_version_is_no_matrix() {
        let results = run(vec![scenario(
            "2.42",
            vec![expectation("expect[0]", ExpectationStatus::Met, Some(1))],
        )]);
        assert!(!applies(&results));
        assert!(rows(&results).is_empty());
        let mut errored = scenario("3.16", vec![]);
        errored.status = ScenarioStatus::Error;
        let results = run(vec![
            scenario(
                "2.42",
                vec![expectation("expect[0]", ExpectationStatus::Met, Some(1))],
            ),
            errored,
        ]);
        let rows = rows(&results);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].differs, "verdict: met on 2.42, error on 3.16");
    }
}
