// COLROW: 4-bit codes with one 16-entry codebook per row or per group of rows (or the shared
// one), column-major inside strips of rows, so a multiply visits only the nonzero activations.
//
//   codes   uint8   rows cut into *strips* of kColrowStripRows rows (the last one shorter,
//           rounded up to 8 rows); strip s starts at byte s * cols * 64 and holds, per column,
//           h / 2 bytes (h = the strip's padded height): 32-bit word w of column c holds the
//           codes of strip rows 8w .. 8w + 7, row 8w + j in bits 4j .. 4j + 3. Rows past the
//           end hold code 0. So one column of a full strip is one 64-byte line, and the word of
//           an octet (8 rows) for 16 columns is one 32-bit gather.
//   row_cb  float   (groups, 16) as in ROWWISE (layout.h): row r decodes through
//           row_codebook(r); group_rows 0 means the shared `codebook`. Every code is a value (no
//           zero-code rule).
//
// A multiply lists the inputs' nonzero columns ("active"), compacts x to them (per tile of up to
// 8 inputs: the union of the tile's active columns), and per strip and block of active columns
// builds the strip's code words of those columns in L1, octet by octet (the SIMD kernels load
// the 16 active columns' lines and transpose them in registers; gathers where a task holds part
// of a strip): then each row's 16 weights are one shift and one vpermps (AVX2: two and a blend)
// on the row's codebook in a register, times 16 compacted inputs (one FMA per input of the
// tile), as in the rowwise kernel but over the active columns only.
// Each output is a dot product finished in registers: results do not depend on the thread count.
#pragma once
#include <cstdint>

#include "engine/layout.h"

namespace eie::engine {

constexpr int64_t kColrowStripRows = 128;  // a column of a full strip: one 64-byte line
constexpr int64_t kColrowChunk = 16;       // active columns per gather (AVX-512 lanes)
constexpr int64_t kColrowMaxTile = 8;      // inputs sharing one list of active columns
// The multiple of active columns a tile is padded to: kColrowChunk, or 32 for the AVX2 kernel
// (which decodes 32 columns per step).
inline int64_t colrow_chunk(Isa isa) { return isa == Isa::avx2 ? 2 * kColrowChunk : kColrowChunk; }

// Builds the layout from a C-contiguous (rows, cols) code matrix (codes < k <= 16) and `groups`
// codebooks of k floats (row r uses codebooks[r / group_rows]; group_rows 0: one shared codebook,
// groups = 1). Throws std::invalid_argument on bad codes, shapes or non-finite codebooks.
Layout build_colrow(const uint8_t* codes, int64_t rows, int64_t cols, const float* codebooks,
                    int64_t groups, int64_t k, int64_t group_rows);

// What a colrow kernel sees for one tile of inputs: `np` active columns (a multiple of
// colrow_chunk(isa); the padding repeats column 0 with x = 0), their word offsets inside a full strip
// (idx_full = c * 16) and inside the last strip (idx_last = c * its words per column), and the
// compacted inputs xc (nt, np). The kernel writes out[(b0 + t) * rows + r] for t < nt and the
// rows of octets [o_begin, o_end) (octet o: rows 8o .. 8o + 7, cut at rows), before the bias.
struct ColrowTile {
  const uint32_t* idx_full;
  const uint32_t* idx_last;
  const float* xc;
  int64_t np;
  int64_t nt;
  int64_t b0;
};

using ColrowKernel = void (*)(const Layout& L, int64_t o_begin, int64_t o_end,
                              const ColrowTile& tile, float* out);

ColrowKernel colrow_kernel_scalar();
ColrowKernel colrow_kernel_avx2();
ColrowKernel colrow_kernel_avx512();

// Where the codes of octet o start (its word of column 0) and whether it lies in a short last
// strip (whose columns are idx_last words apart).
inline const uint32_t* colrow_octet_base(const Layout& L, int64_t o, bool& last_short) {
  const int64_t per = kColrowStripRows / 8, s = o / per;
  last_short = (s + 1) * kColrowStripRows > L.rows && L.rows % kColrowStripRows != 0;
  return reinterpret_cast<const uint32_t*>(L.codes.data() + s * L.cols * 64) + (o % per);
}

// y (batch, rows) = act(W @ x^T + bias), as run_layout (which calls this for colrow layouts).
void run_colrow(const Layout& L, const void* x, InKind in_kind, int64_t batch, const float* bias,
                bool relu, float* out, int threads, Isa isa);

// The cost model choosing, per tile, one shared list of active columns (union) or a batch-1
// pass per input (each): exposed for tests and tuning. Returns the inputs per tile to use.
int64_t colrow_tile_inputs(int64_t batch, Isa isa);

}  // namespace eie::engine

namespace eie::engine {

// SPARSE WITH ROW CODEBOOKS: pruned layers (code 0 = pruned, every codebook's entry 0 is 0.0)
// whose rows, or groups of rows, have their own 16-entry codebooks. The sparse layout's arrays
// (layout.h SPARSE: per-block columns of (code << 12) | row entries, no row view) with `row_cb`
// holding one codebook per row (groups expanded, so group_rows is 1): an entry's weight is
// row_cb[(row0[b] + row) * 16 + code], and (row << 4) | code is the entry rotated by 4 bits.
// Built from a (rows, cols) code matrix; throws std::invalid_argument on bad codes or codebooks.
Layout build_sparse_grouped(const uint8_t* codes, int64_t rows, int64_t cols,
                            const float* codebooks, int64_t groups, int64_t k, int64_t group_rows,
                            int threads);

// The block kernels of such a layout (run_layout picks them when a sparse layout has row_cb).
BlockKernel sparse_grouped_kernel(Isa isa, bool batch1);
BlockKernel sparse_grouped_scalar(bool batch1);
BlockKernel sparse_grouped_avx2(bool batch1);

}  // namespace eie::engine
