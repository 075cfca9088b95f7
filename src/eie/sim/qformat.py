"""Per-layer fixed-point formats: each layer's Q format chosen from its own data's ranges.

The shared ``eie.engine.fixed_point.FixedPointFormat`` gives one activation format to every layer
and caps the codebook's fraction bits at 15 (a codebook whose largest entry is 0.06 could use
19 and still fit 16 bits). ``LayerFormat`` is one layer's formats: the input activations'
(``in_frac_bits``, the previous layer's output format), the codebook's (``weight_frac_bits``,
up to 30: 16-bit signed values with as many fraction bits as the largest entry allows), the
output's (``out_frac_bits``, from the range of the float output and the bias); the bias is held
at the accumulator's scale (``in + weight`` fraction bits) in a 64-bit accumulator, or at the
output's scale in a narrower one (``HardwareConfig.acc_bits``). Rounding is half up and every
narrowing saturates, as in ``FixedPointFormat``.

>>> f = LayerFormat(in_frac_bits=12, weight_frac_bits=19, out_frac_bits=10)
>>> f.acc_frac_bits, f.shift, int(f.quantize_weights(np.array([0.06]))[0])
(31, 21, 31457)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from eie.engine.fixed_point import INT16_MAX, INT16_MIN, quantize
from eie.errors import ConfigError

MAX_WEIGHT_FRAC_BITS = 30
"""Codebook fraction bits: products of two 16-bit values then have at most 45 fraction bits."""


@dataclass(frozen=True)
class LayerFormat:
    """One layer's fixed-point formats (fraction bits of 16-bit values)."""

    in_frac_bits: int
    weight_frac_bits: int
    out_frac_bits: int

    def __post_init__(self) -> None:
        for name, hi in (("in_frac_bits", 15), ("weight_frac_bits", MAX_WEIGHT_FRAC_BITS),
                         ("out_frac_bits", 15)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= hi:
                raise ConfigError(f"{name} should be an integer in 0..{hi}, found {v!r}")
        if self.out_frac_bits > self.acc_frac_bits:
            raise ConfigError(f"out_frac_bits ({self.out_frac_bits}) should be at most the "
                              f"accumulator's {self.acc_frac_bits} fraction bits")

    @property
    def acc_frac_bits(self) -> int:
        return self.in_frac_bits + self.weight_frac_bits

    @property
    def shift(self) -> int:
        """Right shift from the accumulator's scale to the output's."""
        return self.acc_frac_bits - self.out_frac_bits

    @property
    def act_frac_bits(self) -> int:
        """The output's fraction bits (what ``SimResult.output_q`` is in)."""
        return self.out_frac_bits

    def quantize_act(self, x: npt.ArrayLike) -> npt.NDArray[np.int16]:
        return quantize(x, self.in_frac_bits)

    def quantize_weights(self, w: npt.ArrayLike) -> npt.NDArray[np.int16]:
        return quantize(w, self.weight_frac_bits)

    def quantize_bias(self, b: npt.ArrayLike, acc_bits: int = 64) -> npt.NDArray[np.int64]:
        """The bias at the accumulator's scale (64-bit) or, for a narrower accumulator, at the
        output's scale, saturated to ``acc_bits``."""
        frac = self.acc_frac_bits if acc_bits == 64 else self.out_frac_bits
        v = np.floor(np.asarray(b, np.float64) * 2.0 ** frac + 0.5)
        lim = 2.0 ** 62 if acc_bits == 64 else 2.0 ** (acc_bits - 1)
        return np.clip(v, -lim, lim - 1).astype(np.int64)

    def dequantize_act(self, q: npt.ArrayLike) -> npt.NDArray[np.float32]:
        return (np.asarray(q, np.float64) / 2.0 ** self.out_frac_bits).astype(np.float32)

    def narrow(self, acc: npt.NDArray[np.int64], relu: bool, acc_bits: int = 64
               ) -> npt.NDArray[np.int16]:
        """Accumulators -> 16-bit outputs: shift (64-bit accumulators only; narrower ones hold
        the output's scale already), round half up, saturate, optional ReLU."""
        out = acc
        if acc_bits == 64 and self.shift > 0:
            out = (acc + (1 << (self.shift - 1))) >> self.shift
        out = np.clip(out, INT16_MIN, INT16_MAX)
        if relu:
            out = np.maximum(out, 0)
        return out.astype(np.int16)

    def to_json(self) -> dict[str, int]:
        return {"in_frac_bits": self.in_frac_bits, "weight_frac_bits": self.weight_frac_bits,
                "out_frac_bits": self.out_frac_bits}


def frac_bits_for(max_abs: float, limit: int = 15) -> int:
    """Most fraction bits (0..limit) with which a signed 16-bit value still holds ``max_abs``.

    >>> frac_bits_for(0.06, 30), frac_bits_for(1.0), frac_bits_for(3.9), frac_bits_for(0.0)
    (19, 14, 13, 15)
    """
    if not np.isfinite(max_abs) or max_abs <= 0:
        return limit
    # v * 2**f <= 32767  <=>  f <= log2(32767 / v)
    f = int(np.floor(np.log2(INT16_MAX / (max_abs * 1.0001))))
    return int(np.clip(f, 0, limit))


def choose(max_in: float, max_weight: float, max_out: float) -> LayerFormat:
    """The format with the most fraction bits for each range (input, codebook, output and bias)."""
    wf = frac_bits_for(max_weight, MAX_WEIGHT_FRAC_BITS)
    inf = frac_bits_for(max_in)
    return LayerFormat(inf, wf, min(frac_bits_for(max_out), inf + wf))
