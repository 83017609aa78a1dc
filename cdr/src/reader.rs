//! Deduplicated reads of the call records: what rating, the demo and the tests use.
//!
//! Every query here reads `calls FINAL`, so a record written twice (spool replay,
//! re-import) is seen once even before ClickHouse merges its parts. Periods are
//! half-open millisecond ranges `[from_ms, to_ms)` on `invite_ms`.

use crate::key::CallKey;
use crate::record::{CallRecord, CallRow};
use crate::store::ClickhouseConfig;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};

/// Keys per `IN (...)` list of [`CallReader::existing_keys`]: 4,000 keys of 35 bytes
/// stay well under ClickHouse's default `max_query_size` (256 KiB).
const KEYS_PER_QUERY: usize = 4_000;

/// Reads call records from the configured database.
#[derive(Clone)]
pub struct CallReader {
    client: clickhouse::Client,
}

/// Counts over a period, deduplicated.
#[derive(Clone, Debug, Default, PartialEq, Eq, clickhouse::Row, Deserialize)]
pub struct Totals {
    /// Call attempts.
    pub attempts: u64,
    /// Answered calls.
    pub answered: u64,
    /// Sum of billable durations, milliseconds.
    pub billable_ms: u64,
    /// Refused for lack of a channel.
    pub rejected_no_channel: u64,
}

/// Per-trunk counts over a period, deduplicated.
#[derive(Clone, Debug, PartialEq, Eq, clickhouse::Row, Deserialize)]
pub struct TrunkTotals {
    /// The trunk.
    pub trunk_id: String,
    /// Call attempts.
    pub attempts: u64,
    /// Answered calls.
    pub answered: u64,
    /// Sum of billable durations, milliseconds.
    pub billable_ms: u64,
    /// Refused for lack of a channel.
    pub rejected_no_channel: u64,
    /// Distinct callees of answered outbound calls.
    pub distinct_destinations: u64,
}

/// A stream of deduplicated call records.
pub struct CallStream {
    cursor: clickhouse::query::RowCursor<CallRow>,
}

impl CallStream {
    /// The next record, or `None` at the end.
    ///
    /// # Errors
    /// Transport errors, or a stored value this version cannot read.
    pub async fn next(&mut self) -> Result<Option<CallRecord>, String> {
        match self.cursor.next().await {
            Ok(Some(row)) => CallRecord::from_row(row).map(Some),
            Ok(None) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }
}

const TOTALS: &str = "count() AS attempts, countIf(disposition = 'answered') AS answered, \
     sum(billable_ms) AS billable_ms, countIf(disposition = 'rejected_no_channel') AS rejected_no_channel";

impl CallReader {
    /// A reader on the configured database.
    pub fn new(config: &ClickhouseConfig) -> Self {
        CallReader {
            client: config.client(),
        }
    }

    /// Streams the records whose INVITE falls in `[from_ms, to_ms)`, optionally for
    /// one trunk, in no particular order.
    ///
    /// # Errors
    /// When the query cannot be started.
    pub fn calls(
        &self,
        from_ms: u64,
        to_ms: u64,
        trunk_id: Option<&str>,
    ) -> Result<CallStream, String> {
        let query = match trunk_id {
            Some(trunk) => self
                .client
                .query(
                    "SELECT ?fields FROM calls FINAL \
                     WHERE invite_ms >= ? AND invite_ms < ? AND trunk_id = ?",
                )
                .bind(from_ms)
                .bind(to_ms)
                .bind(trunk),
            None => self
                .client
                .query("SELECT ?fields FROM calls FINAL WHERE invite_ms >= ? AND invite_ms < ?")
                .bind(from_ms)
                .bind(to_ms),
        };
        let cursor = query.fetch::<CallRow>().map_err(|e| e.to_string())?;
        Ok(CallStream { cursor })
    }

    /// Which of `keys` are stored, in any copy or revision (no `FINAL`: existence
    /// does not need deduplication). Long lists are sent in several queries.
    ///
    /// # Errors
    /// Query errors.
    pub async fn existing_keys(&self, keys: &[CallKey]) -> Result<HashSet<CallKey>, String> {
        Ok(self.stored_revisions(keys).await?.into_keys().collect())
    }

    /// The highest revision stored of each of `keys` that is stored (no `FINAL`: the
    /// highest of all copies is the one ClickHouse keeps). Long lists are sent in
    /// several queries.
    ///
    /// # Errors
    /// Query errors.
    pub async fn stored_revisions(
        &self,
        keys: &[CallKey],
    ) -> Result<HashMap<CallKey, u32>, String> {
        let mut found = HashMap::new();
        for chunk in keys.chunks(KEYS_PER_QUERY) {
            // Keys are 32 hex digits (checked by `CallKey`), safe to inline; 18.16 has
            // no server-side parameters and renders a bound list as an array.
            let list = chunk
                .iter()
                .map(|k| format!("'{}'", k.as_str()))
                .collect::<Vec<_>>()
                .join(",");
            let stored: Vec<(String, u32)> = self
                .client
                .query(&format!(
                    "SELECT call_key, max(revision) FROM calls WHERE call_key IN ({list}) GROUP BY call_key"
                ))
                .fetch_all()
                .await
                .map_err(|e| e.to_string())?;
            for (key, revision) in stored {
                found.insert(CallKey::parse(&key)?, revision);
            }
        }
        Ok(found)
    }

    /// Totals over `[from_ms, to_ms)`.
    ///
    /// # Errors
    /// Query errors.
    pub async fn totals(&self, from_ms: u64, to_ms: u64) -> Result<Totals, String> {
        self.client
            .query(&format!(
                "SELECT {TOTALS} FROM calls FINAL WHERE invite_ms >= ? AND invite_ms < ?"
            ))
            .bind(from_ms)
            .bind(to_ms)
            .fetch_one()
            .await
            .map_err(|e| e.to_string())
    }

    /// Per-trunk totals over `[from_ms, to_ms)`, by trunk id.
    ///
    /// # Errors
    /// Query errors.
    pub async fn trunk_totals(&self, from_ms: u64, to_ms: u64) -> Result<Vec<TrunkTotals>, String> {
        self.client
            .query(&format!(
                "SELECT trunk_id, {TOTALS}, \
                 uniqExactIf(callee, direction = 'outbound' AND disposition = 'answered') \
                   AS distinct_destinations \
                 FROM calls FINAL WHERE invite_ms >= ? AND invite_ms < ? \
                 GROUP BY trunk_id ORDER BY trunk_id"
            ))
            .bind(from_ms)
            .bind(to_ms)
            .fetch_all()
            .await
            .map_err(|e| e.to_string())
    }
}
