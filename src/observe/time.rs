//! RFC 3339 timestamps as the backends write them, decoded to `SystemTime`.
//!
//! Go backends write the zero time (`0001-01-01T00:00:00Z`) for "not set" (an Alertmanager
//! webhook's `endsAt` of a firing alert); that and an empty string decode to `None`.
//! humantime only accepts `Z`, Grafana writes offsets (`-04:00`), hence this small parser.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer};

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`; `Ok(None)` for the Go zero time.
pub(crate) fn parse_rfc3339(text: &str) -> Result<Option<SystemTime>, String> {
    let err = || format!("invalid rfc3339 timestamp {text:?}");
    let b = text.as_bytes();
    if text.is_empty() {
        return Ok(None);
    }
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return Err(err());
    }
    if b[13] != b':' || b[16] != b':' {
        return Err(err());
    }
    let num = |range: std::ops::Range<usize>| -> Result<i64, String> {
        let s = text.get(range).ok_or_else(err)?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err(err());
        }
        s.parse::<i64>().map_err(|_| err())
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if year <= 1 {
        // Go's zero time.Time: "unset".
        return Ok(None);
    }
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return Err(err());
    }
    if second > 60 {
        return Err(err());
    }
    let mut pos = 19;
    let mut nanos: u32 = 0;
    if b.get(pos) == Some(&b'.') {
        pos += 1;
        let start = pos;
        while pos < b.len() && b[pos].is_ascii_digit() {
            pos += 1;
        }
        let digits = &text[start..pos];
        if digits.is_empty() {
            return Err(err());
        }
        // Keep nanosecond precision; extra digits are truncated.
        let mut padded: String = digits.chars().take(9).collect();
        while padded.len() < 9 {
            padded.push('0');
        }
        nanos = padded.parse().map_err(|_| err())?;
    }
    let offset_seconds: i64 = match &text[pos..] {
        "Z" | "z" => 0,
        tz if tz.len() == 6
            && matches!(tz.as_bytes()[0], b'+' | b'-')
            && tz.as_bytes()[3] == b':' =>
        {
            let h = num(pos + 1..pos + 3)?;
            let m = num(pos + 4..pos + 6)?;
            let sign = if tz.starts_with('-') { -1 } else { 1 };
            sign * (h * 3600 + m * 60)
        }
        _ => return Err(err()),
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    let time = if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs.unsigned_abs(), nanos)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
            + Duration::from_nanos(u64::from(nanos))
    };
    Ok(Some(time))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// serde helper: an optional RFC 3339 timestamp (absent, null, empty or Go zero → `None`).
pub(crate) fn opt_rfc3339<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SystemTime>, D::Error> {
    let text: Option<String> = Option::deserialize(d)?;
    match text {
        None => Ok(None),
        Some(text) => parse_rfc3339(&text).map_err(serde::de::Error::custom),
    }
}

/// Seconds since the Unix epoch as an `f64` (Prometheus' `time` parameter format).
pub(crate) fn unix_seconds(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// Nanoseconds since the Unix epoch (Loki's timestamp format); 0 before the epoch.
pub(crate) fn unix_nanos(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Microseconds since the Unix epoch (Jaeger's timestamp format); 0 before the epoch.
pub(crate) fn unix_micros(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(t: SystemTime) -> f64 {
        unix_seconds(t)
    }

    #[test]
    fn parses_backend_timestamps() {
        let t = parse_rfc3339("2026-11-21T10:33:54.344140097Z")
            .expect("ok")
            .expect("set");
        assert_eq!(
            t.duration_since(UNIX_EPOCH).expect("after").as_nanos(),
            1_795_257_234_344_140_097
        );
        let t = parse_rfc3339("2026-11-21T10:33:34.71Z")
            .expect("ok")
            .expect("set");
        assert!((secs(t) - 1_795_257_214.71).abs() < 1e-6);
        let t = parse_rfc3339("2017-06-08T17:24:33-04:00")
            .expect("ok")
            .expect("set");
        assert_eq!(secs(t), 1_496_957_073.0);
        let t = parse_rfc3339("1970-01-01T00:00:00Z")
            .expect("ok")
            .expect("set");
        assert_eq!(t, UNIX_EPOCH);
    }

    #[test]
    fn go_zero_time_and_empty_are_unset() {
        assert_eq!(parse_rfc3339("0001-01-01T00:00:00Z"), Ok(None));
        assert_eq!(parse_rfc3339(""), Ok(None));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-11-21T10:33:54",
            "2026-11-21T10:33:54.Z",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
    }
}
