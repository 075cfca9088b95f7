// EIE interleaved-CSC decoding (entries -> dense code matrix), with full validation.
//
// Layout (see src/eie/formats/eie_matrix.py): the entries of all PEs are concatenated;
// PE k owns entries [pe_offset[k], pe_offset[k+1]); its column pointers are the k-th row of
// col_ptr, shape (num_pes, cols + 1), offsets relative to the PE's first entry.
// Global row i lives on PE i % num_pes as local row i / num_pes.
#pragma once
#include <cstdint>

#include "common/cpu_features.h"

namespace eie::format {

struct EntryArrays {
  const uint8_t* codes;      // (num_entries,) codebook index per entry, 0 = zero / filler
  const uint8_t* rel_index;  // (num_entries,) zero rows skipped before the entry
  int64_t num_entries;
  const int64_t* pe_offset;  // (num_pes + 1,)
  const int64_t* col_ptr;    // (num_pes, cols + 1), row-major
  int64_t num_pes;
  int64_t rows;
  int64_t cols;
  int64_t codebook_size = 256;  // every code must be < this (256: any uint8)
  int64_t index_bits = 8;       // every rel_index must be < 2**index_bits (8: any uint8)
};

// Number of local rows of PE `pe` (0 <= pe < num_pes) for `rows` rows over `num_pes` PEs:
// the count of i in [0, rows) with i % num_pes == pe. No intermediate exceeds `rows`.
inline int64_t local_rows(int64_t rows, int64_t num_pes, int64_t pe) {
  return rows / num_pes + (pe < rows % num_pes ? 1 : 0);
}

// Validates the arrays completely before anything walks them, in one O(num_entries +
// num_pes * cols) pass: sizes and their products without overflow, pe_offset and every PE's
// col_ptr row (start, monotonicity, end: so every offset lies inside its PE's entries), codes
// below codebook_size, rel_index below 2**index_bits, then every entry decoding to a row inside
// its PE. Throws std::invalid_argument naming the first inconsistency (expected vs found);
// reads nothing outside the arrays whose sizes `a` states.
void validate_entries(const EntryArrays& a);

// validate_entries, then writes every real entry's code into out[row * cols + col]. `out` must
// hold rows * cols zeros, or be null to validate only.
void decode_to_codes(const EntryArrays& a, uint8_t* out);

// Largest byte in p[0:n] (0 for n == 0). Used to check codes against the codebook size.
uint8_t max_u8(const uint8_t* p, int64_t n, Isa isa);

// Per-ISA implementations (max_u8_avx2/avx512 live in arch-specific translation units).
uint8_t max_u8_scalar(const uint8_t* p, int64_t n);
uint8_t max_u8_avx2(const uint8_t* p, int64_t n);
uint8_t max_u8_avx512(const uint8_t* p, int64_t n);

}  // namespace eie::format
