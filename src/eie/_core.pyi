"""
eie's compiled core: format routines, CPU kernels and the simulator's inner loop
"""

from collections.abc import Sequence
from typing import Annotated

import numpy
from numpy.typing import NDArray

def cpu_features() -> dict:
    """What this CPU supports, as detected by CPUID/XGETBV."""

def best_isa() -> str: ...

def active_isa() -> str:
    """
    The process's ISA (calls that name none run it): best_isa() lowered by EIE_ISA until eie.engine.isa_check resolves it.
    """

def set_active_isa(name: str) -> None:
    """
    Set the process's ISA ('scalar', 'avx2' or 'avx512'); ValueError if unsupported. The one setter: eie.engine.isa_check and eie.engine.use_isa call it.
    """

def tuning(isa: str) -> dict:
    """
    The engine's tuning constants for `isa` (eie.engine.tuning hands them over).
    """

def set_tuning(isa: str, values: dict) -> None:
    """
    Replace some of `isa`'s tuning constants (by name); ValueError on unknown names or values out of range. Call at load time, before multiplies.
    """

def decode_to_codes(codes: Annotated[NDArray[numpy.uint8], dict(shape=(None,), order='C', device='cpu', writable=False)], rel_index: Annotated[NDArray[numpy.uint8], dict(shape=(None,), order='C', device='cpu', writable=False)], pe_offset: Annotated[NDArray[numpy.int64], dict(shape=(None,), order='C', device='cpu', writable=False)], col_ptr: Annotated[NDArray[numpy.int64], dict(shape=(None, None), order='C', device='cpu', writable=False)], rows: int, cols: int, out: Annotated[NDArray[numpy.uint8], dict(shape=(None, None), order='C', device='cpu')], codebook_size: int = 256, index_bits: int = 8) -> None:
    """
    Validate EIE entry arrays and write each real entry's code into out (rows, cols), which must be zeroed. Raises ValueError on inconsistent arrays.
    """

def validate_entries(codes: Annotated[NDArray[numpy.uint8], dict(shape=(None,), order='C', device='cpu', writable=False)], rel_index: Annotated[NDArray[numpy.uint8], dict(shape=(None,), order='C', device='cpu', writable=False)], pe_offset: Annotated[NDArray[numpy.int64], dict(shape=(None,), order='C', device='cpu', writable=False)], col_ptr: Annotated[NDArray[numpy.int64], dict(shape=(None, None), order='C', device='cpu', writable=False)], rows: int, cols: int, codebook_size: int = 256, index_bits: int = 8) -> None:
    """
    Every array checked (sizes without overflow, pointers, code and index ranges, rows) before any walk: raises ValueError on inconsistent arrays.
    """

def huffman_decode(data: Annotated[NDArray[numpy.uint8], dict(shape=(None,), order='C', device='cpu', writable=False)], nbits: int, lengths: Annotated[NDArray[numpy.uint8], dict(shape=(None,), order='C', device='cpu', writable=False)], out: Annotated[NDArray[numpy.uint8], dict(shape=(None,), order='C', device='cpu')]) -> None:
    """
    Decode len(out) symbols of a canonical Huffman stream (MSB first, the first nbits bits of data; one uint8 code length per symbol, at most 256 symbols) into out. The code and the sizes are checked before out is written; raises ValueError on a bad code, a bit pattern that is no code word or a stream too short.
    """

def max_u8(a: Annotated[NDArray[numpy.uint8], dict(shape=(None,), order='C', device='cpu', writable=False)], isa: str = '') -> int:
    """
    Largest byte of a uint8 array (0 if empty), with the given ISA or the active one.
    """

def encode_codes(codes: Annotated[NDArray[numpy.uint8], dict(shape=(None, None), order='C', device='cpu', writable=False)], num_pes: int, index_bits: int) -> tuple[NDArray[numpy.uint8], NDArray[numpy.uint8], NDArray[numpy.int64], NDArray[numpy.int64]]:
    """
    EIE arrays (codes, rel_index, pe_offset, col_ptr) of a (rows, cols) uint8 code matrix over num_pes PEs: two row-major passes.
    """

def reencode(codes: Annotated[NDArray[numpy.uint8], dict(shape=(None,), order='C', device='cpu', writable=False)], rel_index: Annotated[NDArray[numpy.uint8], dict(shape=(None,), order='C', device='cpu', writable=False)], pe_offset: Annotated[NDArray[numpy.int64], dict(shape=(None,), order='C', device='cpu', writable=False)], col_ptr: Annotated[NDArray[numpy.int64], dict(shape=(None, None), order='C', device='cpu', writable=False)], rows: int, cols: int, num_pes: int, index_bits: int) -> tuple[NDArray[numpy.uint8], NDArray[numpy.uint8], NDArray[numpy.int64], NDArray[numpy.int64]]:
    """
    The same weights' EIE arrays for another PE count / index width, computed on the entries (no dense matrix). ValueError on inconsistent arrays.
    """

class CpuLayout:
    """
    A layer transcoded into a CPU layout (sparse: per-row-block CSC with uint16 (code << 12 | row) entries; dense: column-major packed 4-bit codes; code_bits 8 for codebooks of 17..256 entries: a uint8 code per sparse entry, one byte per dense weight). Built once, immutable.
    """

    @property
    def kind(self) -> str: ...

    @property
    def group_rows(self) -> int:
        """Rowwise layouts: rows per codebook (0: one shared codebook)."""

    @property
    def rows(self) -> int: ...

    @property
    def cols(self) -> int: ...

    @property
    def nnz(self) -> int: ...

    @property
    def code_bits(self) -> int: ...

    @property
    def nbytes(self) -> int: ...

    @property
    def row_blocks(self) -> list[int]: ...

    @property
    def has_batch_twin(self) -> bool:
        """
        Whether a dense layout also holds the layer's sparse row view, which batches whose inputs cover enough columns run on (see plan).
        """

    @property
    def has_row_view(self) -> bool:
        """
        Whether the layout also holds the row-major view (sparse, 4-bit codes) used by batches whose inputs cover most columns and, on wide layers (cols <= 4096, rows <= 2048, cols >= 2 rows), by dense batch-1 inputs.
        """

    @property
    def codebook(self) -> list[float]: ...

    def arrays(self) -> dict[str, bytes]:
        """
        Copies of the layout's arrays as bytes, by name (for tests: two builds compare byte for byte).
        """

    def run_f32(self, x: Annotated[NDArray[numpy.float32], dict(shape=(None, None), order='C', device='cpu', writable=False)], out: Annotated[NDArray[numpy.float32], dict(shape=(None, None), order='C', device='cpu')], bias: Annotated[NDArray[numpy.float32], dict(shape=(None,), order='C', device='cpu', writable=False)] | None, relu: bool, threads: int, isa: str, precision: str = 'fp32') -> None:
        """
        out (batch, rows) = act(W @ x.T + bias) for float32 x (batch, cols), batch 1..16. precision='bf16' lets a rowwise batch run on AMX tiles with x and the codebooks rounded to bfloat16 (see uses_amx).
        """

    def run_u16(self, x: Annotated[NDArray[numpy.uint16], dict(shape=(None, None), order='C', device='cpu', writable=False)], dtype: str, out: Annotated[NDArray[numpy.float32], dict(shape=(None, None), order='C', device='cpu')], bias: Annotated[NDArray[numpy.float32], dict(shape=(None,), order='C', device='cpu', writable=False)] | None, relu: bool, threads: int, isa: str, precision: str = 'fp32') -> None:
        """run_f32 for float16 / bfloat16 bits given as uint16 (batch, cols)."""

    def plan(self, x: Annotated[NDArray[numpy.float32], dict(shape=(None, None), order='C', device='cpu', writable=False)], isa: str = '') -> str:
        """
        The path run_f32 takes for float32 x (batch, cols), batch 1..16: 'rows' (the row view), 'columns' (the sparse columns), 'dense', 'loop' (a batch-1 multiply per input, each planned on its own), 'rowwise' or 'colrow'.
        """

    def mv_f32(self, x: Annotated[NDArray[numpy.float32], dict(order='C', device='cpu', writable=False)], bias: Annotated[NDArray[numpy.float32], dict(shape=(None,), order='C', device='cpu', writable=False)] | None, relu: bool, threads: int, isa: str, precision: str = 'fp32') -> NDArray[numpy.float32]:
        """
        act(W @ x + bias) for float32 x (cols,) or (batch, cols), batch 1..16, as a new float32 array (rows,) or (batch, rows): run_f32 without the output argument.
        """

    def uses_amx(self, batch: int, dtype: str, isa: str = '', precision: str = 'fp32') -> bool:
        """
        Whether a call with this batch, input dtype, ISA and precision runs on AMX tiles.
        """

    def uses_bf16_dot(self, batch: int, dtype: str, isa: str = '', precision: str = 'fp32') -> bool:
        """
        Whether a call with this batch, input dtype, ISA and precision runs on AVX512-BF16 dot products (the bf16 kernel where AMX tiles are not granted).
        """

    def uses_int8(self, isa: str = '', precision: str = 'int8') -> bool:
        """
        Whether a call with this ISA and precision runs the int8 (VNNI) kernel, inputs finite.
        """

class CpuNetwork:
    """
    A sequential model of CpuLayouts (each layer's rows = the next layer's cols) run in one call; biases are copied, layouts kept alive.
    """

    def __init__(self, layouts: Sequence[object], biases: Sequence[Annotated[NDArray[numpy.float32], dict(shape=(None,), order='C', device='cpu', writable=False)] | None], relu: Sequence[bool]) -> None: ...

    @property
    def cols(self) -> int: ...

    @property
    def rows(self) -> int: ...

    @property
    def num_layers(self) -> int: ...

    def run_f32(self, x: Annotated[NDArray[numpy.float32], dict(order='C', device='cpu', writable=False)], out: Annotated[NDArray[numpy.float32], dict(order='C', device='cpu')], timings: Annotated[NDArray[numpy.float64], dict(shape=(None,), order='C', device='cpu')] | None, threads: int, isa: str, precision: str = 'fp32') -> None:
        """
        out = the model applied to float32 x: x (cols,) -> out (rows,) or x (batch, cols) -> out (batch, rows), any batch; timings (num_layers,) float64, if given, receives each layer's wall time in us.
        """

    def run_u16(self, x: Annotated[NDArray[numpy.uint16], dict(order='C', device='cpu', writable=False)], dtype: str, out: Annotated[NDArray[numpy.float32], dict(order='C', device='cpu')], timings: Annotated[NDArray[numpy.float64], dict(shape=(None,), order='C', device='cpu')] | None, threads: int, isa: str, precision: str = 'fp32') -> None:
        """run_f32 for float16 / bfloat16 bits given as uint16."""

class CpuDecodePlan:
    """Every block of a decoder for one token in one call (see run)."""

    def __init__(self, nets: Sequence[object], norms: Sequence[Annotated[NDArray[numpy.float32], dict(shape=(None,), order='C', device='cpu', writable=False)]], k_caches: Sequence[Annotated[NDArray[numpy.float32], dict(shape=(None, None, None), order='C', device='cpu')]], v_caches: Sequence[Annotated[NDArray[numpy.float32], dict(shape=(None, None, None), order='C', device='cpu')]], windows: Sequence[int], nh: int, eps: float, scaling: float, threads: int, isa: str, precision: str) -> None:
        """
        nets: per block its fused qkv, o, fused gate_up and down CpuNetworks; norms: per block its input and post-attention RMSNorm weights (d,); k_caches / v_caches: per block (nkv, cap, hd) float32, written in place; windows: per block its sliding window, -1 for none. Checked once here; the arrays are referenced, not copied.
        """

    @property
    def num_blocks(self) -> int: ...

    def run(self, h: Annotated[NDArray[numpy.float32], dict(shape=(None,), order='C', device='cpu')], pos: int, cos: Annotated[NDArray[numpy.float32], dict(shape=(None,), order='C', device='cpu', writable=False)], sin_signed: Annotated[NDArray[numpy.float32], dict(shape=(None,), order='C', device='cpu', writable=False)], times: Annotated[NDArray[numpy.float64], dict(shape=(None,), order='C', device='cpu')]) -> None:
        """
        One token at position pos through every block: h (d,) float32 updated in place (rms norms, the four networks, attention as attend_one over the block's window, the residual adds); times (3,) float64 += seconds of [Linear, norms, attention].
        """

def build_cpu_layout(codes: Annotated[NDArray[numpy.uint8], dict(shape=(None, None), order='C', device='cpu', writable=False)], codebook: Annotated[NDArray[numpy.float32], dict(shape=(None,), order='C', device='cpu', writable=False)], kind: str, threads: int = 0, batch_twin: bool = False) -> CpuLayout:
    """
    Transcode a (rows, cols) uint8 code matrix into a CpuLayout ('sparse' or 'dense'), with row blocks balanced for `threads` (0: default). batch_twin: a dense layout of a pruned layer (4-bit codes, density <= the tuning's batch_twin_max_density) also holds its row view for batches (has_batch_twin). ValueError on bad codes.
    """

def amx_ready() -> bool:
    """
    Whether this process may use AMX tiles (CPUID reports AMX-BF16 and the OS granted the tile data state, asked for on first call): the rowwise layout's bf16 batch kernel.
    """

def bf16_dot_ready() -> bool:
    """
    Whether this CPU has AVX512-BF16 (with the engine's AVX-512 set): the rowwise layout's bf16 batch kernel where AMX tiles are not granted.
    """

def vnni_ready() -> bool:
    """
    Whether this CPU runs the rowwise layout's int8 kernel (AVX-512 with VNNI): what precision='int8' needs, with the avx512 ISA allowed.
    """

def build_rowwise_layout(codes: Annotated[NDArray[numpy.uint8], dict(shape=(None, None), order='C', device='cpu', writable=False)], codebooks: Annotated[NDArray[numpy.float32], dict(shape=(None, None), order='C', device='cpu', writable=False)], group_rows: int) -> CpuLayout:
    """
    A rowwise CpuLayout: codes (rows, cols) uint8 < k <= 16, codebooks (groups, k) float32, row r decoding through codebooks[r // group_rows] (group_rows 0: one shared codebook, groups 1). Every code is a value (no zero-code rule). ValueError on bad input.
    """

def build_colrow_layout(codes: Annotated[NDArray[numpy.uint8], dict(shape=(None, None), order='C', device='cpu', writable=False)], codebooks: Annotated[NDArray[numpy.float32], dict(shape=(None, None), order='C', device='cpu', writable=False)], group_rows: int) -> CpuLayout:
    """
    A colrow CpuLayout (column-major per-row / per-group codebooks, skips zero inputs): arguments as build_rowwise_layout. ValueError on bad input.
    """

def build_sparse_grouped_layout(codes: Annotated[NDArray[numpy.uint8], dict(shape=(None, None), order='C', device='cpu', writable=False)], codebooks: Annotated[NDArray[numpy.float32], dict(shape=(None, None), order='C', device='cpu', writable=False)], group_rows: int, threads: int = 0) -> CpuLayout:
    """
    A sparse CpuLayout of a pruned layer with a codebook per row or group of rows: codes (rows, cols) uint8 (0 = pruned) < k <= 16, codebooks (groups, k) float32 with entry 0 = 0.0, row r decoding through codebooks[r // group_rows]. The layout holds one codebook per row (group_rows reads 1). ValueError on bad input.
    """

def build_cpu_layout_eie(codes: Annotated[NDArray[numpy.uint8], dict(shape=(None,), order='C', device='cpu', writable=False)], rel_index: Annotated[NDArray[numpy.uint8], dict(shape=(None,), order='C', device='cpu', writable=False)], pe_offset: Annotated[NDArray[numpy.int64], dict(shape=(None,), order='C', device='cpu', writable=False)], col_ptr: Annotated[NDArray[numpy.int64], dict(shape=(None, None), order='C', device='cpu', writable=False)], rows: int, cols: int, codebook: Annotated[NDArray[numpy.float32], dict(shape=(None,), order='C', device='cpu', writable=False)], kind: str, threads: int = 0, batch_twin: bool = False) -> CpuLayout:
    """
    build_cpu_layout from EIE arrays (as EIEMatrix holds them), linear in the entries. ValueError on inconsistent arrays or bad codes.
    """

def row_batch_bias() -> float:
    """
    Factor on the row view's cost in the choice of a sparse batch's kernel (1: measured).
    """

def set_row_batch_bias(factor: float) -> None:
    """
    Set that factor for this process (0: batches of 2..16 always use a layout's row view; 1e6: never).
    """

def row_view_min_act() -> float:
    """
    Fraction of nonzero activations from which a batch-1 multiply of a layout with a row view (CpuLayout.has_row_view) uses it.
    """

def set_row_view_min_act(frac: float) -> None:
    """
    Set that fraction for this process (0: always use the row view; above 1: never).
    """

def getenv(name: str) -> str | None:
    """
    The process environment variable the core reads (EIE_ISA, EIE_NUM_THREADS), or None: ~20x cheaper than os.environ.get for an unset variable (which raises inside).
    """

def thread_pool_probe(n: int, threads: int, fail_from: int) -> int:
    """
    Test hook: runs n pool tasks on up to `threads` threads, tasks >= fail_from throwing std::bad_alloc (MemoryError here), each after a 50 us sleep; returns how many ran.
    """

def gemv_f16(w: Annotated[NDArray[numpy.uint16], dict(shape=(None, None), order='C', device='cpu', writable=False)], x: Annotated[NDArray[numpy.float32], dict(shape=(None, None), order='C', device='cpu', writable=False)], out: Annotated[NDArray[numpy.float32], dict(shape=(None, None), order='C', device='cpu')], threads: int = 0, isa: str = '') -> None:
    """
    out (batch, rows) = x (batch, cols) float32 @ w.T for w (rows, cols) float16 given as its uint16 bits, row-major; float32 products and sums.
    """

def default_threads() -> int:
    """
    Threads a kernel uses by default: EIE_NUM_THREADS, else the hardware concurrency.
    """

def stream_sum(a: Annotated[NDArray[numpy.float32], dict(shape=(None,), order='C', device='cpu', writable=False)], threads: int = 0) -> float:
    """
    Sum of a float32 array read once on the core's threads (a memory-bandwidth probe).
    """

class SimEntries:
    """
    A layer's EIE arrays for the simulator core (shapes checked; the pointers and decoded rows are checked by each call).
    """

    def __init__(self, codes: Annotated[NDArray[numpy.uint8], dict(shape=(None,), order='C', device='cpu', writable=False)], rel_index: Annotated[NDArray[numpy.uint8], dict(shape=(None,), order='C', device='cpu', writable=False)], pe_offset: Annotated[NDArray[numpy.int64], dict(shape=(None,), order='C', device='cpu', writable=False)], col_ptr: Annotated[NDArray[numpy.int64], dict(shape=(None, None), order='C', device='cpu', writable=False)], rows: int, cols: int) -> None: ...

    @property
    def rows(self) -> int: ...

    @property
    def cols(self) -> int: ...

    @property
    def num_pes(self) -> int: ...

class SimParams:
    """The cycle loop's parameters (csrc/sim/cycle.h, Params)."""

    def __init__(self) -> None: ...

    @property
    def fifo_depth(self) -> int: ...

    @fifo_depth.setter
    def fifo_depth(self, arg: int, /) -> None: ...

    @property
    def entries_per_line(self) -> int: ...

    @entries_per_line.setter
    def entries_per_line(self, arg: int, /) -> None: ...

    @property
    def ptr_read_cycles(self) -> int: ...

    @ptr_read_cycles.setter
    def ptr_read_cycles(self, arg: int, /) -> None: ...

    @property
    def batch_cols(self) -> int: ...

    @batch_cols.setter
    def batch_cols(self, arg: int, /) -> None: ...

    @property
    def lnzd_latency(self) -> int: ...

    @lnzd_latency.setter
    def lnzd_latency(self, arg: int, /) -> None: ...

    @property
    def load_cycles(self) -> int: ...

    @load_cycles.setter
    def load_cycles(self, arg: int, /) -> None: ...

    @property
    def dst_rf_entries(self) -> int: ...

    @dst_rf_entries.setter
    def dst_rf_entries(self, arg: int, /) -> None: ...

    @property
    def bypass(self) -> bool: ...

    @bypass.setter
    def bypass(self, arg: bool, /) -> None: ...

    @property
    def lnzd_group(self) -> int: ...

    @lnzd_group.setter
    def lnzd_group(self, arg: int, /) -> None: ...

    @property
    def lnzd_bubble(self) -> int: ...

    @lnzd_bubble.setter
    def lnzd_bubble(self, arg: int, /) -> None: ...

    @property
    def bias_col(self) -> int: ...

    @bias_col.setter
    def bias_col(self, arg: int, /) -> None: ...

    @property
    def acc_bits(self) -> int: ...

    @acc_bits.setter
    def acc_bits(self, arg: int, /) -> None: ...

    @property
    def acc_shift(self) -> int: ...

    @acc_shift.setter
    def acc_shift(self, arg: int, /) -> None: ...

class SimOutputs:
    """
    The cycle loop's zeroed outputs: acc (rows,), pe_counters (num_pes, len(SIM_PE_COUNTERS)), fifo_hist (fifo_depth + 1,), actions (len(SIM_ACTIONS),), globals (len(SIM_GLOBALS),).
    """

    def __init__(self, acc: Annotated[NDArray[numpy.int64], dict(shape=(None,), order='C', device='cpu')], pe_counters: Annotated[NDArray[numpy.int64], dict(shape=(None, None), order='C', device='cpu')], fifo_hist: Annotated[NDArray[numpy.int64], dict(shape=(None,), order='C', device='cpu')], actions: Annotated[NDArray[numpy.int64], dict(shape=(None,), order='C', device='cpu')], globals: Annotated[NDArray[numpy.int64], dict(shape=(None,), order='C', device='cpu')]) -> None: ...

def sim_layer(entries: SimEntries, x: Annotated[NDArray[numpy.int16], dict(shape=(None,), order='C', device='cpu', writable=False)], weight_q: Annotated[NDArray[numpy.int16], dict(shape=(None,), order='C', device='cpu', writable=False)], bias_acc: Annotated[NDArray[numpy.int64], dict(shape=(None,), order='C', device='cpu', writable=False)], params: SimParams, out: SimOutputs) -> int:
    """
    Cycle-level simulation of one EIE layer (see csrc/sim/cycle.h): fills `out`, returns the loop cycle count. ValueError on bad input.
    """

def sim_float_layer(entries: SimEntries, x: Annotated[NDArray[numpy.float64], dict(shape=(None,), order='C', device='cpu', writable=False)], codebook: Annotated[NDArray[numpy.float64], dict(shape=(None,), order='C', device='cpu', writable=False)], y: Annotated[NDArray[numpy.float64], dict(shape=(None,), order='C', device='cpu')]) -> None:
    """
    The layer's float64 output before bias and activation into the zeroed y (rows,), summed as eie.engine.reference.spmv does. ValueError on bad input.
    """

def sim_coo_count(pos: Annotated[NDArray[numpy.int64], dict(shape=(None,), order='C', device='cpu', writable=False)], rows: int, cols: int, num_pes: int, index_bits: int, col_ptr: Annotated[NDArray[numpy.int64], dict(shape=(None, None), order='C', device='cpu')], pe_offset: Annotated[NDArray[numpy.int64], dict(shape=(None,), order='C', device='cpu')]) -> int:
    """
    Pass 1 of laying out nonzeros at increasing column-major positions in EIE's interleaved CSC (csrc/sim/coo_layout.h): fills the zeroed col_ptr and pe_offset, returns the entry count.
    """

def sim_coo_fill(pos: Annotated[NDArray[numpy.int64], dict(shape=(None,), order='C', device='cpu', writable=False)], values: Annotated[NDArray[numpy.uint8], dict(shape=(None,), order='C', device='cpu', writable=False)], rows: int, cols: int, index_bits: int, pe_offset: Annotated[NDArray[numpy.int64], dict(shape=(None,), order='C', device='cpu', writable=False)], codes: Annotated[NDArray[numpy.uint8], dict(shape=(None,), order='C', device='cpu')], rel_index: Annotated[NDArray[numpy.uint8], dict(shape=(None,), order='C', device='cpu')]) -> None:
    """Pass 2: writes codes and rel_index for the pe_offset of pass 1."""

SIM_ACTIONS: tuple = ...

SIM_PE_COUNTERS: tuple = ...

SIM_GLOBALS: tuple = ('loop_cycles', 'ccu_stall_cycles', 'batches')

def rms_norm(x: Annotated[NDArray[numpy.float32], dict(shape=(None,), order='C', device='cpu', writable=False)], w: Annotated[NDArray[numpy.float32], dict(shape=(None,), order='C', device='cpu', writable=False)], eps: float, out: Annotated[NDArray[numpy.float32], dict(shape=(None,), order='C', device='cpu')]) -> None:
    """out = x / sqrt(mean(x^2) + eps) * w (float32 vectors)."""

def silu_mul(g: Annotated[NDArray[numpy.float32], dict(shape=(None,), order='C', device='cpu', writable=False)], u: Annotated[NDArray[numpy.float32], dict(shape=(None,), order='C', device='cpu', writable=False)], out: Annotated[NDArray[numpy.float32], dict(shape=(None,), order='C', device='cpu')]) -> None:
    """out = g / (1 + exp(-g)) * u (float32 vectors; out may be g or u)."""

def attend_one(q: Annotated[NDArray[numpy.float32], dict(shape=(None,), order='C', device='cpu')], k: Annotated[NDArray[numpy.float32], dict(shape=(None,), order='C', device='cpu')], v: Annotated[NDArray[numpy.float32], dict(shape=(None,), order='C', device='cpu', writable=False)], cos: Annotated[NDArray[numpy.float32], dict(shape=(None,), order='C', device='cpu', writable=False)], sin_signed: Annotated[NDArray[numpy.float32], dict(shape=(None,), order='C', device='cpu', writable=False)], k_cache: Annotated[NDArray[numpy.float32], dict(shape=(None, None, None), order='C', device='cpu')], v_cache: Annotated[NDArray[numpy.float32], dict(shape=(None, None, None), order='C', device='cpu')], nh: int, pos: int, start: int, scaling: float, out: Annotated[NDArray[numpy.float32], dict(shape=(None,), order='C', device='cpu')]) -> None:
    """
    One token's attention (eie/llm/decode_step.h): q (nh*hd) and k (nkv*hd) rotated in place, k and v written to the caches (nkv, cap, hd) at pos, out (nh*hd) the softmax-weighted values over positions start..pos.
    """

def kmeans1d_segments(x: Annotated[NDArray[numpy.float32], dict(shape=(None,), order='C', device='cpu', writable=False)], w: Annotated[NDArray[numpy.float32], dict(shape=(None,), order='C', device='cpu', writable=False)], offsets: Annotated[NDArray[numpy.int64], dict(shape=(None,), order='C', device='cpu', writable=False)], k: int, centroids: Annotated[NDArray[numpy.float32], dict(shape=(None, None), order='C', device='cpu')], codes: Annotated[NDArray[numpy.uint8], dict(shape=(None,), order='C', device='cpu')], threads: int = 0) -> float:
    """
    Exact weighted 1-D k-means of each segment x[offsets[s]:offsets[s+1]] (float32, weights w >= 0): fills centroids (num_segments, k), ascending per segment, and codes (len(x),) uint8; returns the total weighted squared error. threads <= 0: all cores.
    """
