// AMX kernel for the rowwise layout at batch 2..16 with bfloat16 inputs (compiled with AMX-TILE,
// AMX-BF16 and AVX-512 BF16 flags; entered only when CPUID reports AMX and the OS granted this
// process the tile data state, see amx_ready).
//
// y (batch, rows) = W x^T as tiles: C (16 rows x batch) fp32 += A (16 rows x 32 columns, bf16)
// . B (32 columns x batch, bf16 pairs), one TDPBF16PS per 16 x 32 weights. A is decoded in L1
// from the 4-bit codes: per row, the 64-byte code chunk (layout.h ROWWISE) gives code slots j
// by shifts, vpermps looks them up in the row's codebook, and VCVTNE2PS2BF16 packs slots j, j+1
// (columns 16j .. 16j + 31, in order) into one 64-byte tile row. B is packed once per call from
// the inputs (pairs of consecutive columns, VNNI order). Products of bf16 values are exact and
// accumulate in fp32, so the result is exact-product fp32 arithmetic when the codebooks hold
// bf16 values and the inputs are bf16 (the only case run_layout sends here).
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "engine/layout.h"

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

}  // namespace

bool amx_ready() {
  static const bool ok = [] {
    if (!cpu_features().amx_bf16) return false;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
  }();
  return ok;
}

// Inputs (batch, cols) bf16 bits -> B tiles: for each 32-column group q, 16 rows of batch pairs
// (x[n][32q + 2k], x[n][32q + 2k + 1]), zero past cols. out holds (pc / 32) * 16 * batch * 2.
void amx_pack_inputs(const uint16_t* x, int64_t batch, int64_t cols, int64_t pc, uint16_t* out) {
  for (int64_t q = 0; q < pc / 32; ++q)
    for (int64_t k = 0; k < 16; ++k)
      for (int64_t n = 0; n < batch; ++n)
        for (int64_t h = 0; h < 2; ++h) {
          const int64_t c = 32 * q + 2 * k + h;
          out[((q * 16 + k) * batch + n) * 2 + h] = c < cols ? x[n * cols + c] : 0;
        }
}

// Rows [r_begin, r_end) (r_begin a multiple of 16): acc[n * rows + r] = sum_c W[r, c] x[n, c].
void amx_rowwise(const Layout& L, int64_t r_begin, int64_t r_end, const uint16_t* xpack,
                 int64_t batch, float* acc) {
  // Tiles 0..3: C, one per 32-column group of a chunk (four independent accumulation chains:
  // one TDPBF16PS waits for the previous one on the same C), summed at the end; tile 4: A,
  // tile 5: B. The decoded A tiles alternate between two buffers by chunk, so decoding chunk
  // t + 1 does not wait for the tile loads of chunk t.
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
  const int64_t pc = L.padded_cols(), nchunks = pc / 128;
  alignas(64) uint16_t abuf[2][4][16][32];  // two chunks' four A tiles (2 x 4 KiB)
  alignas(64) float cbuf[4][16][16];
  for (int64_t r0 = r_begin; r0 < r_end; r0 += 16) {
    const int64_t nr = r_end - r0 < 16 ? r_end - r0 : 16;
    if (nr < 16) std::memset(abuf, 0, sizeof(abuf));  // rows past the end multiply to zero
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (int64_t t = 0; t < nchunks; ++t) {
      uint16_t(*a)[16][32] = abuf[t & 1];
      for (int64_t m = 0; m < nr; ++m) {
        const int64_t r = r0 + m;
        const __m512 cb = _mm512_loadu_ps(L.row_codebook(r));
        const __m512i v = _mm512_loadu_si512(L.codes.data() + r * L.row_stride + 64 * t);
        for (int g = 0; g < 4; ++g) {
          const __m512 w0 = _mm512_permutexvar_ps(_mm512_srli_epi32(v, 8 * g), cb);
          const __m512 w1 = _mm512_permutexvar_ps(_mm512_srli_epi32(v, 8 * g + 4), cb);
          _mm512_store_si512(a[g][m], reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(w1, w0)));
        }
      }
      const uint16_t* xb = xpack + 4 * t * 16 * batch * 2;
      const int bstride = static_cast<int>(batch * 4);
      _tile_loadd(4, a[0], 64);
      _tile_loadd(5, xb, bstride);
      _tile_dpbf16ps(0, 4, 5);
      _tile_loadd(4, a[1], 64);
      _tile_loadd(5, xb + 16 * batch * 2, bstride);
      _tile_dpbf16ps(1, 4, 5);
      _tile_loadd(4, a[2], 64);
      _tile_loadd(5, xb + 2 * 16 * batch * 2, bstride);
      _tile_dpbf16ps(2, 4, 5);
      _tile_loadd(4, a[3], 64);
      _tile_loadd(5, xb + 3 * 16 * batch * 2, bstride);
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

}  // namespace eie::engine
