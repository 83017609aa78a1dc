//! Loads call records from sources other than the edge (Microsoft Teams Direct
//! Routing call logs, other switches' CSV exports) into ClickHouse through the `cdr`
//! crate: reading, validation, normalisation and reject files. It never prices
//! anything.
//!
//! Nothing is implemented yet: the work is tracked by the cdr-import issue.
