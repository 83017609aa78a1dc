//! The monthly rating job: plans, tariffs, pricing, fair-use counters and breaches,
//! retroactive per-minute re-pricing, SLA credits, invoice lines and reports.
//!
//! It reads call records through the `cdr` crate and provisioning through the
//! `provisioning` crate, and never talks SIP.
//!
//! Nothing is implemented yet: the work is tracked by the rating issue.
