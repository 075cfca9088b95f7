#include <stdexcept>
#include <string>

#include "bindings/bindings.h"
#include "llm/decode_step.h"
#include "llm/kmeans1d.h"

namespace eie::bindings {
namespace {

double kmeans1d_segments(In1<float> x, In1<float> w, In1<int64_t> offsets, int k,
                         Out2<float> centroids, Out1<uint8_t> codes, int threads) {
  const int64_t n = static_cast<int64_t>(x.shape(0));
  const int64_t segments = static_cast<int64_t>(offsets.shape(0)) - 1;
  EIE_CHECK(segments >= 0, "offsets should hold num_segments + 1 values");
  EIE_CHECK(static_cast<int64_t>(w.shape(0)) == n, "w should match x");
  EIE_CHECK(offsets.data()[segments] == n, "offsets should end at len(x) = " + std::to_string(n));
  EIE_CHECK(static_cast<int64_t>(centroids.shape(0)) == segments &&
                static_cast<int64_t>(centroids.shape(1)) == k,
            "centroids should have shape (num_segments, k)");
  EIE_CHECK(static_cast<int64_t>(codes.shape(0)) == n, "codes should match x");
  llm::KMeansSegments in{x.data(), w.data(), offsets.data(), segments, k};
  nb::gil_scoped_release release;
  return llm::kmeans1d(in, centroids.data(), codes.data(), threads);
}

void check_len(const nb::ndarray<>& a, int64_t n, const char* what) {
  EIE_CHECK(static_cast<int64_t>(a.size()) == n,
            std::string(what) + " should hold " + std::to_string(n) + " values, found " +
                std::to_string(a.size()));
}

}  // namespace

void register_llm(nb::module_& m) {
  m.def(
      "rms_norm",
      [](In1<float> x, In1<float> w, float eps, Out1<float> out) {
        const int64_t d = static_cast<int64_t>(x.shape(0));
        EIE_CHECK(static_cast<int64_t>(w.shape(0)) == d && static_cast<int64_t>(out.shape(0)) == d,
                  "rms_norm: x, w and out should have one length");
        llm::rms_norm(x.data(), w.data(), d, eps, out.data());
      },
      nb::arg("x").noconvert(), nb::arg("w").noconvert(), nb::arg("eps"),
      nb::arg("out").noconvert(), "out = x / sqrt(mean(x^2) + eps) * w (float32 vectors).");
  m.def(
      "silu_mul",
      [](In1<float> g, In1<float> u, Out1<float> out) {
        const int64_t n = static_cast<int64_t>(g.shape(0));
        EIE_CHECK(static_cast<int64_t>(u.shape(0)) == n && static_cast<int64_t>(out.shape(0)) == n,
                  "silu_mul: g, u and out should have one length");
        llm::silu_mul(g.data(), u.data(), n, out.data());
      },
      nb::arg("g").noconvert(), nb::arg("u").noconvert(), nb::arg("out").noconvert(),
      "out = g / (1 + exp(-g)) * u (float32 vectors; out may be g or u).");
  m.def(
      "attend_one",
      [](Out1<float> q, Out1<float> k, In1<float> v, In1<float> cos, In1<float> sin_signed,
         nb::ndarray<float, nb::ndim<3>, nb::c_contig, nb::device::cpu> k_cache,
         nb::ndarray<float, nb::ndim<3>, nb::c_contig, nb::device::cpu> v_cache, int64_t nh,
         int64_t pos, int64_t start, float scaling, Out1<float> out) {
        const int64_t nkv = static_cast<int64_t>(k_cache.shape(0));
        const int64_t cap = static_cast<int64_t>(k_cache.shape(1));
        const int64_t hd = static_cast<int64_t>(k_cache.shape(2));
        EIE_CHECK(v_cache.shape(0) == k_cache.shape(0) && v_cache.shape(1) == k_cache.shape(1) &&
                      v_cache.shape(2) == k_cache.shape(2),
                  "attend_one: the caches should have one shape (nkv, cap, hd)");
        EIE_CHECK(nkv >= 1 && nh >= nkv && nh % nkv == 0 && hd >= 2 && hd % 2 == 0,
                  "attend_one: nh should be a multiple of nkv, hd even");
        EIE_CHECK(0 <= start && start <= pos && pos < cap,
                  "attend_one: positions should satisfy 0 <= start <= pos < cap");
        check_len(nb::ndarray<>(q), nh * hd, "q");
        check_len(nb::ndarray<>(out), nh * hd, "out");
        check_len(nb::ndarray<>(k), nkv * hd, "k");
        check_len(nb::ndarray<>(v), nkv * hd, "v");
        check_len(nb::ndarray<>(cos), hd, "cos");
        check_len(nb::ndarray<>(sin_signed), hd, "sin_signed");
        llm::AttendOne a{nh, nkv, hd, cap, scaling};
        llm::attend_one(a, q.data(), k.data(), v.data(), cos.data(), sin_signed.data(),
                        k_cache.data(), v_cache.data(), pos, start, out.data());
      },
      nb::arg("q").noconvert(), nb::arg("k").noconvert(), nb::arg("v").noconvert(),
      nb::arg("cos").noconvert(), nb::arg("sin_signed").noconvert(),
      nb::arg("k_cache").noconvert(), nb::arg("v_cache").noconvert(), nb::arg("nh"),
      nb::arg("pos"), nb::arg("start"), nb::arg("scaling"), nb::arg("out").noconvert(),
      "One token's attention (eie/llm/decode_step.h): q (nh*hd) and k (nkv*hd) rotated in "
      "place, k and v written to the caches (nkv, cap, hd) at pos, out (nh*hd) the softmax-"
      "weighted values over positions start..pos.");
  m.def("kmeans1d_segments", &kmeans1d_segments, nb::arg("x").noconvert(),
        nb::arg("w").noconvert(), nb::arg("offsets").noconvert(), nb::arg("k"),
        nb::arg("centroids").noconvert(), nb::arg("codes").noconvert(), nb::arg("threads") = 0,
        "Exact weighted 1-D k-means of each segment x[offsets[s]:offsets[s+1]] (float32, "
        "weights w >= 0): fills centroids (num_segments, k), ascending per segment, and codes "
        "(len(x),) uint8; returns the total weighted squared error. threads <= 0: all cores.");
}

}  // namespace eie::bindings
