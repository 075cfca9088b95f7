"""``simulate()``: run a layer or a whole ``.eie`` model through the cycle-level EIE model.

>>> import numpy as np
>>> from eie.formats import EIEMatrix
>>> m = EIEMatrix.from_codes([[1, 0], [0, 2]], np.array([0, 0.5, -1], np.float32), num_pes=2)
>>> r = simulate(m, np.array([2.0, 1.0], np.float32), config=HardwareConfig(num_pes=2))
>>> r.output.tolist(), r.cycles
([1.0, -1.0], 9)
"""

from __future__ import annotations

import dataclasses
from typing import Literal, overload

import numpy as np
import numpy.typing as npt

from eie import _core
from eie.engine.fixed_point import INT16_MAX, INT16_MIN, FixedPointFormat, sqnr_db
from eie.errors import ConfigError, EngineError
from eie.formats.eie_matrix import EIEMatrix
from eie.formats.model import Model
from eie.sim import dram, qformat
from eie.sim import pe as pe_block
from eie.sim.bias import with_bias_column
from eie.sim.ccu import lnzd_levels, lnzd_nodes
from eie.sim.config import HardwareConfig
from eie.sim.cycle_ref import LoopCounters, LoopParams, run_loop
from eie.sim.energy import EnergyTable, default_table, energy_breakdown
from eie.sim.qformat import LayerFormat
from eie.sim.result import ModelSimResult, SimResult

Engine = Literal["core", "reference"]
AnyFormat = FixedPointFormat | LayerFormat


def fit_matrix(matrix: EIEMatrix, config: HardwareConfig) -> EIEMatrix:
    """``matrix`` laid out for ``config``: re-laid with ``with_num_pes(num_pes, index_bits)`` when
    the PE count or index width differ (same weights, new fillers and pointers)."""
    # Only the codebook size matters: codes are < len(codebook) <= codebook_entries <=
    # 2**weight_bits, whatever width the file stores them at.
    if len(matrix.codebook) > config.codebook_entries:
        raise ConfigError(f"the layer's codebook has {len(matrix.codebook)} entries but the "
                          f"hardware has codebook_entries={config.codebook_entries}")
    return matrix.with_num_pes(config.num_pes, config.index_bits)


def loop_params(config: HardwareConfig) -> LoopParams:
    return LoopParams(
        fifo_depth=config.fifo_depth,
        entries_per_line=config.entries_per_line,
        ptr_read_cycles=config.ptr_read_cycles,
        batch_cols=config.batch_cols,
        lnzd_latency=lnzd_levels(config.num_pes, config.lnzd_fanin),
        load_cycles=config.batch_load_cycles,
        dst_rf_entries=config.act_regfile_entries,
        bypass=config.arith_bypass,
        lnzd_group=config.num_pes,
        lnzd_bubble=config.lnzd_group_bubble,
    )


def core_entries(m: EIEMatrix) -> _core.SimEntries:
    """The matrix's arrays as the simulator core takes them."""
    return _core.SimEntries(m.codes, m.rel_index, m.pe_offset, m.col_ptr, m.rows, m.cols)


def core_params(p: LoopParams) -> _core.SimParams:
    """``LoopParams`` as the core's ``Params`` struct (same field names)."""
    cp = _core.SimParams()
    for f in dataclasses.fields(LoopParams):
        setattr(cp, f.name, getattr(p, f.name))
    return cp


def run_core(m: EIEMatrix, x_q: npt.NDArray[np.int16], weight_q: npt.NDArray[np.int16],
             p: LoopParams, bias_acc: npt.NDArray[np.int64] | None = None,
             acc0: npt.NDArray[np.int64] | None = None) -> LoopCounters:
    """The C++ cycle loop (same contract as ``cycle_ref.run_loop``)."""
    acc = np.zeros(m.rows, np.int64) if acc0 is None else np.array(acc0, np.int64)
    out = LoopCounters(acc,
                       np.zeros((m.num_pes, len(pe_block.PE_COUNTERS)), np.int64),
                       np.zeros(p.fifo_depth + 1, np.int64),
                       np.zeros(len(pe_block.ACTIONS), np.int64),
                       np.zeros(len(pe_block.GLOBALS), np.int64))
    try:
        _core.sim_layer(core_entries(m), np.ascontiguousarray(x_q, np.int16),
                        np.ascontiguousarray(weight_q, np.int16),
                        np.ascontiguousarray(np.zeros(0, np.int64) if bias_acc is None
                                             else bias_acc, np.int64),
                        core_params(p),
                        _core.SimOutputs(out.acc, out.pe_counters, out.fifo_hist, out.actions,
                                         out.globals))
    except ValueError as e:
        raise EngineError(f"simulator core rejected the layer: {e}") from None
    return out


def float_spmv(m: EIEMatrix, x: npt.NDArray[np.float32], bias: npt.NDArray[np.float32] | None,
               activation: str | None) -> npt.NDArray[np.float32]:
    """``eie.engine.reference.spmv`` with the same float64 sums in the same order (bit for
    bit), from the simulator core's decoder: only the nonzero columns' entries are visited.
    Matrices with group codebooks or without a zero code take the reference itself."""
    from eie.engine.reference import spmv

    if m.group_rows or not m.zero_code or activation not in (None, "relu"):
        return spmv(m, x, bias, activation)
    y = np.zeros(m.rows, np.float64)
    try:
        _core.sim_float_layer(core_entries(m), np.ascontiguousarray(x, np.float64),
                              np.ascontiguousarray(m.codebook, np.float64), y)
    except ValueError as e:
        raise EngineError(f"simulator core rejected the layer: {e}") from None
    if bias is not None:
        y += np.asarray(bias).astype(np.float64)
    if activation == "relu":
        y = np.maximum(y, 0.0)
    return y.astype(np.float32)


def _float_outputs(matrices: list[EIEMatrix], x: npt.NDArray[np.float64],
                   biases: list[npt.NDArray[np.float32] | None],
                   activations: list[str | None]) -> list[npt.NDArray[np.float32]]:
    """Every layer's float output from the float input (one reference pass)."""
    outs = []
    h = x.astype(np.float32)
    for i, (m, b, a) in enumerate(zip(matrices, biases, activations, strict=True)):
        h = float_spmv(m, h, b, a)
        _check_finite(f"layer {i}'s float output (used to choose the fixed-point format; "
                      f"pass fmt= to choose it yourself)", h)
        outs.append(h)
    return outs


def _max_abs(a: npt.NDArray[np.floating] | None) -> float:
    return 0.0 if a is None else float(np.max(np.abs(a), initial=0.0))


def _default_format(matrices: list[EIEMatrix], x: npt.NDArray[np.float64],
                    biases: list[npt.NDArray[np.float32] | None],
                    activations: list[str | None],
                    outs: list[npt.NDArray[np.float32]] | None = None) -> FixedPointFormat:
    """Most fraction bits that still hold the input, every layer's float output (one float
    reference pass) and every codebook."""
    if outs is None:
        outs = _float_outputs(matrices, x, biases, activations)
    return FixedPointFormat.calibrate([x, *outs], [m.codebook for m in matrices])


def per_layer_formats(matrices: list[EIEMatrix], x: npt.NDArray[np.float64],
                      biases: list[npt.NDArray[np.float32] | None],
                      outs: list[npt.NDArray[np.float32]]) -> list[LayerFormat]:
    """Each layer's formats from its own ranges: input (the previous layer's output format),
    codebook, and output with its bias; a layer's output format is the next one's input."""
    fmts = []
    in_frac = qformat.frac_bits_for(_max_abs(x))
    for m, b, h in zip(matrices, biases, outs, strict=True):
        f = qformat.choose(0.0, _max_abs(m.codebook), max(_max_abs(h), _max_abs(b)))
        f = LayerFormat(in_frac, f.weight_frac_bits, min(f.out_frac_bits,
                                                         in_frac + f.weight_frac_bits))
        fmts.append(f)
        in_frac = f.out_frac_bits
    return fmts


def _bias_q(fmt: AnyFormat, bias: npt.NDArray[np.float32], acc_bits: int
            ) -> npt.NDArray[np.int64]:
    """The bias at the accumulator's scale (64-bit) or the output's (narrower accumulators)."""
    if isinstance(fmt, LayerFormat):
        return fmt.quantize_bias(bias, acc_bits)
    if acc_bits == 64:
        return fmt.quantize_bias(bias)
    lim = 2.0 ** (acc_bits - 1)
    v = np.floor(np.asarray(bias, np.float64) * 2.0 ** fmt.act_frac_bits + 0.5)
    return np.clip(v, -lim, lim - 1).astype(np.int64)


def _narrow(fmt: AnyFormat, acc: npt.NDArray[np.int64], relu: bool, acc_bits: int
            ) -> npt.NDArray[np.int16]:
    if isinstance(fmt, LayerFormat):
        return fmt.narrow(acc, relu, acc_bits)
    if acc_bits == 64:
        return fmt.narrow(acc, relu=relu)
    out = np.clip(acc, INT16_MIN, INT16_MAX)
    return (np.maximum(out, 0) if relu else out).astype(np.int16)


def _shift(fmt: AnyFormat) -> int:
    """Product fraction bits minus the output's."""
    return fmt.shift if isinstance(fmt, LayerFormat) else fmt.weight_frac_bits


def _layer_result(name: str, m: EIEMatrix, x_q: npt.NDArray[np.int16],
                  bias: npt.NDArray[np.float32] | None, activation: str | None,
                  config: HardwareConfig, fmt: AnyFormat, table: EnergyTable,
                  engine: Engine, reference: npt.NDArray[np.float32] | None = None
                  ) -> SimResult:
    p = loop_params(config)
    acc_bits = config.acc_bits
    p.acc_bits, p.acc_shift = acc_bits, _shift(fmt)
    shape = m.shape  # the layer's, without the bias column
    bias_q = None if bias is None else _bias_q(fmt, bias, acc_bits)
    acc0 = np.zeros(m.rows, np.int64)
    if bias_q is not None and config.bias_column:
        # The bias rides as the last column, broadcast like an activation of 1.0; the core adds
        # bias_q for its entries. Its x is only a nonzero marker.
        m = with_bias_column(m, bias_q != 0)
        x_q = np.concatenate([x_q, np.ones(1, np.int16)])
        p.bias_col = m.cols - 1
    elif bias_q is not None:
        acc0 = bias_q.copy()  # the accumulators' initial value
    weight_q = fmt.quantize_weights(m.codebook)
    # Pointers past the pointer SRAM (refused here, before any work, if they may not stream).
    ptr_bits = dram.pointer_bits(config, m.cols, np.flatnonzero(x_q).tolist())
    c = (run_core(m, x_q, weight_q, p, bias_q, acc0) if engine == "core"
         else run_loop(m, x_q, weight_q, p, bias_q, acc0))
    out_q = _narrow(fmt, c.acc, activation == "relu", acc_bits)
    sqnr = None if reference is None else sqnr_db(reference, fmt.dequantize_act(out_q))
    loop_cycles = int(c.globals[pe_block.GLOBALS.index("loop_cycles")])
    fill = pe_block.fill_drain_cycles(config)
    stream = dram.plan(config, np.diff(m.pe_offset).tolist(), m.cols, loop_cycles + fill,
                       ptr_bits)
    cycles = stream.cycles
    actions = {key: int(n) for key, n in zip(pe_block.ACTIONS, c.actions, strict=True)}
    if not stream.fits:
        actions["dram", "read_bit"] = stream.bits
    actions["pe", "cycle"] = config.num_pes * cycles
    actions["lnzd_node", "cycle"] = lnzd_nodes(config.num_pes, config.lnzd_fanin) * cycles
    pc = c.pe_counters
    col = pe_block.PE_COUNTERS.index
    return SimResult(
        name=name, config=config, fmt=fmt, output_q=out_q, shape=shape, cycles=cycles,
        loop_cycles=loop_cycles, fill_drain_cycles=fill,
        pe_busy=pc[:, col("busy")].copy(), pe_starved=pc[:, col("starved")].copy(),
        pe_blocked=pc[:, col("blocked")].copy(),
        pe_real_entries=pc[:, col("real_entries")].copy(),
        pe_filler_entries=pc[:, col("filler_entries")].copy(),
        pe_columns=pc[:, col("columns")].copy(), fifo_histogram=c.fifo_hist,
        actions=actions,
        ccu_stall_cycles=int(c.globals[pe_block.GLOBALS.index("ccu_stall_cycles")]),
        batches=int(c.globals[pe_block.GLOBALS.index("batches")]),
        energy_breakdown=energy_breakdown(actions, table, config),
        energy_table=f"{table.name} v{table.version}", activation=activation, sqnr_db=sqnr,
        dram=stream)


def _as_input(x: npt.ArrayLike, cols: int, fmt: FixedPointFormat | None
              ) -> tuple[npt.NDArray[np.float64] | None, npt.NDArray[np.int16] | None]:
    xa = np.asarray(x)
    if xa.shape != (cols,):
        raise EngineError(f"x should have shape ({cols},), found {xa.shape}")
    if xa.dtype == np.int16:
        if fmt is None:
            raise EngineError("x is int16 (fixed point): pass fmt= to say its fraction bits")
        return None, xa
    xf = xa.astype(np.float64)
    _check_finite("the input activations x", xf)
    return xf, None


def _check_finite(what: str, a: npt.NDArray[np.floating]) -> None:
    """Refuse NaN and infinity: fixed point has no encoding for them (they would saturate or
    wrap silently)."""
    bad = ~np.isfinite(a)
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        raise EngineError(f"{what} should be finite numbers, found {a.ravel()[i]} at index {i} "
                          f"({int(bad.sum())} non-finite values)")


@overload
def simulate(matrix_or_model: EIEMatrix, x: npt.ArrayLike, bias: npt.ArrayLike | None = ...,
             config: HardwareConfig | None = ..., *, activation: str | None = ...,
             fmt: FixedPointFormat | str | None = ..., energy_table: EnergyTable | None = ...,
             name: str = ..., engine: Engine = ...) -> SimResult: ...
@overload
def simulate(matrix_or_model: Model, x: npt.ArrayLike, bias: None = ...,
             config: HardwareConfig | None = ..., *, activation: str | None = ...,
             fmt: FixedPointFormat | str | None = ..., energy_table: EnergyTable | None = ...,
             name: str = ..., engine: Engine = ...) -> ModelSimResult: ...


def simulate(matrix_or_model: EIEMatrix | Model, x: npt.ArrayLike,
             bias: npt.ArrayLike | None = None, config: HardwareConfig | None = None, *,
             activation: str | None = None, fmt: FixedPointFormat | str | None = None,
             energy_table: EnergyTable | None = None, name: str = "layer",
             engine: Engine = "core") -> SimResult | ModelSimResult:
    """Simulate one layer (``EIEMatrix``) or a sequential ``eie.Model`` on input ``x``.

    - ``config``: the hardware (default ``HardwareConfig()``, the paper's 64-PE design). A matrix
      laid out for another PE count or index width is re-laid for it (``fit_matrix``).
    - ``x``: float activations, quantized with ``fmt``; or int16 fixed-point values (then
      ``fmt`` is required). ``fmt`` defaults to ``FixedPointFormat.calibrate`` over the input,
      every layer's float output (one reference pass) and the codebooks. ``fmt="per_layer"``
      chooses each layer's formats from its own ranges (``eie.sim.qformat``); outputs are then
      no longer those of ``spmv_fixed`` with one format. Whenever the float pass runs (``fmt``
      None or ``"per_layer"``) each result carries ``sqnr_db`` against the float output.
    - ``config.acc_bits``: 64 accumulates exactly; fewer bits round each product to the output's
      scale and saturate (the paper's 16-bit destination registers).
    - A model runs layer after layer with each layer's bias and activation (``bias`` and
      ``activation`` apply to a single matrix only); the result is a ``ModelSimResult``.
    - ``engine="reference"`` runs the Python reference model of the cycle loop (slow; tests).

    Outputs are bit-exact with ``eie.engine.reference.spmv_fixed`` (chained, for a model).
    """
    config = config or HardwareConfig()
    table = energy_table or default_table()
    if isinstance(matrix_or_model, Model):
        if bias is not None or activation is not None:
            raise EngineError("bias and activation come from the model's layers; pass None")
        model = matrix_or_model
        if not model.is_sequential:
            raise EngineError("the model's layers do not chain (rows of one layer should equal "
                              "cols of the next); simulate them one by one")
        layers = [(ly.name, ly.matrix, ly.bias, ly.activation) for ly in model.layers]
    elif isinstance(matrix_or_model, EIEMatrix):
        b = None if bias is None else np.asarray(bias, np.float32)
        if b is not None and b.shape != (matrix_or_model.rows,):
            raise EngineError(f"bias should have shape ({matrix_or_model.rows},), "
                              f"found {b.shape}")
        if activation not in (None, "relu"):
            raise EngineError(f"activation should be None or 'relu', found {activation!r}")
        layers = [(name, matrix_or_model, b, activation)]
    else:
        raise EngineError(f"simulate() takes an EIEMatrix or an eie.Model, found "
                          f"{type(matrix_or_model).__name__}")
    for lname, m, b, _ in layers:
        _check_finite(f"the codebook of layer {lname!r}", m.codebook)
        if b is not None:
            _check_finite(f"the bias of layer {lname!r}", b)
    matrices = [fit_matrix(m, config) for _, m, _, _ in layers]
    per_layer = isinstance(fmt, str)
    if per_layer and fmt != "per_layer":
        raise EngineError(f"fmt should be a FixedPointFormat, None or 'per_layer', found {fmt!r}")
    xf, x_q = _as_input(x, matrices[0].cols, None if per_layer else fmt)  # type: ignore[arg-type]
    biases = [b for _, _, b, _ in layers]
    outs: list[npt.NDArray[np.float32]] | None = None
    if fmt is None or per_layer:
        if xf is None:
            raise EngineError("per-layer formats are chosen from float data: pass float x")
        outs = _float_outputs(matrices, xf, biases, [a for _, _, _, a in layers])
    fmts: list[AnyFormat]
    if per_layer:
        assert xf is not None and outs is not None
        fmts = list(per_layer_formats(matrices, xf, biases, outs))
    else:
        if fmt is None:
            assert xf is not None
            fmt = _default_format(matrices, xf, biases, [a for _, _, _, a in layers], outs)
        assert isinstance(fmt, FixedPointFormat)
        fmts = [fmt] * len(layers)
    if x_q is None:
        assert xf is not None
        x_q = fmts[0].quantize_act(xf)
    results = []
    h = x_q
    for i, ((lname, _, b, a), m) in enumerate(zip(layers, matrices, strict=True)):
        r = _layer_result(lname, m, h, b, a, config, fmts[i], table, engine,
                          None if outs is None else outs[i])
        results.append(r)
        h = r.output_q  # stays in place: the destination register files become the source
    if isinstance(matrix_or_model, Model):
        return ModelSimResult(tuple(results))
    return results[0]
