"""The shipped checkpoints: `pretrained(name)` loads the course's trained models.

A learner on a laptop CPU or on Binder cannot wait an hour for an RBM to train, so each
model whose recipe takes more than a few minutes ships as ``drawjourney/assets/<name>.pt``,
made by ``python -m drawjourney train <name>`` and measured with the course's metrics.
`drawjourney.pretrained` is this module's `pretrained`; `runtime.use_pretrained()` says
whether a notebook should load one or train the full recipe itself.
"""
from __future__ import annotations

from pathlib import Path

from torch import nn

ASSETS = Path(__file__).resolve().parent / "assets"
"""Where the shipped checkpoints live (package data)."""

INSTRUMENTS = frozenset({"judge"})
"""Assets that measure models rather than being one of the course's models."""


def names() -> list[str]:
    """The names `pretrained` accepts: every shipped checkpoint but the instruments."""
    return sorted(p.stem for p in ASSETS.glob("*.pt") if p.stem not in INSTRUMENTS)


def path(name: str) -> Path:
    """The file of the shipped checkpoint `name`; a clear error for an unknown name."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a string such as 'rbm', got {type(name).__name__}")
    shipped = names()
    if name not in shipped:
        raise ValueError(f"no pretrained model named {name!r}; shipped: "
                         f"{', '.join(shipped) or 'none'}")
    return ASSETS / f"{name}.pt"


def pretrained(name: str, device=None) -> nn.Module:
    """The shipped model `name` on `device` (default `runtime.device()`), in eval mode.

    Loaded through `checkpoint.load` (weights only, never code), in float32 whatever the
    storage. `model.checkpoint_info` holds what was recorded when it was made: the
    metrics as measured (``test_nll_nats``, ``fid_mnist``, ...), and the provenance (the
    recipe command, package version, storage), with ``train_seconds`` and ``hardware``
    among the metrics.
    """
    from drawjourney import checkpoint

    return checkpoint.load(path(name), device=device)
