"""Block-granular activation sparsity and per-column codebooks (``eie.llm.actblocks``): the rules'
zero sets are whole blocks in their column order at the calibrated share, element-wise rules
match TEAL thresholds, the hooks change a Linear's output exactly as the masked input does, and
per-column codebooks equal the per-row quantizer on the transpose; on a slice of SmolLM2, the
bench's report and the CLI's refusals."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from eie.errors import ConfigError
from eie.llm import actblocks


def _inputs(seed: int = 0, n: int = 400, cols: int = 48) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    scale = rng.uniform(0.1, 3.0, cols).astype(np.float32)   # channels of unequal size
    x = (rng.standard_normal((n, cols)) * scale).astype(np.float32)
    w = rng.standard_normal((16, cols)).astype(np.float32)
    return x, w


@pytest.mark.parametrize("order", actblocks.ORDERS)
@pytest.mark.parametrize("score", actblocks.SCORES)
@pytest.mark.parametrize("block", [1, 5, 8])
def test_rules_zero_whole_blocks_at_the_calibrated_share(order: str, score: str,
                                                         block: int) -> None:
    x, w = _inputs()
    rule = actblocks.block_rules({"l": x}, {"l": w}, 0.4, block, order=order, score=score)["l"]
    assert sorted(rule.order) == list(range(x.shape[1]))
    keep = rule.keep(x)[:, rule.order]
    whole = x.shape[1] // block * block
    blocks = keep[:, :whole].reshape(len(x), -1, block)
    assert (blocks.all(2) | ~blocks.any(2)).all()          # each block kept or dropped whole
    assert keep[:, whole:].all()                            # the tail is never zeroed
    assert abs((~blocks.all(2)).mean() - 0.4) < 0.01        # the level, on its own calibration


def test_element_rules_are_teal_thresholds_and_sorted_puts_big_channels_first() -> None:
    x, w = _inputs(1)
    rule = actblocks.block_rules({"l": x}, {"l": w}, 0.3, 1)["l"]
    np.testing.assert_array_equal(rule.order, np.arange(x.shape[1]))
    np.testing.assert_array_equal(rule.keep(x), x ** 2 >= rule.threshold)
    assert abs(np.sqrt(rule.threshold) - np.quantile(np.abs(x), 0.3)) < 1e-3
    srt = actblocks.block_rules({"l": x}, {"l": w}, 0.3, 4, order="sorted")["l"]
    means = np.abs(x).mean(0)[srt.order]
    assert (np.diff(means) <= 0).all()
    assert actblocks.block_rules({"l": x}, {"l": w}, 0.0, 4)["l"].threshold == 0.0


def test_bad_rules_are_refused() -> None:
    x, w = _inputs()
    for kw, msg in [({"level": 1.0}, "level"), ({"block": 0}, "block"),
                    ({"order": "random"}, "order"), ({"score": "l2"}, "score")]:
        args = {"level": 0.3, "block": 4, **kw}
        with pytest.raises(ConfigError, match=msg):
            actblocks.block_rules({"l": x}, {"l": w}, args.pop("level"), args.pop("block"),
                                  **args)
    with pytest.raises(ConfigError, match="do not match"):
        actblocks.block_rules({"l": x}, {"l": w[:, :10]}, 0.3, 4)


def test_all_zero_blocks_golden() -> None:
    z = np.array([[1, 1, 0, 1, 1, 1, 1],
                  [1, 0, 1, 1, 0, 0, 0]], bool)
    assert actblocks.all_zero_blocks(z, 2) == pytest.approx(3 / 6)   # two blocks of row 0, one of 1
    assert actblocks.all_zero_blocks(z, 3) == pytest.approx(1 / 4)
    assert actblocks.all_zero_blocks(z, 2, np.array([2, 6, 0, 1, 3, 4, 5])) == pytest.approx(2 / 6)
    assert actblocks.all_zero_blocks(z, 8) == 0.0


def test_hooks_mask_a_linear_input_exactly() -> None:
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = torch.nn.Embedding(4, 48)
            self.fc = torch.nn.Linear(48, 16)

        def get_input_embeddings(self) -> Any:
            return self.emb

    torch.manual_seed(0)
    net = Net()
    x, _ = _inputs(2, 64)
    rule = actblocks.block_rules({"fc": x}, {"fc": net.fc.weight.detach().numpy()}, 0.5, 8,
                                 order="sorted", score="wina")
    xt = torch.from_numpy(x)
    with actblocks.block_sparse_activations(net, rule) as counts, torch.no_grad():
        got = net.fc(xt)
    with torch.no_grad():
        want = net.fc(xt * torch.from_numpy(rule["fc"].keep(x)))
        dense = net.fc(xt)
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    assert not torch.allclose(got, dense)
    assert counts["fc"][1] == x.size and abs(counts["fc"][0] / x.size - 0.5) < 0.05
    with torch.no_grad():                                   # the hooks are gone afterwards
        torch.testing.assert_close(net.fc(xt), dense, rtol=0, atol=0)


def test_column_codebooks_are_the_row_quantizer_on_the_transpose() -> None:
    torch = pytest.importorskip("torch")
    from eie.llm.schemes import quantize_codebook

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = torch.nn.Linear(40, 24)

        def get_input_embeddings(self) -> Any:
            return None

    torch.manual_seed(1)
    net = Net()
    w = net.a.weight.detach().numpy().copy()
    loaded = type("L", (), {"model": net})()
    errors = actblocks.column_codebooks(loaded, 3)
    got = net.a.weight.detach().numpy()
    q = quantize_codebook(np.ascontiguousarray(w.T), 3)
    assert q.tables is not None and q.codes is not None
    want = np.take_along_axis(q.tables, q.codes.astype(np.int64), 1).T
    np.testing.assert_array_equal(got, want)
    assert all(len(np.unique(got[:, j])) <= 8 for j in range(40))
    assert 0 < errors["a"] < 0.05
    assert actblocks.column_codebook_bits({"a": (576, 576)}, 4) == pytest.approx(4 + 256 / 576)
    assert actblocks.column_codebook_bits({}, 4) == 0.0


def test_bench_on_a_slice_of_smollm2(first_blocks: Any, calib_text: str,
                                     eval_text: str) -> None:
    from eie.bench import act_granularity

    m = first_blocks(1)
    r = act_granularity.blocks(m, calib_text, eval_text, 0.3, [1, 16], ["natural", "sorted"],
                               ["abs"], calib_tokens=64, ppl_tokens=64, context=64)
    assert [(x.block, x.order) for x in r.rows] == [(1, "natural"), (16, "natural"),
                                                    (1, "sorted"), (16, "sorted")]
    # single columns: the order changes nothing
    assert r.all_zero["sorted"][1] == pytest.approx(r.all_zero["natural"][1], abs=1e-12)
    assert r.rows[0].perplexity == pytest.approx(r.rows[2].perplexity, rel=1e-6)
    for row in r.rows:
        assert row.perplexity > r.dense * 0.9 and 0.2 < row.realised < 0.45
    assert r.all_zero["natural"][1] == pytest.approx(r.rows[0].realised, abs=0.05)
    assert 0 <= r.all_zero["natural"][16] < 0.05            # element-wise zeros rarely align
    with pytest.raises(ConfigError, match="already quantized"):
        act_granularity.column_codebooks(type("Q", (), {"kind": "causal-lm", "source": "q.eie",
                                                        "quantized": {"a": 1}})(), eval_text)


@pytest.mark.parametrize("extra, msg", [
    (["--blocks", "a,b"], "--blocks should be comma-separated integers"),
    (["--blocks", "0"], "--blocks should be positive"),
    (["--orders", "random"], "--orders in"),
    (["--level", "1.5"], "--level in"),
])
def test_cli_refuses_bad_options_in_one_line(tmp_path: Any, extra: list[str], msg: str) -> None:
    t = tmp_path / "t.txt"
    t.write_text("some text here", encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "eie.cli.bench_scripts", "act-blocks", "none.eie",
                        "--calib", str(t), "--text", str(t), *extra],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and msg in lines[0]
