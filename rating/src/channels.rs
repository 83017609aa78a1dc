//! Channel-months: a trunk's time-weighted channel count over a billing month.
//!
//! Contract §1: monthly thresholds use the time-weighted average of the channel
//! count (10 channels for 15 days and 20 for the other 15 of a 30-day month make 15
//! channel-months). The weighting is by Paris calendar days, a change taking effect
//! at 00:00 Paris time on its date, the same weighting as subscription proration.
//!
//! The value is kept exact as a fraction `channel_days / days` so that thresholds
//! never suffer rounding: the distinct-number allowance is ⌊N × channel_days / days⌋
//! and the hours threshold is compared as `total_ms × days > ms_per_channel ×
//! channel_days` in integers.

use rust_decimal::Decimal;

use crate::month::BillingMonth;

/// A trunk's channel-months over one billing month, as an exact fraction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelMonths {
    /// Σ over the month's Paris days of the channels in force that day.
    channel_days: u64,
    /// Days in the month.
    days: u32,
}

impl ChannelMonths {
    /// The channel-months of a trunk over a month.
    pub fn of(trunk: &provisioning::Trunk, month: BillingMonth) -> Self {
        let channel_days = month.dates().map(|d| u64::from(trunk.channels_on(d))).sum();
        ChannelMonths {
            channel_days,
            days: month.days(),
        }
    }

    /// Channel-months from raw figures (tests, previews).
    pub fn from_channel_days(channel_days: u64, days: u32) -> Self {
        ChannelMonths {
            channel_days,
            days: days.max(1),
        }
    }

    /// Σ over the month's days of the channels in force.
    pub fn channel_days(&self) -> u64 {
        self.channel_days
    }

    /// Days in the month.
    pub fn days(&self) -> u32 {
        self.days
    }

    /// The value as a decimal, rounded half-up to 4 places (for display only).
    pub fn to_decimal(&self) -> Decimal {
        (Decimal::from(self.channel_days) / Decimal::from(self.days.max(1)))
            .round_dp_with_strategy(4, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
    }

    /// ⌊per_channel × channel-months⌋: the distinct-number allowance.
    pub fn allowance(&self, per_channel: u64) -> u64 {
        let product = u128::from(per_channel) * u128::from(self.channel_days);
        u64::try_from(product / u128::from(self.days.max(1))).unwrap_or(u64::MAX)
    }

    /// True when `total_ms` exceeds `per_channel_ms × channel-months` (strictly).
    pub fn exceeded_by(&self, total_ms: u64, per_channel_ms: u64) -> bool {
        u128::from(total_ms) * u128::from(self.days.max(1))
            > u128::from(per_channel_ms) * u128::from(self.channel_days)
    }

    /// `per_channel_ms × channel-months` in milliseconds, rounded down (display).
    pub fn scaled_ms(&self, per_channel_ms: u64) -> u64 {
        let product = u128::from(per_channel_ms) * u128::from(self.channel_days);
        u64::try_from(product / u128::from(self.days.max(1))).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contract_example_gives_15_channel_months() {
        // 10 channels for 15 days and 20 for 15 days of a 30-day month.
        let cm = ChannelMonths::from_channel_days(10 * 15 + 20 * 15, 30);
        assert_eq!(cm.to_decimal(), Decimal::from(15));
        assert_eq!(cm.allowance(300), 4500);
    }

    #[test]
    fn acme_in_october_weights_20_then_30_channels_by_paris_days() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/provisioning");
        let p = provisioning::Provisioning::load(&dir).unwrap();
        let trunk = p.trunk("acme-multisite").unwrap();
        let cm = ChannelMonths::of(trunk, "2026-10".parse().unwrap());
        // 15 days at 20 (1-15 October), 16 days at 30 (16-31 October).
        assert_eq!(cm.channel_days(), 15 * 20 + 16 * 30);
        assert_eq!(cm.days(), 31);
        // ⌊300 × 780 / 31⌋ = ⌊7548.387…⌋
        assert_eq!(cm.allowance(300), 7548);
        assert_eq!(cm.to_decimal(), "25.1613".parse::<Decimal>().unwrap());
    }

    #[test]
    fn hours_threshold_is_exact_and_strict() {
        let hour = 3_600_000;
        let cm = ChannelMonths::from_channel_days(2 * 31, 31);
        assert!(!cm.exceeded_by(80 * hour, 40 * hour));
        assert!(cm.exceeded_by(80 * hour + 1, 40 * hour));
        // A third of a channel-month: 40 h × 1/3 = 13 h 20 min exactly.
        let third = ChannelMonths::from_channel_days(10, 30);
        assert!(!third.exceeded_by(13 * hour + hour / 3, 40 * hour));
        assert!(third.exceeded_by(13 * hour + hour / 3 + 1, 40 * hour));
        assert_eq!(third.scaled_ms(40 * hour), 13 * hour + hour / 3);
    }

    #[test]
    fn no_channels_means_no_allowance() {
        let cm = ChannelMonths::from_channel_days(0, 31);
        assert_eq!(cm.allowance(300), 0);
        assert!(cm.exceeded_by(1, 3_600_000));
        assert!(!cm.exceeded_by(0, 3_600_000));
    }
}
