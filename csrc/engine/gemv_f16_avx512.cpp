// The float16 GEMV (gemv_f16.h) on AVX-512F: sixteen halves per vcvtph2ps.
#include <immintrin.h>

#include "engine/gemv_f16.h"
#include "engine/gemv_f16_impl.h"

namespace eie::engine {
namespace {
struct Avx512 {
  static constexpr int64_t W = 16;
  static __m512 zero() { return _mm512_setzero_ps(); }
  static __m512 load(const float* p) { return _mm512_loadu_ps(p); }
  static __m512 load_half(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static __m512 fma(__m512 a, __m512 b, __m512 c) { return _mm512_fmadd_ps(a, b, c); }
  static __m512 add(__m512 a, __m512 b) { return _mm512_add_ps(a, b); }
  static float sum(__m512 v) {  // AVX-512F casts only (the emulation shim lacks the reduce)
    const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v),
                                   _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
  }
};
}  // namespace

void gemv_f16_rows_avx512(const uint16_t* w, int64_t rows, int64_t cols, const float* x,
                          int64_t batch, int64_t r0, int64_t r1, float* y) {
  gemv_f16_rows_impl<Avx512>(w, rows, cols, x, batch, r0, r1, y);
}

}  // namespace eie::engine
