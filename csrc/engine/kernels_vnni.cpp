// Integer kernel for the rowwise layout under precision int8 (opt-in, W4A8): compiled with
// AVX-512 F/BW/VL/VBMI/VNNI flags, entered only when CPUID reports AVX-512 (our F/BW/VL/DQ/VBMI
// set) and VNNI (vnni_ready) and the caller's ISA is avx512.
//
// Weights: each codebook (one per row, per group of rows, or the shared one) is held as 16
// unsigned bytes u_i = round(c_i / s) + 128 with s = max |c_i| / 127 (Layout::row_cb_u8 and
// row_cb_u8_scale, built with the layout). Inputs: per input and 128-column chunk t, the int8
// values q = round(x / s_t), s_t = max |x| over the chunk / 127 (int8_pack_inputs, once per
// call). A row's output is then
//   y = s * sum_t s_t * sum_{c in t} (u_c - 128) * q_c,
// the inner sums exact in int32 (|.| <= 128 * 127 * 127 * ... < 2^31 per lane and chunk).
//
// Decode: a row's 64-byte chunk of codes (layout.h ROWWISE) holds in the low nibble of byte
// 4i + k the code of column 32k + i and in the high nibble that of column 32k + 16 + i (word i,
// codes j = 2k and 2k + 1). VPERMB reads 6 index bits, so with the 16-byte table repeated four
// times the low nibbles index it directly and the high ones after a 16-bit shift right by 4
// (the neighbour byte's bits land in index bits 4..7, which the repeated table ignores): two
// permutes and one shift per 128 weights give the unsigned weight bytes in that order. The
// inputs are packed in the same order (byte 4i + k of the low half = column 32k + i, of the high
// half = column 32k + 16 + i), so VPDPBUSD sums, in dword lane i, four products of matching
// columns. Its unsigned operand is the weights, so every chunk's lanes hold the exact sum of
// u * q (below 2^24: exact in fp32 too), converted to fp32 and scaled by s_t into the row's fp32
// accumulators. The 128 * q part of u * q does not depend on the row: per input, lane i of
// `offset` holds -128 * sum_t s_t * (lane i's input bytes of chunk t summed), the accumulators'
// start value. (Starting each chunk's integer sum at its -128 * sum q instead, exact, cost one
// more load per chunk and row: SmolLM2's 3072x576 in L2 took 1.6x longer; docs/benchmarks-log.md.)
// Per 128 weights and row: one load, one shift, two permutes, two VPDPBUSD, one convert, one
// FMA.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "common/cpu_features.h"
#include "engine/layout.h"
#include "engine/reduce_avx512.h"

namespace eie::engine {
namespace {

// One chunk of a row: its 64 code bytes v decoded through the row's table (lo: the low
// nibbles' weight bytes, hi: the high ones'), and the chunk's exact integer sums against an
// input's two 64-byte halves (ql, qh), as fp32 lanes. Every path of the kernel computes a chunk
// with these two, so a row's result does not depend on the path.
struct Decoded {
  __m512i lo, hi;
};
__attribute__((always_inline)) inline Decoded decode_chunk(__m512i v, __m512i tab) {
  return {_mm512_permutexvar_epi8(v, tab), _mm512_permutexvar_epi8(_mm512_srli_epi16(v, 4), tab)};
}
__attribute__((always_inline)) inline __m512 chunk_sums(Decoded w, __m512i ql, __m512i qh) {
  return _mm512_cvtepi32_ps(
      _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), w.lo, ql), w.hi, qh));
}

// Rows [r, r + NR) x inputs [0, NB): acc[b * stride + r + m] = the row's output before the
// epilogue. Inputs of input b: q + b * pc (bytes), offset + b * 16, scale + b * nchunks.
template <int NR, int NB>
__attribute__((always_inline)) inline void pass(const Layout& L, int64_t r, const int8_t* q,
                                                const float* offset, const float* scale,
                                                int64_t pc, float* acc, int64_t stride) {
  const int64_t nchunks = pc / 128;
  __m512i tab[NR];
  const uint8_t* p[NR];
  for (int m = 0; m < NR; ++m) {
    tab[m] = _mm512_broadcast_i32x4(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(L.row_codebook_u8(r + m))));
    p[m] = L.codes.data() + (r + m) * L.row_stride;
  }
  __m512 a[NR][NB];
  // Row after row (each row's chunks in turn): the codes are then read at increasing
  // addresses, which the hardware prefetcher follows; the rows interleaved chunk by chunk (NR
  // streams 64 * chunks bytes apart) ran ~1.8x slower on weights streamed from memory (AMD
  // Zen 4, SmolLM2's shapes; docs/benchmarks-log.md), and software prefetches 256..4096 bytes
  // ahead in the row order only slowed it. The inputs' vectors are reloaded per row from L1;
  // two accumulators per input alternate by chunk.
#pragma GCC unroll 4
  for (int m = 0; m < NR; ++m) {
    __m512 e[NB], o[NB];
    for (int b = 0; b < NB; ++b) {
      e[b] = _mm512_loadu_ps(offset + 16 * b);
      o[b] = _mm512_setzero_ps();
    }
    const uint8_t* pm = p[m];
    const __m512i tm = tab[m];
    const auto chunk = [&](int64_t t, __m512* acc) __attribute__((always_inline)) {
      const Decoded w = decode_chunk(_mm512_loadu_si512(pm + 64 * t), tm);
      for (int b = 0; b < NB; ++b) {
        const int8_t* qb = q + b * pc + 128 * t;
        acc[b] = _mm512_fmadd_ps(
            chunk_sums(w, _mm512_loadu_si512(qb), _mm512_loadu_si512(qb + 64)),
            _mm512_set1_ps(scale[b * nchunks + t]), acc[b]);
      }
    };
    int64_t t = 0;
    for (; t + 2 <= nchunks; t += 2) {
      chunk(t, e);
      chunk(t + 1, o);
    }
    if (t < nchunks) chunk(t, e);
    for (int b = 0; b < NB; ++b) a[m][b] = _mm512_add_ps(e[b], o[b]);
  }
  reduce_pass<NR, NB>(a, [&](int m, int b, float v) {
    acc[b * stride + r + m] = v * L.row_codebook_u8_scale(r + m);
  });
}

// Rows [r, r + NR) against every input, up to four at a time: the rows' codes stay in L1 for
// the next group of inputs instead of being streamed again per group (as bf16_dot_rowwise).
template <int NR>
void rows_all(const Layout& L, int64_t r, const int8_t* q, const float* offset,
              const float* scale, int64_t batch, int64_t pc, float* acc) {
  const int64_t nchunks = pc / 128, s = L.rows;
  for (int64_t b0 = 0; b0 < batch; b0 += 4) {
    const int8_t* qb = q + b0 * pc;
    const float* sb = offset + b0 * 16;
    const float* cb = scale + b0 * nchunks;
    float* y = acc + b0 * s;
    switch (batch - b0 < 4 ? batch - b0 : 4) {
      case 1: pass<NR, 1>(L, r, qb, sb, cb, pc, y, s); break;
      case 2: pass<NR, 2>(L, r, qb, sb, cb, pc, y, s); break;
      case 3: pass<NR, 3>(L, r, qb, sb, cb, pc, y, s); break;
      default: pass<NR, 4>(L, r, qb, sb, cb, pc, y, s); break;
    }
  }
}

// Batch 1 with rows of NC chunks: the input's bytes and scales held in registers (2 NC + NC
// vectors) for every row of the range, so a chunk loads only its 64 bytes of codes. The same
// arithmetic in the same order as pass<NR, 1> (chunks alternating between two accumulators,
// reduce4's tree), so a row's result is the same on either path.
template <int NC>
void rows_held(const Layout& L, int64_t r_begin, int64_t r_end, const int8_t* q,
               const float* offset, const float* scale, float* acc) {
  __m512i ql[NC], qh[NC];
  __m512 sc[NC];
  for (int t = 0; t < NC; ++t) {
    ql[t] = _mm512_loadu_si512(q + 128 * t);
    qh[t] = _mm512_loadu_si512(q + 128 * t + 64);
    sc[t] = _mm512_set1_ps(scale[t]);
  }
  const __m512 off = _mm512_loadu_ps(offset);
  const auto row = [&](int64_t r) __attribute__((always_inline)) {
    const __m512i tm = _mm512_broadcast_i32x4(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(L.row_codebook_u8(r))));
    const uint8_t* p = L.codes.data() + r * L.row_stride;
    __m512 e = off, o = _mm512_setzero_ps();
#pragma GCC unroll 16
    for (int t = 0; t < NC; ++t) {
      const __m512 f = chunk_sums(decode_chunk(_mm512_loadu_si512(p + 64 * t), tm), ql[t], qh[t]);
      if (t % 2 == 0) e = _mm512_fmadd_ps(f, sc[t], e);
      else o = _mm512_fmadd_ps(f, sc[t], o);
    }
    return _mm512_add_ps(e, o);
  };
  int64_t r = r_begin;
  for (; r + 4 <= r_end; r += 4) {
    const __m512 a0 = row(r), a1 = row(r + 1), a2 = row(r + 2), a3 = row(r + 3);
    alignas(16) float f[4];
    _mm_store_ps(f, reduce4(a0, a1, a2, a3));
    for (int m = 0; m < 4; ++m) acc[r + m] = f[m] * L.row_codebook_u8_scale(r + m);
  }
  const __m512 z = _mm512_setzero_ps();
  for (; r < r_end; ++r) {
    alignas(16) float f[4];
    _mm_store_ps(f, reduce4(row(r), z, z, z));
    acc[r] = f[0] * L.row_codebook_u8_scale(r);
  }
}

}  // namespace

bool vnni_ready() {
  const CpuFeatures& f = cpu_features();
  return f.avx512 && f.avx512_vnni;
}

bool int8_pack_inputs(const float* xp, int64_t batch, int64_t pc, int8_t* q, float* offset,
                      float* scale) {
  const int64_t nchunks = pc / 128;
  const __m512 sign = _mm512_set1_ps(-0.0f), big = _mm512_set1_ps(std::numeric_limits<float>::max());
  const __m512i lim = _mm512_set1_epi32(127), nlim = _mm512_set1_epi32(-127);
  for (int64_t b = 0; b < batch; ++b) {
    __m512 off = _mm512_setzero_ps();  // lane i: -128 * sum_t s_t * (lane i's q of chunk t)
    for (int64_t t = 0; t < nchunks; ++t) {
      const float* x = xp + b * pc + 128 * t;
      __m512 amax = _mm512_setzero_ps();
      __mmask16 bad = 0;
      for (int j = 0; j < 8; ++j) {
        const __m512 a = _mm512_andnot_ps(sign, _mm512_loadu_ps(x + 16 * j));
        bad |= _mm512_cmp_ps_mask(a, big, _CMP_NLE_UQ);  // infinite or NaN
        amax = _mm512_max_ps(amax, a);
      }
      if (bad != 0) return false;
      const float m = _mm512_reduce_max_ps(amax);
      const float s = int8_scale_of(m);  // 0 for an all-zero chunk; the clamp below bounds
      scale[b * nchunks + t] = s;         // what a subnormal scale's rounding lets through
      int8_t* out = q + b * pc + 128 * t;
      if (s == 0.0f) {
        std::memset(out, 0, 128);
        continue;
      }
      const __m512 sv = _mm512_set1_ps(s);
      __m512i v[8];
      __m512i total = _mm512_setzero_si512();
      for (int j = 0; j < 8; ++j) {  // columns 16j + i -> lane i
        v[j] = _mm512_cvtps_epi32(_mm512_div_ps(_mm512_loadu_ps(x + 16 * j), sv));
        v[j] = _mm512_max_epi32(nlim, _mm512_min_epi32(lim, v[j]));
        total = _mm512_add_epi32(total, v[j]);
      }
      // Byte k of dword i: column 32k + i (low half: j = 2k) or 32k + 16 + i (high: j = 2k + 1).
      const __m512i ff = _mm512_set1_epi32(0xff);
      for (int h = 0; h < 2; ++h) {
        __m512i w = _mm512_and_si512(v[h], ff);
        for (int k = 1; k < 4; ++k)
          w = _mm512_or_si512(w, _mm512_slli_epi32(_mm512_and_si512(v[2 * k + h], ff), 8 * k));
        _mm512_storeu_si512(out + 64 * h, w);
      }
      off = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_mullo_epi32(total, _mm512_set1_epi32(-128))),
                            sv, off);
    }
    _mm512_storeu_ps(offset + 16 * b, off);
  }
  return true;
}

void int8_rowwise(const Layout& L, int64_t r_begin, int64_t r_end, const int8_t* q,
                  const float* offset, const float* scale, int64_t batch, float* acc) {
  const int64_t pc = L.padded_cols();
  if (batch == 1) {
    switch (pc / 128) {
      case 1: return rows_held<1>(L, r_begin, r_end, q, offset, scale, acc);
      case 2: return rows_held<2>(L, r_begin, r_end, q, offset, scale, acc);
      case 3: return rows_held<3>(L, r_begin, r_end, q, offset, scale, acc);
      case 4: return rows_held<4>(L, r_begin, r_end, q, offset, scale, acc);
      case 5: return rows_held<5>(L, r_begin, r_end, q, offset, scale, acc);
      case 6: return rows_held<6>(L, r_begin, r_end, q, offset, scale, acc);
      case 12: return rows_held<12>(L, r_begin, r_end, q, offset, scale, acc);
      default: break;
    }
  }
  int64_t r = r_begin;
  for (; r + 4 <= r_end; r += 4) rows_all<4>(L, r, q, offset, scale, batch, pc, acc);
  for (; r < r_end; ++r) rows_all<1>(L, r, q, offset, scale, batch, pc, acc);
}

}  // namespace eie::engine
