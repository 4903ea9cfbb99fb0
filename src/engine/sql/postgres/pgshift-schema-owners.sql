-- Who owns the pgshift schema and what is in it (its record table, its
-- functions, any view or trigger function put there), when that is not a
-- superuser, and whether this session is one. Read only; names qualified.
SELECT pg_catalog.current_setting('is_superuser') OPERATOR(pg_catalog.=) 'on' AS session_super,
       ARRAY(
         SELECT DISTINCT r.rolname::pg_catalog.text
           FROM (SELECT n.nspowner AS owner FROM pg_catalog.pg_namespace n WHERE n.nspname OPERATOR(pg_catalog.=) 'pgshift'
                 UNION ALL
                 SELECT c.relowner FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
                  WHERE n.nspname OPERATOR(pg_catalog.=) 'pgshift'
                 UNION ALL
                 SELECT p.proowner FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace
                  WHERE n.nspname OPERATOR(pg_catalog.=) 'pgshift'
                 UNION ALL
                 SELECT p.proowner FROM pg_catalog.pg_trigger t
                   JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.tgrelid
                   JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
                   JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) t.tgfoid
                  WHERE n.nspname OPERATOR(pg_catalog.=) 'pgshift') o
           JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) o.owner
          WHERE NOT r.rolsuper
          ORDER BY 1) AS others;
