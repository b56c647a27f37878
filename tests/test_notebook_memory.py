"""`make memory` (tools/notebook_memory.py): a notebook's wall time and peak RAM.

A tiny notebook that holds a known amount of memory must be measured at least that high,
and one that fails must be reported as failed, with what it printed.
"""
import importlib.util
import json
import os
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("notebook_memory", ROOT / "tools" / "notebook_memory.py")
notebook_memory = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(notebook_memory)

pytestmark = pytest.mark.skipif(not Path("/usr/bin/time").exists(), reason="needs GNU time (/usr/bin/time)")


def _notebook(path: Path, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_a_notebook_holding_300_mb_is_measured_at_least_that_high(tmp_path):
    nb = _notebook(tmp_path / "holds.ipynb",
                   "import time\nblock = bytearray(300 * 2**20)  # 300 MB, every page written\n"
                   "time.sleep(1.5)  # long enough for the 0.5 s poll to see it")
    out = tmp_path / "memory.json"
    assert notebook_memory.main(["--out", str(out), str(nb)]) == 0
    record = json.loads(out.read_text())
    [row] = record["notebooks"]
    assert row["ok"] and row["notebook"] == "holds.ipynb"
    assert row["peak_process_mb"] >= 300, row       # /usr/bin/time: the kernel's own peak
    assert row["peak_tree_mb"] >= 300, row          # the polled sum over the process tree
    assert row["wall_s"] >= 1.5
    assert record["mode"].startswith("default") and record["torch"]
    assert not (tmp_path / "holds.nbconvert.ipynb").exists()   # executed copies go elsewhere
    assert nbformat.read(nb, as_version=4).cells[0].outputs == []   # the notebook is untouched


def test_a_failing_notebook_is_reported_with_its_error(tmp_path):
    nb = _notebook(tmp_path / "fails.ipynb", "raise RuntimeError('no such digit')")
    out = tmp_path / "memory.json"
    assert notebook_memory.main(["--out", str(out), str(nb)]) == 1
    [row] = json.loads(out.read_text())["notebooks"]
    assert not row["ok"] and "no such digit" in row["error_tail"]


def test_tree_rss_counts_this_process():
    assert notebook_memory.tree_rss_mb(os.getpid()) > 10   # a python process with pytest loaded
