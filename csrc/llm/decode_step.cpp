// One decoder token's glue between the Linear layers (decode_step.h).
#include "llm/decode_step.h"

#include <cmath>
#include <vector>

namespace eie::llm {

void rms_norm(const float* x, const float* w, int64_t d, float eps, float* y) {
  double ss = 0.0;
  for (int64_t i = 0; i < d; ++i) ss += static_cast<double>(x[i]) * x[i];
  const float r = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(d) + eps));
  for (int64_t i = 0; i < d; ++i) y[i] = x[i] * r * w[i];
}

void silu_mul(const float* g, const float* u, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

namespace {
// Eight partial sums (a vectorisable order; hd is a multiple of 8 for every Llama-family head
// size, and the tail is added after).
float dot(const float* a, const float* b, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) acc[l] += a[i + l] * b[i + l];
  float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// x (hd,) <- x * cos + x[perm] * sin_signed, perm swapping the two halves.
void rotate(float* x, int64_t hd, const float* cos, const float* sin_signed, float* tmp) {
  const int64_t h = hd / 2;
  for (int64_t i = 0; i < hd; ++i) {
    const float other = x[i < h ? i + h : i - h];
    tmp[i] = other * sin_signed[i] + x[i] * cos[i];
  }
  for (int64_t i = 0; i < hd; ++i) x[i] = tmp[i];
}
}  // namespace

void attend_one(const AttendOne& a, float* q, float* k, const float* v, const float* cos,
                const float* sin_signed, float* k_cache, float* v_cache, int64_t pos,
                int64_t start, float* out) {
  const int64_t hd = a.hd, g = a.nh / a.nkv, span = pos - start + 1;
  std::vector<float> tmp(static_cast<size_t>(hd)), p(static_cast<size_t>(span));
  for (int64_t h = 0; h < a.nh; ++h) rotate(q + h * hd, hd, cos, sin_signed, tmp.data());
  for (int64_t j = 0; j < a.nkv; ++j) {
    rotate(k + j * hd, hd, cos, sin_signed, tmp.data());
    float* kc = k_cache + (j * a.cap + pos) * hd;
    float* vc = v_cache + (j * a.cap + pos) * hd;
    for (int64_t i = 0; i < hd; ++i) kc[i] = k[j * hd + i], vc[i] = v[j * hd + i];
  }
  for (int64_t h = 0; h < a.nh; ++h) {
    const int64_t j = h / g;
    const float* qh = q + h * hd;
    const float* kc = k_cache + (j * a.cap + start) * hd;
    const float* vc = v_cache + (j * a.cap + start) * hd;
    float mx = -INFINITY;
    for (int64_t s = 0; s < span; ++s) {
      p[static_cast<size_t>(s)] = dot(qh, kc + s * hd, hd) * a.scaling;
      mx = std::fmax(mx, p[static_cast<size_t>(s)]);
    }
    float sum = 0.0f;
    for (int64_t s = 0; s < span; ++s) {
      p[static_cast<size_t>(s)] = std::exp(p[static_cast<size_t>(s)] - mx);
      sum += p[static_cast<size_t>(s)];
    }
    float* o = out + h * hd;
    for (int64_t i = 0; i < hd; ++i) o[i] = 0.0f;
    for (int64_t s = 0; s < span; ++s) {
      const float ps = p[static_cast<size_t>(s)] / sum;
      for (int64_t i = 0; i < hd; ++i) o[i] += ps * vc[s * hd + i];
    }
  }
}

}  // namespace eie::llm
