-- Foreign keys from or to any of the tables $1 (regclass names), with their
-- definitions, so a refresh can drop and re-add them around a reload.
SELECT conrelid::regclass::text AS tbl, conname AS name, pg_get_constraintdef(oid) AS def
  FROM pg_constraint
 WHERE contype = 'f' AND (conrelid = ANY($1::regclass[]) OR confrelid = ANY($1::regclass[]));
