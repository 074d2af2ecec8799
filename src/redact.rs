//! Credentials never leave gauntlet: the one place that decides how a URL may be shown.
//!
//! Users hand gauntlet URLs that carry secrets: `http://user:pass@prometheus:9090`,
//! `https://grafana/?token=…`, Slack or Teams webhook URLs whose path *is* the secret. Every
//! place that shows a URL (reports in every format, the terminal, logs, error messages,
//! `gauntlet check` diagnostics) goes through this module:
//! - [`url`] masks the user info and every query value of one URL;
//! - [`destination`] keeps only scheme, host and port, for third-party endpoints whose path
//!   can be a credential (Alertmanager receivers);
//! - [`text`] applies [`url`] to every URL inside free text. Report files, terminal lines and
//!   log lines pass through it as their last step, so a URL that slipped into an error
//!   message is still masked.
//!
//! Every query value is masked, not a list of "secret-looking" names: providers call their
//! credential `token`, `key`, `sig`, `code`, `X-Amz-Signature`, … and a list would miss one.

use std::borrow::Cow;

/// What a masked secret is replaced by.
pub const MASK: &str = "***";

/// `raw` with the user info (`user:pass@`) and every query value masked. Works on strings
/// that do not parse as URLs too; the rest of the text is kept as written.
///
/// ```
/// assert_eq!(
///     gauntlet::redact::url("https://admin:hunter2@prom.example:9090/api?token=abc&x=1"),
///     "https://***@prom.example:9090/api?token=***&x=***"
/// );
/// ```
pub fn url(raw: &str) -> String {
    match raw.find("://") {
        Some(i) => {
            let (scheme, rest) = raw.split_at(i + 3);
            format!("{scheme}{}", redact_after_scheme(rest))
        }
        None => redact_after_scheme(raw),
    }
}

/// Only `scheme://host[:port]` of `raw`, then `/…` when anything followed: for endpoints
/// outside the stack whose path or query can itself be the credential (a Slack webhook URL).
///
/// ```
/// assert_eq!(
///     gauntlet::redact::destination("https://hooks.slack.com/services/T0/B0/XXXX"),
///     "https://hooks.slack.com/…"
/// );
/// ```
pub fn destination(raw: &str) -> String {
    let Ok(parsed) = reqwest::Url::parse(raw.trim()) else {
        return "(not a URL, hidden)".to_string();
    };
    let Some(host) = parsed.host_str() else {
        return format!("{}:…", parsed.scheme());
    };
    let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
    let more = parsed.path() != "/" || parsed.query().is_some() || parsed.fragment().is_some();
    format!(
        "{}://{host}{port}/{}",
        parsed.scheme(),
        if more { "…" } else { "" }
    )
}

/// `text` with every URL in it (`scheme://…` up to whitespace or a quote) passed through
/// [`url`]. Borrowed when nothing needed masking.
pub fn text(text: &str) -> Cow<'_, str> {
    if !text.contains("://") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut changed = false;
    while let Some(sep) = rest.find("://") {
        // The scheme: the ASCII letters, digits, `+`, `-`, `.` right before `://`.
        let scheme_start = rest[..sep]
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            .last()
            .map_or(sep, |(i, _)| i);
        let end = rest[sep + 3..]
            .find(ends_url)
            .map_or(rest.len(), |e| sep + 3 + e);
        let token = &rest[scheme_start..end];
        let masked = url(token);
        changed |= masked != token;
        out.push_str(&rest[..scheme_start]);
        out.push_str(&masked);
        rest = &rest[end..];
    }
    if !changed {
        return Cow::Borrowed(text);
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Characters that end a URL inside free text: whitespace and the quotes and brackets that
/// surround URLs in logs, JSON, YAML and Debug output.
fn ends_url(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '<' | '>')
}

/// Masks the user info of the authority and the query values of what follows `scheme://`.
fn redact_after_scheme(rest: &str) -> String {
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let mut out = String::with_capacity(rest.len());
    match authority.rfind('@') {
        Some(at) => {
            out.push_str(MASK);
            out.push_str(&authority[at..]);
        }
        None => out.push_str(authority),
    }
    match tail.find('?') {
        Some(q) => {
            out.push_str(&tail[..=q]);
            out.push_str(&mask_query(&tail[q + 1..]));
        }
        None => out.push_str(tail),
    }
    out
}

/// `a=1&token=x` → `a=***&token=***`; pairs without `=` are kept (they carry no value, and
/// an HTML entity such as `&#39;` after a URL must survive).
fn mask_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) if !value.is_empty() => format!("{name}={MASK}"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// A `std::io::Write` that masks URLs ([`text`]) in what passes through it: the log writer
/// (`tracing` formats each event into one buffer and writes it at once, so a URL is never
/// split across two writes).
pub struct RedactingWriter<W>(pub W);

impl<W: std::io::Write> std::io::Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match std::str::from_utf8(buf) {
            Ok(s) => {
                self.0.write_all(text(s).as_bytes())?;
                Ok(buf.len())
            }
            // Not text: nothing to recognise a URL in.
            Err(_) => self.0.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Standard error behind a [`RedactingWriter`], for `tracing_subscriber`'s `with_writer`.
pub fn stderr() -> RedactingWriter<std::io::Stderr> {
    RedactingWriter(std::io::stderr())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_user_info_and_query_values() {
        let cases = [
            ("http://127.0.0.1:9090/", "http://127.0.0.1:9090/"),
            (
                "http://admin:hunter2@127.0.0.1:3000/",
                "http://***@127.0.0.1:3000/",
            ),
            ("http://token@h/p", "http://***@h/p"),
            (
                "https://h/api?token=s3cret&limit=5",
                "https://h/api?token=***&limit=***",
            ),
            ("https://h/?flag&key=", "https://h/?flag&key="),
            // Unparsable, still masked.
            ("http://admin:hunter2@[::1", "http://***@[::1"),
            ("admin:hunter2@host", "***@host"),
            ("https://h/p#frag", "https://h/p#frag"),
        ];
        for (raw, shown) in cases {
            assert_eq!(url(raw), shown, "{raw}");
        }
    }

    #[test]
    fn destinations_keep_only_the_origin() {
        let cases = [
            (
                "https://hooks.slack.com/services/T0/B0/XXXX",
                "https://hooks.slack.com/…",
            ),
            (
                "http://u:p@10.0.0.1:9099/hook?x=1",
                "http://10.0.0.1:9099/…",
            ),
            ("https://pager.example/", "https://pager.example/"),
            ("${SLACK_WEBHOOK_URL}", "(not a URL, hidden)"),
        ];
        for (raw, shown) in cases {
            assert_eq!(destination(raw), shown, "{raw}");
        }
    }

    #[test]
    fn urls_inside_text_are_masked_and_the_rest_kept() {
        let raw = r#"stack.urls.prometheus: "http://u:pw@127.0.0.1:1/?token=t0k" is down; see https://docs.example/x (ok)"#;
        let shown = text(raw);
        assert_eq!(
            shown,
            r#"stack.urls.prometheus: "http://***@127.0.0.1:1/?token=***" is down; see https://docs.example/x (ok)"#
        );
        assert!(matches!(text("no urls here"), Cow::Borrowed(_)));
        assert!(matches!(text("see http://h/x"), Cow::Borrowed(_)));
        // Escaped HTML around a URL survives.
        assert_eq!(
            text("<a>http://u:p@h/?a=1&amp;b=2&#39;</a>"),
            "<a>http://***@h/?a=***&amp;b=***&#39;</a>"
        );
    }

    #[test]
    fn the_writer_masks_what_passes() {
        let mut w = RedactingWriter(Vec::new());
        std::io::Write::write_all(&mut w, b"GET http://u:secret@h/ failed\n").expect("write");
        assert_eq!(
            String::from_utf8(w.0).expect("utf8"),
            "GET http://***@h/ failed\n"
        );
    }
}
