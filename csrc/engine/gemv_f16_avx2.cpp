// The float16 GEMV (gemv_f16.h) on AVX2 + F16C: eight halves per vcvtph2ps.
#include <immintrin.h>

#include "engine/gemv_f16.h"
#include "engine/gemv_f16_impl.h"

namespace eie::engine {
namespace {
struct Avx2 {
  static constexpr int64_t W = 8;
  static __m256 zero() { return _mm256_setzero_ps(); }
  static __m256 load(const float* p) { return _mm256_loadu_ps(p); }
  static __m256 load_half(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static __m256 fma(__m256 a, __m256 b, __m256 c) { return _mm256_fmadd_ps(a, b, c); }
  static __m256 add(__m256 a, __m256 b) { return _mm256_add_ps(a, b); }
  static float sum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
  }
};
}  // namespace

void gemv_f16_rows_avx2(const uint16_t* w, int64_t rows, int64_t cols, const float* x,
                        int64_t batch, int64_t r0, int64_t r1, float* y) {
  gemv_f16_rows_impl<Avx2>(w, rows, cols, x, batch, r0, r1, y);
}

}  // namespace eie::engine
