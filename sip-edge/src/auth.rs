//! SIP digest authentication of trunks (RFC 3261 §22, RFC 8760): challenges, nonces,
//! response checks and replay protection. Pure: no I/O, the clock is passed in.
//!
//! - A challenge offers the configured algorithms in preference order, SHA-256
//!   then MD5 by default (RFC 8760 §2.4: the client picks the first it supports),
//!   each with `qop="auth"`, one nonce for all.
//! - A nonce is `<issued secs hex>.<serial hex>.<MAC hex>`: the MAC (SHA-256 keyed with a
//!   per-process secret) proves the edge issued it, so nonces need no table until
//!   used. A nonce older than the configured lifetime is refused as stale (the client
//!   retries with the new nonce without asking its user, RFC 3261 §22.4).
//! - Replay: with `qop=auth` every use of a nonce must carry a larger nonce count
//!   (`nc`) than the previous one; without qop (RFC 2069 clients) a nonce is good for
//!   one request. The table of used nonces forgets a nonce once it has expired.
//! - Only `algorithm=MD5` and `SHA-256` (or absent, meaning MD5) are accepted; the
//!   `-sess` variants and `auth-int` are refused.

use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

/// Digest algorithms the edge accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// RFC 2617 MD5.
    Md5,
    /// RFC 8760 SHA-256.
    Sha256,
}

impl Algorithm {
    /// The name in `algorithm=` parameters.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// Reads `MD5` or `SHA-256` (any case).
    pub fn from_name(name: &str) -> Option<Algorithm> {
        [Algorithm::Md5, Algorithm::Sha256]
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }

    /// Lower-case hex digest of `text`.
    pub fn hash(self, text: &str) -> String {
        match self {
            Algorithm::Md5 => hex(&md5::Md5::digest(text.as_bytes())),
            Algorithm::Sha256 => hex(&Sha256::digest(text.as_bytes())),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Why an authorization was not accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthFailure {
    /// No credentials for our realm: challenge.
    Missing,
    /// The nonce expired or was not issued by this process: challenge again, stale.
    Stale,
    /// The header cannot be read, or uses what the edge does not accept.
    Malformed(String),
    /// The nonce (and count) was already used.
    Replayed,
    /// Unknown user name or wrong response.
    Rejected,
}

/// The parameters of an `Authorization` / `Proxy-Authorization` digest value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    /// `username`.
    pub username: String,
    /// `realm`.
    pub realm: String,
    /// `nonce`.
    pub nonce: String,
    /// `uri`.
    pub uri: String,
    /// `response`.
    pub response: String,
    /// `algorithm`, MD5 when absent.
    pub algorithm: Option<String>,
    /// `qop`.
    pub qop: Option<String>,
    /// `nc`.
    pub nc: Option<String>,
    /// `cnonce`.
    pub cnonce: Option<String>,
}

impl Credentials {
    /// Reads a `Digest ...` header value.
    ///
    /// # Errors
    /// A message naming what is wrong.
    pub fn parse(value: &str) -> Result<Credentials, String> {
        let value = value.trim();
        let Some(rest) = value
            .get(..7)
            .filter(|s| s.eq_ignore_ascii_case("digest "))
            .map(|_| &value[7..])
        else {
            return Err("not a Digest credential".into());
        };
        let mut c = Credentials::default();
        for (name, val) in params(rest)? {
            match name.to_ascii_lowercase().as_str() {
                "username" => c.username = val,
                "realm" => c.realm = val,
                "nonce" => c.nonce = val,
                "uri" => c.uri = val,
                "response" => c.response = val.to_ascii_lowercase(),
                "algorithm" => c.algorithm = Some(val),
                "qop" => c.qop = Some(val),
                "nc" => c.nc = Some(val),
                "cnonce" => c.cnonce = Some(val),
                _ => {}
            }
        }
        for (name, v) in [
            ("username", &c.username),
            ("realm", &c.realm),
            ("nonce", &c.nonce),
            ("uri", &c.uri),
            ("response", &c.response),
        ] {
            if v.is_empty() {
                return Err(format!("the {name} parameter is missing"));
            }
        }
        Ok(c)
    }
}

/// `name=value` or `name="value"` pairs separated by commas.
fn params(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let eq = rest
            .find('=')
            .ok_or_else(|| format!("{rest:?} is not name=value"))?;
        let name = rest[..eq].trim().to_string();
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, ch)) = chars.next() {
                match ch {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            v.push(escaped);
                        }
                    }
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    _ => v.push(ch),
                }
            }
            let end = end.ok_or_else(|| format!("unterminated quote after {name}="))?;
            value = v;
            rest = quoted[end + 1..].trim_start();
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_string();
            rest = &rest[end..];
        }
        out.push((name, value));
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_start();
        } else if !rest.is_empty() {
            return Err(format!("expected a comma before {rest:?}"));
        }
    }
    Ok(out)
}

/// Issues and checks digest nonces for one realm.
pub struct DigestAuth {
    realm: String,
    algorithms: Vec<Algorithm>,
    secret: [u8; 32],
    nonce_ttl: Duration,
    serial: u64,
    /// Used nonces: highest nonce count seen (0 without qop) and issue time.
    used: HashMap<String, (u32, u64)>,
    checks_since_prune: u32,
}

impl DigestAuth {
    /// An authenticator for `realm` offering `algorithms` (preferred first) whose
    /// nonces live `nonce_ttl`; `secret` keys the nonces (random per process).
    pub fn new(
        realm: &str,
        algorithms: &[Algorithm],
        nonce_ttl: Duration,
        secret: [u8; 32],
    ) -> DigestAuth {
        DigestAuth {
            realm: realm.to_string(),
            algorithms: algorithms.to_vec(),
            secret,
            nonce_ttl,
            serial: 0,
            used: HashMap::new(),
            checks_since_prune: 0,
        }
    }

    /// The realm.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    fn mac(&self, issued: u64, serial: u64) -> String {
        let mut inner = Sha256::new();
        inner.update(self.secret);
        inner.update(format!("{issued:x}.{serial:x}"));
        let mut outer = Sha256::new();
        outer.update(self.secret);
        outer.update(inner.finalize());
        hex(&outer.finalize()[..16])
    }

    /// A fresh nonce issued at `now_secs` (Unix seconds).
    pub fn nonce(&mut self, now_secs: u64) -> String {
        self.serial += 1;
        format!(
            "{now_secs:x}.{:x}.{}",
            self.serial,
            self.mac(now_secs, self.serial)
        )
    }

    /// Challenge header values, one per algorithm in preference order, with a fresh
    /// nonce.
    pub fn challenges(&mut self, now_secs: u64, stale: bool) -> Vec<String> {
        let nonce = self.nonce(now_secs);
        let stale = if stale { ", stale=true" } else { "" };
        self.algorithms
            .iter()
            .map(|a| {
                format!(
                    "Digest realm=\"{}\", nonce=\"{nonce}\", algorithm={}, qop=\"auth\"{stale}",
                    self.realm,
                    a.name()
                )
            })
            .collect()
    }

    /// The issue time of a nonce this process issued, `None` for a forged one.
    fn issued(&self, nonce: &str) -> Option<u64> {
        let mut parts = nonce.split('.');
        let issued = u64::from_str_radix(parts.next()?, 16).ok()?;
        let serial = u64::from_str_radix(parts.next()?, 16).ok()?;
        let mac = parts.next()?;
        (parts.next().is_none() && constant_time_eq(mac, &self.mac(issued, serial)))
            .then_some(issued)
    }

    /// Checks the credentials of a request among `header_values` (the values of
    /// `Proxy-Authorization` or `Authorization`): the one for our realm is used.
    /// `password` gives the password of a user name. On success, the user name.
    ///
    /// # Errors
    /// [`AuthFailure`]; the nonce is consumed only by a correct response.
    pub fn verify<'a>(
        &mut self,
        method: &str,
        header_values: impl Iterator<Item = &'a str>,
        password: impl Fn(&str) -> Option<String>,
        now_secs: u64,
    ) -> Result<String, AuthFailure> {
        self.prune(now_secs);
        let mut found = None;
        for value in header_values {
            let c = Credentials::parse(value).map_err(AuthFailure::Malformed)?;
            if c.realm == self.realm {
                found = Some(c);
                break;
            }
        }
        let c = found.ok_or(AuthFailure::Missing)?;
        let algorithm = match c.algorithm.as_deref() {
            None => Algorithm::Md5,
            Some(a) if a.eq_ignore_ascii_case("MD5") => Algorithm::Md5,
            Some(a) if a.eq_ignore_ascii_case("SHA-256") => Algorithm::Sha256,
            Some(other) => {
                return Err(AuthFailure::Malformed(format!(
                    "algorithm {other} is not accepted (MD5 or SHA-256)"
                )))
            }
        };
        let issued = self.issued(&c.nonce).ok_or(AuthFailure::Stale)?;
        if now_secs.saturating_sub(issued) > self.nonce_ttl.as_secs() {
            return Err(AuthFailure::Stale);
        }
        let count = match c.qop.as_deref() {
            None => None,
            Some(q) if q.eq_ignore_ascii_case("auth") => {
                let nc = c.nc.as_deref().unwrap_or_default();
                let n = u32::from_str_radix(nc, 16)
                    .ok()
                    .filter(|n| *n > 0 && nc.len() == 8)
                    .ok_or_else(|| {
                        AuthFailure::Malformed(format!("nc {nc:?} is not 8 hex digits"))
                    })?;
                if c.cnonce.as_deref().unwrap_or_default().is_empty() {
                    return Err(AuthFailure::Malformed("cnonce is missing".into()));
                }
                Some(n)
            }
            Some(other) => {
                return Err(AuthFailure::Malformed(format!(
                    "qop {other} is not accepted (auth)"
                )))
            }
        };
        let previous = self.used.get(&c.nonce).map(|(nc, _)| *nc);
        match (previous, count) {
            (Some(_), None) => return Err(AuthFailure::Replayed),
            (Some(seen), Some(n)) if n <= seen => return Err(AuthFailure::Replayed),
            _ => {}
        }
        let password = password(&c.username).ok_or(AuthFailure::Rejected)?;
        let ha1 = algorithm.hash(&format!("{}:{}:{password}", c.username, c.realm));
        let ha2 = algorithm.hash(&format!("{method}:{}", c.uri));
        let expected = match (count, &c.qop) {
            (Some(_), Some(qop)) => algorithm.hash(&format!(
                "{ha1}:{}:{}:{}:{qop}:{ha2}",
                c.nonce,
                c.nc.as_deref().unwrap_or_default(),
                c.cnonce.as_deref().unwrap_or_default()
            )),
            _ => algorithm.hash(&format!("{ha1}:{}:{ha2}", c.nonce)),
        };
        if !constant_time_eq(&expected, &c.response) {
            return Err(AuthFailure::Rejected);
        }
        self.used
            .insert(c.nonce.clone(), (count.unwrap_or(0), issued));
        Ok(c.username)
    }

    fn prune(&mut self, now_secs: u64) {
        self.checks_since_prune += 1;
        if self.checks_since_prune < 1024 {
            return;
        }
        self.checks_since_prune = 0;
        let ttl = self.nonce_ttl.as_secs();
        self.used
            .retain(|_, (_, issued)| now_secs.saturating_sub(*issued) <= ttl);
    }

    /// Nonces remembered as used (for tests and metrics).
    pub fn used_nonces(&self) -> usize {
        self.used.len()
    }
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A digest response as a client computes it (used by tests and by nothing else in
/// the edge; kept here so the two sides share one definition of the hashes).
#[allow(clippy::too_many_arguments)]
pub fn client_response(
    algorithm: Algorithm,
    username: &str,
    realm: &str,
    password: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    nc_cnonce: Option<(&str, &str)>,
) -> String {
    let ha1 = algorithm.hash(&format!("{username}:{realm}:{password}"));
    let ha2 = algorithm.hash(&format!("{method}:{uri}"));
    match nc_cnonce {
        Some((nc, cnonce)) => algorithm.hash(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")),
        None => algorithm.hash(&format!("{ha1}:{nonce}:{ha2}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> DigestAuth {
        DigestAuth::new(
            "edge.test",
            &[Algorithm::Sha256, Algorithm::Md5],
            Duration::from_secs(300),
            [7; 32],
        )
    }

    fn nonce_of(challenge: &str) -> String {
        let start = challenge.find("nonce=\"").unwrap() + 7;
        let end = start + challenge[start..].find('"').unwrap();
        challenge[start..end].to_string()
    }

    fn header(algorithm: Algorithm, nonce: &str, nc: &str, password: &str) -> String {
        let response = client_response(
            algorithm,
            "pbx",
            "edge.test",
            password,
            "INVITE",
            "sip:+33612345678@edge.test",
            nonce,
            Some((nc, "c0ffee")),
        );
        format!(
            "Digest username=\"pbx\", realm=\"edge.test\", nonce=\"{nonce}\", uri=\"sip:+33612345678@edge.test\", response=\"{response}\", algorithm={}, qop=auth, nc={nc}, cnonce=\"c0ffee\"",
            algorithm.name()
        )
    }

    fn password(user: &str) -> Option<String> {
        (user == "pbx").then(|| "s3cret".to_string())
    }

    #[test]
    fn known_md5_vector_from_rfc_2617() {
        // RFC 2617 §3.5 (HTTP example, same hashes as SIP).
        let response = client_response(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            Some(("00000001", "0a4f113b")),
        );
        assert_eq!(response, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn challenges_offer_sha256_then_md5_with_one_nonce() {
        let mut a = auth();
        let c = a.challenges(1_000, false);
        assert!(c[0].contains("algorithm=SHA-256") && c[1].contains("algorithm=MD5"));
        assert_eq!(nonce_of(&c[0]), nonce_of(&c[1]));
        assert!(c[0].contains("realm=\"edge.test\"") && c[0].contains("qop=\"auth\""));
        assert!(a.challenges(1_000, true)[0].ends_with("stale=true"));
    }

    #[test]
    fn sha256_and_md5_responses_are_accepted_and_a_wrong_password_refused() {
        for algorithm in [Algorithm::Sha256, Algorithm::Md5] {
            let mut a = auth();
            let nonce = nonce_of(&a.challenges(1_000, false)[0]);
            let wrong = header(algorithm, &nonce, "00000001", "guess");
            assert_eq!(
                a.verify("INVITE", [wrong.as_str()].into_iter(), password, 1_001),
                Err(AuthFailure::Rejected)
            );
            let good = header(algorithm, &nonce, "00000001", "s3cret");
            assert_eq!(
                a.verify("INVITE", [good.as_str()].into_iter(), password, 1_001),
                Ok("pbx".to_string())
            );
            // The method is part of the hash: the same header does not pass a BYE.
            let next = header(algorithm, &nonce, "00000002", "s3cret");
            assert_eq!(
                a.verify("BYE", [next.as_str()].into_iter(), password, 1_001),
                Err(AuthFailure::Rejected)
            );
        }
    }

    #[test]
    fn replayed_counts_are_refused_and_higher_counts_accepted() {
        let mut a = auth();
        let nonce = a.nonce(1_000);
        let first = header(Algorithm::Sha256, &nonce, "00000001", "s3cret");
        assert!(a
            .verify("INVITE", [first.as_str()].into_iter(), password, 1_000)
            .is_ok());
        assert_eq!(
            a.verify("INVITE", [first.as_str()].into_iter(), password, 1_000),
            Err(AuthFailure::Replayed)
        );
        let second = header(Algorithm::Sha256, &nonce, "00000002", "s3cret");
        assert!(a
            .verify("INVITE", [second.as_str()].into_iter(), password, 1_000)
            .is_ok());
        assert_eq!(a.used_nonces(), 1);
    }

    #[test]
    fn expired_and_forged_nonces_are_stale() {
        let mut a = auth();
        let nonce = a.nonce(1_000);
        let h = header(Algorithm::Md5, &nonce, "00000001", "s3cret");
        assert_eq!(
            a.verify("INVITE", [h.as_str()].into_iter(), password, 1_301),
            Err(AuthFailure::Stale)
        );
        let forged = nonce.replacen("3e8", "3e9", 1);
        let h = header(Algorithm::Md5, &forged, "00000001", "s3cret");
        assert_eq!(
            a.verify("INVITE", [h.as_str()].into_iter(), password, 1_001),
            Err(AuthFailure::Stale)
        );
        // Another process (another secret) did not issue it either.
        let mut other = DigestAuth::new(
            "edge.test",
            &[Algorithm::Md5],
            Duration::from_secs(300),
            [8; 32],
        );
        assert_eq!(other.challenges(1, false).len(), 1);
        let h = header(Algorithm::Md5, &nonce, "00000001", "s3cret");
        assert_eq!(
            other.verify("INVITE", [h.as_str()].into_iter(), password, 1_001),
            Err(AuthFailure::Stale)
        );
    }

    #[test]
    fn without_qop_a_nonce_serves_once() {
        let mut a = auth();
        let nonce = a.nonce(1_000);
        let response = client_response(
            Algorithm::Md5,
            "pbx",
            "edge.test",
            "s3cret",
            "REGISTER",
            "sip:edge.test",
            &nonce,
            None,
        );
        let h = format!("Digest username=\"pbx\",realm=\"edge.test\",nonce=\"{nonce}\",uri=\"sip:edge.test\",response=\"{response}\",algorithm=MD5");
        assert!(a
            .verify("REGISTER", [h.as_str()].into_iter(), password, 1_000)
            .is_ok());
        assert_eq!(
            a.verify("REGISTER", [h.as_str()].into_iter(), password, 1_000),
            Err(AuthFailure::Replayed)
        );
    }

    #[test]
    fn unknown_users_other_realms_and_bad_headers() {
        let mut a = auth();
        let nonce = a.nonce(1_000);
        let h =
            header(Algorithm::Md5, &nonce, "00000001", "s3cret").replace("\"pbx\"", "\"nobody\"");
        assert_eq!(
            a.verify("INVITE", [h.as_str()].into_iter(), password, 1_000),
            Err(AuthFailure::Rejected)
        );
        let other_realm = header(Algorithm::Md5, &nonce, "00000001", "s3cret")
            .replace("realm=\"edge.test\"", "realm=\"elsewhere\"");
        assert_eq!(
            a.verify(
                "INVITE",
                [other_realm.as_str()].into_iter(),
                password,
                1_000
            ),
            Err(AuthFailure::Missing)
        );
        assert_eq!(
            a.verify("INVITE", std::iter::empty(), password, 1_000),
            Err(AuthFailure::Missing)
        );
        for bad in [
            "Basic cGJ4OnMzY3JldA==",
            "Digest username=\"pbx",
            "Digest username=pbx realm=x",
        ] {
            assert!(matches!(
                a.verify("INVITE", [bad].into_iter(), password, 1_000),
                Err(AuthFailure::Malformed(_))
            ));
        }
        let sess = header(Algorithm::Md5, &nonce, "00000001", "s3cret")
            .replace("algorithm=MD5", "algorithm=MD5-sess");
        assert!(matches!(
            a.verify("INVITE", [sess.as_str()].into_iter(), password, 1_000),
            Err(AuthFailure::Malformed(m)) if m.contains("MD5-sess")
        ));
    }
}
