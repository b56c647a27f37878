"""Sphinx configuration of the course book (`make book`): the executed notebooks as a static site.

`make book` copies book/index.md and notebooks/NN_*.ipynb into build/book-src/ and runs
`sphinx-build -c book build/book-src build/book` from .venv-book. The notebooks are shown as
saved: nothing is executed, so the book needs no kernel, no torch and no data.
"""
import importlib.util
import shutil
import sys
from pathlib import Path

project = "Teaching Machines to Draw"
author = "the drawjourney authors"
copyright = "the drawjourney authors (MIT licence); MNIST digits: LeCun, Cortes and Burges (CC BY-SA 3.0)"

extensions = ["myst_nb"]
root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints"]

# The notebooks are committed executed (full mode, outputs and widget state saved):
# render them as they are; a book build must never start a kernel.
nb_execution_mode = "off"
myst_enable_extensions = ["dollarmath", "amsmath"]

# A widget needs a kernel to move, so the book shows what a static page can: each widget's
# text line ("FrameScrubber: 11 frames of 't' (interactive: run the notebook; static strip
# below)") and the static strip the notebook saves after it. Without this, MyST-NB would
# load the ipywidgets HTML manager from a CDN, which an offline reader does not have.
nb_mime_priority_overrides = [("*", "application/vnd.jupyter.widget-view+json", None)]
nb_ipywidgets_js = {}

# The chapters link to each other's sections as JupyterLab makes the anchors: the heading's
# text with its spaces turned into hyphens (`06_gans.ipynb#3-·-Experiment-1:-the-loss-that-
# stalls`). The book's headings get the same anchors, so those links work on the site too.
myst_heading_anchors = 4
sys.path.insert(0, str(Path(__file__).resolve().parent))
myst_heading_slug_func = "slug.jupyterlab_slug"

html_theme = "sphinx_book_theme"
html_title = "Teaching Machines to Draw"
html_static_path = ["_static"]
html_css_files = ["book.css"]
html_copy_source = False  # no second copy of every notebook (13 MB) inside the site
html_show_sourcelink = False
html_theme_options = {
    "use_download_button": False,
    "show_toc_level": 2,
    "home_page_in_toc": True,
}

# Maths: MathJax 2.7 as shipped by jupyter-server-mathjax (a Jupyter project package on
# PyPI), copied into the site so formulas render offline, e.g. in a classroom without
# internet or from file://. That copy carries the STIX-Web fonts only, hence the font setting.
MATHJAX_DIR = "mathjax"
mathjax_path = f"{MATHJAX_DIR}/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"  # under _static/
mathjax2_config = {
    "tex2jax": {
        "inlineMath": [["\\(", "\\)"]],
        "displayMath": [["\\[", "\\]"]],
        "processEscapes": True,
        "processClass": "math",
        "ignoreClass": "document",
    },
    "HTML-CSS": {"availableFonts": [], "webFont": "STIX-Web", "imageFont": None, "scale": 90},
    "SVG": {"font": "STIX-Web"},
    "showMathMenu": False,
    "messageStyle": "none",
}


def _mathjax_static() -> Path:
    spec = importlib.util.find_spec("jupyter_server_mathjax")
    if spec is None or spec.origin is None:
        raise RuntimeError("jupyter-server-mathjax is missing from the book's environment: "
                           "run `make book`, which installs book/requirements.txt")
    return Path(spec.origin).parent / "static"


def _copy_mathjax(app, exception):
    """After an HTML build, put MathJax beside the pages (build/book/_static/mathjax)."""
    if exception is None and app.builder.format == "html":
        target = Path(app.outdir) / "_static" / MATHJAX_DIR
        if not (target / "MathJax.js").is_file():
            shutil.copytree(_mathjax_static(), target, dirs_exist_ok=True)


def setup(app):
    _mathjax_static()  # fail before the build, not after it
    app.connect("build-finished", _copy_mathjax)
