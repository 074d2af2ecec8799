//! Dashboard model and query rendering against fixtures/backends/grafana/
//! dashboard_service_overview.json (variables of every common type, an open and a collapsed
//! row, a repeated panel, and every interval/range macro).

mod observe_support;

use std::time::Duration;

use gauntlet::observe::dashboard::{Dashboard, PanelQuery, RenderContext, VariableKind};
use observe_support::fixture;

fn dashboard() -> Dashboard {
    Dashboard::parse(&fixture("grafana/dashboard_service_overview.json")).expect("dashboard parses")
}

fn exprs(queries: &[PanelQuery]) -> Vec<(i64, &str, &str)> {
    queries
        .iter()
        .map(|q| (q.panel_id, q.ref_id.as_str(), q.expr.as_str()))
        .collect()
}

#[test]
fn model_flattens_rows_and_reads_variables() {
    let d = dashboard();
    assert_eq!(d.uid, "gauntlet-svc");
    let panels: Vec<(i64, Option<&str>)> =
        d.panels.iter().map(|p| (p.id, p.row.as_deref())).collect();
    assert_eq!(
        panels,
        [
            (2, Some("Overview")),
            (3, Some("Overview")),
            (5, Some("Errors")),
            (6, Some("Errors")),
            (7, Some("Errors")),
            (8, Some("Errors")),
        ]
    );
    let kinds: Vec<(&str, &VariableKind)> = d
        .variables
        .iter()
        .map(|v| (v.name.as_str(), &v.kind))
        .collect();
    assert_eq!(kinds[0], ("datasource", &VariableKind::Datasource));
    assert_eq!(kinds[3], ("route", &VariableKind::Query));
    assert_eq!(kinds[5], ("window", &VariableKind::Interval));
    let service = d.variable("service").expect("service");
    assert!(service.multi && service.include_all);
    assert_eq!(service.current, ["orders", "api-gateway"]);
    assert_eq!(
        d.variable("route").expect("route").query,
        "label_values(http_requests_total, route)"
    );
    assert_eq!(d.panels[4].repeat.as_deref(), Some("service"));
}

#[test]
fn renders_every_query_like_grafana_for_one_hour() {
    let d = dashboard();
    let queries = d.panel_queries(&RenderContext::new(Duration::from_secs(3600)));
    assert_eq!(
        exprs(&queries),
        [
            (
                2,
                "A",
                r#"sum by (route) (rate(http_requests_total{service=~"(orders|api-gateway)", env="prod"}[1m0s]))"#
            ),
            (
                2,
                "B",
                r#"sum(rate(http_requests_total{service=~"(orders|api-gateway)", status=~"5.."}[15s]))"#
            ),
            (
                3,
                "A",
                r#"histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{service=~"(orders|api-gateway)", route="/api/orders"}[5m])))"#
            ),
            (
                5,
                "A",
                r#"sum by (status) (increase(http_requests_total{instance=~".*", status=~"(5\\.\\.|4\\.\\.)"}[3600s]))"#
            ),
            (5, "C", r#"up{env="prod"} * 3600 / 15000"#),
            (
                6,
                "A",
                "max_over_time(task_queue_size[1m]) + 0 * rate(workflow_steps_total[1m15s])"
            ),
            (
                7,
                "A",
                r#"sum(rate(http_requests_total{service=~"orders"}[5m]))"#
            ),
            (
                7,
                "A",
                r#"sum(rate(http_requests_total{service=~"api-gateway"}[5m]))"#
            ),
        ]
    );
    let titles: Vec<&str> = queries.iter().map(|q| q.panel_title.as_str()).collect();
    assert_eq!(titles[2], "p95 latency on /api/orders");
    assert_eq!(
        &titles[6..],
        ["Throughput orders", "Throughput api-gateway"]
    );
    assert!(
        queries.iter().all(|q| q.unresolved.is_empty()),
        "{queries:#?}"
    );
    assert_eq!(
        queries[0]
            .datasource
            .as_ref()
            .and_then(|d| d.uid.as_deref()),
        Some("prom-uid")
    );
    assert_eq!(queries[0].step, Duration::from_secs(15));
    assert_eq!(
        queries[5].step,
        Duration::from_secs(60),
        "panel min interval 1m"
    );
    assert!(queries[2].instant && !queries[0].instant);
}

#[test]
fn longer_range_widens_interval_and_rate_interval() {
    let d = dashboard();
    let queries = d.panel_queries(&RenderContext::new(Duration::from_secs(24 * 3600)));
    let find = |panel: i64, ref_id: &str| {
        queries
            .iter()
            .find(|q| q.panel_id == panel && q.ref_id == ref_id)
            .map(|q| q.expr.as_str())
            .expect("query")
    };
    // 86.4 s per point rounds to 1m; rate interval max(1m + 15s, 4 × 15s).
    assert!(find(2, "A").ends_with("[1m15s]))"), "{}", find(2, "A"));
    assert!(find(2, "B").ends_with("[1m]))"), "{}", find(2, "B"));
    assert!(find(5, "A").ends_with("[86400s]))"), "{}", find(5, "A"));
    assert_eq!(find(5, "C"), r#"up{env="prod"} * 86400 / 60000"#);
}

#[test]
fn overrides_select_all_and_single_values() {
    let d = dashboard();
    let mut ctx = RenderContext::new(Duration::from_secs(3600));
    ctx.overrides
        .insert("service".into(), vec!["$__all".into()]);
    ctx.overrides
        .insert("route".into(), vec![r"/api/it's".into()]);
    ctx.scrape_interval = Duration::from_secs(5);
    let queries = d.panel_queries(&ctx);
    assert_eq!(
        queries[0].expr,
        r#"sum by (route) (rate(http_requests_total{service=~"(frontend|api-gateway|orders)", env="prod"}[20s]))"#
    );
    assert!(
        queries[2].expr.contains(r#"route="/api/it\\'s""#),
        "{}",
        queries[2].expr
    );
    let repeated: Vec<&str> = queries
        .iter()
        .filter(|q| q.panel_id == 7)
        .map(|q| q.panel_title.as_str())
        .collect();
    assert_eq!(
        repeated,
        [
            "Throughput frontend",
            "Throughput api-gateway",
            "Throughput orders"
        ]
    );
    // 1 h / 1000 = 3.6 s is below the 5 s scrape interval, so the minimum wins.
    assert_eq!(queries[0].step, Duration::from_secs(5));
}

#[test]
fn unresolved_variables_are_reported_and_left_in_place() {
    let json = r#"{
        "uid": "u", "title": "t",
        "templating": {"list": [
            {"name": "pod", "type": "query", "query": "label_values(pod)", "includeAll": true,
             "current": {"text": "All", "value": "$__all"}, "options": []}
        ]},
        "panels": [{"id": 1, "type": "stat", "title": "x", "targets": [
            {"refId": "A", "expr": "up{pod=~\"$pod\", ns=\"${namespace}\"} + label_replace(up, \"a\", \"$1\", \"b\", \"(.*)\")"},
            {"refId": "B", "rawSql": "SELECT 1"}
        ]}]
    }"#;
    let d = Dashboard::parse(json).expect("parses");
    let queries = d.panel_queries(&RenderContext::new(Duration::from_secs(600)));
    assert_eq!(queries.len(), 1, "targets without expr are skipped");
    assert_eq!(
        queries[0].expr,
        r#"up{pod=~"$pod", ns="${namespace}"} + label_replace(up, "a", "$1", "b", "(.*)")"#
    );
    assert_eq!(queries[0].unresolved, ["namespace", "pod"]);
}

#[test]
fn invalid_dashboards_are_errors() {
    assert!(Dashboard::parse("not json").is_err());
    assert!(Dashboard::parse("[1, 2]").is_err());
    let err = Dashboard::parse(r#"{"panels": {"id": 1}}"#).expect_err("panels must be an array");
    assert_eq!(err.to_string(), "`panels` is not an array");
}
