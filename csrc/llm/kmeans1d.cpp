#include "llm/kmeans1d.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace eie::llm {
namespace {

// Prefix sums over the distinct sorted values of one segment (values centred on their weighted
// mean, so S2 - S1^2 / W loses little to cancellation). Cost of the run [i, j) of distinct values.
struct Prefix {
  std::vector<double> W, S1, S2;
  double cost(int64_t i, int64_t j) const {
    const double w = W[j] - W[i];
    if (w <= 0) return 0.0;
    const double s = S1[j] - S1[i];
    const double c = (S2[j] - S2[i]) - s * s / w;
    return c > 0 ? c : 0.0;
  }
};

struct Workspace {
  std::vector<int64_t> order;
  std::vector<double> ux, uw;      // distinct sorted values (centred) and their summed weights
  std::vector<int64_t> run_of;     // for each sorted position: index of its distinct value
  Prefix p;
  std::vector<double> prev, cur;   // D[c-1][*], D[c][*]
  std::vector<int32_t> split;      // (k + 1) * (m + 1) argmins for the traceback
};

// D[c][i] = min_{j in [lo_j, hi_j]} D[c-1][j] + cost(j, i), for i in [lo, hi], by divide and
// conquer on the monotone argmin.
void solve_range(const Workspace& ws, std::vector<double>& cur, int32_t* split_row, int64_t lo,
                 int64_t hi, int64_t opt_lo, int64_t opt_hi) {
  // Explicit stack instead of recursion (depth is only log m, but this keeps frames tiny).
  struct Task { int64_t lo, hi, opt_lo, opt_hi; };
  std::vector<Task> stack{{lo, hi, opt_lo, opt_hi}};
  while (!stack.empty()) {
    const Task t = stack.back();
    stack.pop_back();
    if (t.lo > t.hi) continue;
    const int64_t mid = t.lo + (t.hi - t.lo) / 2;
    double best = INFINITY;
    int64_t best_j = t.opt_lo;
    const int64_t last = std::min(t.opt_hi, mid - 1);
    for (int64_t j = t.opt_lo; j <= last; ++j) {
      const double v = ws.prev[j] + ws.p.cost(j, mid);
      if (v < best) { best = v; best_j = j; }
    }
    cur[mid] = best;
    split_row[mid] = static_cast<int32_t>(best_j);
    stack.push_back({t.lo, mid - 1, t.opt_lo, best_j});
    stack.push_back({mid + 1, t.hi, best_j, t.opt_hi});
  }
}

double one_segment(const float* x, const float* w, int64_t n, int k, float* centroids,
                   uint8_t* codes, Workspace& ws) {
  if (n == 0) {
    std::fill(centroids, centroids + k, 0.0f);
    return 0.0;
  }
  ws.order.resize(n);
  std::iota(ws.order.begin(), ws.order.end(), int64_t{0});
  std::stable_sort(ws.order.begin(), ws.order.end(),
                   [x](int64_t a, int64_t b) { return x[a] < x[b]; });
  double wsum = 0, wx = 0;
  for (int64_t i = 0; i < n; ++i) { wsum += w[i]; wx += static_cast<double>(w[i]) * x[i]; }
  const double floor_w = wsum > 0 ? 1e-6 * wsum / static_cast<double>(n) : 1.0;
  // Centre on the weighted mean (on the plain mean when every weight is zero).
  double centre = 0;
  if (wsum > 0) {
    centre = wx / wsum;
  } else {
    for (int64_t i = 0; i < n; ++i) centre += x[i];
    centre /= static_cast<double>(n);
  }
  ws.ux.clear(); ws.uw.clear(); ws.run_of.resize(n);
  float last_x = 0.0f;
  for (int64_t r = 0; r < n; ++r) {
    const int64_t i = ws.order[r];
    const double wi = std::max(static_cast<double>(w[i]), floor_w);
    if (ws.ux.empty() || x[i] != last_x) {
      last_x = x[i];
      ws.ux.push_back(static_cast<double>(x[i]) - centre);
      ws.uw.push_back(wi);
    } else {
      ws.uw.back() += wi;
    }
    ws.run_of[r] = static_cast<int64_t>(ws.ux.size()) - 1;
  }
  const int64_t m = static_cast<int64_t>(ws.ux.size());
  const int kk = static_cast<int>(std::min<int64_t>(k, m));
  auto& p = ws.p;
  p.W.assign(m + 1, 0.0); p.S1.assign(m + 1, 0.0); p.S2.assign(m + 1, 0.0);
  for (int64_t i = 0; i < m; ++i) {
    p.W[i + 1] = p.W[i] + ws.uw[i];
    p.S1[i + 1] = p.S1[i] + ws.uw[i] * ws.ux[i];
    p.S2[i + 1] = p.S2[i] + ws.uw[i] * ws.ux[i] * ws.ux[i];
  }
  // D[1][i] = cost(0, i); then k - 1 layers of the DP over i in [c, m].
  ws.split.assign(static_cast<size_t>(kk + 1) * static_cast<size_t>(m + 1), 0);
  ws.prev.assign(m + 1, INFINITY);
  ws.cur.assign(m + 1, INFINITY);
  for (int64_t i = 1; i <= m; ++i) ws.prev[i] = p.cost(0, i);
  for (int c = 2; c <= kk; ++c) {
    std::fill(ws.cur.begin(), ws.cur.end(), INFINITY);
    int32_t* row = ws.split.data() + static_cast<size_t>(c) * static_cast<size_t>(m + 1);
    solve_range(ws, ws.cur, row, c, m, c - 1, m - 1);
    std::swap(ws.prev, ws.cur);
  }
  const double total = ws.prev[m];
  // Traceback: cluster c covers distinct values [start[c], end[c]).
  std::vector<int64_t> bounds(kk + 1);
  bounds[kk] = m;
  for (int c = kk; c >= 2; --c)
    bounds[c - 1] = ws.split[static_cast<size_t>(c) * static_cast<size_t>(m + 1) + bounds[c]];
  bounds[0] = 0;
  std::vector<uint8_t> cluster_of(m);
  for (int c = 0; c < kk; ++c) {
    const int64_t a = bounds[c], b = bounds[c + 1];
    const double wc = p.W[b] - p.W[a];
    centroids[c] = static_cast<float>((p.S1[b] - p.S1[a]) / wc + centre);
    for (int64_t i = a; i < b; ++i) cluster_of[i] = static_cast<uint8_t>(c);
  }
  for (int c = kk; c < k; ++c) centroids[c] = centroids[kk - 1];
  for (int64_t r = 0; r < n; ++r) codes[ws.order[r]] = cluster_of[ws.run_of[r]];
  return total;
}

}  // namespace

double kmeans1d(const KMeansSegments& in, float* centroids, uint8_t* codes, int threads) {
  if (in.k < 1 || in.k > 256) throw std::invalid_argument("k should be in 1..256");
  if (in.num_segments < 0) throw std::invalid_argument("num_segments should be >= 0");
  if (in.offsets[0] != 0) throw std::invalid_argument("offsets should start at 0");
  for (int64_t s = 0; s < in.num_segments; ++s)
    if (in.offsets[s + 1] < in.offsets[s]) throw std::invalid_argument("offsets should not decrease");
  const int64_t total_n = in.offsets[in.num_segments];
  for (int64_t i = 0; i < total_n; ++i)
    if (!std::isfinite(in.x[i]) || !std::isfinite(in.w[i]) || in.w[i] < 0)
      throw std::invalid_argument("values should be finite and weights finite and >= 0 (entry " +
                                  std::to_string(i) + ")");
  if (threads < 1) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads = static_cast<int>(std::min<int64_t>(threads, std::max<int64_t>(in.num_segments, 1)));
  std::atomic<int64_t> next{0};
  std::vector<double> errors(threads, 0.0);
  std::exception_ptr failure;
  std::mutex failure_mutex;
  auto work = [&](int t) {
    Workspace ws;
    try {
      for (int64_t s = next++; s < in.num_segments; s = next++) {
        const int64_t a = in.offsets[s], b = in.offsets[s + 1];
        errors[t] += one_segment(in.x + a, in.w + a, b - a, in.k, centroids + s * in.k,
                                 codes + a, ws);
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(failure_mutex);
      failure = std::current_exception();
      next = in.num_segments;
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work, t);
  work(0);
  for (auto& th : pool) th.join();
  if (failure) std::rethrow_exception(failure);
  return std::accumulate(errors.begin(), errors.end(), 0.0);
}

}  // namespace eie::llm
