"""The demo report's transformer section: quality and engine speed of the quantized MiniLM side
by side (from ``eie.experiments.transformer``'s JSON; nothing is computed here but ratios)."""

from __future__ import annotations

from typing import Any

from eie.report.document import Figure, Report, Table

TORCH = "torch fp32"  # the baseline's key in the speed records


def add_transformer_section(r: Report, t: dict[str, Any], command: str) -> None:
    """Append the section for ``t`` (``TransformerResult.to_json()`` or ``{"skipped": why}``)."""
    r.add_heading("A transformer: all-MiniLM-L6-v2, learned codebooks against linear int4")
    if "skipped" in t:
        r.add_text(f"Skipped: {t['skipped']}.")
        return
    sp = t["speed"]
    r.add_text(
        f"The {t['linear_weights']:,} Linear weights of {t['model']} ({sp['linear_layers']} "
        f"layers; embeddings and norms kept in fp32) quantized without retraining, calibrated "
        f"on {t['calibration_tokens']:,} tokens of the bundled calibration text, then run with "
        f"every quantized Linear on eie's kernels. Quality is the cosine of mean-pooled "
        f"sentence embeddings against the fp32 model on {t['sentences']} held-out sentences.")
    r.add_table(Table(
        "Quality at about 4 bits per weight",
        ["scheme", "bits / weight", "cosine mean", "cosine min",
         f"cosine mean on eie's engine (first {t['engine_sentences']})",
         "engine vs torch, largest difference", "Linear layers on the engine",
         "quantize (s)"],
        [[s["label"], s["bits_per_weight"], s["cosine_mean"], s["cosine_min"],
          s["engine_cosine_mean"], s["engine_vs_torch_max_abs"],
          f"{s['engine_layers']}/{sp['linear_layers']}", s["quantize_s"]]
         for s in t["schemes"]],
        note="int4 g128: asymmetric round-to-nearest, an fp16 scale and zero per 128 input "
             "columns (on the engine: one per-row-codebook block per 128 columns). codebook "
             "4-bit: 16 learned fp16 values per row (per two rows in the query and key "
             "projections), exact weighted 1-D k-means weighted by E[x^2] of each input "
             "channel. Bits per weight count every scale and codebook. The cosines over all "
             "sentences are computed by torch with the dequantized weights; the engine's "
             "embeddings of the first sentences differ from those by the largest difference "
             "shown."))
    variants = t.get("variants", [])
    for v in variants:
        r.add_text(
            f"{v['label']}: the {v['scheme']} model on eie's engine with "
            f"`precision=\"{v['precision']}\"` (each Linear input rounded to int8 per 128 "
            f"columns, each codebook to int8, integer dot products): embedding cosine "
            f"{v['engine_cosine_mean']:.4f} on the first {t['engine_sentences']} sentences, "
            f"at most {v['vs_fp32_engine_max_abs']:.2g} from its fp32 products.")
    contenders = [TORCH, *[s["label"] for s in t["schemes"]], *[v["label"] for v in variants]]
    stream = {TORCH: sp["fp32_bytes_per_token"],
              **{s["label"]: s["stream_bytes_per_token"] for s in t["schemes"]},
              **{v["label"]: v["stream_bytes_per_token"] for v in variants}}
    lw, lc = sp["linears_wall_us"], sp["linears_cpu_us"]
    sw = sp["sentence_wall_us"]
    n = sp["sentence_tokens"]
    rows = []
    for k in contenders:
        rows.append([k if k == TORCH else f"eie engine, {k}", stream[k] / 2**20,
                     lw[k], lc[k], lw[TORCH] / lw[k], 1e6 / lw[k],
                     sw[k], n * 1e6 / sw[k], sw[TORCH] / sw[k]])
    r.add_table(Table(
        "Speed: torch fp32 against the quantized model on eie's engine",
        ["model", "Linear weights read per token (MiB)", "Linear layers, 1 token (us)",
         "same, CPU (us)", "speed-up vs torch (x)", "Linear tokens / s",
         f"whole encoder, one {n}-token sentence (us)", "encoder tokens / s",
         "speed-up vs torch (x)"], rows,
        note=f"Medians, every contender interleaved in one process, {sp['threads']} thread(s) "
             f"for torch and the engine, eie's kernels on {sp['isa']}; CPU is the calling "
             f"thread's CPU time (what the call cost whatever else ran on the machine). 'Linear "
             f"layers, 1 token' calls every Linear once on one token's input (batch 1, what "
             f"decoding a token costs); the whole encoder runs the sentence's {n} tokens as one "
             f"batch, with attention, norms and GELU in torch for every contender."))
    _figure(r, t, contenders, command)


def _figure(r: Report, t: dict[str, Any], contenders: list[str], command: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sp = t["speed"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8.8, 3.5))
    labels = [s["label"] for s in t["schemes"]]
    a1.bar(labels, [s["cosine_mean"] for s in t["schemes"]], color=["#a0aec0", "#2b6cb0"])
    lo = min(s["cosine_min"] for s in t["schemes"])
    a1.set_ylim(max(0.0, lo - 0.02), 1.0)
    for i, s in enumerate(t["schemes"]):
        a1.annotate(f"{s['cosine_mean']:.4f}\n{s['bits_per_weight']:.3f} b/w",
                    (i, s["cosine_mean"]), ha="center", va="bottom", fontsize=8)
    a1.set_ylabel("embedding cosine vs fp32 (mean)")
    a2.bar([c.replace(" ", "\n", 1) for c in contenders],
           [sp["linears_wall_us"][c] for c in contenders],
           color=["#a0aec0"] + ["#2b6cb0"] * (len(contenders) - 1))
    a2.set_yscale("log")
    a2.set_ylabel("all Linear layers, one token (us, log)")
    r.add_figure(Figure.from_matplotlib(
        "transformer_quality_speed",
        f"Left: {t['model']}'s sentence-embedding cosine against fp32 for linear int4 g128 and "
        f"4-bit learned codebooks, labelled with bits per weight. Right: the time of all "
        f"{sp['linear_layers']} Linear layers at one token, torch fp32 against each quantized "
        f"model on eie's engine ({sp['isa']}, {sp['threads']} thread(s), medians, "
        f"interleaved). Produced by `{command}`.", fig))
