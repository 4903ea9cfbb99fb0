-- What delta sync recorded of one table's rows (loads.sql), the writers as
-- 32-bit xids (what xmin holds), and how far the transaction counter has moved
-- since the oldest of them: past 2^31 an xid can mean another transaction.
-- The digests themselves come apart (recorded-digests.sql).
SELECT l.range_width::text AS width,
       ARRAY(SELECT (x::text::numeric % 4294967296)::text FROM unnest(l.writer_xids) AS x) AS writers,
       (pg_snapshot_xmax(pg_current_snapshot())::text::numeric
         - (SELECT min(x::text::numeric) FROM unnest(l.writer_xids) AS x))::text AS age
  FROM pgshift.loads l
 WHERE l.target_schema = $1 AND l.target_table = $2
   AND l.range_width IS NOT NULL AND l.range_digests IS NOT NULL AND l.writer_xids IS NOT NULL;
