// One decoder token's work between the Linear layers, in C++ (eie.llm.decoder's batch-1 path):
// a few numpy calls per operation cost ~2-4 us each, ~30 of them per block and token, which
// made this glue ~20-40% of a token once the Linear layers ran on the int8 kernels. Shapes:
// d the hidden size, nh query heads, nkv key/value heads (g = nh / nkv queries share one),
// hd the head size, cap the KV cache's positions. Float32 throughout, in the operations' order
// of the numpy path (the results agree to float32 rounding: exp and sqrt, and the sum orders).
#pragma once
#include <cstdint>

namespace eie::llm {

// y = x / sqrt(mean(x^2) + eps) * w, x, w, y (d,). The sum of squares in double.
void rms_norm(const float* x, const float* w, int64_t d, float eps, float* y);

// y = silu(g) * u = g / (1 + exp(-g)) * u, (n,) each.
void silu_mul(const float* g, const float* u, int64_t n, float* y);

struct AttendOne {
  int64_t nh, nkv, hd, cap;
  float scaling;
};

// One token's attention at position pos: q (nh, hd) and k (nkv, hd) rotated in place
// (x * cos + rotate_half(x) * sin, cos / sin (hd,) at pos, sin_signed's first half negated),
// k and v (nkv, hd) written to the caches (nkv, cap, hd) at pos, then for each query head the
// softmax over positions [start, pos] of q . k * scaling, and out (nh, hd) the weighted sum of
// the cached values.
void attend_one(const AttendOne& a, float* q, float* k, const float* v, const float* cos,
                const float* sin_signed, float* k_cache, float* v_cache, int64_t pos,
                int64_t start, float* out);

}  // namespace eie::llm
