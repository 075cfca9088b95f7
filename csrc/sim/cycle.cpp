#include "sim/cycle.h"

#include "common/cpu_features.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

namespace eie::sim {
namespace {

[[noreturn]] void fail(const std::string& msg) { throw std::invalid_argument(msg); }


// What one column of one PE did: its real entries, those whose accumulator is in the
// destination register file, and the last real entry (offset from the column's first, and row).
struct ColumnTally {
  int64_t real = 0, in_rf = 0, last_offset = -1, last_row = -1;
};

// Decodes entries [cur, end) of PE k (rows already checked) and updates their accumulators:
// weight_q[code] * xval (Bias: bias_acc[row], activation 1.0), exactly (Exact) or rounded to
// the output's scale and saturated. Counters stay in registers (no stores but the accumulator's).
template <bool Exact, bool Bias>
ColumnTally decode_column(const uint8_t* __restrict codes, const uint8_t* __restrict rel,
                          int64_t cur, int64_t end, int64_t k, int64_t n, int64_t xval,
                          const int16_t* __restrict weight_q, const int64_t* __restrict bias_acc,
                          int64_t* __restrict acc, int64_t dst_rf_entries, int64_t acc_shift,
                          int64_t round_half, int64_t acc_min, int64_t acc_max) {
  ColumnTally t;
  int64_t row = -1;
  for (int64_t e = cur; e < end; ++e) {
    row += static_cast<int64_t>(rel[e]) + 1;
    const uint8_t code = codes[e];
    if (code == 0) continue;  // filler: its issue slot, no work
    const int64_t g = row * n + k;
    int64_t add;
    if constexpr (Bias) {
      add = bias_acc[g];
    } else if constexpr (Exact) {
      add = static_cast<int64_t>(weight_q[code]) * xval;
    } else {
      add = (static_cast<int64_t>(weight_q[code]) * xval + round_half) >> acc_shift;
    }
    if constexpr (Exact) {
      acc[g] += add;
    } else {
      const int64_t v = acc[g] + add;  // |acc|, |add| < 2^62: no overflow
      acc[g] = v > acc_max ? acc_max : (v < acc_min ? acc_min : v);
    }
    t.real += 1;
    t.in_rf += row < dst_rf_entries;
    t.last_offset = e - cur;
    t.last_row = row;
  }
  return t;
}

// The local row the last entry of [cur, end) decodes to (rows increase within a column).
inline int64_t last_row_of(const uint8_t* rel, int64_t cur, int64_t end) {
  int64_t sum = 0;
  for (int64_t e = cur; e < end; ++e) sum += rel[e];
  return sum + (end - cur) - 1;
}

[[noreturn]] void fail_row(const uint8_t* rel, int64_t cur, int64_t end, int64_t k, int64_t col,
                           int64_t lrows) {
  int64_t row = -1;
  for (int64_t e = cur; e < end; ++e) {
    row += static_cast<int64_t>(rel[e]) + 1;
    if (row >= lrows)
      fail("PE " + std::to_string(k) + " column " + std::to_string(col) + ": entry " +
           std::to_string(e) + " decodes to local row " + std::to_string(row) +
           " but the PE holds " + std::to_string(lrows) + " rows");
  }
  fail("internal: no entry past the rows");
}

}  // namespace

void validate_layer(const format::EntryArrays& a, int64_t codebook_size) {
  // Pointers are validated here in O(num_pes x cols); the rows of the entries a broadcast
  // column reaches are checked as they are decoded (never out of bounds, and nothing else is
  // read). A full decode of every entry on each call cost as much as the simulation.
  if (a.num_pes < 1 || a.rows < 0 || a.cols < 0) fail("num_pes >= 1 and a valid shape needed");
  if (a.pe_offset[0] != 0 || a.pe_offset[a.num_pes] != a.num_entries)
    fail("pe_offset should run from 0 to the entry count " + std::to_string(a.num_entries));
  for (int64_t k = 0; k < a.num_pes; ++k) {
    const int64_t size = a.pe_offset[k + 1] - a.pe_offset[k];
    if (size < 0) fail("pe_offset should be non-decreasing (PE " + std::to_string(k) + ")");
    const int64_t* ptr = a.col_ptr + k * (a.cols + 1);
    if (ptr[0] != 0 || ptr[a.cols] != size)
      fail("col_ptr of PE " + std::to_string(k) + " should run from 0 to its " +
           std::to_string(size) + " entries");
    for (int64_t j = 0; j < a.cols; ++j)
      if (ptr[j + 1] < ptr[j])
        fail("col_ptr of PE " + std::to_string(k) + " should be non-decreasing (column " +
             std::to_string(j) + ")");
  }
  if (a.num_entries > 0 &&
      format::max_u8(a.codes, a.num_entries, active_isa()) >= codebook_size) {
    for (int64_t i = 0; i < a.num_entries; ++i)
      if (a.codes[i] >= codebook_size)
        fail("entry " + std::to_string(i) + " has code " + std::to_string(a.codes[i]) +
             " but the codebook has " + std::to_string(codebook_size) + " entries");
  }

}

void float_layer(const format::EntryArrays& a, const double* x, const double* codebook,
                 int64_t codebook_size, double* y) {
  validate_layer(a, codebook_size);
  const int64_t n = a.num_pes, cols = a.cols;
  std::vector<int64_t> nz;
  for (int64_t j = 0; j < cols; ++j)
    if (x[j] != 0.0) nz.push_back(j);  // EIE broadcasts only nonzero activations
  const int64_t nnz = static_cast<int64_t>(nz.size());
  for (int64_t i = 0; i < nnz; ++i) {
    const int64_t j = nz[i];
    const double xv = x[j];
    for (int64_t k = 0; k < n; ++k) {
      const int64_t* ptr = a.col_ptr + k * (cols + 1);
      // As in simulate_layer: pointers two columns ahead, entries one column ahead.
      if (i + 2 < nnz) __builtin_prefetch(ptr + nz[i + 2]);
      if (i + 1 < nnz) {
        const int64_t e1 = a.pe_offset[k] + ptr[nz[i + 1]];
        __builtin_prefetch(a.codes + e1);
        __builtin_prefetch(a.rel_index + e1);
      }
      const int64_t cur = a.pe_offset[k] + ptr[j], end = a.pe_offset[k] + ptr[j + 1];
      if (cur == end) continue;
      const int64_t lrows = format::local_rows(a.rows, n, k);
      if (last_row_of(a.rel_index, cur, end) >= lrows) fail_row(a.rel_index, cur, end, k, j, lrows);
      int64_t row = -1;
      for (int64_t e = cur; e < end; ++e) {
        row += static_cast<int64_t>(a.rel_index[e]) + 1;
        const uint8_t code = a.codes[e];
        if (code != 0) y[row * n + k] += codebook[code] * xv;
      }
    }
  }
}


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
  validate_layer(a, codebook_size);

  const int64_t n = a.num_pes, cols = a.cols, depth = p.fifo_depth;
  const int64_t epl = p.entries_per_line;
  const bool has_bias = p.bias_col >= 0;
  const int64_t wcols = has_bias ? cols - 1 : cols;  // weight columns (batched)
  int64_t act[kNumActions] = {};  // local: the accumulator stores cannot alias it
  int64_t line_reads = 0, rf_rw = 0, sram_rw = 0, bypassed = 0, rf_saved = 0, sram_saved = 0;
  std::vector<int64_t> lrows_of(n);
  for (int64_t k = 0; k < n; ++k) lrows_of[k] = format::local_rows(a.rows, n, k);

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
  // The loop is computed column by column rather than cycle by cycle (same counts as the
  // cycle-stepped reference model, src/eie/sim/cycle_ref.py). For broadcast j (push cycle P[j])
  // and PE k: the PE pops it at S = max(P[j] + 1, F) (F: the first cycle the PE is free), stalls
  // `b` cycles on a hazard, and holds it L = max(ptr_read_cycles, entries + b) cycles; F = S + L.
  // The CCU may push j only once no PE's queue is full at the start of the cycle: every PE has
  // popped column j - (d - 1) (d >= 2), or closed column j - 1 (lockstep, d = 1).
  const int64_t prc = p.ptr_read_cycles;
  std::vector<int64_t> push(nnz), max_pop(nnz, 0), max_free(nnz, 0);
  struct Pe {
    int64_t free_at = 0;          // F: first cycle with no column held
    int64_t last_real_cycle = -2; // cycle and local row of the last real entry (hazards)
    int64_t last_row = -1;
    int64_t line_end = -1;        // first entry address past the line held in the read buffer
    int64_t busy = 0, blocked = 0, real = 0, fillers = 0, columns = 0;
    // Occupancy histogram sweep: time cursor, occupancy, pending close times (ring).
    int64_t tc = 0, occ = 0, head = 0, count = 0;
  };
  std::vector<Pe> pe(n);
  const int64_t ring = depth + 2;  // columns held or queued never exceed depth
  std::vector<int64_t> closes(n * ring);
  auto sweep_to = [&](Pe& s, int64_t* hist, int64_t* ring_k, int64_t t) {
    // Apply close events <= t (each lowers the occupancy from its cycle on).
    while (s.count > 0 && ring_k[s.head] <= t) {
      const int64_t e = ring_k[s.head];
      hist[s.occ] += e - s.tc;
      s.tc = e;
      s.occ -= 1;
      s.head = s.head + 1 == ring ? 0 : s.head + 1;
      s.count -= 1;
    }
  };
  int64_t* const hist = out.fifo_hist;
  // Per-PE histograms are summed into one; keep each PE's sweep separate, then add.
  std::vector<int64_t> pe_hist(n * (depth + 1), 0);

  if (multi) act[kActSramRead] += batch_cols_of(0);
  int64_t ccu_stall = 0;
  int64_t t_ccu_done = 0;  // the cycle in which the CCU finishes the last batch
  int64_t j = 0;           // broadcast index
  int64_t t0 = 0;          // start cycle of the current batch
  for (int64_t b = 0; b < nb; ++b) {
    if (b > 0) act[kActSramRead] += batch_cols_of(b);
    const int64_t first = b == 0 ? 0 : batch_end[b - 1];
    int64_t ready = batch_ready(b, t0);
    if (first == batch_end[b]) {
      // No nonzeros: the detector reports "none" in cycle `ready`.
      t0 = ready + 1;
      t_ccu_done = ready;
      continue;
    }
    for (; j < batch_end[b]; ++j) {
      int64_t pj = ready;
      if (depth > 1) {
        if (j - (depth - 1) >= 0) pj = std::max(pj, max_pop[j - (depth - 1)] + 1);
      } else if (j > 0) {
        pj = std::max(pj, max_free[j - 1]);
      }
      ccu_stall += pj - ready;
      push[j] = pj;
      const int64_t col = nz[j];
      const bool is_bias = col == p.bias_col;
      const int64_t xval = x[col];
      int64_t mp = 0, mf = 0;
      for (int64_t k = 0; k < n; ++k) {
        // Each PE reads its own pointer row and entry stream: 3 x num_pes streams, more than
        // the hardware prefetcher follows. Fetch PE k's pointers two broadcasts ahead, and its
        // entries one broadcast ahead (their pointers were fetched in the previous broadcast).
        {
          const int64_t* row_k = a.col_ptr + k * (cols + 1);
          if (j + 2 < nnz) __builtin_prefetch(row_k + nz[j + 2]);
          if (j + 1 < nnz) {
            const int64_t e1 = a.pe_offset[k] + row_k[nz[j + 1]];
            __builtin_prefetch(a.codes + e1);
            __builtin_prefetch(a.rel_index + e1);
          }
        }
        Pe& s = pe[k];
        int64_t* ring_k = closes.data() + k * ring;
        int64_t* hk = pe_hist.data() + k * (depth + 1);
        // Occupancy: everything up to the push's effect at P + 1 is known now.
        sweep_to(s, hk, ring_k, pj + 1);
        hk[s.occ] += pj + 1 - s.tc;
        s.tc = pj + 1;
        s.occ += 1;
        const int64_t start = std::max(pj + 1, s.free_at);
        const int64_t base = a.pe_offset[k];
        const int64_t* ptr = a.col_ptr + k * (cols + 1);
        const int64_t cur = base + ptr[col];
        const int64_t end = base + ptr[col + 1];
        const int64_t cnt = end - cur;
        int64_t stall = 0;
        if (cnt > 0) {
          const uint8_t code0 = a.codes[cur];
          const int64_t r0 = static_cast<int64_t>(a.rel_index[cur]);
          const bool same0 = code0 != 0 && s.last_real_cycle == start - 1 && s.last_row == r0;
          if (same0 && !p.bypass) stall = 1;
          // Line reads: addresses only grow within a PE.
          if (cur >= s.line_end) {
            line_reads += 1;
            s.line_end = base + ((cur - base) / epl + 1) * epl;
          }
          if (end - 1 >= s.line_end) {
            const int64_t last_line_end = base + ((end - 1 - base) / epl + 1) * epl;
            line_reads += (last_line_end - s.line_end) / epl;
            s.line_end = last_line_end;
          }
          const int64_t lrows = lrows_of[k];
          if (last_row_of(a.rel_index, cur, end) >= lrows)
            fail_row(a.rel_index, cur, end, k, col, lrows);
          ColumnTally t;
          if (is_bias) {
            t = exact ? decode_column<true, true>(a.codes, a.rel_index, cur, end, k, n, xval,
                                                  weight_q, bias_acc, out.acc, p.dst_rf_entries,
                                                  p.acc_shift, round_half, acc_min, acc_max)
                      : decode_column<false, true>(a.codes, a.rel_index, cur, end, k, n, xval,
                                                   weight_q, bias_acc, out.acc, p.dst_rf_entries,
                                                   p.acc_shift, round_half, acc_min, acc_max);
          } else {
            t = exact ? decode_column<true, false>(a.codes, a.rel_index, cur, end, k, n, xval,
                                                   weight_q, bias_acc, out.acc, p.dst_rf_entries,
                                                   p.acc_shift, round_half, acc_min, acc_max)
                      : decode_column<false, false>(a.codes, a.rel_index, cur, end, k, n, xval,
                                                    weight_q, bias_acc, out.acc,
                                                    p.dst_rf_entries, p.acc_shift, round_half,
                                                    acc_min, acc_max);
          }
          s.real += t.real;
          s.fillers += cnt - t.real;
          // Accumulator traffic: a read and a write per real entry, in the destination register
          // file or (rows beyond it) the activation SRAM; the bypass replaces the first entry's
          // read when it updates the accumulator the previous cycle wrote.
          const int64_t out_rf = t.real - t.in_rf;
          rf_rw += t.in_rf;
          sram_rw += out_rf;
          if (same0 && p.bypass) {
            bypassed += 1;
            if (r0 < p.dst_rf_entries) rf_saved += 1;
            else sram_saved += 1;
          }
          if (t.real > 0) {
            s.last_real_cycle = start + stall + t.last_offset;
            s.last_row = t.last_row;
          }
        }
        const int64_t len = std::max(prc, cnt + stall);
        s.busy += len - stall;
        s.blocked += stall;
        s.columns += 1;
        s.free_at = start + len;
        // Close event at free_at (occupancy drops from that cycle on).
        int64_t pos = s.head + s.count;
        if (pos >= ring) pos -= ring;
        ring_k[pos] = s.free_at;
        s.count += 1;
        mp = std::max(mp, start);
        mf = std::max(mf, s.free_at);
      }
      max_pop[j] = mp;
      max_free[j] = mf;
      act[kBroadcast] += 1;
      act[kSrcRfRead] += 1;
      act[kQueuePush] += n;
      act[kQueuePop] += n;
      act[kPtrRead] += 2 * n;
      ready = pj + 1 + (j + 1 < batch_end[b] ? gap[j + 1] : 0);
    }
    // After the batch's last broadcast: the detector scans the rest of the batch.
    const int64_t last = push[batch_end[b] - 1];
    const int64_t done = tail[b] > 0 ? last + tail[b] : last;
    t_ccu_done = done;
    t0 = done + 1;
  }
  int64_t t = t_ccu_done + 1;
  for (int64_t k = 0; k < n; ++k) t = std::max(t, pe[k].free_at);
  out.globals[kCcuStallCycles] = ccu_stall;
  for (int64_t k = 0; k < n; ++k) {
    Pe& s = pe[k];
    int64_t* hk = pe_hist.data() + k * (depth + 1);
    sweep_to(s, hk, closes.data() + k * ring, t);
    hk[s.occ] += t - s.tc;
    for (int64_t v = 0; v <= depth; ++v) hist[v] += hk[v];
    int64_t* c = out.pe_counters + k * kNumPeCounters;
    c[kBusy] = s.busy;
    c[kBlocked] = s.blocked;
    c[kStarved] = t - s.busy - s.blocked;
    c[kRealEntries] = s.real;
    c[kFillerEntries] = s.fillers;
    c[kColumns] = s.columns;
  }
  for (int64_t k = 0; k < n; ++k) {
    act[kCodebookLookup] += pe[k].real;
    act[kMac] += pe[k].real;
  }
  act[kSpmatLineRead] += line_reads;
  act[kBypass] += bypassed;
  act[kDstRfRead] += rf_rw - rf_saved;
  act[kDstRfWrite] += rf_rw;
  act[kActSramRead] += sram_rw - sram_saved;
  act[kActSramWrite] += sram_rw;
  for (int i = 0; i < kNumActions; ++i) out.actions[i] += act[i];
  out.globals[kLoopCycles] = t;
  out.globals[kBatches] = nb;
  return t;
}

}  // namespace eie::sim
