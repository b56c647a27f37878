# The course in two commands: `make lab` (set up + open the course) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NOTEBOOKS := $(wildcard notebooks/[0-9][0-9]_*.ipynb)

.PHONY: venv lab test test-unit test-notebooks test-ipywidgets7 sync execute bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)  ## create or update .venv with the package and its [dev] extras

lab: venv  ## open the course in JupyterLab
	$(BIN)/jupyter lab notebooks/00_the_problem.ipynb

test: venv  ## unit tests + every notebook under nbval, in fast mode
	DRAWJOURNEY_FAST=1 $(BIN)/python -m pytest tests notebooks --nbval-lax

test-unit: venv
	DRAWJOURNEY_FAST=1 $(BIN)/python -m pytest tests

test-notebooks: venv
	DRAWJOURNEY_FAST=1 $(BIN)/python -m pytest --nbval-lax notebooks

.PHONY: test-browser
test-browser: venv  ## every chapter run in JupyterLab in headless Chromium (apt: chromium chromium-driver); build/browser/
	DRAWJOURNEY_FAST=1 DRAWJOURNEY_BROWSER=1 $(BIN)/python -m pytest tests/browser

test-ipywidgets7: venv  ## the widget tests (every widget the chapters show) again under ipywidgets 7.7, as on Colab
	rm -rf $(VENV)/ipywidgets7
	$(BIN)/python -m pip install -q --no-deps --target $(VENV)/ipywidgets7 "ipywidgets==7.7.5" \
	  "widgetsnbextension>=3.6,<4" "jupyterlab_widgets>=1,<3" ipython_genutils
	PYTHONPATH=$(VENV)/ipywidgets7 $(BIN)/python -c "import ipywidgets; assert ipywidgets.__version__.startswith('7.7')"
	PYTHONPATH=$(VENV)/ipywidgets7 $(BIN)/python -m pytest tests/test_widgets.py -p no:cacheprovider

sync: venv  ## pair every notebook with its py:percent file
	$(BIN)/jupytext --sync notebooks/[0-9][0-9]_*.py

execute: venv  ## re-run every notebook in full mode and keep the outputs and the widgets' state
	for nb in $(NOTEBOOKS); do \
	  env -u DRAWJOURNEY_FAST $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
	    --ExecutePreprocessor.timeout=3600 --ExecutePreprocessor.store_widget_state=True \
	    $$nb && $(BIN)/jupytext --sync $$nb || exit 1; \
	done

.PHONY: memory
memory: venv  ## every notebook in full mode under /usr/bin/time -v: wall time and peak RAM (Binder: 2 GB)
	$(BIN)/python tools/notebook_memory.py --out results/notebook_memory.json $(NOTEBOOKS)

bench: venv  ## measure the data pipeline and every model family
	$(BIN)/python -m drawjourney bench --out results/bench.json

.PHONY: handout book

handout: venv  ## for a class: every chapter notebook without its exercise solutions, in handout/
	rm -rf handout
	$(BIN)/python tools/handout.py --out handout $(NOTEBOOKS)

# The book is Sphinx + MyST-NB + sphinx-book-theme: the Executable Books stack that Jupyter
# Book 1 wraps, kept up to date on PyPI. Jupyter Book 2 (mystmd) needs Node.js and downloads
# its theme when it builds; this stack installs from PyPI alone and builds offline. It has
# its own venv, .venv-book (no torch), so its Sphinx and docutils never move a package of the
# course's .venv. The notebooks are shown as saved, never re-executed (book/conf.py).
BOOK_VENV  := .venv-book
BOOK_STAMP := $(BOOK_VENV)/.installed
BOOK_SRC   ?= build/book-src
BOOK_OUT   ?= build/book
SPHINXOPTS ?=

$(BOOK_STAMP): book/requirements.txt
	test -x $(BOOK_VENV)/bin/python || $(PYTHON) -m venv $(BOOK_VENV)
	$(BOOK_VENV)/bin/python -m pip install -q -r book/requirements.txt
	$(BOOK_VENV)/bin/python -m pip install -q --no-deps "jupyter-server-mathjax>=0.2.6,<0.3"
	touch $(BOOK_STAMP)

book: $(BOOK_STAMP)  ## a static HTML site of the executed notebooks, in build/book/
	rm -rf $(BOOK_SRC) && mkdir -p $(BOOK_SRC)
	cp -p book/index.md $(NOTEBOOKS) $(BOOK_SRC)/
	$(BOOK_VENV)/bin/sphinx-build -q -b html -c book $(SPHINXOPTS) $(BOOK_SRC) $(BOOK_OUT)
	@echo "the book: $(BOOK_OUT)/index.html"

clean:  ## remove the venvs and everything built (handout, book, browser screenshots)
	rm -rf $(VENV) $(BOOK_VENV) .pytest_cache build handout *.egg-info
