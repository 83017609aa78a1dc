//! The format-neutral row every reader produces ([`Draft`]) and its validation into a
//! [`CallRecord`]: the trunk resolves in provisioning, numbers normalise through
//! `number-portability`, times are in order, the duration agrees with them (or the
//! duration is recomputed from the times, with a note), the disposition matches the
//! answer time, and the record passes its own consistency check.
//!
//! A row that fails is a [`RowError`]: a [`Reason`] (counted in the summary) and a
//! lowercase message naming the field and the value.

use crate::number_cache::NumberCache;
use cdr::{CallKey, CallRecord, Direction, Disposition, Source, TeamsDetails};
use provisioning::Provisioning;
use std::borrow::Cow;
use std::fmt;

/// Why a row was refused; the summary counts rejects per reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// The text is not a row of the format: CSV or JSON syntax, encoding, column count.
    Malformed,
    /// A required field is absent or empty.
    MissingField,
    /// A time could not be read.
    BadTime,
    /// A local time in the hour repeated in October that nothing settles.
    AmbiguousTime,
    /// A local time in the hour skipped in March.
    NonexistentTime,
    /// Times out of order (end before answer, answer before invite...).
    InconsistentTimes,
    /// A number that does not normalise (letters, wrong length...).
    BadNumber,
    /// No provisioned trunk matches.
    UnknownTrunk,
    /// A value outside the field's known set (direction, call type, status, duration).
    BadValue,
}

impl Reason {
    /// The name used in summaries and reject files.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::MissingField => "missing_field",
            Reason::BadTime => "bad_time",
            Reason::AmbiguousTime => "ambiguous_time",
            Reason::NonexistentTime => "nonexistent_time",
            Reason::InconsistentTimes => "inconsistent_times",
            Reason::BadNumber => "bad_number",
            Reason::UnknownTrunk => "unknown_trunk",
            Reason::BadValue => "bad_value",
        }
    }
}

/// A refused row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    /// The category.
    pub reason: Reason,
    /// What is wrong, naming the field and its value.
    pub message: String,
}

impl RowError {
    /// A refusal for `reason`.
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        RowError {
            reason,
            message: message.into(),
        }
    }

    /// A required field that is absent or empty.
    pub fn missing(field: &str) -> Self {
        RowError::new(Reason::MissingField, format!("{field} is missing or empty"))
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason.as_str(), self.message)
    }
}

impl From<crate::time::TimeError> for RowError {
    fn from(error: crate::time::TimeError) -> Self {
        use crate::time::TimeError;
        match error {
            TimeError::Unreadable(m) => RowError::new(Reason::BadTime, m),
            TimeError::Nonexistent(m) => RowError::new(Reason::NonexistentTime, m),
            TimeError::Ambiguous(m) => RowError::new(Reason::AmbiguousTime, m),
        }
    }
}

/// Something worth telling about an imported row that was still imported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// Category, counted in the summary (`duration_recomputed`, `duration_disagrees`, `answered_disagrees`).
    pub code: &'static str,
    /// Details.
    pub message: String,
}

/// How a row names its trunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrunkRef<'a> {
    /// The provisioning id.
    Id(Cow<'a, str>),
    /// The SBC's TLS name (Teams `trunkFullyQualifiedDomainName`).
    TlsFqdn(Cow<'a, str>),
    /// The PBX's source address.
    SourceAddress(Cow<'a, str>),
    /// The digest user name.
    DigestUser(Cow<'a, str>),
}

/// A row read from any format, before validation. Numbers are as the source wrote
/// them; times are resolved instants.
#[derive(Clone, Debug)]
pub struct Draft<'a> {
    /// Key namespace: rows of one source share it across files and formats
    /// (`teams` for both Teams formats, `mapping:NAME` for a mapping).
    pub key_namespace: std::sync::Arc<str>,
    /// The source's identifier of the row.
    pub source_id: Cow<'a, str>,
    /// The trunk.
    pub trunk: TrunkRef<'a>,
    /// Site inside the trunk, when the source says.
    pub site_id: Option<Cow<'a, str>>,
    /// Direction.
    pub direction: Direction,
    /// Calling number as written.
    pub caller: Cow<'a, str>,
    /// Called number as written.
    pub callee: Cow<'a, str>,
    /// Originally dialled number as written, for forwarded calls.
    pub original_called: Option<Cow<'a, str>>,
    /// Forwarding party's number as written.
    pub forwarding_party: Option<Cow<'a, str>>,
    /// The source's call identifier.
    pub sip_call_id: String,
    /// Final SIP status.
    pub final_status: Option<u16>,
    /// How the attempt ended.
    pub disposition: Disposition,
    /// INVITE, ms since the epoch.
    pub invite_ms: u64,
    /// Answer, ms since the epoch.
    pub answer_ms: Option<u64>,
    /// End, ms since the epoch.
    pub end_ms: u64,
    /// Duration the source states, ms.
    pub duration_ms: Option<u64>,
    /// Teams log details.
    pub teams: Option<Box<TeamsDetails>>,
}

/// What validation needs besides the row.
pub struct Checks<'a> {
    /// Trunks and their identifiers.
    pub provisioning: &'a Provisioning,
    /// How far a stated duration may be from the times before it is recomputed.
    pub duration_tolerance_ms: u64,
}

/// Earliest time a row may carry: 2000-01-01T00:00:00Z. Earlier ones are not call
/// records' (a time in seconds read as milliseconds lands in January 1970).
pub const EARLIEST_MS: u64 = 946_684_800_000;

/// Times must be before 2106-01-01T00:00:00Z: ClickHouse's `DateTime` (the `calls`
/// table's partition and `invite_time`) ends on 2106-02-07.
pub const LATEST_MS: u64 = 4_291_747_200_000;

/// Longest call, from INVITE to end, and longest stated duration: 31 days. Longer
/// ones come from a wrong date or unit, and would be billed.
pub const LONGEST_CALL_MS: u64 = 31 * 86_400_000;

/// A time for messages: `2026-10-05T08:00:00.000Z`.
fn iso_ms(t: u64) -> String {
    chrono::DateTime::from_timestamp_millis(t as i64).map_or_else(
        || t.to_string(),
        |d| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
    )
}

/// Checks a call's times, whatever the format: each in [`EARLIEST_MS`,
/// [`LATEST_MS`]), invite ≤ answer ≤ end, at most [`LONGEST_CALL_MS`] from invite to
/// end.
///
/// # Errors
/// [`Reason::BadTime`] or [`Reason::InconsistentTimes`], naming the times.
pub fn check_times(invite_ms: u64, answer_ms: Option<u64>, end_ms: u64) -> Result<(), RowError> {
    for (name, time) in [
        ("invite", Some(invite_ms)),
        ("answer", answer_ms),
        ("end", Some(end_ms)),
    ] {
        match time {
            Some(t) if t < EARLIEST_MS => {
                return Err(RowError::new(
                    Reason::BadTime,
                    format!(
                    "{name} {} is before 2000: not a call's time (seconds read as milliseconds?)",
                    iso_ms(t)
                ),
                ))
            }
            Some(t) if t >= LATEST_MS => {
                return Err(RowError::new(
                    Reason::BadTime,
                    format!(
                        "{name} {} is after 2105, beyond what ClickHouse's DateTime holds",
                        iso_ms(t)
                    ),
                ))
            }
            _ => {}
        }
    }
    let start = answer_ms.unwrap_or(invite_ms);
    if start < invite_ms {
        return Err(RowError::new(
            Reason::InconsistentTimes,
            format!(
                "answer {} is before invite {}",
                iso_ms(start),
                iso_ms(invite_ms)
            ),
        ));
    }
    if end_ms < start {
        return Err(RowError::new(
            Reason::InconsistentTimes,
            format!(
                "end {} is before {} {}",
                iso_ms(end_ms),
                if answer_ms.is_some() {
                    "answer"
                } else {
                    "invite"
                },
                iso_ms(start)
            ),
        ));
    }
    if end_ms - invite_ms > LONGEST_CALL_MS {
        return Err(RowError::new(
            Reason::InconsistentTimes,
            format!(
                "end {} is more than 31 days after invite {}",
                iso_ms(end_ms),
                iso_ms(invite_ms)
            ),
        ));
    }
    Ok(())
}

/// Caller texts that stand for a withheld number (kept as `anonymous`).
const ANONYMOUS: [&str; 6] = [
    "anonymous",
    "restricted",
    "private",
    "unavailable",
    "unknown",
    "withheld",
];

impl Draft<'_> {
    /// Validates the row and builds its record, with a note when the stated duration
    /// was replaced by the times' one.
    ///
    /// # Errors
    /// The first problem found, see [`Reason`].
    pub fn into_record(
        self,
        checks: &Checks<'_>,
        source: Source,
    ) -> Result<(CallRecord, Option<Note>), RowError> {
        if self.source_id.trim().is_empty() {
            return Err(RowError::missing("the row id"));
        }
        // The site a source address belongs to, when the trunk was found by one.
        let mut site_of_source = None;
        let trunk = match &self.trunk {
            TrunkRef::Id(id) => checks.provisioning.trunk(id.trim()).ok_or_else(|| {
                RowError::new(
                    Reason::UnknownTrunk,
                    format!("trunk {id:?} is not provisioned"),
                )
            })?,
            TrunkRef::TlsFqdn(fqdn) => {
                // Some exports append the SIP port.
                let host = fqdn.trim();
                let host = host.rsplit_once(':').map_or(host, |(h, port)| {
                    if port.bytes().all(|b| b.is_ascii_digit()) {
                        h
                    } else {
                        host
                    }
                });
                checks.provisioning.trunk_for_tls_fqdn(host).ok_or_else(|| {
                    RowError::new(
                        Reason::UnknownTrunk,
                        format!("SBC {fqdn:?} is no provisioned trunk's TLS name (identify.tls_fqdn)"),
                    )
                })?
            }
            TrunkRef::SourceAddress(text) => {
                let ip: std::net::IpAddr = text.trim().parse().map_err(|_| {
                    RowError::new(
                        Reason::BadValue,
                        format!("source address {text:?} is not an IP address"),
                    )
                })?;
                let found = checks.provisioning.trunk_for_source(ip).ok_or_else(|| {
                    RowError::new(
                        Reason::UnknownTrunk,
                        format!("no provisioned trunk has source address {ip}"),
                    )
                })?;
                site_of_source = found.site;
                found.trunk
            }
            TrunkRef::DigestUser(user) => checks
                .provisioning
                .trunk_for_digest_user(user.trim())
                .ok_or_else(|| {
                    RowError::new(
                        Reason::UnknownTrunk,
                        format!("no provisioned trunk has digest user {user:?}"),
                    )
                })?,
        };
        let site_id = match self.site_id.filter(|s| !s.trim().is_empty()) {
            Some(site) => {
                if trunk.site(site.trim()).is_none() {
                    return Err(RowError::new(
                        Reason::UnknownTrunk,
                        format!("site {site:?} is not a site of trunk {}", trunk.id()),
                    ));
                }
                Some(site.trim().to_string())
            }
            // A site's own address places the call there, as at the edge.
            None if site_of_source.is_some() => site_of_source.map(|site| site.id().to_string()),
            // A single-site trunk's calls are that site's.
            None if trunk.sites().len() == 1 => Some(trunk.sites()[0].id().to_string()),
            None => None,
        };

        let (callee, emergency) = normalise_classified("callee", &self.callee)?;
        let withheld = self.caller.trim();
        let caller = if self.direction == Direction::Inbound
            && (withheld.is_empty() || ANONYMOUS.iter().any(|a| a.eq_ignore_ascii_case(withheld)))
        {
            "anonymous".to_string()
        } else {
            normalise("caller", &self.caller)?
        };
        let original_called = optional_number("original_called", self.original_called)?;
        let forwarding_party = optional_number("forwarding_party", self.forwarding_party)?;

        if let Some(stated) = self.duration_ms.filter(|&d| d > LONGEST_CALL_MS) {
            return Err(RowError::new(
                Reason::BadValue,
                format!(
                    "stated duration {:.0} s is longer than 31 days",
                    stated as f64 / 1000.0
                ),
            ));
        }
        check_times(self.invite_ms, self.answer_ms, self.end_ms)?;
        match (self.disposition, self.answer_ms) {
            (Disposition::Answered, None) => {
                return Err(RowError::new(
                    Reason::MissingField,
                    "answered call without an answer time",
                ))
            }
            (other, Some(_)) if other != Disposition::Answered => {
                return Err(RowError::new(
                    Reason::InconsistentTimes,
                    format!(
                        "call with disposition {} has an answer time",
                        other.as_str()
                    ),
                ))
            }
            _ => {}
        }
        let billable_ms = self.answer_ms.map_or(0, |a| self.end_ms - a);
        let note = match (self.duration_ms, self.answer_ms) {
            (Some(stated), Some(_)) if stated.abs_diff(billable_ms) > checks.duration_tolerance_ms => Some(Note {
                code: "duration_recomputed",
                message: format!(
                    "stated duration {:.3} s differs from answer-to-end {:.3} s by more than {:.3} s: the times' duration is kept",
                    stated as f64 / 1000.0,
                    billable_ms as f64 / 1000.0,
                    checks.duration_tolerance_ms as f64 / 1000.0
                ),
            }),
            _ => None,
        };
        let record = CallRecord {
            key: CallKey::for_import(&self.key_namespace, self.source_id.trim()),
            source,
            trunk_id: trunk.id().to_string(),
            customer_id: trunk.customer_id().to_string(),
            site_id,
            direction: self.direction,
            caller,
            callee,
            original_called,
            forwarding_party,
            sip_call_id: self.sip_call_id,
            final_status: self.final_status,
            disposition: self.disposition,
            emergency,
            invite_ms: self.invite_ms,
            answer_ms: self.answer_ms,
            end_ms: self.end_ms,
            billable_ms,
            channels_in_force: None,
            calls_in_progress: None,
            revision: 0,
            teams: self.teams,
            end_reason: None,
        };
        record
            .check()
            .map_err(|m| RowError::new(Reason::InconsistentTimes, m))?;
        Ok((record, note))
    }
}

/// A number in E.164 (or a national short code), through `number-portability`.
///
/// # Errors
/// [`Reason::MissingField`] when empty, [`Reason::BadNumber`] when it does not parse.
pub fn normalise(field: &str, text: &str) -> Result<String, RowError> {
    normalise_cached(field, text, false).map(|(number, _)| number)
}

thread_local! {
    static NUMBERS: std::cell::RefCell<NumberCache> = std::cell::RefCell::new(NumberCache::default());
}

/// A number normalised as [`normalise`] does, and whether it is an emergency number.
///
/// # Errors
/// As [`normalise`].
pub fn normalise_classified(field: &str, text: &str) -> Result<(String, bool), RowError> {
    normalise_cached(field, text, true)
        .map(|(number, emergency)| (number, emergency.unwrap_or(false)))
}

/// [`normalise`] through the thread's [`NumberCache`]; `classify` also tells whether
/// the number is an emergency number.
fn normalise_cached(
    field: &str,
    text: &str,
    classify: bool,
) -> Result<(String, Option<bool>), RowError> {
    if text.trim().is_empty() {
        return Err(RowError::missing(field));
    }
    let known = NUMBERS.with(|cache| {
        cache
            .borrow_mut()
            .get(text, classify)
            .map(|known| (known.normalised.to_string(), known.emergency))
    });
    if let Some(known) = known {
        return Ok(known);
    }
    let number = number_portability::parse(text).map_err(|e| {
        // Teams admin settings and some switches hide a number's last digits.
        let message = if is_masked(text) {
            format!(
                "{field}: {text:?} is masked (digits replaced by *): billing needs the whole number, export the log unmasked"
            )
        } else {
            format!("{field}: {e}")
        };
        RowError::new(Reason::BadNumber, message)
    })?;
    let normalised = number.to_string();
    let emergency = classify.then(|| number_portability::classify(&number).is_emergency);
    NUMBERS.with(|cache| cache.borrow_mut().put(text, &normalised, emergency));
    Ok((normalised, emergency))
}

/// Whether a number's last digits are hidden: `+33612345***`, `+3361234XXXX`.
fn is_masked(text: &str) -> bool {
    let text = text.trim_end();
    let hidden = text
        .chars()
        .rev()
        .take_while(|c| matches!(c, '*' | 'X' | 'x'))
        .count();
    text.ends_with('*')
        || (hidden >= 2 && text[..text.len() - hidden].ends_with(|c: char| c.is_ascii_digit()))
}

fn optional_number(field: &str, text: Option<Cow<'_, str>>) -> Result<Option<String>, RowError> {
    match text {
        Some(t) if !t.trim().is_empty() => normalise(field, &t).map(Some),
        _ => Ok(None),
    }
}

/// The disposition a final SIP status stands for (see `cdr::Disposition`).
pub fn disposition_for_status(status: u16) -> Disposition {
    match status {
        200..=299 => Disposition::Answered,
        486 | 600 => Disposition::Busy,
        408 | 480 => Disposition::NoAnswer,
        487 => Disposition::Cancelled,
        _ => Disposition::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{provisioning, utc};

    fn draft() -> Draft<'static> {
        Draft {
            key_namespace: "test".into(),
            source_id: "row-1".into(),
            trunk: TrunkRef::Id("acme-multisite".into()),
            site_id: None,
            direction: Direction::Outbound,
            caller: "01 40 00 00 00".into(),
            callee: "0612345678".into(),
            original_called: None,
            forwarding_party: None,
            sip_call_id: "c1".into(),
            final_status: Some(200),
            disposition: Disposition::Answered,
            invite_ms: utc("2026-10-05T08:00:00Z"),
            answer_ms: Some(utc("2026-10-05T08:00:05Z")),
            end_ms: utc("2026-10-05T08:01:05Z"),
            duration_ms: Some(60_000),
            teams: None,
        }
    }

    fn build(d: Draft) -> Result<(CallRecord, Option<Note>), RowError> {
        let p = provisioning();
        let checks = Checks {
            provisioning: &p,
            duration_tolerance_ms: 2_000,
        };
        d.into_record(
            &checks,
            Source::Import {
                format: "t".into(),
                file: "f".into(),
                line: 3,
            },
        )
    }

    #[test]
    fn a_good_row_becomes_a_normalised_record() {
        let (record, note) = build(draft()).unwrap();
        assert_eq!(note, None);
        assert_eq!(record.caller, "+33140000000");
        assert_eq!(record.callee, "+33612345678");
        assert_eq!(record.customer_id, "acme");
        assert_eq!(record.billable_ms, 60_000);
        assert_eq!(record.key, CallKey::for_import("test", "row-1"));
        assert!(!record.emergency);
    }

    #[test]
    fn each_problem_has_its_reason() {
        type Change = Box<dyn Fn(&mut Draft)>;
        let cases: Vec<(Change, Reason, &str)> = vec![
            (
                Box::new(|d| d.callee = "0800 FLEURS".into()),
                Reason::BadNumber,
                "letter 'F'",
            ),
            (
                Box::new(|d| d.callee = "".into()),
                Reason::MissingField,
                "callee",
            ),
            (
                Box::new(|d| d.trunk = TrunkRef::Id("nope".into())),
                Reason::UnknownTrunk,
                "\"nope\"",
            ),
            (
                Box::new(|d| d.trunk = TrunkRef::TlsFqdn("sbc.unknown.fr".into())),
                Reason::UnknownTrunk,
                "sbc.unknown.fr",
            ),
            (
                Box::new(|d| d.end_ms = d.invite_ms + 1_000),
                Reason::InconsistentTimes,
                "end 2026-10-05T08:00:01.000Z is before answer",
            ),
            (
                Box::new(|d| d.answer_ms = None),
                Reason::MissingField,
                "answer time",
            ),
            (
                Box::new(|d| d.disposition = Disposition::Busy),
                Reason::InconsistentTimes,
                "busy",
            ),
            (
                Box::new(|d| {
                    // A unix time in seconds read as milliseconds.
                    d.invite_ms = 1_791_187_200;
                    d.answer_ms = None;
                    d.end_ms = d.invite_ms;
                    d.disposition = Disposition::Busy;
                }),
                Reason::BadTime,
                "invite 1970-01-21T17:33:07.200Z is before 2000",
            ),
            (
                Box::new(|d| d.end_ms = utc("9999-12-31T23:59:00Z")),
                Reason::BadTime,
                "end 9999-12-31T23:59:00.000Z is after 2105",
            ),
            (
                Box::new(|d| d.end_ms = utc("2026-12-07T08:01:05Z")),
                Reason::InconsistentTimes,
                "end 2026-12-07T08:01:05.000Z is more than 31 days after invite",
            ),
            (
                Box::new(|d| d.duration_ms = Some(LONGEST_CALL_MS + 1_000)),
                Reason::BadValue,
                "stated duration 2678401 s is longer than 31 days",
            ),
            (
                Box::new(|d| d.site_id = Some("mars".into())),
                Reason::UnknownTrunk,
                "mars",
            ),
        ];
        for (change, reason, phrase) in cases {
            let mut d = draft();
            change(&mut d);
            let err = build(d).unwrap_err();
            assert_eq!(err.reason, reason, "{err}");
            assert!(err.message.contains(phrase), "{err} lacks {phrase}");
        }
    }

    #[test]
    fn a_duration_beyond_the_tolerance_is_recomputed_with_a_note() {
        let mut d = draft();
        d.duration_ms = Some(61_500);
        assert_eq!(build(d).unwrap().1, None);
        let mut d = draft();
        d.duration_ms = Some(90_000);
        let (record, note) = build(d).unwrap();
        assert_eq!(record.billable_ms, 60_000);
        assert_eq!(note.unwrap().code, "duration_recomputed");
    }

    #[test]
    fn a_site_address_places_the_call_at_its_site() {
        let at = |address: &str| {
            let mut d = draft();
            d.trunk = TrunkRef::SourceAddress(address.to_string().into());
            build(d).unwrap().0
        };
        let lyon = at("127.0.0.22");
        assert_eq!(lyon.trunk_id, "acme-multisite");
        assert_eq!(lyon.site_id.as_deref(), Some("lyon"));
        assert_eq!(at("127.0.0.21").site_id.as_deref(), Some("paris-hq"));
        // The trunk's own block, claimed by no site: the site stays unknown.
        assert_eq!(at("127.0.0.23").site_id, None);
        // A site column still wins over the address.
        let mut d = draft();
        d.trunk = TrunkRef::SourceAddress("127.0.0.22".into());
        d.site_id = Some("paris-hq".into());
        assert_eq!(build(d).unwrap().0.site_id.as_deref(), Some("paris-hq"));
    }

    #[test]
    fn a_masked_number_is_refused_as_masked() {
        let mut d = draft();
        d.callee = "+33612345***".into();
        let err = build(d).unwrap_err();
        assert_eq!(err.reason, Reason::BadNumber);
        assert!(err.message.contains("masked"), "{err}");
        let mut d = draft();
        d.callee = "+3361234XXXX".into();
        assert!(build(d).unwrap_err().message.contains("masked"));
        let mut d = draft();
        d.callee = "0800 FLEURS X".into();
        let err = build(d).unwrap_err();
        assert!(
            !err.message.contains("masked"),
            "letters, not a mask: {err}"
        );
    }

    #[test]
    fn withheld_inbound_callers_and_emergency_callees() {
        let mut d = draft();
        d.direction = Direction::Inbound;
        d.caller = "Anonymous".into();
        assert_eq!(build(d).unwrap().0.caller, "anonymous");
        let mut d = draft();
        d.caller = "Anonymous".into();
        assert_eq!(
            build(d).unwrap_err().reason,
            Reason::BadNumber,
            "outbound callers must be numbers"
        );
        let mut d = draft();
        d.callee = "112".into();
        assert!(build(d).unwrap().0.emergency);
        let mut d = draft();
        d.trunk = TrunkRef::TlsFqdn("SBC.contoso.fr:5061".into());
        let record = build(d).unwrap().0;
        assert_eq!(record.trunk_id, "contoso-teams");
        assert_eq!(
            record.site_id.as_deref(),
            Some("la-defense"),
            "single-site trunk"
        );
    }
}
