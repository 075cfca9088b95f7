"""EIE's 16-bit fixed-point arithmetic, the bit-exact spec shared by the reference engine and the
simulator.

Numbers are two's-complement integers with ``frac_bits`` fraction bits: value = q / 2**frac_bits.

- Quantize (float -> int16): ``q = floor(v * 2**frac + 0.5)`` (round half toward +inf), then
  saturate to [-2**15, 2**15 - 1].
- Activations use ``act_frac_bits``; decoded weights (the codebook) use ``weight_frac_bits``.
- Multiply: int16 x int16 -> exact product with ``act_frac_bits + weight_frac_bits`` fraction bits.
- Accumulate in a wide (64-bit) accumulator: |product| <= 2**30 and a layer has < 2**33 terms,
  so it never overflows and the sum is independent of order (the simulator and every engine
  back-end may visit entries in any order and still agree bit for bit).
- Bias: quantized directly at the accumulator's scale (``act_frac + weight_frac`` fraction bits,
  same rounding, 64-bit) and added to the accumulator.
- Narrow: ``(acc + 2**(weight_frac - 1)) >> weight_frac`` (arithmetic shift: round half toward
  +inf) back to ``act_frac_bits``, then saturate to int16 (never wrap around).
- ReLU (optional) on the narrowed value.

The output has ``act_frac_bits`` fraction bits, so it feeds the next layer directly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from eie.errors import ConfigError

INT16_MIN = -(1 << 15)
INT16_MAX = (1 << 15) - 1


@dataclass(frozen=True)
class FixedPointFormat:
    """Fraction bits of EIE's 16-bit fixed-point numbers.

    >>> f = FixedPointFormat(act_frac_bits=8, weight_frac_bits=12)
    >>> int(f.quantize_act(np.array([1.5]))[0])
    384
    """

    act_frac_bits: int = 8
    """Fraction bits of input and output activations (value = q / 2**act_frac_bits)."""
    weight_frac_bits: int = 12
    """Fraction bits of decoded weights (codebook entries)."""
    total_bits: int = 16
    """Width of activations and weights; EIE uses 16."""

    def __post_init__(self) -> None:
        if self.total_bits != 16:
            raise ConfigError(f"total_bits should be 16 (EIE's datapath), found {self.total_bits}")
        for name in ("act_frac_bits", "weight_frac_bits"):
            v = getattr(self, name)
            if not isinstance(v, int) or not 0 <= v <= 15:
                raise ConfigError(f"{name} should be an integer in 0..15, found {v!r}")
        if self.weight_frac_bits < 1:
            raise ConfigError("weight_frac_bits should be >= 1 so narrowing can round")

    @property
    def acc_frac_bits(self) -> int:
        return self.act_frac_bits + self.weight_frac_bits

    def quantize_act(self, x: npt.ArrayLike) -> npt.NDArray[np.int16]:
        return quantize(x, self.act_frac_bits)

    def quantize_weights(self, w: npt.ArrayLike) -> npt.NDArray[np.int16]:
        return quantize(w, self.weight_frac_bits)

    def quantize_bias(self, b: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Bias at the accumulator's scale, 64-bit."""
        v = np.floor(np.asarray(b, np.float64) * float(1 << self.acc_frac_bits) + 0.5)
        return np.clip(v, -(2.0**62), 2.0**62).astype(np.int64)

    def dequantize_act(self, q: npt.ArrayLike) -> npt.NDArray[np.float32]:
        return (np.asarray(q, np.float64) / float(1 << self.act_frac_bits)).astype(np.float32)

    def narrow(self, acc: npt.NDArray[np.int64], relu: bool) -> npt.NDArray[np.int16]:
        """Wide accumulator -> int16 activation: round half up, saturate, optional ReLU."""
        s = self.weight_frac_bits
        out = (acc + (1 << (s - 1))) >> s
        out = np.clip(out, INT16_MIN, INT16_MAX)
        if relu:
            out = np.maximum(out, 0)
        return out.astype(np.int16)

    @classmethod
    def for_data(cls, max_abs_act: float, max_abs_weight: float) -> FixedPointFormat:
        """The format with the most fraction bits that still represents both ranges."""
        return cls(act_frac_bits=_frac_bits_for(max_abs_act),
                   weight_frac_bits=max(1, _frac_bits_for(max_abs_weight)))

    @classmethod
    def calibrate(cls, activations: Iterable[npt.ArrayLike | None],
                  codebooks: Iterable[npt.ArrayLike]) -> FixedPointFormat:
        """The one calibration: most fraction bits that still hold every array of
        ``activations`` (the inputs and every layer's float output; ``None`` is skipped) and
        every codebook. ``for_model``, the simulator and ``eie simulate FILE`` all use it.

        >>> FixedPointFormat.calibrate([np.array([0.5, -3.0])], [np.array([0.0, 0.25])])
        FixedPointFormat(act_frac_bits=13, weight_frac_bits=15, total_bits=16)
        """
        def peak(a: npt.ArrayLike | None) -> float:
            return 0.0 if a is None else float(np.max(np.abs(np.asarray(a)), initial=0.0))

        return cls.for_data(max((peak(a) for a in activations), default=0.0),
                            max((peak(c) for c in codebooks), default=0.0))

    @classmethod
    def for_model(cls, model: Any, x: npt.ArrayLike) -> FixedPointFormat:
        """The calibration of a linear chain: most fraction bits that still hold the inputs
        ``x`` (``(n, cols)``), every layer's float output on them (``reference.layer_outputs``)
        and every codebook."""
        from eie.engine.reference import layer_outputs

        xa = np.asarray(x, dtype=np.float32)
        return cls.calibrate([xa, *layer_outputs(model, xa)],
                             [ly.matrix.codebook for ly in model.layers])


def _frac_bits_for(max_abs: float) -> int:
    if not np.isfinite(max_abs) or max_abs <= 0:
        return 15
    int_bits = max(0, int(np.ceil(np.log2(max_abs * 1.0001 + 2.0**-15))))
    return int(np.clip(15 - int_bits, 0, 15))


def quantize(v: npt.ArrayLike, frac_bits: int) -> npt.NDArray[np.int16]:
    """float -> int16 with ``frac_bits`` fraction bits: round half up, saturate."""
    q = np.floor(np.asarray(v, np.float64) * float(1 << frac_bits) + 0.5)
    return np.clip(q, INT16_MIN, INT16_MAX).astype(np.int16)


def sqnr_db(reference: npt.ArrayLike, test: npt.ArrayLike) -> float:
    """Signal-to-quantization-noise ratio of ``test`` against ``reference``, in dB."""
    r = np.asarray(reference, np.float64)
    e = r - np.asarray(test, np.float64)
    signal, noise = float(np.sum(r * r)), float(np.sum(e * e))
    if noise == 0.0:
        return float("inf")
    if signal == 0.0:
        return float("-inf")
    return 10.0 * float(np.log10(signal / noise))
