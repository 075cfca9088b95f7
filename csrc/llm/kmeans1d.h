// Exact weighted 1-D k-means, one independent problem per segment of a flat value array.
//
// For each segment s (values x[offsets[s] .. offsets[s+1]), weights w[...] >= 0) it finds k
// centroids c_0 <= ... <= c_{k-1} and codes minimising sum_i w_i (x_i - c_{code_i})^2 exactly:
// in one dimension the optimal clusters are runs of the sorted values, so a dynamic programme over
// sorted positions solves it; the divide-and-conquer optimisation (the optimal split point is
// monotone in the run's end, as in Ckmeans.1d.dp) makes it O(k m log m) for m distinct values.
// Deterministic: no randomness, ties broken towards the smaller split point.
#pragma once
#include <cstdint>

namespace eie::llm {

struct KMeansSegments {
  const float* x;          // values, all segments back to back
  const float* w;          // weights, same length as x, each >= 0 and finite
  const int64_t* offsets;  // num_segments + 1 increasing offsets into x, offsets[0] = 0
  int64_t num_segments;
  int k;                   // centroids per segment, 1..256
};

// centroids: num_segments * k floats (ascending per segment); codes: offsets[num_segments]
// bytes (each < k). A segment with fewer than k distinct values repeats its largest value in the
// unused entries; an empty segment gets k zeros. Zero-weight values take part with a weight of
// 1e-6 times the segment's mean weight (so every value still gets its nearest centroid).
// Returns the total weighted squared error. Throws std::invalid_argument on bad input.
double kmeans1d(const KMeansSegments& in, float* centroids, uint8_t* codes, int threads);

}  // namespace eie::llm
