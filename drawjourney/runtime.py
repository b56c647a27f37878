"""Where the course runs: the device, the CPU threads, the seed, fast mode and caches.

`device()` picks cuda, then mps, then cpu; `DRAWJOURNEY_DEVICE` overrides it, and every
function of the package that takes a ``device=`` argument turns it into a
`torch.device` through `device(...)`, with the same checks and messages.
`fast_mode()` is true when `DRAWJOURNEY_FAST=1`: notebooks then shrink data, models and
steps so each runs in well under 90 s on 2 CPU cores. Fast mode shrinks work; it never
skips a code path.

Threads: torch sizes its CPU thread pool from the cores it can see, not from the CPU
time a container may use (a Binder pod sees many cores and gets about one), and
oversubscribed threads make small models many times slower. On import the package sets
torch's thread count to `default_threads()`: one less than the CPUs this process may
actually use (`cpu_budget()`), at least one; `DRAWJOURNEY_THREADS` overrides it.
"""
from __future__ import annotations

import math
import os
import random
from pathlib import Path

import numpy as np
import torch

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}
DEVICE_TYPES = ("cpu", "cuda", "mps")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return mps is not None and mps.is_available()


def device(spec=None) -> torch.device:
    """The device to use: `spec` checked, or the course's default when `spec` is None.

    spec: None, a string (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``) or a
        `torch.device`. None means `DRAWJOURNEY_DEVICE` if set, else cuda, then mps,
        then cpu.
    Raises a `ValueError` that names where the value came from and what is available
    for an unknown device (``"gpu"``), or one this machine lacks (``"cuda"`` without
    CUDA, ``"cuda:7"`` with one GPU, ``"mps"`` off a Mac).
    """
    if spec is not None:
        return _checked(spec, "device")
    wanted = os.environ.get("DRAWJOURNEY_DEVICE", "").strip()
    if wanted:
        return _checked(wanted, "DRAWJOURNEY_DEVICE")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _checked(spec, source: str) -> torch.device:
    """`spec` as a torch.device this machine has; `source` names it in errors."""
    where = f"{source}={spec!r}"
    if isinstance(spec, torch.device):
        dev = spec
    elif isinstance(spec, str):
        try:
            dev = torch.device(spec.strip())
        except (RuntimeError, ValueError):
            raise ValueError(f"{where} is not a device torch knows; use one of "
                             f"{available_devices()}" +
                             (" or unset it" if source.isupper() else "")) from None
    else:
        raise ValueError(f"{where}: a device must be a string such as 'cpu' or 'cuda', or a "
                         f"torch.device; got {type(spec).__name__}")
    if dev.type not in DEVICE_TYPES:
        raise ValueError(f"{where}: the course runs on {', '.join(DEVICE_TYPES)}; "
                         f"available here: {available_devices()}")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{where} but CUDA is not available here; available: "
                             f"{available_devices()}")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"{where} but only {torch.cuda.device_count()} CUDA device(s) "
                             f"exist (cuda:0 to cuda:{torch.cuda.device_count() - 1})")
    if dev.type == "mps" and not _mps_available():
        raise ValueError(f"{where} but MPS (an Apple GPU) is not available here; available: "
                         f"{available_devices()}")
    return dev


def available_devices() -> list[str]:
    """Names of the devices this machine can use, e.g. ``['cpu', 'cuda']``."""
    names = ["cpu"]
    if torch.cuda.is_available():
        names.append("cuda")
    if _mps_available():
        names.append("mps")
    return names


def synchronize(dev) -> None:
    """Wait for queued work on `dev` (cuda or mps) to finish, before reading a clock."""
    dev = torch.device(dev)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    elif dev.type == "mps":
        torch.mps.synchronize()


# ----------------------------------------------------------------------------- threads


def cpu_quota(cgroup_root: str | os.PathLike = "/sys/fs/cgroup") -> float | None:
    """CPUs' worth of time the container's cgroup grants this process, or None if unlimited.

    Reads cgroup v2 ``cpu.max`` ("200000 100000" means 2 CPUs) for this process's group
    and the root, then cgroup v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``.
    """
    root = Path(cgroup_root)
    groups = [""]
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                groups.insert(0, line[3:].strip("/"))
    except OSError:
        pass
    for group in groups:
        try:
            quota, period = (root / group / "cpu.max").read_text().split()[:2]
        except (OSError, ValueError):
            continue
        return None if quota == "max" else int(quota) / int(period)
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota <= 0 or period <= 0 else quota / period


def visible_cpus() -> int:
    """CPUs this process may be scheduled on (its affinity mask), else os.cpu_count()."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call
        return os.cpu_count() or 1


def cpu_budget() -> int:
    """CPUs this process may use: min(visible CPUs, the cgroup quota rounded up), at least 1."""
    quota = cpu_quota()
    budget = visible_cpus()
    if quota is not None:
        budget = min(budget, math.ceil(quota))
    return max(1, budget)


def default_threads() -> int:
    """The CPU thread count the course uses: `DRAWJOURNEY_THREADS`, else `cpu_budget()` - 1.

    One CPU is left for everything else (the Jupyter server, the browser, a second
    kernel) because a thread pool as wide as the machine collapses when anything else
    runs: on 2 cores, chapter 01's training loop ran at 86 steps/s on one thread and
    5 steps/s on two while one other process was busy, against 138 and 208 steps/s
    when the machine was quiet (see the README). At least 1. A bad
    `DRAWJOURNEY_THREADS` (not a positive whole number) is a `ValueError`.
    """
    wanted = os.environ.get("DRAWJOURNEY_THREADS", "").strip()
    if wanted:
        if not wanted.isdigit() or int(wanted) < 1:
            raise ValueError(f"DRAWJOURNEY_THREADS={wanted!r}: use a positive whole number "
                             f"of CPU threads, e.g. 1 or 2, or unset it")
        return int(wanted)
    return max(1, cpu_budget() - 1)


def set_threads(n: int | None = None) -> int:
    """Set torch's intra-op CPU threads to `n` (default `default_threads()`); returns the count."""
    n = default_threads() if n is None else n
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"threads must be a positive int, got {n!r}")
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


# ----------------------------------------------------------------------------- the rest


def seed(n: int = 0) -> torch.Generator:
    """Seed python, numpy and torch (all devices) with `n`; returns a CPU generator seeded with `n`."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"seed must be a non-negative int, got {n!r}")
    n = int(n)
    random.seed(n)
    np.random.seed(n % 2**32)
    torch.manual_seed(n)
    return torch.Generator().manual_seed(n)


def fast_mode() -> bool:
    """True when `DRAWJOURNEY_FAST` is set to 1 (or true/yes/on)."""
    value = os.environ.get("DRAWJOURNEY_FAST", "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"DRAWJOURNEY_FAST={value!r}: use 1 (fast) or 0 (full)")


def cache_dir(*parts: str) -> Path:
    """Where the package caches what it computes (FID statistics, ...), not yet created.

    ``$XDG_CACHE_HOME/drawjourney`` when that variable is set, else
    ``~/.cache/drawjourney``; `parts` name a subfolder.
    """
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base.joinpath("drawjourney", *parts)


def use_pretrained(spec=None) -> bool:
    """Whether a notebook loads the shipped checkpoint (True) or trains the full recipe.

    True on CPU and MPS, False on CUDA (for the device `spec`, default the course's);
    `DRAWJOURNEY_PRETRAINED=1|0` overrides. A bad value is a `ValueError`.
    """
    value = os.environ.get("DRAWJOURNEY_PRETRAINED", "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE - {""}:
        return False
    if value:
        raise ValueError(f"DRAWJOURNEY_PRETRAINED={value!r}: use 1 (load the shipped "
                         f"checkpoints) or 0 (train the full recipes), or unset it")
    return device(spec).type != "cuda"


def hardware(spec=None) -> str:
    """The hardware of `spec` (default the course's device) in words, e.g. "NVIDIA H100
    80GB HBM3" or "CPU, 1 thread (2 visible)": what a checkpoint records."""
    dev = device(spec)
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    if dev.type == "mps":
        return "Apple GPU (mps)"
    quota = cpu_quota()
    n = torch.get_num_threads()
    return (f"CPU, {n} thread{'' if n == 1 else 's'} ({visible_cpus()} visible"
            + ("" if quota is None else f", quota {quota:g}") + ")")


def describe(spec=None) -> str:
    """One line naming the hardware of `spec` (default: the course's device), torch and
    the mode, for the record printed beside every figure."""
    mode = "fast mode" if fast_mode() else "full mode"
    return f"{hardware(spec)}; torch {torch.__version__}; {mode}"


set_threads()
