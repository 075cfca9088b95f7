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
  int64_t line_end = -1;         // first entry address past the line held in the read buffer
  bool open = false;             // a popped column is not finished yet
  bool bias = false;             // the current column is the bias column
};

}  // namespace

int64_t simulate_layer(const format::EntryArrays& a, const int16_t* x, const int16_t* weight_q,
                       int64_t codebook_size, const int64_t* bias_acc, const Params& p,
                       const Outputs& out) {
  if (p.fifo_depth < 1) fail("fifo_depth should be >= 1, found " + std::to_string(p.fifo_depth));
  if (p.entries_per_line < 1) fail("entries_per_line should be >= 1");
  if (p.ptr_read_cycles < 1) fail("ptr_read_cycles should be >= 1");
  if (p.batch_cols < 1) fail("batch_cols should be >= 1");
  if (p.lnzd_latency < 0 || p.load_cycles < 0) fail("latencies should be >= 0");
  if (p.dst_rf_entries < 0) fail("dst_rf_entries should be >= 0");
  if (p.lnzd_group < 1 || p.lnzd_bubble < 0) fail("lnzd_group should be >= 1, lnzd_bubble >= 0");
  if (p.acc_bits < 2 || p.acc_bits > 64) fail("acc_bits should be in 2..64");
  if (p.acc_bits < 64 && (p.acc_shift < 0 || p.acc_shift > 62))
    fail("acc_shift should be in 0..62");
  if (p.bias_col >= 0 && (p.bias_col != a.cols - 1 || bias_acc == nullptr))
    fail("the bias column should be the last column, with its addends given");
  format::decode_to_codes(a, nullptr);  // validates pointers and rows
  for (int64_t i = 0; i < a.num_entries; ++i)
    if (a.codes[i] >= codebook_size)
      fail("entry " + std::to_string(i) + " has code " + std::to_string(a.codes[i]) +
           " but the codebook has " + std::to_string(codebook_size) + " entries");

  const int64_t n = a.num_pes, cols = a.cols, depth = p.fifo_depth;
  const int64_t epl = p.entries_per_line;
  const bool has_bias = p.bias_col >= 0;
  const int64_t wcols = has_bias ? cols - 1 : cols;  // weight columns (batched)
  int64_t* act = out.actions;

  // Nonzero input columns in broadcast order (the bias column last), and where each batch ends
  // in that list. The bias column belongs to the last batch.
  std::vector<int64_t> nz;
  for (int64_t j = 0; j < wcols; ++j)
    if (x[j] != 0) nz.push_back(j);
  if (has_bias) nz.push_back(p.bias_col);
  const int64_t nnz = static_cast<int64_t>(nz.size());
  const int64_t nb = wcols == 0 ? 1 : (wcols + p.batch_cols - 1) / p.batch_cols;
  std::vector<int64_t> batch_end(nb);
  {
    int64_t i = 0;
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t limit = b + 1 == nb ? cols : (b + 1) * p.batch_cols;
      while (i < nnz && nz[i] < limit) ++i;
      batch_end[b] = i;
    }
  }
  // LNZD groups: weight column j is in group j / G; the bias column is a group of its own after
  // the last one. Leaving a group costs the bubble unless the group's last activation is nonzero.
  const int64_t G = p.lnzd_group;
  const int64_t wgroups = (wcols + G - 1) / G;
  auto group_of = [&](int64_t j) { return j < wcols ? j / G : wgroups; };
  auto ends_nonzero = [&](int64_t g) {  // is the last activation of group g nonzero?
    if (g == wgroups) return G == 1;      // the bias group: the bias activation alone
    const int64_t last = g * G + G - 1;
    return last < wcols && x[last] != 0;
  };
  // bubbles(g0, g1): bubble cycles for leaving groups g0 .. g1 - 1.
  auto bubbles = [&](int64_t g0, int64_t g1) {
    int64_t c = 0;
    if (p.lnzd_bubble > 0)
      for (int64_t g = g0; g < g1; ++g) c += ends_nonzero(g) ? 0 : p.lnzd_bubble;
    return c;
  };
  // gap[i]: bubble cycles before nonzero i can be broadcast; tail[b]: after batch b's last one.
  std::vector<int64_t> gap(nnz), tail(nb);
  {
    int64_t i = 0;
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t g_first = b * p.batch_cols / G;
      const int64_t g_end = b + 1 == nb ? (has_bias ? wgroups + 1 : wgroups)
                                        : (b + 1) * p.batch_cols / G;
      int64_t g_prev = g_first;
      for (; i < batch_end[b]; ++i) {
        const int64_t g = group_of(nz[i]);
        gap[i] = bubbles(g_prev, g);
        g_prev = g;
      }
      tail[b] = bubbles(g_prev, g_end);
    }
  }
  const bool multi = nb > 1;
  const int64_t overhead = p.lnzd_latency + (multi ? p.load_cycles : 0);
  auto batch_cols_of = [&](int64_t b) {
    const int64_t hi = (b + 1) * p.batch_cols < wcols ? (b + 1) * p.batch_cols : wcols;
    return hi - b * p.batch_cols;
  };
  // First cycle batch b (starting its overhead at t0) may broadcast, or report "none".
  auto batch_ready = [&](int64_t b, int64_t t0) {
    const int64_t first = b == 0 ? 0 : batch_end[b - 1];
    if (first < batch_end[b]) return t0 + overhead + gap[first];
    return t0 + overhead + (tail[b] > 0 ? tail[b] - 1 : 0);
  };
  // Accumulator arithmetic (see Params::acc_bits).
  const bool exact = p.acc_bits == 64;
  const int64_t acc_max = exact ? 0 : (int64_t{1} << (p.acc_bits - 1)) - 1;
  const int64_t acc_min = exact ? 0 : -acc_max - 1;
  const int64_t round_half = exact || p.acc_shift == 0 ? 0 : int64_t{1} << (p.acc_shift - 1);
  // Ring buffer slots per PE: the queue beside the head (at least one slot for lockstep).
  const int64_t slots = depth > 1 ? depth - 1 : 1;

  std::vector<PeState> pe(n);
  std::vector<int64_t> fifo(n * slots);
  for (int64_t k = 0; k < n; ++k) pe[k].base = a.pe_offset[k];

  int64_t ccu_batch = 0, ccu_ready = batch_ready(0, 0), nzi = 0, outstanding = 0;
  if (multi) act[kActSramRead] += batch_cols_of(0);
  int64_t t = 0;
  for (;; ++t) {
    if (ccu_batch >= nb && outstanding == 0) break;
    bool any_full = false;  // sampled at the start of the cycle
    for (int64_t k = 0; k < n; ++k) {
      PeState& s = pe[k];
      int64_t* cnt = out.pe_counters + k * kNumPeCounters;
      out.fifo_hist[s.count + (s.open ? 1 : 0)] += 1;
      // Full: d - 1 columns queued beside the head; lockstep (d = 1): any column held.
      if (depth > 1 ? s.count >= depth - 1 : (s.open || s.count > 0)) any_full = true;
      if (s.cur == s.end) {
        if (s.open) {
          // Entries done, pointer read of a short column still in progress.
          cnt[kBusy] += 1;
        } else if (s.count == 0) {
          cnt[kStarved] += 1;
          continue;
        } else {
          // Pop the next column; its pointers were prefetched (see ptr_read_cycles).
          const int64_t col = fifo[k * slots + s.head];
          s.head = s.head + 1 == slots ? 0 : s.head + 1;
          s.count -= 1;
          act[kQueuePop] += 1;
          act[kPtrRead] += 2;  // start and end pointer
          cnt[kColumns] += 1;
          const int64_t* ptr = a.col_ptr + k * (cols + 1);
          s.cur = s.base + ptr[col];
          s.end = s.base + ptr[col + 1];
          s.row = -1;
          s.xval = x[col];
          s.bias = col == p.bias_col;
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
          // Entry addresses only grow within a PE (columns in order, entries packed by
          // column), so a new line is needed exactly when the address passes the held one.
          if (s.cur >= s.line_end) {
            act[kSpmatLineRead] += 1;
            s.line_end = s.base + ((s.cur - s.base) / epl + 1) * epl;
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
            const int64_t g = r * n + k;
            if (exact) {
              out.acc[g] += s.bias ? bias_acc[g] : static_cast<int64_t>(weight_q[code]) * s.xval;
            } else {
              const int64_t prod = static_cast<int64_t>(weight_q[code]) * s.xval;
              const int64_t add = s.bias ? bias_acc[g] : (prod + round_half) >> p.acc_shift;
              const int64_t v = out.acc[g] + add;  // |acc|, |add| < 2^62: no overflow
              out.acc[g] = v > acc_max ? acc_max : (v < acc_min ? acc_min : v);
            }
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
            int64_t pos = s.head + s.count;
            if (pos >= slots) pos -= slots;
            fifo[k * slots + pos] = col;
            s.count += 1;
          }
          outstanding += n;
          act[kBroadcast] += 1;
          act[kSrcRfRead] += 1;
          act[kQueuePush] += n;
          if (nzi < batch_end[ccu_batch]) {
            ccu_ready = t + 1 + gap[nzi];
          } else if (tail[ccu_batch] > 0) {
            ccu_ready = t + tail[ccu_batch];  // the LNZD scans the rest of the batch
          } else {
            next_batch = true;
          }
        }
      } else {
        next_batch = true;  // the LNZD found no (more) nonzeros in this batch
      }
      if (next_batch) {
        ccu_batch += 1;
        if (ccu_batch < nb) {
          ccu_ready = batch_ready(ccu_batch, t + 1);
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
