-- One row per column pair of each foreign key of a table.
SELECT id, seq, "table" AS "refTable", "from" AS "fromColumn", "to" AS "toColumn",
       on_update AS "onUpdate", on_delete AS "onDelete"
  FROM pragma_foreign_key_list(?)
 ORDER BY id, seq;
