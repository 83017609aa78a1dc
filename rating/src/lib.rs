//! The monthly rating job: plans, tariffs, pricing, fair-use counters and breaches,
//! retroactive per-minute re-pricing, SLA credits, invoice lines and reports.
//!
//! It reads call records through the `cdr` crate and provisioning through the
//! `provisioning` crate, and never talks SIP.
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
pub mod syntec;
#[cfg(test)]
pub(crate) mod testutil;

pub use channels::ChannelMonths;
pub use month::BillingMonth;
pub use rules::{BreachPolicy, Rule};
pub use settings::{PlanSettings, RatingSettings};
