// The sparse layout with a codebook per row (colrow.h, "SPARSE WITH ROW CODEBOOKS"): building it,
// and its portable block kernels.
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/colrow.h"
#include "format/encode.h"

namespace eie::engine {
namespace {

[[noreturn]] void fail(const std::string& msg) { throw std::invalid_argument(msg); }

// Batch 1: acc (R,) += weight of each entry of an active column times x[c].
void grouped1(const BlockTask& t) {
  const Layout& L = *t.layout;
  const uint32_t* ptr = L.col_ptr.data() + t.block * (L.cols + 1);
  const uint16_t* ent = L.entries.data() + L.entry_base[t.block];
  const float* cb = L.row_cb.data() + L.row0[t.block] * kCodebookSize;
  float* acc = t.acc;
  for (int64_t k = 0; k < t.nact; ++k) {
    const uint32_t c = t.act[k];
    const float xv = t.xt[c];
    for (uint32_t e = ptr[c], end = ptr[c + 1]; e < end; ++e) {
      const uint32_t u = ent[e];
      acc[u & 0xfff] += cb[((u & 0xfff) << 4) | (u >> 12)] * xv;
    }
  }
}

// Batch 2..16: acc (R, acc_stride) row-major, x transposed (cols, batch).
void grouped_batch(const BlockTask& t) {
  const Layout& L = *t.layout;
  const uint32_t* ptr = L.col_ptr.data() + t.block * (L.cols + 1);
  const uint16_t* ent = L.entries.data() + L.entry_base[t.block];
  const float* cb = L.row_cb.data() + L.row0[t.block] * kCodebookSize;
  const int64_t B = t.batch, stride = t.acc_stride;
  for (int64_t k = 0; k < t.nact; ++k) {
    const uint32_t c = t.act[k];
    const float* xc = t.xt + c * B;
    for (uint32_t e = ptr[c], end = ptr[c + 1]; e < end; ++e) {
      const uint32_t u = ent[e];
      const float w = cb[((u & 0xfff) << 4) | (u >> 12)];
      float* a = t.acc + static_cast<int64_t>(u & 0xfff) * stride;
      for (int64_t b = 0; b < B; ++b) a[b] += w * xc[b];
    }
  }
}

}  // namespace

BlockKernel sparse_grouped_scalar(bool batch1) { return batch1 ? grouped1 : grouped_batch; }

// AVX-512 CPUs take the AVX2 kernels: a per-entry weight lookup is a gather there, which
// measured slower than scalar loads for the colrow layout's words on this machine.
BlockKernel sparse_grouped_kernel(Isa isa, bool batch1) {
  return isa == Isa::scalar ? sparse_grouped_scalar(batch1) : sparse_grouped_avx2(batch1);
}

Layout build_sparse_grouped(const uint8_t* codes, int64_t rows, int64_t cols,
                            const float* codebooks, int64_t groups, int64_t k, int64_t group_rows,
                            int threads) {
  if (rows < 0 || cols < 0) fail("shape should be non-negative");
  if (k < 1 || k > kCodebookSize)
    fail("the sparse layout takes row codebooks of 1..16 entries (4-bit codes), found " +
         std::to_string(k));
  if (group_rows < 1) fail("group_rows should be >= 1, found " + std::to_string(group_rows));
  const int64_t want = (rows + group_rows - 1) / group_rows;
  if (groups != want)
    fail(std::to_string(rows) + " rows in groups of " + std::to_string(group_rows) + " need " +
         std::to_string(want) + " codebooks, found " + std::to_string(groups));
  for (int64_t g = 0; g < groups; ++g) {
    if (codebooks[g * k] != 0.0f)
      fail("codebook " + std::to_string(g) + " entry 0 should be 0.0 (code 0 means pruned)");
    for (int64_t i = 0; i < k; ++i)
      if (!std::isfinite(codebooks[g * k + i]))
        fail("codebook " + std::to_string(g) + " entry " + std::to_string(i) +
             " is NaN or infinite; entries should be finite");
  }
  // The shared-codebook builder lays out the entries (and checks every code < k); its codebook
  // is a placeholder the row kernels never read. Its row view (built for some shapes) decodes
  // through the shared codebook, so it is dropped: batch 1 always takes the columns.
  format::Triples csr;
  const bool view = wants_row_view(rows, cols, false, LayoutKind::sparse);
  const format::Triples csc = format::dense_to_csc(codes, rows, cols, view ? &csr : nullptr);
  std::vector<float> placeholder(static_cast<size_t>(k), 1.0f);
  placeholder[0] = 0.0f;
  Layout L = build_layout(csc, view ? &csr : nullptr, placeholder.data(), k, LayoutKind::sparse,
                          threads);
  L.row_entries = HugeVector<uint16_t>();
  L.row_ptr = HugeVector<uint32_t>();
  L.row_mid = HugeVector<uint32_t>();
  for (int64_t i = 0; i < k; ++i) L.codebook[i] = 0.0f;
  L.group_rows = 1;
  L.row_cb.assign(static_cast<size_t>(rows * kCodebookSize), 0.0f);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < k; ++i)
      L.row_cb[r * kCodebookSize + i] = codebooks[(r / group_rows) * k + i];
  return L;
}

}  // namespace eie::engine
