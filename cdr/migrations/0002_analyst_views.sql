-- Deduplicated views for analysts (clickhouse-client, Grafana, Metabase). Days and
-- months are Europe/Paris calendar periods of the INVITE, as billing counts them.
CREATE VIEW IF NOT EXISTS {db}.calls_deduplicated {on_cluster} AS
SELECT
    call_key, source_kind, source_name, source_file, source_line, trunk_id, customer_id,
    site_id, direction, caller, callee, original_called, forwarding_party, sip_call_id,
    final_status, disposition, emergency, invite_ms, answer_ms, end_ms, billable_ms,
    channels_in_force, calls_in_progress, revision, invite_time, inserted_at
FROM {db}.calls FINAL
;
CREATE VIEW IF NOT EXISTS {db}.calls_per_trunk_day {on_cluster} AS
SELECT
    trunk_id,
    customer_id,
    toDate(invite_time, 'Europe/Paris') AS day,
    count() AS attempts,
    countIf(disposition = 'answered') AS answered,
    countIf(direction = 'outbound') AS outbound,
    countIf(direction = 'inbound') AS inbound,
    countIf(disposition = 'rejected_no_channel') AS rejected_no_channel,
    countIf(emergency = 1) AS emergency,
    sum(billable_ms) / 60000 AS answered_minutes,
    uniqExactIf(callee, direction = 'outbound' AND disposition = 'answered') AS distinct_destinations
FROM {db}.calls FINAL
GROUP BY trunk_id, customer_id, day
;
CREATE VIEW IF NOT EXISTS {db}.calls_per_trunk_month {on_cluster} AS
SELECT
    trunk_id,
    customer_id,
    toStartOfMonth(invite_time, 'Europe/Paris') AS month,
    count() AS attempts,
    countIf(disposition = 'answered') AS answered,
    countIf(direction = 'outbound') AS outbound,
    countIf(direction = 'inbound') AS inbound,
    countIf(disposition = 'rejected_no_channel') AS rejected_no_channel,
    countIf(emergency = 1) AS emergency,
    sum(billable_ms) / 60000 AS answered_minutes,
    uniqExactIf(callee, direction = 'outbound' AND disposition = 'answered') AS distinct_destinations
FROM {db}.calls FINAL
GROUP BY trunk_id, customer_id, month
