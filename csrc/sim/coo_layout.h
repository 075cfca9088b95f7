// EIE's interleaved CSC arrays straight from a layer's nonzeros, given by their column-major
// positions (pos = col x rows + row, strictly increasing), without a
// dense matrix (the rules of eie.formats.eie_matrix.encode): row i belongs to PE i % num_pes at
// local row i / num_pes; within each PE, columns in order, each column's entries in row order,
// a filler (code 0, relative index 2^index_bits - 1) for every 2^index_bits zero rows skipped.
// Used to lay out the random benchmark layers (eie.benchmark_layers) in one pass each way.
#pragma once
#include <cstdint>

namespace eie::sim {

// Pass 1: validates the positions (in [0, rows x cols), strictly increasing) and fills col_ptr
// (num_pes, cols + 1) and pe_offset (num_pes + 1), both zeroed, with each PE's cumulative entry
// counts (fillers included). Returns the entry count. Throws std::invalid_argument naming the
// first bad position.
int64_t coo_count(const int64_t* pos, int64_t nnz, int64_t rows, int64_t cols, int64_t num_pes,
                  int64_t index_bits, int64_t* col_ptr, int64_t* pe_offset);

// Pass 2 (after coo_count on the same nonzeros): writes codes and rel_index (pe_offset[num_pes]
// entries each). Never writes outside a PE's range of pe_offset; throws if the nonzeros do not
// match the counts.
void coo_fill(const int64_t* pos, const uint8_t* values, int64_t nnz, int64_t rows,
              int64_t cols, int64_t num_pes, int64_t index_bits, const int64_t* pe_offset,
              uint8_t* codes, uint8_t* rel_index);

}  // namespace eie::sim
