//! Flakiness over repeated runs (`--repeat N`): per expectation, how often it was met and the
//! spread of its time-to-detect (min/median/max). Pure functions over [`RunResults`].

use tabled::builder::Builder;
use tabled::settings::Style;

use super::history::median;
use super::model::{ExpectationStatus, RunResults};
use super::text::{fmt_opt_ms, fmt_pct};

/// Statistics of one expectation over repeated runs.
#[derive(Debug, Clone, PartialEq)]
pub struct FlakyStat {
    /// Scenario name.
    pub scenario: String,
    /// Expectation id.
    pub id: String,
    /// Description (from the first run that had it).
    pub description: String,
    /// Runs in which the expectation appeared.
    pub runs: usize,
    /// Runs in which it was met.
    pub met: usize,
    /// Runs in which it was missed.
    pub missed: usize,
    /// Runs in which it was skipped.
    pub skipped: usize,
    /// met / (met + missed); `None` when it was never evaluated.
    pub pass_rate: Option<f64>,
    /// Fastest time-to-detect.
    pub ttd_min_ms: Option<u64>,
    /// Median time-to-detect.
    pub ttd_median_ms: Option<u64>,
    /// Slowest time-to-detect.
    pub ttd_max_ms: Option<u64>,
}

impl FlakyStat {
    /// Met in some runs and missed in others.
    pub fn is_flaky(&self) -> bool {
        self.met > 0 && self.missed > 0
    }
}

/// Aggregates repeated runs per `(scenario, expectation id)`, in order of first appearance.
pub fn analyze(runs: &[RunResults]) -> Vec<FlakyStat> {
    let mut stats: Vec<(FlakyStat, Vec<u64>)> = Vec::new();
    for run in runs {
        for s in &run.scenarios {
            for e in &s.expectations {
                let idx = match stats
                    .iter()
                    .position(|(st, _)| st.scenario == s.name && st.id == e.id)
                {
                    Some(i) => i,
                    None => {
                        stats.push((
                            FlakyStat {
                                scenario: s.name.clone(),
                                id: e.id.clone(),
                                description: e.description.clone(),
                                runs: 0,
                                met: 0,
                                missed: 0,
                                skipped: 0,
                                pass_rate: None,
                                ttd_min_ms: None,
                                ttd_median_ms: None,
                                ttd_max_ms: None,
                            },
                            Vec::new(),
                        ));
                        stats.len() - 1
                    }
                };
                let (st, ttds) = &mut stats[idx];
                st.runs += 1;
                match e.status {
                    ExpectationStatus::Met => {
                        st.met += 1;
                        if let Some(t) = e.time_to_detect_ms {
                            ttds.push(t);
                        }
                    }
                    ExpectationStatus::Missed => st.missed += 1,
                    ExpectationStatus::Skipped => st.skipped += 1,
                }
            }
        }
    }
    stats
        .into_iter()
        .map(|(mut st, mut ttds)| {
            let evaluated = st.met + st.missed;
            st.pass_rate = (evaluated > 0).then(|| st.met as f64 / evaluated as f64);
            st.ttd_min_ms = ttds.iter().copied().min();
            st.ttd_max_ms = ttds.iter().copied().max();
            st.ttd_median_ms = median(&mut ttds);
            st
        })
        .collect()
}

/// A text table of the statistics.
pub fn render_table(stats: &[FlakyStat]) -> String {
    let mut b = Builder::default();
    b.push_record([
        "Scenario",
        "Expectation",
        "Runs",
        "Pass rate",
        "Missed",
        "Skipped",
        "TTD min",
        "TTD median",
        "TTD max",
        "Flaky",
    ]);
    for s in stats {
        b.push_record([
            s.scenario.clone(),
            format!("{} {}", s.id, s.description),
            s.runs.to_string(),
            s.pass_rate
                .map_or_else(|| "-".to_owned(), |r| fmt_pct(r * 100.0)),
            s.missed.to_string(),
            s.skipped.to_string(),
            fmt_opt_ms(s.ttd_min_ms),
            fmt_opt_ms(s.ttd_median_ms),
            fmt_opt_ms(s.ttd_max_ms),
            if s.is_flaky() { "FLAKY" } else { "" }.to_owned(),
        ]);
    }
    let mut t = b.build();
    t.with(Style::rounded());
    t.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::{
        Environment, ExpectationKind, ExpectationPhase, ExpectationResult, HostFacts,
        ScenarioResult, ScenarioStatus,
    };

    fn run(results: &[(&str, ExpectationStatus, Option<u64>)]) -> RunResults {
        let mut r = RunResults::new(
            std::time::SystemTime::UNIX_EPOCH,
            Environment {
                components: vec![],
                host: HostFacts {
                    os: "linux".into(),
                    arch: "x86_64".into(),
                    kernel: None,
                    cores: 2,
                },
            },
        );
        let expectations: Vec<_> = results
            .iter()
            .map(|(id, status, ttd)| ExpectationResult {
                id: (*id).into(),
                kind: ExpectationKind::Alert,
                description: format!("alert {id}"),
                phase: ExpectationPhase::Faults,
                status: *status,
                time_to_detect_ms: *ttd,
                deadline_ms: 20_000,
                floor_ms: None,
                last_observed: None,
                backend: "prometheus".into(),
                backend_real: true,
                skipped_reason: None,
                observed_at_ms: None,
                time_source: None,
                resolution_ms: None,
            })
            .collect();
        r.scenarios.push(ScenarioResult {
            name: "orders".into(),
            file: "orders.yaml".into(),
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
            stack_versions: None,
        });
        r
    }

    use ExpectationStatus::{Met, Missed, Skipped};

    #[test]
    fn pass_rate_and_spread_per_expectation() {
        let runs = vec![
            run(&[("a", Met, Some(4000)), ("b", Met, Some(100))]),
            run(&[("a", Missed, None), ("b", Met, Some(300))]),
            run(&[("a", Met, Some(9000)), ("b", Met, Some(200))]),
            run(&[("a", Met, Some(5000)), ("b", Skipped, None)]),
        ];
        let stats = analyze(&runs);
        assert_eq!(stats.len(), 2);
        let a = &stats[0];
        assert_eq!((a.runs, a.met, a.missed, a.skipped), (4, 3, 1, 0));
        assert_eq!(a.pass_rate, Some(0.75));
        assert_eq!(
            (a.ttd_min_ms, a.ttd_median_ms, a.ttd_max_ms),
            (Some(4000), Some(5000), Some(9000))
        );
        assert!(a.is_flaky());
        let b = &stats[1];
        assert_eq!(b.pass_rate, Some(1.0));
        assert_eq!(b.skipped, 1);
        assert_eq!(b.ttd_median_ms, Some(200));
        assert!(!b.is_flaky());
        let table = render_table(&stats);
        assert!(table.contains("FLAKY"), "{table}");
        assert!(table.contains("75%"), "{table}");
    }

    #[test]
    fn never_evaluated_has_no_pass_rate() {
        let stats = analyze(&[run(&[("a", Skipped, None)])]);
        assert_eq!(stats[0].pass_rate, None);
        assert_eq!(stats[0].ttd_median_ms, None);
        assert_eq!(
            ScenarioResult::derive_status(&[], &[]),
            ScenarioStatus::Skipped
        );
    }
}
