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
import math
import pkgutil
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn


@dataclass(frozen=True)
class Family:
    """How the harness trains, samples and scores one model family.

    train(minutes, device) -> model: the family's recipe within a time budget; minutes
        None runs the whole recipe, the one `python -m drawjourney train <name>` uses to
        reproduce the shipped checkpoint.
    sample(model, n, labels) -> (n, 1, H, W) in [0, 1]; labels is an int64 (n,) tensor for
        conditional families, else None.
    likelihood(model) -> (value, unit) or (value, unit, extras): measured on the family's
        own test data, e.g. (86.1, "nats") on binarized MNIST or (1.05, "bits/dim") on
        dequantized MNIST; None where the family defines none. extras: further metrics
        under their checkpoint keys, e.g. {"test_nll_bound_nats": 88.0,
        "test_nll_estimator": "IWAE k=5000"}.
    spot_check: see the field's note.
    test_metrics(model) -> dict: further numbers measured on the family's test data where it
        has no likelihood, recorded under their keys (each starting with "test_"), e.g. a
        diffusion model's {"test_eps_mse": 0.03}.
    sampler_metrics(model, n_samples) -> dict: further numbers about the family's samplers
        (another sampler's FID-MNIST and seconds per image, say), recorded under their keys,
        which must not clash with the harness's own.
    """

    name: str
    description: str
    model_class: type
    train: Callable[[float, torch.device], nn.Module]
    sample: Callable[[nn.Module, int, torch.Tensor | None], torch.Tensor]
    conditional: bool = False
    likelihood: Callable[[nn.Module], tuple[float, str]] | None = None
    spot_check: Callable[[nn.Module, dict], tuple[str, float, float]] | None = None
    """spot_check(model, recorded_metrics) -> (metric key, estimate, standard error): one
    recorded metric re-measured cheaply on a small fixed batch (for shipped checkpoints)."""
    test_metrics: Callable[[nn.Module], dict] | None = None
    sampler_metrics: Callable[[nn.Module, int], dict] | None = None


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


def measure_data(split: str = "train", batch_size: int = 128, max_batches: int = 400,
                 device=None) -> dict:
    """Minibatches per second of `data.batches` vs torchvision's DataLoader + ToTensor.

    Both read the same MNIST split at 28x28 with the same batch size and shuffling, and
    both deliver float batches on `device` (default `runtime.device()`); each is timed over
    the same number of batches, after one warm-up batch. Returns a dict of rates and ratio.
    """
    import time

    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    from drawjourney import data, runtime

    device = runtime.device(device)
    for name, value in (("batch_size", batch_size), ("max_batches", max_batches)):
        _check_positive_int(name, value)
    resident = data.mnist(split, size=28, device=device)
    n = min(max_batches, len(resident) // batch_size)

    def rate(iterable) -> float:
        it = iter(iterable)
        next(it)
        start = time.perf_counter()
        for _ in range(n):
            x, y = next(it)
            x, y = x.to(device), y.to(device)
        runtime.synchronize(device)
        return n / (time.perf_counter() - start)

    ours = rate(data.batches(resident, batch_size, seed=0))
    ds = datasets.MNIST(str(data.data_root()), train=(split == "train"), download=False,
                        transform=transforms.ToTensor())
    theirs = rate(DataLoader(ds, batch_size=batch_size, shuffle=True, drop_last=True))
    return {"what": "data", "split": split, "batch_size": batch_size, "batches_timed": n,
            "device": str(device), "drawjourney_batches_per_s": ours,
            "dataloader_batches_per_s": theirs, "speedup": ours / theirs}


def measure_family(family: Family, *, checkpoint=None, minutes: float = 5.0,
                   n_samples: int = 10_000, device=None, save_to=None) -> dict:
    """Train (or load) one family's model and measure it on the course's common numbers.

    checkpoint: a saved model of the family to measure instead of training one.
    minutes: the training budget handed to the family's recipe.
    save_to: where to save the model trained here (with its measurements).
    Returns a dict: likelihood (value and unit) where defined, FID-MNIST on `n_samples`
    samples, label accuracy if conditional, mode coverage, parameters, training seconds,
    sampling seconds per 100 images and the device.
    """
    import time

    from drawjourney import checkpoint as ckpt
    from drawjourney import metrics, runtime

    if not isinstance(family, Family):
        raise TypeError(f"family must be a bench.Family, got {type(family).__name__}")
    device = runtime.device(device)
    _check_positive_int("n_samples", n_samples)
    if n_samples < 2:
        raise ValueError(f"n_samples must be at least 2 for FID-MNIST (10,000 to compare "
                         f"models), got {n_samples}")
    check_minutes(minutes)
    if checkpoint is not None:
        model = ckpt.load(checkpoint, device=device, expect=family.model_class)
        train_seconds = model.checkpoint_info["metrics"].get("train_seconds")
    else:
        start = time.perf_counter()
        model = family.train(minutes, device)
        train_seconds = time.perf_counter() - start
    model.eval()

    labels = torch.arange(n_samples, device=device) % 10 if family.conditional else None
    chunk = 500
    start = time.perf_counter()
    parts = [family.sample(model, min(chunk, n_samples - i),
                           None if labels is None else labels[i:i + chunk])
             for i in range(0, n_samples, chunk)]
    runtime.synchronize(device)
    sample_seconds = time.perf_counter() - start
    samples = torch.cat(parts)

    result = {
        "family": family.name,
        "description": family.description,
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_seconds": train_seconds,
        "sample_seconds_per_100": 100.0 * sample_seconds / n_samples,
        "n_samples": n_samples,
        "fid_mnist": metrics.fid_mnist(samples, device=device),
        "device": runtime.describe(device),
    }
    coverage = metrics.class_histogram(samples, device=device)
    result["label_entropy_bits"] = coverage.entropy_bits
    result["top_class_fraction"] = coverage.max_fraction
    if labels is not None:
        result["label_accuracy"] = metrics.label_accuracy(samples, labels, device=device)
    if family.likelihood is not None:
        value, unit, *extras = family.likelihood(model)
        result["likelihood"], result["likelihood_unit"] = value, unit
        if extras:
            result.update(extras[0])
    if family.test_metrics is not None:
        extra = family.test_metrics(model)
        if not all(isinstance(k, str) and k.startswith("test_") for k in extra):
            raise ValueError(f"family {family.name}: test_metrics keys must start with "
                             f"'test_', got {sorted(extra)}")
        result.update(extra)
    if family.sampler_metrics is not None:
        extra = family.sampler_metrics(model, n_samples)
        if set(extra) & set(result):
            raise ValueError(f"family {family.name}: sampler_metrics keys clash with the "
                             f"harness's: {sorted(set(extra) & set(result))}")
        result.update(extra)
    if save_to is not None and checkpoint is None:
        # trained here, so the harness's device is also the training hardware
        ckpt.save(model, save_to, metrics={**checkpoint_metrics(result),
                                           "hardware": result["device"]},
                  note=f"bench recipe, {minutes} min budget")
    return result


def checkpoint_metrics(result: dict) -> dict:
    """A `measure_family` result under the metric keys checkpoints use (see DESIGN.md)."""
    metrics = {k: v for k, v in result.items()
               if isinstance(v, (int, float)) and k not in ("likelihood", "train_seconds")}
    if result.get("train_seconds") is not None:
        metrics["train_seconds"] = result["train_seconds"]
    unit = result.get("likelihood_unit")
    if unit == "nats":
        metrics["test_nll_nats"] = result["likelihood"]
    elif unit == "bits/dim":
        metrics["test_bits_per_dim"] = result["likelihood"]
    metrics.update({k: v for k, v in result.items() if k.startswith("test_")})
    return metrics


def check_minutes(minutes) -> float:
    """A training budget in minutes: a positive finite number, else a ValueError."""
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) \
            or not math.isfinite(minutes) or minutes <= 0:
        raise ValueError(f"minutes must be a positive finite number, got {minutes!r}")
    return float(minutes)


def _check_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


COLUMNS = (("family", "family"), ("likelihood", "NLL / bits/dim"), ("fid_mnist", "FID-MNIST"),
           ("label_accuracy", "label acc."), ("label_entropy_bits", "label entropy (bits)"),
           ("parameters", "params"), ("train_seconds", "train s"),
           ("sample_seconds_per_100", "sample s/100"))


def markdown_table(results: list[dict]) -> str:
    """The family results as a Markdown table (data-pipeline rows are left out)."""
    rows = [r for r in results if "family" in r]
    head = "| " + " | ".join(title for _, title in COLUMNS) + " |"
    rule = "|" + "---|" * len(COLUMNS)
    lines = [head, rule]
    for r in rows:
        cells = []
        for key, _ in COLUMNS:
            value = r.get(key)
            if key == "likelihood" and value is not None:
                cells.append(f"{value:.3f} {r['likelihood_unit']}")
            elif isinstance(value, float):
                cells.append(f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}")
            elif value is None:
                cells.append("-")
            else:
                cells.append(str(value))
        lines.append("| " + " | ".join(cells) + " |")
    if rows:
        lines.append("")
        lines.append(f"Hardware: {rows[0]['device']}")
    return "\n".join(lines)
