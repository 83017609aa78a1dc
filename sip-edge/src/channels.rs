//! Channel admission: how many calls each trunk (and site) has in progress, and the
//! owned permit that holds one channel for the life of a call.
//!
//! Rules (contract §1):
//! - a call takes one channel of its trunk, and one of its site where the site has its
//!   own limit, from admission until it ends; inbound and outbound share the count;
//! - a call is admitted when the trunk's count in force now (`Trunk::channels_at`) and
//!   the site's limit both leave room; emergency calls are admitted regardless (and
//!   count while they last);
//! - the channel is released when the [`ChannelPermit`] is dropped, which happens
//!   exactly once however the call ends (the owned-permit pattern of mini-redis).
//!
//! Only the core task admits, so admission is atomic by construction: two INVITEs
//! with one free channel are decided one after the other. Counters are atomics only
//! so that the metrics endpoint can read them from another task. Counts are keyed by
//! trunk and site id, so they survive a provisioning reload: new limits apply to new
//! calls, calls in progress keep their channel.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// Calls in progress per trunk, readable by the metrics endpoint.
pub type TrunkGauges = Arc<Mutex<BTreeMap<String, Arc<AtomicU32>>>>;

/// The per-trunk and per-site counters.
#[derive(Default)]
pub struct Channels {
    trunks: TrunkGauges,
    sites: HashMap<(String, String), Arc<AtomicU32>>,
}

/// One channel held by a call; dropping it releases the channel.
#[derive(Debug)]
pub struct ChannelPermit {
    trunk: Arc<AtomicU32>,
    site: Option<Arc<AtomicU32>>,
}

impl Drop for ChannelPermit {
    fn drop(&mut self) {
        self.trunk.fetch_sub(1, Ordering::Relaxed);
        if let Some(site) = &self.site {
            site.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// What admission decided.
#[derive(Debug)]
pub enum Admission {
    /// Admitted: the permit, and the calls in progress on the trunk before this one.
    Admitted {
        /// Held until the call ends.
        permit: ChannelPermit,
        /// Calls in progress on the trunk, this one excluded.
        in_progress: u32,
    },
    /// Refused: which limit was reached.
    Refused {
        /// `trunk` or `site`.
        scope: &'static str,
        /// The limit reached.
        limit: u32,
        /// Calls in progress on the trunk.
        in_progress: u32,
    },
}

impl Channels {
    /// Counters shared with the metrics endpoint.
    pub fn gauges(&self) -> TrunkGauges {
        self.trunks.clone()
    }

    fn trunk_counter(&self, trunk: &str) -> Arc<AtomicU32> {
        let mut trunks = self.trunks.lock().unwrap_or_else(|e| e.into_inner());
        trunks.entry(trunk.to_string()).or_default().clone()
    }

    /// Calls in progress on `trunk`.
    pub fn in_progress(&self, trunk: &str) -> u32 {
        self.trunk_counter(trunk).load(Ordering::Relaxed)
    }

    /// Admits a call on `trunk` (limit `trunk_limit`) and `site` (its own limit, if
    /// any); `emergency` calls are never refused.
    pub fn admit(
        &mut self,
        trunk: &str,
        trunk_limit: u32,
        site: Option<(&str, Option<u32>)>,
        emergency: bool,
    ) -> Admission {
        let trunk_counter = self.trunk_counter(trunk);
        let in_progress = trunk_counter.load(Ordering::Relaxed);
        let site_counter = site.and_then(|(id, limit)| {
            limit.map(|limit| {
                let counter = self
                    .sites
                    .entry((trunk.to_string(), id.to_string()))
                    .or_default()
                    .clone();
                (counter, limit)
            })
        });
        if !emergency {
            if in_progress >= trunk_limit {
                return Admission::Refused {
                    scope: "trunk",
                    limit: trunk_limit,
                    in_progress,
                };
            }
            if let Some((counter, limit)) = &site_counter {
                if counter.load(Ordering::Relaxed) >= *limit {
                    return Admission::Refused {
                        scope: "site",
                        limit: *limit,
                        in_progress,
                    };
                }
            }
        }
        trunk_counter.fetch_add(1, Ordering::Relaxed);
        let site = site_counter.map(|(counter, _)| {
            counter.fetch_add(1, Ordering::Relaxed);
            counter
        });
        Admission::Admitted {
            permit: ChannelPermit {
                trunk: trunk_counter,
                site,
            },
            in_progress,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admitted(a: Admission) -> ChannelPermit {
        match a {
            Admission::Admitted { permit, .. } => permit,
            Admission::Refused { .. } => panic!("refused"),
        }
    }

    #[test]
    fn limit_is_enforced_and_released_on_drop() {
        let mut c = Channels::default();
        let a = admitted(c.admit("t", 2, None, false));
        let b = admitted(c.admit("t", 2, None, false));
        assert!(matches!(
            c.admit("t", 2, None, false),
            Admission::Refused {
                scope: "trunk",
                limit: 2,
                in_progress: 2
            }
        ));
        drop(a);
        assert_eq!(c.in_progress("t"), 1);
        let _c = admitted(c.admit("t", 2, None, false));
        drop(b);
        assert_eq!(c.in_progress("t"), 1);
    }

    #[test]
    fn site_limit_inside_the_trunk() {
        let mut c = Channels::default();
        let _a = admitted(c.admit("t", 5, Some(("lyon", Some(1))), false));
        assert!(matches!(
            c.admit("t", 5, Some(("lyon", Some(1))), false),
            Admission::Refused { scope: "site", .. }
        ));
        let _b = admitted(c.admit("t", 5, Some(("paris", None)), false));
        assert_eq!(c.in_progress("t"), 2);
    }

    #[test]
    fn emergency_calls_pass_a_full_trunk_and_count() {
        let mut c = Channels::default();
        let _a = admitted(c.admit("t", 1, None, false));
        let e = admitted(c.admit("t", 1, None, true));
        assert_eq!(c.in_progress("t"), 2);
        drop(e);
        assert_eq!(c.in_progress("t"), 1);
        assert!(matches!(
            c.admit("t", 0, None, false),
            Admission::Refused { .. }
        ));
    }
}
