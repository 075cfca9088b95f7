// AMX kernel for the rowwise layout at batch 2..16 on bfloat16 values (compiled with AMX-TILE,
// AMX-BF16 and AVX-512 BF16 flags; entered only when CPUID reports AMX and AVX-512 BF16 and the
// OS granted this process the tile data state, see amx_ready).
//
// y (batch, rows) = W x^T as tiles: C (16 rows x batch) fp32 += A (16 rows x 32 columns, bf16)
// . B (32 columns x batch, bf16 pairs), one TDPBF16PS per 16 x 32 weights. A is decoded in L1
// straight to bf16 from the 4-bit codes: a row's 64-byte code chunk (layout.h ROWWISE) read as
// 32 16-bit words holds in word 2i the codes of columns i, 16 + i, 32 + i, 48 + i (4 bits each)
// and in word 2i + 1 those of 64 + i, 80 + i, 96 + i, 112 + i. Shifted right by 4k, the words'
// low nibbles index the row's bf16 codebook (32 words: the 16 entries twice, so bit 4 of the
// index, the next code's low bit, does not matter) through one VPERMW: tile row k of the chunk,
// whose K pair i is columns (16k + i, 64 + 16k + i). Per 128 weights: 3 shifts, 4 permutes, 4
// stores. B is packed once per call in the same column order (VNNI pairs), so the K order of A
// and B agree. Products of bf16 values are exact and accumulate in fp32: with bf16 inputs and
// codebooks holding bf16 values the result is exact-product fp32 arithmetic; with bf16
// precision asked for, inputs and codebooks are first rounded to bf16 (to nearest even).
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "engine/layout.h"
#include "engine/reduce_avx512.h"

namespace eie::engine {
namespace {

constexpr long kArchReqXcompPerm = 0x1023;  // arch_prctl: request permission for a state
constexpr long kXfeatureXtiledata = 18;

struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

inline __mmask16 lanes_from(int64_t c, int64_t cols) {
  const int64_t n = cols - c;
  return n >= 16 ? static_cast<__mmask16>(0xffff)
                 : n <= 0 ? static_cast<__mmask16>(0) : static_cast<__mmask16>((1u << n) - 1);
}

// 16 values from column c of one input row, as bf16 bits (zeros past cols).
inline __m256i load_bf16(const void* row, InKind kind, int64_t c, int64_t cols) {
  const __mmask16 m = lanes_from(c, cols);
  if (kind == InKind::bf16)
    return _mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(row) + c);
  __m512 f;
  if (kind == InKind::f32) {
    f = _mm512_maskz_loadu_ps(m, static_cast<const float*>(row) + c);
  } else {
    f = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(row) + c));
  }
  return reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(f));
}

// The index vector that interleaves two 16-word halves: word 2i <- a_i, word 2i + 1 <- b_i (a in
// words 0..15, b in 16..31).
inline __m512i pair_order() {
  alignas(64) uint16_t order[32];
  for (int i = 0; i < 16; ++i) {
    order[2 * i] = static_cast<uint16_t>(i);
    order[2 * i + 1] = static_cast<uint16_t>(16 + i);
  }
  return _mm512_load_si512(order);
}

// Columns 128t + 16k + i and 128t + 64 + 16k + i of one input row (c = 128t + 16k) as 16 bf16
// pairs, zero past cols.
inline __m512i input_pairs(const void* row, InKind kind, int64_t c, int64_t cols, __m512i zip) {
  const __m256i a = load_bf16(row, kind, c, cols), b = load_bf16(row, kind, c + 64, cols);
  return _mm512_permutexvar_epi16(zip, _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1));
}

}  // namespace

bool amx_ready() {
  static const bool ok = [] {
    if (!cpu_features().amx_bf16 || !cpu_features().avx512_bf16) return false;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
  }();
  return ok;
}

// Inputs (batch, cols) -> B tiles: for chunk t and tile k, 16 rows i of batch pairs
// (x[n][128t + 16k + i], x[n][128t + 64 + 16k + i]), zero past cols: out holds pc * batch values,
// tile (t, k) at (4t + k) * 16 * batch * 2.
void amx_pack_inputs(const void* x, InKind kind, int64_t batch, int64_t cols, int64_t pc,
                     uint16_t* out) {
  const size_t elem = kind == InKind::f32 ? 4 : 2;
  const __m512i zip = pair_order();
  const __m512i rows_at = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6,
                                                              5, 4, 3, 2, 1, 0),
                                             _mm512_set1_epi32(static_cast<int>(batch)));
  for (int64_t n = 0; n < batch; ++n) {
    const void* row = static_cast<const char*>(x) + static_cast<size_t>(n * cols) * elem;
    for (int64_t t = 0; t < pc / 128; ++t)
      for (int64_t k = 0; k < 4; ++k) {
        const __m512i pairs = input_pairs(row, kind, 128 * t + 16 * k, cols, zip);
        int* tile = reinterpret_cast<int*>(out) + (4 * t + k) * 16 * batch + n;
        _mm512_i32scatter_epi32(tile, rows_at, pairs, 4);
      }
  }
}

// Rows [r_begin, r_end) (r_begin a multiple of 16): acc[n * rows + r] = sum_c W[r, c] x[n, c].
void amx_rowwise(const Layout& L, int64_t r_begin, int64_t r_end, const uint16_t* xpack,
                 int64_t batch, float* acc) {
  // Tiles 0..3: C, one per tile row k of a chunk (four independent accumulation chains: one
  // TDPBF16PS waits for the previous one on the same C), summed at the end; tile 4: A, tile 5:
  // B. The decoded A tiles alternate between two buffers by chunk, so decoding chunk t + 1 does
  // not wait for the tile loads of chunk t.
  TileConfig cfg;
  for (int i = 0; i < 4; ++i) {
    cfg.rows[i] = 16;
    cfg.colsb[i] = static_cast<uint16_t>(batch * 4);
  }
  cfg.rows[4] = 16;  // A: 16 rows x 32 bf16
  cfg.colsb[4] = 64;
  cfg.rows[5] = 16;  // B: 16 pair rows x batch bf16 pairs
  cfg.colsb[5] = static_cast<uint16_t>(batch * 4);
  _tile_loadconfig(&cfg);
  const int64_t pc = L.padded_cols(), nchunks = pc / 128, stride = L.row_stride;
  const int bstride = static_cast<int>(batch * 4);
  const int64_t btile = 16 * batch * 2;  // bf16 values per B tile
  alignas(64) uint16_t abuf[2][4][16][32];  // two chunks' four A tiles (2 x 4 KiB)
  alignas(64) float cbuf[4][16][16];
  __m512i cb[16];
  for (int64_t r0 = r_begin; r0 < r_end; r0 += 16) {
    const int64_t nr = r_end - r0 < 16 ? r_end - r0 : 16;
    if (nr < 16) std::memset(abuf, 0, sizeof(abuf));  // rows past the end multiply to zero
    for (int64_t m = 0; m < nr; ++m) cb[m] = _mm512_loadu_si512(L.row_codebook_bf16(r0 + m));
    const uint8_t* codes = L.codes.data() + r0 * stride;
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (int64_t t = 0; t < nchunks; ++t) {
      uint16_t(*a)[16][32] = abuf[t & 1];
      for (int64_t m = 0; m < nr; ++m) {
        const uint8_t* p = codes + m * stride + 64 * t;
        _mm_prefetch(reinterpret_cast<const char*>(p + 512), _MM_HINT_T0);
        const __m512i v = _mm512_loadu_si512(p);
        _mm512_store_si512(a[0][m], _mm512_permutexvar_epi16(v, cb[m]));
        _mm512_store_si512(a[1][m], _mm512_permutexvar_epi16(_mm512_srli_epi16(v, 4), cb[m]));
        _mm512_store_si512(a[2][m], _mm512_permutexvar_epi16(_mm512_srli_epi16(v, 8), cb[m]));
        _mm512_store_si512(a[3][m], _mm512_permutexvar_epi16(_mm512_srli_epi16(v, 12), cb[m]));
      }
      const uint16_t* xb = xpack + 4 * t * btile;
      _tile_loadd(4, a[0], 64);
      _tile_loadd(5, xb, bstride);
      _tile_dpbf16ps(0, 4, 5);
      _tile_loadd(4, a[1], 64);
      _tile_loadd(5, xb + btile, bstride);
      _tile_dpbf16ps(1, 4, 5);
      _tile_loadd(4, a[2], 64);
      _tile_loadd(5, xb + 2 * btile, bstride);
      _tile_dpbf16ps(2, 4, 5);
      _tile_loadd(4, a[3], 64);
      _tile_loadd(5, xb + 3 * btile, bstride);
      _tile_dpbf16ps(3, 4, 5);
    }
    _tile_stored(0, cbuf[0], 64);
    _tile_stored(1, cbuf[1], 64);
    _tile_stored(2, cbuf[2], 64);
    _tile_stored(3, cbuf[3], 64);
    for (int64_t m = 0; m < nr; ++m)
      for (int64_t n = 0; n < batch; ++n)
        acc[n * L.rows + r0 + m] = (cbuf[0][m][n] + cbuf[1][m][n]) + (cbuf[2][m][n] + cbuf[3][m][n]);
  }
  _tile_release();
}

// ---- AVX512-BF16 dot products (CPUs with AVX512-BF16 and no AMX: bf16_dot_ready) ----------
//
// The same products as the AMX kernel, in zmm registers: per row and chunk, the four VPERMW
// decodes above give, for k = 0..3, the bf16 weights of columns (16k + i, 64 + 16k + i) as word
// pair i; the inputs are packed in the same pairs (bf16_dot_pack_inputs), so one VDPBF16PS per
// k and input adds, in fp32 lane i, the two products of that pair. Lane i thus sums the columns
// congruent to i mod 16; the 16 lanes are added at the end (reduce4). Passes of NR rows x NB
// inputs share each decode over the inputs and each input vector over the rows.

bool bf16_dot_ready() { return cpu_features().avx512 && cpu_features().avx512_bf16; }

// Inputs (batch, cols) -> per input n, chunk t and k: 16 pairs (x[n][128t + 16k + i],
// x[n][128t + 64 + 16k + i]) as 32 bf16 values at ((n * nchunks + t) * 4 + k) * 32, zero past
// cols: out holds batch * pc values.
void bf16_dot_pack_inputs(const void* x, InKind kind, int64_t batch, int64_t cols, int64_t pc,
                          uint16_t* out) {
  const size_t elem = kind == InKind::f32 ? 4 : 2;
  const __m512i zip = pair_order();
  const int64_t nchunks = pc / 128;
  for (int64_t n = 0; n < batch; ++n) {
    const void* row = static_cast<const char*>(x) + static_cast<size_t>(n * cols) * elem;
    for (int64_t t = 0; t < nchunks; ++t)
      for (int64_t k = 0; k < 4; ++k) {
        _mm512_storeu_si512(out + ((n * nchunks + t) * 4 + k) * 32,
                            input_pairs(row, kind, 128 * t + 16 * k, cols, zip));
      }
  }
}

namespace {

template <int NR, int NB>
__attribute__((always_inline)) inline void bf16_dot_pass(const Layout& L, int64_t r,
                                                         const uint16_t* xpk, int64_t nchunks,
                                                         float* acc) {
  __m512i cb[NR];
  const uint8_t* p[NR];
  for (int m = 0; m < NR; ++m) {
    cb[m] = _mm512_loadu_si512(L.row_codebook_bf16(r + m));
    p[m] = L.codes.data() + (r + m) * L.row_stride;
  }
  __m512 a[NR][NB];
  for (int m = 0; m < NR; ++m)
    for (int b = 0; b < NB; ++b) a[m][b] = _mm512_setzero_ps();
  for (int64_t t = 0; t < nchunks; ++t) {
    __m512i v[NR];
    for (int m = 0; m < NR; ++m) v[m] = _mm512_loadu_si512(p[m] + 64 * t);
    for (int k = 0; k < 4; ++k) {
      __m512i w[NR];
      for (int m = 0; m < NR; ++m)
        w[m] = _mm512_permutexvar_epi16(k == 0 ? v[m] : _mm512_srli_epi16(v[m], 4 * k), cb[m]);
      for (int b = 0; b < NB; ++b) {
        const __m512i xv = _mm512_loadu_si512(xpk + ((b * nchunks + t) * 4 + k) * 32);
        for (int m = 0; m < NR; ++m)
          a[m][b] = _mm512_dpbf16_ps(a[m][b], reinterpret_cast<__m512bh>(w[m]),
                                     reinterpret_cast<__m512bh>(xv));
      }
    }
  }
  reduce_pass<NR, NB>(a, [&](int m, int b, float v) { acc[b * L.rows + r + m] = v; });
}

// One pass of rows [r, r + NR) over every input, four at a time: the rows' codes are read
// from memory once and stay in L1 for the next four inputs (the inputs outer, each group
// streaming the whole layer again, ran 11008x4096 at batch 8 4.7x slower than 4096x4096 for
// 2.7x the weights; AMD Zen 4).
template <int NR>
void bf16_dot_rows_all(const Layout& L, int64_t r, const uint16_t* xpk, int64_t batch,
                       int64_t nchunks, float* acc) {
  for (int64_t b0 = 0; b0 < batch; b0 += 4) {
    const uint16_t* x = xpk + b0 * nchunks * 128;
    float* y = acc + b0 * L.rows;
    switch (batch - b0 < 4 ? batch - b0 : 4) {
      case 1: bf16_dot_pass<NR, 1>(L, r, x, nchunks, y); break;
      case 2: bf16_dot_pass<NR, 2>(L, r, x, nchunks, y); break;
      case 3: bf16_dot_pass<NR, 3>(L, r, x, nchunks, y); break;
      default: bf16_dot_pass<NR, 4>(L, r, x, nchunks, y); break;
    }
  }
}

}  // namespace

void bf16_dot_rowwise(const Layout& L, int64_t r_begin, int64_t r_end, const uint16_t* xpk,
                      int64_t batch, float* acc) {
  const int64_t nchunks = L.padded_cols() / 128;
  int64_t r = r_begin;
  for (; r + 4 <= r_end; r += 4) bf16_dot_rows_all<4>(L, r, xpk, batch, nchunks, acc);
  for (; r < r_end; ++r) bf16_dot_rows_all<1>(L, r, xpk, batch, nchunks, acc);
}

}  // namespace eie::engine
