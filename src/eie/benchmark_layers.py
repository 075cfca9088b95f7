"""The former name of ``eie.bench.layers`` (the EIE paper's benchmark layers), kept for one
release: ``from eie.bench.layers import ...`` is the name to use."""

from eie.bench.layers import (
    BENCHMARKS,
    BenchmarkSpec,
    get_spec,
    make_layer,
    random_activations,
    random_codebook,
    random_codes,
    random_sparse_codes,
)

__all__ = ["BENCHMARKS", "BenchmarkSpec", "get_spec", "make_layer", "random_activations",
           "random_codebook", "random_codes", "random_sparse_codes"]
