-- Foreign keys from or to any of the tables $1 (regclass names), with their
-- referencing table (as regclass text, always schema-qualified under the engine's
-- search_path, and as its schema and name), their referenced table's schema and name,
-- and their definitions, so a refresh can drop and re-add them around a reload, or
-- defer them around a sync (refresh.ts): `acts`, an ON DELETE or ON UPDATE action
-- other than NO ACTION (never deferred: it fires on the statement); `deferrable`, already so.
SELECT conrelid::pg_catalog.regclass::pg_catalog.text AS tbl, connamespace::pg_catalog.regnamespace::pg_catalog.text AS nsp, conname AS name,
       pg_catalog.pg_get_constraintdef(oid) AS def,
       (SELECT n.nspname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
         WHERE c.oid OPERATOR(pg_catalog.=) conrelid) AS rel_schema,
       (SELECT c.relname FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) conrelid) AS rel_name,
       (SELECT n.nspname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
         WHERE c.oid OPERATOR(pg_catalog.=) confrelid) AS ref_schema,
       (SELECT c.relname FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) confrelid) AS ref_name,
       confupdtype OPERATOR(pg_catalog.<>) 'a' OR confdeltype OPERATOR(pg_catalog.<>) 'a' AS acts,
       condeferrable AS deferrable
  FROM pg_catalog.pg_constraint
 WHERE contype OPERATOR(pg_catalog.=) 'f'
   AND (conrelid OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.regclass[]) OR confrelid OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.regclass[]));
