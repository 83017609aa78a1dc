//! The toll-fraud guard (contract §10): caps per destination class, anomaly detection
//! against each trunk's own baseline, and operator blocks.
//!
//! A hacked PBX shows up as a sudden burst of international or premium calls. For
//! every new call the core asks [`FraudGuard::check`], which decides in this order:
//! 1. emergency calls always pass (they still count);
//! 2. a **blocked trunk** refuses every new call, inbound included;
//! 3. inbound calls pass (fraud is what the customer's side dials);
//! 4. the call's [`RiskClass`] is read from the called number
//!    (`number-portability`): `premium` (category `special_premium` in any country:
//!    French 081/082/089 and foreign premium ranges, plus `international_network`:
//!    satellite and global networks), `international` (outside the national plan),
//!    `other`;
//! 5. **anomaly detection** (international and premium): the attempt is counted in
//!    the trunk's history; when the attempts of the last `window_secs` reach
//!    `min_calls` and exceed `factor` times what the trunk's own baseline (the
//!    preceding `baseline_secs`) predicts for such a window, the class is blocked for
//!    the trunk automatically, with an alert log line and a metric; only an operator
//!    unblocks it. A trunk with no history has a baseline of zero, so `min_calls` is
//!    the threshold for a new edge or a new trunk;
//! 6. a **blocked class** refuses the call;
//! 7. the trunk's **caps** from provisioning (`[trunk.fraud_caps]`): calls of the
//!    class in progress (`concurrent`) and admitted within 60 s (`per_minute`).
//!
//! A refusal is answered `403 Forbidden` with a `Warning` saying why, and recorded
//! `rejected_policy`. An admitted call holds a [`FraudPermit`] (its class's count)
//! released exactly once when the call ends.
//!
//! Blocks (automatic and operator) are kept in `<spool_dir>/fraud-blocks.json` and read
//! back at start, so a restart does not unblock a hacked trunk. The guard is owned by
//! the core task: no locks, decisions atomic with admission.

use cdr::Direction;
use number_portability::Category;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The `[fraud]` section of the configuration: anomaly detection settings.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FraudConfig {
    /// The recent window compared with the baseline.
    pub window_secs: u64,
    /// The baseline: this long before the recent window.
    pub baseline_secs: u64,
    /// How many times the baseline's rate the recent window may reach.
    pub factor: f64,
    /// Attempts in the recent window below which nothing is anomalous.
    pub min_calls: u32,
}

impl Default for FraudConfig {
    fn default() -> Self {
        FraudConfig {
            window_secs: 300,
            baseline_secs: 7 * 24 * 3600,
            factor: 10.0,
            min_calls: 20,
        }
    }
}

impl FraudConfig {
    /// Problems with the values, each naming its key.
    pub fn check(&self) -> Vec<String> {
        let mut errors = Vec::new();
        if self.window_secs < 10 {
            errors.push(format!(
                "fraud.window_secs: must be at least 10, got {}",
                self.window_secs
            ));
        }
        if self.baseline_secs < 2 * self.window_secs {
            errors.push(format!(
                "fraud.baseline_secs: {} must be at least twice window_secs ({})",
                self.baseline_secs, self.window_secs
            ));
        }
        if !(self.factor >= 1.0 && self.factor.is_finite()) {
            errors.push(format!(
                "fraud.factor: must be a number of at least 1, got {}",
                self.factor
            ));
        }
        if self.min_calls < 1 {
            errors.push("fraud.min_calls: must be at least 1, got 0".into());
        }
        errors
    }
}

/// Destination classes the caps and blocks are written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskClass {
    /// Outside the national plan, premium excluded.
    International,
    /// Surcharged service numbers, national or foreign; satellite networks.
    Premium,
    /// Everything else.
    Other,
}

impl RiskClass {
    /// Every class.
    pub const ALL: [RiskClass; 3] = [
        RiskClass::International,
        RiskClass::Premium,
        RiskClass::Other,
    ];

    /// Name in provisioning, logs, metrics and the admin API.
    pub fn as_str(self) -> &'static str {
        match self {
            RiskClass::International => "international",
            RiskClass::Premium => "premium",
            RiskClass::Other => "other",
        }
    }

    /// Reads a class name.
    pub fn from_name(name: &str) -> Option<RiskClass> {
        RiskClass::ALL.into_iter().find(|c| c.as_str() == name)
    }

    fn index(self) -> usize {
        self as usize
    }

    fn caps(self, caps: &provisioning::FraudCaps) -> provisioning::ClassCaps {
        match self {
            RiskClass::International => caps.international(),
            RiskClass::Premium => caps.premium(),
            RiskClass::Other => caps.other(),
        }
    }
}

/// The risk class of a called number as the records hold it (E.164, a short code, or
/// text that is not a number: `other`).
pub fn risk_class(callee: &str) -> RiskClass {
    let Ok(number) = number_portability::parse(callee) else {
        return RiskClass::Other;
    };
    let c = number_portability::classify(&number);
    match c.category {
        Category::SpecialPremium | Category::InternationalNetwork => RiskClass::Premium,
        _ if number.as_e164().is_some() && !c.is_national => RiskClass::International,
        _ => RiskClass::Other,
    }
}

/// A block in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// Who set it: an admin token's name, or `anomaly-detector`.
    pub by: String,
    /// Why.
    pub reason: String,
    /// When, in ms since the epoch.
    pub since_ms: u64,
    /// Set by the anomaly detector.
    pub automatic: bool,
}

/// One block as stored and shown: the whole trunk (`class` absent) or one class.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockEntry {
    /// Trunk id.
    pub trunk: String,
    /// The class blocked; the whole trunk when absent.
    pub class: Option<RiskClass>,
    /// The block.
    #[serde(flatten)]
    pub block: Block,
}

/// One channel of a class, held by an admitted call; dropping it releases it.
#[derive(Debug)]
pub struct FraudPermit {
    class: RiskClass,
    counter: Arc<AtomicU32>,
}

impl FraudPermit {
    /// The call's destination class.
    pub fn class(&self) -> RiskClass {
        self.class
    }
}

impl Drop for FraudPermit {
    fn drop(&mut self) {
        self.counter.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What the guard decided about a call.
#[derive(Debug)]
pub enum Verdict {
    /// Admitted: hold the permit for the life of the call.
    Admit(FraudPermit),
    /// Refused: 403 with `reason` in a Warning; `label` is the refusal metric's reason.
    Refuse {
        /// Said in the Warning and the log.
        reason: String,
        /// `blocked` or `fraud_cap`.
        label: &'static str,
    },
}

/// Attempts counted in buckets of a fixed width, over the baseline and window.
struct History {
    /// (bucket number since the guard's origin, attempts), oldest first.
    buckets: VecDeque<(u64, u32)>,
}

impl History {
    fn record(&mut self, bucket: u64) {
        match self.buckets.back_mut() {
            Some((b, n)) if *b == bucket => *n += 1,
            _ => self.buckets.push_back((bucket, 1)),
        }
    }

    /// Attempts in buckets `from..to`.
    fn count(&self, from: u64, to: u64) -> u64 {
        self.buckets
            .iter()
            .filter(|(b, _)| *b >= from && *b < to)
            .map(|(_, n)| u64::from(*n))
            .sum()
    }

    fn forget_before(&mut self, bucket: u64) {
        while self.buckets.front().is_some_and(|(b, _)| *b < bucket) {
            self.buckets.pop_front();
        }
    }
}

struct TrunkState {
    in_progress: [Arc<AtomicU32>; 3],
    admitted: [VecDeque<Instant>; 3],
    history: [History; 2],
    trunk_block: Option<Block>,
    class_blocks: [Option<Block>; 3],
}

/// Counters the metrics endpoint reads.
#[derive(Default)]
pub struct FraudMetrics {
    anomalies: AtomicU64,
    blocks: Mutex<Vec<(String, &'static str, bool)>>,
}

impl crate::metrics::MetricsSection for FraudMetrics {
    fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP sip_edge_fraud_anomalies_total Trunk classes blocked by the anomaly detector.\n# TYPE sip_edge_fraud_anomalies_total counter\nsip_edge_fraud_anomalies_total {}",
            self.anomalies.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP sip_edge_fraud_blocked Blocks in force (class \"all\": the whole trunk).\n# TYPE sip_edge_fraud_blocked gauge"
        );
        let blocks = self.blocks.lock().unwrap_or_else(|e| e.into_inner());
        for (trunk, class, automatic) in blocks.iter() {
            let _ = writeln!(
                out,
                "sip_edge_fraud_blocked{{trunk=\"{}\",class=\"{class}\",automatic=\"{automatic}\"}} 1",
                trunk.replace('\\', "\\\\").replace('"', "\\\"")
            );
        }
    }
}

/// The toll-fraud guard, owned by the core.
pub struct FraudGuard {
    config: FraudConfig,
    origin: Instant,
    width: Duration,
    trunks: HashMap<String, TrunkState>,
    blocks_file: Option<PathBuf>,
    metrics: Arc<FraudMetrics>,
}

/// Name written as `by` on automatic blocks.
pub const ANOMALY_DETECTOR: &str = "anomaly-detector";

impl FraudGuard {
    /// A guard with no history; blocks are kept in `blocks_file` when given (read now
    /// if it exists).
    ///
    /// # Errors
    /// The blocks file exists but cannot be read or is not valid JSON.
    pub fn new(config: FraudConfig, blocks_file: Option<PathBuf>) -> Result<FraudGuard, String> {
        // Buckets: a quarter of the window, and no more than ~1,000 over the baseline.
        let width_secs = (config.window_secs / 4)
            .max(config.baseline_secs / 1000)
            .max(1);
        let mut guard = FraudGuard {
            width: Duration::from_secs(width_secs),
            config,
            origin: Instant::now(),
            trunks: HashMap::new(),
            blocks_file,
            metrics: Arc::new(FraudMetrics::default()),
        };
        if let Some(path) = guard.blocks_file.clone() {
            for entry in read_blocks(&path)? {
                let state = guard.state(&entry.trunk);
                match entry.class {
                    None => state.trunk_block = Some(entry.block),
                    Some(class) => state.class_blocks[class.index()] = Some(entry.block),
                }
            }
            guard.publish();
        }
        Ok(guard)
    }

    /// The counters for the metrics endpoint.
    pub fn metrics(&self) -> Arc<FraudMetrics> {
        self.metrics.clone()
    }

    fn state(&mut self, trunk: &str) -> &mut TrunkState {
        self.trunks
            .entry(trunk.to_string())
            .or_insert_with(|| TrunkState {
                in_progress: Default::default(),
                admitted: Default::default(),
                history: [
                    History {
                        buckets: VecDeque::new(),
                    },
                    History {
                        buckets: VecDeque::new(),
                    },
                ],
                trunk_block: None,
                class_blocks: Default::default(),
            })
    }

    /// Decides about a new call of `trunk` to `callee`.
    pub fn check(
        &mut self,
        trunk: &provisioning::Trunk,
        direction: Direction,
        callee: &str,
        emergency: bool,
    ) -> Verdict {
        self.check_at(
            trunk,
            direction,
            callee,
            emergency,
            Instant::now(),
            now_ms(),
        )
    }

    fn check_at(
        &mut self,
        trunk: &provisioning::Trunk,
        direction: Direction,
        callee: &str,
        emergency: bool,
        now: Instant,
        now_ms: u64,
    ) -> Verdict {
        let class = if direction == Direction::Outbound {
            risk_class(callee)
        } else {
            RiskClass::Other
        };
        let id = trunk.id();
        let config = self.config.clone();
        let bucket = now.saturating_duration_since(self.origin).as_secs() / self.width.as_secs();
        let per_window = config.window_secs.div_ceil(self.width.as_secs());
        let per_baseline = config.baseline_secs / self.width.as_secs();
        let state = self.state(id);
        if emergency {
            return admit(state, class);
        }
        if let Some(block) = &state.trunk_block {
            return Verdict::Refuse {
                reason: format!("trunk {id} is blocked ({})", block.reason),
                label: "blocked",
            };
        }
        if direction == Direction::Inbound {
            return admit(state, class);
        }
        let mut alert = None;
        if class != RiskClass::Other {
            let history = &mut state.history[class.index()];
            history.forget_before(bucket.saturating_sub(per_baseline + per_window));
            history.record(bucket);
            let recent_from = bucket + 1 - per_window.min(bucket + 1);
            let recent = history.count(recent_from, bucket + 1);
            let baseline_from = recent_from.saturating_sub(per_baseline);
            let baseline = history.count(baseline_from, recent_from);
            // What the baseline predicts for one window.
            let expected = baseline as f64 * per_window as f64 / per_baseline.max(1) as f64;
            if state.class_blocks[class.index()].is_none()
                && recent >= u64::from(config.min_calls)
                && recent as f64 > config.factor * expected
            {
                let reason = format!(
                    "{recent} {} call attempts in {} s against {expected:.1} expected from the trunk's baseline",
                    class.as_str(),
                    config.window_secs
                );
                state.class_blocks[class.index()] = Some(Block {
                    by: ANOMALY_DETECTOR.into(),
                    reason: reason.clone(),
                    since_ms: now_ms,
                    automatic: true,
                });
                alert = Some(reason);
            }
        }
        if let Some(reason) = alert {
            self.metrics.anomalies.fetch_add(1, Ordering::Relaxed);
            tracing::error!(trunk = id, class = class.as_str(), %reason, "FRAUD ALERT: anomalous traffic, the class is blocked for the trunk until an operator unblocks it.");
            self.save();
        }
        let state = self.state(id);
        if let Some(block) = &state.class_blocks[class.index()] {
            return Verdict::Refuse {
                reason: format!(
                    "trunk {id}: {} calls are blocked ({})",
                    class.as_str(),
                    block.reason
                ),
                label: "blocked",
            };
        }
        let caps = class.caps(trunk.fraud_caps());
        if let Some(max) = caps.concurrent() {
            if state.in_progress[class.index()].load(Ordering::Relaxed) >= max {
                return Verdict::Refuse {
                    reason: format!(
                        "trunk {id}: {} calls at the cap of {max} in progress",
                        class.as_str()
                    ),
                    label: "fraud_cap",
                };
            }
        }
        if let Some(max) = caps.per_minute() {
            let admitted = &mut state.admitted[class.index()];
            while admitted
                .front()
                .is_some_and(|t| now.saturating_duration_since(*t) >= Duration::from_secs(60))
            {
                admitted.pop_front();
            }
            if admitted.len() >= max as usize {
                return Verdict::Refuse {
                    reason: format!(
                        "trunk {id}: {} calls at the cap of {max} per minute",
                        class.as_str()
                    ),
                    label: "fraud_cap",
                };
            }
            admitted.push_back(now);
        }
        admit(state, class)
    }

    /// Blocks `trunk` (every new call) or one class of its outbound calls. Returns
    /// whether something changed.
    pub fn block(&mut self, trunk: &str, class: Option<RiskClass>, by: &str, reason: &str) -> bool {
        let block = Block {
            by: by.to_string(),
            reason: reason.to_string(),
            since_ms: now_ms(),
            automatic: false,
        };
        let state = self.state(trunk);
        let slot = match class {
            None => &mut state.trunk_block,
            Some(c) => &mut state.class_blocks[c.index()],
        };
        let changed = slot.is_none();
        *slot = Some(block);
        self.save();
        changed
    }

    /// Lifts a block; returns whether there was one.
    pub fn unblock(&mut self, trunk: &str, class: Option<RiskClass>) -> bool {
        let Some(state) = self.trunks.get_mut(trunk) else {
            return false;
        };
        let slot = match class {
            None => &mut state.trunk_block,
            Some(c) => &mut state.class_blocks[c.index()],
        };
        let had = slot.take().is_some();
        if let Some(c) = class {
            // A fresh start: the burst that tripped the detector is not held against
            // the trunk again.
            if c != RiskClass::Other {
                state.history[c.index()].buckets.clear();
            }
        }
        if had {
            self.save();
        }
        had
    }

    /// Every block in force, by trunk then class.
    pub fn blocks(&self) -> Vec<BlockEntry> {
        let mut entries = Vec::new();
        let sorted: BTreeMap<&String, &TrunkState> = self.trunks.iter().collect();
        for (trunk, state) in sorted {
            if let Some(block) = &state.trunk_block {
                entries.push(BlockEntry {
                    trunk: trunk.clone(),
                    class: None,
                    block: block.clone(),
                });
            }
            for class in RiskClass::ALL {
                if let Some(block) = &state.class_blocks[class.index()] {
                    entries.push(BlockEntry {
                        trunk: trunk.clone(),
                        class: Some(class),
                        block: block.clone(),
                    });
                }
            }
        }
        entries
    }

    fn publish(&self) {
        let list = self
            .blocks()
            .into_iter()
            .map(|e| {
                (
                    e.trunk,
                    e.class.map_or("all", RiskClass::as_str),
                    e.block.automatic,
                )
            })
            .collect();
        *self
            .metrics
            .blocks
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = list;
    }

    /// Publishes the blocks to the metrics and writes the blocks file (atomically:
    /// a temporary file renamed over it). A write failure is logged, not fatal: the
    /// blocks stay in force in memory.
    fn save(&self) {
        self.publish();
        let Some(path) = &self.blocks_file else {
            return;
        };
        let text = match serde_json::to_string_pretty(&self.blocks()) {
            Ok(t) => t,
            Err(error) => {
                tracing::error!(%error, "Cannot encode the fraud blocks.");
                return;
            }
        };
        let temporary = path.with_extension("json.tmp");
        let written =
            std::fs::write(&temporary, text).and_then(|()| std::fs::rename(&temporary, path));
        if let Err(error) = written {
            tracing::error!(file = %path.display(), %error, "Cannot save the fraud blocks: they hold until the edge stops.");
        }
    }
}

fn admit(state: &mut TrunkState, class: RiskClass) -> Verdict {
    let counter = state.in_progress[class.index()].clone();
    counter.fetch_add(1, Ordering::Relaxed);
    Verdict::Admit(FraudPermit { class, counter })
}

fn read_blocks(path: &Path) -> Result<Vec<BlockEntry>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a fraud blocks file: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trunk(caps: &str) -> provisioning::Trunk {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("customers.toml"),
            "[[customer]]\nid = \"acme\"\nname = \"ACME\"\ncategory = \"business\"\ncurrency = \"EUR\"\ncontract_start = 2024-01-01\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("trunks.toml"),
            format!(
                r#"[[trunk]]
id = "acme"
customer = "acme"
plan = "fixed"
channels = [{{ from = 2024-01-01, channels = 100 }}]
[trunk.identify]
source_addresses = ["192.0.2.10"]
[trunk.inbound]
target = "192.0.2.10:5060"
transport = "udp"
{caps}
[[trunk.site]]
id = "hq"
name = "HQ"
address = "1 rue de la Paix, 75002 Paris"
insee_code = "75056"
"#
            ),
        )
        .unwrap();
        let p = provisioning::Provisioning::load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        p.trunk("acme").unwrap().clone()
    }

    fn guard(config: FraudConfig) -> FraudGuard {
        FraudGuard::new(config, None).unwrap()
    }

    const UK: &str = "+442079460000";
    const PREMIUM: &str = "+33899123456";
    const MOBILE: &str = "+33612345678";

    fn refused(v: &Verdict) -> Option<&str> {
        match v {
            Verdict::Refuse { reason, .. } => Some(reason),
            Verdict::Admit(_) => None,
        }
    }

    #[test]
    fn destinations_are_classified() {
        assert_eq!(risk_class(UK), RiskClass::International);
        assert_eq!(risk_class("0044 20 7946 0000"), RiskClass::International);
        assert_eq!(risk_class(PREMIUM), RiskClass::Premium);
        assert_eq!(risk_class("0899123456"), RiskClass::Premium);
        assert_eq!(risk_class("+8816123456"), RiskClass::Premium); // satellite
        assert_eq!(risk_class("+4490912345678"), RiskClass::Premium); // UK 09 premium
        assert_eq!(risk_class(MOBILE), RiskClass::Other);
        assert_eq!(risk_class("+262262123456"), RiskClass::Other); // overseas: national
        assert_eq!(risk_class("112"), RiskClass::Other);
        assert_eq!(risk_class("reception"), RiskClass::Other);
    }

    #[test]
    fn concurrent_cap_counts_calls_in_progress() {
        let t = trunk("[trunk.fraud_caps]\ninternational = { concurrent = 2 }\n");
        let mut g = guard(FraudConfig::default());
        let a = g.check(&t, Direction::Outbound, UK, false);
        let b = g.check(&t, Direction::Outbound, UK, false);
        let c = g.check(&t, Direction::Outbound, UK, false);
        assert!(refused(&a).is_none() && refused(&b).is_none());
        assert_eq!(
            refused(&c),
            Some("trunk acme: international calls at the cap of 2 in progress")
        );
        // Other classes are not affected; a call ending frees its place.
        assert!(refused(&g.check(&t, Direction::Outbound, MOBILE, false)).is_none());
        drop(a);
        assert!(refused(&g.check(&t, Direction::Outbound, UK, false)).is_none());
    }

    #[test]
    fn per_minute_cap_slides() {
        let t = trunk("[trunk.fraud_caps]\npremium = { per_minute = 2 }\n");
        let mut g = guard(FraudConfig::default());
        let t0 = Instant::now();
        let mut at = |secs: u64| {
            let v = g.check_at(
                &t,
                Direction::Outbound,
                PREMIUM,
                false,
                t0 + Duration::from_secs(secs),
                0,
            );
            refused(&v).map(str::to_string)
        };
        assert_eq!(at(0), None);
        assert_eq!(at(10), None);
        assert_eq!(
            at(20).as_deref(),
            Some("trunk acme: premium calls at the cap of 2 per minute")
        );
        assert_eq!(at(61), None); // the first one left the minute
        assert!(at(62).is_some());
    }

    #[test]
    fn zero_cap_refuses_the_class_but_not_emergency_calls() {
        let t = trunk("[trunk.fraud_caps]\nother = { concurrent = 0 }\n");
        let mut g = guard(FraudConfig::default());
        assert!(refused(&g.check(&t, Direction::Outbound, MOBILE, false)).is_some());
        assert!(refused(&g.check(&t, Direction::Outbound, "112", true)).is_none());
        // Inbound calls are not capped.
        assert!(refused(&g.check(&t, Direction::Inbound, MOBILE, false)).is_none());
    }

    fn detector() -> FraudConfig {
        FraudConfig {
            window_secs: 60,
            baseline_secs: 3600,
            factor: 5.0,
            min_calls: 5,
        }
    }

    #[test]
    fn a_burst_over_the_baseline_blocks_the_class() {
        let t = trunk("");
        let mut g = guard(detector());
        let t0 = Instant::now();
        // A steady baseline: 60 international calls an hour, one a minute.
        for minute in 0..60 {
            let v = g.check_at(
                &t,
                Direction::Outbound,
                UK,
                false,
                t0 + Duration::from_secs(60 * minute),
                0,
            );
            assert!(refused(&v).is_none(), "minute {minute}");
        }
        // Then 5 within a minute: about 5 times the baseline (1/min), not above it.
        let start = t0 + Duration::from_secs(3600);
        for i in 0..5 {
            let v = g.check_at(
                &t,
                Direction::Outbound,
                UK,
                false,
                start + Duration::from_secs(i),
                0,
            );
            assert!(refused(&v).is_none(), "call {i}");
        }
        // The sixth is above 5 x baseline: the class is blocked, this call refused.
        let v = g.check_at(
            &t,
            Direction::Outbound,
            UK,
            false,
            start + Duration::from_secs(6),
            0,
        );
        let reason = refused(&v).expect("blocked").to_string();
        assert!(
            reason.starts_with("trunk acme: international calls are blocked ("),
            "{reason}"
        );
        assert_eq!(g.metrics.anomalies.load(Ordering::Relaxed), 1);
        let blocks = g.blocks();
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].class, Some(RiskClass::International));
        assert!(blocks[0].block.automatic);
        assert_eq!(blocks[0].block.by, ANOMALY_DETECTOR);
        // National calls go on; the block holds until an operator lifts it.
        let later = start + Duration::from_secs(7200);
        assert!(refused(&g.check_at(&t, Direction::Outbound, MOBILE, false, later, 0)).is_none());
        assert!(refused(&g.check_at(&t, Direction::Outbound, UK, false, later, 0)).is_some());
        assert!(g.unblock("acme", Some(RiskClass::International)));
        assert!(refused(&g.check_at(&t, Direction::Outbound, UK, false, later, 0)).is_none());
    }

    #[test]
    fn without_history_min_calls_is_the_threshold() {
        let t = trunk("");
        let mut g = guard(detector());
        let t0 = Instant::now();
        let verdicts: Vec<bool> = (0..6)
            .map(|i| {
                let v = g.check_at(
                    &t,
                    Direction::Outbound,
                    PREMIUM,
                    false,
                    t0 + Duration::from_secs(i),
                    0,
                );
                refused(&v).is_none()
            })
            .collect();
        assert_eq!(verdicts, [true, true, true, true, false, false]);
        // Spread out under min_calls per window, nothing happens.
        let mut g = guard(detector());
        for i in 0..40 {
            let v = g.check_at(
                &t,
                Direction::Outbound,
                PREMIUM,
                false,
                t0 + Duration::from_secs(20 * i),
                0,
            );
            assert!(refused(&v).is_none(), "call {i}");
        }
    }

    #[test]
    fn operator_blocks_persist_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("fraud-blocks.json");
        let t = trunk("");
        let mut g = FraudGuard::new(FraudConfig::default(), Some(file.clone())).unwrap();
        assert!(g.block("acme", None, "noc-alice", "ticket 4711"));
        assert!(!g.block("acme", None, "noc-alice", "again"));
        assert!(g.block("acme", Some(RiskClass::Premium), "noc-bob", "premium abuse"));
        let v = g.check(&t, Direction::Inbound, MOBILE, false);
        assert_eq!(refused(&v), Some("trunk acme is blocked (again)"));
        assert!(refused(&g.check(&t, Direction::Outbound, "112", true)).is_none());

        let mut again = FraudGuard::new(FraudConfig::default(), Some(file.clone())).unwrap();
        assert_eq!(again.blocks(), g.blocks());
        assert_eq!(again.blocks()[0].block.by, "noc-alice");
        assert!(again.unblock("acme", None));
        assert!(!again.unblock("acme", None));
        assert!(refused(&again.check(&t, Direction::Outbound, MOBILE, false)).is_none());
        assert!(refused(&again.check(&t, Direction::Outbound, PREMIUM, false)).is_some());

        std::fs::write(&file, "{not json").unwrap();
        let error = FraudGuard::new(FraudConfig::default(), Some(file))
            .err()
            .unwrap();
        assert!(
            error.contains("fraud-blocks.json: not a fraud blocks file"),
            "{error}"
        );
    }

    #[test]
    fn configuration_checks_name_the_key() {
        let errors = FraudConfig {
            window_secs: 5,
            baseline_secs: 6,
            factor: 0.5,
            min_calls: 0,
        }
        .check();
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].starts_with("fraud.window_secs"));
        assert!(errors[3].starts_with("fraud.min_calls"));
    }
}
