"""Transformers and LLMs: post-training codebook quantization of their Linear layers.

The ``eie[llm]`` extra (transformers, gguf, accelerate, tokenizers) is needed to load models;
the quantizers themselves (``eie.llm.schemes``, ``eie.llm.kmeans``) need only numpy and the core.

Data flow::

    HF dir / .gguf --sources.load_source--> torch model + tokenizer
        --calibrate (E[x^2] per input channel, diagonal Fisher)--> quantize.quantize_model
        --> QuantizedWeight per Linear (codes + per-row / per-group codebooks)
        --> modelfile.save (one self-contained .eie model file) --> evaluate (perplexity, cosine)

Evaluation runs the torch model with the dequantized weights (not the engine's kernels yet).
"""
