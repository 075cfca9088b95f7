// A streaming read over a large array on the core's threads: the bench's measure of the
// machine's memory read bandwidth (the bound the sparse and dense kernels are judged against).
#include <algorithm>
#include <vector>

#include "engine/stream.h"
#include "engine/thread_pool.h"

namespace eie::engine {

double stream_sum(const float* p, int64_t n, int threads) {
  const int nt = threads > 0 ? threads : default_threads();
  const int64_t chunk = 1 << 16;  // 256 KiB per task
  const int64_t ntasks = (n + chunk - 1) / chunk;
  std::vector<double> part(static_cast<size_t>(ntasks), 0.0);
  parallel_for(ntasks, nt, [&](int64_t t) {
    const int64_t lo = t * chunk, hi = std::min(n, lo + chunk);
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = lo;
    for (; i + 8 <= hi; i += 8)
      for (int j = 0; j < 8; ++j) s[j] += p[i + j];
    for (; i < hi; ++i) s[0] += p[i];
    double tot = 0;
    for (float v : s) tot += v;
    part[static_cast<size_t>(t)] = tot;
  });
  double tot = 0;
  for (double v : part) tot += v;
  return tot;
}

}  // namespace eie::engine
