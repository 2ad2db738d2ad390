//! Timestamps as RFC 3339 strings, the form Connect's API uses.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The current UTC time, RFC 3339 with second precision.
pub fn now() -> String {
    let t = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap_or_else(|_| OffsetDateTime::now_utc());
    t.format(&Rfc3339).unwrap_or_default()
}

/// The UTC time `d` from now, RFC 3339 with second precision.
pub fn after(d: std::time::Duration) -> String {
    let now = OffsetDateTime::now_utc();
    let t = time::Duration::try_from(d).ok().and_then(|d| now.checked_add(d)).unwrap_or(now);
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_default()
}

/// A duration for people: `90 s`, `5 min`, `1 h 30 min`.
pub fn human_duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, sec) => format!("{sec} s"),
        (0, m, 0) => format!("{m} min"),
        (0, m, sec) => format!("{m} min {sec} s"),
        (h, 0, 0) => format!("{h} h"),
        (h, m, _) => format!("{h} h {m} min"),
    }
}

#[cfg(test)]
mod tests {
    use super::human_duration;
    use std::time::Duration;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(Duration::from_secs(3)), "3 s");
        assert_eq!(human_duration(Duration::from_secs(300)), "5 min");
        assert_eq!(human_duration(Duration::from_secs(90)), "1 min 30 s");
        assert_eq!(human_duration(Duration::from_secs(3600)), "1 h");
        assert_eq!(human_duration(Duration::from_secs(5400)), "1 h 30 min");
    }
}
