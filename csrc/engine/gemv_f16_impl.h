// The float16 GEMV kernel (gemv_f16.h), written once over a vector type V and compiled in each
// ISA unit with its flags (internal linkage, as prefetch.h). V: W float lanes, zero(), load(x),
// load_half(w) (W halves converted exactly), fma(a, b, c) = a * b + c, add(a, b), sum(v).
//
// At batch 1 the loop streams 2 bytes per multiply-add from memory, below the FMA units' rate,
// so the memory stream is what counts: rows are read one after another, one sequential stream
// the hardware prefetchers follow (two accumulator chains per row). Four rows interleaved, even
// with software prefetches, ran at half the bandwidth on an AMD Zen 4 (docs/benchmarks-log.md,
// 2026-12-03), as the int8 kernel found for its code streams. Batches of tokens convert
// four rows to float32 once (in a thread-local buffer, 16 * cols bytes) and reuse them for every
// token.
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <vector>

#include "engine/layout.h"

namespace eie::engine {
namespace {

// One row's weights: float16 bits (the weight) or float32 (a batch's converted rows).
template <class V>
inline auto load_w(const uint16_t* p) { return V::load_half(p); }
template <class V>
inline auto load_w(const float* p) { return V::load(p); }
inline float to_float(uint16_t h) { return half_to_float(h); }
inline float to_float(float f) { return f; }

template <class V, class T>
inline float dot1(const T* w, int64_t cols, const float* x) {
  auto a = V::zero(), b = V::zero();
  int64_t c = 0;
  for (; c + 2 * V::W <= cols; c += 2 * V::W) {
    a = V::fma(load_w<V>(w + c), V::load(x + c), a);
    b = V::fma(load_w<V>(w + c + V::W), V::load(x + c + V::W), b);
  }
  if (c + V::W <= cols) a = V::fma(load_w<V>(w + c), V::load(x + c), a), c += V::W;
  float s = V::sum(V::add(a, b));
  for (; c < cols; ++c) s += to_float(w[c]) * x[c];
  return s;
}

template <class V>
void gemv_f16_rows_impl(const uint16_t* w, int64_t rows, int64_t cols, const float* x,
                        int64_t batch, int64_t r0, int64_t r1, float* y) {
  if (batch == 1) {
    for (int64_t r = r0; r < r1; ++r) y[r] = dot1<V>(w + r * cols, cols, x);
    return;
  }
  static thread_local std::vector<float> buf;
  buf.resize(static_cast<size_t>(4 * cols));
  for (int64_t r = r0; r < r1; r += 4) {
    const int64_t n = r1 - r < 4 ? r1 - r : 4;
    for (int64_t i = 0; i < n * cols; ++i) buf[static_cast<size_t>(i)] = half_to_float(w[r * cols + i]);
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t k = 0; k < n; ++k)
        y[b * rows + r + k] = dot1<V>(buf.data() + k * cols, cols, x + b * cols);
  }
}

}  // namespace
}  // namespace eie::engine
