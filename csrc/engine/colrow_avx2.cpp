// The colrow kernel for AVX2 (colrow.h; compiled with -mavx2 -mfma, entered only after a CPUID
// check). Per strip and 8 active columns, their code lines transposed (8 x 8 words) into an L1
// buffer, as the AVX-512 kernel does. Then per octet of rows and 32 active columns, the 32 words
// regrouped by byte (byte m of a word holds rows 2m and 2m + 1), so that each row's 32 codes are
// the low or the high nibbles of one 32-byte vector, decoded by the row's codebook planes
// (planes_avx2.h, as the rowwise kernel) into 32 weights in column order; one FMA per 8 weights
// and input of the tile.
#include <immintrin.h>

#include <algorithm>

#include "engine/colrow.h"
#include "engine/planes_avx2.h"

namespace eie::engine {
namespace {

// Lane sums of 8 vectors as one vector (in the order a[0..7]).
inline __m256 reduce8(const __m256* a) {
  const __m256 h01 = _mm256_hadd_ps(a[0], a[1]), h23 = _mm256_hadd_ps(a[2], a[3]);
  const __m256 h45 = _mm256_hadd_ps(a[4], a[5]), h67 = _mm256_hadd_ps(a[6], a[7]);
  const __m256 lo = _mm256_hadd_ps(h01, h23), hi = _mm256_hadd_ps(h45, h67);
  return _mm256_add_ps(_mm256_permute2f128_ps(lo, hi, 0x20), _mm256_permute2f128_ps(lo, hi, 0x31));
}

// Active columns per pass, gathered first into an L1 buffer per strip (as the AVX-512 kernel).
constexpr int64_t kBlockCols = 256;
constexpr int64_t kStripOctets = kColrowStripRows / 8;

// 8 x 8 transpose of 32-bit words (r[k]: 8 words of active column k -> r[w]: word w of the 8
// columns), 24 shuffles; used for whole full strips instead of 16 gathers per 8 columns.
inline void transpose8(__m256* r) {
  __m256 t[8], u[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int h = 0; h < 2; ++h) {
    u[4 * h] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * h + 1] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[4 * h + 2] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * h + 3] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x20);
    r[4 + i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x31);
  }
}

// Octet o (rows 8o .. 8o + 7) x the kb active columns whose words are words[0 .. kb) (kb a
// multiple of 32) x the tile's NT inputs (xc, np floats apart); out = the sums (first block) or +=.
template <int NT, bool kLowZero>
inline void octet_block(const Layout& L, int64_t o, const uint32_t* words, int64_t kb,
                        const float* xc, int64_t np, bool first, int64_t b0, float* out) {
  const int64_t r8 = 8 * o, rows = L.rows;
  const int nrows = rows - r8 < 8 ? static_cast<int>(rows - r8) : 8;
  // bytes[m][k]: byte m of column k's word (rows 2m | 2m + 1 << 4), for the kb columns.
  alignas(32) uint8_t bytes[4][kBlockCols];
  const __m256i by_byte = _mm256_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15,
                                           0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  for (int64_t k = 0; k < kb; k += 32) {
    __m256i v[4];
    for (int q = 0; q < 4; ++q)  // lane l, element e: byte e of columns k + 8q + 4l + 0..3
      v[q] = _mm256_shuffle_epi8(
          _mm256_load_si256(reinterpret_cast<const __m256i*>(words + k + 8 * q)), by_byte);
    const __m256i t0 = _mm256_unpacklo_epi32(v[0], v[1]), t1 = _mm256_unpackhi_epi32(v[0], v[1]);
    const __m256i t2 = _mm256_unpacklo_epi32(v[2], v[3]), t3 = _mm256_unpackhi_epi32(v[2], v[3]);
    // byte p of bytes[m] + k: column k + 8 * ((p % 16) / 4) + 4 * (p / 16) + p % 4, which the
    // planes' decode order (planes_avx2.h) turns back into columns k + 0..31 in order.
    _mm256_store_si256(reinterpret_cast<__m256i*>(bytes[0] + k), _mm256_unpacklo_epi64(t0, t2));
    _mm256_store_si256(reinterpret_cast<__m256i*>(bytes[1] + k), _mm256_unpackhi_epi64(t0, t2));
    _mm256_store_si256(reinterpret_cast<__m256i*>(bytes[2] + k), _mm256_unpacklo_epi64(t1, t3));
    _mm256_store_si256(reinterpret_cast<__m256i*>(bytes[3] + k), _mm256_unpackhi_epi64(t1, t3));
  }
  constexpr int NA = NT == 1 ? 4 : NT <= 3 ? 2 : 1;  // accumulator chains per input
  const __m256i lo4 = _mm256_set1_epi8(0x0f);
  __m256 sums[NT][8];
  for (int j = 0; j < 8; ++j) {
    for (int t = 0; t < NT; ++t) sums[t][j] = _mm256_setzero_ps();
    if (j >= nrows) continue;
    const Planes pl(L.row_codebook_planes(r8 + j));
    const uint8_t* bj = bytes[j / 2];
    __m256 a[NT][NA];
    for (int t = 0; t < NT; ++t)
      for (int i = 0; i < NA; ++i) a[t][i] = _mm256_setzero_ps();
    for (int64_t k = 0; k < kb; k += 32) {
      __m256i ids = _mm256_load_si256(reinterpret_cast<const __m256i*>(bj + k));
      if (j % 2 == 1) ids = _mm256_srli_epi16(ids, 4);
      __m256 w[4];
      pl.decode<kLowZero>(_mm256_and_si256(ids, lo4), w);
      for (int t = 0; t < NT; ++t)
        for (int q = 0; q < 4; ++q)
          a[t][q % NA] =
              _mm256_fmadd_ps(w[q], _mm256_loadu_ps(xc + t * np + k + 8 * q), a[t][q % NA]);
    }
    for (int t = 0; t < NT; ++t) {
      __m256 s = a[t][0];
      for (int i = 1; i < NA; ++i) s = _mm256_add_ps(s, a[t][i]);
      sums[t][j] = s;
    }
  }
  for (int t = 0; t < NT; ++t) {
    alignas(32) float y8[8];
    _mm256_store_ps(y8, reduce8(sums[t]));
    for (int j = 0; j < nrows; ++j) {
      float& y = out[(b0 + t) * rows + r8 + j];
      y = first ? y8[j] : y + y8[j];
    }
  }
}

template <int NT>
void run_octets(const Layout& L, int64_t o0, int64_t o1, const ColrowTile& tile, float* out) {
  const int64_t np = tile.np;
  alignas(64) uint32_t buf[kStripOctets * kBlockCols];  // 16 KiB on the stack
  for (int64_t s0 = o0; s0 < o1;) {
    const int64_t s1 = std::min(o1, (s0 / kStripOctets + 1) * kStripOctets);
    bool last;
    const int* base = reinterpret_cast<const int*>(colrow_octet_base(L, s0, last));
    const uint32_t* idx = last ? tile.idx_last : tile.idx_full;
    const int64_t words = last ? (L.rows % kColrowStripRows + 7) / 8 : kStripOctets;
    for (int64_t k0 = 0; k0 == 0 || k0 < np; k0 += kBlockCols) {
      const int64_t kb = std::min(kBlockCols, np - k0);
      if (s0 % kStripOctets == 0 && s1 - s0 == words) {  // a whole strip: lines + transposes
        const float* strip = reinterpret_cast<const float*>(base);
        for (int64_t k = 0; k < kb; k += 8)
          for (int h = 0; 8 * h < words; ++h) {  // words 8h .. 8h + 7 of the 8 columns' lines
            const int64_t n = words - 8 * h < 8 ? words - 8 * h : 8;  // a short strip: fewer
            const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)),
                                                 _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            __m256 r[8];
            for (int i = 0; i < 8; ++i)
              r[i] = n == 8 ? _mm256_loadu_ps(strip + idx[k0 + k + i] + 8 * h)
                            : _mm256_maskload_ps(strip + idx[k0 + k + i] + 8 * h, m);
            transpose8(r);
            for (int w = 0; w < n; ++w)
              _mm256_store_ps(reinterpret_cast<float*>(buf + (8 * h + w) * kBlockCols + k), r[w]);
          }
      } else {
        for (int64_t k = 0; k < kb; k += 8) {
          const __m256i vi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(idx + k0 + k));
          for (int64_t o = s0; o < s1; ++o)
            _mm256_store_si256(reinterpret_cast<__m256i*>(buf + (o - s0) * kBlockCols + k),
                               _mm256_i32gather_epi32(base + (o - s0), vi, 4));
        }
      }
      for (int64_t o = s0; o < s1; ++o)
        if (L.planes_low_zero)
          octet_block<NT, true>(L, o, buf + (o - s0) * kBlockCols, kb, tile.xc + k0, np, k0 == 0,
                                tile.b0, out);
        else
          octet_block<NT, false>(L, o, buf + (o - s0) * kBlockCols, kb, tile.xc + k0, np, k0 == 0,
                            tile.b0, out);
    }
    s0 = s1;
  }
}

void colrow(const Layout& L, int64_t o0, int64_t o1, const ColrowTile& tile, float* out) {
  switch (tile.nt) {
    case 1: run_octets<1>(L, o0, o1, tile, out); break;
    case 2: run_octets<2>(L, o0, o1, tile, out); break;
    case 3: run_octets<3>(L, o0, o1, tile, out); break;
    case 4: run_octets<4>(L, o0, o1, tile, out); break;
    case 5: run_octets<5>(L, o0, o1, tile, out); break;
    case 6: run_octets<6>(L, o0, o1, tile, out); break;
    case 7: run_octets<7>(L, o0, o1, tile, out); break;
    default: run_octets<8>(L, o0, o1, tile, out); break;
  }
}

}  // namespace

ColrowKernel colrow_kernel_avx2() { return colrow; }

}  // namespace eie::engine
