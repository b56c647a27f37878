"""The notebooks as files: paired with their py:percent text, executed, shaped as a chapter.

Running them is nbval's job (`pytest --nbval-lax notebooks`, in `make test`).
"""
from pathlib import Path

import jupytext
import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ids = [nb.stem for nb in NOTEBOOKS]


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 2


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_paired_py_percent_is_in_sync(path):
    py = path.with_suffix(".py")
    assert py.is_file(), f"{py.name} is missing: run `make sync`"
    expected = jupytext.writes(jupytext.read(path), fmt="py:percent")
    assert py.read_text() == expected, f"{path.name} and {py.name} differ: run `make sync`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_executed_top_to_bottom_without_errors(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    counts = [c.execution_count for c in code]
    assert None not in counts, f"{path.name} has unexecuted cells: run `make execute`"
    assert counts == list(range(1, len(code) + 1)), f"{path.name} was not run top to bottom"
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{path.name} saved an error output"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_shaped_like_a_chapter(path):
    nb = nbformat.read(path, as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "google.colab" in code[0], "the first code cell sets up Colab"
    assert "fast_mode()" in "\n".join(code), "the notebook reads fast mode"
    assert "## Exercises" in text and "<details>" in text, "exercises with hidden solutions"
