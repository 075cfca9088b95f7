// The float16 GEMV (gemv_f16.h): the scalar kernel and the dispatcher that splits rows over the
// pool's threads.
#include "engine/gemv_f16.h"

#include <algorithm>

#include "engine/gemv_f16_impl.h"
#include "engine/thread_pool.h"

namespace eie::engine {
namespace {
struct Scalar {  // one lane: the portable reference the SIMD units are tested against
  static constexpr int64_t W = 1;
  static float zero() { return 0.0f; }
  static float load(const float* p) { return *p; }
  static float load_half(const uint16_t* p) { return half_to_float(*p); }
  static float fma(float a, float b, float c) { return a * b + c; }
  static float add(float a, float b) { return a + b; }
  static float sum(float v) { return v; }
};
}  // namespace

void gemv_f16_rows_scalar(const uint16_t* w, int64_t rows, int64_t cols, const float* x,
                          int64_t batch, int64_t r0, int64_t r1, float* y) {
  gemv_f16_rows_impl<Scalar>(w, rows, cols, x, batch, r0, r1, y);
}

void gemv_f16(const uint16_t* w, int64_t rows, int64_t cols, const float* x, int64_t batch,
              float* y, int threads, Isa isa) {
  auto kernel = isa == Isa::avx512 ? gemv_f16_rows_avx512
                : isa == Isa::avx2 ? gemv_f16_rows_avx2
                                   : gemv_f16_rows_scalar;
  int nt = threads > 0 ? threads : default_threads();
  // Below ~256 K multiply-adds a second thread's wake-up costs more than it saves.
  if (static_cast<double>(rows) * static_cast<double>(cols) * static_cast<double>(batch) < 262144.0)
    nt = 1;
  // Tasks of whole 16-row groups (no two threads write one cache line of y), several per thread
  // and claimed dynamically, as the rowwise kernels do.
  const int64_t groups = (rows + 15) / 16;
  const int64_t ntasks = nt <= 1 ? 1 : std::min<int64_t>(groups, 4 * static_cast<int64_t>(nt));
  parallel_for(ntasks, nt, [&](int64_t i) {
    const int64_t r0 = std::min(rows, groups * i / ntasks * 16);
    const int64_t r1 = std::min(rows, groups * (i + 1) / ntasks * 16);
    if (r1 > r0) kernel(w, rows, cols, x, batch, r0, r1, y);
  });
}

}  // namespace eie::engine
