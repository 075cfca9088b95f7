"""``HardwareConfig``: one frozen dataclass describing the simulated EIE chip (units in names).

Defaults are the paper's evaluated design: 64 PEs, 45 nm, 800 MHz, 8-deep activation FIFOs,
64-bit sparse-matrix SRAM lines holding 8 entries of (4-bit code, 4-bit relative index),
16-bit pointers in two banks, 64-entry source and destination register files, a 2 KB activation
SRAM per PE.

>>> cfg = HardwareConfig(num_pes=16, fifo_depth=4)
>>> cfg.entries_per_line, cfg.batch_cols
(8, 1024)
>>> HardwareConfig(num_pes=0)
Traceback (most recent call last):
...
eie.errors.ConfigError: num_pes should be an integer >= 1, found 0
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from eie._config import (
    Boolean,
    Integer,
    Loaded,
    Number,
    check_fields,
    field_rules,
    load,
    rule,
)
from eie._io import write_atomic
from eie.errors import ConfigError

CONFIG_TYPE = "eie.sim.HardwareConfig"
CONFIG_VERSION = 2
"""2: ``fifo_depth`` counts the column a PE works on; the bias column and the LNZD group bubble
exist. A version-1 mapping is read as the same hardware: ``fifo_depth + 1``, no bias column, no
bubble (``from_dict``)."""

# Each field declares its rule beside it (``eie._config``: Integer / Number / Boolean). The maxima
# keep every size a config implies (FIFO ring buffers, histograms, register files, LNZD trees,
# SRAM areas) in memory and in int64: far beyond any chip (the paper's is 64 PEs, FIFO 8), small
# enough that a hostile YAML file cannot make the simulator allocate gigabytes or overflow a count.
MAX_FIFO_SLOTS = 1 << 24
"""num_pes x fifo_depth: FIFO storage of 16 M column indices (128 MiB)."""
MAX_BATCH_COLS = 1 << 26
"""num_pes x act_regfile_entries: activations per input batch."""


@dataclass(frozen=True)
class HardwareConfig:
    """The simulated EIE accelerator. Unknown keys in ``from_dict``/YAML raise ``ConfigError``."""

    num_pes: int = field(default=64, metadata=rule(Integer(1, 4096)))
    """Processing elements; output row i lives on PE i % num_pes."""
    fifo_depth: int = field(default=8, metadata=rule(Integer(1, 65536)))
    """Activation FIFO entries per PE, counting the column the PE is working on: 8 is the paper's
    design point (the authors' simulator's buffer of 8), 1 is lockstep (no queue: a PE takes the
    next broadcast only once it holds no column)."""
    clock_mhz: float = field(default=800.0, metadata=rule(Number(0, 100_000.0)))
    """Clock frequency; latency_us = cycles / clock_mhz."""
    spmat_sram_width_bits: int = field(default=64, metadata=rule(Integer(1, 4096)))
    """Sparse-matrix SRAM line width; a line holds width // (weight_bits + index_bits) entries."""
    spmat_sram_kb: int = field(default=128, metadata=rule(Integer(1, 1 << 20)))
    """Sparse-matrix SRAM capacity per PE (KiB); scales its area."""
    ptr_banks: int = field(default=2, metadata=rule(Integer(1, 64)))  # 1 or 2: below
    """Pointer SRAM banks (1 or 2). Two single-ported banks (even / odd columns) deliver the start
    and end pointer in one cycle; one bank needs two cycles per column."""
    ptr_bits: int = field(default=16, metadata=rule(Integer(1, 64)))
    """Width of one column pointer."""
    ptr_sram_kb: int = field(default=32, metadata=rule(Integer(1, 1 << 20)))
    """Pointer SRAM capacity per PE (KiB); scales its area."""
    weight_bits: int = field(default=4, metadata=rule(Integer(1, 64)))  # <= 8: below, with why
    """Codebook index bits per entry."""
    index_bits: int = field(default=4, metadata=rule(Integer(1, 64)))
    """Relative row index bits per entry (zero runs longer than 2**index_bits - 1 need fillers)."""
    act_bits: int = field(default=16, metadata=rule(Integer(1, 64)))
    """Activation and decoded-weight width (16-bit fixed point)."""
    act_regfile_entries: int = field(default=64, metadata=rule(Integer(1, 1 << 16)))
    """Source and destination register-file entries per PE (64 x 64 PEs = 4K-long vectors)."""
    act_sram_bytes: int = field(default=2048, metadata=rule(Integer(1, 1 << 30)))
    """Activation SRAM per PE, holding vectors longer than the register files."""
    act_sram_width_bits: int = field(default=64, metadata=rule(Integer(1, 4096)))
    """Activation SRAM read width; sets how many cycles a register-file batch load takes."""
    codebook_entries: int = field(default=16, metadata=rule(Integer(1, 1 << 16)))  # see below
    """Codebook size (entry 0 is zero); at most 2**weight_bits."""
    arith_pipeline_stages: int = field(default=4, metadata=rule(Integer(1, 64)))
    """Arithmetic pipeline depth: lookup, read+multiply, shift+add, write."""
    arith_bypass: bool = field(default=True, metadata=rule(Boolean()))
    """Forward the adder output when the same accumulator is updated in consecutive cycles; when
    False, such an update waits one cycle."""
    lnzd_fanin: int = field(default=4, metadata=rule(Integer(1, 64)))
    """Inputs per leading-nonzero-detection node (a quadtree for 4)."""
    lnzd_group_bubble: int = field(default=1, metadata=rule(Integer(0, 1024)))
    """Cycles the LNZD loses leaving a group of ``num_pes`` activations (one register-file row)
    whose last activation is zero: 1 in the authors' detector; 0 skips zeros for free."""
    dram_gbps: float = field(default=12.8, metadata=rule(Number(0, 100_000.0)))
    """DRAM bandwidth (GB/s) for layers larger than the on-chip SRAM (``eie.sim.dram``): one
    64-bit DDR3-1600 channel, 1600 MT/s x 8 bytes (JEDEC JESD79-3)."""
    acc_bits: int = field(default=64, metadata=rule(Integer(16, 64)))
    """Accumulator width. 64 accumulates exactly (products at full precision); fewer bits (16:
    the paper's destination registers) round each product to the output's scale and saturate."""
    bias_column: bool = field(default=True, metadata=rule(Boolean()))
    """Broadcast the bias as one more column with activation 1.0 (the hardware's way: a broadcast,
    an entry per nonzero bias, their cycles and energy); False adds it to the accumulators free."""
    stream_pointers: bool = field(default=True, metadata=rule(Boolean()))
    """A layer with more column pointers per PE than ``ptr_sram_kb`` holds: True streams the
    pointers past the SRAM's capacity from DRAM for the columns broadcast (``eie.sim.dram``; the
    paper runs VGG-6, 25,089 pointers per PE, on its 32 KB pointer SRAM); False refuses it."""

    def __post_init__(self) -> None:
        check_fields(self)  # each field's declared rule, in field order
        # Rules across fields:
        for what, value, hi in (("num_pes x fifo_depth (FIFO slots)",
                                 self.num_pes * self.fifo_depth, MAX_FIFO_SLOTS),
                                ("num_pes x act_regfile_entries (batch_cols)",
                                 self.num_pes * self.act_regfile_entries, MAX_BATCH_COLS)):
            if value > hi:
                raise ConfigError(f"{what} should be at most {hi}, found {value}")
        if self.ptr_banks not in (1, 2):
            raise ConfigError(f"ptr_banks should be 1 or 2, found {self.ptr_banks}")
        if self.weight_bits > 8 or self.index_bits > 8:
            raise ConfigError(f"weight_bits and index_bits should be <= 8 (entries are bytes in "
                              f"the format), found {self.weight_bits} and {self.index_bits}")
        if self.weight_bits + self.index_bits > self.spmat_sram_width_bits:
            raise ConfigError(f"spmat_sram_width_bits ({self.spmat_sram_width_bits}) should hold "
                              f"at least one {self.weight_bits + self.index_bits}-bit entry")
        if self.codebook_entries < 2 or self.codebook_entries > 1 << self.weight_bits:
            raise ConfigError(f"codebook_entries should be in 2..{1 << self.weight_bits} for "
                              f"{self.weight_bits}-bit codes, found {self.codebook_entries}")
        if self.act_bits != 16:
            raise ConfigError(f"act_bits should be 16 (EIE's fixed-point datapath), "
                              f"found {self.act_bits}")
        if self.arith_pipeline_stages < 2:
            raise ConfigError("arith_pipeline_stages should be >= 2 (read and write stages)")
        if self.lnzd_fanin < 2:
            raise ConfigError(f"lnzd_fanin should be >= 2, found {self.lnzd_fanin}")

    # ------------------------------------------------------------------------- derived values
    @property
    def entry_bits(self) -> int:
        return self.weight_bits + self.index_bits

    @property
    def entries_per_line(self) -> int:
        """Entries per sparse-matrix SRAM line (8 for 64-bit lines of 8-bit entries)."""
        return self.spmat_sram_width_bits // self.entry_bits

    @property
    def ptr_read_cycles(self) -> int:
        """Cycles to fetch a column's start and end pointers (1 with even/odd banks)."""
        return 1 if self.ptr_banks == 2 else 2

    @property
    def batch_cols(self) -> int:
        """Input activations per batch: the source register files of all PEs."""
        return self.act_regfile_entries * self.num_pes

    @property
    def batch_load_cycles(self) -> int:
        """Cycles to fill one PE's source register file from the activation SRAM."""
        return -(-self.act_regfile_entries * self.act_bits // self.act_sram_width_bits)

    @property
    def cycle_ns(self) -> float:
        return 1000.0 / self.clock_mhz

    def replace(self, **changes: Any) -> HardwareConfig:
        """A copy with some fields changed (validated; unknown names raise ConfigError)."""
        return HardwareConfig.from_dict({**self.to_dict(), **changes})

    # ------------------------------------------------------------------------ serialization
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> dict[str, Any]:
        """With a type and version, for result files."""
        return {"type": CONFIG_TYPE, "version": CONFIG_VERSION, **self.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "hardware config"
                  ) -> HardwareConfig:
        """From a mapping of fields (``type`` and ``version`` optional); unknown keys raise
        ``ConfigError`` naming ``where`` (e.g. the file) and the key."""
        return cls.load_dict(data, where).value

    @classmethod
    def load_dict(cls, data: Mapping[str, Any], where: str = "hardware config"
                  ) -> Loaded[HardwareConfig]:
        """``from_dict`` with the fields the mapping set (a version-1 mapping also sets the
        fields whose meaning changed in version 2)."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: a hardware config should be a mapping of field: value, "
                              f"found {type(data).__name__}")
        d = dict(data)
        t = d.pop("type", CONFIG_TYPE)
        v = d.pop("version", CONFIG_VERSION)
        if t != CONFIG_TYPE:
            raise ConfigError(f"{where}: config type should be {CONFIG_TYPE!r}, found {t!r}")
        if v == 1:
            # Version 1 counted only the queue beside the column being worked on, added the bias
            # for free and had a detector without bubbles: the same hardware in version 2.
            fd = d.get("fifo_depth", 8)
            if isinstance(fd, int) and not isinstance(fd, bool):
                d["fifo_depth"] = fd + 1  # anything else is rejected below as it is
            d.setdefault("bias_column", False)
            d.setdefault("lnzd_group_bubble", 0)
        elif v != CONFIG_VERSION:
            raise ConfigError(f"{where}: config version should be 1 or {CONFIG_VERSION}, "
                              f"found {v!r}")
        return load(cls, d, where)


BOUNDS: dict[str, tuple[float, float]] = {
    name: (r.lo, r.hi) for name, r in field_rules(HardwareConfig).items()
    if isinstance(r, Integer | Number)}
"""Inclusive (minimum, maximum) of each numeric field (a number's minimum is exclusive)."""


def load_config(path: str | os.PathLike[str]) -> HardwareConfig:
    """Read a YAML mapping of ``HardwareConfig`` fields (missing fields keep their defaults)."""
    return read_config(path).value


def read_config(path: str | os.PathLike[str]) -> Loaded[HardwareConfig]:
    """``load_config`` with the fields the file set (``Loaded.keys``)."""
    from eie._config import read_mapping

    return HardwareConfig.load_dict(read_mapping(path, "hardware config"), where=str(path))


def save_config(config: HardwareConfig, path: str | os.PathLike[str]) -> None:
    """Write ``config`` as YAML with its type and version, atomically."""
    import yaml

    write_atomic(path, yaml.safe_dump(config.to_json(), sort_keys=False).encode())
