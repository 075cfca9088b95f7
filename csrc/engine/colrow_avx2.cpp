// The colrow kernel for AVX2 (colrow.h; compiled with -mavx2 -mfma, entered only after a CPUID
// check): as the AVX-512 one with 8 lanes. Per strip and 8 active columns, their code lines
// transposed (8 x 8 words) into an L1 buffer; then per octet of rows and 8 columns, per row a
// shift and a 16-entry lookup (two vpermps and a blend on the code's bit 3, as the rowwise
// kernel) and one FMA per input of the tile.
#include <immintrin.h>

#include <algorithm>

#include "engine/colrow.h"

namespace eie::engine {
namespace {

inline __m256 lookup16(__m256i idx, __m256 lo, __m256 hi) {
  return _mm256_blendv_ps(_mm256_permutevar8x32_ps(lo, idx), _mm256_permutevar8x32_ps(hi, idx),
                          _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)));
}

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

template <int NT, int RP>
inline void octet_block(const Layout& L, int64_t o, const uint32_t* words, int64_t kb,
                        const float* xc, int64_t np, bool first, int64_t b0, float* out) {
  const int64_t r8 = 8 * o, rows = L.rows;
  const int nrows = rows - r8 < 8 ? static_cast<int>(rows - r8) : 8;
  constexpr int kAcc = (NT * RP + 7) / 8 * 8;
  for (int j0 = 0; j0 < nrows; j0 += RP) {
    const float* cb[RP];
    for (int i = 0; i < RP; ++i)
      cb[i] = L.row_codebook(r8 + j0 + i < rows ? r8 + j0 + i : rows - 1);
    __m256 acc[kAcc];
    for (int i = 0; i < kAcc; ++i) acc[i] = _mm256_setzero_ps();
    for (int64_t k = 0; k < kb; k += 8) {
      __m256i v = _mm256_load_si256(reinterpret_cast<const __m256i*>(words + k));
      if (j0 != 0) v = _mm256_srli_epi32(v, 4 * j0);
      for (int i = 0; i < RP; ++i) {
        const __m256 w = lookup16(i == 0 ? v : _mm256_srli_epi32(v, 4 * i),
                                  _mm256_loadu_ps(cb[i]), _mm256_loadu_ps(cb[i] + 8));
        for (int t = 0; t < NT; ++t)
          acc[t * RP + i] = _mm256_fmadd_ps(w, _mm256_loadu_ps(xc + t * np + k), acc[t * RP + i]);
      }
    }
    alignas(32) float sums[kAcc];
    for (int g = 0; g < kAcc; g += 8) _mm256_store_ps(sums + g, reduce8(acc + g));
    for (int t = 0; t < NT; ++t)
      for (int i = 0; i < RP && j0 + i < nrows; ++i) {
        float& y = out[(b0 + t) * rows + r8 + j0 + i];
        y = first ? sums[t * RP + i] : y + sums[t * RP + i];
      }
  }
}

template <int NT, int RP>
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
        octet_block<NT, RP>(L, o, buf + (o - s0) * kBlockCols, kb, tile.xc + k0, np, k0 == 0,
                            tile.b0, out);
    }
    s0 = s1;
  }
}

void colrow(const Layout& L, int64_t o0, int64_t o1, const ColrowTile& tile, float* out) {
  switch (tile.nt) {
    case 1: run_octets<1, 8>(L, o0, o1, tile, out); break;
    case 2: run_octets<2, 4>(L, o0, o1, tile, out); break;
    case 3: run_octets<3, 2>(L, o0, o1, tile, out); break;
    case 4: run_octets<4, 2>(L, o0, o1, tile, out); break;
    case 5: run_octets<5, 1>(L, o0, o1, tile, out); break;
    case 6: run_octets<6, 1>(L, o0, o1, tile, out); break;
    case 7: run_octets<7, 1>(L, o0, o1, tile, out); break;
    default: run_octets<8, 1>(L, o0, o1, tile, out); break;
  }
}

}  // namespace

ColrowKernel colrow_kernel_avx2() { return colrow; }

}  // namespace eie::engine
