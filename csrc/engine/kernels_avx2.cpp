// AVX2 block kernels (compiled with -mavx2 -mfma -mf16c -mbmi -mbmi2; entered only after a CPUID
// check).
// The dense kernels decode 4-bit codes with vpshufb on byte planes of the codebook (see
// byte_planes); the sparse kernels are scalar read-modify-writes (AVX2 has no scatter).
#include <immintrin.h>

#include <cstring>
#include <utility>

#include "engine/layout.h"
#include "engine/planes_avx2.h"
#include "engine/rows_kernel.h"
#include "engine/prefetch.h"

namespace eie::engine {
namespace {

// acc[r] += w (lane 0 of w). With GCC/Clang, one vaddss with a memory operand and one vmovss,
// both addressing acc + 4 r: compiled from C++, GCC computes each address once with an lea
// (one more op per entry in a loop bounded by ops per entry, see sparse1). EIE_PLAIN_RMW selects
// the C++ form (the sanitizer harness defines it: asm accesses are invisible to ASan).
inline void rmw_add(float* acc, uint64_t r, __m128 w) {
#if (defined(__GNUC__) || defined(__clang__)) && !defined(EIE_PLAIN_RMW)
  __m128 t;
  __asm__ volatile(
      "vaddss (%[a],%[r],4), %[w], %[t]\n\t"
      "vmovss %[t], (%[a],%[r],4)"
      : [t] "=&x"(t)
      : [a] "r"(acc), [r] "r"(r), [w] "x"(w)
      : "memory");
#else
  acc[r] += _mm_cvtss_f32(w);
#endif
}

// Sparse, batch 1. AVX2 has gathers but no scatters, so these are scalar read-modify-writes
// (rows inside one column are distinct, so they are independent) on a stack copy of the codebook
// scaled by x[c]. The grouped part of a column (layout.h) shares one code per 4 entries: one
// table lookup per 4 read-modify-writes. The tail looks each entry's weight up. Row and code
// fields come out of a 64-bit load of four entries with BEXTR (one op each, where shift + and is
// two; the five controls are held in registers for the whole kernel, the empty asm keeps the
// compiler from re-materialising them in the loop).
// Measured (4096x9216, 9% weights, 35% activations, 1 thread, ns per touched nonzero): per-entry
// lookup everywhere 0.81 -> grouped 0.55; then, interleaved in one process on the same layout,
// shift + and + lea addressing 0.60 -> BEXTR 0.53 -> BEXTR + indexed vaddss/vmovss (rmw_add)
// 0.48 (a bare RMW scatter over the same entries with a constant weight, C++: 0.52). Ops per
// entry: ~4 now (64-bit entry load, BEXTR, vaddss, vmovss, shared lookup and loop), 5.5 before.
// Two groups per iteration (after an odd one) measured 1-5% slower: the odd-group branch is
// unpredictable. What remains above a store-bound scatter (fixed-length columns in L1: 0.33 ns):
// streaming the entries from L3 (~0.1 ns) and per-column costs, loop exits and tails (~0.07 ns).
void sparse1(const BlockTask& t) {
  const Layout& L = *t.layout;
  const uint32_t* ptr = L.col_ptr.data() + t.block * (L.cols + 1);
  const uint32_t* mid = L.col_mid.data() + t.block * L.cols;
  const uint16_t* ent = L.entries.data() + L.entry_base[t.block];
  float* acc = t.acc;
  const __m256 cb_lo = _mm256_load_ps(L.codebook), cb_hi = _mm256_load_ps(L.codebook + 8);
  alignas(32) float s[kCodebookSize];
  // BEXTR controls (start | length << 8): rows in bits 0-11 of each 16-bit entry, code in 12-15.
  uint64_t k0 = 0 | 12 << 8, k1 = 16 | 12 << 8, k2 = 32 | 12 << 8, k3 = 48 | 12 << 8;
  uint64_t kc = 12 | 4 << 8;
  __asm__("" : "+r"(k0), "+r"(k1), "+r"(k2), "+r"(k3), "+r"(kc));
  const auto quad = [&](uint64_t q, __m128 w) {  // four entries of one weight
    rmw_add(acc, __bextr_u64(q, k0), w);
    rmw_add(acc, __bextr_u64(q, k1), w);
    rmw_add(acc, __bextr_u64(q, k2), w);
    rmw_add(acc, __bextr_u64(q, k3), w);
  };
  for (int64_t k = 0; k < t.nact; ++k) {
    const uint32_t c = t.act[k];
    if (k + kPrefetchCols < t.nact) prefetch_column(ptr, ent, t.act[k + kPrefetchCols]);
    const __m256 xv = _mm256_set1_ps(t.xt[c]);
    _mm256_store_ps(s, _mm256_mul_ps(cb_lo, xv));
    _mm256_store_ps(s + 8, _mm256_mul_ps(cb_hi, xv));
    const uint16_t* e = ent + ptr[c];
    const uint16_t* const gend = ent + mid[c];
    const uint16_t* const end = ent + ptr[c + 1];
    uint64_t q;
    for (; e < gend; e += 4) {
      std::memcpy(&q, e, 8);
      quad(q, _mm_load_ss(s + __bextr_u64(q, kc)));
    }
    for (; e + 4 <= end; e += 4) {  // tail: a lookup per entry
      std::memcpy(&q, e, 8);
      rmw_add(acc, __bextr_u64(q, k0), _mm_load_ss(s + ((q >> 12) & 15)));
      rmw_add(acc, __bextr_u64(q, k1), _mm_load_ss(s + ((q >> 28) & 15)));
      rmw_add(acc, __bextr_u64(q, k2), _mm_load_ss(s + ((q >> 44) & 15)));
      rmw_add(acc, __bextr_u64(q, k3), _mm_load_ss(s + (q >> 60)));
    }
    for (; e < end; ++e) acc[*e & 0xfff] += s[*e >> 12];
  }
}

// Lanes 0..n-1 of a ymm set (n <= 0: none): the batch columns a masked x load may read.
inline __m256i lanes_below(int64_t n) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), lane);
}

// Sparse, batch 2..16: accumulators (R, acc_stride) row-major with acc_stride = 8 or 16, so an
// entry updates one or two whole vectors (masked stores are slow on AMD cores; the padding lanes
// accumulate zeros). Only the per-column load of x is masked. In the grouped part of a column
// the weighted activations w * x[c, :] are formed once per 4 entries, which then only add.
template <int kVecs>
void sparse_batch_t(const BlockTask& t) {
  const Layout& L = *t.layout;
  const uint32_t* ptr = L.col_ptr.data() + t.block * (L.cols + 1);
  const uint32_t* mid = L.col_mid.data() + t.block * L.cols;
  const uint16_t* ent = L.entries.data() + L.entry_base[t.block];
  const int64_t B = t.batch;
  const __m256i m[2] = {lanes_below(B), lanes_below(B - 8)};
  for (int64_t k = 0; k < t.nact; ++k) {
    const uint32_t c = t.act[k];
    const float* xc = t.xt + c * B;
    __m256 xv[kVecs];
    for (int j = 0; j < kVecs; ++j) xv[j] = _mm256_maskload_ps(xc + 8 * j, m[j]);
    uint32_t e = ptr[c];
    const uint32_t gend = mid[c], end = ptr[c + 1];
    for (; e < gend; e += 4) {
      const __m256 w = _mm256_set1_ps(L.codebook[ent[e] >> 12]);
      __m256 wx[kVecs];
      for (int j = 0; j < kVecs; ++j) wx[j] = _mm256_mul_ps(w, xv[j]);
      for (uint32_t i = e; i < e + 4; ++i) {
        float* a = t.acc + static_cast<int64_t>(ent[i] & 0xfff) * (8 * kVecs);
        for (int j = 0; j < kVecs; ++j)
          _mm256_store_ps(a + 8 * j, _mm256_add_ps(_mm256_load_ps(a + 8 * j), wx[j]));
      }
    }
    for (; e < end; ++e) {
      const uint16_t u = ent[e];
      float* a = t.acc + static_cast<int64_t>(u & 0xfff) * (8 * kVecs);
      const __m256 w = _mm256_set1_ps(L.codebook[u >> 12]);
      for (int j = 0; j < kVecs; ++j)
        _mm256_store_ps(a + 8 * j, _mm256_fmadd_ps(w, xv[j], _mm256_load_ps(a + 8 * j)));
    }
  }
}

void sparse_batch(const BlockTask& t) {
  if (t.acc_stride == 8) sparse_batch_t<1>(t);
  else sparse_batch_t<2>(t);
}

// Dense decode with byte shuffles. vpshufb looks up 16-entry byte tables, exactly a 4-bit code's
// range, and runs on two pipes; vpermps only has 8 entries (a 16-entry table needs two permutes
// and a blend). So the 16 fp32 table values are split into four *byte planes* (plane k holds byte
// k of every value, repeated in both 128-bit lanes), four vpshufb fetch the four bytes of 32
// weights, and two rounds of unpacks reassemble them into fp32: bit-exact, no blend.
// Measured on one 2048-row block: 0.143 -> 0.108 ns/weight against permute + blend (and 0.21 for
// the two-column permute variant this replaced, which ran out of registers).
//
// The unpacks work inside 128-bit lanes, so one 16-byte group (rows 0..15 in the low nibbles,
// rows 16..31 in the high nibbles) comes out as four vectors holding rows
//   [0-3 | 16-19], [4-7 | 20-23], [8-11 | 24-27], [12-15 | 28-31].
// The kernels accumulate in that order and restore row order once per block (unpermute_block).

// Byte planes of 16 floats t[0..15] (t_lo = t[0..7], t_hi = t[8..15]).
inline void byte_planes(__m256 t_lo, __m256 t_hi, __m256i plane[4]) {
  // In each 4-float lane: bytes grouped by position (all byte 0s, all byte 1s, ...).
  const __m128i by_pos = _mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  const __m128 q0 = _mm_castsi128_ps(_mm_shuffle_epi8(_mm_castps_si128(_mm256_castps256_ps128(t_lo)), by_pos));
  const __m128 q1 = _mm_castsi128_ps(_mm_shuffle_epi8(_mm_castps_si128(_mm256_extractf128_ps(t_lo, 1)), by_pos));
  const __m128 q2 = _mm_castsi128_ps(_mm_shuffle_epi8(_mm_castps_si128(_mm256_castps256_ps128(t_hi)), by_pos));
  const __m128 q3 = _mm_castsi128_ps(_mm_shuffle_epi8(_mm_castps_si128(_mm256_extractf128_ps(t_hi, 1)), by_pos));
  // 4x4 transpose of 32-bit words: word k of row j = byte k of values 4j..4j+3.
  const __m128 a = _mm_unpacklo_ps(q0, q1), b = _mm_unpacklo_ps(q2, q3);
  const __m128 c = _mm_unpackhi_ps(q0, q1), d = _mm_unpackhi_ps(q2, q3);
  const __m128 r[4] = {_mm_movelh_ps(a, b), _mm_movehl_ps(b, a), _mm_movelh_ps(c, d),
                       _mm_movehl_ps(d, c)};
  for (int k = 0; k < 4; ++k) plane[k] = _mm256_broadcastsi128_si256(_mm_castps_si128(r[k]));
}

// One 16-byte group of codes -> 32 weights in the lane order described above. The codes are
// split without a shuffle: the 16 bytes are loaded into both 128-bit lanes (a broadcast load),
// the high lane shifted right by 4 (a 64-bit shift: the bits it pulls in from the next byte are
// masked off), and both masked to a nibble. Measured against vinserti128 of the two halves (one
// more op on the shuffle pipes, which bound this loop), batch-1 dense on 4096 and 2048 rows,
// interleaved: 0.092 -> 0.088 ns per weight (4-5%).
inline void decode_group(const uint8_t* p, const __m256i plane[4], __m256 w[4]) {
  const __m256i b =
      _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  const __m256i codes = _mm256_and_si256(_mm256_srlv_epi64(b, _mm256_setr_epi64x(0, 0, 4, 4)),
                                         _mm256_set1_epi8(0x0f));
  const __m256i b0 = _mm256_shuffle_epi8(plane[0], codes);
  const __m256i b1 = _mm256_shuffle_epi8(plane[1], codes);
  const __m256i b2 = _mm256_shuffle_epi8(plane[2], codes);
  const __m256i b3 = _mm256_shuffle_epi8(plane[3], codes);
  unpack_planes(b0, b1, b2, b3, w);
}

// Restore row order in n floats (a multiple of 32) accumulated in decode_group's lane order.
inline void unpermute_block(float* acc, int64_t n) {
  for (int64_t g = 0; g < n; g += 32) {
    float* a = acc + g;
    const __m256 v0 = _mm256_load_ps(a), v1 = _mm256_load_ps(a + 8);
    const __m256 v2 = _mm256_load_ps(a + 16), v3 = _mm256_load_ps(a + 24);
    _mm256_store_ps(a, _mm256_permute2f128_ps(v0, v1, 0x20));
    _mm256_store_ps(a + 8, _mm256_permute2f128_ps(v2, v3, 0x20));
    _mm256_store_ps(a + 16, _mm256_permute2f128_ps(v0, v1, 0x31));
    _mm256_store_ps(a + 24, _mm256_permute2f128_ps(v2, v3, 0x31));
  }
}

// Dense, batch 1: per active column, byte planes of the scaled codebook (code 0 kept exactly 0),
// then 32 rows per step.
void dense1(const BlockTask& t) {
  const Layout& L = *t.layout;
  const int64_t Rp = Layout::padded(L.block_rows(t.block));
  const int64_t half = Rp / 2;
  const uint8_t* codes = L.codes.data() + L.code_base[t.block];
  float* acc = t.acc;
  const __m256 cb_lo = _mm256_load_ps(L.codebook), cb_hi = _mm256_load_ps(L.codebook + 8);
  const __m256 keep0 = _mm256_castsi256_ps(_mm256_setr_epi32(0, -1, -1, -1, -1, -1, -1, -1));
  for (int64_t k = 0; k < t.nact; ++k) {
    const uint32_t c = t.act[k];
    const __m256 xv = _mm256_set1_ps(t.xt[c]);
    __m256i plane[4];
    byte_planes(_mm256_and_ps(_mm256_mul_ps(cb_lo, xv), keep0), _mm256_mul_ps(cb_hi, xv), plane);
    const uint8_t* p = codes + c * half;
    // the next active column, a line at a time (4096x4096: ~1.08x; docs/benchmarks-log.md)
    const uint8_t* pn = codes + t.act[k + 1 < t.nact ? k + 1 : k] * half;
    for (int64_t g = 0; g < half; g += 16) {
      if ((g & 63) == 0) _mm_prefetch(reinterpret_cast<const char*>(pn + g), _MM_HINT_T0);
      __m256 w[4];
      decode_group(p + g, plane, w);
      float* a = acc + 2 * g;
      for (int j = 0; j < 4; ++j)
        _mm256_store_ps(a + 8 * j, _mm256_add_ps(_mm256_load_ps(a + 8 * j), w[j]));
    }
  }
  unpermute_block(acc, Rp);
}

// Dense, batch 2..16: a small GEMM. Rows are walked in tiles of kTileGroups 32-row groups (one
// 64-byte line of codes per column); for each tile, the weights of kChunkCols active columns at a
// time are decoded once (unscaled codebook) into an L1 buffer, then a register-blocked
// micro-kernel (16 rows x up to kTileInputs inputs: 12 accumulators in registers) runs over the
// chunk, so each decoded weight feeds `batch` FMAs and the accumulators stay in registers for a
// whole chunk. Accumulators (batch, acc_stride) in decode_group's lane order, restored at the
// end. Measured (4096x4096, 1 thread, every activation nonzero, per input vector, interleaved
// with the kernel it replaced, which kept the accumulators in memory): batch 4 1126 -> 969 us,
// batch 8 1175 -> 795 us, batch 16 1216 -> 631 us (numpy fp32 GEMM: 663 us); chunks of 8 / 16 /
// 32 / 64 columns: 630 / 599 / 628 / 617 us at batch 16.
constexpr int kChunkCols = 16;   // columns decoded per chunk
constexpr int kTileGroups = 4;   // 32-row groups per chunk: 128 rows, one 64-byte line per column
constexpr int kTileInputs = 6;

template <int Bt>
inline void dense_tile(const float* wbuf, int K, const uint32_t* cols, const float* xt, int64_t B,
                       float* acc, int64_t stride) {
  for (int h = 0; h < 2; ++h) {  // rows 16h .. 16h + 15 of the group's lane order
    __m256 a[Bt][2];
    for (int b = 0; b < Bt; ++b) {
      a[b][0] = _mm256_load_ps(acc + b * stride + 16 * h);
      a[b][1] = _mm256_load_ps(acc + b * stride + 16 * h + 8);
    }
    for (int k = 0; k < K; ++k) {
      const __m256 w0 = _mm256_load_ps(wbuf + 32 * k + 16 * h);
      const __m256 w1 = _mm256_load_ps(wbuf + 32 * k + 16 * h + 8);
      const float* xc = xt + static_cast<int64_t>(cols[k]) * B;
      for (int b = 0; b < Bt; ++b) {
        const __m256 xb = _mm256_broadcast_ss(xc + b);
        a[b][0] = _mm256_fmadd_ps(w0, xb, a[b][0]);
        a[b][1] = _mm256_fmadd_ps(w1, xb, a[b][1]);
      }
    }
    for (int b = 0; b < Bt; ++b) {
      _mm256_store_ps(acc + b * stride + 16 * h, a[b][0]);
      _mm256_store_ps(acc + b * stride + 16 * h + 8, a[b][1]);
    }
  }
}

void dense_batch(const BlockTask& t) {
  const Layout& L = *t.layout;
  const int64_t Rp = Layout::padded(L.block_rows(t.block));
  const int64_t half = Rp / 2, B = t.batch;
  const uint8_t* codes = L.codes.data() + L.code_base[t.block];
  __m256i plane[4];
  byte_planes(_mm256_load_ps(L.codebook), _mm256_load_ps(L.codebook + 8), plane);
  // wbuf[group][column][32]: the chunk's weights, decoded once.
  alignas(64) float wbuf[kTileGroups * kChunkCols * 32];  // 8 KiB
  for (int64_t g0 = 0; g0 < half; g0 += 16 * kTileGroups) {
    const int ng = static_cast<int>((half - g0) / 16 < kTileGroups ? (half - g0) / 16 : kTileGroups);
    for (int64_t k0 = 0; k0 < t.nact; k0 += kChunkCols) {
      const int K = static_cast<int>(t.nact - k0 < kChunkCols ? t.nact - k0 : kChunkCols);
      const uint32_t* cols = t.act + k0;
      for (int64_t k = k0 + kChunkCols; k < t.nact && k < k0 + 2 * kChunkCols; ++k)
        _mm_prefetch(reinterpret_cast<const char*>(codes + t.act[k] * half + g0), _MM_HINT_T0);
      for (int k = 0; k < K; ++k)
        for (int q = 0; q < ng; ++q) {
          __m256 w[4];
          decode_group(codes + cols[k] * half + g0 + 16 * q, plane, w);
          float* dst = wbuf + (q * kChunkCols + k) * 32;
          for (int j = 0; j < 4; ++j) _mm256_store_ps(dst + 8 * j, w[j]);
        }
      for (int q = 0; q < ng; ++q) {
        const float* wq = wbuf + q * kChunkCols * 32;
        float* accg = t.acc + 2 * (g0 + 16 * q);
        for (int64_t b0 = 0; b0 < B; b0 += kTileInputs) {
          const float* xt = t.xt + b0;
          float* acc = accg + b0 * t.acc_stride;
          switch (B - b0 < kTileInputs ? B - b0 : kTileInputs) {
            case 1: dense_tile<1>(wq, K, cols, xt, B, acc, t.acc_stride); break;
            case 2: dense_tile<2>(wq, K, cols, xt, B, acc, t.acc_stride); break;
            case 3: dense_tile<3>(wq, K, cols, xt, B, acc, t.acc_stride); break;
            case 4: dense_tile<4>(wq, K, cols, xt, B, acc, t.acc_stride); break;
            case 5: dense_tile<5>(wq, K, cols, xt, B, acc, t.acc_stride); break;
            default: dense_tile<6>(wq, K, cols, xt, B, acc, t.acc_stride); break;
          }
        }
      }
    }
  }
  for (int64_t b = 0; b < B; ++b) unpermute_block(t.acc + b * t.acc_stride, Rp);
}

// ---- 8-bit codes (codebooks of 17..256 entries; layouts in layout.h) ----

// Sparse, batch 1: four independent read-modify-writes per step (rows of one column are
// distinct), the weight looked up from the L1-resident 1 KiB codebook; rows by BEXTR and the
// update by rmw_add, as in sparse1 (4096x9216, 9% weights, 35% activations, 255 codes,
// interleaved: 0.76 -> 0.65 ns per touched nonzero).
void sparse8_1(const BlockTask& t) {
  const Layout& L = *t.layout;
  const uint32_t* ptr = L.col_ptr.data() + t.block * (L.cols + 1);
  const uint16_t* ent = L.entries.data() + L.entry_base[t.block];
  const uint8_t* code = L.codes8.data() + L.entry_base[t.block];
  const float* cb = L.codebook;
  float* acc = t.acc;
  uint64_t k0 = 0 | 12 << 8, k1 = 16 | 12 << 8, k2 = 32 | 12 << 8, k3 = 48 | 12 << 8;
  // BEXTR controls, as in sparse1. Declared in each kernel on purpose: held in a helper struct
  // (constructed or returned), GCC kept them in memory and reloaded them for every field.
  __asm__("" : "+r"(k0), "+r"(k1), "+r"(k2), "+r"(k3));
  for (int64_t k = 0; k < t.nact; ++k) {
    const uint32_t c = t.act[k];
    if (k + kPrefetchCols < t.nact) {
      const uint32_t n = t.act[k + kPrefetchCols];
      prefetch_column(ptr, ent, n);
      _mm_prefetch(reinterpret_cast<const char*>(code + ptr[n]), _MM_HINT_T1);
    }
    const float xv = t.xt[c];
    const __m128 xs = _mm_set_ss(xv);
    uint32_t e = ptr[c];
    const uint32_t end = ptr[c + 1];
    for (; e + 4 <= end; e += 4) {
      uint64_t q;
      uint32_t k4;
      std::memcpy(&q, ent + e, 8);
      std::memcpy(&k4, code + e, 4);
      rmw_add(acc, __bextr_u64(q, k0), _mm_mul_ss(_mm_load_ss(cb + (k4 & 0xff)), xs));
      rmw_add(acc, __bextr_u64(q, k1), _mm_mul_ss(_mm_load_ss(cb + ((k4 >> 8) & 0xff)), xs));
      rmw_add(acc, __bextr_u64(q, k2), _mm_mul_ss(_mm_load_ss(cb + ((k4 >> 16) & 0xff)), xs));
      rmw_add(acc, __bextr_u64(q, k3), _mm_mul_ss(_mm_load_ss(cb + (k4 >> 24)), xs));
    }
    for (; e < end; ++e) acc[ent[e] & 0xfff] += cb[code[e]] * xv;
  }
}

// Sparse, batch 2..16: as sparse_batch, the weight from the 8-bit code.
void sparse8_batch(const BlockTask& t) {
  const Layout& L = *t.layout;
  const uint32_t* ptr = L.col_ptr.data() + t.block * (L.cols + 1);
  const uint16_t* ent = L.entries.data() + L.entry_base[t.block];
  const uint8_t* code = L.codes8.data() + L.entry_base[t.block];
  const int64_t B = t.batch, stride = t.acc_stride;
  const __m256i m0 = lanes_below(B), m1 = lanes_below(B - 8);
  for (int64_t k = 0; k < t.nact; ++k) {
    const uint32_t c = t.act[k];
    const float* xc = t.xt + c * B;
    const __m256 x0 = _mm256_maskload_ps(xc, m0);
    const __m256 x1 = stride == 16 ? _mm256_maskload_ps(xc + 8, m1) : _mm256_setzero_ps();
    for (uint32_t e = ptr[c], end = ptr[c + 1]; e < end; ++e) {
      float* a = t.acc + static_cast<int64_t>(ent[e] & 0xfff) * stride;
      const __m256 w = _mm256_set1_ps(L.codebook[code[e]]);
      _mm256_store_ps(a, _mm256_fmadd_ps(w, x0, _mm256_load_ps(a)));
      if (stride == 16) _mm256_store_ps(a + 8, _mm256_fmadd_ps(w, x1, _mm256_load_ps(a + 8)));
    }
  }
}

// 8 codes -> 8 weights from a table in L1, by scalar loads (measured: AVX2 gathers were 3-4x
// slower here, 0.93 ns per weight on 2048x4096).
inline __m256 lookup8(const float* table, const uint8_t* p) {
  uint64_t q;
  std::memcpy(&q, p, 8);
  return _mm256_setr_ps(table[q & 0xff], table[(q >> 8) & 0xff], table[(q >> 16) & 0xff],
                        table[(q >> 24) & 0xff], table[(q >> 32) & 0xff],
                        table[(q >> 40) & 0xff], table[(q >> 48) & 0xff], table[q >> 56]);
}

// Dense, batch 1: per active column, the codebook scaled by x[c] (entry 0 kept exactly 0, so an
// infinite activation adds nothing where the weight is zero), then 8 rows per step.
void dense8_1(const BlockTask& t) {
  const Layout& L = *t.layout;
  const int64_t Rp = Layout::padded(L.block_rows(t.block));
  const uint8_t* codes = L.codes.data() + L.code_base[t.block];
  const int64_t n8 = (L.codebook_len + 7) / 8 * 8;  // <= kMaxCodebook; entries past len are 0
  alignas(32) float s[kMaxCodebook];
  float* acc = t.acc;
  for (int64_t k = 0; k < t.nact; ++k) {
    const uint32_t c = t.act[k];
    const __m256 xv = _mm256_set1_ps(t.xt[c]);
    for (int64_t i = 0; i < n8; i += 8)
      _mm256_store_ps(s + i, _mm256_mul_ps(_mm256_load_ps(L.codebook + i), xv));
    s[0] = 0.0f;
    const uint8_t* p = codes + c * Rp;
    for (int64_t r = 0; r < Rp; r += 16) {
      const __m256 w0 = lookup8(s, p + r), w1 = lookup8(s, p + r + 8);
      _mm256_store_ps(acc + r, _mm256_add_ps(_mm256_load_ps(acc + r), w0));
      _mm256_store_ps(acc + r + 8, _mm256_add_ps(_mm256_load_ps(acc + r + 8), w1));
    }
  }
}

// Dense, batch 2..16: look each 8 weights up once (unscaled codebook), one FMA per batch row;
// rows in tiles of kBatchTileRows so the batch x tile accumulators (<= 16 KiB) stay in L1.
constexpr int64_t kBatchTileRows = 256;

void dense8_batch(const BlockTask& t) {
  const Layout& L = *t.layout;
  const int64_t Rp = Layout::padded(L.block_rows(t.block)), B = t.batch;
  const uint8_t* codes = L.codes.data() + L.code_base[t.block];
  for (int64_t tile = 0; tile < Rp; tile += kBatchTileRows) {
    const int64_t tile_end = tile + kBatchTileRows < Rp ? tile + kBatchTileRows : Rp;
    for (int64_t k = 0; k < t.nact; ++k) {
      const uint32_t c = t.act[k];
      const float* xc = t.xt + c * B;
      const uint8_t* p = codes + c * Rp;
      for (int64_t r = tile; r < tile_end; r += 8) {
        const __m256 w = lookup8(L.codebook, p + r);
        float* a = t.acc + r;
        for (int64_t b = 0; b < B; ++b, a += t.acc_stride)
          _mm256_store_ps(a, _mm256_fmadd_ps(w, _mm256_set1_ps(xc[b]), _mm256_load_ps(a)));
      }
    }
  }
}

inline float hsum(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)));
}

// Rowwise with the codebook as byte planes (layout.h): per 32 bytes of codes (64 weights), the
// low and the high nibbles are each 32 indices; four in-lane byte shuffles (one per plane of the
// fp32 entries) and two rounds of unpacking give four vectors of 8 exact fp32 weights. That is
// 1.8x the throughput of a 16-entry lookup by two 8-entry permutes and a blend (10-11 vs 6 G weights/s on
// 576..4096-wide rows, Zen 4; docs/benchmarks-log.md). The weights come out in an order of their
// own within each 128-column chunk, so run_rowwise lays the inputs out in that order
// (kRowwiseInPos) and the kernel reads them sequentially; the chunk's padding columns hold code
// 0 (a finite entry) against zero inputs.
struct PlaneOrder {
  uint8_t pos[128];  // column offset within the chunk -> position in the decode order
  constexpr PlaneOrder() : pos() {
    for (int h2 = 0; h2 < 2; ++h2)          // 32-byte half of the 64-byte chunk
      for (int nib = 0; nib < 2; ++nib)     // low, high nibbles
        for (int v = 0; v < 4; ++v)         // output vector of the half
          for (int e = 0; e < 8; ++e) {     // lane element: bytes 4v..4v+3, then 16+4v..
            const int b = e < 4 ? 4 * v + e : 16 + 4 * v + (e - 4);  // byte in the half
            const int word = 8 * h2 + b / 4, j = 2 * (b % 4) + nib;   // layout.h: 16j + word
            pos[16 * j + word] = static_cast<uint8_t>(64 * h2 + 32 * nib + 8 * v + e);
          }
  }
};
constexpr PlaneOrder kPlaneOrder{};

// Row r x inputs [0, NB) (inputs in the decode order, pc floats apart); acc[b * stride + r] = the
// sum. One input: four accumulator chains; two or three: two per input; more: one per input
// (the inputs' chains are independent, and the decoded weights feed up to 8 inputs).
template <int NB, bool kLowZero>
void rowwise_planes(const Layout& L, int64_t r, int64_t nchunks, const float* xp, int64_t pc,
                    float* acc, int64_t stride) {
  constexpr int NA = NB == 1 ? 4 : NB <= 3 ? 2 : 1;
  const Planes pl(L.row_codebook_planes(r));
  const __m256i lo4 = _mm256_set1_epi8(0x0f);
  const uint8_t* p = L.codes.data() + r * L.row_stride;
  __m256 a[NB][NA];
  for (int b = 0; b < NB; ++b)
    for (int k = 0; k < NA; ++k) a[b][k] = _mm256_setzero_ps();
  for (int64_t h = 0; h < 2 * nchunks; ++h) {  // 32-byte halves: 64 weights each
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32 * h));
    const __m256i ids[2] = {_mm256_and_si256(v, lo4),
                            _mm256_and_si256(_mm256_srli_epi16(v, 4), lo4)};
    for (int nib = 0; nib < 2; ++nib) {
      __m256 w[4];
      pl.decode<kLowZero>(ids[nib], w);
      for (int b = 0; b < NB; ++b) {
        const float* x = xp + b * pc + 64 * h + 32 * nib;
        for (int k = 0; k < 4; ++k)
          a[b][k % NA] = _mm256_fmadd_ps(w[k], _mm256_loadu_ps(x + 8 * k), a[b][k % NA]);
      }
    }
  }
  for (int b = 0; b < NB; ++b) {
    __m256 s = a[b][0];
    for (int k = 1; k < NA; ++k) s = _mm256_add_ps(s, a[b][k]);
    acc[b * stride + r] = hsum(s);
  }
}

// Whole rows at every batch: the inputs (<= 8 x padded_cols floats) are re-read from L2 per row;
// L1-sized column panels measured 1.6-2.9x slower at batch 8 (the per-row set-up and reduction
// per panel, and short strided reads of each row's codes).
template <bool kLowZero>
void rowwise_t(const Layout& L, int64_t r_begin, int64_t r_end, const float* xp, int64_t batch,
               float* acc) {
  const int64_t pc = L.padded_cols(), nchunks = pc / 128;
  for (int64_t r = r_begin; r < r_end; ++r)
    for (int64_t b0 = 0; b0 < batch; b0 += 8) {
      const float* x = xp + b0 * pc;
      float* y = acc + b0 * L.rows;
      switch (batch - b0 < 8 ? batch - b0 : 8) {
        case 1: rowwise_planes<1, kLowZero>(L, r, nchunks, x, pc, y, L.rows); break;
        case 2: rowwise_planes<2, kLowZero>(L, r, nchunks, x, pc, y, L.rows); break;
        case 3: rowwise_planes<3, kLowZero>(L, r, nchunks, x, pc, y, L.rows); break;
        case 4: rowwise_planes<4, kLowZero>(L, r, nchunks, x, pc, y, L.rows); break;
        case 5: rowwise_planes<5, kLowZero>(L, r, nchunks, x, pc, y, L.rows); break;
        case 6: rowwise_planes<6, kLowZero>(L, r, nchunks, x, pc, y, L.rows); break;
        case 7: rowwise_planes<7, kLowZero>(L, r, nchunks, x, pc, y, L.rows); break;
        default: rowwise_planes<8, kLowZero>(L, r, nchunks, x, pc, y, L.rows); break;
      }
    }
}

void rowwise(const Layout& L, int64_t r_begin, int64_t r_end, const float* xp, int64_t batch,
             float* acc) {
  if (L.planes_low_zero) rowwise_t<true>(L, r_begin, r_end, xp, batch, acc);
  else rowwise_t<false>(L, r_begin, r_end, xp, batch, acc);
}

// Row view, batch 2..16 (layout.h): each row's stride lanes (kVecs vectors of 8) accumulate in
// registers over the row's entries, panel by panel (a panel's inputs, <= 4096 x 16 floats, stay
// in L1/L2). Per grouped run, the four entries' input vectors summed, then one FMA by the
// code's weight; two accumulator sets alternate so consecutive runs do not wait on each other.
template <int kVecs>
void rows_batch_t(const Layout& L, int64_t r_begin, int64_t r_end, const float* xt, float* acc) {
  constexpr int64_t S = 8 * kVecs;
  const uint16_t* ent = L.row_entries.data();
  const float* cb = L.codebook;
  for (int64_t p = 0; p < L.row_panels; ++p) {
    const float* xp = xt + p * kRowPanelCols * S;
    const uint32_t* ptr = L.row_ptr.data() + p * L.rows;
    const uint32_t* mid = L.row_mid.data() + p * L.rows;
    for (int64_t r = r_begin; r < r_end; ++r) {
      __m256 a0[kVecs], a1[kVecs];
      for (int j = 0; j < kVecs; ++j) {
        a0[j] = p == 0 ? _mm256_setzero_ps() : _mm256_load_ps(acc + r * S + 8 * j);
        a1[j] = _mm256_setzero_ps();
      }
      uint32_t e = ptr[r];
      const uint32_t gend = mid[r], end = ptr[r + 1];
      for (; e < gend; e += 4) {
        uint64_t q;
        std::memcpy(&q, ent + e, 8);
        const float* x0 = xp + static_cast<int64_t>(q & 0xfff) * S;
        const float* x1 = xp + static_cast<int64_t>((q >> 16) & 0xfff) * S;
        const float* x2 = xp + static_cast<int64_t>((q >> 32) & 0xfff) * S;
        const float* x3 = xp + static_cast<int64_t>((q >> 48) & 0xfff) * S;
        const __m256 w = _mm256_set1_ps(cb[(q >> 12) & 15]);
        for (int j = 0; j < kVecs; ++j) {
          const __m256 s = _mm256_add_ps(
              _mm256_add_ps(_mm256_load_ps(x0 + 8 * j), _mm256_load_ps(x1 + 8 * j)),
              _mm256_add_ps(_mm256_load_ps(x2 + 8 * j), _mm256_load_ps(x3 + 8 * j)));
          a1[j] = _mm256_fmadd_ps(w, s, a1[j]);
        }
        for (int j = 0; j < kVecs; ++j) std::swap(a0[j], a1[j]);
      }
      for (; e < end; ++e) {
        const uint16_t u = ent[e];
        const float* x = xp + static_cast<int64_t>(u & 0xfff) * S;
        const __m256 w = _mm256_set1_ps(cb[u >> 12]);
        for (int j = 0; j < kVecs; ++j) a0[j] = _mm256_fmadd_ps(w, _mm256_load_ps(x + 8 * j), a0[j]);
      }
      for (int j = 0; j < kVecs; ++j) _mm256_store_ps(acc + r * S + 8 * j, _mm256_add_ps(a0[j], a1[j]));
    }
  }
}

void rows_batch(const Layout& L, int64_t r_begin, int64_t r_end, const float* xt, int64_t stride,
                float* acc) {
  if (stride == 8) rows_batch_t<1>(L, r_begin, r_end, xt, acc);
  else rows_batch_t<2>(L, r_begin, r_end, xt, acc);
}

}  // namespace

KernelSet kernels_avx2() {
  return {sparse1, sparse_batch, dense1, dense_batch,
          sparse8_1, sparse8_batch, dense8_1, dense8_batch, rows1_impl, rowwise, rows_batch,
          kPlaneOrder.pos};
}

}  // namespace eie::engine
