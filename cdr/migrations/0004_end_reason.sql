-- Why the edge ended a call itself (cdr/call-record.md): empty when the parties or a
-- final response ended it; otherwise `max_duration`, `timer_c`, `no_ack`,
-- `transport_lost`, `shutdown`, or `operator <token>: <reason>` for a call ended
-- through the admin API (`operator <token>: <scope> blocked: <reason>` when a block
-- ended it).
ALTER TABLE {db}.calls {on_cluster} ADD COLUMN IF NOT EXISTS end_reason String
