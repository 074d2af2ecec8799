//! Parsers for the scalar notations scenario files use: durations, rates, percentages.

use std::time::Duration;

/// The longest duration a scenario may name: runs are bounded in time, and anything longer
/// is a typo (and would overflow timeline arithmetic).
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// The highest arrival rate a scenario may ask for (requests per second).
pub const MAX_RATE: f64 = 1_000_000.0;

/// `45s`, `1m 30s`, `500ms` (humantime), at most [`MAX_DURATION`]. Zero is allowed; callers
/// reject it where it matters.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text.trim())
        .map_err(|e| format!("invalid duration {text:?}: {e}"))?;
    if d > MAX_DURATION {
        return Err(format!(
            "duration {text:?} is longer than the maximum 7days"
        ));
    }
    Ok(d)
}

/// `1s` (fixed) or `500ms..2s` (uniform in the range) → (minimum, maximum).
pub fn parse_think_time(text: &str) -> Result<(Duration, Duration), String> {
    let (min, max) = match text.split_once("..") {
        Some((a, b)) => (parse_duration(a)?, parse_duration(b)?),
        None => {
            let d = parse_duration(text)?;
            (d, d)
        }
    };
    if min > max {
        return Err(format!(
            "think time {text:?} has its minimum above its maximum"
        ));
    }
    Ok((min, max))
}

/// `200/s`, `12000/m`, `3/h` or a bare number (per second) → arrivals per second.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let (number, per) = match t.split_once('/') {
        Some((n, unit)) => {
            let secs = match unit.trim() {
                "s" | "sec" | "second" => 1.0,
                "m" | "min" | "minute" => 60.0,
                "h" | "hour" => 3600.0,
                other => {
                    return Err(format!(
                        "unknown rate unit {other:?} in {text:?} (use /s, /m or /h)"
                    ));
                }
            };
            (n.trim(), secs)
        }
        None => (t, 1.0),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid rate {text:?} (expected e.g. 200/s)"))?;
    if !value.is_finite() || value <= 0.0 {
        return Err(format!("rate must be positive, got {text:?}"));
    }
    if value / per > MAX_RATE {
        return Err(format!("rate {text:?} is above the maximum {MAX_RATE}/s"));
    }
    Ok(value / per)
}

/// `1%`, `0.5 %` → 1.0, 0.5. Must be in 0..=100.
pub fn parse_percent(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let Some(number) = t.strip_suffix('%') else {
        return Err(format!("invalid percentage {text:?} (expected e.g. 1%)"));
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("invalid percentage {text:?} (expected e.g. 1%)"))?;
    if !(0.0..=100.0).contains(&value) {
        return Err(format!(
            "percentage must be between 0% and 100%, got {text:?}"
        ));
    }
    Ok(value)
}

/// Renders a duration the way users write them (`1s`, `1m 30s`, `250ms`).
pub fn show(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// Names within edit distance 2 of `wanted`, for "did you mean" hints.
pub fn similar<'a>(wanted: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| (edit_distance(wanted, k), k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        let cases: &[(&str, Result<f64, &str>)] = &[
            ("200/s", Ok(200.0)),
            ("120/m", Ok(2.0)),
            ("50", Ok(50.0)),
            ("0/s", Err("rate must be positive, got \"0/s\"")),
            ("-3/s", Err("rate must be positive, got \"-3/s\"")),
            (
                "10/d",
                Err("unknown rate unit \"d\" in \"10/d\" (use /s, /m or /h)"),
            ),
            ("fast", Err("invalid rate \"fast\" (expected e.g. 200/s)")),
            (
                "1e12/s",
                Err("rate \"1e12/s\" is above the maximum 1000000/s"),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                &parse_rate(input),
                &expected.map_err(str::to_string),
                "{input}"
            );
        }
    }

    #[test]
    fn percents_and_durations() {
        assert_eq!(parse_percent("1%"), Ok(1.0));
        assert_eq!(parse_percent("0.5 %"), Ok(0.5));
        assert!(parse_percent("1").is_err());
        assert!(parse_percent("120%").is_err());
        assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("100000000years").is_err());
        assert_eq!(similar("ordrs", ["frontend", "orders"]), Some("orders"));
        assert_eq!(similar("zzz", ["frontend", "orders"]), None);
    }
}
