//! The French working-day calendar that porting dates are counted in.
//!
//! A working day (jour ouvrable in the inter-operator portability process) is
//! Monday to Friday, except the eleven national public holidays of the Code du
//! travail (art. L3133-1): 1 January, Easter Monday, 1 May, 8 May, Ascension
//! Thursday (Easter + 39 days), Whit Monday (Easter + 50), 14 July, 15 August,
//! 1 November, 11 November and 25 December. Easter is computed with the Gregorian
//! computus (the anonymous "Meeus/Jones/Butcher" algorithm). Local days off
//! (Alsace-Moselle's Good Friday and 26 December, the overseas abolition days) are
//! not national: add them with [`BusinessCalendar::with_extra_holidays`] (the
//! `extra_holidays` setting) when the provider's porting desk observes them.

use std::collections::BTreeSet;

use chrono::{Datelike, Days, NaiveDate, Weekday};

/// Easter Sunday of a Gregorian year; `None` outside chrono's date range.
pub fn easter_sunday(year: i32) -> Option<NaiveDate> {
    let a = year.rem_euclid(19);
    let b = year.div_euclid(100);
    let c = year.rem_euclid(100);
    let d = b.div_euclid(4);
    let e = b.rem_euclid(4);
    let f = (b + 8).div_euclid(25);
    let g = (b - f + 1).div_euclid(3);
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let i = c.div_euclid(4);
    let k = c.rem_euclid(4);
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l).div_euclid(451);
    let n = h + l - 7 * m + 114;
    NaiveDate::from_ymd_opt(year, (n / 31) as u32, (n % 31 + 1) as u32)
}

/// The French national public holidays of a year, in date order, with their
/// French names.
pub fn french_public_holidays(year: i32) -> Vec<(NaiveDate, &'static str)> {
    let fixed = |m, d| NaiveDate::from_ymd_opt(year, m, d);
    let easter = |days: u64| easter_sunday(year).and_then(|e| e.checked_add_days(Days::new(days)));
    let mut days: Vec<(NaiveDate, &'static str)> = [
        (fixed(1, 1), "Jour de l'an"),
        (easter(1), "Lundi de Pâques"),
        (fixed(5, 1), "Fête du travail"),
        (fixed(5, 8), "Victoire 1945"),
        (easter(39), "Ascension"),
        (easter(50), "Lundi de Pentecôte"),
        (fixed(7, 14), "Fête nationale"),
        (fixed(8, 15), "Assomption"),
        (fixed(11, 1), "Toussaint"),
        (fixed(11, 11), "Armistice 1918"),
        (fixed(12, 25), "Noël"),
    ]
    .into_iter()
    .filter_map(|(d, name)| Some((d?, name)))
    .collect();
    days.sort();
    days
}

/// Working days: Monday to Friday minus French public holidays and any extra days
/// off.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BusinessCalendar {
    extra: BTreeSet<NaiveDate>,
}

impl BusinessCalendar {
    /// The national calendar.
    pub fn french() -> BusinessCalendar {
        BusinessCalendar::default()
    }

    /// The national calendar plus `days` off.
    pub fn with_extra_holidays(days: impl IntoIterator<Item = NaiveDate>) -> BusinessCalendar {
        BusinessCalendar {
            extra: days.into_iter().collect(),
        }
    }

    /// Why `date` is not a working day (`"Sunday"`, `"Lundi de Pâques"`, `"day
    /// off"`), or `None` when it is one.
    pub fn day_off(&self, date: NaiveDate) -> Option<&'static str> {
        match date.weekday() {
            Weekday::Sat => return Some("Saturday"),
            Weekday::Sun => return Some("Sunday"),
            _ => {}
        }
        if let Some((_, name)) = french_public_holidays(date.year())
            .into_iter()
            .find(|(d, _)| *d == date)
        {
            return Some(name);
        }
        self.extra
            .contains(&date)
            .then_some("day off (extra_holidays)")
    }

    /// True for Monday to Friday, not a holiday.
    pub fn is_business_day(&self, date: NaiveDate) -> bool {
        self.day_off(date).is_none()
    }

    /// The first working day on or after `date`.
    pub fn on_or_after(&self, date: NaiveDate) -> NaiveDate {
        let mut d = date;
        // At most a long weekend plus holidays: bounded by the extra days.
        while !self.is_business_day(d) {
            match d.succ_opt() {
                Some(next) => d = next,
                None => break,
            }
        }
        d
    }

    /// The working day `n` working days after `date` (`date` itself is not
    /// counted: one working day after a Friday is the next Monday, or Tuesday
    /// when Monday is a holiday).
    pub fn add_business_days(&self, date: NaiveDate, n: u32) -> NaiveDate {
        let mut d = date;
        let mut left = n;
        while left > 0 {
            match d.succ_opt() {
                Some(next) => d = next,
                None => break,
            }
            if self.is_business_day(d) {
                left -= 1;
            }
        }
        d
    }

    /// How many working days lie after `from` up to and including `to` (0 when `to`
    /// is not after `from`).
    pub fn business_days_between(&self, from: NaiveDate, to: NaiveDate) -> u32 {
        let mut count = 0;
        let mut d = from;
        while d < to {
            match d.succ_opt() {
                Some(next) => d = next,
                None => break,
            }
            if self.is_business_day(d) {
                count += 1;
            }
        }
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn easter_dates() {
        // Published dates, including the earliest (22 March) and latest (25 April)
        // possible ones.
        for (year, m, day) in [
            (2019, 4, 21),
            (2024, 3, 31),
            (2025, 4, 20),
            (2026, 4, 5),
            (2027, 3, 28),
            (2038, 4, 25),
            (2285, 3, 22),
            (1818, 3, 22),
            (2000, 4, 23),
        ] {
            assert_eq!(easter_sunday(year), Some(d(year, m, day)), "{year}");
        }
    }

    #[test]
    fn holidays_of_2026() {
        let days: Vec<NaiveDate> = french_public_holidays(2026)
            .into_iter()
            .map(|(d, _)| d)
            .collect();
        assert_eq!(
            days,
            [
                d(2026, 1, 1),
                d(2026, 4, 6),
                d(2026, 5, 1),
                d(2026, 5, 8),
                d(2026, 5, 14),
                d(2026, 5, 25),
                d(2026, 7, 14),
                d(2026, 8, 15),
                d(2026, 11, 1),
                d(2026, 11, 11),
                d(2026, 12, 25),
            ]
        );
    }

    #[test]
    fn working_days() {
        let cal = BusinessCalendar::french();
        assert!(cal.is_business_day(d(2026, 4, 3))); // Good Friday: not national
        assert_eq!(cal.day_off(d(2026, 4, 6)), Some("Lundi de Pâques"));
        assert_eq!(cal.day_off(d(2026, 4, 4)), Some("Saturday"));
        assert_eq!(cal.day_off(d(2026, 5, 14)), Some("Ascension"));
        // Friday 3 April 2026 + 1 working day: Monday is Easter Monday.
        assert_eq!(cal.add_business_days(d(2026, 4, 3), 1), d(2026, 4, 7));
        // Wednesday 13 May + 1: Thursday 14 is Ascension, Friday 15.
        assert_eq!(cal.add_business_days(d(2026, 5, 13), 1), d(2026, 5, 15));
        // Across Christmas 2026: Thu 24 Dec + 3 = Mon 28, Tue 29, Wed 30.
        assert_eq!(cal.add_business_days(d(2026, 12, 24), 3), d(2026, 12, 30));
        assert_eq!(cal.add_business_days(d(2026, 12, 24), 0), d(2026, 12, 24));
        assert_eq!(cal.on_or_after(d(2026, 4, 4)), d(2026, 4, 7));
        assert_eq!(cal.on_or_after(d(2026, 4, 7)), d(2026, 4, 7));
        assert_eq!(cal.business_days_between(d(2026, 4, 3), d(2026, 4, 10)), 4);
        assert_eq!(cal.business_days_between(d(2026, 4, 10), d(2026, 4, 3)), 0);
    }

    #[test]
    fn extra_days_off() {
        let cal = BusinessCalendar::with_extra_holidays([d(2026, 12, 24)]);
        assert_eq!(
            cal.day_off(d(2026, 12, 24)),
            Some("day off (extra_holidays)")
        );
        assert_eq!(cal.add_business_days(d(2026, 12, 23), 1), d(2026, 12, 28));
        assert!(!cal.is_business_day(d(2026, 12, 24)));
    }

    #[test]
    fn extremes_do_not_panic() {
        let cal = BusinessCalendar::french();
        let _ = cal.add_business_days(NaiveDate::MAX, 3);
        let _ = cal.on_or_after(NaiveDate::MAX);
        let _ = easter_sunday(i32::MAX);
        let _ = french_public_holidays(i32::MIN);
    }
}
