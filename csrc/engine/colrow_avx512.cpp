// The colrow kernel for AVX-512 (colrow.h; compiled with AVX-512 F/BW/VL/DQ/VBMI, entered only
// after a CPUID check). Per strip and chunk of 16 active columns, their code lines transposed into
// an L1 buffer (octet-major); then per octet of rows and chunk, per row one shift and one vpermps
// on the row's codebook (held in a register) and one FMA per input of the tile. RP rows x NT inputs accumulate in registers over
// all chunks and are summed across lanes together at the end (reduce8).
#include <immintrin.h>

#include <algorithm>

#include "engine/colrow.h"

namespace eie::engine {
namespace {

// Lane sums of 8 vectors, as one vector of 8 floats (in the order a[0..7]): 16 shuffles and
// 8 adds for the 8 sums, where summing each vector alone takes 8 ops.
inline __m256 reduce8(const __m512* a) {
  __m512 p[4];
  for (int i = 0; i < 4; ++i)  // per 128-bit lane: [a0+a2, b0+b2, a1+a3, b1+b3] of a = a[2i]
    p[i] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * i], a[2 * i + 1]),
                         _mm512_unpackhi_ps(a[2 * i], a[2 * i + 1]));
  __m512 q[2];
  for (int i = 0; i < 2; ++i) {  // per 128-bit lane: the partial sums of 4 vectors
    const __m512d x = _mm512_castps_pd(p[2 * i]), y = _mm512_castps_pd(p[2 * i + 1]);
    q[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)),
                         _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
  }
  const __m512 v = _mm512_add_ps(_mm512_shuffle_f32x4(q[0], q[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                 _mm512_shuffle_f32x4(q[0], q[1], _MM_SHUFFLE(3, 1, 3, 1)));
  const __m512 w = _mm512_add_ps(_mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(0, 0, 2, 0)),
                                 _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(0, 0, 3, 1)));
  return _mm512_castps512_ps256(w);
}

// Active columns per pass: their code words of 16 octets (one strip) are first gathered into an
// L1 buffer (16 x 512 words = 32 KiB), octet after octet for each chunk of 16 columns, so the 16
// lines a gather touches stay in L1 for the strip's other 15 octets; the rows then read the
// buffer with plain loads, however many passes (rows x inputs) they take. Without it, columns
// of 1536 or 4096 inputs (a strip of 96 / 256 KiB) made every gather miss L1.
constexpr int64_t kBlockCols = 512;
constexpr int64_t kStripOctets = kColrowStripRows / 8;

// 16 x 16 transpose of 32-bit words: r[k] = the 64-byte line of active column k (word w = octet
// w of a full strip) -> r[w] = octet w's words of the 16 columns. 64 shuffles, where 16 gathers
// of the same words cost ~5x more here (measured with thread CPU time, see
// docs/benchmarks-log-issue-14c.md).
inline void transpose16(__m512* r) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
    r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  for (int h = 0; h < 2; ++h)
    for (int i = 0; i < 4; ++i) {
      t[8 * h + i] = _mm512_shuffle_f32x4(r[8 * h + i], r[8 * h + 4 + i], 0x88);
      t[8 * h + 4 + i] = _mm512_shuffle_f32x4(r[8 * h + i], r[8 * h + 4 + i], 0xdd);
    }
  for (int i = 0; i < 8; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0x88);
    r[8 + i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0xdd);
  }
}

// One octet's rows over one block of kb active columns: RP rows x NT inputs per pass.
template <int NT, int RP>
inline void octet_block(const Layout& L, int64_t o, const uint32_t* words, int64_t kb,
                        const float* xc, int64_t np, bool first, int64_t b0, float* out) {
  const int64_t r8 = 8 * o, rows = L.rows;
  const int nrows = rows - r8 < 8 ? static_cast<int>(rows - r8) : 8;
  constexpr int kAcc = (NT * RP + 7) / 8 * 8;
  for (int j0 = 0; j0 < nrows; j0 += RP) {
    __m512 cb[RP];
    for (int i = 0; i < RP; ++i) {
      const int64_t r = r8 + j0 + i < rows ? r8 + j0 + i : rows - 1;
      cb[i] = _mm512_loadu_ps(L.row_codebook(r));
    }
    __m512 acc[kAcc];
    for (int i = 0; i < kAcc; ++i) acc[i] = _mm512_setzero_ps();
    for (int64_t k = 0; k < kb; k += 16) {
      __m512i v = _mm512_load_si512(words + k);
      if (j0 != 0) v = _mm512_srli_epi32(v, static_cast<unsigned>(4 * j0));
      __m512 xv[NT];
      for (int t = 0; t < NT; ++t) xv[t] = _mm512_loadu_ps(xc + t * np + k);
      for (int i = 0; i < RP; ++i) {
        const __m512 w = _mm512_permutexvar_ps(i == 0 ? v : _mm512_srli_epi32(v, 4 * i), cb[i]);
        for (int t = 0; t < NT; ++t) acc[t * RP + i] = _mm512_fmadd_ps(w, xv[t], acc[t * RP + i]);
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
  alignas(64) uint32_t buf[kStripOctets * kBlockCols];  // 32 KiB on the stack
  for (int64_t s0 = o0; s0 < o1;) {  // octets of one strip at a time
    const int64_t s1 = std::min(o1, (s0 / kStripOctets + 1) * kStripOctets);
    bool last;
    const uint32_t* base = colrow_octet_base(L, s0, last);
    const uint32_t* idx = last ? tile.idx_last : tile.idx_full;
    const int64_t words = last ? (L.rows % kColrowStripRows + 7) / 8 : kStripOctets;
    const __mmask16 wmask = static_cast<__mmask16>((1u << words) - 1);
    for (int64_t k0 = 0; k0 == 0 || k0 < np; k0 += kBlockCols) {
      const int64_t kb = std::min(kBlockCols, np - k0);
      if (s0 % kStripOctets == 0 && s1 - s0 == words) {  // a whole strip: lines + transpose
        const uint32_t* strip = base;  // s0 is the strip's first octet
        for (int64_t k = 0; k < kb; k += 16) {
          __m512 r[16];
          for (int i = 0; i < 16; ++i)  // a short strip's column holds `words` words
            r[i] = words == kStripOctets ? _mm512_loadu_ps(strip + idx[k0 + k + i])
                                         : _mm512_maskz_loadu_ps(wmask, strip + idx[k0 + k + i]);
          transpose16(r);
          for (int w = 0; w < words; ++w)
            _mm512_store_ps(reinterpret_cast<float*>(buf + w * kBlockCols + k), r[w]);
        }
      } else {
        for (int64_t k = 0; k < kb; k += 16) {
          const __m512i vi = _mm512_loadu_si512(idx + k0 + k);
          for (int64_t o = s0; o < s1; ++o)
            _mm512_store_si512(buf + (o - s0) * kBlockCols + k,
                               _mm512_i32gather_epi32(vi, base + (o - s0), 4));
        }
      }
      for (int64_t o = s0; o < s1; ++o)
        octet_block<NT, RP>(L, o, buf + (o - s0) * kBlockCols, kb, tile.xc + k0, np, k0 == 0,
                            tile.b0, out);
    }
    s0 = s1;
  }
}

// Rows per pass by tile size: RP x NT accumulators plus RP codebooks and NT inputs in 32
// registers.
void colrow(const Layout& L, int64_t o0, int64_t o1, const ColrowTile& tile, float* out) {
  switch (tile.nt) {
    case 1: run_octets<1, 8>(L, o0, o1, tile, out); break;
    case 2: run_octets<2, 8>(L, o0, o1, tile, out); break;
    case 3: run_octets<3, 4>(L, o0, o1, tile, out); break;
    case 4: run_octets<4, 4>(L, o0, o1, tile, out); break;
    case 5: run_octets<5, 2>(L, o0, o1, tile, out); break;
    case 6: run_octets<6, 2>(L, o0, o1, tile, out); break;
    case 7: run_octets<7, 2>(L, o0, o1, tile, out); break;
    default: run_octets<8, 2>(L, o0, o1, tile, out); break;
  }
}

}  // namespace

ColrowKernel colrow_kernel_avx512() { return colrow; }

}  // namespace eie::engine
