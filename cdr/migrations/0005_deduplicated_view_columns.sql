-- calls_deduplicated listed the columns calls had when it was created, so the Teams
-- details and end_reason added since were missing from it. A view's columns are fixed
-- when it is created and ClickHouse 18.16 has no CREATE OR REPLACE VIEW: it is dropped
-- and created again with every column (a migration adding a column to calls must do
-- the same). Both statements can run again after an interruption.
DROP TABLE IF EXISTS {db}.calls_deduplicated {on_cluster}
;
CREATE VIEW IF NOT EXISTS {db}.calls_deduplicated {on_cluster} AS
SELECT *, invite_time
FROM {db}.calls FINAL
