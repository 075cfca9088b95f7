"""Centroid refinement on calibration text: with the codes fixed, move each codebook's centroids
to minimise the layer's expected squared *output* error over the calibration inputs,

    E ||x (W - Q)^T||^2 = sum_r (w_r - q_r)^T H (w_r - q_r),   H = E[x x^T]  (cols, cols),

which the k-means (weighted by diag H only) does not see: off-diagonal H couples a row's entries.
For a row with one-hot code matrix A (cols, k) and centroids c, q_r = A c; the optimum solves
``(A^T H A) c = A^T H w_r`` (summed over the rows of a group that shares a codebook). A small
ridge keeps it well posed; centroids no entry uses keep their k-means values. Closed form, no
gradient steps; cost ~ rows * cols^2 * k multiply-adds per layer (heavy for wide layers).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from eie.errors import ConfigError
from eie.llm.qweight import QuantizedWeight

RIDGE = 1e-6
"""Relative ridge added to A^T H A's diagonal (times its mean diagonal)."""


def refine_codebooks(q: QuantizedWeight, w: np.ndarray, h: Any, rows_per_batch: int = 128
                     ) -> QuantizedWeight:
    """``q`` (a codebook layer) with refined fp16 centroids; ``h`` is E[x x^T] (torch, float32)."""
    import torch

    if q.scheme != "codebook" or q.codes is None or q.tables is None:
        raise ConfigError("refinement applies to codebook layers only")
    rows, cols = q.shape
    if q.group_cols < cols:
        raise ConfigError("refinement supports row, group:N and tensor codebooks (not cols:N)")
    k = 1 << q.bits
    hd = h.double()
    hd = hd + 1e-8 * torch.diagonal(hd).mean() * torch.eye(cols, dtype=torch.float64)
    hf = hd.float()
    codes = torch.from_numpy(q.codes.astype(np.int64))
    wt = torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32))
    keep = None if q.mask is None else torch.from_numpy(q.mask)
    g_acc = torch.zeros((q.num_groups, k, k), dtype=torch.float64)
    b_acc = torch.zeros((q.num_groups, k), dtype=torch.float64)
    group_of_row = torch.arange(rows) // q.group_rows
    for s in range(0, rows, rows_per_batch):
        a = torch.nn.functional.one_hot(codes[s:s + rows_per_batch], k).float()  # (r, cols, k)
        if keep is not None:
            a = a * keep[s:s + rows_per_batch, :, None]
        r = a.shape[0]
        # One GEMM H @ [A_1 ... A_r]: (cols, cols) x (cols, r * k), then per-row k x k products.
        ha = (hf @ a.permute(1, 0, 2).reshape(cols, r * k)).reshape(cols, r, k).permute(1, 0, 2)
        g = torch.matmul(a.transpose(1, 2), ha).double()  # (r, k, k)
        b = torch.einsum("rik,ri->rk", ha, wt[s:s + rows_per_batch]).double()
        idx = group_of_row[s:s + rows_per_batch]
        g_acc.index_add_(0, idx, g)
        b_acc.index_add_(0, idx, b)
    diag = torch.diagonal(g_acc, dim1=1, dim2=2)
    used = diag > 0
    scale = diag.mean(dim=1, keepdim=True).clamp(min=1e-30)
    # Unused centroids: an identity row pinning them to their k-means value.
    old = torch.from_numpy(q.tables.astype(np.float64))
    eye = torch.eye(k, dtype=torch.float64)
    # (A used centroid's row has zeros in unused centroids' columns: no entry pairs with them.)
    g_fix = torch.where(used[:, :, None], g_acc, eye * scale[:, :, None])
    g_fix = g_fix + RIDGE * scale[:, :, None] * eye
    b_fix = torch.where(used, b_acc + RIDGE * scale * old, old * scale * (1 + RIDGE))
    c = torch.linalg.solve(g_fix, b_fix.unsqueeze(-1)).squeeze(-1)
    c = torch.where(torch.isfinite(c), c, old)
    codebook = c.numpy().astype(np.float16)
    tables = codebook.astype(np.float32)
    return QuantizedWeight("codebook", q.shape, q.bits, q.group_rows, q.group_cols, q.codes,
                           tables, {"codebook": codebook}, q.mask, q.prune)
