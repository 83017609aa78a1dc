//! Unit tests of the engine: each fair-use rule at its threshold and one above,
//! both policies, precedence, exclusions (telecom professional, suspension,
//! emergency), pricing outcomes and shared-service evidence.

use super::*;
use crate::inventory::CustomerNumbers;
use crate::testutil::{call, ms, provisioning, settings, trunk, PLANS};

struct Fixture {
    _dir: tempfile::TempDir,
    p: provisioning::Provisioning,
    settings: RatingSettings,
    inventory: CustomerNumbers,
}

impl Fixture {
    fn new(trunks: &str, plans: &str) -> Self {
        let (dir, p) = provisioning(trunks);
        Fixture {
            _dir: dir,
            p,
            settings: settings(plans),
            inventory: CustomerNumbers::default(),
        }
    }

    /// Gives trunk t1's customer acme the SDA block +33140000000..+33140000099 in
    /// the number inventory (`numbers/inventory.csv`).
    fn with_acme_numbers(mut self) -> Self {
        crate::testutil::write(
            self._dir.path(),
            "numbers/inventory.csv",
            "number,state,origin,customer,trunk,site,since,until,request
             +33140000000..+33140000099,assigned,own,acme,t1,main,2024-01-01,,
",
        );
        self.inventory =
            CustomerNumbers::load(self._dir.path(), &self.p).unwrap_or_else(|e| panic!("{e}"));
        self
    }

    fn rate(&self, trunk_id: &str, calls: &[RatingCall]) -> (Vec<RatedCall>, TrunkOutcome) {
        let index = TariffIndex::new(self.p.tariffs());
        let trunk = self.p.trunk(trunk_id).unwrap();
        let calendar = MonthCalendar::new("2026-10".parse().unwrap());
        let ctx = TrunkContext {
            calendar: &calendar,
            trunk,
            customer: self.p.customer(trunk.customer_id()).unwrap(),
            settings: &self.settings,
            month: "2026-10".parse().unwrap(),
            tariffs: &index,
            inventory: &self.inventory,
        };
        rate_in_memory(ctx, calls)
    }
}

fn one_channel(plan: &str) -> String {
    trunk(
        "t1",
        "acme",
        plan,
        "[{ from = 2024-01-01, channels = 1 }]",
        "",
    )
}

/// `n` calls of `secs` seconds to `n` distinct 01 numbers, one minute apart from
/// 1 October 10:00 Paris.
fn distinct_calls(n: u64, secs: u64) -> Vec<RatingCall> {
    let start = ms("2026-10-01T10:00:00+02:00");
    (0..n)
        .map(|i| {
            call(
                &format!("k{i:05}"),
                start + i * 60_000,
                &format!("+3314{:07}", i),
                secs * 1000,
            )
        })
        .collect()
}

fn statuses(rated: &[RatedCall]) -> Vec<(Status, Option<Rule>)> {
    rated.iter().map(|r| (r.status, r.rule)).collect()
}

#[test]
fn exactly_300_distinct_numbers_on_one_channel_is_no_breach() {
    let f = Fixture::new(&one_channel("fixed"), PLANS);
    let (rated, outcome) = f.rate("t1", &distinct_calls(300, 30));
    assert_eq!(outcome.counters.distinct_allowance, 300);
    assert_eq!(outcome.counters.distinct_numbers, 300);
    assert!(outcome.breaches.is_empty(), "{:?}", outcome.breaches);
    assert!(rated.iter().all(|r| r.status == Status::Included));
    assert!(outcome.usage.is_empty());
}

#[test]
fn one_number_above_the_allowance_reprices_the_calls_to_that_number_only() {
    let f = Fixture::new(&one_channel("fixed"), PLANS);
    let mut calls = distinct_calls(301, 30);
    // A later call to number #1 (within the allowance) and one to #301.
    let late = ms("2026-10-20T10:00:00+02:00");
    calls.push(call("late-a", late, "+33140000000", 30_000));
    calls.push(call("late-b", late + 1, "+33140000300", 90_000));
    let (rated, outcome) = f.rate("t1", &calls);
    let breach = &outcome.breaches[0];
    assert_eq!(outcome.breaches.len(), 1);
    assert_eq!(breach.rule, Rule::DistinctNumbers);
    assert_eq!(breach.threshold_value, Decimal::from(300));
    assert_eq!(breach.measured, Decimal::from(301));
    assert_eq!(breach.crossing_call.as_deref(), Some("k00300"));
    assert_eq!(breach.crossed_at_ms, Some(calls[300].invite_ms));
    assert_eq!(breach.repriced_calls, 2);
    assert_eq!(breach.evidence, ["k00300", "late-b"]);
    // 30 s and 90 s to a 01 number at 0.012/min, 60/60: 60 s + 120 s = 3 min = 0.036.
    assert_eq!(breach.repriced_amount, "0.036".parse::<Decimal>().unwrap());
    assert_eq!(rated[300].status, Status::Repriced);
    assert_eq!(rated[300].rule, Some(Rule::DistinctNumbers));
    assert_eq!(rated[300].amount.to_string(), "0.012000");
    assert_eq!(
        rated[301].status,
        Status::Included,
        "number #1 stays in plan"
    );
    assert_eq!(rated[302].status, Status::Repriced);
    assert!(rated[..300].iter().all(|r| r.status == Status::Included));
    assert_eq!(
        outcome.usage[&UsageKey::Repriced(Rule::DistinctNumbers)].calls,
        2
    );
    assert!(breach
        .recommendation
        .starts_with("suspend the unlimited plan"));
}

#[test]
fn forty_hours_exactly_is_no_breach_and_one_second_more_is() {
    let f = Fixture::new(&one_channel("fixed"), PLANS);
    let start = ms("2026-10-02T09:00:00+02:00");
    // 40 calls of one hour to the same number: exactly 40 h.
    let mut calls: Vec<RatingCall> = (0..40)
        .map(|i| {
            call(
                &format!("h{i:02}"),
                start + i * 7_200_000,
                "+33140000001",
                3_600_000,
            )
        })
        .collect();
    let (_, outcome) = f.rate("t1", &calls);
    assert_eq!(outcome.counters.eligible_ms, 40 * 3_600_000);
    assert!(outcome.breaches.is_empty());

    // One more second on a later call: that call crosses, and the one after too.
    calls.push(call("h40", start + 40 * 7_200_000, "+33140000001", 1_000));
    calls.push(call("h41", start + 41 * 7_200_000, "+33140000002", 60_000));
    let (rated, outcome) = f.rate("t1", &calls);
    let breach = &outcome.breaches[0];
    assert_eq!(breach.rule, Rule::EligibleHours);
    assert_eq!(breach.crossing_call.as_deref(), Some("h40"));
    // 40 h + 1 s + 60 s = 144,061 s = 40.016944… h
    assert_eq!(breach.measured, "40.0169".parse::<Decimal>().unwrap());
    assert_eq!(breach.threshold_value, Decimal::from(40));
    assert_eq!(
        statuses(&rated[38..]),
        [
            (Status::Included, None),
            (Status::Included, None),
            (Status::Repriced, Some(Rule::EligibleHours)),
            (Status::Repriced, Some(Rule::EligibleHours)),
        ]
    );
    // 1 s bills 60 s (60/60) at 0.012: 0.012; 60 s: 0.012.
    assert_eq!(breach.repriced_amount, "0.024".parse::<Decimal>().unwrap());
}

#[test]
fn the_crossing_call_is_repriced_whole_and_ties_are_ordered_by_key() {
    let f = Fixture::new(&one_channel("fixed"), PLANS);
    let start = ms("2026-10-03T09:00:00+02:00");
    let mut calls: Vec<RatingCall> = (0..39)
        .map(|i| {
            call(
                &format!("a{i:02}"),
                start + i * 7_200_000,
                "+33140000001",
                3_600_000,
            )
        })
        .collect();
    // Two calls at the same instant taking 39 h to 41 h: "b" sorts before "c", so
    // "b" (30 min, total 39.5 h) stays and "c" (90 min, total 41 h) crosses.
    let t = start + 39 * 7_200_000;
    calls.push(call("c", t, "+33140000002", 5_400_000));
    calls.push(call("b", t, "+33140000003", 1_800_000));
    let (rated, outcome) = f.rate("t1", &calls);
    assert_eq!(outcome.breaches[0].crossing_call.as_deref(), Some("c"));
    assert_eq!(rated[39].status, Status::Repriced, "c re-priced whole");
    // 90 min at 0.012/min = 1.08
    assert_eq!(rated[39].amount, "1.08".parse::<Decimal>().unwrap());
    assert_eq!(rated[40].status, Status::Included);
}

#[test]
fn a_channel_change_mid_month_moves_the_threshold() {
    // 1 channel, 2 from 16 October: channel-months = (15 × 1 + 16 × 2) / 31 = 47/31,
    // allowance ⌊300 × 47 / 31⌋ = ⌊454.83…⌋ = 454.
    let trunks = trunk(
        "t1",
        "acme",
        "fixed",
        "[{ from = 2024-01-01, channels = 1 }, { from = 2026-10-16, channels = 2 }]",
        "",
    );
    let f = Fixture::new(&trunks, PLANS);
    let (_, outcome) = f.rate("t1", &distinct_calls(454, 10));
    assert_eq!(outcome.counters.distinct_allowance, 454);
    assert!(outcome.breaches.is_empty());
    let (_, outcome) = f.rate("t1", &distinct_calls(455, 10));
    assert_eq!(outcome.breaches[0].rule, Rule::DistinctNumbers);
    assert_eq!(outcome.breaches[0].crossing_call.as_deref(), Some("k00454"));
}

#[test]
fn forwarding_is_per_user_at_two_hours_and_above() {
    let f = Fixture::new(&one_channel("fixed"), PLANS);
    let start = ms("2026-10-05T09:00:00+02:00");
    let fwd = |key: &str, i: u64, user: &str, minutes: u64| {
        let mut c = call(key, start + i * 3_600_000, "+33140000009", minutes * 60_000);
        c.forwarding_party = user.to_owned();
        c
    };
    let calls = vec![
        fwd("u1-a", 0, "+33140000101", 60),
        fwd("u2-a", 1, "+33140000102", 60),
        fwd("u1-b", 2, "+33140000101", 60), // user 1 at exactly 2 h
        fwd("u2-b", 3, "+33140000102", 60),
        fwd("u2-c", 4, "+33140000102", 1), // user 2 above 2 h: crosses
        fwd("u2-d", 5, "+33140000102", 10),
        call("plain", start + 6 * 3_600_000, "+33140000009", 600_000),
    ];
    let (rated, outcome) = f.rate("t1", &calls);
    assert_eq!(
        outcome.counters.forwarding_ms["+33140000101"],
        2 * 3_600_000
    );
    assert_eq!(outcome.breaches.len(), 1, "{:?}", outcome.breaches);
    let b = &outcome.breaches[0];
    assert_eq!(
        (b.rule, b.subject.as_str()),
        (Rule::Forwarding, "+33140000102")
    );
    assert_eq!(b.crossing_call.as_deref(), Some("u2-c"));
    assert_eq!(b.measured, "2.1833".parse::<Decimal>().unwrap());
    assert_eq!(b.evidence, ["u2-c", "u2-d"]);
    let repriced: Vec<&str> = rated
        .iter()
        .filter(|r| r.status == Status::Repriced)
        .map(|r| r.call_key.as_str())
        .collect();
    assert_eq!(repriced, ["u2-c", "u2-d"]);
}

#[test]
fn whole_month_reprices_every_counted_call_and_excess_only_the_excess() {
    let data = {
        let mut calls = distinct_calls(301, 30);
        calls.push(call(
            "inbound",
            ms("2026-10-09T10:00:00+02:00"),
            "+33140000000",
            60_000,
        ));
        calls.last_mut().unwrap().direction = Direction::Inbound;
        calls.push(call(
            "mobile",
            ms("2026-10-09T11:00:00+02:00"),
            "+33612345678",
            60_000,
        ));
        calls
    };
    let excess = Fixture::new(&one_channel("fixed"), PLANS);
    let (rated, outcome) = excess.rate("t1", &data);
    assert_eq!(
        outcome.usage[&UsageKey::Repriced(Rule::DistinctNumbers)].calls,
        1
    );
    assert_eq!(
        rated
            .iter()
            .filter(|r| r.status == Status::Included)
            .count(),
        300
    );

    let whole = Fixture::new(
        &one_channel("fixed"),
        "[plans.fixed]\nchannel_price = \"10\"\nbreach_policy = \"whole_month\"\n[plans.fixed_mobile_intl]\nchannel_price = \"20\"\n",
    );
    let (rated, outcome) = whole.rate("t1", &data);
    let sum = &outcome.usage[&UsageKey::Repriced(Rule::DistinctNumbers)];
    assert_eq!(sum.calls, 301);
    // 301 calls of 30 s billed 60 s at 0.012 = 3.612.
    assert_eq!(sum.amount, "3.612".parse::<Decimal>().unwrap());
    assert_eq!(outcome.breaches[0].policy, BreachPolicy::WholeMonth);
    assert_eq!(outcome.breaches[0].crossing_call.as_deref(), Some("k00300"));
    assert_eq!(
        rated
            .iter()
            .filter(|r| r.status == Status::Included)
            .count(),
        0
    );
    // Inbound stays unbilled, the out-of-plan mobile stays out of plan.
    assert_eq!(rated[301].status, Status::NotBilled);
    assert_eq!(rated[302].status, Status::OutOfPlan);
    assert_eq!(
        outcome.usage[&UsageKey::OutOfPlan("mobile".into())].calls,
        1
    );
}

#[test]
fn one_rule_per_call_by_precedence() {
    // 301 one-hour... too long for a month: use 301 numbers of 8 min each on one
    // channel: 40 h is crossed at the 301st call too (300 × 8 min = 40 h exactly).
    let calls = distinct_calls(301, 480);
    let default = Fixture::new(&one_channel("fixed"), PLANS);
    let (rated, outcome) = default.rate("t1", &calls);
    assert_eq!(outcome.breaches.len(), 2);
    assert_eq!(rated[300].rule, Some(Rule::DistinctNumbers));
    let hours_first = Fixture::new(
        &one_channel("fixed"),
        &format!("[fair_use]\nprecedence = [\"eligible_hours\", \"distinct_numbers\", \"forwarding\", \"shared_service\"]\n{PLANS}"),
    );
    let (rated, outcome) = hours_first.rate("t1", &calls);
    assert_eq!(rated[300].rule, Some(Rule::EligibleHours));
    // The breach of the rule that did not win the call still exists, with no call.
    let distinct = outcome
        .breaches
        .iter()
        .find(|b| b.rule == Rule::DistinctNumbers)
        .unwrap();
    assert_eq!(distinct.repriced_calls, 0);
    assert_eq!(distinct.crossing_call.as_deref(), Some("k00300"));
}

#[test]
fn telecom_professionals_pay_every_call_and_count_nothing() {
    let trunks = trunk(
        "t1",
        "callco",
        "fixed_mobile_intl",
        "[{ from = 2024-01-01, channels = 1 }]",
        "",
    );
    let f = Fixture::new(&trunks, PLANS);
    let t = ms("2026-10-06T10:00:00+02:00");
    let calls = vec![
        call("fixed", t, "+33140000001", 61_000),
        call("mobile", t + 1, "+33612345678", 61_000),
        call("premium", t + 2, "+33890123456", 61_000),
        call("samu", t + 3, "15", 61_000),
    ];
    let (rated, outcome) = f.rate("t1", &calls);
    assert_eq!(
        statuses(&rated),
        [
            (Status::Repriced, Some(Rule::TelecomProfessional)),
            (Status::Repriced, Some(Rule::TelecomProfessional)),
            (Status::OutOfPlan, None),
            (Status::NotBilled, None),
        ]
    );
    assert_eq!(rated[0].amount, "0.024".parse::<Decimal>().unwrap());
    assert_eq!(rated[1].amount, "0.05".parse::<Decimal>().unwrap());
    assert_eq!(rated[2].amount, "0.963333".parse::<Decimal>().unwrap());
    assert_eq!(outcome.counters.counted_calls, 0);
    let b = &outcome.breaches[0];
    assert_eq!(
        (b.rule, b.unit.as_str()),
        (Rule::TelecomProfessional, "calls")
    );
    assert_eq!(b.threshold, "plan never applies to category call_centre");
    assert_eq!(b.measured, Decimal::from(2));
    assert_eq!(b.repriced_calls, 2);
    assert_eq!(b.crossing_call.as_deref(), Some("fixed"));
}

#[test]
fn a_suspension_period_bills_its_calls_and_they_do_not_count() {
    let extra =
        "[[trunk.suspension]]\nfrom = 2026-10-10\nto = 2026-10-12\nreason = \"fraud ticket 1\"\n";
    let trunks = trunk(
        "t1",
        "acme",
        "fixed",
        "[{ from = 2024-01-01, channels = 1 }]",
        "",
    ) + extra;
    let f = Fixture::new(&trunks, PLANS);
    let calls = vec![
        call(
            "before",
            ms("2026-10-09T23:59:59+02:00"),
            "+33140000001",
            60_000,
        ),
        call(
            "in",
            ms("2026-10-10T00:00:00+02:00"),
            "+33140000002",
            60_000,
        ),
        call(
            "mobile-in",
            ms("2026-10-11T12:00:00+02:00"),
            "+33612345678",
            60_000,
        ),
        call(
            "after",
            ms("2026-10-12T00:00:00+02:00"),
            "+33140000003",
            60_000,
        ),
    ];
    let (rated, outcome) = f.rate("t1", &calls);
    assert_eq!(
        statuses(&rated),
        [
            (Status::Included, None),
            (Status::Repriced, Some(Rule::Suspension)),
            (Status::OutOfPlan, None),
            (Status::Included, None),
        ]
    );
    assert_eq!(outcome.counters.counted_calls, 2);
    assert_eq!(outcome.counters.distinct_numbers, 2);
    let b = &outcome.breaches[0];
    assert_eq!(b.rule, Rule::Suspension);
    assert_eq!(
        b.subject,
        "2026-10-10T00:00:00+02:00/2026-10-12T00:00:00+02:00"
    );
    assert!(b.detail.contains("fraud ticket 1"));
    assert_eq!(b.repriced_calls, 1);
    assert_eq!(b.recommendation, "");
}

#[test]
fn emergency_calls_are_never_billed() {
    let extra = "[[trunk.suspension]]\nfrom = 2026-10-01\nto = 2026-11-01\nreason = \"r\"\n";
    let trunks = trunk(
        "t1",
        "callco",
        "fixed",
        "[{ from = 2024-01-01, channels = 1 }]",
        "",
    ) + extra;
    let f = Fixture::new(&trunks, PLANS);
    let t = ms("2026-10-06T10:00:00+02:00");
    let mut flagged = call("edge-flag", t, "+33140000001", 60_000);
    flagged.emergency = true;
    let calls = vec![
        call("112", t, "112", 600_000),
        call("17", t, "17", 1),
        flagged,
    ];
    let (rated, outcome) = f.rate("t1", &calls);
    for r in &rated {
        assert_eq!(
            (r.status, r.amount),
            (Status::NotBilled, Decimal::ZERO),
            "{r:?}"
        );
        assert!(r.reason.starts_with("emergency"));
    }
    assert!(outcome.usage.is_empty());
}

#[test]
fn unanswered_and_inbound_calls_cost_nothing_and_are_not_unmatched() {
    let f = Fixture::new(&one_channel("fixed"), PLANS);
    let t = ms("2026-10-06T10:00:00+02:00");
    let mut busy = call("busy", t, "+81312345678", 0);
    busy.disposition = Disposition::Busy;
    let mut inbound = call("in", t, "+81312345678", 60_000);
    inbound.direction = Direction::Inbound;
    let (rated, outcome) = f.rate("t1", &[busy, inbound]);
    assert!(rated.iter().all(|r| r.status == Status::NotBilled));
    assert_eq!(outcome.unmatched_calls, 0);
}

#[test]
fn an_unmatched_international_prefix_is_listed_never_priced_at_zero_silently() {
    let f = Fixture::new(&one_channel("fixed"), PLANS);
    let t = ms("2026-10-06T10:00:00+02:00");
    let (rated, outcome) = f.rate("t1", &[call("jp", t, "+81312345678", 60_000)]);
    assert_eq!(rated[0].status, Status::Unmatched);
    assert!(
        rated[0].reason.contains("no tariff row matches"),
        "{}",
        rated[0].reason
    );
    assert_eq!(outcome.unmatched_calls, 1);
    assert!(outcome.usage.is_empty());
}

#[test]
fn the_tariff_in_force_at_the_start_prices_a_call_and_zero_seconds_bill_the_fee() {
    let f = Fixture::new(&one_channel("fixed"), PLANS);
    let calls = vec![
        call(
            "uk-before",
            ms("2026-10-14T23:59:00+02:00"),
            "+442012345678",
            120_000,
        ),
        call(
            "uk-after",
            ms("2026-10-15T00:00:00+02:00"),
            "+442012345678",
            120_000,
        ),
        call(
            "premium-0s",
            ms("2026-10-15T10:00:00+02:00"),
            "+33890123456",
            0,
        ),
    ];
    let (rated, _) = f.rate("t1", &calls);
    // 2 min at 0.03 then at 0.025.
    assert_eq!(rated[0].amount, "0.06".parse::<Decimal>().unwrap());
    assert_eq!(rated[1].amount, "0.05".parse::<Decimal>().unwrap());
    assert_eq!(rated[0].tariff.as_ref().unwrap().source, "tariffs/t.csv:7");
    assert_eq!(rated[2].amount, "0.15".parse::<Decimal>().unwrap());
}

#[test]
fn shared_service_evidence_is_flagged_and_a_confirmation_bills_it() {
    let mut f = Fixture::new(&one_channel("fixed"), PLANS).with_acme_numbers();
    let t = ms("2026-10-06T10:00:00+02:00");
    let mut foreign = call("foreign", t + 1_000, "+33140000002", 60_000);
    foreign.caller = "+33299999999".into();
    let calls = vec![call("own", t, "+33140000001", 60_000), foreign];
    let (rated, outcome) = f.rate("t1", &calls);
    let flag = &outcome.breaches[0];
    assert_eq!((flag.rule, flag.billed), (Rule::SharedService, false));
    assert_eq!(flag.evidence, ["foreign"]);
    assert!(flag.detail.contains("+33299999999"));
    assert!(flag.recommendation.starts_with("review"));
    assert!(
        rated.iter().all(|r| r.status == Status::Included),
        "a flag bills nothing"
    );

    let confirmed = format!(
        "{PLANS}[[shared_service]]\ntrunk = \"t1\"\nmonth = \"2026-10\"\nfrom = 2026-10-06T10:00:00.500+02:00\nreason = \"two tenants\"\n"
    );
    f.settings = settings(&confirmed);
    let (rated, outcome) = f.rate("t1", &calls);
    assert_eq!(
        statuses(&rated),
        [
            (Status::Included, None),
            (Status::Repriced, Some(Rule::SharedService)),
        ]
    );
    let b = &outcome.breaches[0];
    assert!(b.billed);
    assert_eq!(b.crossing_call.as_deref(), Some("foreign"));
    assert!(b.detail.contains("two tenants"));
}

#[test]
fn several_teams_tenants_or_sbcs_raise_a_flag_and_teams_forwarding_counts_per_user() {
    let f = Fixture::new(&one_channel("fixed"), PLANS);
    let t = ms("2026-10-06T10:00:00+02:00");
    let teams = |key: &str, i: u64, user: &str, fqdn: &str, call_type: &str, minutes: u64| {
        let mut c = call(key, t + i * 1000, "+33140000001", minutes * 60_000);
        c.teams_user = user.into();
        c.teams_sbc_fqdn = fqdn.into();
        c.teams_call_type = call_type.into();
        c
    };
    let calls = vec![
        teams("a", 2, "alice@contoso.fr", "sbc.contoso.fr", "ByotOut", 1),
        teams("b", 1, "bob@fabrikam.com", "SBC.contoso.fr.", "ByotOut", 1),
        teams(
            "c",
            3,
            "alice@contoso.fr",
            "sbc.contoso.fr",
            TEAMS_FORWARDING,
            121,
        ),
    ];
    let (rated, outcome) = f.rate("t1", &calls);
    assert_eq!(
        outcome.counters.teams_sbc_fqdns.len(),
        1,
        "names compare case-insensitively"
    );
    assert_eq!(outcome.counters.teams_tenants.len(), 2);
    let flag = outcome
        .breaches
        .iter()
        .find(|b| b.rule == Rule::SharedService)
        .unwrap();
    assert!(!flag.billed);
    assert!(
        flag.detail
            .contains("2 Teams tenants on one trunk: contoso.fr fabrikam.com"),
        "{}",
        flag.detail
    );
    assert_eq!(
        flag.evidence,
        ["b", "a"],
        "earliest call of each tenant, in time order"
    );
    // A Teams forwarded call without a forwarding party counts for its Teams user.
    assert_eq!(
        outcome.counters.forwarding_ms["alice@contoso.fr"],
        121 * 60_000
    );
    let fwd = outcome
        .breaches
        .iter()
        .find(|b| b.rule == Rule::Forwarding)
        .unwrap();
    assert_eq!(fwd.subject, "alice@contoso.fr");
    assert_eq!(rated[2].status, Status::Repriced);
}

#[test]
fn results_do_not_depend_on_the_order_calls_arrive_in() {
    let f = Fixture::new(&one_channel("fixed"), PLANS).with_acme_numbers();
    let mut calls = distinct_calls(305, 500);
    for (i, c) in calls.iter_mut().enumerate() {
        if i % 7 == 0 {
            c.caller = format!("+3329999{:04}", i % 3);
        }
        if i % 11 == 0 {
            c.forwarding_party = "+33140000050".into();
        }
    }
    let (rated, outcome) = f.rate("t1", &calls);
    let mut reversed = calls.clone();
    reversed.reverse();
    let (mut rated_rev, outcome_rev) = f.rate("t1", &reversed);
    rated_rev.reverse();
    assert_eq!(rated, rated_rev);
    assert_eq!(outcome, outcome_rev);
    assert_eq!(outcome.breaches.len(), 4, "{:#?}", outcome.breaches);
}

#[test]
fn the_trunk_location_plays_no_part_in_the_plan() {
    // contract.md §3: plans are defined by the destination's number categories,
    // and the overseas setting is per plan; where the trunk's sites are is not
    // part of it. A Réunion site's calls to Réunion numbers follow the setting
    // like a Paris site's.
    let paris = one_channel("fixed");
    let reunion = paris
        .replace("insee_code = \"75056\"", "insee_code = \"97411\"")
        .replace("75001 Paris", "97400 Saint-Denis");
    assert_ne!(paris, reunion);
    let t = ms("2026-10-06T10:00:00+02:00");
    let calls = vec![
        call("reunion-fixed", t, "+262262123456", 60_000),
        call("paris-fixed", t + 1_000, "+33140000001", 60_000),
        call("reunion-national-format", t + 2_000, "0262123457", 60_000),
    ];
    let overseas_off = "[plans.fixed]\nchannel_price = \"10\"\noverseas_in_plan = false\n\
                        [plans.fixed_mobile_intl]\nchannel_price = \"20\"\n";
    for (plans, overseas_in_plan) in [(PLANS, true), (overseas_off, false)] {
        for trunks in [&paris, &reunion] {
            let f = Fixture::new(trunks, plans);
            let (rated, _) = f.rate("t1", &calls);
            let in_plan: Vec<bool> = rated.iter().map(|r| r.in_plan).collect();
            assert_eq!(
                in_plan,
                [overseas_in_plan, true, overseas_in_plan],
                "{trunks}\n{plans}"
            );
            assert_eq!(rated[2].destination, "+262262123457");
        }
    }
}

#[test]
fn a_trunk_presenting_many_own_numbers_flags_only_the_foreign_one() {
    let f = Fixture::new(&one_channel("fixed"), PLANS).with_acme_numbers();
    let t = ms("2026-10-06T10:00:00+02:00");
    // 20 of the customer's numbers (more than are kept inline), each twice, in
    // E.164 and national format, then one number that is not the customer's.
    let mut calls = Vec::new();
    for round in 0..2u64 {
        for i in 0..20u64 {
            let mut c = call(
                &format!("own-{round}-{i}"),
                t + round * 100_000 + i,
                "+33140000001",
                60_000,
            );
            c.caller = if round == 0 {
                format!("+331400000{i:02}")
            } else {
                format!("01400000{i:02}")
            };
            calls.push(c);
        }
    }
    let mut foreign = call("foreign", t + 500_000, "+33140000001", 60_000);
    foreign.caller = "+33140000100".into();
    calls.push(foreign);
    let (_, outcome) = f.rate("t1", &calls);
    assert!(outcome.counters.inventory_known);
    assert_eq!(
        outcome.counters.foreign_callers.iter().collect::<Vec<_>>(),
        ["+33140000100"]
    );
    let flag = &outcome.breaches[0];
    assert_eq!((flag.rule, flag.billed), (Rule::SharedService, false));
    assert_eq!(flag.evidence, ["foreign"]);
}
