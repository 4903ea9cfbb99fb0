-- Whether pgshift.loads records how tables were loaded (a record made by an
-- older pgshift lacks these columns): 2 rows when it does. Read only.
SELECT 1
  FROM information_schema.columns
 WHERE table_schema = 'pgshift' AND table_name = 'loads' AND column_name IN ('identifiers', 'casts');
