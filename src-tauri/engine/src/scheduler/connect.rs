//! Connect's wire shape for schedules, both ways:
//!
//! ```json
//! {"type": "dayofmonth", "schedule": "{\"N\":1,\"Day\":31}",
//!  "start_time": "2026-01-31T08:00:00+01:00", "timezone": "Europe/Berlin"}
//! ```
//!
//! `schedule` is a string holding JSON, as Connect stores it; an object is accepted too, and may
//! be omitted for `weekday`. Parameter names match case-insensitively (`N` or `n`). Raw cron is a
//! Porch extension: `"type": "cron"` with the expression in a top-level `"cron"` field, in
//! `schedule.Cron`, or as the `schedule` string itself; a top-level `"cron"` with no `type` also
//! means cron. What we write back is always Connect's form, with cron in `schedule.Cron`.

use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde_json::{json, Map, Value};

use super::{Schedule, ScheduleError, ScheduleKind, Weekday};

type Params = Map<String, Value>;

impl Schedule {
    /// Parses Connect's schedule shape: `{"type", "schedule" (a JSON string or an object),
    /// "start_time" (RFC 3339), "timezone" (IANA)}`, plus `"cron"` for raw cron. Every error
    /// names the field at fault.
    pub fn from_connect(json: &Value) -> Result<Schedule, ScheduleError> {
        let object = json.as_object().ok_or_else(|| ScheduleError::NotAnObject { got: json.to_string() })?;
        let timezone = {
            let name = required_str(object, "timezone")?;
            TimeZone::get(name).map_err(|source| ScheduleError::TimeZone { name: name.to_owned(), source })?
        };
        let start = {
            let value = required_str(object, "start_time")?;
            value.parse::<Timestamp>().map_err(|source| ScheduleError::StartTime { value: value.to_owned(), source })?
        };
        let cron_field = optional_str(object, "cron")?;
        let kind_name = match (optional_str(object, "type")?, cron_field) {
            (Some(name), _) => name,
            (None, Some(_)) => "cron",
            (None, None) => return Err(missing("type")),
        };
        let kind = match kind_name {
            "cron" => cron_kind(object, cron_field)?,
            _ if cron_field.is_some() => {
                return Err(invalid("cron", "absent unless `type` is \"cron\"", &object["cron"]));
            }
            other => {
                let params = params(object)?;
                kind_from_params(other, &params)?
            }
        };
        Ok(Schedule { kind, start, timezone })
    }

    /// Connect's shape for this schedule, with `schedule` as a JSON string and `start_time` in UTC.
    pub fn to_connect(&self) -> Value {
        let day = |d: &Weekday| d.to_sunday_zero_offset();
        let (kind, params) = match &self.kind {
            ScheduleKind::Minute { n } => ("minute", json!({ "N": n })),
            ScheduleKind::Hour { n } => ("hour", json!({ "N": n })),
            ScheduleKind::Day { n } => ("day", json!({ "N": n })),
            ScheduleKind::Weekday => ("weekday", json!({})),
            ScheduleKind::Week { n, days } if days.is_empty() => ("week", json!({ "N": n })),
            ScheduleKind::Week { n, days } => {
                ("week", json!({ "N": n, "Days": days.iter().map(day).collect::<Vec<_>>() }))
            }
            ScheduleKind::DayOfWeek { days } => {
                ("dayofweek", json!({ "Days": days.iter().map(day).collect::<Vec<_>>() }))
            }
            ScheduleKind::SemiMonth { first } => ("semimonth", json!({ "First": first })),
            ScheduleKind::DayOfMonth { n, day } => ("dayofmonth", json!({ "N": n, "Day": day })),
            ScheduleKind::DayWeekOfMonth { n, day: weekday, week } => {
                ("dayweekofmonth", json!({ "N": n, "Day": day(weekday), "Week": week }))
            }
            ScheduleKind::Year { n } => ("year", json!({ "N": n })),
            ScheduleKind::Cron(pattern) => ("cron", json!({ "Cron": pattern })),
        };
        json!({
            "type": kind,
            "schedule": params.to_string(),
            "start_time": self.start.to_string(),
            "timezone": zone_name(&self.timezone),
        })
    }
}

/// Five-field cron (no seconds, no year), as croner reads it; day-of-month and day-of-week
/// combine with OR, as in Vixie cron.
pub(super) fn parse_cron(pattern: &str) -> Result<Cron, croner::errors::CronError> {
    CronParser::builder().seconds(Seconds::Disallowed).year(Year::Disallowed).build().parse(pattern)
}

fn kind_from_params(name: &str, params: &Params) -> Result<ScheduleKind, ScheduleError> {
    Ok(match name {
        "minute" => ScheduleKind::Minute { n: count(params, "N")? },
        "hour" => ScheduleKind::Hour { n: count(params, "N")? },
        "day" => ScheduleKind::Day { n: count(params, "N")? },
        "weekday" => ScheduleKind::Weekday,
        "week" => ScheduleKind::Week {
            n: count(params, "N")?,
            days: match param(params, "Days") {
                Some(_) => days(params)?,
                None => Vec::new(),
            },
        },
        "dayofweek" => ScheduleKind::DayOfWeek { days: days(params)? },
        "semimonth" => match required(params, "First")? {
            Value::Bool(first) => ScheduleKind::SemiMonth { first: *first },
            other => return Err(invalid("schedule.First", "true or false", other)),
        },
        "dayofmonth" => ScheduleKind::DayOfMonth {
            n: count(params, "N")?,
            day: ranged(params, "Day", 1, 31, "a day of the month, 1 to 31")?,
        },
        "dayweekofmonth" => ScheduleKind::DayWeekOfMonth {
            n: count(params, "N")?,
            day: weekday(required(params, "Day")?, "schedule.Day")?,
            week: ranged(params, "Week", 1, 5, "a week of the month, 1 to 4, or 5 for the last")?,
        },
        "year" => ScheduleKind::Year { n: count(params, "N")? },
        other => return Err(ScheduleError::UnknownType { got: other.to_owned() }),
    })
}

/// The cron expression: top-level `cron`, else `schedule.Cron`, else a `schedule` string that
/// is not JSON.
fn cron_kind(object: &Params, top_level: Option<&str>) -> Result<ScheduleKind, ScheduleError> {
    let (field, pattern) = match top_level {
        Some(pattern) => ("cron", pattern.to_owned()),
        None => match object.get("schedule") {
            Some(Value::String(text)) if serde_json::from_str::<Value>(text).is_err() => ("schedule", text.clone()),
            _ => match required(&params(object)?, "Cron")? {
                Value::String(pattern) => ("schedule.Cron", pattern.clone()),
                other => return Err(invalid("schedule.Cron", "a cron expression string", other)),
            },
        },
    };
    match parse_cron(&pattern) {
        Ok(cron) if never_runs(&cron) => Err(ScheduleError::CronNever { field: field.to_owned(), pattern }),
        Ok(_) => Ok(ScheduleKind::Cron(pattern.trim().to_owned())),
        Err(source) => Err(ScheduleError::Cron { field: field.to_owned(), pattern, source }),
    }
}

/// Whether no date matches: croner looks ahead several years, which covers every leap day,
/// so what it cannot find is a day that does not exist (a day of the month OR a weekday
/// always matches within a week).
fn never_runs(cron: &Cron) -> bool {
    let from = Timestamp::UNIX_EPOCH.to_zoned(TimeZone::UTC);
    cron.find_next_occurrence(&from, true).is_err()
}

/// The `schedule` parameters: a JSON string or an object; absent, `null` or `""` is `{}`.
fn params(object: &Params) -> Result<Params, ScheduleError> {
    match object.get("schedule") {
        None | Some(Value::Null) => Ok(Params::new()),
        Some(Value::Object(params)) => Ok(params.clone()),
        Some(Value::String(text)) if text.trim().is_empty() => Ok(Params::new()),
        Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(params)) => Ok(params),
            Ok(other) => Err(invalid("schedule", "a JSON object of parameters", &other)),
            Err(source) => Err(ScheduleError::ParamsJson { text: text.clone(), source }),
        },
        Some(other) => Err(invalid("schedule", "a JSON object or a string holding one", other)),
    }
}

/// A parameter by name, ignoring ASCII case (Connect writes `N`, `Days`; people write `n`).
fn param<'p>(params: &'p Params, key: &str) -> Option<&'p Value> {
    params.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v).filter(|v| !v.is_null())
}

fn required<'p>(params: &'p Params, key: &str) -> Result<&'p Value, ScheduleError> {
    param(params, key).ok_or_else(|| missing(&format!("schedule.{key}")))
}

/// A positive count (`N`), at least 1.
fn count(params: &Params, key: &str) -> Result<u32, ScheduleError> {
    let value = required(params, key)?;
    whole(value)
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n >= 1)
        .ok_or_else(|| invalid(&format!("schedule.{key}"), "a whole number of at least 1", value))
}

/// A whole number between `low` and `high`.
fn ranged(params: &Params, key: &str, low: i64, high: i64, expected: &'static str) -> Result<u8, ScheduleError> {
    let value = required(params, key)?;
    whole(value)
        .filter(|n| (low..=high).contains(n))
        .and_then(|n| u8::try_from(n).ok())
        .ok_or_else(|| invalid(&format!("schedule.{key}"), expected, value))
}

/// The `Days` list: weekdays 0–6, at least one, duplicates dropped.
fn days(params: &Params) -> Result<Vec<Weekday>, ScheduleError> {
    let value = required(params, "Days")?;
    let list = value
        .as_array()
        .filter(|list| !list.is_empty())
        .ok_or_else(|| invalid("schedule.Days", "a non-empty list of weekdays 0 (Sunday) to 6", value))?;
    let mut days = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let day = weekday(item, &format!("schedule.Days[{i}]"))?;
        if !days.contains(&day) {
            days.push(day);
        }
    }
    Ok(days)
}

/// A weekday as Connect numbers them, 0 = Sunday … 6 = Saturday.
fn weekday(value: &Value, field: &str) -> Result<Weekday, ScheduleError> {
    whole(value)
        .and_then(|n| i8::try_from(n).ok())
        .and_then(|n| Weekday::from_sunday_zero_offset(n).ok())
        .ok_or_else(|| invalid(field, "a weekday, 0 (Sunday) to 6 (Saturday)", value))
}

/// A JSON number with no fractional part (`2` or `2.0`).
fn whole(value: &Value) -> Option<i64> {
    value.as_i64().or_else(|| {
        let f = value.as_f64()?;
        // The bounds keep the cast exact; anything beyond them is rejected by the callers anyway.
        (f.fract() == 0.0 && f.abs() < 1e15).then_some(f as i64)
    })
}

fn required_str<'o>(object: &'o Params, key: &str) -> Result<&'o str, ScheduleError> {
    optional_str(object, key)?.ok_or_else(|| missing(key))
}

fn optional_str<'o>(object: &'o Params, key: &str) -> Result<Option<&'o str>, ScheduleError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.as_str())),
        Some(other) => Err(invalid(key, "a string", other)),
    }
}

fn missing(field: &str) -> ScheduleError {
    ScheduleError::Missing { field: field.to_owned() }
}

fn invalid(field: &str, expected: &'static str, got: &Value) -> ScheduleError {
    ScheduleError::Invalid { field: field.to_owned(), expected, got: got.to_string() }
}

/// The zone's IANA name. A zone built in code from a whole-hour fixed offset has none and is
/// written as its `Etc/GMT±N` equivalent (note POSIX's inverted sign); anything else as `UTC`.
fn zone_name(tz: &TimeZone) -> String {
    if let Some(name) = tz.iana_name() {
        return name.to_owned();
    }
    match tz.to_fixed_offset().map(|offset| offset.seconds()) {
        Ok(0) | Err(_) => "UTC".to_owned(),
        Ok(seconds) if seconds % 3600 == 0 => format!("Etc/GMT{:+}", -seconds / 3600),
        Ok(_) => "UTC".to_owned(),
    }
}
