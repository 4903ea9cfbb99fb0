-- A refresh commits its records before the source's fingerprint is hashed (the
-- hash would otherwise hold the sync back), with a placeholder ($2) that no file
-- hashes to; once hashed, the placeholder becomes the fingerprint. A run stopped
-- in between leaves the placeholder: the next run without --refresh then asks
-- for one instead of taking the tables as up to date.
UPDATE pgshift.loads SET source_fingerprint = $3
 WHERE target_schema = $1 AND source_fingerprint = $2;
