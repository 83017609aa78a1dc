-- The call records: one row per call attempt (edge) or imported row.
-- Copies of a record share its call_key; ReplacingMergeTree keeps the highest revision
-- when parts merge, and every query that must not double count reads with FINAL.
-- Partitioned by the UTC month of the INVITE; a Paris billing month reads two partitions.
CREATE TABLE IF NOT EXISTS {db}.calls {on_cluster}
(
    call_key String,
    source_kind Enum8('edge' = 1, 'import' = 2),
    source_name String,
    source_file String,
    source_line UInt64,
    trunk_id String,
    customer_id String,
    site_id String,
    direction Enum8('inbound' = 1, 'outbound' = 2),
    caller String,
    callee String,
    original_called String,
    forwarding_party String,
    sip_call_id String,
    final_status UInt16,
    disposition Enum8('answered' = 1, 'busy' = 2, 'no_answer' = 3, 'cancelled' = 4, 'failed' = 5, 'rejected_no_channel' = 6, 'rejected_unauthorized' = 7, 'rejected_policy' = 8),
    emergency UInt8,
    invite_ms UInt64,
    answer_ms Nullable(UInt64),
    end_ms UInt64,
    billable_ms UInt64,
    channels_in_force Nullable(UInt32),
    calls_in_progress Nullable(UInt32),
    revision UInt32,
    invite_time DateTime MATERIALIZED toDateTime(intDiv(invite_ms, 1000)),
    inserted_at DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree(revision)
PARTITION BY toYYYYMM(toDateTime(intDiv(invite_ms, 1000)))
ORDER BY call_key
