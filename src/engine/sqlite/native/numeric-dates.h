/*
 * pgshift_numeric_dates(col1, col2, ...): an aggregate counting the numbers
 * of date/time columns by the reading each fits, exactly as
 * sql/sqlite/numeric-dates.sql counts them, as a BLOB of 11 little-endian
 * int64 per column in that query's column order: n, reals, julian,
 * julian_reals, zeros, s, ms, us, s_ok, ms_ok, us_ok. Over no rows, an empty
 * BLOB: nothing counted. Several columns in one call, not one call each: the
 * call per row is most of the cost (2 columns of 1M rows: 26 ms as two calls).
 *
 * Why C: a refresh already reads every row once for its range digests
 * (range-digests.c); counting in the same scan saves the query's own full scan
 * and its ~11 SQL expressions per row (numeric-dates.ts decides from the counts).
 *
 * Same semantics as the query: a number's reading is CAST(value AS REAL), which
 * for an integer is (double)i (so abs() of -2^63 cannot overflow); a REAL
 * compared with an INTEGER literal is compared exactly, as SQLite does
 * (253402300799999999 is not a double); REAL literals are the C compiler's
 * doubles; text, blobs and NULL are not counted.
 */
#ifndef PGSHIFT_NUMERIC_DATES_H
#define PGSHIFT_NUMERIC_DATES_H
#include <stdint.h>
#include <string.h>
#include "sqlite3ext.h"

typedef struct {
  int64_t n, reals, julian, julian_reals, zeros, s, ms, us, s_ok, ms_ok, us_ok;
} NumericDates;

/* The sign of i - r, exactly: SQLite's sqlite3IntFloatCompare (NaN never reaches here: SQLite stores it as NULL). */
static inline int nd_int_float_cmp(int64_t i, double r) {
  if (r < -9223372036854775808.0) return 1;
  if (r >= 9223372036854775808.0) return -1;
  int64_t y = (int64_t)r;
  if (i < y) return -1;
  if (i > y) return 1;
  double s = (double)i;
  return s < r ? -1 : s > r;
}

/* r BETWEEN lo AND hi, both bounds INTEGER literals. */
static inline int nd_between_ints(double r, int64_t lo, int64_t hi) { return nd_int_float_cmp(lo, r) <= 0 && nd_int_float_cmp(hi, r) >= 0; }

static inline void nd_count(NumericDates *c, sqlite3_value *v) {
  int type = sqlite3_value_type(v);
  double r;
  int zero;
  if (type == SQLITE_INTEGER) {
    int64_t i = sqlite3_value_int64(v);
    r = (double)i;
    zero = i == 0;
  } else if (type == SQLITE_FLOAT) {
    r = sqlite3_value_double(v);
    zero = r == 0.0; /* -0.0 = 0 too */
    c->reals++;
  } else
    return;
  c->n++;
  int julian = r >= 2415020.5 && r <= 5373484.5;
  c->julian += julian;
  c->julian_reals += julian && type == SQLITE_FLOAT;
  c->zeros += zero;
  double a = r < 0 ? -r : r;
  c->s += a < 1e11 && !zero;
  c->ms += a >= 1e11 && a < 1e14;
  c->us += a >= 1e14 && a < 1e17;
  c->s_ok += nd_int_float_cmp(-2208988800LL, r) <= 0 && r <= 253402300799.999999;
  c->ms_ok += nd_int_float_cmp(-2208988800000LL, r) <= 0 && r <= 253402300799999.999;
  c->us_ok += nd_between_ints(r, -2208988800000000LL, 253402300799999999LL);
}

typedef struct {
  int cols;
  NumericDates c[];
} NdState;

static void nd_step(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  if (argc < 1) {
    sqlite3_result_error(ctx, "pgshift_numeric_dates: name at least one column", -1);
    return;
  }
  /* Sized on the first row; every row of one call has the same columns. */
  NdState *s = (NdState *)sqlite3_aggregate_context(ctx, (int)(sizeof(NdState) + (size_t)argc * sizeof(NumericDates)));
  if (!s) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  s->cols = argc;
  for (int i = 0; i < argc; i++) nd_count(&s->c[i], argv[i]);
}

static void nd_final(sqlite3_context *ctx) {
  NdState *s = (NdState *)sqlite3_aggregate_context(ctx, 0);
  if (!s) {
    sqlite3_result_zeroblob(ctx, 0);
    return;
  }
  /* x86-64 and arm64 are little-endian: the structs are the wire format. */
  sqlite3_result_blob(ctx, s->c, (int)((size_t)s->cols * sizeof(NumericDates)), SQLITE_TRANSIENT);
}

static int nd_register(sqlite3 *db) {
  return sqlite3_create_function(db, "pgshift_numeric_dates", -1, SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY, 0, 0, nd_step, nd_final);
}
#endif
