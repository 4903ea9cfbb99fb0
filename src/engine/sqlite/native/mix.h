/*
 * MurmurHash3's 64-bit mixing, shared by the range digests (range-digests.c)
 * and the file fingerprint (fingerprint.c). It finds accidental changes, not
 * adversarial ones.
 */
#ifndef PGSHIFT_MIX_H
#define PGSHIFT_MIX_H
#include <stdint.h>

static inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static inline uint64_t fmix(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

static const uint64_t C1 = 0x87c37b91114253d5ULL, C2 = 0x4cf5ad432745937fULL;

static inline uint64_t mix_word(uint64_t h, uint64_t k) {
  k *= C1;
  k = rotl(k, 31);
  k *= C2;
  h ^= k;
  return rotl(h, 27) * 5 + 0x52dce729;
}

#endif
