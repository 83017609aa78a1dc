//! Registrations of trunks whose PBX REGISTERs (3CX, FreePBX, Yeastar...): one binding
//! per trunk, the contact the PBX registered and the flow its REGISTER came through.
//!
//! Inbound calls for a trunk with a live binding go to the binding: the Request-URI is
//! the registered contact and the request travels over the flow the REGISTER came
//! through (the PBX's public address or its TCP/TLS connection), so PBXs behind NAT
//! are reached. A trunk without a binding falls back on its provisioned inbound
//! target. A newer REGISTER replaces the binding (a trunk is one PBX); `Expires: 0`
//! removes it; an expired binding is gone. Pure: the clock is passed in.

use crate::transport::Flow;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Where a registered PBX is reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    /// The Contact URI it registered.
    pub contact: String,
    /// The flow the REGISTER came through.
    pub flow: Flow,
    /// When the binding lapses.
    pub expires_at: Instant,
}

/// The bindings in force, by trunk id.
#[derive(Default)]
pub struct Registrar {
    bindings: HashMap<String, Binding>,
}

impl Registrar {
    /// Binds `trunk` to `contact` over `flow` for `expires`.
    pub fn register(
        &mut self,
        trunk: &str,
        contact: String,
        flow: Flow,
        expires: Duration,
        now: Instant,
    ) {
        self.bindings.insert(
            trunk.to_string(),
            Binding {
                contact,
                flow,
                expires_at: now + expires,
            },
        );
    }

    /// Removes the binding of `trunk`; whether there was one.
    pub fn unregister(&mut self, trunk: &str) -> bool {
        self.bindings.remove(trunk).is_some()
    }

    /// The live binding of `trunk`.
    pub fn binding(&mut self, trunk: &str, now: Instant) -> Option<&Binding> {
        if self
            .bindings
            .get(trunk)
            .is_some_and(|b| b.expires_at <= now)
        {
            self.bindings.remove(trunk);
        }
        self.bindings.get(trunk)
    }

    /// The trunks with a live binding registered from `ip`.
    pub fn trunks_at(&self, ip: IpAddr, now: Instant) -> Vec<&str> {
        self.bindings
            .iter()
            .filter(|(_, b)| b.expires_at > now && b.flow.peer().ip() == ip)
            .map(|(t, _)| t.as_str())
            .collect()
    }

    /// Drops expired bindings; returns the number left.
    pub fn sweep(&mut self, now: Instant) -> usize {
        self.bindings.retain(|_, b| b.expires_at > now);
        self.bindings.len()
    }

    /// Trunks with a binding (expired ones included until swept).
    pub fn len(&self) -> usize {
        self.bindings.len()
    }

    /// Whether no trunk is bound.
    pub fn is_empty(&self) -> bool {
        self.bindings.is_empty()
    }
}

/// The expiry a REGISTER asks for: the Contact's `expires` parameter, else the
/// `Expires` header, else 3600 s (RFC 3261 §10.2.1.1).
pub fn requested_expiry(contact_params: Option<&str>, expires_header: Option<&str>) -> u64 {
    contact_params
        .and_then(|p| crate::message::param_in(p, "expires"))
        .or(expires_header)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(3600)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(last: u8) -> Flow {
        Flow::Udp {
            socket: 0,
            peer: format!("192.0.2.{last}:5060").parse().unwrap(),
        }
    }

    #[test]
    fn a_binding_lives_until_its_expiry() {
        let mut r = Registrar::default();
        let t0 = Instant::now();
        r.register(
            "pbx-trunk",
            "sip:100@192.0.2.7:5060".into(),
            flow(7),
            Duration::from_secs(60),
            t0,
        );
        let b = r
            .binding("pbx-trunk", t0 + Duration::from_secs(59))
            .unwrap();
        assert_eq!(b.contact, "sip:100@192.0.2.7:5060");
        assert_eq!(
            r.trunks_at("192.0.2.7".parse().unwrap(), t0),
            vec!["pbx-trunk"]
        );
        assert!(r.trunks_at("192.0.2.8".parse().unwrap(), t0).is_empty());
        assert!(r
            .binding("pbx-trunk", t0 + Duration::from_secs(60))
            .is_none());
        assert!(r.is_empty());
    }

    #[test]
    fn a_new_register_replaces_and_zero_removes() {
        let mut r = Registrar::default();
        let t0 = Instant::now();
        r.register(
            "t",
            "sip:a@192.0.2.7".into(),
            flow(7),
            Duration::from_secs(60),
            t0,
        );
        r.register(
            "t",
            "sip:a@192.0.2.9".into(),
            flow(9),
            Duration::from_secs(60),
            t0,
        );
        assert_eq!(r.binding("t", t0).unwrap().flow, flow(9));
        assert_eq!(r.len(), 1);
        assert!(r.unregister("t"));
        assert!(!r.unregister("t"));
        r.register("u", "sip:u@x".into(), flow(3), Duration::from_secs(1), t0);
        assert_eq!(r.sweep(t0 + Duration::from_secs(2)), 0);
    }

    #[test]
    fn expiry_comes_from_the_contact_then_the_header() {
        assert_eq!(requested_expiry(Some(";expires=120"), Some("600")), 120);
        assert_eq!(requested_expiry(Some(";q=1"), Some("600")), 600);
        assert_eq!(requested_expiry(None, Some(" 0 ")), 0);
        assert_eq!(requested_expiry(None, None), 3600);
        assert_eq!(requested_expiry(None, Some("soon")), 3600);
    }
}
