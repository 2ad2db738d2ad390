//! Timestamps as RFC 3339 strings, the form Connect's API uses.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The current UTC time, RFC 3339 with second precision.
pub fn now() -> String {
    let t = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap_or_else(|_| OffsetDateTime::now_utc());
    t.format(&Rfc3339).unwrap_or_default()
}
