-- What a Microsoft Teams Direct Routing call log says about a call (cdr-import): the
-- log row id, the Teams user, the call type (forwarding, transfer), the SBC FQDN and
-- Teams' own duration. Empty (NULL for the duration) on records without a Teams row.
-- ClickHouse 18.16 lacks ADD COLUMN IF NOT EXISTS: `migrate` emulates the clause
-- (one column per statement) by looking the column up in system.columns first.
ALTER TABLE {db}.calls {on_cluster} ADD COLUMN IF NOT EXISTS teams_id String
;
ALTER TABLE {db}.calls {on_cluster} ADD COLUMN IF NOT EXISTS teams_user String
;
ALTER TABLE {db}.calls {on_cluster} ADD COLUMN IF NOT EXISTS teams_call_type String
;
ALTER TABLE {db}.calls {on_cluster} ADD COLUMN IF NOT EXISTS teams_sbc_fqdn String
;
ALTER TABLE {db}.calls {on_cluster} ADD COLUMN IF NOT EXISTS teams_duration_ms Nullable(UInt64)
