"""The class handout (`make handout`, tools/handout.py): solutions out, everything else kept.

The checks read the solutions with their own pattern (the course's one way of writing them,
`<details><summary>Solution</summary> ... </details>`), not with the tool's parser, so a
bug in the tool cannot hide itself.
"""
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

_spec = importlib.util.spec_from_file_location("handout", ROOT / "tools" / "handout.py")
handout = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(handout)

SOLUTION = re.compile(r"<details><summary>Solution</summary>(.*?)</details>", re.DOTALL)


def strings(node) -> list[str]:
    """Every string anywhere in a notebook: sources, outputs, metadata, widget state."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for value in node.values() for s in strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in strings(value)]
    return []


@pytest.fixture(scope="session")
def handout_dir(tmp_path_factory) -> Path:
    """The handout of every chapter, written once by the tool's command line."""
    out = tmp_path_factory.mktemp("handout")
    assert handout.main(["--out", str(out), *map(str, NOTEBOOKS)]) == 0
    return out


def test_strip_solutions_keeps_the_text_around_a_block():
    text = "Q1?\n\n<details><summary>Solution</summary>\n\nA $x^2$.\n\n</details>\n\nQ2?\n"
    stripped, n = handout.strip_solutions(text)
    assert n == 1
    assert stripped == f"Q1?\n\n{handout.NOTE}\n\nQ2?\n"


def test_strip_solutions_removes_code_fences_nested_blocks_and_attributes():
    text = ("a <details open><summary>S</summary>\n```python\nprint('<b>')\n```\n"
            "<details>inner</details> still hidden\n</DETAILS> b <details>two</details>")
    stripped, n = handout.strip_solutions(text)
    assert (stripped, n) == (f"a {handout.NOTE} b {handout.NOTE}", 2)


def test_strip_solutions_leaves_text_without_solutions_alone():
    text = "The model refines details later, with no <detail> tag.\n"
    assert handout.strip_solutions(text) == (text, 0)


@pytest.mark.parametrize("text", ["<details>never closed", "closed </details> but never opened",
                                  "<details><details>one close</details>"])
def test_strip_solutions_refuses_unbalanced_tags(text):
    with pytest.raises(ValueError, match="details"):
        handout.strip_solutions(text)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_handout_has_no_solution_and_nothing_else_changed(path, handout_dir):
    original = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    copy = nbformat.read(handout_dir / path.name, as_version=nbformat.NO_CONVERT)

    markdown = [c.source for c in original.cells if c.cell_type == "markdown"]
    bodies = [body for text in markdown for body in SOLUTION.findall(text)]
    opened = sum(len(re.findall(r"<details\b", text, re.IGNORECASE)) for text in markdown)
    assert len(bodies) == opened, "a solution is written in another way than the course's pattern"
    assert bodies, f"{path.name} has no exercise solutions"

    # No solution text survives anywhere in the handout: not the tags, not a whole body,
    # not any line of a body that the rest of the original notebook does not also hold.
    everything = "\n".join(strings(copy))
    assert "<details" not in everything.lower() and "</details" not in everything.lower(), \
        "a <details> tag is left in the handout"
    outside = "\n".join(strings({**original, "cells": [
        {**c, "source": SOLUTION.sub("", c.source)} for c in original.cells]}))
    for body in bodies:
        assert body.strip() not in everything, f"a whole solution is left: {body.strip()[:80]!r}"
        for line in body.splitlines():
            line = line.strip()
            if len(line) >= 20 and line not in outside:
                assert line not in everything, f"solution text left in the handout: {line!r}"
    assert everything.count(handout.NOTE) == len(bodies), "one note for each solution"

    # Everything else is the original's: metadata (widget state included), every code
    # cell with its outputs, every markdown cell but for the notes.
    assert copy.metadata == original.metadata
    assert (copy.nbformat, copy.nbformat_minor) == (original.nbformat, original.nbformat_minor)
    assert len(copy.cells) == len(original.cells)
    for before, after in zip(original.cells, copy.cells):
        if before.cell_type == "markdown":
            before = {**before, "source": SOLUTION.sub(handout.NOTE, before.source)}
        assert after == before


def test_handout_runs_in_fast_mode(handout_dir, data_root, tmp_path):
    """Chapter 00 of the handout runs under nbval in fast mode, as `make test` runs the originals.

    One chapter is enough. The test above shows that a handout notebook differs from its
    original only in the text of markdown cells: every code cell (source, outputs, metadata)
    and the notebook's metadata are identical, and markdown is never executed. `make test`
    runs every original under nbval, so each handout notebook executes exactly the code
    that passed there. This run guards what that argument cannot see: that the handout
    folder, away from notebooks/ and the repository's conftest, still finds the package and
    the data and passes nbval's output checks. Chapter 00 is the cheapest (about 25 s).
    """
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # the kernel's own inline backend
    env.update(DRAWJOURNEY_FAST="1", DRAWJOURNEY_DATA=str(data_root),
               XDG_CACHE_HOME=str(tmp_path / "cache"))
    notebook = handout_dir / NOTEBOOKS[0].name
    assert notebook.name.startswith("00_")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
         "--nbval-current-env", str(notebook)],
        cwd=handout_dir, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
