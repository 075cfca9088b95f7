// Runs the colrow kernels (scalar, AVX2, and AVX-512 compiled against the SIMDe shim in
// ../avx512_emulation/shim) through the colrow driver (build_colrow + run_colrow) on ragged
// shapes, batches 1..9 and 16, sparse and dense inputs, per-row / per-group / shared codebooks, 1
// and 2 threads, and checks each output against a double-precision product of the same codes:
//   |y - exact| <= 2e-5 * (|W| @ |x| + |b|) + 1e-30     (tests/engine/engine_cases.FLOAT_TOL)
// Built with AddressSanitizer and UBSan by tests/engine/test_colrow_emulated.py. Prints
// "cases N failures F" and exits with F != 0 on failure.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <random>
#include <vector>

#include "engine/colrow.h"

using namespace eie;
using namespace eie::engine;

// The layout's allocator lives in layout.cpp, which the harness does not link (it would pull in
// every other kernel): plain malloc here.
namespace eie::engine {
void* alloc_huge(size_t bytes) {
  void* p = std::malloc(bytes == 0 ? 1 : bytes);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void free_huge(void* p) noexcept { std::free(p); }
}  // namespace eie::engine

int main() {
  int cases = 0, failures = 0;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
  const int64_t shapes[][2] = {{1, 1}, {7, 17}, {8, 16}, {9, 33}, {127, 5}, {128, 40},
                               {129, 31}, {200, 130}, {257, 18}};
  const int64_t groups_rows[] = {0, 1, 3, 16};
  const double densities[] = {0.0, 0.3, 1.0};
  const Isa isas[] = {Isa::scalar, Isa::avx2, Isa::avx512};
  for (const auto& sh : shapes)
    for (int64_t gr : groups_rows) {
      const int64_t rows = sh[0], cols = sh[1];
      const int64_t groups = gr == 0 ? 1 : (rows + gr - 1) / gr, k = 16;
      std::vector<uint8_t> codes(static_cast<size_t>(rows * cols));
      for (auto& c : codes) c = static_cast<uint8_t>(rng() % k);
      std::vector<float> cb(static_cast<size_t>(groups * k));
      for (auto& v : cb) v = uni(rng);
      const Layout L = build_colrow(codes.data(), rows, cols, cb.data(), groups, k, gr);
      std::vector<float> bias(static_cast<size_t>(rows));
      for (auto& v : bias) v = uni(rng);
      // every tile size of the kernels (1..8 inputs) and splits of 9, 16 into tiles
      for (int64_t batch : {1, 2, 3, 4, 5, 6, 7, 8, 9, 16})
        for (double d : densities) {
          std::vector<float> x(static_cast<size_t>(batch * cols));
          for (auto& v : x) v = (rng() % 1000) < d * 1000 ? uni(rng) : 0.0f;
          for (Isa isa : isas)
            for (int threads : {1, 2}) {
              std::vector<float> y(static_cast<size_t>(batch * rows), -7.0f);
              run_colrow(L, x.data(), InKind::f32, batch, bias.data(), false, y.data(), threads,
                         isa);
              ++cases;
              bool ok = true;
              for (int64_t b = 0; b < batch && ok; ++b)
                for (int64_t r = 0; r < rows && ok; ++r) {
                  const float* w = cb.data() + (gr == 0 ? 0 : r / gr) * k;
                  double e = bias[r], s = std::fabs(bias[r]);
                  for (int64_t c = 0; c < cols; ++c) {
                    const double p = static_cast<double>(w[codes[r * cols + c]]) * x[b * cols + c];
                    e += p;
                    s += std::fabs(p);
                  }
                  ok = std::fabs(y[b * rows + r] - e) <= 2e-5 * s + 1e-30;
                }
              if (!ok) {
                ++failures;
                std::printf("FAIL rows %lld cols %lld group_rows %lld batch %lld density %.1f "
                            "isa %d threads %d\n", static_cast<long long>(rows),
                            static_cast<long long>(cols), static_cast<long long>(gr),
                            static_cast<long long>(batch), d, static_cast<int>(isa), threads);
              }
            }
        }
    }
  std::printf("cases %d failures %d\n", cases, failures);
  return failures != 0;
}
