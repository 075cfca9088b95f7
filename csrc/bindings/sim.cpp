#include <stdexcept>
#include <string>

#include "bindings/bindings.h"
#include "sim/cycle.h"

namespace eie::bindings {
namespace {

int64_t simulate_layer(In1<uint8_t> codes, In1<uint8_t> rel_index, In1<int64_t> pe_offset,
                       In2<int64_t> col_ptr, int64_t rows, int64_t cols, In1<int16_t> x,
                       In1<int16_t> weight_q, int64_t fifo_depth, int64_t entries_per_line,
                       int64_t ptr_read_cycles, int64_t batch_cols, int64_t lnzd_latency,
                       int64_t load_cycles, int64_t dst_rf_entries, bool bypass,
                       int64_t lnzd_group, int64_t lnzd_bubble, int64_t bias_col,
                       In1<int64_t> bias_acc, int64_t acc_bits, int64_t acc_shift,
                       Out1<int64_t> acc,
                       Out2<int64_t> pe_counters, Out1<int64_t> fifo_hist, Out1<int64_t> actions,
                       Out1<int64_t> globals) {
  const int64_t num_pes = static_cast<int64_t>(pe_offset.shape(0)) - 1;
  EIE_CHECK(num_pes >= 1, "pe_offset should hold num_pes + 1 >= 2 values");
  EIE_CHECK(rows >= 0 && cols >= 0, "rows and cols should be non-negative");
  EIE_CHECK(rel_index.shape(0) == codes.shape(0),
            "codes and rel_index should have the same length");
  EIE_CHECK(static_cast<int64_t>(col_ptr.shape(0)) == num_pes &&
            static_cast<int64_t>(col_ptr.shape(1)) == cols + 1,
        "col_ptr should have shape (num_pes, cols + 1)");
  EIE_CHECK(static_cast<int64_t>(x.shape(0)) == cols, "x should have cols entries");
  EIE_CHECK(static_cast<int64_t>(acc.shape(0)) == rows, "acc should have rows entries");
  EIE_CHECK(bias_col < 0 || static_cast<int64_t>(bias_acc.shape(0)) == rows,
        "bias_acc should have rows entries when there is a bias column");
  EIE_CHECK(static_cast<int64_t>(pe_counters.shape(0)) == num_pes &&
            static_cast<int64_t>(pe_counters.shape(1)) == sim::kNumPeCounters,
        "pe_counters should have shape (num_pes, " + std::to_string(sim::kNumPeCounters) + ")");
  EIE_CHECK(fifo_depth >= 1 && static_cast<int64_t>(fifo_hist.shape(0)) == fifo_depth + 1,
        "fifo_hist should have fifo_depth + 1 entries");
  EIE_CHECK(static_cast<int64_t>(actions.shape(0)) == sim::kNumActions,
        "actions should have " + std::to_string(sim::kNumActions) + " entries");
  EIE_CHECK(static_cast<int64_t>(globals.shape(0)) == sim::kNumGlobalCounters,
        "globals should have " + std::to_string(sim::kNumGlobalCounters) + " entries");
  const format::EntryArrays a{codes.data(),     rel_index.data(), static_cast<int64_t>(codes.shape(0)),
                              pe_offset.data(), col_ptr.data(),   num_pes,
                              rows,             cols};
  const sim::Params p{fifo_depth,   entries_per_line, ptr_read_cycles, batch_cols,
                      lnzd_latency, load_cycles,      dst_rf_entries,  bypass,
                      lnzd_group,   lnzd_bubble,      bias_col,        acc_bits,
                      acc_shift};
  const sim::Outputs o{acc.data(), pe_counters.data(), fifo_hist.data(), actions.data(),
                       globals.data()};
  const int16_t* wq = weight_q.data();
  const int64_t ncb = static_cast<int64_t>(weight_q.shape(0));
  nb::gil_scoped_release release;
  const int64_t* ba = bias_col >= 0 ? bias_acc.data() : nullptr;
  return sim::simulate_layer(a, x.data(), wq, ncb, ba, p, o);
}

}  // namespace

void register_sim(nb::module_& m) {
  m.def("sim_layer", &simulate_layer, nb::arg("codes").noconvert(),
        nb::arg("rel_index").noconvert(), nb::arg("pe_offset").noconvert(),
        nb::arg("col_ptr").noconvert(), nb::arg("rows"), nb::arg("cols"),
        nb::arg("x").noconvert(), nb::arg("weight_q").noconvert(), nb::arg("fifo_depth"),
        nb::arg("entries_per_line"), nb::arg("ptr_read_cycles"), nb::arg("batch_cols"),
        nb::arg("lnzd_latency"), nb::arg("load_cycles"), nb::arg("dst_rf_entries"),
        nb::arg("bypass"), nb::arg("lnzd_group"), nb::arg("lnzd_bubble"), nb::arg("bias_col"),
        nb::arg("bias_acc").noconvert(), nb::arg("acc_bits"), nb::arg("acc_shift"),
        nb::arg("acc").noconvert(), nb::arg("pe_counters").noconvert(),
        nb::arg("fifo_hist").noconvert(), nb::arg("actions").noconvert(),
        nb::arg("globals").noconvert(),
        "Cycle-level simulation of one EIE layer (see csrc/sim/cycle.h). Fills the zeroed "
        "outputs acc (rows,), pe_counters (num_pes, 6), fifo_hist (fifo_depth + 1,), "
        "actions (13,), globals (3,); returns the loop cycle count. ValueError on bad input.");
  m.attr("SIM_NUM_ACTIONS") = static_cast<int>(sim::kNumActions);
  m.attr("SIM_NUM_PE_COUNTERS") = static_cast<int>(sim::kNumPeCounters);
  m.attr("SIM_NUM_GLOBALS") = static_cast<int>(sim::kNumGlobalCounters);
}

}  // namespace eie::bindings
