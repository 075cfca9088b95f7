"""Central control unit (CCU) and the distributed leading-nonzero detection (LNZD) tree.

Each PE holds the input activations whose index is ``i % num_pes``. A tree of LNZD nodes, each
with ``lnzd_fanin`` (4) inputs, finds the next nonzero activation: the leaves see groups of 4 PEs,
each level above combines 4 nodes, and the root hands (value, index) to the CCU, which broadcasts
it to every PE. For 64 PEs: 16 + 4 + 1 = 21 nodes in 3 levels.

Timing model (the paper gives the structure, not the timing; documented in docs/simulator.md):

- The tree is pipelined: after a latency of ``lnzd_levels`` cycles at the start of each input
  batch, it delivers the next nonzero every cycle within a group of ``num_pes`` activations (one
  register-file row); leaving a group whose last activation is zero costs
  ``lnzd_group_bubble`` cycles (1: the authors' detector; an all-zero group costs one bubble).
  Any nonzero value counts (signed activations work; the authors' detector counts only
  positive ones, the same for ReLU outputs).
- At most one broadcast per cycle, in increasing index order; no broadcast in a cycle in which
  any PE's activation FIFO is full (the full flags are registered: sampled at the start of the
  cycle, so a slot freed by a pop is usable from the next cycle).
- An input longer than one batch (``act_regfile_entries * num_pes``) is processed batch by batch;
  each batch first loads the source register files from the activation SRAM
  (``HardwareConfig.batch_load_cycles``), then pays the tree latency again.

>>> lnzd_nodes(64), lnzd_levels(64), lnzd_nodes(1), lnzd_levels(1)
(21, 3, 1, 1)
"""

from __future__ import annotations

from eie.errors import ConfigError


def _check(num_pes: int, fanin: int) -> None:
    if num_pes < 1 or fanin < 2:
        raise ConfigError(f"need num_pes >= 1 and fanin >= 2, found {num_pes} and {fanin}")


def lnzd_nodes_per_level(num_pes: int, fanin: int = 4) -> list[int]:
    """Nodes on each level of the tree, leaves first: ``[16, 4, 1]`` for 64 PEs."""
    _check(num_pes, fanin)
    levels = []
    width = num_pes
    while True:
        width = -(-width // fanin)
        levels.append(width)
        if width == 1:
            return levels


def lnzd_nodes(num_pes: int, fanin: int = 4) -> int:
    """Total LNZD nodes (the paper's 64-PE design: 21)."""
    return sum(lnzd_nodes_per_level(num_pes, fanin))


def lnzd_levels(num_pes: int, fanin: int = 4) -> int:
    """Tree depth = cycles from a batch's start to its first broadcast."""
    return len(lnzd_nodes_per_level(num_pes, fanin))
