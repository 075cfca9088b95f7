"""LeNet-5 per image: the eie engine against torch dense fp32 with the same (pruned) weights.

``python -m eie.cli.bench_scripts lenet5 FILE.eie [--threads 1] [--budget 3]`` on a LeNet-5
file written by ``eie compress lenet5``. Same process, same thread count, interleaved medians of
wall and calling-thread CPU time (``eie.bench.timing``), batch 1, on the bundled MNIST test
images:

- ``eie``: ``Engine`` (convolutions by im2col on the batch kernels, ``eie.engine.conv``);
- ``eie_direct``: the same layers with each convolution run as one matrix-vector product per
  output pixel (the alternative to im2col);
- ``torch_fp32``: ``LeNet5`` in torch with the file's weights decoded to dense fp32.

Beside the wall-clock medians it reports the calling thread's CPU time per image (with one
thread, the whole CPU cost), and the weights' memory floor: the bytes the engine's CPU layouts
hold, read once at the bandwidth of a large ``numpy`` copy measured in the same process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from eie.bench.memory import copy_bandwidth_gbs
from eie.bench.timing import interleaved_medians, thread_limits
from eie.engine import Engine, conv, kernels
from eie.formats.container import load
from eie.formats.model import Model


def torch_dense(model: Model) -> torch.nn.Module:
    """``LeNet5`` with the file's weights as dense fp32 (``codebook[codes]``)."""
    from eie.compress.models import LeNet5

    net = LeNet5().eval()
    mods = dict(net.named_modules())
    with torch.no_grad():
        for ly in model.layers:
            mod = mods[ly.name]
            w = torch.from_numpy(ly.matrix.to_dense().astype(np.float32))
            mod.weight.copy_(w.reshape(mod.weight.shape))  # type: ignore[operator]
            if ly.bias is not None:
                mod.bias.copy_(torch.from_numpy(ly.bias.copy()))  # type: ignore[union-attr]
    return net


def direct(engine: Engine) -> Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float32]]:
    """The engine's layers with every convolution as one matrix-vector product per pixel."""
    assert engine._chain is not None
    before, then = engine._chain

    def run(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        h = x
        for step in before:
            h = conv.apply_step(step, h)
        for i, el in enumerate(engine.layers):
            ly, cpu = el.layer, el.cpu
            assert cpu is not None
            if ly.attrs.get("kind") == "conv2d":
                geo = conv.geometry(ly.attrs, ly.name)
                _, _, kh, kw = geo["weight_shape"]
                cols = conv.im2col(h, (kh, kw), geo["stride"], geo["padding"], geo["dilation"])
                y = np.stack([kernels.matmul(cpu, v, ly.bias, ly.activation) for v in cols])
                h = conv._to_nchw(y, h.shape, geo)
            else:
                h = kernels.matmul(cpu, h, ly.bias, ly.activation)
            for step in then[i]:
                h = conv.apply_step(step, h)
        return h

    return run


def run(path: str, threads: int | None = None, budget_s: float = 3.0) -> dict[str, Any]:
    from eie.compress.data import mnist_split

    model = load(path)
    engine = Engine(model, threads=threads)
    net = torch_dense(model)
    xs = mnist_split().x_test[:32]
    x = xs[:1].numpy()
    xt = xs[:1]
    run_direct = direct(engine)
    with torch.no_grad():
        want = net(xs).numpy()
    got = engine(xs.numpy())
    if not np.allclose(got, want, atol=1e-4 * max(1.0, float(np.abs(want).max()))):
        raise AssertionError(f"eie and torch disagree: max error {np.abs(got - want).max()}")
    np.testing.assert_allclose(run_direct(x), got[:1], atol=1e-5 * float(np.abs(want).max()))

    def torch_fp32() -> Any:
        with torch.inference_mode():
            return net(xt)

    fns = {"eie": lambda: engine(x), "eie_direct": lambda: run_direct(x),
           "torch_fp32": torch_fp32}
    if threads is None:
        wall, cpu = interleaved_medians(fns, budget_s, min_reps=30, max_reps=5000)
    else:
        with thread_limits(threads):
            wall, cpu = interleaved_medians(fns, budget_s, min_reps=30, max_reps=5000)
    layout_bytes = sum(int(el.cpu.nbytes) if el.cpu is not None
                       else el.layer.matrix.storage().total_bytes for el in engine.layers)
    file_bytes = sum(ly.matrix.storage().total_bytes for ly in model.layers)
    bw = copy_bandwidth_gbs()
    floor_us = layout_bytes / (bw * 1e3)
    return {"file": path, "threads": threads, "kinds": [el.kind for el in engine.layers],
            "per_image_wall_us": wall, "per_image_cpu_us": cpu,
            "weights_bytes_layout": layout_bytes, "weights_bytes_file": file_bytes,
            "bandwidth_gbs": bw, "memory_floor_us": floor_us,
            "eie_over_floor": wall["eie"] / floor_us if floor_us else None,
            "torch_over_eie": wall["torch_fp32"] / wall["eie"],
            "direct_over_im2col": wall["eie_direct"] / wall["eie"]}
