// The colrow kernel in portable C++ (colrow.h): the reference the SIMD kernels are tested against.
#include "engine/colrow.h"

namespace eie::engine {
namespace {

void colrow(const Layout& L, int64_t o_begin, int64_t o_end, const ColrowTile& tile, float* out) {
  for (int64_t o = o_begin; o < o_end; ++o) {
    bool last;
    const uint32_t* base = colrow_octet_base(L, o, last);
    const uint32_t* idx = last ? tile.idx_last : tile.idx_full;
    for (int64_t j = 0; j < 8 && 8 * o + j < L.rows; ++j) {
      const int64_t r = 8 * o + j;
      const float* cb = L.row_codebook(r);
      for (int64_t t = 0; t < tile.nt; ++t) {
        const float* x = tile.xc + t * tile.np;
        float s = 0.0f;
        for (int64_t i = 0; i < tile.np; ++i) s += cb[(base[idx[i]] >> (4 * j)) & 15u] * x[i];
        out[(tile.b0 + t) * L.rows + r] = s;
      }
    }
  }
}

}  // namespace

ColrowKernel colrow_kernel_scalar() { return colrow; }

}  // namespace eie::engine
