//! `report.md`: the pre-release report as GitHub-flavoured Markdown, with the SVG plots
//! written as separate files next to it (`report-NN-<scenario>-timeline.svg`,
//! `report-NN-<scenario>-ttd.svg`) and linked as images. Same sections as `report.html`;
//! table cells are escaped so user text cannot break tables or inject HTML.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::html::{headroom, recorded_backends, totals_line};
use super::model::{ExpectationKind, ExpectationStatus, RunResults, ScenarioStatus};
use super::output::{ReportError, write_file};
use super::svg;
use super::text::{fmt_ms, fmt_num, fmt_opt_ms, fmt_pct, md_cell as c, slug};

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
    let host = &results.environment.host;
    let _ = writeln!(o, "# gauntlet pre-release report\n");
    let _ = writeln!(
        o,
        "**Verdict: {}** — {}\n",
        overall.as_str().to_uppercase(),
        c(&totals_line(results))
    );
    let _ = writeln!(
        o,
        "gauntlet {} · started {} · finished {} · host {} {} ({} cores{})\n",
        c(&results.gauntlet_version),
        c(&results.started_at),
        c(&results.finished_at),
        c(&host.os),
        c(&host.arch),
        host.cores,
        host.kernel
            .as_deref()
            .map_or_else(String::new, |k| format!(", kernel {}", c(k)))
    );

    o.push_str("## What was tested\n\n| Component | Version | Provided as | Real | Note |\n|---|---|---|---|---|\n");
    for comp in &results.environment.components {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} |",
            c(&comp.name),
            comp.version
                .as_deref()
                .map_or_else(|| "unknown".to_owned(), c),
            comp.kind.as_str(),
            if comp.real {
                "yes"
            } else {
                "**no (recorded)**"
            },
            comp.note.as_deref().map_or_else(String::new, c)
        );
    }
    let recorded = recorded_backends(results);
    if !recorded.is_empty() {
        let _ = writeln!(
            o,
            "\nChecks against recorded responses (not a live backend): {}.",
            c(&recorded.join(", "))
        );
    }

    o.push_str("\n## Verdict per scenario\n\n| Scenario | File | Status | Met | Missed | Skipped | Duration | Reason |\n|---|---|---|--:|--:|--:|--:|---|\n");
    for s in &results.scenarios {
        let n = |st| s.expectations.iter().filter(|e| e.status == st).count();
        let reason = match s.status {
            ScenarioStatus::Skipped => s.skipped_reason.as_deref().unwrap_or(""),
            ScenarioStatus::Error => s.error.as_deref().unwrap_or(""),
            _ => "",
        };
        let _ = writeln!(
            o,
            "| {} | `{}` | {} | {} | {} | {} | {} | {} |",
            c(&s.name),
            s.file.replace('`', "'").replace('|', "\\|"),
            s.status.as_str(),
            n(ExpectationStatus::Met),
            n(ExpectationStatus::Missed),
            n(ExpectationStatus::Skipped),
            fmt_ms(s.duration_ms),
            c(reason)
        );
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
        if let Some(l) = &s.load {
            let _ = writeln!(
                o,
                "\n### Load\n\n| Requests | Failures | Throughput | p50 | p95 | p99 | max |\n|--:|--:|--:|--:|--:|--:|--:|\n| {} | {} | {} req/s | {} ms | {} ms | {} ms | {} ms |",
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
            o.push_str("\n### Faults\n\n| Fault | Kind | Target | Planned | Injected | Rolled back |\n|---|---|---|--:|--:|--:|\n");
            for f in &s.faults {
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {} | {} | {} |",
                    c(&f.name),
                    c(&f.kind),
                    c(&f.target),
                    fmt_ms(f.planned_at_ms),
                    f.injected_at_ms.map_or_else(|| "never".to_owned(), fmt_ms),
                    f.rolled_back_at_ms.map_or_else(|| "-".to_owned(), fmt_ms)
                );
            }
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
        for kind in ExpectationKind::ALL {
            let rows: Vec<_> = s.expectations.iter().filter(|e| e.kind == kind).collect();
            if rows.is_empty() {
                continue;
            }
            let _ = writeln!(
                o,
                "\n### {}\n\n| Id | Expectation | Phase | Status | Time to detect | Deadline | Floor | Headroom | Last observed | Backend |\n|---|---|---|---|--:|--:|--:|--:|---|---|",
                kind.heading()
            );
            for e in rows {
                let observed = e.observed_text();
                let status = match e.status {
                    ExpectationStatus::Missed => "**missed**",
                    other => other.as_str(),
                };
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {}{} |",
                    c(&e.id),
                    c(&e.description),
                    e.phase.as_str(),
                    status,
                    fmt_opt_ms(e.time_to_detect_ms),
                    fmt_ms(e.deadline_ms),
                    fmt_opt_ms(e.floor_ms),
                    headroom(e.deadline_ms, e.time_to_detect_ms),
                    c(&observed),
                    c(&e.backend),
                    if e.backend_real { "" } else { " (recorded)" }
                );
            }
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
            let _ = writeln!(
                o,
                "\n### Instrumentation overhead — {}\n\n| Measure | Without | With | Change | Limit |\n|---|--:|--:|--:|--:|\n| p99 latency increase | {} | {} | {} | {} |\n| throughput drop | {} | {} | {} | {} |",
                ov.status.as_str(),
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
    MarkdownReport {
        markdown: o,
        images,
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
