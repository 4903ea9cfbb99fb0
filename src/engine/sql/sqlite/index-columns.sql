-- Key columns of one index (cid -2 is an expression, -1 the rowid).
SELECT seqno, cid, name, "desc" AS "descending", coll AS "collation"
  FROM pragma_index_xinfo(?)
 WHERE key = 1
 ORDER BY seqno;
