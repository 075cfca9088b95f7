// The row-view kernel (layout.h, "ROW VIEW"), shared by the scalar and AVX2 kernel tables: the
// same C++ compiled with each unit's ISA flags (internal linkage, as in prefetch.h). Per output
// row, in registers: a grouped run of four entries of one code adds the code's weight times the
// sum of their four activations; tail entries add weight times activation. Two accumulators
// alternate so consecutive runs do not wait on each other's add.
#pragma once
#include <cstdint>
#include <cstring>

#include "engine/layout.h"

namespace eie::engine {
namespace {

// The sum of the four activations of one grouped run (entries packed in q).
inline float sum4(const float* x, uint64_t q) {
  return (x[q & 0xfff] + x[(q >> 16) & 0xfff]) + (x[(q >> 32) & 0xfff] + x[(q >> 48) & 0xfff]);
}

// Panel by panel (each panel's activations, 16 KiB at most, stay in L1); y holds the partial
// sums between panels and the finished outputs after the last.
inline void rows1_impl(const Layout& L, int64_t r_begin, int64_t r_end, const float* x,
                       const float* bias, bool relu, float* y) {
  const uint16_t* ent = L.row_entries.data();
  const float* cb = L.codebook;
  const int64_t panels = L.row_panels;
  for (int64_t p = 0; p < panels; ++p) {
    const float* xp = x + p * kRowPanelCols;
    const uint32_t* ptr = L.row_ptr.data() + p * L.rows;
    const uint32_t* mid = L.row_mid.data() + p * L.rows;
    for (int64_t r = r_begin; r < r_end; ++r) {
      uint32_t e = ptr[r];
      const uint32_t gend = mid[r], end = ptr[r + 1];
      float a0 = 0.0f, a1 = 0.0f;
      for (; e + 8 <= gend; e += 8) {  // two runs of four
        uint64_t q0, q1;
        std::memcpy(&q0, ent + e, 8);
        std::memcpy(&q1, ent + e + 4, 8);
        a0 += cb[(q0 >> 12) & 15] * sum4(xp, q0);
        a1 += cb[(q1 >> 12) & 15] * sum4(xp, q1);
      }
      if (e < gend) {
        uint64_t q;
        std::memcpy(&q, ent + e, 8);
        a0 += cb[(q >> 12) & 15] * sum4(xp, q);
        e += 4;
      }
      for (; e < end; ++e) {
        const uint16_t u = ent[e];
        a1 += cb[u >> 12] * xp[u & 0xfff];
      }
      float v = a0 + a1;
      if (p > 0) v += y[r];
      if (p == panels - 1) {
        if (bias != nullptr) v += bias[r];
        if (relu) v = v < 0.0f ? 0.0f : v;  // NaN stays NaN, like np.maximum
      }
      y[r] = v;
    }
  }
}

}  // namespace
}  // namespace eie::engine
