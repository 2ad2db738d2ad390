//! # Schedules: when a rendered item runs next
//!
//! Owns Connect's schedule model (research `features.md` §2.3) as a pure value: [`Schedule`] is a
//! kind, an anchor instant and an IANA zone; [`Schedule::next_after`], [`Schedule::upcoming`] and
//! [`missed_since`] answer "when" and nothing else. Everything here is synchronous,
//! allocation-light and free of I/O apart from jiff's one-time load of a zone's rules, so it is
//! safe to call from any thread or task. The one exception is [`driver`], the loop that sleeps
//! until the next run and fires it; it reaches the store, the renders and the wall clock only
//! through its `Host` and `Clock` traits, so it too runs without I/O in tests. It does not own
//! the store or the API.
//!
//! ## The anchor
//!
//! `start_time` is the anchor: the first run is the first instant at or after it that the kind
//! allows, and intervals are counted from it. A schedule whose anchor is in the past just runs at
//! its next occurrence; catching up is the caller's choice, through [`missed_since`], which returns
//! only the *latest* missed run so a machine that slept through five runs renders once.
//!
//! ## Elapsed versus wall-clock time
//!
//! - `minute` and `hour` are fixed elapsed intervals from the anchor (`start + k·N`), blind to
//!   DST, as Connect documents: "every 3 hours" stays three real hours apart across a change.
//! - Every other kind fires at the anchor's local wall-clock time, in the schedule's zone, on the
//!   days the kind selects, so "daily 08:00 Europe/Berlin" stays at 08:00 all year. When that local
//!   time does not exist (spring forward, e.g. 02:30 on 2026-03-29 in Berlin) the run happens at the
//!   first valid instant after the gap (03:00 CEST); when it exists twice (fall back, 02:30 on
//!   2026-10-25) it runs once, at the first occurrence (CEST).
//! - `cron` is standard five-field cron (minute hour day-of-month month day-of-week, with croner's
//!   extensions such as `L` and `#`), evaluated in the schedule's zone by croner, which
//!   tokio-cron-scheduler also uses, with the same DST rules: a fixed time in a gap runs at the
//!   first instant after it, a fixed time in a repeated hour runs once. An expression with a
//!   wildcard hour (`*/30 * * * *`) is an interval and runs in both halves of a repeated hour.
//!
//! ## Which days
//!
//! Weekdays are numbered as Connect numbers them, 0 = Sunday … 6 = Saturday.
//! - `day` N: the anchor's date, then every N days.
//! - `weekday`: Monday to Friday, from the anchor's date.
//! - `week` N: every N weeks, on the anchor's weekday, or on `Days` when given (a Porch
//!   extension); weeks run Sunday to Saturday and are counted from the anchor's week.
//! - `dayofweek` Days: each listed weekday of every week.
//! - `semimonth` First: `true` runs on the 1st and 15th, `false` on the 14th and the month's last
//!   day (28th to 31st).
//! - `dayofmonth` N, Day: day `Day` every N months; a month without that day (31 in April,
//!   29–31 in February) runs on its last day.
//! - `dayweekofmonth` N, Day, Week: the Week-th `Day` of every N months; Week is 1–4, and 5
//!   means the last such weekday (so "the 5th Friday" runs in every month, on its last Friday).
//! - `year` N: the anchor's month and day every N years; an anchor on 29 February runs on
//!   28 February in common years.
//!
//! For the monthly kinds the cycle starts in the anchor's month if that month's run day is not
//! before the anchor, otherwise in the next month; later runs are every N months from there.

mod calendar;
mod connect;
pub mod driver;
mod error;
#[cfg(test)]
mod tests;

use jiff::civil::{Date, DateTime, Weekday as JiffWeekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, Zoned};

pub use error::ScheduleError;

/// A day of the week (jiff's), numbered 0 = Sunday … 6 = Saturday on the wire.
pub type Weekday = JiffWeekday;

/// What a schedule repeats on. Counts (`n`) are at least 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleKind {
    /// Every `n` minutes of elapsed time from the anchor.
    Minute {
        /// Minutes between runs.
        n: u32,
    },
    /// Every `n` hours of elapsed time from the anchor.
    Hour {
        /// Hours between runs.
        n: u32,
    },
    /// Every `n` days at the anchor's local time.
    Day {
        /// Days between runs.
        n: u32,
    },
    /// Monday to Friday at the anchor's local time.
    Weekday,
    /// Every `n` weeks (Sunday-based, counted from the anchor's week) on `days`, or on the
    /// anchor's weekday when `days` is empty.
    Week {
        /// Weeks between active weeks.
        n: u32,
        /// The days to run on in an active week; empty means the anchor's weekday.
        days: Vec<Weekday>,
    },
    /// Each of `days` in every week.
    DayOfWeek {
        /// The days to run on (never empty once parsed).
        days: Vec<Weekday>,
    },
    /// Twice a month: the 1st and 15th (`first`), or the 14th and the last day.
    SemiMonth {
        /// `true` for the 1st and 15th, `false` for the 14th and the last day.
        first: bool,
    },
    /// Day `day` (1–31, clamped to the month's length) every `n` months.
    DayOfMonth {
        /// Months between runs.
        n: u32,
        /// The day of the month, 1–31.
        day: u8,
    },
    /// The `week`-th `day` (1–4, or 5 for the last) every `n` months.
    DayWeekOfMonth {
        /// Months between runs.
        n: u32,
        /// The weekday.
        day: Weekday,
        /// Which one in the month: 1–4, or 5 for the last.
        week: u8,
    },
    /// The anchor's month and day every `n` years (29 February runs on the 28th in common years).
    Year {
        /// Years between runs.
        n: u32,
    },
    /// A five-field cron expression evaluated in the schedule's zone.
    Cron(String),
}

/// A schedule: what it repeats on, its anchor and the zone its wall-clock times are read in.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// What the schedule repeats on.
    pub kind: ScheduleKind,
    /// The anchor: the earliest possible run, and where intervals are counted from.
    pub start: Timestamp,
    /// The zone whose wall clock the schedule follows (an IANA zone, e.g. `Europe/Berlin`).
    pub timezone: TimeZone,
}

/// How many candidate days [`Schedule::next_after`] tries before giving up; the search starts
/// a day before `after`, so three always suffice and the rest is margin.
const MAX_CANDIDATES: usize = 8;

impl Schedule {
    /// The first run strictly after `after`, or `None` if there is none (an unparsable cron
    /// expression, an empty day list, or a date past the year 9999).
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        match &self.kind {
            ScheduleKind::Minute { n } => self.next_interval(after, interval_nanos(*n, 60)?),
            ScheduleKind::Hour { n } => self.next_interval(after, interval_nanos(*n, 3600)?),
            ScheduleKind::Cron(pattern) => {
                let cron = connect::parse_cron(pattern).ok()?;
                // Inclusive at the anchor itself, exclusive at `after`.
                let (from, inclusive) = if after < self.start { (self.start, true) } else { (after, false) };
                let from = from.to_zoned(self.timezone.clone());
                let next = cron.find_next_occurrence(&from, inclusive).ok()?;
                Some(next.timestamp())
            }
            kind => self.next_on_calendar(kind, after),
        }
    }

    /// The next `k` runs strictly after `after`, in order (fewer if the schedule ends).
    pub fn upcoming(&self, after: Timestamp, k: usize) -> Vec<Timestamp> {
        let mut runs = Vec::with_capacity(k.min(64));
        let mut cursor = after;
        while runs.len() < k {
            let Some(next) = self.next_after(cursor) else { break };
            runs.push(next);
            cursor = next;
        }
        runs
    }

    /// `start + m·period` for the least `m ≥ 0` landing strictly after `after`.
    fn next_interval(&self, after: Timestamp, period: i128) -> Option<Timestamp> {
        if after < self.start {
            return Some(self.start);
        }
        let elapsed = after.as_nanosecond() - self.start.as_nanosecond();
        let steps = elapsed / period + 1;
        Timestamp::from_nanosecond(self.start.as_nanosecond() + steps * period).ok()
    }

    /// `start + m·period` for the greatest `m ≥ 0` at or before `at`.
    fn last_interval(&self, at: Timestamp, period: i128) -> Option<Timestamp> {
        if at < self.start {
            return None;
        }
        let elapsed = at.as_nanosecond() - self.start.as_nanosecond();
        Timestamp::from_nanosecond(self.start.as_nanosecond() + elapsed / period * period).ok()
    }

    /// Day-and-longer kinds: walk the candidate dates from the day before `after` (in the zone)
    /// and return the first whose wall-clock time resolves after `after`.
    fn next_on_calendar(&self, kind: &ScheduleKind, after: Timestamp) -> Option<Timestamp> {
        let anchor: Zoned = self.start.to_zoned(self.timezone.clone());
        let anchor_date = anchor.date();
        let time = anchor.time();
        let day_before = after.to_zoned(self.timezone.clone()).date().yesterday().ok()?;
        let mut from = anchor_date.max(day_before);
        for _ in 0..MAX_CANDIDATES {
            let date: Date = calendar::first_on_or_after(kind, anchor_date, from)?;
            let at = resolve_wall_clock(&self.timezone, date.to_datetime(time))?;
            if at > after && at >= self.start {
                return Some(at);
            }
            from = date.tomorrow().ok()?;
        }
        None
    }
}

/// The latest planned run in `(last_run, now]`, if any: what a catch-up should run, once, after
/// the machine was off or asleep. Runs before `last_run` or the anchor never count.
pub fn missed_since(schedule: &Schedule, last_run: Timestamp, now: Timestamp) -> Option<Timestamp> {
    if now <= last_run {
        return None;
    }
    let latest = match &schedule.kind {
        ScheduleKind::Minute { n } => schedule.last_interval(now, interval_nanos(*n, 60)?)?,
        ScheduleKind::Hour { n } => schedule.last_interval(now, interval_nanos(*n, 3600)?)?,
        ScheduleKind::Cron(pattern) => {
            let cron = connect::parse_cron(pattern).ok()?;
            let now = now.to_zoned(schedule.timezone.clone());
            cron.find_previous_occurrence(&now, true).ok()?.timestamp()
        }
        kind => {
            // The latest run is at most one period before `now`, so walking forward from there
            // visits a handful of runs however long the machine was off.
            let lookback = SignedDuration::from_hours(calendar::max_gap_days(kind).checked_mul(24)?);
            let mut cursor = now.checked_sub(lookback).unwrap_or(last_run).max(last_run);
            let mut latest = None;
            while let Some(next) = schedule.next_after(cursor).filter(|t| *t <= now) {
                latest = Some(next);
                cursor = next;
            }
            latest?
        }
    };
    (latest > last_run && latest >= schedule.start).then_some(latest)
}

/// `n` units of `unit_secs` seconds, in nanoseconds; `None` for `n == 0`.
fn interval_nanos(n: u32, unit_secs: i128) -> Option<i128> {
    (n > 0).then(|| i128::from(n) * unit_secs * 1_000_000_000)
}

/// The instant a wall-clock time names in `tz`: the first occurrence when it repeats (fall back),
/// and the end of the gap when it is skipped (spring forward).
fn resolve_wall_clock(tz: &TimeZone, wall: DateTime) -> Option<Timestamp> {
    use jiff::tz::AmbiguousOffset;
    match tz.to_ambiguous_timestamp(wall).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(wall).ok(),
        // The offset in force before the change is the larger one, so it names the earlier instant.
        AmbiguousOffset::Fold { before, .. } => before.to_timestamp(wall).ok(),
        AmbiguousOffset::Gap { before, .. } => {
            // Read with the old offset the time lands just past the transition; the transition
            // itself is the first instant the clock shows a valid time again.
            let past_gap = before.to_timestamp(wall).ok()?;
            tz.preceding(past_gap).next().map(|transition| transition.timestamp())
        }
    }
}
