#pragma once
#include <cstdint>

namespace eie::engine {

// Sum of p[0:n] read once, in 256 KiB chunks over `threads` threads (<= 0: default).
double stream_sum(const float* p, int64_t n, int threads);

}  // namespace eie::engine
