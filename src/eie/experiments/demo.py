"""``eie demo``: the whole EIE story on LeNet-300-100 and real MNIST digits.

1. Train (or load the cached) uncompressed LeNet-300-100 on the bundled MNIST digits.
2. Compress it Deep Compression's way (prune + retrain to 8% / 9% / 26%, 4-bit shared weights
   with centroid fine-tuning, Huffman) and save the ``.eie`` file with Huffman-coded streams (one
   PE: Deep Compression's storage accounting, so the file is as small as the ratio says).
3. Evaluate the compressed model three ways on the test split (torch, reference engine, fast CPU
   engine) and check that they agree.
4. Time one image on the fast engine, the dense torch model and numpy dense (interleaved).
5. Simulate the model on the 64-PE EIE (16-bit fixed point) and put it beside the CPU figures.
6. A transformer: all-MiniLM-L6-v2 with learned 4-bit codebooks beside linear int4, quality and
   engine speed side by side (``eie.experiments.transformer``).
7. Lay the report out (``eie.report.demo``; the caller writes it).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from eie.bench.timing import interleaved
from eie.formats.model import Model
from eie.report import Report
from eie.report.demo import demo_report

SIM_IMAGES_FULL = 50
SIM_IMAGES_QUICK = 5
QUICK_REFERENCE_EPOCHS = 8
CALIBRATION_IMAGES = 200
"""Test images whose activations (every layer, reference engine) choose the fixed-point format."""


@dataclass(frozen=True)
class DemoOptions:
    out_dir: Path
    seed: int = 0
    quick: bool = False
    """Smaller training budget (tests): fewer epochs, one prune round, fewer simulated images."""
    threads: int | None = None
    cache_dir: Path | None = None
    """Where the trained reference is cached (default: $EIE_CACHE_DIR or ~/.cache/eie)."""
    command: tuple[str, ...] = ("eie", "demo")
    """The command line that produced the run (for captions and provenance)."""
    transformer: bool = True
    """Run the transformer part (needs the llm extra and the MiniLM package; skipped with the
    reason in the report when they are missing)."""


Progress = Callable[[str, dict[str, Any]], None]
"""``progress(kind, info)`` with kind in {"train", "compress", "step"}."""


def demo_recipe(quick: bool) -> Any:
    """The paper's LeNet-300-100 recipe with 4-bit shared weights and 4-bit relative indices
    everywhere (EIE's entry format), so every layer runs on the 4-bit CPU kernels as stored."""
    from eie.compress.paper import lenet300_recipe
    from eie.compress.recipe import QuantizeStage

    base = lenet300_recipe(quick)
    stages = tuple(replace(s, bits=4, layers={}) if isinstance(s, QuantizeStage) else s
                   for s in base.stages)
    return replace(base, name="lenet300-demo-4bit" + ("-quick" if quick else ""), stages=stages,
                   index_bits=4)


def _engine_forward(engine: Any, x: np.ndarray, batch: int = 16) -> np.ndarray:
    return np.concatenate([engine(x[i:i + batch]) for i in range(0, len(x), batch)])


Note = Callable[..., None]
"""``note(kind, **info)``: the progress callback, kind in {"train", "compress", "step"}."""


@dataclass
class Compressed:
    """Step 1-2: the trained reference and its compressed, saved and reloaded form."""

    reference_model: Any
    """The uncompressed torch LeNet-300-100."""
    result: Any
    """``eie.compress.pipeline.CompressionResult``."""
    path: Path
    model: Model
    """The saved file, loaded back."""


@dataclass
class Evaluation:
    """Step 3: the test split and the compressed model's accuracy on three paths."""

    x_test: np.ndarray
    """``(n, 784)`` float32 images."""
    y_test: np.ndarray
    accuracy: dict[str, float]
    """``torch``, ``reference``, ``engine``."""
    agreement: dict[str, Any]
    engine_predictions: np.ndarray
    engine: Any
    """The fast ``Engine`` on the model (timed next)."""


def train_and_compress(opts: DemoOptions, note: Note, timings: dict[str, float]) -> Compressed:
    import eie
    from eie.compress.paper import run as compress_run
    from eie.compress.train import train_reference

    t0 = time.perf_counter()
    note("step", message="training the reference LeNet-300-100")
    epochs = QUICK_REFERENCE_EPOCHS if opts.quick else None
    reference_model = train_reference(
        "lenet300", opts.seed, epochs=epochs, cache_dir=opts.cache_dir,
        report=lambda epoch, loss: note("train", epoch=epoch, loss=loss,
                                        epochs=epochs or 30))
    timings["train_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    note("step", message="compressing")
    result = compress_run("lenet300", seed=opts.seed, recipe=demo_recipe(opts.quick),
                          reference=reference_model,
                          progress=lambda ev: note("compress", event=ev))
    timings["compress_s"] = time.perf_counter() - t0
    opts.out_dir.mkdir(parents=True, exist_ok=True)
    path = result.save(opts.out_dir / "lenet300.eie", huffman=True)  # as small as it counts
    return Compressed(reference_model, result, path, eie.load(path))


def evaluate(c: Compressed, threads: int) -> Evaluation:
    """Accuracy of the compressed model with torch, the reference engine and the fast engine."""
    import torch

    from eie.compress.data import mnist_split
    from eie.engine import Engine, reference

    data = mnist_split()
    x_test = data.x_test.reshape(len(data.x_test), -1).numpy().astype(np.float32)
    y_test = data.y_test.numpy()
    with torch.no_grad():
        torch_logits = c.result.torch_model(data.x_test).numpy()
    ref_logits = reference.forward(c.model, x_test)
    engine = Engine(c.model, threads=threads)
    eng_logits = _engine_forward(engine, x_test)
    preds = {k: v.argmax(1) for k, v in (("torch", torch_logits), ("reference", ref_logits),
                                          ("engine", eng_logits))}
    agree = {
        "engine_vs_torch_predictions": int(np.sum(preds["engine"] == preds["torch"])),
        "reference_vs_torch_predictions": int(np.sum(preds["reference"] == preds["torch"])),
        "max_abs_logit_diff_engine_vs_reference": float(np.abs(eng_logits - ref_logits).max()),
        "max_abs_logit_diff_torch_vs_reference": float(np.abs(torch_logits - ref_logits).max()),
        "images": len(y_test),
    }
    return Evaluation(x_test, y_test, {k: float(np.mean(p == y_test)) for k, p in preds.items()},
                      agree, preds["engine"], engine)


def dense_weights(reference_model: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(weight, bias)`` float32 of every Linear of the uncompressed model."""
    import torch

    return [(m.weight.detach().numpy().astype(np.float32),
             m.bias.detach().numpy().astype(np.float32))
            for m in reference_model.modules() if isinstance(m, torch.nn.Linear)]


def time_one_image(c: Compressed, ev: Evaluation, threads: int, quick: bool) -> dict[str, float]:
    """Median microseconds per image (batch 1): the fast engine, dense torch and numpy dense,
    interleaved, ``threads`` threads each."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    x1 = ev.x_test[:1]
    x1_t = torch.from_numpy(x1.copy())  # (1, 784), as the model takes it
    dense_w = dense_weights(c.reference_model)

    def numpy_dense() -> np.ndarray:
        h = x1[0]
        for i, (w, b) in enumerate(dense_w):
            h = w @ h + b
            if i < len(dense_w) - 1:
                h = np.maximum(h, 0)
        return h

    def torch_dense() -> Any:
        with torch.no_grad():
            return c.reference_model(x1_t)

    repeats = 30 if quick else 200
    with threadpool_limits(limits=threads):
        t = interleaved({"eie_engine": lambda: ev.engine(x1[0]), "torch_dense": torch_dense,
                         "numpy_dense": numpy_dense},
                        budget_s=0.15 if quick else 1.5, min_reps=repeats,
                        max_reps=100 * repeats)
    return {k: v.wall_us for k, v in t.items()}


def simulate_images(model: Model, ev: Evaluation, quick: bool) -> dict[str, Any]:
    """Test images on the 64-PE EIE in 16-bit fixed point (format calibrated on the reference
    engine's activations), averaged per layer and per image."""
    import eie
    from eie.engine.fixed_point import FixedPointFormat
    from eie.sim import HardwareConfig, simulate

    config = HardwareConfig()
    model64 = eie.Model(tuple(replace(layer, matrix=layer.matrix.with_num_pes(config.num_pes))
                              for layer in model.layers), source=model.source)
    fmt = FixedPointFormat.for_model(model, ev.x_test[:CALIBRATION_IMAGES])
    n_sim = SIM_IMAGES_QUICK if quick else SIM_IMAGES_FULL
    sims = [simulate(model64, ev.x_test[i], config=config, fmt=fmt) for i in range(n_sim)]
    sim_pred = np.array([int(np.argmax(s.output)) for s in sims])
    per_layer = []
    for j, layer in enumerate(model.layers):
        rs = [s.layers[j] for s in sims]
        per_layer.append({
            "name": layer.name, "shape": list(layer.matrix.shape),
            "cycles": float(np.mean([r.cycles for r in rs])),
            "latency_us": float(np.mean([r.latency_us for r in rs])),
            "energy_pj": float(np.mean([r.energy_pj for r in rs])),
            "load_efficiency": float(np.mean([r.load_efficiency for r in rs])),
            "real_work_fraction": float(np.mean([r.real_work_fraction for r in rs])),
        })
    return {
        "images": n_sim,
        "num_pes": config.num_pes, "fifo_depth": config.fifo_depth, "clock_mhz": config.clock_mhz,
        "cycles": float(np.mean([s.cycles for s in sims])),
        "latency_us": float(np.mean([s.latency_us for s in sims])),
        "energy_pj": float(np.mean([s.energy_pj for s in sims])),
        "first_image_cycles": int(sims[0].cycles),
        "load_efficiency": float(np.mean([p["load_efficiency"] for p in per_layer])),
        "predictions_equal_to_float_engine": int(np.sum(sim_pred
                                                        == ev.engine_predictions[:n_sim])),
        "accuracy_on_simulated_images": float(np.mean(sim_pred == ev.y_test[:n_sim])),
        "act_frac_bits": fmt.act_frac_bits, "weight_frac_bits": fmt.weight_frac_bits,
        "layers": per_layer,
    }


def run_demo(opts: DemoOptions, progress: Progress | None = None) -> tuple[Report, dict[str, Any]]:
    """Run every step; returns the report and the JSON summary."""
    from eie.compress.train import set_threads
    from eie.experiments.transformer import TransformerOptions, TransformerSkipped, run_transformer

    def note(kind: str, **info: Any) -> None:
        if progress is not None:
            progress(kind, info)

    set_threads()
    timings: dict[str, float] = {}
    c = train_and_compress(opts, note, timings)
    note("step", message="evaluating torch, reference engine and fast engine")
    threads = opts.threads or (os.cpu_count() or 1)  # the engine and the baselines alike
    ev = evaluate(c, threads)
    note("step", message="timing one image on the CPU")
    cpu_us = time_one_image(c, ev, threads, opts.quick)
    note("step", message="simulating the 64-PE EIE")
    sim_summary = simulate_images(c.model, ev, opts.quick)
    t0 = time.perf_counter()
    transformer = (run_transformer(TransformerOptions(quick=opts.quick, threads=opts.threads,
                                                      seed=opts.seed),
                                   lambda msg: note("step", message=msg))
                   if opts.transformer else TransformerSkipped("not asked for (--no-transformer)"))
    timings["transformer_s"] = time.perf_counter() - t0

    cj = c.result.to_json()
    acc = ev.accuracy
    summary = {
        "model": "LeNet-300-100", "eie_file": str(c.path), "file_bytes": c.path.stat().st_size,
        "seed": opts.seed, "quick": opts.quick,
        "accuracy": {"reference_uncompressed": c.result.accuracy_reference,
                     "torch_compressed": acc["torch"], "reference_engine": acc["reference"],
                     "fast_engine": acc["engine"],
                     "compress_report": c.result.accuracy_compressed},
        "agreement": ev.agreement,
        "compression_ratio": cj["compression_ratio"],
        "compression_ratio_no_huffman": cj["compression_ratio_no_huffman"],
        "density": cj["density"],
        "storage": cj["storage"],
        "dense_fp32_bytes": sum(w.nbytes for w, _ in dense_weights(c.reference_model)),
        "cpu_us_per_image": cpu_us, "cpu_threads": threads,
        "speedup_engine_vs_torch_dense": cpu_us["torch_dense"] / cpu_us["eie_engine"],
        "speedup_engine_vs_numpy_dense": cpu_us["numpy_dense"] / cpu_us["eie_engine"],
        "simulated": sim_summary,
        "transformer": transformer.to_json(),
        "stages": cj["stages"],
        "timings_s": timings,
    }
    return demo_report(summary, c.model, list(opts.command)), summary
