"""Run each chapter notebook in the default mode and measure its wall time and peak memory.

    python tools/notebook_memory.py --out results/notebook_memory.json notebooks/[0-9][0-9]_*.ipynb
    python tools/notebook_memory.py --cells notebooks/03_boltzmann_machines.ipynb   # which cell

Binder gives a course 2 GB of RAM for everything: the Jupyter server, the kernel and what
the notebook loads. Each notebook is executed by `jupyter nbconvert --execute` (outputs go
to a temporary folder; the saved notebook is not touched) under `/usr/bin/time -v`, as the
issue asks, which reports the largest single process (the kernel). Meanwhile the process
tree under nbconvert is polled twice a second and its resident sizes are summed, which is
closer to what a container's limit counts. Both peaks are written, in MB, after each
notebook, so an interrupted run keeps what it measured. With `--inplace` the executed
notebooks replace the given ones, as `make execute` does.
"""
from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

POLL_S = 0.5


def _children() -> dict[int, list[int]]:
    """Map each process id to the ids of its children, read from /proc."""
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces; the parent id follows it.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_mb(root: int) -> float:
    """The summed resident size of `root` and all its descendants, in MB."""
    tree, total, todo = _children(), 0, [root]
    while todo:
        pid = todo.pop()
        total += _rss_kb(pid)
        todo.extend(tree.get(pid, []))
    return total / 1024


def measure(notebook: Path, outdir: str | None, timeout_s: int) -> dict:
    """Execute `notebook` into `outdir` (None: in place, keeping the widgets' state)."""
    env = {k: v for k, v in os.environ.items() if k != "DRAWJOURNEY_FAST"}
    where = (["--inplace", "--ExecutePreprocessor.store_widget_state=True"] if outdir is None
             else ["--output-dir", outdir])
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "nbconvert", "--to", "notebook",
           "--execute", *where, f"--ExecutePreprocessor.timeout={timeout_s}", str(notebook)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    peak_tree = 0.0
    while proc.poll() is None:
        peak_tree = max(peak_tree, tree_rss_mb(proc.pid))
        time.sleep(POLL_S)
    stderr = proc.stderr.read()
    wall = time.perf_counter() - start
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
    return {
        "notebook": notebook.name,
        "ok": proc.returncode == 0,
        "wall_s": round(wall, 1),
        "peak_process_mb": round(int(match.group(1)) / 1024, 1) if match else None,
        "peak_tree_mb": round(peak_tree, 1),
        "error_tail": "" if proc.returncode == 0 else stderr[-2000:],
    }


def per_cell(notebook: Path) -> None:
    """Run `notebook`'s code cells in this process, printing the peak RSS after each one.

    What finds the cell behind a notebook's peak. The cells run with `exec` in one
    namespace, from the notebook's folder, without IPython: magics (`%...`) are dropped
    and figures are closed after each cell.
    """
    import resource

    import matplotlib
    import nbformat

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nb = nbformat.read(notebook, as_version=4)
    os.chdir(notebook.parent)
    namespace = {"__name__": "__main__"}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith("%"))
        start = time.perf_counter()
        exec(compile(source, f"{notebook.name} cell {index}", "exec"), namespace)
        plt.close("all")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        first = (cell.source.splitlines() or [""])[0][:60]
        print(f"cell {index:3d}  peak {peak:7.0f} MB  {time.perf_counter() - start:6.1f} s  {first}",
              flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("results/notebook_memory.json"))
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    parser.add_argument("--inplace", action="store_true",
                        help="save the executed notebooks over the given ones (then run `make sync`)")
    parser.add_argument("--cells", action="store_true",
                        help="run one notebook's cells in this process and print the peak after each")
    args = parser.parse_args(argv)
    if args.cells:
        if len(args.notebooks) != 1:
            parser.error("--cells takes one notebook")
        os.environ.pop("DRAWJOURNEY_FAST", None)
        per_cell(args.notebooks[0].resolve())
        return 0
    record = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()})",
        "python": sys.executable,
        "torch": importlib.metadata.version("torch"),  # the kernel's; importing it here costs 0.5 GB
        "mode": "default (DRAWJOURNEY_FAST unset)",
        "notebooks": [],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as outdir:
        for nb in args.notebooks:
            row = measure(nb, None if args.inplace else outdir, args.timeout)
            record["notebooks"].append(row)
            args.out.write_text(json.dumps(record, indent=1))
            print(f"{row['notebook']:<36} {'ok' if row['ok'] else 'FAILED':<6} "
                  f"{row['wall_s']:>7.1f} s  kernel {row['peak_process_mb']} MB  "
                  f"tree {row['peak_tree_mb']} MB", flush=True)
    return 0 if all(r["ok"] for r in record["notebooks"]) else 1


if __name__ == "__main__":
    sys.exit(main())
