# One-command entry points. `make demo` and `make test` set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test dashboard lint format benchmark clean-venv

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, pinned: the pair that pip takes from this machine's disk
	$(BIN)/python -m pip install --quiet -c constraints.txt torch torchvision
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,onnx]"
	touch $(STAMP)

demo: setup
	$(BIN)/fer-demo

dashboard: setup
	$(BIN)/fer-dashboard

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

benchmark: setup
	$(BIN)/fer-benchmark

clean-venv:
	rm -rf $(VENV)
