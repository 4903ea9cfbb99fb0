-- Every user object in the SQLite schema, in creation order.
SELECT type, name, tbl_name AS "tableName", sql
  FROM sqlite_schema
 WHERE name NOT LIKE 'sqlite\_%' ESCAPE '\'
 ORDER BY rowid;
