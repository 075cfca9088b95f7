// Linear-time EIE encoding and the column-sorted triple lists (CSC / CSR) the CPU layouts are
// built from, so no step needs the dense (rows, cols) code matrix of a layer it already holds as
// entries. See src/eie/formats/eie_matrix.py for the EIE arrays.
#pragma once
#include <cstdint>
#include <vector>

#include "format/decode.h"

namespace eie::format {

// The real (nonzero-code) weights of a matrix, column by column with rows increasing (CSC), or
// row by row with columns increasing (CSR). `index` holds the row (CSC) or the column (CSR).
struct Triples {
  int64_t rows = 0, cols = 0;
  std::vector<int64_t> ptr;     // (cols + 1,) for CSC, (rows + 1,) for CSR
  std::vector<uint32_t> index;  // (nnz,)
  std::vector<uint8_t> code;    // (nnz,), all nonzero
  int64_t nnz() const { return static_cast<int64_t>(code.size()); }
};

// EIE entry arrays (what EIEMatrix holds).
struct Encoded {
  std::vector<uint8_t> codes, rel_index;
  std::vector<int64_t> pe_offset;  // (num_pes + 1,)
  std::vector<int64_t> col_ptr;    // (num_pes, cols + 1), row-major, PE-relative
};

// A C-contiguous (rows, cols) code matrix (0 = zero weight) -> EIE arrays over num_pes PEs with
// index_bits-wide relative indices (fillers for longer zero runs). Two row-major passes.
Encoded encode_codes(const uint8_t* codes, int64_t rows, int64_t cols, int64_t num_pes,
                     int index_bits);

// CSC triples -> EIE arrays (re-laying for another PE count or index width).
Encoded encode_csc(const Triples& csc, int64_t num_pes, int index_bits);

// EIE arrays -> the same weights over num_pes PEs with index_bits-wide relative indices, in one
// walk over the entries (no triples, no dense matrix): per column, the old PEs' entries are
// dropped into a zeroed column buffer ordered by new PE and local row, which is read out 8 bytes
// at a time (zero words skipped) into each new PE's entries. Checks what the walk relies on
// (pe_offset and col_ptr in range and increasing, every entry's row inside the matrix) and
// throws std::invalid_argument otherwise; codes are copied as they are (the caller checks them
// against its codebook).
Encoded reencode(const EntryArrays& a, int64_t num_pes, int index_bits);

// Validated EIE arrays -> CSC (and CSR, if csr is not null): two stable counting sorts over the
// entries (by row, then by column), linear in entries + rows + cols. Throws
// std::invalid_argument on inconsistent arrays (as decode_to_codes).
Triples to_csc(const EntryArrays& a, Triples* csr);

// A dense code matrix -> CSC (and CSR if csr is not null).
Triples dense_to_csc(const uint8_t* codes, int64_t rows, int64_t cols, Triples* csr);

}  // namespace eie::format
