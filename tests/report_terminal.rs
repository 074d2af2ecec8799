//! Human terminal output, snapshot-tested through a redactor: the plain event lines a runner's
//! events produce (no TTY / `--no-progress`) and the summary table.

mod report_support;

use gauntlet::report::{RunResults, TerminalReporter, TerminalStyle, terminal};
use report_support::{events_for, realistic};

/// Replaces loopback ports (which come from the OS) with `[port]`.
fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("127.0.0.1:") {
        let (head, tail) = rest.split_at(i + "127.0.0.1:".len());
        out.push_str(head);
        let digits = tail.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 {
            out.push_str("[port]");
        }
        rest = &tail[digits..];
    }
    out.push_str(rest);
    out
}

#[test]
fn redactor_replaces_only_ports() {
    assert_eq!(
        redact("at http://127.0.0.1:40123/x and 127.0.0.1:9 and 127.0.0.1:x"),
        "at http://127.0.0.1:[port]/x and 127.0.0.1:[port] and 127.0.0.1:x"
    );
}

fn run_plain(results: &RunResults, port: u16) -> String {
    let mut reporter = TerminalReporter::new(Vec::new(), TerminalStyle::PLAIN);
    for s in &results.scenarios {
        for event in events_for(s, port) {
            reporter.handle(&event).expect("writes to memory");
        }
    }
    reporter.finish(results).expect("writes to memory");
    String::from_utf8(reporter.into_inner()).expect("utf-8")
}

#[test]
fn plain_event_lines_and_summary() {
    // A real OS-assigned port, as a runner would log it; the redactor removes it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().expect("addr").port();
    let out = run_plain(&realistic(), port);
    assert!(out.contains(&format!("127.0.0.1:{port}")));
    assert!(!out.contains('\x1b'), "no colour codes in plain mode");
    insta::assert_snapshot!("plain_run", redact(&out));
}

#[test]
fn summary_table_lists_every_expectation() {
    let results = realistic();
    let table = terminal::summary_table(&results);
    // Header + one row per expectation + one for the skipped scenario without expectations.
    let rows = table.lines().filter(|l| l.starts_with('│')).count();
    let expectations: usize = results.scenarios.iter().map(|s| s.expectations.len()).sum();
    assert_eq!(rows, 1 + expectations + 1, "{table}");
    assert!(table.contains("loki (recorded)"), "{table}");
    assert!(
        table.contains("skipped: grafana is not installed"),
        "{table}"
    );
}

#[test]
fn colour_summary_marks_verdicts() {
    let mut out = Vec::new();
    let style = TerminalStyle {
        color: true,
        ..TerminalStyle::PLAIN
    };
    terminal::write_summary(&mut out, &realistic(), style).expect("writes");
    let text = String::from_utf8(out).expect("utf-8");
    assert!(
        text.contains("\x1b[31mMISSED\x1b[0m orders-error-burst"),
        "{text}"
    );
    assert!(text.contains("\x1b[32mMET\x1b[0m"), "{text}");
}
