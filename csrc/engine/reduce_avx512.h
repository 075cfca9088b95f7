// Horizontal sums shared by the AVX-512 translation units (internal linkage, compiled with each
// unit's flags, as prefetch.h).
#pragma once
#include <immintrin.h>

namespace eie::engine {
namespace {

// The sums of four vectors' 16 lanes, lanes 0..3 of the result: the same pairwise tree for each
// vector, so a row's sum does not depend on which rows share its pass.
inline __m128 reduce4(__m512 a0, __m512 a1, __m512 a2, __m512 a3) {
  const __m512 t0 = _mm512_add_ps(_mm512_unpacklo_ps(a0, a1), _mm512_unpackhi_ps(a0, a1));
  const __m512 t1 = _mm512_add_ps(_mm512_unpacklo_ps(a2, a3), _mm512_unpackhi_ps(a2, a3));
  const __m512d d0 = _mm512_castps_pd(t0), d1 = _mm512_castps_pd(t1);
  const __m512 u = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(d0, d1)),
                                 _mm512_castpd_ps(_mm512_unpackhi_pd(d0, d1)));
  const __m256 h = _mm256_add_ps(
      _mm512_castps512_ps256(u), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(u), 1)));
  return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

// The 16-lane sums of a pass's NR x NB accumulators, four vectors at a time in (input, row)
// order: put(m, b, sum) for row m and input b.
template <int NR, int NB, typename Put>
inline void reduce_pass(const __m512 (&a)[NR][NB], Put&& put) {
  constexpr int N = NR * NB;
  const __m512 z = _mm512_setzero_ps();
  const auto at = [&](int i) { return i < N ? a[i % NR][i / NR] : z; };
  for (int i = 0; i < N; i += 4) {
    alignas(16) float f[4];
    _mm_store_ps(f, reduce4(at(i), at(i + 1), at(i + 2), at(i + 3)));
    for (int q = 0; q < 4 && i + q < N; ++q) put((i + q) % NR, (i + q) / NR, f[q]);
  }
}

}  // namespace
}  // namespace eie::engine
