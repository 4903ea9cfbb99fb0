-- The sequence behind an identity or serial column ($1 a qualified table name, $2 a column); null when none.
SELECT pg_catalog.pg_get_serial_sequence($1, $2) AS s;
