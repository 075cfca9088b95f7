// Layout building (transcoding) and the multiply driver: input conversion, the active-column
// scan, the split over row blocks and threads, and the fused bias + ReLU epilogue.
#include "engine/layout.h"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>

#include "engine/colrow.h"
#include "engine/thread_pool.h"
#include "engine/tuning.h"
#include "format/encode.h"

namespace eie::engine {
namespace {

inline double full_work(const Layout& L) {
  return L.kind == LayoutKind::sparse ? static_cast<double>(L.nnz)
                                      : static_cast<double>(L.rows) * static_cast<double>(L.cols) / 8.0;
}

[[noreturn]] void fail(const std::string& msg) { throw std::invalid_argument(msg); }

// Row blocks: at most kMaxBlockRows rows. Dense layouts get a multiple of `threads` blocks when
// every block keeps at least Tuning::min_split_rows rows (so each thread owns whole blocks: a row
// split), else as few blocks as the row limit allows and run_layout splits the active columns
// between the threads (a column split). Sparse layouts are never cut for threads: they take the
// column split, whose whole columns pay the per-column costs once where half-height ones pay them
// twice (measurements: docs/benchmarks-log-issue-14p.md). A layer whose whole work is below
// Tuning::inline_work never wakes the pool (run_layout), so it is not split for threads either.
std::vector<int64_t> block_starts(int64_t rows, int threads, double full_work, LayoutKind kind) {
  int64_t nb = std::max<int64_t>(1, (rows + kMaxBlockRows - 1) / kMaxBlockRows);
  const int64_t t = std::max(threads, 1);
  const int64_t split = (nb + t - 1) / t * t;
  const Tuning& tu = tuning(active_isa());  // the ISA the layout will most likely run on
  if (kind == LayoutKind::dense && full_work >= tu.inline_work &&
      rows / split >= tu.min_split_rows)
    nb = split;
  int64_t step = Layout::padded((rows + nb - 1) / nb);
  std::vector<int64_t> r0(nb + 1);
  for (int64_t b = 0; b <= nb; ++b) r0[b] = std::min(b * step, rows);
  return r0;
}

// 64-byte aligned scratch that grows and is reused by the thread that owns it.
struct Scratch {
  float* data = nullptr;
  size_t cap = 0;
  ~Scratch() { std::free(data); }
  float* get(size_t n) {
    if (n > cap) {
      std::free(data);
      cap = std::max<size_t>(n, 1024);
      data = static_cast<float*>(std::aligned_alloc(64, (cap * sizeof(float) + 63) & ~size_t{63}));
      if (data == nullptr) {
        cap = 0;  // so the next call allocates again instead of returning null
        throw std::bad_alloc();
      }
    }
    return data;
  }
};

constexpr size_t kPartialGap = 256;  // floats between a column split's partial accumulators

thread_local Scratch t_acc, t_part, t_xt, t_h0, t_h1, t_xr, t_q;  // t_h*: activations between
// layers; t_xr: a row-view batch's inputs padded to 8 or 16 lanes; t_q: int8 inputs;
// t_part: a column split's per-thread accumulators (owned by the calling thread)
thread_local std::vector<uint32_t> t_act;

// Each table is built on first use of its ISA only: the arch files' code may only run on a CPU
// that has the ISA (the binding checks `isa` against best_isa()).
const KernelSet& kernel_set(Isa isa) {
  switch (isa) {
    case Isa::avx512: {
      static const KernelSet ks = kernels_avx512();
      return ks;
    }
    case Isa::avx2: {
      static const KernelSet ks = kernels_avx2();
      return ks;
    }
    default: {
      static const KernelSet ks = kernels_scalar();
      return ks;
    }
  }
}

}  // namespace

void* alloc_huge(size_t bytes) {
  constexpr size_t kHuge = size_t{2} << 20;
  if (bytes < kHuge) {
    void* p = std::malloc(bytes == 0 ? 1 : bytes);
    if (p == nullptr) throw std::bad_alloc();
    return p;
  }
  const size_t rounded = (bytes + kHuge - 1) / kHuge * kHuge;
  void* p = std::aligned_alloc(kHuge, rounded);
  if (p == nullptr) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
  madvise(p, rounded, MADV_HUGEPAGE);  // a hint: failure only costs speed
#endif
  return p;
}

void free_huge(void* p) noexcept { std::free(p); }

int64_t Layout::bytes() const {
  return static_cast<int64_t>(entries.size() * 2 + codes8.size() + col_ptr.size() * 4 +
                              col_mid.size() * 4 + codes.size() + row_entries.size() * 2 +
                              (row_ptr.size() + row_mid.size()) * 4 + row_cb.size() * 4 +
                              row_cb_bf16.size() * 2 + row_cb_planes.size() +
                              row_cb_u8.size() + row_cb_u8_scale.size() * 4) +
         (batch_twin != nullptr ? batch_twin->bytes() : 0);
}

namespace {

// The grouped order of one column (or row) of 4-bit codes (layout.h): for each code k = 1..15 in
// turn, its first 4 * floor(count[k] / 4) entries (in line order), then all the others (in line
// order). grouped_slots sets slot[k] to code k's first grouped position for a line whose entries
// start at `start`, and returns where its tail starts; next_slot then gives each entry's position
// as the line is scanned in order.
inline uint32_t grouped_slots(const uint32_t* count, uint32_t start, uint32_t* slot) {
  for (int k = 1; k < kCodebookSize; ++k) {
    slot[k] = start;
    start += count[k] / 4 * 4;
  }
  return start;
}

inline uint32_t next_slot(uint32_t& placed, uint32_t count, uint32_t& slot, uint32_t& tail) {
  return placed++ < count / 4 * 4 ? slot++ : tail++;
}

// The row view (layout.h): per column panel, each row in the grouped order, from the CSR
// triples (columns increasing per row, so a row's share of a panel is one contiguous run).
void build_row_view(Layout& L, const format::Triples& csr) {
  const int64_t rows = L.rows;
  const int64_t panels = std::max<int64_t>(1, (L.cols + kRowPanelCols - 1) / kRowPanelCols);
  L.row_panels = panels;
  L.row_ptr.assign(static_cast<size_t>(panels * rows + 1), 0);
  L.row_mid.assign(static_cast<size_t>(panels * rows), 0);
  L.row_entries.resize(static_cast<size_t>(L.nnz));
  std::vector<int64_t> cur(csr.ptr.begin(), csr.ptr.end() - 1);  // next triple of each row
  for (int64_t p = 0; p < panels; ++p) {
    const int64_t c0 = p * kRowPanelCols, c1 = c0 + kRowPanelCols;
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t i0 = cur[r];
      int64_t i1 = i0;
      while (i1 < csr.ptr[r + 1] && csr.index[i1] < c1) ++i1;
      cur[r] = i1;
      const int64_t pr = p * rows + r;
      uint32_t count[kCodebookSize] = {}, slot[kCodebookSize], placed[kCodebookSize] = {};
      for (int64_t i = i0; i < i1; ++i) ++count[csr.code[i]];
      uint32_t tail = grouped_slots(count, L.row_ptr[pr], slot);
      L.row_mid[pr] = tail;
      L.row_ptr[pr + 1] = L.row_ptr[pr] + static_cast<uint32_t>(i1 - i0);
      for (int64_t i = i0; i < i1; ++i) {
        const uint8_t k = csr.code[i];
        L.row_entries[next_slot(placed[k], count[k], slot[k], tail)] =
            static_cast<uint16_t>(k << 12 | (csr.index[i] - c0));
      }
    }
  }
}

}  // namespace

bool wants_row_view(int64_t rows, int64_t cols, bool wide, LayoutKind kind) {
  (void)rows;
  (void)cols;
  return kind == LayoutKind::sparse && !wide;
}

bool wants_batch_twin(int64_t rows, int64_t cols, int64_t nnz, int64_t codebook_len) {
  if (codebook_len > kCodebookSize || rows == 0 || cols == 0) return false;
  const double density = static_cast<double>(nnz) / (static_cast<double>(rows) * cols);
  return density <= tuning(active_isa()).batch_twin_max_density;
}

void add_batch_twin(Layout& dense, const format::Triples& csc, const format::Triples& csr,
                    int threads) {
  if (dense.kind != LayoutKind::dense ||
      !wants_batch_twin(dense.rows, dense.cols, dense.nnz, dense.codebook_len))
    return;
  Layout twin = build_layout(csc, &csr, dense.codebook, dense.codebook_len, LayoutKind::sparse,
                             threads);
  HugeVector<uint16_t>().swap(twin.entries);  // the row view alone serves the batches
  HugeVector<uint32_t>().swap(twin.col_ptr);
  HugeVector<uint32_t>().swap(twin.col_mid);
  dense.batch_twin = std::make_shared<const Layout>(std::move(twin));
}

bool row_view_for_batch1(int64_t rows, int64_t cols) {
  return cols <= kRowPanelCols && rows <= tuning(active_isa()).row_view_max_rows && cols >= 2 * rows;
}

Layout build_dense_from_matrix(const uint8_t* codes, int64_t rows, int64_t cols,
                               const float* codebook, int64_t codebook_len, int threads);

Layout build_layout(const uint8_t* codes, int64_t rows, int64_t cols, const float* codebook,
                    int64_t codebook_len, LayoutKind kind, int threads) {
  if (rows < 0 || cols < 0) fail("shape should be non-negative");
  if (kind == LayoutKind::dense) return build_dense_from_matrix(codes, rows, cols, codebook,
                                                                codebook_len, threads);
  format::Triples csr;
  const bool view = wants_row_view(rows, cols, codebook_len > kCodebookSize, kind);
  const format::Triples csc = format::dense_to_csc(codes, rows, cols, view ? &csr : nullptr);
  return build_layout(csc, view ? &csr : nullptr, codebook, codebook_len, kind, threads);
}

namespace {

// Checks the codebook and shape and fills everything but the arrays.
Layout layout_header(int64_t rows, int64_t cols, const float* codebook, int64_t codebook_len,
                     LayoutKind kind, int64_t nnz, int threads) {
  if (rows < 0 || cols < 0) fail("shape should be non-negative");
  if (codebook_len < 1 || codebook_len > kMaxCodebook)
    fail("the CPU kernels take codebooks of 1.." + std::to_string(kMaxCodebook) +
         " entries (up to 8-bit codes), found " + std::to_string(codebook_len));
  if (codebook[0] != 0.0f) fail("codebook[0] should be 0.0 (code 0 means zero)");
  for (int64_t i = 0; i < codebook_len; ++i)
    if (!std::isfinite(codebook[i]))
      fail("codebook[" + std::to_string(i) + "] is NaN or infinite; entries should be finite");
  if (cols >= (int64_t{1} << 32) - 1) fail("too many columns for 32-bit column indices");
  Layout L;
  L.kind = kind;
  L.rows = rows;
  L.cols = cols;
  L.codebook_len = codebook_len;
  L.code_bits = codebook_len > kCodebookSize ? 8 : 4;
  for (int64_t i = 0; i < codebook_len; ++i) L.codebook[i] = codebook[i];
  L.nnz = nnz;
  L.row0 = block_starts(rows, threads, full_work(L), kind);
  return L;
}

}  // namespace

namespace {

// The dense layout's code array, sized for every block; every byte is written by pack_columns.
void size_dense_codes(Layout& L) {
  const int64_t nb = L.nblocks(), per = L.code_bits == 8 ? 1 : 2;
  L.code_base.resize(nb);
  int64_t total = 0;
  for (int64_t b = 0; b < nb; ++b) {
    L.code_base[b] = total;
    total += L.cols * (Layout::padded(L.block_rows(b)) / per);
  }
  L.codes.resize(static_cast<size_t>(total));
}

// Columns per tile: a tile holds `n` columns of unpacked codes (one byte per row, column after
// column) and stays within ~32 KiB (L1) where the rows allow.
int64_t tile_cols(int64_t rows, int64_t cols) {
  return std::clamp<int64_t>(int64_t{32768} / std::max<int64_t>(rows, 1), 1,
                             std::max<int64_t>(cols, 1));
}

// Writes columns [c0, c0 + n) of the dense layout from a tile of unpacked codes,
// tile[j * rows + r] = code of (r, c0 + j): every byte of those columns in every block, the
// padding rows included (code 0). Sequential writes, one column of a block at a time.
void pack_columns(Layout& L, const uint8_t* tile, int64_t c0, int64_t n) {
  const int64_t rows = L.rows;
  const bool wide = L.code_bits == 8;
  for (int64_t b = 0; b < L.nblocks(); ++b) {
    const int64_t r0 = L.row0[b], R = L.block_rows(b), Rp = Layout::padded(R);
    if (R == 0) continue;  // an empty block owns no codes (and codes.data() may be null)
    uint8_t* blk = L.codes.data() + L.code_base[b];
    for (int64_t j = 0; j < n; ++j) {
      const uint8_t* src = tile + j * rows + r0;
      if (wide) {
        uint8_t* dst = blk + (c0 + j) * Rp;
        std::memcpy(dst, src, static_cast<size_t>(R));
        std::memset(dst + R, 0, static_cast<size_t>(Rp - R));
        continue;
      }
      uint8_t* dst = blk + (c0 + j) * (Rp / 2);
      const int64_t full = R / 32;
      for (int64_t g = 0; g < full; ++g) {  // byte i: rows 32g + i (low), 32g + 16 + i (high)
        const uint8_t* s = src + 32 * g;
        uint8_t* d = dst + 16 * g;
        for (int i = 0; i < 16; ++i) d[i] = static_cast<uint8_t>(s[i] | s[16 + i] << 4);
      }
      if (full * 32 < R) {  // the last, partial group: rows past the block end hold code 0
        uint8_t last[32] = {};
        std::memcpy(last, src + full * 32, static_cast<size_t>(R - full * 32));
        uint8_t* d = dst + 16 * full;
        for (int i = 0; i < 16; ++i) d[i] = static_cast<uint8_t>(last[i] | last[16 + i] << 4);
      }
    }
  }
}

}  // namespace

// The dense layout from a (rows, cols) code matrix, a tile of columns at a time (the matrix is
// read row by row within the tile's columns, the layout written column by column).
Layout build_dense_from_matrix(const uint8_t* codes, int64_t rows, int64_t cols,
                               const float* codebook, int64_t codebook_len, int threads) {
  int64_t nnz = 0;
  for (int64_t i = 0; i < rows * cols; ++i) {
    const uint8_t c = codes[i];
    if (c >= codebook_len)
      fail("code " + std::to_string(c) + " at (" + std::to_string(i / cols) + ", " +
           std::to_string(i % cols) + ") is outside the codebook of " +
           std::to_string(codebook_len) + " entries");
    nnz += c != 0;
  }
  Layout L = layout_header(rows, cols, codebook, codebook_len, LayoutKind::dense, nnz, threads);
  size_dense_codes(L);
  const int64_t tc = tile_cols(rows, cols);
  std::vector<uint8_t> tile(static_cast<size_t>(rows * tc));
  for (int64_t c0 = 0; c0 < cols; c0 += tc) {
    const int64_t n = std::min(tc, cols - c0);
    for (int64_t r = 0; r < rows; ++r) {
      const uint8_t* src = codes + r * cols + c0;
      for (int64_t j = 0; j < n; ++j) tile[j * rows + r] = src[j];
    }
    pack_columns(L, tile.data(), c0, n);
  }
  return L;
}

// The dense layout from the EIE entries, a tile of columns at a time: each PE's entries of the
// tile's columns (contiguous in its arrays) are dropped into the zeroed tile, which is then
// packed. Memory traffic: the entries read once in order, the layout written once in order.
Layout build_layout_dense(const format::EntryArrays& a, const float* codebook,
                          int64_t codebook_len, int threads) {
  format::decode_to_codes(a, nullptr);  // validates pointers and rows: the walk trusts them
  int64_t nnz = 0;
  for (int64_t i = 0; i < a.num_entries; ++i) nnz += a.codes[i] != 0;
  const uint8_t top = format::max_u8(a.codes, a.num_entries, active_isa());
  if (top >= codebook_len)
    fail("code " + std::to_string(top) + " is outside the codebook of " +
         std::to_string(codebook_len) + " entries");
  Layout L = layout_header(a.rows, a.cols, codebook, codebook_len, LayoutKind::dense, nnz,
                           threads);
  size_dense_codes(L);
  const int64_t rows = a.rows, cols = a.cols, P = a.num_pes;
  const int64_t tc = tile_cols(rows, cols);
  std::vector<uint8_t> tile(static_cast<size_t>(rows * tc));
  for (int64_t c0 = 0; c0 < cols; c0 += tc) {
    const int64_t n = std::min(tc, cols - c0);
    std::fill_n(tile.begin(), rows * n, uint8_t{0});  // not memset: data() is null for 0 rows
    for (int64_t k = 0; k < P; ++k) {
      const int64_t* ptr = a.col_ptr + k * (cols + 1);
      const uint8_t* codes = a.codes + a.pe_offset[k];
      const uint8_t* rel = a.rel_index + a.pe_offset[k];
      const int64_t lrows = format::local_rows(rows, P, k);
      for (int64_t j = 0; j < n; ++j) {
        const int64_t p0 = ptr[c0 + j], p1 = ptr[c0 + j + 1];
        uint8_t* t = tile.data() + j * rows + k;  // local row lr is tile row lr * P + k
        if (p1 - p0 == lrows) {  // every local row stored: rel_index all 0 (validated)
          for (int64_t i = 0; i < lrows; ++i) t[i * P] = codes[p0 + i];
          continue;
        }
        int64_t lr = -1;
        for (int64_t p = p0; p < p1; ++p) {
          lr += static_cast<int64_t>(rel[p]) + 1;
          t[lr * P] = codes[p];  // fillers write 0
        }
      }
    }
    pack_columns(L, tile.data(), c0, n);
  }
  return L;
}

Layout build_layout(const format::Triples& csc, const format::Triples* csr,
                    const float* codebook, int64_t codebook_len, LayoutKind kind, int threads) {
  const int64_t rows = csc.rows, cols = csc.cols;
  const int64_t nnz = csc.nnz();
  for (int64_t c = 0; c < cols; ++c)
    for (int64_t i = csc.ptr[c]; i < csc.ptr[c + 1]; ++i)
      if (csc.code[i] >= codebook_len)
        fail("code " + std::to_string(csc.code[i]) + " at (" + std::to_string(csc.index[i]) +
             ", " + std::to_string(c) + ") is outside the codebook of " +
             std::to_string(codebook_len) + " entries");
  Layout L = layout_header(rows, cols, codebook, codebook_len, kind, nnz, threads);
  const bool wide = L.code_bits == 8;
  const int64_t nb = L.nblocks();
  // cur[c]: column c's first triple not yet placed (blocks are visited top to bottom, and each
  // column's triples are sorted by row, so a block's share of a column is one contiguous run).
  std::vector<int64_t> cur(csc.ptr.begin(), csc.ptr.end() - 1);
  if (kind == LayoutKind::sparse) {
    if (nnz >= (int64_t{1} << 32)) fail("too many nonzeros for 32-bit column pointers");
    L.entry_base.resize(nb);
    L.col_ptr.assign(static_cast<size_t>(nb * (cols + 1)), 0);
    if (!wide) L.col_mid.assign(static_cast<size_t>(nb * cols), 0);
    L.entries.resize(static_cast<size_t>(nnz));
    if (wide) L.codes8.resize(static_cast<size_t>(nnz));
    int64_t base = 0;
    for (int64_t b = 0; b < nb; ++b) {
      uint32_t* ptr = L.col_ptr.data() + b * (cols + 1);
      L.entry_base[b] = base;
      uint16_t* ent = L.entries.data() + base;
      uint8_t* c8 = wide ? L.codes8.data() + base : nullptr;
      const int64_t r0 = L.row0[b], r1 = L.row0[b + 1];
      for (int64_t c = 0; c < cols; ++c) {
        const int64_t i0 = cur[c];
        int64_t i1 = i0;
        while (i1 < csc.ptr[c + 1] && csc.index[i1] < r1) ++i1;
        cur[c] = i1;
        ptr[c + 1] = ptr[c] + static_cast<uint32_t>(i1 - i0);
        if (wide) {  // rows increasing, the code beside
          for (int64_t i = i0; i < i1; ++i) {
            const uint32_t e = ptr[c] + static_cast<uint32_t>(i - i0);
            ent[e] = static_cast<uint16_t>(csc.index[i] - r0);
            c8[e] = csc.code[i];
          }
          continue;
        }
        uint32_t count[kCodebookSize] = {}, slot[kCodebookSize], placed[kCodebookSize] = {};
        for (int64_t i = i0; i < i1; ++i) ++count[csc.code[i]];
        uint32_t tail = grouped_slots(count, ptr[c], slot);
        L.col_mid[b * cols + c] = tail;
        for (int64_t i = i0; i < i1; ++i) {
          const uint8_t k = csc.code[i];
          ent[next_slot(placed[k], count[k], slot[k], tail)] =
              static_cast<uint16_t>(k << 12 | (csc.index[i] - r0));
        }
      }
      base += ptr[cols];
    }
    if (wants_row_view(rows, cols, wide, kind)) {
      if (csr == nullptr) fail("internal: the row view needs the CSR triples");
      build_row_view(L, *csr);
    }
  } else {
    L.code_base.resize(nb);
    int64_t total = 0;
    for (int64_t b = 0; b < nb; ++b) {
      L.code_base[b] = total;
      total += cols * (Layout::padded(L.block_rows(b)) / (wide ? 1 : 2));
    }
    L.codes.assign(static_cast<size_t>(total), 0);
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t Rp = Layout::padded(L.block_rows(b));
      const int64_t r0 = L.row0[b], r1 = L.row0[b + 1];
      uint8_t* blk = L.codes.data() + L.code_base[b];
      for (int64_t c = 0; c < cols; ++c) {
        int64_t i = cur[c];
        if (wide) {  // 8-bit: one byte per weight, row order
          for (; i < csc.ptr[c + 1] && csc.index[i] < r1; ++i)
            blk[c * Rp + (csc.index[i] - r0)] = csc.code[i];
        } else {
          uint8_t* col = blk + c * (Rp / 2);
          for (; i < csc.ptr[c + 1] && csc.index[i] < r1; ++i) {
            const int64_t lr = csc.index[i] - r0;
            col[(lr / 32) * 16 + (lr % 16)] |=
                static_cast<uint8_t>(csc.code[i] << ((lr % 32) >= 16 ? 4 : 0));
          }
        }
        cur[c] = i;
      }
    }
  }
  return L;
}

void fill_codebook_u8(Layout& L, const float* codebooks, int64_t groups, int64_t k) {
  L.row_cb_u8.assign(static_cast<size_t>(groups * kCodebookSize), 128);
  L.row_cb_u8_scale.assign(static_cast<size_t>(groups), 1.0f);
  for (int64_t g = 0; g < groups; ++g) {
    float m = 0.0f;
    for (int64_t i = 0; i < k; ++i) m = std::max(m, std::fabs(codebooks[g * k + i]));
    // all zero: every entry 128 and scale 0, so the row's output is exactly 0 (the kernel's
    // sums of u * q and its row-independent offset need not cancel exactly)
    if (m == 0.0f) {
      L.row_cb_u8_scale[g] = 0.0f;
      continue;
    }
    const float s = int8_scale_of(m);  // as the inputs' chunks; values clamped below
    L.row_cb_u8_scale[g] = s;
    for (int64_t i = 0; i < k; ++i) {
      const float v = std::nearbyint(codebooks[g * k + i] / s);
      L.row_cb_u8[g * kCodebookSize + i] =
          static_cast<uint8_t>(std::clamp(v, -127.0f, 127.0f) + 128.0f);
    }
  }
}

Layout build_rowwise(const uint8_t* codes, int64_t rows, int64_t cols, const float* codebooks,
                     int64_t groups, int64_t k, int64_t group_rows) {
  if (rows < 0 || cols < 0) fail("shape should be non-negative");
  if (k < 1 || k > kCodebookSize)
    fail("the rowwise layout takes codebooks of 1..16 entries (4-bit codes), found " +
         std::to_string(k));
  if (group_rows < 0) fail("group_rows should be >= 0");
  const int64_t need = group_rows == 0 ? 1 : (rows + group_rows - 1) / group_rows;
  if (groups != need)
    fail(std::to_string(rows) + " rows in groups of " + std::to_string(group_rows) + " need " +
         std::to_string(need) + " codebooks, found " + std::to_string(groups));
  for (int64_t i = 0; i < groups * k; ++i)
    if (!std::isfinite(codebooks[i]))
      fail("codebook " + std::to_string(i / k) + " entry " + std::to_string(i % k) +
           " is NaN or infinite; entries should be finite");
  Layout L;
  L.kind = LayoutKind::rowwise;
  L.rows = rows;
  L.cols = cols;
  L.codebook_len = k;
  L.code_bits = 4;
  L.group_rows = group_rows;
  if (group_rows == 0) {
    for (int64_t i = 0; i < k; ++i) L.codebook[i] = codebooks[i];
  } else {
    L.row_cb.assign(static_cast<size_t>(groups * kCodebookSize), 0.0f);
    for (int64_t g = 0; g < groups; ++g)
      for (int64_t i = 0; i < k; ++i) L.row_cb[g * kCodebookSize + i] = codebooks[g * k + i];
  }
  L.cb_bf16_exact = true;  // then the AMX kernel's bf16 weights are the codebook's exactly
  for (int64_t i = 0; i < groups * k; ++i) {
    uint32_t bits;
    std::memcpy(&bits, codebooks + i, 4);
    L.cb_bf16_exact = L.cb_bf16_exact && (bits & 0xffffu) == 0;
  }
  L.row_cb_bf16.assign(static_cast<size_t>(groups * 2 * kCodebookSize), 0);
  for (int64_t g = 0; g < groups; ++g)
    for (int64_t i = 0; i < k; ++i) {
      const uint16_t h = float_to_bf16(codebooks[g * k + i]);
      L.row_cb_bf16[g * 2 * kCodebookSize + i] = h;
      L.row_cb_bf16[g * 2 * kCodebookSize + kCodebookSize + i] = h;
    }
  fill_codebook_planes(L, codebooks, groups, k);
  fill_codebook_u8(L, codebooks, groups, k);
  L.row0 = {0, rows};
  L.row_stride = L.padded_cols() / 2;
  L.codes.assign(static_cast<size_t>(rows * L.row_stride), 0);
  int64_t nnz = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* in = codes + r * cols;
    uint8_t* out = L.codes.data() + r * L.row_stride;
    for (int64_t c = 0; c < cols; ++c) {
      const uint8_t code = in[c];
      if (code >= k)
        fail("code " + std::to_string(code) + " at (" + std::to_string(r) + ", " +
             std::to_string(c) + ") is outside the codebook of " + std::to_string(k) +
             " entries");
      nnz += code != 0;
      const int64_t t = c / 128, j = (c % 128) / 16, i = c % 16;
      out[t * 64 + 4 * i + j / 2] |= static_cast<uint8_t>(code << (4 * (j % 2)));
    }
  }
  L.nnz = nnz;
  return L;
}

namespace {
// Batch 2..16 with 4-bit codes: the batch kernels visit the *union* of the inputs' active
// columns (`any` of them) and update a whole vector (8 or 16 lanes) per entry; a loop of batch-1
// multiplies visits each input's own active columns (`each`, summed over the inputs). With
// sparse activations the union is much larger than each input's share, so the loop wins. The
// cost model's factors (Tuning) were fitted on 4096x9216 (sparse, 9%) and 4096x4096 (dense):
// docs/benchmarks-log-issue-14p.md.
bool loop_beats_batch(LayoutKind kind, int64_t batch, int64_t each, int64_t any,
                      const Tuning& tu) {
  const double factor =
      kind == LayoutKind::sparse
          ? (batch <= 8 ? tu.sparse_batch_factor : tu.sparse_batch_factor_wide)
          : tu.dense_batch_factor * std::sqrt(static_cast<double>(batch));
  return static_cast<double>(each) < factor * static_cast<double>(any);
}

// The row view at batch 2..16 visits every entry once (a vector load and add per entry and 8
// lanes) where the column batch kernel visits the entries of the columns active in any input (a
// read-modify-write of the entry's row of batch accumulators, out of L1 above ~1500 rows at
// batch 8). In the unit above (a batch-1 visit of an active column), its cost is
// kRowBatchCost * cols at stride 8 and kRowBatchCost16 * cols at stride 16.
constexpr double kRowBatchCost = 1.4, kRowBatchCost16 = 2.0;
std::atomic<double> g_row_batch_bias{1.0};

bool rows_beat_columns(int64_t batch, int64_t each, int64_t any, int64_t cols,
                       const Tuning& tu) {
  const double row = (batch <= 8 ? kRowBatchCost : kRowBatchCost16) *
                     g_row_batch_bias.load(std::memory_order_relaxed) * static_cast<double>(cols);
  // loop_beats_batch(.., cost, any): whether a cost (in these units) beats the column kernel
  return row < static_cast<double>(each) &&
         loop_beats_batch(LayoutKind::sparse, batch, static_cast<int64_t>(std::ceil(row)), any,
                          tu);
}

// A batch on a dense layout's twin row view: when the inputs' active columns, summed (`each`),
// reach Tuning::batch_twin_factor x density x cols (see tuning.h).
bool twin_takes_batch(const Layout& L, int64_t each, const Tuning& tu) {
  if (L.batch_twin == nullptr) return false;
  const double weights = static_cast<double>(L.rows) * static_cast<double>(L.cols);
  return static_cast<double>(each) * weights >=
         tu.batch_twin_factor * static_cast<double>(L.nnz) * static_cast<double>(L.cols);
}

// Batch 1 on the row view: wide layers only, unless a test forces the view (threshold 0).
bool batch1_on_rows(const Layout& L, int64_t nact, const Tuning& tu) {
  return L.has_row_view() && L.cols > 0 &&
         (row_view_for_batch1(L.rows, L.cols) || tu.row_view_min_act == 0.0) &&
         static_cast<double>(nact) >= tu.row_view_min_act * static_cast<double>(L.cols);
}

// Batch 2..16 on the row view: inputs padded to 8 or 16 lanes, rows in tasks of whole 16-row
// groups claimed dynamically (as run_rowwise), each thread finishing its own rows.
void run_rows_batch(const Layout& L, const float* xt, int64_t batch, const float* bias, bool relu,
                    float* out, int threads, const KernelSet& ks, const Tuning& tu) {
  const int64_t rows = L.rows, cols = L.cols, stride = batch <= 8 ? 8 : 16;
  float* xr = t_xr.get(static_cast<size_t>(cols * stride));
  for (int64_t c = 0; c < cols; ++c) {
    for (int64_t b = 0; b < batch; ++b) xr[c * stride + b] = xt[c * batch + b];
    for (int64_t b = batch; b < stride; ++b) xr[c * stride + b] = 0.0f;
  }
  float* acc = t_acc.get(static_cast<size_t>(rows * stride));
  int nt = threads > 0 ? threads : default_threads();
  if (static_cast<double>(L.nnz) * static_cast<double>(batch) < tu.inline_work) nt = 1;
  const int64_t groups = (rows + 15) / 16;
  const int64_t ntasks = nt <= 1 ? 1 : std::min<int64_t>(groups, 8 * static_cast<int64_t>(nt));
  parallel_for(ntasks, nt, [&](int64_t i) {
    const int64_t r0 = std::min(rows, groups * i / ntasks * 16);
    const int64_t r1 = std::min(rows, groups * (i + 1) / ntasks * 16);
    if (r1 <= r0) return;
    ks.rows_batch(L, r0, r1, xr, stride, acc);
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t r = r0; r < r1; ++r) {
        float v = acc[r * stride + b];
        if (bias != nullptr) v += bias[r];
        if (relu) v = v < 0.0f ? 0.0f : v;  // NaN stays NaN, like np.maximum
        out[b * rows + r] = v;
      }
  });
}
// Rowwise: inputs converted to fp32 and zero-padded to padded_cols, rows split evenly over the
// threads (each writes its own outputs: results do not depend on the thread count), then the
// epilogue on each thread's rows.
void run_rowwise(const Layout& L, const void* x, InKind in_kind, int64_t batch,
                 const float* bias, bool relu, float* out, int threads, Isa isa,
                 Precision precision) {
  const KernelSet& ks = kernel_set(isa);
  const int64_t cols = L.cols, rows = L.rows, pc = L.padded_cols();
  // A batch on AMX tiles, or without them on AVX512-BF16 dot products: bf16 inputs on bf16
  // codebooks (exact products accumulated in fp32), or any inputs rounded to bf16 when bf16
  // precision is asked for.
  const bool amx = uses_amx(L, in_kind, batch, isa, precision);
  const bool dot = !amx && uses_bf16_dot(L, in_kind, batch, isa, precision);
  float* xp = t_xt.get(static_cast<size_t>(pc * batch));
  if (amx) amx_pack_inputs(x, in_kind, batch, cols, pc, reinterpret_cast<uint16_t*>(xp));
  if (dot) bf16_dot_pack_inputs(x, in_kind, batch, cols, pc, reinterpret_cast<uint16_t*>(xp));
  // The fp32 inputs, zero-padded, in the order `pos` gives (the fp32 kernel's: layout.h; none:
  // column order, which the int8 packing reads).
  const auto fill = [&](const uint8_t* pos) {
    for (int64_t b = 0; b < batch; ++b) {
      float* dst = xp + b * pc;
      if (pos != nullptr) std::fill(dst + cols / 128 * 128, dst + pc, 0.0f);
      for (int64_t c = 0; c < cols; ++c) {
        const int64_t i = b * cols + c;
        const int64_t d = pos == nullptr ? c : (c & ~int64_t{127}) | pos[c & 127];
        if (in_kind == InKind::f32) dst[d] = static_cast<const float*>(x)[i];
        else if (in_kind == InKind::f16) dst[d] = half_to_float(static_cast<const uint16_t*>(x)[i]);
        else dst[d] = bf16_to_float(static_cast<const uint16_t*>(x)[i]);
      }
      if (pos == nullptr)
        for (int64_t c = cols; c < pc; ++c) dst[c] = 0.0f;
    }
  };
  // Precision int8: the inputs in column order, then their int8 chunks; where an input is not
  // finite the fp32 kernel runs instead, on the inputs in its own order.
  const bool want_i8 = !amx && !dot && uses_int8(L, isa, precision);
  if (!amx && !dot) fill(want_i8 ? nullptr : ks.rowwise_in_pos);
  int8_t* q = nullptr;
  float* qoff = nullptr;
  float* qscale = nullptr;
  bool i8 = false;
  if (want_i8) {  // per input: the bytes, 16 offset lanes (AVX-512), one scale per chunk
    const int64_t nchunks = pc / 128;
    float* buf = t_q.get(static_cast<size_t>(batch * (pc / 4 + 16 + nchunks)));
    q = reinterpret_cast<int8_t*>(buf);
    qoff = buf + batch * pc / 4;
    qscale = buf + batch * (pc / 4 + 16);
    i8 = isa == Isa::avx2 ? int8_pack_inputs_avx2(xp, batch, pc, q, qscale)
                          : int8_pack_inputs(xp, batch, pc, q, qoff, qscale);
    if (!i8 && ks.rowwise_in_pos != nullptr) fill(ks.rowwise_in_pos);
  }
  const double work = static_cast<double>(rows) * static_cast<double>(pc) / 8.0 *
                      static_cast<double>(batch) / (i8 ? 2.0 : 1.0);
  int nt = threads > 0 ? threads : default_threads();
  const Tuning& tu = tuning(isa);
  if (work < tu.inline_work) nt = 1;
  // Tasks of whole 16-row groups (threads never write the same cache line of out), several per
  // thread and claimed dynamically: a helper whose core is busy holds up at most one small task
  // while the calling thread takes the rest, so a 2-thread call stays near the 1-thread time.
  const int64_t groups = (rows + 15) / 16;
  const int64_t ntasks =
      nt <= 1 ? 1 : std::min<int64_t>(groups, tu.rowwise_tasks_per_thread * nt);
  parallel_for(ntasks, nt, [&](int64_t i) {
    const int64_t r0 = std::min(rows, groups * i / ntasks * 16);
    const int64_t r1 = std::min(rows, groups * (i + 1) / ntasks * 16);
    if (r1 <= r0) return;
    if (amx) amx_rowwise(L, r0, r1, reinterpret_cast<const uint16_t*>(xp), batch, out);
    else if (dot) bf16_dot_rowwise(L, r0, r1, reinterpret_cast<const uint16_t*>(xp), batch, out);
    else if (i8 && isa == Isa::avx2) int8_rowwise_avx2(L, r0, r1, q, qscale, batch, out);
    else if (i8) int8_rowwise(L, r0, r1, q, qoff, qscale, batch, out);
    else ks.rowwise(L, r0, r1, xp, batch, out);
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t r = r0; r < r1; ++r) {
        float v = out[b * rows + r];
        if (bias != nullptr) v += bias[r];
        if (relu) v = v < 0.0f ? 0.0f : v;
        out[b * rows + r] = v;
      }
  });
}
}  // namespace

double row_view_min_act() { return tuning(active_isa()).row_view_min_act; }
void set_row_view_min_act(double frac) {
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    Tuning t = tuning(isa);
    t.row_view_min_act = frac;
    set_tuning(isa, t);
  }
}
double row_batch_bias() { return g_row_batch_bias.load(std::memory_order_relaxed); }
void set_row_batch_bias(double factor) { g_row_batch_bias.store(factor); }

const char* plan_path(const Layout& L, const float* x, int64_t batch, Isa isa) {
  if (L.kind == LayoutKind::rowwise) return "rowwise";
  if (L.kind == LayoutKind::colrow) return "colrow";
  const char* cols_name = L.kind == LayoutKind::sparse ? "columns" : "dense";
  const Tuning& tu = tuning(isa);
  const int64_t cols = L.cols;
  int64_t nact = 0, each = 0;  // as run_layout's scan: columns active in any input, and summed
  for (int64_t c = 0; c < cols; ++c) {
    int64_t n = 0;
    for (int64_t b = 0; b < batch; ++b) n += x[b * cols + c] != 0.0f;
    each += n;
    nact += n != 0;
  }
  if (batch == 1) return batch1_on_rows(L, nact, tu) ? "rows" : cols_name;
  if (twin_takes_batch(L, each, tu)) return "rows";
  if (L.code_bits == 4 && L.has_row_view() && rows_beat_columns(batch, each, nact, cols, tu))
    return "rows";
  if (L.code_bits == 4 && loop_beats_batch(L.kind, batch, each, nact, tu)) return "loop";
  return cols_name;
}

bool uses_amx(const Layout& L, InKind in_kind, int64_t batch, Isa isa, Precision precision) {
  return L.kind == LayoutKind::rowwise && batch >= 2 && isa == Isa::avx512 &&
         (precision == Precision::bf16 || (in_kind == InKind::bf16 && L.cb_bf16_exact)) &&
         amx_ready();
}

bool uses_bf16_dot(const Layout& L, InKind in_kind, int64_t batch, Isa isa,
                   Precision precision) {
  return L.kind == LayoutKind::rowwise && batch >= 2 && isa == Isa::avx512 &&
         (precision == Precision::bf16 || (in_kind == InKind::bf16 && L.cb_bf16_exact)) &&
         !amx_ready() && bf16_dot_ready();
}

bool uses_int8(const Layout& L, Isa isa, Precision precision) {
  // AVX-512 with VNNI (kernels_vnni.cpp), or AVX2 (int8_avx2.cpp): isa avx2 is only run where
  // the CPU has it
  return L.kind == LayoutKind::rowwise && precision == Precision::int8 && !L.row_cb_u8.empty() &&
         ((isa == Isa::avx512 && vnni_ready()) || isa == Isa::avx2);
}

void run_layout(const Layout& L, const void* x, InKind in_kind, int64_t batch, const float* bias,
                bool relu, float* out, int threads, Isa isa, Precision precision) {
  const Tuning& tu = tuning(isa);
  const int64_t cols = L.cols, rows = L.rows;
  if (L.kind == LayoutKind::rowwise) {
    run_rowwise(L, x, in_kind, batch, bias, relu, out, threads, isa, precision);
    return;
  }
  if (L.kind == LayoutKind::colrow) {  // colrow.h: fp32 products whatever the precision
    run_colrow(L, x, in_kind, batch, bias, relu, out, threads, isa);
    return;
  }
  // 1. activations as fp32, transposed to (cols, batch); fp32 at batch 1 is used in place.
  const float* xt;
  if (in_kind == InKind::f32 && batch == 1) {
    xt = static_cast<const float*>(x);
  } else {
    float* buf = t_xt.get(static_cast<size_t>(cols * batch));
    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t c = 0; c < cols; ++c) {
        const int64_t i = b * cols + c;
        float v;
        if (in_kind == InKind::f32) v = static_cast<const float*>(x)[i];
        else if (in_kind == InKind::f16) v = half_to_float(static_cast<const uint16_t*>(x)[i]);
        else v = bf16_to_float(static_cast<const uint16_t*>(x)[i]);
        buf[c * batch + b] = v;
      }
    }
    xt = buf;
  }
  // 2. active columns: any batch element nonzero (branch-free compaction).
  std::vector<uint32_t>& act = t_act;
  act.resize(static_cast<size_t>(cols) + 1);
  int64_t nact = 0;
  if (batch == 1) {
    for (int64_t c = 0; c < cols; ++c) {
      act[nact] = static_cast<uint32_t>(c);
      nact += xt[c] != 0.0f;
    }
  } else {
    int64_t each = 0;  // active columns summed over the inputs
    for (int64_t c = 0; c < cols; ++c) {
      int64_t n = 0;
      for (int64_t b = 0; b < batch; ++b) n += xt[c * batch + b] != 0.0f;
      each += n;
      act[nact] = static_cast<uint32_t>(c);
      nact += n != 0;
    }
    if (twin_takes_batch(L, each, tu)) {
      run_rows_batch(*L.batch_twin, xt, batch, bias, relu, out, threads, kernel_set(isa), tu);
      return;
    }
    if (L.code_bits == 4 && L.has_row_view() && rows_beat_columns(batch, each, nact, cols, tu)) {
      run_rows_batch(L, xt, batch, bias, relu, out, threads, kernel_set(isa), tu);
      return;
    }
    if (L.code_bits == 4 && loop_beats_batch(L.kind, batch, each, nact, tu)) {
      const size_t in_elem = in_kind == InKind::f32 ? 4 : 2;
      for (int64_t b = 0; b < batch; ++b)  // reuses the scratch buffers: x itself is read
        run_layout(L, static_cast<const char*>(x) + static_cast<size_t>(b * cols) * in_elem,
                   in_kind, 1, bias, relu, out + b * rows, threads, isa);
      return;
    }
  }
  // 3. blocks over threads. Tiny multiplies stay on the calling thread (waking a worker costs
  // more than the work).
  const KernelSet& ks = kernel_set(isa);
  const bool sparse = L.kind == LayoutKind::sparse;
  BlockKernel kern;
  if (L.code_bits == 8)
    kern = sparse ? (batch == 1 ? ks.sparse8_1 : ks.sparse8_batch)
                  : (batch == 1 ? ks.dense8_1 : ks.dense8_batch);
  else
    kern = sparse ? (batch == 1 ? ks.sparse1 : ks.sparse_batch)
                  : (batch == 1 ? ks.dense1 : ks.dense_batch);
  if (sparse && !L.row_cb.empty()) kern = sparse_grouped_kernel(isa, batch == 1);  // colrow.h
  const double act_frac = cols ? static_cast<double>(nact) / static_cast<double>(cols) : 0.0;
  const double work = act_frac * static_cast<double>(batch) *
                      (sparse ? static_cast<double>(L.nnz)
                              : static_cast<double>(rows) * static_cast<double>(cols) / 8.0);
  int nt = threads > 0 ? threads : default_threads();
  if (work < tu.inline_work) nt = 1;
  if (batch == 1 && batch1_on_rows(L, nact, tu)) {
    // Row view: each thread takes an equal share of the rows and writes them out directly.
    parallel_for(nt, nt, [&](int64_t i) {
      ks.rows1(L, rows * i / nt, rows * (i + 1) / nt, xt, bias, relu, out);
    });
    return;
  }
  const uint32_t* act_p = act.data();
  // Accumulators of block `blk`: floats, and floats per row (sparse) or per batch row (dense).
  auto acc_shape = [&](int64_t blk, int64_t& stride) {
    const int64_t Rp = Layout::padded(L.block_rows(blk));
    stride = sparse ? (batch == 1 ? 1 : (batch + 7) / 8 * 8) : (batch == 1 ? Rp : Rp + 32);
    return static_cast<size_t>(sparse ? Rp * stride : batch * stride);
  };
  // Epilogue: bias, ReLU, scatter to out (batch, rows).
  auto finish = [&](int64_t blk, const float* acc, int64_t stride) {
    const int64_t r0 = L.row0[blk], R = L.block_rows(blk);
    for (int64_t b = 0; b < batch; ++b) {
      float* y = out + b * rows + r0;
      for (int64_t r = 0; r < R; ++r) {
        float v = sparse ? acc[r * stride + b] : acc[b * stride + r];
        if (bias != nullptr) v += bias[r0 + r];
        if (relu) v = v < 0.0f ? 0.0f : v;  // NaN stays NaN, like np.maximum
        y[r] = v;
      }
    }
  };
  const int64_t nb = L.nblocks();
  if (nt <= 1 || nb % nt == 0) {
    // Row split: each thread owns whole blocks (its output rows); results do not depend on the
    // thread count.
    auto block_fn = [&](int64_t blk) {
      if (L.block_rows(blk) == 0) return;
      int64_t stride;
      const size_t n_acc = acc_shape(blk, stride);
      float* acc = t_acc.get(n_acc);
      std::memset(acc, 0, n_acc * sizeof(float));
      BlockTask task{&L, blk, act_p, nact, xt, batch, acc, stride};
      kern(task);
      finish(blk, acc, stride);
    };
    parallel_for(nb, nt, block_fn);
    return;
  }
  // Column split (fewer blocks than threads, or a count that does not divide): per block, the
  // active columns are cut into small chunks that the threads claim as they go, each chunk into
  // its own accumulators (kernels take fresh ones and may permute them when done), which are
  // then summed in chunk order. A thread whose core is busy holds up at most the chunk it has
  // started: the calling thread takes the rest, so a 2-thread call on a busy machine stays near
  // the 1-thread time. A 600-row layer on 2 threads visits each column once instead of two half
  // columns; the sums' order depends on the chunk count (so on the thread count), not on which
  // thread took which chunk.
  const int64_t nchunks = std::max<int64_t>(
      1, std::min<int64_t>(nact / 16, tu.split_chunks_per_thread * static_cast<int64_t>(nt)));
  for (int64_t blk = 0; blk < nb; ++blk) {
    if (L.block_rows(blk) == 0) continue;
    int64_t stride;
    const size_t n_acc = acc_shape(blk, stride);
    // 64-byte aligned partials, 1 KiB apart beyond their size: back to back (a 16 KiB partial
    // right after another), the task writing the second one ran 1.3-1.5x slower on alex6's
    // shape (some address-keyed structure of the core aliases the two; 256 B and more fully
    // helped: docs/benchmarks-log-issue-14p.md).
    const size_t n_pad = ((n_acc + 15) & ~size_t{15}) + kPartialGap;
    float* part = t_part.get(n_pad * static_cast<size_t>(nchunks));
    parallel_for(nchunks, nt, [&](int64_t i) {
      float* acc = part + n_pad * static_cast<size_t>(i);
      std::memset(acc, 0, n_acc * sizeof(float));
      const int64_t lo = nact * i / nchunks, hi = nact * (i + 1) / nchunks;
      BlockTask task{&L, blk, act_p + lo, hi - lo, xt, batch, acc, stride};
      kern(task);
    });
    for (int64_t i = 1; i < nchunks; ++i) {
      const float* src = part + n_pad * static_cast<size_t>(i);
      for (size_t j = 0; j < n_acc; ++j) part[j] += src[j];
    }
    finish(blk, part, stride);
  }
}

void run_network(const NetLayer* layers, int64_t n, const void* x, InKind in_kind, int64_t batch,
                 float* out, int threads, Isa isa, double* timings_us, Precision precision) {
  using clock = std::chrono::steady_clock;
  if (timings_us != nullptr)
    for (int64_t i = 0; i < n; ++i) timings_us[i] = 0.0;
  if (n == 0 || batch == 0) return;
  const int64_t cols0 = layers[0].layout->cols, rows_out = layers[n - 1].layout->rows;
  const size_t in_elem = in_kind == InKind::f32 ? 4 : 2;
  int64_t widest = 0;
  for (int64_t i = 0; i < n; ++i) widest = std::max(widest, layers[i].layout->rows);
  float* bufs[2] = {t_h0.get(static_cast<size_t>(widest * kMaxBatch)),
                    t_h1.get(static_cast<size_t>(widest * kMaxBatch))};
  for (int64_t lo = 0; lo < batch; lo += kMaxBatch) {
    const int64_t nb = std::min(kMaxBatch, batch - lo);
    const void* h = static_cast<const char*>(x) + static_cast<size_t>(lo * cols0) * in_elem;
    InKind kind = in_kind;
    for (int64_t i = 0; i < n; ++i) {
      float* y = i == n - 1 ? out + lo * rows_out : bufs[i & 1];
      const auto t0 = timings_us != nullptr ? clock::now() : clock::time_point{};
      run_layout(*layers[i].layout, h, kind, nb, layers[i].bias, layers[i].relu, y, threads, isa,
                 precision);
      if (timings_us != nullptr)
        timings_us[i] += std::chrono::duration<double, std::micro>(clock::now() - t0).count();
      h = y;
      kind = InKind::f32;
    }
  }
}

}  // namespace eie::engine
