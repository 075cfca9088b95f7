"""Data of the benchmarks: the EIE paper's Table III layers (``eie_layers.csv``)."""
