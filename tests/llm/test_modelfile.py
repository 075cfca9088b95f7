"""The self-contained quantized model file: round trip, validation, atomic writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from eie.errors import FormatError
from eie.llm import modelfile
from eie.llm.evaluate import cosine, embeddings
from eie.llm.quantize import QuantSpec, parse_overrides, quantize_model
from eie.llm.sources import load_source

LAYER0 = "encoder.layer.0."


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path,
          calib_text: str) -> tuple[Path, Any]:
    import torch

    # A slice: layer 0's six Linear layers with four different schemes, the rest kept.
    loaded = load_source(minilm_dir)
    spec = QuantSpec("codebook", bits=4)
    over = parse_overrides([f"{LAYER0}attention.self.key=scheme:int,bits:3,group:64",
                            f"{LAYER0}attention.self.value=scheme:nf4",
                            f"{LAYER0}output.dense=scheme:iq4nl",
                            f"{LAYER0}intermediate.dense=scheme:bf16"], spec)
    names = [n for n, _ in loaded.model.named_modules() if n.startswith(LAYER0)
             and n.count(".") >= 3 and type(_).__name__ == "Linear"]
    qm = quantize_model(loaded, spec, calib_text, overrides=over, layers=names,
                        calib_tokens=512)
    pruned = quantize_model(load_source(minilm_dir),
                            QuantSpec("codebook", bits=3, prune=(2, 4), weighting="none"),
                            layers=[f"{LAYER0}attention.output.dense"])
    qm.layers.update({f"{LAYER0}attention.output.dense":
                      pruned.layers[f"{LAYER0}attention.output.dense"]})
    dense = loaded.model.get_submodule(f"{LAYER0}attention.output.dense")
    dense.weight.data = torch.from_numpy(
        pruned.layers[f"{LAYER0}attention.output.dense"].dequantize())
    path = modelfile.save(tmp_path_factory.mktemp("m") / "mini.eie", qm)
    return path, qm


def test_round_trip_is_exact(saved: tuple[Path, Any], sentences: list[str]) -> None:
    path, qm = saved
    loaded = modelfile.load(path)
    assert set(loaded.quantized) == set(qm.layers)
    assert {q.scheme for q in loaded.quantized.values()} == {"codebook", "int", "nf4", "iq4nl",
                                                              "bf16"}
    for name, q in qm.layers.items():
        assert np.array_equal(loaded.quantized[name].dequantize(), q.dequantize()), name
        assert loaded.quantized[name].bits_per_weight == q.bits_per_weight
    a = embeddings(qm.loaded, sentences[:8])
    b = embeddings(loaded, sentences[:8])
    assert np.array_equal(a, b)
    assert cosine(a, b)["cosine_min"] == pytest.approx(1.0)
    assert loaded.header["quantization"]["bits_per_weight"] == qm.bits_per_weight


def test_file_size_is_what_the_accounting_says(saved: tuple[Path, Any]) -> None:
    path, qm = saved
    from safetensors.numpy import load_file

    t = load_file(str(path))
    for i, (_name, q) in enumerate(qm.layers.items()):
        if q.codes is None:
            continue
        kept = q.codes.size if q.mask is None else int(q.mask.sum())
        assert t[f"q.{i}.codes"].size == -(-kept * q.bits // 8)


def corrupt(path: Path, tmp: Path, fn: Any) -> Path:
    data = bytearray(path.read_bytes())
    fn(data)
    out = tmp / "bad.eie"
    out.write_bytes(bytes(data))
    return out


def test_corruption_truncation_and_versions_are_refused(saved: tuple[Path, Any],
                                                        tmp_path: Path) -> None:
    path, _ = saved
    n = int.from_bytes(path.read_bytes()[:8], "little")

    def flip_last(d: bytearray) -> None:
        d[-1] ^= 0xFF

    with pytest.raises(FormatError, match="CRC32"):
        modelfile.load(corrupt(path, tmp_path, flip_last))
    cut = tmp_path / "cut.eie"
    cut.write_bytes(path.read_bytes()[: n + 1000])
    with pytest.raises(FormatError, match="truncated|corrupted"):
        modelfile.load(cut)
    cut.write_bytes(path.read_bytes()[:100])
    with pytest.raises(FormatError, match="truncated"):
        modelfile.load(cut)

    def bump(d: bytearray) -> None:
        i = d.index(b'\\"format_version\\": 1')
        d[i + len(b'\\"format_version\\": ')] = ord("7")

    with pytest.raises(FormatError, match="version 7"):
        modelfile.load(corrupt(path, tmp_path, bump))
    assert not modelfile.is_model_file(tmp_path / "absent.eie")


def test_header_lies_are_caught(saved: tuple[Path, Any], tmp_path: Path) -> None:
    from safetensors.numpy import load_file, save_file

    path, _ = saved
    tensors = load_file(str(path))
    header = modelfile.read_header(path.read_bytes(), "x")
    header["layers"][0]["shape"] = [header["layers"][0]["shape"][0] + 1,
                                    header["layers"][0]["shape"][1]]
    bad = tmp_path / "lie.eie"
    save_file(tensors, str(bad), metadata={"eie": json.dumps(header)})
    with pytest.raises(FormatError, match="layer 0"):
        modelfile.load(bad)
    header = modelfile.read_header(path.read_bytes(), "x")
    header["tokenizer_files"] = ["../../etc/passwd"]
    save_file(tensors, str(bad), metadata={"eie": json.dumps(header)})
    with pytest.raises(FormatError, match="plain file names"):
        modelfile.load(bad)
