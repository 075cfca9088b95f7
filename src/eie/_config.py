"""One strict loader for every configuration: recipes, hardware configs, energy and area tables.

- ``from_mapping(cls, data, where)``: a frozen dataclass from a mapping; unknown keys and missing
  required keys raise ``ConfigError`` naming ``where`` (the file and the key path), the bad key
  and the expected ones; a field whose metadata holds ``loader(fn)`` is converted by
  ``fn(value, where_of_that_key)`` first (nested configs, registries of kinds);
  ``load(cls, data, where)`` is the same with the keys the mapping set (``Loaded.keys``: the
  other fields are defaults), for callers where a file decides only what it names;
- ``read_mapping(path, what)``: a YAML (or TOML) file as a mapping, errors naming the file;
- field rules, declared beside each field (``field(default=64, metadata=rule(Integer(1, 4096)))``)
  and enforced by ``check_fields(self)`` in ``__post_init__``: ``Integer``, ``Number``,
  ``Boolean``.

>>> from dataclasses import dataclass, field
>>> @dataclass(frozen=True)
... class Fifo:
...     depth: int = field(default=8, metadata=rule(Integer(1, 64)))
...     def __post_init__(self) -> None:
...         check_fields(self)
>>> from_mapping(Fifo, {"depth": 4}, "hw.yaml")
Fifo(depth=4)
>>> load(Fifo, {}, "hw.yaml")
Loaded(value=Fifo(depth=8), keys=frozenset())
>>> from_mapping(Fifo, {"dpth": 4}, "hw.yaml")
Traceback (most recent call last):
...
eie.errors.ConfigError: hw.yaml: unknown key(s) ['dpth'] for Fifo; expected some of ['depth']; fix or remove them
>>> from_mapping(Fifo, {"depth": 65}, "hw.yaml")
Traceback (most recent call last):
...
eie.errors.ConfigError: hw.yaml: depth should be at most 64, found 65
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from eie.errors import ConfigError

T = TypeVar("T")
LOADER = "eie.loader"
"""Field metadata key: ``fn(value, where) -> value`` applied by ``from_mapping`` (``where``
locates the mapping that holds the field)."""
RULE = "eie.rule"
"""Field metadata key: a ``Rule`` checked by ``check_fields``."""


# ------------------------------------------------------------------------------- field rules
class Rule(Protocol):
    def check(self, name: str, value: Any) -> None: ...


@dataclass(frozen=True)
class Integer:
    """An integer (booleans refused) in ``lo..hi`` inclusive."""

    lo: int
    hi: int

    def check(self, name: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < self.lo:
            raise ConfigError(f"{name} should be an integer >= {self.lo}, found {value!r}")
        if value > self.hi:
            raise ConfigError(f"{name} should be at most {self.hi}, found {value}")


@dataclass(frozen=True)
class Number:
    """A finite int or float (booleans refused) in ``(lo, hi]`` (``[lo, hi]`` when
    ``lo_inclusive``)."""

    lo: float
    hi: float = math.inf
    lo_inclusive: bool = False

    def check(self, name: str, value: Any) -> None:
        if (isinstance(value, bool) or not isinstance(value, int | float)
                or not math.isfinite(value) or value > self.hi
                or not (self.lo <= value if self.lo_inclusive else self.lo < value)):
            interval = (f"{'[' if self.lo_inclusive else '('}{self.lo:g}, {self.hi:g}"
                        f"{')' if math.isinf(self.hi) else ']'}")
            raise ConfigError(f"{name} should be a finite number in {interval}, found {value!r}")


@dataclass(frozen=True)
class Boolean:
    """``True`` or ``False`` (not 0, 1 or a string)."""

    def check(self, name: str, value: Any) -> None:
        if not isinstance(value, bool):
            raise ConfigError(f"{name} should be true or false, found {value!r}")


def rule(r: Rule) -> dict[str, Any]:
    """Field metadata declaring ``r`` for that field."""
    return {RULE: r}


def loader(fn: Callable[[Any, str], Any]) -> dict[str, Any]:
    """Field metadata: ``from_mapping`` passes the raw value through ``fn(value, where)``."""
    return {LOADER: fn}


def field_rules(cls: type) -> dict[str, Rule]:
    """The declared rule of every field of ``cls`` that has one."""
    return {f.name: f.metadata[RULE] for f in dataclasses.fields(cls) if RULE in f.metadata}


def check_fields(obj: Any) -> None:
    """Check every field of the dataclass instance ``obj`` against its declared rule, in field
    order (the first failure raises ``ConfigError``)."""
    for f in dataclasses.fields(obj):
        r = f.metadata.get(RULE)
        if r is not None:
            r.check(f.name, getattr(obj, f.name))


# ---------------------------------------------------------------------------------- loading
@dataclass(frozen=True)
class Loaded(Generic[T]):
    """A config built by ``load`` and the fields its mapping set."""

    value: T
    keys: frozenset[str]
    """The fields given in the mapping; every other field holds its default."""


def from_mapping(cls: type[T], data: Any, where: str) -> T:
    """Build ``cls`` (a dataclass) from ``data``; every error is a one-line ``ConfigError``
    starting with ``where``."""
    return load(cls, data, where).value


def load(cls: type[T], data: Any, where: str) -> Loaded[T]:
    """``from_mapping`` that also reports the keys ``data`` set."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping of {cls.__name__} fields, found "
                          f"{type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(str(k) for k in data if k not in fields)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown} for {cls.__name__}; expected some "
                          f"of {sorted(fields)}; fix or remove them")
    missing = [n for n, f in fields.items() if n not in data
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"{where}: key(s) {missing} missing for {cls.__name__}")
    kwargs = {}
    for key, value in data.items():
        load = fields[key].metadata.get(LOADER)
        kwargs[key] = load(value, where) if load is not None else value
    try:
        return Loaded(cls(**kwargs), frozenset(kwargs))
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None
    except (TypeError, ValueError) as e:  # e.g. a string where a number is compared
        raise ConfigError(f"{where}: {e}") from None


def read_mapping(path: str | os.PathLike[str], what: str,
                 suffixes: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The mapping stored in a YAML file (TOML when it ends in ``.toml``); an empty file is
    ``{}``. ``what`` names the kind of file in errors (``"recipe"``, ``"hardware config"``);
    ``suffixes``, when given, are the only file endings accepted."""
    import yaml

    p = Path(path)
    if suffixes is not None and p.suffix not in suffixes:
        raise ConfigError(f"{p}: {what} files should end in "
                          f"{', '.join(suffixes[:-1])} or {suffixes[-1]}")
    if not p.is_file():
        raise ConfigError(f"{p}: no such {what} file")
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: cannot read the {what}: {getattr(e, 'strerror', None) or e}"
                          ) from None
    try:
        if p.suffix == ".toml":
            import tomllib

            data: Any = tomllib.loads(text)
        else:
            data = yaml.safe_load(text)
    except Exception as e:  # yaml.YAMLError, tomllib.TOMLDecodeError, RecursionError
        one_line = " ".join(str(e).split()) or type(e).__name__
        raise ConfigError(f"{p}: cannot parse the {what}: {one_line}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: a {what} should be a mapping of key: value, found "
                          f"{type(data).__name__}")
    return data
