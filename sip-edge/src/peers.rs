//! Health of the carrier interconnects, from OPTIONS keepalives.
//!
//! Each interval the core sends one OPTIONS to every carrier ([`PeerHealth::probe`]);
//! any response to it ([`PeerHealth::answered`]), whatever its status, means the
//! carrier is alive. A probe still unanswered when the next one is due counts as a
//! miss; `down_after` misses in a row mark the carrier down, and routing skips it
//! until it answers a probe again. State changes are logged by the caller and
//! published as `sip_edge_peer_up{peer}` (1 up, 0 down). Pure: no I/O.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// One carrier's state.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PeerState {
    up: bool,
    misses: u32,
    probe_pending: bool,
}

/// What a probe round or an answer changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Nothing.
    None,
    /// The peer was up and is now down.
    WentDown,
    /// The peer was down and answers again.
    CameUp,
}

/// Published up/down state, by carrier name, in carrier order.
pub type PeerGauges = Arc<Mutex<Vec<(String, Arc<AtomicBool>)>>>;

/// Health of the carriers, in configuration order.
pub struct PeerHealth {
    peers: Vec<PeerState>,
    published: Vec<Arc<AtomicBool>>,
    down_after: u32,
}

impl PeerHealth {
    /// Every carrier starts up (routing works before the first probe).
    pub fn new(names: &[String], down_after: u32, gauges: &PeerGauges) -> PeerHealth {
        let published: Vec<Arc<AtomicBool>> = names
            .iter()
            .map(|_| Arc::new(AtomicBool::new(true)))
            .collect();
        let mut g = gauges.lock().unwrap_or_else(|e| e.into_inner());
        *g = names
            .iter()
            .cloned()
            .zip(published.iter().cloned())
            .collect();
        PeerHealth {
            peers: vec![
                PeerState {
                    up: true,
                    misses: 0,
                    probe_pending: false,
                };
                names.len()
            ],
            published,
            down_after: down_after.max(1),
        }
    }

    /// A new probe of peer `i` goes out now: the previous one, if unanswered, is a miss.
    pub fn probe(&mut self, i: usize) -> Change {
        let Some(p) = self.peers.get_mut(i) else {
            return Change::None;
        };
        let mut change = Change::None;
        if p.probe_pending {
            p.misses = p.misses.saturating_add(1);
            if p.up && p.misses >= self.down_after {
                p.up = false;
                change = Change::WentDown;
            }
        }
        p.probe_pending = true;
        self.published[i].store(p.up, Ordering::Relaxed);
        change
    }

    /// Peer `i` answered a probe.
    pub fn answered(&mut self, i: usize) -> Change {
        let Some(p) = self.peers.get_mut(i) else {
            return Change::None;
        };
        p.probe_pending = false;
        p.misses = 0;
        let change = if p.up { Change::None } else { Change::CameUp };
        p.up = true;
        self.published[i].store(true, Ordering::Relaxed);
        change
    }

    /// Whether peer `i` may be routed to.
    pub fn is_up(&self, i: usize) -> bool {
        self.peers.get(i).is_none_or(|p| p.up)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_after_misses_in_a_row_and_up_on_the_first_answer() {
        let gauges = PeerGauges::default();
        let mut h = PeerHealth::new(&["a".into(), "b".into()], 2, &gauges);
        assert!(h.is_up(0));
        assert_eq!(h.probe(0), Change::None); // first probe: nothing pending yet
        assert_eq!(h.probe(0), Change::None); // one miss
        assert!(h.is_up(0));
        assert_eq!(h.probe(0), Change::WentDown); // two misses
        assert!(!h.is_up(0));
        assert!(!gauges.lock().unwrap()[0].1.load(Ordering::Relaxed));
        assert_eq!(h.probe(0), Change::None); // still down, no second report
        assert_eq!(h.answered(0), Change::CameUp);
        assert!(h.is_up(0));
        assert!(gauges.lock().unwrap()[0].1.load(Ordering::Relaxed));
        // A peer that answers every probe never goes down.
        for _ in 0..5 {
            h.probe(1);
            assert_eq!(h.answered(1), Change::None);
        }
        assert!(h.is_up(1));
        assert_eq!(gauges.lock().unwrap()[1].0, "b");
    }

    #[test]
    fn an_answer_resets_the_miss_count() {
        let mut h = PeerHealth::new(&["a".into()], 3, &PeerGauges::default());
        h.probe(0);
        h.probe(0);
        h.probe(0); // two misses
        h.answered(0);
        h.probe(0);
        h.probe(0);
        assert!(h.is_up(0), "one miss after an answer");
        assert!(h.is_up(7), "unknown peers are not held back");
    }
}
