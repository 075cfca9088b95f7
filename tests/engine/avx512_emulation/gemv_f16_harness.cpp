// Test-only driver of the float16 GEMV's AVX-512 unit, compiled against SIMDe (the shim) with
// the scalar and AVX2 units under AddressSanitizer and UBSan (test_gemv_f16_emulated.py): every
// shape and batch of the grid against a double-precision product of the same halves, within
// 2 * cols * 2^-24 * sum |w x| per output, for the three units. Prints "cases N failures F".
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include "engine/gemv_f16.h"
#include "engine/layout.h"

using namespace eie::engine;

using Kernel = void (*)(const uint16_t*, int64_t, int64_t, const float*, int64_t, int64_t,
                        int64_t, float*);

int main() {
  const int64_t shapes[][2] = {{1, 1}, {3, 7}, {4, 16}, {5, 31}, {17, 32}, {9, 33},
                               {33, 100}, {64, 576}, {13, 1000}};
  const Kernel kernels[] = {gemv_f16_rows_scalar, gemv_f16_rows_avx2, gemv_f16_rows_avx512};
  std::mt19937 gen(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  int cases = 0, failures = 0;
  for (const auto& s : shapes) {
    const int64_t rows = s[0], cols = s[1];
    for (int64_t batch : {1, 2, 5}) {
      // exact-sized heap arrays: ASan sees any read past the weight or the inputs
      std::vector<uint16_t> w(static_cast<size_t>(rows * cols));
      std::vector<float> x(static_cast<size_t>(batch * cols));
      // normal halves of either sign, magnitudes 2^-5 .. 2^6
      for (auto& v : w)
        v = static_cast<uint16_t>((gen() & 1u) << 15 | (10u + gen() % 11u) << 10 | (gen() & 0x3ffu));
      for (auto& v : x) v = normal(gen);
      for (int k = 0; k < 3; ++k) {
        for (int64_t r0 : {int64_t{0}, rows / 3}) {  // whole and partial row ranges
          std::vector<float> y(static_cast<size_t>(batch * rows), -7.0f);
          kernels[k](w.data(), rows, cols, x.data(), batch, r0, rows, y.data());
          ++cases;
          bool ok = true;
          for (int64_t b = 0; b < batch; ++b)
            for (int64_t r = 0; r < rows; ++r) {
              double ref = 0.0, mag = 0.0;
              for (int64_t c = 0; c < cols; ++c) {
                const double p = static_cast<double>(half_to_float(w[r * cols + c])) *
                                 x[b * cols + c];
                ref += p;
                mag += std::fabs(p);
              }
              const float got = y[b * rows + r];
              if (r < r0) ok = ok && got == -7.0f;  // rows outside the range untouched
              else ok = ok && std::fabs(got - ref) <= 2.0 * cols * std::ldexp(1.0, -24) * mag + 1e-30;
            }
          if (!ok) {
            ++failures;
            std::printf("FAIL kernel %d rows %lld cols %lld batch %lld r0 %lld\n", k,
                        static_cast<long long>(rows), static_cast<long long>(cols),
                        static_cast<long long>(batch), static_cast<long long>(r0));
          }
        }
      }
    }
  }
  std::printf("cases %d failures %d\n", cases, failures);
  return failures == 0 ? 0 : 1;
}
