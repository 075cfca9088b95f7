"""Typed errors. Every message says what was expected, what was found and what to do.

Library code raises these; only the CLI turns them into exit codes and one-line messages.
"""

from __future__ import annotations


class EIEError(Exception):
    """Root of every error eie raises on purpose."""


class FormatError(EIEError, ValueError):
    """Stored or in-memory EIE data is inconsistent, truncated, corrupted or of a wrong version."""


class ConfigError(EIEError, ValueError):
    """A configuration (hardware, recipe, fixed-point format, CLI option) is invalid."""


class CompressionError(EIEError):
    """A compression stage cannot run as asked (e.g. a layer the recipe names does not exist)."""


class EngineError(EIEError, RuntimeError):
    """The CPU engine cannot run the given model or input."""
