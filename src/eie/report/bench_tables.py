"""Every benchmark's table laid out from its records: ``eie bench`` (text and Markdown), the
engine's goal cases, sweep, overheads, encoder and threads (Markdown, as in
``docs/benchmarks.md``), the colrow / rowwise comparison, the simulator's speed, and the LeNet /
k-means benchmarks' lines.

The records come from ``eie.bench`` (``engine_cases``, ``goals``, ``colrow`` and the others);
nothing here measures. Ratios are baseline over eie (above 1: eie is faster).

>>> from eie.bench.goals import ThreadsRow
>>> print(threads_table([ThreadsRow("alex6 b1", 900.0, 500.0)]))
| case | 1 thread wall µs | 2 threads wall µs | 2 / 1 |
|---|---|---|---|
| alex6 b1 | 900 | 500 | 0.56 |
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from eie.bench.goals import OVERHEAD_KERNEL, EncoderRow, GoalRow, SweepRow, ThreadsRow

if TYPE_CHECKING:
    from eie.bench.engine_cases import Record
    from eie.bench.kmeans import KMeansTiming


def _ratio(r: Record, k: str) -> str:
    v = r.baselines_us.get(k)
    return f"{v / r.eie_us:.1f}" if v else "-"


def cpu_ratio(r: Record, k: str) -> str:
    """A baseline's thread CPU time over eie's (1 thread: each side's whole CPU cost)."""
    v = r.baselines_cpu_us.get(k)
    return f"{v / r.eie_cpu_us:.1f}" if v and r.eie_cpu_us > 0 else "-"


ENGINE_HEADER = (f"{'case':<18}{'shape':>12}{'w%':>6}{'a%':>5}{'lay':>4}{'eie us':>9}"
                 f"{'np us':>9}{'x np':>7}{'x tf32':>7}{'x tbf16':>8}{'x csr':>7}{'x tcsr':>7}"
                 f"{'GB/s':>7}{'ent/ns':>7}{'x bound':>8}{'cpu us':>9}{'isa':>7}")
"""``engine_row``'s column heads (``eie bench`` prints them once, then a row per case)."""


def engine_row(r: Record) -> str:
    """One fixed-width line of ``eie bench``'s table."""
    np_us = r.baselines_us.get("numpy_fp32")
    return (f"{r.name:<18}{f'{r.rows}x{r.cols}':>12}{100 * r.weight_density:>6.0f}"
            f"{100 * r.act_density:>5.0f}{r.layout[0]:>4}{r.eie_us:>9.0f}"
            f"{(np_us or 0):>9.0f}{_ratio(r, 'numpy_fp32'):>7}{_ratio(r, 'torch_fp32'):>7}"
            f"{_ratio(r, 'torch_bf16'):>8}{_ratio(r, 'scipy_csr'):>7}{_ratio(r, 'torch_csr'):>7}"
            f"{r.eie_gbps:>7.1f}{r.eie_entries_per_ns:>7.2f}"
            f"{r.eie_us / max(r.memory_bound_us, 1e-9):>8.1f}{r.eie_cpu_us:>9.0f}{r.isa:>7}")


def engine_table(records: Sequence[Record]) -> str:
    """A fixed-width text table: times, speed-ups over each baseline, bandwidth, entries/ns."""
    return "\n".join([ENGINE_HEADER, "-" * len(ENGINE_HEADER), *map(engine_row, records)])


def engine_markdown(records: Sequence[Record]) -> str:
    """``eie bench --markdown``: times in microseconds, speed-ups over each baseline."""
    head = ("| case | shape | w % | a % | layout | eie µs | numpy µs | × numpy | × torch fp32 "
            "| × torch bf16 | × scipy CSR | × torch CSR | GB/s | entries/ns | × memory bound "
            "| eie CPU µs | × torch bf16 (CPU) | ISA |")
    lines = [head, "|" + "---|" * 18]
    for r in records:
        lines.append(
            f"| {r.name} | {r.rows}x{r.cols} | {100 * r.weight_density:g} | "
            f"{100 * r.act_density:g} | {r.layout} | {r.eie_us:.0f} | "
            f"{r.baselines_us.get('numpy_fp32') or 0:.0f} | {_ratio(r, 'numpy_fp32')} | "
            f"{_ratio(r, 'torch_fp32')} | {_ratio(r, 'torch_bf16')} | {_ratio(r, 'scipy_csr')} | "
            f"{_ratio(r, 'torch_csr')} | {r.eie_gbps:.1f} | {r.eie_entries_per_ns:.2f} | "
            f"{r.eie_us / max(r.memory_bound_us, 1e-9):.1f} | {r.eie_cpu_us:.0f} | "
            f"{cpu_ratio(r, 'torch_bf16')} | {r.isa} |")
    return "\n".join(lines)


GOAL_HEADER = ("| case | eie layout | eie µs (CPU µs) | peers µs (CPU µs) | × best peer (CPU) |\n"
               "|---|---|---|---|---|")


def goal_row(r: GoalRow) -> str:
    """One goal case: eie, each peer, and the best peer (least CPU time) over eie."""
    peers = [k for k in r.wall_us if k != "eie"]
    best = min(peers, key=lambda k: r.cpu_us[k])
    return (f"| {r.name} | {r.layout} | {r.wall_us['eie']:.0f} ({r.cpu_us['eie']:.0f}) | "
            + ", ".join(f"{k} {r.wall_us[k]:.0f} ({r.cpu_us[k]:.0f})" for k in peers)
            + f" | {r.wall_us[best] / r.wall_us['eie']:.2f} "
              f"({r.cpu_us[best] / r.cpu_us['eie']:.2f}) vs {best} |")


SWEEP_HEADER = ("| weights % | eie layout | eie CPU µs | numpy fp32 CPU µs | torch bf16 CPU µs "
                "| × numpy | × torch bf16 |\n|---|---|---|---|---|---|---|")


def sweep_row(r: SweepRow) -> str:
    c = r.cpu_us
    return (f"| {100 * r.weight_density:g} | {r.layout} | {c['eie']:.0f} | "
            f"{c['numpy_fp32']:.0f} | {c['torch_bf16']:.0f} | {c['numpy_fp32'] / c['eie']:.1f} | "
            f"{c['torch_bf16'] / c['eie']:.1f} |")


def overhead_table(cpu_us: dict[str, float]) -> str:
    """Each call's CPU time and what it adds over the bare kernel call."""
    k = cpu_us[OVERHEAD_KERNEL]
    lines = ["| call | CPU µs | over the kernel µs |", "|---|---|---|"]
    return "\n".join(lines + [f"| {n} | {v:.2f} | {v - k:.2f} |" for n, v in cpu_us.items()])


ENCODER_HEADER = ("| shape | weights % | from_codes Mw/s | CPU layout from the entries Mw/s "
                  "| with_num_pes(32) Mw/s |\n|---|---|---|---|---|")


def encoder_row(r: EncoderRow) -> str:
    return (f"| {r.rows}x{r.cols} | {100 * r.weight_density:g} | {r.from_codes_mwps:.0f} | "
            f"{r.layout_mwps:.0f} | {r.with_num_pes_mwps:.0f} |")


THREADS_HEADER = "| case | 1 thread wall µs | 2 threads wall µs | 2 / 1 |\n|---|---|---|---|"


def threads_row(r: ThreadsRow) -> str:
    return f"| {r.name} | {r.wall_1_us:.0f} | {r.wall_2_us:.0f} | {r.wall_2_us / r.wall_1_us:.2f} |"


def threads_table(rows: Sequence[ThreadsRow]) -> str:
    return "\n".join([THREADS_HEADER, *map(threads_row, rows)])


def colrow_line(r: dict[str, Any]) -> str:
    """One ``eie.bench.colrow.run_case`` record: rowwise against colrow, thread CPU time."""
    return (f"{r['rows']:>5}x{r['cols']:<5} b{r['batch']:<2} zeros {r['sparsity']:4.2f}  rowwise "
            f"{r['rowwise_cpu_us']:8.1f} us  colrow {r['colrow_cpu_us']:8.1f} us"
            f"  speed-up {r['speedup_cpu']:5.2f}x (thread CPU; wall "
            f"{r['rowwise_wall_us']:.1f} / {r['colrow_wall_us']:.1f})")


def colrow_pruned_line(c: dict[str, Any]) -> str:
    """One ``eie.bench.colrow.run_pruned`` record: row codebooks in the sparse layout."""
    return (f"{c['rows']:>5}x{c['cols']:<5} {c['weight_density']:.0%} weights b{c['batch']}"
            f" {c['nonzero_inputs']:.0%} inputs: shared sparse "
            f"{c['shared_sparse_cpu_us']:.0f} us, per-row sparse "
            f"{c['row_sparse_cpu_us']:.0f} us, rowwise {c['rowwise_cpu_us']:.0f} us")


def sim_speed_table(rows: Sequence[dict[str, Any]]) -> str:
    """``eie.bench.sim_speed.measure_suite``'s rows, then the totals in PE-cycles per second."""
    lines = [f"{'layer':8s} {'cycles':>8s} {'latency us':>10s} {'PE-cycles':>10s} "
             f"{'loop ms':>8s} {'simulate ms':>11s}"]
    lines += [f"{r['name']:8s} {r['cycles']:8d} {r['latency_us']:10.2f} {r['pe_cycles']:10d} "
              f"{r['loop_s'] * 1e3:8.1f} {r['simulate_s'] * 1e3:11.1f}" for r in rows]
    pec = sum(int(r["pe_cycles"]) for r in rows)
    loop = sum(float(r["loop_s"]) for r in rows)
    sim = sum(float(r["simulate_s"]) for r in rows)
    cpu = sum(float(r["loop_cpu_s"]) for r in rows)
    lines.append(f"total: {pec:,} PE-cycles; loop {loop:.3f} s wall ({pec / loop / 1e6:.1f} M "
                 f"PE-cycles/s), {cpu:.3f} s thread CPU ({pec / cpu / 1e6:.1f} M PE-cycles/s); "
                 f"simulate() {sim:.3f} s wall ({pec / sim / 1e6:.1f} M PE-cycles/s)")
    return "\n".join(lines)


def sim_cli_lines(runs: dict[str, list[tuple[float, float]]]) -> str:
    """``eie.bench.sim_speed.measure_cli``'s (wall s, CPU s) runs: medians and minima, and
    baseline over this where a baseline ran."""
    def median(v: list[float]) -> float:
        s = sorted(v)
        return (s[(len(s) - 1) // 2] + s[len(s) // 2]) / 2

    lines = []
    for name, rs in runs.items():
        walls, cpus = [w for w, _ in rs], [c for _, c in rs]
        lines.append(f"{name:8s} wall median {median(walls):.2f} s (min {min(walls):.2f}), "
                     f"CPU median {median(cpus):.2f} s (min {min(cpus):.2f})")
    if "baseline" in runs:
        b, t = runs["baseline"], runs["this"]
        wall = median([w for w, _ in b]) / median([w for w, _ in t])
        cpu = median([c for _, c in b]) / median([c for _, c in t])
        lines.append(f"baseline / this: wall {wall:.2f}x, CPU {cpu:.2f}x")
    return "\n".join(lines)


def kmeans_lines(records: Sequence[KMeansTiming]) -> str:
    """One line per k-means timing (``python -m eie.cli.bench_scripts kmeans``)."""
    lines = []
    for r in records:
        what = f"lloyd  init={r.init:9s}" if r.init is not None else "exact  (DP)         "
        its = f", {r.iterations} iterations" if r.iterations is not None else ""
        lines.append(f"{what} n={r.n:,} k={r.k}: {r.wall_s:6.2f} s wall, {r.cpu_s:6.2f} s CPU"
                     f"{its}, SSE {r.sse:.6e}")
    return "\n".join(lines)


def lenet300_line(r: dict[str, Any]) -> str:
    """``eie.bench.lenet300.run_lenet300``'s result in one line."""
    t = r["per_image_us"]
    parts = [f"{k} {v:.1f} us" for k, v in t.items()]
    ratios = [f"{k}/eie {v / t['eie']:.2f}x" for k, v in t.items() if k != "eie"]
    layers = ", ".join(f"{k} {v:.1f}" for k, v in r["eie_layers_us"].items())
    return (f"lenet300 (bits {r['bits']}, layouts {r['kinds']}, threads "
            f"{r['threads'] or 'default'}), per image: " + ", ".join(parts) + "; "
            + ", ".join(ratios) + f"; eie layers (us): {layers}")


def lenet5_line(r: dict[str, Any]) -> str:
    """``eie.bench.lenet5.run``'s result in one line."""
    w, c = r["per_image_wall_us"], r["per_image_cpu_us"]
    rows = ", ".join(f"{k} {w[k]:.1f} us wall / {c[k]:.1f} us CPU" for k in w)
    return (f"lenet5 {r['file']} (layouts {r['kinds']}, threads {r['threads'] or 'default'}), "
            f"per image: {rows}; torch_fp32/eie {r['torch_over_eie']:.2f}x, "
            f"direct/im2col {r['direct_over_im2col']:.2f}x; weights {r['weights_bytes_layout']:,}"
            f" B in the CPU layouts ({r['weights_bytes_file']:,} B stored), memory floor "
            f"{r['memory_floor_us']:.2f} us at {r['bandwidth_gbs']:.1f} GB/s: eie is "
            f"{r['eie_over_floor']:.0f}x the floor")
