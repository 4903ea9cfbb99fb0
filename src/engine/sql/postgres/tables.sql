-- Tables in one schema, whoever made them.
SELECT tablename FROM pg_tables WHERE schemaname = $1;
