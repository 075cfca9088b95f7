#include "format/decode.h"

#include <stdexcept>
#include <string>

namespace eie::format {
namespace {

[[noreturn]] void fail(const std::string& msg) { throw std::invalid_argument(msg); }

std::string s(int64_t v) { return std::to_string(v); }

}  // namespace

void decode_to_codes(const EntryArrays& a, uint8_t* out) {
  if (a.num_pes < 1) fail("num_pes should be >= 1, found " + s(a.num_pes));
  if (a.rows < 0 || a.cols < 0) fail("shape should be non-negative");
  if (a.pe_offset[0] != 0) fail("pe_offset[0] should be 0, found " + s(a.pe_offset[0]));
  if (a.pe_offset[a.num_pes] != a.num_entries)
    fail("pe_offset[-1] should equal the entry count " + s(a.num_entries) + ", found " +
         s(a.pe_offset[a.num_pes]));
  for (int64_t k = 0; k < a.num_pes; ++k) {
    const int64_t begin = a.pe_offset[k], end = a.pe_offset[k + 1];
    if (end < begin)
      fail("pe_offset should be non-decreasing, but pe_offset[" + s(k + 1) + "] = " + s(end) +
           " < pe_offset[" + s(k) + "] = " + s(begin));
    const int64_t size = end - begin;
    const int64_t* ptr = a.col_ptr + k * (a.cols + 1);
    if (ptr[0] != 0) fail("col_ptr of PE " + s(k) + " should start at 0, found " + s(ptr[0]));
    if (ptr[a.cols] != size)
      fail("col_ptr of PE " + s(k) + " should end at its entry count " + s(size) + ", found " +
           s(ptr[a.cols]));
    const int64_t lrows = local_rows(a.rows, a.num_pes, k);
    const uint8_t* codes = a.codes + begin;
    const uint8_t* rel = a.rel_index + begin;
    for (int64_t j = 0; j < a.cols; ++j) {
      const int64_t p0 = ptr[j], p1 = ptr[j + 1];
      if (p1 < p0)
        fail("col_ptr of PE " + s(k) + " should be non-decreasing, but entry " + s(j + 1) +
             " = " + s(p1) + " < entry " + s(j) + " = " + s(p0));
      int64_t row = -1;
      for (int64_t p = p0; p < p1; ++p) {
        row += static_cast<int64_t>(rel[p]) + 1;
        if (row >= lrows)
          fail("PE " + s(k) + " column " + s(j) + ": entry " + s(p) + " decodes to local row " +
               s(row) + ", but this PE has only " + s(lrows) + " rows");
        if (out != nullptr && codes[p] != 0) out[(row * a.num_pes + k) * a.cols + j] = codes[p];
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
