"""Huffman stream decoding: the C++ table-driven decoder against the reference, speed and peak
memory (a benchmark, not a test; docs/format.md records its output).

    .venv/bin/python tests/formats/bench_huffman.py [--ref-mib 1] [--big-mib 64] [--repeat 2]

The stream is the code stream of a 4-bit layer (16 symbols, geometric frequencies, about 2 bits
per symbol) in one canonical code. Speed: both decoders on the same ``--ref-mib`` stream in
interleaved blocks in this process (``eie.bench.timing.interleaved``: medians, rotated blocks,
warm-up calls dropped), wall time and thread CPU time side by side, and their ratio; then the C++
decoder alone on a ``--big-mib`` stream. Memory: each decoder in a fresh child process, its peak
RSS growth during one decode, per stream byte.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import numpy as np

from eie.bench.timing import interleaved
from eie.formats.huffman import HuffmanCode


def make_stream(mib: float, seed: int = 0) -> tuple[HuffmanCode, np.ndarray, int, int]:
    """(code, bytes, nbits, count) of a stream of about ``mib`` MiB."""
    rng = np.random.default_rng(seed)
    p = 0.5 ** np.arange(1, 17)
    p /= p.sum()
    values = rng.choice(16, size=200_000, p=p)
    code = HuffmanCode.from_values(values, 16)
    data, nbits = code.encode(values)
    # Eight copies at bit level end on a byte boundary; that block is then repeated bytewise.
    bits = np.tile(np.unpackbits(data)[:nbits], 8)
    block = np.packbits(bits)
    reps = max(1, round(mib * (1 << 20) / block.size))
    return code, np.tile(block, reps), nbits * 8 * reps, len(values) * 8 * reps


CHILD = """
import json, sys
sys.path.insert(0, {path!r})
from bench_huffman import make_stream
def kib(field):
    for line in open('/proc/self/status'):
        if line.startswith(field + ':'):
            return int(line.split()[1]) * 1024
code, data, nbits, count = make_stream({mib})
fn = code.decode_fast if {fast} else code.decode
fn(data[:64], 64, 8)   # warm: the core and numpy paths loaded
with open('/proc/self/clear_refs', 'w') as f:
    f.write('5')       # resets VmHWM to the current RSS: the peak below is the decode's own
before = kib('VmRSS')
out = fn(data, nbits, count)
print(json.dumps({{"grow": kib('VmHWM') - before, "bytes": int(data.size),
                   "symbols": int(count)}}))
"""


def peak_growth(mib: float, fast: bool) -> tuple[int, int, int]:
    from pathlib import Path

    src = CHILD.format(path=str(Path(__file__).resolve().parent), mib=mib, fast=fast)
    r = subprocess.run([sys.executable, "-c", src], capture_output=True, text=True, check=True)
    res = json.loads(r.stdout)
    return res["grow"], res["bytes"], res["symbols"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref-mib", type=float, default=1.0)
    ap.add_argument("--big-mib", type=float, default=64.0)
    ap.add_argument("--repeat", type=int, default=2, help="calls per contender per round")
    a = ap.parse_args()

    code, data, nbits, count = make_stream(a.ref_mib)
    mb = data.size / 1e6
    expect = code.decode_fast(data, nbits, count)
    assert np.array_equal(code.decode(data, nbits, count), expect)
    # interleaved, rotated blocks (eie.bench.timing): both see the same machine load
    t = interleaved({"reference": lambda: code.decode(data, nbits, count),
                     "C++ table": lambda: code.decode_fast(data, nbits, count)},
                    budget_s=0.0, min_reps=3 * a.repeat, max_reps=3 * a.repeat, rounds=3)
    print(f"stream: {data.size:,} bytes, {count:,} symbols ({nbits / count:.2f} bits/symbol); "
          f"medians of {t['reference'].calls} calls each, interleaved")
    print(f"{'decoder':<12} {'wall s':>9} {'cpu s':>9} {'MB/s wall':>10} {'MB/s cpu':>10} "
          f"{'Msym/s cpu':>11}")
    for name, tm in t.items():
        w, c = tm.wall_us / 1e6, tm.cpu_us / 1e6
        print(f"{name:<12} {w:9.4f} {c:9.4f} {mb / w:10.1f} {mb / c:10.1f} "
              f"{count / c / 1e6:11.1f}")
    rt, ft = t["reference"], t["C++ table"]
    print(f"speed-up C++ / reference: {rt.wall_us / ft.wall_us:.0f}x wall, "
          f"{rt.cpu_us / ft.cpu_us:.0f}x thread CPU")

    big_code, big, big_nbits, big_count = make_stream(a.big_mib, seed=1)
    bt = interleaved({"big": lambda: big_code.decode_fast(big, big_nbits, big_count)},
                     budget_s=0.0, min_reps=3 * a.repeat, max_reps=3 * a.repeat, rounds=1)["big"]
    print(f"C++ table on {big.size:,} bytes ({big_count:,} symbols): "
          f"{big.size / bt.wall_us:.1f} MB/s wall, {big.size / bt.cpu_us:.1f} MB/s thread CPU, "
          f"{big_count / bt.cpu_us:.1f} Msym/s thread CPU")

    print("peak RSS growth during one decode (fresh process each):")
    for name, mib, fast in (("reference", a.ref_mib, False), ("C++ table", a.ref_mib, True),
                            ("C++ table", a.big_mib, True)):
        grow, nbytes, nsym = peak_growth(mib, fast)
        print(f"  {name:<10} {nbytes:>12,} stream bytes: +{grow / 2**20:8.1f} MiB "
              f"= {grow / nbytes:6.1f} bytes per stream byte, {grow / nsym:6.2f} per symbol")


if __name__ == "__main__":
    main()
