#include "sim/coo_layout.h"

#include <stdexcept>
#include <string>
#include <vector>

namespace eie::sim {
namespace {

[[noreturn]] void fail(const std::string& msg) { throw std::invalid_argument(msg); }

// PE and local row of a row: a mask and a shift for a power-of-two PE count (the usual case;
// a 64-bit division per nonzero and pass was most of the layout's time).
struct Pow2 {
  bool pow2;
  int64_t mask;
  int shift;
};
Pow2 pow2_of(int64_t n) {
  const bool p = (n & (n - 1)) == 0;
  return {p, n - 1, p ? __builtin_ctzll(static_cast<unsigned long long>(n)) : 0};
}

}  // namespace

int64_t coo_count(const int64_t* row, const int64_t* col, int64_t nnz, int64_t rows,
                  int64_t cols, int64_t num_pes, int64_t index_bits, int64_t* col_ptr,
                  int64_t* pe_offset) {
  if (num_pes < 1) fail("num_pes should be >= 1, found " + std::to_string(num_pes));
  if (index_bits < 1 || index_bits > 8)
    fail("index_bits should be in 1..8, found " + std::to_string(index_bits));
  if (rows < 0 || cols < 0) fail("rows and cols should be non-negative");
  const int n = static_cast<int>(num_pes);
  const Pow2 pw = pow2_of(num_pes);
  std::vector<int64_t> prev_col(n, -1), prev_lrow(n, -1);
  int64_t last_col = -1, last_row = -1;
  for (int64_t i = 0; i < nnz; ++i) {
    const int64_t r = row[i], c = col[i];
    if (r < 0 || r >= rows || c < 0 || c >= cols)
      fail("nonzero " + std::to_string(i) + " at (" + std::to_string(r) + ", " +
           std::to_string(c) + ") is outside the " + std::to_string(rows) + "x" +
           std::to_string(cols) + " layer");
    if (c < last_col || (c == last_col && r <= last_row))
      fail("nonzeros should be in column-major order without repeats; nonzero " +
           std::to_string(i) + " at (" + std::to_string(r) + ", " + std::to_string(c) +
           ") follows (" + std::to_string(last_row) + ", " + std::to_string(last_col) + ")");
    last_col = c;
    last_row = r;
    const int64_t k = pw.pow2 ? r & pw.mask : r % num_pes;
    const int64_t lr = pw.pow2 ? r >> pw.shift : r / num_pes;
    const int64_t prev = prev_col[k] == c ? prev_lrow[k] : -1;
    prev_col[k] = c;
    prev_lrow[k] = lr;
    col_ptr[k * (cols + 1) + c + 1] += 1 + ((lr - prev - 1) >> index_bits);
  }
  for (int64_t k = 0; k < num_pes; ++k) {
    int64_t* p = col_ptr + k * (cols + 1);
    for (int64_t j = 0; j < cols; ++j) p[j + 1] += p[j];
    pe_offset[k + 1] = pe_offset[k] + p[cols];
  }
  return pe_offset[num_pes];
}

void coo_fill(const int64_t* row, const int64_t* col, const uint8_t* values, int64_t nnz,
              int64_t rows, int64_t cols, int64_t num_pes, int64_t index_bits,
              const int64_t* pe_offset, uint8_t* codes, uint8_t* rel_index) {
  if (num_pes < 1 || index_bits < 1 || index_bits > 8) fail("num_pes >= 1, index_bits 1..8");
  const int64_t span = int64_t{1} << index_bits;
  const int n = static_cast<int>(num_pes);
  const Pow2 pw = pow2_of(num_pes);
  std::vector<int64_t> cursor(pe_offset, pe_offset + n), prev_col(n, -1), prev_lrow(n, -1);
  for (int64_t i = 0; i < nnz; ++i) {
    const int64_t r = row[i], c = col[i];
    if (r < 0 || r >= rows || c < 0 || c >= cols) fail("nonzero outside the layer");
    const int64_t k = pw.pow2 ? r & pw.mask : r % num_pes;
    const int64_t lr = pw.pow2 ? r >> pw.shift : r / num_pes;
    const int64_t prev = prev_col[k] == c ? prev_lrow[k] : -1;
    if (lr <= prev) fail("nonzeros should be in column-major order without repeats");
    prev_col[k] = c;
    prev_lrow[k] = lr;
    const int64_t gap = lr - prev - 1;
    int64_t& pos = cursor[k];
    if (pos + (gap >> index_bits) + 1 > pe_offset[k + 1])
      fail("the nonzeros do not match the counts of coo_count (PE " + std::to_string(k) + ")");
    for (int64_t f = gap >> index_bits; f > 0; --f) {
      codes[pos] = 0;
      rel_index[pos] = static_cast<uint8_t>(span - 1);
      ++pos;
    }
    codes[pos] = values[i];
    rel_index[pos] = static_cast<uint8_t>(gap & (span - 1));
    ++pos;
  }
}

}  // namespace eie::sim
