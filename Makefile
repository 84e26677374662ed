# Every setup step lives here, so a fresh machine needs only `make run` or `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# CPU build of torch: a bare requirement would pull a multi-gigabyte CUDA build.
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
# The browser test drives Debian's chromium (`playwright install` would need the internet).
CHROMIUM ?= /usr/bin/chromium
# OCR of scanned pages and images runs Debian's Tesseract with English and Spanish data.
TESSERACT ?= /usr/bin/tesseract
TESSERACT_PACKAGES := tesseract-ocr tesseract-ocr-eng tesseract-ocr-spa

.PHONY: install run test lint bench eval clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH_SPEC)"
	$(PIP) install -e ".[dev]"
	touch $@

install: $(VENV)/.installed $(CHROMIUM) $(TESSERACT)

# Only when missing; without root (or passwordless sudo) and apt-get, the browser test skips.
$(CHROMIUM):
	@if ! command -v apt-get >/dev/null; then \
		echo "warning: no apt-get to install chromium; the browser test will be skipped"; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium \
		|| echo "warning: installing chromium failed; the browser test will be skipped"; \
	elif sudo -n true 2>/dev/null; then \
		sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y chromium \
		|| echo "warning: installing chromium failed; the browser test will be skipped"; \
	else \
		echo "warning: installing chromium needs root: run 'sudo apt-get install chromium'," \
			"or the browser test will be skipped"; \
	fi

# Without it, scanned pages are reported with this fix and everything else is read.
$(TESSERACT):
	@if ! command -v apt-get >/dev/null; then \
		echo "warning: no apt-get to install Tesseract; scanned pages will not be read"; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $(TESSERACT_PACKAGES) \
		|| echo "warning: installing Tesseract failed; scanned pages will not be read"; \
	elif sudo -n true 2>/dev/null; then \
		sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y $(TESSERACT_PACKAGES) \
		|| echo "warning: installing Tesseract failed; scanned pages will not be read"; \
	else \
		echo "warning: installing Tesseract needs root: run 'sudo apt-get install $(TESSERACT_PACKAGES)'," \
			"or scanned pages will not be read"; \
	fi

run: install
	-$(PY) -m rag.ingest sample_docs  # a file that fails is listed; the app still starts
	@echo "Open http://localhost:8501 in a browser (Ctrl+C stops the app) and sign in."
	@echo "First start: sign in as admin with the one-time password the app prints below"
	@echo "(or set RAG_ADMIN_PASSWORD first). Lost it: .venv/bin/python -m rag.users reset admin."
	@echo "Add people with: .venv/bin/python -m rag.users add NAME --role reader --grant default"
	$(VENV)/bin/streamlit run app.py

lint: install
	$(VENV)/bin/ruff check rag ingest tests app.py scripts
	$(VENV)/bin/ruff format --check rag ingest tests app.py scripts

test: install lint
	$(PY) -m pytest

bench: install
	$(PY) scripts/benchmark.py
	$(PY) scripts/benchmark_answers.py
	$(PY) scripts/benchmark_vector_stores.py
	$(PY) scripts/benchmark_access.py

clean:
	rm -rf $(VENV) .rag_index .pytest_cache
