"""The bench harness: every model family measured on the same numbers.

A model file registers its family with `register(Family(...))` at import time; the
harness finds families by importing every module of `drawjourney.models`, so it knows no
model by name. For each family it loads a checkpoint (or trains with the family's recipe
for a budget of minutes), then measures the family's likelihood where defined, FID-MNIST
on generated samples, label accuracy if conditional, parameters, training wall time,
sampling time per 100 images and the device. `bench data` measures the data pipeline.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from drawjourney.data import ImageData


@dataclass(frozen=True)
class Family:
    """How the harness trains, samples and scores one model family.

    train(minutes, device) -> model: the family's recipe within a time budget.
    sample(model, n, labels) -> (n, 1, H, W) in [0, 1]; labels is an int64 (n,) tensor for
        conditional families, else None.
    likelihood(model, test) -> (value, unit): e.g. (86.1, "nats") on binarized MNIST or
        (1.05, "bits/dim") on dequantized MNIST; None where the family defines none.
    """

    name: str
    description: str
    model_class: type
    train: Callable[[float, torch.device], nn.Module]
    sample: Callable[[nn.Module, int, torch.Tensor | None], torch.Tensor]
    conditional: bool = False
    likelihood: Callable[[nn.Module, ImageData], tuple[float, str]] | None = None


_FAMILIES: dict[str, Family] = {}


def register(family: Family) -> Family:
    """Add a family to the harness (called at import time by its model file)."""
    _FAMILIES[family.name] = family
    return family


def families() -> dict[str, Family]:
    """Every registered family, after importing all of `drawjourney.models`."""
    import drawjourney.models as models

    for info in pkgutil.iter_modules(models.__path__):
        importlib.import_module(f"{models.__name__}.{info.name}")
    return dict(sorted(_FAMILIES.items()))
