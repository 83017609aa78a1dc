//! OPTIONS keepalives to the carriers (`[keepalive]`): one probe per carrier per
//! interval, sent as the edge's own non-INVITE transaction; the answers and misses
//! feed [`PeerHealth`], which routing consults to skip carriers marked down.

use super::{ClientKey, Core, Purpose, Target, TimerKind};
use crate::message::{Message, Method, StartLine};
use crate::peers::{Change, PeerHealth};
use tracing::{info, warn};

impl Core {
    /// Sets up carrier health and the first probe round, when keepalives are on.
    pub(super) fn start_keepalives(&mut self) {
        let Some(settings) = self.config.keepalive else {
            return;
        };
        let names: Vec<String> = self
            .config
            .carriers
            .iter()
            .map(|c| c.name.clone())
            .collect();
        self.access.peers = Some(PeerHealth::new(
            &names,
            settings.down_after,
            &self.metrics.security.peers,
        ));
        self.schedule(std::time::Duration::ZERO, TimerKind::Keepalive);
    }

    /// Whether carrier `i` may be routed to.
    pub(super) fn carrier_up(&self, i: usize) -> bool {
        self.access.peers.as_ref().is_none_or(|p| p.is_up(i))
    }

    /// One probe round; schedules the next.
    pub(super) fn keepalive_tick(&mut self) {
        let Some(settings) = self.config.keepalive else {
            return;
        };
        if self.drain_started {
            return;
        }
        let carriers = self.config.carriers.clone();
        for (i, carrier) in carriers.iter().enumerate() {
            let change = self
                .access
                .peers
                .as_mut()
                .map_or(Change::None, |p| p.probe(i));
            if change == Change::WentDown {
                warn!(carrier = %carrier.name, address = %carrier.address, misses = settings.down_after, "Carrier stopped answering OPTIONS: marked down, skipped for routing.");
            }
            let target = Target {
                name: carrier.name.clone(),
                address: carrier.address,
                transport: carrier.transport,
                server_name: carrier.server_name.clone(),
                flow: None,
                uri: None,
            };
            let Some(flow) = self.flow_for_target(&target) else {
                continue;
            };
            let listener = self.listener_for(&flow);
            let branch = self.new_branch();
            let tag = self.new_tag();
            self.access.keepalive_seq += 1;
            let seq = self.access.keepalive_seq;
            let host = match &carrier.server_name {
                Some(name) => format!("{name}:{}", carrier.address.port()),
                None => carrier.address.to_string(),
            };
            let mut options = Message {
                start: StartLine::Request {
                    method: Method::Options,
                    uri: format!("sip:{host}"),
                },
                headers: Vec::new(),
                body: Vec::new(),
            };
            options.set_header(
                "Via",
                format!(
                    "SIP/2.0/{} {};branch={branch};rport",
                    flow.transport().via_name(),
                    listener.advertised()
                ),
            );
            options.set_header("Max-Forwards", "70");
            options.set_header(
                "From",
                format!("<sip:keepalive@{}>;tag={tag}", listener.advertised()),
            );
            options.set_header("To", format!("<sip:{host}>"));
            options.set_header("Call-ID", format!("{branch}-keepalive"));
            options.set_header("CSeq", format!("{seq} OPTIONS"));
            options.set_header("Server", self.config.user_agent.clone());
            let key = ClientKey {
                branch,
                method: "OPTIONS".into(),
            };
            self.start_own_request(key.clone(), options, flow, None);
            if let Some(tx) = self.clients.get_mut(&key) {
                tx.purpose = Purpose::Keepalive(i);
            }
        }
        self.schedule(settings.interval, TimerKind::Keepalive);
    }

    /// Carrier `i` answered a probe.
    pub(super) fn keepalive_answered(&mut self, i: usize) {
        let change = self
            .access
            .peers
            .as_mut()
            .map_or(Change::None, |p| p.answered(i));
        if change == Change::CameUp {
            if let Some(carrier) = self.config.carriers.get(i) {
                info!(carrier = %carrier.name, address = %carrier.address, "Carrier answers OPTIONS again: back in routing.");
            }
        }
    }
}
