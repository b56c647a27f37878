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

test-ipywidgets7: venv  ## the widget tests again under ipywidgets 7.7 (what Colab ships)
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

bench: venv  ## measure the data pipeline and every model family
	$(BIN)/python -m drawjourney bench --out results/bench.json

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
