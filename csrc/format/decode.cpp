#include "format/decode.h"

#include <limits>
#include <stdexcept>
#include <string>

namespace eie::format {
namespace {

[[noreturn]] void fail(const std::string& msg) { throw std::invalid_argument(msg); }

std::string s(int64_t v) { return std::to_string(v); }

// a * b, or a failure naming `what` when the product does not fit in int64.
int64_t checked_mul(int64_t a, int64_t b, const char* what) {
  int64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r)) fail(std::string(what) + " overflows a 64-bit integer");
  return r;
}

// Sizes, pointers and value ranges: after this every pointer indexes inside its PE's entries.
void validate_pointers_and_values(const EntryArrays& a) {
  if (a.num_pes < 1) fail("num_pes should be >= 1, found " + s(a.num_pes));
  if (a.rows < 0 || a.cols < 0)
    fail("shape should be non-negative, found (" + s(a.rows) + ", " + s(a.cols) + ")");
  if (a.num_entries < 0) fail("entry count should be >= 0, found " + s(a.num_entries));
  if (a.cols == std::numeric_limits<int64_t>::max()) fail("cols + 1 overflows a 64-bit integer");
  checked_mul(a.num_pes, a.cols + 1, "num_pes * (cols + 1)");
  checked_mul(a.rows, a.cols, "rows * cols");
  if (a.codebook_size < 1 || a.codebook_size > 256)
    fail("codebook size should be in 1..256, found " + s(a.codebook_size));
  if (a.index_bits < 1 || a.index_bits > 8)
    fail("index_bits should be in 1..8, found " + s(a.index_bits));

  const int64_t* off = a.pe_offset;
  if (off[0] != 0) fail("pe_offset[0] should be 0, found " + s(off[0]));
  for (int64_t k = 0; k < a.num_pes; ++k)
    if (off[k + 1] < off[k])
      fail("pe_offset should be non-decreasing, but pe_offset[" + s(k + 1) + "] = " +
           s(off[k + 1]) + " < pe_offset[" + s(k) + "] = " + s(off[k]));
  if (off[a.num_pes] != a.num_entries)
    fail("pe_offset[-1] should equal the entry count " + s(a.num_entries) + ", found " +
         s(off[a.num_pes]));

  for (int64_t k = 0; k < a.num_pes; ++k) {
    const int64_t size = off[k + 1] - off[k];
    const int64_t* ptr = a.col_ptr + k * (a.cols + 1);
    if (ptr[0] != 0) fail("col_ptr of PE " + s(k) + " should start at 0, found " + s(ptr[0]));
    if (ptr[a.cols] != size)
      fail("col_ptr of PE " + s(k) + " should end at its entry count " + s(size) + ", found " +
           s(ptr[a.cols]));
    for (int64_t j = 0; j < a.cols; ++j)
      if (ptr[j + 1] < ptr[j])
        fail("col_ptr of PE " + s(k) + " should be non-decreasing, but entry " + s(j + 1) +
             " = " + s(ptr[j + 1]) + " < entry " + s(j) + " = " + s(ptr[j]));
  }

  const int64_t rel_limit = int64_t{1} << a.index_bits;
  for (int64_t i = 0; i < a.num_entries; ++i) {
    if (a.codes[i] >= a.codebook_size)
      fail("entry " + s(i) + " has code " + s(a.codes[i]) + ", but the codebook has " +
           s(a.codebook_size) + " entries");
    if (a.rel_index[i] >= rel_limit)
      fail("entry " + s(i) + " has rel_index " + s(a.rel_index[i]) + ", which does not fit in " +
           s(a.index_bits) + " index bits");
  }
}

// Every entry decodes to a local row inside its PE (pointers already validated).
void validate_rows(const EntryArrays& a) {
  for (int64_t k = 0; k < a.num_pes; ++k) {
    const int64_t* ptr = a.col_ptr + k * (a.cols + 1);
    const uint8_t* rel = a.rel_index + a.pe_offset[k];
    const int64_t lrows = local_rows(a.rows, a.num_pes, k);
    for (int64_t j = 0; j < a.cols; ++j) {
      int64_t row = -1;  // stays < lrows <= rows, so row + 256 cannot overflow
      for (int64_t p = ptr[j]; p < ptr[j + 1]; ++p) {
        row += static_cast<int64_t>(rel[p]) + 1;
        if (row >= lrows)
          fail("PE " + s(k) + " column " + s(j) + ": entry " + s(p) + " decodes to local row " +
               s(row) + ", but this PE has only " + s(lrows) + " rows");
      }
    }
  }
}

}  // namespace

void validate_entries(const EntryArrays& a) {
  validate_pointers_and_values(a);
  validate_rows(a);
}

void decode_to_codes(const EntryArrays& a, uint8_t* out) {
  validate_entries(a);
  if (out == nullptr) return;
  // Validated: every (row, col) below is inside the rows x cols output.
  for (int64_t k = 0; k < a.num_pes; ++k) {
    const int64_t* ptr = a.col_ptr + k * (a.cols + 1);
    const uint8_t* codes = a.codes + a.pe_offset[k];
    const uint8_t* rel = a.rel_index + a.pe_offset[k];
    for (int64_t j = 0; j < a.cols; ++j) {
      int64_t row = -1;
      for (int64_t p = ptr[j]; p < ptr[j + 1]; ++p) {
        row += static_cast<int64_t>(rel[p]) + 1;
        if (codes[p] != 0) out[(row * a.num_pes + k) * a.cols + j] = codes[p];
      }
    }
  }
}

uint8_t max_u8_scalar(const uint8_t* p, int64_t n) {
  uint8_t m = 0;
  for (int64_t i = 0; i < n; ++i) m = p[i] > m ? p[i] : m;
  return m;
}

uint8_t max_u8(const uint8_t* p, int64_t n, Isa isa) {
  switch (isa) {
    case Isa::avx512: return max_u8_avx512(p, n);
    case Isa::avx2: return max_u8_avx2(p, n);
    case Isa::scalar: break;
  }
  return max_u8_scalar(p, n);
}

}  // namespace eie::format
