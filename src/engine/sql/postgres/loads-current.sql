-- Whether pgshift.loads already has the shape loads.sql gives it: every column
-- that file adds ($1) and the storage it sets ($2: columns kept out of line).
-- Read only: each ALTER of loads.sql commits, and right after a big file copy a
-- commit can wait a few hundred milliseconds for the disk.
SELECT pg_catalog.to_regclass('pgshift.loads') IS NOT NULL
       AND (SELECT pg_catalog.count(*) FROM pg_catalog.pg_attribute a
             WHERE a.attrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('pgshift.loads')
               AND NOT a.attisdropped AND a.attname OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.text[]))
           OPERATOR(pg_catalog.=) pg_catalog.cardinality($1::pg_catalog.text[])
       AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a
                        WHERE a.attrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('pgshift.loads')
                          AND a.attname OPERATOR(pg_catalog.=) ANY ($2::pg_catalog.text[])
                          AND a.attstorage OPERATOR(pg_catalog.<>) 'e') AS current;
