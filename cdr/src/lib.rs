//! The call record, its ClickHouse storage and the writer that never loses one.
//!
//! This crate owns the record type shared by the edge, the importer and rating, the
//! ClickHouse schema and its migrations ([`schema`]), the batched writer with its
//! durable spool ([`writer`], [`spool`]) and the readers rating uses ([`reader`]).
//! It holds no business rule: it stores what it is given, deduplicates and reads.
//!
//! # The call record (`calls` table)
//!
//! One row per call attempt through the edge (answered or not, admitted or refused),
//! or per imported row. Copies of a record (re-sent from the spool, imported twice)
//! share their `call_key`; the table is a ReplacingMergeTree on it, and every query
//! that must not double count reads `FINAL` (or the `calls_deduplicated` view).
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `call_key` | String | stable identity, 32 hex digits: edge = hash(node, Call-ID, From tag, INVITE CSeq); import = hash(format, source row id). Never depends on fields a re-send could change |
//! | `source_kind` | Enum8 `edge`, `import` | who wrote the record |
//! | `source_name` | String | edge node id, or import format (`teams-json`, `edge-csv`, `mapping:NAME`) |
//! | `source_file`, `source_line` | String, UInt64 | imported file and 1-based line (empty and 0 for the edge) |
//! | `trunk_id`, `customer_id` | String | provisioning ids |
//! | `site_id` | String | site inside the trunk, empty when unknown |
//! | `direction` | Enum8 `inbound`, `outbound` | relative to the customer |
//! | `caller` | String | calling number (P-Asserted-Identity, else From), E.164 when it normalises |
//! | `callee` | String | called number, E.164, or a national short code (`112`, `3949`) |
//! | `original_called` | String | number first dialled when the call was forwarded (Diversion, History-Info, source field), else empty |
//! | `forwarding_party` | String | the forwarding user's number, else empty |
//! | `sip_call_id` | String | SIP Call-ID of the customer-side leg (imports: the source's correlation id) |
//! | `final_status` | UInt16 | final SIP status sent to the caller; 0 when none |
//! | `disposition` | Enum8 | `answered`, `busy`, `no_answer`, `cancelled`, `failed`, `rejected_no_channel`, `rejected_unauthorized`, `rejected_policy` |
//! | `emergency` | UInt8 | 1 when the callee is an emergency number (never refused for lack of a channel) |
//! | `invite_ms` | UInt64 | INVITE received, ms since the Unix epoch, UTC. A call belongs to the Paris month of this instant |
//! | `answer_ms` | Nullable(UInt64) | answer (2xx) time, NULL when not answered |
//! | `end_ms` | UInt64 | end of the attempt: BYE, final failure, CANCEL or refusal |
//! | `billable_ms` | UInt64 | answered duration, answer to end; 0 when not answered |
//! | `channels_in_force` | Nullable(UInt32) | channels the trunk had when the call was admitted (edge), NULL for imports |
//! | `calls_in_progress` | Nullable(UInt32) | other calls in progress on the trunk at admission (edge), NULL for imports |
//! | `revision` | UInt32 | the highest revision of a key wins (corrections, enrichment) |
//! | `invite_time` | DateTime (materialized) | `invite_ms` in seconds, for date functions |
//! | `inserted_at` | DateTime | when the row reached ClickHouse |
//!
//! Views: `calls_deduplicated` (the table, `FINAL`), `calls_per_trunk_day` and
//! `calls_per_trunk_month` (Europe/Paris days and months: `attempts`, `answered`,
//! `outbound`, `inbound`, `rejected_no_channel`, `emergency`, `answered_minutes`,
//! `distinct_destinations` = distinct callees of answered outbound calls).
#![deny(missing_docs)]

pub mod key;
pub mod reader;
pub mod record;
pub mod schema;
pub mod spool;
pub mod store;
pub mod writer;

pub use key::CallKey;
pub use record::{CallRecord, CallRow, Direction, Disposition, Source};
pub use store::ClickhouseConfig;
pub use writer::{Accepted, CallRecordWriter, RunningWriter, WriteError, WriterConfig, WriterStats};
