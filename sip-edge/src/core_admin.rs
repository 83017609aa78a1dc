//! The core's answers to the admin API: status, calls of a trunk, blocks (ending the
//! calls they cover), ending a call. A child module of [`crate::core`] so that it
//! reads the core's state directly, on the core task, between two SIP events.

use super::{CallState, Core};
use crate::admin::{AdminRequest, BlockOutcome, CallInfo, CoreStatus, PeerStatus, TrunkStatus};
use crate::fraud::RiskClass;
use cdr::Direction;
use tracing::warn;

impl Core {
    pub(super) fn on_admin(&mut self, request: AdminRequest) {
        match request {
            AdminRequest::Status(reply) => {
                let _ = reply.send(self.admin_status());
            }
            AdminRequest::Calls { trunk, reply } => {
                let calls = self
                    .provisioning
                    .trunk(&trunk)
                    .map(|_| self.calls_of(&trunk));
                let _ = reply.send(calls);
            }
            AdminRequest::Block {
                trunk,
                class,
                end_calls,
                by,
                reason,
                reply,
            } => {
                if self.provisioning.trunk(&trunk).is_none() {
                    let _ = reply.send(Err(format!("unknown trunk {trunk:?}")));
                    return;
                }
                let changed = self.fraud.block(&trunk, class, &by, &reason);
                let calls_ended = if end_calls {
                    let covered = |direction: Direction, call_class: Option<RiskClass>| match class
                    {
                        None => true,
                        Some(c) => direction == Direction::Outbound && call_class == Some(c),
                    };
                    let ids: Vec<u64> = self
                        .calls
                        .iter()
                        .filter(|(_, c)| {
                            c.draft.trunk_id == trunk
                                && !c.draft.parties.emergency
                                && covered(c.draft.direction, c.fraud.as_ref().map(|p| p.class()))
                        })
                        .map(|(id, _)| *id)
                        .collect();
                    let scope = class.map_or("trunk", RiskClass::as_str);
                    self.end_calls(&ids, &by, &format!("{scope} blocked: {reason}"))
                } else {
                    0
                };
                let _ = reply.send(Ok(BlockOutcome {
                    changed,
                    calls_ended,
                }));
            }
            AdminRequest::Unblock {
                trunk,
                class,
                by,
                reply,
            } => {
                let changed = self.fraud.unblock(&trunk, class);
                warn!(token = %by, %trunk, class = class.map_or("trunk", RiskClass::as_str), changed, "Block lifted by an operator.");
                let _ = reply.send(changed);
            }
            AdminRequest::EndCall {
                call_id,
                by,
                reason,
                reply,
            } => {
                let ids = self
                    .calls_by_call_id
                    .get(&call_id)
                    .cloned()
                    .unwrap_or_default();
                let _ = reply.send(self.end_calls(&ids, &by, &reason));
            }
        }
    }

    /// Ends `ids` (BYE to both sides of answered calls, CANCEL and 503 for calls
    /// still routing), logging who and why on each call's lines.
    fn end_calls(&mut self, ids: &[u64], by: &str, reason: &str) -> u32 {
        let mut ended = 0;
        for id in ids {
            let Some(call) = self.calls.get(id) else {
                continue;
            };
            let span = call.span.clone();
            let _enter = span.enter();
            warn!(token = %by, %reason, "Call ended by an operator.");
            self.terminate(*id, &format!("operator {by}: {reason}"));
            ended += 1;
        }
        ended
    }

    fn admin_status(&self) -> CoreStatus {
        let now = chrono::Utc::now();
        let blocks = self.fraud.blocks();
        let trunks = self
            .provisioning
            .trunks()
            .iter()
            .map(|t| {
                let mine = blocks.iter().filter(|b| b.trunk == t.id());
                TrunkStatus {
                    id: t.id().to_string(),
                    customer: t.customer_id().to_string(),
                    channels_in_force: t.channels_at(now),
                    calls_in_progress: self.channels.in_progress(t.id()),
                    blocked: mine.clone().any(|b| b.class.is_none()),
                    blocked_classes: mine.filter_map(|b| b.class).collect(),
                }
            })
            .collect();
        let probed = self.access.peers.is_some();
        let peers = self
            .config
            .carriers
            .iter()
            .enumerate()
            .map(|(i, carrier)| PeerStatus {
                name: carrier.name.clone(),
                up: self.carrier_up(i),
                probed,
            })
            .collect();
        CoreStatus {
            node: self.config.node_id.clone(),
            draining: self.draining.is_some(),
            calls_in_progress: self.calls.len(),
            trunks,
            blocks,
            peers,
        }
    }

    fn calls_of(&self, trunk: &str) -> Vec<CallInfo> {
        let mut calls: Vec<CallInfo> = self
            .calls
            .values()
            .filter(|c| c.draft.trunk_id == trunk)
            .map(|c| CallInfo {
                call_id: c.call_id.clone(),
                direction: match c.draft.direction {
                    Direction::Inbound => "inbound",
                    Direction::Outbound => "outbound",
                },
                caller: c.draft.parties.caller.clone(),
                callee: c.draft.parties.callee.clone(),
                class: c.fraud.as_ref().map_or(RiskClass::Other, |p| p.class()),
                site: c.draft.site_id.clone(),
                state: match c.state {
                    CallState::Routing => "routing",
                    CallState::Answered => "answered",
                    CallState::Confirmed => "confirmed",
                },
                invite_ms: c.draft.invite_ms,
                answer_ms: c.answer_ms,
            })
            .collect();
        calls.sort_by(|a, b| (a.invite_ms, &a.call_id).cmp(&(b.invite_ms, &b.call_id)));
        calls
    }
}
