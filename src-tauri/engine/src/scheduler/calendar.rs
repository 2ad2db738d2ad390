//! Which local dates a day-or-longer schedule runs on. Pure civil-date arithmetic: no zones, no
//! times of day (the caller attaches the anchor's wall-clock time and resolves it in the zone).

use jiff::civil::{Date, Weekday};
use jiff::Span;

use super::ScheduleKind;

/// The first date on or after `from` (itself on or after `anchor`) that `kind` runs on.
/// `None` for the elapsed-time and cron kinds, an empty day list, or past the year 9999.
pub(super) fn first_on_or_after(kind: &ScheduleKind, anchor: Date, from: Date) -> Option<Date> {
    match kind {
        ScheduleKind::Day { n } => {
            let n = i64::from(*n).max(1);
            let behind = i64::from(anchor.until(from).ok()?.get_days());
            let steps = (behind + n - 1).div_euclid(n);
            add_days(anchor, steps.checked_mul(n)?)
        }
        ScheduleKind::Weekday => scan(from, 7, |d| !matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday)),
        ScheduleKind::DayOfWeek { days } => scan(from, 7, |d| days.contains(&d.weekday())),
        ScheduleKind::Week { n, days } => every_nth_week(anchor, from, *n, days),
        ScheduleKind::SemiMonth { first } => scan(from, 17, |d| match first {
            true => d.day() == 1 || d.day() == 15,
            false => d.day() == 14 || d.day() == d.days_in_month(),
        }),
        ScheduleKind::DayOfMonth { n, day } => {
            every_nth_month(anchor, from, *n, |first| Some(clamped_day(first, *day)))
        }
        ScheduleKind::DayWeekOfMonth { n, day, week } => {
            // 1–4 count from the front; 5 ("the fifth") is read as the last, which always exists.
            let nth = if *week >= 5 { -1 } else { i8::try_from(*week).ok()? };
            every_nth_month(anchor, from, *n, |first| first.nth_weekday_of_month(nth, *day).ok())
        }
        ScheduleKind::Year { n } => {
            let n = i32::try_from(*n).ok()?.max(1);
            let on = |year: i32| {
                let first = Date::new(i16::try_from(year).ok()?, anchor.month(), 1).ok()?;
                // 29 February becomes the 28th in common years.
                Some(clamped_day(first, u8::try_from(anchor.day()).ok()?))
            };
            let behind = i32::from(from.year()) - i32::from(anchor.year());
            let mut year = i32::from(anchor.year()) + (behind + n - 1).div_euclid(n).max(0) * n;
            for _ in 0..2 {
                let date = on(year)?;
                if date >= from {
                    return Some(date);
                }
                year = year.checked_add(n)?;
            }
            None
        }
        ScheduleKind::Minute { .. } | ScheduleKind::Hour { .. } | ScheduleKind::Cron(_) => None,
    }
}

/// The longest stretch, in days, between two consecutive runs of `kind`, plus two days of
/// slack for zone offsets: how far back [`super::missed_since`] must look to find the latest run.
pub(super) fn max_gap_days(kind: &ScheduleKind) -> i64 {
    let n = |n: &u32| i64::from(*n);
    2 + match kind {
        ScheduleKind::Minute { .. } | ScheduleKind::Hour { .. } | ScheduleKind::Cron(_) => 1,
        ScheduleKind::Day { n: k } => n(k),
        ScheduleKind::Weekday => 3,
        ScheduleKind::Week { n: k, .. } => 7 * n(k) + 7,
        ScheduleKind::DayOfWeek { .. } => 7,
        ScheduleKind::SemiMonth { .. } => 17,
        ScheduleKind::DayOfMonth { n: k, .. } => 31 * n(k) + 3,
        ScheduleKind::DayWeekOfMonth { n: k, .. } => 31 * n(k) + 7,
        ScheduleKind::Year { n: k } => 366 * n(k),
    }
}

/// Every `n` weeks, weeks running Sunday to Saturday and counted from the anchor's week, on
/// `days` (or the anchor's weekday when `days` is empty).
fn every_nth_week(anchor: Date, from: Date, n: u32, days: &[Weekday]) -> Option<Date> {
    let n = i64::from(n).max(1);
    let runs_on = |d: Date| match days.is_empty() {
        true => d.weekday() == anchor.weekday(),
        false => days.contains(&d.weekday()),
    };
    let week_zero = add_days(anchor, -i64::from(anchor.weekday().to_sunday_zero_offset()))?;
    let week_of = |d: Date| -> Option<i64> { Some(i64::from(week_zero.until(d).ok()?.get_days()).div_euclid(7)) };
    let week = week_of(from)?;
    if week % n == 0 {
        // `from` sits in an active week: the rest of this week first.
        let week_end = add_days(week_zero, week * 7 + 6)?;
        let left = i64::from(from.until(week_end).ok()?.get_days()) + 1;
        if let Some(date) = scan(from, left, runs_on) {
            return Some(date);
        }
    }
    let next_week = (week.div_euclid(n) + 1).checked_mul(n)?;
    scan(add_days(week_zero, next_week.checked_mul(7)?)?, 7, runs_on)
}

/// Every `n` months on the date `on` picks from a month's first day. The cycle starts in the
/// anchor's month when that month's date is not before the anchor, else in the next month.
fn every_nth_month(anchor: Date, from: Date, n: u32, on: impl Fn(Date) -> Option<Date>) -> Option<Date> {
    let n = i64::from(n).max(1);
    let anchor_month = month_index(anchor);
    let base = match on(anchor.first_of_month())? >= anchor {
        true => anchor_month,
        false => anchor_month + 1,
    };
    let behind = month_index(from) - base;
    let mut month = base + (behind + n - 1).div_euclid(n).max(0) * n;
    for _ in 0..2 {
        let date = on(first_of(month)?)?;
        if date >= from {
            return Some(date);
        }
        month = month.checked_add(n)?;
    }
    None
}

/// Months since year 0, so month arithmetic is integer arithmetic.
fn month_index(date: Date) -> i64 {
    i64::from(date.year()) * 12 + i64::from(date.month()) - 1
}

/// The first day of the month [`month_index`] numbers.
fn first_of(month: i64) -> Option<Date> {
    let year = i16::try_from(month.div_euclid(12)).ok()?;
    let month = i8::try_from(month.rem_euclid(12) + 1).ok()?;
    Date::new(year, month, 1).ok()
}

/// Day `day` of `first`'s month, or the month's last day when it is shorter.
fn clamped_day(first: Date, day: u8) -> Date {
    let day = i8::try_from(day).unwrap_or(i8::MAX).clamp(1, first.days_in_month());
    first.with().day(day).build().unwrap_or(first)
}

/// The first of `len` days from `from` that satisfies `runs_on`.
fn scan(from: Date, len: i64, runs_on: impl Fn(Date) -> bool) -> Option<Date> {
    let mut date = from;
    for _ in 0..len {
        if runs_on(date) {
            return Some(date);
        }
        date = date.tomorrow().ok()?;
    }
    None
}

fn add_days(date: Date, days: i64) -> Option<Date> {
    date.checked_add(Span::new().try_days(days).ok()?).ok()
}
