"""One timing harness, one machine record and the benchmark layers, for every speed figure.

- ``eie.bench.timing``: contenders timed in interleaved, rotated blocks, wall and calling-thread
  CPU time (``interleaved``), and the same thread count for numpy, scipy and torch
  (``thread_limits``);
- ``eie.bench.machine``: what the figures were measured on (CPU, cores, ISA, BLAS).

Library code only: no argparse, no printing; the CLI and the experiments lay results out.
Needs numpy and the core; torch is used when installed.
"""

from eie.bench.machine import cpu_name, machine
from eie.bench.timing import Timing, interleaved, interleaved_medians, median_us, thread_limits

__all__ = ["Timing", "cpu_name", "interleaved", "interleaved_medians", "machine", "median_us",
           "thread_limits"]
