// EIE cycle-level simulator: the inner loop (one layer, one input vector).
//
// The model (documented in docs/simulator.md and src/eie/sim/pe.py; the Python reference model
// src/eie/sim/cycle_ref.py steps it cycle by cycle, this core computes the same counts column by
// column) in brief:
// - CCU: per input batch, `batch_overhead` cycles (source-register-file load from the activation
//   SRAM when the input spans several batches, plus the LNZD tree's latency), then at most one
//   broadcast of a nonzero activation per cycle, in increasing column order, disabled while any
//   PE's activation FIFO is full (the full flags are sampled at the start of the cycle). The
//   LNZD scans groups of `lnzd_group` activations (one register-file row); leaving a group whose
//   last activation is zero costs `lnzd_bubble` cycles (the authors' detector).
// - FIFO: `fifo_depth` counts the column a PE works on: d >= 2 queues d - 1 columns beside it,
//   d = 1 is lockstep (a PE takes a broadcast only when it holds no column at all).
// - Bias column: when `bias_col` >= 0, that column's entries add `bias_acc[row]` (the bias at
//   the accumulator's scale, activation 1.0) instead of weight x activation; it belongs to the
//   last batch and forms an LNZD group of its own.
// - PE: pops a column when it has nothing left of the previous one; the pointer read is
//   prefetched, so a column occupies max(ptr_read_cycles, entries) cycles; one entry per cycle;
//   a filler costs its cycle but does no work; without the bypass, a real entry updating the same
//   accumulator as the real entry issued in the previous cycle waits one cycle.
// - Values: with acc_bits = 64, exact int64 accumulators (weight_q[code] * x_q), narrowed by the
//   caller. With fewer bits (the paper's 16-bit destination registers) each product is rounded
//   (half up) to the output's scale (>> acc_shift) and added with saturation to acc_bits; the
//   caller's initial acc (the bias, when not a column) is at that scale too.
#pragma once
#include <cstdint>

#include "format/decode.h"

namespace eie::sim {

// Action counters filled by simulate_layer. Their (component, action) names are kActionNames,
// exported to Python (eie.sim.pe.ACTIONS reads them from the core).
enum Action : int {
  kBroadcast = 0,    // ccu.broadcast: one (value, index) pair sent to every PE
  kSrcRfRead,        // src_regfile.read: the broadcast value read from a source register file
  kQueuePush,        // act_queue.push (one per PE per broadcast)
  kQueuePop,         // act_queue.pop
  kPtrRead,          // ptr_sram.read: one bank read (start and end pointer: 2 per column)
  kSpmatLineRead,    // spmat_sram.read_line
  kCodebookLookup,   // codebook.lookup (real entries)
  kMac,              // arith.mac (real entries)
  kBypass,           // arith.bypass: accumulator forwarded instead of read
  kDstRfRead,        // dst_regfile.read (accumulator read, not bypassed)
  kDstRfWrite,       // dst_regfile.write (accumulator write)
  kActSramRead,      // act_sram.read: 16-bit words (batch loads, spilled accumulators)
  kActSramWrite,     // act_sram.write: 16-bit words (spilled accumulators)
  kNumActions
};

inline constexpr const char* kActionNames[kNumActions][2] = {
    {"ccu", "broadcast"},   {"src_regfile", "read"}, {"act_queue", "push"},
    {"act_queue", "pop"},   {"ptr_sram", "read"},    {"spmat_sram", "read_line"},
    {"codebook", "lookup"}, {"arith", "mac"},        {"arith", "bypass"},
    {"dst_regfile", "read"}, {"dst_regfile", "write"}, {"act_sram", "read"},
    {"act_sram", "write"},
};

// Per-PE counters, columns of the (num_pes, kNumPeCounters) output.
enum PeCounter : int {
  kBusy = 0,      // issued an entry (real or filler) or spent the cycle on a pointer read
  kStarved,       // nothing to do: activation FIFO empty
  kBlocked,       // pipeline hazard stall (bypass disabled)
  kRealEntries,   // real entries issued (MACs)
  kFillerEntries, // filler entries issued
  kColumns,       // columns popped from the FIFO
  kNumPeCounters
};

inline constexpr const char* kPeCounterNames[kNumPeCounters] = {
    "busy", "starved", "blocked", "real_entries", "filler_entries", "columns"};

enum GlobalCounter : int {
  kLoopCycles = 0,   // cycles until every PE has issued its last entry
  kCcuStallCycles,   // cycles the CCU had a nonzero ready but some FIFO was full
  kBatches,          // input batches
  kNumGlobalCounters
};

inline constexpr const char* kGlobalNames[kNumGlobalCounters] = {"loop_cycles",
                                                                 "ccu_stall_cycles", "batches"};

struct Params {
  int64_t fifo_depth = 8;        // >= 1
  int64_t entries_per_line = 8;  // spmat SRAM entries per line, >= 1
  int64_t ptr_read_cycles = 1;   // 1 with two pointer banks, 2 with one
  int64_t batch_cols = 4096;     // input columns per batch (regfile entries x PEs), >= 1
  int64_t lnzd_latency = 0;      // CCU cycles before a batch's first broadcast (LNZD levels)
  int64_t load_cycles = 0;       // extra CCU cycles per batch to load the source register files
                                 // from the activation SRAM (only when the input spans batches)
  int64_t dst_rf_entries = 64;   // accumulators held in the destination register file per PE
  bool bypass = true;
  int64_t lnzd_group = 1;        // activations per LNZD scan group (one register-file row), >= 1
  int64_t lnzd_bubble = 0;       // cycles lost leaving a group whose last activation is zero
  int64_t bias_col = -1;         // index of the bias column (the last column), or -1 for none
  int64_t acc_bits = 64;         // accumulator width: 64 exact; 2..63 saturating, products rounded
  int64_t acc_shift = 0;         // for acc_bits < 64: product fraction bits minus the output's
};

struct Outputs {
  int64_t* acc;          // (rows,) initial values from the caller (zero, or the bias)
  int64_t* pe_counters;  // (num_pes, kNumPeCounters) zeroed
  int64_t* fifo_hist;    // (fifo_depth + 1,) zeroed: PE-cycles with each occupancy (head included)
  int64_t* actions;      // (kNumActions,) zeroed
  int64_t* globals;      // (kNumGlobalCounters,) zeroed
};

// Runs one layer. `x` (cols,) int16 activations, `weight_q` (codebook size,) int16 decoded
// weights, `bias_acc` (rows,) the bias column's addends (read only when p.bias_col >= 0).
// Throws std::invalid_argument on inconsistent input. Returns the loop cycle count.
int64_t simulate_layer(const format::EntryArrays& a, const int16_t* x, const int16_t* weight_q,
                       int64_t codebook_size, const int64_t* bias_acc, const Params& p,
                       const Outputs& out);

// Checks what simulate_layer and float_layer rely on before reading entries: pe_offset and
// col_ptr consistent and monotone (O(num_pes x cols)), and every code below codebook_size.
// The rows an entry decodes to are checked where it is decoded. Throws std::invalid_argument.
void validate_layer(const format::EntryArrays& a, int64_t codebook_size);

// The layer's float output before bias and activation, as eie.engine.reference.spmv computes it:
// y[row] = sum over the columns with x != 0, in column order, of codebook[code] * x[col] (float64,
// code 0 is zero and skipped). `y` (rows,) zeroed. Used to choose the fixed-point formats.
void float_layer(const format::EntryArrays& a, const double* x, const double* codebook,
                 int64_t codebook_size, double* y);

}  // namespace eie::sim
