//! Small text helpers shared by the reporters: escaping for HTML/SVG and Markdown tables,
//! file-name slugs, and human formatting of durations and rates.

use std::fmt::Write as _;

/// Escapes `s` for HTML/SVG text and attribute values (`& < > " '`).
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters other than tab/newline are not allowed in XML 1.0.
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Escapes `s` for a Markdown table cell: pipes, newlines, and HTML-significant characters
/// (Markdown renderers pass raw HTML through, so user text must not be able to inject it).
pub fn md_cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '\n' | '\r' => out.push(' '),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '`' => out.push_str("\\`"),
            '*' => out.push_str("\\*"),
            '_' => out.push_str("\\_"),
            '[' => out.push_str("\\["),
            ']' => out.push_str("\\]"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A lowercase ASCII slug for file names: letters and digits kept, runs of anything else
/// become one `-`; never empty, at most 48 characters.
pub fn slug(s: &str) -> String {
    let mut out = String::new();
    let mut dash = false;
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(c.to_ascii_lowercase());
            if out.len() >= 48 {
                break;
            }
        } else {
            dash = true;
        }
    }
    if out.is_empty() {
        out.push_str("scenario");
    }
    out
}

/// Formats milliseconds for people: `850ms`, `12.3s`, `2m05s`.
pub fn fmt_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        let tenths = (ms + 50) / 100;
        if tenths.is_multiple_of(10) {
            format!("{}s", tenths / 10)
        } else {
            format!("{}.{}s", tenths / 10, tenths % 10)
        }
    } else {
        let s = (ms + 500) / 1000;
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

/// `fmt_ms` for an optional value, `-` when absent.
pub fn fmt_opt_ms(ms: Option<u64>) -> String {
    ms.map_or_else(|| "-".to_owned(), fmt_ms)
}

/// Formats a ratio 0.0–1.0 as a percentage with adaptive precision (`0.7%`, `30%`).
pub fn fmt_ratio_pct(r: f64) -> String {
    fmt_pct(r * 100.0)
}

/// Formats a percentage with adaptive precision.
pub fn fmt_pct(p: f64) -> String {
    if !p.is_finite() {
        return "-".to_owned();
    }
    let a = p.abs();
    if a == 0.0 {
        "0%".to_owned()
    } else if a < 10.0 {
        format!("{p:.1}%")
    } else {
        format!("{p:.0}%")
    }
}

/// Formats a float with at most `prec` decimals, trimming trailing zeros (`12.5`, `200`).
pub fn fmt_num(v: f64, prec: usize) -> String {
    if !v.is_finite() {
        return "-".to_owned();
    }
    let mut s = String::new();
    let _ = write!(s, "{v:.prec$}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" { "0".to_owned() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escape_covers_markup_and_quotes() {
        assert_eq!(
            html_escape(r#"<script>alert("x&y")</script>'"#),
            "&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt;&#39;"
        );
        assert_eq!(html_escape("a\u{1}b"), "a\u{FFFD}b");
    }

    #[test]
    fn md_cell_cannot_break_the_table_or_inject_html() {
        assert_eq!(md_cell("a|b\nc<img>"), "a\\|b c&lt;img&gt;");
        assert_eq!(md_cell("rate[5m]"), "rate\\[5m\\]");
    }

    #[test]
    fn slug_is_file_safe() {
        assert_eq!(slug("Orders: error burst!"), "orders-error-burst");
        assert_eq!(slug("../../etc"), "etc");
        assert_eq!(slug("€€€"), "scenario");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(fmt_ms(850), "850ms");
        assert_eq!(fmt_ms(12_340), "12.3s");
        assert_eq!(fmt_ms(20_000), "20s");
        assert_eq!(fmt_ms(125_000), "2m05s");
        assert_eq!(fmt_opt_ms(None), "-");
    }

    #[test]
    fn numbers_trim_zeros() {
        assert_eq!(fmt_num(12.50, 2), "12.5");
        assert_eq!(fmt_num(200.0, 1), "200");
        assert_eq!(fmt_num(-0.001, 1), "0");
        assert_eq!(fmt_ratio_pct(0.007), "0.7%");
        assert_eq!(fmt_ratio_pct(0.3), "30%");
    }
}
