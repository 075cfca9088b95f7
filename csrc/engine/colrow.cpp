// The colrow layout (colrow.h): building it from a code matrix, and the multiply driver (input
// conversion, active columns per tile of inputs, the split over threads, bias + ReLU).
#include "engine/colrow.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/thread_pool.h"

namespace eie::engine {
namespace {

[[noreturn]] void fail(const std::string& msg) { throw std::invalid_argument(msg); }

ColrowKernel colrow_kernel(Isa isa) {
  switch (isa) {
    case Isa::avx512: {
      static const ColrowKernel k = colrow_kernel_avx512();
      return k;
    }
    case Isa::avx2: {
      static const ColrowKernel k = colrow_kernel_avx2();
      return k;
    }
    default: {
      static const ColrowKernel k = colrow_kernel_scalar();
      return k;
    }
  }
}

// Per-thread scratch reused between calls (grown, never shrunk).
thread_local std::vector<float> t_x, t_xc;
thread_local std::vector<uint32_t> t_idx, t_act;

// Work (weights x inputs / 8) below which a multiply stays on the calling thread (as the other
// layouts' kInlineWork).
constexpr double kInlineWork = 20000.0;

struct TilePlan {
  int64_t b0, nt, np, off;  // inputs [b0, b0 + nt), np active (padded), buffers at off
};
thread_local std::vector<TilePlan> t_plan;

}  // namespace

Layout build_colrow(const uint8_t* codes, int64_t rows, int64_t cols, const float* codebooks,
                    int64_t groups, int64_t k, int64_t group_rows) {
  if (rows < 0 || cols < 0) fail("shape should be non-negative");
  if (k < 1 || k > kCodebookSize)
    fail("the colrow layout takes codebooks of 1..16 entries (4-bit codes), found " +
         std::to_string(k));
  if (group_rows < 0) fail("group_rows should be >= 0, found " + std::to_string(group_rows));
  const int64_t want = group_rows == 0 ? 1 : (rows + group_rows - 1) / group_rows;
  if (groups != want && !(rows == 0 && groups <= 1))
    fail(std::to_string(rows) + " rows in groups of " + std::to_string(group_rows) + " need " +
         std::to_string(want) + " codebooks, found " + std::to_string(groups));
  for (int64_t i = 0; i < groups * k; ++i)
    if (!std::isfinite(codebooks[i]))
      fail("codebook value " + std::to_string(i) + " is NaN or infinite; entries should be finite");
  // Word offsets are 32-bit gather indices (times 4 bytes): cols * 16 must stay below 2^29.
  if (cols >= (int64_t{1} << 28)) fail("too many columns for the colrow layout's gather indices");
  Layout L;
  L.kind = LayoutKind::colrow;
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
  fill_codebook_planes(L, codebooks, groups, k);
  L.row0 = {0, rows};
  const int64_t full = rows / kColrowStripRows, rest = rows % kColrowStripRows;
  const int64_t last_h = (rest + 7) / 8 * 8;
  L.codes.assign(static_cast<size_t>(full * cols * 64 + cols * (last_h / 2)), 0);
  int64_t nnz = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t s = r / kColrowStripRows, sr = r % kColrowStripRows;
    const int64_t words = s < full ? kColrowStripRows / 8 : last_h / 8;  // per column
    uint8_t* strip = L.codes.data() + s * cols * 64;
    const int64_t byte_in_col = (sr / 8) * 4 + (sr % 8) / 2;
    const int shift = 4 * (sr % 2);
    const uint8_t* in = codes + r * cols;
    for (int64_t c = 0; c < cols; ++c) {
      const uint8_t code = in[c];
      if (code >= k)
        fail("code " + std::to_string(code) + " at (" + std::to_string(r) + ", " +
             std::to_string(c) + ") is outside the codebook of " + std::to_string(k) +
             " entries");
      nnz += code != 0;
      strip[c * words * 4 + byte_in_col] |= static_cast<uint8_t>(code << shift);
    }
  }
  L.nnz = nnz;
  return L;
}

int64_t colrow_tile_inputs(int64_t batch, Isa isa) {
  (void)isa;
  return std::min<int64_t>(batch, kColrowMaxTile);
}

void run_colrow(const Layout& L, const void* x, InKind in_kind, int64_t batch, const float* bias,
                bool relu, float* out, int threads, Isa isa) {
  const int64_t rows = L.rows, cols = L.cols;
  // 1. inputs as fp32 (batch, cols); fp32 is read in place.
  const float* xf;
  if (in_kind == InKind::f32) {
    xf = static_cast<const float*>(x);
  } else {
    t_x.resize(static_cast<size_t>(batch * cols));
    const uint16_t* h = static_cast<const uint16_t*>(x);
    for (int64_t i = 0; i < batch * cols; ++i)
      t_x[i] = in_kind == InKind::f16 ? half_to_float(h[i]) : bf16_to_float(h[i]);
    xf = t_x.data();
  }
  // 2. tiles of inputs sharing one list of active columns. A tile of nt inputs costs per active
  // column of its union about (decode + nt FMAs); one input alone about (decode + 1 FMA) per
  // active column of its own: a tile is split into single inputs when that is cheaper (sparse
  // activations drawn independently per input make the union much larger than each share).
  const int64_t tmax = colrow_tile_inputs(batch, isa);
  const int64_t chunk = colrow_chunk(isa);  // np, the active columns per tile, is a multiple
  std::vector<TilePlan>& plan = t_plan;  // reused: no allocation per call
  plan.clear();
  std::vector<uint32_t>& act = t_act;
  act.resize(static_cast<size_t>(cols));
  auto union_of = [&](int64_t b0, int64_t nt, int64_t& each) {
    int64_t n = 0;
    each = 0;
    for (int64_t c = 0; c < cols; ++c) {
      int64_t a = 0;
      for (int64_t t = 0; t < nt; ++t) a += xf[(b0 + t) * cols + c] != 0.0f;
      each += a;
      act[n] = static_cast<uint32_t>(c);
      n += a != 0;
    }
    return n;
  };
  const int64_t per = kColrowStripRows / 8;
  const int64_t last_words = (rows % kColrowStripRows + 7) / 8;  // 0: no short strip
  int64_t off = 0;
  // idx_full, idx_last and xc of every tile, laid out tile after tile.
  std::vector<uint32_t>& idx = t_idx;
  std::vector<float>& xc = t_xc;
  auto add_tile = [&](int64_t b0, int64_t nt, int64_t n) {
    const int64_t np = (n + chunk - 1) / chunk * chunk;
    plan.push_back({b0, nt, np, off});
    idx.resize(static_cast<size_t>(2 * (off + np)));
    xc.resize(static_cast<size_t>(kColrowMaxTile * (off + np)));
    uint32_t* fi = idx.data() + 2 * off;
    uint32_t* li = fi + np;
    float* xo = xc.data() + kColrowMaxTile * off;
    for (int64_t i = 0; i < np; ++i) {
      const uint32_t c = i < n ? act[i] : 0;
      fi[i] = c * static_cast<uint32_t>(per);
      li[i] = c * static_cast<uint32_t>(last_words);
      for (int64_t t = 0; t < nt; ++t) xo[t * np + i] = i < n ? xf[(b0 + t) * cols + c] : 0.0f;
    }
    off += np;
  };
  for (int64_t b0 = 0; b0 < batch; b0 += tmax) {
    const int64_t nt = std::min(tmax, batch - b0);
    int64_t each;
    const int64_t u = union_of(b0, nt, each);
    const double tile_cost = static_cast<double>(u) * (2.0 + static_cast<double>(nt));
    const double single_cost = static_cast<double>(each) * 3.0 + 16.0 * static_cast<double>(nt);
    if (nt == 1 || tile_cost <= single_cost) {
      add_tile(b0, nt, u);
    } else {
      for (int64_t t = 0; t < nt; ++t) {
        int64_t e;
        add_tile(b0 + t, 1, union_of(b0 + t, 1, e));
      }
    }
  }
  // 3. octets over threads: tasks of whole 16-row pairs of octets at least (threads never write
  // the same cache line of out), claimed dynamically as in the rowwise driver.
  const ColrowKernel kern = colrow_kernel(isa);
  const int64_t octets = (rows + 7) / 8;
  double work = 0.0;
  for (const TilePlan& p : plan)
    work += static_cast<double>(p.np) * static_cast<double>(rows) * static_cast<double>(p.nt) / 8.0;
  int nt = threads > 0 ? threads : default_threads();
  if (work < kInlineWork) nt = 1;
  // Units of whole strips where there are enough of them (the SIMD kernels transpose a whole
  // strip's code lines at once), else of octet pairs.
  const int64_t per_strip = kColrowStripRows / 8;
  const int64_t strips = (octets + per_strip - 1) / per_strip;
  const int64_t unit = strips >= 2 * static_cast<int64_t>(nt) ? per_strip : 2;
  const int64_t units = (octets + unit - 1) / unit;
  const int64_t ntasks = nt <= 1 ? 1 : std::min<int64_t>(units, 8 * static_cast<int64_t>(nt));
  parallel_for(ntasks, nt, [&](int64_t i) {
    const int64_t o0 = std::min(octets, units * i / ntasks * unit);
    const int64_t o1 = std::min(octets, units * (i + 1) / ntasks * unit);
    if (o1 <= o0) return;
    for (const TilePlan& p : plan) {
      const ColrowTile tile{idx.data() + 2 * p.off, idx.data() + 2 * p.off + p.np,
                            xc.data() + kColrowMaxTile * p.off, p.np, p.nt, p.b0};
      kern(L, o0, o1, tile, out);
    }
    const int64_t r0 = o0 * 8, r1 = std::min(rows, o1 * 8);
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t r = r0; r < r1; ++r) {
        float v = out[b * rows + r];
        if (bias != nullptr) v += bias[r];
        if (relu) v = v < 0.0f ? 0.0f : v;
        out[b * rows + r] = v;
      }
  });
}

}  // namespace eie::engine
