// Block kernels of the sparse layout with row codebooks (colrow.h) for AVX2 (compiled with
// -mavx2 -mfma; entered only after a CPUID check). Batch 1: four entries per step from one
// 64-bit load, each weight looked up by the entry rotated by 4 bits ((row << 4) | code), scalar
// read-modify-writes (rows of a column are distinct). Batch 2..16: one or two 8-lane FMAs per
// entry on its accumulator row (acc_stride 8 or 16; padding lanes add zeros).
#include <immintrin.h>

#include <cstring>

#include "engine/colrow.h"

namespace eie::engine {
namespace {

inline uint32_t rot4(uint32_t u) { return ((u & 0xfff) << 4) | (u >> 12); }

void grouped1(const BlockTask& t) {
  const Layout& L = *t.layout;
  const uint32_t* ptr = L.col_ptr.data() + t.block * (L.cols + 1);
  const uint16_t* ent = L.entries.data() + L.entry_base[t.block];
  const float* cb = L.row_cb.data() + L.row0[t.block] * kCodebookSize;
  float* acc = t.acc;
  for (int64_t k = 0; k < t.nact; ++k) {
    const uint32_t c = t.act[k];
    const float xv = t.xt[c];
    uint32_t e = ptr[c];
    const uint32_t end = ptr[c + 1];
    for (; e + 4 <= end; e += 4) {
      uint64_t q;
      std::memcpy(&q, ent + e, 8);
      const uint32_t u0 = q & 0xffff, u1 = (q >> 16) & 0xffff, u2 = (q >> 32) & 0xffff,
                     u3 = q >> 48;
      acc[u0 & 0xfff] += cb[rot4(u0)] * xv;
      acc[u1 & 0xfff] += cb[rot4(u1)] * xv;
      acc[u2 & 0xfff] += cb[rot4(u2)] * xv;
      acc[u3 & 0xfff] += cb[rot4(u3)] * xv;
    }
    for (; e < end; ++e) acc[ent[e] & 0xfff] += cb[rot4(ent[e])] * xv;
  }
}

inline __m256i lanes_below(int64_t n) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), lane);
}

template <int kVecs>
void grouped_batch_t(const BlockTask& t) {
  const Layout& L = *t.layout;
  const uint32_t* ptr = L.col_ptr.data() + t.block * (L.cols + 1);
  const uint16_t* ent = L.entries.data() + L.entry_base[t.block];
  const float* cb = L.row_cb.data() + L.row0[t.block] * kCodebookSize;
  const int64_t B = t.batch, stride = t.acc_stride;
  const __m256i m[2] = {lanes_below(B), lanes_below(B - 8)};
  for (int64_t k = 0; k < t.nact; ++k) {
    const uint32_t c = t.act[k];
    const float* xc = t.xt + c * B;
    __m256 xv[kVecs];
    for (int j = 0; j < kVecs; ++j) xv[j] = _mm256_maskload_ps(xc + 8 * j, m[j]);
    for (uint32_t e = ptr[c], end = ptr[c + 1]; e < end; ++e) {
      const uint32_t u = ent[e];
      const __m256 w = _mm256_broadcast_ss(cb + rot4(u));
      float* a = t.acc + static_cast<int64_t>(u & 0xfff) * stride;
      for (int j = 0; j < kVecs; ++j)
        _mm256_store_ps(a + 8 * j, _mm256_fmadd_ps(w, xv[j], _mm256_load_ps(a + 8 * j)));
    }
  }
}

void grouped_batch(const BlockTask& t) {
  if (t.acc_stride == 8) grouped_batch_t<1>(t);
  else grouped_batch_t<2>(t);
}

}  // namespace

BlockKernel sparse_grouped_avx2(bool batch1) { return batch1 ? grouped1 : grouped_batch; }

}  // namespace eie::engine
