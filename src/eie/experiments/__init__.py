"""End-to-end experiments behind ``eie demo`` and ``eie paper``.

They orchestrate the other layers (compress, engine, sim) and hand their results to
``eie.report``; the CLI commands are thin wrappers around them.
"""
