-- Delta sync's PostgreSQL side (delta.ts): one digest per key range of a table,
-- over each row written exactly as COPY TO prints it (tab-separated output
-- forms, \N for NULL, COPY's backslash escapes), so that the digests pgshift
-- computes from SQLite over the COPY text it would send are comparable byte
-- for byte. Runs under pgshift's session settings (UTC, ISO dates,
-- extra_float_digits = 1), as the copy and its verification do.
CREATE SCHEMA IF NOT EXISTS pgshift;

-- A field as COPY's text format writes it. Inlined by the planner (one SQL
-- expression, immutable), so it costs no function call per value.
CREATE OR REPLACE FUNCTION pgshift.copy_field(v text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN v IS NULL THEN '\N'
    -- chr(), not E'\v': PostgreSQL's escape strings know no \v (E'\v' is a plain v).
    ELSE pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(v,
      '\', '\\'), pg_catalog.chr(10), '\n'), pg_catalog.chr(13), '\r'), pg_catalog.chr(9), '\t'), pg_catalog.chr(8), '\b'), pg_catalog.chr(12), '\f'), pg_catalog.chr(11), '\v')
  END
$$;

-- Per range of `width` keys (key / width, truncated toward zero, as delta.ts
-- computes it): how many rows, and the md5 of their COPY lines joined by
-- newlines in key order. Types whose output never holds a character COPY
-- escapes skip the escaping: it is most of the cost on wide tables.
-- With `ids`: just those range ids (the re-copied ones, checked after the sync).
DROP FUNCTION IF EXISTS pgshift.chunk_digests(regclass, text[], text, bigint);
CREATE OR REPLACE FUNCTION pgshift.chunk_digests(tbl regclass, cols text[], key_col text, width bigint, ids bigint[] DEFAULT NULL)
RETURNS TABLE (chunk bigint, n bigint, digest text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  line text;
BEGIN
  SELECT string_agg(
           CASE WHEN t.typname = 'bool'
                -- boolean's cast to text says true/false; its output form (what COPY prints) is t/f
                THEN format('CASE WHEN %I THEN %L WHEN NOT %I THEN %L ELSE %L END', a.attname, 't', a.attname, 'f', '\N')
                WHEN t.typname IN ('int2', 'int4', 'int8', 'float4', 'float8', 'numeric', 'date', 'time', 'timetz',
                                   'timestamp', 'timestamptz', 'uuid', 'interval')
                THEN format('coalesce(%I::text, %L)', a.attname, '\N')
                ELSE format('pgshift.copy_field(%I::text)', a.attname) END,
           $$ || E'\t' || $$ ORDER BY c.ord)
    INTO line
    FROM unnest(cols) WITH ORDINALITY AS c(name, ord)
    JOIN pg_attribute a ON a.attrelid = tbl AND a.attname = c.name AND NOT a.attisdropped
    JOIN pg_type t ON t.oid = a.atttypid;
  RETURN QUERY EXECUTE format(
    'SELECT %1$I::bigint / $1 AS chunk, count(*) AS n, md5(string_agg(%2$s, E''\n'' ORDER BY %1$I)) AS digest FROM %3$s%4$s GROUP BY 1',
    key_col, line, tbl,
    -- a hashed = ANY: cheap per row, and only matching rows are formatted
    CASE WHEN ids IS NULL THEN '' ELSE format(' WHERE %I::bigint / $1 = ANY ($2)', key_col) END)
  USING width, ids;
END
$fn$;
