// The float16 GEMV kernel (gemv_f16.h), written once over a vector type V and compiled in each
// ISA unit with its flags (internal linkage, as prefetch.h). V: W float lanes, zero(), load(x),
// load_half(w) (W halves converted exactly), fma(a, b, c) = a * b + c, sum(v).
//
// Four rows at a time share each input vector load, one accumulator chain per row: at batch 1
// the loop streams 2 bytes per multiply-add from memory, below the FMA units' rate, so the
// memory stream is what counts (see the prefetch in dot4_half). Batches of tokens convert the
// four rows to float32 once (in a thread-local buffer, 16 * cols bytes) and reuse them for
// every token.
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <vector>

#include "engine/layout.h"

namespace eie::engine {
namespace {

template <class V>
inline void dot4_half(const uint16_t* w0, int64_t cols, const float* x, float* out) {
  const uint16_t* w1 = w0 + cols;
  const uint16_t* w2 = w1 + cols;
  const uint16_t* w3 = w2 + cols;
  auto a0 = V::zero(), a1 = V::zero(), a2 = V::zero(), a3 = V::zero();
  int64_t c = 0;
  // The next four rows, one line per row per 64 bytes read here (a prefetch past the weight's
  // end is harmless): without it the four row streams ran at 12.7 GB/s of the 21 a plain read
  // gets, with it 17.6-20.4 (docs/llm.md, "The LM head in float16").
  constexpr int64_t kLine = 32;  // halves per 64-byte line
  for (; c + kLine <= cols; c += kLine) {
    _mm_prefetch(reinterpret_cast<const char*>(w0 + 4 * cols + c), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(w1 + 4 * cols + c), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(w2 + 4 * cols + c), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(w3 + 4 * cols + c), _MM_HINT_T0);
    for (int64_t k = 0; k < kLine; k += V::W) {
      const auto xv = V::load(x + c + k);
      a0 = V::fma(V::load_half(w0 + c + k), xv, a0);
      a1 = V::fma(V::load_half(w1 + c + k), xv, a1);
      a2 = V::fma(V::load_half(w2 + c + k), xv, a2);
      a3 = V::fma(V::load_half(w3 + c + k), xv, a3);
    }
  }
  for (; c + V::W <= cols; c += V::W) {
    const auto xv = V::load(x + c);
    a0 = V::fma(V::load_half(w0 + c), xv, a0);
    a1 = V::fma(V::load_half(w1 + c), xv, a1);
    a2 = V::fma(V::load_half(w2 + c), xv, a2);
    a3 = V::fma(V::load_half(w3 + c), xv, a3);
  }
  float s0 = V::sum(a0), s1 = V::sum(a1), s2 = V::sum(a2), s3 = V::sum(a3);
  for (; c < cols; ++c) {
    s0 += half_to_float(w0[c]) * x[c];
    s1 += half_to_float(w1[c]) * x[c];
    s2 += half_to_float(w2[c]) * x[c];
    s3 += half_to_float(w3[c]) * x[c];
  }
  out[0] = s0, out[1] = s1, out[2] = s2, out[3] = s3;
}

// One row's weights: float16 bits (the weight) or float32 (a batch's converted rows).
template <class V>
inline auto load_w(const uint16_t* p) { return V::load_half(p); }
template <class V>
inline auto load_w(const float* p) { return V::load(p); }
inline float to_float(uint16_t h) { return half_to_float(h); }
inline float to_float(float f) { return f; }

template <class V, class T>
inline float dot1(const T* w, int64_t cols, const float* x) {
  auto a = V::zero();
  int64_t c = 0;
  for (; c + V::W <= cols; c += V::W) a = V::fma(load_w<V>(w + c), V::load(x + c), a);
  float s = V::sum(a);
  for (; c < cols; ++c) s += to_float(w[c]) * x[c];
  return s;
}

template <class V>
void gemv_f16_rows_impl(const uint16_t* w, int64_t rows, int64_t cols, const float* x,
                        int64_t batch, int64_t r0, int64_t r1, float* y) {
  if (batch == 1) {
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) dot4_half<V>(w + r * cols, cols, x, y + r);
    for (; r < r1; ++r) y[r] = dot1<V>(w + r * cols, cols, x);
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
