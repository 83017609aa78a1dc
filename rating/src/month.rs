//! The billing month: a Europe/Paris calendar month.
//!
//! A call belongs to the Paris month of its INVITE. A month starts at 00:00 Paris
//! time on its first day and ends (exclusive) at 00:00 Paris time on the first day
//! of the next month, so its length in real elapsed minutes follows the clock
//! changes: 44,700 minutes in October (31 days and the hour given back), 44,580 in
//! March. Day boundaries come from [`provisioning::paris_day_start`], the one place
//! every component draws them.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};

/// An instant as Paris local time with its offset: `2026-10-25T02:30:00+01:00`.
pub fn format_paris(instant: DateTime<Utc>) -> String {
    instant
        .with_timezone(&chrono_tz::Europe::Paris)
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// [`format_paris`] of milliseconds since the epoch.
pub fn format_paris_ms(ms: u64) -> String {
    match i64::try_from(ms)
        .ok()
        .and_then(DateTime::<Utc>::from_timestamp_millis)
    {
        Some(instant) => format_paris(instant),
        None => format!("{ms} ms"),
    }
}

/// A Paris calendar month, such as `2026-10`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BillingMonth {
    first_day: NaiveDate,
}

impl BillingMonth {
    /// The month holding a Paris calendar date.
    pub fn of_date(date: NaiveDate) -> Self {
        BillingMonth {
            first_day: date.with_day(1).unwrap_or(date),
        }
    }

    /// The month of an instant (its Paris calendar date).
    pub fn of_instant(instant: DateTime<Utc>) -> Self {
        Self::of_date(provisioning::paris_date(instant))
    }

    /// The month of an instant given in milliseconds since the epoch.
    pub fn of_ms(ms: u64) -> Option<Self> {
        let instant = DateTime::<Utc>::from_timestamp_millis(i64::try_from(ms).ok()?)?;
        Some(Self::of_instant(instant))
    }

    /// The first Paris calendar day.
    pub fn first_day(&self) -> NaiveDate {
        self.first_day
    }

    /// The first day of the next month.
    pub fn next_first_day(&self) -> NaiveDate {
        self.first_day
            .checked_add_months(Months::new(1))
            .unwrap_or(NaiveDate::MAX)
    }

    /// The next month.
    pub fn next(&self) -> BillingMonth {
        BillingMonth {
            first_day: self.next_first_day(),
        }
    }

    /// The previous month.
    pub fn previous(&self) -> BillingMonth {
        BillingMonth {
            first_day: self
                .first_day
                .checked_sub_months(Months::new(1))
                .unwrap_or(NaiveDate::MIN),
        }
    }

    /// The first instant of the month: 00:00 Paris time on its first day.
    pub fn start(&self) -> DateTime<Utc> {
        provisioning::paris_day_start(self.first_day)
    }

    /// The end of the month, exclusive: 00:00 Paris time on the next month's first day.
    pub fn end(&self) -> DateTime<Utc> {
        provisioning::paris_day_start(self.next_first_day())
    }

    /// [`start`](Self::start) in milliseconds since the epoch (0 before 1970).
    pub fn start_ms(&self) -> u64 {
        u64::try_from(self.start().timestamp_millis()).unwrap_or(0)
    }

    /// [`end`](Self::end) in milliseconds since the epoch (0 before 1970).
    pub fn end_ms(&self) -> u64 {
        u64::try_from(self.end().timestamp_millis()).unwrap_or(0)
    }

    /// The number of calendar days.
    pub fn days(&self) -> u32 {
        u32::try_from((self.next_first_day() - self.first_day).num_days()).unwrap_or(0)
    }

    /// Every calendar day, in order.
    pub fn dates(&self) -> impl Iterator<Item = NaiveDate> {
        let first = self.first_day;
        (0..self.days()).filter_map(move |i| first.checked_add_days(chrono::Days::new(i.into())))
    }

    /// The real elapsed length of the month in seconds (clock changes included).
    pub fn seconds(&self) -> i64 {
        (self.end() - self.start()).num_seconds()
    }

    /// True when the instant (ms since the epoch) falls in the month.
    pub fn contains_ms(&self, ms: u64) -> bool {
        self.start_ms() <= ms && ms < self.end_ms()
    }
}

/// A month's day boundaries in milliseconds, computed once so that placing a call
/// in its Paris day is a binary search instead of a time-zone conversion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthCalendar {
    month: BillingMonth,
    /// 00:00 Paris of each day, then the end of the month.
    bounds: Vec<u64>,
}

impl MonthCalendar {
    /// The calendar of a month.
    pub fn new(month: BillingMonth) -> Self {
        let mut bounds: Vec<u64> = month
            .dates()
            .map(|d| {
                u64::try_from(provisioning::paris_day_start(d).timestamp_millis()).unwrap_or(0)
            })
            .collect();
        bounds.push(month.end_ms());
        MonthCalendar { month, bounds }
    }

    /// The month.
    pub fn month(&self) -> BillingMonth {
        self.month
    }

    /// The month's first instant, ms.
    pub fn start_ms(&self) -> u64 {
        self.bounds.first().copied().unwrap_or(0)
    }

    /// The month's end (exclusive), ms.
    pub fn end_ms(&self) -> u64 {
        self.bounds.last().copied().unwrap_or(0)
    }

    /// True when the instant falls in the month.
    pub fn contains(&self, ms: u64) -> bool {
        self.start_ms() <= ms && ms < self.end_ms()
    }

    /// The Paris date of an instant of the month; `None` outside it.
    pub fn date_of(&self, ms: u64) -> Option<NaiveDate> {
        if !self.contains(ms) {
            return None;
        }
        let day = self.bounds.partition_point(|b| *b <= ms).checked_sub(1)?;
        self.month
            .first_day()
            .checked_add_days(chrono::Days::new(day as u64))
    }
}

impl fmt::Display for BillingMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}",
            self.first_day.year(),
            self.first_day.month()
        )
    }
}

impl FromStr for BillingMonth {
    type Err = String;

    /// Parses `YYYY-MM`.
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("{text:?} is not a month (expected YYYY-MM, e.g. 2026-10)");
        let bytes = text.as_bytes();
        if bytes.len() != 7
            || bytes[4] != b'-'
            || !bytes
                .iter()
                .enumerate()
                .all(|(i, b)| i == 4 || b.is_ascii_digit())
        {
            return Err(bad());
        }
        let year: i32 = text[0..4].parse().map_err(|_| bad())?;
        let month: u32 = text[5..7].parse().map_err(|_| bad())?;
        NaiveDate::from_ymd_opt(year, month, 1)
            .map(|first_day| BillingMonth { first_day })
            .ok_or_else(bad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn month(text: &str) -> BillingMonth {
        text.parse().unwrap()
    }

    #[test]
    fn parses_and_displays_yyyy_mm() {
        assert_eq!(month("2026-10").to_string(), "2026-10");
        for bad in [
            "2026-13",
            "2026-1",
            "26-10",
            "2026/10",
            "2026-10-01",
            "",
            "２026-10",
        ] {
            assert!(bad.parse::<BillingMonth>().is_err(), "{bad:?}");
        }
        assert!("2026-00"
            .parse::<BillingMonth>()
            .unwrap_err()
            .contains("expected YYYY-MM"));
    }

    #[test]
    fn october_has_the_hour_given_back() {
        let october = month("2026-10");
        assert_eq!(october.days(), 31);
        assert_eq!(october.seconds(), 44_700 * 60);
        assert_eq!(
            october.start(),
            Utc.with_ymd_and_hms(2026, 9, 30, 22, 0, 0).unwrap()
        );
        assert_eq!(
            october.end(),
            Utc.with_ymd_and_hms(2026, 10, 31, 23, 0, 0).unwrap()
        );
        assert_eq!(month("2026-03").seconds(), 44_580 * 60);
        assert_eq!(month("2026-02").days(), 28);
    }

    #[test]
    fn a_call_belongs_to_the_paris_month_of_its_start() {
        // 23:30 UTC on 31 October is 00:30 on 1 November in Paris (winter time).
        let late = Utc.with_ymd_and_hms(2026, 10, 31, 23, 30, 0).unwrap();
        assert_eq!(BillingMonth::of_instant(late), month("2026-11"));
        // 22:30 UTC on 30 September is 00:30 on 1 October (summer time).
        let early = Utc.with_ymd_and_hms(2026, 9, 30, 22, 30, 0).unwrap();
        assert_eq!(BillingMonth::of_instant(early), month("2026-10"));
        let october = month("2026-10");
        assert!(october.contains_ms(october.start_ms()));
        assert!(!october.contains_ms(october.end_ms()));
        assert_eq!(october.next(), month("2026-11"));
        assert_eq!(month("2026-01").previous(), month("2025-12"));
        assert_eq!(october.dates().count(), 31);
    }

    #[test]
    fn the_calendar_places_instants_in_their_paris_day() {
        let october = month("2026-10");
        let calendar = MonthCalendar::new(october);
        assert_eq!(
            (calendar.start_ms(), calendar.end_ms()),
            (october.start_ms(), october.end_ms())
        );
        let at = |t: &str| DateTime::parse_from_rfc3339(t).unwrap().timestamp_millis() as u64;
        let day = |d: &str| Some(d.parse::<NaiveDate>().unwrap());
        assert_eq!(
            calendar.date_of(at("2026-10-01T00:00:00+02:00")),
            day("2026-10-01")
        );
        assert_eq!(
            calendar.date_of(at("2026-10-15T23:59:59.999+02:00")),
            day("2026-10-15")
        );
        assert_eq!(
            calendar.date_of(at("2026-10-25T02:30:00+01:00")),
            day("2026-10-25")
        );
        assert_eq!(
            calendar.date_of(at("2026-10-26T00:00:00+01:00")),
            day("2026-10-26")
        );
        assert_eq!(
            calendar.date_of(at("2026-10-31T23:59:59+01:00")),
            day("2026-10-31")
        );
        assert_eq!(calendar.date_of(at("2026-11-01T00:00:00+01:00")), None);
        assert_eq!(calendar.date_of(at("2026-09-30T23:59:59+02:00")), None);
        // Every instant agrees with the time-zone conversion, hour by hour.
        let mut ms = calendar.start_ms();
        while ms < calendar.end_ms() {
            let instant = DateTime::<Utc>::from_timestamp_millis(ms as i64).unwrap();
            assert_eq!(
                calendar.date_of(ms),
                Some(provisioning::paris_date(instant))
            );
            ms += 3_599_999;
        }
    }
}
