"""``python -m eie.engine.bench_goals ARGS``: the same as ``python -m eie.cli.bench_scripts goals
ARGS`` (the goal cases live in ``eie.bench.goals``)."""

if __name__ == "__main__":
    import sys

    from eie.cli.bench_scripts import main

    raise SystemExit(main(["goals", *sys.argv[1:]]))
