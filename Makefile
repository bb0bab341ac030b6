# Convenience targets; each runs the same command a person would type.
PYTHON ?= python3

.PHONY: install test demo bench

install:
	$(PYTHON) -m pip install -e ".[test]"

test:
	$(PYTHON) -m pytest -q

demo:
	$(PYTHON) demos/lifted_training.py

bench:
	$(PYTHON) -m liftinv bench
