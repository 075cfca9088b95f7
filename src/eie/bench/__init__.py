"""One timing harness and one machine record, for every speed figure.

- ``eie.bench.timing``: contenders timed in interleaved, rotated blocks, wall and calling-thread
  CPU time (``interleaved``), the best of a few long calls (``best_of``), and the same thread
  count for numpy, scipy and torch (``thread_limits``);
- ``eie.bench.machine``: what the figures were measured on (CPU, cores, ISA, BLAS);
- ``eie.bench.memory``: the memory bandwidth measured in the same process (memory floors);
- the CPU engine's cases: ``engine_cases`` (``eie bench``), ``goals`` (its goal cases against
  their peers), ``colrow`` (zero-input skipping on per-row-codebook layers) and ``tune`` (what
  ``eie bench --tune`` measures for ``eie.engine.tuning``'s table);
- benchmarks on these: ``lenet300`` (``eie bench --groups lenet300``), ``lenet5``, ``kmeans``
  and ``sim_speed`` (``python -m eie.cli.bench_scripts``); the layers they and the simulator
  run, ``eie.formats.benchmark_layers``.

Library code only: no argparse, no printing; ``eie.report.bench_tables`` lays the results out
and the CLI prints them.
Needs numpy and the core; torch is used when installed.
"""

from eie.bench.machine import cpu_name, machine
from eie.bench.timing import Timing, interleaved, interleaved_medians, median_us, thread_limits

__all__ = ["Timing", "cpu_name", "interleaved", "interleaved_medians", "machine", "median_us",
           "thread_limits"]
