"""The demo report's transformer section: quality and engine speed of the quantized MiniLM side
by side (from ``eie.experiments.transformer``'s JSON; nothing is computed here but ratios)."""

from __future__ import annotations

from typing import Any

from eie.report.document import Figure, Report, Table


def add_transformer_section(r: Report, t: dict[str, Any], command: str) -> None:
    """Append the section for ``t`` (``TransformerResult.to_json()`` or ``{"skipped": why}``)."""
    r.add_heading("A transformer: all-MiniLM-L6-v2, learned codebooks against linear int4")
    if "skipped" in t:
        r.add_text(f"Skipped: {t['skipped']}.")
        return
    sp = t["speed"]
    wall, cpu = sp["wall_us"], sp["cpu_us"]
    r.add_text(
        f"The {t['linear_weights']:,} Linear weights of {t['model']} ({sp['linear_layers']} "
        f"layers; embeddings and norms kept in fp32) quantized without retraining, calibrated "
        f"on {t['calibration_tokens']:,} tokens of the bundled calibration text; quality is the "
        f"cosine of mean-pooled sentence embeddings against the fp32 model on "
        f"{t['sentences']} held-out sentences.")
    rows = []
    for s in t["schemes"]:
        eng = s["engine_cosine_mean"]
        rows.append([s["label"], s["bits_per_weight"], s["cosine_mean"], s["cosine_min"],
                     "no engine layout" if eng is None else eng, s["quantize_s"]])
    r.add_table(Table(
        "Quality at about 4 bits per weight", ["scheme", "bits / weight", "cosine mean",
                                               "cosine min",
                                               f"cosine mean on eie's engine (first "
                                               f"{t['engine_sentences']} sentences)",
                                               "quantize (s)"], rows,
        note="int4 g128: asymmetric round-to-nearest, an fp16 scale and zero per 128 input "
             "columns. codebook 4-bit: 16 learned fp16 values per row (per two rows in the "
             "query and key projections), exact weighted 1-D k-means weighted by E[x^2] of each "
             "input channel. Bits per weight count every scale and codebook. Cosines over all "
             "sentences are computed by torch with the dequantized weights; eie's engine "
             "(every Linear on its kernels, the rest in torch) gives the same embeddings to "
             f"{t['engine_vs_torch_max_abs']:.1e} on the first {t['engine_sentences']}. int4 "
             "g128's scales per column group have no engine layout (the engine's codebooks are "
             "per row group)."))
    rows = [
        [f"one sentence ({sp['sentence_tokens']} tokens), whole encoder",
         wall["torch_fp32_sentence"], wall["eie_sentence"],
         wall["torch_fp32_sentence"] / wall["eie_sentence"],
         cpu["torch_fp32_sentence"], cpu["eie_sentence"],
         cpu["torch_fp32_sentence"] / cpu["eie_sentence"]],
        [f"the {sp['linear_layers']} Linear layers at one token (batch 1)",
         wall["torch_fp32_linears"], wall["eie_linears"],
         wall["torch_fp32_linears"] / wall["eie_linears"],
         cpu["torch_fp32_linears"], cpu["eie_linears"],
         cpu["torch_fp32_linears"] / cpu["eie_linears"]],
    ]
    b = sp["linear_weight_bytes"]
    r.add_table(Table(
        "Speed: torch fp32 against the codebook model on eie's engine",
        ["work", "torch fp32 (us)", "eie engine (us)", "speed-up (x)", "torch fp32 CPU (us)",
         "eie CPU (us)", "speed-up, CPU time (x)"], rows,
        note=f"Medians, interleaved in one process, {sp['threads']} thread(s) for both, eie's "
             f"kernels on {sp['isa']}; CPU is the calling thread's CPU time (what the call cost "
             f"whatever else ran on the machine). In the whole encoder, attention, norms and "
             f"GELU stay in torch for both. Linear weights streamed per token: "
             f"{b['torch_fp32'] / 2**20:.1f} MiB in fp32, {b['eie'] / 2**20:.1f} MiB as 4-bit "
             f"codes and codebooks."))
    _figure(r, t, command)


def _figure(r: Report, t: dict[str, Any], command: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sp = t["speed"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8.4, 3.4))
    labels = [s["label"] for s in t["schemes"]]
    a1.bar(labels, [s["cosine_mean"] for s in t["schemes"]], color=["#a0aec0", "#2b6cb0"])
    lo = min(s["cosine_min"] for s in t["schemes"])
    a1.set_ylim(max(0.0, lo - 0.02), 1.0)
    for i, s in enumerate(t["schemes"]):
        a1.annotate(f"{s['cosine_mean']:.4f}\n{s['bits_per_weight']:.3f} b/w",
                    (i, s["cosine_mean"]), ha="center", va="bottom", fontsize=8)
    a1.set_ylabel("embedding cosine vs fp32 (mean)")
    names = ["torch fp32", "eie engine"]
    vals = [sp["wall_us"]["torch_fp32_linears"], sp["wall_us"]["eie_linears"]]
    a2.bar(names, vals, color=["#a0aec0", "#2b6cb0"])
    a2.set_yscale("log")
    a2.set_ylabel("all Linear layers, one token (us, log)")
    r.add_figure(Figure.from_matplotlib(
        "transformer_quality_speed",
        f"Left: {t['model']}'s sentence-embedding cosine against fp32 for linear int4 g128 and "
        f"4-bit learned codebooks, labelled with bits per weight. Right: the time of all "
        f"{sp['linear_layers']} Linear layers at one token, torch fp32 against the codebook "
        f"layers on eie's engine ({sp['isa']}, {sp['threads']} thread(s), medians, "
        f"interleaved). Produced by `{command}`.", fig))
