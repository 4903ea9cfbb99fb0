-- Indexes of a table: origin 'c' = CREATE INDEX, 'u' = UNIQUE constraint, 'pk' = primary key.
SELECT il.name, il."unique" AS "isUnique", il.origin, il.partial, m.sql
  FROM pragma_index_list(?) AS il
  LEFT JOIN sqlite_schema AS m ON m.type = 'index' AND m.name = il.name
 ORDER BY il.seq DESC;
