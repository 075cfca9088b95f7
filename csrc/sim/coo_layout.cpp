#include "sim/coo_layout.h"

#include <cstdint>
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
// Walks strictly increasing column-major positions, yielding (row, col) without a division per
// position (the column advances by one most of the time).
struct ColumnWalk {
  int64_t rows, col = 0, col_start = 0;
  void to(int64_t p) {
    if (p - col_start >= rows) {
      if (p - col_start < 2 * rows) {
        col += 1;
        col_start += rows;
      } else {
        col = p / rows;
        col_start = col * rows;
      }
    }
  }
};

Pow2 pow2_of(int64_t n) {
  const bool p = (n & (n - 1)) == 0;
  return {p, n - 1, p ? __builtin_ctzll(static_cast<unsigned long long>(n)) : 0};
}

}  // namespace

int64_t coo_count(const int64_t* pos, int64_t nnz, int64_t rows, int64_t cols, int64_t num_pes,
                  int64_t index_bits, int64_t* col_ptr, int64_t* pe_offset) {
  if (num_pes < 1) fail("num_pes should be >= 1, found " + std::to_string(num_pes));
  if (index_bits < 1 || index_bits > 8)
    fail("index_bits should be in 1..8, found " + std::to_string(index_bits));
  if (rows < 0 || cols < 0 || (cols > 0 && rows > INT64_MAX / cols))
    fail("rows and cols should be non-negative with rows x cols < 2^63");
  const int64_t total = rows * cols;
  const int n = static_cast<int>(num_pes);
  const Pow2 pw = pow2_of(num_pes);
  std::vector<int64_t> prev_col(n, -1), prev_lrow(n, -1);
  ColumnWalk w{rows};
  int64_t last = -1;
  for (int64_t i = 0; i < nnz; ++i) {
    const int64_t q = pos[i];
    if (q <= last || q >= total)
      fail("position " + std::to_string(i) + " (" + std::to_string(q) + ") should be above " +
           "the previous one (" + std::to_string(last) + ") and below rows x cols = " +
           std::to_string(total));
    last = q;
    w.to(q);
    const int64_t c = w.col, r = q - w.col_start;
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

void coo_fill(const int64_t* pos, const uint8_t* values, int64_t nnz, int64_t rows,
              int64_t cols, int64_t num_pes, int64_t index_bits, const int64_t* pe_offset,
              uint8_t* codes, uint8_t* rel_index) {
  if (num_pes < 1 || index_bits < 1 || index_bits > 8) fail("num_pes >= 1, index_bits 1..8");
  if (rows < 0 || cols < 0 || (cols > 0 && rows > INT64_MAX / cols))
    fail("rows and cols should be non-negative with rows x cols < 2^63");
  const int64_t total = rows * cols;
  const int64_t span = int64_t{1} << index_bits;
  const int n = static_cast<int>(num_pes);
  const Pow2 pw = pow2_of(num_pes);
  std::vector<int64_t> cursor(pe_offset, pe_offset + n), prev_col(n, -1), prev_lrow(n, -1);
  ColumnWalk w{rows};
  int64_t last = -1;
  for (int64_t i = 0; i < nnz; ++i) {
    const int64_t q = pos[i];
    if (q <= last || q >= total) fail("positions should increase and stay below rows x cols");
    last = q;
    w.to(q);
    const int64_t c = w.col, r = q - w.col_start;
    const int64_t k = pw.pow2 ? r & pw.mask : r % num_pes;
    const int64_t lr = pw.pow2 ? r >> pw.shift : r / num_pes;
    const int64_t prev = prev_col[k] == c ? prev_lrow[k] : -1;
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
