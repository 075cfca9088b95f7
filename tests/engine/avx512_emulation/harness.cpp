// Runs every engine back-end (scalar, AVX2, and the AVX-512 kernels compiled against the SIMDe
// shim in ./shim) on a grid of cases through the engine's own driver (build_layout + run_layout)
// and checks each output against a double-precision product of the same codes:
//   |y - exact| <= 2e-5 * (|W| @ |x| + |b|) + 1e-30     (tests/engine/engine_cases.FLOAT_TOL)
// Built and run by tests/engine/test_avx512_emulated.py under AddressSanitizer and UBSan, so an
// out-of-bounds access in any kernel fails the run too. Prints "cases N failures F" and exits
// with F != 0 on failure. The int8 kernel (kernels_vnni.cpp) runs on every rowwise case too,
// checked against its error bound (int8_case).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "engine/layout.h"

using namespace eie;
using namespace eie::engine;

namespace {

int g_cases = 0, g_failures = 0;

uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return static_cast<uint16_t>(u >> 16);
}

float from_bf16(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

struct Case {
  int64_t rows, cols, batch;
  int codebook_len;
  double weight_density, act_density;
  LayoutKind kind;
  bool bias, relu, bf16;
  int threads;
  int runs_of_one_code;  // > 0: column c holds (c % runs) entries of code 1 and of code 2
};

// precision int8 (kernels_vnni.cpp, emulated like the AVX-512 kernels): the int8 kernel on a
// rowwise layout, its inputs packed by int8_pack_inputs, the rows in two calls (as a thread
// split does), within the int8 error bound of the exact product (eie.engine.kernels
// int8_error_bound: every input moves by at most half its chunk's scale, every weight by half
// its codebook's) plus 1e-5 of sum |w x|.
void int8_case(const Layout& L, int64_t batch, const std::vector<float>& x,
               const std::vector<float>& cb, const std::vector<uint8_t>& codes) {
  const int64_t rows = L.rows, cols = L.cols, pc = L.padded_cols(), nchunks = pc / 128;
  std::vector<float> xp(static_cast<size_t>(batch * pc), 0.0f), scale(batch * nchunks);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t c = 0; c < cols; ++c) xp[b * pc + c] = x[b * cols + c];
  std::vector<int8_t> q(static_cast<size_t>(batch * pc));
  std::vector<float> offset(static_cast<size_t>(batch * 16));
  ++g_cases;
  if (!int8_pack_inputs(xp.data(), batch, pc, q.data(), offset.data(), scale.data())) {
    ++g_failures;
    std::printf("FAIL int8 %lldx%lld: finite inputs refused\n", static_cast<long long>(rows),
                static_cast<long long>(cols));
    return;
  }
  std::vector<float> y(static_cast<size_t>(batch * rows), NAN);
  int8_rowwise(L, 0, rows / 2, q.data(), offset.data(), scale.data(), batch, y.data());
  int8_rowwise(L, rows / 2, rows, q.data(), offset.data(), scale.data(), batch, y.data());
  double cmax = 0.0;
  for (float v : cb) cmax = std::max(cmax, std::fabs(static_cast<double>(v)));
  const double sw = cmax / 127.0;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t r = 0; r < rows; ++r) {
      double s = 0.0, bound = 0.0, a = 0.0;
      for (int64_t c = 0; c < cols; ++c) {
        const double w = cb[codes[r * cols + c]], xv = x[b * cols + c];
        double st = 0.0;
        const int64_t c0 = c / 128 * 128;
        for (int64_t i = c0; i < std::min(cols, c0 + 128); ++i)
          st = std::max(st, std::fabs(static_cast<double>(x[b * cols + i])));
        st /= 127.0;
        s += w * xv;
        a += std::fabs(w * xv);
        bound += std::fabs(w) * st / 2 + std::fabs(xv) * sw / 2 + st * sw / 4;
      }
      const double err = std::fabs(static_cast<double>(y[b * rows + r]) - s);
      if (!(err <= bound + 1e-5 * a + 1e-30)) {
        ++g_failures;
        std::printf("FAIL int8 %lldx%lld batch %lld: y[%lld, %lld] = %.9g, exact %.9g, bound %g\n",
                    static_cast<long long>(rows), static_cast<long long>(cols),
                    static_cast<long long>(batch), static_cast<long long>(b),
                    static_cast<long long>(r), static_cast<double>(y[b * rows + r]), s, bound);
        return;
      }
    }
}

void run_case(const Case& k, std::mt19937& rng) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::normal_distribution<float> n(0.0f, 1.0f);
  std::vector<float> cb(static_cast<size_t>(k.codebook_len));
  for (int i = 1; i < k.codebook_len; ++i) cb[i] = n(rng);
  std::vector<uint8_t> codes(static_cast<size_t>(k.rows * k.cols), 0);
  if (k.runs_of_one_code > 0) {
    for (int64_t c = 0; c < k.cols; ++c) {
      const int64_t m = c % k.runs_of_one_code;
      for (int64_t i = 0; i < 2 * m && i < k.rows; ++i) {
        const int64_t r = static_cast<int64_t>(u(rng) * static_cast<double>(k.rows)) % k.rows;
        codes[r * k.cols + c] = static_cast<uint8_t>(1 + (i & 1));
      }
    }
  } else {
    for (auto& v : codes)
      if (u(rng) < k.weight_density) v = static_cast<uint8_t>(1 + rng() % (k.codebook_len - 1));
    if (k.cols > 4) for (int64_t r = 0; r < k.rows; ++r) codes[r * k.cols + 2] = 0;  // empty column
  }
  std::vector<float> x(static_cast<size_t>(k.batch * k.cols), 0.0f);
  for (auto& v : x)
    if (u(rng) < k.act_density) v = n(rng);
  std::vector<uint16_t> xb;
  if (k.bf16) {
    for (auto& v : x) {
      xb.push_back(to_bf16(v));
      v = from_bf16(xb.back());
    }
  }
  std::vector<float> bias(static_cast<size_t>(k.rows));
  for (auto& v : bias) v = n(rng);
  // exact product and error scale
  std::vector<double> exact(static_cast<size_t>(k.batch * k.rows)), scale(exact.size());
  for (int64_t b = 0; b < k.batch; ++b)
    for (int64_t r = 0; r < k.rows; ++r) {
      double s = k.bias ? bias[r] : 0.0, a = k.bias ? std::fabs(bias[r]) : 0.0;
      for (int64_t c = 0; c < k.cols; ++c) {
        const double w = cb[codes[r * k.cols + c]], xv = x[b * k.cols + c];
        s += w * xv;
        a += std::fabs(w * xv);
      }
      exact[b * k.rows + r] = k.relu && s < 0.0 ? 0.0 : s;
      scale[b * k.rows + r] = a;
    }
  const Layout L0 = build_layout(codes.data(), k.rows, k.cols, cb.data(), k.codebook_len, k.kind,
                                 k.threads);
  // 4-bit codes: also the rowwise layout of the same weights (one shared codebook)
  Layout LR;
  if (k.codebook_len <= 16 && k.kind == LayoutKind::dense)
    LR = build_rowwise(codes.data(), k.rows, k.cols, cb.data(), 1, k.codebook_len, 0);
  for (const Layout* lp : {static_cast<const Layout*>(&L0), static_cast<const Layout*>(&LR)}) {
  const Layout& L = *lp;
  if (lp == &LR && L.kind != LayoutKind::rowwise) continue;
  if (lp == &LR) int8_case(L, k.batch, x, cb, codes);
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    std::vector<float> y(exact.size(), NAN);
    const void* xp = k.bf16 ? static_cast<const void*>(xb.data()) : x.data();
    run_layout(L, xp, k.bf16 ? InKind::bf16 : InKind::f32, k.batch, k.bias ? bias.data() : nullptr,
               k.relu, y.data(), k.threads, isa);
    ++g_cases;
    for (size_t i = 0; i < y.size(); ++i) {
      const double err = std::fabs(static_cast<double>(y[i]) - exact[i]);
      if (!(err <= 2e-5 * scale[i] + 1e-30)) {
        ++g_failures;
        std::printf("FAIL isa=%s %s %lldx%lld batch %lld cb %d wd %.2f ad %.2f bias %d relu %d "
                    "bf16 %d threads %d runs %d: y[%zu] = %.9g, exact %.9g\n",
                    isa_name(isa),
                    L.kind == LayoutKind::sparse ? "sparse"
                    : L.kind == LayoutKind::dense ? "dense" : "rowwise",
                    static_cast<long long>(k.rows), static_cast<long long>(k.cols),
                    static_cast<long long>(k.batch), k.codebook_len, k.weight_density,
                    k.act_density, k.bias, k.relu, k.bf16, k.threads, k.runs_of_one_code, i,
                    static_cast<double>(y[i]), exact[i]);
        break;
      }
    }
  }
  }
}

// An infinite activation whose column holds only zero weights adds nothing (no 0 * inf = NaN).
void infinite_activation() {
  const uint8_t codes[4] = {1, 0, 0, 2};  // 2x2: column 1 holds weight only in row 1
  const float cb[3] = {0.0f, 0.5f, -2.0f};
  for (LayoutKind kind : {LayoutKind::sparse, LayoutKind::dense}) {
    const Layout L = build_layout(codes, 2, 2, cb, 3, kind, 1);
    const float x[2] = {INFINITY, 1.0f};  // column 0 meets row 1's zero weight
    for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
      float y[2];
      run_layout(L, x, InKind::f32, 1, nullptr, false, y, 1, isa);
      ++g_cases;
      if (!(std::isinf(y[0]) && y[1] == -2.0f)) {
        ++g_failures;
        std::printf("FAIL isa=%s infinite activation: y = %g %g\n", isa_name(isa), y[0], y[1]);
      }
    }
  }
}

}  // namespace

int main() {
  std::mt19937 rng(20261130);
  const int64_t sizes[] = {1, 3, 15, 16, 17, 33};
  for (LayoutKind kind : {LayoutKind::sparse, LayoutKind::dense})
    for (int cbl : {16, 64})
      for (int64_t rows : sizes)
        for (int64_t cols : sizes)
          run_case({rows, cols, 1, cbl, 0.4, 0.6, kind, true, true, false, 1, 0}, rng);
  for (LayoutKind kind : {LayoutKind::sparse, LayoutKind::dense})
    for (int cbl : {16, 64})
      for (int64_t batch : {1, 2, 3, 8, 9, 16})
        for (double wd : {0.0, 0.05, 0.5, 1.0})
          for (double ad : {0.0, 0.3, 1.0})
            run_case({131, 77, batch, cbl, wd, ad, kind, batch % 2 == 1, batch % 3 == 0,
                      batch == 3, 1, 0}, rng);
  for (LayoutKind kind : {LayoutKind::sparse, LayoutKind::dense})
    for (int threads : {1, 2})
      for (int64_t batch : {1, 5})
        for (double ad : {0.35, 1.0}) {
          run_case({5000, 150, batch, 16, 0.1, ad, kind, true, true, false, threads, 0}, rng);
          run_case({700, 300, batch, 16, 0.2, ad, kind, false, false, true, threads, 0}, rng);
        }
  for (int64_t batch : {1, 3, 16})
    for (int threads : {1, 2})
      run_case({200, 100, batch, 16, 0.0, 0.8, LayoutKind::sparse, false, false, false, threads,
                10}, rng);
  // the rowwise kernels' column panels (batch 16: 3 chunks each) and multi-row remainders
  for (int64_t batch : {1, 5, 16})
    run_case({7, 1000, batch, 16, 1.0, 1.0, LayoutKind::dense, true, false, false, 1, 0}, rng);
  for (double min_act : {0.0, 2.0}) {  // row view always / never (wide 4-bit sparse layers)
    set_row_view_min_act(min_act);
    for (int64_t rows : {1, 17, 300})
      for (int64_t cols : {2 * rows + 5, int64_t{4096}, int64_t{4100}})
        for (int64_t batch : {1, 3})
          for (int threads : {1, 2})
            run_case({rows, cols, batch, 16, rows == 300 ? 0.05 : 0.4, 0.9, LayoutKind::sparse,
                      true, true, false, threads, 0}, rng);
  }
  set_row_view_min_act(0.7);
  for (double bias : {0.0, 1e6}) {  // batches on the row view always / never (panels of 4096)
    set_row_batch_bias(bias);
    for (int64_t cols : {int64_t{77}, int64_t{4097}, int64_t{8200}})
      for (int64_t batch : {2, 9, 16})
        for (int threads : {1, 2})
          run_case({cols > 4096 ? 20 : 131, cols, batch, 16, 0.05, 0.9, LayoutKind::sparse, true,
                    batch == 9, false, threads, 0}, rng);
  }
  set_row_batch_bias(1.0);
  set_row_view_min_act(0.0);
  infinite_activation();
  std::printf("cases %d failures %d\n", g_cases, g_failures);
  return g_failures != 0;
}
