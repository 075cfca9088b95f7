#include "format/encode.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

namespace eie::format {
namespace {

[[noreturn]] void fail(const std::string& msg) { throw std::invalid_argument(msg); }

void check_params(int64_t rows, int64_t cols, int64_t num_pes, int index_bits) {
  if (rows < 0 || cols < 0) fail("shape should be non-negative");
  if (num_pes < 1) fail("num_pes should be >= 1, found " + std::to_string(num_pes));
  if (index_bits < 1 || index_bits > 8)
    fail("index_bits should be in 1..8, found " + std::to_string(index_bits));
  if (rows > (int64_t{1} << 32) - 1 || cols > (int64_t{1} << 32) - 1)
    fail("shape should fit 32-bit row and column indices");
}

// Per (PE, column) state of an encoder that sees each (PE, column)'s real entries in increasing
// local row: entries so far (fillers included) and the last local row (-1: none yet).
struct Cursor {
  int64_t count = 0;
  int64_t last = -1;
};

// Entries a real weight at local row `lr` adds after one at `last` (its fillers and itself).
inline int64_t entries_for(int64_t lr, int64_t last, int index_bits) {
  return 1 + ((lr - last - 1) >> index_bits);
}

// Writes the fillers and the entry; returns the next write position.
inline int64_t put(Encoded& e, int64_t pos, int64_t lr, int64_t last, uint8_t code,
                   int index_bits) {
  const int64_t gap = lr - last - 1;
  const int64_t span = int64_t{1} << index_bits;
  for (int64_t f = gap >> index_bits; f > 0; --f) {
    e.codes[pos] = 0;
    e.rel_index[pos++] = static_cast<uint8_t>(span - 1);
  }
  e.codes[pos] = code;
  e.rel_index[pos++] = static_cast<uint8_t>(gap & (span - 1));
  return pos;
}

// col_ptr (PE-relative) and pe_offset from per-(PE, column) entry counts; returns the total.
int64_t finish_pointers(Encoded& e, const std::vector<Cursor>& cur, int64_t num_pes,
                        int64_t cols) {
  e.col_ptr.assign(static_cast<size_t>(num_pes * (cols + 1)), 0);
  e.pe_offset.assign(static_cast<size_t>(num_pes + 1), 0);
  for (int64_t k = 0; k < num_pes; ++k) {
    int64_t* p = e.col_ptr.data() + k * (cols + 1);
    for (int64_t c = 0; c < cols; ++c) p[c + 1] = p[c] + cur[k * cols + c].count;
    e.pe_offset[k + 1] = e.pe_offset[k] + p[cols];
  }
  const int64_t total = e.pe_offset[num_pes];
  e.codes.resize(static_cast<size_t>(total));
  e.rel_index.resize(static_cast<size_t>(total));
  return total;
}

}  // namespace

Encoded encode_codes(const uint8_t* codes, int64_t rows, int64_t cols, int64_t num_pes,
                     int index_bits) {
  check_params(rows, cols, num_pes, index_bits);
  Encoded e;
  // PE by PE (rows k, k + P, ...): one PE's cursors (cols of them) stay in cache, and its
  // entries are written in order.
  std::vector<Cursor> cur(static_cast<size_t>(num_pes * cols));
  for (int64_t k = 0; k < num_pes; ++k) {  // pass 1: entries per (PE, column)
    Cursor* c0 = cur.data() + k * cols;
    for (int64_t r = k, lr = 0; r < rows; r += num_pes, ++lr) {
      const uint8_t* row = codes + r * cols;
      for (int64_t c = 0; c < cols; ++c) {
        if (row[c] == 0) continue;
        c0[c].count += entries_for(lr, c0[c].last, index_bits);
        c0[c].last = lr;
      }
    }
  }
  finish_pointers(e, cur, num_pes, cols);
  for (int64_t k = 0; k < num_pes; ++k) {  // pass 2: fill
    Cursor* c0 = cur.data() + k * cols;
    for (int64_t c = 0; c < cols; ++c) {
      c0[c].count = e.pe_offset[k] + e.col_ptr[k * (cols + 1) + c];
      c0[c].last = -1;
    }
    for (int64_t r = k, lr = 0; r < rows; r += num_pes, ++lr) {
      const uint8_t* row = codes + r * cols;
      for (int64_t c = 0; c < cols; ++c) {
        if (row[c] == 0) continue;
        c0[c].count = put(e, c0[c].count, lr, c0[c].last, row[c], index_bits);
        c0[c].last = lr;
      }
    }
  }
  return e;
}

Encoded encode_csc(const Triples& csc, int64_t num_pes, int index_bits) {
  check_params(csc.rows, csc.cols, num_pes, index_bits);
  const int64_t cols = csc.cols;
  // Each row's PE and local row, looked up instead of divided per entry (a 32-bit division by
  // the run-time PE count cost more than the rest of an entry's work on dense layers).
  std::vector<uint32_t> pe_of(static_cast<size_t>(csc.rows)), lr_of(pe_of.size());
  for (int64_t r = 0, k = 0, lr = 0; r < csc.rows; ++r) {
    pe_of[r] = static_cast<uint32_t>(k);
    lr_of[r] = static_cast<uint32_t>(lr);
    if (++k == num_pes) k = 0, ++lr;
  }
  Encoded e;
  // Cursors column-major here (a column's P cursors side by side), PE-major for finish_pointers.
  std::vector<Cursor> cur(static_cast<size_t>(num_pes * cols)), byk;
  for (int64_t c = 0; c < cols; ++c) {  // pass 1, column by column, rows increasing
    Cursor* q = cur.data() + c * num_pes;
    for (int64_t i = csc.ptr[c]; i < csc.ptr[c + 1]; ++i) {
      const uint32_t r = csc.index[i], lr = lr_of[r];
      Cursor& u = q[pe_of[r]];
      u.count += entries_for(lr, u.last, index_bits);
      u.last = lr;
    }
  }
  byk.resize(cur.size());
  for (int64_t c = 0; c < cols; ++c)
    for (int64_t k = 0; k < num_pes; ++k) byk[k * cols + c] = cur[c * num_pes + k];
  finish_pointers(e, byk, num_pes, cols);
  for (int64_t k = 0; k < num_pes; ++k)
    for (int64_t c = 0; c < cols; ++c) {
      cur[c * num_pes + k].count = e.pe_offset[k] + e.col_ptr[k * (cols + 1) + c];
      cur[c * num_pes + k].last = -1;
    }
  for (int64_t c = 0; c < cols; ++c) {
    Cursor* q = cur.data() + c * num_pes;
    for (int64_t i = csc.ptr[c]; i < csc.ptr[c + 1]; ++i) {
      const uint32_t r = csc.index[i], lr = lr_of[r];
      Cursor& u = q[pe_of[r]];
      u.count = put(e, u.count, lr, u.last, csc.code[i], index_bits);
      u.last = lr;
    }
  }
  return e;
}

Encoded reencode(const EntryArrays& a, int64_t num_pes, int index_bits) {
  check_params(a.rows, a.cols, num_pes, index_bits);
  const int64_t rows = a.rows, cols = a.cols, P = a.num_pes, Q = num_pes;
  if (P < 1) fail("the EIE arrays should have at least one PE, found " + std::to_string(P));
  if (a.pe_offset[0] != 0 || a.pe_offset[P] != a.num_entries)
    fail("pe_offset should run from 0 to the " + std::to_string(a.num_entries) + " entries");
  for (int64_t k = 0; k < P; ++k) {
    const int64_t n = a.pe_offset[k + 1] - a.pe_offset[k];
    if (n < 0) fail("pe_offset should be non-decreasing (PE " + std::to_string(k) + ")");
    const int64_t* ptr = a.col_ptr + k * (cols + 1);
    if (ptr[0] != 0 || ptr[cols] != n)
      fail("col_ptr of PE " + std::to_string(k) + " should run from 0 to its entry count " +
           std::to_string(n));
    for (int64_t c = 0; c < cols; ++c)
      if (ptr[c + 1] < ptr[c])
        fail("col_ptr of PE " + std::to_string(k) + " should be non-decreasing (column " +
             std::to_string(c) + ")");
  }
  // The column buffer holds new PE q's local rows at [q * stride, q * stride + lrows(q)); stride
  // a multiple of 8 so each PE's part starts on a word. slot_of[r]: where row r goes.
  const int64_t lrows_max = (rows + Q - 1) / Q;
  const int64_t stride = (lrows_max + 7) / 8 * 8;
  std::vector<uint32_t> slot_of(static_cast<size_t>(rows));
  for (int64_t r = 0, q = 0, lr = 0; r < rows; ++r) {
    slot_of[r] = static_cast<uint32_t>(q * stride + lr);
    if (++q == Q) q = 0, ++lr;
  }
  std::vector<uint8_t> colbuf(static_cast<size_t>(Q * stride + 8), 0);
  // Each new PE's entries go to their own buffer, then they are concatenated. A column adds at
  // most lrows_max entries to a PE (every entry, filler or real, advances its local row), so a
  // buffer is grown (doubling) only between columns, to hold that much more.
  const size_t col_max = static_cast<size_t>(lrows_max) + 8;
  std::vector<std::vector<uint8_t>> qcodes(Q), qrel(Q);
  std::vector<size_t> qn(static_cast<size_t>(Q), 0);
  for (int64_t q = 0; q < Q; ++q) {
    qcodes[q].resize(static_cast<size_t>(a.num_entries / Q) + col_max);
    qrel[q].resize(qcodes[q].size());
  }
  Encoded e;
  e.col_ptr.assign(static_cast<size_t>(Q * (cols + 1)), 0);
  e.pe_offset.assign(static_cast<size_t>(Q + 1), 0);
  const int64_t span = int64_t{1} << index_bits;
  constexpr uint64_t kOnes = 0x0101010101010101ull, kHighs = 0x8080808080808080ull;
  for (int64_t c = 0; c < cols; ++c) {
    for (int64_t k = 0; k < P; ++k) {
      const int64_t* ptr = a.col_ptr + k * (cols + 1);
      const uint8_t* codes = a.codes + a.pe_offset[k];
      const uint8_t* rel = a.rel_index + a.pe_offset[k];
      int64_t r = k - P;  // global row of the last entry (local row -1)
      for (int64_t p = ptr[c]; p < ptr[c + 1]; ++p) {
        r += (static_cast<int64_t>(rel[p]) + 1) * P;
        if (r >= rows)
          fail("an entry of PE " + std::to_string(k) + ", column " + std::to_string(c) +
               " decodes to row " + std::to_string(r) + " of a " + std::to_string(rows) +
               "-row matrix");
        colbuf[slot_of[r]] = codes[p];  // fillers write 0
      }
    }
    for (int64_t q = 0; q < Q; ++q) {
      uint8_t* base = colbuf.data() + q * stride;
      size_t n = qn[q];
      if (n + col_max > qcodes[q].size()) {
        qcodes[q].resize(std::max(2 * qcodes[q].size(), n + col_max));
        qrel[q].resize(qcodes[q].size());
      }
      uint8_t* oc = qcodes[q].data();
      uint8_t* orl = qrel[q].data();
      int64_t last = -1;
      for (int64_t w0 = 0; w0 < lrows_max; w0 += 8) {
        uint64_t w;
        std::memcpy(&w, base + w0, 8);
        if (w == 0) continue;
        std::memset(base + w0, 0, 8);
        if (last == w0 - 1 && ((w - kOnes) & ~w & kHighs) == 0) {
          // eight real weights right after the last entry (dense layers): relative indices 0
          std::memcpy(oc + n, &w, 8);
          std::memset(orl + n, 0, 8);
          n += 8;
          last = w0 + 7;
          continue;
        }
        for (int j = 0; w != 0; ++j, w >>= 8) {
          if ((w & 0xff) == 0) continue;
          const int64_t lr = w0 + j, gap = lr - last - 1;
          for (int64_t f = gap >> index_bits; f > 0; --f) {
            oc[n] = 0;
            orl[n++] = static_cast<uint8_t>(span - 1);
          }
          oc[n] = static_cast<uint8_t>(w & 0xff);
          orl[n++] = static_cast<uint8_t>(gap & (span - 1));
          last = lr;
        }
      }
      qn[q] = n;
      e.col_ptr[q * (cols + 1) + c + 1] = static_cast<int64_t>(n);
    }
  }
  for (int64_t q = 0; q < Q; ++q)
    e.pe_offset[q + 1] = e.pe_offset[q] + static_cast<int64_t>(qn[q]);
  e.codes.resize(static_cast<size_t>(e.pe_offset[Q]));
  e.rel_index.resize(e.codes.size());
  for (int64_t q = 0; q < Q; ++q) {
    if (qn[q] == 0) continue;
    std::memcpy(e.codes.data() + e.pe_offset[q], qcodes[q].data(), qn[q]);
    std::memcpy(e.rel_index.data() + e.pe_offset[q], qrel[q].data(), qn[q]);
  }
  return e;
}

Triples to_csc(const EntryArrays& a, Triples* csr) {
  decode_to_codes(a, nullptr);  // validates pointers and rows: the walk below trusts them
  const int64_t rows = a.rows, cols = a.cols, P = a.num_pes;
  // Column by column: the column's entries of every PE are dropped into a zeroed column buffer
  // (rows bytes, in L1 for any layer), which is then read out in row order and cleared. Memory
  // traffic is the entries' (each PE's entries are read in order); the buffer scan skips zero
  // words 8 bytes at a time.
  Triples out;
  out.rows = rows;
  out.cols = cols;
  out.ptr.assign(static_cast<size_t>(cols + 1), 0);
  int64_t nnz = 0;
  for (int64_t i = 0; i < a.num_entries; ++i) nnz += a.codes[i] != 0;
  out.index.resize(static_cast<size_t>(nnz));
  out.code.resize(static_cast<size_t>(nnz));
  std::vector<uint8_t> colbuf(static_cast<size_t>((rows + 7) / 8 * 8), 0);
  int64_t n = 0;
  for (int64_t c = 0; c < cols; ++c) {
    for (int64_t k = 0; k < P; ++k) {
      const int64_t* ptr = a.col_ptr + k * (cols + 1);
      const uint8_t* codes = a.codes + a.pe_offset[k];
      const uint8_t* rel = a.rel_index + a.pe_offset[k];
      int64_t lr = -1;
      for (int64_t p = ptr[c]; p < ptr[c + 1]; ++p) {
        lr += static_cast<int64_t>(rel[p]) + 1;
        colbuf[lr * P + k] = codes[p];  // fillers write 0
      }
    }
    for (int64_t r = 0; r < rows; r += 8) {
      uint64_t w;
      std::memcpy(&w, colbuf.data() + r, 8);
      if (w == 0) continue;
      std::memset(colbuf.data() + r, 0, 8);
      for (int j = 0; j < 8; ++j, w >>= 8)
        if ((w & 0xff) != 0) {
          out.index[n] = static_cast<uint32_t>(r + j);
          out.code[n++] = static_cast<uint8_t>(w & 0xff);
        }
    }
    out.ptr[c + 1] = n;
  }
  if (csr != nullptr) {  // a stable counting sort by row: columns increasing within each row
    csr->rows = rows;
    csr->cols = cols;
    csr->ptr.assign(static_cast<size_t>(rows + 1), 0);
    csr->index.resize(static_cast<size_t>(nnz));
    csr->code.resize(static_cast<size_t>(nnz));
    for (int64_t i = 0; i < nnz; ++i) ++csr->ptr[out.index[i] + 1];
    for (int64_t r = 0; r < rows; ++r) csr->ptr[r + 1] += csr->ptr[r];
    std::vector<int64_t> pos(csr->ptr.begin(), csr->ptr.end() - 1);
    for (int64_t c = 0; c < cols; ++c)
      for (int64_t i = out.ptr[c]; i < out.ptr[c + 1]; ++i) {
        const int64_t j = pos[out.index[i]]++;
        csr->index[j] = static_cast<uint32_t>(c);
        csr->code[j] = out.code[i];
      }
  }
  return out;
}

Triples dense_to_csc(const uint8_t* codes, int64_t rows, int64_t cols, Triples* csr) {
  if (rows < 0 || cols < 0) fail("shape should be non-negative");
  if (rows > (int64_t{1} << 32) - 1 || cols > (int64_t{1} << 32) - 1)
    fail("shape should fit 32-bit row and column indices");
  Triples out;
  out.rows = rows;
  out.cols = cols;
  out.ptr.assign(static_cast<size_t>(cols + 1), 0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) out.ptr[c + 1] += codes[r * cols + c] != 0;
  for (int64_t c = 0; c < cols; ++c) out.ptr[c + 1] += out.ptr[c];
  const int64_t nnz = out.ptr[cols];
  out.index.resize(static_cast<size_t>(nnz));
  out.code.resize(static_cast<size_t>(nnz));
  std::vector<int64_t> pos(out.ptr.begin(), out.ptr.end() - 1);
  if (csr != nullptr) {
    csr->rows = rows;
    csr->cols = cols;
    csr->ptr.assign(static_cast<size_t>(rows + 1), 0);
    csr->index.resize(static_cast<size_t>(nnz));
    csr->code.resize(static_cast<size_t>(nnz));
  }
  int64_t n = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* row = codes + r * cols;
    for (int64_t c = 0; c < cols; ++c) {
      const uint8_t k = row[c];
      if (k == 0) continue;
      const int64_t j = pos[c]++;
      out.index[j] = static_cast<uint32_t>(r);
      out.code[j] = k;
      if (csr != nullptr) {
        csr->index[n] = static_cast<uint32_t>(c);
        csr->code[n] = k;
      }
      ++n;
    }
    if (csr != nullptr) csr->ptr[r + 1] = n;
  }
  return out;
}

}  // namespace eie::format
