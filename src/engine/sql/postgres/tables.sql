-- Tables in one schema, whoever made them.
SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname OPERATOR(pg_catalog.=) $1;
