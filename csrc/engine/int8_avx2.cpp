// Integer kernel for the rowwise layout under precision int8 on AVX2 (compiled with -mavx2;
// entered only where the caller's ISA is avx2, after the CPUID check that allows it). The same
// numbers as the AVX-512 VNNI kernel (kernels_vnni.cpp): per input and 128-column chunk t the
// int8 values q = round(x / s_t), s_t = max |x| over the chunk / 127; per codebook the int8
// entries w8 = round(c / s), s = max |c| / 127 (Layout::row_cb_u8 holds w8 + 128, row_cb_u8_scale
// s); a row's output y = s * sum_t s_t * sum_{c in t} w8_c q_c, the inner sums exact in int32.
//
// AVX2 has no byte dot product with two signed operands, and VPMADDUBSW (unsigned x signed
// pairs summed to int16, saturating) would overflow on w8 + 128 (2 * 255 * 127 > 2^15). So the
// weights' signs move onto the inputs: VPMADDUBSW(|w8|, sign(q, w8)) sums pairs of
// |w8| * (+-q) = w8 * q, at most 2 * 127 * 127 < 2^15 (exact), and VPMADDWD against ones makes
// the int32 lane sums. Decode: VPSHUFB looks each nibble up in the row's 16 signed bytes (both
// 128-bit lanes hold the table). The codes' byte order (layout.h ROWWISE) and the inputs' packed
// order are the AVX-512 kernel's: byte p of a chunk's 64 code bytes holds in its low nibble the
// column whose int8 input is byte p of the chunk's first 64 input bytes, and in its high nibble
// that of byte 64 + p.
// Per 32 weights and row: half a 32-byte load, a shift, an AND, one VPSHUFB, VPABSB, VPSIGNB,
// VPMADDUBSW, VPMADDWD and VPADDD; per 128: one convert and one FMA.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "engine/layout.h"

namespace eie::engine {
namespace {

// The 8 lanes' sum, one fixed tree (a row's result does not depend on which rows share a call).
inline float hsum8(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
}

// One row's codes p (nchunks chunks of 64 bytes) through its signed table against one input's
// packed bytes q and chunk scales; chunks alternate between two fp32 accumulators.
inline float row_dot(const uint8_t* p, __m256i tab, const int8_t* q, const float* scale,
                     int64_t nchunks) {
  const __m256i nib = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1);
  // chunk t's exact int32 lane sums
  const auto chunk = [&](int64_t t) __attribute__((always_inline)) {
    __m256i s = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 64 * t + 32 * h));
      const __m256i wl = _mm256_shuffle_epi8(tab, _mm256_and_si256(v, nib));
      const __m256i wh = _mm256_shuffle_epi8(tab, _mm256_and_si256(_mm256_srli_epi16(v, 4), nib));
      const __m256i ql = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 128 * t + 32 * h));
      const __m256i qh =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 128 * t + 64 + 32 * h));
      s = _mm256_add_epi32(s, _mm256_madd_epi16(
          _mm256_maddubs_epi16(_mm256_abs_epi8(wl), _mm256_sign_epi8(ql, wl)), ones));
      s = _mm256_add_epi32(s, _mm256_madd_epi16(
          _mm256_maddubs_epi16(_mm256_abs_epi8(wh), _mm256_sign_epi8(qh, wh)), ones));
    }
    return _mm256_cvtepi32_ps(s);
  };
  // Chunks alternate between two accumulators held in registers (an array indexed by t & 1
  // would live on the stack: a store-to-load chain per chunk).
  __m256 e = _mm256_setzero_ps(), o = _mm256_setzero_ps();
  int64_t t = 0;
  for (; t + 2 <= nchunks; t += 2) {
    e = _mm256_fmadd_ps(chunk(t), _mm256_set1_ps(scale[t]), e);
    o = _mm256_fmadd_ps(chunk(t + 1), _mm256_set1_ps(scale[t + 1]), o);
  }
  if (t < nchunks) e = _mm256_fmadd_ps(chunk(t), _mm256_set1_ps(scale[t]), e);
  return hsum8(_mm256_add_ps(e, o));
}

}  // namespace

bool int8_pack_inputs_avx2(const float* xp, int64_t batch, int64_t pc, int8_t* q, float* scale) {
  const int64_t nchunks = pc / 128;
  const __m256 sign = _mm256_set1_ps(-0.0f), big = _mm256_set1_ps(std::numeric_limits<float>::max());
  const __m256i lim = _mm256_set1_epi32(127), nlim = _mm256_set1_epi32(-127);
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t t = 0; t < nchunks; ++t) {
      const float* x = xp + b * pc + 128 * t;
      __m256 amax = _mm256_setzero_ps();
      int bad = 0;
      for (int j = 0; j < 16; ++j) {
        const __m256 a = _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8 * j));
        bad |= _mm256_movemask_ps(_mm256_cmp_ps(a, big, _CMP_NLE_UQ));  // infinite or NaN
        amax = _mm256_max_ps(amax, a);
      }
      if (bad != 0) return false;
      alignas(32) float lanes[8];
      _mm256_store_ps(lanes, amax);
      float m = 0.0f;
      for (float v : lanes) m = std::max(m, v);
      const float s = int8_scale_of(m);
      scale[b * nchunks + t] = s;
      int8_t* out = q + b * pc + 128 * t;
      if (s == 0.0f) {
        std::memset(out, 0, 128);
        continue;
      }
      const __m256 sv = _mm256_set1_ps(s);
      alignas(32) int32_t v[128];
      for (int j = 0; j < 16; ++j) {
        __m256i r = _mm256_cvtps_epi32(_mm256_div_ps(_mm256_loadu_ps(x + 8 * j), sv));
        r = _mm256_max_epi32(nlim, _mm256_min_epi32(lim, r));
        _mm256_store_si256(reinterpret_cast<__m256i*>(v + 8 * j), r);
      }
      // Byte 4i + k of the low half: column 32k + i; of the high half: column 32k + 16 + i.
      for (int i = 0; i < 16; ++i)
        for (int k = 0; k < 4; ++k) {
          out[4 * i + k] = static_cast<int8_t>(v[32 * k + i]);
          out[64 + 4 * i + k] = static_cast<int8_t>(v[32 * k + 16 + i]);
        }
    }
  }
  return true;
}

void int8_rowwise_avx2(const Layout& L, int64_t r_begin, int64_t r_end, const int8_t* q,
                       const float* scale, int64_t batch, float* acc) {
  const int64_t pc = L.padded_cols(), nchunks = pc / 128, rows = L.rows;
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));  // w8 + 128 -> w8
  for (int64_t r = r_begin; r < r_end; ++r) {
    const __m256i tab = _mm256_xor_si256(
        _mm256_broadcastsi128_si256(
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(L.row_codebook_u8(r)))),
        flip);
    const uint8_t* p = L.codes.data() + r * L.row_stride;
    const float sw = L.row_codebook_u8_scale(r);
    // every input while the row's codes are in L1
    for (int64_t b = 0; b < batch; ++b)
      acc[b * rows + r] = row_dot(p, tab, q + b * pc, scale + b * nchunks, nchunks) * sw;
  }
}

}  // namespace eie::engine
