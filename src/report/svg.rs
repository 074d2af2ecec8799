//! SVG plots drawn by hand (no plotting crate): the load timeline of a scenario (request
//! rate, error rate and p95 latency over time, fault windows shaded, detection, notification
//! and resolution markers) and time-to-detect per expectation as horizontal bars against the
//! deadline and floor marks. Every user-provided string is escaped; the SVGs reference
//! nothing external, so they can be inlined in HTML or saved next to Markdown.

use std::fmt::Write as _;

use super::model::{
    ExpectationKind, ExpectationPhase, ExpectationResult, ExpectationStatus, ScenarioResult,
};
use super::text::{fmt_ms, fmt_num, html_escape};

const FONT: &str =
    "font-family=\"system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif\"";
const DETECT: &str = "#1f6feb";
const NOTIFY: &str = "#8250df";
const RESOLVE: &str = "#1a7f37";
const MISS: &str = "#cf222e";
const FLOOR: &str = "#1f2328";
/// Rows of marker labels above the timeline panels, and their height.
const MARKER_ROWS: usize = 4;
const BAND_ROW: f64 = 12.0;

/// A "nice" axis: step of 1, 2 or 5 × 10^k and a maximum that is a multiple of it.
fn nice_axis(max: f64, target_ticks: f64) -> (f64, f64) {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let raw = max / target_ticks;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let step = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    } * mag;
    let top = (max / step).ceil() * step;
    (step, top.max(step))
}

/// What a marker on the timeline means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkerClass {
    /// A signal reacted to a fault (metric, alert firing, trace, log, dashboard).
    Detection,
    /// A notification reached a receiver.
    Notification,
    /// Recovery: an alert resolved after rollback.
    Resolution,
}

impl MarkerClass {
    /// Classifies an expectation for the timeline.
    pub fn of(e: &ExpectationResult) -> MarkerClass {
        if e.phase == ExpectationPhase::Recover {
            MarkerClass::Resolution
        } else if e.kind == ExpectationKind::Notification {
            MarkerClass::Notification
        } else {
            MarkerClass::Detection
        }
    }

    fn color(self) -> &'static str {
        match self {
            MarkerClass::Detection => DETECT,
            MarkerClass::Notification => NOTIFY,
            MarkerClass::Resolution => RESOLVE,
        }
    }
}

struct Panel {
    title: &'static str,
    unit: &'static str,
    color: &'static str,
    values: Vec<(u64, f64)>,
}

/// The load timeline of `s`, or `None` when it has no samples.
pub fn timeline(s: &ScenarioResult) -> Option<String> {
    if s.timeseries.is_empty() {
        return None;
    }
    let (w, left, right) = (960.0_f64, 70.0_f64, 24.0_f64);
    // A band above the panels holds fault names (first row) and marker labels.
    let band_top = 50.0_f64;
    let top = band_top + (MARKER_ROWS + 1) as f64 * BAND_ROW + 14.0;
    let (panel_h, gap, bottom) = (130.0_f64, 34.0_f64, 44.0_f64);
    let plot_w = w - left - right;
    let panels = [
        Panel {
            title: "Request rate",
            unit: "req/s",
            color: "#0969da",
            values: s.timeseries.iter().map(|p| (p.t_ms, p.rps)).collect(),
        },
        Panel {
            title: "Error rate",
            unit: "%",
            color: MISS,
            values: s
                .timeseries
                .iter()
                .map(|p| (p.t_ms, p.error_rate * 100.0))
                .collect(),
        },
        Panel {
            title: "p95 latency",
            unit: "ms",
            color: "#9a6700",
            values: s.timeseries.iter().map(|p| (p.t_ms, p.p95_ms)).collect(),
        },
    ];
    let h = top + 3.0 * panel_h + 2.0 * gap + bottom;
    let last_t = s.timeseries.iter().map(|p| p.t_ms).max().unwrap_or(0);
    let end_ms = s.duration_ms.max(last_t).max(1) as f64;
    let (x_step, x_max) = nice_axis(end_ms / 1000.0, 10.0);
    let x = |t_ms: f64| left + (t_ms / 1000.0) / x_max * plot_w;
    let panel_top = |i: usize| top + i as f64 * (panel_h + gap);
    let plots_bottom = panel_top(2) + panel_h;

    let mut o = String::new();
    let _ = write!(
        o,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" {FONT} font-size="12">"##
    );
    let _ = write!(
        o,
        r##"<title>{}: load over time</title><rect width="{w}" height="{h}" fill="#ffffff"/>"##,
        html_escape(&s.name)
    );
    let _ = write!(
        o,
        r##"<text x="{left}" y="20" font-size="15" font-weight="600" fill="#1f2328">{}: request rate, error rate and p95 latency</text>"##,
        html_escape(&s.name)
    );
    // Legend.
    let legend = [
        ("fault active", "#cf222e", true),
        ("detection", DETECT, false),
        ("notification", NOTIFY, false),
        ("resolution", RESOLVE, false),
    ];
    let mut lx = left;
    for (label, color, shaded) in legend {
        if shaded {
            let _ = write!(
                o,
                r##"<rect x="{lx}" y="31" width="14" height="12" fill="{color}" fill-opacity="0.14" stroke="{color}" stroke-opacity="0.4"/>"##
            );
        } else {
            let _ = write!(
                o,
                r##"<line x1="{}" y1="30" x2="{}" y2="44" stroke="{color}" stroke-width="2"/>"##,
                lx + 7.0,
                lx + 7.0
            );
        }
        let _ = write!(
            o,
            r##"<text x="{}" y="41" fill="#57606a">{label}</text>"##,
            lx + 19.0
        );
        lx += 19.0 + label.len() as f64 * 6.6 + 18.0;
    }

    // Fault windows, shaded across all panels.
    for f in &s.faults {
        let Some(start) = f.injected_at_ms else {
            continue;
        };
        let stop = f.rolled_back_at_ms.map_or(end_ms, |t| t as f64);
        let (x0, x1) = (x(start as f64), x(stop.max(start as f64)));
        let _ = write!(
            o,
            r##"<rect x="{x0:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#cf222e" fill-opacity="0.09"><title>fault {}: {} on {} ({}–{})</title></rect>"##,
            band_top,
            (x1 - x0).max(1.0),
            plots_bottom - band_top,
            html_escape(&f.name),
            html_escape(&f.kind),
            html_escape(&f.target),
            fmt_ms(start),
            f.rolled_back_at_ms.map_or_else(|| "end".to_owned(), fmt_ms)
        );
        let _ = write!(
            o,
            r##"<text x="{:.1}" y="{:.1}" fill="#a40e26" font-size="11">{}</text>"##,
            x0 + 4.0,
            band_top + 10.0,
            html_escape(&f.name)
        );
    }

    for (i, p) in panels.iter().enumerate() {
        let pt = panel_top(i);
        let max_v = p.values.iter().map(|v| v.1).fold(0.0_f64, f64::max);
        let (y_step, y_max) = nice_axis(max_v, 4.0);
        let y = |v: f64| pt + panel_h - (v / y_max).clamp(0.0, 1.0) * panel_h;
        let _ = write!(
            o,
            r##"<text x="{left}" y="{:.1}" font-weight="600" fill="#1f2328">{} ({})</text>"##,
            pt - 6.0,
            p.title,
            p.unit
        );
        // Grid and y labels.
        let mut v = 0.0;
        while v <= y_max + y_step * 0.5 {
            let yy = y(v);
            let _ = write!(
                o,
                r##"<line x1="{left}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#d0d7de" stroke-width="1"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#57606a" font-size="11">{}</text>"##,
                left + plot_w,
                left - 6.0,
                yy + 4.0,
                fmt_num(v, 2)
            );
            v += y_step;
        }
        let _ = write!(
            o,
            r##"<rect x="{left}" y="{pt}" width="{plot_w}" height="{panel_h}" fill="none" stroke="#8c959f"/>"##
        );
        // Series.
        let points: Vec<String> = p
            .values
            .iter()
            .map(|&(t, v)| format!("{:.1},{:.1}", x(t as f64), y(v)))
            .collect();
        let _ = write!(
            o,
            r##"<polyline fill="none" stroke="{}" stroke-width="1.8" stroke-linejoin="round" points="{}"/>"##,
            p.color,
            points.join(" ")
        );
    }

    // Phase boundaries.
    for ph in &s.phases {
        let xx = x(ph.started_ms as f64);
        let _ = write!(
            o,
            r##"<line x1="{xx:.1}" y1="{top}" x2="{xx:.1}" y2="{plots_bottom}" stroke="#8c959f" stroke-dasharray="2 3"/><text x="{:.1}" y="{:.1}" fill="#57606a" font-size="10">{}</text>"##,
            xx + 3.0,
            plots_bottom + 30.0,
            html_escape(&ph.name)
        );
    }

    // Detection / notification / resolution markers, in time order, each label on the first
    // band row where it does not overlap its left neighbour.
    let mut markers: Vec<(u64, &ExpectationResult)> = s
        .expectations
        .iter()
        .filter(|e| e.status == ExpectationStatus::Met)
        .filter(|e| {
            !matches!(
                e.kind,
                ExpectationKind::NoAlerts | ExpectationKind::Overhead
            )
        })
        .filter_map(|e| e.observed_at_ms.map(|at| (at, e)))
        .collect();
    markers.sort_by_key(|(at, _)| *at);
    let mut row_end = [f64::MIN; MARKER_ROWS];
    for (k, (at, e)) in markers.into_iter().enumerate() {
        let class = MarkerClass::of(e);
        let xx = x(at as f64);
        let label_w = e.id.chars().count() as f64 * 5.6 + 8.0;
        let row = row_end
            .iter()
            .position(|&end| end < xx)
            .unwrap_or(k % MARKER_ROWS);
        row_end[row] = xx + label_w;
        let ly = band_top + (row + 1) as f64 * BAND_ROW + 10.0;
        let _ = write!(
            o,
            r##"<g><title>{} {} met at {} (time to detect {})</title><line x1="{xx:.1}" y1="{:.1}" x2="{xx:.1}" y2="{plots_bottom}" stroke="{}" stroke-width="1.5" stroke-opacity="0.85"/>"##,
            html_escape(&e.id),
            html_escape(&e.description),
            fmt_ms(at),
            e.time_to_detect_ms.map_or_else(|| "-".to_owned(), fmt_ms),
            ly - 9.0,
            class.color()
        );
        let _ = write!(
            o,
            r##"<text x="{:.1}" y="{ly:.1}" fill="{}" font-size="10">{}</text></g>"##,
            xx + 3.0,
            class.color(),
            html_escape(&e.id)
        );
    }

    // X axis.
    let mut t = 0.0;
    while t <= x_max + x_step * 0.5 {
        let xx = left + t / x_max * plot_w;
        let _ = write!(
            o,
            r##"<line x1="{xx:.1}" y1="{plots_bottom}" x2="{xx:.1}" y2="{:.1}" stroke="#8c959f"/><text x="{xx:.1}" y="{:.1}" text-anchor="middle" fill="#57606a" font-size="11">{}s</text>"##,
            plots_bottom + 5.0,
            plots_bottom + 17.0,
            fmt_num(t, 1)
        );
        t += x_step;
    }
    o.push_str("</svg>");
    Some(o)
}

/// Time-to-detect per expectation as horizontal bars with deadline and floor marks, or `None`
/// when the scenario has no expectations.
pub fn time_to_detect(s: &ScenarioResult) -> Option<String> {
    if s.expectations.is_empty() {
        return None;
    }
    let (w, label_w, right) = (960.0_f64, 330.0_f64, 90.0_f64);
    let (top, row_h, bottom) = (58.0_f64, 28.0_f64, 40.0_f64);
    let plot_x = label_w;
    let plot_w = w - label_w - right;
    let n = s.expectations.len() as f64;
    let h = top + n * row_h + bottom;
    let max_ms = s
        .expectations
        .iter()
        .flat_map(|e| [Some(e.deadline_ms), e.time_to_detect_ms, e.floor_ms])
        .flatten()
        .max()
        .unwrap_or(1)
        .max(1);
    let (x_step, x_max) = nice_axis(max_ms as f64 / 1000.0, 8.0);
    let x = |ms: f64| plot_x + (ms / 1000.0) / x_max * plot_w;
    let plot_bottom = top + n * row_h;

    let mut o = String::new();
    let _ = write!(
        o,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" {FONT} font-size="12">"##
    );
    let _ = write!(
        o,
        r##"<title>{}: time to detect</title><rect width="{w}" height="{h}" fill="#ffffff"/>"##,
        html_escape(&s.name)
    );
    let _ = write!(
        o,
        r##"<text x="12" y="20" font-size="15" font-weight="600" fill="#1f2328">{}: time to detect vs deadline and floor</text>"##,
        html_escape(&s.name)
    );
    // Legend.
    let _ = write!(
        o,
        r##"<rect x="12" y="32" width="14" height="10" fill="{RESOLVE}"/><text x="31" y="41" fill="#57606a">met</text><rect x="70" y="32" width="14" height="10" fill="{MISS}" fill-opacity="0.35" stroke="{MISS}"/><text x="89" y="41" fill="#57606a">missed (until deadline)</text><line x1="250" y1="30" x2="250" y2="44" stroke="{MISS}" stroke-width="2.5"/><text x="257" y="41" fill="#57606a">deadline</text><line x1="330" y1="30" x2="330" y2="44" stroke="{FLOOR}" stroke-width="2" stroke-dasharray="3 2"/><text x="337" y="41" fill="#57606a">floor (fastest possible)</text>"##
    );
    // Grid.
    let mut t = 0.0;
    while t <= x_max + x_step * 0.5 {
        let xx = plot_x + t / x_max * plot_w;
        let _ = write!(
            o,
            r##"<line x1="{xx:.1}" y1="{top}" x2="{xx:.1}" y2="{plot_bottom}" stroke="#eaeef2"/><text x="{xx:.1}" y="{:.1}" text-anchor="middle" fill="#57606a" font-size="11">{}s</text>"##,
            plot_bottom + 16.0,
            fmt_num(t, 1)
        );
        t += x_step;
    }
    for (i, e) in s.expectations.iter().enumerate() {
        let ry = top + i as f64 * row_h;
        let mid = ry + row_h / 2.0;
        if i % 2 == 1 {
            let _ = write!(
                o,
                r##"<rect x="0" y="{ry}" width="{w}" height="{row_h}" fill="#f6f8fa" fill-opacity="0.7"/>"##
            );
        }
        let label = format!("{} {}", e.id, e.description);
        let short: String = if label.chars().count() > 46 {
            label.chars().take(45).chain(['…']).collect()
        } else {
            label.clone()
        };
        let _ = write!(
            o,
            r##"<text x="12" y="{:.1}" fill="#1f2328"><title>{}</title>{}</text>"##,
            mid + 4.0,
            html_escape(&label),
            html_escape(&short)
        );
        match e.status {
            ExpectationStatus::Met => {
                if let Some(ttd) = e.time_to_detect_ms {
                    let bw = (x(ttd as f64) - plot_x).max(1.5);
                    let _ = write!(
                        o,
                        r##"<rect x="{plot_x}" y="{:.1}" width="{bw:.1}" height="{:.1}" fill="{RESOLVE}" rx="2"><title>detected in {}</title></rect>"##,
                        ry + 7.0,
                        row_h - 14.0,
                        fmt_ms(ttd)
                    );
                } else {
                    let _ = write!(
                        o,
                        r##"<text x="{:.1}" y="{:.1}" fill="{RESOLVE}">met (held for the whole phase)</text>"##,
                        plot_x + 4.0,
                        mid + 4.0
                    );
                }
            }
            ExpectationStatus::Missed => {
                let bw = (x(e.deadline_ms as f64) - plot_x).max(1.5);
                let _ = write!(
                    o,
                    r##"<rect x="{plot_x}" y="{:.1}" width="{bw:.1}" height="{:.1}" fill="{MISS}" fill-opacity="0.35" stroke="{MISS}" rx="2"><title>missed; last observed: {}</title></rect>"##,
                    ry + 7.0,
                    row_h - 14.0,
                    html_escape(e.last_observed.as_deref().unwrap_or("nothing"))
                );
            }
            ExpectationStatus::Skipped => {
                let _ = write!(
                    o,
                    r##"<text x="{:.1}" y="{:.1}" fill="#9a6700" font-style="italic">skipped: {}</text>"##,
                    plot_x + 4.0,
                    mid + 4.0,
                    html_escape(e.skipped_reason.as_deref().unwrap_or("no reason given"))
                );
            }
        }
        // A met expectation without a time-to-detect held for its whole phase (no-alerts):
        // its "deadline" is the phase length, so no marks.
        let held = e.status == ExpectationStatus::Met && e.time_to_detect_ms.is_none();
        if e.status != ExpectationStatus::Skipped && !held {
            if let Some(floor) = e.floor_ms {
                let fx = x(floor as f64);
                let _ = write!(
                    o,
                    r##"<line x1="{fx:.1}" y1="{:.1}" x2="{fx:.1}" y2="{:.1}" stroke="{FLOOR}" stroke-width="2.5" stroke-dasharray="4 2"><title>floor {}</title></line>"##,
                    ry + 3.0,
                    ry + row_h - 3.0,
                    fmt_ms(floor)
                );
            }
            let dx = x(e.deadline_ms as f64);
            let _ = write!(
                o,
                r##"<line x1="{dx:.1}" y1="{:.1}" x2="{dx:.1}" y2="{:.1}" stroke="{MISS}" stroke-width="2.5"><title>deadline {}</title></line>"##,
                ry + 3.0,
                ry + row_h - 3.0,
                fmt_ms(e.deadline_ms)
            );
            let value = match (e.status, e.time_to_detect_ms) {
                (ExpectationStatus::Met, Some(t)) => {
                    format!("{} / {}", fmt_ms(t), fmt_ms(e.deadline_ms))
                }
                (ExpectationStatus::Missed, _) => format!("missed / {}", fmt_ms(e.deadline_ms)),
                _ => String::new(),
            };
            let vx = dx.max(e.time_to_detect_ms.map_or(0.0, |t| x(t as f64))) + 6.0;
            let color = if e.status == ExpectationStatus::Missed {
                MISS
            } else {
                "#1f2328"
            };
            let _ = write!(
                o,
                r##"<text x="{vx:.1}" y="{:.1}" fill="{color}" font-size="11">{value}</text>"##,
                mid + 4.0
            );
        }
    }
    let _ = write!(
        o,
        r##"<line x1="{plot_x}" y1="{plot_bottom}" x2="{:.1}" y2="{plot_bottom}" stroke="#8c959f"/>"##,
        plot_x + plot_w
    );
    o.push_str("</svg>");
    Some(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_axis_rounds_up_to_1_2_5_steps() {
        assert_eq!(nice_axis(92.0, 10.0), (10.0, 100.0));
        assert_eq!(nice_axis(0.33, 4.0), (0.1, 0.4));
        assert_eq!(nice_axis(0.0, 4.0), (0.5, 1.0));
        let (step, top) = nice_axis(213.0, 4.0);
        assert_eq!((step, top), (100.0, 300.0));
    }
}
