//! Next-run tables for every schedule kind, DST in Berlin and New York, month ends, leap years,
//! catch-up, and every refused input naming its field.
//!
//! Expected runs are written with the local offset (`+02:00` = CEST, `-04:00` = EDT), so a
//! table row also says which side of a DST change each run lands on.

#![allow(clippy::unwrap_used)]

use serde_json::{json, Value};

use super::*;

fn at(rfc3339: &str) -> Timestamp {
    rfc3339.parse().unwrap()
}

fn schedule(kind: &str, params: Value, start: &str, zone: &str) -> Schedule {
    let wire = json!({ "type": kind, "schedule": params.to_string(), "start_time": start, "timezone": zone });
    Schedule::from_connect(&wire).unwrap_or_else(|e| panic!("{wire}: {e}"))
}

/// One row: a schedule, a moment, and the runs that follow it.
struct Case {
    name: &'static str,
    kind: &'static str,
    params: Value,
    start: &'static str,
    zone: &'static str,
    after: &'static str,
    runs: &'static [&'static str],
}

fn cases() -> Vec<Case> {
    let berlin = "Europe/Berlin";
    let new_york = "America/New_York";
    let utc = "UTC";
    vec![
        // minute / hour: elapsed time, blind to DST.
        Case {
            name: "minute 15 across Berlin spring-forward keeps 15 real minutes",
            kind: "minute",
            params: json!({"N": 15}),
            start: "2026-03-29T01:50:00+01:00",
            zone: berlin,
            after: "2026-03-29T01:00:00+01:00",
            runs: &["2026-03-29T01:50:00+01:00", "2026-03-29T03:05:00+02:00", "2026-03-29T03:20:00+02:00"],
        },
        Case {
            name: "minute 90 counts from the anchor, not the clock",
            kind: "minute",
            params: json!({"N": 90}),
            start: "2026-01-01T00:00:00Z",
            zone: utc,
            after: "2026-01-01T02:00:00Z",
            runs: &["2026-01-01T03:00:00Z", "2026-01-01T04:30:00Z", "2026-01-01T06:00:00Z"],
        },
        Case {
            name: "minute: an instant exactly on a run is not after it",
            kind: "minute",
            params: json!({"N": 10}),
            start: "2026-01-01T00:00:00Z",
            zone: utc,
            after: "2026-01-01T00:20:00Z",
            runs: &["2026-01-01T00:30:00Z"],
        },
        Case {
            name: "hour 3 across New York fall-back keeps 3 real hours",
            kind: "hour",
            params: json!({"N": 3}),
            start: "2026-10-31T23:00:00-04:00",
            zone: new_york,
            after: "2026-10-31T22:00:00-04:00",
            runs: &["2026-10-31T23:00:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T04:00:00-05:00"],
        },
        Case {
            name: "hour 25 drifts across the clock",
            kind: "hour",
            params: json!({"N": 25}),
            start: "2026-01-01T00:00:00Z",
            zone: utc,
            after: "2026-01-01T00:00:00Z",
            runs: &["2026-01-02T01:00:00Z", "2026-01-03T02:00:00Z"],
        },
        // day: wall clock.
        Case {
            name: "day keeps 08:00 across Berlin spring-forward",
            kind: "day",
            params: json!({"N": 1}),
            start: "2026-03-27T08:00:00+01:00",
            zone: berlin,
            after: "2026-03-27T09:00:00+01:00",
            runs: &["2026-03-28T08:00:00+01:00", "2026-03-29T08:00:00+02:00", "2026-03-30T08:00:00+02:00"],
        },
        Case {
            name: "day at 02:30 in the Berlin spring gap runs at 03:00 CEST",
            kind: "day",
            params: json!({"N": 1}),
            start: "2026-03-28T02:30:00+01:00",
            zone: berlin,
            after: "2026-03-28T02:30:00+01:00",
            runs: &["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"],
        },
        Case {
            name: "day at 02:30 in the repeated Berlin hour runs once, first occurrence",
            kind: "day",
            params: json!({"N": 1}),
            start: "2026-10-24T02:30:00+02:00",
            zone: berlin,
            after: "2026-10-24T02:30:00+02:00",
            runs: &["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"],
        },
        Case {
            name: "day: the second 02:30 of a fall-back night is not a run",
            kind: "day",
            params: json!({"N": 1}),
            start: "2026-10-24T02:30:00+02:00",
            zone: berlin,
            after: "2026-10-25T02:30:00+02:00",
            runs: &["2026-10-26T02:30:00+01:00"],
        },
        Case {
            name: "day at 02:30 in the New York spring gap runs at 03:00 EDT",
            kind: "day",
            params: json!({"N": 1}),
            start: "2026-03-07T02:30:00-05:00",
            zone: new_york,
            after: "2026-03-07T02:30:00-05:00",
            runs: &["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"],
        },
        Case {
            name: "day at 01:30 in the repeated New York hour runs once, EDT",
            kind: "day",
            params: json!({"N": 1}),
            start: "2026-10-31T01:30:00-04:00",
            zone: new_york,
            after: "2026-10-31T01:30:00-04:00",
            runs: &["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"],
        },
        Case {
            name: "day 3 counts days from the anchor",
            kind: "day",
            params: json!({"N": 3}),
            start: "2026-01-30T06:00:00Z",
            zone: utc,
            after: "2026-02-01T00:00:00Z",
            runs: &["2026-02-02T06:00:00Z", "2026-02-05T06:00:00Z", "2026-02-08T06:00:00Z"],
        },
        Case {
            name: "day: a future anchor is the first run",
            kind: "day",
            params: json!({"N": 2}),
            start: "2026-06-01T12:00:00+02:00",
            zone: berlin,
            after: "2026-01-01T00:00:00Z",
            runs: &["2026-06-01T12:00:00+02:00", "2026-06-03T12:00:00+02:00"],
        },
        // weekday
        Case {
            name: "weekday skips the weekend",
            kind: "weekday",
            params: json!({}),
            start: "2026-01-02T07:00:00+01:00",
            zone: berlin,
            after: "2026-01-02T07:00:00+01:00",
            runs: &[
                "2026-01-05T07:00:00+01:00",
                "2026-01-06T07:00:00+01:00",
                "2026-01-07T07:00:00+01:00",
                "2026-01-08T07:00:00+01:00",
                "2026-01-09T07:00:00+01:00",
                "2026-01-12T07:00:00+01:00",
            ],
        },
        Case {
            name: "weekday anchored on a Saturday starts on Monday",
            kind: "weekday",
            params: json!({}),
            start: "2026-01-03T07:00:00+01:00",
            zone: berlin,
            after: "2026-01-01T00:00:00Z",
            runs: &["2026-01-05T07:00:00+01:00"],
        },
        // week
        Case {
            name: "week 2 on the anchor's weekday, across New York spring-forward",
            kind: "week",
            params: json!({"N": 2}),
            start: "2026-01-06T09:00:00-05:00",
            zone: new_york,
            after: "2026-01-01T00:00:00Z",
            runs: &[
                "2026-01-06T09:00:00-05:00",
                "2026-01-20T09:00:00-05:00",
                "2026-02-03T09:00:00-05:00",
                "2026-02-17T09:00:00-05:00",
                "2026-03-03T09:00:00-05:00",
                "2026-03-17T09:00:00-04:00",
            ],
        },
        Case {
            name: "week 2 on Monday and Thursday counts weeks from the anchor's week",
            kind: "week",
            params: json!({"N": 2, "Days": [1, 4]}),
            start: "2026-01-07T10:00:00Z",
            zone: utc,
            after: "2026-01-01T00:00:00Z",
            runs: &[
                "2026-01-08T10:00:00Z",
                "2026-01-19T10:00:00Z",
                "2026-01-22T10:00:00Z",
                "2026-02-02T10:00:00Z",
                "2026-02-05T10:00:00Z",
            ],
        },
        // dayofweek
        Case {
            name: "dayofweek Saturday and Sunday",
            kind: "dayofweek",
            params: json!({"Days": [0, 6]}),
            start: "2026-01-01T12:00:00+01:00",
            zone: berlin,
            after: "2026-01-01T00:00:00Z",
            runs: &[
                "2026-01-03T12:00:00+01:00",
                "2026-01-04T12:00:00+01:00",
                "2026-01-10T12:00:00+01:00",
                "2026-01-11T12:00:00+01:00",
            ],
        },
        Case {
            name: "dayofweek Monday keeps 08:00 across Berlin spring-forward",
            kind: "dayofweek",
            params: json!({"Days": [1]}),
            start: "2026-03-23T08:00:00+01:00",
            zone: berlin,
            after: "2026-03-23T08:00:00+01:00",
            runs: &["2026-03-30T08:00:00+02:00", "2026-04-06T08:00:00+02:00"],
        },
        Case {
            name: "dayofweek Sunday 02:30 on the Berlin fall-back night runs once",
            kind: "dayofweek",
            params: json!({"Days": [0]}),
            start: "2026-10-18T02:30:00+02:00",
            zone: berlin,
            after: "2026-10-18T02:30:00+02:00",
            runs: &["2026-10-25T02:30:00+02:00", "2026-11-01T02:30:00+01:00"],
        },
        // semimonth
        Case {
            name: "semimonth First=true: 1st and 15th",
            kind: "semimonth",
            params: json!({"First": true}),
            start: "2026-01-10T08:00:00Z",
            zone: utc,
            after: "2026-01-01T00:00:00Z",
            runs: &["2026-01-15T08:00:00Z", "2026-02-01T08:00:00Z", "2026-02-15T08:00:00Z", "2026-03-01T08:00:00Z"],
        },
        Case {
            name: "semimonth First=false: 14th and last day",
            kind: "semimonth",
            params: json!({"First": false}),
            start: "2026-01-20T08:00:00Z",
            zone: utc,
            after: "2026-01-01T00:00:00Z",
            runs: &[
                "2026-01-31T08:00:00Z",
                "2026-02-14T08:00:00Z",
                "2026-02-28T08:00:00Z",
                "2026-03-14T08:00:00Z",
                "2026-03-31T08:00:00Z",
                "2026-04-14T08:00:00Z",
                "2026-04-30T08:00:00Z",
            ],
        },
        Case {
            name: "semimonth First=false in a leap February ends on the 29th",
            kind: "semimonth",
            params: json!({"First": false}),
            start: "2028-02-01T08:00:00Z",
            zone: utc,
            after: "2028-02-01T00:00:00Z",
            runs: &["2028-02-14T08:00:00Z", "2028-02-29T08:00:00Z", "2028-03-14T08:00:00Z"],
        },
        // dayofmonth
        Case {
            name: "dayofmonth 31 across February 2027 runs on month ends",
            kind: "dayofmonth",
            params: json!({"N": 1, "Day": 31}),
            start: "2027-01-31T08:00:00+01:00",
            zone: berlin,
            after: "2027-01-01T00:00:00Z",
            runs: &[
                "2027-01-31T08:00:00+01:00",
                "2027-02-28T08:00:00+01:00",
                "2027-03-31T08:00:00+02:00",
                "2027-04-30T08:00:00+02:00",
                "2027-05-31T08:00:00+02:00",
            ],
        },
        Case {
            name: "dayofmonth 31 across leap February 2028 runs on the 29th",
            kind: "dayofmonth",
            params: json!({"N": 1, "Day": 31}),
            start: "2028-01-31T08:00:00Z",
            zone: utc,
            after: "2028-01-31T08:00:00Z",
            runs: &["2028-02-29T08:00:00Z", "2028-03-31T08:00:00Z", "2028-04-30T08:00:00Z"],
        },
        Case {
            name: "dayofmonth every 3 months starts the month after a passed day",
            kind: "dayofmonth",
            params: json!({"N": 3, "Day": 15}),
            start: "2026-01-20T09:00:00Z",
            zone: utc,
            after: "2026-01-01T00:00:00Z",
            runs: &["2026-02-15T09:00:00Z", "2026-05-15T09:00:00Z", "2026-08-15T09:00:00Z", "2026-11-15T09:00:00Z"],
        },
        Case {
            name: "dayofmonth 30 every 2 months from January",
            kind: "dayofmonth",
            params: json!({"N": 2, "Day": 30}),
            start: "2026-01-05T09:00:00Z",
            zone: utc,
            after: "2026-01-01T00:00:00Z",
            runs: &["2026-01-30T09:00:00Z", "2026-03-30T09:00:00Z", "2026-05-30T09:00:00Z"],
        },
        // dayweekofmonth
        Case {
            name: "dayweekofmonth: the 2nd Tuesday",
            kind: "dayweekofmonth",
            params: json!({"N": 1, "Day": 2, "Week": 2}),
            start: "2026-01-01T09:00:00Z",
            zone: utc,
            after: "2026-01-01T00:00:00Z",
            runs: &[
                "2026-01-13T09:00:00Z",
                "2026-02-10T09:00:00Z",
                "2026-03-10T09:00:00Z",
                "2026-04-14T09:00:00Z",
                "2026-05-12T09:00:00Z",
            ],
        },
        Case {
            name: "dayweekofmonth: Week 5 is the last Friday",
            kind: "dayweekofmonth",
            params: json!({"N": 1, "Day": 5, "Week": 5}),
            start: "2026-01-01T17:00:00+01:00",
            zone: berlin,
            after: "2026-01-01T00:00:00Z",
            runs: &[
                "2026-01-30T17:00:00+01:00",
                "2026-02-27T17:00:00+01:00",
                "2026-03-27T17:00:00+01:00",
                "2026-04-24T17:00:00+02:00",
            ],
        },
        Case {
            name: "dayweekofmonth: 1st Monday every 2 months, anchored after January's",
            kind: "dayweekofmonth",
            params: json!({"N": 2, "Day": 1, "Week": 1}),
            start: "2026-01-10T09:00:00Z",
            zone: utc,
            after: "2026-01-01T00:00:00Z",
            runs: &["2026-02-02T09:00:00Z", "2026-04-06T09:00:00Z", "2026-06-01T09:00:00Z", "2026-08-03T09:00:00Z"],
        },
        // year
        Case {
            name: "year from 29 February runs on the 28th in common years",
            kind: "year",
            params: json!({"N": 1}),
            start: "2028-02-29T08:00:00Z",
            zone: utc,
            after: "2028-01-01T00:00:00Z",
            runs: &[
                "2028-02-29T08:00:00Z",
                "2029-02-28T08:00:00Z",
                "2030-02-28T08:00:00Z",
                "2031-02-28T08:00:00Z",
                "2032-02-29T08:00:00Z",
            ],
        },
        Case {
            name: "year 2 keeps local time in summer",
            kind: "year",
            params: json!({"N": 2}),
            start: "2026-07-04T10:00:00-04:00",
            zone: new_york,
            after: "2026-07-04T10:00:00-04:00",
            runs: &["2028-07-04T10:00:00-04:00", "2030-07-04T10:00:00-04:00"],
        },
        // cron
        Case {
            name: "cron weekdays 08:00 across Berlin spring-forward",
            kind: "cron",
            params: json!({"Cron": "0 8 * * 1-5"}),
            start: "2026-03-26T00:00:00+01:00",
            zone: berlin,
            after: "2026-03-26T00:00:00+01:00",
            runs: &["2026-03-26T08:00:00+01:00", "2026-03-27T08:00:00+01:00", "2026-03-30T08:00:00+02:00"],
        },
        Case {
            name: "cron 02:30 in the Berlin spring gap runs at 03:00 CEST",
            kind: "cron",
            params: json!({"Cron": "30 2 * * *"}),
            start: "2026-03-28T00:00:00+01:00",
            zone: berlin,
            after: "2026-03-28T00:00:00+01:00",
            runs: &["2026-03-28T02:30:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"],
        },
        Case {
            name: "cron 02:30 in the repeated Berlin hour runs once",
            kind: "cron",
            params: json!({"Cron": "30 2 * * *"}),
            start: "2026-10-24T00:00:00+02:00",
            zone: berlin,
            after: "2026-10-24T03:00:00+02:00",
            runs: &["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"],
        },
        Case {
            name: "cron 01:30 in the repeated New York hour runs once",
            kind: "cron",
            params: json!({"Cron": "30 1 * * *"}),
            start: "2026-10-01T00:00:00-04:00",
            zone: new_york,
            after: "2026-10-31T12:00:00-04:00",
            runs: &["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"],
        },
        Case {
            name: "cron every 30 minutes runs in both halves of the repeated New York hour",
            kind: "cron",
            params: json!({"Cron": "*/30 * * * *"}),
            start: "2026-10-01T00:00:00-04:00",
            zone: new_york,
            after: "2026-11-01T00:10:00-04:00",
            runs: &[
                "2026-11-01T00:30:00-04:00",
                "2026-11-01T01:00:00-04:00",
                "2026-11-01T01:30:00-04:00",
                "2026-11-01T01:00:00-05:00",
                "2026-11-01T01:30:00-05:00",
                "2026-11-01T02:00:00-05:00",
            ],
        },
        Case {
            name: "cron never fires before its anchor (inclusive at the anchor)",
            kind: "cron",
            params: json!({"Cron": "0 * * * *"}),
            start: "2026-06-01T00:00:00Z",
            zone: utc,
            after: "2026-01-01T00:00:00Z",
            runs: &["2026-06-01T00:00:00Z", "2026-06-01T01:00:00Z"],
        },
        Case {
            name: "cron last day of the month",
            kind: "cron",
            params: json!({"Cron": "0 6 L * *"}),
            start: "2027-01-01T00:00:00Z",
            zone: utc,
            after: "2027-01-01T00:00:00Z",
            runs: &["2027-01-31T06:00:00Z", "2027-02-28T06:00:00Z", "2027-03-31T06:00:00Z"],
        },
    ]
}

#[test]
fn next_runs_match_the_table() {
    let mut failures = Vec::new();
    for case in cases() {
        let s = schedule(case.kind, case.params.clone(), case.start, case.zone);
        let want: Vec<Timestamp> = case.runs.iter().map(|r| at(r)).collect();
        let got = s.upcoming(at(case.after), want.len());
        if got != want {
            let show = |runs: &[Timestamp]| -> Vec<String> {
                runs.iter().map(|t| t.to_zoned(s.timezone.clone()).strftime("%F %T%:z").to_string()).collect()
            };
            failures.push(format!("{}:\n   want {:?}\n    got {:?}", case.name, show(&want), show(&got)));
        }
        // next_after is upcoming's first element.
        if s.next_after(at(case.after)) != want.first().copied() {
            failures.push(format!("{}: next_after disagrees with upcoming", case.name));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases().len(), failures.join("\n"));
}

#[test]
fn every_table_schedule_round_trips_through_connect_json() {
    for case in cases() {
        let s = schedule(case.kind, case.params.clone(), case.start, case.zone);
        let wire = s.to_connect();
        assert!(wire["schedule"].is_string(), "{}: Connect stores parameters as a JSON string", case.name);
        assert_eq!(wire["type"], case.kind, "{}", case.name);
        assert_eq!(Schedule::from_connect(&wire).unwrap(), s, "{}: {wire}", case.name);
    }
}

#[test]
fn to_connect_writes_connect_shape() {
    let s =
        schedule("dayweekofmonth", json!({"N": 1, "Day": 2, "Week": 2}), "2026-01-01T10:00:00+01:00", "Europe/Berlin");
    let wire = s.to_connect();
    assert_eq!(wire["type"], "dayweekofmonth");
    assert_eq!(wire["timezone"], "Europe/Berlin");
    assert_eq!(wire["start_time"], "2026-01-01T09:00:00Z");
    let params: Value = serde_json::from_str(wire["schedule"].as_str().unwrap()).unwrap();
    assert_eq!(params, json!({"N": 1, "Day": 2, "Week": 2}));
}

#[test]
fn upcoming_returns_exactly_k() {
    let s = schedule("day", json!({"N": 1}), "2026-01-01T08:00:00Z", "UTC");
    let runs = s.upcoming(at("2026-01-01T00:00:00Z"), 5);
    let want: Vec<Timestamp> =
        ["01", "02", "03", "04", "05"].iter().map(|d| at(&format!("2026-01-{d}T08:00:00Z"))).collect();
    assert_eq!(runs, want);
    assert!(s.upcoming(at("2026-01-01T00:00:00Z"), 0).is_empty());
    // Strictly increasing across a DST change too.
    let berlin = schedule("hour", json!({"N": 1}), "2026-10-25T00:30:00+02:00", "Europe/Berlin");
    let runs = berlin.upcoming(at("2026-10-25T00:00:00+02:00"), 5);
    assert_eq!(runs.len(), 5);
    assert!(runs.windows(2).all(|w| w[1].duration_since(w[0]) == SignedDuration::from_hours(1)));
}

#[test]
fn upcoming_stops_when_a_schedule_cannot_run() {
    // Built in code, bypassing validation: nothing to run on.
    let s = Schedule {
        kind: ScheduleKind::DayOfWeek { days: Vec::new() },
        start: at("2026-01-01T00:00:00Z"),
        timezone: TimeZone::UTC,
    };
    assert_eq!(s.next_after(at("2026-01-01T00:00:00Z")), None);
    assert!(s.upcoming(at("2026-01-01T00:00:00Z"), 5).is_empty());
}

#[test]
fn missed_since_returns_only_the_latest_missed_run() {
    let daily = schedule("day", json!({"N": 1}), "2026-05-01T08:00:00+02:00", "Europe/Berlin");
    let weekday = schedule("weekday", json!({}), "2026-05-01T07:00:00+02:00", "Europe/Berlin");
    let quarter_hour = schedule("minute", json!({"N": 15}), "2026-01-01T00:00:00Z", "UTC");
    let cron = schedule("cron", json!({"Cron": "0 8 * * *"}), "2026-05-01T00:00:00+02:00", "Europe/Berlin");
    let yearly = schedule("year", json!({"N": 1}), "2028-02-29T08:00:00Z", "UTC");
    let monthly = schedule("dayofmonth", json!({"N": 1, "Day": 31}), "2027-01-31T08:00:00Z", "UTC");
    let table: &[(&str, &Schedule, &str, &str, Option<&str>)] = &[
        ("none missed", &daily, "2026-05-10T08:00:00+02:00", "2026-05-10T20:00:00+02:00", None),
        (
            "one missed",
            &daily,
            "2026-05-10T08:00:00+02:00",
            "2026-05-11T09:00:00+02:00",
            Some("2026-05-11T08:00:00+02:00"),
        ),
        (
            "several missed → the latest",
            &daily,
            "2026-05-01T08:00:00+02:00",
            "2026-05-11T07:59:00+02:00",
            Some("2026-05-10T08:00:00+02:00"),
        ),
        (
            "a run exactly at now counts",
            &daily,
            "2026-05-09T08:00:00+02:00",
            "2026-05-11T08:00:00+02:00",
            Some("2026-05-11T08:00:00+02:00"),
        ),
        ("now before last_run", &daily, "2026-05-11T08:00:00+02:00", "2026-05-10T08:00:00+02:00", None),
        ("before the anchor nothing is missed", &daily, "2026-01-01T00:00:00Z", "2026-04-30T08:00:00+02:00", None),
        ("weekend: nothing missed", &weekday, "2026-05-08T07:00:00+02:00", "2026-05-10T23:00:00+02:00", None),
        (
            "weekend then Monday",
            &weekday,
            "2026-05-08T07:00:00+02:00",
            "2026-05-11T07:30:00+02:00",
            Some("2026-05-11T07:00:00+02:00"),
        ),
        (
            "minutes over two months, closed form",
            &quarter_hour,
            "2026-01-01T00:00:00Z",
            "2026-03-01T10:07:00Z",
            Some("2026-03-01T10:00:00Z"),
        ),
        ("minutes: none since", &quarter_hour, "2026-03-01T10:00:00Z", "2026-03-01T10:14:59Z", None),
        (
            "cron: a week asleep",
            &cron,
            "2026-05-04T08:00:00+02:00",
            "2026-05-08T09:00:00+02:00",
            Some("2026-05-08T08:00:00+02:00"),
        ),
        ("cron: none since", &cron, "2026-05-08T08:00:00+02:00", "2026-05-08T09:00:00+02:00", None),
        (
            "year: off for three years",
            &yearly,
            "2028-02-29T08:00:00Z",
            "2031-06-01T00:00:00Z",
            Some("2031-02-28T08:00:00Z"),
        ),
        (
            "month end: off since January",
            &monthly,
            "2027-01-31T08:00:00Z",
            "2027-03-30T00:00:00Z",
            Some("2027-02-28T08:00:00Z"),
        ),
    ];
    for (name, s, last_run, now, want) in table {
        assert_eq!(missed_since(s, at(last_run), at(now)), want.map(at), "{name}");
    }
}

/// `(name, request, the field the error must name)`.
fn bad_inputs() -> Vec<(&'static str, Value, &'static str)> {
    let base = |kind: &str, params: Value| json!({"type": kind, "schedule": params.to_string(), "start_time": "2026-01-01T08:00:00Z", "timezone": "UTC"});
    let with = |field: &str, value: Value| {
        let mut wire = base("day", json!({"N": 1}));
        match value {
            Value::Null => wire.as_object_mut().unwrap().remove(field),
            value => wire.as_object_mut().unwrap().insert(field.to_owned(), value),
        };
        wire
    };
    let cron = |pattern: Value| json!({"cron": pattern, "start_time": "2026-01-01T08:00:00Z", "timezone": "UTC"});
    vec![
        ("missing type", with("type", Value::Null), "`type`"),
        ("unknown type", with("type", json!("fortnight")), "`type`"),
        ("type not a string", with("type", json!(3)), "`type`"),
        ("missing timezone", with("timezone", Value::Null), "`timezone`"),
        ("unknown timezone", with("timezone", json!("Mars/Olympus_Mons")), "`timezone`"),
        ("timezone not a string", with("timezone", json!(1)), "`timezone`"),
        ("missing start_time", with("start_time", Value::Null), "`start_time`"),
        ("start_time not a time", with("start_time", json!("yesterday")), "`start_time`"),
        ("start_time without offset", with("start_time", json!("2026-01-01T08:00:00")), "`start_time`"),
        ("schedule not JSON", with("schedule", json!("{N: 1")), "`schedule`"),
        ("schedule a list", with("schedule", json!([1])), "`schedule`"),
        ("schedule a JSON list", with("schedule", json!("[1]")), "`schedule`"),
        ("N missing", base("minute", json!({})), "`schedule.N`"),
        ("N zero", base("minute", json!({"N": 0})), "`schedule.N`"),
        ("N negative", base("hour", json!({"N": -2})), "`schedule.N`"),
        ("N fractional", base("day", json!({"N": 1.5})), "`schedule.N`"),
        ("N a string", base("week", json!({"N": "2"})), "`schedule.N`"),
        ("year N zero", base("year", json!({"N": 0})), "`schedule.N`"),
        ("week Days out of range", base("week", json!({"N": 1, "Days": [9]})), "`schedule.Days[0]`"),
        ("dayofweek Days missing", base("dayofweek", json!({})), "`schedule.Days`"),
        ("dayofweek Days empty", base("dayofweek", json!({"Days": []})), "`schedule.Days`"),
        ("dayofweek Days not a list", base("dayofweek", json!({"Days": 1})), "`schedule.Days`"),
        ("dayofweek day 7", base("dayofweek", json!({"Days": [1, 7]})), "`schedule.Days[1]`"),
        ("dayofweek day -1", base("dayofweek", json!({"Days": [-1]})), "`schedule.Days[0]`"),
        ("semimonth First missing", base("semimonth", json!({})), "`schedule.First`"),
        ("semimonth First not a bool", base("semimonth", json!({"First": "yes"})), "`schedule.First`"),
        ("dayofmonth Day 0", base("dayofmonth", json!({"N": 1, "Day": 0})), "`schedule.Day`"),
        ("dayofmonth Day 32", base("dayofmonth", json!({"N": 1, "Day": 32})), "`schedule.Day`"),
        ("dayofmonth N zero", base("dayofmonth", json!({"N": 0, "Day": 3})), "`schedule.N`"),
        ("dayweekofmonth Week 0", base("dayweekofmonth", json!({"N": 1, "Day": 2, "Week": 0})), "`schedule.Week`"),
        ("dayweekofmonth Week 6", base("dayweekofmonth", json!({"N": 1, "Day": 2, "Week": 6})), "`schedule.Week`"),
        ("dayweekofmonth Day 7", base("dayweekofmonth", json!({"N": 1, "Day": 7, "Week": 1})), "`schedule.Day`"),
        ("cron out of range", cron(json!("61 * * * *")), "`cron`"),
        ("cron empty", cron(json!("")), "`cron`"),
        ("cron beside another type", with("cron", json!("0 8 * * *")), "`cron`"),
        ("cron with seconds", cron(json!("0 0 8 * * *")), "`cron`"),
        ("cron not a string", cron(json!(5)), "`cron`"),
        ("cron on February 31", cron(json!("0 7 31 2 *")), "never runs"),
        ("cron on April 31", base("cron", json!({"Cron": "0 7 31 4 *"})), "`schedule.Cron`"),
        ("schedule.Cron bad", base("cron", json!({"Cron": "every day"})), "`schedule.Cron`"),
        ("schedule.Cron missing", base("cron", json!({})), "`schedule.Cron`"),
        ("raw schedule string bad", with("type", json!("cron")), "`schedule.Cron`"),
    ]
}

#[test]
fn every_bad_input_is_refused_naming_its_field() {
    for (name, wire, field) in bad_inputs() {
        match Schedule::from_connect(&wire) {
            Ok(s) => panic!("{name}: accepted {wire} as {s:?}"),
            Err(e) => assert!(e.to_string().contains(field), "{name}: {e:?} does not name {field}"),
        }
    }
    let not_object = Schedule::from_connect(&json!(["day"])).unwrap_err();
    assert!(matches!(not_object, ScheduleError::NotAnObject { .. }), "{not_object}");
}

#[test]
fn refusals_keep_their_cause() {
    use std::error::Error as _;
    let wire = json!({"type": "day", "schedule": "{\"N\":1}", "start_time": "2026-01-01T08:00:00Z", "timezone": "Nowhere/Special"});
    assert!(Schedule::from_connect(&wire).unwrap_err().source().is_some());
    let wire = json!({"cron": "61 * * * *", "start_time": "2026-01-01T08:00:00Z", "timezone": "UTC"});
    let err = Schedule::from_connect(&wire).unwrap_err();
    assert!(err.source().is_some());
    // The message says what is wrong with five fields, not that there are not five.
    assert!(err.to_string().contains("out of bounds"), "{err}");
}

#[test]
fn a_cron_on_a_rare_but_real_day_is_accepted() {
    // February 29 comes every four years; the 31st of any month with 31 days; a day of the
    // month that does not exist still runs on the weekday it is OR-ed with.
    for pattern in ["0 7 29 2 *", "0 7 31 * *", "0 7 31 2 1", "0 0 L 2 *"] {
        let wire = json!({"cron": pattern, "start_time": "2027-03-01T00:00:00Z", "timezone": "UTC"});
        let s = Schedule::from_connect(&wire).unwrap_or_else(|e| panic!("{pattern}: {e}"));
        let after = "2027-03-01T00:00:00Z".parse().expect("time");
        assert!(s.next_after(after).is_some(), "{pattern} runs");
    }
}

#[test]
fn connect_variants_are_accepted() {
    let start = "2026-01-01T08:00:00+01:00";
    let berlin = |extra: Value| {
        let mut wire = json!({"start_time": start, "timezone": "Europe/Berlin"});
        wire.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        Schedule::from_connect(&wire).unwrap()
    };
    // Parameters as an object, lower-case keys, duplicate days.
    let s = berlin(json!({"type": "dayofweek", "schedule": {"days": [1, 1, 3]}}));
    assert_eq!(s.kind, ScheduleKind::DayOfWeek { days: vec![Weekday::Monday, Weekday::Wednesday] });
    // weekday with no, null or empty parameters.
    for params in [json!(null), json!(""), json!("{}")] {
        assert_eq!(berlin(json!({"type": "weekday", "schedule": params})).kind, ScheduleKind::Weekday);
    }
    assert_eq!(berlin(json!({"type": "weekday"})).kind, ScheduleKind::Weekday);
    // N written as 2.0 by a float-minded client.
    assert_eq!(berlin(json!({"type": "day", "schedule": "{\"N\": 2.0}"})).kind, ScheduleKind::Day { n: 2 });
    // Cron three ways.
    let cron = ScheduleKind::Cron("0 8 * * 1-5".to_owned());
    assert_eq!(berlin(json!({"cron": "0 8 * * 1-5"})).kind, cron);
    assert_eq!(berlin(json!({"type": "cron", "schedule": "0 8 * * 1-5"})).kind, cron);
    assert_eq!(berlin(json!({"type": "cron", "schedule": {"Cron": " 0 8 * * 1-5 "}})).kind, cron);
    // The anchor is an instant: the offset in start_time is honoured.
    assert_eq!(berlin(json!({"type": "weekday"})).start, at("2026-01-01T07:00:00Z"));
}

#[test]
fn week_without_days_omits_them_on_the_wire() {
    let s = schedule("week", json!({"N": 3}), "2026-01-01T08:00:00Z", "UTC");
    assert_eq!(s.kind, ScheduleKind::Week { n: 3, days: Vec::new() });
    let params: Value = serde_json::from_str(s.to_connect()["schedule"].as_str().unwrap()).unwrap();
    assert_eq!(params, json!({"N": 3}));
}
