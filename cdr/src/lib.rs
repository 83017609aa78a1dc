//! The call record, its ClickHouse storage and the writer that never loses one.
//!
//! This crate owns the record type shared by the edge, the importer and rating, the
//! ClickHouse schema and its migrations ([`schema`]), the batched writer with its
//! durable spool ([`writer`], [`spool`], [`native`] for its wire format) and the readers rating uses ([`reader`]).
//! It holds no business rule: it stores what it is given, deduplicates and reads.
//!
//! The record reference below is `cdr/call-record.md`, also linked from the README.
#![doc = ""]
#![doc = include_str!("../call-record.md")]
#![deny(missing_docs)]

pub mod key;
pub mod native;
pub mod reader;
pub mod record;
pub mod schema;
pub mod spool;
pub mod store;
pub mod writer;

pub use key::CallKey;
pub use record::{end_reason, CallRecord, CallRow, Direction, Disposition, Source, TeamsDetails};
pub use store::ClickhouseConfig;
pub use writer::{
    Accepted, BatchAccepted, BatchAck, CallRecordWriter, RunningWriter, WriteError, WriterConfig,
    WriterStats,
};
