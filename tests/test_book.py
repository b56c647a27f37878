"""The book (`make book`): every chapter, in order, as saved, with its figures and offline maths.

The test builds the real target into a temporary folder. The build itself takes a few
seconds (it renders the saved notebooks and executes nothing), so it runs inside `make test`
rather than behind a separate target. The first build anywhere also makes .venv-book, as
`make book` does (pip, about 15-60 s); later runs reuse it. Sphinx runs with -W, so a
warning (a broken cross-reference, a notebook it cannot read) fails the test.
"""
import html
import re
import subprocess
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> Path:
    """The HTML folder of a fresh `make book`."""
    out = tmp_path_factory.mktemp("book")
    run = subprocess.run(
        ["make", "--no-print-directory", "book", f"BOOK_SRC={out / 'src'}",
         f"BOOK_OUT={out / 'html'}", "SPHINXOPTS=-W --keep-going"],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return out / "html"


def text_of(fragment: str) -> str:
    """The text of an HTML fragment, tags dropped, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def plain(text: str) -> str:
    """`text` with Sphinx's typographic quotes and dashes made plain again."""
    for fancy, simple in (("\u2019", "'"), ("\u2018", "'"), ("\u201c", '"'), ("\u201d", '"'),
                          ("\u2013", "--"), ("\u2014", "---")):
        text = text.replace(fancy, simple)
    return text


def test_chapters_are_listed_in_order(book):
    index = (book / "index.html").read_text()
    toctree = index[index.index('class="toctree-wrapper'):]
    linked = list(dict.fromkeys(re.findall(r'href="(\d\d_[^"#]+)\.html"', toctree)))
    assert linked == [p.stem for p in NOTEBOOKS]


def test_maths_and_pages_need_no_network(book):
    mathjax = book / "_static" / "mathjax" / "MathJax.js"
    assert mathjax.is_file(), "MathJax is not copied into the site"
    for page in book.glob("*.html"):
        source = page.read_text()
        remote = re.findall(r'<(?:script|link|img)\b[^>]*(?:src|href)="(?:https?:)?//[^"]*"', source)
        assert not remote, f"{page.name} loads {remote[0]}"
        if page.stem[:2].isdigit():
            assert 'src="_static/mathjax/MathJax.js' in source, f"{page.name} loads no local MathJax"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_chapter_page_shows_the_saved_notebook(path, book):
    nb = nbformat.read(path, as_version=4)
    page = book / f"{path.stem}.html"
    assert page.is_file(), f"no page for {path.name}"
    source = page.read_text()
    text = plain(text_of(source))

    title = next(line[2:].strip() for c in nb.cells if c.cell_type == "markdown"
                 for line in c.source.splitlines() if line.startswith("# "))
    h1 = re.search(r"<h1>(.*?)</h1>", source, re.DOTALL)
    assert h1 and plain(title) in plain(text_of(h1.group(1))), f"title {title!r} not in the <h1>"

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    images = re.findall(r'<img\b[^>]*src="(_images/[^"]+)"', source)
    assert images, f"{page.name} shows no figure"
    assert len(images) >= len(figures), f"{page.name} shows {len(images)} of {len(figures)} figures"
    for src in images:
        assert (book / src).read_bytes()[:4] == b"\x89PNG", f"{src} is missing or no PNG"

    # The saved outputs, not new ones: the first printed lines are the notebook's own.
    streams = [o.text.strip().splitlines()[0] for o in outputs
               if o.output_type == "stream" and o.text.strip()]
    for line in streams[:3]:
        assert " ".join(plain(line).split()) in text, f"saved output {line!r} not on the page"

    # Each widget is shown by its one-line description; its static strip is a figure above.
    for o in outputs:
        if WIDGET_VIEW in o.get("data", {}):
            assert " ".join(plain(o.data["text/plain"]).split()) in text

    if "$" in "".join(c.source for c in nb.cells if c.cell_type == "markdown"):
        assert 'class="math notranslate' in source, f"{page.name} has no maths for MathJax"
