//! Microsoft Teams Direct Routing call logs (Graph `directRoutingLogRow`), as JSON
//! (a Graph page or JSON lines, read by [`crate::json`]) or as the CSV admin tools
//! export with the property names as headers (matched case-insensitively).
//!
//! How a row becomes a call record:
//! - key: `CallKey::for_import("teams", id)`, the id in lower case (a GUID): the same
//!   row from a JSON page, JSON lines or a CSV export is one call, so overlapping
//!   exports import nothing twice;
//! - trunk: `trunkFullyQualifiedDomainName` is a trunk's `identify.tls_fqdn`;
//! - direction from `callType`: `ByotIn…` inbound, `ByotOut…` outbound (anything
//!   else is refused); `…Forwarding` call types set the forwarding party to the
//!   forwarding user (`userPrincipalName`: the log has no number for the user);
//! - times: `inviteDateTime` (else `startDateTime`) is the INVITE; a successful call
//!   (`successfulCall`) is answered at `startDateTime` and ends at `endDateTime`; a
//!   failed one ends at `failureDateTime` (else `endDateTime`, else the invite) and its
//!   disposition comes from `finalSipCode` (486/600 busy, 408/480 no answer, 487
//!   cancelled, anything else failed). Times must carry an offset (ISO 8601);
//! - `duration` (seconds) is checked against answer-to-end and kept in the Teams
//!   details; `correlationId` is the call id.

use crate::draft::{disposition_for_status, Draft, Reason, RowError, TrunkRef, LONGEST_CALL_MS};
use crate::time::parse_rfc3339;
use cdr::{Direction, Disposition, TeamsDetails};

/// Key namespace shared by both Teams formats.
pub const KEY_NAMESPACE: &str = "teams";

/// The `directRoutingLogRow` properties, in Graph's order.
pub const PROPERTIES: [&str; 21] = [
    "id",
    "correlationId",
    "userId",
    "userPrincipalName",
    "userDisplayName",
    "startDateTime",
    "inviteDateTime",
    "failureDateTime",
    "endDateTime",
    "duration",
    "successfulCall",
    "callType",
    "callerNumber",
    "calleeNumber",
    "mediaPathLocation",
    "signalingLocation",
    "finalSipCode",
    "callEndSubReason",
    "finalSipCodePhrase",
    "trunkFullyQualifiedDomainName",
    "mediaBypassEnabled",
];

const ID: usize = 0;
const CORRELATION_ID: usize = 1;
const USER_PRINCIPAL_NAME: usize = 3;
const START: usize = 5;
const INVITE: usize = 6;
const FAILURE: usize = 7;

/// 0001-01-01T00:00:00Z (.NET's `DateTime.MinValue`) in ms since 1970: Graph's
/// example rows write it for a time a call does not have (the failure time of a
/// successful call), so it reads as absent.
const NO_TIME_MS: i64 = -62_135_596_800_000;
const END: usize = 8;
const DURATION: usize = 9;
const SUCCESSFUL: usize = 10;
const CALL_TYPE: usize = 11;
const CALLER: usize = 12;
const CALLEE: usize = 13;
const FINAL_SIP_CODE: usize = 16;
const FQDN: usize = 19;

/// Properties a CSV export must have as columns.
pub const REQUIRED_COLUMNS: [usize; 6] = [ID, INVITE, CALL_TYPE, CALLER, CALLEE, FQDN];

/// One log row's properties as text (`None` when absent, null or blank).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TeamsRow {
    values: Vec<Option<String>>,
}

impl TeamsRow {
    /// Reads a JSON object.
    ///
    /// # Errors
    /// [`Reason::Malformed`] when the text is not a JSON object, or is a Graph error
    /// response saved in place of a page.
    pub fn from_json(bytes: &[u8]) -> Result<TeamsRow, RowError> {
        let object: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(bytes)
            .map_err(|e| RowError::new(Reason::Malformed, format!("not a JSON object: {e}")))?;
        if let (Some(error), None) = (object.get("error"), object.get("id")) {
            let field = |name: &str| error.get(name).and_then(|v| v.as_str()).unwrap_or("?");
            return Err(RowError::new(
                Reason::Malformed,
                format!(
                    "a Graph error response, not a call row: {}: {}",
                    field("code"),
                    field("message")
                ),
            ));
        }
        let mut values = vec![None; PROPERTIES.len()];
        for (key, value) in object {
            if let Some(i) = PROPERTIES.iter().position(|p| p.eq_ignore_ascii_case(&key)) {
                values[i] = match value {
                    serde_json::Value::Null => None,
                    serde_json::Value::String(s) => Some(s),
                    other => Some(other.to_string()),
                }
                .filter(|s| !s.trim().is_empty());
            }
        }
        Ok(TeamsRow { values })
    }

    /// Reads a CSV row; `columns[i]` is the position of property `i`, if present.
    pub fn from_fields(columns: &[Option<usize>], fields: &[&str]) -> TeamsRow {
        let values = columns
            .iter()
            .map(|c| {
                c.and_then(|i| fields.get(i))
                    .map(|s| s.to_string())
                    .filter(|s| !s.trim().is_empty())
            })
            .collect();
        TeamsRow { values }
    }

    /// Where each property is in a CSV header (case-insensitive).
    ///
    /// # Errors
    /// The required properties the header lacks.
    pub fn columns(header: &[&str]) -> Result<Vec<Option<usize>>, String> {
        let columns = PROPERTIES
            .iter()
            .map(|p| crate::read::header_position(header, p, |h| h.eq_ignore_ascii_case(p)))
            .collect::<Result<Vec<_>, _>>()?;
        let missing: Vec<&str> = REQUIRED_COLUMNS
            .iter()
            .filter(|&&i| columns[i].is_none())
            .map(|&i| PROPERTIES[i])
            .collect();
        if missing.is_empty() {
            Ok(columns)
        } else if let [only] = header {
            // A spreadsheet set to French saves CSV with semicolons.
            let delimiter = [';', '\t'].into_iter().find(|d| only.contains(*d));
            Err(match delimiter {
                Some(d) => format!(
                    "the header is one field holding {d:?}: teams-csv reads comma-separated files; save or convert the file with commas"
                ),
                None => "the header is one field: is this a Direct Routing log export?".into(),
            })
        } else {
            Err(format!(
                "the header lacks the Teams propert{} {}: is this a Direct Routing log export?",
                if missing.len() == 1 { "y" } else { "ies" },
                missing.join(", ")
            ))
        }
    }

    fn get(&self, i: usize) -> Option<&str> {
        self.values.get(i).and_then(|v| v.as_deref()).map(str::trim)
    }

    fn required(&self, i: usize) -> Result<&str, RowError> {
        self.get(i).ok_or_else(|| RowError::missing(PROPERTIES[i]))
    }

    fn time(&self, i: usize) -> Result<Option<u64>, RowError> {
        match self.get(i) {
            None => Ok(None),
            Some(text) => match parse_rfc3339(text) {
                Some(ms) if ms >= 0 => Ok(Some(ms as u64)),
                Some(NO_TIME_MS) => Ok(None),
                Some(_) => Err(RowError::new(
                    Reason::BadTime,
                    format!("{}: {text:?} is before 1970", PROPERTIES[i]),
                )),
                None => Err(RowError::new(
                    Reason::BadTime,
                    format!(
                        "{}: {text:?} is not an ISO 8601 time with an offset (e.g. 2026-10-05T08:30:12Z)",
                        PROPERTIES[i]
                    ),
                )),
            },
        }
    }

    /// The row as a [`Draft`].
    ///
    /// # Errors
    /// A missing or unreadable property.
    pub fn to_draft(&self) -> Result<Draft<'static>, RowError> {
        let id = self.required(ID)?.to_string();
        let call_type = self.required(CALL_TYPE)?.to_string();
        let direction = if call_type.starts_with("ByotIn") {
            Direction::Inbound
        } else if call_type.starts_with("ByotOut") {
            Direction::Outbound
        } else {
            return Err(RowError::new(
                Reason::BadValue,
                format!("callType {call_type:?} is not a Direct Routing call type (ByotIn..., ByotOut...)"),
            ));
        };
        let fqdn = self.required(FQDN)?.to_string();
        let invite_time = self.time(INVITE)?;
        let final_status = match self.get(FINAL_SIP_CODE) {
            None => None,
            Some(text) => match text.parse::<u16>() {
                Ok(0) => None,
                Ok(code) if (100..700).contains(&code) => Some(code),
                _ => {
                    return Err(RowError::new(
                        Reason::BadValue,
                        format!("finalSipCode {text:?} is not a SIP status"),
                    ))
                }
            },
        };
        let successful = match self.get(SUCCESSFUL) {
            Some(text) => match text.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                _ => {
                    return Err(RowError::new(
                        Reason::BadValue,
                        format!("successfulCall {text:?} is not true or false"),
                    ))
                }
            },
            None => self.time(FAILURE)?.is_none() && self.time(END)?.is_some(),
        };
        let invite = match invite_time {
            Some(t) => t,
            // A failed call's startDateTime is its INVITE or its failure time.
            None if !successful => self
                .time(START)?
                .ok_or_else(|| RowError::missing(PROPERTIES[INVITE]))?,
            // An answered call's is its answer: the INVITE, which matching with the
            // edge's record needs, is unknown.
            None => {
                return Err(RowError::missing(
                    "inviteDateTime of a successful call (its startDateTime is the answer)",
                ))
            }
        };
        let duration_ms = match self.get(DURATION) {
            None => None,
            Some(text) => match text.parse::<f64>() {
                Ok(secs) if secs * 1000.0 > LONGEST_CALL_MS as f64 => {
                    return Err(RowError::new(
                        Reason::BadValue,
                        format!("duration {text:?} s is longer than 31 days"),
                    ))
                }
                Ok(secs) if secs.is_finite() && secs >= 0.0 => Some((secs * 1000.0).round() as u64),
                _ => {
                    return Err(RowError::new(
                        Reason::BadValue,
                        format!("duration {text:?} is not a number of seconds"),
                    ))
                }
            },
        };
        let (disposition, answer_ms, end_ms) = if successful {
            let start = self
                .time(START)?
                .ok_or_else(|| RowError::missing("startDateTime of a successful call"))?;
            let end = self
                .time(END)?
                .ok_or_else(|| RowError::missing("endDateTime of a successful call"))?;
            (Disposition::Answered, Some(start), end)
        } else {
            let end = match self.time(FAILURE)? {
                Some(t) => t,
                None => self.time(END)?.unwrap_or(invite),
            };
            let disposition = match final_status {
                Some(code) if !(200..300).contains(&code) => disposition_for_status(code),
                _ => Disposition::Failed,
            };
            (disposition, None, end)
        };
        let user = self
            .get(USER_PRINCIPAL_NAME)
            .unwrap_or_default()
            .to_string();
        Ok(Draft {
            key_namespace: KEY_NAMESPACE.into(),
            // Graph's ids are GUIDs, which are case-insensitive (RFC 4122 §3): the key
            // reads them in lower case, as Graph writes them.
            source_id: id.to_ascii_lowercase().into(),
            trunk: TrunkRef::TlsFqdn(fqdn.clone().into()),
            site_id: None,
            direction,
            caller: self.get(CALLER).unwrap_or_default().to_string().into(),
            callee: self.get(CALLEE).unwrap_or_default().to_string().into(),
            original_called: None,
            forwarding_party: None,
            sip_call_id: self.get(CORRELATION_ID).unwrap_or_default().to_string(),
            final_status,
            disposition,
            invite_ms: invite,
            answer_ms,
            end_ms,
            duration_ms: if successful { duration_ms } else { None },
            teams: Some(Box::new(TeamsDetails {
                id,
                user_principal_name: user,
                call_type,
                sbc_fqdn: fqdn,
                duration_ms,
            })),
        })
    }
}

/// Completes a record built from a Teams row: a forwarded call's forwarding party is
/// the forwarding user (the log has no number for the user).
pub fn finish(record: &mut cdr::CallRecord) {
    if let Some(teams) = &record.teams {
        if is_forwarding(&teams.call_type) && !teams.user_principal_name.is_empty() {
            record.forwarding_party = Some(teams.user_principal_name.clone());
        }
    }
}

/// True for call types where a user forwarded the call (the contract's permanent
/// forwarding rule counts these).
pub fn is_forwarding(call_type: &str) -> bool {
    call_type.contains("Forwarding")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(json: &str) -> Result<Draft<'static>, RowError> {
        TeamsRow::from_json(json.as_bytes())?.to_draft()
    }

    const BASE: &str = r#"{"id":"r1","correlationId":"c1","userPrincipalName":"alice@contoso.fr","inviteDateTime":"2026-10-05T08:00:00Z","startDateTime":"2026-10-05T08:00:04Z","endDateTime":"2026-10-05T08:01:04Z","duration":60,"successfulCall":true,"callType":"ByotOut","callerNumber":"+33140000000","calleeNumber":"+33612345678","finalSipCode":0,"trunkFullyQualifiedDomainName":"sbc.contoso.fr"}"#;

    #[test]
    fn a_successful_outbound_call() {
        let d = row(BASE).unwrap();
        assert_eq!(d.direction, Direction::Outbound);
        assert_eq!(d.disposition, Disposition::Answered);
        assert_eq!(d.end_ms - d.answer_ms.unwrap(), 60_000);
        assert_eq!(d.duration_ms, Some(60_000));
        assert_eq!(d.final_status, None);
        assert_eq!(d.teams.unwrap().user_principal_name, "alice@contoso.fr");
    }

    #[test]
    fn a_failed_call_ends_at_its_failure() {
        let d = row(&BASE
            .replace(
                r#""successfulCall":true"#,
                r#""successfulCall":false,"failureDateTime":"2026-10-05T08:00:09Z""#,
            )
            .replace(r#""finalSipCode":0"#, r#""finalSipCode":486"#)
            .replace(r#","endDateTime":"2026-10-05T08:01:04Z""#, ""))
        .unwrap();
        assert_eq!(d.disposition, Disposition::Busy);
        assert_eq!(d.answer_ms, None);
        assert_eq!(d.end_ms - d.invite_ms, 9_000);
        assert_eq!(d.final_status, Some(486));
    }

    #[test]
    fn problems_are_named() {
        let err = row(&BASE.replace("ByotOut", "Pstn")).unwrap_err();
        assert_eq!(err.reason, Reason::BadValue);
        let err = row(&BASE.replace("2026-10-05T08:00:00Z", "05/10/2026 08:00")).unwrap_err();
        assert_eq!(err.reason, Reason::BadTime);
        assert!(
            err.message.contains("inviteDateTime: \"05/10/2026 08:00\""),
            "{err}"
        );
        let err = row(&BASE.replace(r#","endDateTime":"2026-10-05T08:01:04Z""#, "")).unwrap_err();
        assert!(
            err.message.contains("endDateTime of a successful call"),
            "{err}"
        );
        let err = row(&BASE.replace(r#""id":"r1","#, "")).unwrap_err();
        assert_eq!(err, RowError::missing("id"));
        let err = TeamsRow::from_json(b"[1]").unwrap_err();
        assert_eq!(err.reason, Reason::Malformed);
        let err = TeamsRow::from_json(
            br#"{"error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges to complete the operation."}}"#,
        )
        .unwrap_err();
        assert_eq!(
            err.message,
            "a Graph error response, not a call row: Authorization_RequestDenied: Insufficient privileges to complete the operation."
        );
    }

    #[test]
    fn graphs_placeholder_time_is_no_time() {
        // Graph's own example: a successful call with failureDateTime at .NET's
        // DateTime.MinValue, and no successfulCall property.
        let placeholder = BASE.replace(
            r#""successfulCall":true"#,
            r#""failureDateTime":"0001-01-01T00:00:00Z""#,
        );
        let d = row(&placeholder).unwrap();
        assert_eq!(d.disposition, Disposition::Answered);
        assert_eq!(d.end_ms - d.answer_ms.unwrap(), 60_000);
        let d = row(&placeholder.replace(
            r#""failureDateTime":"0001-01-01T00:00:00Z""#,
            r#""failureDateTime":"2026-10-05T08:00:09Z","endDateTime":"0001-01-01T00:00:00.0000000Z""#,
        ))
        .unwrap();
        assert_eq!(d.disposition, Disposition::Failed);
        assert_eq!(d.end_ms - d.invite_ms, 9_000);
        let err = row(&BASE.replace("2026-10-05T08:00:00Z", "1969-12-31T23:59:59Z")).unwrap_err();
        assert_eq!(err.reason, Reason::BadTime);
        assert!(err.message.contains("before 1970"), "{err}");
    }

    #[test]
    fn without_an_invite_time_only_a_failed_call_reads_its_start_as_the_invite() {
        let no_invite = BASE.replace(r#""inviteDateTime":"2026-10-05T08:00:00Z","#, "");
        let err = row(&no_invite).unwrap_err();
        assert_eq!(err.reason, Reason::MissingField);
        assert!(
            err.message.contains("inviteDateTime of a successful call"),
            "{err}"
        );
        let failed = no_invite
            .replace(r#""successfulCall":true"#, r#""successfulCall":false"#)
            .replace(
                r#""endDateTime":"2026-10-05T08:01:04Z""#,
                r#""failureDateTime":"2026-10-05T08:00:09Z""#,
            );
        let d = row(&failed).unwrap();
        assert_eq!(d.invite_ms, crate::testutil::utc("2026-10-05T08:00:04Z"));
        assert_eq!(d.answer_ms, None);
    }

    #[test]
    fn a_duration_beyond_31_days_is_refused_even_on_a_failed_call() {
        let failed = BASE
            .replace(r#""successfulCall":true"#, r#""successfulCall":false"#)
            .replace(r#""finalSipCode":0"#, r#""finalSipCode":486"#);
        for text in ["1e20", "99999999999", "2678401"] {
            for base in [BASE, failed.as_str()] {
                let err = row(&base.replace(r#""duration":60"#, &format!(r#""duration":{text}"#)))
                    .unwrap_err();
                assert_eq!(err.reason, Reason::BadValue, "{text}");
                assert!(err.message.contains("longer than 31 days"), "{err}");
            }
        }
        assert!(row(&BASE.replace(r#""duration":60"#, r#""duration":2678400"#)).is_ok());
    }

    #[test]
    fn an_id_in_another_letter_case_is_the_same_call() {
        let lower = row(&BASE.replace(
            r#""id":"r1""#,
            r#""id":"9e8bba57-dc14-533a-a7dd-f0da6575eed1""#,
        ))
        .unwrap();
        let upper = row(&BASE.replace(
            r#""id":"r1""#,
            r#""id":"9E8BBA57-DC14-533A-A7DD-F0DA6575EED1""#,
        ))
        .unwrap();
        assert_eq!(lower.source_id, upper.source_id);
        assert_eq!(
            upper.teams.unwrap().id,
            "9E8BBA57-DC14-533A-A7DD-F0DA6575EED1",
            "the log's id is kept as written"
        );
    }

    #[test]
    fn csv_headers_are_matched_case_insensitively() {
        let header = [
            "Id",
            "CallType",
            "CallerNumber",
            "calleeNumber",
            "inviteDateTime",
            "trunkFullyQualifiedDomainName",
        ];
        let columns = TeamsRow::columns(&header).unwrap();
        assert_eq!(columns[ID], Some(0));
        let err = TeamsRow::columns(&header[1..]).unwrap_err();
        assert!(err.contains("lacks the Teams property id"), "{err}");
        let err = TeamsRow::columns(&[&header.join(";")]).unwrap_err();
        assert!(err.contains("one field holding ';'"), "{err}");
        let doubled = [&header[..], &["callerNumber"]].concat();
        let err = TeamsRow::columns(&doubled).unwrap_err();
        assert_eq!(
            err,
            "the header has callerNumber twice (columns 3 and 7): which one to read is unclear"
        );
    }
}
