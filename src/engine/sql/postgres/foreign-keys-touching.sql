-- Foreign keys from or to any of the tables $1 (regclass names), with their
-- definitions, so a refresh can drop and re-add them around a reload; `deferrable`:
-- NO ACTION on both sides and not deferrable yet, so a sync can defer it instead (delta.ts).
SELECT conrelid::regclass::text AS tbl, connamespace::regnamespace::text AS nsp, conname AS name, pg_get_constraintdef(oid) AS def,
       confupdtype = 'a' AND confdeltype = 'a' AND NOT condeferrable AS deferrable
  FROM pg_constraint
 WHERE contype = 'f' AND (conrelid = ANY($1::regclass[]) OR confrelid = ANY($1::regclass[]));
