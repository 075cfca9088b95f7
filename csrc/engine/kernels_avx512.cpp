// AVX-512 block kernels (compiled with AVX-512 F/BW/VL/DQ/VBMI; entered only after a CPUID
// check). The 16-entry codebook lives in one zmm register and is decoded with vpermps, whose
// index is the 4-bit code: no scalar table lookups.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "engine/layout.h"
#include "engine/prefetch.h"
#include "engine/reduce_avx512.h"

namespace eie::engine {
namespace {

// Sparse, batch 1. Per active column: scale the codebook by x[c] (one vmulps), then for 16
// entries at a time: widen the uint16 entries, split code (>> 12) and row (& 0xfff), decode the
// weights with vpermps, gather the 16 accumulators, add, scatter back. Rows within one column of
// a block are distinct, so the scatter never has conflicting lanes.
void sparse1(const BlockTask& t) {
  const Layout& L = *t.layout;
  const uint32_t* ptr = L.col_ptr.data() + t.block * (L.cols + 1);
  const uint16_t* ent = L.entries.data() + L.entry_base[t.block];
  float* acc = t.acc;
  const __m512 cb = _mm512_load_ps(L.codebook);
  const __m512i row_mask = _mm512_set1_epi32(0xfff);
  for (int64_t k = 0; k < t.nact; ++k) {
    const uint32_t c = t.act[k];
    if (k + kPrefetchCols < t.nact) prefetch_column(ptr, ent, t.act[k + kPrefetchCols]);
    const __m512 s = _mm512_mul_ps(cb, _mm512_set1_ps(t.xt[c]));
    uint32_t e = ptr[c];
    const uint32_t end = ptr[c + 1];
    for (; e + 16 <= end; e += 16) {
      const __m512i u =
          _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(ent + e)));
      const __m512i row = _mm512_and_si512(u, row_mask);
      const __m512 w = _mm512_permutexvar_ps(_mm512_srli_epi32(u, 12), s);
      const __m512 y = _mm512_i32gather_ps(row, acc, 4);
      _mm512_i32scatter_ps(acc, row, _mm512_add_ps(y, w), 4);
    }
    if (e < end) {
      const __mmask16 m = static_cast<__mmask16>((1u << (end - e)) - 1);
      const __m512i u = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, ent + e));
      const __m512i row = _mm512_and_si512(u, row_mask);
      const __m512 w = _mm512_permutexvar_ps(_mm512_srli_epi32(u, 12), s);
      const __m512 y = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, row, acc, 4);
      _mm512_mask_i32scatter_ps(acc, m, row, _mm512_add_ps(y, w), 4);
    }
  }
}

// 16 + 16 rows of codes (one 16-byte group) -> two index vectors. vpermps reads only bits 0..3
// of each index lane, so the widened bytes index the low-nibble rows as they are and the
// high-nibble rows after a 4-bit shift: no masking.
inline void split_group(const uint8_t* p, __m512i& lo, __m512i& hi) {
  lo = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  hi = _mm512_srli_epi32(lo, 4);
}

inline __m512 scaled_codebook(const Layout& L, float x) {
  const __m512 s = _mm512_mul_ps(_mm512_load_ps(L.codebook), _mm512_set1_ps(x));
  return _mm512_maskz_mov_ps(static_cast<__mmask16>(0xfffe), s);  // code 0 stays exactly 0
}

// Dense, batch 1: four active columns at a time, so each 16-row accumulator vector is loaded
// and stored once per four columns.
void dense1(const BlockTask& t) {
  const Layout& L = *t.layout;
  const int64_t half = Layout::padded(L.block_rows(t.block)) / 2;
  const uint8_t* codes = L.codes.data() + L.code_base[t.block];
  float* acc = t.acc;
  int64_t k = 0;
  for (; k + 4 <= t.nact; k += 4) {
    const uint32_t c0 = t.act[k], c1 = t.act[k + 1], c2 = t.act[k + 2], c3 = t.act[k + 3];
    const __m512 s0 = scaled_codebook(L, t.xt[c0]), s1 = scaled_codebook(L, t.xt[c1]);
    const __m512 s2 = scaled_codebook(L, t.xt[c2]), s3 = scaled_codebook(L, t.xt[c3]);
    const uint8_t *p0 = codes + c0 * half, *p1 = codes + c1 * half;
    const uint8_t *p2 = codes + c2 * half, *p3 = codes + c3 * half;
    // The next four columns, line by line as these are read: the hardware prefetcher does not
    // follow four interleaved streams (4096x4096: 1.1-1.9x faster with it, once per 16 bytes
    // measured ~1.1x faster than once per line; docs/benchmarks-log.md).
    const int64_t kn = k + 8 <= t.nact ? k + 4 : k;
    const uint8_t *n0 = codes + t.act[kn] * half, *n1 = codes + t.act[kn + 1] * half;
    const uint8_t *n2 = codes + t.act[kn + 2] * half, *n3 = codes + t.act[kn + 3] * half;
    for (int64_t g = 0; g < half; g += 16) {
      _mm_prefetch(reinterpret_cast<const char*>(n0 + g), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(n1 + g), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(n2 + g), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(n3 + g), _MM_HINT_T0);
      __m512i l0, h0, l1, h1, l2, h2, l3, h3;
      split_group(p0 + g, l0, h0);
      split_group(p1 + g, l1, h1);
      split_group(p2 + g, l2, h2);
      split_group(p3 + g, l3, h3);
      float* a = acc + 2 * g;
      __m512 a0 = _mm512_load_ps(a), a1 = _mm512_load_ps(a + 16);
      a0 = _mm512_add_ps(a0, _mm512_add_ps(_mm512_permutexvar_ps(l0, s0),
                                           _mm512_permutexvar_ps(l1, s1)));
      a1 = _mm512_add_ps(a1, _mm512_add_ps(_mm512_permutexvar_ps(h0, s0),
                                           _mm512_permutexvar_ps(h1, s1)));
      a0 = _mm512_add_ps(a0, _mm512_add_ps(_mm512_permutexvar_ps(l2, s2),
                                           _mm512_permutexvar_ps(l3, s3)));
      a1 = _mm512_add_ps(a1, _mm512_add_ps(_mm512_permutexvar_ps(h2, s2),
                                           _mm512_permutexvar_ps(h3, s3)));
      _mm512_store_ps(a, a0);
      _mm512_store_ps(a + 16, a1);
    }
  }
  for (; k < t.nact; ++k) {
    const uint32_t c = t.act[k];
    const __m512 s = scaled_codebook(L, t.xt[c]);
    const uint8_t* p = codes + c * half;
    for (int64_t g = 0; g < half; g += 16) {
      __m512i lo, hi;
      split_group(p + g, lo, hi);
      float* a = acc + 2 * g;
      _mm512_store_ps(a, _mm512_add_ps(_mm512_load_ps(a), _mm512_permutexvar_ps(lo, s)));
      _mm512_store_ps(a + 16,
                      _mm512_add_ps(_mm512_load_ps(a + 16), _mm512_permutexvar_ps(hi, s)));
    }
  }
}

// Rowwise (layout.h): per 64-byte chunk, code slot j of all 16 words is (v >> 4j), whose low
// nibbles vpermps reads as indices into the row's codebook held in one register: per 16 weights
// one shift, one permute and one FMA per input, which bound the loop (ports 0 and 5). A pass
// takes NR rows and NB inputs at once: each x vector is loaded once for the NR rows, and the
// NR x NB accumulators (one per row and input; NR independent FMA chains cover the FMA
// latency) are reduced together in registers at the end (reduce4). The last chunk's code
// slots past the columns (padding to 128) are skipped. Batches walk the columns in panels
// whose inputs stay in L1 (kPanelFloats); within a panel, passes of 4 rows x up to 4 inputs or
// 2 rows x up to 8 inputs (the accumulators fill the 32 registers).

// Floats of input per panel (every input of the batch): 24 KiB, half of a 48 KiB L1.
constexpr int64_t kPanelFloats = 6144;

// Rows [r, r + NR) x inputs [0, NB) over chunks [t0, t1); the last chunk of the row (t1 ==
// nchunks) has `tail` code slots. acc[b * stride + r + m] = the sum, or += it when `add`.
template <int NR, int NB>
__attribute__((always_inline)) inline void rowwise_pass(const Layout& L, int64_t r, int64_t t0,
                                                        int64_t t1, int tail, const float* xp,
                                                        int64_t pc, float* acc, int64_t stride,
                                                        bool add) {
  __m512 cb[NR];
  const uint8_t* p[NR];
  for (int m = 0; m < NR; ++m) {
    cb[m] = _mm512_loadu_ps(L.row_codebook(r + m));
    p[m] = L.codes.data() + (r + m) * L.row_stride;
  }
  __m512 a[NR][NB];
  for (int m = 0; m < NR; ++m)
    for (int b = 0; b < NB; ++b) a[m][b] = _mm512_setzero_ps();
  const int64_t nchunks = pc / 128;
  const auto chunk = [&](int64_t t, int slots) __attribute__((always_inline)) {
    __m512i v[NR];
    for (int m = 0; m < NR; ++m) {
      // the rows two passes ahead, chunk by chunk (the hardware prefetcher loses track of NR
      // interleaved streams: 4096x4096 measured 1.1-1.6x faster with the next pass's rows,
      // and two passes ahead 1.06-1.10x faster again on SmolLM2's layers streamed from memory;
      // docs/benchmarks-log.md)
      _mm_prefetch(reinterpret_cast<const char*>(p[m] + 2 * NR * L.row_stride + 64 * t),
                   _MM_HINT_T0);
      v[m] = _mm512_loadu_si512(p[m] + 64 * t);
    }
    for (int j = 0; j < 8; ++j) {
      if (j >= slots) break;
      __m512 xv[NB];
      for (int b = 0; b < NB; ++b) xv[b] = _mm512_loadu_ps(xp + b * pc + 128 * t + 16 * j);
      for (int m = 0; m < NR; ++m) {
        const __m512 w =
            _mm512_permutexvar_ps(j == 0 ? v[m] : _mm512_srli_epi32(v[m], 4 * j), cb[m]);
        for (int b = 0; b < NB; ++b) a[m][b] = _mm512_fmadd_ps(w, xv[b], a[m][b]);
      }
    }
  };
  const int64_t tfull = t1 == nchunks && tail < 8 ? t1 - 1 : t1;
  for (int64_t t = t0; t < tfull; ++t) chunk(t, 8);
  if (tfull < t1) chunk(tfull, tail);
  // Reduce in fours, in (input, row) order; write back.
  constexpr int N = NR * NB;
  const __m512 z = _mm512_setzero_ps();
  const auto at = [&](int i) { return i < N ? a[i % NR][i / NR] : z; };
  for (int i = 0; i < N; i += 4) {
    const __m128 s = reduce4(at(i), at(i + 1), at(i + 2), at(i + 3));
    if (NR == 4) {
      float* dst = acc + (i / 4) * stride + r;
      _mm_storeu_ps(dst, add ? _mm_add_ps(_mm_loadu_ps(dst), s) : s);
      continue;
    }
    alignas(16) float f[4];
    _mm_store_ps(f, s);
    for (int q = 0; q < 4 && i + q < N; ++q) {
      float* dst = acc + ((i + q) / NR) * stride + r + (i + q) % NR;
      *dst = add ? *dst + f[q] : f[q];
    }
  }
}

// Passes of NR rows over [r_begin, r_end) (the last one shorter), NB inputs.
template <int NR, int NB>
void rowwise_rows(const Layout& L, int64_t r_begin, int64_t r_end, int64_t t0, int64_t t1,
                  int tail, const float* xp, int64_t pc, float* acc, int64_t stride, bool add) {
  int64_t r = r_begin;
  for (; r + NR <= r_end; r += NR)
    rowwise_pass<NR, NB>(L, r, t0, t1, tail, xp, pc, acc, stride, add);
  const int64_t left = r_end - r;
  if constexpr (NR > 3) {
    if (left == 3) rowwise_pass<3, NB>(L, r, t0, t1, tail, xp, pc, acc, stride, add);
  }
  if constexpr (NR > 2) {
    if (left == 2) rowwise_pass<2, NB>(L, r, t0, t1, tail, xp, pc, acc, stride, add);
  }
  if (left == 1) rowwise_pass<1, NB>(L, r, t0, t1, tail, xp, pc, acc, stride, add);
}

void rowwise(const Layout& L, int64_t r_begin, int64_t r_end, const float* xp, int64_t batch,
             float* acc) {
  const int64_t pc = L.padded_cols(), nchunks = pc / 128, rem = L.cols % 128;
  const int tail = rem == 0 ? 8 : static_cast<int>((rem + 15) / 16);
  const int64_t panel = std::max<int64_t>(1, kPanelFloats / (128 * batch));  // chunks
  for (int64_t t0 = 0; t0 < nchunks; t0 += panel) {
    const int64_t t1 = std::min(nchunks, t0 + panel);
    const bool add = t0 > 0;
    for (int64_t b0 = 0; b0 < batch; b0 += 8) {
      const float* x = xp + b0 * pc;
      float* y = acc + b0 * L.rows;
      const int64_t s = L.rows;
      switch (batch - b0 < 8 ? batch - b0 : 8) {
        case 1: rowwise_rows<4, 1>(L, r_begin, r_end, t0, t1, tail, x, pc, y, s, add); break;
        case 2: rowwise_rows<4, 2>(L, r_begin, r_end, t0, t1, tail, x, pc, y, s, add); break;
        case 3: rowwise_rows<4, 3>(L, r_begin, r_end, t0, t1, tail, x, pc, y, s, add); break;
        case 4: rowwise_rows<4, 4>(L, r_begin, r_end, t0, t1, tail, x, pc, y, s, add); break;
        case 5: rowwise_rows<2, 5>(L, r_begin, r_end, t0, t1, tail, x, pc, y, s, add); break;
        case 6: rowwise_rows<2, 6>(L, r_begin, r_end, t0, t1, tail, x, pc, y, s, add); break;
        case 7: rowwise_rows<2, 7>(L, r_begin, r_end, t0, t1, tail, x, pc, y, s, add); break;
        default: rowwise_rows<2, 8>(L, r_begin, r_end, t0, t1, tail, x, pc, y, s, add); break;
      }
    }
  }
}

// Row view, batches of 9..16 (stride 16, layout.h): as the AVX2 kernel (kernels_avx2.cpp,
// rows_batch_t), each entry's 16 input lanes in one zmm instead of two ymm.
void rows_batch16(const Layout& L, int64_t r_begin, int64_t r_end, const float* xt,
                  float* acc) {
  const uint16_t* ent = L.row_entries.data();
  const float* cb = L.codebook;
  for (int64_t p = 0; p < L.row_panels; ++p) {
    const float* xp = xt + p * kRowPanelCols * 16;
    const uint32_t* ptr = L.row_ptr.data() + p * L.rows;
    const uint32_t* mid = L.row_mid.data() + p * L.rows;
    for (int64_t r = r_begin; r < r_end; ++r) {
      __m512 a0 = p == 0 ? _mm512_setzero_ps() : _mm512_load_ps(acc + r * 16);
      __m512 a1 = _mm512_setzero_ps();
      uint32_t e = ptr[r];
      const uint32_t gend = mid[r], end = ptr[r + 1];
      for (; e < gend; e += 4) {
        uint64_t q;
        std::memcpy(&q, ent + e, 8);
        const __m512 s = _mm512_add_ps(
            _mm512_add_ps(_mm512_load_ps(xp + static_cast<int64_t>(q & 0xfff) * 16),
                          _mm512_load_ps(xp + static_cast<int64_t>((q >> 16) & 0xfff) * 16)),
            _mm512_add_ps(_mm512_load_ps(xp + static_cast<int64_t>((q >> 32) & 0xfff) * 16),
                          _mm512_load_ps(xp + static_cast<int64_t>((q >> 48) & 0xfff) * 16)));
        a1 = _mm512_fmadd_ps(_mm512_set1_ps(cb[(q >> 12) & 15]), s, a1);
        const __m512 t = a0;
        a0 = a1;
        a1 = t;
      }
      for (; e < end; ++e) {
        const uint16_t u = ent[e];
        a0 = _mm512_fmadd_ps(_mm512_set1_ps(cb[u >> 12]),
                             _mm512_load_ps(xp + static_cast<int64_t>(u & 0xfff) * 16), a0);
      }
      _mm512_store_ps(acc + r * 16, _mm512_add_ps(a0, a1));
    }
  }
}

// Stride 8: the AVX2 kernel (one ymm per entry); stride 16: rows_batch16.
RowBatchKernel g_rows_batch8 = nullptr;
void rows_batch(const Layout& L, int64_t r_begin, int64_t r_end, const float* xt, int64_t stride,
                float* acc) {
  if (stride == 16) rows_batch16(L, r_begin, r_end, xt, acc);
  else g_rows_batch8(L, r_begin, r_end, xt, stride, acc);
}

}  // namespace

// Sparse batch: the AVX2 kernel (256-bit accumulator rows, code grouping): the 512-bit masked
// kernel it replaced ran 1.8-1.9x slower on alex6 at batch 8 (an accumulator row of 8 floats is
// half a zmm; masked 512-bit loads and stores straddled cache lines, and it had no grouping).
// 8-bit codes and the row view: the AVX2 kernels (every AVX-512 CPU runs AVX2; a 256-entry
// table does not fit a register, so AVX-512 would gather as AVX2 does; the row view's work is
// scalar loads and adds). Dense batch: the AVX2 register-blocked GEMM,
// whose time goes to FMAs on accumulators held in registers (decoding is amortised over the
// batch), which Zen 4 executes at the same rate in 256 and 512 bits; it replaced an AVX-512
// kernel that kept the accumulators in memory, as the AVX2 one it also replaced did.
KernelSet kernels_avx512() {
  const KernelSet wide = kernels_avx2();
  g_rows_batch8 = wide.rows_batch;
  return {sparse1,         wide.sparse_batch,    dense1,         wide.dense_batch,
          wide.sparse8_1,  wide.sparse8_batch,   wide.dense8_1,  wide.dense8_batch,
          wide.rows1,      rowwise,              rows_batch};
}

}  // namespace eie::engine
