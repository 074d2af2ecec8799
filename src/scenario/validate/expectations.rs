//! Expectation validation: exactly one kind per item, names checked against the config files,
//! PromQL parsed, and deadlines compared with their timing floors.

use super::*;

impl Validator {
    pub(super) fn expectations(
        &mut self,
        value: Value,
        base: &str,
        ctx: &ExpectContext,
    ) -> Vec<Expectation> {
        let Value::Sequence(items) = value else {
            self.error(base, "must be a list of expectations", None);
            return Vec::new();
        };
        // Only steady state gives an expectation a window to watch; elsewhere the runner
        // measures from an instant.
        let windowed = base == "steady-state.expect";
        let mut out = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            let path = join_index(base, i);
            let Some(raw) = self.piece::<RawExpectation>(&path, item) else {
                continue;
            };
            if raw.completeness.is_some() && base != "recover.expect" {
                // The count covers the whole run and needs the faults to be over: only
                // recovery starts after the last rollback.
                self.error_at_key(
                    &join_key(&path, "completeness"),
                    "`completeness` counts the whole run's telemetry after the faults, so it belongs in `recover.expect`",
                    Some("move it to `recover.expect`; its deadline counts from the last rollback".into()),
                );
                continue;
            }
            if let Some(e) = self.expectation(&path, &raw, ctx, windowed) {
                out.push(e);
            }
        }
        out
    }

    fn expectation(
        &mut self,
        path: &str,
        r: &RawExpectation,
        ctx: &ExpectContext,
        windowed: bool,
    ) -> Option<Expectation> {
        let mut kinds: Vec<&str> = Vec::new();
        for (k, present) in [
            ("metric", r.metric.is_some()),
            ("notification", r.notification.is_some()),
            ("alert", r.alert.is_some() && r.notification.is_none()),
            ("trace", r.trace.is_some()),
            ("log", r.log.is_some()),
            ("dashboard", r.dashboard.is_some()),
            ("no-alerts", r.no_alerts.is_some()),
            ("correlation", r.correlation.is_some()),
            ("completeness", r.completeness.is_some()),
        ] {
            if present {
                kinds.push(k);
            }
        }
        let kind = match kinds.as_slice() {
            [k] => *k,
            [] => {
                self.error(
                    path,
                    "expectation has no kind",
                    Some(format!("start it with one of: {}", EXPECT_KINDS.join(", "))),
                );
                return None;
            }
            [a, b, ..] => {
                self.error(
                    path,
                    format!("expectation mixes kinds `{a}` and `{b}`"),
                    Some("write one expectation per list item".into()),
                );
                return None;
            }
        };
        let allowed = expect_fields(kind);
        for field in set_expect_fields(r) {
            if !allowed.contains(&field) {
                self.error_at_key(
                    &join_key(path, field),
                    format!("`{field}` does not apply to a `{kind}` expectation"),
                    Some(format!(
                        "a `{kind}` expectation uses: {}",
                        allowed.join(", ")
                    )),
                );
            }
        }

        if kind == "no-alerts" && !windowed {
            // Outside steady state the runner has no window to watch, so it would look once
            // and call that a clean window.
            self.error_at_key(
                &join_key(path, "no-alerts"),
                "`no-alerts` needs a window to watch and only `steady-state` has one",
                Some("move it to `steady-state.expect`; its window is `steady-state.for`".into()),
            );
            return None;
        }
        let within = match (&r.within, kind) {
            (Some(t), _) => self.positive_duration(&join_key(path, "within"), Some(t)),
            (None, "no-alerts") => None,
            (None, _) => {
                self.error(
                    path,
                    "missing deadline `within`",
                    Some("how long the stack may take to react, e.g. `within: 20s`".into()),
                );
                None
            }
        };
        if let Some(after) = &r.after
            && !ctx.faults.contains(after)
        {
            let known: Vec<&str> = ctx.faults.iter().map(String::as_str).collect();
            self.unknown_name(&join_key(path, "after"), "fault", after, &known);
        }

        let check = self.check(path, kind, r, ctx)?;
        let stack = ctx.stack?;
        let (floor, floor_explained) = timing_floor(&check, stack, ctx.export_interval, ctx.refs);
        if let Some(w) = within
            && w < floor
        {
            self.error(
                &join_key(path, "within"),
                format!(
                    "deadline {} is below the timing floor {} ({floor_explained})",
                    show(w),
                    show(floor)
                ),
                Some(format!(
                    "raise `within` to at least {}, or shorten the intervals in `stack`",
                    show(floor)
                )),
            );
        }
        Some(Expectation {
            id: path.to_string(),
            name: r.name.clone(),
            within,
            after: r.after.clone(),
            floor,
            floor_explained,
            check,
        })
    }

    fn check(
        &mut self,
        path: &str,
        kind: &str,
        r: &RawExpectation,
        ctx: &ExpectContext,
    ) -> Option<Check> {
        let labels = r.labels.clone().unwrap_or_default();
        Some(match kind {
            "metric" => {
                let query = r.metric.clone()?;
                if let Err(e) = promql_parser::parser::parse(&query) {
                    self.error(
                        &join_key(path, "metric"),
                        format!("PromQL does not parse: {e}"),
                        None,
                    );
                    return None;
                }
                Check::Metric { query }
            }
            "alert" => {
                let alert = r.alert.clone()?;
                self.known_alert(&join_key(path, "alert"), &alert, ctx);
                let state = match r.state.as_deref() {
                    None | Some("firing") => AlertState::Firing,
                    Some("pending") => AlertState::Pending,
                    Some("resolved") => AlertState::Resolved,
                    Some("inactive") => AlertState::Inactive,
                    Some(other) => {
                        self.error(
                            &join_key(path, "state"),
                            format!("unknown alert state {other:?}"),
                            Some("known: firing, pending, resolved, inactive".into()),
                        );
                        return None;
                    }
                };
                let require_annotations = r.require_annotations.clone().unwrap_or_default();
                if !require_annotations.is_empty()
                    && !matches!(state, AlertState::Firing | AlertState::Pending)
                {
                    // Annotations are read from the active alert; a resolved or inactive one
                    // has none to show.
                    self.error(
                        &join_key(path, "require-annotations"),
                        "`require-annotations` applies to state `firing` or `pending`",
                        Some("require them on the expectation that the alert fires".into()),
                    );
                }
                if let Some(blank) = require_annotations.iter().position(|a| a.trim().is_empty()) {
                    self.error(
                        &join_index(&join_key(path, "require-annotations"), blank),
                        "an empty annotation name",
                        Some("e.g. require-annotations: [runbook_url, summary]".into()),
                    );
                }
                Check::Alert {
                    alert,
                    labels,
                    state,
                    require_annotations,
                }
            }
            "notification" => {
                let receiver = r.notification.clone()?;
                if !ctx.refs.receivers.is_empty() && !ctx.refs.receivers.contains(&receiver) {
                    let known: Vec<&str> = ctx.refs.receivers.iter().map(String::as_str).collect();
                    self.unknown_name(
                        &join_key(path, "notification"),
                        "receiver",
                        &receiver,
                        &known,
                    );
                }
                if ctx.refs.silent_receivers.contains(&receiver) {
                    self.error(
                        &join_key(path, "notification"),
                        format!("receiver {receiver:?} has no integrations in the Alertmanager config: nothing is ever sent to it"),
                        Some("give it a webhook (or any integration: gauntlet redirects them all to its sink)".into()),
                    );
                }
                if let Some(alert) = &r.alert {
                    self.known_alert(&join_key(path, "alert"), alert, ctx);
                }
                let status = match r.status.as_deref() {
                    None | Some("firing") => NotificationStatus::Firing,
                    Some("resolved") => NotificationStatus::Resolved,
                    Some(other) => {
                        self.error(
                            &join_key(path, "status"),
                            format!("unknown notification status {other:?}"),
                            Some("known: firing, resolved".into()),
                        );
                        return None;
                    }
                };
                Check::Notification {
                    receiver,
                    alert: r.alert.clone(),
                    labels,
                    status,
                }
            }
            "trace" => {
                let t = r.trace.clone()?;
                let tpath = join_key(path, "trace");
                let service = self.expect_service(&tpath, "service", t.service.as_ref(), ctx)?;
                let spans_from = t.spans_from.clone().unwrap_or_default();
                for (i, s) in spans_from.iter().enumerate() {
                    self.expect_service(
                        &join_index(&join_key(&tpath, "spans-from"), i),
                        "",
                        Some(s),
                        ctx,
                    );
                }
                Check::Trace {
                    service,
                    operation: t.operation,
                    error: t.error,
                    spans_from,
                    tags: t.tags.unwrap_or_default(),
                }
            }
            "log" => {
                let l = r.log.clone()?;
                let lpath = join_key(path, "log");
                let service = self.expect_service(&lpath, "service", l.service.as_ref(), ctx)?;
                let level = match l.level.as_deref() {
                    None => None,
                    Some("debug") => Some(LogLevel::Debug),
                    Some("info") => Some(LogLevel::Info),
                    Some("warn") | Some("warning") => Some(LogLevel::Warn),
                    Some("error") => Some(LogLevel::Error),
                    Some(other) => {
                        self.error(
                            &join_key(&lpath, "level"),
                            format!("unknown log level {other:?}"),
                            Some("known: debug, info, warn, error".into()),
                        );
                        return None;
                    }
                };
                Check::Log {
                    service,
                    level,
                    contains: l.contains,
                    correlated_trace: l.correlated_trace.unwrap_or(false),
                }
            }
            "dashboard" => {
                let dashboard = r.dashboard.clone()?;
                let known = &ctx.refs.dashboards;
                let entry = known.get(&dashboard);
                if !known.is_empty() && entry.is_none() {
                    let names: Vec<&str> = known.keys().map(String::as_str).collect();
                    self.unknown_name(
                        &join_key(path, "dashboard"),
                        "dashboard",
                        &dashboard,
                        &names,
                    );
                }
                match (&r.panels, &r.panel) {
                    (Some(p), None) if p == "all-have-data" => {
                        if let Some(info) = entry
                            && info.query_count() == 0
                        {
                            self.error(
                                &join_key(path, "panels"),
                                format!(
                                    "dashboard {dashboard:?} has no panel queries, so `all-have-data` would be met with nothing checked"
                                ),
                                Some(format!(
                                    "add panels with Prometheus targets (`expr`) to {}, or name another dashboard",
                                    self.shown(&info.file)
                                )),
                            );
                            return None;
                        }
                        Check::DashboardHasData { dashboard }
                    }
                    (Some(p), None) => {
                        self.error(
                            &join_key(path, "panels"),
                            format!("unknown panels condition {p:?}"),
                            Some(
                                "known: all-have-data (or use `panel:` with `above:`/`below:`)"
                                    .into(),
                            ),
                        );
                        return None;
                    }
                    (None, Some(panel)) => {
                        if let Some(info) = entry {
                            if !info.titles.contains(panel) {
                                let known: Vec<&str> =
                                    info.titles.iter().map(String::as_str).collect();
                                self.unknown_name(&join_key(path, "panel"), "panel", panel, &known);
                            } else if !info.queries.contains_key(panel) {
                                let with_queries: Vec<&str> =
                                    info.queries.keys().map(String::as_str).collect();
                                self.error(
                                    &join_key(path, "panel"),
                                    format!(
                                        "panel {panel:?} has no queries, so it can never cross `above` or `below`"
                                    ),
                                    Some(if with_queries.is_empty() {
                                        format!("no panel of {dashboard:?} has a query")
                                    } else {
                                        format!("panels with queries: {}", with_queries.join(", "))
                                    }),
                                );
                            }
                        }
                        if r.above.is_none() && r.below.is_none() {
                            self.error(
                                path,
                                "a `panel` expectation needs `above` or `below`",
                                None,
                            );
                            return None;
                        }
                        Check::DashboardPanel {
                            dashboard,
                            panel: panel.clone(),
                            above: r.above,
                            below: r.below,
                        }
                    }
                    (Some(_), Some(_)) => {
                        self.error(
                            path,
                            "use either `panels: all-have-data` or `panel:`, not both",
                            None,
                        );
                        return None;
                    }
                    (None, None) => {
                        self.error(
                            path,
                            "a dashboard expectation needs `panels: all-have-data` or `panel:`",
                            None,
                        );
                        return None;
                    }
                }
            }
            "no-alerts" => {
                let alerts = match r.no_alerts.clone()? {
                    AlertNames::Any => None,
                    AlertNames::Named(names) => {
                        for (i, n) in names.iter().enumerate() {
                            self.known_alert(&join_index(&join_key(path, "no-alerts"), i), n, ctx);
                        }
                        Some(names)
                    }
                };
                Check::NoAlerts { alerts }
            }
            "correlation" => {
                let c = r.correlation.clone()?;
                let find_in = c
                    .find_in
                    .unwrap_or_else(|| vec!["traces".into(), "logs".into()]);
                if find_in.is_empty() {
                    // Nothing to look up: the first failed request would meet it.
                    self.error(
                        &join_key(&join_key(path, "correlation"), "find-in"),
                        "`find-in` names no store, so any failed request would meet it",
                        Some(
                            "list where failed requests' trace ids must be found: traces, logs (both when `find-in` is left out)"
                                .into(),
                        ),
                    );
                    return None;
                }
                for (i, f) in find_in.iter().enumerate() {
                    if f != "traces" && f != "logs" {
                        self.error(
                            &join_index(&join_key(&join_key(path, "correlation"), "find-in"), i),
                            format!("unknown signal {f:?}"),
                            Some("known: traces, logs".into()),
                        );
                    }
                }
                Check::Correlation {
                    find_in,
                    min_requests: c.min_requests.unwrap_or(1).max(1),
                }
            }
            "completeness" => {
                let c = r.completeness.clone()?;
                let cpath = join_key(path, "completeness");
                let mut pct = |field: &str, v: Option<&String>| -> Option<f64> {
                    let text = v?;
                    match parse_percent(text) {
                        Ok(p) if p > 0.0 => Some(p),
                        Ok(_) => {
                            self.error(
                                &join_key(&cpath, field),
                                "0% would be met with nothing stored",
                                Some("give the share that must arrive, e.g. 99%".into()),
                            );
                            None
                        }
                        Err(e) => {
                            self.error(&join_key(&cpath, field), e, None);
                            None
                        }
                    }
                };
                let traces = pct("traces", c.traces.as_ref());
                let logs = pct("logs", c.logs.as_ref());
                let metrics = pct("metrics", c.metrics.as_ref());
                if c.traces.is_none() && c.logs.is_none() && c.metrics.is_none() {
                    self.error(
                        &cpath,
                        "`completeness` names no signal, so it would be met with nothing counted",
                        Some(
                            "give at least one of traces, logs, metrics, e.g. `traces: 99%`".into(),
                        ),
                    );
                    return None;
                }
                if traces.is_none() && logs.is_none() && metrics.is_none() {
                    return None;
                }
                Check::Completeness {
                    traces,
                    logs,
                    metrics,
                }
            }
            _ => return None,
        })
    }

    fn known_alert(&mut self, field: &str, alert: &str, ctx: &ExpectContext) {
        let known = &ctx.refs.alerts;
        if !known.is_empty() && !known.contains_key(alert) {
            let names: Vec<&str> = known.keys().map(String::as_str).collect();
            // The usual cause: the rule is the user's, in a file the scenario does not name.
            let hint = match similar(alert, names.iter().copied()) {
                Some(s) => format!("did you mean {s:?}? "),
                None => String::new(),
            };
            self.error(
                field,
                format!("unknown alert {alert:?}: no rule in the scenario's rule files defines it"),
                Some(format!(
                    "{hint}add the file that defines it to `stack.rules` (without it, gauntlet's default rules apply); known: {}",
                    names.join(", ")
                )),
            );
        }
    }

    fn expect_service(
        &mut self,
        base: &str,
        field: &str,
        value: Option<&String>,
        ctx: &ExpectContext,
    ) -> Option<String> {
        let path = if field.is_empty() {
            base.to_string()
        } else {
            join_key(base, field)
        };
        let known: Vec<&str> = ctx.services.iter().map(String::as_str).collect();
        match value {
            Some(s) if known.contains(&s.as_str()) => Some(s.clone()),
            Some(s) => {
                self.unknown_name(&path, "service", s, &known);
                None
            }
            None => {
                self.error(
                    base,
                    format!("missing field `{field}`"),
                    Some(format!("known services: {}", known.join(", "))),
                );
                None
            }
        }
    }
}

/// Every expectation kind, for hints.
pub const EXPECT_KINDS: &[&str] = &[
    "metric",
    "alert",
    "notification",
    "trace",
    "log",
    "dashboard",
    "no-alerts",
    "correlation",
    "completeness",
];

fn expect_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "metric" => &["name", "within", "after", "metric"],
        "alert" => &[
            "name",
            "within",
            "after",
            "alert",
            "labels",
            "state",
            "require-annotations",
        ],
        "notification" => &[
            "name",
            "within",
            "after",
            "notification",
            "alert",
            "labels",
            "status",
        ],
        "trace" => &["name", "within", "after", "trace"],
        "log" => &["name", "within", "after", "log"],
        "dashboard" => &[
            "name",
            "within",
            "after",
            "dashboard",
            "panels",
            "panel",
            "above",
            "below",
        ],
        "no-alerts" => &["name", "no-alerts"],
        "correlation" => &["name", "within", "after", "correlation"],
        "completeness" => &["name", "within", "completeness"],
        _ => &[],
    }
}

fn set_expect_fields(r: &RawExpectation) -> Vec<&'static str> {
    [
        ("name", r.name.is_some()),
        ("within", r.within.is_some()),
        ("after", r.after.is_some()),
        ("metric", r.metric.is_some()),
        ("alert", r.alert.is_some()),
        ("labels", r.labels.is_some()),
        ("state", r.state.is_some()),
        ("notification", r.notification.is_some()),
        ("status", r.status.is_some()),
        ("trace", r.trace.is_some()),
        ("log", r.log.is_some()),
        ("dashboard", r.dashboard.is_some()),
        ("panels", r.panels.is_some()),
        ("panel", r.panel.is_some()),
        ("above", r.above.is_some()),
        ("below", r.below.is_some()),
        ("no-alerts", r.no_alerts.is_some()),
        ("correlation", r.correlation.is_some()),
        ("completeness", r.completeness.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect()
}
