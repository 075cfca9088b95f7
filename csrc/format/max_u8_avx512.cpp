// AVX-512BW build of max_u8 (compiled with -mavx512bw; entered only after a CPUID check).
#include <immintrin.h>

#include "format/decode.h"

namespace eie::format {

uint8_t max_u8_avx512(const uint8_t* p, int64_t n) {
  __m512i m = _mm512_setzero_si512();
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) m = _mm512_max_epu8(m, _mm512_loadu_si512(p + i));
  // Masked tail load: never touches bytes past p[n - 1].
  const __mmask64 tail = n - i >= 64 ? ~0ULL : ((1ULL << (n - i)) - 1);
  m = _mm512_max_epu8(m, _mm512_maskz_loadu_epi8(tail, p + i));
  alignas(64) uint8_t lanes[64];
  _mm512_store_si512(lanes, m);
  return max_u8_scalar(lanes, 64);
}

}  // namespace eie::format
