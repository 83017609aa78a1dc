//! The Europe/Paris calendar that provisioning dates are written in.
//!
//! Every date in the provisioning files (a channel change, a tariff's
//! `effective_from`, a suspension given as a date) means 00:00 Europe/Paris on that
//! day, and instants are compared with it in UTC. These two functions are the only
//! place where that conversion is made, so that every component draws day
//! boundaries at the same instant.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Offset, TimeZone, Utc};
use chrono_tz::Europe::Paris;

/// The Paris calendar date of an instant.
///
/// ```
/// use chrono::{NaiveDate, TimeZone, Utc};
/// // 22:30 UTC on 15 October is 00:30 on 16 October in Paris (summer time, UTC+2).
/// let t = Utc.with_ymd_and_hms(2026, 10, 15, 22, 30, 0).unwrap();
/// assert_eq!(provisioning::paris_date(t), NaiveDate::from_ymd_opt(2026, 10, 16).unwrap());
/// ```
pub fn paris_date(instant: DateTime<Utc>) -> NaiveDate {
    let utc = instant.naive_utc();
    let offset = Paris.offset_from_utc_datetime(&utc).fix();
    // Checked so that the edges of chrono's range cannot panic.
    utc.checked_add_offset(offset).unwrap_or(utc).date()
}

/// The first instant of a Paris calendar date: 00:00 Europe/Paris, in UTC.
///
/// Midnight exists every day in France (clocks change at 02:00 and 03:00), but the
/// conversion does not rely on it: when a local time is ambiguous the earliest
/// instant is taken, and when it is skipped the first local time that exists.
pub fn paris_day_start(date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_time(NaiveTime::MIN);
    // A skipped midnight would end at most a few hours later; look minute by minute.
    for minutes in 0..=24 * 60 {
        let Some(local) = midnight.checked_add_signed(Duration::minutes(minutes)) else {
            break;
        };
        if let Some(instant) = Paris.from_local_datetime(&local).earliest() {
            return instant.with_timezone(&Utc);
        }
    }
    // Only reachable at the edges of chrono's date range: treat the date as UTC.
    Utc.from_utc_datetime(&midnight)
}

/// Parses a date written exactly `YYYY-MM-DD` (four-digit year, two-digit month and
/// day), the only date format the provisioning files accept.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    let bytes = text.as_bytes();
    let well_formed = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !well_formed {
        return None;
    }
    let year = text.get(0..4)?.parse().ok()?;
    let month = text.get(5..7)?.parse().ok()?;
    let day = text.get(8..10)?.parse().ok()?;
    NaiveDate::from_ymd_opt(year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn day_start_follows_summer_and_winter_time() {
        // Winter time: UTC+1.
        assert_eq!(
            paris_day_start(date(2026, 1, 15)),
            Utc.with_ymd_and_hms(2026, 1, 14, 23, 0, 0).unwrap()
        );
        // Summer time: UTC+2.
        assert_eq!(
            paris_day_start(date(2026, 10, 16)),
            Utc.with_ymd_and_hms(2026, 10, 15, 22, 0, 0).unwrap()
        );
        // The days the clocks change still start at 00:00 local time.
        assert_eq!(
            paris_day_start(date(2026, 3, 29)),
            Utc.with_ymd_and_hms(2026, 3, 28, 23, 0, 0).unwrap()
        );
        assert_eq!(
            paris_day_start(date(2026, 10, 25)),
            Utc.with_ymd_and_hms(2026, 10, 24, 22, 0, 0).unwrap()
        );
    }

    #[test]
    fn paris_date_changes_at_paris_midnight() {
        let start = paris_day_start(date(2026, 10, 16));
        assert_eq!(paris_date(start), date(2026, 10, 16));
        assert_eq!(paris_date(start - Duration::seconds(1)), date(2026, 10, 15));
    }

    #[test]
    fn parse_date_accepts_only_yyyy_mm_dd() {
        assert_eq!(parse_date("2026-10-16"), Some(date(2026, 10, 16)));
        assert_eq!(parse_date("2024-02-29"), Some(date(2024, 2, 29)));
        for bad in [
            "2026-13-01",
            "2026-02-30",
            "2025-02-29",
            "2026-1-01",
            "26-01-01",
            "2026/01/01",
            "2026-01-01T00:00:00",
            "+2026-01-01",
            "",
            "2026-０1-01",
        ] {
            assert_eq!(parse_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn extreme_dates_do_not_panic() {
        let _ = paris_day_start(NaiveDate::MAX);
        let _ = paris_day_start(NaiveDate::MIN);
        let _ = paris_date(DateTime::<Utc>::MAX_UTC);
        let _ = paris_date(DateTime::<Utc>::MIN_UTC);
    }
}
