//! The history of every number and port request: `numbers/journal.csv`, append-only.
//!
//! One row per change of a number or block (subject `+33145233100` or
//! `+33145233100..+33145233199`) and per transition of a port request (subject
//! `PI-2026-0001`):
//!
//! ```text
//! time,actor,action,subject,from,to,date,customer,trunk,site,request,reason
//! 2026-01-05T09:12:00Z,alice,assign,+33145233100..+33145233199,available,assigned,2026-01-05,acme,acme-multisite,paris-hq,,order 4411
//! 2026-02-02T10:00:00Z,bob,port_in.submit,PI-2026-0001,draft,submitted,2026-02-02,acme,,,,
//! ```
//!
//! - `time`: when the change was recorded (UTC, RFC 3339); `date`: the Paris date
//!   it takes effect (the command's `--date`, today by default);
//! - `actor`: who made it (the command's `--actor`, the login name by default);
//! - `action`: `add`, `reserve`, `assign`, `release`, `return`, or
//!   `port_in.<transition>` / `port_out.<transition>`;
//! - `from`, `to`: the states before and after (`from` is empty for a number that
//!   was not in the inventory, `to` is empty for one that left it);
//! - `customer`, `trunk`, `site`: the holder after the change (before it, when the
//!   number left); `request`: the port request involved; `reason`: why (free text,
//!   or a rejection code and its details).
//!
//! Nothing ever rewrites a row. The journal is read only for history and checks:
//! [`crate::inventory::Inventory::load`] does not need it.

use std::path::Path;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use provisioning::{ErrorKind, ProvisioningError, ProvisioningErrors};

use super::block::NumberBlock;
use super::files::{read_csv, Row};
use crate::number::E164;

/// The journal, relative to the provisioning directory.
pub const JOURNAL_FILE: &str = "numbers/journal.csv";

/// The journal's columns, in file order.
pub const JOURNAL_COLUMNS: [&str; 12] = [
    "time", "actor", "action", "subject", "from", "to", "date", "customer", "trunk", "site",
    "request", "reason",
];

/// One change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalRecord {
    /// When it was recorded.
    pub time: DateTime<Utc>,
    /// Who made it.
    pub actor: String,
    /// What was done: `assign`, `port_in.submit`...
    pub action: String,
    /// The number, block or request changed.
    pub subject: String,
    /// State before (empty: not in the inventory, or a new request).
    pub from: String,
    /// State after (empty: left the inventory).
    pub to: String,
    /// The Paris date the change takes effect.
    pub date: NaiveDate,
    /// Holder customer.
    pub customer: String,
    /// Holder trunk.
    pub trunk: String,
    /// Holder site.
    pub site: String,
    /// The port request involved.
    pub request: String,
    /// Why.
    pub reason: String,
    /// The subject as a block, when it is one (parsed once).
    block: Option<NumberBlock>,
}

impl JournalRecord {
    /// A record; `subject` is parsed as a block when it is one.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        time: DateTime<Utc>,
        actor: &str,
        action: &str,
        subject: &str,
        from: &str,
        to: &str,
        date: NaiveDate,
        holder: [&str; 3],
        request: &str,
        reason: &str,
    ) -> JournalRecord {
        JournalRecord {
            time,
            actor: actor.to_owned(),
            action: action.to_owned(),
            subject: subject.to_owned(),
            from: from.to_owned(),
            to: to.to_owned(),
            date,
            customer: holder[0].to_owned(),
            trunk: holder[1].to_owned(),
            site: holder[2].to_owned(),
            request: request.to_owned(),
            reason: reason.to_owned(),
            block: subject
                .starts_with('+')
                .then(|| NumberBlock::parse(subject).ok())
                .flatten(),
        }
    }

    /// The subject as a number block; `None` for a request row.
    pub fn block(&self) -> Option<NumberBlock> {
        self.block
    }

    /// The row as written in `journal.csv` ([`JOURNAL_COLUMNS`]).
    pub fn to_row(&self) -> Vec<String> {
        vec![
            self.time.to_rfc3339_opts(SecondsFormat::Secs, true),
            self.actor.clone(),
            self.action.clone(),
            self.subject.clone(),
            self.from.clone(),
            self.to.clone(),
            self.date.to_string(),
            self.customer.clone(),
            self.trunk.clone(),
            self.site.clone(),
            self.request.clone(),
            self.reason.clone(),
        ]
    }

    fn from_row(row: &Row, errors: &mut Vec<ProvisioningError>) -> Option<JournalRecord> {
        let mut bad = |field: &str, message: String| {
            errors.push(ProvisioningError::new(
                ErrorKind::InvalidValue,
                JOURNAL_FILE,
                Some(row.line),
                "",
                field,
                message,
            ));
        };
        let time = match DateTime::parse_from_rfc3339(row.get(0)) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => {
                bad(
                    "time",
                    format!(
                        "{:?} is not a time (expected e.g. 2026-01-05T09:12:00Z)",
                        row.get(0)
                    ),
                );
                None
            }
        };
        let date = match NaiveDate::parse_from_str(row.get(6), "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => {
                bad(
                    "date",
                    format!("{:?} is not a date (expected YYYY-MM-DD)", row.get(6)),
                );
                None
            }
        };
        for (i, field) in [(2, "action"), (3, "subject")] {
            if row.get(i).is_empty() {
                bad(field, "empty".into());
                return None;
            }
        }
        let subject = row.get(3);
        if subject.starts_with('+') {
            if let Err(e) = NumberBlock::parse(subject) {
                bad("subject", e);
                return None;
            }
        }
        Some(JournalRecord::new(
            time?,
            row.get(1),
            row.get(2),
            subject,
            row.get(4),
            row.get(5),
            date?,
            [row.get(7), row.get(8), row.get(9)],
            row.get(10),
            row.get(11),
        ))
    }
}

/// The journal, read from `numbers/journal.csv`.
#[derive(Debug, Clone, Default)]
pub struct Journal {
    records: Vec<JournalRecord>,
}

impl Journal {
    /// Reads `<provisioning_dir>/numbers/journal.csv`; an absent file is an empty
    /// journal.
    ///
    /// # Errors
    ///
    /// Every bad row, with its line and column.
    pub fn load(provisioning_dir: &Path) -> Result<Journal, ProvisioningErrors> {
        let path = provisioning_dir.join(JOURNAL_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Journal::default()),
            Err(e) => {
                return Err(ProvisioningErrors::new(vec![ProvisioningError::new(
                    ErrorKind::Io,
                    JOURNAL_FILE,
                    None,
                    "",
                    "",
                    format!("cannot read {}: {e}", path.display()),
                )]))
            }
        };
        let mut errors = Vec::new();
        let rows = read_csv(
            JOURNAL_FILE,
            &bytes,
            &JOURNAL_COLUMNS,
            &JOURNAL_COLUMNS,
            &mut errors,
        );
        let records = rows
            .iter()
            .filter_map(|r| JournalRecord::from_row(r, &mut errors))
            .collect();
        if errors.is_empty() {
            Ok(Journal { records })
        } else {
            Err(ProvisioningErrors::new(errors))
        }
    }

    /// Every record, oldest first.
    pub fn records(&self) -> &[JournalRecord] {
        &self.records
    }

    /// The history of a number: records of every block holding it, oldest first.
    pub fn of_number(&self, number: E164) -> impl Iterator<Item = &JournalRecord> + '_ {
        self.records
            .iter()
            .filter(move |r| r.block.is_some_and(|b| b.contains(&number)))
    }

    /// The history of a block: records of every block sharing a number with it.
    pub fn of_block(&self, block: NumberBlock) -> impl Iterator<Item = &JournalRecord> + '_ {
        self.records
            .iter()
            .filter(move |r| r.block.is_some_and(|b| b.overlaps(&block)))
    }

    /// The history of a port request: its own transitions and the number changes
    /// it made.
    pub fn of_request<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a JournalRecord> + 'a {
        self.records
            .iter()
            .filter(move |r| r.subject == id || r.request == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_and_bad_rows_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("numbers")).unwrap();
        let t = DateTime::parse_from_rfc3339("2026-01-05T09:12:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let d = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
        let r = JournalRecord::new(
            t,
            "alice",
            "assign",
            "+33145233100..+33145233199",
            "available",
            "assigned",
            d,
            ["acme", "acme-multisite", "paris-hq"],
            "",
            "order 4411, urgent",
        );
        let path = dir.path().join(JOURNAL_FILE);
        super::super::files::append_csv(&path, &JOURNAL_COLUMNS, &[r.to_row()]).unwrap();
        let j = Journal::load(dir.path()).unwrap();
        assert_eq!(j.records(), std::slice::from_ref(&r));
        let n = E164::parse("+33145233142").unwrap();
        assert_eq!(j.of_number(n).count(), 1);
        assert_eq!(j.of_request("PI-1").count(), 0);

        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("yesterday,bob,assign,+3314523310x,,,2026-13-01,,,,,\n");
        std::fs::write(&path, text).unwrap();
        let errors: Vec<String> = Journal::load(dir.path())
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(
            errors[0].starts_with("numbers/journal.csv:3: time: \"yesterday\""),
            "{errors:?}"
        );
        assert!(
            errors[1].starts_with("numbers/journal.csv:3: date: \"2026-13-01\""),
            "{errors:?}"
        );
        assert!(
            errors[2].starts_with("numbers/journal.csv:3: subject:"),
            "{errors:?}"
        );
    }
}
