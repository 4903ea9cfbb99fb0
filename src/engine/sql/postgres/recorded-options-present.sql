-- Whether pgshift.loads records how tables were loaded (a record made by an
-- older pgshift lacks these columns): 2 rows when it does. Read only.
SELECT 1
  FROM pg_catalog.pg_attribute
 WHERE attrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('pgshift.loads') AND NOT attisdropped
   AND attname OPERATOR(pg_catalog.=) ANY (ARRAY['identifiers', 'casts']::pg_catalog.name[]);
