//! Why a schedule was refused. Every variant names the field at fault, in the path a client sent
//! it (`type`, `timezone`, `start_time`, `schedule.N`, `schedule.Days[2]`, `cron`), so the API can
//! hand the message straight back to whoever filled in the form.

/// A schedule that cannot be accepted, naming the field at fault.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// The request is not a JSON object.
    #[error("a schedule must be a JSON object, got {got}")]
    NotAnObject {
        /// What was sent instead, as JSON.
        got: String,
    },
    /// A required field is absent (or `null`).
    #[error("schedule field `{field}` is missing")]
    Missing {
        /// The field's path, e.g. `schedule.N`.
        field: String,
    },
    /// A field has the wrong shape or is out of range.
    #[error("schedule field `{field}` must be {expected}, got {got}")]
    Invalid {
        /// The field's path, e.g. `schedule.Days[2]`.
        field: String,
        /// What the field accepts.
        expected: &'static str,
        /// What was sent, as JSON.
        got: String,
    },
    /// `type` is not one of Connect's ten types or `cron`.
    #[error(
        "schedule field `type`: unknown schedule type {got:?} (expected minute, hour, day, weekday, \
         week, dayofweek, semimonth, dayofmonth, dayweekofmonth, year or cron)"
    )]
    UnknownType {
        /// The type that was sent.
        got: String,
    },
    /// `schedule` is a string but not JSON.
    #[error("schedule field `schedule` is not valid JSON: {text:?}")]
    ParamsJson {
        /// The string that was sent.
        text: String,
        /// The parser's complaint.
        #[source]
        source: serde_json::Error,
    },
    /// `timezone` is not a zone in the IANA database.
    #[error("schedule field `timezone`: {name:?} is not an IANA time zone (e.g. Europe/Berlin)")]
    TimeZone {
        /// The name that was sent.
        name: String,
        /// The lookup failure.
        #[source]
        source: jiff::Error,
    },
    /// `start_time` is not an RFC 3339 timestamp.
    #[error("schedule field `start_time`: {value:?} is not an RFC 3339 timestamp")]
    StartTime {
        /// The text that was sent.
        value: String,
        /// The parser's complaint.
        #[source]
        source: jiff::Error,
    },
    /// The cron expression does not parse as five-field cron.
    #[error("schedule field `{field}`: {pattern:?} is not a valid 5-field cron expression ({source})")]
    Cron {
        /// Where the expression was found: `cron` or `schedule.Cron`.
        field: String,
        /// The expression that was sent.
        pattern: String,
        /// croner's complaint.
        #[source]
        source: croner::errors::CronError,
    },
    /// The cron expression parses but names no date that exists (`0 7 31 2 *`).
    #[error("schedule field `{field}`: {pattern:?} never runs: no date matches it (such as February 30 or April 31)")]
    CronNever {
        /// Where the expression was found: `cron` or `schedule.Cron`.
        field: String,
        /// The expression that was sent.
        pattern: String,
    },
}
