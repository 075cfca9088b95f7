// The engine's tuning constants: one table per ISA, filled from src/eie/data/tuning.json by
// eie.engine.tuning at load time (the defaults below are that file's "defaults" entry, for
// builds used without the Python package, e.g. the sanitizer harness). What each one trades off
// and how `eie bench --tune` measures it: src/eie/engine/tuning.py; the measurements:
// docs/benchmarks-log-issue-14p.md.
#pragma once
#include <cstdint>

#include "common/cpu_features.h"

namespace eie::engine {

struct Tuning {
  // Work (entries x batch, or dense weights / 8) below which a multiply stays on the calling
  // thread: waking a worker costs more than it saves.
  double inline_work = 20000.0;
  // A dense layout is cut into a multiple of the thread count of row blocks (a row split) only
  // when every block keeps at least this many rows; else threads split the active columns.
  int64_t min_split_rows = 1024;
  // Row view (sparse, 4-bit): built for layers of at most this many rows...
  int64_t row_view_max_rows = 2048;
  // ...and used at batch 1 from this fraction of nonzero activations.
  double row_view_min_act = 0.7;
  // Batch 2..16, 4-bit codes: a loop of batch-1 multiplies replaces the batch kernel when the
  // inputs' own active columns (summed) are fewer than factor x the union's. Sparse factor at
  // batch <= 8 and above; dense factor times sqrt(batch).
  double sparse_batch_factor = 2.4;
  double sparse_batch_factor_wide = 3.7;
  double dense_batch_factor = 1.6;
  // Rowwise layout: row tasks per thread (claimed dynamically).
  int64_t rowwise_tasks_per_thread = 8;
  // Column split: chunks of active columns per thread (claimed dynamically, so a thread whose
  // core is busy holds up at most one chunk).
  int64_t split_chunks_per_thread = 4;
  // Batches on a dense layout of a pruned layer (4-bit codes): the layout built with
  // layout="auto" also holds the layer's row view (its *batch twin*, Layout::batch_twin) when
  // the weight density is at most batch_twin_max_density, and a batch runs on that row view
  // when the inputs' active columns, summed, reach batch_twin_factor x density x cols (with
  // dense inputs: batch >= factor x density). The row view streams the nonzeros once per call
  // whatever the batch, the dense batch kernel every active weight per input.
  double batch_twin_factor = 16.0;
  double batch_twin_max_density = 0.35;
};

// The table of `isa` (the defaults until set_tuning).
const Tuning& tuning(Isa isa);
// Replaces the table of `isa`; call at load time, before multiplies on other threads.
// Throws std::invalid_argument on values out of range.
void set_tuning(Isa isa, const Tuning& t);

}  // namespace eie::engine
