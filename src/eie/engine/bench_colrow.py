"""``python -m eie.engine.bench_colrow ARGS``: the same as ``python -m eie.cli.bench_scripts
colrow ARGS`` (the cases live in ``eie.bench.colrow``)."""

if __name__ == "__main__":
    import sys

    from eie.cli.bench_scripts import main

    raise SystemExit(main(["colrow", *sys.argv[1:]]))
