"""End to end on a tiny MLP: compress, save, run the .eie on the reference engine; resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import eie
from eie.compress import (
    HuffmanStage,
    ProgressEvent,
    PruneLayer,
    PruneStage,
    QuantizeStage,
    Recipe,
    compress,
)
from eie.compress.prune_methods import BalancedPruning, NMPruning
from eie.compress.train import evaluate, train_epochs
from eie.engine.reference import spmv
from eie.errors import CompressionError


def _blobs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(4, 16, generator=torch.Generator().manual_seed(99)) * 2
    y = torch.randint(0, 4, (n,), generator=g)
    return centers[y] + torch.randn(n, 16, generator=g), y


X_TRAIN, Y_TRAIN = _blobs(600, 0)
X_TEST, Y_TEST = _blobs(300, 1)


def tiny_mlp() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 24), nn.ReLU(),
                          nn.Linear(24, 4))
    train_epochs(model, X_TRAIN, Y_TRAIN, 5, 1e-2, seed=0)
    return model


class Trainer:
    """A train_fn that draws its batch order from torch's global generator and counts calls."""

    def __init__(self, fail_on_call: int | None = None) -> None:
        self.calls = 0
        self.fail_on_call = fail_on_call

    def __call__(self, model: nn.Module, epochs: int, lr: float, report: Any = None) -> None:
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise KeyboardInterrupt("simulated interruption")
        seed = int(torch.randint(0, 2**31 - 1, (1,)))
        train_epochs(model, X_TRAIN, Y_TRAIN, epochs, lr, seed=seed, optimizer="sgd",
                     weight_decay=1e-3, report=report)


def eval_fn(model: nn.Module) -> float:
    return evaluate(model, X_TEST, Y_TEST)


RECIPE = Recipe(
    name="tiny", num_pes=2, index_bits=3, seed=1,
    stages=(
        PruneStage(density=0.4, rounds=2, epochs=1, lr=0.01,
                   layers={"4": PruneLayer(density=0.7)}),
        QuantizeStage(bits=3, epochs=1, lr=1e-3),
        HuffmanStage(),
    ))


@pytest.fixture(scope="module")
def model() -> nn.Module:
    return tiny_mlp()


def test_saved_eie_runs_like_the_compressed_torch_model(model: nn.Module, tmp_path: Path
                                                        ) -> None:
    result = compress(model, RECIPE, Trainer(), eval_fn)
    path = result.save(tmp_path / "tiny.eie")
    loaded = eie.load(path)
    assert [layer.name for layer in loaded.layers] == ["0", "2", "4"]
    assert [layer.activation for layer in loaded.layers] == ["relu", "relu", None]
    assert loaded.layers[0].matrix.num_pes == 2 and loaded.layers[0].matrix.index_bits == 3
    x = X_TEST[:20]
    with torch.no_grad():
        expected = result.torch_model(x).numpy()
    for i in range(len(x)):
        h = x[i].numpy()
        for layer in loaded.layers:
            h = spmv(layer.matrix, h, layer.bias, layer.activation)
        np.testing.assert_allclose(h, expected[i], rtol=1e-5, atol=1e-5)
    # Pruned exactly as asked, codebooks of 2**3 entries, original model untouched.
    dens = {r.name: r.matrix.density for r in loaded.layers}
    assert dens["0"] == pytest.approx(0.4, abs=1e-3) and dens["4"] == pytest.approx(0.7, abs=1e-2)
    assert all(len(layer.matrix.codebook) == 8 for layer in loaded.layers)
    assert float((model[0].weight == 0).float().mean()) == 0.0
    coded = result.save(tmp_path / "tiny-huffman.eie", huffman=True)
    assert eie.load(coded).equals(loaded)


def test_report_and_json(model: nn.Module) -> None:
    events: list[ProgressEvent] = []
    result = compress(model, RECIPE, Trainer(), eval_fn, progress=events.append)
    epochs = [(e.stage, e.epoch, e.epochs) for e in events if e.epoch is not None]
    assert epochs == [("prune", 1, 1), ("prune", 1, 1), ("quantize", 1, 1)]
    assert all(e.loss is not None and e.loss > 0 for e in events if e.epoch is not None)
    assert next(e.message for e in events if e.stage == "huffman") == "start"
    assert [r.stage for r in result.report] == ["reference", "prune", "quantize", "huffman"]
    ratios = [r.compression_ratio for r in result.report]
    assert ratios[0] == 1.0 and ratios[1] < ratios[2] < ratios[3]
    j = result.to_json()
    for key in ("compression_ratio", "compression_ratio_no_huffman", "accuracy_reference",
                "accuracy_compressed", "density", "layers"):
        assert key in j
    assert j["compression_ratio"] == pytest.approx(result.storage.compression_ratio)
    total = sum(layer["storage"]["total_bits"] for layer in j["layers"])
    dense_bits = sum(np.prod(layer["shape"]) * 32 for layer in j["layers"])
    assert j["compression_ratio"] == pytest.approx(dense_bits / total)
    stored = result.eie_model.storage()
    assert j["compression_ratio_no_huffman"] == pytest.approx(stored.compression_ratio)
    assert j["accuracy_compressed"] > 0.8 and j["density"] < 0.5


def test_resume_after_interruption(model: nn.Module, tmp_path: Path) -> None:
    straight = compress(model, RECIPE, Trainer(), eval_fn)
    ckpt = tmp_path / "ckpt"
    # Calls 1 and 2 are the two prune rounds; call 3 (centroid fine-tuning) is interrupted.
    with pytest.raises(KeyboardInterrupt):
        compress(model, RECIPE, Trainer(fail_on_call=3), eval_fn, checkpoint_dir=ckpt)
    assert (ckpt / "stage-0.pt").is_file() and not (ckpt / "stage-1.pt").exists()
    again = Trainer()
    resumed = compress(model, RECIPE, again, eval_fn, checkpoint_dir=ckpt)
    assert again.calls == 1  # only the fine-tuning ran; the finished prune stage was kept
    assert [r.resumed for r in resumed.report] == [True, True, False, False]
    for name, s in straight.shared.items():
        np.testing.assert_array_equal(resumed.shared[name].codes, s.codes)
        np.testing.assert_array_equal(resumed.shared[name].codebook, s.codebook)
    # A third run finds every stage done and trains nothing.
    done = Trainer()
    compress(model, RECIPE, done, eval_fn, checkpoint_dir=ckpt)
    assert done.calls == 0
    # Another recipe does not pick up these checkpoints.
    other = Trainer()
    compress(model, Recipe(name="other", stages=RECIPE.stages, num_pes=2, index_bits=3, seed=1),
             other, eval_fn, checkpoint_dir=ckpt)
    assert other.calls == 3


def test_masks_hold_through_the_whole_pipeline(model: nn.Module) -> None:
    result = compress(model, RECIPE, Trainer(), eval_fn)
    for name, mask in result.masks.items():
        w = dict(result.torch_model.named_modules())[name].weight
        assert torch.all(w[~mask] == 0)
        assert np.array_equal(result.shared[name].codes != 0, mask.numpy())


def test_structured_methods_in_the_pipeline(model: nn.Module) -> None:
    nm = Recipe(name="nm", stages=(PruneStage(method=NMPruning(n=2, m=4)),))
    r = compress(model, nm, Trainer(), eval_fn)
    w = r.torch_model[0].weight.detach()
    assert torch.all((w != 0).reshape(32, 4, 4).sum(-1) == 2)
    assert r.eie_model is None
    with pytest.raises(CompressionError, match="no quantize stage"):
        r.save("unused.eie")
    bal = Recipe(name="bal", num_pes=4,
                 stages=(PruneStage(method=BalancedPruning(), density=0.25), QuantizeStage(bits=4)))
    r = compress(model, bal, Trainer(), eval_fn)
    per_pe = r.eie_model.layers[1].matrix.entries_per_pe()
    assert per_pe.max() - per_pe.min() <= 1 + r.eie_model.layers[1].matrix.num_fillers


def test_unknown_layer_is_an_error(model: nn.Module) -> None:
    bad = Recipe(name="bad", stages=(PruneStage(density=0.5,
                                                layers={"fc9": PruneLayer(density=0.1)}),))
    with pytest.raises(CompressionError, match="fc9"):
        compress(model, bad, Trainer(), eval_fn)


def _same_result(a: Any, b: Any) -> None:
    """Codes, codebooks, biases and accuracies bit-identical."""
    assert sorted(a.shared) == sorted(b.shared)
    for name, s in a.shared.items():
        np.testing.assert_array_equal(b.shared[name].codes, s.codes)
        np.testing.assert_array_equal(b.shared[name].codebook, s.codebook)
    for (na, ta), (nb, tb) in zip(a.torch_model.state_dict().items(),
                                  b.torch_model.state_dict().items(), strict=True):
        assert na == nb and torch.equal(ta, tb), na
    assert [r.accuracy for r in a.report] == [r.accuracy for r in b.report]


class Interrupt:
    """Wraps a train_fn; raises KeyboardInterrupt on call ``n`` (1-based)."""

    def __init__(self, fn: Any, n: int) -> None:
        self.fn, self.n, self.calls = fn, n, 0

    def __call__(self, *args: Any) -> None:
        self.calls += 1
        if self.calls == self.n:
            raise KeyboardInterrupt("simulated interruption")
        self.fn(*args)


PRUNE3 = Recipe(name="rounds", num_pes=2, index_bits=3, seed=2,
                stages=(PruneStage(density=0.3, rounds=3, epochs=1, lr=0.01),
                        QuantizeStage(bits=3, epochs=1, lr=1e-3)))


@pytest.mark.parametrize("fail_on", [2, 3, 4], ids=["round2", "round3", "finetune"])
def test_resume_with_make_train_fn_is_bit_identical(model: nn.Module, tmp_path: Path,
                                                    fail_on: int) -> None:
    """The bundled train_fn (what eie compress uses) resumes to the same bits, after every
    pruning round and every stage. On a train_fn that counted its calls this failed: the
    resumed process restarted the count and trained on other batches."""
    from eie.compress.data import MNISTSplit
    from eie.compress.train import make_train_fn

    data = MNISTSplit(X_TRAIN, Y_TRAIN, X_TEST, Y_TEST)
    straight = compress(model, PRUNE3, make_train_fn(data), eval_fn)
    ckpt = tmp_path / "ckpt"
    with pytest.raises(KeyboardInterrupt):
        compress(model, PRUNE3, Interrupt(make_train_fn(data), fail_on), eval_fn,
                 checkpoint_dir=ckpt)
    saved = sorted(p.name for p in ckpt.iterdir())
    assert saved == {2: ["stage-0.round-0.pt"], 3: ["stage-0.round-1.pt"],
                     4: ["stage-0.pt"]}[fail_on]  # earlier rounds' files are replaced
    counting = Interrupt(make_train_fn(data), 0)
    resumed = compress(model, PRUNE3, counting, eval_fn, checkpoint_dir=ckpt)
    assert counting.calls == 4 - (fail_on - 1)  # only what had not finished ran again
    _same_result(straight, resumed)


def test_checkpoint_of_another_model_is_not_resumed(model: nn.Module, tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt"
    compress(model, RECIPE, Trainer(), eval_fn, checkpoint_dir=ckpt)
    other = tiny_mlp()
    with torch.no_grad():
        other[0].weight.mul_(1.5)
    t = Trainer()
    compress(other, RECIPE, t, eval_fn, checkpoint_dir=ckpt)
    assert t.calls == 3  # nothing resumed: the checkpoints belong to another model


def test_failed_checkpoint_write_leaves_nothing(model: nn.Module, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk during torch.save: the error comes through, no temporary or partial file
    stays, and an earlier checkpoint is intact."""
    import errno

    import eie.compress.pipeline as pipeline

    real_save = torch.save
    calls = [0]

    def full_disk(obj: Any, f: Any, *a: Any, **k: Any) -> None:
        calls[0] += 1
        if calls[0] == 2:
            Path(f).write_bytes(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(obj, f, *a, **k)

    monkeypatch.setattr(pipeline.torch, "save", full_disk)
    ckpt = tmp_path / "ckpt"
    with pytest.raises(OSError, match="No space"):
        compress(model, RECIPE, Trainer(), eval_fn, checkpoint_dir=ckpt)
    assert sorted(p.name for p in ckpt.iterdir()) == ["stage-0.round-0.pt"]
    monkeypatch.setattr(pipeline.torch, "save", real_save)
    t = Trainer()
    compress(model, RECIPE, t, eval_fn, checkpoint_dir=ckpt)
    assert t.calls == 2  # resumed after round 0 of the prune stage


def test_quantize_skip_keeps_a_layer_in_torch(model: nn.Module) -> None:
    """A layer the quantize stage skips stays float (its mask holds), is left out of the .eie
    file, and the file says it is not a chain; swap runs the rest."""
    from eie.compress.recipe import QuantizeLayer
    from eie.engine import Engine
    from eie.engine.torch import swap
    from eie.errors import EngineError

    recipe = Recipe(name="skip", num_pes=2, index_bits=3, seed=1, stages=(
        PruneStage(density=0.4, rounds=1, epochs=1, lr=0.01),
        QuantizeStage(bits=3, epochs=1, lr=1e-3, layers={"2": QuantizeLayer(skip=True)})))
    result = compress(model, recipe, Trainer(), eval_fn)
    assert sorted(result.shared) == ["0", "4"] and result.eie_model is not None
    assert [ly.name for ly in result.eie_model.layers] == ["0", "4"]
    assert "'2'" in result.eie_model.metadata["graph"]["breaks"]
    assert result.eie_model.metadata["layers_in_torch"] == ["2"]
    w = result.torch_model[2].weight
    assert torch.all(w[~result.masks["2"]] == 0) and len(torch.unique(w)) > 9  # float
    with pytest.raises(EngineError, match="not quantized"):
        Engine(result.eie_model)
    import copy

    net = copy.deepcopy(result.torch_model)
    x = X_TEST[:20]
    with torch.no_grad():
        want = result.torch_model(x)
        swap(net, result.eie_model)
        torch.testing.assert_close(net(x), want, atol=1e-4, rtol=0)
