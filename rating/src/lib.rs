//! The monthly rating job: plans, tariffs, pricing, fair-use counters and breaches,
//! retroactive per-minute re-pricing, SLA credits, invoice lines and reports.
//!
//! It reads call records through the `cdr` crate and provisioning through the
//! `provisioning` crate, and never talks SIP.
//!
//! - [`settings`]: `plans.toml`, every business choice of contract §3, §4, §6 as a
//!   setting with the contract's default;
//! - [`destination`], [`pricing`], [`channels`], [`month`]: what a number is for a
//!   plan, what a call costs, channel-months, Paris months;
//! - [`engine`]: one trunk's month — counters, breaches with crossing moments and
//!   evidence, re-pricing under `excess` or `whole_month`, one rule per call;
//! - [`syntec`], [`sla`], [`invoice`]: subscriptions, Syntec revision, SLA credits,
//!   invoice lines;
//! - [`inventory`]: caller numbers against number-portability's number inventory
//!   (shared-service evidence);
//! - [`run`], [`stream`], [`triage`], [`spill`], [`store`]: the monthly job over
//!   ClickHouse (one unordered stream read on one thread and rated on another),
//!   its tables and reproducible outputs ([`output`], [`report`]), and
//!   [`explain`], [`preview`].
//!
//! ```
//! use provisioning::Plan;
//! use rating::destination::{eligibility, Destination};
//! use rating::RatingSettings;
//!
//! let settings = RatingSettings::parse(
//!     "[plans.fixed]\nchannel_price = \"10\"\n\
//!      [plans.fixed_mobile_intl]\nchannel_price = \"20\"\noverseas_in_plan = false\n",
//!     None,
//! )
//! .unwrap();
//! let fixed = settings.plan(Plan::Fixed);
//! // 0806 numbers are priced like geographic ones: in plan by default.
//! assert!(eligibility(&Destination::classify("0806123456"), fixed, &[]).is_in_plan());
//! // Mobiles are not in the fixed plan; Réunion follows the overseas setting.
//! assert!(!eligibility(&Destination::classify("0612345678"), fixed, &[]).is_in_plan());
//! let fmi = settings.plan(Plan::FixedMobileIntl);
//! assert!(!eligibility(&Destination::classify("0262123456"), fmi, &[]).is_in_plan());
//! ```
#![deny(missing_docs)]

pub mod channels;
pub mod destination;
pub mod engine;
pub mod explain;
pub mod hashing;
pub mod inputs;
pub mod inventory;
pub mod invoice;
pub mod month;
pub mod output;
pub mod preview;
pub mod pricing;
pub mod report;
pub mod rules;
pub mod run;
pub mod settings;
pub mod sla;
pub mod spill;
pub mod store;
pub mod stream;
pub mod syntec;
#[cfg(test)]
pub(crate) mod testutil;
pub mod triage;

pub use channels::ChannelMonths;
pub use month::BillingMonth;
pub use rules::{BreachPolicy, Rule};
pub use settings::{PlanSettings, RatingSettings};
