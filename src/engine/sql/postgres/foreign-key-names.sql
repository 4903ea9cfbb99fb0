-- Names of the foreign keys already in one schema (a re-run adds only the missing ones).
SELECT conname AS name
  FROM pg_constraint c
  JOIN pg_namespace n ON n.oid = c.connamespace
 WHERE n.nspname = $1 AND contype = 'f';
