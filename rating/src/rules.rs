//! The names of the rules that take a call out of the unlimited plan (contract §3)
//! and of the breach policies.
//!
//! These names appear in `plans.toml` (precedence, policies), in every output file
//! and in the ClickHouse tables, so they are defined once here.

use std::fmt;

/// Why a call that the plan would cover is billed per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// The customer is a telecom professional: the plan never applies.
    TelecomProfessional,
    /// The call started inside a suspension period recorded in provisioning.
    Suspension,
    /// More distinct destination numbers than ⌊300 × channel-months⌋.
    DistinctNumbers,
    /// More eligible hours than 40 h × channel-months.
    EligibleHours,
    /// A user forwarded more than 2 h of calls.
    Forwarding,
    /// The trunk is shared between several customers (flagged for review; billed
    /// only once the provider confirms it in `plans.toml`).
    SharedService,
}

impl Rule {
    /// Every rule.
    pub const ALL: [Rule; 6] = [
        Rule::TelecomProfessional,
        Rule::Suspension,
        Rule::DistinctNumbers,
        Rule::EligibleHours,
        Rule::Forwarding,
        Rule::SharedService,
    ];

    /// The rules measured month by month on a trunk's counted calls, which the
    /// precedence setting orders.
    pub const MEASURED: [Rule; 4] = [
        Rule::DistinctNumbers,
        Rule::EligibleHours,
        Rule::Forwarding,
        Rule::SharedService,
    ];

    /// The name used in files and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::TelecomProfessional => "telecom_professional",
            Rule::Suspension => "suspension",
            Rule::DistinctNumbers => "distinct_numbers",
            Rule::EligibleHours => "eligible_hours",
            Rule::Forwarding => "forwarding",
            Rule::SharedService => "shared_service",
        }
    }

    /// The rule with this name.
    pub fn from_name(name: &str) -> Option<Rule> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// A bit for rule sets.
    pub(crate) fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// A sentence for invoices and explanations.
    pub fn describe(self) -> &'static str {
        match self {
            Rule::TelecomProfessional => "telecom professional: the unlimited plan does not apply",
            Rule::Suspension => "unlimited plan suspended",
            Rule::DistinctNumbers => "fair use: distinct numbers beyond the allowance per channel",
            Rule::EligibleHours => "fair use: eligible hours beyond the allowance per channel",
            Rule::Forwarding => "fair use: permanent forwarding beyond the allowance per user",
            Rule::SharedService => "fair use: service shared between several customers",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which calls a breach re-prices (contract §3), a setting per plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreachPolicy {
    /// Only the calls beyond the threshold: numbers ranked beyond the allowance,
    /// the crossing call and later ones, a user's forwarded calls beyond 2 h.
    Excess,
    /// Every plan-eligible call of the trunk that month.
    WholeMonth,
}

impl BreachPolicy {
    /// The name used in `plans.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            BreachPolicy::Excess => "excess",
            BreachPolicy::WholeMonth => "whole_month",
        }
    }

    /// The policy with this name.
    pub fn from_name(name: &str) -> Option<BreachPolicy> {
        [BreachPolicy::Excess, BreachPolicy::WholeMonth]
            .into_iter()
            .find(|p| p.as_str() == name)
    }
}

impl fmt::Display for BreachPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bits_are_distinct() {
        let mut bits = 0u8;
        for rule in Rule::ALL {
            assert_eq!(Rule::from_name(rule.as_str()), Some(rule));
            assert_eq!(bits & rule.bit(), 0);
            bits |= rule.bit();
        }
        assert_eq!(Rule::from_name("hours"), None);
        assert_eq!(
            BreachPolicy::from_name("whole_month"),
            Some(BreachPolicy::WholeMonth)
        );
        assert_eq!(BreachPolicy::from_name("all"), None);
    }
}
