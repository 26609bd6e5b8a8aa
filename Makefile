# FlexSeg — `make install` then `make test`; `make train` runs the embedded default;
# `make bench BENCH_ARGS="--recipe hrda_flex"` measures FLEX-Seg vs its baseline at paper scale.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: install test test-fast train preview bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -e '.[dev,generate]'
	touch $@

test: install
	OMP_NUM_THREADS=2 $(PY) -m pytest -q $(PYTEST_ARGS)

test-fast: install
	OMP_NUM_THREADS=2 $(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

train: install
	$(PY) -m flexseg.train

preview: install
	$(PY) -m flexseg.data.synthdrive --preview docs/synthdrive.png

bench: install
	$(PY) -m flexseg.bench $(BENCH_ARGS)

clean:
	rm -rf logs outputs multirun .pytest_cache
