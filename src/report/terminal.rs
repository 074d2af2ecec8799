//! Terminal output: a [`TerminalReporter`] that consumes [`RunEvent`]s and a summary table.
//!
//! On a TTY a live indicatif progress view (on standard error) shows the phase, elapsed time,
//! request rate, error rate, active faults and expectations met so far, while notable events
//! (faults, verdicts) are printed as lines above it. Without a TTY, or with `--no-progress`,
//! every event is a plain line. `NO_COLOR` (non-empty) turns colour off. All human text goes
//! through the `std::io::Write` given to the reporter, so tests snapshot it.

use std::io::{self, IsTerminal as _, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tabled::builder::Builder;
use tabled::settings::Style;

use super::model::{
    ExpectationKind, ExpectationResult, ExpectationStatus, LoadEngine, LogLevel, RunEvent,
    RunResults, ScenarioResult, ScenarioStatus, SeriesPoint,
};
use super::text::{fmt_ms, fmt_num, fmt_opt_ms, fmt_pct, fmt_ratio_pct};

/// How the terminal output looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TerminalStyle {
    /// Draw the live progress view (only meaningful on a TTY).
    pub progress: bool,
    /// Use ANSI colours.
    pub color: bool,
    /// Print `debug` log events and every load sample.
    pub verbose: bool,
}

impl TerminalStyle {
    /// Plain lines, no colour: what tests and CI logs get.
    pub const PLAIN: TerminalStyle = TerminalStyle {
        progress: false,
        color: false,
        verbose: false,
    };

    /// Progress when standard error is a TTY and `no_progress` is false; colour when standard
    /// output is a TTY and `NO_COLOR` is unset or empty (<https://no-color.org>).
    pub fn detect(no_progress: bool) -> Self {
        Self::decide(
            no_progress,
            std::env::var_os("NO_COLOR").as_deref(),
            io::stderr().is_terminal(),
            io::stdout().is_terminal(),
        )
    }

    /// The pure part of [`TerminalStyle::detect`].
    pub fn decide(
        no_progress: bool,
        no_color: Option<&std::ffi::OsStr>,
        stderr_tty: bool,
        stdout_tty: bool,
    ) -> Self {
        TerminalStyle {
            progress: !no_progress && stderr_tty,
            color: no_color.is_none_or(|v| v.is_empty()) && stdout_tty,
            verbose: false,
        }
    }
}

const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

fn paint(style: TerminalStyle, code: &str, text: &str) -> String {
    if style.color {
        format!("{code}{text}{RESET}")
    } else {
        text.to_owned()
    }
}

fn expectation_word(style: TerminalStyle, s: ExpectationStatus) -> String {
    match s {
        ExpectationStatus::Met => paint(style, GREEN, "met    "),
        ExpectationStatus::Missed => paint(style, RED, "MISSED "),
        ExpectationStatus::Skipped => paint(style, YELLOW, "skipped"),
    }
}

fn scenario_word(style: TerminalStyle, s: ScenarioStatus) -> String {
    match s {
        ScenarioStatus::Met => paint(style, GREEN, "MET"),
        ScenarioStatus::Missed => paint(style, RED, "MISSED"),
        ScenarioStatus::Incomplete => paint(style, YELLOW, "INCOMPLETE"),
        ScenarioStatus::Skipped => paint(style, YELLOW, "SKIPPED"),
        ScenarioStatus::Error => paint(style, RED, "ERROR"),
    }
}

/// Interval between plain `load` lines, in scenario time (every sample with `verbose`).
const PLAIN_LOAD_EVERY_MS: u64 = 10_000;

/// What the live view shows; updated from events.
#[derive(Debug, Default, Clone)]
struct Live {
    scenario: String,
    planned_ms: Option<u64>,
    phase: String,
    last_t_ms: u64,
    sample: Option<SeriesPoint>,
    active_faults: Vec<String>,
    expectations: usize,
    met: usize,
    missed: usize,
    skipped: usize,
    next_load_line_ms: u64,
}

impl Live {
    fn message(&self) -> String {
        let mut parts = vec![if self.phase.is_empty() {
            "starting".to_owned()
        } else {
            self.phase.clone()
        }];
        if let Some(s) = &self.sample {
            parts.push(format!(
                "{} req/s, errors {}, p95 {}ms",
                fmt_num(s.rps, 0),
                fmt_ratio_pct(s.error_rate),
                fmt_num(s.p95_ms, 1)
            ));
        }
        if !self.active_faults.is_empty() {
            parts.push(format!("faults: {}", self.active_faults.join(", ")));
        }
        let mut verdicts = format!("met {}/{}", self.met, self.expectations);
        if self.missed > 0 {
            verdicts.push_str(&format!(", missed {}", self.missed));
        }
        parts.push(verdicts);
        parts.join(" | ")
    }
}

/// Consumes [`RunEvent`]s and writes human output; see the module docs.
pub struct TerminalReporter<W: Write> {
    out: W,
    style: TerminalStyle,
    bar: Option<ProgressBar>,
    draw_target: Option<ProgressDrawTarget>,
    live: Live,
}

impl<W: Write> TerminalReporter<W> {
    /// A reporter writing lines to `out`; with `style.progress` the live view draws on
    /// standard error.
    pub fn new(out: W, style: TerminalStyle) -> Self {
        TerminalReporter {
            out,
            style,
            bar: None,
            draw_target: None,
            live: Live::default(),
        }
    }

    /// Like [`TerminalReporter::new`] with the live view drawn on `target` (tests use an
    /// in-memory terminal).
    pub fn with_draw_target(out: W, style: TerminalStyle, target: ProgressDrawTarget) -> Self {
        let mut r = Self::new(out, style);
        r.draw_target = Some(target);
        r
    }

    /// Gives back the writer.
    pub fn into_inner(mut self) -> W {
        self.clear_bar();
        // The struct has no Drop impl, so the field can be moved out.
        self.out
    }

    fn clear_bar(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    fn start_bar(&mut self) {
        if !self.style.progress {
            return;
        }
        let target = self
            .draw_target
            .take()
            .unwrap_or_else(ProgressDrawTarget::stderr);
        let len = self.live.planned_ms.map(|ms| ms.div_ceil(1000));
        let template = if len.is_some() {
            "{spinner} {prefix} [{bar:24}] {pos}/{len}s {wide_msg}"
        } else {
            "{spinner} {prefix} [{elapsed}] {wide_msg}"
        };
        let style = ProgressStyle::with_template(template)
            .expect("the template is a constant known to parse")
            .progress_chars("=> ");
        let bar = ProgressBar::with_draw_target(len, target)
            .with_style(style)
            .with_prefix(self.live.scenario.clone())
            .with_message(self.live.message());
        bar.enable_steady_tick(Duration::from_millis(250));
        self.bar = Some(bar);
    }

    fn refresh_bar(&self) {
        if let Some(bar) = &self.bar {
            bar.set_position(self.live.last_t_ms / 1000);
            bar.set_message(self.live.message());
        }
    }

    /// Writes one line above the live view (or plainly).
    fn line(&mut self, text: &str) -> io::Result<()> {
        let out = &mut self.out;
        match &self.bar {
            Some(bar) => bar.suspend(|| writeln!(out, "{text}")),
            None => writeln!(out, "{text}"),
        }
    }

    fn stamp(&self, t_ms: u64) -> String {
        format!("  [{:>6}]", format!("{:.1}s", t_ms as f64 / 1000.0))
    }

    /// The current live-view message (phase, rates, faults, verdicts so far).
    pub fn live_message(&self) -> String {
        self.live.message()
    }

    /// Handles one event from the runner.
    pub fn handle(&mut self, event: &RunEvent) -> io::Result<()> {
        match event {
            RunEvent::ScenarioStarted {
                name,
                file,
                planned_ms,
                expectations,
            } => {
                self.clear_bar();
                self.live = Live {
                    scenario: name.clone(),
                    planned_ms: *planned_ms,
                    expectations: *expectations,
                    ..Live::default()
                };
                let head = paint(self.style, BOLD, &format!("scenario {name}"));
                self.line(&format!(
                    "{head} ({file}): {expectations} expectation{}{}",
                    if *expectations == 1 { "" } else { "s" },
                    planned_ms.map_or_else(String::new, |ms| format!(", ~{}", fmt_ms(ms)))
                ))?;
                self.start_bar();
            }
            RunEvent::PhaseStarted { name, at_ms } => {
                self.live.phase = name.clone();
                self.live.last_t_ms = self.live.last_t_ms.max(*at_ms);
                self.line(&format!("{} phase {name}", self.stamp(*at_ms)))?;
            }
            RunEvent::FaultInjected {
                name,
                kind,
                target,
                at_ms,
            } => {
                self.live.active_faults.push(name.clone());
                self.live.last_t_ms = self.live.last_t_ms.max(*at_ms);
                self.line(&format!(
                    "{} fault injected: {name} ({kind} on {target})",
                    self.stamp(*at_ms)
                ))?;
            }
            RunEvent::FaultRolledBack { name, at_ms } => {
                self.live.active_faults.retain(|f| f != name);
                self.live.last_t_ms = self.live.last_t_ms.max(*at_ms);
                self.line(&format!("{} fault rolled back: {name}", self.stamp(*at_ms)))?;
            }
            RunEvent::LoadSample(p) => {
                self.live.sample = Some(p.clone());
                self.live.last_t_ms = self.live.last_t_ms.max(p.t_ms);
                // The live view shows every sample; plain output only one line per interval.
                if self.bar.is_none()
                    && (self.style.verbose || p.t_ms >= self.live.next_load_line_ms)
                {
                    self.live.next_load_line_ms =
                        (p.t_ms / PLAIN_LOAD_EVERY_MS + 1) * PLAIN_LOAD_EVERY_MS;
                    self.line(&format!(
                        "{} load {} req/s, errors {}, p95 {}ms",
                        self.stamp(p.t_ms),
                        fmt_num(p.rps, 1),
                        fmt_ratio_pct(p.error_rate),
                        fmt_num(p.p95_ms, 1)
                    ))?;
                }
            }
            RunEvent::ExpectationFinished(e) => {
                match e.status {
                    ExpectationStatus::Met => self.live.met += 1,
                    ExpectationStatus::Missed => self.live.missed += 1,
                    ExpectationStatus::Skipped => self.live.skipped += 1,
                }
                let t = e.observed_at_ms.unwrap_or(self.live.last_t_ms);
                self.live.last_t_ms = self.live.last_t_ms.max(t);
                let detail = expectation_detail(e);
                self.line(&format!(
                    "{} {} {} {}: {}{detail}",
                    self.stamp(t),
                    expectation_word(self.style, e.status),
                    e.id,
                    e.kind.as_str(),
                    e.description
                ))?;
            }
            RunEvent::ScenarioFinished(s) => {
                self.clear_bar();
                let counts = count(&s.expectations);
                self.line(&format!(
                    "scenario {}: {} ({}) in {}{}",
                    s.name,
                    scenario_word(self.style, s.status),
                    counts,
                    fmt_ms(s.duration_ms),
                    scenario_reason(s)
                ))?;
                if let Some(v) = &s.stack_versions {
                    self.line(&format!("  stack: {}", v.describe()))?;
                }
                if let Some(l) = s
                    .load
                    .as_ref()
                    .filter(|l| l.engine == LoadEngine::Goose || l.cluster_workers.is_some())
                {
                    self.line(&format!("  load: {}", l.engine_note()))?;
                }
                for note in &s.config_notes {
                    self.line(&format!("  config: {note}"))?;
                }
                for alert in &s.alerts_fired {
                    self.line(&format!("  alert fired: {}", alert.line()))?;
                }
            }
            RunEvent::Log { level, message } => {
                if *level != LogLevel::Debug || self.style.verbose {
                    let word = match level {
                        LogLevel::Error => paint(self.style, RED, "error"),
                        LogLevel::Warn => paint(self.style, YELLOW, "warn"),
                        other => other.as_str().to_owned(),
                    };
                    self.line(&format!("  {word}: {message}"))?;
                }
            }
        }
        self.refresh_bar();
        Ok(())
    }

    /// Clears the live view and writes the summary table of the whole run.
    pub fn finish(&mut self, results: &RunResults) -> io::Result<()> {
        self.clear_bar();
        write_summary(&mut self.out, results, self.style)?;
        self.out.flush()
    }
}

fn expectation_detail(e: &ExpectationResult) -> String {
    match e.status {
        ExpectationStatus::Met => match e.time_to_detect_ms {
            Some(t) => format!(
                " (detected in {}, deadline {})",
                fmt_ms(t),
                fmt_ms(e.deadline_ms)
            ),
            // The overhead check has no deadline: what it measured is the detail.
            None if e.kind == ExpectationKind::Overhead => {
                format!(": {}", e.last_observed.as_deref().unwrap_or("measured"))
            }
            None => format!(" (held for {})", fmt_ms(e.deadline_ms)),
        },
        ExpectationStatus::Missed if e.kind == ExpectationKind::Overhead => format!(
            ": {}",
            e.last_observed.as_deref().unwrap_or("nothing measured")
        ),
        ExpectationStatus::Missed => format!(
            " (deadline {}; last observed: {})",
            fmt_ms(e.deadline_ms),
            e.last_observed.as_deref().unwrap_or("nothing")
        ),
        ExpectationStatus::Skipped => format!(
            " ({})",
            e.skipped_reason.as_deref().unwrap_or("no reason given")
        ),
    }
}

fn scenario_reason(s: &ScenarioResult) -> String {
    match (s.status, &s.skipped_reason, &s.error) {
        (ScenarioStatus::Skipped, Some(r), _) => format!(": {r}"),
        (ScenarioStatus::Error, _, Some(e)) => format!(": {e}"),
        (ScenarioStatus::Incomplete, _, _) => {
            ": some checks could not be evaluated (skipped); nothing missed, nothing proven for them"
                .to_string()
        }
        _ => String::new(),
    }
}

fn count(es: &[ExpectationResult]) -> String {
    if es.is_empty() {
        return "no expectations".to_owned();
    }
    let n = |st| es.iter().filter(|e| e.status == st).count();
    let mut s = format!("{} met", n(ExpectationStatus::Met));
    let missed = n(ExpectationStatus::Missed);
    if missed > 0 {
        s.push_str(&format!(", {missed} missed"));
    }
    let skipped = n(ExpectationStatus::Skipped);
    if skipped > 0 {
        s.push_str(&format!(", {skipped} skipped"));
    }
    s
}

/// Cuts `s` to at most `max` characters, ending with `…` when cut.
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// A scenario's name in the summary; in a version matrix, with the Prometheus it ran on.
fn shown_name(s: &ScenarioResult, matrix: bool) -> String {
    match s
        .stack_versions
        .as_ref()
        .and_then(|v| v.selected.as_deref())
    {
        Some(version) if matrix => format!("{} @{version}", s.name),
        _ => s.name.clone(),
    }
}

/// The summary table of a run (no colour inside the table, so widths stay right).
pub fn summary_table(results: &RunResults) -> String {
    let matrix = super::matrix::applies(results);
    let mut b = Builder::default();
    b.push_record([
        "Scenario",
        "Expectation",
        "Status",
        "Time to detect",
        "Deadline",
        "Floor",
        "Last observed",
        "Backend",
    ]);
    for s in &results.scenarios {
        for e in &s.expectations {
            let observed = e.observed_text();
            b.push_record([
                cut(&shown_name(s, matrix), 24),
                cut(&format!("{} {}", e.id, e.description), 52),
                e.status.as_str().to_owned(),
                fmt_opt_ms(e.time_to_detect_ms),
                fmt_ms(e.deadline_ms),
                fmt_opt_ms(e.floor_ms),
                cut(&observed, 36),
                e.backend_label(),
            ]);
        }
        if s.expectations.is_empty() {
            let note = s
                .skipped_reason
                .as_deref()
                .or(s.error.as_deref())
                .unwrap_or("-");
            b.push_record([
                cut(&shown_name(s, matrix), 24),
                "-".to_owned(),
                s.status.as_str().to_owned(),
                "-".to_owned(),
                "-".to_owned(),
                "-".to_owned(),
                cut(note, 36),
                "-".to_owned(),
            ]);
        }
    }
    let mut table = b.build();
    table.with(Style::rounded());
    table.to_string()
}

/// Writes the per-scenario verdicts, the summary table, overhead lines and totals.
pub fn write_summary(
    out: &mut impl Write,
    results: &RunResults,
    style: TerminalStyle,
) -> io::Result<()> {
    writeln!(out)?;
    writeln!(out, "{}", paint(style, BOLD, "summary"))?;
    let matrix = super::matrix::applies(results);
    for s in &results.scenarios {
        writeln!(
            out,
            "  {:<8} {} ({}) in {}{}",
            scenario_word(style, s.status),
            shown_name(s, matrix),
            count(&s.expectations),
            fmt_ms(s.duration_ms),
            scenario_reason(s)
        )?;
        if let Some(o) = &s.overhead {
            let limit = |v: Option<f64>| v.map_or_else(|| "unchecked".to_owned(), fmt_pct);
            let cpu = o.cpu.as_ref().map_or_else(String::new, |c| {
                format!(
                    "CPU per request {} [{}, {}] {} (limit {}, A/A noise [{}, {}]), ",
                    signed_pct(c.increase_pct),
                    signed_pct(c.interval_pct[0]),
                    signed_pct(c.interval_pct[1]),
                    c.verdict,
                    limit(o.limits.max_cpu_increase_pct),
                    signed_pct(c.noise_pct[0]),
                    signed_pct(c.noise_pct[1]),
                )
            });
            writeln!(
                out,
                "           overhead {}: {cpu}p99 {} (limit {}), throughput drop {} (limit {})",
                o.status.as_str(),
                signed_pct(o.p99_increase_pct),
                limit(o.limits.max_p99_increase_pct),
                signed_pct(o.throughput_drop_pct),
                limit(o.limits.max_throughput_drop_pct)
            )?;
        }
    }
    writeln!(out, "{}", summary_table(results))?;
    if super::matrix::applies(results) {
        writeln!(
            out,
            "{}",
            paint(style, BOLD, "Prometheus versions side by side")
        )?;
        writeln!(out, "{}", super::matrix::render_terminal(results))?;
    }
    let sc = results.scenario_counts();
    let ec = results.expectation_counts();
    let mut totals = format!(
        "{} scenario{}: {} met, {} missed",
        sc.total(),
        if sc.total() == 1 { "" } else { "s" },
        sc.met,
        sc.missed
    );
    if sc.skipped > 0 {
        totals.push_str(&format!(", {} skipped", sc.skipped));
    }
    if sc.error > 0 {
        totals.push_str(&format!(", {} error", sc.error));
    }
    totals.push_str(&format!(
        "; {} expectations: {} met, {} missed, {} skipped",
        ec.total(),
        ec.met,
        ec.missed,
        ec.skipped
    ));
    let verdict = scenario_word(style, results.overall_status());
    writeln!(out, "{verdict}: {totals}")
}

fn signed_pct(p: f64) -> String {
    if p > 0.0 {
        format!("+{}", fmt_pct(p))
    } else {
        fmt_pct(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::ExpectationPhase;
    use std::sync::{Arc, Mutex};

    /// An in-memory terminal for indicatif that records every drawn line.
    #[derive(Debug, Clone, Default)]
    struct MemTerm(Arc<Mutex<Vec<String>>>);

    impl indicatif::TermLike for MemTerm {
        fn width(&self) -> u16 {
            160
        }
        fn move_cursor_up(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> io::Result<()> {
            self.0.lock().expect("not poisoned").push(s.to_owned());
            Ok(())
        }
        fn write_str(&self, s: &str) -> io::Result<()> {
            self.write_line(s)
        }
        fn clear_line(&self) -> io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> io::Result<()> {
            Ok(())
        }
    }

    fn met(id: &str, at: u64) -> ExpectationResult {
        ExpectationResult {
            id: id.into(),
            kind: ExpectationKind::Alert,
            description: "alert HighErrorRate firing".into(),
            phase: ExpectationPhase::Faults,
            status: ExpectationStatus::Met,
            time_to_detect_ms: Some(at - 20_000),
            deadline_ms: 20_000,
            floor_ms: Some(7_000),
            last_observed: Some("firing".into()),
            backend: "prometheus".into(),
            backend_real: true,
            skipped_reason: None,
            observed_at_ms: Some(at),
            time_source: None,
            resolution_ms: None,
        }
    }

    #[test]
    fn live_view_shows_phase_rate_faults_and_verdicts() {
        let term = MemTerm::default();
        let style = TerminalStyle {
            progress: true,
            color: false,
            verbose: false,
        };
        let target = ProgressDrawTarget::term_like(Box::new(term.clone()));
        let mut r = TerminalReporter::with_draw_target(Vec::new(), style, target);
        let events = [
            RunEvent::ScenarioStarted {
                name: "orders-error-burst".into(),
                file: "s.yaml".into(),
                planned_ms: Some(90_000),
                expectations: 3,
            },
            RunEvent::PhaseStarted {
                name: "faults".into(),
                at_ms: 20_000,
            },
            RunEvent::FaultInjected {
                name: "orders-500s".into(),
                kind: "http-errors".into(),
                target: "service orders".into(),
                at_ms: 20_000,
            },
            RunEvent::LoadSample(SeriesPoint {
                t_ms: 23_000,
                rps: 198.4,
                error_rate: 0.302,
                p95_ms: 14.2,
            }),
            RunEvent::ExpectationFinished(met("expect[1]", 26_500)),
        ];
        for e in &events {
            r.handle(e).expect("writes to a Vec");
        }
        let msg = r.live_message();
        assert_eq!(
            msg,
            "faults | 198 req/s, errors 30%, p95 14.2ms | faults: orders-500s | met 1/3"
        );
        if let Some(bar) = &r.bar {
            bar.force_draw();
        }
        let drawn = term.0.lock().expect("not poisoned").join("\n");
        assert!(drawn.contains("orders-error-burst"), "drawn: {drawn}");
        assert!(drawn.contains("faults: orders-500s"), "drawn: {drawn}");
        // Lines still reach the writer above the live view.
        let out = String::from_utf8(r.into_inner()).expect("utf-8");
        assert!(out.contains("fault injected: orders-500s"), "{out}");
        // Load samples are not printed as lines while the live view shows them.
        assert!(!out.contains("req/s"), "{out}");
    }

    #[test]
    fn colour_codes_only_with_colour() {
        let plain = TerminalStyle::PLAIN;
        let color = TerminalStyle {
            color: true,
            ..plain
        };
        assert_eq!(scenario_word(plain, ScenarioStatus::Missed), "MISSED");
        assert_eq!(
            scenario_word(color, ScenarioStatus::Missed),
            "\x1b[31mMISSED\x1b[0m"
        );
    }

    #[test]
    fn no_color_and_tty_decide_the_style() {
        use std::ffi::OsStr;
        let s = TerminalStyle::decide(false, None, true, true);
        assert!(s.progress && s.color);
        let s = TerminalStyle::decide(false, Some(OsStr::new("1")), true, true);
        assert!(s.progress && !s.color, "NO_COLOR=1 turns colour off");
        let s = TerminalStyle::decide(false, Some(OsStr::new("")), true, true);
        assert!(s.color, "an empty NO_COLOR is ignored");
        let s = TerminalStyle::decide(true, None, true, false);
        assert!(!s.progress && !s.color, "--no-progress, stdout piped");
        let s = TerminalStyle::decide(false, None, false, true);
        assert!(!s.progress, "no live view without a TTY");
    }

    #[test]
    fn cut_marks_truncation() {
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
    }
}
