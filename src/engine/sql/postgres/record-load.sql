-- Records one table's load; committed in the same transaction as its rows.
-- The range columns are NULL when nothing was recorded for delta sync. Writers:
-- $12 given (a sync by content: every transaction whose rows are now proven
-- level), or this transaction, added to the earlier ones ($13: a sync that
-- left the other ranges as they were) or alone (a load or whole reload).
INSERT INTO pgshift.loads (target_schema, target_table, source_table, source_fingerprint, schema_mode, row_count, identifiers, casts, layout,
                           range_width, range_digests, writer_xids)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
        CASE WHEN $10::bigint IS NULL THEN NULL WHEN $12::xid8[] IS NOT NULL THEN $12::xid8[] ELSE ARRAY[pg_current_xact_id()] END)
ON CONFLICT (target_schema, target_table) DO UPDATE
   SET source_table = EXCLUDED.source_table, source_fingerprint = EXCLUDED.source_fingerprint,
       schema_mode = EXCLUDED.schema_mode, row_count = EXCLUDED.row_count, loaded_at = now(),
       identifiers = EXCLUDED.identifiers, casts = EXCLUDED.casts, layout = EXCLUDED.layout,
       range_width = EXCLUDED.range_width, range_digests = EXCLUDED.range_digests,
       writer_xids = CASE WHEN $13::boolean AND EXCLUDED.range_width IS NOT NULL AND pgshift.loads.range_width = EXCLUDED.range_width
                          THEN ARRAY(SELECT DISTINCT x FROM unnest(pgshift.loads.writer_xids || EXCLUDED.writer_xids) AS x ORDER BY x)
                          ELSE EXCLUDED.writer_xids END;
