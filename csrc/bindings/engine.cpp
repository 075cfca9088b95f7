// Bindings of the CPU engine: `CpuLayout` (a layer transcoded into a sparse or dense CPU layout,
// see csrc/engine/layout.h) and its multiply. Shapes and dtypes are checked here, once per call,
// in O(1); the layout's arrays were validated when it was built and are not reachable from Python,
// so the kernels can trust them.
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <thread>
#include <chrono>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "bindings/bindings.h"
#include "common/cpu_features.h"
#include "engine/colrow.h"
#include "engine/gemv_f16.h"
#include "engine/layout.h"
#include "engine/stream.h"
#include "engine/thread_pool.h"
#include "llm/decode_step.h"

namespace eie::bindings {
namespace {

using engine::InKind;
using engine::Layout;
using engine::LayoutKind;

Isa pick_isa(const std::string& isa) {
  const Isa which = isa.empty() ? active_isa() : parse_isa(isa);
  EIE_CHECK(static_cast<int>(which) <= static_cast<int>(best_isa()),
        "this CPU does not support ISA '" + isa + "'; the best it supports is '" +
            isa_name(best_isa()) + "'");
  return which;
}

Layout* build(In2<uint8_t> codes, In1<float> codebook, const std::string& kind, int threads,
              bool batch_twin) {
  EIE_CHECK(kind == "sparse" || kind == "dense",
        "layout kind should be 'sparse' or 'dense', found '" + kind + "'");
  const int64_t rows = static_cast<int64_t>(codes.shape(0));
  const int64_t cols = static_cast<int64_t>(codes.shape(1));
  const int t = threads > 0 ? threads : engine::default_threads();
  Layout L;
  {
    nb::gil_scoped_release release;
    const int64_t n = static_cast<int64_t>(codebook.shape(0));
    L = engine::build_layout(codes.data(), rows, cols, codebook.data(), n,
                             kind == "sparse" ? LayoutKind::sparse : LayoutKind::dense, t);
    if (batch_twin && L.kind == LayoutKind::dense &&
        engine::wants_batch_twin(rows, cols, L.nnz, n)) {
      format::Triples csr;
      const format::Triples csc = format::dense_to_csc(codes.data(), rows, cols, &csr);
      engine::add_batch_twin(L, csc, csr, t);
    }
  }
  return new Layout(std::move(L));
}

// The same from validated EIE arrays, through their CSC / CSR triples (no dense matrix).
Layout* build_eie(In1<uint8_t> codes, In1<uint8_t> rel_index, In1<int64_t> pe_offset,
                  In2<int64_t> col_ptr, int64_t rows, int64_t cols, In1<float> codebook,
                  const std::string& kind, int threads, bool batch_twin) {
  EIE_CHECK(kind == "sparse" || kind == "dense",
        "layout kind should be 'sparse' or 'dense', found '" + kind + "'");
  const int64_t pes = static_cast<int64_t>(pe_offset.shape(0)) - 1;
  EIE_CHECK(pes >= 1 && rel_index.shape(0) == codes.shape(0) &&
                static_cast<int64_t>(col_ptr.shape(0)) == pes &&
                static_cast<int64_t>(col_ptr.shape(1)) == cols + 1 && rows >= 0 && cols >= 0,
            "inconsistent EIE array shapes");
  const int t = threads > 0 ? threads : engine::default_threads();
  const format::EntryArrays a{codes.data(), rel_index.data(), static_cast<int64_t>(codes.shape(0)),
                              pe_offset.data(), col_ptr.data(), pes, rows, cols};
  Layout L;
  {
    nb::gil_scoped_release release;
    const int64_t n = static_cast<int64_t>(codebook.shape(0));
    if (kind == "dense") {
      L = engine::build_layout_dense(a, codebook.data(), n, t);
      if (batch_twin && engine::wants_batch_twin(rows, cols, L.nnz, n)) {
        format::Triples csr;
        const format::Triples csc = format::to_csc(a, &csr);
        engine::add_batch_twin(L, csc, csr, t);
      }
    } else {
      format::Triples csr;
      const bool view = engine::wants_row_view(rows, cols, n > engine::kCodebookSize,
                                               LayoutKind::sparse);
      const format::Triples csc = format::to_csc(a, view ? &csr : nullptr);
      L = engine::build_layout(csc, view ? &csr : nullptr, codebook.data(), n, LayoutKind::sparse,
                               t);
    }
  }
  return new Layout(std::move(L));
}

// Rowwise: codes (rows, cols) uint8 and codebooks (groups, k) float32.
Layout* build_rowwise(In2<uint8_t> codes, In2<float> codebooks, int64_t group_rows) {
  const int64_t rows = static_cast<int64_t>(codes.shape(0));
  const int64_t cols = static_cast<int64_t>(codes.shape(1));
  Layout L;
  {
    nb::gil_scoped_release release;
    L = engine::build_rowwise(codes.data(), rows, cols, codebooks.data(),
                              static_cast<int64_t>(codebooks.shape(0)),
                              static_cast<int64_t>(codebooks.shape(1)), group_rows);
  }
  return new Layout(std::move(L));
}

// Colrow: codes (rows, cols) uint8 and codebooks (groups, k) float32 (colrow.h).
Layout* build_colrow(In2<uint8_t> codes, In2<float> codebooks, int64_t group_rows) {
  const int64_t rows = static_cast<int64_t>(codes.shape(0));
  const int64_t cols = static_cast<int64_t>(codes.shape(1));
  Layout L;
  {
    nb::gil_scoped_release release;
    L = engine::build_colrow(codes.data(), rows, cols, codebooks.data(),
                             static_cast<int64_t>(codebooks.shape(0)),
                             static_cast<int64_t>(codebooks.shape(1)), group_rows);
  }
  return new Layout(std::move(L));
}

// Sparse with row codebooks: codes (rows, cols) uint8 (0 = pruned), codebooks (groups, k).
Layout* build_sparse_grouped(In2<uint8_t> codes, In2<float> codebooks, int64_t group_rows,
                             int threads) {
  const int64_t rows = static_cast<int64_t>(codes.shape(0));
  const int64_t cols = static_cast<int64_t>(codes.shape(1));
  const int t = threads > 0 ? threads : engine::default_threads();
  Layout L;
  {
    nb::gil_scoped_release release;
    L = engine::build_sparse_grouped(codes.data(), rows, cols, codebooks.data(),
                                     static_cast<int64_t>(codebooks.shape(0)),
                                     static_cast<int64_t>(codebooks.shape(1)), group_rows, t);
  }
  return new Layout(std::move(L));
}

engine::Precision pick_precision(const std::string& precision) {
  EIE_CHECK(precision == "fp32" || precision == "bf16" || precision == "int8",
            "precision should be 'fp32', 'bf16' or 'int8', found '" + precision + "'");
  return precision == "bf16"   ? engine::Precision::bf16
         : precision == "int8" ? engine::Precision::int8
                               : engine::Precision::fp32;
}

// An input dtype name ('float32', 'float16', 'bfloat16') as the kernels' InKind.
InKind in_kind_of(const std::string& dtype) {
  EIE_CHECK(dtype == "float32" || dtype == "float16" || dtype == "bfloat16",
            "dtype should be 'float32', 'float16' or 'bfloat16', found '" + dtype + "'");
  return dtype == "float32" ? InKind::f32 : dtype == "float16" ? InKind::f16 : InKind::bf16;
}

void run(const Layout& L, const void* x, size_t batch, size_t xcols, InKind in_kind,
         Out2<float>& out, std::optional<In1<float>>& bias, bool relu, int threads,
         const std::string& isa, const std::string& precision) {
  const engine::Precision prec = pick_precision(precision);
  EIE_CHECK(batch >= 1 && static_cast<int64_t>(batch) <= engine::kMaxBatch,
        "batch should be in 1.." + std::to_string(engine::kMaxBatch) + ", found " +
            std::to_string(batch));
  EIE_CHECK(static_cast<int64_t>(xcols) == L.cols,
        "x should have " + std::to_string(L.cols) + " columns, found " + std::to_string(xcols));
  EIE_CHECK(out.shape(0) == batch && static_cast<int64_t>(out.shape(1)) == L.rows,
        "out should have shape (" + std::to_string(batch) + ", " + std::to_string(L.rows) + ")");
  const float* b = nullptr;
  if (bias.has_value()) {
    EIE_CHECK(static_cast<int64_t>(bias->shape(0)) == L.rows,
          "bias should have " + std::to_string(L.rows) + " values, found " +
              std::to_string(bias->shape(0)));
    b = bias->data();
  }
  const Isa which = pick_isa(isa);
  float* y = out.data();
  nb::gil_scoped_release release;
  engine::run_layout(L, x, in_kind, static_cast<int64_t>(batch), b, relu, y, threads, which,
                     prec);
}

// A sequential model on CpuLayouts, run in one call (no Python between layers).
struct Network {
  std::vector<engine::NetLayer> layers;
  std::vector<std::vector<float>> biases;  // copies, so the caller's arrays may go away
  std::vector<nb::object> keep;            // the CpuLayouts, kept alive
  int64_t cols = 0, rows = 0;
};

Network* build_network(const std::vector<nb::object>& layouts,
                       const std::vector<std::optional<In1<float>>>& biases,
                       const std::vector<bool>& relu) {
  const size_t n = layouts.size();
  EIE_CHECK(n >= 1, "a network needs at least one layer");
  EIE_CHECK(biases.size() == n && relu.size() == n,
            "layouts, biases and relu should have the same length");
  auto net = std::make_unique<Network>();
  net->biases.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const Layout* L = nb::cast<const Layout*>(layouts[i]);
    EIE_CHECK(L != nullptr, "layouts should be CpuLayout objects");
    if (i > 0)
      EIE_CHECK(net->layers.back().layout->rows == L->cols,
                "layer " + std::to_string(i) + " has " + std::to_string(L->cols) +
                    " columns, the layer before it " +
                    std::to_string(net->layers.back().layout->rows) + " rows");
    const float* b = nullptr;
    if (biases[i].has_value()) {
      EIE_CHECK(static_cast<int64_t>(biases[i]->shape(0)) == L->rows,
                "bias " + std::to_string(i) + " should have " + std::to_string(L->rows) +
                    " values, found " + std::to_string(biases[i]->shape(0)));
      net->biases[i].assign(biases[i]->data(), biases[i]->data() + L->rows);
      b = net->biases[i].data();
    }
    net->layers.push_back({L, b, static_cast<bool>(relu[i])});
    net->keep.push_back(layouts[i]);
  }
  net->cols = net->layers.front().layout->cols;
  net->rows = net->layers.back().layout->rows;
  return net.release();
}

// x (cols,) -> out (rows,), or x (batch, cols) -> out (batch, rows).
template <typename T>
using InAny = nb::ndarray<const T, nb::c_contig, nb::device::cpu>;
using OutAny = nb::ndarray<float, nb::c_contig, nb::device::cpu>;

template <typename T>
void run_net(const Network& net, const InAny<T>& x, InKind in_kind, OutAny& out,
             std::optional<Out1<double>>& timings, int threads, const std::string& isa,
             const std::string& precision) {
  const engine::Precision prec = pick_precision(precision);
  EIE_CHECK((x.ndim() == 1 || x.ndim() == 2) && out.ndim() == x.ndim(),
            "x and out should both be 1-D (one vector) or both 2-D (a batch)");
  const size_t batch = x.ndim() == 1 ? 1 : x.shape(0);
  const size_t xcols = x.shape(x.ndim() - 1);
  const size_t obatch = out.ndim() == 1 ? 1 : out.shape(0);
  EIE_CHECK(static_cast<int64_t>(xcols) == net.cols,
            "x should have " + std::to_string(net.cols) + " columns, found " +
                std::to_string(xcols));
  EIE_CHECK(obatch == batch && static_cast<int64_t>(out.shape(out.ndim() - 1)) == net.rows,
            "out should have " + std::to_string(batch) + " row(s) of " +
                std::to_string(net.rows) + " values");
  double* t = nullptr;
  if (timings.has_value()) {
    EIE_CHECK(timings->shape(0) == net.layers.size(),
              "timings should have " + std::to_string(net.layers.size()) + " values");
    t = timings->data();
  }
  const Isa which = pick_isa(isa);
  const void* xp = x.data();
  float* y = out.data();
  // Timings land in a local array and are copied out under the GIL, so concurrent calls on one
  // network never write the caller's buffer at the same time.
  double local[64];
  std::vector<double> big;
  double* tl = nullptr;
  if (t != nullptr) tl = net.layers.size() <= 64 ? local : (big.resize(net.layers.size()), big.data());
  {
    nb::gil_scoped_release release;
    engine::run_network(net.layers.data(), static_cast<int64_t>(net.layers.size()), xp, in_kind,
                        static_cast<int64_t>(batch), y, threads, which, tl, prec);
  }
  if (t != nullptr) std::copy(tl, tl + net.layers.size(), t);
}


// One decoder block for one token, every step in C++ (eie.llm.decoder's batch-1 path when its
// four Linear calls are whole networks and no activation thresholds are set): the Python
// around 4 kernel calls and 5 glue calls per block cost ~20 us a block, 0.6 ms of a 6 ms
// token. Steps and float32 operations as the per-call path: h (d) += o(attend(qkv(rms(h))));
// h += down(silu(gate) * up) with gate, up = gate_up(rms(h)). times (3,) float64 accumulates
// seconds of [Linear (with the residual adds), norms, attention].
struct BlockNets {
  const Network* qkv;
  const Network* o;
  const Network* gate_up;
  const Network* down;
};

void decode_block(const BlockNets& n, const float* ln_in, const float* ln_post, float eps,
                  float* h, const llm::AttendOne& at, float* k_cache, float* v_cache,
                  const float* cos, const float* sin_signed, int64_t pos, int64_t start,
                  double* times, int threads, Isa which, engine::Precision prec) {
  using clk = std::chrono::steady_clock;
  const int64_t d = n.qkv->cols, qd = at.nh * at.hd, kvd = at.nkv * at.hd;
  const int64_t inter = n.down->cols;
  static thread_local std::vector<float> buf;
  buf.resize(static_cast<size_t>(d + n.qkv->rows + qd + d + n.gate_up->rows + inter));
  float* x = buf.data();
  float* qkv = x + d;
  float* a = qkv + n.qkv->rows;
  float* t = a + qd;
  float* gu = t + d;
  float* e = gu + n.gate_up->rows;
  const auto run = [&](const Network& net, const float* in, float* out) {
    engine::run_network(net.layers.data(), static_cast<int64_t>(net.layers.size()), in,
                        InKind::f32, 1, out, threads, which, nullptr, prec);
  };
  const auto c0 = clk::now();
  llm::rms_norm(h, ln_in, d, eps, x);
  const auto c1 = clk::now();
  run(*n.qkv, x, qkv);
  const auto c2 = clk::now();
  llm::attend_one(at, qkv, qkv + qd, qkv + qd + kvd, cos, sin_signed, k_cache, v_cache, pos,
                  start, a);
  const auto c3 = clk::now();
  run(*n.o, a, t);
  for (int64_t i = 0; i < d; ++i) h[i] += t[i];
  const auto c4 = clk::now();
  llm::rms_norm(h, ln_post, d, eps, x);
  const auto c5 = clk::now();
  run(*n.gate_up, x, gu);
  const auto c6 = clk::now();
  llm::silu_mul(gu, gu + inter, inter, e);
  const auto c7 = clk::now();
  run(*n.down, e, t);
  for (int64_t i = 0; i < d; ++i) h[i] += t[i];
  const auto c8 = clk::now();
  const auto s = [](clk::time_point p, clk::time_point q) {
    return std::chrono::duration<double>(q - p).count();
  };
  times[0] += s(c1, c2) + s(c3, c4) + s(c5, c6) + s(c7, c8);
  times[1] += s(c0, c1) + s(c4, c5) + s(c6, c7);
  times[2] += s(c2, c3);
}

// Every block of a decoder for one token in one call: the blocks' networks, norm weights and
// KV caches, checked once when the plan is built (eie.llm.decoder builds one at each reset);
// run() takes only what changes per token. Holds references to every object it points into.
using Cache = nb::ndarray<float, nb::ndim<3>, nb::c_contig, nb::device::cpu>;

struct DecodePlan {
  struct Entry {
    BlockNets nets;
    const float* ln_in;
    const float* ln_post;
    float* k_cache;
    float* v_cache;
    int64_t window;  // < 0: plain causal
  };
  std::vector<Entry> blocks;
  std::vector<nb::object> keep;       // the networks
  std::vector<In1<float>> norms;      // references to the arrays pointed into
  std::vector<Cache> caches;
  llm::AttendOne at{};
  int64_t d = 0;
  float eps = 0;
  int threads = 0;
  Isa isa{};
  engine::Precision prec{};
};

DecodePlan* build_plan(const std::vector<nb::object>& nets, const std::vector<In1<float>>& norms,
                       const std::vector<Cache>& k_caches, const std::vector<Cache>& v_caches,
                       const std::vector<int64_t>& windows, int64_t nh, float eps,
                       float scaling, int threads, const std::string& isa,
                       const std::string& precision) {
  const size_t n = windows.size();
  EIE_CHECK(n >= 1 && nets.size() == 4 * n && norms.size() == 2 * n && k_caches.size() == n &&
                v_caches.size() == n,
            "decode plan: per block 4 networks, 2 norm weights, a key and a value cache and a "
            "window");
  auto plan = std::make_unique<DecodePlan>();
  const Cache& k0 = k_caches[0];
  const int64_t nkv = static_cast<int64_t>(k0.shape(0)), cap = static_cast<int64_t>(k0.shape(1));
  const int64_t hd = static_cast<int64_t>(k0.shape(2));
  EIE_CHECK(nkv >= 1 && nh >= nkv && nh % nkv == 0 && hd >= 2 && hd % 2 == 0 && cap >= 1,
            "decode plan: nh should be a multiple of nkv, hd even");
  plan->at = llm::AttendOne{nh, nkv, hd, cap, scaling};
  plan->eps = eps;
  plan->threads = threads;
  plan->isa = pick_isa(isa);
  plan->prec = pick_precision(precision);
  for (size_t b = 0; b < n; ++b) {
    const Network* q[4];
    for (int m = 0; m < 4; ++m) {
      q[m] = nb::cast<const Network*>(nets[4 * b + m]);
      EIE_CHECK(q[m] != nullptr, "decode plan: the networks should be CpuNetwork objects");
      plan->keep.push_back(nets[4 * b + m]);
    }
    const int64_t d = q[0]->cols;
    if (b == 0) plan->d = d;
    EIE_CHECK(d == plan->d && q[0]->rows == (nh + 2 * nkv) * hd && q[1]->cols == nh * hd &&
                  q[1]->rows == d && q[2]->cols == d && q[2]->rows % 2 == 0 &&
                  q[3]->cols == q[2]->rows / 2 && q[3]->rows == d,
              "decode plan: block " + std::to_string(b) + "'s networks do not fit one block "
              "(qkv (nh+2nkv)*hd x d, o d x nh*hd, gate_up 2i x d, down d x i)");
    for (int m = 0; m < 2; ++m)
      EIE_CHECK(static_cast<int64_t>(norms[2 * b + m].shape(0)) == d,
                "decode plan: the norm weights should hold " + std::to_string(d) + " values");
    for (const Cache* c : {&k_caches[b], &v_caches[b]})
      EIE_CHECK(static_cast<int64_t>(c->shape(0)) == nkv &&
                    static_cast<int64_t>(c->shape(1)) == cap &&
                    static_cast<int64_t>(c->shape(2)) == hd,
                "decode plan: every cache should have the shape (nkv, cap, hd) of the first");
    EIE_CHECK(windows[b] == -1 || windows[b] >= 1,
              "decode plan: a window should be -1 (none) or >= 1");
    plan->blocks.push_back({{q[0], q[1], q[2], q[3]}, norms[2 * b].data(),
                            norms[2 * b + 1].data(), k_caches[b].data(), v_caches[b].data(),
                            windows[b]});
    plan->norms.push_back(norms[2 * b]);
    plan->norms.push_back(norms[2 * b + 1]);
    plan->caches.push_back(k_caches[b]);
    plan->caches.push_back(v_caches[b]);
  }
  return plan.release();
}

}  // namespace

void register_engine(nb::module_& m) {
  nb::class_<Layout>(m, "CpuLayout",
                     "A layer transcoded into a CPU layout (sparse: per-row-block CSC with "
                     "uint16 (code << 12 | row) entries; dense: column-major packed 4-bit "
                     "codes; code_bits 8 for codebooks of 17..256 entries: a uint8 code per "
                     "sparse entry, one byte per dense weight). Built once, immutable.")
      .def_prop_ro("kind", [](const Layout& L) {
        return std::string(L.kind == LayoutKind::sparse    ? "sparse"
                           : L.kind == LayoutKind::dense   ? "dense"
                           : L.kind == LayoutKind::colrow  ? "colrow"
                                                           : "rowwise");
      })
      .def_prop_ro("group_rows", [](const Layout& L) { return L.group_rows; },
                   "Rowwise layouts: rows per codebook (0: one shared codebook).")
      .def_prop_ro("rows", [](const Layout& L) { return L.rows; })
      .def_prop_ro("cols", [](const Layout& L) { return L.cols; })
      .def_prop_ro("nnz", [](const Layout& L) { return L.nnz; })
      .def_prop_ro("code_bits", [](const Layout& L) { return L.code_bits; })
      .def_prop_ro("nbytes", [](const Layout& L) { return L.bytes(); })
      .def_prop_ro("row_blocks", [](const Layout& L) { return L.row0; })
      .def_prop_ro("has_batch_twin", [](const Layout& L) { return L.batch_twin != nullptr; },
                   "Whether a dense layout also holds the layer's sparse row view, which batches "
                   "whose inputs cover enough columns run on (see plan).")
      .def_prop_ro("has_row_view", [](const Layout& L) { return L.has_row_view(); },
                   "Whether the layout also holds the row-major view (sparse, 4-bit codes) "
                   "used by batches whose inputs cover most columns and, on wide layers "
                   "(cols <= 4096, rows <= 2048, cols >= 2 rows), by dense batch-1 inputs.")
      .def_prop_ro("codebook", [](const Layout& L) {
        return std::vector<float>(L.codebook, L.codebook + L.codebook_len);
      })
      .def(
          "arrays",
          [](const Layout& L) {
            // Copies: the layout itself stays unreachable (its kernels trust its arrays).
            std::map<std::string, nb::bytes> d;
            auto put = [&](const char* name, const void* p, size_t bytes) {
              d.emplace(name, nb::bytes(static_cast<const char*>(p), bytes));
            };
            put("row0", L.row0.data(), L.row0.size() * 8);
            put("entry_base", L.entry_base.data(), L.entry_base.size() * 8);
            put("col_ptr", L.col_ptr.data(), L.col_ptr.size() * 4);
            put("col_mid", L.col_mid.data(), L.col_mid.size() * 4);
            put("entries", L.entries.data(), L.entries.size() * 2);
            put("codes8", L.codes8.data(), L.codes8.size());
            put("row_entries", L.row_entries.data(), L.row_entries.size() * 2);
            put("row_ptr", L.row_ptr.data(), L.row_ptr.size() * 4);
            put("row_mid", L.row_mid.data(), L.row_mid.size() * 4);
            put("code_base", L.code_base.data(), L.code_base.size() * 8);
            put("codes", L.codes.data(), L.codes.size());
            put("row_cb", L.row_cb.data(), L.row_cb.size() * 4);
            put("codebook", L.codebook, sizeof(L.codebook));
            return d;
          },
          "Copies of the layout's arrays as bytes, by name (for tests: two builds compare "
          "byte for byte).")
      .def(
          "run_f32",
          [](const Layout& L, In2<float> x, Out2<float> out, std::optional<In1<float>> bias,
             bool relu, int threads, const std::string& isa, const std::string& precision) {
            run(L, x.data(), x.shape(0), x.shape(1), InKind::f32, out, bias, relu, threads, isa,
                precision);
          },
          nb::arg("x").noconvert(), nb::arg("out").noconvert(),
          nb::arg("bias").noconvert().none(), nb::arg("relu"), nb::arg("threads"),
          nb::arg("isa"), nb::arg("precision") = "fp32",
          "out (batch, rows) = act(W @ x.T + bias) for float32 x (batch, cols), batch 1..16. "
          "precision='bf16' lets a rowwise batch run on AMX tiles with x and the codebooks "
          "rounded to bfloat16 (see uses_amx).")
      .def(
          "run_u16",
          [](const Layout& L, In2<uint16_t> x, const std::string& dtype, Out2<float> out,
             std::optional<In1<float>> bias, bool relu, int threads, const std::string& isa,
             const std::string& precision) {
            EIE_CHECK(dtype == "float16" || dtype == "bfloat16",
                  "16-bit inputs should be 'float16' or 'bfloat16', found '" + dtype + "'");
            run(L, x.data(), x.shape(0), x.shape(1),
                dtype == "float16" ? InKind::f16 : InKind::bf16, out, bias, relu, threads, isa,
                precision);
          },
          nb::arg("x").noconvert(), nb::arg("dtype"), nb::arg("out").noconvert(),
          nb::arg("bias").noconvert().none(), nb::arg("relu"), nb::arg("threads"),
          nb::arg("isa"), nb::arg("precision") = "fp32",
          "run_f32 for float16 / bfloat16 bits given as uint16 (batch, cols).")
      .def(
          "plan",
          [](const Layout& L, In2<float> x, const std::string& isa) {
            const int64_t batch = static_cast<int64_t>(x.shape(0));
            EIE_CHECK(static_cast<int64_t>(x.shape(1)) == L.cols,
                      "x should have " + std::to_string(L.cols) + " columns, found " +
                          std::to_string(x.shape(1)));
            EIE_CHECK(batch >= 1 && batch <= engine::kMaxBatch,
                      "batch should be in 1.." + std::to_string(engine::kMaxBatch) +
                          ", found " + std::to_string(batch));
            return std::string(engine::plan_path(L, x.data(), batch, pick_isa(isa)));
          },
          nb::arg("x").noconvert(), nb::arg("isa") = "",
          "The path run_f32 takes for float32 x (batch, cols), batch 1..16: 'rows' (the row "
          "view), 'columns' (the sparse columns), 'dense', 'loop' (a batch-1 multiply per input, "
          "each planned on its own), 'rowwise' or 'colrow'.")
      .def(
          "mv_f32",
          [](const Layout& L, nb::ndarray<const float, nb::c_contig, nb::device::cpu> x,
             std::optional<In1<float>> bias, bool relu, int threads, const std::string& isa,
             const std::string& precision) {
            // The common call in one step: float32 x (cols,) or (batch, cols), batch 1..16, the
            // output allocated here and handed to numpy (no separate allocation call).
            EIE_CHECK(x.ndim() == 1 || x.ndim() == 2,
                      "x should be 1-D or 2-D, found " + std::to_string(x.ndim()) + " dimensions");
            size_t shape[2] = {x.ndim() == 1 ? 1 : x.shape(0), static_cast<size_t>(L.rows)};
            float* buf = new float[std::max<size_t>(shape[0] * shape[1], 1)];
            nb::capsule owner(buf, [](void* p) noexcept { delete[] static_cast<float*>(p); });
            Out2<float> out(buf, 2, shape, owner);
            run(L, x.data(), shape[0], x.shape(x.ndim() - 1), InKind::f32, out, bias, relu,
                threads, isa, precision);
            return nb::ndarray<nb::numpy, float>(buf, x.ndim(), x.ndim() == 1 ? shape + 1 : shape,
                                                 owner);
          },
          nb::arg("x").noconvert(), nb::arg("bias").noconvert().none(), nb::arg("relu"),
          nb::arg("threads"), nb::arg("isa"), nb::arg("precision") = "fp32",
          "act(W @ x + bias) for float32 x (cols,) or (batch, cols), batch 1..16, as a new "
          "float32 array (rows,) or (batch, rows): run_f32 without the output argument.")
      .def(
          "uses_amx",
          [](const Layout& L, size_t batch, const std::string& dtype, const std::string& isa,
             const std::string& precision) {
            return engine::uses_amx(L, in_kind_of(dtype), static_cast<int64_t>(batch),
                                    pick_isa(isa), pick_precision(precision));
          },
          nb::arg("batch"), nb::arg("dtype"), nb::arg("isa") = "", nb::arg("precision") = "fp32",
          "Whether a call with this batch, input dtype, ISA and precision runs on AMX tiles.")
      .def(
          "uses_bf16_dot",
          [](const Layout& L, size_t batch, const std::string& dtype, const std::string& isa,
             const std::string& precision) {
            return engine::uses_bf16_dot(L, in_kind_of(dtype), static_cast<int64_t>(batch),
                                         pick_isa(isa), pick_precision(precision));
          },
          nb::arg("batch"), nb::arg("dtype"), nb::arg("isa") = "", nb::arg("precision") = "fp32",
          "Whether a call with this batch, input dtype, ISA and precision runs on AVX512-BF16 "
          "dot products (the bf16 kernel where AMX tiles are not granted).")
      .def(
          "uses_int8",
          [](const Layout& L, const std::string& isa, const std::string& precision) {
            return engine::uses_int8(L, pick_isa(isa), pick_precision(precision));
          },
          nb::arg("isa") = "", nb::arg("precision") = "int8",
          "Whether a call with this ISA and precision runs the int8 (VNNI) kernel, inputs "
          "finite.");
  nb::class_<Network>(m, "CpuNetwork",
                      "A sequential model of CpuLayouts (each layer's rows = the next layer's "
                      "cols) run in one call; biases are copied, layouts kept alive.")
      .def(nb::new_(&build_network), nb::arg("layouts"), nb::arg("biases"), nb::arg("relu"))
      .def_prop_ro("cols", [](const Network& n) { return n.cols; })
      .def_prop_ro("rows", [](const Network& n) { return n.rows; })
      .def_prop_ro("num_layers", [](const Network& n) { return n.layers.size(); })
      .def(
          "run_f32",
          [](const Network& n, InAny<float> x, OutAny out, std::optional<Out1<double>> timings,
             int threads, const std::string& isa, const std::string& precision) {
            run_net(n, x, InKind::f32, out, timings, threads, isa, precision);
          },
          nb::arg("x").noconvert(), nb::arg("out").noconvert(),
          nb::arg("timings").noconvert().none(), nb::arg("threads"), nb::arg("isa"),
          nb::arg("precision") = "fp32",
          "out = the model applied to float32 x: x (cols,) -> out (rows,) or x (batch, cols) -> "
          "out (batch, rows), any batch; timings (num_layers,) float64, if given, receives each "
          "layer's wall time in us.")
      .def(
          "run_u16",
          [](const Network& n, InAny<uint16_t> x, const std::string& dtype, OutAny out,
             std::optional<Out1<double>> timings, int threads, const std::string& isa,
             const std::string& precision) {
            EIE_CHECK(dtype == "float16" || dtype == "bfloat16",
                      "16-bit inputs should be 'float16' or 'bfloat16', found '" + dtype + "'");
            run_net(n, x, dtype == "float16" ? InKind::f16 : InKind::bf16, out, timings, threads,
                    isa, precision);
          },
          nb::arg("x").noconvert(), nb::arg("dtype"), nb::arg("out").noconvert(),
          nb::arg("timings").noconvert().none(), nb::arg("threads"), nb::arg("isa"),
          nb::arg("precision") = "fp32",
          "run_f32 for float16 / bfloat16 bits given as uint16.");
  nb::class_<DecodePlan>(m, "CpuDecodePlan",
                         "Every block of a decoder for one token in one call (see run).")
      .def(nb::new_(&build_plan), nb::arg("nets"), nb::arg("norms"), nb::arg("k_caches"),
           nb::arg("v_caches"), nb::arg("windows"), nb::arg("nh"), nb::arg("eps"),
           nb::arg("scaling"), nb::arg("threads"), nb::arg("isa"), nb::arg("precision"),
           "nets: per block its fused qkv, o, fused gate_up and down CpuNetworks; norms: per "
           "block its input and post-attention RMSNorm weights (d,); k_caches / v_caches: per "
           "block (nkv, cap, hd) float32, written in place; windows: per block its sliding "
           "window, -1 for none. Checked once here; the arrays are referenced, not copied.")
      .def_prop_ro("num_blocks", [](const DecodePlan& p) { return p.blocks.size(); })
      .def(
          "run",
          [](const DecodePlan& p, Out1<float> h, int64_t pos, In1<float> cos,
             In1<float> sin_signed, Out1<double> times) {
            EIE_CHECK(static_cast<int64_t>(h.shape(0)) == p.d,
                      "decode plan: h should hold " + std::to_string(p.d) + " values");
            EIE_CHECK(0 <= pos && pos < p.at.cap,
                      "decode plan: positions should satisfy 0 <= pos < cap (" +
                          std::to_string(p.at.cap) + ")");
            EIE_CHECK(static_cast<int64_t>(cos.shape(0)) == p.at.hd &&
                          static_cast<int64_t>(sin_signed.shape(0)) == p.at.hd,
                      "decode plan: cos and sin_signed should hold hd values");
            EIE_CHECK(times.shape(0) == 3, "decode plan: times should hold 3 values");
            double acc[3] = {0, 0, 0};
            {
              nb::gil_scoped_release release;
              for (const auto& e : p.blocks) {
                const int64_t start = e.window < 0 ? 0 : std::max<int64_t>(0, pos + 1 - e.window);
                decode_block(e.nets, e.ln_in, e.ln_post, p.eps, h.data(), p.at, e.k_cache,
                             e.v_cache, cos.data(), sin_signed.data(), pos, start, acc,
                             p.threads, p.isa, p.prec);
              }
            }
            for (int i = 0; i < 3; ++i) times.data()[i] += acc[i];
          },
          nb::arg("h").noconvert(), nb::arg("pos"), nb::arg("cos").noconvert(),
          nb::arg("sin_signed").noconvert(), nb::arg("times").noconvert(),
          "One token at position pos through every block: h (d,) float32 updated in place "
          "(rms norms, the four networks, attention as attend_one over the block's window, "
          "the residual adds); times (3,) float64 += seconds of [Linear, norms, attention].");
  m.def("build_cpu_layout", &build, nb::arg("codes").noconvert(), nb::arg("codebook").noconvert(),
        nb::arg("kind"), nb::arg("threads") = 0, nb::arg("batch_twin") = false,
        nb::rv_policy::take_ownership,
        "Transcode a (rows, cols) uint8 code matrix into a CpuLayout ('sparse' or 'dense'), "
        "with row blocks balanced for `threads` (0: default). batch_twin: a dense layout of a "
        "pruned layer (4-bit codes, density <= the tuning's batch_twin_max_density) also holds "
        "its row view for batches (has_batch_twin). ValueError on bad codes.");
  m.def("amx_ready", &engine::amx_ready,
        "Whether this process may use AMX tiles (CPUID reports AMX-BF16 and the OS granted the "
        "tile data state, asked for on first call): the rowwise layout's bf16 batch kernel.");
  m.def("bf16_dot_ready", &engine::bf16_dot_ready,
        "Whether this CPU has AVX512-BF16 (with the engine's AVX-512 set): the rowwise layout's "
        "bf16 batch kernel where AMX tiles are not granted.");
  m.def("vnni_ready", &engine::vnni_ready,
        "Whether this CPU runs the rowwise layout's int8 kernel (AVX-512 with VNNI): what "
        "precision='int8' needs, with the avx512 ISA allowed.");
  m.def("build_rowwise_layout", &build_rowwise, nb::arg("codes").noconvert(),
        nb::arg("codebooks").noconvert(), nb::arg("group_rows"), nb::rv_policy::take_ownership,
        "A rowwise CpuLayout: codes (rows, cols) uint8 < k <= 16, codebooks (groups, k) "
        "float32, row r decoding through codebooks[r // group_rows] (group_rows 0: one shared "
        "codebook, groups 1). Every code is a value (no zero-code rule). ValueError on bad "
        "input.");
  m.def("build_colrow_layout", &build_colrow, nb::arg("codes").noconvert(),
        nb::arg("codebooks").noconvert(), nb::arg("group_rows"), nb::rv_policy::take_ownership,
        "A colrow CpuLayout (column-major per-row / per-group codebooks, skips zero inputs): "
        "arguments as build_rowwise_layout. ValueError on bad input.");
  m.def("build_sparse_grouped_layout", &build_sparse_grouped, nb::arg("codes").noconvert(),
        nb::arg("codebooks").noconvert(), nb::arg("group_rows"), nb::arg("threads") = 0,
        nb::rv_policy::take_ownership,
        "A sparse CpuLayout of a pruned layer with a codebook per row or group of rows: codes "
        "(rows, cols) uint8 (0 = pruned) < k <= 16, codebooks (groups, k) float32 with entry 0 "
        "= 0.0, row r decoding through codebooks[r // group_rows]. The layout holds one codebook "
        "per row (group_rows reads 1). ValueError on bad input.");
  m.def("build_cpu_layout_eie", &build_eie, nb::arg("codes").noconvert(),
        nb::arg("rel_index").noconvert(), nb::arg("pe_offset").noconvert(),
        nb::arg("col_ptr").noconvert(), nb::arg("rows"), nb::arg("cols"),
        nb::arg("codebook").noconvert(), nb::arg("kind"), nb::arg("threads") = 0,
        nb::arg("batch_twin") = false, nb::rv_policy::take_ownership,
        "build_cpu_layout from EIE arrays (as EIEMatrix holds them), linear in the entries. "
        "ValueError on inconsistent arrays or bad codes.");
  m.def("row_batch_bias", &engine::row_batch_bias,
        "Factor on the row view's cost in the choice of a sparse batch's kernel (1: measured).");
  m.def(
      "set_row_batch_bias",
      [](double factor) {
        EIE_CHECK(factor >= 0.0 && factor <= 1e6,
                  "the row batch bias should be a factor in [0, 1e6] (0: always the row view; "
                  "1e6: never), found " + std::to_string(factor));
        engine::set_row_batch_bias(factor);
      },
      nb::arg("factor"),
      "Set that factor for this process (0: batches of 2..16 always use a layout's row view; "
      "1e6: never).");
  m.def("row_view_min_act", &engine::row_view_min_act,
        "Fraction of nonzero activations from which a batch-1 multiply of a layout with a row "
        "view (CpuLayout.has_row_view) uses it.");
  m.def(
      "set_row_view_min_act",
      [](double frac) {
        EIE_CHECK(frac >= 0.0 && std::isfinite(frac),
                  "the row view threshold should be a finite fraction >= 0 (above 1: never), "
                  "found " + std::to_string(frac));
        engine::set_row_view_min_act(frac);
      },
      nb::arg("frac"),
      "Set that fraction for this process (0: always use the row view; above 1: never).");
  m.def(
      "getenv",
      [](const std::string& name) -> std::optional<std::string> {
        const char* v = std::getenv(name.c_str());
        if (v == nullptr) return std::nullopt;
        return std::string(v);
      },
      nb::arg("name"),
      "The process environment variable the core reads (EIE_ISA, EIE_NUM_THREADS), or None: "
      "~20x cheaper than os.environ.get for an unset variable (which raises inside).");
  m.def(
      "thread_pool_probe",
      [](int64_t n, int threads, int64_t fail_from) {
        std::atomic<int64_t> ran{0};
        {
          nb::gil_scoped_release release;
          engine::parallel_for(n, threads, [&](int64_t i) {
            ran.fetch_add(1);
            // long enough that a worker wakes up and takes tasks too
            std::this_thread::sleep_for(std::chrono::microseconds(50));
            if (i >= fail_from) throw std::bad_alloc();
          });
        }
        return ran.load();
      },
      nb::arg("n"), nb::arg("threads"), nb::arg("fail_from"),
      "Test hook: runs n pool tasks on up to `threads` threads, tasks >= fail_from throwing "
      "std::bad_alloc (MemoryError here), each after a 50 us sleep; returns how many ran.");
  m.def(
      "gemv_f16",
      [](In2<uint16_t> w, In2<float> x, Out2<float> out, int threads, const std::string& isa) {
        const int64_t rows = static_cast<int64_t>(w.shape(0)), cols = static_cast<int64_t>(w.shape(1));
        const int64_t batch = static_cast<int64_t>(x.shape(0));
        EIE_CHECK(static_cast<int64_t>(x.shape(1)) == cols,
                  "gemv_f16: x has " + std::to_string(x.shape(1)) + " columns, the weight " +
                      std::to_string(cols));
        EIE_CHECK(static_cast<int64_t>(out.shape(0)) == batch &&
                      static_cast<int64_t>(out.shape(1)) == rows,
                  "gemv_f16: out should be (" + std::to_string(batch) + ", " +
                      std::to_string(rows) + ")");
        const Isa which = pick_isa(isa);
        const uint16_t* wp = w.data();
        const float* xp = x.data();
        float* yp = out.data();
        nb::gil_scoped_release release;
        engine::gemv_f16(wp, rows, cols, xp, batch, yp, threads, which);
      },
      nb::arg("w").noconvert(), nb::arg("x").noconvert(), nb::arg("out").noconvert(),
      nb::arg("threads") = 0, nb::arg("isa") = "",
      "out (batch, rows) = x (batch, cols) float32 @ w.T for w (rows, cols) float16 given as its "
      "uint16 bits, row-major; float32 products and sums.");
  m.def("default_threads", &engine::default_threads,
        "Threads a kernel uses by default: EIE_NUM_THREADS, else the hardware concurrency.");
  m.def(
      "stream_sum",
      [](In1<float> a, int threads) {
        const float* p = a.data();
        const int64_t n = static_cast<int64_t>(a.shape(0));
        nb::gil_scoped_release release;
        return engine::stream_sum(p, n, threads);
      },
      nb::arg("a").noconvert(), nb::arg("threads") = 0,
      "Sum of a float32 array read once on the core's threads (a memory-bandwidth probe).");
}

}  // namespace eie::bindings
