/*
 * pgshift's SQLite extensions (src/engine/sqlite/native/*.c) linked into the SQLite
 * amalgamation better-sqlite3 ships, built with -fsanitize=address,undefined
 * by sanitizers.test.ts, and fed hostile values: every SQLite type, empty
 * text and blobs (SQLite's NULL pointers), invalid UTF-8, NUL bytes, JSON
 * fragments, integer and float extremes, NULL and malformed specs, column
 * counts that do not match the spec, key ranges at the int64 edges. SQL
 * errors are expected and ignored; a sanitizer report ends the process with
 * a non-zero status, which is all the test looks at.
 *
 * usage: harness <iterations> <seed>
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sqlite3ext.h"

int sqlite3_copytext_init(sqlite3 *db, char **err, const sqlite3_api_routines *api);
int sqlite3_rangedigests_init(sqlite3 *db, char **err, const sqlite3_api_routines *api);
int sqlite3_fingerprint_init(sqlite3 *db, char **err, const sqlite3_api_routines *api);

static uint64_t state;
static uint64_t next(void) {
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}
static int below(int n) { return (int)(next() % (uint64_t)n); }

static const char *TOKENS[] = {"s", "i", "l", "b", "d", "t", "v1", "v3", "v255", "T", "Z", "D", "H", "U", "j", "x"};
static const char *FRAGMENTS[] = {
    "{", "}", "[", "]", "\"", ":", ",", "\\", "\\u0000", "\\ud800", "\\udc00", "\\u00e9", "1e999", "-0", "0.1e-400", "123456789012345678901234567890",
    "true", "fals", "null", " ", "\t", "\n", "\r", "\xff", "\xc3", "\xc3\xa9", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82", "a", "Z", "2024-02-30",
    "1970-01-01 00:00:00", "24:00:00", "+14:00", "-00:00", "T", ".", "123456", "0001-01-01", "9999-12-31 23:59:59.9999995", "{12345678-1234-1234-1234-123456789abc}",
    "t", "f", "yes", "0", "1", "2", "'", "%", "\x01", "\x7f"};

/* A hostile value of any SQLite type, bound at `i`. */
static void bind_value(sqlite3_stmt *st, int i) {
  static char text[512];
  static unsigned char blob[64];
  switch (below(9)) {
    case 0: sqlite3_bind_null(st, i); break;
    case 1: {
      static const sqlite3_int64 edges[] = {0, 1, -1, INT64_MAX, INT64_MIN, INT64_MIN + 1, 32767, 32768, -32769, 2147483647, 2147483648LL, -2147483649LL, 9007199254740993LL, 1700000000, 1700000000000LL, 2460000};
      sqlite3_bind_int64(st, i, below(2) ? edges[below(16)] : (sqlite3_int64)next());
      break;
    }
    case 2: {
      static const double edges[] = {0.0, -0.0, 1e-320, 1e308, -1e308, 0.1, 2460000.5, 1e15, 1e-5, 9.007199254740993e15, 1700000000.123456};
      double d = below(4) == 0 ? NAN : below(3) == 0 ? (below(2) ? INFINITY : -INFINITY) : below(2) ? edges[below(11)] : ((double)(int64_t)next()) / (double)(1 + below(1000000));
      sqlite3_bind_double(st, i, d);
      break;
    }
    case 3: sqlite3_bind_text(st, i, "", 0, SQLITE_STATIC); break; /* empty text */
    case 4: sqlite3_bind_blob(st, i, "", 0, SQLITE_STATIC); break;  /* empty blob: a NULL pointer on the way out */
    case 5: case 6: { /* text from fragments: JSON, dates, UTF-8 good and bad, NUL */
      size_t n = 0;
      int parts = below(12);
      for (int k = 0; k < parts; k++) {
        const char *f = FRAGMENTS[below((int)(sizeof FRAGMENTS / sizeof *FRAGMENTS))];
        size_t m = strlen(f);
        if (n + m + 1 >= sizeof text) break;
        memcpy(text + n, f, m);
        n += m;
      }
      if (below(8) == 0 && n + 1 < sizeof text) text[n++] = 0; /* a NUL inside */
      sqlite3_bind_text(st, i, text, (int)n, SQLITE_TRANSIENT);
      break;
    }
    case 7: { /* random bytes as text */
      int n = below(40);
      for (int k = 0; k < n; k++) text[k] = (char)next();
      sqlite3_bind_text(st, i, text, n, SQLITE_TRANSIENT);
      break;
    }
    default: { /* a blob: 16 bytes (a UUID) or any length */
      int n = below(2) ? 16 : below(64);
      for (int k = 0; k < n; k++) blob[k] = (unsigned char)next();
      sqlite3_bind_blob(st, i, blob, n, SQLITE_TRANSIENT);
      break;
    }
  }
}

/* A spec for `ncols` columns, sometimes wrong: NULL, another type, another count, garbage. */
static void bind_spec(sqlite3_stmt *st, int ncols) {
  char spec[256];
  int r = below(20);
  if (r == 0) {
    sqlite3_bind_null(st, 1);
    return;
  }
  if (r == 1) {
    sqlite3_bind_int64(st, 1, (sqlite3_int64)next());
    return;
  }
  if (r == 2) {
    int n = below(30);
    for (int k = 0; k < n; k++) spec[k] = (char)next();
    sqlite3_bind_text(st, 1, spec, n, SQLITE_TRANSIENT);
    return;
  }
  int n = r == 3 ? ncols + below(3) - 1 : ncols;
  size_t len = 0;
  for (int k = 0; k < n && len + 8 < sizeof spec; k++) {
    const char *t = r == 4 && below(3) == 0 ? "v-1" : r == 5 && below(3) == 0 ? "v99999999999999999999" : TOKENS[below((int)(sizeof TOKENS / sizeof *TOKENS))];
    len += (size_t)snprintf(spec + len, sizeof spec - len, "%s%s", k ? "," : "", t);
  }
  sqlite3_bind_text(st, 1, spec, (int)len, SQLITE_TRANSIENT);
}

static sqlite3 *db;
static long values;

static void run(sqlite3_stmt *st) {
  while (sqlite3_step(st) == SQLITE_ROW) {
    /* read the results out, as pgshift does */
    for (int c = 0; c < sqlite3_column_count(st); c++) {
      const void *b = sqlite3_column_blob(st, c);
      int n = sqlite3_column_bytes(st, c);
      volatile unsigned char sink = 0;
      for (int k = 0; b && k < n; k++) sink ^= ((const unsigned char *)b)[k];
      (void)sink;
    }
  }
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
}

static sqlite3_stmt *prepare(const char *sql) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db, sql, -1, &st, 0) != SQLITE_OK) {
    fprintf(stderr, "harness: cannot prepare %s: %s\n", sql, sqlite3_errmsg(db));
    exit(3);
  }
  return st;
}

int main(int argc, char **argv) {
  long iterations = argc > 1 ? atol(argv[1]) : 3000;
  state = argc > 2 ? strtoull(argv[2], 0, 10) : 42;
  if (!state) state = 42;
  if (sqlite3_open(":memory:", &db) != SQLITE_OK) return 3;
  char *err = 0;
  if (sqlite3_copytext_init(db, &err, 0) || sqlite3_rangedigests_init(db, &err, 0) || sqlite3_fingerprint_init(db, &err, 0)) {
    fprintf(stderr, "harness: extension init failed\n");
    return 3;
  }
  sqlite3_stmt *field = prepare("SELECT pgshift_copy_field(?1, ?2)");
  sqlite3_stmt *text[4], *binary[4], *digests[4];
  for (int n = 0; n < 4; n++) {
    char sql[256];
    const char *args[] = {"?2", "?2, ?3", "?2, ?3, ?4", "?2, ?3, ?4, ?5"};
    snprintf(sql, sizeof sql, "SELECT pgshift_copy_text(?1, %s) FROM (SELECT 1 UNION ALL SELECT 2)", args[n]);
    text[n] = prepare(sql);
    snprintf(sql, sizeof sql, "SELECT pgshift_copy_binary(?1, %s)", args[n]);
    binary[n] = prepare(sql);
    snprintf(sql, sizeof sql, "SELECT pgshift_range_digests(?1, %s), pgshift_numeric_dates(%s) FROM (SELECT 1 UNION ALL SELECT 2)", args[n], args[n]);
    digests[n] = prepare(sql);
  }
  sqlite3_stmt *fingerprint = prepare("SELECT pgshift_fingerprint(?1, ?2)");
  sqlite3_stmt *empty = prepare("SELECT pgshift_copy_text('t', v), pgshift_copy_binary('x', v), pgshift_range_digests(1, k, v) FROM (SELECT 1 AS k, ?1 AS v) WHERE 0");

  for (long it = 0; it < iterations; it++) {
    bind_spec(field, 1);
    bind_value(field, 2);
    run(field);
    int n = below(4);
    bind_spec(text[n], n + 1);
    for (int k = 0; k <= n; k++) bind_value(text[n], k + 2);
    run(text[n]);
    bind_spec(binary[n], n + 1);
    for (int k = 0; k <= n; k++) bind_value(binary[n], k + 2);
    run(binary[n]);
    /* width: any int64, 0, negative, or not a number; the key: a hostile value */
    if (below(3)) sqlite3_bind_int64(digests[n], 1, below(2) ? 1 + below(1000) : (sqlite3_int64)next());
    else bind_value(digests[n], 1);
    for (int k = 0; k <= n; k++) bind_value(digests[n], k + 2);
    run(digests[n]);
    /* descriptors that are not open, or not numbers: never one of this process's */
    if (below(2)) sqlite3_bind_int64(fingerprint, 1, -1 - below(100));
    else bind_value(fingerprint, 1);
    sqlite3_bind_int64(fingerprint, 2, 100000 + below(1000));
    run(fingerprint);
    values += 2 + 3 * (n + 1) + 2;
  }
  bind_value(empty, 1);
  run(empty);
  printf("ok: %ld hostile values through the extensions\n", values);
  for (int n = 0; n < 4; n++) {
    sqlite3_finalize(text[n]);
    sqlite3_finalize(binary[n]);
    sqlite3_finalize(digests[n]);
  }
  sqlite3_finalize(field);
  sqlite3_finalize(fingerprint);
  sqlite3_finalize(empty);
  sqlite3_close(db);
  return 0;
}
