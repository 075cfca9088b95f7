// A per-row 16-entry fp32 codebook as four byte planes (Layout::row_cb_planes), decoding 32
// 4-bit indices at a time with in-lane byte shuffles: four shuffles (one per byte of the fp32
// entries) and two rounds of unpacking give four vectors of 8 exact fp32 weights, with no
// lane-crossing permute (the AVX2 dense, rowwise and colrow kernels; compiled with -mavx2 -mfma).
//
// Decode order: of the 32 index bytes b, w[v] holds the entries of bytes 4v..4v+3 (elements 0..3)
// and 16+4v..16+4v+3 (elements 4..7).
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace eie::engine {

// The four looked-up byte planes (b_k[i] = byte k of the entry of index i) -> w[0..3], 8 fp32
// values each, in the decode order.
__attribute__((always_inline)) inline void unpack_planes(__m256i b0, __m256i b1, __m256i b2,
                                                          __m256i b3, __m256 w[4]) {
  const __m256i l01 = _mm256_unpacklo_epi8(b0, b1), h01 = _mm256_unpackhi_epi8(b0, b1);
  const __m256i l23 = _mm256_unpacklo_epi8(b2, b3), h23 = _mm256_unpackhi_epi8(b2, b3);
  w[0] = _mm256_castsi256_ps(_mm256_unpacklo_epi16(l01, l23));
  w[1] = _mm256_castsi256_ps(_mm256_unpackhi_epi16(l01, l23));
  w[2] = _mm256_castsi256_ps(_mm256_unpacklo_epi16(h01, h23));
  w[3] = _mm256_castsi256_ps(_mm256_unpackhi_epi16(h01, h23));
}

struct Planes {
  __m256i p0, p1, p2, p3;
  explicit Planes(const uint8_t* t)
      : p0(_mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(t)))),
        p1(_mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(t + 16)))),
        p2(_mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(t + 32)))),
        p3(_mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(t + 48)))) {}
  // 32 indices (one per byte, < 16) -> w[0..3], 8 fp32 weights each, in the decode order.
  // kLowZero: every entry's low byte is 0 (Layout::planes_low_zero; fp16 codebooks), so that
  // plane needs no shuffle.
  template <bool kLowZero>
  __attribute__((always_inline)) void decode(__m256i idx, __m256 w[4]) const {
    const __m256i b0 = kLowZero ? _mm256_setzero_si256() : _mm256_shuffle_epi8(p0, idx);
    const __m256i b1 = _mm256_shuffle_epi8(p1, idx);
    const __m256i b2 = _mm256_shuffle_epi8(p2, idx), b3 = _mm256_shuffle_epi8(p3, idx);
    unpack_planes(b0, b1, b2, b3, w);
  }
};

}  // namespace eie::engine
