# FlexSeg — `make install` then `make test`; `make train` runs the embedded default;
# `make bench BENCH_ARGS="--recipe hrda_flex"` measures FLEX-Seg vs its baseline at paper scale.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
# the exact tested versions (pyproject.toml holds the compatible ranges)
CONSTRAINTS ?= requirements/constraints.txt
# extras the tests use: W&B logging, the submitit launcher, ruff + pytest, peft (model.tuning=lora)
EXTRAS ?= dev,wandb,slurm,generate,optuna,vfm

.PHONY: install lint test test-fast mutation train preview bench constraints clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml setup.py $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -c $(CONSTRAINTS) -e '.[$(EXTRAS)]'
	touch $@

lint: install
	$(PY) -m ruff check .

test: lint
	OMP_NUM_THREADS=2 $(PY) -m pytest -q $(PYTEST_ARGS)

test-fast: lint
	OMP_NUM_THREADS=2 $(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

# mutation testing of flexseg/flex/, flexseg/metrics.py, flexseg/data/rcs.py,
# flexseg/models/{shade,feature_distance}.py and flexseg/optim.py ([tool.mutmut] in
# pyproject.toml, docs/testing.md): ≈ 40 min on one core for flex/ + metrics.py, 6-20 min
# for the other four; MUTANTS="flexseg.flex.ube.*" restricts the run (and retests every
# mutant it names); results are kept in mutants/ (a run without MUTANTS retests only what changed)
MUTATION_JOBS ?= 1
MUTANTS ?=
mutation: install
	OMP_NUM_THREADS=1 $(VENV)/bin/mutmut run --max-children $(MUTATION_JOBS) $(foreach m,$(MUTANTS),'$(m)')
	$(VENV)/bin/mutmut results

train: install
	$(PY) -m flexseg.train

preview: install
	$(PY) -m flexseg.data.synthdrive --preview docs/synthdrive.png

bench: install
	$(PY) -m flexseg.bench $(BENCH_ARGS)

# rewrite the constraints from the installed environment (after a tested upgrade)
constraints: install
	{ sed -n '1,3p' $(CONSTRAINTS); $(PY) -m pip freeze --exclude-editable | grep -v -i -E '^(flexseg|cwevals)([=@ ]|$$)' | grep -v '^#'; } > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)

clean:
	rm -rf logs outputs multirun .pytest_cache build dist *.egg-info mutants
