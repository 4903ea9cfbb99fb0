/*
 * jsonb_copy_text(in, n, out): the jsonb text form of the JSON text in[0..n)
 * (jsonb-text.ts jsonbText), COPY-escaped (convert.ts escapeCopy), appended to
 * out. `in` is valid UTF-8 without NUL bytes (the caller checked). Returns 0,
 * or -1 to leave the value to JavaScript (out may then hold a partial value;
 * the caller drops the whole result).
 */
static int jsonb_copy_text(const unsigned char *in, size_t n, Buf *out) {
  (void)in;
  (void)n;
  (void)out;
  return -1;
}
