//! Loads call records from sources other than the edge into ClickHouse through the
//! `cdr` crate's no-loss writer: Microsoft Teams Direct Routing call logs, the edge's
//! own call-record CSV (export and import round trip), and any other switch's CSV
//! through a mapping file. Every row is validated; a refused row goes to a reject file
//! with its line and reason and the run goes on. It never prices anything.
//!
//! - [`read`]: one file, any format, row by row ([`json`], [`teams`], [`edge_csv`],
//!   [`mapping`], [`time`] for local times across daylight-saving changes);
//! - [`draft`]: the format-neutral row and its validation into a `CallRecord`
//!   ([`number_cache`]: numbers already normalised on the thread);
//! - [`import`]: a run over many files: duplicates, Teams/edge matching, writing;
//! - [`matching`] and [`reconcile`]: the same call in the edge's records and a Teams
//!   log is billed once;
//! - [`rejects`], [`summary`], [`progress`], [`input`]: around the run.
//!
//! The command-line reference is in the project README (`## cdr-import`).
//!
//! ```
//! use cdr_import::mapping::Mapping;
//!
//! let mapping = Mapping::parse(r#"
//! name = "pbx"
//! [columns]
//! id = "uniqueid"
//! invite = "start"
//! duration = "billsec"
//! caller = "src"
//! callee = "dst"
//! [trunk]
//! constant = "boulangerie-martin-nantes"
//! [direction]
//! constant = "outbound"
//! "#).unwrap();
//! assert_eq!(mapping.source_name(), "mapping:pbx");
//! ```
#![deny(missing_docs)]

pub mod draft;
pub mod edge_csv;
pub mod import;
pub mod input;
pub mod json;
pub mod mapping;
pub mod matching;
pub mod number_cache;
pub mod progress;
pub mod read;
pub mod reconcile;
pub mod rejects;
pub mod summary;
pub mod teams;
pub mod time;

#[cfg(test)]
pub(crate) mod testutil;
