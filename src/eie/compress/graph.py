"""What follows each compressible layer, read from the model's own graph (``torch.fx``).

``capture(model)`` traces the model symbolically and returns a ``ModelGraph``:

- ``activations[name]``: ``"relu"`` when the layer's output has exactly one user and that user is
  a ReLU (``nn.ReLU``, ``torch.relu``, ``F.relu``, ``Tensor.relu``): the ReLU is fused into the
  stored layer. Anything else (GELU, LayerNorm, a residual add, attention, pooling, a second user)
  stays in torch and the layer is stored with ``activation=None``. There is no default.
- ``chain``: True when the whole forward pass is one straight line of steps the engine runs
  (compressible layers, ReLU, ``max_pool2d`` / ``avg_pool2d``, flatten / reshape of the
  per-sample shape, dropout and identity); then ``steps[name]`` lists the operations between
  that layer (after its fused ReLU) and the next one, and ``before`` those ahead of the first
  layer, as JSON (``{"op": "max_pool2d", "kernel": [2, 2], "stride": [2, 2], "padding": [0, 0]}``,
  ``{"op": "flatten"}``, ``{"op": "reshape", "shape": [1, 28, 28]}``, ``{"op": "relu"}``).
  Otherwise ``breaks`` says which layer breaks the chain and why.

A model that ``torch.fx`` cannot trace (data-dependent control flow) must say what follows its
layers with ``eie_activations()`` (one ``"relu"`` or None per compressible layer); a model that
defines it and can be traced must agree with its graph, or ``capture`` refuses.

>>> import torch
>>> from torch import nn
>>> g = capture(nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 2), nn.ReLU()))
>>> g.activations, g.chain
({'0': None, '2': 'relu'}, False)
>>> g.breaks
"after layer '0': GELU stays in torch (the engine runs chains of Linear/Conv2d, ReLU, pooling and flatten); run the model with eie.engine.torch.swap"
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

from eie.errors import CompressionError

COMPRESSIBLE = (nn.Linear, nn.Conv2d)
_RELU_FUNCS = {torch.relu, F.relu, torch.relu_}
_RELU_METHODS = {"relu", "relu_"}
_IDENTITY_MODULES = (nn.Dropout, nn.Identity)
_SHAPE_QUERY = {"shape", "size"}
_POOL_FUNCS: dict[Any, str] = {torch.max_pool2d: "max_pool2d", F.max_pool2d: "max_pool2d",
                               F.avg_pool2d: "avg_pool2d", torch.nn.functional.avg_pool2d:
                               "avg_pool2d"}


@dataclass(frozen=True)
class ModelGraph:
    layers: tuple[str, ...]
    """Compressible layers in the order the forward pass calls them."""
    activations: dict[str, str | None]
    chain: bool
    steps: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    before: list[dict[str, Any]] = field(default_factory=list)
    breaks: str | None = None
    traced: bool = True
    """False when the activations came from ``eie_activations()`` because tracing failed."""

    def metadata(self) -> dict[str, Any]:
        """What the ``.eie`` file records about the graph (``Model.metadata["graph"]``)."""
        out: dict[str, Any] = {"chain": self.chain, "traced": self.traced}
        if self.breaks:
            out["breaks"] = self.breaks
        return out


def capture(model: nn.Module) -> ModelGraph:
    """Trace ``model`` and read each compressible layer's activation and the chain (see the
    module docstring)."""
    names = {m: n for n, m in model.named_modules() if isinstance(m, COMPRESSIBLE)}
    declared = _declared(model, list(names.values()))
    try:
        gm = fx.symbolic_trace(model)
    except Exception as e:  # fx raises many types (TraceError, TypeError, ...)
        if declared is None:
            raise CompressionError(
                f"cannot trace {type(model).__name__} with torch.fx ({type(e).__name__}: "
                f"{str(e).splitlines()[0] if str(e) else ''}); define eie_activations() on the "
                "model (one 'relu' or None per Linear/Conv2d) to say what follows each layer"
            ) from None
        return ModelGraph(tuple(names.values()), declared, False,
                          breaks="the model could not be traced; run it with "
                                 "eie.engine.torch.swap", traced=False)
    g = _read(gm, model)
    if declared is not None and declared != g.activations:
        raise CompressionError(f"{type(model).__name__}.eie_activations() says "
                               f"{declared} but its graph has {g.activations}; fix "
                               "eie_activations() or remove it")
    return g


def _declared(model: nn.Module, layers: list[str]) -> dict[str, str | None] | None:
    fn = getattr(model, "eie_activations", None)
    if not callable(fn):
        return None
    acts = list(fn())
    if len(acts) != len(layers) or any(a not in (None, "relu") for a in acts):
        raise CompressionError(f"eie_activations() should give one 'relu' or None per "
                               f"compressible layer ({len(layers)}), found {acts}")
    return dict(zip(layers, acts, strict=True))


def _is_shape_query(n: fx.Node) -> bool:
    if n.op == "call_function" and n.target is getattr and n.args[1] in _SHAPE_QUERY:
        return True
    return n.op == "call_method" and n.target == "size"


def _users(n: fx.Node) -> list[fx.Node]:
    """Users of a node's tensor value (size queries such as ``x.shape[0]`` left out)."""
    return [u for u in n.users if not _is_shape_query(u)]


def _is_relu(n: fx.Node, mods: dict[str, nn.Module]) -> bool:
    if n.op == "call_function":
        return n.target in _RELU_FUNCS
    if n.op == "call_method":
        return n.target in _RELU_METHODS
    return n.op == "call_module" and isinstance(mods.get(str(n.target)), nn.ReLU)


def _describe(n: fx.Node, mods: dict[str, nn.Module]) -> str:
    if n.op == "call_module":
        return type(mods[str(n.target)]).__name__
    if n.op == "call_function":
        return getattr(n.target, "__name__", str(n.target))
    if n.op == "output":
        return "the output"
    return f"{n.op} {n.target}"


def _pair(v: Any) -> list[int]:
    return [int(v), int(v)] if isinstance(v, int) else [int(x) for x in v]


def _batch_dim(a: Any) -> bool:
    """``x.shape[0]``, ``x.size(0)`` or -1 as the first size of a reshape."""
    if isinstance(a, int):
        return a == -1
    if not isinstance(a, fx.Node):
        return False
    if a.op == "call_function" and a.target is operator.getitem:
        src = a.args[0]
        return bool(isinstance(src, fx.Node) and _is_shape_query(src) and a.args[1] == 0)
    return bool(a.op == "call_method" and a.target == "size" and a.args[1:] == (0,))


def _step(n: fx.Node, mods: dict[str, nn.Module]) -> dict[str, Any] | str | None:
    """The engine step of one node: a dict, ``"skip"`` for an identity, None if unsupported."""
    if _is_relu(n, mods):
        return {"op": "relu"}
    args, kw = n.args, n.kwargs
    if n.op == "call_module":
        m = mods[str(n.target)]
        if isinstance(m, _IDENTITY_MODULES):
            return "skip"
        if isinstance(m, nn.MaxPool2d | nn.AvgPool2d):
            if getattr(m, "ceil_mode", False) or getattr(m, "dilation", 1) not in (1, (1, 1)):
                return None
            if isinstance(m, nn.AvgPool2d) and not (m.count_include_pad and
                                                    m.divisor_override is None):
                return None
            op = "max_pool2d" if isinstance(m, nn.MaxPool2d) else "avg_pool2d"
            stride = m.stride if m.stride is not None else m.kernel_size
            return {"op": op, "kernel": _pair(m.kernel_size), "stride": _pair(stride),
                    "padding": _pair(m.padding)}
        if isinstance(m, nn.Flatten):
            return {"op": "flatten"} if m.start_dim == 1 and m.end_dim == -1 else None
        return None
    if n.op == "call_function" and n.target in _POOL_FUNCS:
        names = ("input", "kernel_size", "stride", "padding")
        vals: dict[str, Any] = dict(zip(names, args, strict=False)) | dict(kw)
        extra = set(vals) - set(names)
        if extra or any(not isinstance(vals.get(k, 0), int | tuple | list | type(None))
                        for k in names[1:]):
            return None
        kernel = vals["kernel_size"]
        stride = vals.get("stride") or kernel
        op = _POOL_FUNCS[n.target]
        return {"op": op, "kernel": _pair(kernel), "stride": _pair(stride),
                "padding": _pair(vals.get("padding", 0))}
    if (n.op == "call_function" and n.target is torch.flatten) or \
            (n.op == "call_method" and n.target == "flatten"):
        start = kw.get("start_dim", args[1] if len(args) > 1 else 0)
        end = kw.get("end_dim", args[2] if len(args) > 2 else -1)
        return {"op": "flatten"} if start == 1 and end == -1 else None
    if n.op == "call_method" and n.target in ("reshape", "view"):
        dims: list[Any] = list(args[1:])
        if len(dims) == 1 and isinstance(dims[0], tuple | list):
            dims = list(dims[0])
        if len(dims) >= 2 and _batch_dim(dims[0]) and all(isinstance(d, int) for d in dims[1:]):
            rest = [int(d) for d in dims[1:]]  # all ints (checked above)
            return {"op": "flatten"} if rest == [-1] else {"op": "reshape", "shape": rest}
        return None
    if n.op == "call_method" and n.target == "contiguous":
        return "skip"
    return None


def _read(gm: fx.GraphModule, model: nn.Module) -> ModelGraph:
    mods = dict(gm.named_modules())
    order: list[str] = []
    acts: dict[str, str | None] = {}
    for n in gm.graph.nodes:
        if n.op == "call_module" and isinstance(mods.get(str(n.target)), COMPRESSIBLE):
            name = str(n.target)
            users = _users(n)
            act = "relu" if len(users) == 1 and _is_relu(users[0], mods) else None
            if name in acts and acts[name] != act:
                act = None  # called twice, followed by different things
            acts[name] = act
            if name not in order:
                order.append(name)
    for name, m in model.named_modules():  # registered but never called
        if isinstance(m, COMPRESSIBLE) and name not in acts:
            acts[name] = None
    breaks = _walk_chain(gm, mods, acts)
    if isinstance(breaks, str):
        return ModelGraph(tuple(order), acts, False, breaks=breaks)
    before, steps = breaks
    return ModelGraph(tuple(order), acts, True, steps, before)


def _walk_chain(gm: fx.GraphModule, mods: dict[str, nn.Module],
                acts: dict[str, str | None]
                ) -> str | tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """Follow the forward pass from the input; a message naming the breaking layer, or the
    steps before the first layer and after each layer."""
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    hint = ("the engine runs chains of Linear/Conv2d, ReLU, pooling and flatten); run the model "
            "with eie.engine.torch.swap")
    if len(placeholders) != 1:
        return f"the model takes {len(placeholders)} inputs (the engine takes one; {hint}"
    before: list[dict[str, Any]] = []
    steps: dict[str, list[dict[str, Any]]] = {}
    current: list[dict[str, Any]] = before
    last: str | None = None
    seen: set[str] = set()
    node = placeholders[0]
    skip_relu = False
    while True:
        users = _users(node)
        where = f"after layer {last!r}" if last else "before the first layer"
        if len(users) != 1:
            return (f"{where}: a value is used {len(users)} times (a residual or branch stays "
                    f"in torch; {hint}")
        nxt = users[0]
        if nxt.op == "output":
            break
        if nxt.op == "call_module" and isinstance(mods.get(str(nxt.target)), COMPRESSIBLE):
            name = str(nxt.target)
            if name in seen:
                return f"layer {name!r} is called twice (it stays in torch; {hint}"
            seen.add(name)
            steps[name] = current = []
            last = name
            skip_relu = acts.get(name) == "relu"
        else:
            step = _step(nxt, mods)
            if step is None:
                return f"{where}: {_describe(nxt, mods)} stays in torch ({hint}"
            if step != "skip":
                assert isinstance(step, dict)
                if not (skip_relu and step == {"op": "relu"}):
                    current.append(step)
                skip_relu = False
        node = nxt
    if last is None:
        return f"the forward pass calls no Linear or Conv2d layer ({hint}"
    return before, steps
