//! How long an alerting rule's result is guaranteed to outlast the signal that caused it.
//!
//! The model is the one every floor uses: the fault's signal is steady until the last
//! rollback (t0) and stops there. Prometheus samples it every scrape interval, so the last
//! affected sample may be up to one scrape older than t0. A range selector keeps that sample
//! for its whole window, so a function that stays non-zero while any affected sample is in
//! the window (`rate`, `increase`, `sum_over_time`, `avg_over_time`, `max_over_time`,
//! `changes`) stays non-zero for at least *window − one scrape* after t0. A comparison with
//! 0 (`> 0`, `!= 0`) turns that into the alert's series staying present.
//!
//! A comparison with a positive threshold does not: `rate(errors[10s]) / rate(all[10s]) >
//! 0.05` clears once the ratio falls below 5 %, which a burst that exceeded it by little does
//! long before the window empties (a 30 % burst needs ~0.83 of the window, a 6 % burst ~0.17),
//! so such a window gives no guaranteed delay and is only named in the explanation. Functions
//! that keep the exact value (`max_over_time`) hold any threshold for their window.
//!
//! Everything here is a lower bound: where an operator's effect is not certain, it counts as
//! no delay, because the validator rejects deadlines below the floor.

use std::collections::BTreeMap;
use std::time::Duration;

use promql_parser::parser::{self, AggregateExpr, BinaryExpr, Call, Expr, VectorSelector, token};

use crate::scenario::values::show;

/// A lower bound on how long an alert's series stay after their signal stops.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hold {
    pub delay: Duration,
    /// The range selector behind `delay`, e.g. `[15s]`.
    pub window: Option<String>,
    /// Windows that give no guaranteed delay, and why (for the floor's explanation).
    pub notes: Vec<String>,
}

/// How long the result of the alerting expression `expr` stays after its signal stops.
/// `recorded` maps recording rule names to their expressions (inlined where referenced).
pub fn resolve_hold(
    expr: &str,
    recorded: &BTreeMap<String, Vec<String>>,
    scrape: Duration,
    evaluation: Duration,
) -> Hold {
    let Ok(ast) = parser::parse(expr) else {
        // The rule file is Prometheus' to reject; no delay is claimed for what we cannot read.
        return Hold::default();
    };
    let mut analyzer = Analyzer {
        recorded,
        scrape,
        evaluation,
        notes: Vec::new(),
        depth: 0,
    };
    let bounds = analyzer.expr(&ast);
    let mut notes = analyzer.notes;
    notes.dedup();
    match bounds.present {
        Lag::After(h) => Hold {
            delay: h.at_least,
            window: h.window,
            notes,
        },
        // Series that do not depend on the signal never resolve because of it; no claim.
        Lag::Never => Hold {
            delay: Duration::ZERO,
            window: None,
            notes,
        },
    }
}

/// How long something keeps following the old signal after it stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Lag {
    /// It does not follow the signal at all.
    Never,
    After(Held),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Held {
    at_least: Duration,
    window: Option<String>,
    /// The value itself is kept (not a decaying average), so any threshold it exceeded stays
    /// exceeded for `at_least`.
    exact: bool,
}

impl Lag {
    fn now(exact: bool) -> Lag {
        Lag::After(Held {
            at_least: Duration::ZERO,
            window: None,
            exact,
        })
    }

    fn min(self, other: Lag) -> Lag {
        match (self, other) {
            (Lag::Never, x) | (x, Lag::Never) => x,
            (Lag::After(a), Lag::After(b)) => Lag::After(match a.at_least.cmp(&b.at_least) {
                std::cmp::Ordering::Less => a,
                std::cmp::Ordering::Greater => b,
                std::cmp::Ordering::Equal => Held {
                    exact: a.exact && b.exact,
                    ..a
                },
            }),
        }
    }

    fn max(self, other: Lag) -> Lag {
        match (self, other) {
            (Lag::Never, _) | (_, Lag::Never) => Lag::Never,
            (Lag::After(a), Lag::After(b)) => {
                Lag::After(if a.at_least >= b.at_least { a } else { b })
            }
        }
    }

    /// Delayed by `extra` more (an offset, or a window named `window`).
    fn later(self, extra: Duration, window: Option<String>, exact: bool) -> Lag {
        match self {
            Lag::Never => Lag::Never,
            Lag::After(h) => Lag::After(Held {
                at_least: h.at_least + extra,
                window: if extra.is_zero() {
                    h.window
                } else {
                    window.or(h.window)
                },
                exact: h.exact && exact,
            }),
        }
    }

    fn inexact(self) -> Lag {
        self.later(Duration::ZERO, None, false)
    }
}

/// Lower bounds for one subexpression: how long its series stay present, and how long its
/// values stay above the quiet level (non-zero, for the non-negative signals alerts watch).
#[derive(Debug, Clone)]
struct Bounds {
    present: Lag,
    elevated: Lag,
}

impl Bounds {
    fn constant() -> Bounds {
        Bounds {
            present: Lag::Never,
            elevated: Lag::now(false),
        }
    }

    fn immediate() -> Bounds {
        Bounds {
            present: Lag::now(false),
            elevated: Lag::now(false),
        }
    }
}

/// Range functions that stay non-zero while any affected sample is in their window.
const HOLDING: &[&str] = &[
    "rate",
    "increase",
    "sum_over_time",
    "avg_over_time",
    "max_over_time",
    "changes",
    "resets",
];
/// Range functions whose value is one of the samples (not an average that decays).
const EXACT: &[&str] = &["max_over_time", "last_over_time"];
/// Range functions that need two samples in the window to answer at all.
const TWO_SAMPLES: &[&str] = &[
    "rate",
    "increase",
    "irate",
    "delta",
    "idelta",
    "deriv",
    "predict_linear",
];
/// Instant functions that keep a non-negative value's zero-ness (and value order).
const PRESERVING: &[&str] = &[
    "abs",
    "ceil",
    "sqrt",
    "sgn",
    "clamp_max",
    "label_replace",
    "label_join",
    "sort",
    "sort_desc",
    "sort_by_label",
    "sort_by_label_desc",
];
/// Recording rules may name each other; stop following them after this many levels.
const MAX_DEPTH: usize = 8;

struct Analyzer<'a> {
    recorded: &'a BTreeMap<String, Vec<String>>,
    scrape: Duration,
    evaluation: Duration,
    notes: Vec<String>,
    depth: usize,
}

impl Analyzer<'_> {
    fn expr(&mut self, e: &Expr) -> Bounds {
        match e {
            Expr::Paren(p) => self.expr(&p.expr),
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Bounds::constant(),
            Expr::VectorSelector(vs) => self.selector(vs),
            Expr::Unary(u) => Bounds {
                present: self.expr(&u.expr).present,
                elevated: Lag::now(false),
            },
            Expr::Aggregate(a) => self.aggregate(a),
            Expr::Binary(b) => self.binary(b),
            Expr::Call(c) => self.call(c),
            // Ranges only mean something as a function's argument (handled in `call`).
            Expr::MatrixSelector(_) | Expr::Subquery(_) | Expr::Extension(_) => Bounds::immediate(),
        }
    }

    fn selector(&mut self, vs: &VectorSelector) -> Bounds {
        if vs.at.is_some() {
            // Pinned to a fixed time: it does not follow the signal.
            return Bounds {
                present: Lag::Never,
                elevated: Lag::Never,
            };
        }
        let offset = positive_offset(vs.offset.as_ref());
        let inner = match self.recorded_series(vs) {
            Some(b) => b,
            None => Bounds {
                present: Lag::Never,
                elevated: Lag::now(true),
            },
        };
        Bounds {
            present: inner.present.later(offset, None, true),
            elevated: inner.elevated.later(offset, None, true),
        }
    }

    /// A recording rule's series follows its expression (at the next evaluation); several
    /// rules recording one name count by the quickest.
    fn recorded_series(&mut self, vs: &VectorSelector) -> Option<Bounds> {
        let exprs = self.recorded.get(vs.name.as_deref()?)?;
        if self.depth >= MAX_DEPTH {
            return None;
        }
        self.depth += 1;
        let mut out: Option<Bounds> = None;
        for text in exprs {
            let b = match parser::parse(text) {
                Ok(ast) => self.expr(&ast),
                Err(_) => Bounds::immediate(),
            };
            out = Some(match out {
                None => b,
                Some(o) => Bounds {
                    present: o.present.min(b.present),
                    elevated: o.elevated.min(b.elevated),
                },
            });
        }
        self.depth -= 1;
        out
    }

    fn aggregate(&mut self, a: &AggregateExpr) -> Bounds {
        let inner = self.expr(&a.expr);
        let elevated = match a.op.id() {
            token::T_MAX | token::T_TOPK => inner.elevated,
            // Sums and means of non-negative values stay non-zero while one term does, but
            // are no longer one of the samples.
            token::T_SUM | token::T_AVG => inner.elevated.inexact(),
            token::T_COUNT | token::T_GROUP => inner.present.clone().inexact(),
            _ => Lag::now(false),
        };
        Bounds {
            present: inner.present,
            elevated,
        }
    }

    fn binary(&mut self, b: &BinaryExpr) -> Bounds {
        let op = b.op.id();
        match op {
            token::T_LAND => {
                let (l, r) = (self.expr(&b.lhs), self.expr(&b.rhs));
                Bounds {
                    present: l.present.min(r.present),
                    elevated: l.elevated,
                }
            }
            // Either side may be the one carrying the alert's labels, so the quicker counts.
            token::T_LOR => {
                let (l, r) = (self.expr(&b.lhs), self.expr(&b.rhs));
                Bounds {
                    present: l.present.min(r.present),
                    elevated: l.elevated.min(r.elevated),
                }
            }
            // The right side may appear at any time and remove the series.
            token::T_LUNLESS => {
                let l = self.expr(&b.lhs);
                Bounds {
                    present: Lag::now(false),
                    elevated: l.elevated,
                }
            }
            _ if b.op.is_comparison_operator() => self.comparison(b),
            _ => self.arithmetic(b),
        }
    }

    fn comparison(&mut self, b: &BinaryExpr) -> Bounds {
        if b.return_bool() {
            let (l, r) = (self.expr(&b.lhs), self.expr(&b.rhs));
            return Bounds {
                present: l.present.min(r.present),
                elevated: Lag::now(false),
            };
        }
        let (subject, op, threshold) = match (constant(&b.rhs), constant(&b.lhs)) {
            (Some(c), _) => (&b.lhs, b.op.id(), c),
            (None, Some(c)) => (&b.rhs, flipped(b.op.id()), c),
            // Two vectors compared: how soon they cross depends on both magnitudes.
            (None, None) => return Bounds::immediate(),
        };
        let x = self.expr(subject);
        // Keeps only values above (or unequal to) the threshold: the series stays while the
        // value stays elevated past it.
        let filters_high = match op {
            token::T_GTR => Some(threshold >= 0.0),
            token::T_GTE => Some(threshold > 0.0),
            token::T_NEQ if threshold == 0.0 => Some(true),
            // `<`, `<=`, `==` fire on low values: the signal stopping raises them again at
            // once. `!= c` for another c is a magnitude question.
            _ => None,
        };
        let present = match (filters_high, &x.elevated) {
            (None, _) => Lag::now(false),
            // A threshold below the quiet level keeps every series.
            (Some(false), _) => x.present.clone(),
            (Some(true), Lag::Never) => x.present.clone(),
            (Some(true), Lag::After(h)) if threshold == 0.0 || h.exact => {
                x.present.clone().min(x.elevated.clone())
            }
            (Some(true), Lag::After(h)) => {
                if let Some(window) = &h.window {
                    self.notes.push(format!(
                        "{window} window not counted: `{} {}` can clear before it empties",
                        op_text(op),
                        threshold
                    ));
                }
                Lag::now(false)
            }
        };
        Bounds {
            present,
            elevated: if filters_high.is_some() {
                x.elevated
            } else {
                Lag::now(false)
            },
        }
    }

    fn arithmetic(&mut self, b: &BinaryExpr) -> Bounds {
        let op = b.op.id();
        match (constant(&b.lhs), constant(&b.rhs)) {
            (Some(_), Some(_)) => Bounds::constant(),
            (None, Some(c)) => {
                let x = self.expr(&b.lhs);
                let keeps = matches!(op, token::T_MUL | token::T_DIV) && c > 0.0;
                Bounds {
                    present: x.present,
                    elevated: if keeps { x.elevated } else { Lag::now(false) },
                }
            }
            (Some(c), None) => {
                let x = self.expr(&b.rhs);
                let keeps = op == token::T_MUL && c > 0.0;
                Bounds {
                    present: x.present,
                    elevated: if keeps { x.elevated } else { Lag::now(false) },
                }
            }
            (None, None) => {
                let (l, r) = (self.expr(&b.lhs), self.expr(&b.rhs));
                let elevated = match op {
                    // errors / total stays non-zero while errors does.
                    token::T_DIV => l.elevated.inexact(),
                    token::T_MUL => l.elevated.min(r.elevated).inexact(),
                    token::T_ADD => l.elevated.max(r.elevated).inexact(),
                    _ => Lag::now(false),
                };
                Bounds {
                    present: l.present.min(r.present),
                    elevated,
                }
            }
        }
    }

    fn call(&mut self, c: &Call) -> Bounds {
        let name = c.func.name;
        let args = &c.args.args;
        if let Some(range) = args.iter().find_map(|a| self.range(a)) {
            // The last affected sample stays in the window until it is `window` old; it was
            // taken up to one sample spacing before the signal stopped (for a counter: the
            // sample before the last increase).
            let kept = range
                .range
                .saturating_sub(range.spacing)
                .saturating_add(range.offset);
            // A result needs one (or two) samples in the window once its input series are
            // gone.
            let min_samples = if TWO_SAMPLES.contains(&name) { 2 } else { 1 };
            let kept_series = range
                .range
                .saturating_sub(range.spacing * min_samples)
                .saturating_add(range.offset);
            let window = Some(format!("[{}]", show(range.range)));
            let present = range
                .inner
                .present
                .clone()
                .later(kept_series, window.clone(), false);
            let exact = EXACT.contains(&name);
            let elevated = if HOLDING.contains(&name) {
                range.inner.elevated.later(kept, window, exact)
            } else if name == "count_over_time" || name == "present_over_time" {
                present.clone()
            } else if name == "last_over_time" {
                range.inner.elevated.later(range.offset, None, true)
            } else {
                Lag::now(false)
            };
            let present = if name == "absent_over_time" {
                Lag::now(false)
            } else {
                present
            };
            return Bounds { present, elevated };
        }
        let vectors: Vec<Bounds> = args
            .iter()
            .filter(|a| constant(a).is_none() && !matches!(***a, Expr::StringLiteral(_)))
            .map(|a| self.expr(a))
            .collect();
        let present = vectors
            .iter()
            .fold(Lag::Never, |acc, b| acc.min(b.present.clone()));
        match name {
            "absent" => Bounds::immediate(),
            _ if PRESERVING.contains(&name) => Bounds {
                present,
                elevated: vectors
                    .first()
                    .map_or(Lag::now(false), |b| b.elevated.clone()),
            },
            _ => Bounds {
                present,
                elevated: Lag::now(false),
            },
        }
    }

    /// A range argument: what it selects, its length and its sample spacing.
    fn range(&mut self, e: &Expr) -> Option<Range> {
        match e {
            Expr::MatrixSelector(m) => {
                let offset = positive_offset(m.vs.offset.as_ref());
                let (inner, spacing) = match self.recorded_series(&m.vs) {
                    // A recorded series gets a sample per rule evaluation.
                    Some(b) => (b, self.evaluation),
                    None => (
                        Bounds {
                            present: Lag::Never,
                            elevated: Lag::now(true),
                        },
                        self.scrape,
                    ),
                };
                Some(Range {
                    inner,
                    range: m.range,
                    spacing,
                    offset,
                })
            }
            Expr::Subquery(sq) => Some(Range {
                inner: self.expr(&sq.expr),
                range: sq.range,
                spacing: sq.step.unwrap_or(self.evaluation),
                offset: positive_offset(sq.offset.as_ref()),
            }),
            Expr::Paren(p) => self.range(&p.expr),
            _ => None,
        }
    }
}

struct Range {
    inner: Bounds,
    range: Duration,
    spacing: Duration,
    offset: Duration,
}

fn positive_offset(offset: Option<&parser::Offset>) -> Duration {
    match offset {
        Some(parser::Offset::Pos(d)) => *d,
        _ => Duration::ZERO,
    }
}

/// The value of an expression made only of numbers (`512 * 1024 * 1024`).
fn constant(e: &Expr) -> Option<f64> {
    match e {
        Expr::NumberLiteral(n) => Some(n.val),
        Expr::Paren(p) => constant(&p.expr),
        Expr::Unary(u) => constant(&u.expr).map(|v| -v),
        Expr::Binary(b) => {
            let (l, r) = (constant(&b.lhs)?, constant(&b.rhs)?);
            Some(match b.op.id() {
                token::T_ADD => l + r,
                token::T_SUB => l - r,
                token::T_MUL => l * r,
                token::T_DIV => l / r,
                token::T_POW => l.powf(r),
                token::T_MOD => l % r,
                _ => return None,
            })
        }
        _ => None,
    }
}

/// `c < x` is `x > c`.
fn flipped(op: token::TokenId) -> token::TokenId {
    match op {
        token::T_LSS => token::T_GTR,
        token::T_LTE => token::T_GTE,
        token::T_GTR => token::T_LSS,
        token::T_GTE => token::T_LTE,
        other => other,
    }
}

fn op_text(op: token::TokenId) -> &'static str {
    match op {
        token::T_GTR => ">",
        token::T_GTE => ">=",
        token::T_LSS => "<",
        token::T_LTE => "<=",
        token::T_EQLC => "==",
        token::T_NEQ => "!=",
        _ => "?",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn hold(expr: &str) -> Hold {
        resolve_hold(expr, &BTreeMap::new(), S, S)
    }

    fn secs(expr: &str) -> u64 {
        hold(expr).delay.as_secs()
    }

    #[test]
    fn a_presence_test_holds_for_the_window_less_one_scrape() {
        // The last increase sits in the window until the sample before it is 15 s old; that
        // sample was scraped up to 1 s before the errors stopped.
        assert_eq!(secs("rate(x[15s]) > 0"), 14);
        assert_eq!(secs("sum_over_time(x[15s]) > 0"), 14);
        let h = hold(
            r#"sum by (service) (rate(http_requests_total{status=~"5.."}[10s]))
               / sum by (service) (rate(http_requests_total[10s])) > 0"#,
        );
        assert_eq!(h.delay, Duration::from_secs(9));
        assert_eq!(h.window.as_deref(), Some("[10s]"));
        assert_eq!(secs("increase(x[1m]) != 0"), 59);
        assert_eq!(secs("0 < increase(x[1m])"), 59);
    }

    #[test]
    fn a_positive_threshold_on_an_average_gives_no_guaranteed_delay() {
        let h = hold(
            r#"(
                  sum by (service) (rate(http_requests_total{status=~"5.."}[10s]))
                / sum by (service) (rate(http_requests_total[10s]))
              or
                  sum by (service) (rate(http_requests_total{status=~"5.."}[1m]))
                / sum by (service) (rate(http_requests_total[1m]))
              ) > 0.05"#,
        );
        assert_eq!(h.delay, Duration::ZERO);
        assert_eq!(
            h.notes,
            ["[10s] window not counted: `> 0.05` can clear before it empties"]
        );
        assert_eq!(
            secs("histogram_quantile(0.95, sum by (le) (rate(b[10s]))) > 0.5"),
            0
        );
    }

    #[test]
    fn exact_values_hold_any_threshold() {
        assert_eq!(secs("max_over_time(queue[5m]) > 100"), 299);
        assert_eq!(
            secs("max by (service) (max_over_time(queue[1m])) > 100 * 2"),
            59
        );
        assert_eq!(secs("avg_over_time(queue[5m]) > 100"), 0);
    }

    #[test]
    fn instant_and_low_value_alerts_resolve_at_once() {
        assert_eq!(secs(r#"max by (service) (up{service!=""}) == 0"#), 0);
        assert_eq!(secs("process_resident_memory_bytes > 512 * 1024 * 1024"), 0);
        assert_eq!(secs("rate(x[5m]) == 0"), 0);
        assert_eq!(secs("rate(x[5m]) > 0 unless on() vector(1)"), 0);
        assert_eq!(secs("absent(up)"), 0);
    }

    #[test]
    fn series_that_never_drop_claim_nothing() {
        // Without a filter an alerting rule fires for every series, zero or not.
        assert_eq!(secs("rate(x[5m])"), 0);
        assert_eq!(secs("count_over_time(x[5m]) > 0"), 0);
    }

    #[test]
    fn offsets_or_and_and_recording_rules() {
        assert_eq!(secs("increase(x[1m] offset 1m) > 0"), 119);
        assert_eq!(secs("x offset 30s > 1"), 30);
        // Either side may carry the alert: the quicker counts.
        assert_eq!(secs("rate(a[10s]) > 0 or rate(b[1m]) > 0"), 9);
        assert_eq!(secs("rate(a[10s]) > 0 and rate(b[1m]) > 0"), 9);
        assert_eq!(secs("max_over_time((rate(a[10s]) > 0)[1m:5s]) > 0"), 9 + 55);
        let recorded = BTreeMap::from([(
            "job:errors:rate30s".to_string(),
            vec!["sum by (job) (rate(errors[30s]))".to_string()],
        )]);
        let h = resolve_hold("job:errors:rate30s > 0", &recorded, S, S);
        assert_eq!(h.delay, Duration::from_secs(29));
        // Over a recorded series the samples are one evaluation apart.
        let h = resolve_hold(
            "max_over_time(job:errors:rate30s[1m]) > 0",
            &recorded,
            S,
            Duration::from_secs(5),
        );
        assert_eq!(h.delay, Duration::from_secs(29 + 55));
    }

    #[test]
    fn unparsable_expressions_claim_nothing() {
        assert_eq!(hold("rate(x[5m]").delay, Duration::ZERO);
    }
}
