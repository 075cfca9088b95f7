// Test-only stand-in for <immintrin.h>: the AVX-512 intrinsics as portable SIMDe functions, so the
// AVX-512 kernels (csrc/engine/kernels_avx512.cpp) can run, under AddressSanitizer, on a CPU
// without AVX-512. Only the translation unit of those kernels sees this header (its -I comes
// first); the rest of the harness uses the compiler's own intrinsics.
//
// SIMDe 0.8.2 lacks four intrinsics the kernels use, and its masked loads read the whole vector
// before masking (real AVX-512 masked loads touch only the selected elements, which the kernels
// rely on at column ends); these are defined below from their documented semantics (Intel
// Intrinsics Guide): scatters write lanes from the lowest to the highest (so a later lane wins on
// equal indices), masked-off lanes of a load, store, gather or scatter touch no memory.
#pragma once
// The compiler's own header first (SSE..AVX2 stay native; SIMDe includes it too), then SIMDe
// with native aliases, which it defines only for the ISAs the compiler does not target: AVX-512.
#include_next <immintrin.h>
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>

#include <cstdint>
#include <cstring>

namespace eie_shim {

inline simde__m512i cvtepu8_epi32(simde__m128i a) {
  uint8_t b[16];
  int32_t d[16];
  simde_mm_storeu_si128(reinterpret_cast<simde__m128i*>(b), a);
  for (int i = 0; i < 16; ++i) d[i] = b[i];
  return simde_mm512_loadu_si512(d);
}

inline simde__m512 mask_i32gather_ps(simde__m512 src, simde__mmask16 k, simde__m512i idx,
                                     const void* base, int scale) {
  int32_t i[16];
  float v[16];
  simde_mm512_storeu_si512(i, idx);
  simde_mm512_storeu_ps(v, src);
  for (int l = 0; l < 16; ++l)
    if ((k >> l) & 1)
      std::memcpy(&v[l], static_cast<const char*>(base) + static_cast<int64_t>(i[l]) * scale, 4);
  return simde_mm512_loadu_ps(v);
}

inline void mask_i32scatter_ps(void* base, simde__mmask16 k, simde__m512i idx, simde__m512 a,
                               int scale) {
  int32_t i[16];
  float v[16];
  simde_mm512_storeu_si512(i, idx);
  simde_mm512_storeu_ps(v, a);
  for (int l = 0; l < 16; ++l)
    if ((k >> l) & 1)
      std::memcpy(static_cast<char*>(base) + static_cast<int64_t>(i[l]) * scale, &v[l], 4);
}

// The colrow kernel's gather of 32-bit code words (all lanes).
inline simde__m512i i32gather_epi32(simde__m512i idx, const void* base, int scale) {
  int32_t i[16], v[16];
  simde_mm512_storeu_si512(i, idx);
  for (int l = 0; l < 16; ++l)
    std::memcpy(&v[l], static_cast<const char*>(base) + static_cast<int64_t>(i[l]) * scale, 4);
  return simde_mm512_loadu_si512(v);
}

inline simde__m256i maskz_loadu_epi16(simde__mmask16 k, const void* p) {
  int16_t v[16] = {};
  for (int l = 0; l < 16; ++l)
    if ((k >> l) & 1) std::memcpy(&v[l], static_cast<const char*>(p) + 2 * l, 2);
  return simde_mm256_loadu_si256(v);
}

inline simde__m512 maskz_loadu_ps(simde__mmask16 k, const void* p) {
  float v[16] = {};
  for (int l = 0; l < 16; ++l)
    if ((k >> l) & 1) std::memcpy(&v[l], static_cast<const char*>(p) + 4 * l, 4);
  return simde_mm512_loadu_ps(v);
}

inline void mask_storeu_ps(void* p, simde__mmask16 k, simde__m512 a) {
  float v[16];
  simde_mm512_storeu_ps(v, a);
  for (int l = 0; l < 16; ++l)
    if ((k >> l) & 1) std::memcpy(static_cast<char*>(p) + 4 * l, &v[l], 4);
}

}  // namespace eie_shim

#undef _mm256_maskz_loadu_epi16
#undef _mm512_maskz_loadu_ps
#undef _mm512_mask_storeu_ps
#define _mm256_maskz_loadu_epi16(k, p) eie_shim::maskz_loadu_epi16(k, p)
#define _mm512_maskz_loadu_ps(k, p) eie_shim::maskz_loadu_ps(k, p)
#define _mm512_mask_storeu_ps(p, k, a) eie_shim::mask_storeu_ps(p, k, a)

#undef _mm512_i32gather_epi32
#define _mm512_i32gather_epi32(idx, base, scale) eie_shim::i32gather_epi32(idx, base, scale)
#define _mm512_cvtepu8_epi32(a) eie_shim::cvtepu8_epi32(a)
#define _mm512_mask_i32gather_ps(src, k, idx, base, scale) \
  eie_shim::mask_i32gather_ps(src, k, idx, base, scale)
#define _mm512_mask_i32scatter_ps(base, k, idx, a, scale) \
  eie_shim::mask_i32scatter_ps(base, k, idx, a, scale)
#define _mm512_i32scatter_ps(base, idx, a, scale) \
  eie_shim::mask_i32scatter_ps(base, 0xffff, idx, a, scale)
