-- The highest AUTOINCREMENT value ever handed out for a table (deleted rows included).
SELECT seq FROM sqlite_sequence WHERE name = ?;
