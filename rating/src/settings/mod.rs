//! `plans.toml`: every business setting of the rating engine, read and validated.
//!
//! The contract (contract.md §3, §4, §6) leaves choices open; each is a setting
//! here whose default is the one the contract gives, so a run is always explainable
//! from the files it read. The file lives in the provisioning directory (its
//! fingerprint covers it) and is reported in the provisioning error format, every
//! problem at once:
//!
//! ```text
//! plans.toml:12: plans.fixed: breach_policy: "all" is not a breach policy (expected excess or whole_month)
//! ```
//!
//! # Format
//!
//! ```toml
//! [fair_use]
//! precedence = ["distinct_numbers", "eligible_hours", "forwarding", "shared_service"]
//! preview_warning_percent = "80"      # rating preview lists trunks above this share
//! shared_service_min_foreign_callers = 1   # foreign caller numbers that raise a flag
//! shared_service_max_sbc_fqdns = 1    # more Teams SBC names on a trunk raise a flag
//! shared_service_max_tenants = 1      # more Teams tenants on a trunk raise a flag
//!
//! [plans.fixed]                        # and [plans.fixed_mobile_intl]
//! channel_price = "12.00"              # required: price of one channel for a month,
//!                                      #   at the customer's contract start (Syntec base)
//! breach_policy = "excess"             # excess | whole_month
//! national_categories = ["fixed_geographic", "non_geographic"]
//! overseas_in_plan = true              # +262/+590/+594/+596/+508 numbers
//! special_normal_price_in_plan = true  # 0806-0809
//! international_categories = ["fixed_geographic", "non_geographic", "mobile",
//!                             "fixed_or_mobile", "unknown"]
//! distinct_numbers_per_channel = 300
//! eligible_hours_per_channel = 40
//! forwarding_hours_per_user = 2
//!
//! [money]
//! call_decimals = 6                    # per-call amounts
//! line_decimals = 2                    # invoice lines, rounded half-up
//! duration_rounding = "up"             # up | down: milliseconds to whole seconds
//!
//! [syntec]
//! revision_date = "anniversary"        # anniversary | january_first
//! indices_file = "rating/syntec.csv"
//!
//! [sla]
//! cap_percent = "20"
//! credit_on_request = false            # true: credit only months listed in [[sla_request]]
//! incidents_file = "rating/incidents.csv"
//! tiers = [
//!   { below_percent = "99.85", credit_percent = "5" },
//!   { below_percent = "99.5", credit_percent = "10" },
//!   { below_percent = "97", credit_percent = "20" },
//! ]
//!
//! [[shared_service]]                   # the provider confirmed a shared trunk
//! trunk = "contoso-teams"
//! month = "2026-10"
//! from = 2026-10-12                    # optional (default: the month's start)
//! reason = "two tenants on one SBC, ticket 6120"
//!
//! [[subscription]]                     # a negotiated channel price for one trunk
//! trunk = "acme-multisite"
//! channel_price = "10.50"
//!
//! [[sla_request]]                      # a customer's SLA credit request
//! trunk = "acme-multisite"
//! month = "2026-10"
//! reference = "ticket 7001"
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use number_portability::Category;
use provisioning::{ErrorKind, Plan, Provisioning, ProvisioningError, ProvisioningErrors};
use rust_decimal::Decimal;

use crate::month::BillingMonth;
use crate::rules::{BreachPolicy, Rule};
use provisioning::toml_reader::{TableReader, TomlDoc, ValueReader};

pub(crate) use provisioning::parse_date;
pub(crate) use provisioning::toml_reader::parse_decimal;

/// The settings file, relative to the provisioning directory.
pub const PLANS_FILE: &str = "plans.toml";

/// What a plan covers and how its fair-use rules are measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanSettings {
    /// Price of one channel for a whole month at the customer's contract start,
    /// before Syntec revisions.
    pub channel_price: Decimal,
    /// Which calls a breach re-prices.
    pub breach_policy: BreachPolicy,
    /// Categories of national (home plan) numbers the plan covers.
    pub national_categories: Vec<Category>,
    /// Whether numbers of the overseas departments and collectivities are in plan
    /// (when their category is).
    pub overseas_in_plan: bool,
    /// Whether 0806-0809 numbers (priced like geographic numbers) are in plan.
    pub special_normal_price_in_plan: bool,
    /// Categories of numbers of the order's international destinations the plan
    /// covers (only plans with international destinations have any).
    pub international_categories: Vec<Category>,
    /// Distinct numbers allowed per channel-month.
    pub distinct_numbers_per_channel: u64,
    /// Eligible hours allowed per channel-month, in milliseconds.
    pub eligible_ms_per_channel: u64,
    /// Forwarded time allowed per forwarding user, in milliseconds.
    pub forwarding_ms_per_user: u64,
}

impl PlanSettings {
    /// The contract's defaults for a plan (contract.md §3), with a channel price.
    pub fn contract_default(plan: Plan, channel_price: Decimal) -> Self {
        let mut national = vec![Category::FixedGeographic, Category::NonGeographic];
        if plan == Plan::FixedMobileIntl {
            national.push(Category::Mobile);
        }
        PlanSettings {
            channel_price,
            breach_policy: BreachPolicy::Excess,
            national_categories: national,
            overseas_in_plan: true,
            special_normal_price_in_plan: true,
            international_categories: vec![
                Category::FixedGeographic,
                Category::NonGeographic,
                Category::Mobile,
                Category::FixedOrMobile,
                Category::Unknown,
            ],
            distinct_numbers_per_channel: 300,
            eligible_ms_per_channel: 40 * HOUR_MS,
            forwarding_ms_per_user: 2 * HOUR_MS,
        }
    }
}

/// One hour in milliseconds.
pub const HOUR_MS: u64 = 3_600_000;

/// Rounding of money and durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MoneySettings {
    /// Decimal places of a call's amount.
    pub call_decimals: u32,
    /// Decimal places of an invoice line (rounded half-up).
    pub line_decimals: u32,
    /// How a duration in milliseconds becomes whole seconds before increments.
    pub duration_rounding: DurationRounding,
}

/// How milliseconds become billed seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationRounding {
    /// Any started second counts (60.001 s is 61 s).
    Up,
    /// Only whole seconds count (60.999 s is 60 s).
    Down,
}

impl DurationRounding {
    /// Whole seconds of `ms`.
    pub fn seconds(self, ms: u64) -> u64 {
        match self {
            DurationRounding::Up => ms.div_ceil(1000),
            DurationRounding::Down => ms / 1000,
        }
    }
}

/// When prices are revised with the Syntec index (contract.md §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevisionDate {
    /// On each anniversary of the customer's contract start.
    Anniversary,
    /// On each 1 January after the contract start.
    JanuaryFirst,
}

/// Syntec revision settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntecSettings {
    /// When revisions happen.
    pub revision_date: RevisionDate,
    /// The index file, relative to the provisioning directory.
    pub indices_file: String,
}

/// One SLA credit tier: availability strictly below `below_percent` earns
/// `credit_percent` of the service's monthly subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaTier {
    /// The tier applies strictly below this availability.
    pub below_percent: Decimal,
    /// The credit, in percent of the monthly subscription.
    pub credit_percent: Decimal,
}

/// SLA settings (contract.md §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaSettings {
    /// Tiers, bounds strictly decreasing.
    pub tiers: Vec<SlaTier>,
    /// Highest credit, in percent.
    pub cap_percent: Decimal,
    /// When true, a credit is granted only for months listed in `[[sla_request]]`.
    pub credit_on_request: bool,
    /// The incidents file, relative to the provisioning directory.
    pub incidents_file: String,
}

impl SlaSettings {
    /// The credit percentage for an availability: the tier with the lowest bound
    /// the availability is strictly below, capped.
    pub fn credit_percent(&self, availability_percent: Decimal) -> Decimal {
        self.tiers
            .iter()
            .filter(|t| availability_percent < t.below_percent)
            .map(|t| t.credit_percent)
            .next_back()
            .unwrap_or(Decimal::ZERO)
            .min(self.cap_percent)
    }
}

/// The provider's confirmation that a trunk was shared in a month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedServiceConfirmation {
    /// The trunk.
    pub trunk: String,
    /// The month.
    pub month: BillingMonth,
    /// From when its eligible calls are re-priced under `excess` (default: the
    /// month's start).
    pub from: Option<DateTime<Utc>>,
    /// Why, for the invoice explanation.
    pub reason: String,
    /// Line in `plans.toml`.
    pub line: usize,
}

/// A customer's SLA credit request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaRequest {
    /// The trunk (the service).
    pub trunk: String,
    /// The month.
    pub month: BillingMonth,
    /// The request's reference.
    pub reference: String,
}

/// Every rating setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatingSettings {
    /// Per-plan settings; every plan has an entry.
    pub plans: BTreeMap<Plan, PlanSettings>,
    /// The order in which a call designated by several measured rules names one.
    pub precedence: Vec<Rule>,
    /// `rating preview` lists trunks whose projection exceeds this share of a
    /// threshold, in percent.
    pub preview_warning_percent: Decimal,
    /// Distinct caller numbers outside the customer's inventory that flag a trunk
    /// as possibly shared.
    pub shared_service_min_foreign_callers: u64,
    /// More Teams SBC names than this on one trunk flag it as possibly shared.
    pub shared_service_max_sbc_fqdns: u64,
    /// More Teams tenants than this on one trunk flag it as possibly shared.
    pub shared_service_max_tenants: u64,
    /// Rounding.
    pub money: MoneySettings,
    /// Syntec revision.
    pub syntec: SyntecSettings,
    /// SLA.
    pub sla: SlaSettings,
    /// Confirmed shared services.
    pub shared_service: Vec<SharedServiceConfirmation>,
    /// Negotiated channel prices by trunk.
    pub subscription_prices: BTreeMap<String, Decimal>,
    /// SLA credit requests.
    pub sla_requests: Vec<SlaRequest>,
}

impl RatingSettings {
    /// Loads `plans.toml` from the provisioning directory `dir` and checks it
    /// against the provisioning (trunk references).
    ///
    /// # Errors
    /// Every problem found, in the provisioning error format.
    pub fn load(dir: &Path, provisioning: &Provisioning) -> Result<Self, ProvisioningErrors> {
        let path = dir.join(PLANS_FILE);
        let bytes = std::fs::read(&path).map_err(|e| {
            ProvisioningErrors::new(vec![ProvisioningError::new(
                ErrorKind::Io,
                PLANS_FILE,
                None,
                "",
                "",
                format!(
                    "cannot read {}: {e} (rating needs it: plan prices and settings)",
                    path.display()
                ),
            )])
        })?;
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
        let text = std::str::from_utf8(bytes).map_err(|_| {
            ProvisioningErrors::new(vec![ProvisioningError::new(
                ErrorKind::Syntax,
                PLANS_FILE,
                None,
                "",
                "",
                "the file is not UTF-8 text (save it as UTF-8)",
            )])
        })?;
        Self::parse(text, Some(provisioning))
    }

    /// Parses the text of `plans.toml`; with a provisioning, also checks that the
    /// trunks it names exist.
    ///
    /// # Errors
    /// Every problem found, in the provisioning error format.
    pub fn parse(
        text: &str,
        provisioning: Option<&Provisioning>,
    ) -> Result<Self, ProvisioningErrors> {
        let doc = TomlDoc::new(PLANS_FILE, text);
        let root = doc.parse(text);
        let mut reader = doc.root(&root);
        let settings = read_settings(&mut reader, provisioning);
        reader.finish();
        let errors = doc.into_errors();
        match settings {
            Some(settings) if errors.is_empty() => Ok(settings),
            _ => Err(ProvisioningErrors::new(if errors.is_empty() {
                vec![ProvisioningError::new(
                    ErrorKind::InvalidValue,
                    PLANS_FILE,
                    None,
                    "",
                    "",
                    "the settings are incomplete",
                )]
            } else {
                errors
            })),
        }
    }

    /// The settings of a plan.
    pub fn plan(&self, plan: Plan) -> &PlanSettings {
        // Every plan has an entry: `read_settings` inserts all of them.
        &self.plans[&plan]
    }

    /// The shared-service confirmation for a trunk and month, if any.
    pub fn shared_service_for(
        &self,
        trunk: &str,
        month: BillingMonth,
    ) -> Option<&SharedServiceConfirmation> {
        self.shared_service
            .iter()
            .find(|c| c.trunk == trunk && c.month == month)
    }

    /// True when a credit may be granted for the trunk and month.
    pub fn sla_credit_requested(&self, trunk: &str, month: BillingMonth) -> bool {
        !self.sla.credit_on_request
            || self
                .sla_requests
                .iter()
                .any(|r| r.trunk == trunk && r.month == month)
    }

    /// The rank of a rule in the precedence (lower wins); rules outside the
    /// measured ones come first (they exclude the call from counting anyway).
    pub fn precedence_rank(&self, rule: Rule) -> usize {
        match self.precedence.iter().position(|r| *r == rule) {
            Some(i) => i + 2,
            None => match rule {
                Rule::TelecomProfessional => 0,
                _ => 1,
            },
        }
    }
}

/// Reads every section; `None` when something required is missing or invalid
/// (the errors are in the document).
fn read_settings(
    root: &mut TableReader<'_, '_>,
    provisioning: Option<&Provisioning>,
) -> Option<RatingSettings> {
    let mut ok = true;

    // [fair_use]
    let mut precedence = Rule::MEASURED.to_vec();
    let mut preview_warning_percent = Decimal::from(80);
    let mut min_foreign = 1u64;
    let mut max_fqdns = 1u64;
    let mut max_tenants = 1u64;
    if let Some(mut t) = root.optional("fair_use").and_then(|v| v.table()) {
        if let Some(v) = t.optional("precedence") {
            match read_precedence(&v) {
                Some(p) => precedence = p,
                None => ok = false,
            }
        }
        if let Some(v) = t.optional("preview_warning_percent") {
            match v.decimal() {
                Some(d) if d > Decimal::ZERO && d <= Decimal::from(100) => {
                    preview_warning_percent = d
                }
                Some(d) => {
                    v.error(format!(
                        "{d} is not a percentage between 0 (excluded) and 100"
                    ));
                    ok = false;
                }
                None => ok = false,
            }
        }
        if let Some(v) = t.optional("shared_service_min_foreign_callers") {
            match v.integer().and_then(|n| positive(&v, n)) {
                Some(n) => min_foreign = n,
                None => ok = false,
            }
        }
        for (key, target) in [
            ("shared_service_max_sbc_fqdns", &mut max_fqdns),
            ("shared_service_max_tenants", &mut max_tenants),
        ] {
            if let Some(v) = t.optional(key) {
                match v.integer().and_then(|n| positive(&v, n)) {
                    Some(n) => *target = n,
                    None => ok = false,
                }
            }
        }
        t.finish();
    }

    // [plans.*]
    let mut plans = BTreeMap::new();
    match root.required("plans").and_then(|v| v.table()) {
        Some(mut t) => {
            for plan in Plan::ALL {
                match t.required(plan.as_str()).and_then(|v| v.table()) {
                    Some(mut pt) => match read_plan(&mut pt, plan) {
                        Some(settings) => {
                            plans.insert(plan, settings);
                            pt.finish();
                        }
                        None => {
                            pt.finish();
                            ok = false;
                        }
                    },
                    None => ok = false,
                }
            }
            t.finish();
        }
        None => ok = false,
    }

    // [money]
    let mut money = MoneySettings {
        call_decimals: 6,
        line_decimals: 2,
        duration_rounding: DurationRounding::Up,
    };
    if let Some(mut t) = root.optional("money").and_then(|v| v.table()) {
        for (key, target) in [("call_decimals", 0usize), ("line_decimals", 1)] {
            if let Some(v) = t.optional(key) {
                match v.integer() {
                    Some(n) if (0..=12).contains(&n) => {
                        let n = n as u32;
                        if target == 0 {
                            money.call_decimals = n
                        } else {
                            money.line_decimals = n
                        }
                    }
                    Some(n) => {
                        v.error(format!("{n} decimal places is out of range (0 to 12)"));
                        ok = false;
                    }
                    None => ok = false,
                }
            }
        }
        if let Some(v) = t.optional("duration_rounding") {
            match v.str() {
                Some("up") => money.duration_rounding = DurationRounding::Up,
                Some("down") => money.duration_rounding = DurationRounding::Down,
                Some(other) => {
                    v.error(format!(
                        "{other:?} is not a duration rounding (expected up or down)"
                    ));
                    ok = false;
                }
                None => ok = false,
            }
        }
        if money.line_decimals > money.call_decimals {
            t.error(
                ErrorKind::InvalidValue,
                format!(
                    "line_decimals {} is more precise than call_decimals {}",
                    money.line_decimals, money.call_decimals
                ),
            );
            ok = false;
        }
        t.finish();
    }

    // [syntec]
    let mut syntec = SyntecSettings {
        revision_date: RevisionDate::Anniversary,
        indices_file: "rating/syntec.csv".to_owned(),
    };
    if let Some(mut t) = root.optional("syntec").and_then(|v| v.table()) {
        if let Some(v) = t.optional("revision_date") {
            match v.str() {
                Some("anniversary") => syntec.revision_date = RevisionDate::Anniversary,
                Some("january_first") => syntec.revision_date = RevisionDate::JanuaryFirst,
                Some(other) => {
                    v.error(format!(
                        "{other:?} is not a revision date (expected anniversary or january_first)"
                    ));
                    ok = false;
                }
                None => ok = false,
            }
        }
        if let Some(v) = t.optional("indices_file") {
            match relative_file(&v) {
                Some(f) => syntec.indices_file = f,
                None => ok = false,
            }
        }
        t.finish();
    }

    // [sla]
    let mut sla = SlaSettings {
        tiers: vec![tier("99.85", "5"), tier("99.5", "10"), tier("97", "20")],
        cap_percent: Decimal::from(20),
        credit_on_request: false,
        incidents_file: "rating/incidents.csv".to_owned(),
    };
    if let Some(mut t) = root.optional("sla").and_then(|v| v.table()) {
        if let Some(v) = t.optional("cap_percent") {
            match v.decimal().and_then(|d| percent(&v, d)) {
                Some(d) => sla.cap_percent = d,
                None => ok = false,
            }
        }
        if let Some(v) = t.optional("credit_on_request") {
            match v.bool() {
                Some(b) => sla.credit_on_request = b,
                None => ok = false,
            }
        }
        if let Some(v) = t.optional("incidents_file") {
            match relative_file(&v) {
                Some(f) => sla.incidents_file = f,
                None => ok = false,
            }
        }
        if let Some(v) = t.optional("tiers") {
            match read_tiers(&v) {
                Some(tiers) => sla.tiers = tiers,
                None => ok = false,
            }
        }
        t.finish();
    }

    let trunk_exists = |v: &ValueReader<'_, '_>, id: &str| -> bool {
        match provisioning {
            Some(p) if p.trunk(id).is_none() => {
                v.error_kind(
                    ErrorKind::UnknownReference,
                    format!("trunk {id:?} is not in trunks.toml"),
                );
                false
            }
            _ => true,
        }
    };

    // [[shared_service]]
    let mut shared_service: Vec<SharedServiceConfirmation> = Vec::new();
    for (_, mut t) in entries(root, "shared_service") {
        let trunk = t.required("trunk").and_then(|v| {
            v.non_empty_str()
                .filter(|id| trunk_exists(&v, id))
                .map(str::to_owned)
        });
        let month = t.required("month").and_then(|v| month_of(&v));
        let from = t.optional("from").map(|v| (v.instant(), v.line()));
        let reason = t
            .required("reason")
            .and_then(|v| v.non_empty_str().map(str::to_owned));
        let line = t.line();
        let from_ok = match (&from, month) {
            (Some((Some(instant), line)), Some(m)) => {
                let ms = u64::try_from(instant.timestamp_millis()).unwrap_or(0);
                if !m.contains_ms(ms) {
                    t.error(
                        ErrorKind::InvalidValue,
                        format!("from {instant} (line {line}) is not in the month {m}"),
                    );
                    false
                } else {
                    true
                }
            }
            (Some((None, _)), _) => false,
            _ => true,
        };
        match (trunk, month, reason) {
            (Some(trunk), Some(month), Some(reason)) if from_ok => {
                if shared_service
                    .iter()
                    .any(|c| c.trunk == trunk && c.month == month)
                {
                    t.error(
                        ErrorKind::Conflict,
                        format!("trunk {trunk:?} is already confirmed for {month}"),
                    );
                    ok = false;
                } else {
                    shared_service.push(SharedServiceConfirmation {
                        trunk,
                        month,
                        from: from.and_then(|(f, _)| f),
                        reason,
                        line,
                    });
                }
            }
            _ => ok = false,
        }
        t.finish();
    }

    // [[subscription]]
    let mut subscription_prices = BTreeMap::new();
    for (_, mut t) in entries(root, "subscription") {
        let trunk = t.required("trunk").and_then(|v| {
            v.non_empty_str()
                .filter(|id| trunk_exists(&v, id))
                .map(str::to_owned)
        });
        let price = t
            .required("channel_price")
            .and_then(|v| v.decimal().and_then(|d| non_negative(&v, d)));
        match (trunk, price) {
            (Some(trunk), Some(price)) => {
                if subscription_prices.insert(trunk.clone(), price).is_some() {
                    t.error(
                        ErrorKind::Conflict,
                        format!("trunk {trunk:?} has two subscription entries"),
                    );
                    ok = false;
                }
            }
            _ => ok = false,
        }
        t.finish();
    }

    // [[sla_request]]
    let mut sla_requests = Vec::new();
    for (_, mut t) in entries(root, "sla_request") {
        let trunk = t.required("trunk").and_then(|v| {
            v.non_empty_str()
                .filter(|id| trunk_exists(&v, id))
                .map(str::to_owned)
        });
        let month = t.required("month").and_then(|v| month_of(&v));
        let reference = t
            .required("reference")
            .and_then(|v| v.non_empty_str().map(str::to_owned));
        match (trunk, month, reference) {
            (Some(trunk), Some(month), Some(reference)) => sla_requests.push(SlaRequest {
                trunk,
                month,
                reference,
            }),
            _ => ok = false,
        }
        t.finish();
    }

    if !ok || plans.len() != Plan::ALL.len() {
        return None;
    }
    Some(RatingSettings {
        plans,
        precedence,
        preview_warning_percent,
        shared_service_min_foreign_callers: min_foreign,
        shared_service_max_sbc_fqdns: max_fqdns,
        shared_service_max_tenants: max_tenants,
        money,
        syntec,
        sla,
        shared_service,
        subscription_prices,
        sla_requests,
    })
}

fn tier(below: &str, credit: &str) -> SlaTier {
    SlaTier {
        below_percent: below.parse().unwrap_or_default(),
        credit_percent: credit.parse().unwrap_or_default(),
    }
}

/// The tables of an optional array of tables (`[[name]]`), with their index.
fn entries<'a, 'i>(
    root: &mut TableReader<'a, 'i>,
    key: &'static str,
) -> Vec<(usize, TableReader<'a, 'i>)> {
    root.optional(key)
        .and_then(|v| v.array())
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .filter_map(|(i, v)| v.entry_table(format!("{key} #{}", i + 1)).map(|t| (i, t)))
        .collect()
}

fn read_plan(t: &mut TableReader<'_, '_>, plan: Plan) -> Option<PlanSettings> {
    let mut ok = true;
    let price = t
        .required("channel_price")
        .and_then(|v| v.decimal().and_then(|d| non_negative(&v, d)));
    let mut s = PlanSettings::contract_default(plan, price.unwrap_or_default());
    if price.is_none() {
        ok = false;
    }
    if let Some(v) = t.optional("breach_policy") {
        match v.str() {
            Some(name) => match BreachPolicy::from_name(name) {
                Some(p) => s.breach_policy = p,
                None => {
                    v.error(format!(
                        "{name:?} is not a breach policy (expected excess or whole_month)"
                    ));
                    ok = false;
                }
            },
            None => ok = false,
        }
    }
    for key in ["national_categories", "international_categories"] {
        if let Some(v) = t.optional(key) {
            match read_categories(&v) {
                Some(c) if key == "national_categories" => s.national_categories = c,
                Some(c) => s.international_categories = c,
                None => ok = false,
            }
        }
    }
    for key in ["overseas_in_plan", "special_normal_price_in_plan"] {
        if let Some(v) = t.optional(key) {
            match v.bool() {
                Some(b) if key == "overseas_in_plan" => s.overseas_in_plan = b,
                Some(b) => s.special_normal_price_in_plan = b,
                None => ok = false,
            }
        }
    }
    if let Some(v) = t.optional("distinct_numbers_per_channel") {
        match v.integer().and_then(|n| positive(&v, n)) {
            Some(n) => s.distinct_numbers_per_channel = n,
            None => ok = false,
        }
    }
    for key in ["eligible_hours_per_channel", "forwarding_hours_per_user"] {
        if let Some(v) = t.optional(key) {
            match v.decimal().and_then(|d| hours_ms(&v, d)) {
                Some(ms) if key == "eligible_hours_per_channel" => s.eligible_ms_per_channel = ms,
                Some(ms) => s.forwarding_ms_per_user = ms,
                None => ok = false,
            }
        }
    }
    ok.then_some(s)
}

fn read_categories(v: &ValueReader<'_, '_>) -> Option<Vec<Category>> {
    let mut out = Vec::new();
    let mut ok = true;
    for item in v.array()? {
        match item.str() {
            Some(name) => match name.parse::<Category>() {
                Ok(Category::Emergency) => {
                    item.error("emergency calls are never billed and never in a plan");
                    ok = false;
                }
                Ok(c) if out.contains(&c) => {
                    item.error_kind(ErrorKind::Conflict, format!("{name:?} is listed twice"));
                    ok = false;
                }
                Ok(c) => out.push(c),
                Err(_) => {
                    let known: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
                    item.error(format!(
                        "{name:?} is not a number category (expected one of: {})",
                        known.join(", ")
                    ));
                    ok = false;
                }
            },
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn read_precedence(v: &ValueReader<'_, '_>) -> Option<Vec<Rule>> {
    let mut out = Vec::new();
    let mut ok = true;
    let expected: Vec<&str> = Rule::MEASURED.iter().map(|r| r.as_str()).collect();
    for item in v.array()? {
        match item.str() {
            Some(name) => match Rule::from_name(name).filter(|r| Rule::MEASURED.contains(r)) {
                Some(r) if out.contains(&r) => {
                    item.error_kind(ErrorKind::Conflict, format!("{name:?} is listed twice"));
                    ok = false;
                }
                Some(r) => out.push(r),
                None => {
                    item.error(format!(
                        "{name:?} is not a measured rule (expected each of: {})",
                        expected.join(", ")
                    ));
                    ok = false;
                }
            },
            None => ok = false,
        }
    }
    if ok && out.len() != Rule::MEASURED.len() {
        let missing: Vec<&str> = Rule::MEASURED
            .iter()
            .filter(|r| !out.contains(r))
            .map(|r| r.as_str())
            .collect();
        v.error(format!(
            "the precedence must list every measured rule once; missing: {}",
            missing.join(", ")
        ));
        ok = false;
    }
    ok.then_some(out)
}

fn read_tiers(v: &ValueReader<'_, '_>) -> Option<Vec<SlaTier>> {
    let mut tiers: Vec<SlaTier> = Vec::new();
    let mut ok = true;
    for item in v.array()? {
        let Some(mut t) = item.table() else {
            ok = false;
            continue;
        };
        let below = t
            .required("below_percent")
            .and_then(|v| v.decimal().and_then(|d| percent(&v, d)));
        let credit = t
            .required("credit_percent")
            .and_then(|v| v.decimal().and_then(|d| percent(&v, d)));
        match (below, credit) {
            (Some(below_percent), Some(credit_percent)) => {
                if let Some(last) = tiers.last() {
                    if below_percent >= last.below_percent {
                        t.error(
                            ErrorKind::InvalidValue,
                            format!(
                                "below_percent {below_percent} must be lower than the previous tier's {}",
                                last.below_percent
                            ),
                        );
                        ok = false;
                    }
                }
                tiers.push(SlaTier {
                    below_percent,
                    credit_percent,
                });
            }
            _ => ok = false,
        }
        t.finish();
    }
    ok.then_some(tiers)
}

fn month_of(v: &ValueReader<'_, '_>) -> Option<BillingMonth> {
    let text = v.str()?;
    match text.parse() {
        Ok(m) => Some(m),
        Err(e) => {
            v.error(e);
            None
        }
    }
}

fn relative_file(v: &ValueReader<'_, '_>) -> Option<String> {
    let f = v.non_empty_str()?;
    if f.starts_with('/') || f.split('/').any(|part| part == "..") {
        v.error(format!(
            "{f:?} must be a path inside the provisioning directory (relative, without ..)"
        ));
        return None;
    }
    Some(f.to_owned())
}

fn positive(v: &ValueReader<'_, '_>, n: i64) -> Option<u64> {
    match u64::try_from(n) {
        Ok(n) if n > 0 => Some(n),
        _ => {
            v.error(format!("{n} must be a positive whole number"));
            None
        }
    }
}

fn non_negative(v: &ValueReader<'_, '_>, d: Decimal) -> Option<Decimal> {
    if d < Decimal::ZERO {
        v.error(format!("{d} is negative (expected 0 or more)"));
        None
    } else {
        Some(d)
    }
}

fn percent(v: &ValueReader<'_, '_>, d: Decimal) -> Option<Decimal> {
    if d < Decimal::ZERO || d > Decimal::from(100) {
        v.error(format!("{d} is not a percentage between 0 and 100"));
        None
    } else {
        Some(d)
    }
}

fn hours_ms(v: &ValueReader<'_, '_>, hours: Decimal) -> Option<u64> {
    let ms = hours * Decimal::from(HOUR_MS);
    if hours <= Decimal::ZERO || ms.fract() != Decimal::ZERO {
        v.error(format!(
            "{hours} is not a positive number of hours in whole milliseconds"
        ));
        return None;
    }
    u64::try_from(ms).ok().or_else(|| {
        v.error(format!("{hours} hours is out of range"));
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "[plans.fixed]\nchannel_price = \"10\"\n[plans.fixed_mobile_intl]\nchannel_price = \"20.50\"\n";

    fn errors(text: &str) -> Vec<String> {
        RatingSettings::parse(text, None)
            .unwrap_err()
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn a_minimal_file_gets_the_contract_defaults() {
        let s = RatingSettings::parse(MINIMAL, None).unwrap();
        let fixed = s.plan(Plan::Fixed);
        assert_eq!(fixed.channel_price, Decimal::from(10));
        assert_eq!(fixed.breach_policy, BreachPolicy::Excess);
        assert_eq!(
            fixed.national_categories,
            [Category::FixedGeographic, Category::NonGeographic]
        );
        assert!(fixed.overseas_in_plan && fixed.special_normal_price_in_plan);
        assert_eq!(fixed.distinct_numbers_per_channel, 300);
        assert_eq!(fixed.eligible_ms_per_channel, 40 * HOUR_MS);
        assert_eq!(fixed.forwarding_ms_per_user, 2 * HOUR_MS);
        assert!(s
            .plan(Plan::FixedMobileIntl)
            .national_categories
            .contains(&Category::Mobile));
        assert!(!fixed.national_categories.contains(&Category::Mobile));
        assert_eq!(s.precedence, Rule::MEASURED);
        assert_eq!(s.money.call_decimals, 6);
        assert_eq!(s.money.line_decimals, 2);
        assert_eq!(s.syntec.revision_date, RevisionDate::Anniversary);
        assert_eq!(s.sla.tiers.len(), 3);
        assert_eq!(s.preview_warning_percent, Decimal::from(80));
    }

    #[test]
    fn sla_tiers_apply_strictly_below_their_bound_and_are_capped() {
        let s = RatingSettings::parse(MINIMAL, None).unwrap();
        let d = |t: &str| t.parse::<Decimal>().unwrap();
        assert_eq!(s.sla.credit_percent(d("100")), d("0"));
        assert_eq!(s.sla.credit_percent(d("99.85")), d("0"));
        assert_eq!(s.sla.credit_percent(d("99.8499")), d("5"));
        assert_eq!(s.sla.credit_percent(d("99.5")), d("5"));
        assert_eq!(s.sla.credit_percent(d("99.4999")), d("10"));
        assert_eq!(s.sla.credit_percent(d("97")), d("10"));
        assert_eq!(s.sla.credit_percent(d("96.99")), d("20"));
        assert_eq!(s.sla.credit_percent(d("0")), d("20"));
        let capped =
            RatingSettings::parse(&format!("{MINIMAL}[sla]\ncap_percent = \"15\"\n"), None)
                .unwrap();
        assert_eq!(capped.sla.credit_percent(d("50")), d("15"));
    }

    #[test]
    fn every_setting_can_be_changed() {
        let text = r#"
[fair_use]
precedence = ["forwarding", "eligible_hours", "distinct_numbers", "shared_service"]
preview_warning_percent = "75"
shared_service_min_foreign_callers = 3
[plans.fixed]
channel_price = "9.9"
breach_policy = "whole_month"
overseas_in_plan = false
special_normal_price_in_plan = false
distinct_numbers_per_channel = 250
eligible_hours_per_channel = "37.5"
forwarding_hours_per_user = 3
[plans.fixed_mobile_intl]
channel_price = "19"
national_categories = ["fixed_geographic"]
international_categories = ["mobile"]
[money]
call_decimals = 4
line_decimals = 2
duration_rounding = "down"
[syntec]
revision_date = "january_first"
indices_file = "x/syntec.csv"
[sla]
cap_percent = "25"
credit_on_request = true
tiers = [{ below_percent = "99.9", credit_percent = "10" }, { below_percent = "99", credit_percent = "25" }]
"#;
        let s = RatingSettings::parse(text, None).unwrap();
        assert_eq!(s.precedence[0], Rule::Forwarding);
        assert_eq!(s.preview_warning_percent, Decimal::from(75));
        assert_eq!(s.shared_service_min_foreign_callers, 3);
        let fixed = s.plan(Plan::Fixed);
        assert_eq!(fixed.breach_policy, BreachPolicy::WholeMonth);
        assert!(!fixed.overseas_in_plan && !fixed.special_normal_price_in_plan);
        assert_eq!(fixed.distinct_numbers_per_channel, 250);
        assert_eq!(fixed.eligible_ms_per_channel, 37 * HOUR_MS + HOUR_MS / 2);
        assert_eq!(fixed.forwarding_ms_per_user, 3 * HOUR_MS);
        let fmi = s.plan(Plan::FixedMobileIntl);
        assert_eq!(fmi.national_categories, [Category::FixedGeographic]);
        assert_eq!(fmi.international_categories, [Category::Mobile]);
        assert_eq!(s.money.duration_rounding, DurationRounding::Down);
        assert_eq!(s.syntec.revision_date, RevisionDate::JanuaryFirst);
        assert!(s.sla.credit_on_request);
        assert_eq!(s.sla.tiers[1].credit_percent, Decimal::from(25));
    }

    #[test]
    fn every_error_is_reported_with_its_line() {
        let text = r#"[fair_use]
precedence = ["distinct_numbers", "hours"]
[plans.fixed]
channel_price = 9.9
breach_policy = "all"
national_categories = ["fixed_geographic", "emergency", "fixe"]
[plans.fixed_mobile_intl]
channel_pric = "1"
[money]
line_decimals = 8
[[shared_service]]
trunk = "t"
month = "2026-13"
"#;
        let e = errors(text);
        let expect = [
            "plans.toml:2: fair_use.precedence[1]: \"hours\" is not a measured rule",
            "plans.toml:4: plans.fixed.channel_price: float 9.9 is not exact",
            "plans.toml:5: plans.fixed.breach_policy: \"all\" is not a breach policy (expected excess or whole_month)",
            "plans.toml:6: plans.fixed.national_categories[1]: emergency calls are never billed",
            "plans.toml:6: plans.fixed.national_categories[2]: \"fixe\" is not a number category",
            "plans.toml:7: plans.fixed_mobile_intl: missing required field \"channel_price\"",
            "plans.toml:8: plans.fixed_mobile_intl: unknown field \"channel_pric\"",
            "plans.toml:9: money: line_decimals 8 is more precise than call_decimals 6",
            "plans.toml:13: shared_service #1: month: \"2026-13\" is not a month",
            "shared_service #1: missing required field \"reason\"",
        ];
        for fragment in expect {
            assert!(
                e.iter().any(|line| line.contains(fragment)),
                "missing {fragment:?} in:\n{}",
                e.join("\n")
            );
        }
    }

    #[test]
    fn references_to_unknown_trunks_are_errors() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/provisioning");
        let p = Provisioning::load(&dir).unwrap();
        let text = format!(
            "{MINIMAL}[[subscription]]\ntrunk = \"nope\"\nchannel_price = \"1\"\n[[shared_service]]\ntrunk = \"contoso-teams\"\nmonth = \"2026-10\"\nfrom = 2026-11-02\nreason = \"r\"\n"
        );
        let e: Vec<String> = RatingSettings::parse(&text, Some(&p))
            .unwrap_err()
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert!(
            e[0].contains("subscription #1: trunk: trunk \"nope\" is not in trunks.toml"),
            "{e:?}"
        );
        assert!(e[1].contains("is not in the month 2026-10"), "{e:?}");
    }

    #[test]
    fn precedence_must_name_every_measured_rule() {
        let e = errors(&format!(
            "[fair_use]\nprecedence = [\"forwarding\"]\n{MINIMAL}"
        ));
        assert!(
            e[0].contains("missing: distinct_numbers, eligible_hours, shared_service"),
            "{e:?}"
        );
    }
}
