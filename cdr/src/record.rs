//! The call record: one per call attempt through the edge, or per imported row.
//!
//! [`CallRecord`] is the type every component builds and reads; it serialises to JSON
//! for the spool and the rejects file (readable by operators) and converts to
//! [`CallRow`], the exact shape of a row of the ClickHouse `calls` table. The meaning
//! of every field is in the crate documentation.

use crate::key::CallKey;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Where a record came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// Written by an edge node while handling the call.
    Edge {
        /// The edge node's configured id.
        node: String,
    },
    /// Loaded by `cdr-import`. The format and file are shared by every record of a
    /// file (no copy per record).
    Import {
        /// Import format, e.g. `teams-json`, `edge-csv`, `mapping:kamailio-acc`.
        format: Arc<str>,
        /// Source file name as given to the importer.
        file: Arc<str>,
        /// 1-based line (or JSON record number) in that file.
        line: u64,
    },
}

/// Direction of a call relative to the customer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the network to the customer's number.
    Inbound,
    /// From the customer's PBX or SBC to the network.
    Outbound,
}

/// How a call attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// Answered (2xx), with an answer time.
    Answered,
    /// The callee was busy (486, 600).
    Busy,
    /// Not answered: ringing timed out (408, 480, Timer C).
    NoAnswer,
    /// The caller gave up before an answer (CANCEL, 487).
    Cancelled,
    /// Any other failure (4xx-6xx not listed above, transport errors).
    Failed,
    /// Refused by the edge: the trunk (or site) had no free channel.
    RejectedNoChannel,
    /// Refused by the edge: unknown source, failed authentication, unknown number.
    RejectedUnauthorized,
    /// Refused by the edge by policy (fraud guard, blocked destination, suspended trunk).
    RejectedPolicy,
}

impl Disposition {
    /// Every disposition, in storage order (Enum8 values 1..=8).
    pub const ALL: [Disposition; 8] = [
        Disposition::Answered,
        Disposition::Busy,
        Disposition::NoAnswer,
        Disposition::Cancelled,
        Disposition::Failed,
        Disposition::RejectedNoChannel,
        Disposition::RejectedUnauthorized,
        Disposition::RejectedPolicy,
    ];

    /// The name stored in ClickHouse and used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Answered => "answered",
            Disposition::Busy => "busy",
            Disposition::NoAnswer => "no_answer",
            Disposition::Cancelled => "cancelled",
            Disposition::Failed => "failed",
            Disposition::RejectedNoChannel => "rejected_no_channel",
            Disposition::RejectedUnauthorized => "rejected_unauthorized",
            Disposition::RejectedPolicy => "rejected_policy",
        }
    }

    pub(crate) fn to_enum8(self) -> i8 {
        Disposition::ALL
            .iter()
            .position(|d| *d == self)
            .map_or(0, |i| i as i8 + 1)
    }

    fn from_enum8(value: i8) -> Result<Self, String> {
        usize::try_from(value - 1)
            .ok()
            .and_then(|i| Disposition::ALL.get(i).copied())
            .ok_or_else(|| format!("disposition value {value} is not known"))
    }
}

/// What a Microsoft Teams Direct Routing call log says about a call, kept on the
/// record for the rating rules that need it (forwarding per user, several tenants or
/// SBCs on one trunk) and for reconciliation with the edge. Set by `cdr-import` on
/// imported Teams rows and on the edge records they enrich; `None` elsewhere.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamsDetails {
    /// The log row's `id` (the enrichment's source: find the row in the Teams log).
    pub id: String,
    /// `userPrincipalName` of the Teams user who placed, received or forwarded the call.
    pub user_principal_name: String,
    /// `callType`, e.g. `ByotIn`, `ByotOut`, `ByotOutUserForwarding`, `ByotOutUserTransfer`.
    pub call_type: String,
    /// `trunkFullyQualifiedDomainName`: the SBC the call went through.
    pub sbc_fqdn: String,
    /// `duration` as Teams logged it, milliseconds (Teams logs whole seconds).
    pub duration_ms: Option<u64>,
}

/// One call attempt. Field meanings are documented in the crate doc.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    /// Stable identity, the deduplication key.
    pub key: CallKey,
    /// Edge node, or import format, file and line.
    pub source: Source,
    /// Trunk id from provisioning.
    pub trunk_id: String,
    /// Customer id from provisioning.
    pub customer_id: String,
    /// Site id inside the trunk, when known.
    pub site_id: Option<String>,
    /// Inbound or outbound.
    pub direction: Direction,
    /// Calling number, E.164 (`+33...`) when it normalises, else as presented.
    pub caller: String,
    /// Called number, E.164, or a national short code (`112`, `3949`).
    pub callee: String,
    /// Number originally dialled, when the call was forwarded.
    pub original_called: Option<String>,
    /// Who forwarded the call (the forwarding user's number), when forwarded.
    pub forwarding_party: Option<String>,
    /// SIP Call-ID of the customer-side leg (imports: the source's correlation id).
    pub sip_call_id: String,
    /// Final SIP status code sent to the caller, if any.
    pub final_status: Option<u16>,
    /// How the attempt ended.
    pub disposition: Disposition,
    /// The callee is an emergency number.
    pub emergency: bool,
    /// INVITE received, milliseconds since the Unix epoch (UTC).
    pub invite_ms: u64,
    /// Answer (2xx) time, when answered.
    pub answer_ms: Option<u64>,
    /// End of the attempt: BYE, final failure, CANCEL or refusal.
    pub end_ms: u64,
    /// Billable duration in milliseconds: answer to end, 0 when not answered.
    pub billable_ms: u64,
    /// Channels the trunk had in force when the call was admitted (edge only).
    pub channels_in_force: Option<u32>,
    /// Calls in progress on the trunk when it was admitted, this one excluded (edge only).
    pub calls_in_progress: Option<u32>,
    /// Revision of the record: a correction or enrichment of the same call is written
    /// with a higher revision and replaces the earlier one.
    pub revision: u32,
    /// What the Teams Direct Routing log says about the call, when it is in one.
    /// Boxed: most records have none, and a record is moved through several queues
    /// on its way to ClickHouse (the box makes it a fifth smaller).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teams: Option<Box<TeamsDetails>>,
    /// Why the edge ended the call itself (maximum duration, Timer C, operator...);
    /// `None` when the parties or a final response ended it. See `call-record.md`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_reason: Option<String>,
}

impl CallRecord {
    /// Checks the record's internal consistency (times in order, answer iff answered).
    ///
    /// # Errors
    /// A sentence naming the first inconsistent field and its value.
    pub fn check(&self) -> Result<(), String> {
        if self.trunk_id.is_empty() {
            return Err("trunk_id is empty".into());
        }
        if self.end_ms < self.invite_ms {
            return Err(format!(
                "end_ms {} is before invite_ms {}",
                self.end_ms, self.invite_ms
            ));
        }
        match (self.disposition, self.answer_ms) {
            (Disposition::Answered, None) => {
                return Err("disposition answered without answer_ms".into())
            }
            (Disposition::Answered, Some(answer)) => {
                if answer < self.invite_ms || answer > self.end_ms {
                    return Err(format!(
                        "answer_ms {answer} is outside invite_ms {} .. end_ms {}",
                        self.invite_ms, self.end_ms
                    ));
                }
                if self.billable_ms > self.end_ms - answer {
                    return Err(format!(
                        "billable_ms {} exceeds answer-to-end time {}",
                        self.billable_ms,
                        self.end_ms - answer
                    ));
                }
            }
            (other, Some(_)) => {
                return Err(format!(
                    "answer_ms is set on a call with disposition {}",
                    other.as_str()
                ))
            }
            (_, None) => {
                if self.billable_ms != 0 {
                    return Err(format!(
                        "billable_ms {} on an unanswered call",
                        self.billable_ms
                    ));
                }
            }
        }
        Ok(())
    }

    /// The ClickHouse row for this record.
    pub fn to_row(&self) -> CallRow {
        let (source_kind, source_name, source_file, source_line) = match &self.source {
            Source::Edge { node } => (1, node.clone(), String::new(), 0),
            Source::Import { format, file, line } => {
                (2, format.to_string(), file.to_string(), *line)
            }
        };
        let teams = self.teams.as_ref();
        CallRow {
            call_key: self.key.as_str().to_string(),
            source_kind,
            source_name,
            source_file,
            source_line,
            trunk_id: self.trunk_id.clone(),
            customer_id: self.customer_id.clone(),
            site_id: self.site_id.clone().unwrap_or_default(),
            direction: match self.direction {
                Direction::Inbound => 1,
                Direction::Outbound => 2,
            },
            caller: self.caller.clone(),
            callee: self.callee.clone(),
            original_called: self.original_called.clone().unwrap_or_default(),
            forwarding_party: self.forwarding_party.clone().unwrap_or_default(),
            sip_call_id: self.sip_call_id.clone(),
            final_status: self.final_status.unwrap_or(0),
            disposition: self.disposition.to_enum8(),
            emergency: u8::from(self.emergency),
            invite_ms: self.invite_ms,
            answer_ms: self.answer_ms,
            end_ms: self.end_ms,
            billable_ms: self.billable_ms,
            channels_in_force: self.channels_in_force,
            calls_in_progress: self.calls_in_progress,
            revision: self.revision,
            teams_id: teams.map(|t| t.id.clone()).unwrap_or_default(),
            teams_user: teams
                .map(|t| t.user_principal_name.clone())
                .unwrap_or_default(),
            teams_call_type: teams.map(|t| t.call_type.clone()).unwrap_or_default(),
            teams_sbc_fqdn: teams.map(|t| t.sbc_fqdn.clone()).unwrap_or_default(),
            teams_duration_ms: teams.and_then(|t| t.duration_ms),
            end_reason: self.end_reason.clone().unwrap_or_default(),
        }
    }

    /// Rebuilds a record from a stored row.
    ///
    /// # Errors
    /// When the row holds a value this version does not know (a newer enum value, a
    /// malformed key).
    pub fn from_row(row: CallRow) -> Result<Self, String> {
        let source = match row.source_kind {
            1 => Source::Edge {
                node: row.source_name,
            },
            2 => Source::Import {
                format: row.source_name.into(),
                file: row.source_file.into(),
                line: row.source_line,
            },
            other => return Err(format!("source_kind value {other} is not known")),
        };
        let none_if_empty = |s: String| if s.is_empty() { None } else { Some(s) };
        // An empty id means no Teams log row was ever attached to this record.
        let teams = (!row.teams_id.is_empty()).then_some(TeamsDetails {
            id: row.teams_id,
            user_principal_name: row.teams_user,
            call_type: row.teams_call_type,
            sbc_fqdn: row.teams_sbc_fqdn,
            duration_ms: row.teams_duration_ms,
        });
        Ok(CallRecord {
            key: CallKey::parse(&row.call_key)?,
            source,
            trunk_id: row.trunk_id,
            customer_id: row.customer_id,
            site_id: none_if_empty(row.site_id),
            direction: match row.direction {
                1 => Direction::Inbound,
                2 => Direction::Outbound,
                other => return Err(format!("direction value {other} is not known")),
            },
            caller: row.caller,
            callee: row.callee,
            original_called: none_if_empty(row.original_called),
            forwarding_party: none_if_empty(row.forwarding_party),
            sip_call_id: row.sip_call_id,
            final_status: (row.final_status != 0).then_some(row.final_status),
            disposition: Disposition::from_enum8(row.disposition)?,
            emergency: row.emergency != 0,
            invite_ms: row.invite_ms,
            answer_ms: row.answer_ms,
            end_ms: row.end_ms,
            billable_ms: row.billable_ms,
            channels_in_force: row.channels_in_force,
            calls_in_progress: row.calls_in_progress,
            revision: row.revision,
            teams: teams.map(Box::new),
            end_reason: none_if_empty(row.end_reason),
        })
    }
}

/// The `end_reason` values the edge writes when it ends a call itself (an operator's
/// end is `operator <token>: <reason>`, see `call-record.md`).
pub mod end_reason {
    /// The maximum call duration guard ended the call (BYE to both sides).
    pub const MAX_DURATION: &str = "max_duration";
    /// Timer C: no final answer in time (CANCEL downstream, 408 upstream).
    pub const TIMER_C: &str = "timer_c";
    /// A 2xx was never ACKed.
    pub const NO_ACK: &str = "no_ack";
    /// The TCP or TLS connection of one side closed mid-call.
    pub const TRANSPORT_LOST: &str = "transport_lost";
    /// The edge stopped (drain deadline, or the event queue closed).
    pub const SHUTDOWN: &str = "shutdown";
}

/// A row of the ClickHouse `calls` table, field for column (RowBinary, as the readers
/// receive it; the writer sends `crate::native` blocks). Enum8 columns
/// travel as their `i8` values, empty strings stand for absent text, 0 for no status.
#[derive(Clone, Debug, PartialEq, Eq, clickhouse::Row, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct CallRow {
    pub call_key: String,
    pub source_kind: i8,
    pub source_name: String,
    pub source_file: String,
    pub source_line: u64,
    pub trunk_id: String,
    pub customer_id: String,
    pub site_id: String,
    pub direction: i8,
    pub caller: String,
    pub callee: String,
    pub original_called: String,
    pub forwarding_party: String,
    pub sip_call_id: String,
    pub final_status: u16,
    pub disposition: i8,
    pub emergency: u8,
    pub invite_ms: u64,
    pub answer_ms: Option<u64>,
    pub end_ms: u64,
    pub billable_ms: u64,
    pub channels_in_force: Option<u32>,
    pub calls_in_progress: Option<u32>,
    pub revision: u32,
    #[serde(default)]
    pub teams_id: String,
    #[serde(default)]
    pub teams_user: String,
    #[serde(default)]
    pub teams_call_type: String,
    #[serde(default)]
    pub teams_sbc_fqdn: String,
    #[serde(default)]
    pub teams_duration_ms: Option<u64>,
    #[serde(default)]
    pub end_reason: String,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A consistent answered outbound record for tests.
    pub(crate) fn sample(n: u64) -> CallRecord {
        CallRecord {
            key: CallKey::for_edge("edge-test", &format!("call-{n}@pbx"), "tag", 1),
            source: Source::Edge {
                node: "edge-test".into(),
            },
            trunk_id: "acme-multisite".into(),
            customer_id: "acme".into(),
            site_id: Some("paris-hq".into()),
            direction: Direction::Outbound,
            caller: "+33140000000".into(),
            callee: format!("+3314{:07}", n % 10_000_000),
            original_called: None,
            forwarding_party: None,
            sip_call_id: format!("call-{n}@pbx"),
            final_status: Some(200),
            disposition: Disposition::Answered,
            emergency: false,
            invite_ms: 1_790_000_000_000 + n * 1000,
            answer_ms: Some(1_790_000_000_000 + n * 1000 + 3000),
            end_ms: 1_790_000_000_000 + n * 1000 + 63_000,
            billable_ms: 60_000,
            channels_in_force: Some(20),
            calls_in_progress: Some(3),
            revision: 0,
            teams: None,
            end_reason: None,
        }
    }

    #[test]
    fn row_round_trip_keeps_every_field() {
        let mut record = sample(7);
        record.original_called = Some("+33140000001".into());
        record.forwarding_party = Some("+33140000002".into());
        record.source = Source::Import {
            format: "teams-json".into(),
            file: "log.json".into(),
            line: 12,
        };
        assert_eq!(CallRecord::from_row(record.to_row()), Ok(record.clone()));
        record.teams = Some(Box::new(TeamsDetails {
            id: "0a1b2c".into(),
            user_principal_name: "alice@contoso.fr".into(),
            call_type: "ByotOutUserForwarding".into(),
            sbc_fqdn: "sbc.contoso.fr".into(),
            duration_ms: Some(61_000),
        }));
        assert_eq!(CallRecord::from_row(record.to_row()), Ok(record));
    }

    #[test]
    fn records_written_before_teams_details_still_decode() {
        let mut json: serde_json::Value = serde_json::to_value(sample(3)).unwrap();
        assert!(
            json.get("teams").is_none(),
            "absent details are not written"
        );
        json.as_object_mut().unwrap().remove("teams");
        let back: CallRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back.teams, None);
    }

    #[test]
    fn spooled_records_without_an_end_reason_still_decode_and_one_round_trips() {
        // A spool written before `end_reason` existed holds JSON without the field.
        let json = serde_json::to_value(sample(4)).unwrap();
        assert!(
            json.get("end_reason").is_none(),
            "absent reasons are not written"
        );
        let back: CallRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back.end_reason, None);
        let mut ended = sample(5);
        ended.end_reason = Some("operator noc: fraud \"x\"\r\n".into());
        let text = serde_json::to_string(&ended).unwrap();
        assert_eq!(serde_json::from_str::<CallRecord>(&text).unwrap(), ended);
        assert_eq!(CallRecord::from_row(ended.to_row()), Ok(ended));
    }

    #[test]
    fn every_disposition_survives_storage() {
        for d in Disposition::ALL {
            assert_eq!(Disposition::from_enum8(d.to_enum8()), Ok(d));
        }
        assert!(Disposition::from_enum8(9).is_err());
        assert!(Disposition::from_enum8(0).is_err());
    }

    #[test]
    fn check_refuses_inconsistent_times() {
        let mut r = sample(1);
        r.end_ms = r.invite_ms - 1;
        assert!(r.check().unwrap_err().contains("before invite_ms"));
        let mut r = sample(1);
        r.answer_ms = None;
        assert!(r.check().unwrap_err().contains("without answer_ms"));
        let mut r = sample(1);
        r.billable_ms = 61_000;
        assert!(r.check().unwrap_err().contains("exceeds"));
        let mut r = sample(1);
        r.disposition = Disposition::Busy;
        assert!(r.check().unwrap_err().contains("busy"));
        assert_eq!(sample(1).check(), Ok(()));
    }

    #[test]
    fn json_uses_readable_names() {
        let json = serde_json::to_string(&sample(1)).unwrap();
        assert!(json.contains(r#""disposition":"answered""#), "{json}");
        assert!(json.contains(r#""kind":"edge""#), "{json}");
        let back: CallRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back, sample(1));
    }
}
