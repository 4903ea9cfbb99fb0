-- Columns of one table; hidden > 0 marks generated and virtual-table columns.
SELECT cid, name, type, "notnull" AS "notNull", dflt_value AS "defaultSql", pk, hidden
  FROM pragma_table_xinfo(?)
 ORDER BY cid;
