-- What pgshift loaded into one schema, and from which version of the source.
SELECT target_table, source_fingerprint, schema_mode, layout
  FROM pgshift.loads
 WHERE target_schema = $1;
