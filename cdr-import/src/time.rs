//! Reading times from foreign records: ISO 8601 with offsets (Teams), Unix
//! timestamps, and local wall-clock times in a named zone (other switches, usually
//! Europe/Paris) with the daylight-saving changes handled.
//!
//! A local time is turned into candidate instants: one normally, none in the hour
//! skipped in March (an error: that time never existed), two in the hour repeated in
//! October; a stated UTC offset picks one of them and must be one the zone has then.
//! A row's times are resolved together ([`resolve_row`]): of every combination of
//! candidates (times written alike always taking the same one), only those with
//! invite ≤ answer ≤ end are kept, then,
//! when the source states a duration, those agreeing with it, then, when the row
//! states its start's offset, those keeping that offset. One combination left means
//! the row is exact; several (a call entirely inside the repeated hour) are settled
//! by the mapping's `ambiguous` policy, `reject` by default.

use chrono::{DateTime, LocalResult, NaiveDateTime, Offset, TimeZone};
use chrono_tz::Tz;

/// How a time column is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimeFormat {
    /// RFC 3339 / ISO 8601 with an offset (`2026-10-05T08:30:12.123Z`).
    Rfc3339,
    /// Seconds since the Unix epoch, decimals allowed.
    UnixSeconds,
    /// Milliseconds since the Unix epoch.
    UnixMillis,
    /// A chrono `strftime` pattern; with `%z`/`%:z` the text carries its offset,
    /// otherwise it is a wall-clock time in the mapping's zone.
    Pattern(Pattern),
}

/// A `strftime` pattern compiled once (parsing the pattern for every value costs more
/// than parsing the value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    items: Vec<chrono::format::Item<'static>>,
    with_offset: bool,
    /// The pattern's fixed-width layout when it is made only of zero-padded `%Y %m %d
    /// %H %M %S` (each once) and literal text: a value of exactly that shape is read
    /// without chrono's general parser; any other value still goes through chrono.
    fixed: Option<FixedLayout>,
}

/// Where a fixed-width pattern puts each field and literal byte, so that a value is
/// read with straight-line code (a loop over the pattern's pieces cost a branch
/// mispredicted on nearly every piece).
#[derive(Clone, Debug, PartialEq, Eq)]
struct FixedLayout {
    len: usize,
    /// Offsets of the year (4 digits), month, day, hour, minute and second (2 each).
    fields: [usize; 6],
    /// Literal bytes with their offsets.
    literals: Vec<(usize, u8)>,
}

/// A piece of a fixed-width pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Piece {
    Literal(u8),
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
}

impl Piece {
    fn width(self) -> usize {
        match self {
            Piece::Literal(_) => 1,
            Piece::Year => 4,
            _ => 2,
        }
    }
}

/// The fixed-width layout of a pattern's items, if it has one (see [`Pattern`]).
fn fixed_layout(items: &[chrono::format::Item<'_>]) -> Option<FixedLayout> {
    let pieces = fixed_pieces(items)?;
    let mut layout = FixedLayout {
        len: 0,
        fields: [0; 6],
        literals: Vec::new(),
    };
    for piece in pieces {
        let field = match piece {
            Piece::Literal(byte) => {
                layout.literals.push((layout.len, byte));
                None
            }
            Piece::Year => Some(0),
            Piece::Month => Some(1),
            Piece::Day => Some(2),
            Piece::Hour => Some(3),
            Piece::Minute => Some(4),
            Piece::Second => Some(5),
        };
        if let Some(field) = field {
            layout.fields[field] = layout.len;
        }
        layout.len += piece.width();
    }
    Some(layout)
}

/// The fixed-width form of a pattern's items, if it has one (see [`Pattern`]).
fn fixed_pieces(items: &[chrono::format::Item<'_>]) -> Option<Vec<Piece>> {
    use chrono::format::{Item, Numeric, Pad};
    let mut pieces = Vec::new();
    for item in items {
        match item {
            Item::Literal(text) | Item::Space(text) if text.is_ascii() => {
                pieces.extend(text.bytes().map(Piece::Literal))
            }
            Item::OwnedLiteral(text) | Item::OwnedSpace(text) if text.is_ascii() => {
                pieces.extend(text.bytes().map(Piece::Literal))
            }
            Item::Numeric(numeric, Pad::Zero) => pieces.push(match numeric {
                Numeric::Year => Piece::Year,
                Numeric::Month => Piece::Month,
                Numeric::Day => Piece::Day,
                Numeric::Hour => Piece::Hour,
                Numeric::Minute => Piece::Minute,
                Numeric::Second => Piece::Second,
                _ => return None,
            }),
            _ => return None,
        }
    }
    let fields = [
        Piece::Year,
        Piece::Month,
        Piece::Day,
        Piece::Hour,
        Piece::Minute,
        Piece::Second,
    ];
    fields
        .iter()
        .all(|f| pieces.iter().filter(|p| *p == f).count() == 1)
        .then_some(pieces)
}

/// Reads `value` with fixed-width `pieces`; `None` when it is not exactly of that
/// shape or not a valid date and time (chrono then decides, with its messages).
fn parse_fixed(layout: &FixedLayout, value: &str) -> Option<NaiveDateTime> {
    let bytes = value.as_bytes();
    if bytes.len() != layout.len
        || layout
            .literals
            .iter()
            .any(|&(at, expected)| bytes[at] != expected)
    {
        return None;
    }
    let digit = |at: usize| {
        let d = bytes[at].wrapping_sub(b'0');
        (d < 10).then_some(u32::from(d))
    };
    let two = |at: usize| Some(digit(at)? * 10 + digit(at + 1)?);
    let [y, mo, d, h, mi, se] = layout.fields;
    let year = two(y)? * 100 + two(y + 2)?;
    // A leap second (60) is left to chrono.
    chrono::NaiveDate::from_ymd_opt(year as i32, two(mo)?, two(d)?)?.and_hms_opt(
        two(h)?,
        two(mi)?,
        two(se)?,
    )
}

impl Pattern {
    /// Compiles a pattern.
    ///
    /// # Errors
    /// A pattern chrono does not understand.
    pub fn new(text: &str) -> Result<Pattern, String> {
        let items = chrono::format::StrftimeItems::new(text)
            .parse_to_owned()
            .map_err(|_| format!("{text:?} is not a valid chrono pattern"))?;
        Ok(Pattern {
            text: text.to_string(),
            with_offset: text.contains("%z") || text.contains("%:z") || text.contains("%#z"),
            fixed: fixed_layout(&items),
            items,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn parse(&self, value: &str) -> Option<chrono::format::Parsed> {
        let mut parsed = chrono::format::Parsed::new();
        chrono::format::parse(&mut parsed, value, self.items.iter()).ok()?;
        Some(parsed)
    }
}

impl TimeFormat {
    /// Reads the mapping's `time.format`: `rfc3339`, `unix`, `unix_ms` or a pattern.
    ///
    /// # Errors
    /// A pattern that is not a valid chrono pattern.
    pub fn from_setting(text: &str) -> Result<TimeFormat, String> {
        Ok(match text {
            "rfc3339" | "iso8601" => TimeFormat::Rfc3339,
            "unix" => TimeFormat::UnixSeconds,
            "unix_ms" => TimeFormat::UnixMillis,
            pattern => TimeFormat::Pattern(Pattern::new(pattern)?),
        })
    }

    /// Whether times in this format are wall-clock times, which need a zone or a
    /// UTC offset to be placed (a pattern without `%z`).
    pub fn is_wall_clock(&self) -> bool {
        matches!(self, TimeFormat::Pattern(p) if !p.with_offset)
    }
}

/// What to do with a row whose times stay ambiguous (inside October's repeated hour).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ambiguous {
    /// Refuse the row (the default): the time cannot be known.
    Reject,
    /// The first occurrence (summer time, UTC+2 in Paris).
    Earlier,
    /// The second occurrence (winter time, UTC+1 in Paris).
    Later,
}

/// A time that could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimeError {
    /// Not in the expected format, or a UTC offset the zone never has at that time.
    Unreadable(String),
    /// A wall-clock time skipped by the spring change.
    Nonexistent(String),
    /// Still ambiguous after the row's other times and duration were considered.
    Ambiguous(String),
}

/// One instant, or the two of a wall-clock time in a repeated hour (earlier first),
/// in milliseconds since the epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Instants {
    values: [u64; 2],
    len: usize,
}

impl Instants {
    fn one(ms: u64) -> Self {
        Instants {
            values: [ms, 0],
            len: 1,
        }
    }
}

impl std::ops::Deref for Instants {
    type Target = [u64];

    fn deref(&self) -> &[u64] {
        &self.values[..self.len]
    }
}

impl PartialEq<Vec<u64>> for Instants {
    fn eq(&self, other: &Vec<u64>) -> bool {
        **self == **other
    }
}

/// The UTC offset of the last local hour resolved on this thread in a zone, when that
/// whole hour has one offset: rows come roughly in time order, so most local times
/// fall in the same hour as the previous one and skip the zone's transition search.
#[derive(Clone, Copy)]
struct HourOffset {
    zone: Tz,
    /// Local milliseconds since the epoch, divided by an hour.
    hour: i64,
    offset_ms: i64,
}

thread_local! {
    static LAST_HOUR: std::cell::Cell<Option<HourOffset>> = const { std::cell::Cell::new(None) };
}

/// The instants of wall-clock time `local` in `zone`.
fn zone_instants(text: &str, local: NaiveDateTime, zone: Tz) -> Result<Instants, TimeError> {
    let local_ms = local.and_utc().timestamp_millis();
    let hour = local_ms.div_euclid(3_600_000);
    let cached = LAST_HOUR.with(|last| last.get());
    let to_instant = |ms: i64| {
        u64::try_from(ms).map_err(|_| TimeError::Unreadable(format!("{text:?} is before 1970")))
    };
    if let Some(last) = cached.filter(|c| c.zone == zone && c.hour == hour) {
        return Ok(Instants::one(to_instant(local_ms - last.offset_ms)?));
    }
    let result = match zone.from_local_datetime(&local) {
        LocalResult::Single(t) => Instants::one(to_instant(t.timestamp_millis())?),
        LocalResult::Ambiguous(a, b) => {
            let mut values = [
                to_instant(a.timestamp_millis())?,
                to_instant(b.timestamp_millis())?,
            ];
            values.sort_unstable();
            Instants { values, len: 2 }
        }
        LocalResult::None => {
            return Err(TimeError::Nonexistent(format!(
                "{text:?} does not exist in {zone} (the clocks skip that hour in spring)"
            )))
        }
    };
    // Remember the hour's offset when its first and last millisecond share it (zones
    // change offset at most once within an hour).
    let start = chrono::DateTime::from_timestamp_millis(hour * 3_600_000).map(|t| t.naive_utc());
    let end = chrono::DateTime::from_timestamp_millis(hour * 3_600_000 + 3_599_999)
        .map(|t| t.naive_utc());
    if let (Some(start), Some(end)) = (start, end) {
        if let (LocalResult::Single(a), LocalResult::Single(b)) = (
            zone.from_local_datetime(&start),
            zone.from_local_datetime(&end),
        ) {
            let offset_ms = hour * 3_600_000 - a.timestamp_millis();
            if offset_ms == hour * 3_600_000 + 3_599_999 - b.timestamp_millis() {
                LAST_HOUR.with(|last| {
                    last.set(Some(HourOffset {
                        zone,
                        hour,
                        offset_ms,
                    }))
                });
            }
        }
    }
    Ok(result)
}

/// The instants a time text may stand for, in milliseconds since the epoch (one, or
/// two in a repeated hour). A wall-clock time is read in `zone`; `offset`, when the
/// source states this time's UTC offset in a separate column, picks the one instant
/// and must be an offset `zone` has at that wall-clock time. Without a zone (`None`)
/// the offset alone places the time.
///
/// # Errors
/// Unreadable text, a local time that does not exist in `zone`, an offset `zone` does
/// not have at that time, or a wall-clock time with neither zone nor offset.
pub fn candidates(
    text: &str,
    format: &TimeFormat,
    zone: Option<Tz>,
    offset: Option<chrono::FixedOffset>,
) -> Result<Instants, TimeError> {
    let text = text.trim();
    let unreadable = |expected: &str| {
        TimeError::Unreadable(format!("{text:?} is not a time (expected {expected})"))
    };
    let instant = |ms: i64| -> Result<Instants, TimeError> {
        u64::try_from(ms)
            .map(Instants::one)
            .map_err(|_| TimeError::Unreadable(format!("{text:?} is before 1970")))
    };
    match format {
        TimeFormat::Rfc3339 => match parse_rfc3339(text) {
            Some(ms) => instant(ms),
            None => Err(unreadable(
                "ISO 8601 with an offset, e.g. 2026-10-05T08:30:12Z",
            )),
        },
        TimeFormat::UnixSeconds => match text.parse::<f64>() {
            Ok(secs) if secs.is_finite() && secs >= 0.0 => instant((secs * 1000.0).round() as i64),
            _ => Err(unreadable("seconds since 1970")),
        },
        TimeFormat::UnixMillis => match text.parse::<i64>() {
            Ok(ms) => instant(ms),
            Err(_) => Err(unreadable("milliseconds since 1970")),
        },
        TimeFormat::Pattern(pattern) if pattern.with_offset => {
            match pattern.parse(text).and_then(|p| p.to_datetime().ok()) {
                Some(t) => instant(t.timestamp_millis()),
                None => Err(unreadable(pattern.as_str())),
            }
        }
        TimeFormat::Pattern(pattern) => {
            let fast = pattern
                .fixed
                .as_ref()
                .and_then(|layout| parse_fixed(layout, text));
            let local: NaiveDateTime = match fast {
                Some(local) => local,
                None => pattern
                    .parse(text)
                    .and_then(|p| Some(p.to_naive_date().ok()?.and_time(p.to_naive_time().ok()?)))
                    .ok_or_else(|| unreadable(pattern.as_str()))?,
            };
            let at_offset = match offset {
                Some(offset) => match offset.from_local_datetime(&local) {
                    LocalResult::Single(t) => Some(instant(t.timestamp_millis())?),
                    _ => return Err(unreadable(pattern.as_str())),
                },
                None => None,
            };
            match (zone, at_offset) {
                (Some(zone), Some(stated)) => {
                    let in_zone = zone_instants(text, local, zone)?;
                    if in_zone.contains(&stated[0]) {
                        Ok(stated)
                    } else {
                        Err(wrong_offset(text, offset, zone, &in_zone))
                    }
                }
                (Some(zone), None) => zone_instants(text, local, zone),
                (None, Some(stated)) => Ok(stated),
                (None, None) => Err(TimeError::Unreadable(format!(
                    "{text:?} has no UTC offset and the mapping has no zone"
                ))),
            }
        }
    }
}

/// The refusal of a stated UTC offset that `zone` does not have at wall-clock time
/// `text` (a winter offset on a summer date, say): naming the offsets it does have.
fn wrong_offset(
    text: &str,
    stated: Option<chrono::FixedOffset>,
    zone: Tz,
    in_zone: &[u64],
) -> TimeError {
    let offsets: Vec<String> = in_zone
        .iter()
        .filter_map(|&ms| {
            let instant = DateTime::from_timestamp_millis(i64::try_from(ms).ok()?)?;
            Some(instant.with_timezone(&zone).offset().fix().to_string())
        })
        .collect();
    let stated = stated.map_or_else(String::new, |o| o.to_string());
    TimeError::Unreadable(format!(
        "UTC offset {stated} does not exist in {zone} at {text:?} (it is {} there)",
        offsets.join(" or ")
    ))
}

/// Reads ISO 8601 with an offset, also with a space instead of `T`.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let text = text.trim();
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_rfc3339(&text.replacen(' ', "T", 1)))
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Reads a UTC offset column: `+02:00`, `+0200`, `+02`, `Z`, `UTC`, or the Paris
/// abbreviations `CEST` (+2) and `CET` (+1).
pub fn parse_offset(text: &str) -> Option<chrono::FixedOffset> {
    let text = text.trim();
    let secs = match text.to_ascii_uppercase().as_str() {
        "Z" | "UTC" | "GMT" => 0,
        "CET" => 3600,
        "CEST" => 7200,
        _ => {
            let (sign, rest) = match text.as_bytes().first()? {
                b'+' => (1, &text[1..]),
                b'-' => (-1, &text[1..]),
                _ => return None,
            };
            let digits: String = rest.chars().filter(|c| *c != ':').collect();
            if !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let (hours, minutes) = match digits.len() {
                2 => (digits.parse::<i32>().ok()?, 0),
                4 => (
                    digits[..2].parse::<i32>().ok()?,
                    digits[2..].parse::<i32>().ok()?,
                ),
                _ => return None,
            };
            sign * (hours * 3600 + minutes * 60)
        }
    };
    chrono::FixedOffset::east_opt(secs)
}

/// The resolved times of a row, milliseconds since the epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowTimes {
    /// INVITE.
    pub invite: u64,
    /// Answer, when there is one.
    pub answer: Option<u64>,
    /// End, when the source gives one.
    pub end: Option<u64>,
}

/// One of a row's times as the source wrote it, with the instants it may stand for.
#[derive(Clone, Copy, Debug)]
pub struct FieldTime<'a> {
    /// The field's text (trimmed): times with the same text are the same instant.
    pub text: &'a str,
    /// Its candidates ([`candidates`]).
    pub instants: &'a [u64],
    /// The candidate that the row's stated UTC offset gives it, if any: preferred when
    /// order and duration leave several (a call is taken not to cross the change of
    /// offset unless its times say so).
    pub at_row_offset: Option<u64>,
}

/// Picks one instant for each of a row's times (see the module doc). Times written
/// with the same text (one column mapped to two fields, as Kamailio's `start_time` is
/// both invite and answer, or two cells alike) always take the same candidate: they
/// are one moment, not two readings of a repeated hour.
///
/// # Errors
/// [`TimeError::Ambiguous`] when several combinations remain and the policy is
/// `reject`. A row whose times cannot be ordered at all is returned in its earliest
/// combination: the caller's consistency check refuses it with the actual times.
pub fn resolve_row(
    invite: FieldTime<'_>,
    answer: Option<FieldTime<'_>>,
    end: Option<FieldTime<'_>>,
    duration_ms: Option<u64>,
    tolerance_ms: u64,
    policy: Ambiguous,
    describe: &dyn Fn() -> String,
) -> Result<RowTimes, TimeError> {
    let same_text = |a: Option<FieldTime<'_>>, b: Option<FieldTime<'_>>| matches!((a, b), (Some(a), Some(b)) if a.text == b.text);
    let answer_is_invite = same_text(answer, Some(invite));
    let end_is_invite = same_text(end, Some(invite));
    let end_is_answer = same_text(end, answer);
    let at_row_offset = (
        invite.at_row_offset,
        answer.and_then(|a| a.at_row_offset),
        end.and_then(|e| e.at_row_offset),
    );
    let keeps_row_offset = |t: &RowTimes| {
        at_row_offset.0.is_none_or(|p| t.invite == p)
            && at_row_offset.1.is_none_or(|p| t.answer == Some(p))
            && at_row_offset.2.is_none_or(|p| t.end == Some(p))
    };
    let (invite, answer, end) = (
        invite.instants,
        answer.map(|a| a.instants),
        end.map(|e| e.instants),
    );
    // One candidate per time (every time outside October's repeated hour).
    if let ([invite], None | Some([_]), None | Some([_])) = (invite, answer, end) {
        return Ok(RowTimes {
            invite: *invite,
            answer: answer.map(|a| a[0]),
            end: end.map(|e| e[0]),
        });
    }
    let one = [None];
    let answers: Vec<Option<u64>> = match answer {
        Some(list) => list.iter().copied().map(Some).collect(),
        None => one.to_vec(),
    };
    let ends: Vec<Option<u64>> = match end {
        Some(list) => list.iter().copied().map(Some).collect(),
        None => one.to_vec(),
    };
    let mut all = Vec::new();
    for &i in invite {
        for &a in &answers {
            for &e in &ends {
                let linked_apart = (answer_is_invite && a != Some(i))
                    || (end_is_invite && e != Some(i))
                    || (end_is_answer && e != a);
                if linked_apart {
                    continue;
                }
                all.push(RowTimes {
                    invite: i,
                    answer: a,
                    end: e,
                });
            }
        }
    }
    // Empty only when times of the same text were given different candidates.
    let Some(&earliest) = all.first() else {
        return Err(TimeError::Unreadable(format!(
            "{}: times written alike were read as different instants",
            describe()
        )));
    };
    if all.len() == 1 {
        return Ok(earliest);
    }
    let ordered: Vec<RowTimes> = all
        .iter()
        .copied()
        .filter(|t| {
            let start = t.answer.unwrap_or(t.invite);
            t.invite <= start && t.end.is_none_or(|e| start <= e)
        })
        .collect();
    let mut remaining = ordered.clone();
    if let Some(duration) = duration_ms {
        let agreeing: Vec<RowTimes> = ordered
            .iter()
            .copied()
            .filter(|t| match (t.answer, t.end) {
                (Some(a), Some(e)) => (e - a).abs_diff(duration) <= tolerance_ms,
                (None, Some(e)) => (e - t.invite).abs_diff(duration) <= tolerance_ms,
                _ => true,
            })
            .collect();
        if !agreeing.is_empty() {
            remaining = agreeing;
        }
    }
    remaining.sort_by_key(|t| (t.invite, t.answer, t.end));
    remaining.dedup();
    if remaining.len() > 1 && remaining.iter().any(keeps_row_offset) {
        remaining.retain(keeps_row_offset);
    }
    match remaining.len() {
        0 => Ok(earliest),
        1 => Ok(remaining[0]),
        _ => match policy {
            Ambiguous::Earlier => Ok(remaining[0]),
            Ambiguous::Later => Ok(remaining[remaining.len() - 1]),
            Ambiguous::Reject => Err(TimeError::Ambiguous(format!(
                "{} falls in the hour repeated when summer time ends, and the row's other times do not tell which: add a UTC offset column or set time.ambiguous = \"earlier\" or \"later\" in the mapping",
                describe()
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARIS: Tz = chrono_tz::Europe::Paris;

    fn local(text: &str) -> Result<Vec<u64>, TimeError> {
        candidates(
            text,
            &TimeFormat::from_setting("%Y-%m-%d %H:%M:%S").unwrap(),
            Some(PARIS),
            None,
        )
        .map(|i| i.to_vec())
    }

    fn field<'a>(text: &'a str, instants: &'a [u64]) -> FieldTime<'a> {
        FieldTime {
            text,
            instants,
            at_row_offset: None,
        }
    }

    fn utc(text: &str) -> u64 {
        parse_rfc3339(text).unwrap() as u64
    }

    #[test]
    fn the_repeated_october_hour_gives_two_instants() {
        assert_eq!(
            local("2026-10-25 02:30:00").unwrap(),
            vec![utc("2026-10-25T00:30:00Z"), utc("2026-10-25T01:30:00Z")]
        );
        assert_eq!(
            local("2026-10-25 03:30:00").unwrap(),
            vec![utc("2026-10-25T02:30:00Z")]
        );
    }

    #[test]
    fn the_skipped_march_hour_is_an_error() {
        let err = local("2026-03-29 02:30:00").unwrap_err();
        assert!(
            matches!(&err, TimeError::Nonexistent(m) if m.contains("does not exist in Europe/Paris")),
            "{err:?}"
        );
    }

    #[test]
    fn an_offset_column_settles_the_repeated_hour() {
        let plus1 = parse_offset("+01:00");
        let got = candidates(
            "2026-10-25 02:30:00",
            &TimeFormat::from_setting("%Y-%m-%d %H:%M:%S").unwrap(),
            Some(PARIS),
            plus1,
        )
        .unwrap();
        assert_eq!(got, vec![utc("2026-10-25T01:30:00Z")]);
        assert_eq!(parse_offset("CEST"), chrono::FixedOffset::east_opt(7200));
        assert_eq!(parse_offset("+0100"), chrono::FixedOffset::east_opt(3600));
        assert_eq!(
            parse_offset("-05"),
            chrono::FixedOffset::east_opt(-5 * 3600)
        );
        assert_eq!(parse_offset("later"), None);
    }

    #[test]
    fn a_call_across_the_change_is_exact_from_its_order_and_duration() {
        // Answered 02:50 (summer time), ended 02:10 (winter time) 20 minutes later.
        let answer = local("2026-10-25 02:50:00").unwrap();
        let end = local("2026-10-25 02:10:00").unwrap();
        let answer = field("02:50", &answer);
        let end = field("02:10", &end);
        let got = resolve_row(
            answer,
            Some(answer),
            Some(end),
            None,
            2_000,
            Ambiguous::Reject,
            &|| "x".into(),
        )
        .unwrap();
        assert_eq!(got.invite, utc("2026-10-25T00:50:00Z"));
        assert_eq!(got.end, Some(utc("2026-10-25T01:10:00Z")));
        // Both in the repeated hour, 10 minutes apart: the duration decides nothing...
        let start = local("2026-10-25 02:05:00").unwrap();
        let end = local("2026-10-25 02:15:00").unwrap();
        let (start, end) = (field("02:05", &start), field("02:15", &end));
        let err = resolve_row(
            start,
            Some(start),
            Some(end),
            Some(600_000),
            2_000,
            Ambiguous::Reject,
            &|| "answer 02:05".into(),
        )
        .unwrap_err();
        assert!(
            matches!(&err, TimeError::Ambiguous(m) if m.contains("answer 02:05") && m.contains("time.ambiguous"))
        );
        // ...unless the policy says which.
        let later = resolve_row(
            start,
            Some(start),
            Some(end),
            Some(600_000),
            2_000,
            Ambiguous::Later,
            &|| "x".into(),
        )
        .unwrap();
        assert_eq!(later.invite, utc("2026-10-25T01:05:00Z"));
        let earlier = resolve_row(
            start,
            Some(start),
            Some(end),
            Some(600_000),
            2_000,
            Ambiguous::Earlier,
            &|| "x".into(),
        )
        .unwrap();
        assert_eq!(earlier.end, Some(utc("2026-10-25T00:15:00Z")));
        // A 70-minute call from 02:05 to 02:15: only summer-to-winter fits.
        let exact = resolve_row(
            start,
            Some(start),
            Some(end),
            Some(4_200_000),
            2_000,
            Ambiguous::Reject,
            &|| "x".into(),
        )
        .unwrap();
        assert_eq!(exact.invite, utc("2026-10-25T00:05:00Z"));
        assert_eq!(exact.end, Some(utc("2026-10-25T01:15:00Z")));
    }

    #[test]
    fn times_written_alike_take_the_same_candidate() {
        // Kamailio's start_time is both invite and answer: 02:30 twice, then 03:10
        // (one meaning) 40 minutes later fixes the start at the second 02:30.
        let start = local("2026-10-25 02:30:00").unwrap();
        let end = local("2026-10-25 03:10:00").unwrap();
        let (start, end) = (field("02:30", &start), field("03:10", &end));
        let got = resolve_row(
            start,
            Some(start),
            Some(end),
            Some(2_400_000),
            2_000,
            Ambiguous::Reject,
            &|| "x".into(),
        )
        .unwrap();
        assert_eq!(got.invite, utc("2026-10-25T01:30:00Z"));
        assert_eq!(got.answer, Some(got.invite));
        assert_eq!(got.end, Some(utc("2026-10-25T02:10:00Z")));
        // A one-minute call from the last seconds of the repeated hour.
        let start = local("2026-10-25 02:59:30").unwrap();
        let end = local("2026-10-25 03:00:30").unwrap();
        let (start, end) = (field("02:59:30", &start), field("03:00:30", &end));
        let got = resolve_row(
            start,
            Some(start),
            Some(end),
            Some(60_000),
            2_000,
            Ambiguous::Reject,
            &|| "x".into(),
        )
        .unwrap();
        assert_eq!(got.invite, utc("2026-10-25T01:59:30Z"));
        assert_eq!(got.answer, Some(got.invite));
        // Wholly inside the hour, a policy picks one occurrence for both fields.
        let inside = local("2026-10-25 02:10:00").unwrap();
        let inside = field("02:10", &inside);
        let end = local("2026-10-25 02:20:00").unwrap();
        let end = field("02:20", &end);
        for policy in [Ambiguous::Earlier, Ambiguous::Later] {
            let got = resolve_row(
                inside,
                Some(inside),
                Some(end),
                Some(600_000),
                2_000,
                policy,
                &|| "x".into(),
            )
            .unwrap();
            assert_eq!(got.answer, Some(got.invite), "{policy:?}");
            assert_eq!(got.end.map(|e| e - got.invite), Some(600_000), "{policy:?}");
        }
    }

    #[test]
    fn a_stated_offset_must_be_one_the_zone_has_then() {
        let format = TimeFormat::from_setting("%Y-%m-%d %H:%M:%S").unwrap();
        let read = |text: &str, zone: Option<Tz>, offset: &str| {
            candidates(text, &format, zone, parse_offset(offset)).map(|i| i.to_vec())
        };
        // A winter offset on a summer date.
        let err = read("2026-10-12 10:00:00", Some(PARIS), "+01:00").unwrap_err();
        assert!(
            matches!(&err, TimeError::Unreadable(m) if m.contains("+01:00 does not exist in Europe/Paris") && m.contains("+02:00")),
            "{err:?}"
        );
        assert_eq!(
            read("2026-10-12 10:00:00", Some(PARIS), "+02:00").unwrap(),
            vec![utc("2026-10-12T08:00:00Z")]
        );
        // Both offsets of the repeated hour are Paris's.
        assert_eq!(
            read("2026-10-25 02:30:00", Some(PARIS), "CEST").unwrap(),
            vec![utc("2026-10-25T00:30:00Z")]
        );
        // Later times of a row prefer the reading at the row's offset when order and
        // duration leave a choice.
        let answer = local("2026-10-25 02:30:05").unwrap();
        let end = local("2026-10-25 02:40:05").unwrap();
        let got = resolve_row(
            FieldTime {
                text: "02:30:00",
                instants: &[utc("2026-10-25T00:30:00Z")],
                at_row_offset: None,
            },
            Some(FieldTime {
                at_row_offset: Some(answer[0]),
                ..field("02:30:05", &answer)
            }),
            Some(FieldTime {
                at_row_offset: Some(end[0]),
                ..field("02:40:05", &end)
            }),
            Some(600_000),
            2_000,
            Ambiguous::Reject,
            &|| "x".into(),
        )
        .unwrap();
        assert_eq!(got.end, Some(utc("2026-10-25T00:40:05Z")));
        // Without a zone the offset alone places the time; with neither, nothing does.
        assert_eq!(
            read("2026-10-12 10:00:00", None, "-05:00").unwrap(),
            vec![utc("2026-10-12T15:00:00Z")]
        );
        assert!(matches!(
            candidates("2026-10-12 10:00:00", &format, None, None),
            Err(TimeError::Unreadable(_))
        ));
    }

    #[test]
    fn unix_and_iso_times_read() {
        let f = |t: &str, f: TimeFormat| candidates(t, &f, Some(PARIS), None);
        assert_eq!(
            f("1790000000.5", TimeFormat::UnixSeconds).unwrap(),
            vec![1_790_000_000_500]
        );
        assert_eq!(
            f("1790000000123", TimeFormat::UnixMillis).unwrap(),
            vec![1_790_000_000_123]
        );
        assert_eq!(
            f("2026-10-05T08:30:12.1234567+02:00", TimeFormat::Rfc3339).unwrap(),
            vec![utc("2026-10-05T06:30:12.123Z")]
        );
        let err = f("2026-10-05 08:30", TimeFormat::Rfc3339).unwrap_err();
        assert!(matches!(&err, TimeError::Unreadable(m) if m.contains("2026-10-05 08:30")));
        assert!(f("-5", TimeFormat::UnixSeconds).is_err());
    }

    #[test]
    fn the_fixed_width_reader_agrees_with_chrono() {
        let pattern = Pattern::new("%d/%m/%Y %H:%M:%S").unwrap();
        assert!(pattern.fixed.is_some());
        assert!(Pattern::new("%Y-%m-%dT%H:%M:%S%.f")
            .unwrap()
            .fixed
            .is_none());
        assert!(Pattern::new("%Y-%m-%d %H:%M").unwrap().fixed.is_none());
        let chrono_reads = |value: &str| {
            pattern
                .parse(value)
                .and_then(|p| Some(p.to_naive_date().ok()?.and_time(p.to_naive_time().ok()?)))
        };
        let pieces = pattern.fixed.as_ref().unwrap();
        for value in [
            "25/10/2026 02:30:00",
            "29/02/2028 23:59:59",
            "01/01/1999 00:00:00",
        ] {
            assert_eq!(parse_fixed(pieces, value), chrono_reads(value), "{value}");
            assert!(parse_fixed(pieces, value).is_some());
        }
        // Other shapes are left to chrono, which still reads what it can.
        for value in [
            "5/10/2026 02:30:00",
            "31/02/2026 10:00:00",
            "25-10-2026 02:30:00",
            "25/10/2026 24:00:00",
            "25/10/2026 10:00:60",
            "25/10/2O26 02:30:00",
            "25/10/2026 02:3x:00",
        ] {
            assert_eq!(parse_fixed(pieces, value), None, "{value}");
        }
        assert!(chrono_reads("5/10/2026 02:30:00").is_some());
        // The most common layout, fields in another order.
        let iso = Pattern::new("%Y-%m-%d %H:%M:%S").unwrap();
        let layout = iso.fixed.as_ref().unwrap();
        assert_eq!(
            parse_fixed(layout, "2026-10-25 02:30:07"),
            chrono::NaiveDate::from_ymd_opt(2026, 10, 25).and_then(|d| d.and_hms_opt(2, 30, 7))
        );
        assert_eq!(parse_fixed(layout, "2026-10-25T02:30:07"), None);
    }

    #[test]
    fn the_hour_offset_cache_follows_the_changes() {
        // In time order across both changes of 2026, each time as if read afresh.
        let reference = |text: &str| {
            let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap();
            match PARIS.from_local_datetime(&local) {
                LocalResult::Single(t) => Ok(vec![t.timestamp_millis() as u64]),
                LocalResult::Ambiguous(a, b) => Ok(vec![
                    a.timestamp_millis() as u64,
                    b.timestamp_millis() as u64,
                ]),
                LocalResult::None => Err(()),
            }
        };
        for text in [
            "2026-03-29 01:00:00",
            "2026-03-29 01:59:59",
            "2026-03-29 02:00:00",
            "2026-03-29 02:59:59",
            "2026-03-29 03:00:00",
            "2026-03-29 03:30:00",
            "2026-10-25 01:59:59",
            "2026-10-25 02:00:00",
            "2026-10-25 02:30:00",
            "2026-10-25 02:59:59",
            "2026-10-25 03:00:00",
            "2026-10-25 03:00:01",
            "2026-10-25 02:30:00",
        ] {
            assert_eq!(local(text).map_err(|_| ()), reference(text), "{text}");
        }
    }
}
