//! The SIP edge: transport, transactions, dialogs, trunk identification, channel
//! admission, routing and call-record emission.
//!
//! It never prices anything: it writes one call record per call attempt through the
//! `cdr` crate's writer, and the billing side rates them later.
//!
//! Nothing is implemented yet: the work is tracked by the sip-edge issue.
