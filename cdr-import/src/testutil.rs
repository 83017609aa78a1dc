//! Helpers for this crate's unit tests: the sample provisioning and records.

use cdr::{CallKey, CallRecord, Direction, Disposition, Source, TeamsDetails};
use provisioning::Provisioning;
use std::path::Path;

/// The sample provisioning directory.
pub(crate) fn provisioning() -> Provisioning {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/provisioning");
    Provisioning::load(&dir).unwrap_or_else(|e| panic!("{e}"))
}

/// An RFC 3339 time in ms.
pub(crate) fn utc(text: &str) -> u64 {
    crate::time::parse_rfc3339(text).expect("a test time") as u64
}

/// An answered outbound edge record on contoso-teams.
pub(crate) fn edge_record(n: u64) -> CallRecord {
    let invite_ms = utc("2026-10-05T08:00:00Z") + n * 10;
    CallRecord {
        key: CallKey::for_edge("edge-1", &format!("call-{n}"), "tag", 1),
        source: Source::Edge {
            node: "edge-1".into(),
        },
        trunk_id: "contoso-teams".into(),
        customer_id: "contoso".into(),
        site_id: Some("la-defense".into()),
        direction: Direction::Outbound,
        caller: "+33140000000".into(),
        callee: "+33612345678".into(),
        original_called: None,
        forwarding_party: None,
        sip_call_id: format!("call-{n}"),
        final_status: Some(200),
        disposition: Disposition::Answered,
        emergency: false,
        invite_ms,
        answer_ms: Some(invite_ms + 4_000),
        end_ms: invite_ms + 64_000,
        billable_ms: 60_000,
        channels_in_force: Some(10),
        calls_in_progress: Some(2),
        revision: 0,
        teams: None,
        end_reason: None,
    }
}

/// The Teams-log record of the same call as `edge_record(n)`.
pub(crate) fn teams_record(n: u64) -> CallRecord {
    let mut r = edge_record(n);
    r.key = CallKey::for_import("teams", &format!("teams-{n}"));
    r.source = Source::Import {
        format: "teams-json".into(),
        file: "log.json".into(),
        line: n,
    };
    r.channels_in_force = None;
    r.calls_in_progress = None;
    r.teams = Some(Box::new(TeamsDetails {
        id: format!("teams-{n}"),
        user_principal_name: "alice@contoso.fr".into(),
        call_type: "ByotOut".into(),
        sbc_fqdn: "sbc.contoso.fr".into(),
        duration_ms: Some(60_000),
    }));
    r
}
