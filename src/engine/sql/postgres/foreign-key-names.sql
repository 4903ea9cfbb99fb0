-- Names of the foreign keys already in one schema (a re-run adds only the missing ones).
SELECT conname AS name
  FROM pg_catalog.pg_constraint c
  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.connamespace
 WHERE n.nspname OPERATOR(pg_catalog.=) $1 AND c.contype OPERATOR(pg_catalog.=) 'f';
