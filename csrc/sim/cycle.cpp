#include "sim/cycle.h"

#include <stdexcept>
#include <string>
#include <vector>

namespace eie::sim {
namespace {

[[noreturn]] void fail(const std::string& msg) { throw std::invalid_argument(msg); }

// State of one PE between cycles.
struct PeState {
  int64_t head = 0, count = 0;   // activation FIFO (ring buffer of column indices)
  int64_t cur = 0, end = 0;      // entries of the current column still to issue: [cur, end)
  int64_t base = 0;              // first entry of this PE (global address)
  int64_t row = -1;              // local row of the last issued entry of the current column
  int64_t busy_until = 0;        // first cycle the next column may be popped (pointer read)
  int64_t xval = 0;              // activation of the current column
  int64_t last_real_cycle = -2;  // cycle and local row of the last real entry (hazard check)
  int64_t last_row = -1;
  int64_t line = -1;             // spmat SRAM line held in the read buffer (PE-local)
  bool open = false;             // a popped column is not finished yet
};

}  // namespace

int64_t simulate_layer(const format::EntryArrays& a, const int16_t* x, const int16_t* weight_q,
                       int64_t codebook_size, const Params& p, const Outputs& out) {
  if (p.fifo_depth < 1) fail("fifo_depth should be >= 1, found " + std::to_string(p.fifo_depth));
  if (p.entries_per_line < 1) fail("entries_per_line should be >= 1");
  if (p.ptr_read_cycles < 1) fail("ptr_read_cycles should be >= 1");
  if (p.batch_cols < 1) fail("batch_cols should be >= 1");
  if (p.lnzd_latency < 0 || p.load_cycles < 0) fail("latencies should be >= 0");
  if (p.dst_rf_entries < 0) fail("dst_rf_entries should be >= 0");
  format::decode_to_codes(a, nullptr);  // validates pointers and rows
  for (int64_t i = 0; i < a.num_entries; ++i)
    if (a.codes[i] >= codebook_size)
      fail("entry " + std::to_string(i) + " has code " + std::to_string(a.codes[i]) +
           " but the codebook has " + std::to_string(codebook_size) + " entries");

  const int64_t n = a.num_pes, cols = a.cols, depth = p.fifo_depth;
  const int64_t epl = p.entries_per_line;
  int64_t* act = out.actions;

  // Nonzero input columns in broadcast order, and where each batch ends in that list.
  std::vector<int64_t> nz;
  for (int64_t j = 0; j < cols; ++j)
    if (x[j] != 0) nz.push_back(j);
  const int64_t nb = cols == 0 ? 1 : (cols + p.batch_cols - 1) / p.batch_cols;
  std::vector<int64_t> batch_end(nb);
  {
    int64_t i = 0;
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t limit = (b + 1) * p.batch_cols;
      while (i < static_cast<int64_t>(nz.size()) && nz[i] < limit) ++i;
      batch_end[b] = i;
    }
  }
  const bool multi = nb > 1;
  const int64_t overhead = p.lnzd_latency + (multi ? p.load_cycles : 0);
  auto batch_cols_of = [&](int64_t b) {
    const int64_t hi = (b + 1) * p.batch_cols < cols ? (b + 1) * p.batch_cols : cols;
    return hi - b * p.batch_cols;
  };

  std::vector<PeState> pe(n);
  std::vector<int64_t> fifo(n * depth);
  for (int64_t k = 0; k < n; ++k) pe[k].base = a.pe_offset[k];

  int64_t ccu_batch = 0, ccu_ready = overhead, nzi = 0, outstanding = 0;
  if (multi) act[kActSramRead] += batch_cols_of(0);
  int64_t t = 0;
  for (;; ++t) {
    if (ccu_batch >= nb && outstanding == 0) break;
    bool any_full = false;  // sampled at the start of the cycle
    for (int64_t k = 0; k < n; ++k) {
      PeState& s = pe[k];
      int64_t* cnt = out.pe_counters + k * kNumPeCounters;
      out.fifo_hist[s.count] += 1;
      if (s.count >= depth) any_full = true;
      if (s.cur == s.end) {
        if (s.open) {
          // Entries done, pointer read of a short column still in progress.
          cnt[kBusy] += 1;
        } else if (s.count == 0) {
          cnt[kStarved] += 1;
          continue;
        } else {
          // Pop the next column; its pointers were prefetched (see ptr_read_cycles).
          const int64_t col = fifo[k * depth + s.head];
          s.head = s.head + 1 == depth ? 0 : s.head + 1;
          s.count -= 1;
          act[kQueuePop] += 1;
          act[kPtrRead] += 2;  // start and end pointer
          cnt[kColumns] += 1;
          const int64_t* ptr = a.col_ptr + k * (cols + 1);
          s.cur = s.base + ptr[col];
          s.end = s.base + ptr[col + 1];
          s.row = -1;
          s.xval = x[col];
          s.busy_until = t + p.ptr_read_cycles;
          s.open = true;
          if (s.cur == s.end) cnt[kBusy] += 1;  // an empty column: a pointer read only
        }
      }
      if (s.cur < s.end) {
        const uint8_t code = a.codes[s.cur];
        const int64_t r = s.row + static_cast<int64_t>(a.rel_index[s.cur]) + 1;
        const bool same_acc = code != 0 && s.last_real_cycle == t - 1 && s.last_row == r;
        if (same_acc && !p.bypass) {
          cnt[kBlocked] += 1;  // wait for the previous update's write-back
        } else {
          const int64_t line = (s.cur - s.base) / epl;
          if (line != s.line) {
            act[kSpmatLineRead] += 1;
            s.line = line;
          }
          s.row = r;
          s.cur += 1;
          cnt[kBusy] += 1;
          if (code == 0) {
            cnt[kFillerEntries] += 1;
          } else {
            cnt[kRealEntries] += 1;
            act[kCodebookLookup] += 1;
            act[kMac] += 1;
            out.acc[r * n + k] += static_cast<int64_t>(weight_q[code]) * s.xval;
            const bool in_rf = r < p.dst_rf_entries;
            if (same_acc) {
              act[kBypass] += 1;
            } else {
              act[in_rf ? kDstRfRead : kActSramRead] += 1;
            }
            act[in_rf ? kDstRfWrite : kActSramWrite] += 1;
            s.last_real_cycle = t;
            s.last_row = r;
          }
        }
      }
      if (s.open && s.cur == s.end && t + 1 >= s.busy_until) {
        s.open = false;
        outstanding -= 1;
      }
    }
    // CCU: broadcast the next nonzero activation of the current batch, if every FIFO has room.
    if (ccu_batch < nb && t >= ccu_ready) {
      bool next_batch = false;
      if (nzi < batch_end[ccu_batch]) {
        if (any_full) {
          out.globals[kCcuStallCycles] += 1;
        } else {
          const int64_t col = nz[nzi++];
          for (int64_t k = 0; k < n; ++k) {
            PeState& s = pe[k];
            int64_t tail = s.head + s.count;
            if (tail >= depth) tail -= depth;
            fifo[k * depth + tail] = col;
            s.count += 1;
          }
          outstanding += n;
          act[kBroadcast] += 1;
          act[kSrcRfRead] += 1;
          act[kQueuePush] += n;
          next_batch = nzi == batch_end[ccu_batch];
        }
      } else {
        next_batch = true;  // the LNZD found no (more) nonzeros in this batch
      }
      if (next_batch) {
        ccu_batch += 1;
        if (ccu_batch < nb) {
          ccu_ready = t + 1 + overhead;
          act[kActSramRead] += batch_cols_of(ccu_batch);
        }
      }
    }
  }
  out.globals[kLoopCycles] = t;
  out.globals[kBatches] = nb;
  return t;
}

}  // namespace eie::sim
