"""The ``eie`` command line. Each subcommand is one module under ``eie.cli`` (see main.COMMANDS)."""
