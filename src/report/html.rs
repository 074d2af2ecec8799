//! `report.html`: the self-contained pre-release report (inline CSS, inline SVG plots, no
//! external fetch — a Content-Security-Policy forbids it). Sections: what was tested
//! (components, versions, real or recorded and why), verdict per scenario, then per scenario
//! its load, faults, timeline plot, per-signal tables with time-to-detect vs deadline and
//! floor, the time-to-detect plot, and the overhead table. All user strings are escaped.

use std::fmt::Write as _;
use std::path::Path;

use super::model::{
    ExpectationKind, ExpectationStatus, RunResults, ScenarioResult, ScenarioStatus,
};
use super::output::ReportError;
use super::svg;
use super::text::{fmt_ms, fmt_num, fmt_opt_ms, fmt_pct, html_escape as esc};

/// File name used inside a report directory.
pub const HTML_FILE: &str = "report.html";

const CSS: &str = r#"
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1f2328; margin: 0; background: #f6f8fa; }
main { max-width: 1000px; margin: 0 auto; padding: 24px; background: #fff; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 32px 0 8px; padding-bottom: 4px; border-bottom: 1px solid #d0d7de; }
h3 { font-size: 15px; margin: 20px 0 6px; }
.meta { color: #57606a; margin: 0 0 12px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; font-size: 13px; }
th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #f6f8fa; padding: 1px 4px; border-radius: 4px; overflow-wrap: anywhere; }
td.id code { white-space: nowrap; }
td.desc, td.obs { overflow-wrap: anywhere; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; color: #fff; }
.met { background: #1a7f37; } .missed, .error { background: #cf222e; } .skipped { background: #9a6700; }
.verdict { font-size: 16px; margin: 8px 0 16px; }
.recorded { color: #9a6700; font-weight: 600; }
.note { color: #57606a; font-size: 12px; }
figure { margin: 10px 0 18px; } figure svg { max-width: 100%; height: auto; border: 1px solid #d0d7de; border-radius: 6px; }
figcaption { color: #57606a; font-size: 12px; }
"#;

fn badge(status: &str) -> String {
    format!(r#"<span class="badge {status}">{status}</span>"#)
}

/// Renders the whole HTML document.
pub fn render(results: &RunResults) -> String {
    let mut o = String::new();
    let overall = results.overall_status();
    let _ = write!(
        o,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gauntlet report: {}</title><style>{CSS}</style></head><body><main>
<h1>gauntlet pre-release report</h1>
<p class="meta">gauntlet {} · started {} · finished {} · host {} {} ({} cores{})</p>
<p class="verdict">Verdict: {} — {}</p>
"#,
        overall.as_str(),
        esc(&results.gauntlet_version),
        esc(&results.started_at),
        esc(&results.finished_at),
        esc(&results.environment.host.os),
        esc(&results.environment.host.arch),
        results.environment.host.cores,
        results
            .environment
            .host
            .kernel
            .as_deref()
            .map_or_else(String::new, |k| format!(", kernel {}", esc(k))),
        badge(overall.as_str()),
        esc(&totals_line(results)),
    );

    // What was tested.
    o.push_str("<h2>What was tested</h2>\n<table><tr><th>Component</th><th>Version</th><th>Provided as</th><th>Real</th><th>Note</th></tr>\n");
    for c in &results.environment.components {
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&c.name),
            c.version
                .as_deref()
                .map_or_else(|| "unknown".to_owned(), esc),
            c.kind.as_str(),
            if c.real {
                "yes".to_owned()
            } else {
                r#"<span class="recorded">no (recorded)</span>"#.to_owned()
            },
            c.note.as_deref().map_or_else(String::new, esc)
        );
    }
    o.push_str("</table>\n");
    let not_real: Vec<String> = recorded_backends(results);
    if !not_real.is_empty() {
        let _ = writeln!(
            o,
            r#"<p class="note">Checks against recorded responses (not a live backend): {}.</p>"#,
            esc(&not_real.join(", "))
        );
    }

    // Verdict per scenario.
    o.push_str("<h2>Verdict per scenario</h2>\n<table><tr><th>Scenario</th><th>File</th><th>Status</th><th>Met</th><th>Missed</th><th>Skipped</th><th>Duration</th><th>Reason</th></tr>\n");
    for s in &results.scenarios {
        let n = |st| s.expectations.iter().filter(|e| e.status == st).count();
        let _ = writeln!(
            o,
            r##"<tr><td><a href="#{}">{}</a></td><td><code>{}</code></td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td>{}</td></tr>"##,
            anchor(s),
            esc(&s.name),
            esc(&s.file),
            badge(s.status.as_str()),
            n(ExpectationStatus::Met),
            n(ExpectationStatus::Missed),
            n(ExpectationStatus::Skipped),
            fmt_ms(s.duration_ms),
            esc(scenario_reason(s))
        );
    }
    o.push_str("</table>\n");

    for s in &results.scenarios {
        scenario_section(&mut o, s);
    }
    o.push_str("</main></body></html>\n");
    o
}

fn anchor(s: &ScenarioResult) -> String {
    format!("scenario-{}", super::text::slug(&s.name))
}

fn scenario_reason(s: &ScenarioResult) -> &str {
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

/// Backends that expectations used in recorded (not real) form, deduplicated.
pub(crate) fn recorded_backends(results: &RunResults) -> Vec<String> {
    let mut v: Vec<String> = results
        .scenarios
        .iter()
        .flat_map(|s| &s.expectations)
        .filter(|e| !e.backend_real)
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

fn scenario_section(o: &mut String, s: &ScenarioResult) {
    let _ = writeln!(
        o,
        r#"<h2 id="{}">{} {}</h2><p class="meta"><code>{}</code> · {}</p>"#,
        anchor(s),
        esc(&s.name),
        badge(s.status.as_str()),
        esc(&s.file),
        fmt_ms(s.duration_ms)
    );
    if let Some(r) = Some(scenario_reason(s)).filter(|r| !r.is_empty()) {
        let _ = writeln!(
            o,
            "<p><strong>{}:</strong> {}</p>",
            s.status.as_str(),
            esc(r)
        );
    }
    if let Some(l) = &s.load {
        let _ = writeln!(
            o,
            r#"<h3>Load</h3><table><tr><th>Requests</th><th>Failures</th><th>Throughput</th><th>p50</th><th>p95</th><th>p99</th><th>max</th></tr><tr><td class="num">{}</td><td class="num">{}</td><td class="num">{} req/s</td><td class="num">{} ms</td><td class="num">{} ms</td><td class="num">{} ms</td><td class="num">{} ms</td></tr></table>"#,
            l.requests,
            l.failures,
            fmt_num(l.throughput_rps, 1),
            fmt_num(l.p50_ms, 1),
            fmt_num(l.p95_ms, 1),
            fmt_num(l.p99_ms, 1),
            fmt_num(l.max_ms, 1)
        );
    }
    if !s.faults.is_empty() {
        o.push_str("<h3>Faults</h3><table><tr><th>Fault</th><th>Kind</th><th>Target</th><th>Planned</th><th>Injected</th><th>Rolled back</th></tr>\n");
        for f in &s.faults {
            let _ = writeln!(
                o,
                r#"<tr><td>{}</td><td>{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
                esc(&f.name),
                esc(&f.kind),
                esc(&f.target),
                fmt_ms(f.planned_at_ms),
                f.injected_at_ms.map_or_else(|| "never".to_owned(), fmt_ms),
                f.rolled_back_at_ms.map_or_else(|| "-".to_owned(), fmt_ms)
            );
        }
        o.push_str("</table>\n");
    }
    if let Some(svg) = svg::timeline(s) {
        let _ = writeln!(
            o,
            "<figure>{svg}<figcaption>Load over time; shaded: fault active; vertical lines: when an expectation was met (detection, notification, resolution).</figcaption></figure>"
        );
    }
    for kind in ExpectationKind::ALL {
        let rows: Vec<_> = s.expectations.iter().filter(|e| e.kind == kind).collect();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(
            o,
            "<h3>{}</h3><table><tr><th>Id</th><th>Expectation</th><th>Phase</th><th>Status</th><th>Time to detect</th><th>Deadline</th><th>Floor</th><th>Headroom</th><th>Last observed</th><th>Backend</th></tr>",
            kind.heading()
        );
        for e in rows {
            let observed = e.observed_text();
            let _ = writeln!(
                o,
                r#"<tr><td class="id"><code>{}</code></td><td class="desc">{}</td><td>{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="obs">{}</td><td>{}</td></tr>"#,
                esc(&e.id),
                esc(&e.description),
                e.phase.as_str(),
                badge(e.status.as_str()),
                fmt_opt_ms(e.time_to_detect_ms),
                fmt_ms(e.deadline_ms),
                fmt_opt_ms(e.floor_ms),
                headroom(e.deadline_ms, e.time_to_detect_ms),
                esc(&observed),
                if e.backend_real {
                    esc(&e.backend)
                } else {
                    format!(
                        r#"{} <span class="recorded">(recorded)</span>"#,
                        esc(&e.backend)
                    )
                }
            );
        }
        o.push_str("</table>\n");
    }
    if let Some(svg) = svg::time_to_detect(s) {
        let _ = writeln!(
            o,
            "<figure>{svg}<figcaption>Time to detect per expectation; red mark: deadline; dashed grey mark: theoretical floor.</figcaption></figure>"
        );
    }
    if let Some(ov) = &s.overhead {
        let _ = writeln!(
            o,
            r#"<h3>Instrumentation overhead {}</h3><table><tr><th>Measure</th><th>Without</th><th>With</th><th>Change</th><th>Limit</th></tr>
<tr><td>p99 latency increase</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>
<tr><td>throughput drop</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr></table>"#,
            badge(ov.status.as_str()),
            ov.baseline_p99_ms
                .map_or_else(|| "-".to_owned(), |v| format!("{} ms", fmt_num(v, 2))),
            ov.instrumented_p99_ms
                .map_or_else(|| "-".to_owned(), |v| format!("{} ms", fmt_num(v, 2))),
            fmt_pct(ov.p99_increase_pct),
            fmt_pct(ov.limits.max_p99_increase_pct),
            ov.baseline_rps
                .map_or_else(|| "-".to_owned(), |v| format!("{} req/s", fmt_num(v, 1))),
            ov.instrumented_rps
                .map_or_else(|| "-".to_owned(), |v| format!("{} req/s", fmt_num(v, 1))),
            fmt_pct(ov.throughput_drop_pct),
            fmt_pct(ov.limits.max_throughput_drop_pct),
        );
    }
}

/// Writes `report.html` for `results` to `path`.
pub fn write(path: &Path, results: &RunResults) -> Result<(), ReportError> {
    super::output::write_file(path, render(results).as_bytes())
}
