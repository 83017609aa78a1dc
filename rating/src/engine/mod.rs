//! The rating engine for one trunk and one month: pure, no I/O.
//!
//! # What it decides
//!
//! Every call gets one [`Status`]:
//! - **not billed**: inbound, unanswered, emergency (never billed, whatever the
//!   customer or period), or outside the month;
//! - **out of plan**: an answered outbound call the plan does not cover, priced at
//!   the tariff;
//! - **included**: a *counted* call (see below) that no rule designates;
//! - **re-priced** by a [`Rule`]: a call the plan would cover, billed per minute
//!   because the customer is a telecom professional, because it started in a
//!   suspension period, or because a fair-use rule designates it;
//! - **unmatched**: a call that should be priced but has no tariff row: listed,
//!   never priced at zero.
//!
//! A call is **counted** when it is outbound, answered, in plan, not in a
//! suspension period and the customer is not a telecom professional: counted calls
//! are the only ones the three measured rules (distinct numbers, eligible hours,
//! forwarding) look at, and the only ones they re-price.
//!
//! # Two passes
//!
//! 1. [`TrunkRater::assess`] takes the calls in any order. It settles every call
//!    that is not counted, and accumulates the order-free totals of the counted
//!    ones: their number, answered time, forwarded time per user, caller numbers
//!    outside the customer's inventory. A counted call comes back as its packed
//!    destination; the caller keeps its compact [`CountedCall`] (in memory or
//!    spilled to disk, grouped by trunk).
//! 2. When the totals show that a rule may be breached (more counted calls than
//!    the distinct-number allowance, more hours or forwarded time than allowed, or
//!    a shared service the provider confirmed), [`TrunkRater::fair_use_pass`] takes
//!    the trunk's counted
//!    calls, sorts them by start time then call key and walks them once to find
//!    each crossing moment and the calls each rule designates (under `excess`), then
//!    a second time to emit the re-priced calls (under `whole_month` every counted
//!    call is designated by every breached rule). A call designated by several rules
//!    names the first in the precedence setting. Otherwise every counted call stays
//!    included, and the caller only counts the trunk's distinct numbers
//!    ([`TrunkRater::set_distinct_numbers`]): counting them trunk by trunk after the
//!    stream keeps one trunk's numbers in cache instead of every trunk's.
//!
//! The crossing call of a running total (hours, a user's forwarded time) is the
//! call that takes it strictly above the threshold; it is re-priced whole with every
//! later counted call. Distinct numbers are ranked by first appearance; calls to
//! numbers ranked beyond ⌊300 × channel-months⌋ are re-priced, a later call to a
//! number within the allowance stays included.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use cdr::{CallRecord, Direction, Disposition};
use chrono::{DateTime, NaiveDate, Utc};
use provisioning::{Customer, Trunk};
use rust_decimal::Decimal;

use crate::channels::ChannelMonths;
use crate::destination::{eligibility, pack_number, unpack_number, Destination, Eligibility};
use crate::hashing::FastMap;
use crate::inventory::CustomerNumbers;
use crate::month::{BillingMonth, MonthCalendar};
use crate::pricing::{Price, TariffIndex};
use crate::rules::{BreachPolicy, Rule};
use crate::settings::{PlanSettings, RatingSettings, SharedServiceConfirmation};

/// How many evidence call keys a breach keeps for the report and the CSV (every
/// re-priced call is in the rated calls table).
pub const EVIDENCE_SAMPLE: usize = 20;

/// The columns of a call record that rating reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatingCall {
    /// The stable call key.
    pub call_key: String,
    /// The trunk.
    pub trunk_id: String,
    /// Inbound or outbound.
    pub direction: Direction,
    /// The presented caller number.
    pub caller: String,
    /// The callee as recorded.
    pub callee: String,
    /// The forwarding user's number, empty when the call was not forwarded.
    pub forwarding_party: String,
    /// How the attempt ended.
    pub disposition: Disposition,
    /// The edge flagged the callee as an emergency number.
    pub emergency: bool,
    /// INVITE time, ms since the epoch (UTC).
    pub invite_ms: u64,
    /// Answered duration in ms.
    pub billable_ms: u64,
    /// The Teams user (userPrincipalName) when the call is in a Teams log.
    pub teams_user: String,
    /// The Teams call type (`ByotOutUserForwarding`...), when in a Teams log.
    pub teams_call_type: String,
    /// The Teams SBC the call went through, when in a Teams log.
    pub teams_sbc_fqdn: String,
}

/// The Teams call type of a forwarded call.
pub const TEAMS_FORWARDING: &str = "ByotOutUserForwarding";

impl RatingCall {
    /// The forwarding user: the recorded forwarding party, else the Teams user of
    /// a Teams forwarded call; empty when the call was not forwarded.
    pub fn forwarding_user(&self) -> &str {
        self.view().forwarding_user()
    }

    /// The call as the engine reads it.
    pub fn view(&self) -> CallRef<'_> {
        CallRef {
            call_key: &self.call_key,
            trunk_id: &self.trunk_id,
            direction: self.direction,
            caller: &self.caller,
            callee: &self.callee,
            forwarding_party: &self.forwarding_party,
            disposition: self.disposition,
            emergency: self.emergency,
            invite_ms: self.invite_ms,
            billable_ms: self.billable_ms,
            teams_user: &self.teams_user,
            teams_call_type: &self.teams_call_type,
            teams_sbc_fqdn: &self.teams_sbc_fqdn,
        }
    }
}

/// A [`RatingCall`] borrowing its text: what the engine reads, so that the
/// monthly job rates rows straight out of the ClickHouse stream without copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct CallRef<'a> {
    pub call_key: &'a str,
    pub trunk_id: &'a str,
    pub direction: Direction,
    pub caller: &'a str,
    pub callee: &'a str,
    pub forwarding_party: &'a str,
    pub disposition: Disposition,
    pub emergency: bool,
    pub invite_ms: u64,
    pub billable_ms: u64,
    pub teams_user: &'a str,
    pub teams_call_type: &'a str,
    pub teams_sbc_fqdn: &'a str,
}

impl<'a> CallRef<'a> {
    /// See [`RatingCall::forwarding_user`].
    pub fn forwarding_user(&self) -> &'a str {
        if !self.forwarding_party.is_empty() {
            self.forwarding_party
        } else if self.teams_call_type == TEAMS_FORWARDING {
            self.teams_user
        } else {
            ""
        }
    }
}

impl From<&CallRecord> for RatingCall {
    fn from(r: &CallRecord) -> Self {
        RatingCall {
            call_key: r.key.as_str().to_owned(),
            trunk_id: r.trunk_id.clone(),
            direction: r.direction,
            caller: r.caller.clone(),
            callee: r.callee.clone(),
            forwarding_party: r.forwarding_party.clone().unwrap_or_default(),
            disposition: r.disposition,
            emergency: r.emergency,
            invite_ms: r.invite_ms,
            billable_ms: r.billable_ms,
            teams_user: r
                .teams
                .as_ref()
                .map(|t| t.user_principal_name.clone())
                .unwrap_or_default(),
            teams_call_type: r
                .teams
                .as_ref()
                .map(|t| t.call_type.clone())
                .unwrap_or_default(),
            teams_sbc_fqdn: r
                .teams
                .as_ref()
                .map(|t| t.sbc_fqdn.clone())
                .unwrap_or_default(),
        }
    }
}

/// The outcome of rating a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// Not billed: inbound, unanswered, emergency.
    NotBilled,
    /// Counted and covered by the plan.
    Included,
    /// Not covered by the plan: billed at the tariff.
    OutOfPlan,
    /// Covered by the plan but billed at the tariff because of a rule.
    Repriced,
    /// Should be billed but no tariff row matches: listed for the tariff team.
    Unmatched,
}

impl Status {
    /// Every status.
    pub const ALL: [Status; 5] = [
        Status::NotBilled,
        Status::Included,
        Status::OutOfPlan,
        Status::Repriced,
        Status::Unmatched,
    ];

    fn index(self) -> usize {
        self as usize
    }

    /// The name used in files and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::NotBilled => "not_billed",
            Status::Included => "included",
            Status::OutOfPlan => "out_of_plan",
            Status::Repriced => "repriced",
            Status::Unmatched => "unmatched",
        }
    }
}

pub use crate::pricing::TariffRef;

/// A rated call: what the run stores and the invoice lines add up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatedCall {
    /// The call key.
    pub call_key: String,
    /// The trunk (shared by its calls).
    pub trunk_id: Arc<str>,
    /// The customer (shared by its calls).
    pub customer_id: Arc<str>,
    /// INVITE time, ms.
    pub invite_ms: u64,
    /// The destination, normalised when it is a number.
    pub destination: String,
    /// The destination's category (`mobile`, `not_a_number`...).
    pub category: &'static str,
    /// Whether the plan covers the destination.
    pub in_plan: bool,
    /// The outcome.
    pub status: Status,
    /// The rule that re-priced it (re-priced calls, and unmatched ones a rule
    /// would have re-priced).
    pub rule: Option<Rule>,
    /// Why, in words (out-of-plan reason, rule, not-billed reason).
    pub reason: String,
    /// The forwarding user, when forwarded.
    pub forwarding_party: String,
    /// Answered duration, ms.
    pub billable_ms: u64,
    /// Seconds billed after increments (0 when not priced).
    pub billed_secs: u64,
    /// Amount at the per-call decimals (0 when not priced).
    pub amount: Decimal,
    /// The tariff row, when priced (shared by the calls priced with it).
    pub tariff: Option<Arc<TariffRef>>,
}

impl RatedCall {
    /// The invoice class: the tariff row's class, or the destination category.
    pub fn class(&self) -> &str {
        self.tariff
            .as_ref()
            .map_or(self.category, |t| t.class.as_str())
    }
}

/// A counted call in the compact form kept between the passes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountedCall {
    /// The call key (ties in start time are broken by it).
    pub call_key: String,
    /// INVITE time, ms.
    pub invite_ms: u64,
    /// Answered duration, ms.
    pub billable_ms: u64,
    /// The destination, packed ([`pack_number`]).
    pub number: u64,
    /// The forwarding user, empty when not forwarded.
    pub forwarding_party: String,
}

/// Why a call is not billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotBilled {
    /// Its INVITE is outside the billed month.
    OtherMonth,
    /// Inbound calls are not billed.
    Inbound,
    /// Emergency calls are never billed.
    Emergency,
    /// Not answered.
    Unanswered(Disposition),
}

impl NotBilled {
    /// In words.
    pub fn reason(self) -> String {
        match self {
            NotBilled::OtherMonth => "outside the billed month".to_owned(),
            NotBilled::Inbound => "inbound: not billed".to_owned(),
            NotBilled::Emergency => "emergency call: never billed".to_owned(),
            NotBilled::Unanswered(d) => format!("{}: not billed", d.as_str()),
        }
    }
}

impl CountedCall {
    /// The compact form of a counted call whose packed destination is `number`.
    pub fn of(call: &CallRef<'_>, number: u64) -> Self {
        CountedCall {
            call_key: call.call_key.to_owned(),
            invite_ms: call.invite_ms,
            billable_ms: call.billable_ms,
            number,
            forwarding_party: call.forwarding_user().to_owned(),
        }
    }
}

/// What [`TrunkRater::assess`] did with a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assessed {
    /// Not billed (no rated call is stored for it).
    NotBilled(NotBilled),
    /// Settled: the call's final rating.
    Final(Box<RatedCall>),
    /// Counted: its fate depends on the fair-use pass; the caller keeps
    /// [`CountedCall::of`] the call with this packed destination number.
    Counted(u64),
}

/// A breach of a rule (or a flag for review), with its evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breach {
    /// The trunk.
    pub trunk_id: String,
    /// The customer.
    pub customer_id: String,
    /// The rule.
    pub rule: Rule,
    /// What the rule is measured on, when per user: the forwarding number.
    pub subject: String,
    /// The threshold in words (`7548 numbers (300 × 25.1613 channel-months)`).
    pub threshold: String,
    /// The threshold as a number in `unit`.
    pub threshold_value: Decimal,
    /// The measured value in `unit`.
    pub measured: Decimal,
    /// `numbers`, `hours`, `callers`, `calls`.
    pub unit: String,
    /// When the threshold was crossed (the crossing call's INVITE), if it was.
    pub crossed_at_ms: Option<u64>,
    /// The call that crossed it.
    pub crossing_call: Option<String>,
    /// True when calls are billed because of it; false for a flag for review.
    pub billed: bool,
    /// The plan's breach policy.
    pub policy: BreachPolicy,
    /// Calls re-priced naming this rule.
    pub repriced_calls: u64,
    /// Their amount, at the per-call decimals.
    pub repriced_amount: Decimal,
    /// The first re-priced calls (or evidence calls for a flag), in order.
    pub evidence: Vec<String>,
    /// More evidence in words (foreign caller numbers, suspension reason...).
    pub detail: String,
    /// What the billing team should do.
    pub recommendation: String,
}

/// A trunk's fair-use counters for the month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counters {
    /// The time-weighted channel count.
    pub channel_months: ChannelMonths,
    /// ⌊distinct_numbers_per_channel × channel-months⌋.
    pub distinct_allowance: u64,
    /// Distinct numbers of counted calls.
    pub distinct_numbers: u64,
    /// Answered time of counted calls, ms.
    pub eligible_ms: u64,
    /// eligible_ms_per_channel × channel-months, ms (rounded down, for display).
    pub eligible_threshold_ms: u64,
    /// Forwarded counted time per forwarding user, ms, by user.
    pub forwarding_ms: BTreeMap<String, u64>,
    /// The per-user forwarding threshold, ms.
    pub forwarding_threshold_ms: u64,
    /// Distinct caller numbers presented on outbound calls that are not in the
    /// customer's inventory (empty when the customer has no inventory).
    pub foreign_callers: BTreeSet<String>,
    /// Whether the customer has a number inventory to check callers against.
    pub inventory_known: bool,
    /// Distinct Teams SBC names seen on the trunk.
    pub teams_sbc_fqdns: BTreeSet<String>,
    /// Distinct Teams tenants (the domain of the users' principal names).
    pub teams_tenants: BTreeSet<String>,
    /// Call attempts of the trunk in the month.
    pub calls: u64,
    /// Counted calls.
    pub counted_calls: u64,
}

/// Money and minutes added up by invoice grouping.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageSum {
    /// Calls.
    pub calls: u64,
    /// Billed seconds.
    pub billed_secs: u64,
    /// Amount at the per-call decimals.
    pub amount: Decimal,
}

impl UsageSum {
    fn add(&mut self, call: &RatedCall) {
        self.calls += 1;
        self.billed_secs += call.billed_secs;
        self.amount += call.amount;
    }

    fn absorb(&mut self, other: &UsageSum) {
        self.calls += other.calls;
        self.billed_secs += other.billed_secs;
        self.amount += other.amount;
    }
}

/// How billed usage is grouped on the invoice.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UsageKey {
    /// Out-of-plan usage of a destination class.
    OutOfPlan(String),
    /// Usage re-priced by a rule.
    Repriced(Rule),
}

/// Everything a trunk's month produced besides the rated calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkOutcome {
    /// The trunk.
    pub trunk_id: String,
    /// The customer.
    pub customer_id: String,
    /// The counters.
    pub counters: Counters,
    /// Breaches and flags, in rule order.
    pub breaches: Vec<Breach>,
    /// Billed usage by invoice grouping.
    pub usage: BTreeMap<UsageKey, UsageSum>,
    /// Calls that could not be priced.
    pub unmatched_calls: u64,
    /// Calls by status.
    pub by_status: BTreeMap<Status, u64>,
}

/// What the engine needs to know about a trunk's month.
#[derive(Clone, Copy)]
pub struct TrunkContext<'a> {
    /// The trunk.
    pub trunk: &'a Trunk,
    /// Its customer.
    pub customer: &'a Customer,
    /// Every setting.
    pub settings: &'a RatingSettings,
    /// The month.
    pub month: BillingMonth,
    /// The month's day boundaries ([`MonthCalendar::new`] of `month`).
    pub calendar: &'a MonthCalendar,
    /// The tariffs.
    pub tariffs: &'a TariffIndex<'a>,
    /// The customers' numbers.
    pub inventory: &'a CustomerNumbers,
}

impl<'a> TrunkContext<'a> {
    /// The trunk's plan settings.
    pub fn plan(&self) -> &'a PlanSettings {
        self.settings.plan(self.trunk.plan())
    }

    /// The provider's shared-service confirmation for this trunk and month.
    pub fn shared_confirmation(&self) -> Option<&'a SharedServiceConfirmation> {
        self.settings
            .shared_service_for(self.trunk.id(), self.month)
    }
}

/// What rating a call touches on every call of a trunk, side by side in two cache
/// lines at the head of the rater: over thousands of trunks, each call's rater is
/// a cache miss, and each further line or pointer (the trunk's provisioning record,
/// a set's buffer) another.
#[repr(C, align(64))]
struct Hot<'a> {
    calls: u64,
    counted_calls: u64,
    eligible_ms: u64,
    /// Calls not billed (added to the by-status counts at the end).
    not_billed: u64,
    plan: &'a PlanSettings,
    international_destinations: &'a [String],
    checks_callers: bool,
    telecom_professional: bool,
    has_suspensions: bool,
    own_callers_len: u8,
    /// The first caller numbers (as recorded, packed) found in the customer's
    /// inventory; more go to `TrunkRater::more_own_callers`.
    own_callers: [u64; OWN_CALLERS_INLINE],
}

const OWN_CALLERS_INLINE: usize = 7;

/// Calls re-priced by a rule (and subject): count, amount, earliest calls.
type RepricedTally = (u64, Decimal, Vec<(u64, String)>);

/// Rates one trunk's month. See the module documentation for the two passes.
///
/// Laid out in declaration order: the hot fields, then the context, head the
/// struct, in the lines [`touch`](Self::touch) reads.
#[repr(C)]
pub struct TrunkRater<'a> {
    /// First: what every call touches.
    hot: Hot<'a>,
    ctx: TrunkContext<'a>,
    channel_months: ChannelMonths,
    allowance: u64,
    /// Distinct numbers of the counted calls, once known (set by the fair-use
    /// pass or by [`TrunkRater::set_distinct_numbers`]).
    distinct: Option<u64>,
    forwarding_ms: FastMap<String, u64>,
    /// Shared-service evidence: each foreign caller number, SBC name and tenant
    /// with its earliest call (so that the evidence does not depend on the order
    /// calls arrive in).
    foreign_callers: BTreeMap<String, (u64, String)>,
    /// Own caller numbers beyond [`Hot::own_callers`].
    more_own_callers: crate::hashing::FastSet<u64>,
    teams_sbc_fqdns: BTreeMap<String, (u64, String)>,
    teams_tenants: BTreeMap<String, (u64, String)>,
    usage: BTreeMap<UsageKey, UsageSum>,
    /// Out-of-plan usage per tariff row (few per trunk, found by pointer), added
    /// to `usage` by class when the month is done.
    out_of_plan: Vec<(Arc<TariffRef>, UsageSum)>,
    /// The trunk and customer ids the rated calls share.
    trunk_id: Arc<str>,
    customer_id: Arc<str>,
    /// Calls by status, indexed by [`Status::index`] (not billed: in `hot`).
    by_status: [u64; 5],
    unmatched: u64,
    /// Re-priced calls and amount per rule and subject, with their earliest calls.
    repriced: BTreeMap<(Rule, String), RepricedTally>,
    /// First suspended call per suspension index (for the breach record).
    suspended_first: BTreeMap<usize, (u64, String)>,
    telecom_first: Option<(u64, String)>,
    breaches: Vec<Breach>,
}

impl<'a> TrunkRater<'a> {
    /// Starts a trunk's month.
    pub fn new(ctx: TrunkContext<'a>) -> Self {
        let channel_months = ChannelMonths::of(ctx.trunk, ctx.month);
        let allowance = channel_months.allowance(ctx.plan().distinct_numbers_per_channel);
        TrunkRater {
            hot: Hot {
                calls: 0,
                counted_calls: 0,
                eligible_ms: 0,
                not_billed: 0,
                plan: ctx.plan(),
                international_destinations: ctx.trunk.international_destinations(),
                checks_callers: ctx.inventory.knows(ctx.customer.id()),
                telecom_professional: ctx.customer.category().is_telecom_professional(),
                has_suspensions: !ctx.trunk.suspensions().is_empty(),
                own_callers_len: 0,
                own_callers: [0; OWN_CALLERS_INLINE],
            },
            channel_months,
            allowance,
            distinct: None,
            forwarding_ms: FastMap::default(),
            foreign_callers: BTreeMap::new(),
            more_own_callers: crate::hashing::FastSet::default(),
            teams_sbc_fqdns: BTreeMap::new(),
            teams_tenants: BTreeMap::new(),
            usage: BTreeMap::new(),
            out_of_plan: Vec::new(),
            trunk_id: Arc::from(ctx.trunk.id()),
            customer_id: Arc::from(ctx.customer.id()),
            by_status: [0; 5],
            unmatched: 0,
            repriced: BTreeMap::new(),
            suspended_first: BTreeMap::new(),
            telecom_first: None,
            breaches: Vec::new(),
            ctx,
        }
    }

    /// Reads the cache lines every call of the trunk uses, so that a caller
    /// reading the raters of many calls first, in a loop of their own, has their
    /// cache misses overlap. Returns a value to feed to [`std::hint::black_box`].
    pub fn touch(&self) -> u64 {
        self.hot.calls
            ^ self.hot.own_callers[OWN_CALLERS_INLINE - 1]
            ^ std::ptr::from_ref(self.ctx.calendar) as usize as u64
    }

    /// The context.
    pub fn context(&self) -> &TrunkContext<'a> {
        &self.ctx
    }

    /// Pass 1: settles a call that is not counted, or returns it as counted. Calls
    /// may come in any order.
    pub fn assess(&mut self, call: &CallRef<'_>) -> Assessed {
        self.assess_classified(call, None)
    }

    /// [`assess`](Self::assess) with the callee already classified
    /// ([`Destination::classify`] of `call.callee`; `None` classifies it here
    /// when needed): what the monthly job's reading thread does.
    pub fn assess_classified(
        &mut self,
        call: &CallRef<'_>,
        classified: Option<Destination>,
    ) -> Assessed {
        self.hot.calls += 1;
        let outbound = call.direction == Direction::Outbound;
        if outbound {
            self.check_caller(call);
        }
        self.check_teams(call);
        // The cheap checks first: most calls need no classification.
        let Some(date) = self.ctx.calendar.date_of(call.invite_ms) else {
            return self.not_billed(NotBilled::OtherMonth);
        };
        if !outbound {
            return self.not_billed(NotBilled::Inbound);
        }
        if call.emergency {
            return self.not_billed(NotBilled::Emergency);
        }
        if call.disposition != Disposition::Answered {
            return self.not_billed(NotBilled::Unanswered(call.disposition));
        }
        let destination = classified.unwrap_or_else(|| Destination::classify(call.callee));
        if destination.is_emergency() {
            return self.not_billed(NotBilled::Emergency);
        }
        let plan = self.hot.plan;
        let eligible = eligibility(&destination, plan, self.hot.international_destinations);
        match eligible {
            Eligibility::Emergency => self.not_billed(NotBilled::Emergency),
            Eligibility::OutOfPlan(reason) => {
                let price = self.ctx.tariffs.price(
                    destination.number(),
                    date,
                    call.billable_ms,
                    &self.ctx.settings.money,
                );
                match price {
                    Some(price) => self.settle(
                        call,
                        &destination,
                        false,
                        Status::OutOfPlan,
                        None,
                        "",
                        reason,
                        Some(price),
                    ),
                    None => self.settle(
                        call,
                        &destination,
                        false,
                        Status::Unmatched,
                        None,
                        "",
                        format!("{reason}; no tariff row matches"),
                        None,
                    ),
                }
            }
            Eligibility::InPlan => {
                let excluded: Option<(Rule, String)> = if self.hot.telecom_professional {
                    if self
                        .telecom_first
                        .as_ref()
                        .is_none_or(|f| (call.invite_ms, call.call_key) < (f.0, f.1.as_str()))
                    {
                        self.telecom_first = Some((call.invite_ms, call.call_key.to_owned()));
                    }
                    Some((Rule::TelecomProfessional, String::new()))
                } else if let Some(index) = self.suspension_index(call.invite_ms) {
                    let first = self
                        .suspended_first
                        .entry(index)
                        .or_insert_with(|| (call.invite_ms, call.call_key.to_owned()));
                    if (call.invite_ms, call.call_key) < (first.0, first.1.as_str()) {
                        *first = (call.invite_ms, call.call_key.to_owned());
                    }
                    Some((
                        Rule::Suspension,
                        suspension_subject(&self.ctx.trunk.suspensions()[index]),
                    ))
                } else {
                    None
                };
                match excluded {
                    Some((rule, subject)) => self.reprice(call, &destination, date, rule, &subject),
                    None => {
                        let Some(number) = destination
                            .packed()
                            .or_else(|| pack_number(destination.number()))
                        else {
                            // In plan implies a classified number, which always packs
                            // (15 digits at most); should that change, the call stays
                            // included without being counted rather than be lost.
                            let reason =
                                "in plan (not counted: number too long to count)".to_owned();
                            return self.settle(
                                call,
                                &destination,
                                true,
                                Status::Included,
                                None,
                                "",
                                reason,
                                None,
                            );
                        };
                        self.hot.counted_calls += 1;
                        self.hot.eligible_ms += call.billable_ms;
                        let user = call.forwarding_user();
                        if !user.is_empty() {
                            match self.forwarding_ms.get_mut(user) {
                                Some(ms) => *ms += call.billable_ms,
                                None => {
                                    self.forwarding_ms.insert(user.to_owned(), call.billable_ms);
                                }
                            }
                        }
                        Assessed::Counted(number)
                    }
                }
            }
        }
    }

    /// True when the counted calls need the ordered pass: a measured rule is
    /// breached on the month's totals, or the provider confirmed a shared service.
    pub fn needs_fair_use_pass(&self) -> bool {
        let plan = self.ctx.plan();
        // More counted calls than the allowance is the order-free upper bound of
        // more distinct numbers: the pass counts them exactly.
        self.hot.counted_calls > self.allowance
            || self
                .channel_months
                .exceeded_by(self.hot.eligible_ms, plan.eligible_ms_per_channel)
            || self
                .forwarding_ms
                .values()
                .any(|&ms| ms > plan.forwarding_ms_per_user)
            || (self.ctx.shared_confirmation().is_some() && self.hot.counted_calls > 0)
    }

    /// Counted calls so far.
    pub fn counted_calls(&self) -> u64 {
        self.hot.counted_calls
    }

    /// Records the distinct numbers of the counted calls of a trunk that needs no
    /// fair-use pass (the pass counts them itself).
    pub fn set_distinct_numbers(&mut self, distinct: u64) {
        self.distinct = Some(distinct);
    }

    /// Pass 2: walks the trunk's counted calls in order (it sorts them), records
    /// breaches with their crossing moments and emits every re-priced call. Calls
    /// not emitted stay included. Call it at most once, with every counted call
    /// [`assess`](Self::assess) returned; without it (when
    /// [`needs_fair_use_pass`](Self::needs_fair_use_pass) is false) every counted
    /// call is included.
    pub fn fair_use_pass(&mut self, counted: &mut [CountedCall], emit: &mut dyn FnMut(RatedCall)) {
        counted.sort_by(|a, b| (a.invite_ms, &a.call_key).cmp(&(b.invite_ms, &b.call_key)));
        let plan = self.ctx.plan();
        let shared = self.ctx.shared_confirmation();
        let shared_from = shared.map(|c| {
            c.from.map_or(self.ctx.month.start_ms(), |f| {
                u64::try_from(f.timestamp_millis()).unwrap_or(0)
            })
        });

        // Walk 1: designations under `excess`, crossings.
        let mut ranks: FastMap<u64, u64> = FastMap::default();
        let mut total_ms = 0u64;
        let mut users: HashMap<&str, (u64, bool)> = HashMap::new();
        let mut designations: Vec<u8> = Vec::with_capacity(counted.len());
        let mut crossing: BTreeMap<(Rule, String), (u64, String)> = BTreeMap::new();
        let mut shared_first: Option<(u64, String)> = None;
        let mut hours_crossed = false;
        for call in counted.iter() {
            let mut mask = 0u8;
            let next_rank = ranks.len() as u64 + 1;
            let rank = *ranks.entry(call.number).or_insert(next_rank);
            if rank > self.allowance {
                mask |= Rule::DistinctNumbers.bit();
                if rank == self.allowance + 1 {
                    crossing
                        .entry((Rule::DistinctNumbers, String::new()))
                        .or_insert((call.invite_ms, call.call_key.clone()));
                }
            }
            total_ms += call.billable_ms;
            if !hours_crossed
                && self
                    .channel_months
                    .exceeded_by(total_ms, plan.eligible_ms_per_channel)
            {
                hours_crossed = true;
                crossing.insert(
                    (Rule::EligibleHours, String::new()),
                    (call.invite_ms, call.call_key.clone()),
                );
            }
            if hours_crossed {
                mask |= Rule::EligibleHours.bit();
            }
            if !call.forwarding_party.is_empty() {
                let user = users
                    .entry(call.forwarding_party.as_str())
                    .or_insert((0, false));
                user.0 += call.billable_ms;
                if !user.1 && user.0 > plan.forwarding_ms_per_user {
                    user.1 = true;
                    crossing.insert(
                        (Rule::Forwarding, call.forwarding_party.clone()),
                        (call.invite_ms, call.call_key.clone()),
                    );
                }
                if user.1 {
                    mask |= Rule::Forwarding.bit();
                }
            }
            if let Some(from) = shared_from {
                if call.invite_ms >= from {
                    mask |= Rule::SharedService.bit();
                    if shared_first.is_none() {
                        shared_first = Some((call.invite_ms, call.call_key.clone()));
                    }
                }
            }
            designations.push(mask);
        }

        self.distinct = Some(ranks.len() as u64);

        // Which rules are breached, and under `whole_month` designate every call.
        let mut breached = 0u8;
        for (rule, _) in crossing.keys() {
            breached |= rule.bit();
        }
        if shared_first.is_some() {
            breached |= Rule::SharedService.bit();
        }
        let whole_month = plan.breach_policy == BreachPolicy::WholeMonth;
        let breaching_users: Vec<String> = crossing
            .keys()
            .filter(|(rule, _)| *rule == Rule::Forwarding)
            .map(|(_, user)| user.clone())
            .collect();

        // Walk 2: emit the re-priced calls.
        for (call, mask) in counted.iter().zip(designations) {
            let mask = if whole_month { breached } else { mask };
            if mask == 0 {
                continue;
            }
            let rule = self
                .ctx
                .settings
                .precedence
                .iter()
                .copied()
                .find(|r| mask & r.bit() != 0)
                .unwrap_or(Rule::DistinctNumbers);
            let destination = Destination::classify(&unpack_number(call.number));
            let date = self
                .ctx
                .calendar
                .date_of(call.invite_ms)
                .unwrap_or(self.ctx.month.first_day());
            let as_call = CallRef {
                call_key: &call.call_key,
                trunk_id: self.ctx.trunk.id(),
                direction: Direction::Outbound,
                caller: "",
                callee: destination.number(),
                forwarding_party: &call.forwarding_party,
                disposition: Disposition::Answered,
                emergency: false,
                invite_ms: call.invite_ms,
                billable_ms: call.billable_ms,
                teams_user: "",
                teams_call_type: "",
                teams_sbc_fqdn: "",
            };
            let subject = if rule == Rule::Forwarding {
                if breaching_users.contains(&call.forwarding_party) {
                    call.forwarding_party.clone()
                } else {
                    // whole_month: a call of another user (or not forwarded) is
                    // re-priced because of the first breaching user.
                    breaching_users.first().cloned().unwrap_or_default()
                }
            } else {
                String::new()
            };
            if let Assessed::Final(rated) =
                self.reprice(&as_call, &destination, date, rule, &subject)
            {
                emit(*rated);
            }
        }

        // Breach records.
        let cm = self.channel_months;
        for ((rule, subject), (at, key)) in &crossing {
            let (threshold, threshold_value, measured, unit) = match rule {
                Rule::DistinctNumbers => (
                    format!(
                        "{} numbers ({} × {} channel-months, rounded down)",
                        self.allowance,
                        plan.distinct_numbers_per_channel,
                        cm.to_decimal()
                    ),
                    Decimal::from(self.allowance),
                    Decimal::from(ranks.len() as u64),
                    "numbers",
                ),
                Rule::EligibleHours => (
                    format!(
                        "{} h ({} h × {} channel-months)",
                        hours(cm.scaled_ms(plan.eligible_ms_per_channel)),
                        hours(plan.eligible_ms_per_channel),
                        cm.to_decimal()
                    ),
                    hours(cm.scaled_ms(plan.eligible_ms_per_channel)),
                    hours(total_ms),
                    "hours",
                ),
                _ => (
                    format!("{} h per user", hours(plan.forwarding_ms_per_user)),
                    hours(plan.forwarding_ms_per_user),
                    hours(users.get(subject.as_str()).map_or(0, |u| u.0)),
                    "hours",
                ),
            };
            let detail = match rule {
                Rule::DistinctNumbers => format!(
                    "calls to the numbers ranked {} and beyond in order of first appearance are re-priced{}",
                    self.allowance + 1,
                    if whole_month { " (whole_month: every counted call)" } else { "" }
                ),
                Rule::EligibleHours => format!(
                    "the crossing call and every later counted call are re-priced{}",
                    if whole_month { " (whole_month: every counted call)" } else { "" }
                ),
                _ => format!(
                    "forwarded calls of {subject} from the crossing call on are re-priced{}",
                    if whole_month { " (whole_month: every counted call)" } else { "" }
                ),
            };
            self.breaches.push(self.breach(
                *rule,
                subject,
                threshold,
                threshold_value,
                measured,
                unit,
                Some((*at, key.clone())),
                true,
                detail,
            ));
        }
        if let (Some(c), Some(first)) = (shared, shared_first) {
            let detail = format!(
                "confirmed by the provider ({}): {}",
                crate::settings::PLANS_FILE,
                c.reason
            );
            let threshold = "confirmed shared service".to_owned();
            let foreign = Decimal::from(self.foreign_callers.len() as u64);
            self.breaches.push(self.breach(
                Rule::SharedService,
                "",
                threshold,
                Decimal::ZERO,
                foreign,
                "callers",
                Some(first),
                true,
                detail,
            ));
        }
    }

    /// Finishes the month: the flags and breaches that need no ordered pass, the
    /// evidence, and the totals.
    pub fn finish(mut self) -> TrunkOutcome {
        for (tariff, sum) in std::mem::take(&mut self.out_of_plan) {
            self.usage
                .entry(UsageKey::OutOfPlan(tariff.class.clone()))
                .or_default()
                .absorb(&sum);
        }
        let settings = self.ctx.settings;
        if self.hot.telecom_professional {
            let category = self.ctx.customer.category();
            let detail = format!(
                "customer category {category}: telecom professionals are excluded from the unlimited plans (contract §7.2)"
            );
            let first = self.telecom_first.clone();
            self.breaches.push(self.breach(
                Rule::TelecomProfessional,
                "",
                format!("plan never applies to category {category}"),
                Decimal::ZERO,
                Decimal::ZERO,
                "calls",
                first,
                true,
                detail,
            ));
        }
        let suspended: Vec<(usize, (u64, String))> =
            self.suspended_first.clone().into_iter().collect();
        for (index, first) in suspended {
            let s = &self.ctx.trunk.suspensions()[index];
            let subject = suspension_subject(s);
            let detail = format!("suspension {subject}: {}", s.reason());
            self.breaches.push(self.breach(
                Rule::Suspension,
                &subject,
                "suspension period in provisioning".to_owned(),
                Decimal::ZERO,
                Decimal::ZERO,
                "calls",
                Some(first),
                true,
                detail,
            ));
        }
        let confirmed = self.breaches.iter().any(|b| b.rule == Rule::SharedService);
        let foreign = self.foreign_callers.len() as u64;
        let fqdns = self.teams_sbc_fqdns.len() as u64;
        let tenants = self.teams_tenants.len() as u64;
        let mut reasons = Vec::new();
        if foreign >= settings.shared_service_min_foreign_callers {
            reasons.push(format!(
                "{foreign} caller number(s) outside the customer's inventory: {}",
                listed(self.foreign_callers.keys())
            ));
        }
        if fqdns > settings.shared_service_max_sbc_fqdns {
            reasons.push(format!(
                "{fqdns} Teams SBCs on one trunk: {}",
                listed(self.teams_sbc_fqdns.keys())
            ));
        }
        if tenants > settings.shared_service_max_tenants {
            reasons.push(format!(
                "{tenants} Teams tenants on one trunk: {}",
                listed(self.teams_tenants.keys())
            ));
        }
        if !confirmed && !reasons.is_empty() {
            let mut evidence: Vec<(u64, String)> = self
                .foreign_callers
                .values()
                .chain(self.teams_sbc_fqdns.values())
                .chain(self.teams_tenants.values())
                .cloned()
                .collect();
            evidence.sort();
            evidence.dedup();
            evidence.truncate(EVIDENCE_SAMPLE);
            let threshold = format!(
                "flag from {} foreign caller number(s), more than {} SBC(s) or {} tenant(s)",
                settings.shared_service_min_foreign_callers,
                settings.shared_service_max_sbc_fqdns,
                settings.shared_service_max_tenants
            );
            let mut flag = self.breach(
                Rule::SharedService,
                "",
                threshold,
                Decimal::from(settings.shared_service_min_foreign_callers),
                Decimal::from(foreign),
                "callers",
                None,
                false,
                reasons.join("; "),
            );
            flag.evidence = evidence.into_iter().map(|(_, k)| k).collect();
            flag.recommendation = "review: confirm or dismiss the shared use with the customer; a confirmation in plans.toml re-prices the month".to_owned();
            self.breaches.push(flag);
        }
        // Fill the re-priced totals and evidence of each billed breach.
        for breach in &mut self.breaches {
            if !breach.billed {
                continue;
            }
            if let Some((calls, amount, keys)) =
                self.repriced.get(&(breach.rule, breach.subject.clone()))
            {
                breach.repriced_calls = *calls;
                if matches!(breach.rule, Rule::TelecomProfessional | Rule::Suspension) {
                    // Nothing is measured: the calls the plan would have covered are.
                    breach.measured = Decimal::from(*calls);
                }
                breach.repriced_amount = *amount;
                breach.evidence = keys.iter().map(|(_, k)| k.clone()).collect();
            }
        }
        self.breaches
            .sort_by(|a, b| (a.rule, &a.subject).cmp(&(b.rule, &b.subject)));
        let plan = self.ctx.plan();
        TrunkOutcome {
            trunk_id: self.ctx.trunk.id().to_owned(),
            customer_id: self.ctx.customer.id().to_owned(),
            counters: Counters {
                channel_months: self.channel_months,
                distinct_allowance: self.allowance,
                distinct_numbers: self.distinct.unwrap_or(0),
                eligible_ms: self.hot.eligible_ms,
                eligible_threshold_ms: self.channel_months.scaled_ms(plan.eligible_ms_per_channel),
                forwarding_ms: self.forwarding_ms.into_iter().collect(),
                forwarding_threshold_ms: plan.forwarding_ms_per_user,
                foreign_callers: self.foreign_callers.into_keys().collect(),
                teams_sbc_fqdns: self.teams_sbc_fqdns.into_keys().collect(),
                teams_tenants: self.teams_tenants.into_keys().collect(),
                inventory_known: self.hot.checks_callers,
                calls: self.hot.calls,
                counted_calls: self.hot.counted_calls,
            },
            breaches: self.breaches,
            usage: self.usage,
            unmatched_calls: self.unmatched,
            by_status: {
                let mut counts = self.by_status;
                counts[Status::NotBilled.index()] += self.hot.not_billed;
                let mut by_status: BTreeMap<Status, u64> = Status::ALL
                    .into_iter()
                    .zip(counts)
                    .filter(|(_, n)| *n > 0)
                    .collect();
                let repriced_counted: u64 = self
                    .repriced
                    .iter()
                    .filter(|((r, _), _)| Rule::MEASURED.contains(r))
                    .map(|(_, (n, _, _))| *n)
                    .sum();
                let included = self.hot.counted_calls.saturating_sub(repriced_counted);
                if included > 0 {
                    by_status.insert(Status::Included, included);
                }
                by_status
            },
        }
    }

    fn suspension_index(&self, invite_ms: u64) -> Option<usize> {
        if !self.hot.has_suspensions {
            return None;
        }
        let instant = instant_of(invite_ms);
        self.ctx
            .trunk
            .suspensions()
            .iter()
            .position(|s| s.contains(instant))
    }

    /// True when outbound calls' caller numbers are checked against the
    /// customer's inventory (shared-service evidence).
    pub fn checks_callers(&self) -> bool {
        self.hot.checks_callers
    }

    /// Counts a call the caller already knows is not billed and carries no
    /// evidence (no Teams details; inbound, or a customer without inventory):
    /// the same as [`assess`](Self::assess) without reading its details.
    pub fn skip(&mut self, why: NotBilled) {
        self.hot.calls += 1;
        let _ = self.not_billed(why);
    }

    /// Counts `n` calls the caller settled as not billed without details (see
    /// [`skip`](Self::skip)).
    pub fn skip_many(&mut self, n: u64) {
        self.hot.calls += n;
        self.hot.not_billed += n;
    }

    fn not_billed(&mut self, why: NotBilled) -> Assessed {
        self.hot.not_billed += 1;
        Assessed::NotBilled(why)
    }

    fn check_teams(&mut self, call: &CallRef<'_>) {
        if !call.teams_sbc_fqdn.is_empty() {
            let fqdn = call
                .teams_sbc_fqdn
                .trim_end_matches('.')
                .to_ascii_lowercase();
            earliest_of(&mut self.teams_sbc_fqdns, fqdn, call);
        }
        if let Some((_, domain)) = call.teams_user.rsplit_once('@') {
            if !domain.is_empty() {
                earliest_of(&mut self.teams_tenants, domain.to_ascii_lowercase(), call);
            }
        }
    }

    fn is_own_caller(&self, packed: u64) -> bool {
        let len = usize::from(self.hot.own_callers_len);
        self.hot.own_callers[..len].contains(&packed)
            || (!self.more_own_callers.is_empty() && self.more_own_callers.contains(&packed))
    }

    fn add_own_caller(&mut self, packed: u64) {
        let len = usize::from(self.hot.own_callers_len);
        if len < OWN_CALLERS_INLINE {
            self.hot.own_callers[len] = packed;
            self.hot.own_callers_len += 1;
        } else {
            self.more_own_callers.insert(packed);
        }
    }

    fn check_caller(&mut self, call: &CallRef<'_>) {
        if !self.hot.checks_callers || call.caller.is_empty() {
            return;
        }
        // A trunk presents its few numbers again and again: each is looked up in
        // the inventory once, then found among the trunk's own callers (packed as
        // recorded; text that does not pack is looked up every time).
        let packed = pack_number(call.caller);
        if packed.is_some_and(|p| self.is_own_caller(p)) {
            return;
        }
        if self
            .ctx
            .inventory
            .holds(self.ctx.customer.id(), call.caller)
        {
            if let Some(p) = packed {
                self.add_own_caller(p);
            }
            return;
        }
        let normalised = match number_portability::parse(call.caller) {
            Ok(n) => n.as_str().to_owned(),
            Err(_) => call.caller.to_owned(),
        };
        earliest_of(&mut self.foreign_callers, normalised, call);
    }

    /// Prices a call the plan would cover, naming the rule that re-prices it.
    fn reprice(
        &mut self,
        call: &CallRef<'_>,
        destination: &Destination,
        date: NaiveDate,
        rule: Rule,
        subject: &str,
    ) -> Assessed {
        let price = self.ctx.tariffs.price(
            destination.number(),
            date,
            call.billable_ms,
            &self.ctx.settings.money,
        );
        let reason = rule.describe().to_owned();
        match price {
            Some(price) => self.settle(
                call,
                destination,
                true,
                Status::Repriced,
                Some(rule),
                subject,
                reason,
                Some(price),
            ),
            None => self.settle(
                call,
                destination,
                true,
                Status::Unmatched,
                Some(rule),
                subject,
                format!("{reason}; no tariff row matches"),
                None,
            ),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn settle(
        &mut self,
        call: &CallRef<'_>,
        destination: &Destination,
        in_plan: bool,
        status: Status,
        rule: Option<Rule>,
        subject: &str,
        reason: String,
        price: Option<Price<'_>>,
    ) -> Assessed {
        let (billed_secs, amount, tariff) = match price {
            Some(p) => (
                p.billed_secs,
                crate::pricing::round_call(p.amount, &self.ctx.settings.money),
                Some(p.reference),
            ),
            None => (0, Decimal::ZERO, None),
        };
        let rated = RatedCall {
            call_key: call.call_key.to_owned(),
            trunk_id: Arc::clone(&self.trunk_id),
            customer_id: Arc::clone(&self.customer_id),
            invite_ms: call.invite_ms,
            destination: destination.number().to_owned(),
            category: destination.category_name(),
            in_plan,
            status,
            rule,
            reason,
            forwarding_party: call.forwarding_user().to_owned(),
            billable_ms: call.billable_ms,
            billed_secs,
            amount,
            tariff,
        };
        self.by_status[status.index()] += 1;
        match status {
            Status::OutOfPlan => match &rated.tariff {
                Some(tariff) => {
                    match self
                        .out_of_plan
                        .iter_mut()
                        .find(|(t, _)| Arc::ptr_eq(t, tariff))
                    {
                        Some((_, sum)) => sum.add(&rated),
                        None => {
                            let mut sum = UsageSum::default();
                            sum.add(&rated);
                            self.out_of_plan.push((Arc::clone(tariff), sum));
                        }
                    }
                }
                None => self
                    .usage
                    .entry(UsageKey::OutOfPlan(rated.class().to_owned()))
                    .or_default()
                    .add(&rated),
            },
            Status::Repriced => {
                if let Some(rule) = rule {
                    self.usage
                        .entry(UsageKey::Repriced(rule))
                        .or_default()
                        .add(&rated);
                }
            }
            Status::Unmatched => self.unmatched += 1,
            _ => {}
        }
        if let Some(rule) = rule {
            let entry = self.repriced.entry((rule, subject.to_owned())).or_insert((
                0,
                Decimal::ZERO,
                Vec::new(),
            ));
            entry.0 += 1;
            entry.1 += rated.amount;
            keep_earliest(&mut entry.2, call.invite_ms, call.call_key);
        }
        Assessed::Final(Box::new(rated))
    }

    #[allow(clippy::too_many_arguments)]
    fn breach(
        &self,
        rule: Rule,
        subject: &str,
        threshold: String,
        threshold_value: Decimal,
        measured: Decimal,
        unit: &str,
        crossing: Option<(u64, String)>,
        billed: bool,
        detail: String,
    ) -> Breach {
        let recommendation = match rule {
            Rule::TelecomProfessional => {
                "move the customer to a per-minute offer: the unlimited plan never applies"
            }
            Rule::Suspension => "",
            _ => "suspend the unlimited plan on this trunk (contract §7.2) and inform the customer",
        };
        Breach {
            trunk_id: self.ctx.trunk.id().to_owned(),
            customer_id: self.ctx.customer.id().to_owned(),
            rule,
            subject: subject.to_owned(),
            threshold,
            threshold_value,
            measured,
            unit: unit.to_owned(),
            crossed_at_ms: crossing.as_ref().map(|c| c.0),
            crossing_call: crossing.map(|c| c.1),
            billed,
            policy: self.ctx.plan().breach_policy,
            repriced_calls: 0,
            repriced_amount: Decimal::ZERO,
            evidence: Vec::new(),
            detail,
            recommendation: recommendation.to_owned(),
        }
    }
}

/// Milliseconds as hours with up to 4 decimals (display).
pub fn hours(ms: u64) -> Decimal {
    (Decimal::from(ms) / Decimal::from(crate::settings::HOUR_MS))
        .round_dp_with_strategy(4, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
        .normalize()
}

/// Records `key`'s earliest call (by start, then call key).
fn earliest_of(map: &mut BTreeMap<String, (u64, String)>, key: String, call: &CallRef<'_>) {
    let candidate = (call.invite_ms, call.call_key);
    match map.get_mut(&key) {
        Some(first) if (first.0, first.1.as_str()) <= candidate => {}
        Some(first) => *first = (call.invite_ms, call.call_key.to_owned()),
        None => {
            map.insert(key, (call.invite_ms, call.call_key.to_owned()));
        }
    }
}

/// Up to `EVIDENCE_SAMPLE` items, space-separated, `…` when there are more.
fn listed<'i>(items: impl ExactSizeIterator<Item = &'i String>) -> String {
    let more = items.len() > EVIDENCE_SAMPLE;
    let shown: Vec<&str> = items.take(EVIDENCE_SAMPLE).map(String::as_str).collect();
    format!("{}{}", shown.join(" "), if more { " …" } else { "" })
}

/// How a suspension period is named in outputs: its Paris start and end.
fn suspension_subject(s: &provisioning::Suspension) -> String {
    format!(
        "{}/{}",
        crate::month::format_paris(s.from()),
        crate::month::format_paris(s.to())
    )
}

/// Keeps the `EVIDENCE_SAMPLE` earliest calls by (start, key), sorted.
fn keep_earliest(sample: &mut Vec<(u64, String)>, invite_ms: u64, key: &str) {
    let pos = sample.partition_point(|(t, k)| (*t, k.as_str()) < (invite_ms, key));
    if pos < EVIDENCE_SAMPLE {
        sample.insert(pos, (invite_ms, key.to_owned()));
        sample.truncate(EVIDENCE_SAMPLE);
    }
}

fn instant_of(ms: u64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(i64::try_from(ms).unwrap_or(i64::MAX))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Rates a trunk's month held in memory: both passes, every call's rating
/// (included calls too) in input order, and the outcome. For tests, `explain` and
/// small runs; the monthly job streams instead.
pub fn rate_in_memory(
    ctx: TrunkContext<'_>,
    calls: &[RatingCall],
) -> (Vec<RatedCall>, TrunkOutcome) {
    let mut rater = TrunkRater::new(ctx);
    let mut rated: Vec<Option<RatedCall>> = Vec::with_capacity(calls.len());
    let mut counted = Vec::new();
    let mut counted_at: HashMap<String, usize> = HashMap::new();
    for call in calls {
        match rater.assess(&call.view()) {
            Assessed::Final(r) => rated.push(Some(*r)),
            Assessed::NotBilled(why) => {
                let destination = Destination::classify(&call.callee);
                rated.push(Some(RatedCall {
                    call_key: call.call_key.clone(),
                    trunk_id: Arc::clone(&rater.trunk_id),
                    customer_id: Arc::clone(&rater.customer_id),
                    invite_ms: call.invite_ms,
                    category: destination.category_name(),
                    destination: destination.number().to_owned(),
                    in_plan: false,
                    status: Status::NotBilled,
                    rule: None,
                    reason: why.reason(),
                    forwarding_party: call.forwarding_user().to_owned(),
                    billable_ms: call.billable_ms,
                    billed_secs: 0,
                    amount: Decimal::ZERO,
                    tariff: None,
                }))
            }
            Assessed::Counted(number) => {
                let c = CountedCall::of(&call.view(), number);
                counted_at.insert(c.call_key.clone(), rated.len());
                rated.push(None);
                counted.push(c);
            }
        }
    }
    let mut numbers: Vec<u64> = counted.iter().map(|c| c.number).collect();
    numbers.sort_unstable();
    numbers.dedup();
    rater.set_distinct_numbers(numbers.len() as u64);
    if rater.needs_fair_use_pass() {
        let mut emitted = Vec::new();
        rater.fair_use_pass(&mut counted, &mut |r| emitted.push(r));
        for r in emitted {
            if let Some(&i) = counted_at.get(&r.call_key) {
                rated[i] = Some(r);
            }
        }
    }
    let outcome = rater.finish();
    let rated = rated
        .into_iter()
        .zip(calls)
        .map(|(r, call)| {
            r.unwrap_or_else(|| {
                let destination = Destination::classify(&call.callee);
                RatedCall {
                    call_key: call.call_key.clone(),
                    trunk_id: Arc::from(outcome.trunk_id.as_str()),
                    customer_id: Arc::from(outcome.customer_id.as_str()),
                    invite_ms: call.invite_ms,
                    category: destination.category_name(),
                    destination: destination.number().to_owned(),
                    in_plan: true,
                    status: Status::Included,
                    rule: None,
                    reason: "in plan".to_owned(),
                    forwarding_party: call.forwarding_party.clone(),
                    billable_ms: call.billable_ms,
                    billed_secs: 0,
                    amount: Decimal::ZERO,
                    tariff: None,
                }
            })
        })
        .collect();
    (rated, outcome)
}

#[cfg(test)]
mod tests;
