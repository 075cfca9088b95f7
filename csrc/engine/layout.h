// CPU layouts of one layer, transcoded once from the (rows, cols) code matrix, and the kernels
// that multiply them. See src/eie/engine/layout.py for the Python side.
//
// Both layouts cut the rows into *row blocks* of at most kMaxBlockRows rows (a multiple of 32
// except the last), whose fp32 accumulators (<= 16 KiB at batch 1) stay in L1. Threads split the
// work by rows when the layout has a multiple of their count of blocks (each thread owns whole
// blocks, i.e. output rows: no shared accumulator, results independent of the thread count): a
// dense layout is prepared that way when each block keeps >= 1024 rows. Otherwise (sparse
// layouts, small dense ones, or another thread count at run time) they split each block's active
// columns and add their partial accumulators, so results depend on the thread count by rounding
// (see block_starts and run_layout in layout.cpp).
//
// Both layouts are column-major inside a block, so a multiply scans x once, keeps the list of
// nonzero activations ("active columns"), and each block visits only those columns: the zero
// activations cost nothing, as in EIE's broadcast.
//
// SPARSE (per block b, rows [row0[b], row0[b+1])):
//   entries  uint16  (code << 12) | (row - row0[b])      one per nonzero weight, no fillers:
//            the absolute 12-bit row inside the block replaces EIE's 4-bit relative index, so
//            entries decode independently (SIMD-friendly, no prefix sum) for 2 bytes per weight.
//   col_ptr  uint32  (cols + 1,) offsets into the block's entries; column c is
//            entries[col_ptr[c] : col_ptr[c+1]]: first a *grouped* part, then a *tail*.
//   col_mid  uint32  (cols,) where column c's tail starts (col_ptr[c] <= col_mid[c] <= col_ptr[c+1]).
//            Grouped part: the column's entries sorted by code, each code contributing its first
//            4 * floor(n_code / 4) entries (rows increasing), so every aligned run of 4 entries
//            shares one code. Tail: the remaining < 4 entries of each code, rows increasing.
//            Why: the 4-bit batch-1 kernels look the scaled weight up once per 4 entries instead
//            of once per entry (measured on 4096x9216, 9% weights: 0.81 -> 0.54 ns per touched
//            nonzero, see docs/benchmarks.md). Every entry still decodes on its own, so kernels
//            that ignore col_mid (batch, AVX-512 scatter) are unaffected; rows stay distinct
//            within a column, in no particular order across the two parts.
// DENSE (every weight a 4-bit code, code 0 = 0.0; for layers too dense for indices to pay):
//   codes    uint8   per column, ceil(R / 32) groups of 16 bytes; byte i of group g holds the
//            code of block row 32g + i in its low nibble and of row 32g + 16 + i in its high
//            nibble (so one 16-byte load gives 16 + 16 consecutive rows without shuffles).
//            Rows past the block end hold code 0.
// ROW VIEW (every sparse layout with 4-bit codes; built beside the columns, so such layers hold
// their entries twice): the columns cut into *panels* of kRowPanelCols columns (row_panels of
// them), and per panel p and row r:
//   row_entries uint16  (code << 12) | (col - p * kRowPanelCols): a grouped part (runs of 4
//                       entries sharing one code) and a tail, as in the columns.
//   row_ptr     uint32  (row_panels * rows + 1,): (p, r)'s entries start at row_ptr[p * rows + r]
//                       (panel after panel, rows in order, so (p, r) ends where the next starts);
//   row_mid     uint32  (row_panels * rows,): where (p, r)'s tail starts.
//   Used (a) for a batch-1 multiply of a wide layer (cols <= 4096, rows <= Tuning::row_view_max_rows,
//   cols >= 2 rows: row_view_for_batch1) when at least row_view_min_act() of the activations
//   are nonzero: short columns pay a per-column overhead the rows do not, and with dense
//   activations skipping zeros saves little; (b) for batches of 2..16 when the inputs' active
//   columns together cover enough of the layer (run_layout's cost model): every output's batch
//   accumulates in registers while the batch kernel on the columns read-modifies-writes a
//   batch vector in memory per entry. Per grouped run, four activations (or activation
//   vectors) summed, times the code's weight.
// BATCH TWIN (dense 4-bit layouts built for layout="auto" of layers of at most
// Tuning::batch_twin_max_density weights): batch_twin holds the same layer's sparse layout
// reduced to its row view (no columns), which a batch of 2..16 runs on when the inputs' active
// columns, summed, reach Tuning::batch_twin_factor x density x cols (the dense choice is made
// for batch 1; the row view streams the nonzeros once per call whatever the batch).
// 8-BIT CODES (codebooks of 17..256 entries; chosen by build_layout, code_bits = 8):
//   sparse:  entries hold the 12-bit row only (bits 12..15 zero) and codes8 (uint8, one per
//            entry, same order) the code: 3 bytes per nonzero weight. Rows increasing, no
//            grouped part (col_mid is empty).
//   dense:   codes holds one byte per weight: per column, padded(R) bytes in row order.
//   The 256-entry codebook (1 KiB) is looked up from L1 (scalar loads or AVX2 gathers).
// ROWWISE (4-bit codes, one 16-entry codebook per row or per group of rows, or the shared one):
//   codes    uint8   per row, ceil(cols / 128) chunks of 64 bytes; in chunk t, 32-bit word i
//            (i = 0..15) holds the codes of columns 128t + 16j + i for j = 0..7, code j in bits
//            4j..4j+3. So one 64-byte load gives 8 vectors of 16 codes for 16 consecutive
//            columns each, split by shifts (vpermps reads only an index's low 4 bits): one
//            permute per 16 weights, no byte shuffles. Columns past cols hold code 0.
//   row_cb   float   (groups, 16): the codebooks (group g covers rows [g*G, (g+1)*G); G =
//            group_rows, 0 = one shared codebook in `codebook`). Entries past K are 0.
//   Row-major: every output is a dot product finished in registers; the kernels cannot skip zero
//   activations (the layout for dense layers: transformer weights quantized row by row).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <vector>

#include "common/cpu_features.h"
#include "format/encode.h"

namespace eie::engine {

constexpr int64_t kMaxBlockRows = 4096;  // 12-bit in-block row index; 16 KiB of fp32 accumulators
constexpr int kCodebookSize = 16;        // 4-bit codes
constexpr int kMaxCodebook = 256;        // 8-bit codes
constexpr int64_t kMaxBatch = 16;
constexpr int64_t kRowPanelCols = 4096;    // 12-bit in-panel column index (row view)

enum class LayoutKind : int { sparse = 0, dense = 1, rowwise = 2, colrow = 3 };  // colrow.h

// Large layout arrays live on 2 MiB pages where the OS allows it (madvise; transparent huge pages
// are "madvise" here): the sparse kernels jump between columns, and with 4 KiB pages a
// multi-megabyte layout costs a TLB miss per column visit.
void* alloc_huge(size_t bytes);
void free_huge(void* p) noexcept;

template <typename T>
struct HugeAllocator {
  using value_type = T;
  HugeAllocator() = default;
  template <typename U>
  HugeAllocator(const HugeAllocator<U>&) noexcept {}  // NOLINT: allocator rebind
  T* allocate(size_t n) { return static_cast<T*>(alloc_huge(n * sizeof(T))); }
  void deallocate(T* p, size_t) noexcept { free_huge(p); }
  template <typename U>
  bool operator==(const HugeAllocator<U>&) const noexcept { return true; }
  template <typename U>
  bool operator!=(const HugeAllocator<U>&) const noexcept { return false; }
};

template <typename T>
using HugeVector = std::vector<T, HugeAllocator<T>>;

struct Layout {
  LayoutKind kind = LayoutKind::sparse;
  int64_t rows = 0, cols = 0;
  int64_t codebook_len = 0;
  int code_bits = 4;                               // 4 (codebook_len <= 16) or 8
  alignas(64) float codebook[kMaxCodebook] = {};   // unused entries are 0
  std::vector<int64_t> row0;                       // (nblocks + 1,) first row of each block
  // sparse
  std::vector<int64_t> entry_base;                 // (nblocks,) first entry of each block
  HugeVector<uint32_t> col_ptr;                    // (nblocks, cols + 1), block-relative
  HugeVector<uint32_t> col_mid;                    // (nblocks, cols), 4-bit codes only
  HugeVector<uint16_t> entries;
  HugeVector<uint8_t> codes8;                      // 8-bit codes: one per entry
  HugeVector<uint16_t> row_entries;                // row view (empty if not built)
  HugeVector<uint32_t> row_ptr, row_mid;
  int64_t row_panels = 0;                          // row view: column panels (0: no view)
  int64_t nnz = 0;
  // dense
  std::vector<int64_t> code_base;                  // (nblocks,) first byte of each block
  HugeVector<uint8_t> codes;                       // dense and rowwise
  // rowwise
  int64_t group_rows = 0;                          // 0: the shared codebook
  int64_t row_stride = 0;                          // bytes per row of codes (64 per 128 cols)
  HugeVector<float> row_cb;                        // (groups, 16); colrow too (colrow.h)
  // (groups, 32) the codebooks rounded to bfloat16 (to nearest even), each written twice
  // (entries 16..31 = 0..15), so a 16-bit permute index may carry junk in its bit 4 (AMX decode).
  HugeVector<uint16_t> row_cb_bf16;
  // (groups, 64) the fp32 codebooks as byte planes: byte b of entry i at [g * 64 + 16 * b + i],
  // so a 16-byte shuffle per plane decodes 32 codes (the AVX2 rowwise and colrow kernels).
  HugeVector<uint8_t> row_cb_planes;
  // (groups, 16) the codebooks for the int8 kernel (precision int8, kernels_vnni.cpp): entry i
  // of group g is round(c_i / s_g) + 128 (1..255), s_g = max_i |c_i| / 127 (row_cb_u8_scale,
  // (groups,); 0 for an all-zero codebook, so its rows give exactly 0); entries past K hold 128
  // (the value 0).
  HugeVector<uint8_t> row_cb_u8;
  HugeVector<float> row_cb_u8_scale;
  const uint8_t* row_codebook_u8(int64_t r) const {
    return row_cb_u8.data() + (group_rows == 0 ? 0 : (r / group_rows) * kCodebookSize);
  }
  float row_codebook_u8_scale(int64_t r) const {
    return row_cb_u8_scale[group_rows == 0 ? 0 : static_cast<size_t>(r / group_rows)];
  }
  bool planes_low_zero = false;  // plane 0 is all zero (every fp16 value in fp32 has that)
  const uint8_t* row_codebook_planes(int64_t r) const {
    return row_cb_planes.data() + (group_rows == 0 ? 0 : (r / group_rows) * 4 * kCodebookSize);
  }
  const float* row_codebook(int64_t r) const {
    return group_rows == 0 ? codebook : row_cb.data() + (r / group_rows) * kCodebookSize;
  }
  const uint16_t* row_codebook_bf16(int64_t r) const {
    return row_cb_bf16.data() + (group_rows == 0 ? 0 : (r / group_rows) * 2 * kCodebookSize);
  }
  int64_t padded_cols() const { return (cols + 127) / 128 * 128; }
  bool cb_bf16_exact = false;                      // every codebook value is a bfloat16 value
  // Dense layouts of pruned layers (see Tuning::batch_twin_*): the same layer's sparse row view
  // alone (no columns), which batches whose inputs cover enough columns run on. Null otherwise.
  std::shared_ptr<const Layout> batch_twin;

  int64_t nblocks() const { return static_cast<int64_t>(row0.size()) - 1; }
  bool has_row_view() const { return !row_ptr.empty(); }
  int64_t block_rows(int64_t b) const { return row0[b + 1] - row0[b]; }
  static int64_t padded(int64_t r) { return (r + 31) & ~int64_t{31}; }
  // Bytes the layout holds (what a multiply may stream from memory).
  int64_t bytes() const;
};

// Builds a layout from a C-contiguous (rows, cols) uint8 code matrix: 4-bit codes for codebooks
// of up to 16 entries, 8-bit codes above. Throws std::invalid_argument if a code is
// >= codebook_len, codebook_len > 256, or codebook[0] != 0.
// `threads` is the thread count the blocks are balanced for.
Layout build_layout(const uint8_t* codes, int64_t rows, int64_t cols, const float* codebook,
                    int64_t codebook_len, LayoutKind kind, int threads);

// The same from the layer's real weights as CSC triples (rows increasing per column) and, when
// the layout gets a row view (sparse, 4-bit, see ROW VIEW), the CSR triples: linear in the
// nonzeros (plus the dense layout's zero fill), no (rows, cols) matrix.
Layout build_layout(const format::Triples& csc, const format::Triples* csr,
                    const float* codebook, int64_t codebook_len, LayoutKind kind, int threads);

// The dense layout straight from EIE entry arrays (validated here), one walk over the entries.
Layout build_layout_dense(const format::EntryArrays& a, const float* codebook,
                          int64_t codebook_len, int threads);

// Gives a dense 4-bit layout its batch twin (Layout::batch_twin) from the layer's CSC and CSR
// triples when its weight density is at most the active ISA's Tuning::batch_twin_max_density;
// otherwise leaves it as it is.
void add_batch_twin(Layout& dense, const format::Triples& csc, const format::Triples& csr,
                    int threads);
// Whether a dense layout with a twin wants it for this density and code width (so the caller
// builds the triples only then).
bool wants_batch_twin(int64_t rows, int64_t cols, int64_t nnz, int64_t codebook_len);

// Whether a layout of this shape gets a row view (and so needs the CSR triples): every sparse
// layout with 4-bit codes (`wide`: 8-bit codes).
bool wants_row_view(int64_t rows, int64_t cols, bool wide, LayoutKind kind);
// Whether a batch-1 multiply may use the row view of a layout of this shape (wide layers).
bool row_view_for_batch1(int64_t rows, int64_t cols);

// What a block kernel sees. `act` lists the active columns (increasing), `xt` holds the fp32
// activations transposed to (cols, batch). `acc` is zeroed and holds, for the block's rows,
//   sparse: (R, acc_stride) row-major, acc_stride = batch rounded up to 8 at batch > 1 (so SIMD
//           kernels update a row with whole, unmasked vectors);
//   dense:  (batch, acc_stride), acc_stride = padded(R) at batch 1, padded(R) + 32 at batch > 1
//           (rows 8 KiB apart would all fall into the same L1 sets).
// Both code widths use the same accumulator shapes.
struct BlockTask {
  const Layout* layout;
  int64_t block;
  const uint32_t* act;
  int64_t nact;
  const float* xt;
  int64_t batch;
  float* acc;
  int64_t acc_stride;  // floats per accumulator row (sparse: per block row; dense: per batch row)
};

using BlockKernel = void (*)(const BlockTask&);
// Row view, batch 1: y[r] = act(sum of row r + bias[r]) for r in [r_begin, r_end); bias may be
// null. x is the fp32 input (cols,).
using RowKernel = void (*)(const Layout&, int64_t r_begin, int64_t r_end, const float* x,
                           const float* bias, bool relu, float* y);
// Row view, batch 2..16: acc[r * stride + b] = sum of row r's weights times xt[c * stride + b]
// for r in [r_begin, r_end), b < stride; xt holds the fp32 inputs transposed to (cols, stride),
// stride = 8 (batch <= 8) or 16, lanes past the batch zero (so they stay zero in acc).
using RowBatchKernel = void (*)(const Layout&, int64_t r_begin, int64_t r_end, const float* xt,
                                int64_t stride, float* acc);

// Rowwise, rows [r_begin, r_end): acc[b * rows + r] = sum over columns of the row's weights
// times xp[b * padded_cols + c], for b < batch; xp holds fp32 inputs padded with zeros to
// padded_cols. acc is the caller's (batch, rows) output before the epilogue.
using RowwiseKernel = void (*)(const Layout&, int64_t r_begin, int64_t r_end, const float* xp,
                               int64_t batch, float* acc);

struct KernelSet {
  BlockKernel sparse1, sparse_batch, dense1, dense_batch;          // 4-bit codes
  BlockKernel sparse8_1, sparse8_batch, dense8_1, dense8_batch;    // 8-bit codes
  RowKernel rows1;                                                 // row view, 4-bit codes
  RowwiseKernel rowwise;                                           // rowwise, any batch
  RowBatchKernel rows_batch;                                       // row view, batch 2..16
  // Where the rowwise kernel reads input column c of each 128-column chunk: at
  // (c & ~127) | rowwise_in_pos[c & 127]; nullptr: at c (the inputs in their own order).
  const uint8_t* rowwise_in_pos = nullptr;
};

// Input element types.
enum class InKind : int { f32 = 0, f16 = 1, bf16 = 2 };

// float -> bfloat16 bits, rounded to nearest even; NaN stays a (quiet) NaN.
inline uint16_t float_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

// IEEE half -> float (exact), portable bit manipulation.
inline float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do { man <<= 1; ++e; } while ((man & 0x400) == 0);
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (man & 0x3ff) << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | man << 13;
  } else {
    bits = sign | (exp + 112) << 23 | man << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline float bf16_to_float(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// AMX (kernels_amx.cpp): whether this process may use tiles (CPUID + the OS granted the tile data
// state on first call); the bf16 batch kernel of the rowwise layout and its input packing.
bool amx_ready();
// x (batch, cols) of `kind` (fp32 and fp16 rounded to bf16, to nearest even) -> the B tiles of
// every 128-column chunk (see kernels_amx.cpp); out holds pc * batch bf16 values.
void amx_pack_inputs(const void* x, InKind kind, int64_t batch, int64_t cols, int64_t pc,
                     uint16_t* out);
void amx_rowwise(const Layout& L, int64_t r_begin, int64_t r_end, const uint16_t* xpack,
                 int64_t batch, float* acc);

// AVX512-BF16 dot products (kernels_amx.cpp), the bf16 batch kernel of the rowwise layout where
// the process has no AMX tiles: whether this CPU has AVX512-BF16 (and our AVX-512 set); the
// inputs packed as bf16 pairs (out holds batch * pc values); the kernel, acc[n * rows + r].
bool bf16_dot_ready();
void bf16_dot_pack_inputs(const void* x, InKind kind, int64_t batch, int64_t cols, int64_t pc,
                          uint16_t* out);
void bf16_dot_rowwise(const Layout& L, int64_t r_begin, int64_t r_end, const uint16_t* xpk,
                      int64_t batch, float* acc);

// The int8 scale of values whose largest magnitude is m (finite, >= 0): m / 127, 0 for m = 0,
// and the smallest subnormal where m / 127 underflows (so x / s stays finite; the packers clamp
// what that rounding lets through). Inputs' chunks and codebooks use the same rule.
inline float int8_scale_of(float m) {
  const float s = m / 127.0f;
  return s == 0.0f && m > 0.0f ? std::numeric_limits<float>::denorm_min() : s;
}
// Precision int8 (kernels_vnni.cpp): whether this CPU runs the int8 kernel (AVX-512 with VNNI).
bool vnni_ready();
// Fills L.row_cb_u8 and row_cb_u8_scale from `groups` codebooks of k floats.
void fill_codebook_u8(Layout& L, const float* codebooks, int64_t groups, int64_t k);
// xp (batch, pc) fp32 in column order, zero-padded to pc = padded_cols -> per input b and
// 128-column chunk t: q[b * pc + 128t ..] the 128 int8 values round(x / s_t) in the kernel's
// byte order, s_t = max |x| over the chunk / 127 in scale[b * nchunks + t] (0: an all-zero
// chunk), and offset[b * 16 + i] = -128 * sum_t s_t * (the 8 values of chunk t's dword lane i
// summed): the part of the products of the kernel's unsigned weight bytes (u = w8 + 128) that
// does not depend on the row.
// Returns false (nothing usable) if an input is infinite or NaN: the caller runs fp32 instead.
bool int8_pack_inputs(const float* xp, int64_t batch, int64_t pc, int8_t* q, float* offset,
                      float* scale);
// Rowwise, rows [r_begin, r_end): acc[b * rows + r] = the row's int8 product with input b.
void int8_rowwise(const Layout& L, int64_t r_begin, int64_t r_end, const int8_t* q,
                  const float* offset, const float* scale, int64_t batch, float* acc);
// The same on AVX2 (int8_avx2.cpp): the inputs packed as above without the offset (the AVX2
// kernel multiplies signed weights), then the rows' products.
bool int8_pack_inputs_avx2(const float* xp, int64_t batch, int64_t pc, int8_t* q, float* scale);
void int8_rowwise_avx2(const Layout& L, int64_t r_begin, int64_t r_end, const int8_t* q,
                       const float* scale, int64_t batch, float* acc);

// Fills L.row_cb_planes from `groups` codebooks of k floats (entries past k are 0).
inline void fill_codebook_planes(Layout& L, const float* codebooks, int64_t groups, int64_t k) {
  L.row_cb_planes.assign(static_cast<size_t>(groups * 4 * kCodebookSize), 0);
  for (int64_t g = 0; g < groups; ++g)
    for (int64_t i = 0; i < k; ++i) {
      uint32_t bits;
      std::memcpy(&bits, codebooks + g * k + i, 4);
      for (int b = 0; b < 4; ++b)
        L.row_cb_planes[g * 4 * kCodebookSize + b * kCodebookSize + i] =
            static_cast<uint8_t>(bits >> (8 * b));
    }
  L.planes_low_zero = true;
  for (int64_t g = 0; g < groups; ++g)
    for (int64_t i = 0; i < kCodebookSize; ++i)
      L.planes_low_zero = L.planes_low_zero && L.row_cb_planes[g * 4 * kCodebookSize + i] == 0;
}

// Rowwise layout from a (rows, cols) code matrix (codes < k <= 16) and `groups` codebooks of k
// floats each (row r uses codebook r / group_rows; group_rows 0: codebooks is the shared one,
// groups = 1). No zero-code rule: every code indexes its row's codebook.
Layout build_rowwise(const uint8_t* codes, int64_t rows, int64_t cols, const float* codebooks,
                     int64_t groups, int64_t k, int64_t group_rows);

KernelSet kernels_scalar();
KernelSet kernels_avx2();
KernelSet kernels_avx512();

// Products: fp32 (exact-input fp32 arithmetic; the default), bf16 (opt-in: the AMX kernel, or
// without AMX the AVX512-BF16 one, may round the inputs and the rowwise codebooks to bfloat16,
// products exact, sums in fp32; where neither runs, the fp32 kernels do) or int8 (opt-in: the rowwise layout's VNNI kernel may round
// each 128-column chunk of an input and each codebook to int8 with one scale each, integer
// products summed exactly per chunk, then scaled and summed in fp32; where it does not run, the
// fp32 kernels do).
enum class Precision : int { fp32 = 0, bf16 = 1, int8 = 2 };

// y (batch, rows) = act(W @ x^T + bias), x (batch, cols) of `in_kind` elements (1 <= batch <= 16).
// bias may be null. threads <= 0 means default_threads(). Shapes are the caller's contract
// (checked in the binding); the layout was validated when built.
void run_layout(const Layout& L, const void* x, InKind in_kind, int64_t batch, const float* bias,
                bool relu, float* out, int threads, Isa isa,
                Precision precision = Precision::fp32);

// The path run_layout takes for fp32 x (batch, cols), 1 <= batch <= 16 (sparse and dense
// layouts: the same tests on the same counts): "rows" (the row view), "columns" (the sparse
// columns), "dense", "loop" (one batch-1 multiply per input, each planned as x[b] alone),
// "rowwise" or "colrow".
const char* plan_path(const Layout& L, const float* x, int64_t batch, Isa isa);

// Whether run_layout would multiply this call on AMX tiles (rowwise layout, batch >= 2, AVX-512
// allowed, tiles granted; bf16 inputs on bf16-exact codebooks, or bf16 precision asked for).
bool uses_amx(const Layout& L, InKind in_kind, int64_t batch, Isa isa, Precision precision);
// Whether run_layout would multiply this call with AVX512-BF16 dot products instead (the same
// call on a CPU with AVX512-BF16 and no AMX tiles granted).
bool uses_bf16_dot(const Layout& L, InKind in_kind, int64_t batch, Isa isa, Precision precision);
// Whether run_layout would multiply this call with the int8 kernel (rowwise layout, int8
// precision, AVX-512 allowed, VNNI present; inputs that are not all finite still run fp32).
bool uses_int8(const Layout& L, Isa isa, Precision precision);

// The fraction of nonzero activations from which a batch-1 multiply uses the row view (when the
// layout has one): the active ISA's Tuning::row_view_min_act; the setter sets it for every ISA
// (tests set 0: always, or 2: never).
double row_view_min_act();
void set_row_view_min_act(double frac);

// Batches of 2..16 on a layout with a row view: the row view's cost relative to the columns'
// (run_layout's cost model, layout.cpp) is multiplied by this factor: 1 = the measured model,
// 0 = always the row view, above ~100 = never. Tests set the extremes.
double row_batch_bias();
void set_row_batch_bias(double factor);

// One layer of a sequential model: y = act(W @ h + bias), bias may be null.
struct NetLayer {
  const Layout* layout;
  const float* bias;
  bool relu;
};

// Runs `n` layers in sequence (layer i's rows = layer i+1's cols, checked by the caller) in one
// call: x (batch, cols of layer 0) of `in_kind` -> out (batch, rows of layer n-1), any batch >= 0
// (chunks of kMaxBatch go through all layers in turn). The activations between layers live in
// thread-local buffers. If timings_us is not null, timings_us[i] = wall time of layer i (us,
// summed over the chunks). `precision` applies to every layer (see run_layout).
void run_network(const NetLayer* layers, int64_t n, const void* x, InKind in_kind, int64_t batch,
                 float* out, int threads, Isa isa, double* timings_us,
                 Precision precision = Precision::fp32);

}  // namespace eie::engine
