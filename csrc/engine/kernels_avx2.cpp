// AVX2 block kernels (compiled with -mavx2 -mfma -mf16c -mbmi2; entered only after a CPUID check).
// vpermps only indexes 8 entries, so the 16-entry codebook is two ymm halves: permute both and
// pick with a blend on bit 3 of the code (shifted into the sign bit).
#include <immintrin.h>

#include <cstring>

#include "engine/layout.h"

namespace eie::engine {
namespace {

// The active columns are scattered through the entries, which a hardware prefetcher cannot
// guess: fetch the column kPrefetchCols ahead into L2 (measured: ~25% faster on 4096x9216;
// into L2 rather than L1, whose few miss buffers a deep prefetch would exhaust).
constexpr int64_t kPrefetchCols = 8;

inline void prefetch_column(const uint32_t* ptr, const uint16_t* ent, uint32_t c) {
  const char* p = reinterpret_cast<const char*>(ent + ptr[c]);
  const char* end = reinterpret_cast<const char*>(ent + ptr[c + 1]);
  for (int i = 0; i < 8 && p < end; ++i, p += 64) _mm_prefetch(p, _MM_HINT_T1);
}

// Sparse, batch 1. AVX2 has gathers but no scatters, so this is the scalar loop, unrolled by
// eight, on a stack copy of the scaled codebook. Rows inside one column are distinct, so the
// eight read-modify-writes are independent.
void sparse1(const BlockTask& t) {
  const Layout& L = *t.layout;
  const uint32_t* ptr = L.col_ptr.data() + t.block * (L.cols + 1);
  const uint16_t* ent = L.entries.data() + L.entry_base[t.block];
  float* acc = t.acc;
  const __m256 cb_lo = _mm256_load_ps(L.codebook), cb_hi = _mm256_load_ps(L.codebook + 8);
  alignas(32) float s[kCodebookSize];
  for (int64_t k = 0; k < t.nact; ++k) {
    const uint32_t c = t.act[k];
    if (k + kPrefetchCols < t.nact) prefetch_column(ptr, ent, t.act[k + kPrefetchCols]);
    const __m256 xv = _mm256_set1_ps(t.xt[c]);
    _mm256_store_ps(s, _mm256_mul_ps(cb_lo, xv));
    _mm256_store_ps(s + 8, _mm256_mul_ps(cb_hi, xv));
    uint32_t e = ptr[c];
    const uint32_t end = ptr[c + 1];
    for (; e + 8 <= end; e += 8) {
      // Eight entries from two 64-bit loads; decoded with shifts in general registers.
      uint64_t q0, q1;
      std::memcpy(&q0, ent + e, 8);
      std::memcpy(&q1, ent + e + 4, 8);
      const uint32_t r0 = q0 & 0xfff, r1 = (q0 >> 16) & 0xfff, r2 = (q0 >> 32) & 0xfff,
                     r3 = (q0 >> 48) & 0xfff;
      const uint32_t r4 = q1 & 0xfff, r5 = (q1 >> 16) & 0xfff, r6 = (q1 >> 32) & 0xfff,
                     r7 = (q1 >> 48) & 0xfff;
      const float v0 = acc[r0] + s[(q0 >> 12) & 15], v1 = acc[r1] + s[(q0 >> 28) & 15];
      const float v2 = acc[r2] + s[(q0 >> 44) & 15], v3 = acc[r3] + s[q0 >> 60];
      const float v4 = acc[r4] + s[(q1 >> 12) & 15], v5 = acc[r5] + s[(q1 >> 28) & 15];
      const float v6 = acc[r6] + s[(q1 >> 44) & 15], v7 = acc[r7] + s[q1 >> 60];
      acc[r0] = v0; acc[r1] = v1; acc[r2] = v2; acc[r3] = v3;
      acc[r4] = v4; acc[r5] = v5; acc[r6] = v6; acc[r7] = v7;
    }
    for (; e < end; ++e) {
      const uint16_t u = ent[e];
      acc[u & 0xfff] += s[u >> 12];
    }
  }
}

// Sparse, batch 2..16: accumulators (R, batch) row-major; two masked 8-lane halves per entry.
void sparse_batch(const BlockTask& t) {
  const Layout& L = *t.layout;
  const uint32_t* ptr = L.col_ptr.data() + t.block * (L.cols + 1);
  const uint16_t* ent = L.entries.data() + L.entry_base[t.block];
  const int64_t B = t.batch;
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(B)), lane);
  const __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(B) - 8), lane);
  const bool two = B > 8;
  for (int64_t k = 0; k < t.nact; ++k) {
    const uint32_t c = t.act[k];
    const float* xc = t.xt + c * B;
    const __m256 x0 = _mm256_maskload_ps(xc, m0);
    const __m256 x1 = two ? _mm256_maskload_ps(xc + 8, m1) : _mm256_setzero_ps();
    for (uint32_t e = ptr[c], end = ptr[c + 1]; e < end; ++e) {
      const uint16_t u = ent[e];
      float* a = t.acc + static_cast<int64_t>(u & 0xfff) * B;
      const __m256 w = _mm256_set1_ps(L.codebook[u >> 12]);
      _mm256_maskstore_ps(a, m0, _mm256_fmadd_ps(w, x0, _mm256_maskload_ps(a, m0)));
      if (two)
        _mm256_maskstore_ps(a + 8, m1, _mm256_fmadd_ps(w, x1, _mm256_maskload_ps(a + 8, m1)));
    }
  }
}

// Dense decode. vpermps reads only bits 0..2 of each index lane, so the codes need no masking:
// 8 bytes widened to dwords index rows 32g + i by their low nibble directly and rows 32g + 16 + i
// after a 4-bit shift; bit 3 of the code (bit 3 or bit 7 of the byte, shifted into the sign bit)
// picks between the two 8-entry halves of the table. Measured 25% faster than masking and
// widening each nibble separately.
inline __m256 pick(__m256i idx, __m256i sign_src, __m256 t_lo, __m256 t_hi) {
  return _mm256_blendv_ps(_mm256_permutevar8x32_ps(t_lo, idx), _mm256_permutevar8x32_ps(t_hi, idx),
                          _mm256_castsi256_ps(sign_src));
}

// One 16-byte group -> w[0..1] = rows 0..15, w[2..3] = rows 16..31.
inline void decode_group(const uint8_t* p, __m256 t_lo, __m256 t_hi, __m256 w[4]) {
  for (int h = 0; h < 2; ++h) {
    const __m256i d =
        _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + 8 * h)));
    w[h] = pick(d, _mm256_slli_epi32(d, 28), t_lo, t_hi);
    w[2 + h] = pick(_mm256_srli_epi32(d, 4), _mm256_slli_epi32(d, 24), t_lo, t_hi);
  }
}

// Dense, batch 1: two active columns at a time (accumulators loaded/stored once per pair).
void dense1(const BlockTask& t) {
  const Layout& L = *t.layout;
  const int64_t half = Layout::padded(L.block_rows(t.block)) / 2;
  const uint8_t* codes = L.codes.data() + L.code_base[t.block];
  float* acc = t.acc;
  const __m256 cb_lo = _mm256_load_ps(L.codebook), cb_hi = _mm256_load_ps(L.codebook + 8);
  const __m256 keep0 = _mm256_castsi256_ps(_mm256_setr_epi32(0, -1, -1, -1, -1, -1, -1, -1));
  int64_t k = 0;
  for (; k + 2 <= t.nact; k += 2) {
    const uint32_t c0 = t.act[k], c1 = t.act[k + 1];
    const __m256 x0 = _mm256_set1_ps(t.xt[c0]), x1 = _mm256_set1_ps(t.xt[c1]);
    const __m256 a_lo = _mm256_and_ps(_mm256_mul_ps(cb_lo, x0), keep0);
    const __m256 a_hi = _mm256_mul_ps(cb_hi, x0);
    const __m256 b_lo = _mm256_and_ps(_mm256_mul_ps(cb_lo, x1), keep0);
    const __m256 b_hi = _mm256_mul_ps(cb_hi, x1);
    const uint8_t *p0 = codes + c0 * half, *p1 = codes + c1 * half;
    for (int64_t g = 0; g < half; g += 16) {
      __m256 w0[4], w1[4];
      decode_group(p0 + g, a_lo, a_hi, w0);
      decode_group(p1 + g, b_lo, b_hi, w1);
      float* a = acc + 2 * g;
      for (int j = 0; j < 4; ++j)
        _mm256_store_ps(a + 8 * j,
                        _mm256_add_ps(_mm256_load_ps(a + 8 * j), _mm256_add_ps(w0[j], w1[j])));
    }
  }
  for (; k < t.nact; ++k) {
    const uint32_t c = t.act[k];
    const __m256 x0 = _mm256_set1_ps(t.xt[c]);
    const __m256 a_lo = _mm256_and_ps(_mm256_mul_ps(cb_lo, x0), keep0);
    const __m256 a_hi = _mm256_mul_ps(cb_hi, x0);
    const uint8_t* p = codes + c * half;
    for (int64_t g = 0; g < half; g += 16) {
      __m256 w[4];
      decode_group(p + g, a_lo, a_hi, w);
      float* a = acc + 2 * g;
      for (int j = 0; j < 4; ++j)
        _mm256_store_ps(a + 8 * j, _mm256_add_ps(_mm256_load_ps(a + 8 * j), w[j]));
    }
  }
}

// Dense, batch 2..16: decode once, one FMA per batch row; accumulators (batch, Rp).
void dense_batch(const BlockTask& t) {
  const Layout& L = *t.layout;
  const int64_t Rp = Layout::padded(L.block_rows(t.block));
  const int64_t half = Rp / 2, B = t.batch;
  const uint8_t* codes = L.codes.data() + L.code_base[t.block];
  const __m256 cb_lo = _mm256_load_ps(L.codebook), cb_hi = _mm256_load_ps(L.codebook + 8);
  for (int64_t k = 0; k < t.nact; ++k) {
    const uint32_t c = t.act[k];
    const float* xc = t.xt + c * B;
    const uint8_t* p = codes + c * half;
    for (int64_t g = 0; g < half; g += 16) {
      __m256 w[4];
      decode_group(p + g, cb_lo, cb_hi, w);
      float* a = t.acc + 2 * g;
      for (int64_t b = 0; b < B; ++b, a += Rp) {
        const __m256 xb = _mm256_set1_ps(xc[b]);
        for (int j = 0; j < 4; ++j)
          _mm256_store_ps(a + 8 * j, _mm256_fmadd_ps(w[j], xb, _mm256_load_ps(a + 8 * j)));
      }
    }
  }
}

}  // namespace

KernelSet kernels_avx2() { return {sparse1, sparse_batch, dense1, dense_batch}; }

}  // namespace eie::engine
