-- A table whose verification found differences: delta sync must not trust its
-- record, so the next refresh compares full contents (and fixes the rows).
UPDATE pgshift.loads SET range_width = NULL, range_digests = NULL, writer_xids = NULL
 WHERE target_schema = $1 AND target_table = $2;
