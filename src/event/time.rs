//! Timestamps in and out: RFC 3339 / epoch milliseconds, and durations written as `90s`, `14d`.

use chrono::{DateTime, SecondsFormat, Utc};

use super::model::Millis;

/// Formats epoch milliseconds as RFC 3339 in UTC, with milliseconds only when they are not zero.
pub fn format_rfc3339(ms: Millis) -> String {
    match DateTime::<Utc>::from_timestamp_millis(ms) {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        None => ms.to_string(),
    }
}

/// Parses an RFC 3339 timestamp that carries an offset (`Z` or `±hh:mm`) into epoch milliseconds,
/// truncating sub-millisecond digits.
pub fn parse_rfc3339(text: &str) -> Option<Millis> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.timestamp_millis())
}

/// Parses a duration such as `90s`, `5m`, `14d` into milliseconds.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let d = humantime::parse_duration(text.trim()).map_err(|e| format!("bad duration {text:?}: {e}"))?;
    u64::try_from(d.as_millis()).map_err(|_| format!("duration {text:?} is too long"))
}

/// Writes milliseconds back as the shortest duration string (`14d`, `1h`, `90s`).
pub fn format_duration(ms: u64) -> String {
    const UNITS: [(u64, &str); 5] = [(86_400_000, "d"), (3_600_000, "h"), (60_000, "m"), (1_000, "s"), (1, "ms")];
    for (unit, suffix) in UNITS {
        if ms != 0 && ms.is_multiple_of(unit) {
            return format!("{}{}", ms / unit, suffix);
        }
    }
    "0s".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_rfc3339() {
        assert_eq!(parse_rfc3339("2026-11-01T12:00:00Z"), Some(1_793_534_400_000));
        assert_eq!(parse_rfc3339("2026-11-01T21:00:00+09:00"), Some(1_793_534_400_000));
        assert_eq!(format_rfc3339(1_793_534_400_000), "2026-11-01T12:00:00Z");
        assert_eq!(format_rfc3339(1_793_534_400_250), "2026-11-01T12:00:00.250Z");
        assert_eq!(parse_rfc3339("2026-11-01T12:00:00"), None);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("14d"), Ok(14 * 86_400_000));
        assert_eq!(parse_duration("90s"), Ok(90_000));
        assert!(parse_duration("14x").is_err());
        assert_eq!(format_duration(14 * 86_400_000), "14d");
        assert_eq!(format_duration(90_000), "90s");
    }
}
