-- The rating job's results: every run is identified by run_id and records the
-- fingerprints of its inputs; result rows carry the run_id so that any run can be
-- explained later. Amounts are Decimal(18, 6): per-call amounts at 6 decimals,
-- invoice lines at the line decimals (cents by default). Re-writing the same rows
-- (a retried insert) collapses on the sorting key: read with FINAL.
CREATE TABLE IF NOT EXISTS {db}.rating_runs {on_cluster}
(
    run_id String,
    month String,
    started_at_ms UInt64,
    finished_at_ms UInt64,
    status Enum8('complete' = 1, 'refused' = 2),
    forced UInt8,
    provisioning_fingerprint String,
    tariffs_fingerprint String,
    settings_fingerprint String,
    calls_read UInt64,
    calls_digest String,
    outputs_digest String,
    tool_version String
)
ENGINE = ReplacingMergeTree
ORDER BY (month, run_id)
;
CREATE TABLE IF NOT EXISTS {db}.rated_calls {on_cluster}
(
    run_id String,
    month String,
    call_key String,
    trunk_id String,
    customer_id String,
    invite_ms UInt64,
    destination String,
    category String,
    in_plan UInt8,
    status Enum8('not_billed' = 1, 'included' = 2, 'out_of_plan' = 3, 'repriced' = 4, 'unmatched' = 5),
    rule Enum8('' = 0, 'telecom_professional' = 1, 'suspension' = 2, 'distinct_numbers' = 3, 'eligible_hours' = 4, 'forwarding' = 5, 'shared_service' = 6),
    reason String,
    forwarding_party String,
    billable_ms UInt64,
    billed_secs UInt64,
    amount Decimal(18, 6),
    tariff_prefix String,
    tariff_label String,
    tariff_class String,
    tariff_source String
)
ENGINE = ReplacingMergeTree
PARTITION BY month
ORDER BY (run_id, trunk_id, call_key)
;
CREATE TABLE IF NOT EXISTS {db}.rating_breaches {on_cluster}
(
    run_id String,
    month String,
    customer_id String,
    trunk_id String,
    rule Enum8('' = 0, 'telecom_professional' = 1, 'suspension' = 2, 'distinct_numbers' = 3, 'eligible_hours' = 4, 'forwarding' = 5, 'shared_service' = 6),
    subject String,
    billed UInt8,
    policy String,
    threshold String,
    threshold_value Decimal(18, 6),
    measured Decimal(18, 6),
    unit String,
    crossed_at_ms Nullable(UInt64),
    crossing_call String,
    repriced_calls UInt64,
    repriced_amount Decimal(18, 6),
    evidence Array(String),
    detail String,
    recommendation String
)
ENGINE = ReplacingMergeTree
ORDER BY (run_id, trunk_id, rule, subject)
;
CREATE TABLE IF NOT EXISTS {db}.invoice_lines {on_cluster}
(
    run_id String,
    month String,
    customer_id String,
    currency String,
    line_no UInt32,
    trunk_id String,
    kind Enum8('subscription' = 1, 'out_of_plan' = 2, 'repriced' = 3, 'sla_credit' = 4),
    item String,
    description String,
    quantity Decimal(18, 6),
    unit String,
    amount Decimal(18, 6)
)
ENGINE = ReplacingMergeTree
ORDER BY (run_id, customer_id, line_no)
;
CREATE TABLE IF NOT EXISTS {db}.rating_counters {on_cluster}
(
    run_id String,
    month String,
    customer_id String,
    trunk_id String,
    plan String,
    breach_policy String,
    channel_days UInt64,
    month_days UInt32,
    distinct_numbers UInt64,
    distinct_allowance UInt64,
    eligible_ms UInt64,
    eligible_threshold_ms UInt64,
    forwarding_users Array(String),
    forwarding_ms Array(UInt64),
    forwarding_threshold_ms UInt64,
    foreign_callers Array(String),
    teams_sbc_fqdns Array(String),
    teams_tenants Array(String),
    calls UInt64,
    counted_calls UInt64,
    availability_percent Decimal(18, 6),
    downtime_secs UInt64
)
ENGINE = ReplacingMergeTree
ORDER BY (run_id, trunk_id)
;
CREATE TABLE IF NOT EXISTS {db}.rating_closed_months {on_cluster}
(
    month String,
    run_id String,
    closed_at_ms UInt64,
    outputs_digest String
)
ENGINE = ReplacingMergeTree
ORDER BY month
