//! Why a miss happened, from what the backends say at the moment of the miss. Pure: the
//! runner asks the backends (`runner::explain`) and these functions read the answers — the
//! selectors an expression depends on, which of them matches nothing, the closest names that
//! do exist ("did you mean"), and what Alertmanager did with an alert.

use promql_parser::label::MatchOp;
use promql_parser::parser::{self, Expr};

use crate::scenario::values::similar;

/// One series selector of an expression: `metric{label="v", …}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// The metric name, when the selector names one.
    pub metric: Option<String>,
    /// `(label, op, value)`, `op` as written (`=`, `!=`, `=~`, `!~`).
    pub matchers: Vec<(String, String, String)>,
}

impl Selector {
    /// The selector as PromQL, e.g. `http_requests_total{status=~"5.."}`.
    pub fn promql(&self) -> String {
        self.with_matchers(&self.matchers)
    }

    /// The selector with only some of its label matchers.
    pub fn with_matchers(&self, matchers: &[(String, String, String)]) -> String {
        let labels: Vec<String> = matchers
            .iter()
            .map(|(l, op, v)| {
                format!(
                    "{l}{op}\"{}\"",
                    v.replace('\\', "\\\\").replace('"', "\\\"")
                )
            })
            .collect();
        match (&self.metric, labels.is_empty()) {
            (Some(m), true) => m.clone(),
            (Some(m), false) => format!("{m}{{{}}}", labels.join(",")),
            (None, _) => format!("{{{}}}", labels.join(",")),
        }
    }
}

/// Every series selector in `expr`, in order, without duplicates. `None` when it does not
/// parse (`gauntlet check` refuses those before a run).
pub fn selectors(expr: &str) -> Option<Vec<Selector>> {
    let ast = parser::parse(expr).ok()?;
    let mut out = Vec::new();
    collect(&ast, &mut out);
    Some(out)
}

fn collect(e: &Expr, out: &mut Vec<Selector>) {
    let mut push = |vs: &parser::VectorSelector| {
        let matchers = vs
            .matchers
            .matchers
            .iter()
            .filter(|m| m.name != "__name__")
            .map(|m| {
                let op = match m.op {
                    MatchOp::Equal => "=",
                    MatchOp::NotEqual => "!=",
                    MatchOp::Re(_) => "=~",
                    MatchOp::NotRe(_) => "!~",
                };
                (m.name.clone(), op.to_string(), m.value.clone())
            })
            .collect();
        let s = Selector {
            metric: vs.name.clone(),
            matchers,
        };
        if !out.contains(&s) {
            out.push(s);
        }
    };
    match e {
        Expr::VectorSelector(vs) => push(vs),
        Expr::MatrixSelector(ms) => push(&ms.vs),
        Expr::Aggregate(a) => {
            collect(&a.expr, out);
            if let Some(p) = &a.param {
                collect(p, out);
            }
        }
        Expr::Unary(u) => collect(&u.expr, out),
        Expr::Binary(b) => {
            collect(&b.lhs, out);
            collect(&b.rhs, out);
        }
        Expr::Paren(p) => collect(&p.expr, out),
        Expr::Subquery(s) => collect(&s.expr, out),
        Expr::Call(c) => c.args.args.iter().for_each(|a| collect(a, out)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// What a selector's series look like in Prometheus now, as the runner found out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectorFinding {
    /// The metric name has no series at all; the closest existing name, if any.
    NoSuchMetric { closest: Option<String> },
    /// The metric exists, but this label matcher leaves no series; the values the label has
    /// on that metric (empty: the metric never carries the label).
    MatcherMatchesNothing {
        matcher: (String, String, String),
        values: Vec<String>,
        closest_label: Option<String>,
    },
}

/// One sentence for a selector that matches nothing.
pub fn describe_finding(selector: &Selector, finding: &SelectorFinding) -> String {
    match finding {
        SelectorFinding::NoSuchMetric { closest } => {
            let name = selector.metric.as_deref().unwrap_or("?");
            match closest {
                Some(c) => format!(
                    "selector {} matches nothing: no series named {name}; did you mean {c}?",
                    selector.promql()
                ),
                None => format!(
                    "selector {} matches nothing: no series named {name}",
                    selector.promql()
                ),
            }
        }
        SelectorFinding::MatcherMatchesNothing {
            matcher: (label, op, value),
            values,
            closest_label,
        } => {
            let name = selector.metric.as_deref().unwrap_or("the series");
            let have = if values.is_empty() {
                match closest_label {
                    Some(c) => format!("{name} has no label {label}; did you mean {c}?"),
                    None => format!("{name} has no label {label}"),
                }
            } else {
                let shown: Vec<&str> = values.iter().take(8).map(String::as_str).collect();
                format!(
                    "{label} has the values {}{}",
                    shown.join(", "),
                    if values.len() > 8 { ", …" } else { "" }
                )
            };
            format!(
                "selector {} matches nothing: {label}{op}\"{value}\" leaves no series ({have})",
                selector.promql()
            )
        }
    }
}

/// When `name` is active in Prometheus, but only with other label values than `wanted`: the
/// label sets it has, shown by the wanted labels (`HighErrorRate is firing for
/// service="orders"; none has service="cart"`). `None` when nothing is active or one matches.
pub fn other_label_sets(
    name: &str,
    wanted: &std::collections::BTreeMap<String, String>,
    active: &[&crate::observe::prometheus::Alert],
) -> Option<String> {
    if wanted.is_empty() || active.is_empty() {
        return None;
    }
    if active
        .iter()
        .any(|a| wanted.iter().all(|(k, v)| a.labels.get(k) == Some(v)))
    {
        return None;
    }
    let mut seen: Vec<String> = active
        .iter()
        .map(|a| {
            let labels: Vec<String> = wanted
                .keys()
                .map(|k| match a.labels.get(k) {
                    Some(v) => format!("{k}={v:?}"),
                    None => format!("no {k}"),
                })
                .collect();
            format!(
                "{} for {}",
                format!("{:?}", a.state).to_lowercase(),
                labels.join(", ")
            )
        })
        .collect();
    seen.sort();
    seen.dedup();
    let want: Vec<String> = wanted.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    Some(format!(
        "{name} is {}; none has {}",
        seen.join(", "),
        want.join(", ")
    ))
}

/// The closest of `known` names to `wanted` (edit distance 2 at most, or one is a prefix of
/// the other: `http_request_total` vs `http_requests_total`).
pub fn closest<'a>(
    wanted: &str,
    known: impl IntoIterator<Item = &'a str> + Clone,
) -> Option<String> {
    similar(wanted, known.clone())
        .map(str::to_owned)
        .or_else(|| {
            known
                .into_iter()
                .filter(|k| !k.is_empty() && (k.starts_with(wanted) || wanted.starts_with(k)))
                .min_by_key(|k| k.len().abs_diff(wanted.len()))
                .map(str::to_owned)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_are_found_through_every_kind_of_node() {
        let s = selectors(
            r#"sum by (service) (rate(http_request_total{status=~"5..", service!=""}[10s]))
               / sum by (service) (rate(http_request_total[10s])) > 0.05
               or absent(up{job="x"}) * -1"#,
        )
        .expect("parses");
        let shown: Vec<String> = s.iter().map(Selector::promql).collect();
        assert_eq!(
            shown,
            [
                r#"http_request_total{status=~"5..",service!=""}"#,
                "http_request_total",
                r#"up{job="x"}"#,
            ]
        );
        assert_eq!(selectors("sum(("), None);
    }

    #[test]
    fn findings_read_as_one_sentence_each() {
        let s = &selectors(r#"http_request_total{status="599"}"#).expect("parses")[0];
        let cases = [
            (
                SelectorFinding::NoSuchMetric {
                    closest: Some("http_requests_total".into()),
                },
                r#"selector http_request_total{status="599"} matches nothing: no series named http_request_total; did you mean http_requests_total?"#,
            ),
            (
                SelectorFinding::MatcherMatchesNothing {
                    matcher: ("status".into(), "=".into(), "599".into()),
                    values: vec!["200".into(), "500".into()],
                    closest_label: None,
                },
                r#"selector http_request_total{status="599"} matches nothing: status="599" leaves no series (status has the values 200, 500)"#,
            ),
            (
                SelectorFinding::MatcherMatchesNothing {
                    matcher: ("status".into(), "=".into(), "599".into()),
                    values: vec![],
                    closest_label: Some("code".into()),
                },
                r#"selector http_request_total{status="599"} matches nothing: status="599" leaves no series (http_request_total has no label status; did you mean code?)"#,
            ),
        ];
        for (finding, want) in cases {
            assert_eq!(describe_finding(s, &finding), want);
        }
    }

    #[test]
    fn active_alerts_with_other_labels_are_shown_by_the_wanted_labels() {
        use crate::observe::prometheus::{Alert, AlertState};
        let alert = |service: Option<&str>, state| Alert {
            labels: [("alertname", "HighErrorRate"), ("severity", "critical")]
                .into_iter()
                .chain(service.map(|s| ("service", s)))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            annotations: Default::default(),
            state,
            active_at: None,
            value: 1.0,
            keep_firing_since: None,
        };
        let (a, b, c) = (
            alert(Some("orders"), AlertState::Firing),
            alert(Some("users"), AlertState::Pending),
            alert(None, AlertState::Firing),
        );
        let wanted = [("service".to_string(), "cart".to_string())].into();
        assert_eq!(
            other_label_sets("HighErrorRate", &wanted, &[&a, &b, &c]).as_deref(),
            Some(
                r#"HighErrorRate is firing for no service, firing for service="orders", pending for service="users"; none has service="cart""#
            )
        );
        let orders = [("service".to_string(), "orders".to_string())].into();
        assert_eq!(other_label_sets("HighErrorRate", &orders, &[&a]), None);
        assert_eq!(other_label_sets("HighErrorRate", &wanted, &[]), None);
    }

    #[test]
    fn closest_names_by_distance_or_prefix() {
        let known = [
            "http_requests_total",
            "up",
            "http_request_duration_seconds_bucket",
        ];
        assert_eq!(
            closest("http_request_total", known.iter().copied()).as_deref(),
            Some("http_requests_total")
        );
        assert_eq!(closest("orders_created", known.iter().copied()), None);
    }
}
