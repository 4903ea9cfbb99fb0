-- The numbers in one date/time column, counted by the reading each fits:
-- julian day numbers (1900–9999), and by magnitude epoch seconds (< 1e11),
-- milliseconds (< 1e14) and microseconds (< 1e17); then how many of each
-- reading land in 1900-01-01 .. 9999-12-31. Zero reads as 1970-01-01 in every
-- epoch unit (and is a common "no date"), so it fits whichever the rest choose. CAST AS REAL: abs() of the
-- smallest 64-bit integer overflows. The column's and table's
-- names are filled in, quoted, by fillTemplate (identifiers.ts).
SELECT count(*) AS n,
       coalesce(sum(typeof(%COL%) = 'real'), 0) AS reals,
       coalesce(sum(CAST(%COL% AS REAL) BETWEEN 2415020.5 AND 5373484.5), 0) AS julian,
       coalesce(sum(typeof(%COL%) = 'real' AND CAST(%COL% AS REAL) BETWEEN 2415020.5 AND 5373484.5), 0) AS julian_reals,
       coalesce(sum(%COL% = 0), 0) AS zeros,
       coalesce(sum(abs(CAST(%COL% AS REAL)) < 1e11 AND %COL% <> 0), 0) AS s,
       coalesce(sum(abs(CAST(%COL% AS REAL)) >= 1e11 AND abs(CAST(%COL% AS REAL)) < 1e14), 0) AS ms,
       coalesce(sum(abs(CAST(%COL% AS REAL)) >= 1e14 AND abs(CAST(%COL% AS REAL)) < 1e17), 0) AS us,
       coalesce(sum(CAST(%COL% AS REAL) BETWEEN -2208988800 AND 253402300799.999999), 0) AS s_ok,
       coalesce(sum(CAST(%COL% AS REAL) BETWEEN -2208988800000 AND 253402300799999.999), 0) AS ms_ok,
       coalesce(sum(CAST(%COL% AS REAL) BETWEEN -2208988800000000 AND 253402300799999999), 0) AS us_ok
  FROM %TABLE%
 WHERE typeof(%COL%) IN ('integer', 'real');
