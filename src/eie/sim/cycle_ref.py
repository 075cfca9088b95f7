"""Python reference model of the simulator's cycle loop: slow, plain, the spec the C++ core
(``csrc/sim/cycle.cpp``) is tested against on small cases. Same inputs, same outputs.

The model is described in ``eie.sim.pe`` and ``eie.sim.ccu``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from eie.formats.eie_matrix import EIEMatrix
from eie.sim.pe import ACTIONS, GLOBALS, PE_COUNTERS


@dataclass
class LoopParams:
    fifo_depth: int
    entries_per_line: int
    ptr_read_cycles: int
    batch_cols: int
    lnzd_latency: int
    load_cycles: int
    dst_rf_entries: int
    bypass: bool
    lnzd_group: int = 1
    lnzd_bubble: int = 0
    bias_col: int = -1  # the bias column (the last column), or -1
    acc_bits: int = 64  # 64: exact; fewer: products rounded (>> acc_shift), saturating
    acc_shift: int = 0


@dataclass
class LoopCounters:
    acc: npt.NDArray[np.int64]  # (rows,)
    pe_counters: npt.NDArray[np.int64]  # (num_pes, len(PE_COUNTERS))
    fifo_hist: npt.NDArray[np.int64]  # (fifo_depth + 1,)
    actions: npt.NDArray[np.int64]  # (len(ACTIONS),)
    globals: npt.NDArray[np.int64]  # (len(GLOBALS),)


@dataclass
class _PE:
    fifo: list[int] = field(default_factory=list)
    cur: int = 0
    end: int = 0
    base: int = 0
    row: int = -1
    busy_until: int = 0
    xval: int = 0
    last_real_cycle: int = -2
    last_row: int = -1
    line: int = -1
    open: bool = False
    bias: bool = False


_A = {name: i for i, name in enumerate(ACTIONS)}
_C = {name: i for i, name in enumerate(PE_COUNTERS)}


def run_loop(m: EIEMatrix, x_q: npt.NDArray[np.int16], weight_q: npt.NDArray[np.int16],
             p: LoopParams, bias_acc: npt.NDArray[np.int64] | None = None,
             acc0: npt.NDArray[np.int64] | None = None) -> LoopCounters:
    """One layer, cycle by cycle (see the C++ twin for the commented version)."""
    n, cols = m.num_pes, m.cols
    acc = [0] * m.rows if acc0 is None else [int(v) for v in acc0]
    exact = p.acc_bits == 64
    acc_max = (1 << (p.acc_bits - 1)) - 1
    half = 0 if exact or p.acc_shift == 0 else 1 << (p.acc_shift - 1)
    out = LoopCounters(np.zeros(m.rows, np.int64), np.zeros((n, len(PE_COUNTERS)), np.int64),
                       np.zeros(p.fifo_depth + 1, np.int64), np.zeros(len(ACTIONS), np.int64),
                       np.zeros(len(GLOBALS), np.int64))
    act, cnt = out.actions, out.pe_counters
    codes = m.codes.tolist()
    rel = m.rel_index.tolist()
    x = [int(v) for v in x_q]
    wq = [int(v) for v in weight_q]
    has_bias = p.bias_col >= 0
    wcols = cols - 1 if has_bias else cols
    nz = [j for j in range(wcols) if x[j] != 0] + ([p.bias_col] if has_bias else [])
    nb = 1 if wcols == 0 else -(-wcols // p.batch_cols)
    batch_end = [sum(1 for j in nz if j < (cols if b + 1 == nb else (b + 1) * p.batch_cols))
                 for b in range(nb)]
    g_size = p.lnzd_group
    wgroups = -(-wcols // g_size)

    def group_of(j: int) -> int:
        return j // g_size if j < wcols else wgroups

    def ends_nonzero(g: int) -> bool:
        if g == wgroups:
            return g_size == 1
        last = g * g_size + g_size - 1
        return last < wcols and x[last] != 0

    def bubbles(g0: int, g1: int) -> int:
        return sum(p.lnzd_bubble for g in range(g0, g1) if not ends_nonzero(g))

    gap = [0] * len(nz)
    tail = [0] * nb
    i = 0
    for b in range(nb):
        g_prev = b * p.batch_cols // g_size
        g_end = (wgroups + 1 if has_bias else wgroups) if b + 1 == nb \
            else (b + 1) * p.batch_cols // g_size
        while i < batch_end[b]:
            g = group_of(nz[i])
            gap[i] = bubbles(g_prev, g)
            g_prev = g
            i += 1
        tail[b] = bubbles(g_prev, g_end)
    multi = nb > 1
    overhead = p.lnzd_latency + (p.load_cycles if multi else 0)

    def batch_size(b: int) -> int:
        return min(wcols, (b + 1) * p.batch_cols) - b * p.batch_cols

    def batch_ready(b: int, t0: int) -> int:
        first = 0 if b == 0 else batch_end[b - 1]
        if first < batch_end[b]:
            return t0 + overhead + gap[first]
        return t0 + overhead + max(tail[b] - 1, 0)

    pes = [_PE(base=int(m.pe_offset[k])) for k in range(n)]
    ccu_batch, ccu_ready, nzi, outstanding = 0, batch_ready(0, 0), 0, 0
    if multi:
        act[_A["act_sram", "read"]] += batch_size(0)
    t = 0
    while not (ccu_batch >= nb and outstanding == 0):
        any_full = False
        for k, s in enumerate(pes):
            out.fifo_hist[len(s.fifo) + s.open] += 1
            if p.fifo_depth > 1:
                any_full |= len(s.fifo) >= p.fifo_depth - 1
            else:
                any_full |= s.open or len(s.fifo) > 0
            if s.cur == s.end:
                if s.open:
                    cnt[k, _C["busy"]] += 1
                elif not s.fifo:
                    cnt[k, _C["starved"]] += 1
                    continue
                else:
                    col = s.fifo.pop(0)
                    act[_A["act_queue", "pop"]] += 1
                    act[_A["ptr_sram", "read"]] += 2
                    cnt[k, _C["columns"]] += 1
                    s.cur = s.base + int(m.col_ptr[k, col])
                    s.end = s.base + int(m.col_ptr[k, col + 1])
                    s.row, s.xval, s.bias = -1, x[col], col == p.bias_col
                    s.busy_until = t + p.ptr_read_cycles
                    s.open = True
                    if s.cur == s.end:
                        cnt[k, _C["busy"]] += 1
            if s.cur < s.end:
                code = codes[s.cur]
                r = s.row + rel[s.cur] + 1
                same_acc = code != 0 and s.last_real_cycle == t - 1 and s.last_row == r
                if same_acc and not p.bypass:
                    cnt[k, _C["blocked"]] += 1
                else:
                    line = (s.cur - s.base) // p.entries_per_line
                    if line != s.line:
                        act[_A["spmat_sram", "read_line"]] += 1
                        s.line = line
                    s.row = r
                    s.cur += 1
                    cnt[k, _C["busy"]] += 1
                    if code == 0:
                        cnt[k, _C["filler_entries"]] += 1
                    else:
                        cnt[k, _C["real_entries"]] += 1
                        act[_A["codebook", "lookup"]] += 1
                        act[_A["arith", "mac"]] += 1
                        g = r * n + k
                        if s.bias:
                            assert bias_acc is not None
                            add = int(bias_acc[g])
                        elif exact:
                            add = wq[code] * s.xval
                        else:
                            add = (wq[code] * s.xval + half) >> p.acc_shift
                        acc[g] += add
                        if not exact:
                            acc[g] = max(-acc_max - 1, min(acc_max, acc[g]))
                        where = "dst_regfile" if r < p.dst_rf_entries else "act_sram"
                        if same_acc:
                            act[_A["arith", "bypass"]] += 1
                        else:
                            act[_A[where, "read"]] += 1
                        act[_A[where, "write"]] += 1
                        s.last_real_cycle, s.last_row = t, r
            if s.open and s.cur == s.end and t + 1 >= s.busy_until:
                s.open = False
                outstanding -= 1
        if ccu_batch < nb and t >= ccu_ready:
            next_batch = False
            if nzi < batch_end[ccu_batch]:
                if any_full:
                    out.globals[GLOBALS.index("ccu_stall_cycles")] += 1
                else:
                    col = nz[nzi]
                    nzi += 1
                    for s in pes:
                        s.fifo.append(col)
                    outstanding += n
                    act[_A["ccu", "broadcast"]] += 1
                    act[_A["src_regfile", "read"]] += 1
                    act[_A["act_queue", "push"]] += n
                    if nzi < batch_end[ccu_batch]:
                        ccu_ready = t + 1 + gap[nzi]
                    elif tail[ccu_batch] > 0:
                        ccu_ready = t + tail[ccu_batch]
                    else:
                        next_batch = True
            else:
                next_batch = True
            if next_batch:
                ccu_batch += 1
                if ccu_batch < nb:
                    ccu_ready = batch_ready(ccu_batch, t + 1)
                    act[_A["act_sram", "read"]] += batch_size(ccu_batch)
        t += 1
    out.acc[:] = acc
    out.globals[GLOBALS.index("loop_cycles")] = t
    out.globals[GLOBALS.index("batches")] = nb
    return out
