/*
 * pgshift_copy_text(spec, col1, col2, ...): an aggregate over consecutive rows
 * of a table that returns them as PostgreSQL COPY text (a BLOB: tab between
 * fields, newline after each row), written exactly as convert.ts writes them:
 * the way PostgreSQL prints each value back, so verification still compares
 * digests of the bytes sent with the bytes read back.
 *
 * Why C: converting every value in JavaScript (making a JS string per value,
 * then per line, then UTF-8 bytes again) was most of the CPU of a full copy; on
 * a two-core machine that CPU is what PostgreSQL's COPY backend waits for.
 *
 * It converts only the common, unambiguous forms. Anything else (a value that
 * convert.ts would refuse, or one whose form it works out in ways not repeated
 * here: text in an integer column, a float printed with an exponent, a date
 * with a time zone, invalid UTF-8, JSON nested deeper than 256...) makes the
 * whole call return NULL, and the caller converts those rows in JavaScript,
 * which either converts them or names the row and column it refuses.
 *
 * pgshift_copy_binary(spec, col1, ...) is the same rows as COPY's binary tuples
 * (no header or trailer), for tables pgshift created itself: PostgreSQL then
 * skips parsing integers, floats and timestamps, which was most of its COPY
 * backend's CPU. It leaves exactly the values to JavaScript that the text form
 * does (and no float at all: its bits are sent as they are), so a table that
 * loads in binary would load the same in text.
 *
 * spec: one token per column, separated by commas:
 *   s smallint, i integer, l bigint, b boolean, d double precision, t text,
 *   v<n> varchar(n), T timestamp, Z timestamptz, D date, H time, U uuid, j jsonb,
 *   x bytea.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT1

typedef struct {
  unsigned char *p;
  size_t len, cap;
  int oom;
} Buf;

static int buf_reserve(Buf *b, size_t extra) {
  if (b->oom) return -1;
  if (b->len + extra <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 65536;
  while (cap < b->len + extra) cap *= 2;
  unsigned char *p = (unsigned char *)sqlite3_realloc64(b->p, cap);
  if (!p) {
    b->oom = 1;
    return -1;
  }
  b->p = p;
  b->cap = cap;
  return 0;
}

static inline void buf_put(Buf *b, const void *s, size_t n) {
  /* An empty value: SQLite hands out a NULL pointer for it, and memcpy(NULL, …, 0)
   * (or NULL + 0 on a buffer not yet allocated) is undefined behaviour. */
  if (n == 0) return;
  if (buf_reserve(b, n)) return;
  memcpy(b->p + b->len, s, n);
  b->len += n;
}

static inline void buf_byte(Buf *b, unsigned char c) {
  if (buf_reserve(b, 1)) return;
  b->p[b->len++] = c;
}

#include "jsonb-text.h"

enum { K_SMALLINT, K_INTEGER, K_BIGINT, K_BOOLEAN, K_DOUBLE, K_TEXT, K_VARCHAR, K_TIMESTAMP, K_TIMESTAMPTZ, K_DATE, K_TIME, K_UUID, K_JSONB, K_BYTEA };

typedef struct {
  int kind;
  int64_t length; /* varchar(n) */
} Column;

typedef struct {
  Buf out;
  Column *cols;
  int ncols;
  int bail; /* 1: some value is left to JavaScript; the result is NULL */
} State;

static int parse_spec(State *s, const char *spec, int ncols) {
  /* A NULL spec (SQL NULL, or text SQLite could not allocate) is a bad spec, not a crash. */
  if (!spec) return -2;
  s->cols = (Column *)sqlite3_malloc64(sizeof(Column) * (size_t)(ncols > 0 ? ncols : 1));
  if (!s->cols) return -1;
  s->ncols = ncols;
  const char *p = spec;
  for (int i = 0; i < ncols; i++) {
    Column *c = &s->cols[i];
    c->length = 0;
    switch (*p) {
      case 's': c->kind = K_SMALLINT; break;
      case 'i': c->kind = K_INTEGER; break;
      case 'l': c->kind = K_BIGINT; break;
      case 'b': c->kind = K_BOOLEAN; break;
      case 'd': c->kind = K_DOUBLE; break;
      case 't': c->kind = K_TEXT; break;
      case 'v': c->kind = K_VARCHAR; break;
      case 'T': c->kind = K_TIMESTAMP; break;
      case 'Z': c->kind = K_TIMESTAMPTZ; break;
      case 'D': c->kind = K_DATE; break;
      case 'H': c->kind = K_TIME; break;
      case 'U': c->kind = K_UUID; break;
      case 'j': c->kind = K_JSONB; break;
      case 'x': c->kind = K_BYTEA; break;
      default: return -2;
    }
    p++;
    if (c->kind == K_VARCHAR) {
      char *end;
      c->length = strtoll(p, &end, 10);
      if (end == p || c->length <= 0) return -2;
      p = end;
    }
    if (i < ncols - 1) {
      if (*p != ',') return -2;
      p++;
    }
  }
  return *p == 0 ? 0 : -2;
}

/* Strict UTF-8, as JavaScript's TextDecoder({fatal: true}) reads it: no
 * overlong forms, no surrogates, nothing above U+10FFFF. NUL is refused too
 * (PostgreSQL text cannot hold it). Returns the number of code points, or -1. */
static int64_t utf8_chars(const unsigned char *p, size_t n) {
  int64_t chars = 0;
  size_t i = 0;
  while (i < n) {
    /* Eight ASCII bytes at a time, none of them NUL. */
    while (i + 8 <= n) {
      uint64_t w;
      memcpy(&w, p + i, 8);
      if ((w & 0x8080808080808080ULL) || ((w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL)) break;
      i += 8;
      chars += 8;
    }
    if (i >= n) break;
    unsigned char c = p[i];
    if (c < 0x80) {
      if (c == 0) return -1;
      i++;
    } else if (c >= 0xc2 && c <= 0xdf) {
      if (i + 1 >= n || (p[i + 1] & 0xc0) != 0x80) return -1;
      i += 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      if (i + 2 >= n || (p[i + 1] & 0xc0) != 0x80 || (p[i + 2] & 0xc0) != 0x80) return -1;
      if (c == 0xe0 && p[i + 1] < 0xa0) return -1; /* overlong */
      if (c == 0xed && p[i + 1] >= 0xa0) return -1; /* surrogate */
      i += 3;
    } else if (c >= 0xf0 && c <= 0xf4) {
      if (i + 3 >= n || (p[i + 1] & 0xc0) != 0x80 || (p[i + 2] & 0xc0) != 0x80 || (p[i + 3] & 0xc0) != 0x80) return -1;
      if (c == 0xf0 && p[i + 1] < 0x90) return -1; /* overlong */
      if (c == 0xf4 && p[i + 1] >= 0x90) return -1; /* above U+10FFFF */
      i += 4;
    } else {
      return -1;
    }
    chars++;
  }
  return chars;
}

/* COPY text escaping of raw text (convert.ts escapeCopy): the letter after the backslash, or 0. */
static const unsigned char ESCAPE[256] = {['\\'] = '\\', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't', ['\b'] = 'b', ['\f'] = 'f', ['\v'] = 'v'};

static void put_escaped(Buf *b, const unsigned char *p, size_t n) {
  if (buf_reserve(b, n)) return;
  size_t start = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char e = ESCAPE[p[i]];
    if (!e) continue;
    buf_put(b, p + start, i - start);
    unsigned char pair[2] = {'\\', e};
    buf_put(b, pair, 2);
    start = i + 1;
  }
  buf_put(b, p + start, n - start);
}

static void put_int(Buf *b, int64_t v) {
  char tmp[24];
  int i = 24;
  uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  do {
    tmp[--i] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0) tmp[--i] = '-';
  buf_put(b, tmp + i, (size_t)(24 - i));
}

/* JavaScript numbers are exact integers up to 2^53; beyond, convert.ts sees a rounded value. */
#define SAFE_INT 9007199254740991LL

typedef unsigned __int128 u128;
static u128 POW10[21];

static void init_pow10(void) {
  POW10[0] = 1;
  for (int i = 1; i < 21; i++) POW10[i] = POW10[i - 1] * 10;
}

/*
 * The p-digit decimal closest to a = m / 2^k (ties to even), if it reads back
 * as a: it lies closer to a than half the gap to the neighbouring double (a
 * quarter of it below a power of two, where the gap below is half as wide).
 * E is floor(log10(a)). On success *D holds the digits and *X the decimal
 * exponent of the first one.
 */
static int closest(uint64_t m, int k, int lower_gap_half, int E, int p, uint64_t *D, int *X) {
  int s = p - 1 - E; /* the candidate is D / 10^s */
  if (s > 20 || s < -20) return 0;
  u128 num = (u128)m * (s > 0 ? POW10[s] : 1);
  u128 den = (u128)1 << k;
  u128 q = num >> k;
  if (s < 0) {
    uint64_t d = (uint64_t)POW10[-s];
    q /= d;
    den *= d;
  }
  u128 rem = num - q * den; /* a * 10^s = q + rem / den */
  int up = rem * 2 > den || (rem * 2 == den && (q & 1));
  u128 dist = up ? den - rem : rem; /* |candidate - a * 10^s|, in units of 1 / den */
  /* half the gap between doubles, in the same units: den * 10^s / 2^(k+1) = 10^s / 2 for s >= 0 */
  int ok;
  if (s < 0) ok = dist == 0;
  else if (!up && rem != 0 && lower_gap_half) ok = dist * 4 < POW10[s];
  else ok = dist * 2 < POW10[s];
  if (!ok) return 0;
  q += up;
  if (q == POW10[p]) {
    *D = 1;
    *X = E + 1;
  } else {
    *D = (uint64_t)q;
    *X = E;
  }
  return 1;
}

/*
 * float8Text (convert.ts) for the layout PostgreSQL and JavaScript share,
 * 1e-4 <= |v| < 1e15: the fewest significant digits that read back as v (the
 * closest such decimal, ties to even: ECMAScript's Number::toString), written
 * without an exponent. Exact integer arithmetic: v = m / 2^k with k in 3..66
 * here, so m * 10^s fits in 128 bits. Returns -1 for any other value (the
 * exponent layouts, where convert.ts corrects JavaScript's digits on rounding
 * boundaries).
 */
static int put_double(Buf *b, double v) {
  if (v == 0) {
    if (signbit(v)) buf_put(b, "-0", 2);
    else buf_byte(b, '0');
    return 0;
  }
  double a = fabs(v);
  if (!(a >= 1e-4 && a < 1e15)) return -1;
  uint64_t bits;
  memcpy(&bits, &a, 8);
  uint64_t fraction = bits & ((1ULL << 52) - 1);
  uint64_t m = fraction | (1ULL << 52);
  int k = 1075 - (int)(bits >> 52);
  if (k < 1 || k > 70) return -1;
  int lower_gap_half = fraction == 0;
  /* E = floor(log10(a)), log10's estimate checked exactly: a / 10^E in [1, 10). */
  int E = (int)floor(log10(a));
  for (int tries = 0; tries < 3; tries++) {
    int s = -E;
    u128 num = (u128)m * (s > 0 ? POW10[s] : 1);
    u128 q = num >> k;
    if (s < 0) q /= (uint64_t)POW10[-s];
    if (q >= 10) E++;
    else if (q == 0) E--;
    else break;
  }
  uint64_t D;
  int X;
  /* Most stored doubles need 16 or 17 digits: try 15 first, and count up from 1 only if it reads back. */
  if (closest(m, k, lower_gap_half, E, 15, &D, &X)) {
    for (int p = 1; p < 15; p++)
      if (closest(m, k, lower_gap_half, E, p, &D, &X)) break;
  } else if (!closest(m, k, lower_gap_half, E, 16, &D, &X) && !closest(m, k, lower_gap_half, E, 17, &D, &X)) {
    return -1;
  }
  char digits[24];
  int nd = snprintf(digits, sizeof digits, "%llu", (unsigned long long)D);
  while (nd > 1 && digits[nd - 1] == '0') nd--;
  char out[48];
  int o = 0;
  if (v < 0) out[o++] = '-';
  if (X < 0) {
    out[o++] = '0';
    out[o++] = '.';
    for (int z = 0; z < -X - 1; z++) out[o++] = '0';
    for (int d = 0; d < nd; d++) out[o++] = digits[d];
  } else {
    for (int d = 0; d <= X; d++) out[o++] = d < nd ? digits[d] : '0';
    if (nd > X + 1) {
      out[o++] = '.';
      for (int d = X + 1; d < nd; d++) out[o++] = digits[d];
    }
  }
  buf_put(b, out, (size_t)o);
  return 0;
}

static inline int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static const int DAYS[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

/* convert.ts dateConverter on exactly 'YYYY-MM-DD' (a valid date): written as it is. */
static int check_date(const unsigned char *s, size_t n) {
  if (n != 10 || s[4] != '-' || s[7] != '-') return -1;
  static const int at[] = {0, 1, 2, 3, 5, 6, 8, 9};
  for (int k = 0; k < 8; k++)
    if (!is_digit(s[at[k]])) return -1;
  int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
  int mo = (s[5] - '0') * 10 + (s[6] - '0'), d = (s[8] - '0') * 10 + (s[9] - '0');
  int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (y < 1 || mo < 1 || mo > 12) return -1;
  int dim = mo == 2 && leap ? 29 : DAYS[mo - 1];
  return d < 1 || d > dim ? -1 : 0;
}

/* convert.ts canonicalTimestamp: 'YYYY-MM-DD HH:MM:SS[.f{1,6}]', checked; the length to write (trailing zeros of the fraction dropped), or -1. */
static int timestamp_length(const unsigned char *s, size_t n) {
  if (n < 19 || n == 20 || n > 26 || check_date(s, 10)) return -1;
  if (s[10] != ' ' || s[13] != ':' || s[16] != ':') return -1;
  static const int at[] = {11, 12, 14, 15, 17, 18};
  for (int k = 0; k < 6; k++)
    if (!is_digit(s[at[k]])) return -1;
  if ((s[11] - '0') * 10 + (s[12] - '0') > 23 || (s[14] - '0') * 10 + (s[15] - '0') > 59 || (s[17] - '0') * 10 + (s[18] - '0') > 59) return -1;
  if (n == 19) return 19;
  if (s[19] != '.') return -1;
  for (size_t k = 20; k < n; k++)
    if (!is_digit(s[k])) return -1;
  size_t end = n;
  while (s[end - 1] == '0') end--;
  if (s[end - 1] == '.') end--;
  return (int)end;
}

/* convert.ts timeConverter on exactly 'HH:MM:SS[.f{1,6}]': the length to write (trailing zeros of the fraction dropped), or -1. */
static int time_length(const unsigned char *s, size_t n) {
  if (n < 8 || n == 9 || n > 15 || s[2] != ':' || s[5] != ':') return -1;
  static const int at[] = {0, 1, 3, 4, 6, 7};
  for (int k = 0; k < 6; k++)
    if (!is_digit(s[at[k]])) return -1;
  if ((s[0] - '0') * 10 + (s[1] - '0') > 23 || (s[3] - '0') * 10 + (s[4] - '0') > 59 || (s[6] - '0') * 10 + (s[7] - '0') > 59) return -1;
  if (n == 8) return 8;
  if (s[8] != '.') return -1;
  for (size_t k = 9; k < n; k++)
    if (!is_digit(s[k])) return -1;
  size_t end = n;
  while (s[end - 1] == '0') end--;
  if (s[end - 1] == '.') end--;
  return (int)end;
}

static const char HEX[] = "0123456789abcdef";

static inline int hex_value(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* convert.ts uuidConverter on the 8-4-4-4-12 layout (any case), or a 16-byte BLOB: the 16 bytes, or -1. */
static int uuid_bytes(sqlite3_value *v, unsigned char out[16]) {
  int type = sqlite3_value_type(v);
  if (type == SQLITE_BLOB) {
    if (sqlite3_value_bytes(v) != 16) return -1;
    memcpy(out, sqlite3_value_blob(v), 16);
    return 0;
  }
  if (type != SQLITE_TEXT || sqlite3_value_bytes(v) != 36) return -1;
  const unsigned char *s = sqlite3_value_text(v);
  int o = 0;
  for (int i = 0; i < 36;) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return -1;
      i++;
      continue;
    }
    int hi = hex_value(s[i]), lo = hex_value(s[i + 1]);
    if (hi < 0 || lo < 0) return -1;
    out[o++] = (unsigned char)(hi << 4 | lo);
    i += 2;
  }
  return 0;
}

static void put_hex(Buf *b, const unsigned char *p, size_t n) {
  buf_put(b, "\\\\x", 3);
  if (buf_reserve(b, n * 2)) return;
  unsigned char *o = b->p + b->len;
  for (size_t i = 0; i < n; i++) {
    o[2 * i] = (unsigned char)HEX[p[i] >> 4];
    o[2 * i + 1] = (unsigned char)HEX[p[i] & 15];
  }
  b->len += n * 2;
}

/* ---- what both forms check: -1 wherever convert.ts does something C does not repeat ---- */

static int integer_of(const Column *c, int type, sqlite3_value *v, int64_t *x) {
  if (type != SQLITE_INTEGER) return -1;
  *x = sqlite3_value_int64(v);
  if (c->kind == K_SMALLINT && (*x < -32768 || *x > 32767)) return -1;
  if (c->kind == K_INTEGER && (*x < -2147483648LL || *x > 2147483647LL)) return -1;
  return 0;
}

static int boolean_of(int type, sqlite3_value *v, int *x) {
  if (type != SQLITE_INTEGER) return -1;
  int64_t i = sqlite3_value_int64(v);
  if (i != 0 && i != 1) return -1;
  *x = (int)i;
  return 0;
}

/* An integer JavaScript holds exactly (better-sqlite3 hands integers to convert.ts as numbers). */
static int safe_integer_of(int type, sqlite3_value *v, int64_t *x) {
  if (type != SQLITE_INTEGER) return -1;
  *x = sqlite3_value_int64(v);
  return *x < -SAFE_INT || *x > SAFE_INT ? -1 : 0;
}

static int double_of(int type, sqlite3_value *v, double *d) {
  int64_t x;
  if (type == SQLITE_FLOAT) *d = sqlite3_value_double(v);
  else if (safe_integer_of(type, v, &x)) return -1;
  else *d = (double)x;
  return 0;
}

/* TEXT that is valid UTF-8 without NUL: its bytes, and its length in code points. */
static int utf8_text_of(int type, sqlite3_value *v, const unsigned char **p, size_t *n, int64_t *chars) {
  if (type != SQLITE_TEXT) return -1;
  *p = sqlite3_value_text(v);
  *n = (size_t)sqlite3_value_bytes(v);
  *chars = utf8_chars(*p, *n);
  return *chars < 0 ? -1 : 0;
}

/* A text or varchar value: 1 for an integer in *x (written as its digits), 0 for checked text in *p, *n. */
static int text_of(const Column *c, int type, sqlite3_value *v, int64_t *x, const unsigned char **p, size_t *n) {
  int64_t chars;
  int integer = type == SQLITE_INTEGER;
  if (integer) {
    if (safe_integer_of(type, v, x)) return -1;
    uint64_t u = *x < 0 ? (uint64_t)(-*x) : (uint64_t)*x;
    chars = *x < 0;
    do chars++;
    while (u /= 10);
  } else if (utf8_text_of(type, v, p, n, &chars)) {
    return -1;
  }
  if (c->kind == K_VARCHAR && chars > c->length) return -1;
  return integer;
}

/* bytea from a BLOB, or from text as its UTF-8 bytes. */
static int bytes_of(int type, sqlite3_value *v, const unsigned char **p, size_t *n) {
  int64_t chars;
  if (type != SQLITE_BLOB) return utf8_text_of(type, v, p, n, &chars);
  *p = (const unsigned char *)sqlite3_value_blob(v);
  *n = (size_t)sqlite3_value_bytes(v);
  return 0;
}

/* One value as convert.ts writes it; -1 leaves it to JavaScript. */
static int put_value(Buf *b, const Column *c, sqlite3_value *v) {
  int type = sqlite3_value_type(v);
  if (type == SQLITE_NULL) {
    buf_put(b, "\\N", 2);
    return 0;
  }
  int64_t x;
  int flag;
  double d;
  const unsigned char *p;
  size_t n;
  int len;
  switch (c->kind) {
    case K_SMALLINT:
    case K_INTEGER:
    case K_BIGINT:
      if (integer_of(c, type, v, &x)) return -1;
      put_int(b, x);
      return 0;
    case K_BOOLEAN:
      if (boolean_of(type, v, &flag)) return -1;
      buf_byte(b, flag ? 't' : 'f');
      return 0;
    case K_DOUBLE:
      return double_of(type, v, &d) ? -1 : put_double(b, d);
    case K_TEXT:
    case K_VARCHAR:
      flag = text_of(c, type, v, &x, &p, &n);
      if (flag < 0) return -1;
      if (flag) put_int(b, x);
      else put_escaped(b, p, n);
      return 0;
    case K_TIMESTAMP:
    case K_TIMESTAMPTZ:
      if (type != SQLITE_TEXT) return -1;
      p = sqlite3_value_text(v);
      len = timestamp_length(p, (size_t)sqlite3_value_bytes(v));
      if (len < 0) return -1;
      buf_put(b, p, (size_t)len);
      if (c->kind == K_TIMESTAMPTZ) buf_put(b, "+00", 3);
      return 0;
    case K_DATE:
      if (type != SQLITE_TEXT) return -1;
      p = sqlite3_value_text(v);
      if (check_date(p, (size_t)sqlite3_value_bytes(v))) return -1;
      buf_put(b, p, 10);
      return 0;
    case K_TIME:
      if (type != SQLITE_TEXT) return -1;
      p = sqlite3_value_text(v);
      len = time_length(p, (size_t)sqlite3_value_bytes(v));
      if (len < 0) return -1;
      buf_put(b, p, (size_t)len);
      return 0;
    case K_UUID: {
      unsigned char u[16];
      if (uuid_bytes(v, u)) return -1;
      char t[36];
      int o = 0;
      for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) t[o++] = '-';
        t[o++] = HEX[u[i] >> 4];
        t[o++] = HEX[u[i] & 15];
      }
      buf_put(b, t, 36);
      return 0;
    }
    case K_JSONB: {
      int64_t chars;
      if (type == SQLITE_INTEGER) {
        if (safe_integer_of(type, v, &x)) return -1;
        put_int(b, x);
        return 0;
      }
      if (utf8_text_of(type, v, &p, &n, &chars)) return -1;
      return jsonb_copy_text(p, n, b);
    }
    case K_BYTEA:
      if (bytes_of(type, v, &p, &n)) return -1;
      put_hex(b, p, n);
      return 0;
  }
  return -1;
}

/* ---- binary tuples ---- */

static inline void put_be(Buf *b, uint64_t v, int bytes) {
  if (buf_reserve(b, (size_t)bytes)) return;
  for (int i = bytes - 1; i >= 0; i--) b->p[b->len++] = (unsigned char)(v >> (8 * i));
}

/* Days from 1970-01-01 to a civil date (proleptic Gregorian), Howard Hinnant's algorithm. */
static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

/* A length-prefixed field: 4 bytes reserved for the length, filled in by end_field. */
static inline size_t begin_field(Buf *b) {
  put_be(b, 0, 4);
  return b->len;
}

static inline void end_field(Buf *b, size_t start) {
  if (b->oom) return;
  uint32_t n = (uint32_t)(b->len - start);
  unsigned char *p = b->p + start - 4;
  p[0] = (unsigned char)(n >> 24);
  p[1] = (unsigned char)(n >> 16);
  p[2] = (unsigned char)(n >> 8);
  p[3] = (unsigned char)n;
}

/* One value as a binary COPY field, under the same conditions as put_value; -1 leaves it to JavaScript. */
static int put_binary(Buf *b, const Column *c, sqlite3_value *v) {
  int type = sqlite3_value_type(v);
  if (type == SQLITE_NULL) {
    put_be(b, 0xffffffffu, 4);
    return 0;
  }
  int64_t x;
  int flag;
  double d;
  const unsigned char *p;
  size_t n;
  switch (c->kind) {
    case K_SMALLINT:
    case K_INTEGER:
    case K_BIGINT: {
      if (integer_of(c, type, v, &x)) return -1;
      int bytes = c->kind == K_SMALLINT ? 2 : c->kind == K_INTEGER ? 4 : 8;
      put_be(b, (uint64_t)bytes, 4);
      put_be(b, (uint64_t)x, bytes);
      return 0;
    }
    case K_BOOLEAN:
      if (boolean_of(type, v, &flag)) return -1;
      put_be(b, 1, 4);
      buf_byte(b, (unsigned char)flag);
      return 0;
    case K_DOUBLE: {
      if (double_of(type, v, &d)) return -1;
      uint64_t bits;
      memcpy(&bits, &d, 8);
      put_be(b, 8, 4);
      put_be(b, bits, 8);
      return 0;
    }
    case K_TEXT:
    case K_VARCHAR: {
      flag = text_of(c, type, v, &x, &p, &n);
      if (flag < 0) return -1;
      size_t start = begin_field(b);
      if (flag) put_int(b, x);
      else buf_put(b, p, n);
      end_field(b, start);
      return 0;
    }
    case K_TIMESTAMP:
    case K_TIMESTAMPTZ: {
      if (type != SQLITE_TEXT) return -1;
      const unsigned char *s = sqlite3_value_text(v);
      n = (size_t)sqlite3_value_bytes(v);
      if (timestamp_length(s, n) < 0) return -1;
#define NUM(i, w) ({ int64_t r_ = 0; for (int j_ = 0; j_ < (w); j_++) r_ = r_ * 10 + (s[(i) + j_] - '0'); r_; })
      int64_t days = days_from_civil(NUM(0, 4), (int)NUM(5, 2), (int)NUM(8, 2)) - 10957; /* PostgreSQL counts from 2000-01-01 */
      int64_t us = ((days * 24 + NUM(11, 2)) * 60 + NUM(14, 2)) * 60 + NUM(17, 2);
      us *= 1000000;
      int64_t frac = 0;
      for (size_t k = 0; k < 6; k++) frac = frac * 10 + (20 + k < n ? s[20 + k] - '0' : 0);
#undef NUM
      put_be(b, 8, 4);
      put_be(b, (uint64_t)(us + frac), 8);
      return 0;
    }
    case K_DATE: {
      if (type != SQLITE_TEXT) return -1;
      const unsigned char *s = sqlite3_value_text(v);
      if (check_date(s, (size_t)sqlite3_value_bytes(v))) return -1;
      int64_t days = days_from_civil((s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0'), (s[5] - '0') * 10 + (s[6] - '0'), (s[8] - '0') * 10 + (s[9] - '0')) - 10957;
      put_be(b, 4, 4);
      put_be(b, (uint64_t)days, 4);
      return 0;
    }
    case K_TIME: {
      if (type != SQLITE_TEXT) return -1;
      const unsigned char *s = sqlite3_value_text(v);
      size_t n = (size_t)sqlite3_value_bytes(v);
      if (time_length(s, n) < 0) return -1;
      int64_t us = (((s[0] - '0') * 10 + (s[1] - '0')) * 3600LL + ((s[3] - '0') * 10 + (s[4] - '0')) * 60LL + (s[6] - '0') * 10 + (s[7] - '0')) * 1000000LL;
      int64_t frac = 0;
      for (size_t k = 0; k < 6; k++) frac = frac * 10 + (9 + k < n ? s[9 + k] - '0' : 0);
      put_be(b, 8, 4);
      put_be(b, (uint64_t)(us + frac), 8);
      return 0;
    }
    case K_UUID: {
      unsigned char u[16];
      if (uuid_bytes(v, u)) return -1;
      put_be(b, 16, 4);
      buf_put(b, u, 16);
      return 0;
    }
    case K_JSONB: {
      size_t start = begin_field(b);
      buf_byte(b, 1); /* jsonb's binary format version */
      size_t text = b->len;
      if (put_value(b, c, v)) return -1;
      /* COPY text doubled every backslash (jsonb text has no other escapes of COPY's); binary fields are not escaped. */
      if (!b->oom) {
        size_t w = text;
        for (size_t r = text; r < b->len; r++) {
          b->p[w++] = b->p[r];
          if (b->p[r] == '\\') r++;
        }
        b->len = w;
      }
      end_field(b, start);
      return 0;
    }
    case K_BYTEA:
      if (bytes_of(type, v, &p, &n)) return -1;
      put_be(b, n, 4);
      buf_put(b, p, n);
      return 0;
  }
  return -1;
}

static void step_rows(sqlite3_context *ctx, int argc, sqlite3_value **argv, int binary) {
  State *s = (State *)sqlite3_aggregate_context(ctx, sizeof(State));
  if (!s) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  if (s->bail) return;
  if (!s->cols) {
    int r = parse_spec(s, (const char *)sqlite3_value_text(argv[0]), argc - 1);
    if (r == -1) {
      sqlite3_result_error_nomem(ctx);
      return;
    }
    if (r == -2) {
      sqlite3_result_error(ctx, "pgshift_copy_text: the spec does not match the columns", -1);
      return;
    }
  }
  Buf *b = &s->out;
  if (binary) {
    put_be(b, (uint64_t)s->ncols, 2);
    for (int i = 0; i < s->ncols; i++) {
      if (put_binary(b, &s->cols[i], argv[i + 1])) {
        s->bail = 1;
        return;
      }
    }
  } else {
    for (int i = 0; i < s->ncols; i++) {
      if (i > 0) buf_byte(b, '\t');
      if (put_value(b, &s->cols[i], argv[i + 1])) {
        s->bail = 1;
        return;
      }
    }
    buf_byte(b, '\n');
  }
  if (b->oom) sqlite3_result_error_nomem(ctx);
}

static void step(sqlite3_context *ctx, int argc, sqlite3_value **argv) { step_rows(ctx, argc, argv, 0); }
static void step_binary(sqlite3_context *ctx, int argc, sqlite3_value **argv) { step_rows(ctx, argc, argv, 1); }

static void final(sqlite3_context *ctx) {
  State *s = (State *)sqlite3_aggregate_context(ctx, 0);
  if (!s) {
    sqlite3_result_zeroblob(ctx, 0);
    return;
  }
  sqlite3_free(s->cols);
  if (s->out.oom) {
    sqlite3_free(s->out.p);
    sqlite3_result_error_nomem(ctx);
  } else if (s->bail) {
    sqlite3_free(s->out.p);
    sqlite3_result_null(ctx);
  } else if (s->out.len == 0) {
    sqlite3_free(s->out.p);
    sqlite3_result_zeroblob(ctx, 0);
  } else {
    sqlite3_result_blob64(ctx, s->out.p, (sqlite3_uint64)s->out.len, sqlite3_free);
  }
}

/* pgshift_copy_field(spec, value): one value's COPY text field, or NULL where the aggregate would leave it to JavaScript (tests compare it with convert.ts). */
static void field(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  State s;
  memset(&s, 0, sizeof s);
  int r = parse_spec(&s, (const char *)sqlite3_value_text(argv[0]), 1);
  if (r) {
    sqlite3_free(s.cols);
    if (r == -1) sqlite3_result_error_nomem(ctx);
    else sqlite3_result_error(ctx, "pgshift_copy_field: bad spec", -1);
    return;
  }
  int bail = put_value(&s.out, &s.cols[0], argv[1]);
  sqlite3_free(s.cols);
  if (s.out.oom) {
    sqlite3_free(s.out.p);
    sqlite3_result_error_nomem(ctx);
  } else if (bail) {
    sqlite3_free(s.out.p);
    sqlite3_result_null(ctx);
  } else {
    sqlite3_result_text64(ctx, s.out.p ? (const char *)s.out.p : "", (sqlite3_uint64)s.out.len, s.out.p ? sqlite3_free : SQLITE_TRANSIENT, SQLITE_UTF8);
  }
}

#ifdef _WIN32
__declspec(dllexport)
#endif
int sqlite3_copytext_init(sqlite3 *db, char **err, const sqlite3_api_routines *api) {
  (void)err;
  SQLITE_EXTENSION_INIT2(api);
  init_pow10();
  int rc = sqlite3_create_function(db, "pgshift_copy_text", -1, SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY, 0, 0, step, final);
  if (rc == SQLITE_OK) rc = sqlite3_create_function(db, "pgshift_copy_binary", -1, SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY, 0, 0, step_binary, final);
  if (rc == SQLITE_OK) rc = sqlite3_create_function(db, "pgshift_copy_field", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY, 0, field, 0, 0);
  return rc;
}
