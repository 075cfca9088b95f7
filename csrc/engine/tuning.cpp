#include "engine/tuning.h"

#include <stdexcept>
#include <string>

namespace eie::engine {
namespace {

Tuning g_tables[3];

void require(bool ok, const char* what, const std::string& found) {
  if (!ok) throw std::invalid_argument(std::string("tuning ") + what + ", found " + found);
}

}  // namespace

const Tuning& tuning(Isa isa) { return g_tables[static_cast<int>(isa)]; }

void set_tuning(Isa isa, const Tuning& t) {
  require(t.inline_work >= 0.0 && t.inline_work <= 1e12, "inline_work should be in [0, 1e12]",
          std::to_string(t.inline_work));
  require(t.min_split_rows >= 32 && t.min_split_rows <= (int64_t{1} << 20),
          "min_split_rows should be in [32, 2**20]", std::to_string(t.min_split_rows));
  require(t.row_view_max_rows >= 0 && t.row_view_max_rows <= (int64_t{1} << 20),
          "row_view_max_rows should be in [0, 2**20]", std::to_string(t.row_view_max_rows));
  require(t.row_view_min_act >= 0.0 && t.row_view_min_act <= 1e9,
          "row_view_min_act should be in [0, 1e9] (above 1: never)",
          std::to_string(t.row_view_min_act));
  for (double f : {t.sparse_batch_factor, t.sparse_batch_factor_wide, t.dense_batch_factor})
    require(f >= 0.0 && f <= 1000.0, "batch factors should be in [0, 1000]", std::to_string(f));
  require(t.rowwise_tasks_per_thread >= 1 && t.rowwise_tasks_per_thread <= 1024,
          "rowwise_tasks_per_thread should be in [1, 1024]",
          std::to_string(t.rowwise_tasks_per_thread));
  require(t.split_chunks_per_thread >= 1 && t.split_chunks_per_thread <= 1024,
          "split_chunks_per_thread should be in [1, 1024]",
          std::to_string(t.split_chunks_per_thread));
  require(t.batch_twin_factor >= 0.0 && t.batch_twin_factor <= 1e6,
          "batch_twin_factor should be in [0, 1e6]", std::to_string(t.batch_twin_factor));
  require(t.batch_twin_max_density >= 0.0 && t.batch_twin_max_density <= 1.0,
          "batch_twin_max_density should be in [0, 1]", std::to_string(t.batch_twin_max_density));
  g_tables[static_cast<int>(isa)] = t;
}

}  // namespace eie::engine
