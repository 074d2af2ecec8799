//! A realistic `RunResults` shared by the report tests: three scenarios (one missed with a
//! recorded backend and a skipped expectation, one met, one skipped), load samples with a
//! fault window, overhead numbers; plus the event stream a runner would have sent for it.

#![allow(dead_code, reason = "each test binary uses a different part")]

use std::collections::BTreeMap;

use gauntlet::report::{
    Component, ComponentKind, CpuOverhead, Environment, ExpectationKind, ExpectationPhase,
    ExpectationResult, ExpectationStatus, FaultRecord, FiredAlert, HostFacts, LoadEngine,
    LoadSummary, LogLevel, OverheadLimits, OverheadResult, PhaseTiming, RunEvent, RunResults,
    ScenarioResult, ScenarioStatus, SeriesPoint, StackVersions,
};

#[expect(
    clippy::too_many_arguments,
    reason = "a table-like constructor for fixtures"
)]
fn exp(
    id: &str,
    kind: ExpectationKind,
    description: &str,
    phase: ExpectationPhase,
    status: ExpectationStatus,
    trigger_ms: u64,
    ttd: Option<u64>,
    deadline_ms: u64,
    floor_ms: Option<u64>,
    last_observed: Option<&str>,
    backend: &str,
    backend_real: bool,
) -> ExpectationResult {
    ExpectationResult {
        id: id.into(),
        kind,
        description: description.into(),
        phase,
        status,
        time_to_detect_ms: ttd,
        deadline_ms,
        floor_ms,
        last_observed: last_observed.map(Into::into),
        backend: backend.into(),
        backend_real,
        skipped_reason: None,
        observed_at_ms: ttd.map(|t| trigger_ms + t),
        time_source: None,
        resolution_ms: None,
    }
}

/// Load samples once a second: ~`rps` req/s, errors and latency raised inside the windows.
fn series(
    duration_s: u64,
    rps: f64,
    fault: (u64, u64),
    fault_error_rate: f64,
    fault_p95: f64,
) -> Vec<SeriesPoint> {
    (1..=duration_s)
        .map(|s| {
            let t_ms = s * 1000;
            // Deterministic wobble so the plot looks like a measurement.
            let wobble = ((s as f64) * 1.7).sin() * 0.03 + ((s as f64) * 0.37).cos() * 0.02;
            let in_fault = t_ms > fault.0 && t_ms <= fault.1 + 1000;
            SeriesPoint {
                t_ms,
                rps: (rps * (1.0 + wobble) * 10.0).round() / 10.0,
                error_rate: if in_fault {
                    ((fault_error_rate + wobble * 0.5) * 1000.0).round() / 1000.0
                } else if s % 17 == 0 {
                    0.001
                } else {
                    0.0
                },
                p95_ms: ((if in_fault { fault_p95 } else { 12.0 }) * (1.0 + wobble * 2.0) * 10.0)
                    .round()
                    / 10.0,
            }
        })
        .collect()
}

fn orders() -> ScenarioResult {
    use ExpectationKind as K;
    use ExpectationPhase::{Faults, Recover, SteadyState};
    use ExpectationStatus::{Met, Missed, Skipped};
    let inj = 20_012;
    let rb = 50_003;
    let mut expectations = vec![
        exp(
            "steady-state.expect[0]",
            K::NoAlerts,
            "no alert fires (any)",
            SteadyState,
            Met,
            0,
            None,
            20_000,
            None,
            Some("0 alerts firing"),
            "prometheus",
            true,
        ),
        exp(
            "expect[0]",
            K::Metric,
            r#"sum(rate(http_requests_total{service="orders",status=~"5.."}[15s])) > 0"#,
            Faults,
            Met,
            inj,
            Some(2_410),
            10_000,
            Some(2_000),
            Some("59.8 at 22.4s"),
            "prometheus",
            true,
        ),
        exp(
            "expect[1]",
            K::Alert,
            r#"alert HighErrorRate{service="orders"} firing"#,
            Faults,
            Met,
            inj,
            Some(8_120),
            20_000,
            Some(7_000),
            Some("firing since 28.1s"),
            "prometheus",
            true,
        ),
        exp(
            "expect[2]",
            K::Notification,
            "notification pager: HighErrorRate",
            Faults,
            Met,
            inj,
            Some(9_340),
            25_000,
            Some(8_000),
            Some("1 webhook (group HighErrorRate/orders)"),
            "alertmanager webhook sink",
            true,
        ),
        exp(
            "expect[3]",
            K::Trace,
            "error trace spans frontend → api-gateway → orders",
            Faults,
            Met,
            inj,
            Some(3_150),
            10_000,
            Some(1_000),
            Some("trace 4bf92f3577b34da6a3ce929d0e0e4736 (3 services)"),
            "jaeger",
            true,
        ),
        exp(
            "expect[4]",
            K::Log,
            "error log from orders with trace_id",
            Faults,
            Met,
            inj,
            Some(4_020),
            10_000,
            Some(1_000),
            Some("17 lines"),
            "loki",
            false,
        ),
        exp(
            "expect[5]",
            K::Correlation,
            "exemplar on http_request_duration_seconds links to a stored trace",
            Faults,
            Missed,
            inj,
            None,
            15_000,
            Some(2_000),
            Some("0 exemplars with trace_id at 35.0s"),
            "prometheus + jaeger",
            true,
        ),
        exp(
            "expect[6]",
            K::Dashboard,
            "dashboard slo: all panels have data",
            Faults,
            Skipped,
            inj,
            None,
            30_000,
            None,
            None,
            "grafana",
            false,
        ),
        exp(
            "recover.expect[0]",
            K::Alert,
            r#"alert HighErrorRate{service="orders"} resolved"#,
            Recover,
            Met,
            rb,
            Some(12_610),
            40_000,
            Some(6_000),
            Some("resolved at 62.6s"),
            "alertmanager",
            true,
        ),
        exp(
            "overhead",
            K::Overhead,
            "instrumentation overhead within limits",
            SteadyState,
            Met,
            0,
            None,
            20_000,
            None,
            Some("p99 +0.4%, throughput -0.2%"),
            "gauntlet load",
            true,
        ),
    ];
    expectations[7].skipped_reason =
        Some("grafana is not installed; no recording for dashboard slo".into());
    ScenarioResult {
        name: "orders-error-burst".into(),
        file: "scenarios/orders-error-burst.yaml".into(),
        repetition: None,
        status: ScenarioStatus::Missed,
        duration_ms: 91_350,
        phases: vec![
            PhaseTiming {
                name: "steady-state".into(),
                started_ms: 0,
                ended_ms: 20_000,
            },
            PhaseTiming {
                name: "faults".into(),
                started_ms: 20_000,
                ended_ms: 50_000,
            },
            PhaseTiming {
                name: "recover".into(),
                started_ms: 50_000,
                ended_ms: 90_000,
            },
        ],
        faults: vec![FaultRecord {
            name: "orders-500s".into(),
            kind: "http-errors".into(),
            target: "service orders (rate 0.3, status 500)".into(),
            planned_at_ms: 20_000,
            injected_at_ms: Some(inj),
            rolled_back_at_ms: Some(rb),
            error: None,
            proxy: None,
        }],
        expectations,
        load: Some(LoadSummary {
            requests: 17_982,
            failures: 1_803,
            throughput_rps: 199.8,
            p50_ms: 6.1,
            p95_ms: 14.8,
            p99_ms: 41.2,
            max_ms: 212.5,
            engine: LoadEngine::Open,
            users: None,
            sessions: None,
            cluster_workers: None,
        }),
        timeseries: series(90, 200.0, (inj, rb), 0.3, 16.0),
        overhead: Some(OverheadResult {
            p99_increase_pct: 0.4,
            throughput_drop_pct: 0.2,
            limits: OverheadLimits {
                max_cpu_increase_pct: Some(30.0),
                max_p99_increase_pct: Some(1.0),
                max_throughput_drop_pct: None,
            },
            status: Met,
            baseline_p99_ms: Some(18.2),
            instrumented_p99_ms: Some(18.27),
            baseline_rps: Some(201.3),
            instrumented_rps: Some(200.9),
            cpu: Some(CpuOverhead {
                increase_pct: 18.4,
                interval_pct: [12.1, 24.9],
                noise_pct: [-3.2, 4.1],
                rounds: 5,
                baseline_cpu_ms_per_request: 0.412,
                instrumented_cpu_ms_per_request: 0.488,
                baseline_rss_mb: 96.0,
                instrumented_rss_mb: 121.0,
                verdict: "within".into(),
                reason: "the whole interval is under 30%".into(),
            }),
        }),
        skipped_reason: None,
        error: None,
        config_notes: vec![
            "alertmanager: alerts.yml runs as written, except for the changes below".into(),
            "receiver pager: pagerduty → gauntlet webhook sink".into(),
        ],
        alerts_fired: vec![
            FiredAlert {
                name: "HighErrorRate".into(),
                labels: [("service".to_string(), "orders".to_string())].into(),
                annotations: [
                    ("summary".to_string(), "orders returns 5xx".to_string()),
                    (
                        "runbook_url".to_string(),
                        "https://runbooks.example/high-error-rate".to_string(),
                    ),
                ]
                .into(),
                annotations_from: "notification".into(),
                flags: vec![],
            },
            FiredAlert {
                name: "OrdersSlow".into(),
                labels: [("service".to_string(), "orders".to_string())].into(),
                annotations: BTreeMap::new(),
                annotations_from: "rule".into(),
                flags: vec!["no runbook_url".into(), "no summary".into()],
            },
        ],
        stack_versions: Some(StackVersions {
            selected: Some("2.42".into()),
            prometheus: Some("2.42.0+ds".into()),
            alertmanager: Some("0.25.0".into()),
        }),
    }
}

fn checkout() -> ScenarioResult {
    use ExpectationKind as K;
    use ExpectationPhase::{Faults, Recover};
    use ExpectationStatus::Met;
    let inj = 15_004;
    let rb = 35_010;
    let mut timeseries = series(60, 120.0, (inj, rb), 0.0, 330.0);
    for p in &mut timeseries {
        p.error_rate = 0.0;
    }
    ScenarioResult {
        name: "checkout-latency".into(),
        file: "scenarios/checkout-latency.yaml".into(),
        repetition: None,
        status: ScenarioStatus::Met,
        duration_ms: 61_020,
        phases: vec![
            PhaseTiming {
                name: "steady-state".into(),
                started_ms: 0,
                ended_ms: 15_000,
            },
            PhaseTiming {
                name: "faults".into(),
                started_ms: 15_000,
                ended_ms: 35_000,
            },
            PhaseTiming {
                name: "recover".into(),
                started_ms: 35_000,
                ended_ms: 60_000,
            },
        ],
        faults: vec![FaultRecord {
            name: "products-slow".into(),
            kind: "tcp-delay".into(),
            target: "proxy → products (300ms)".into(),
            planned_at_ms: 15_000,
            injected_at_ms: Some(inj),
            rolled_back_at_ms: Some(rb),
            error: None,
            proxy: None,
        }],
        expectations: vec![
            exp(
                "expect[0]",
                K::Metric,
                "histogram_quantile(0.95, …) > 0.3",
                Faults,
                Met,
                inj,
                Some(4_700),
                15_000,
                Some(2_000),
                Some("0.331 at 19.7s"),
                "prometheus",
                true,
            ),
            exp(
                "expect[1]",
                K::Alert,
                r#"alert HighLatency{service="products"} firing"#,
                Faults,
                Met,
                inj,
                Some(11_900),
                25_000,
                Some(10_000),
                Some("firing since 26.9s"),
                "prometheus",
                true,
            ),
            exp(
                "expect[2]",
                K::Notification,
                "notification chat: HighLatency",
                Faults,
                Met,
                inj,
                Some(13_050),
                30_000,
                Some(11_000),
                Some("1 webhook"),
                "alertmanager webhook sink",
                true,
            ),
            exp(
                "recover.expect[0]",
                K::Alert,
                "alert HighLatency resolved",
                Recover,
                Met,
                rb,
                Some(16_400),
                40_000,
                Some(10_000),
                Some("resolved at 51.4s"),
                "alertmanager",
                true,
            ),
        ],
        load: Some(LoadSummary {
            requests: 7_205,
            failures: 0,
            throughput_rps: 120.1,
            p50_ms: 8.3,
            p95_ms: 318.0,
            p99_ms: 342.7,
            max_ms: 391.2,
            engine: LoadEngine::Open,
            users: None,
            sessions: None,
            // Sent by cluster workers, so the schema and every format see the field.
            cluster_workers: Some(gauntlet::report::ClusterWorkers {
                job: "gauntlet-load-7f3a".into(),
                workers: 2,
                image: "registry.example/gauntlet:0.1".into(),
                host_network: false,
            }),
        }),
        timeseries,
        overhead: None,
        skipped_reason: None,
        error: None,
        config_notes: vec![],
        alerts_fired: Vec::new(),
        stack_versions: None,
    }
}

fn kube() -> ScenarioResult {
    ScenarioResult {
        name: "kube-pod-kill".into(),
        file: "scenarios/kube-pod-kill.yaml".into(),
        repetition: None,
        status: ScenarioStatus::Skipped,
        duration_ms: 3,
        phases: vec![],
        faults: vec![],
        expectations: vec![],
        load: None,
        timeseries: vec![],
        overhead: None,
        skipped_reason: Some("no Kubernetes cluster configured (KUBECONFIG is unset)".into()),
        error: None,
        config_notes: vec![],
        alerts_fired: Vec::new(),
        stack_versions: None,
    }
}

/// The realistic run every report test starts from.
pub fn realistic() -> RunResults {
    let component = |name: &str, version: Option<&str>, real, kind, note: Option<&str>| Component {
        name: name.into(),
        version: version.map(Into::into),
        real,
        kind,
        note: note.map(Into::into),
    };
    RunResults {
        format_version: gauntlet::report::FORMAT_VERSION,
        gauntlet_version: "0.1.0".into(),
        started_at: "2025-05-01T02:00:00.412Z".into(),
        finished_at: "2025-05-01T02:02:33.871Z".into(),
        environment: Environment {
            components: vec![
                component(
                    "prometheus",
                    Some("2.42.0"),
                    true,
                    ComponentKind::Native,
                    None,
                ),
                component(
                    "alertmanager",
                    Some("0.25.0"),
                    true,
                    ComponentKind::Native,
                    None,
                ),
                component("jaeger", Some("2.20.0"), true, ComponentKind::Native, None),
                component(
                    "otel-collector",
                    Some("2.20.0"),
                    true,
                    ComponentKind::Native,
                    Some("jaeger v2 binary in the collector role"),
                ),
                component(
                    "loki",
                    None,
                    false,
                    ComponentKind::Recorded,
                    Some(
                        "not obtainable on this machine; client checked against recorded responses",
                    ),
                ),
                component(
                    "grafana",
                    None,
                    false,
                    ComponentKind::Recorded,
                    Some("not installed; dashboard checks skipped"),
                ),
                component(
                    "webhook sink",
                    Some("0.1.0"),
                    true,
                    ComponentKind::Tap,
                    Some("gauntlet's alertmanager receiver"),
                ),
            ],
            host: HostFacts {
                os: "linux".into(),
                arch: "x86_64".into(),
                kernel: Some("6.1.0-31-amd64".into()),
                cores: 2,
            },
        },
        scenarios: vec![orders(), checkout(), kube()],
    }
}

/// The events a runner would have sent for `s`, in time order (load samples every second,
/// `log_port` in a log line so the snapshot redactor has something real to redact).
pub fn events_for(s: &ScenarioResult, log_port: u16) -> Vec<RunEvent> {
    let mut timed: Vec<(u64, u8, RunEvent)> = Vec::new();
    for p in &s.phases {
        timed.push((
            p.started_ms,
            0,
            RunEvent::PhaseStarted {
                name: p.name.clone(),
                at_ms: p.started_ms,
            },
        ));
    }
    for f in &s.faults {
        if let Some(at) = f.injected_at_ms {
            timed.push((
                at,
                1,
                RunEvent::FaultInjected {
                    name: f.name.clone(),
                    kind: f.kind.clone(),
                    target: f.target.clone(),
                    at_ms: at,
                },
            ));
        }
        if let Some(at) = f.rolled_back_at_ms {
            timed.push((
                at,
                1,
                RunEvent::FaultRolledBack {
                    name: f.name.clone(),
                    at_ms: at,
                },
            ));
        }
    }
    for p in &s.timeseries {
        timed.push((p.t_ms, 2, RunEvent::LoadSample(p.clone())));
    }
    for e in &s.expectations {
        let at = e.observed_at_ms.unwrap_or(s.duration_ms.saturating_sub(1));
        timed.push((at, 3, RunEvent::ExpectationFinished(e.clone())));
    }
    timed.sort_by_key(|(t, order, _)| (*t, *order));
    let mut events = vec![
        RunEvent::ScenarioStarted {
            name: s.name.clone(),
            file: s.file.clone(),
            planned_ms: Some(s.duration_ms),
            expectations: s.expectations.len(),
        },
        RunEvent::Log {
            level: LogLevel::Info,
            message: format!("prometheus ready at http://127.0.0.1:{log_port}"),
        },
        RunEvent::Log {
            level: LogLevel::Debug,
            message: "not shown without verbose".into(),
        },
    ];
    events.extend(timed.into_iter().map(|(_, _, e)| e));
    events.push(RunEvent::ScenarioFinished(s.clone()));
    events
}
