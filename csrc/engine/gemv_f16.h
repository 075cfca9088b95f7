// y = x W^T for a dense float16 weight W (rows, cols), row-major, and float32 inputs x
// (batch, cols): the layers a model keeps unquantized but whose float32 copy would be the
// largest stream of a decode step (SmolLM2's tied LM head: 113 MB in float32, 57 MB in
// float16). Products and sums in float32 (each weight converted exactly); every row is one dot
// product finished by one thread, so results do not depend on the thread count.
#pragma once
#include <cstdint>

#include "common/cpu_features.h"

namespace eie::engine {

// y (batch, rows). threads <= 0: the default count. isa: the kernels to use (scalar, avx2 with
// F16C, avx512).
void gemv_f16(const uint16_t* w, int64_t rows, int64_t cols, const float* x, int64_t batch,
              float* y, int threads, Isa isa);

// Rows [r0, r1) of y, one kernel per ISA unit (gemv_f16_impl.h).
void gemv_f16_rows_scalar(const uint16_t* w, int64_t rows, int64_t cols, const float* x,
                          int64_t batch, int64_t r0, int64_t r1, float* y);
void gemv_f16_rows_avx2(const uint16_t* w, int64_t rows, int64_t cols, const float* x,
                        int64_t batch, int64_t r0, int64_t r1, float* y);
void gemv_f16_rows_avx512(const uint16_t* w, int64_t rows, int64_t cols, const float* x,
                          int64_t batch, int64_t r0, int64_t r1, float* y);

}  // namespace eie::engine
