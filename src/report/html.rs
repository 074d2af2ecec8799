//! `report.html`: the self-contained pre-release report (inline CSS, inline SVG plots, no
//! external fetch — a Content-Security-Policy forbids it). Sections: what was tested
//! (components, versions, real or recorded and why), verdict per scenario, then per scenario
//! its load, faults, timeline plot, per-signal tables with time-to-detect vs deadline and
//! floor, the time-to-detect plot, and the overhead table. All user strings are escaped.

use std::fmt::Write as _;
use std::path::Path;

use super::model::{RunResults, ScenarioResult};
use super::output::ReportError;
use super::svg;
use super::table::{self, Cell, Table, recorded_backends, scenario_reason, totals_line};
use super::text::{fmt_ms, html_escape as esc};

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
<p class="meta">{}</p>
<p class="verdict">Verdict: {} — {}</p>
"#,
        overall.as_str(),
        table::run_line(results, esc),
        badge(overall.as_str()),
        esc(&totals_line(results)),
    );

    // What was tested.
    o.push_str("<h2>What was tested</h2>\n");
    write_table(&mut o, &table::components(results));
    let not_real: Vec<String> = recorded_backends(results);
    if !not_real.is_empty() {
        let _ = writeln!(
            o,
            r#"<p class="note">Checks against recorded responses (not a live backend): {}.</p>"#,
            esc(&not_real.join(", "))
        );
    }

    // Verdict per scenario.
    o.push_str("<h2>Verdict per scenario</h2>\n");
    write_table(&mut o, &table::scenarios(results));

    if super::matrix::applies(results) {
        o.push_str("<h2>Prometheus versions side by side</h2>\n");
        let _ = writeln!(o, "<p>{}</p>", esc(super::matrix::INTRO));
        write_table(&mut o, &super::matrix::table(results));
    }

    for s in &results.scenarios {
        scenario_section(&mut o, s);
    }
    o.push_str("</main></body></html>\n");
    o
}

/// The id of a scenario's section, for links from the verdict table.
fn anchor(name: &str) -> String {
    format!("scenario-{}", super::text::slug(name))
}

/// Writes `t` as a `<table>`, one row a line.
fn write_table(o: &mut String, t: &Table) {
    o.push_str("<table><tr>");
    for c in t.columns {
        let _ = write!(o, "<th>{}</th>", c.title);
    }
    o.push_str("</tr>\n");
    for row in &t.rows {
        o.push_str("<tr>");
        for (c, cell) in t.columns.iter().zip(row) {
            match if c.numeric { Some("num") } else { c.class } {
                Some(class) => {
                    let _ = write!(o, r#"<td class="{class}">"#);
                }
                None => o.push_str("<td>"),
            }
            o.push_str(&cell_html(cell));
            o.push_str("</td>");
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</table>\n");
}

fn cell_html(cell: &Cell) -> String {
    match cell {
        Cell::Text(t) => esc(t),
        Cell::Scenario(name) => format!(r##"<a href="#{}">{}</a>"##, anchor(name), esc(name)),
        Cell::Path(t) | Cell::Id(t) => format!("<code>{}</code>", esc(t)),
        Cell::Status { word, .. } => badge(word),
        Cell::Real(true) => "yes".to_owned(),
        Cell::Real(false) => r#"<span class="recorded">no (recorded)</span>"#.to_owned(),
        Cell::Backend { name, real: true } => esc(name),
        Cell::Backend { name, real: false } => {
            format!(r#"{} <span class="recorded">(recorded)</span>"#, esc(name))
        }
    }
}

fn scenario_section(o: &mut String, s: &ScenarioResult) {
    let _ = writeln!(
        o,
        r#"<h2 id="{}">{} {}</h2><p class="meta"><code>{}</code> · {}</p>"#,
        anchor(&s.name),
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
    if let Some(v) = &s.stack_versions {
        let _ = writeln!(o, "<p>Ran against {}.</p>", esc(&v.describe()));
    }
    if !s.config_notes.is_empty() {
        o.push_str("<h3>Configuration</h3><ul>");
        for note in &s.config_notes {
            let _ = write!(o, "<li>{}</li>", esc(note));
        }
        o.push_str("</ul>\n");
    }
    if !s.alerts_fired.is_empty() {
        o.push_str("<h3>Alerts that fired</h3><ul>");
        for alert in &s.alerts_fired {
            let _ = write!(o, "<li>{}</li>", esc(&alert.line()));
        }
        o.push_str("</ul>\n");
    }
    if let Some(l) = &s.load {
        o.push_str("<h3>Load</h3>");
        write_table(o, &table::load(l));
        let _ = write!(o, "<p>{}</p>", esc(&l.engine_note()));
    }
    if let Some(t) = table::faults(&s.faults) {
        o.push_str("<h3>Faults</h3>");
        write_table(o, &t);
    }
    if let Some(svg) = svg::timeline(s) {
        let _ = writeln!(
            o,
            "<figure>{svg}<figcaption>Load over time; shaded: fault active; vertical lines: when an expectation was met (detection, notification, resolution).</figcaption></figure>"
        );
    }
    for (kind, t) in table::expectations(s) {
        let _ = write!(o, "<h3>{}</h3>", kind.heading());
        write_table(o, &t);
    }
    if let Some(svg) = svg::time_to_detect(s) {
        let _ = writeln!(
            o,
            "<figure>{svg}<figcaption>Time to detect per expectation; red mark: deadline; dashed grey mark: theoretical floor.</figcaption></figure>"
        );
    }
    if let Some(ov) = &s.overhead {
        let _ = write!(
            o,
            "<h3>Instrumentation overhead {}</h3>",
            badge(ov.status.as_str())
        );
        write_table(o, &table::overhead(ov));
    }
}

/// Writes `report.html` for `results` to `path`.
pub fn write(path: &Path, results: &RunResults) -> Result<(), ReportError> {
    super::output::write_file(path, render(results).as_bytes())
}
