"""Every chapter run in JupyterLab in a real (headless) browser: `make test-browser`.

For each notebook: open it, run all cells, wait for the last one; no cell may show an error
and every code cell must have run; every displayed widget with an image gets its slider moved
and its dropdown changed, and its image must change; the browser console must stay free of
errors. A screenshot of each chapter lands in build/browser/.

`make test` collects this file too and skips it: the browser tests need Chromium and
several minutes, and `make test-browser` runs them (DRAWJOURNEY_BROWSER=1).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(os.environ.get("DRAWJOURNEY_BROWSER") != "1",
                                reason="real-browser tests: run them with `make test-browser`")

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
OPEN_TIMEOUT = 120   # s: JupyterLab loads, the kernel starts
RUN_TIMEOUT = 900    # s: a fast-mode chapter takes well under 90 s on a free CPU
WIDGET_TIMEOUT = 60  # s: one slider move or dropdown change redrawn by the kernel

# The notebook panel showing `arguments[0]` (a path relative to the server's root).
_PANEL = """
const app = window.jupyterapp;
const panel = app && [...app.shell.widgets('main')].find(w => w.context && w.context.path === arguments[0]);
"""

_KERNEL_STATUS = _PANEL + """
if (!panel || !panel.sessionContext.isReady) return null;
const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
return kernel ? kernel.status : null;
"""

# The run-all command resolves when the last queued cell has finished (or one has failed);
# the kernel alone can look idle between two cells, so the command's promise is what we wait on.
_RUN_ALL = _PANEL + """
app.shell.activateById(panel.id);
window.__runAll = {done: false};
app.commands.execute('notebook:run-all-cells').then(
  result => { window.__runAll = {done: true, result: result}; },
  error => { window.__runAll = {done: true, error: String(error)}; });
"""

_RUN_STATE = _PANEL + """
const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
const cells = [];
const model = panel.content.model;
for (let i = 0; i < model.cells.length; i++) {
  const cell = model.cells.get(i);
  if (cell.type !== 'code') continue;
  const errors = [];
  let widgets = 0;
  for (let j = 0; j < cell.outputs.length; j++) {
    const output = cell.outputs.get(j).toJSON();
    if (output.output_type === 'error') errors.push(`${output.ename}: ${output.evalue}`);
    if (output.data && output.data['application/vnd.jupyter.widget-view+json']) widgets += 1;
  }
  const source = cell.sharedModel.getSource();
  cells.push({index: i, count: cell.executionCount,
              empty: source.trim() === '', head: source.split('\\n').slice(0, 3).join('\\n'), errors, widgets});
}
return {run: window.__runAll, kernel: kernel ? kernel.status : null, cells};
"""

# Output areas that show a live widget, and those that show ipywidgets' "Error displaying widget".
_RENDERED_WIDGETS = """
const outputs = [...document.querySelectorAll('.jp-OutputArea-output')];
return {shown: outputs.filter(node => node.querySelector(':scope > .jupyter-widgets')).length,
        broken: outputs.filter(node => node.textContent.includes('Error displaying widget')).length};
"""

# Output areas that show a live widget with an image and a control to move.
_WIDGET_OUTPUTS = """
return [...document.querySelectorAll('.jp-OutputArea-output')].filter(
  node => node.querySelector(':scope > .jupyter-widgets') && node.querySelector('img.widget-image')
       && node.querySelector('.widget-slider .noUi-handle, .widget-dropdown select'));
"""

_IMAGE_SOURCES = "return [...arguments[0].querySelectorAll('img.widget-image')].map(img => img.src);"

_CELL_INDEX = """
const cell = arguments[0].closest('.jp-Cell');
return [...cell.parentElement.children].filter(n => n.classList.contains('jp-Cell')).indexOf(cell);
"""


def _poll(check, timeout: float, interval: float = 0.5):
    """Call `check()` until it returns something truthy (returned) or `timeout` s pass (None)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)


def _wait(check, timeout: float, what: str, interval: float = 0.5):
    """`_poll`, failing the test, naming `what`, on a timeout."""
    value = _poll(check, timeout, interval)
    if value is None:
        pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
    return value


def _open(driver, lab, path: str) -> None:
    # `reset`: start from an empty workspace, not one that reopens every earlier chapter's tab.
    driver.get(f"{lab.url}/lab/tree/{path}?reset&token={lab.token}")
    _wait(lambda: driver.execute_script(_KERNEL_STATUS, path) == "idle", OPEN_TIMEOUT,
          f"{path} to open with an idle kernel")
    driver.execute_script("window.jupyterapp.shell.collapseLeft();")  # the file browser: room for the notebook
    tabs = driver.execute_script("return [...window.jupyterapp.shell.widgets('main')].map(w => w.title.label);")
    assert tabs == [path.rsplit("/", 1)[-1]], f"expected only {path} open in JupyterLab, found {tabs}"


def _run_all(driver, path: str) -> dict:
    driver.execute_script(_RUN_ALL, path)

    def finished():
        state = driver.execute_script(_RUN_STATE, path)
        return state if state["run"]["done"] and state["kernel"] in ("idle", "dead") else None

    return _wait(finished, RUN_TIMEOUT, f"run-all of {path} to finish", interval=2)


def _where(state: dict, index: int) -> str:
    """'cell 12 (first line of its source)': the cell's position among all cells, from 0."""
    head = next((cell["head"] for cell in state["cells"] if cell["index"] == index), "")
    return f"cell {index} ({head.splitlines()[0] if head else 'empty'!r})"


def _cell_problems(state: dict) -> list[str]:
    """Error outputs, code cells left without an execution count, a dead kernel; one line each."""
    problems = []
    if "error" in state["run"]:
        problems.append(f"run-all failed: {state['run']['error']}")
    if state["kernel"] == "dead":
        problems.append("the kernel died")
    for cell in state["cells"]:
        problems += [f"{_where(state, cell['index'])} shows {error}" for error in cell["errors"]]
        if cell["count"] is None and not cell["empty"]:
            problems.append(f"{_where(state, cell['index'])} has no execution count")
    return problems


def _first_error_cell(state: dict) -> int | None:
    return next((cell["index"] for cell in state["cells"] if cell["errors"]), None)


def _image_changed(driver, output, before: list[str]):
    return lambda: driver.execute_script(_IMAGE_SOURCES, output) != before


def _move_slider(driver, output) -> str | None:
    """Press End (then Home, if it already sat at the end) on the first slider; a problem or None."""
    from selenium.webdriver.common.keys import Keys

    handle = output.find_element("css selector", ".widget-slider .noUi-handle")
    start = handle.get_attribute("aria-valuenow")
    for key in (Keys.END, Keys.HOME):
        handle.send_keys(key)
        if handle.get_attribute("aria-valuenow") != start:
            return None
    return f"its slider did not move from {start} with End or Home"


def _change_dropdown(driver, output) -> str | None:
    """Choose the dropdown's next option (or the first, from the last); a problem or None."""
    from selenium.webdriver.support.select import Select

    menu = Select(output.find_element("css selector", ".widget-dropdown select"))
    options = menu.options
    if len(options) < 2:
        return f"its dropdown has {len(options)} option(s)"
    current = next(i for i, option in enumerate(options) if option.is_selected())
    menu.select_by_index((current + 1) % len(options))
    return None


def _widget_problems(driver, state: dict) -> list[str]:
    """Every widget output of the run must be drawn as a live widget, none as an error."""
    expected = sum(cell["widgets"] for cell in state["cells"])
    rendered = _poll(lambda: (lambda r: r if r["shown"] + r["broken"] >= expected else None)(
        driver.execute_script(_RENDERED_WIDGETS)), WIDGET_TIMEOUT)
    if rendered is None:
        return [f"only {driver.execute_script(_RENDERED_WIDGETS)['shown']} of the {expected} widget outputs "
                f"were drawn within {WIDGET_TIMEOUT} s"]
    return [f"{rendered['broken']} widget output(s) show 'Error displaying widget'"] if rendered["broken"] else []


def _exercise_widgets(driver, state: dict) -> tuple[list[str], int]:
    """Move every image widget's slider and change its dropdown; the image must follow each time.

    Returns the problems (one line each) and the number of widgets exercised.
    """
    problems = []
    outputs = driver.execute_script(_WIDGET_OUTPUTS)
    for output in outputs:
        where = f"the widget in {_where(state, driver.execute_script(_CELL_INDEX, output))}"
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", output)
        for control, act in ((".widget-slider .noUi-handle", _move_slider),
                             (".widget-dropdown select", _change_dropdown)):
            if not output.find_elements("css selector", control):
                continue
            before = driver.execute_script(_IMAGE_SOURCES, output)
            problem = act(driver, output)
            if problem is None and _poll(_image_changed(driver, output, before), WIDGET_TIMEOUT) is None:
                problem = f"its image did not change within {WIDGET_TIMEOUT} s after {act.__name__[1:]}"
            if problem:
                problems.append(f"{where}: {problem}")
    return problems, len(outputs)


def _console_errors(driver) -> list[str]:
    """Browser console messages at error level (SEVERE) since the last call."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def _screenshot(driver, path: Path, state: dict | None) -> None:
    """Scroll to the first error, else the first image widget, else the last figure; save the screenshot."""
    target = None
    error_cell = _first_error_cell(state) if state else None
    if error_cell is not None:
        target = driver.execute_script("return document.querySelectorAll('.jp-Notebook .jp-Cell')[arguments[0]];",
                                       error_cell)
    if target is None:
        widgets = driver.execute_script(_WIDGET_OUTPUTS)
        target = widgets[0] if widgets else driver.execute_script(
            "const nodes = document.querySelectorAll('.jp-Notebook .jp-RenderedImage');"
            "return nodes.length ? nodes[nodes.length - 1] : null;")
    if target is not None:
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", target)
        time.sleep(0.5)  # let the scroll settle and images paint
    driver.save_screenshot(str(path))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_chapter_runs_in_jupyterlab(notebook, lab, browser, artifacts):
    path, shot = f"notebooks/{notebook.name}", artifacts / f"{notebook.stem}.png"
    state, problems, exercised, start = None, [], 0, time.monotonic()
    try:
        _open(browser, lab, path)
        state = _run_all(browser, path)
        problems = _cell_problems(state)
        if not problems:
            problems += _widget_problems(browser, state)
            widget_problems, exercised = _exercise_widgets(browser, state)
            problems += widget_problems
        problems += [f"browser console error: {message}" for message in _console_errors(browser)]
    finally:
        _screenshot(browser, shot, state)
        lab.shutdown_kernels()
        summary = {"seconds": round(time.monotonic() - start, 1), "screenshot": shot.name,
                   "code_cells": len(state["cells"]) if state else None,
                   "widget_outputs": sum(cell["widgets"] for cell in state["cells"]) if state else None,
                   "image_widgets_exercised": exercised, "problems": problems}
        (artifacts / f"{notebook.stem}.json").write_text(json.dumps(summary, indent=1) + "\n")
    assert not problems, (f"{notebook.name} in JupyterLab (screenshot: {shot.relative_to(ROOT)}):\n"
                          + "\n".join(problems))
