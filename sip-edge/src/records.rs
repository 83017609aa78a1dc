//! From SIP to call records: who called whom, forwarding, and how the attempt ended.
//!
//! - caller: the first `P-Asserted-Identity` (RFC 3325) when present, else `From`;
//!   callee: the Request-URI user, else the `To` user. Both are normalised with
//!   `number_portability::parse` (E.164, or a national short code); a value that is not
//!   a number is kept as presented.
//! - forwarding: `Diversion` (RFC 5806) when present: the bottom entry is the number
//!   originally called, the top entry the last forwarding party. Otherwise
//!   `History-Info` (RFC 7044): with two entries or more, the first is the number
//!   originally called and the one before the last is the forwarding party.
//! - disposition from the final status sent to the caller ([`disposition_for`]).
//!
//! [`RecordDraft`] holds what is known at admission; [`RecordDraft::finish`] adds the
//! outcome. Times are milliseconds since the epoch.

use crate::message::{split_list, uri_user, Message, NameAddr};
use cdr::{CallKey, CallRecord, Direction, Disposition, Source};

/// Numbers of a call attempt, read from its initial INVITE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallParties {
    /// Calling number.
    pub caller: String,
    /// Called number.
    pub callee: String,
    /// The number originally dialled, when forwarded.
    pub original_called: Option<String>,
    /// Who forwarded the call, when forwarded.
    pub forwarding_party: Option<String>,
    /// The callee is an emergency number.
    pub emergency: bool,
}

/// A number as records hold it: E.164 or short code when it parses, else the user
/// part as presented, else the URI.
pub fn normalise(uri: &str) -> String {
    match number_portability::parse(uri) {
        Ok(number) => number.to_string(),
        Err(_) => uri_user(uri).unwrap_or(uri).to_string(),
    }
}

fn first_uri(values: &[&str]) -> Option<String> {
    values
        .iter()
        .flat_map(|v| split_list(v))
        .find_map(|entry| NameAddr::parse(entry).map(|n| n.uri.to_string()))
}

impl CallParties {
    /// Reads the parties of an initial INVITE.
    pub fn from_invite(invite: &Message) -> CallParties {
        let pai: Vec<&str> = invite.headers_named("P-Asserted-Identity").collect();
        let caller_uri = first_uri(&pai)
            .or_else(|| invite.header("From").and_then(|f| first_uri(&[f])))
            .unwrap_or_default();
        let callee_uri = invite
            .request_uri()
            .filter(|u| uri_user(u).is_some())
            .map(str::to_string)
            .or_else(|| invite.header("To").and_then(|t| first_uri(&[t])))
            .unwrap_or_default();
        let caller = normalise(&caller_uri);
        let callee = normalise(&callee_uri);
        let emergency = number_portability::parse(&callee_uri)
            .map(|n| number_portability::classify(&n).is_emergency)
            .unwrap_or(false);

        let entries = |name: &str| -> Vec<String> {
            invite
                .headers_named(name)
                .flat_map(split_list)
                .filter_map(|e| NameAddr::parse(e).map(|n| n.uri.to_string()))
                .collect()
        };
        let diversion = entries("Diversion");
        let history = entries("History-Info");
        let (original_called, forwarding_party) = if !diversion.is_empty() {
            (
                diversion.last().map(|u| normalise(u)),
                diversion.first().map(|u| normalise(u)),
            )
        } else if history.len() >= 2 {
            (
                Some(normalise(&history[0])),
                Some(normalise(&history[history.len() - 2])),
            )
        } else {
            (None, None)
        };
        CallParties {
            caller,
            callee,
            original_called,
            forwarding_party,
            emergency,
        }
    }
}

/// The disposition of an attempt from the final status sent to the caller.
/// `cancelled` is set when the caller sent CANCEL.
pub fn disposition_for(status: u16, cancelled: bool) -> Disposition {
    match status {
        200..=299 => Disposition::Answered,
        _ if cancelled || status == 487 => Disposition::Cancelled,
        486 | 600 => Disposition::Busy,
        408 | 480 => Disposition::NoAnswer,
        _ => Disposition::Failed,
    }
}

/// What is known about a call attempt when it is admitted or refused.
#[derive(Clone, Debug)]
pub struct RecordDraft {
    /// Stable key (node, Call-ID, From tag, INVITE CSeq).
    pub key: CallKey,
    /// This node.
    pub node_id: String,
    /// Trunk id.
    pub trunk_id: String,
    /// Customer id.
    pub customer_id: String,
    /// Site id.
    pub site_id: Option<String>,
    /// Inbound or outbound.
    pub direction: Direction,
    /// The numbers.
    pub parties: CallParties,
    /// Call-ID of the customer-side leg.
    pub sip_call_id: String,
    /// INVITE received.
    pub invite_ms: u64,
    /// Channels of the trunk in force at admission.
    pub channels_in_force: u32,
    /// Calls in progress on the trunk at admission, this one excluded.
    pub calls_in_progress: u32,
}

impl RecordDraft {
    /// The record once the attempt is over.
    pub fn finish(
        &self,
        disposition: Disposition,
        final_status: Option<u16>,
        answer_ms: Option<u64>,
        end_ms: u64,
    ) -> CallRecord {
        let end_ms = end_ms.max(self.invite_ms);
        let answer_ms = if disposition == Disposition::Answered {
            Some(answer_ms.unwrap_or(end_ms).clamp(self.invite_ms, end_ms))
        } else {
            None
        };
        CallRecord {
            key: self.key.clone(),
            source: Source::Edge {
                node: self.node_id.clone(),
            },
            trunk_id: self.trunk_id.clone(),
            customer_id: self.customer_id.clone(),
            site_id: self.site_id.clone(),
            direction: self.direction,
            caller: self.parties.caller.clone(),
            callee: self.parties.callee.clone(),
            original_called: self.parties.original_called.clone(),
            forwarding_party: self.parties.forwarding_party.clone(),
            sip_call_id: self.sip_call_id.clone(),
            final_status,
            disposition,
            emergency: self.parties.emergency,
            invite_ms: self.invite_ms,
            answer_ms,
            end_ms,
            billable_ms: answer_ms.map_or(0, |a| end_ms - a),
            channels_in_force: Some(self.channels_in_force),
            calls_in_progress: Some(self.calls_in_progress),
            revision: 0,
            teams: None,
            end_reason: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite(extra: &str, ruri: &str) -> Message {
        let text = format!(
            "INVITE {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.21;branch=z9hG4bK1\r\n\
From: <sip:0140000000@pbx>;tag=a\r\nTo: <sip:0612345678@edge>\r\nCall-ID: c1\r\n\
CSeq: 1 INVITE\r\n{extra}Content-Length: 0\r\n\r\n"
        );
        Message::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn caller_from_pai_else_from_and_normalised() {
        let p = CallParties::from_invite(&invite("", "sip:0612345678@edge"));
        assert_eq!(p.caller, "+33140000000");
        assert_eq!(p.callee, "+33612345678");
        assert!(!p.emergency);
        let p = CallParties::from_invite(&invite(
            "P-Asserted-Identity: \"Reception\" <sip:+33140000099@pbx>\r\n",
            "sip:0612345678@edge",
        ));
        assert_eq!(p.caller, "+33140000099");
        assert_eq!(p.original_called, None);
    }

    #[test]
    fn emergency_and_odd_numbers() {
        let p = CallParties::from_invite(&invite("", "sip:112@edge"));
        assert_eq!(p.callee, "112");
        assert!(p.emergency);
        let p = CallParties::from_invite(&invite("", "sip:reception@edge"));
        assert_eq!(p.callee, "reception");
    }

    #[test]
    fn diversion_gives_original_and_forwarder() {
        let p = CallParties::from_invite(&invite(
            "Diversion: <sip:0140000002@pbx>;reason=unconditional;counter=1, <sip:0140000001@pbx>;reason=no-answer\r\n",
            "sip:0612345678@edge",
        ));
        assert_eq!(p.original_called.as_deref(), Some("+33140000001"));
        assert_eq!(p.forwarding_party.as_deref(), Some("+33140000002"));
    }

    #[test]
    fn history_info_gives_original_and_forwarder() {
        let p = CallParties::from_invite(&invite(
            "History-Info: <sip:0140000001@pbx>;index=1\r\nHistory-Info: <sip:0140000003@pbx?Reason=SIP%3Bcause%3D302>;index=1.1, <sip:0612345678@edge;cause=302>;index=1.1.1\r\n",
            "sip:0612345678@edge",
        ));
        assert_eq!(p.original_called.as_deref(), Some("+33140000001"));
        assert_eq!(p.forwarding_party.as_deref(), Some("+33140000003"));
        let single = CallParties::from_invite(&invite(
            "History-Info: <sip:0612345678@edge>;index=1\r\n",
            "sip:0612345678@edge",
        ));
        assert_eq!(single.original_called, None);
    }

    #[test]
    fn dispositions_from_status() {
        assert_eq!(disposition_for(200, false), Disposition::Answered);
        assert_eq!(disposition_for(486, false), Disposition::Busy);
        assert_eq!(disposition_for(600, false), Disposition::Busy);
        assert_eq!(disposition_for(408, false), Disposition::NoAnswer);
        assert_eq!(disposition_for(487, false), Disposition::Cancelled);
        assert_eq!(disposition_for(503, true), Disposition::Cancelled);
        assert_eq!(disposition_for(404, false), Disposition::Failed);
    }

    #[test]
    fn finished_records_pass_their_own_checks() {
        let draft = RecordDraft {
            key: CallKey::for_edge("n", "c1", "a", 1),
            node_id: "n".into(),
            trunk_id: "t".into(),
            customer_id: "c".into(),
            site_id: None,
            direction: Direction::Outbound,
            parties: CallParties::from_invite(&invite("", "sip:0612345678@edge")),
            sip_call_id: "c1".into(),
            invite_ms: 1000,
            channels_in_force: 2,
            calls_in_progress: 1,
        };
        let answered = draft.finish(Disposition::Answered, Some(200), Some(1500), 4000);
        assert_eq!(answered.billable_ms, 2500);
        assert_eq!(answered.check(), Ok(()));
        let busy = draft.finish(Disposition::Busy, Some(486), Some(1500), 900);
        assert_eq!(busy.answer_ms, None);
        assert_eq!(busy.end_ms, 1000);
        assert_eq!(busy.check(), Ok(()));
    }
}
