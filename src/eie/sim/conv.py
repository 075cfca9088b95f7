"""A convolution on the EIE accelerator: one matrix-vector product per output pixel.

EIE multiplies a sparse matrix by a vector. A ``conv2d`` layer stored as its
``(out, C * kh * kw)`` codebook matrix maps onto it as the accelerator's successors describe
(the weights stay in the PEs' sparse-matrix SRAM for the whole layer; the input is streamed
pixel by pixel): for each output pixel, its ``C * kh * kw`` input patch (im2col, the same order as
the matrix columns) is staged in the activation SRAM as the source vector, the CCU broadcasts its
nonzeros, and the PEs' destination registers hold that pixel's ``out`` channels, written back as
one column of the next layer's input. Overlapping patches are staged again for every pixel
(no reuse across pixels is modelled, an upper bound on activation traffic).

``simulate_conv(layer, x, config, fmt)`` runs every pixel through the public ``simulate`` entry
point with one fixed-point format and sums cycles, energy and PE-cycle classes; the output is the
``(out, Ho, Wo)`` fixed-point result as floats.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from eie.engine.conv import geometry, im2col
from eie.engine.fixed_point import FixedPointFormat
from eie.errors import EngineError
from eie.formats.model import Layer
from eie.sim.config import HardwareConfig
from eie.sim.energy import EnergyTable
from eie.sim.simulate import fit_matrix, simulate

STAGING = ("one matrix-vector product per output pixel: each pixel's C*kh*kw input patch "
           "(im2col) is the source vector; the weights stay in the sparse-matrix SRAM")


@dataclass(frozen=True)
class ConvSimResult:
    name: str
    shape: tuple[int, int]
    """(rows, cols) of the layer's matrix."""
    out_shape: tuple[int, int, int]
    """(out, Ho, Wo)."""
    config: HardwareConfig
    fmt: FixedPointFormat
    output: npt.NDArray[np.float32]
    """(out, Ho, Wo) fixed-point outputs as floats."""
    cycles: int
    loop_cycles: int
    energy_pj: float
    pe_busy_cycles: int
    pe_cycles: int
    real_entries: int
    activation: str | None

    @property
    def pixels(self) -> int:
        return self.out_shape[1] * self.out_shape[2]

    @property
    def latency_us(self) -> float:
        return self.cycles / self.config.clock_mhz

    @property
    def load_efficiency(self) -> float:
        return self.pe_busy_cycles / self.pe_cycles if self.pe_cycles else 1.0

    def to_json(self) -> dict[str, Any]:
        rows, cols = self.shape
        lat = self.latency_us
        return {
            "name": self.name, "kind": "conv2d", "shape": [rows, cols],
            "output_shape": list(self.out_shape), "pixels": self.pixels,
            "cycles": self.cycles, "loop_cycles": self.loop_cycles, "latency_us": lat,
            "load_efficiency": self.load_efficiency,
            "real_work_fraction": (self.real_entries / self.pe_busy_cycles
                                   if self.pe_busy_cycles else 1.0),
            "energy_pj": self.energy_pj, "energy_uj": self.energy_pj * 1e-6,
            "macs": self.real_entries,
            "gops": 2.0 * self.real_entries / (lat * 1e3) if lat else 0.0,
            "dense_gops": 2.0 * rows * cols * self.pixels / (lat * 1e3) if lat else 0.0,
            "pe_cycles": self.pe_cycles, "pe_busy_cycles": self.pe_busy_cycles,
            "fixed_point": {"act_frac_bits": self.fmt.act_frac_bits,
                            "weight_frac_bits": self.fmt.weight_frac_bits},
            "activation": self.activation, "activation_staging": STAGING,
            "config": self.config.to_json(),
        }


def simulate_conv(layer: Layer, x: npt.ArrayLike, config: HardwareConfig,
                  fmt: FixedPointFormat, energy_table: EnergyTable | None = None
                  ) -> ConvSimResult:
    """Simulate a ``conv2d`` layer on one ``(C, H, W)`` input (see the module docstring)."""
    geo = geometry(layer.attrs, layer.name)
    xa = np.asarray(x, np.float32)
    out, c, kh, kw = geo["weight_shape"]
    if xa.ndim != 3 or xa.shape[0] != c:
        raise EngineError(f"layer {layer.name!r} expects a ({c}, H, W) input, found {xa.shape}")
    patches = im2col(xa[None], (kh, kw), geo["stride"], geo["padding"], geo["dilation"])
    m = fit_matrix(layer.matrix, config)  # re-laid once, not per pixel
    outs = np.empty((len(patches), out), np.float32)
    cycles = loop = busy = pe_cycles = real = 0
    energy = 0.0
    for p, patch in enumerate(patches):
        r = simulate(m, patch, layer.bias, config, activation=layer.activation, fmt=fmt,
                     energy_table=energy_table, name=layer.name)
        outs[p] = r.output
        cycles += r.cycles
        loop += r.loop_cycles
        energy += r.energy_pj
        busy += int(r.pe_busy.sum())
        pe_cycles += r.pe_cycles
        real += r.macs
    ho, wo = _out_hw(xa.shape, geo)
    y = np.ascontiguousarray(outs.reshape(ho, wo, out).transpose(2, 0, 1))
    return ConvSimResult(layer.name, (out, c * kh * kw), (out, ho, wo), config, fmt, y,
                         cycles, loop, energy, busy, pe_cycles, real, layer.activation)


def _out_hw(shape: tuple[int, ...], geo: dict[str, Any]) -> tuple[int, int]:
    from eie.engine.conv import conv_output_size

    _, _, kh, kw = geo["weight_shape"]
    return (conv_output_size(shape[1], kh, geo["stride"][0], geo["padding"][0],
                             geo["dilation"][0]),
            conv_output_size(shape[2], kw, geo["stride"][1], geo["padding"][1],
                             geo["dilation"][1]))
