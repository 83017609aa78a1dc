//! Names of next hops (a Teams SBC's `sbc.contoso.fr`) turned into addresses without
//! making the core wait for DNS.
//!
//! The configuration's `[hosts]` table answers first; other names come from a cache
//! that background tasks fill with the system resolver: every name of the
//! provisioning's inbound targets when the edge starts and after each reload, a name
//! the core missed as soon as it asks, and every cached name again each minute. A
//! call to a name not resolved yet fails (503, like an unreachable target); the next
//! one finds it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// How often cached names are resolved again.
const REFRESH: Duration = Duration::from_secs(60);

/// Name-to-address lookups for the core.
pub struct Resolver {
    fixed: BTreeMap<String, IpAddr>,
    cache: RwLock<HashMap<String, IpAddr>>,
    pending: Mutex<HashSet<String>>,
}

impl Resolver {
    /// A resolver answering `fixed` names itself.
    pub fn new(fixed: BTreeMap<String, IpAddr>) -> Arc<Resolver> {
        Arc::new(Resolver {
            fixed,
            cache: RwLock::new(HashMap::new()),
            pending: Mutex::new(HashSet::new()),
        })
    }

    /// The address of `name` if known now; otherwise starts resolving it in the
    /// background and returns `None`.
    pub fn lookup(self: &Arc<Self>, name: &str) -> Option<IpAddr> {
        let name = name.to_ascii_lowercase();
        if let Some(ip) = self.fixed.get(&name) {
            return Some(*ip);
        }
        if let Some(ip) = self
            .cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&name)
        {
            return Some(*ip);
        }
        self.prefetch(vec![name]);
        None
    }

    /// Resolves `names` in the background (those not fixed nor already underway).
    pub fn prefetch(self: &Arc<Self>, names: Vec<String>) {
        let mut todo = Vec::new();
        {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            for name in names {
                let name = name.to_ascii_lowercase();
                if !self.fixed.contains_key(&name) && pending.insert(name.clone()) {
                    todo.push(name);
                }
            }
        }
        if todo.is_empty() {
            return;
        }
        let resolver = self.clone();
        tokio::spawn(async move {
            for name in todo {
                resolver.resolve_now(&name).await;
                resolver
                    .pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&name);
            }
        });
    }

    async fn resolve_now(&self, name: &str) {
        let lookup = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::lookup_host((name, 0u16)),
        )
        .await;
        match lookup {
            Ok(Ok(addresses)) => {
                let addresses: Vec<IpAddr> = addresses.map(|a| a.ip()).collect();
                // IPv4 first: the edge's listeners are most often IPv4.
                let chosen = addresses
                    .iter()
                    .find(|ip| ip.is_ipv4())
                    .or_else(|| addresses.first());
                if let Some(ip) = chosen {
                    self.cache
                        .write()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(name.to_string(), *ip);
                }
            }
            Ok(Err(error)) => tracing::warn!(%name, %error, "Cannot resolve a next hop's name."),
            Err(_) => tracing::warn!(%name, "Resolving a next hop's name timed out."),
        }
    }

    /// Resolves every cached name again, each minute, until the task is aborted.
    pub async fn refresh_forever(self: Arc<Self>) {
        loop {
            tokio::time::sleep(REFRESH).await;
            let names: Vec<String> = self
                .cache
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .keys()
                .cloned()
                .collect();
            for name in names {
                self.resolve_now(&name).await;
            }
        }
    }
}

/// The DNS names of the trunks' inbound targets.
pub fn dns_targets(provisioning: &provisioning::Provisioning) -> Vec<String> {
    provisioning
        .trunks()
        .iter()
        .filter_map(|t| match t.inbound().target().host() {
            provisioning::Host::Dns(name) => Some(name.clone()),
            provisioning::Host::Ip(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fixed_names_answer_at_once_and_others_are_resolved_in_the_background() {
        let mut fixed = BTreeMap::new();
        fixed.insert("sbc.example.test".to_string(), "127.0.0.9".parse().unwrap());
        let r = Resolver::new(fixed);
        assert_eq!(
            r.lookup("SBC.example.test"),
            Some("127.0.0.9".parse().unwrap())
        );
        // "localhost" is resolved by the system without the network.
        assert_eq!(r.lookup("localhost"), None);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let ip = loop {
            if let Some(ip) = r.lookup("localhost") {
                break ip;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "localhost never resolved"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        assert!(ip.is_loopback());
    }
}
