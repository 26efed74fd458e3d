//! Durations written the way Go writes them (`1h30m`, `500ms`, `1.5h`),
//! which is how etcd's and etcdctl's duration flags and the server's
//! auto-compaction retention are spelled, and Go's way of printing one
//! (`4.145699ms`), which etcdctl uses for `took` fields. Negative durations
//! parse in Go; no setting of ours means anything by one, so they are
//! refused here.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("not a duration (expected e.g. 90s, 30m, 1h30m)")]
    Invalid,
    #[error("duration is missing a unit (ns, us, ms, s, m or h)")]
    MissingUnit,
    #[error("unknown duration unit {0:?} (expected ns, us, ms, s, m or h)")]
    UnknownUnit(String),
    #[error("duration must not be negative")]
    Negative,
    #[error("duration is too long")]
    Overflow,
}

fn nanos_per(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60 * 1_000_000_000,
        "h" => 3_600 * 1_000_000_000,
        _ => return None,
    })
}

/// Parses a Go duration: an optional sign, then one or more decimal numbers
/// each followed by a unit. A bare `0` is the only number allowed without
/// a unit.
pub fn parse_go_duration(text: &str) -> Result<Duration, DurationError> {
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(DurationError::Invalid);
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_digits, after) = rest.split_at(int_len);
        let (frac_digits, after) = match after.strip_prefix('.') {
            Some(f) => {
                let n = f.bytes().take_while(u8::is_ascii_digit).count();
                f.split_at(n)
            }
            None => ("", after),
        };
        if int_digits.is_empty() && frac_digits.is_empty() {
            return Err(DurationError::Invalid);
        }
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        if unit.is_empty() {
            return Err(DurationError::MissingUnit);
        }
        let scale = nanos_per(unit).ok_or_else(|| DurationError::UnknownUnit(unit.to_owned()))?;
        let whole: u128 = if int_digits.is_empty() {
            0
        } else {
            int_digits.parse().map_err(|_| DurationError::Overflow)?
        };
        let mut part = whole.checked_mul(scale).ok_or(DurationError::Overflow)?;
        // Digits past nanosecond precision cannot change the result.
        let frac_digits = &frac_digits[..frac_digits.len().min(30)];
        if !frac_digits.is_empty() {
            let frac: u128 = frac_digits.parse().map_err(|_| DurationError::Overflow)?;
            part += frac * scale / 10u128.pow(frac_digits.len() as u32);
        }
        total = total.checked_add(part).ok_or(DurationError::Overflow)?;
        rest = after;
    }
    if negative && total != 0 {
        return Err(DurationError::Negative);
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| DurationError::Overflow)?;
    Ok(Duration::new(secs, (total % 1_000_000_000) as u32))
}

/// Formats like Go's `time.Duration.String()`.
pub fn go_string(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".to_owned();
    }
    let trim = |v: String| {
        if v.contains('.') {
            v.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            v
        }
    };
    if ns < 1_000 {
        format!("{ns}ns")
    } else if ns < 1_000_000 {
        format!("{}µs", trim(format!("{:.3}", ns as f64 / 1e3)))
    } else if ns < 1_000_000_000 {
        format!("{}ms", trim(format!("{:.6}", ns as f64 / 1e6)))
    } else {
        let secs = d.as_secs_f64();
        let h = (secs / 3600.0).floor();
        let m = ((secs - h * 3600.0) / 60.0).floor();
        let s = secs - h * 3600.0 - m * 60.0;
        let s = trim(format!("{s:.9}"));
        match (h as u64, m as u64) {
            (0, 0) => format!("{s}s"),
            (0, m) => format!("{m}m{s}s"),
            (h, m) => format!("{h}h{m}m{s}s"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_go_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_go_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_go_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("2us"), Ok(Duration::from_micros(2)));
        assert_eq!(parse_go_duration("2\u{b5}s"), Ok(Duration::from_micros(2)));
        assert_eq!(parse_go_duration(".5s"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("+10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_go_duration("-0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_what_go_rejects_and_negatives() {
        assert_eq!(parse_go_duration(""), Err(DurationError::Invalid));
        assert_eq!(parse_go_duration("xyz"), Err(DurationError::Invalid));
        assert_eq!(parse_go_duration("1"), Err(DurationError::MissingUnit));
        assert_eq!(parse_go_duration("1.5"), Err(DurationError::MissingUnit));
        assert_eq!(
            parse_go_duration("5d"),
            Err(DurationError::UnknownUnit("d".into()))
        );
        assert_eq!(parse_go_duration("-1h"), Err(DurationError::Negative));
        assert_eq!(parse_go_duration("."), Err(DurationError::Invalid));
        assert_eq!(
            parse_go_duration("99999999999999999999999h"),
            Err(DurationError::Overflow)
        );
    }

    #[test]
    fn prints_like_go() {
        assert_eq!(go_string(Duration::from_nanos(4_145_699)), "4.145699ms");
        assert_eq!(go_string(Duration::from_micros(850)), "850µs");
        assert_eq!(go_string(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_string(Duration::from_secs(90)), "1m30s");
    }
}
