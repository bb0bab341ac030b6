# Convenience targets; each runs the same command a person would type.
PYTHON ?= python3

.PHONY: install test lint demo bench bench-deblur bench-invert bench-scale

install:
	$(PYTHON) -m pip install -e ".[test]"

test:
	$(PYTHON) -m pytest -q

lint:
	$(PYTHON) -m ruff check liftinv tests demos benchmarks

demo:
	$(PYTHON) demos/denoising.py

bench:
	$(PYTHON) -m liftinv bench denoise

bench-deblur:
	$(PYTHON) -m liftinv bench deblur

bench-invert:
	$(PYTHON) -m liftinv bench invert

bench-scale:
	$(PYTHON) -m liftinv bench scale
