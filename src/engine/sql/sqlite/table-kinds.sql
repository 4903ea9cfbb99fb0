-- How SQLite itself classes each table of the main schema: 'table', 'view',
-- 'virtual', or 'shadow' (the internal storage a virtual table's module owns,
-- e.g. fts5's docs_data, docs_idx, …: marked by the module, not by its name);
-- and whether it is STRICT (an ANY column there keeps every value as written).
SELECT name, type, strict
  FROM pragma_table_list
 WHERE schema = 'main';
