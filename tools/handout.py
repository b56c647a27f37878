"""Make the class handout: the chapter notebooks with their exercise solutions taken out.

    python tools/handout.py --out handout notebooks/[0-9][0-9]_*.ipynb

A solution is a `<details>` block in a markdown cell, written in the chapters as
`<details><summary>Solution</summary>` ... `</details>` (see docs/NOTEBOOK_GUIDE.md); its
body may hold maths and code fences. Each block becomes the short note `NOTE`, so a learner
sees where a solution was. Everything else is copied as it is: code cells with their saved
outputs, the other markdown, and the notebook's metadata (the widgets' state included).
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

NOTE = "*(solution removed in the handout)*"

# An opening tag, with or without attributes (`<details open>`), or a closing one.
_DETAILS_TAG = re.compile(r"<details\b[^>]*>|</details\s*>", re.IGNORECASE)


def strip_solutions(markdown: str) -> tuple[str, int]:
    """Replace every outermost `<details>...</details>` block of `markdown` by `NOTE`.

    Returns (the new text, the number of blocks replaced). A block nested inside another
    goes with it. Text outside the blocks, blank lines included, is kept byte for byte.
    Raises ValueError on an unbalanced tag, which would otherwise leak a solution or eat
    the rest of the cell.
    """
    pieces: list[str] = []
    depth = 0
    kept_from = 0  # start of the text after the last block removed
    removed = 0
    for tag in _DETAILS_TAG.finditer(markdown):
        if tag.group().startswith("</"):
            if depth == 0:
                raise ValueError(f"a </details> with no <details> before it, at character {tag.start()}")
            depth -= 1
            if depth == 0:
                pieces.append(NOTE)
                kept_from = tag.end()
                removed += 1
        else:
            if depth == 0:
                pieces.append(markdown[kept_from:tag.start()])
            depth += 1
    if depth:
        raise ValueError("a <details> block is never closed")
    pieces.append(markdown[kept_from:])
    return "".join(pieces), removed


def handout_notebook(nb: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, int]:
    """A copy of `nb` with the solutions of its markdown cells replaced by `NOTE`.

    Returns (the copy, the number of solutions removed); `nb` itself is not changed.
    """
    out = nbformat.from_dict(nb)  # a deep copy
    removed = 0
    for index, cell in enumerate(out.cells):
        if cell.cell_type != "markdown":
            continue
        try:
            cell.source, n = strip_solutions(cell.source)
        except ValueError as err:
            raise ValueError(f"markdown cell {index}: {err}") from None
        removed += n
    return out, removed


def write_handout(src: Path, out_dir: Path) -> int:
    """Write the handout version of the notebook `src` to `out_dir`/<same name>.

    Returns the number of solutions removed.
    """
    nb = nbformat.read(src, as_version=nbformat.NO_CONVERT)
    try:
        handout, removed = handout_notebook(nb)
    except ValueError as err:
        raise ValueError(f"{src}: {err}") from None
    out_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(handout, out_dir / src.name)
    return removed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path, help="chapter notebooks to copy")
    parser.add_argument("--out", type=Path, default=Path("handout"), help="folder to write to")
    args = parser.parse_args(argv)
    for src in args.notebooks:
        try:
            removed = write_handout(src, args.out)
        except ValueError as err:
            print(f"handout: {err}", file=sys.stderr)
            return 1
        print(f"{args.out / src.name}: {removed} solution(s) removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
