//! The call-record CSV (`edge-csv`): every field of a [`CallRecord`], one column per
//! `calls` column, so that `cdr-import export` then `cdr-import --format edge-csv`
//! gives back identical records, keys, sources and revisions included.
//!
//! Layout: comma-separated, UTF-8, a header row with the column names below (in any
//! order; extra columns such as a reject file's `line` and `reason` are ignored).
//! Enums are written by name (`edge`/`import`, `inbound`/`outbound`, `answered`...),
//! `emergency` as 0/1, times as milliseconds since the epoch (UTC), absent values as
//! empty fields. Records are imported as they are: numbers are not normalised again,
//! only checked to be as the edge writes them (a text that reads as a number is in
//! its E.164 or short-code form; other texts, kept as presented by the edge, stay),
//! and the trunk must be provisioned, with the record's customer and site its own.

use crate::draft::{Reason, RowError};
use cdr::{CallKey, CallRecord, Direction, Disposition, Source, TeamsDetails};
use provisioning::Provisioning;
use std::io::Write;

/// The columns, in the order `export` writes them.
pub const COLUMNS: [&str; 30] = [
    "call_key",
    "source_kind",
    "source_name",
    "source_file",
    "source_line",
    "trunk_id",
    "customer_id",
    "site_id",
    "direction",
    "caller",
    "callee",
    "original_called",
    "forwarding_party",
    "sip_call_id",
    "final_status",
    "disposition",
    "emergency",
    "invite_ms",
    "answer_ms",
    "end_ms",
    "billable_ms",
    "channels_in_force",
    "calls_in_progress",
    "revision",
    "teams_id",
    "teams_user",
    "teams_call_type",
    "teams_sbc_fqdn",
    "teams_duration_ms",
    "end_reason",
];

fn opt<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// A record's fields in [`COLUMNS`] order.
pub fn to_fields(record: &CallRecord) -> Vec<String> {
    let (kind, name, file, line) = match &record.source {
        Source::Edge { node } => ("edge", node.clone(), String::new(), String::new()),
        Source::Import { format, file, line } => (
            "import",
            format.to_string(),
            file.to_string(),
            line.to_string(),
        ),
    };
    let teams = record.teams.clone().unwrap_or_default();
    vec![
        record.key.to_string(),
        kind.into(),
        name,
        file,
        line,
        record.trunk_id.clone(),
        record.customer_id.clone(),
        opt(record.site_id.as_ref()),
        match record.direction {
            Direction::Inbound => "inbound".into(),
            Direction::Outbound => "outbound".into(),
        },
        record.caller.clone(),
        record.callee.clone(),
        opt(record.original_called.as_ref()),
        opt(record.forwarding_party.as_ref()),
        record.sip_call_id.clone(),
        opt(record.final_status),
        record.disposition.as_str().into(),
        u8::from(record.emergency).to_string(),
        record.invite_ms.to_string(),
        opt(record.answer_ms),
        record.end_ms.to_string(),
        record.billable_ms.to_string(),
        opt(record.channels_in_force),
        opt(record.calls_in_progress),
        record.revision.to_string(),
        teams.id,
        teams.user_principal_name,
        teams.call_type,
        teams.sbc_fqdn,
        opt(teams.duration_ms),
        opt(record.end_reason.as_ref()),
    ]
}

/// Where each of [`COLUMNS`] is in a header.
///
/// # Errors
/// The columns the header lacks (the `teams_` ones and `end_reason` may be absent:
/// files exported before they existed).
pub fn columns(header: &[&str]) -> Result<Vec<Option<usize>>, String> {
    let found = COLUMNS
        .iter()
        .map(|c| crate::read::header_position(header, c, |h| h == *c))
        .collect::<Result<Vec<_>, _>>()?;
    let missing: Vec<&str> = COLUMNS
        .iter()
        .zip(&found)
        .filter(|(name, at)| at.is_none() && !name.starts_with("teams_") && **name != "end_reason")
        .map(|(name, _)| *name)
        .collect();
    if missing.is_empty() {
        Ok(found)
    } else {
        Err(format!(
            "the header lacks the call-record column{} {}: is this a `cdr-import export` file?",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", ")
        ))
    }
}

/// Reads a record back from a row.
///
/// # Errors
/// A field that does not read, or a record that fails its consistency check.
pub fn from_fields(columns: &[Option<usize>], fields: &[&str]) -> Result<CallRecord, RowError> {
    let get = |name: &str| -> &str {
        COLUMNS
            .iter()
            .position(|c| *c == name)
            .and_then(|i| columns[i])
            .and_then(|i| fields.get(i))
            .copied()
            .unwrap_or("")
    };
    let bad = |name: &str, expected: &str| {
        RowError::new(
            Reason::BadValue,
            format!("{name}: {:?} is not {expected}", get(name)),
        )
    };
    let number = |name: &str| -> Result<u64, RowError> {
        get(name).parse().map_err(|_| bad(name, "a whole number"))
    };
    let optional = |name: &str| -> Result<Option<u64>, RowError> {
        match get(name) {
            "" => Ok(None),
            text => text
                .parse()
                .map(Some)
                .map_err(|_| bad(name, "a whole number or empty")),
        }
    };
    let text = |name: &str| get(name).to_string();
    let optional_text = |name: &str| Some(text(name)).filter(|s| !s.is_empty());
    let small = |v: Option<u64>, name: &str| -> Result<Option<u32>, RowError> {
        v.map(|v| u32::try_from(v).map_err(|_| bad(name, "a 32-bit number")))
            .transpose()
    };
    let key = CallKey::parse(get("call_key"))
        .map_err(|e| RowError::new(Reason::BadValue, format!("call_key: {e}")))?;
    let source = match get("source_kind") {
        "edge" => Source::Edge {
            node: text("source_name"),
        },
        "import" => Source::Import {
            format: text("source_name").into(),
            file: text("source_file").into(),
            line: number("source_line")?,
        },
        _ => return Err(bad("source_kind", "edge or import")),
    };
    let direction = match get("direction") {
        "inbound" => Direction::Inbound,
        "outbound" => Direction::Outbound,
        _ => return Err(bad("direction", "inbound or outbound")),
    };
    let disposition = Disposition::ALL
        .into_iter()
        .find(|d| d.as_str() == get("disposition"))
        .ok_or_else(|| bad("disposition", "a disposition name (answered, busy, ...)"))?;
    let emergency = match get("emergency") {
        "0" => false,
        "1" => true,
        _ => return Err(bad("emergency", "0 or 1")),
    };
    let final_status = optional("final_status")?
        .map(|v| u16::try_from(v).map_err(|_| bad("final_status", "a SIP status")))
        .transpose()?;
    let teams = optional_text("teams_id").map(|id| {
        Box::new(TeamsDetails {
            id,
            user_principal_name: text("teams_user"),
            call_type: text("teams_call_type"),
            sbc_fqdn: text("teams_sbc_fqdn"),
            duration_ms: None,
        })
    });
    let teams = match teams {
        Some(mut t) => {
            t.duration_ms = optional("teams_duration_ms")?;
            Some(t)
        }
        None => None,
    };
    if text("trunk_id").is_empty() {
        return Err(RowError::missing("trunk_id"));
    }
    let record = CallRecord {
        key,
        source,
        trunk_id: text("trunk_id"),
        customer_id: text("customer_id"),
        site_id: optional_text("site_id"),
        direction,
        caller: text("caller"),
        callee: text("callee"),
        original_called: optional_text("original_called"),
        forwarding_party: optional_text("forwarding_party"),
        sip_call_id: text("sip_call_id"),
        final_status,
        disposition,
        emergency,
        invite_ms: number("invite_ms")?,
        answer_ms: optional("answer_ms")?,
        end_ms: number("end_ms")?,
        billable_ms: number("billable_ms")?,
        channels_in_force: small(optional("channels_in_force")?, "channels_in_force")?,
        calls_in_progress: small(optional("calls_in_progress")?, "calls_in_progress")?,
        revision: u32::try_from(number("revision")?)
            .map_err(|_| bad("revision", "a 32-bit number"))?,
        teams,
        end_reason: optional_text("end_reason"),
    };
    crate::draft::check_times(record.invite_ms, record.answer_ms, record.end_ms)?;
    record
        .check()
        .map_err(|m| RowError::new(Reason::InconsistentTimes, m))?;
    Ok(record)
}

/// Checks a record read back against provisioning: its trunk exists, the customer is
/// the trunk's, the site (if any) one of the trunk's, and each number is written as
/// the edge writes it (see the module doc).
///
/// # Errors
/// [`Reason::UnknownTrunk`] or [`Reason::BadNumber`], naming the field.
pub fn check_provisioned(record: &CallRecord, provisioning: &Provisioning) -> Result<(), RowError> {
    let trunk = provisioning.trunk(&record.trunk_id).ok_or_else(|| {
        RowError::new(
            Reason::UnknownTrunk,
            format!("trunk {:?} is not provisioned", record.trunk_id),
        )
    })?;
    if record.customer_id != trunk.customer_id() {
        return Err(RowError::new(
            Reason::UnknownTrunk,
            format!(
                "customer_id {:?} is not the customer of trunk {} ({})",
                record.customer_id,
                trunk.id(),
                trunk.customer_id()
            ),
        ));
    }
    if let Some(site) = &record.site_id {
        if trunk.site(site).is_none() {
            return Err(RowError::new(
                Reason::UnknownTrunk,
                format!("site_id {site:?} is not a site of trunk {}", trunk.id()),
            ));
        }
    }
    let numbers = [
        ("caller", Some(&record.caller)),
        ("callee", Some(&record.callee)),
        ("original_called", record.original_called.as_ref()),
        ("forwarding_party", record.forwarding_party.as_ref()),
    ];
    for (field, text) in numbers {
        let Some(text) = text else { continue };
        if let Ok(number) = number_portability::parse(text) {
            let written = number.to_string();
            if written != *text {
                return Err(RowError::new(
                    Reason::BadNumber,
                    format!("{field}: {text:?} is not written as the edge writes it ({written})"),
                ));
            }
        }
    }
    Ok(())
}

/// Writes records as call-record CSV.
pub struct EdgeCsvWriter<W: Write> {
    inner: csv::Writer<W>,
}

impl<W: Write> EdgeCsvWriter<W> {
    /// Starts a file: writes the header.
    ///
    /// # Errors
    /// Write errors.
    pub fn new(out: W) -> csv::Result<Self> {
        let mut inner = csv::Writer::from_writer(out);
        inner.write_record(COLUMNS)?;
        Ok(EdgeCsvWriter { inner })
    }

    /// Writes one record.
    ///
    /// # Errors
    /// Write errors.
    pub fn write(&mut self, record: &CallRecord) -> csv::Result<()> {
        self.inner.write_record(to_fields(record))
    }

    /// Flushes and returns the output.
    ///
    /// # Errors
    /// Write errors.
    pub fn finish(self) -> Result<W, String> {
        self.inner.into_inner().map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::edge_record;

    fn round_trip(record: &CallRecord) -> Result<CallRecord, RowError> {
        let mut writer = EdgeCsvWriter::new(Vec::new()).unwrap();
        writer.write(record).unwrap();
        let bytes = writer.finish().unwrap();
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        let cols = columns(&header).unwrap();
        let row = reader.records().next().unwrap().unwrap();
        let fields: Vec<&str> = row.iter().collect();
        from_fields(&cols, &fields)
    }

    #[test]
    fn every_field_survives_export_and_import() {
        let mut record = edge_record(1);
        assert_eq!(round_trip(&record).unwrap(), record);
        record.teams = Some(Box::new(TeamsDetails {
            id: "t,1".into(),
            user_principal_name: "alice@contoso.fr".into(),
            call_type: "ByotOutUserForwarding".into(),
            sbc_fqdn: "sbc.contoso.fr".into(),
            duration_ms: Some(60_000),
        }));
        record.forwarding_party = Some("alice@contoso.fr".into());
        record.original_called = Some("+33140000009".into());
        record.source = Source::Import {
            format: "teams-json".into(),
            file: "a \"b\".json".into(),
            line: 7,
        };
        record.revision = 3;
        record.final_status = None;
        record.channels_in_force = None;
        record.end_reason = Some("operator noc-alice: suspected hacking, ticket 42".into());
        assert_eq!(round_trip(&record).unwrap(), record);
    }

    #[test]
    fn bad_fields_are_named() {
        let header: Vec<&str> = COLUMNS.to_vec();
        let cols = columns(&header).unwrap();
        let mut fields = to_fields(&edge_record(2));
        fields[8] = "sideways".into();
        let refs: Vec<&str> = fields.iter().map(String::as_str).collect();
        let err = from_fields(&cols, &refs).unwrap_err();
        assert!(err.message.contains("direction: \"sideways\""), "{err}");
        let err = columns(&header[1..]).unwrap_err();
        assert!(
            err.contains("lacks the call-record column call_key"),
            "{err}"
        );
        assert!(
            columns(&header[..24]).is_ok(),
            "files without the teams_ columns still read"
        );
        assert!(
            columns(&header[..29]).is_ok(),
            "files without end_reason still read"
        );
    }
}
