/*
 * jsonb_copy_text(in, n, out): the jsonb text form of the JSON text in[0..n)
 * (jsonb-text.ts jsonbText), COPY-escaped (convert.ts escapeCopy), appended to
 * out. `in` is valid UTF-8 without NUL bytes (the caller checked). Returns 0,
 * or -1 to leave the value to JavaScript (out may then hold a partial value;
 * the caller drops the whole result).
 *
 * One pass writes the final bytes straight into out: jsonb's escapes with
 * their backslash already doubled for COPY. An object's members are written
 * in input order and, when that is not jsonb's order, moved into it once the
 * object closes (the sorted copy goes past out's end, then back in place), so
 * a value costs no allocation unless it has very many keys or escaped keys.
 *
 * Left to JavaScript: anything jsonbText refuses (invalid JSON, \u0000, lone
 * surrogates, an exponent beyond JT_MAX_EXPONENT), a number PostgreSQL's
 * numeric cannot hold, and nesting deeper than JT_MAX_DEPTH, which bounds the
 * C stack this recursive parser uses.
 */
#define JT_MAX_DEPTH 256
#define JT_LOCAL_MEMBERS 128
#define JT_LOCAL_KEYS 1024
#define JT_INSERTION_SORT 16

typedef struct {
  const unsigned char *key; /* the decoded key, set when its object closes */
  size_t koff, klen;        /* the decoded key: at in + koff, or at keys + koff if scratch */
  size_t start, end;        /* the member's `"key": value` in out */
  size_t idx;               /* position in its object (a duplicate key is left to JavaScript, which refuses it) */
  int scratch;
} JtMember;

typedef struct {
  const unsigned char *in;
  size_t n, i;
  Buf *out;
  int depth;
  /* members of the objects being parsed, innermost last */
  JtMember *m;
  size_t nm, mcap;
  /* keys that held escapes, decoded (plain keys are read from in) */
  unsigned char *keys;
  size_t klen, kcap;
  JtMember mlocal[JT_LOCAL_MEMBERS];
  unsigned char klocal[JT_LOCAL_KEYS];
} Jt;

static int jt_value(Jt *p);

/* Unchecked writes: jsonb_copy_text reserved room for all the output up front. */
static inline void jt_put(Buf *b, const void *s, size_t n) {
  memcpy(b->p + b->len, s, n);
  b->len += n;
}

static inline void jt_byte(Buf *b, unsigned char c) { b->p[b->len++] = c; }

static const char JT_HEX[] = "0123456789abcdef";
static inline int jt_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static inline void jt_skip(Jt *p) {
  while (p->i < p->n) {
    unsigned char c = p->in[p->i];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
    p->i++;
  }
}

/* Room for `extra` more bytes of decoded keys; -1 on out of memory. */
static int jt_keys_reserve(Jt *p, size_t extra) {
  if (p->klen + extra <= p->kcap) return 0;
  size_t cap = p->kcap * 2;
  while (cap < p->klen + extra) cap *= 2;
  unsigned char *k = (unsigned char *)sqlite3_malloc64(cap);
  if (!k) return -1;
  memcpy(k, p->keys, p->klen);
  if (p->keys != p->klocal) sqlite3_free(p->keys);
  p->keys = k;
  p->kcap = cap;
  return 0;
}

/* A new member's slot, taken before its value is parsed (the value's own objects stack theirs above it); SIZE_MAX on out of memory. */
static size_t jt_slot(Jt *p) {
  if (p->nm == p->mcap) {
    size_t cap = p->mcap * 2;
    JtMember *a = (JtMember *)sqlite3_malloc64(cap * sizeof(JtMember));
    if (!a) return SIZE_MAX;
    memcpy(a, p->m, p->nm * sizeof(JtMember));
    if (p->m != p->mlocal) sqlite3_free(p->m);
    p->m = a;
    p->mcap = cap;
  }
  return p->nm++;
}

static int jt_hex4(const unsigned char *s) {
  int v = 0;
  for (int k = 0; k < 4; k++) {
    unsigned char c = s[k];
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return -1;
    v = v * 16 + d;
  }
  return v;
}

/*
 * in[i] is the opening quote. Writes the string as jsonb_out quotes it,
 * COPY-escaped, and moves past the closing quote. For a key (m not NULL) also
 * records where its decoded bytes are: a range of in when it held no escape,
 * else a copy decoded into p->keys.
 */
static int jt_string(Jt *p, JtMember *m) {
  const unsigned char *in = p->in;
  size_t i = p->i + 1, run = i;
  int decoding = 0; /* the key's decoded bytes go to p->keys */
  size_t kstart = p->klen;
  Buf *o = p->out;
  jt_byte(o, '"');
  for (;;) {
    if (i >= p->n) return -1;
    unsigned char c = in[i];
    if (c >= 0x20 && c != '"' && c != '\\') {
      i++;
      continue;
    }
    /* the plain run before c */
    jt_put(o, in + run, i - run);
    if (decoding) {
      if (jt_keys_reserve(p, i - run)) return -1;
      memcpy(p->keys + p->klen, in + run, i - run);
      p->klen += i - run;
    }
    if (c == '"') {
      i++;
      break;
    }
    if (c < 0x20) return -1; /* jsonbText: a control character must be escaped */
    /* an escape: decode it to at most 4 bytes of UTF-8 and write it */
    if (m && !decoding) {
      decoding = 1;
      size_t before = i - (p->i + 1);
      if (jt_keys_reserve(p, before)) return -1;
      memcpy(p->keys + p->klen, in + p->i + 1, before);
      p->klen += before;
    }
    if (i + 1 >= p->n) return -1;
    unsigned char d[4];
    size_t nd = 1;
    unsigned char e = in[i + 1];
    i += 2;
    switch (e) {
      case '"': d[0] = '"'; jt_put(o, "\\\\\"", 3); break;
      case '\\': d[0] = '\\'; jt_put(o, "\\\\\\\\", 4); break;
      case '/': d[0] = '/'; jt_byte(o, '/'); break;
      case 'b': d[0] = '\b'; jt_put(o, "\\\\b", 3); break;
      case 'f': d[0] = '\f'; jt_put(o, "\\\\f", 3); break;
      case 'n': d[0] = '\n'; jt_put(o, "\\\\n", 3); break;
      case 'r': d[0] = '\r'; jt_put(o, "\\\\r", 3); break;
      case 't': d[0] = '\t'; jt_put(o, "\\\\t", 3); break;
      case 'u': {
        if (i + 4 > p->n) return -1;
        long cp = jt_hex4(in + i);
        i += 4;
        if (cp <= 0) return -1; /* not hex, or \u0000 */
        if (cp >= 0xdc00 && cp <= 0xdfff) return -1; /* a lone low surrogate */
        if (cp >= 0xd800 && cp <= 0xdbff) {
          if (i + 6 > p->n || in[i] != '\\' || in[i + 1] != 'u') return -1;
          int lo = jt_hex4(in + i + 2);
          if (lo < 0xdc00 || lo > 0xdfff) return -1;
          i += 6;
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        }
        if (cp < 0x20) {
          d[0] = (unsigned char)cp;
          switch (cp) {
            case '\b': jt_put(o, "\\\\b", 3); break;
            case '\f': jt_put(o, "\\\\f", 3); break;
            case '\n': jt_put(o, "\\\\n", 3); break;
            case '\r': jt_put(o, "\\\\r", 3); break;
            case '\t': jt_put(o, "\\\\t", 3); break;
            default: {
              unsigned char u[7] = {'\\', '\\', 'u', '0', '0', (unsigned char)JT_HEX[cp >> 4], (unsigned char)JT_HEX[cp & 15]};
              jt_put(o, u, 7);
            }
          }
          break;
        }
        if (cp < 0x80) {
          d[0] = (unsigned char)cp;
          if (cp == '"') jt_put(o, "\\\\\"", 3);
          else if (cp == '\\') jt_put(o, "\\\\\\\\", 4);
          else jt_byte(o, d[0]);
          break;
        }
        if (cp < 0x800) {
          d[0] = (unsigned char)(0xc0 | (cp >> 6));
          d[1] = (unsigned char)(0x80 | (cp & 0x3f));
          nd = 2;
        } else if (cp < 0x10000) {
          d[0] = (unsigned char)(0xe0 | (cp >> 12));
          d[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
          d[2] = (unsigned char)(0x80 | (cp & 0x3f));
          nd = 3;
        } else {
          d[0] = (unsigned char)(0xf0 | (cp >> 18));
          d[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
          d[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
          d[3] = (unsigned char)(0x80 | (cp & 0x3f));
          nd = 4;
        }
        jt_put(o, d, nd);
        break;
      }
      default:
        return -1; /* an invalid escape */
    }
    if (decoding) {
      if (jt_keys_reserve(p, nd)) return -1;
      memcpy(p->keys + p->klen, d, nd);
      p->klen += nd;
    }
    run = i;
  }
  jt_byte(o, '"');
  if (m) {
    m->scratch = decoding;
    if (decoding) {
      m->koff = kstart;
      m->klen = p->klen - kstart;
    } else {
      m->koff = p->i + 1;
      m->klen = i - 1 - (p->i + 1);
    }
  }
  p->i = i;
  return 0;
}

/* jsonb's key order: shorter first, then bytewise; of equal keys the later first (it is the one kept). */
static int jt_cmp(const void *a, const void *b) {
  const JtMember *x = (const JtMember *)a, *y = (const JtMember *)b;
  if (x->klen != y->klen) return x->klen < y->klen ? -1 : 1;
  int d = memcmp(x->key, y->key, x->klen);
  if (d) return d;
  return x->idx > y->idx ? -1 : x->idx < y->idx ? 1 : 0;
}

static inline int jt_same_key(const JtMember *x, const JtMember *y) {
  return x->klen == y->klen && memcmp(x->key, y->key, x->klen) == 0;
}

/* The members m[0..count) were written in input order from m[0].start to out's end: put them in jsonb's order. */
static int jt_order(Jt *p, JtMember *m, size_t count) {
  for (size_t k = 0; k < count; k++) m[k].key = m[k].scratch ? p->keys + m[k].koff : p->in + m[k].koff;
  size_t k = 1;
  while (k < count && jt_cmp(&m[k - 1], &m[k]) < 0) k++; /* equal keys compare > 0 in input order */
  if (k == count) return 0; /* already in order, no duplicates */
  size_t from = m[0].start; /* the members' text, before sorting moves m[0] */
  if (count <= JT_INSERTION_SORT) {
    for (size_t a = 1; a < count; a++) {
      JtMember t = m[a];
      size_t b = a;
      while (b > 0 && jt_cmp(&m[b - 1], &t) > 0) {
        m[b] = m[b - 1];
        b--;
      }
      m[b] = t;
    }
  } else {
    qsort(m, count, sizeof(JtMember), jt_cmp);
  }
  /* A duplicate key: jsonb would keep only the last value; JavaScript refuses it, naming the row. */
  for (size_t a = 1; a < count; a++)
    if (jt_same_key(&m[a - 1], &m[a])) return -1;
  Buf *o = p->out;
  size_t size = o->len - from;
  /* The sorted text is never longer than the unsorted: it is built past the end, then moved back. */
  if (buf_reserve(o, size)) return -1;
  unsigned char *dst = o->p + o->len, *w = dst;
  for (size_t a = 0; a < count; a++) {
    if (w != dst) {
      memcpy(w, ", ", 2);
      w += 2;
    }
    memcpy(w, o->p + m[a].start, m[a].end - m[a].start);
    w += m[a].end - m[a].start;
  }
  memmove(o->p + from, dst, (size_t)(w - dst));
  o->len = from + (size_t)(w - dst);
  return 0;
}

static int jt_object(Jt *p) {
  p->i++;
  jt_skip(p);
  if (p->i < p->n && p->in[p->i] == '}') {
    p->i++;
    jt_put(p->out, "{}", 2);
    return 0;
  }
  jt_byte(p->out, '{');
  size_t base = p->nm, keys = p->klen;
  for (size_t idx = 0;; idx++) {
    jt_skip(p);
    if (p->i >= p->n || p->in[p->i] != '"') return -1;
    size_t slot = jt_slot(p);
    if (slot == SIZE_MAX) return -1;
    p->m[slot].idx = idx;
    p->m[slot].start = p->out->len;
    if (jt_string(p, &p->m[slot])) return -1;
    jt_skip(p);
    if (p->i >= p->n || p->in[p->i] != ':') return -1;
    p->i++;
    jt_put(p->out, ": ", 2);
    if (jt_value(p)) return -1;
    p->m[slot].end = p->out->len; /* p->m may have moved */
    jt_skip(p);
    if (p->i >= p->n) return -1;
    unsigned char c = p->in[p->i++];
    if (c == '}') break;
    if (c != ',') return -1;
    jt_put(p->out, ", ", 2);
  }
  if (p->nm - base > 1 && jt_order(p, p->m + base, p->nm - base)) return -1;
  p->nm = base;
  p->klen = keys;
  jt_byte(p->out, '}');
  return 0;
}

static int jt_array(Jt *p) {
  p->i++;
  jt_skip(p);
  if (p->i < p->n && p->in[p->i] == ']') {
    p->i++;
    jt_put(p->out, "[]", 2);
    return 0;
  }
  jt_byte(p->out, '[');
  for (;;) {
    if (jt_value(p)) return -1;
    jt_skip(p);
    if (p->i >= p->n) return -1;
    unsigned char c = p->in[p->i++];
    if (c == ']') break;
    if (c != ',') return -1;
    jt_put(p->out, ", ", 2);
  }
  jt_byte(p->out, ']');
  return 0;
}

/* jsonb-text.ts numericText refuses exponents beyond this (numeric's own limits are near). */
#define JT_MAX_EXPONENT 100000
/* PostgreSQL's numeric holds no more digits than these (NUMERIC_DSCALE_MAX, and
 * NUMERIC_WEIGHT_MAX base-10000 digits); a number past them fails the COPY, so
 * it is left to JavaScript, whose refusal, if it refuses, names the row. */
#define JT_NUMERIC_MAX_SCALE 16383
#define JT_NUMERIC_MAX_INT_DIGITS 131072

/*
 * numericText with an exponent: the point moved by it, the scale kept
 * (fraction digits minus the exponent, at least 0), leading zeros dropped.
 * The digits are int[0..ni) then frac[0..nf); no digit is ever dropped, so the
 * value is a negative zero exactly when the mantissa was. Its length is not
 * bounded by the input's, so it reserves its own room (and keeps the room the
 * rest of the input needs).
 */
static int jt_exponent(Jt *p, int neg, const unsigned char *int_s, size_t ni, const unsigned char *frac_s, size_t nf, long exp, size_t rest) {
  size_t nd = ni + nf;
#define JT_DIGIT(k) ((k) < ni ? int_s[k] : frac_s[(k) - ni])
  long point = (long)ni + exp; /* where the point goes in the digits */
  size_t scale = exp < (long)nf ? (size_t)((long)nf - exp) : 0;
  /* the integer part: digits [0, point), past the digits padded with zeros */
  size_t int_len = point <= 0 ? 0 : (size_t)point;
  size_t lead = 0; /* leading zeros dropped, one kept when all are zeros */
  while (lead + 1 < int_len && (lead >= nd || JT_DIGIT(lead) == '0')) lead++;
  if (scale > JT_NUMERIC_MAX_SCALE || int_len - lead > JT_NUMERIC_MAX_INT_DIGITS) return -1;
  size_t len = (size_t)neg + (int_len ? int_len - lead : 1) + (scale ? 1 + scale : 0);
  Buf *o = p->out;
  if (buf_reserve(o, len + 2 * rest + 8)) return -1;
  if (neg) jt_byte(o, '-');
  if (!int_len) jt_byte(o, '0');
  for (size_t k = lead; k < int_len; k++) jt_byte(o, k < nd ? JT_DIGIT(k) : '0');
  if (scale) {
    jt_byte(o, '.');
    /* the fraction: digits [point, point + scale), zeros before the digits when point < 0 */
    for (long k = point; k < point + (long)scale; k++) jt_byte(o, k < 0 ? '0' : JT_DIGIT((size_t)k));
  }
#undef JT_DIGIT
  return 0;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][-+]?[0-9]+)? as numericText prints it: without an exponent as written but a negative zero without its sign. */
static int jt_number(Jt *p) {
  const unsigned char *in = p->in;
  size_t i = p->i, start = i;
  int neg = 0, nonzero = 0;
  if (in[i] == '-') {
    neg = 1;
    i++;
  }
  if (i >= p->n || !jt_digit(in[i])) return -1;
  size_t int_at = i;
  if (in[i] == '0') {
    i++;
  } else {
    nonzero = 1;
    while (i < p->n && jt_digit(in[i])) i++;
  }
  size_t int_end = i, frac_at = i;
  if (i < p->n && in[i] == '.') {
    frac_at = ++i;
    if (i >= p->n || !jt_digit(in[i])) return -1;
    for (; i < p->n && jt_digit(in[i]); i++)
      if (in[i] != '0') nonzero = 1;
  }
  size_t frac_end = i;
  if (neg && !nonzero) neg = 0, start++;
  if (i < p->n && (in[i] == 'e' || in[i] == 'E')) {
    i++;
    int eneg = 0;
    if (i < p->n && (in[i] == '+' || in[i] == '-')) eneg = in[i++] == '-';
    if (i >= p->n || !jt_digit(in[i])) return -1;
    long exp = 0;
    for (; i < p->n && jt_digit(in[i]); i++) {
      exp = exp * 10 + (in[i] - '0');
      if (exp > JT_MAX_EXPONENT) return -1;
    }
    p->i = i;
    return jt_exponent(p, neg, in + int_at, int_end - int_at, in + frac_at, frac_end - frac_at, eneg ? -exp : exp, p->n - i);
  }
  if (frac_end - frac_at > JT_NUMERIC_MAX_SCALE || int_end - int_at > JT_NUMERIC_MAX_INT_DIGITS) return -1;
  jt_put(p->out, in + start, i - start);
  p->i = i;
  return 0;
}

static int jt_literal(Jt *p, const char *word, size_t len) {
  if (p->n - p->i < len || memcmp(p->in + p->i, word, len) != 0) return -1;
  jt_put(p->out, word, len);
  p->i += len;
  return 0;
}

static int jt_value(Jt *p) {
  jt_skip(p);
  if (p->i >= p->n) return -1;
  switch (p->in[p->i]) {
    case '{':
    case '[': {
      if (++p->depth > JT_MAX_DEPTH) return -1;
      int r = p->in[p->i] == '{' ? jt_object(p) : jt_array(p);
      p->depth--;
      return r;
    }
    case '"': return jt_string(p, NULL);
    case 't': return jt_literal(p, "true", 4);
    case 'f': return jt_literal(p, "false", 5);
    case 'n': return jt_literal(p, "null", 4);
    default: return jt_number(p);
  }
}

static int jsonb_copy_text(const unsigned char *in, size_t n, Buf *out) {
  Jt p;
  p.in = in;
  p.n = n;
  p.i = 0;
  p.out = out;
  p.depth = 0;
  p.m = p.mlocal;
  p.nm = 0;
  p.mcap = JT_LOCAL_MEMBERS;
  p.keys = p.klocal;
  p.klen = 0;
  p.kcap = JT_LOCAL_KEYS;
  /* The output is at most twice the input: "," and ":" gain a space, an
   * escape of 2 input bytes writes at most 4 (\\ for \), one of 6 at most 7
   * (\\u0001), everything else shrinks or stays; ordering an object keeps its
   * length or shortens it. */
  if (buf_reserve(out, 2 * n + 8)) return -1;
  int r = jt_value(&p);
  if (r == 0) {
    jt_skip(&p);
    if (p.i < n) r = -1;
  }
  if (p.m != p.mlocal) sqlite3_free(p.m);
  if (p.keys != p.klocal) sqlite3_free(p.keys);
  return r;
}
