//! `report.md`: the pre-release report as GitHub-flavoured Markdown, with the SVG plots
//! written as separate files next to it (`report-NN-<scenario>-timeline.svg`,
//! `report-NN-<scenario>-ttd.svg`) and linked as images. Same sections as `report.html`;
//! table cells are escaped so user text cannot break tables or inject HTML.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::model::{RunResults, ScenarioStatus};
use super::output::{ReportError, write_file};
use super::svg;
use super::table::{self, Cell, Table, recorded_backends, totals_line};
use super::text::{fmt_ms, md_cell as c, slug};

/// File name used inside a report directory.
pub const MARKDOWN_FILE: &str = "report.md";

/// A rendered Markdown report: the document and the SVG files it links to.
#[derive(Debug, Clone, PartialEq)]
pub struct MarkdownReport {
    /// Contents of `report.md`.
    pub markdown: String,
    /// `(file name, svg)` pairs to write next to it.
    pub images: Vec<(String, String)>,
}

/// Renders the Markdown report and its plots.
pub fn render(results: &RunResults) -> MarkdownReport {
    let mut o = String::new();
    let mut images = Vec::new();
    let overall = results.overall_status();
    let _ = writeln!(o, "# gauntlet pre-release report\n");
    let _ = writeln!(
        o,
        "**Verdict: {}** — {}\n",
        overall.as_str().to_uppercase(),
        c(&totals_line(results))
    );
    let _ = writeln!(o, "{}\n", table::run_line(results, c));

    o.push_str("## What was tested\n\n");
    write_table(&mut o, &table::components(results));
    let recorded = recorded_backends(results);
    if !recorded.is_empty() {
        let _ = writeln!(
            o,
            "\nChecks against recorded responses (not a live backend): {}.",
            c(&recorded.join(", "))
        );
    }

    o.push_str("\n## Verdict per scenario\n\n");
    write_table(&mut o, &table::scenarios(results));

    if super::matrix::applies(results) {
        o.push_str("\n## Prometheus versions side by side\n\n");
        let _ = writeln!(o, "{}\n", c(super::matrix::INTRO));
        write_table(&mut o, &super::matrix::table(results));
    }

    for (i, s) in results.scenarios.iter().enumerate() {
        let stem = format!("report-{:02}-{}", i + 1, slug(&s.name));
        let _ = writeln!(
            o,
            "\n## {} — {}\n\n`{}` · {}",
            c(&s.name),
            s.status.as_str(),
            s.file.replace('`', "'"),
            fmt_ms(s.duration_ms)
        );
        match (s.status, &s.skipped_reason, &s.error) {
            (ScenarioStatus::Skipped, Some(r), _) => {
                let _ = writeln!(o, "\n**Skipped:** {}", c(r));
            }
            (ScenarioStatus::Error, _, Some(e)) => {
                let _ = writeln!(o, "\n**Error:** {}", c(e));
            }
            _ => {}
        }
        if let Some(v) = &s.stack_versions {
            let _ = writeln!(o, "\nRan against {}.", c(&v.describe()));
        }
        if !s.config_notes.is_empty() {
            o.push_str("\n### Configuration\n\n");
            for note in &s.config_notes {
                let _ = writeln!(o, "- {}", c(note));
            }
        }
        if !s.alerts_fired.is_empty() {
            o.push_str("\n### Alerts that fired\n\n");
            for alert in &s.alerts_fired {
                let _ = writeln!(o, "- {}", c(&alert.line()));
            }
        }
        if let Some(l) = &s.load {
            o.push_str("\n### Load\n\n");
            write_table(&mut o, &table::load(l));
            let _ = writeln!(o, "\n{}", c(&l.engine_note()));
        }
        if let Some(t) = table::faults(&s.faults) {
            o.push_str("\n### Faults\n\n");
            write_table(&mut o, &t);
        }
        if let Some(svg) = svg::timeline(s) {
            let file = format!("{stem}-timeline.svg");
            let _ = writeln!(
                o,
                "\n![{}: request rate, error rate and p95 latency over time]({file})",
                c(&s.name)
            );
            images.push((file, svg));
        }
        for (kind, t) in table::expectations(s) {
            let _ = write!(o, "\n### {}\n\n", kind.heading());
            write_table(&mut o, &t);
        }
        if let Some(svg) = svg::time_to_detect(s) {
            let file = format!("{stem}-ttd.svg");
            let _ = writeln!(
                o,
                "\n![{}: time to detect vs deadline and floor]({file})",
                c(&s.name)
            );
            images.push((file, svg));
        }
        if let Some(ov) = &s.overhead {
            let _ = write!(
                o,
                "\n### Instrumentation overhead — {}\n\n",
                ov.status.as_str()
            );
            write_table(&mut o, &table::overhead(ov));
        }
    }
    MarkdownReport {
        markdown: o,
        images,
    }
}

/// Writes `t` as a GitHub-flavoured table: numeric columns right-aligned, cells escaped.
fn write_table(o: &mut String, t: &Table) {
    o.push('|');
    for col in t.columns {
        let _ = write!(o, " {} |", col.title);
    }
    o.push_str("\n|");
    for col in t.columns {
        o.push_str(if col.numeric { "--:|" } else { "---|" });
    }
    o.push('\n');
    for row in &t.rows {
        o.push('|');
        for cell in row {
            let _ = write!(o, " {} |", cell_md(cell));
        }
        o.push('\n');
    }
}

fn cell_md(cell: &Cell) -> String {
    match cell {
        Cell::Text(t) | Cell::Scenario(t) | Cell::Id(t) => c(t),
        // Inside backticks only a backtick, a pipe or a line break could end the code span or
        // the cell.
        Cell::Path(p) => format!(
            "`{}`",
            p.replace('`', "'")
                .replace('|', "\\|")
                .replace(|c: char| c.is_control(), " ")
        ),
        Cell::Status { word, alert: true } => format!("**{word}**"),
        Cell::Status { word, alert: false } => (*word).to_owned(),
        Cell::Real(true) => "yes".to_owned(),
        Cell::Real(false) => "**no (recorded)**".to_owned(),
        Cell::Backend { name, real: true } => c(name),
        Cell::Backend { name, real: false } => format!("{} (recorded)", c(name)),
    }
}

/// Writes `report.md` and its SVG plots into `dir`; returns the written files (report first).
pub fn write(dir: &Path, results: &RunResults) -> Result<Vec<PathBuf>, ReportError> {
    let report = render(results);
    let md = dir.join(MARKDOWN_FILE);
    write_file(&md, report.markdown.as_bytes())?;
    let mut written = vec![md];
    for (name, svg) in report.images {
        let path = dir.join(name);
        write_file(&path, svg.as_bytes())?;
        written.push(path);
    }
    Ok(written)
}
