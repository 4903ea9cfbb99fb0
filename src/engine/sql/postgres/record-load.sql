-- Records one table's load; committed in the same transaction as its rows.
INSERT INTO pgshift.loads (target_schema, target_table, source_table, source_fingerprint, schema_mode, row_count, identifiers, casts, layout)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (target_schema, target_table) DO UPDATE
   SET source_table = EXCLUDED.source_table, source_fingerprint = EXCLUDED.source_fingerprint,
       schema_mode = EXCLUDED.schema_mode, row_count = EXCLUDED.row_count, loaded_at = now(),
       identifiers = EXCLUDED.identifiers, casts = EXCLUDED.casts, layout = EXCLUDED.layout;
