-- How each table in one schema was loaded (identifiers, schema mode, casts), for `pgshift verify`.
SELECT source_table, target_table, schema_mode, identifiers, casts
  FROM pgshift.loads
 WHERE target_schema = $1;
