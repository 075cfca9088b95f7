// AVX2 build of max_u8 (compiled with -mavx2; entered only after a CPUID check).
#include <immintrin.h>

#include "format/decode.h"

namespace eie::format {

uint8_t max_u8_avx2(const uint8_t* p, int64_t n) {
  __m256i m = _mm256_setzero_si256();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32)
    m = _mm256_max_epu8(m, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i)));
  alignas(32) uint8_t lanes[32];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), m);
  uint8_t r = max_u8_scalar(lanes, 32);
  const uint8_t tail = max_u8_scalar(p + i, n - i);
  return tail > r ? tail : r;
}

}  // namespace eie::format
