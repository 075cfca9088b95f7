// Bindings of the simulator core: the layer's entry arrays (SimEntries), the loop's parameters
// (SimParams, the C++ Params struct) and its outputs (SimOutputs) are objects, so sim_layer takes
// six arguments instead of a positional list kept in sync by hand; the names of the action,
// per-PE and global counters come from csrc/sim/cycle.h.
#include <cstdint>
#include <stdexcept>
#include <string>

#include "bindings/bindings.h"
#include "sim/coo_layout.h"
#include "sim/cycle.h"

namespace eie::bindings {
namespace {

// A layer's EIE arrays, shapes checked once; holds references to the arrays.
struct SimEntries {
  In1<uint8_t> codes;
  In1<uint8_t> rel_index;
  In1<int64_t> pe_offset;
  In2<int64_t> col_ptr;
  int64_t rows = 0;
  int64_t cols = 0;

  format::EntryArrays arrays() const {
    return format::EntryArrays{codes.data(),     rel_index.data(),
                               static_cast<int64_t>(codes.shape(0)),
                               pe_offset.data(), col_ptr.data(),
                               static_cast<int64_t>(pe_offset.shape(0)) - 1,
                               rows,             cols};
  }
  int64_t num_pes() const { return static_cast<int64_t>(pe_offset.shape(0)) - 1; }
};

void init_entries(SimEntries* self, In1<uint8_t> codes, In1<uint8_t> rel_index,
                  In1<int64_t> pe_offset, In2<int64_t> col_ptr, int64_t rows, int64_t cols) {
  EIE_CHECK(pe_offset.shape(0) >= 2, "pe_offset should hold num_pes + 1 >= 2 values");
  // cols + 1 is computed only once cols < INT64_MAX is known.
  EIE_CHECK(rows >= 0 && cols >= 0 && cols < INT64_MAX, "rows and cols should be non-negative");
  EIE_CHECK(rel_index.shape(0) == codes.shape(0),
            "codes and rel_index should have the same length");
  EIE_CHECK(col_ptr.shape(0) == pe_offset.shape(0) - 1 &&
            static_cast<int64_t>(col_ptr.shape(1)) == cols + 1,
        "col_ptr should have shape (num_pes, cols + 1)");
  new (self) SimEntries{codes, rel_index, pe_offset, col_ptr, rows, cols};
}

// The loop's zeroed output arrays (Python allocates them, the core fills them).
struct SimOutputs {
  Out1<int64_t> acc;
  Out2<int64_t> pe_counters;
  Out1<int64_t> fifo_hist;
  Out1<int64_t> actions;
  Out1<int64_t> globals;
};

void init_outputs(SimOutputs* self, Out1<int64_t> acc, Out2<int64_t> pe_counters,
                  Out1<int64_t> fifo_hist, Out1<int64_t> actions, Out1<int64_t> globals) {
  EIE_CHECK(pe_counters.shape(1) == sim::kNumPeCounters,
        "pe_counters should have " + std::to_string(sim::kNumPeCounters) + " columns");
  EIE_CHECK(actions.shape(0) == sim::kNumActions,
        "actions should have " + std::to_string(sim::kNumActions) + " entries");
  EIE_CHECK(globals.shape(0) == sim::kNumGlobalCounters,
        "globals should have " + std::to_string(sim::kNumGlobalCounters) + " entries");
  new (self) SimOutputs{acc, pe_counters, fifo_hist, actions, globals};
}

int64_t sim_layer(const SimEntries& e, In1<int16_t> x, In1<int16_t> weight_q,
                  In1<int64_t> bias_acc, const sim::Params& p, SimOutputs& o) {
  EIE_CHECK(static_cast<int64_t>(x.shape(0)) == e.cols, "x should have cols entries");
  EIE_CHECK(static_cast<int64_t>(o.acc.shape(0)) == e.rows, "acc should have rows entries");
  EIE_CHECK(p.bias_col < 0 || static_cast<int64_t>(bias_acc.shape(0)) == e.rows,
        "bias_acc should have rows entries when there is a bias column");
  EIE_CHECK(static_cast<int64_t>(o.pe_counters.shape(0)) == e.num_pes(),
        "pe_counters should have num_pes rows");
  EIE_CHECK(p.fifo_depth >= 1 && p.fifo_depth < INT64_MAX &&
            static_cast<int64_t>(o.fifo_hist.shape(0)) == p.fifo_depth + 1,
        "fifo_hist should have fifo_depth + 1 entries");
  const format::EntryArrays a = e.arrays();
  const sim::Outputs out{o.acc.data(), o.pe_counters.data(), o.fifo_hist.data(),
                         o.actions.data(), o.globals.data()};
  const int64_t ncb = static_cast<int64_t>(weight_q.shape(0));
  const int64_t* ba = p.bias_col >= 0 ? bias_acc.data() : nullptr;
  nb::gil_scoped_release release;
  return sim::simulate_layer(a, x.data(), weight_q.data(), ncb, ba, p, out);
}

void sim_float_layer(const SimEntries& e, In1<double> x, In1<double> codebook, Out1<double> y) {
  EIE_CHECK(static_cast<int64_t>(x.shape(0)) == e.cols, "x should have cols entries");
  EIE_CHECK(static_cast<int64_t>(y.shape(0)) == e.rows, "y should have rows entries");
  const format::EntryArrays a = e.arrays();
  const int64_t ncb = static_cast<int64_t>(codebook.shape(0));
  nb::gil_scoped_release release;
  sim::float_layer(a, x.data(), codebook.data(), ncb, y.data());
}

int64_t sim_coo_count(In1<int64_t> pos, int64_t rows, int64_t cols, int64_t num_pes,
                      int64_t index_bits, Out2<int64_t> col_ptr, Out1<int64_t> pe_offset) {
  EIE_CHECK(rows >= 0 && cols >= 0 && cols < INT64_MAX && num_pes >= 1,
        "rows and cols should be non-negative, num_pes >= 1");
  EIE_CHECK(static_cast<int64_t>(col_ptr.shape(0)) == num_pes &&
            static_cast<int64_t>(col_ptr.shape(1)) == cols + 1 &&
            static_cast<int64_t>(pe_offset.shape(0)) == num_pes + 1,
        "col_ptr should have shape (num_pes, cols + 1), pe_offset num_pes + 1 entries");
  nb::gil_scoped_release release;
  return sim::coo_count(pos.data(), static_cast<int64_t>(pos.shape(0)), rows, cols, num_pes,
                        index_bits, col_ptr.data(), pe_offset.data());
}

void sim_coo_fill(In1<int64_t> pos, In1<uint8_t> values, int64_t rows, int64_t cols,
                  int64_t index_bits, In1<int64_t> pe_offset, Out1<uint8_t> codes,
                  Out1<uint8_t> rel_index) {
  EIE_CHECK(pos.shape(0) == values.shape(0), "pos and values should have the same length");
  EIE_CHECK(pe_offset.shape(0) >= 2, "pe_offset should hold num_pes + 1 >= 2 values");
  const int64_t n = static_cast<int64_t>(pe_offset.shape(0)) - 1;
  const int64_t* po = pe_offset.data();
  EIE_CHECK(po[0] == 0, "pe_offset should start at 0");
  for (int64_t k = 0; k < n; ++k) EIE_CHECK(po[k + 1] >= po[k], "pe_offset should not decrease");
  EIE_CHECK(po[n] == static_cast<int64_t>(codes.shape(0)) && codes.shape(0) == rel_index.shape(0),
        "codes and rel_index should hold pe_offset[-1] entries");
  nb::gil_scoped_release release;
  sim::coo_fill(pos.data(), values.data(), static_cast<int64_t>(pos.shape(0)), rows, cols, n,
                index_bits, po, codes.data(), rel_index.data());
}

}  // namespace

void register_sim(nb::module_& m) {
  nb::class_<SimEntries>(m, "SimEntries",
                         "A layer's EIE arrays for the simulator core (shapes checked; the "
                         "pointers and decoded rows are checked by each call).")
      .def("__init__", &init_entries, nb::arg("codes").noconvert(),
           nb::arg("rel_index").noconvert(), nb::arg("pe_offset").noconvert(),
           nb::arg("col_ptr").noconvert(), nb::arg("rows"), nb::arg("cols"))
      .def_prop_ro("rows", [](const SimEntries& e) { return e.rows; })
      .def_prop_ro("cols", [](const SimEntries& e) { return e.cols; })
      .def_prop_ro("num_pes", &SimEntries::num_pes);

  nb::class_<sim::Params>(m, "SimParams",
                          "The cycle loop's parameters (csrc/sim/cycle.h, Params).")
      .def(nb::init<>())
      .def_rw("fifo_depth", &sim::Params::fifo_depth)
      .def_rw("entries_per_line", &sim::Params::entries_per_line)
      .def_rw("ptr_read_cycles", &sim::Params::ptr_read_cycles)
      .def_rw("batch_cols", &sim::Params::batch_cols)
      .def_rw("lnzd_latency", &sim::Params::lnzd_latency)
      .def_rw("load_cycles", &sim::Params::load_cycles)
      .def_rw("dst_rf_entries", &sim::Params::dst_rf_entries)
      .def_rw("bypass", &sim::Params::bypass)
      .def_rw("lnzd_group", &sim::Params::lnzd_group)
      .def_rw("lnzd_bubble", &sim::Params::lnzd_bubble)
      .def_rw("bias_col", &sim::Params::bias_col)
      .def_rw("acc_bits", &sim::Params::acc_bits)
      .def_rw("acc_shift", &sim::Params::acc_shift);

  nb::class_<SimOutputs>(m, "SimOutputs",
                         "The cycle loop's zeroed outputs: acc (rows,), pe_counters (num_pes, "
                         "len(SIM_PE_COUNTERS)), fifo_hist (fifo_depth + 1,), actions "
                         "(len(SIM_ACTIONS),), globals (len(SIM_GLOBALS),).")
      .def("__init__", &init_outputs, nb::arg("acc").noconvert(),
           nb::arg("pe_counters").noconvert(), nb::arg("fifo_hist").noconvert(),
           nb::arg("actions").noconvert(), nb::arg("globals").noconvert());

  m.def("sim_layer", &sim_layer, nb::arg("entries"), nb::arg("x").noconvert(),
        nb::arg("weight_q").noconvert(), nb::arg("bias_acc").noconvert(), nb::arg("params"),
        nb::arg("out"),
        "Cycle-level simulation of one EIE layer (see csrc/sim/cycle.h): fills `out`, returns "
        "the loop cycle count. ValueError on bad input.");
  m.def("sim_float_layer", &sim_float_layer, nb::arg("entries"), nb::arg("x").noconvert(),
        nb::arg("codebook").noconvert(), nb::arg("y").noconvert(),
        "The layer's float64 output before bias and activation into the zeroed y (rows,), summed "
        "as eie.engine.reference.spmv does. ValueError on bad input.");
  m.def("sim_coo_count", &sim_coo_count, nb::arg("pos").noconvert(), nb::arg("rows"),
        nb::arg("cols"), nb::arg("num_pes"), nb::arg("index_bits"),
        nb::arg("col_ptr").noconvert(), nb::arg("pe_offset").noconvert(),
        "Pass 1 of laying out nonzeros at increasing column-major positions in EIE's "
        "interleaved CSC (csrc/sim/coo_layout.h): fills the zeroed col_ptr and pe_offset, "
        "returns the entry count.");
  m.def("sim_coo_fill", &sim_coo_fill, nb::arg("pos").noconvert(),
        nb::arg("values").noconvert(), nb::arg("rows"), nb::arg("cols"), nb::arg("index_bits"),
        nb::arg("pe_offset").noconvert(), nb::arg("codes").noconvert(),
        nb::arg("rel_index").noconvert(),
        "Pass 2: writes codes and rel_index for the pe_offset of pass 1.");

  nb::list actions, counters, globals;
  for (const auto& a : sim::kActionNames) actions.append(nb::make_tuple(a[0], a[1]));
  for (const char* c : sim::kPeCounterNames) counters.append(c);
  for (const char* g : sim::kGlobalNames) globals.append(g);
  m.attr("SIM_ACTIONS") = nb::tuple(actions);
  m.attr("SIM_PE_COUNTERS") = nb::tuple(counters);
  m.attr("SIM_GLOBALS") = nb::tuple(globals);
}

}  // namespace eie::bindings
