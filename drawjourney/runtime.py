"""Where the course runs: the device, the seed and fast mode.

`device()` picks cuda, then mps, then cpu; `DRAWJOURNEY_DEVICE` overrides it.
`fast_mode()` is true when `DRAWJOURNEY_FAST=1`: notebooks then shrink data, models and
steps so each runs in well under 90 s on 2 CPU cores. Fast mode shrinks work; it never
skips a code path.
"""
from __future__ import annotations

import os
import random

import numpy as np
import torch

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def device() -> torch.device:
    """The device every tensor of the course lives on.

    `DRAWJOURNEY_DEVICE` (e.g. ``cpu``, ``cuda``, ``cuda:1``, ``mps``) overrides the
    automatic choice; an unknown or unavailable value raises a `ValueError` that says
    what is available.
    """
    wanted = os.environ.get("DRAWJOURNEY_DEVICE", "").strip()
    if not wanted:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(wanted)
    except RuntimeError as err:
        raise ValueError(
            f"DRAWJOURNEY_DEVICE={wanted!r} is not a device torch knows; "
            f"use one of {available_devices()} or unset it"
        ) from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"DRAWJOURNEY_DEVICE={wanted!r} but CUDA is not available here; "
                         f"available: {available_devices()}")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"DRAWJOURNEY_DEVICE={wanted!r} but only {torch.cuda.device_count()} "
                         f"CUDA device(s) exist")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"DRAWJOURNEY_DEVICE={wanted!r} but MPS is not available here; "
                         f"available: {available_devices()}")
    if dev.type not in {"cpu", "cuda", "mps"}:
        raise ValueError(f"DRAWJOURNEY_DEVICE={wanted!r}: the course supports cpu, cuda and mps")
    return dev


def available_devices() -> list[str]:
    """Names of the devices this machine can use, e.g. ``['cpu', 'cuda']``."""
    names = ["cpu"]
    if torch.cuda.is_available():
        names.append("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        names.append("mps")
    return names


def seed(n: int = 0) -> torch.Generator:
    """Seed python, numpy and torch (all devices) with `n`; returns a CPU generator seeded with `n`."""
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


def describe() -> str:
    """One line naming the hardware, for the record printed beside every figure."""
    dev = device()
    if dev.type == "cuda":
        name = torch.cuda.get_device_name(dev)
    elif dev.type == "mps":
        name = "Apple GPU (mps)"
    else:
        name = f"CPU, {torch.get_num_threads()} threads"
    mode = "fast mode" if fast_mode() else "full mode"
    return f"{name}; torch {torch.__version__}; {mode}"
