#include <stdexcept>
#include <string>

#include "bindings/bindings.h"
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

}  // namespace

void register_llm(nb::module_& m) {
  m.def("kmeans1d_segments", &kmeans1d_segments, nb::arg("x").noconvert(),
        nb::arg("w").noconvert(), nb::arg("offsets").noconvert(), nb::arg("k"),
        nb::arg("centroids").noconvert(), nb::arg("codes").noconvert(), nb::arg("threads") = 0,
        "Exact weighted 1-D k-means of each segment x[offsets[s]:offsets[s+1]] (float32, "
        "weights w >= 0): fills centroids (num_segments, k), ascending per segment, and codes "
        "(len(x),) uint8; returns the total weighted squared error. threads <= 0: all cores.");
}

}  // namespace eie::bindings
