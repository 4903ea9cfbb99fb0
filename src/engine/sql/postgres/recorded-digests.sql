-- One table's recorded digests (~3 MB a million rows), sent as they are stored:
-- COPY's binary format. As a query's result node-postgres took ~100 ms to
-- gather them (as base64; bytea's hex took longer), COPY ~10 ms. COPY takes no
-- bound parameters: the names come from this session's settings, set with
-- bound parameters just before (pgshift.schema, pgshift.table).
COPY (SELECT l.range_digests
        FROM pgshift.loads l
       WHERE l.target_schema = pg_catalog.current_setting('pgshift.schema')
         AND l.target_table = pg_catalog.current_setting('pgshift.table')
         AND l.range_digests IS NOT NULL)
  TO STDOUT (FORMAT binary)
